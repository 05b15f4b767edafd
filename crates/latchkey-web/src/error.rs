//! The web layer's error: an HTTP status with an [`ErrorBody`], and the one place where
//! [`CoreError`] becomes a status code.
//!
//! Invariants:
//! - Every error answer is JSON `{error, message, field}`; `message` never holds a secret or
//!   a value taken from the request body (only names: fields, objects named in the URL).
//! - Internal and storage errors answer with a generic message; their detail goes to the log
//!   (`tracing::error!`/`warn!`), never to the client.
//! - A 401 always carries `WWW-Authenticate: Bearer`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_core::CoreError;
use latchkey_proto::{ErrorBody, ErrorCode};

/// An error answer: status and body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// An error answer with any status and code.
    pub fn new(
        status: StatusCode,
        error: ErrorCode,
        message: impl Into<String>,
        field: Option<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                error,
                message: message.into(),
                field,
            },
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>, field: Option<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            message,
            field,
        )
    }

    /// 401 `unauthenticated` (the answer carries `WWW-Authenticate: Bearer`).
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "authentication required: send Authorization: Bearer <admin API token>",
            None,
        )
    }

    /// 401 `unauthenticated` for the agent API (the answer carries `WWW-Authenticate: Bearer`).
    pub fn unauthenticated_agent() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "agent authentication required: send Authorization: Bearer <REST agent API key>",
            None,
        )
    }

    /// 413 for a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidRequest,
            format!("the request body is larger than {limit} bytes"),
            None,
        )
    }

    /// 503 `unavailable`.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "storage unavailable; retry later",
            None,
        )
    }

    /// The status of this answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body of this answer.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid { field, reason } => Self::invalid(reason, Some(field.to_owned())),
            e @ CoreError::NotFound(_) => Self::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                e.to_string(),
                None,
            ),
            CoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, m, None),
            e @ CoreError::Forbidden(_) => Self::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                e.to_string(),
                None,
            ),
            CoreError::Unauthenticated => Self::unauthenticated(),
            CoreError::Unavailable(source) => {
                // Store errors never hold secrets (store contract), so the detail may be logged.
                tracing::warn!(error = %source, "storage unavailable");
                Self::unavailable()
            }
            CoreError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error; the details are in the server log",
                    None,
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
