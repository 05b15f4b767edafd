//! `latchkey-agent`: the offline workstation agent behind `pam_latchkey.so`.
//!
//! The daemon answers the PAM module over a Unix socket ([`daemon`], [`protocol`]), asks the
//! server first with a short timeout ([`upstream`]) and, only when the server is unreachable,
//! verifies against the user's offline authentication data ([`engine`]), kept encrypted at rest
//! ([`cache`]). Offline outcomes are queued ([`events`]) and uploaded at the next contact.
//!
//! Invariants: no `core` or `store` dependency (the agent never reaches into the server);
//! time comes from a [`engine::Clock`]; passcodes are [`protocol::Passcode`]s and are never
//! logged; every file in the state directory is 0600 and replaced atomically ([`files`]).

pub mod cache;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod enrollment;
pub mod events;
pub mod files;
#[path = "../../pam-latchkey/src/protocol.rs"]
pub mod protocol;
pub mod upstream;
