//! The crate's single error type.

/// Everything that can go wrong in `latchkey-crypto`.
///
/// Every message is a `&'static str` written in this crate: by construction
/// an error can never contain a seed, PIN, key, code or other caller input,
/// so errors are always safe to log and to show to an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A non-secret parameter (digit count, period, length, algorithm name,
    /// character classes) is out of range. The caller must fix its
    /// configuration or request; retrying with the same input fails again.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),

    /// An OTP seed is malformed (bad base32, too short, too long, empty).
    /// The caller must reject the enrollment/import and ask for a new seed.
    #[error("invalid secret: {0}")]
    InvalidSecret(&'static str),

    /// An `otpauth://` URI is malformed; the message names the offending
    /// part. The caller must reject the import and report which field is
    /// wrong (the message never echoes the secret).
    #[error("invalid otpauth URI: {0}")]
    InvalidUri(&'static str),

    /// Key material (master key file, raw key bytes) has the wrong format or
    /// length. The caller must refuse to start / refuse the key; an operator
    /// has to supply a correct key.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),

    /// A sealed blob names a key id that is not in the keyring. The caller
    /// must treat the row as unreadable and tell the operator to add the
    /// older master key to the keyring (data is intact, the key is missing).
    #[error("sealed data uses a key that is not in the keyring")]
    UnknownKey,

    /// A sealed blob is truncated, has an unknown format version, or fails
    /// authentication (tampered, or bound to different associated data). The
    /// caller must treat the row as corrupt or moved and never use it.
    #[error("sealed data is corrupt or does not belong to this record")]
    SealBroken,

    /// The password-hashing backend failed (practically only on resource
    /// exhaustion). The caller must fail the request; retrying may succeed.
    #[error("password hashing failed")]
    PasswordHash,
}
