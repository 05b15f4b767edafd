//! Secrets at rest: authenticated encryption under the deployment's master
//! key, with key rotation.
//!
//! # Sealed format (version 1)
//!
//! | bytes      | content                                                   |
//! |------------|-----------------------------------------------------------|
//! | `0`        | format version, `1`                                       |
//! | `1..9`     | [`MasterKey::key_id`] of the sealing key                  |
//! | `9..33`    | random 24-byte `XChaCha20` nonce                          |
//! | `33..`     | XChaCha20-Poly1305 ciphertext followed by the 16-byte tag |
//!
//! The associated data is the caller's `aad`, which must name the row the
//! ciphertext belongs to (e.g. `b"token-seed:SERIAL"`): a ciphertext copied
//! into another row then fails to open instead of silently yielding a
//! different token's seed. The version byte and key id are not in the AAD;
//! changing them only changes which key is tried, and any other key fails
//! authentication.
//!
//! Nonces are random: with 192-bit nonces, collisions are negligible for any
//! number of seals a deployment will ever perform, so no nonce state has to
//! be persisted.
//!
//! # Rotation
//!
//! A [`Keyring`] seals with its current key and opens with any key it holds,
//! chosen by key id. Rotation is: make the new key current, keep the old one
//! as older, re-seal rows for which [`Keyring::is_sealed_with_current`] is
//! false, then drop the old key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{CryptoError, SecretBytes, mac};

/// Format version written in byte 0.
const VERSION: u8 = 1;
/// Length of the key id.
const KEY_ID_LEN: usize = 8;
/// Length of the `XChaCha20` nonce.
const NONCE_LEN: usize = 24;
/// Prefix of the master key file, versioned so the format can change.
const FILE_PREFIX: &str = "latchkey-master-key-v1:";

/// The deployment's 32-byte master key. Zeroized on drop, `Debug` redacted.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Generates a fresh random key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(k.as_mut_slice());
        Self(k)
    }

    /// Wraps raw key bytes; fails with [`CryptoError::InvalidKey`] unless
    /// there are exactly 32.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let arr = <[u8; 32]>::try_from(b)
            .map_err(|_| CryptoError::InvalidKey("master key must be exactly 32 bytes"))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// The key file contents: `latchkey-master-key-v1:` + base64url (no
    /// padding) of the key + newline. The result is key material.
    pub fn to_file_text(&self) -> String {
        format!(
            "{FILE_PREFIX}{}\n",
            URL_SAFE_NO_PAD.encode(self.0.as_slice())
        )
    }

    /// Parses the output of [`MasterKey::to_file_text`], ignoring
    /// surrounding whitespace. Errors say what is wrong, never the key.
    pub fn from_file_text(s: &str) -> Result<Self, CryptoError> {
        let body = s
            .trim()
            .strip_prefix(FILE_PREFIX)
            .ok_or(CryptoError::InvalidKey(
                "master key file must start with \"latchkey-master-key-v1:\"",
            ))?;
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(body.trim()).map_err(|_| {
            CryptoError::InvalidKey("master key file is not valid unpadded base64url")
        })?);
        Self::from_bytes(&bytes)
    }

    /// A public identifier of the key: the first 8 bytes of
    /// SHA-256(`"latchkey key id v1"` || key). Safe to store and log.
    pub fn key_id(&self) -> [u8; KEY_ID_LEN] {
        let digest = Sha256::new()
            .chain_update(b"latchkey key id v1")
            .chain_update(self.0.as_slice())
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        for (dst, src) in id.iter_mut().zip(digest.iter()) {
            *dst = *src;
        }
        id
    }

    /// Derives an independent 32-byte key for `purpose` with HKDF-SHA256
    /// (no salt, info = `"latchkey/" + purpose`), so that one configured
    /// secret can feed several uses without any two sharing a key.
    pub fn derive_subkey(&self, purpose: &str) -> SecretBytes {
        let info = format!("latchkey/{purpose}");
        let okm = mac::hkdf_sha256_32(self.0.as_slice(), info.as_bytes());
        SecretBytes::new(okm.to_vec())
    }

    /// The AEAD instance for this key.
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.0).into())
    }
}

/// The fields of a sealed blob after the version byte.
struct Parsed<'a> {
    /// Key id of the sealing key.
    id: [u8; KEY_ID_LEN],
    /// `XChaCha20` nonce.
    nonce: [u8; NONCE_LEN],
    /// Ciphertext and tag.
    ct: &'a [u8],
}

/// The current master key plus older keys kept for reading old data.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// Seals everything new.
    current: MasterKey,
    /// Only open; kept until all rows are re-sealed.
    older: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring with only `current`.
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            older: Vec::new(),
        }
    }

    /// Adds an older key that can still open data sealed with it.
    #[must_use]
    pub fn with_older(mut self, older: MasterKey) -> Self {
        self.older.push(older);
        self
    }

    /// The key used for sealing.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Seals `plaintext` with the current key, bound to `aad`.
    ///
    /// Infallible in practice: the AEAD only refuses plaintexts over 256 GiB.
    /// Should that ever happen the result is the bare header, which
    /// [`Keyring::open`] rejects as [`CryptoError::SealBroken`], so the
    /// failure is closed rather than a panic in a request handler.
    pub fn seal(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
        plaintext: &[u8],
        aad: &[u8],
    ) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + plaintext.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&self.current.key_id());
        out.extend_from_slice(&nonce);
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        if let Ok(ct) = self.current.cipher().encrypt(&XNonce::from(nonce), payload) {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// Splits a sealed blob into key id, nonce and ciphertext.
    fn parse(sealed: &[u8]) -> Result<Parsed<'_>, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::SealBroken)?;
        if version != VERSION {
            return Err(CryptoError::SealBroken);
        }
        let (id, rest) = rest
            .split_at_checked(KEY_ID_LEN)
            .ok_or(CryptoError::SealBroken)?;
        let (nonce, ct) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::SealBroken)?;
        let id = <[u8; KEY_ID_LEN]>::try_from(id).map_err(|_| CryptoError::SealBroken)?;
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| CryptoError::SealBroken)?;
        Ok(Parsed { id, nonce, ct })
    }

    /// Opens a blob made by [`Keyring::seal`] with the same `aad`.
    ///
    /// [`CryptoError::UnknownKey`] if no key in the ring has the blob's key
    /// id; [`CryptoError::SealBroken`] if it is truncated, of an unknown
    /// version, tampered with, or bound to different `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        let Parsed { id, nonce, ct } = Self::parse(sealed)?;
        let mut found = false;
        for key in std::iter::once(&self.current).chain(&self.older) {
            if key.key_id() != id {
                continue;
            }
            found = true;
            let payload = Payload { msg: ct, aad };
            if let Ok(pt) = key.cipher().decrypt(&XNonce::from(nonce), payload) {
                return Ok(SecretBytes::new(pt));
            }
        }
        Err(if found {
            CryptoError::SealBroken
        } else {
            CryptoError::UnknownKey
        })
    }

    /// Whether `sealed` names the current key (so it needs no re-sealing).
    /// Does not authenticate; malformed input yields `false`.
    pub fn is_sealed_with_current(&self, sealed: &[u8]) -> bool {
        Self::parse(sealed).is_ok_and(|p| p.id == self.current.key_id())
    }
}

#[cfg(test)]
mod tests;
