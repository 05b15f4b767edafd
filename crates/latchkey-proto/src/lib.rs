//! Wire types of Latchkey: what crosses the network between the server, its agents and the
//! command-line client.
//!
//! Invariants:
//! - No I/O here; every type is plain data with serde and an `OpenAPI` schema (`utoipa`).
//! - Request bodies reject unknown fields (`deny_unknown_fields`), so a misspelt option is an
//!   error instead of a silently ignored setting.
//! - Nothing here ever carries a stored secret back out, except the fields documented as
//!   "shown once" on creation responses.

pub mod admin;
pub mod authn;
pub mod cloud;
pub mod emergency;
pub mod error;
pub mod messaging;
pub mod offline;
pub mod policy;

pub use error::{ErrorBody, ErrorCode};
