//! Offline authentication data (OAD) for Latchkey hosts that must authenticate users while the
//! server is unreachable (PRODUCT.md §5; design in `docs/design/offline.md`).
//!
//! The server [`build`]s, for one user and one enrolled offline host, a signed blob holding only
//! slow (Argon2id) or PIN-keyed truncated-HMAC verifiers — never a seed, PIN or code in clear.
//! The host agent [`open`]s it with the pinned server key and its own host id, then
//! [`Oad::verify`]s typed passcodes against it, keeping replay and failure state in a
//! [`UserState`].
//!
//! # Invariants
//!
//! - **Pure.** No I/O, no clock (time is an argument), no global RNG (randomness is an argument).
//! - **Nothing secret in clear.** The blob holds salts, Argon2id outputs, truncated HMACs, a PHC
//!   string, policy limits and metadata (login, serials, generations, expiries).
//! - **Refuse, never panic.** [`open`] checks magic, version, exact length and the Ed25519
//!   signature over everything before the signature, *before* parsing the payload, and the
//!   parser bounds every count and string.
//! - **Errors carry no secrets**: [`OadError`] and [`BuildError`] hold only static text and
//!   numbers.

mod format;
mod verify;
mod wire;

pub use format::{
    BuildError, BuildRequest, EacSource, EmergencySource, KdfParams, TokenSource, build,
    verifying_key,
};
pub use verify::UserState;

/// Version of the OAD envelope this crate writes and accepts. Any other version is refused.
pub const FORMAT_VERSION: u16 = 1;

/// Why [`open`] refused an OAD. Never holds secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OadError {
    /// The bytes are not a well-formed OAD envelope (truncated, garbage, trailing bytes).
    Malformed(&'static str),
    /// The envelope's version is not [`FORMAT_VERSION`].
    UnsupportedVersion(u16),
    /// The Ed25519 signature does not verify under the pinned server key.
    BadSignature,
    /// The OAD was issued for another host.
    WrongHost,
}

impl std::fmt::Display for OadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed offline data: {why}"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported offline data version {v}"),
            Self::BadSignature => f.write_str("offline data signature does not verify"),
            Self::WrongHost => f.write_str("offline data was issued for another host"),
        }
    }
}

impl std::error::Error for OadError {}

/// Opens an OAD: checks the version, the Ed25519 signature under `server_key` (the key pinned
/// at enrolment) and that it was issued for `host_id`.
pub fn open(bytes: &[u8], server_key: &[u8; 32], host_id: &str) -> Result<Oad, OadError> {
    let oad = format::open_envelope(bytes, server_key)?;
    if oad.host_id != host_id {
        return Err(OadError::WrongHost);
    }
    Ok(oad)
}

/// An opened, signature-checked OAD for one user on one host.
#[derive(Clone)]
pub struct Oad {
    pub(crate) host_id: String,
    pub(crate) user: String,
    pub(crate) generated_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) refresh_at: i64,
    pub(crate) policy_fingerprint: [u8; 32],
    pub(crate) failures_before_online_required: u32,
    pub(crate) failures_before_wipe: u32,
    pub(crate) kdf: KdfParams,
    pub(crate) verifier_len: u8,
    pub(crate) tokens: Vec<format::TokenEntry>,
    pub(crate) emergency_passcode: Option<format::SlowVerifier>,
    pub(crate) eac: Option<format::EacEntry>,
}

impl std::fmt::Debug for Oad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Verifiers are attack material for an offline guesser: never printed.
        f.debug_struct("Oad")
            .field("host_id", &self.host_id)
            .field("user", &self.user)
            .field("generated_at", &self.generated_at)
            .field("expires_at", &self.expires_at)
            .field("refresh_at", &self.refresh_at)
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Oad {
    /// The user's login.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The host the OAD was issued for.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// Unix seconds after which the OAD no longer authenticates anyone.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// Unix seconds after which the host should ask for a fresh OAD at the next online login.
    pub fn refresh_at(&self) -> i64 {
        self.refresh_at
    }

    /// Unix seconds when the server generated the OAD.
    pub fn generated_at(&self) -> i64 {
        self.generated_at
    }

    /// Consecutive offline failures after which only emergency credentials are accepted.
    pub fn failures_before_online_required(&self) -> u32 {
        self.failures_before_online_required
    }

    /// Consecutive offline failures after which the host deletes this user's cache.
    pub fn failures_before_wipe(&self) -> u32 {
        self.failures_before_wipe
    }

    /// Fingerprint of the offline and emergency policy the OAD was generated under; the server
    /// compares it with the current policy to call a host's data stale.
    pub fn policy_fingerprint(&self) -> [u8; 32] {
        self.policy_fingerprint
    }

    /// Serials of the tokens whose tokencodes this OAD verifies.
    pub fn serials(&self) -> Vec<&str> {
        self.tokens.iter().map(|t| t.serial.as_str()).collect()
    }

    /// Generation of the offline emergency passcode held, if any.
    pub fn emergency_passcode_generation(&self) -> Option<i64> {
        self.emergency_passcode.as_ref().map(|v| v.generation)
    }

    /// Generation of the offline emergency tokencode held for the token `serial`, if any.
    pub fn emergency_tokencode_generation(&self, serial: &str) -> Option<i64> {
        self.tokens
            .iter()
            .find(|t| t.serial == serial)
            .and_then(|t| t.emergency.as_ref())
            .map(|v| v.generation)
    }

    /// Id of the emergency access code held, if any.
    pub fn eac_id(&self) -> Option<&str> {
        self.eac.as_ref().map(|e| e.id.as_str())
    }

    /// Checks a passcode at `now` against the OAD, updating the host-side state
    /// (replay: last accepted step per token, never reopened when the clock goes backwards;
    /// one-time EAC marked used; failure counter). Slow by design (Argon2id).
    pub fn verify(&self, passcode: &str, now: i64, state: &mut UserState) -> Verdict {
        verify::verify(self, passcode, now, state)
    }
}

/// The outcome of [`Oad::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The passcode is valid; `credential` says which kind matched.
    Accepted {
        /// Which credential matched.
        credential: Credential,
    },
    /// Counted failure; `reason` is `snake_case`, for the event log.
    Rejected {
        /// Short `snake_case` reason.
        reason: &'static str,
    },
    /// Over the first failure limit and the passcode was not an emergency code (counted).
    EmergencyOnly,
    /// Second limit reached: the host deletes this user's cache.
    Wipe,
    /// The OAD is past `expires_at` (not counted).
    Expired,
}

/// Which credential an accepted passcode was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// PIN + current tokencode of one of the user's tokens.
    Tokencode,
    /// PIN + offline emergency tokencode.
    OfflineEmergencyTokencode,
    /// Offline emergency passcode alone.
    OfflineEmergencyPasscode,
    /// The user's current emergency access code alone.
    EmergencyAccessCode,
}

impl Credential {
    /// The `snake_case` name used in events and audit records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Tokencode => "tokencode",
            Self::OfflineEmergencyTokencode => "offline_emergency_tokencode",
            Self::OfflineEmergencyPasscode => "offline_emergency_passcode",
            Self::EmergencyAccessCode => "emergency_access_code",
        }
    }
}

#[cfg(test)]
mod tests;

/// Fuzzing entry point (`fuzz/fuzz_targets/offline_open.rs`): `data` is tried both as a whole
/// envelope and as a payload signed with a fixed key, so the fuzzer reaches the payload parser
/// behind the signature check. Never panics; returns whether the signed payload parsed.
#[doc(hidden)]
pub fn fuzz_check(data: &[u8]) -> bool {
    const KEY: [u8; 32] = [0x5a; 32];
    let public = verifying_key(&KEY);
    let _ = open(data, &public, "fuzz-host");
    let Ok(envelope) = format::sign_payload(data, &KEY) else {
        return false;
    };
    match format::open_envelope(&envelope, &public) {
        Ok(oad) => {
            // Verification costs what the payload's Argon2id parameters say: only run it
            // when they are cheap, so the fuzzer stays fast.
            if oad.kdf.m_kib <= 64 && oad.kdf.t <= 2 {
                let mut st = UserState::default();
                let _ = oad.verify("123456", oad.generated_at, &mut st);
                let _ = oad.verify("", i64::MAX, &mut st);
            }
            true
        }
        Err(_) => false,
    }
}
