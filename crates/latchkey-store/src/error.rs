//! Mapping sqlx errors to [`StoreError`] without leaking bound values.

use latchkey_core::store::StoreError;
use sqlx::error::ErrorKind;

/// Maps a sqlx error met while working on `subject` (e.g. `user "alice"`).
///
/// `refs` names what `subject` refers to (e.g. `"domain"`), for foreign-key violations;
/// empty when the statement has no foreign key.
pub(crate) fn map_db(
    e: sqlx::Error,
    subject: impl FnOnce() -> String,
    refs: &'static str,
) -> StoreError {
    match e {
        sqlx::Error::Database(db) => match db.kind() {
            // Never the database's own text: PostgreSQL's detail echoes the key.
            ErrorKind::UniqueViolation => StoreError::Conflict(subject()),
            ErrorKind::ForeignKeyViolation => {
                let what = if refs.is_empty() {
                    "a referenced row"
                } else {
                    refs
                };
                StoreError::NotFound(format!("{what} referenced by {}", subject()))
            }
            ErrorKind::NotNullViolation => {
                StoreError::Backend(format!("{}: a required column is missing", subject()))
            }
            ErrorKind::CheckViolation => {
                StoreError::Backend(format!("{}: a value is out of range", subject()))
            }
            _ => {
                let code = db
                    .code()
                    .map(std::borrow::Cow::into_owned)
                    .unwrap_or_default();
                // SQLSTATE class 22 (data exception) messages quote the offending input.
                if code.starts_with("22") {
                    StoreError::Backend(format!("{}: invalid data (SQLSTATE {code})", subject()))
                } else {
                    StoreError::Backend(format!("{}: {} (code {code})", subject(), db.message()))
                }
            }
        },
        sqlx::Error::RowNotFound => StoreError::NotFound(subject()),
        sqlx::Error::ColumnDecode { index, .. } => {
            StoreError::Corrupt(format!("{}: column {index} cannot be decoded", subject()))
        }
        sqlx::Error::ColumnNotFound(col) => {
            StoreError::Corrupt(format!("{}: column {col} missing", subject()))
        }
        sqlx::Error::Decode(_) | sqlx::Error::TypeNotFound { .. } => {
            StoreError::Corrupt(format!("{}: a value cannot be decoded", subject()))
        }
        sqlx::Error::PoolTimedOut => {
            StoreError::Backend("timed out waiting for a database connection".to_owned())
        }
        sqlx::Error::PoolClosed => StoreError::Backend("the store is closed".to_owned()),
        // I/O, TLS, protocol and configuration errors carry no bound values.
        other => StoreError::Backend(format!("{}: {other}", subject())),
    }
}

/// A decoding problem of our own (an unknown enum name, bad JSON, an out-of-range number).
pub(crate) fn corrupt(table: &str, column: &str, why: &str) -> StoreError {
    StoreError::Corrupt(format!("{table}.{column}: {why}"))
}
