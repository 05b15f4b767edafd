//! Verifiers: how Latchkey stores things it must check but never read back.
//!
//! Three kinds, chosen by the entropy of the value and how often it is
//! checked:
//!
//! - **Keyed verifiers** for low-entropy values checked on every login
//!   (token PINs). A salted HMAC under a server-side [`VerifierKey`]: cheap
//!   enough for every request, and a stolen database alone does not allow
//!   offline guessing because the key is not in it.
//! - **Argon2id** for administrator passwords: checked rarely, so the
//!   deliberate cost is affordable and protects even if the key leaks.
//! - **SHA-256** for 256-bit random bearer tokens: guessing is hopeless, so
//!   an unsalted deterministic hash is fine and allows indexed lookup.

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{CryptoError, SecretString, ct_eq, mac};

/// Salt length of keyed verifiers.
const SALT_LEN: usize = 16;
/// Version tag of the keyed verifier format.
const KEYED_V1: &str = "v1";

/// The 32-byte key for [`keyed_verifier`]. Zeroized on drop, `Debug`
/// redacted. Typically derived with
/// [`MasterKey::derive_subkey`](crate::MasterKey::derive_subkey).
#[derive(Clone)]
pub struct VerifierKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerifierKey(<redacted>)")
    }
}

impl VerifierKey {
    /// Wraps raw key bytes; [`CryptoError::InvalidKey`] unless exactly 32.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let arr = <[u8; 32]>::try_from(b)
            .map_err(|_| CryptoError::InvalidKey("verifier key must be exactly 32 bytes"))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// Generates a fresh random key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(k.as_mut_slice());
        Self(k)
    }

    /// Borrows the key bytes (for persisting it sealed).
    pub fn expose(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// The MAC over `context || 0x00 || salt || value`. The zero byte keeps
/// `context` from running into the salt, so no two (context, value) pairs
/// share an input.
fn keyed_mac(key: &VerifierKey, context: &str, salt: &[u8], value: &[u8]) -> [u8; 32] {
    mac::hmac_sha256(&key.0, &[context.as_bytes(), &[0u8], salt, value])
}

/// Creates a keyed verifier for a low-entropy value such as a PIN:
/// `"v1$" + base64url(salt16) + "$" + base64url(HMAC-SHA256(key, context || 0x00 || salt || value))`.
///
/// `context` separates uses (e.g. `"token-pin"`), so a verifier stored for
/// one purpose cannot be replayed for another.
pub fn keyed_verifier(
    key: &VerifierKey,
    rng: &mut (impl RngCore + CryptoRng),
    context: &str,
    value: &[u8],
) -> String {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let tag = keyed_mac(key, context, &salt, value);
    format!(
        "{KEYED_V1}${}${}",
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Checks `value` against a verifier from [`keyed_verifier`] in constant
/// time. A malformed verifier yields `false`, never an error, so a corrupt
/// row simply fails to authenticate.
pub fn check_keyed_verifier(
    key: &VerifierKey,
    context: &str,
    value: &[u8],
    verifier: &str,
) -> bool {
    let mut parts = verifier.split('$');
    let (Some(KEYED_V1), Some(salt), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(salt), Ok(tag)) = (URL_SAFE_NO_PAD.decode(salt), URL_SAFE_NO_PAD.decode(tag)) else {
        return false;
    };
    if salt.len() != SALT_LEN {
        return false;
    }
    ct_eq(&keyed_mac(key, context, &salt, value), &tag)
}

/// Hashes a password with Argon2id (library defaults: m=19456 KiB, t=2,
/// p=1) into a PHC string. [`CryptoError::PasswordHash`] only if the
/// backend fails.
pub fn password_hash(
    rng: &mut (impl RngCore + CryptoRng),
    password: &[u8],
) -> Result<String, CryptoError> {
    let salt = SaltString::generate(rng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|_| CryptoError::PasswordHash)
}

/// Checks a password against a PHC string from [`password_hash`]. The
/// parameters are read from the string, so hashes made with older cost
/// settings keep verifying. Malformed input yields `false`.
pub fn password_verify(password: &[u8], phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok())
}

/// Generates a bearer token: `prefix + "_" + base64url(32 random bytes)`.
///
/// The prefix (e.g. `"lkad"` for admin API tokens) makes leaked tokens
/// recognisable to secret scanners and to people. It should be short ASCII
/// without `_`: the body may itself contain `_`, so the prefix is whatever
/// precedes the *first* underscore.
pub fn generate_bearer_token(rng: &mut (impl RngCore + CryptoRng), prefix: &str) -> SecretString {
    let mut raw = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(raw.as_mut_slice());
    let body = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_slice()));
    SecretString::new(format!("{prefix}_{}", body.as_str()))
}

/// The lookup hash of a bearer token: lowercase hex SHA-256 of the whole
/// token string. Deterministic on purpose (the database indexes it); safe
/// because tokens carry 256 bits of entropy.
pub fn bearer_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests;
