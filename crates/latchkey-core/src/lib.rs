//! The Latchkey domain: security domains, users, tokens, agents, administrators, policies,
//! the audit chain, and the services that change them.
//!
//! Invariants:
//! - No I/O: storage, time and randomness arrive through the ports in [`ports`] and
//!   [`store::Store`]; every expiry and window takes `now` from a [`ports::Clock`].
//! - Every administrative change is checked against the caller's role and domain scope
//!   ([`authz`]) before anything is written, and is written together with its audit record
//!   in one store transaction, so a change without its record (or the reverse) cannot exist.
//! - Secrets never leave this crate in clear except where an operation is defined to show a
//!   value once (a generated seed, a new API key); errors never contain them.

pub mod admin;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod console;
pub mod delivery;
pub mod emergency;
pub mod error;
pub mod ids;
pub mod messaging_config;
pub mod model;
pub mod offline;
pub mod policy;
pub mod ports;
pub mod store;
pub mod validate;

pub use error::CoreError;
