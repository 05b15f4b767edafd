//! The per-user cache: the OAD bytes exactly as the server sent them (signature included) and
//! the host-side [`UserState`], encrypted at rest.
//!
//! File `STATE_DIR/users/<hex of the login>.cache`, mode 0600, replaced atomically:
//!
//! ```text
//! "LKAC" | schema: u16 big-endian | nonce: 24 bytes | XChaCha20-Poly1305 ciphertext + tag
//! AAD = "latchkey-agent-cache" | schema (u16 BE) | login bytes
//! plaintext = JSON {"oad": "<base64>", "state": UserState, "stored_at": unix seconds}
//! ```
//!
//! Invariants:
//! - A fresh random nonce for every write; the key is [`CacheKey`] (random, 32 bytes, file
//!   `STATE_DIR/cache.key`, 0600).
//! - The login is bound by the AAD: a file copied onto another user's name does not open.
//! - Any damage (truncation, a flipped byte, an unknown schema, another key) is a
//!   [`CacheError`] for that one user; other users' files are never touched.
//! - Reading never trusts the OAD inside: the caller opens it with the pinned server key
//!   every time.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use latchkey_offline::UserState;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::files::{read_private, write_private};

/// Cache file schema written by this version.
pub const SCHEMA: u16 = 1;

const MAGIC: &[u8; 4] = b"LKAC";
const AAD_LABEL: &[u8] = b"latchkey-agent-cache";
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 4 + 2 + NONCE_LEN;
/// Refuse absurd files before reading them whole.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// The host's cache encryption key.
#[derive(Clone)]
pub struct CacheKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(<redacted>)")
    }
}

impl CacheKey {
    /// A key from its bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(Zeroizing::new(b))
    }

    /// Loads `path`, or creates it with a new random key when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, CacheError> {
        match read_private(path) {
            Ok(bytes) => {
                let b: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    CacheError::Key(format!(
                        "{} is not a 32-byte key ({} bytes)",
                        path.display(),
                        bytes.len()
                    ))
                })?;
                Ok(Self::from_bytes(b))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = Self::from_bytes(rand::random());
                write_private(path, key.0.as_slice()).map_err(|e| {
                    CacheError::Key(format!("cannot write {}: {e}", path.display()))
                })?;
                Ok(key)
            }
            Err(e) => Err(CacheError::Key(format!("{}: {e}", path.display()))),
        }
    }

    /// Loads an existing key.
    pub fn load(path: &Path) -> Result<Self, CacheError> {
        if !path.exists() {
            return Err(CacheError::Key(format!(
                "{} does not exist (run `latchkey-agent enroll` first)",
                path.display()
            )));
        }
        Self::load_or_create(path)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_slice().into())
    }
}

/// Why a user's cache could not be used. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The key file is missing or damaged: no cache can be read or written (the agent
    /// refuses to start).
    #[error("cache key: {0}")]
    Key(String),
    /// The file is shorter than its header or does not start with the magic bytes.
    #[error("cache file {path} is truncated or not a Latchkey cache file")]
    Truncated {
        /// The file.
        path: String,
    },
    /// The schema is newer (or older) than this agent knows.
    #[error("cache file {path} has unknown schema version {version} (this agent reads {SCHEMA})")]
    UnknownSchema {
        /// The file.
        path: String,
        /// Its version.
        version: u16,
    },
    /// Authentication of the ciphertext failed: altered, truncated inside, another host's
    /// key, or another user's file.
    #[error(
        "cache file {path} fails its integrity check (altered, truncated or not for this user/host)"
    )]
    Corrupt {
        /// The file.
        path: String,
    },
    /// The plaintext is not the expected JSON (a bug or a foreign writer with our key).
    #[error("cache file {path} has unreadable content: {why}")]
    Content {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// Reading or writing failed.
    #[error("cache file {path}: {why}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        why: String,
    },
}

/// One user's cached data.
#[derive(Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The OAD as received from the server (base64 in the file).
    #[serde(with = "b64")]
    pub oad: Vec<u8>,
    /// Replay, one-time and failure state kept by the host.
    pub state: UserState,
    /// When this entry's OAD was stored (unix seconds).
    pub stored_at: i64,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("oad_len", &self.oad.len())
            .field("failures", &self.state.failures())
            .field("stored_at", &self.stored_at)
            .finish()
    }
}

mod b64 {
    use super::B64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

fn aad(schema: u16, user: &str) -> Vec<u8> {
    let mut a = AAD_LABEL.to_vec();
    a.extend_from_slice(&schema.to_be_bytes());
    a.extend_from_slice(user.as_bytes());
    a
}

/// Encrypts an entry for `user` into the file format.
pub fn seal(key: &CacheKey, user: &str, entry: &Entry) -> Result<Vec<u8>, CacheError> {
    let plain = Zeroizing::new(serde_json::to_vec(entry).map_err(|e| CacheError::Content {
        path: String::new(),
        why: e.to_string(),
    })?);
    let nonce: [u8; NONCE_LEN] = rand::random();
    let ct = key
        .cipher()
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &aad(SCHEMA, user),
            },
        )
        .map_err(|_| CacheError::Content {
            path: String::new(),
            why: "encryption failed".to_owned(),
        })?;
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SCHEMA.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts a file's bytes for `user`; `path` only names the file in errors.
pub fn open(key: &CacheKey, user: &str, bytes: &[u8], path: &str) -> Result<Entry, CacheError> {
    let truncated = || CacheError::Truncated {
        path: path.to_owned(),
    };
    let (magic, rest) = bytes.split_at_checked(4).ok_or_else(truncated)?;
    if magic != MAGIC {
        return Err(truncated());
    }
    let (version, rest) = rest.split_at_checked(2).ok_or_else(truncated)?;
    let version = u16::from_be_bytes(version.try_into().map_err(|_| truncated())?);
    // Schema migrations go here: each older version is read by its own branch and rewritten
    // as SCHEMA at the next write. There is only version 1 so far.
    if version != SCHEMA {
        return Err(CacheError::UnknownSchema {
            path: path.to_owned(),
            version,
        });
    }
    let (nonce, ct) = rest.split_at_checked(NONCE_LEN).ok_or_else(truncated)?;
    let plain = Zeroizing::new(
        key.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad(version, user),
                },
            )
            .map_err(|_| CacheError::Corrupt {
                path: path.to_owned(),
            })?,
    );
    serde_json::from_slice(&plain).map_err(|e| CacheError::Content {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// The cache directory of a state directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    key: CacheKey,
}

impl Cache {
    /// The cache in `STATE_DIR/users`, encrypted with `key`.
    pub fn new(state_dir: &Path, key: CacheKey) -> Result<Self, CacheError> {
        let dir = state_dir.join("users");
        crate::files::private_dir(&dir).map_err(|e| CacheError::Io {
            path: dir.display().to_string(),
            why: e.to_string(),
        })?;
        Ok(Self { dir, key })
    }

    /// The file of `user`: the login in hex, so any login is a safe file name.
    pub fn path(&self, user: &str) -> PathBuf {
        self.dir
            .join(format!("{}.cache", hex::encode(user.as_bytes())))
    }

    /// The user's entry: `Ok(None)` when there is none, `Err` when the file is unusable.
    pub fn load(&self, user: &str) -> Result<Option<Entry>, CacheError> {
        let path = self.path(user);
        let p = path.display().to_string();
        let io_err = |e: io::Error| CacheError::Io {
            path: p.clone(),
            why: e.to_string(),
        };
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
            Ok(m) if m.len() > MAX_FILE => {
                return Err(CacheError::Content {
                    path: p,
                    why: format!("file is {} bytes, over the limit", m.len()),
                });
            }
            Ok(_) => {}
        }
        let bytes = read_private(&path).map_err(io_err)?;
        open(&self.key, user, &bytes, &p).map(Some)
    }

    /// Stores the user's entry (atomically, fresh nonce).
    pub fn store(&self, user: &str, entry: &Entry) -> Result<(), CacheError> {
        let path = self.path(user);
        let bytes = seal(&self.key, user, entry).map_err(|e| match e {
            CacheError::Content { why, .. } => CacheError::Content {
                path: path.display().to_string(),
                why,
            },
            other => other,
        })?;
        write_private(&path, &bytes).map_err(|e| CacheError::Io {
            path: path.display().to_string(),
            why: e.to_string(),
        })
    }

    /// Deletes the user's entry; `true` when there was one.
    pub fn delete(&self, user: &str) -> Result<bool, CacheError> {
        let path = self.path(user);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CacheError::Io {
                path: path.display().to_string(),
                why: e.to_string(),
            }),
        }
    }

    /// The logins that have a cache file.
    pub fn users(&self) -> Result<Vec<String>, CacheError> {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| CacheError::Io {
            path: self.dir.display().to_string(),
            why: e.to_string(),
        })?;
        let mut out: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".cache")?;
                String::from_utf8(hex::decode(stem).ok()?).ok()
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            oad: b"signed offline data".to_vec(),
            state: UserState::default(),
            stored_at: 1_700_000_000,
        }
    }

    #[test]
    fn round_trip_and_fresh_nonce() {
        let d = tempfile::tempdir().unwrap();
        let key = CacheKey::load_or_create(&d.path().join("cache.key")).unwrap();
        let c = Cache::new(d.path(), key.clone()).unwrap();
        assert!(c.load("ann").unwrap().is_none());
        c.store("ann", &entry()).unwrap();
        let first = std::fs::read(c.path("ann")).unwrap();
        c.store("ann", &entry()).unwrap();
        let second = std::fs::read(c.path("ann")).unwrap();
        assert_ne!(first, second, "a nonce was reused");
        assert_eq!(c.load("ann").unwrap().unwrap().oad, b"signed offline data");
        assert_eq!(c.users().unwrap(), ["ann"]);
        // The plaintext is not in the file.
        assert!(!second.windows(6).any(|w| w == b"signed"));
        // The key file is reused, not replaced.
        let again = CacheKey::load_or_create(&d.path().join("cache.key")).unwrap();
        assert_eq!(*again.0, *key.0);
        assert!(c.delete("ann").unwrap());
        assert!(!c.delete("ann").unwrap());
    }

    #[test]
    fn every_kind_of_damage_is_a_clear_error_for_that_user_only() {
        let d = tempfile::tempdir().unwrap();
        let key = CacheKey::load_or_create(&d.path().join("cache.key")).unwrap();
        let c = Cache::new(d.path(), key).unwrap();
        c.store("ann", &entry()).unwrap();
        c.store("bob", &entry()).unwrap();
        let good = std::fs::read(c.path("ann")).unwrap();

        // Every single flipped byte is detected.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            std::fs::write(c.path("ann"), &bad).unwrap();
            let e = c.load("ann").unwrap_err();
            assert!(
                matches!(
                    e,
                    CacheError::Corrupt { .. }
                        | CacheError::Truncated { .. }
                        | CacheError::UnknownSchema { .. }
                ),
                "byte {i}: {e:?}"
            );
        }
        // Truncations.
        for len in [0, 3, 5, HEADER_LEN, good.len() - 1] {
            std::fs::write(c.path("ann"), &good[..len]).unwrap();
            let e = c.load("ann").unwrap_err();
            assert!(e.to_string().contains("truncated") || e.to_string().contains("integrity"));
        }
        // An unknown schema version.
        let mut v2 = good.clone();
        v2[4..6].copy_from_slice(&2u16.to_be_bytes());
        std::fs::write(c.path("ann"), &v2).unwrap();
        assert_eq!(
            c.load("ann").unwrap_err().to_string(),
            format!(
                "cache file {} has unknown schema version 2 (this agent reads 1)",
                c.path("ann").display()
            )
        );
        // Another user's file under this user's name.
        std::fs::copy(c.path("bob"), c.path("ann")).unwrap();
        assert!(matches!(
            c.load("ann").unwrap_err(),
            CacheError::Corrupt { .. }
        ));
        // Another host's key.
        let other = Cache::new(d.path(), CacheKey::from_bytes([7; 32])).unwrap();
        assert!(matches!(
            other.load("bob").unwrap_err(),
            CacheError::Corrupt { .. }
        ));
        // Nothing else lost.
        assert!(c.load("bob").unwrap().is_some());
    }
}
