//! `pam_latchkey.so`: asks for the passcode through the application's PAM conversation and
//! lets the local `latchkey-agent` decide, over its Unix socket.
//!
//! Invariants:
//! - The module talks only to the local agent socket; never to the network.
//! - Everything except [`ffi`] is plain Rust, tested without PAM: [`conversation`] drives the
//!   prompts and the agent exchange through two traits.
//! - No panic crosses the FFI boundary (`catch_unwind` in [`ffi`]); a panic is
//!   `PAM_SYSTEM_ERR`.

pub mod args;
pub mod client;
pub mod conversation;
mod ffi;
#[path = "protocol.rs"]
pub mod protocol;
