//! Public error codes: the stable, machine-readable part of every error answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stable error code; clients branch on this, humans read `message`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or a field is out of range; fix the request.
    InvalidRequest,
    /// No valid credentials were presented; authenticate.
    Unauthenticated,
    /// The caller's role or domain scope does not allow this; ask an administrator with rights.
    Forbidden,
    /// The named object does not exist.
    NotFound,
    /// The request conflicts with existing state (a duplicate name, a non-empty domain).
    Conflict,
    /// The server failed; the request may be retried later. Details are in the server log.
    Internal,
    /// The server is not ready (database unreachable); retry later.
    Unavailable,
}

/// Body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: ErrorCode,
    /// Human-readable explanation; never contains a secret.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
