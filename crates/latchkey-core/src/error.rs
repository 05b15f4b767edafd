//! The core's error enum; the web layer maps it to HTTP statuses, the CLI to exit codes.

use crate::store::StoreError;

/// Errors of the domain services.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A request field is invalid; the caller fixes the request (HTTP 400).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Why, without echoing secrets.
        reason: String,
    },
    /// No such object; the caller checks the name (HTTP 404).
    #[error("{0} not found")]
    NotFound(String),
    /// Conflicts with existing state; the caller picks another name or empties the object
    /// first (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The caller's role or scope does not allow this; nothing was read or written (HTTP 403).
    #[error("not permitted: {0}")]
    Forbidden(String),
    /// The credentials presented are not valid (HTTP 401).
    #[error("authentication required")]
    Unauthenticated,
    /// The store is unavailable; retry later (HTTP 503).
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or corrupt data; details are in the log (HTTP 500).
    #[error("internal error")]
    Internal(String),
}

impl CoreError {
    /// Shorthand for [`CoreError::Invalid`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Corrupt(what) => Self::Internal(format!("corrupt stored value: {what}")),
            e @ StoreError::Backend(_) => Self::Unavailable(e),
        }
    }
}

impl From<latchkey_crypto::CryptoError> for CoreError {
    fn from(e: latchkey_crypto::CryptoError) -> Self {
        // Crypto errors never carry secret material, so the text is safe to keep.
        Self::Internal(format!("crypto: {e}"))
    }
}
