//! The host's enrolment, `STATE_DIR/enrollment.json` (0600): the server URL, the host id, the
//! pinned server key, the agent API key and the host's Ed25519 key pair.
//!
//! Invariants:
//! - Written once by `enroll` (atomically); the daemon only reads it.
//! - The pinned server key is the only key an OAD is accepted under.
//! - `Debug` never shows the API key or the host's secret key.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::files::{read_private, write_private};

/// File name inside the state directory.
pub const FILE: &str = "enrollment.json";

/// The enrolment record.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// Server base URL.
    pub server: String,
    /// Host id assigned by the server.
    pub host_id: String,
    /// Name the host enrolled under.
    pub hostname: String,
    /// The server's Ed25519 verifying key, base64 (pinned).
    pub server_key: String,
    /// The agent API key (Bearer).
    pub api_key: SecretText,
    /// The host's Ed25519 signing key seed, base64.
    pub host_key: SecretText,
    /// Unix seconds of the enrolment.
    pub enrolled_at: i64,
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("server", &self.server)
            .field("host_id", &self.host_id)
            .field("hostname", &self.hostname)
            .field("server_key", &self.server_key)
            .finish_non_exhaustive()
    }
}

/// A secret string kept in the enrolment file: redacted `Debug`, wiped on drop.
#[derive(Clone)]
pub struct SecretText(pub Zeroizing<String>);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for SecretText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self(Zeroizing::new(s)))
    }
}

/// The enrolment file's path.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Decodes a base64 Ed25519 public key.
pub fn decode_key(b64: &str) -> Result<[u8; 32], String> {
    let v = B64
        .decode(b64.trim().as_bytes())
        .map_err(|e| format!("server key is not base64: {e}"))?;
    v.as_slice()
        .try_into()
        .map_err(|_| format!("server key has {} bytes, not 32", v.len()))
}

impl Enrollment {
    /// The pinned server key.
    pub fn server_key(&self) -> Result<[u8; 32], String> {
        decode_key(&self.server_key)
    }

    /// Loads the enrolment of `state_dir`.
    pub fn load(state_dir: &Path) -> Result<Self, String> {
        let p = path(state_dir);
        let bytes = read_private(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "this host is not enrolled ({} does not exist): run `latchkey-agent enroll --server URL --api-key-file FILE`",
                    p.display()
                )
            } else {
                format!("{}: {e}", p.display())
            }
        })?;
        let e: Self = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is damaged: {e}", p.display()))?;
        e.server_key()
            .map_err(|why| format!("{}: {why}", p.display()))?;
        Ok(e)
    }

    /// Saves it (0600, atomically).
    pub fn save(&self, state_dir: &Path) -> Result<(), String> {
        let p = path(state_dir);
        let bytes = Zeroizing::new(serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?);
        write_private(&p, &bytes).map_err(|e| format!("cannot write {}: {e}", p.display()))
    }
}

/// A new Ed25519 host key pair: (seed as base64, public key).
pub fn new_host_key() -> (SecretText, [u8; 32]) {
    let seed = Zeroizing::new(rand::random::<[u8; 32]>());
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    (
        SecretText(Zeroizing::new(B64.encode(seed.as_slice()))),
        sk.verifying_key().to_bytes(),
    )
}
