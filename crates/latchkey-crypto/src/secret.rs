//! Containers for secret material and constant-time comparison.
//!
//! The containers exist so that secrets are (a) wiped from memory when
//! dropped and (b) impossible to print by accident: `Debug` is redacted and
//! there is deliberately no `Display`. Reading the value requires an explicit
//! `expose()`, which makes every use greppable in review.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Compares two byte strings in time that depends only on their lengths.
///
/// Strings of different lengths compare unequal; lengths are not secret in
/// any of our uses (codes and tags have fixed, public sizes).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Secret bytes (OTP seeds, decrypted data, derived keys), zeroized on drop.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `v`; the buffer is wiped when this value is dropped.
    pub fn new(v: Vec<u8>) -> Self {
        Self(Zeroizing::new(v))
    }

    /// Borrows the secret. Callers must not copy it into unprotected storage.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes (not secret: seed and key sizes are public).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.expose(), other.expose())
    }
}

impl Eq for SecretBytes {}

/// A secret string (PINs, passwords, generated codes, bearer tokens),
/// zeroized on drop.
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `s`; the buffer is wiped when this value is dropped.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// Borrows the secret. Callers must not log or persist it in clear.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

impl Eq for SecretString {}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_basics() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn debug_is_redacted() {
        let b = SecretBytes::new(b"hunter2".to_vec());
        let s = SecretString::from("hunter2");
        assert_eq!(format!("{b:?}"), "SecretBytes(<redacted>)");
        assert_eq!(format!("{s:?}"), "SecretString(<redacted>)");
        assert!(!format!("{:?}", Some(&b)).contains("hunter2"));
    }

    #[test]
    fn accessors_and_equality() {
        let b = SecretBytes::new(vec![1, 2, 3]);
        assert_eq!(b.expose(), &[1, 2, 3]);
        assert_eq!(b.len(), 3);
        assert!(!b.is_empty());
        assert_eq!(b.clone(), b);
        assert_ne!(b, SecretBytes::new(vec![1, 2]));
        assert!(SecretBytes::new(Vec::new()).is_empty());

        let s = SecretString::from(String::from("1234"));
        assert_eq!(s.expose(), "1234");
        assert_eq!(s.len(), 4);
        assert!(!s.is_empty());
        assert_eq!(s, SecretString::from("1234"));
        assert_ne!(s, SecretString::from("1235"));
    }
}
