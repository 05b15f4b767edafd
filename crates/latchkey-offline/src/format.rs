//! The OAD envelope and payload: building and signing (server), opening (host).
//!
//! ```text
//! envelope  = magic "LKOD" | version u16 | payload_len u32 | payload | signature[64]
//! signature = Ed25519(server key, magic | version | payload_len | payload)
//! ```
//! All integers big-endian. The payload layout is documented in `docs/design/offline.md`.

use argon2::{Algorithm, Argon2, Params, Version};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use latchkey_crypto::otp::OtpAlgorithm;
use rand::{CryptoRng, RngCore};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use zeroize::Zeroizing;

use crate::wire::{MAX_STR, Reader, Writer};
use crate::{FORMAT_VERSION, Oad, OadError};

pub(crate) const MAGIC: &[u8; 4] = b"LKOD";
const HEADER_LEN: usize = 4 + 2 + 4;
const SIG_LEN: usize = 64;
pub(crate) const SALT_LEN: usize = 16;
pub(crate) const HASH_LEN: usize = 32;
/// Bytes kept of each step's HMAC (see the threat model for why 4 is enough).
pub(crate) const VERIFIER_LEN: u8 = 4;
/// Upper bounds enforced when parsing (the blob is signed, but a host must not be made to
/// allocate or hash without limit by a bug on the server either).
const MAX_TOKENS: usize = 32;
const MAX_STEPS: u32 = 60 * 86_400 / 10 + 16;
const MAX_PAYLOAD: usize = 32 * 1024 * 1024;
const SECS_PER_DAY: i64 = 86_400;

pub(crate) const STEP_CONTEXT: &[u8] = b"latchkey-oad-step\0";
const PIN_CONTEXT: &[u8] = b"latchkey-oad-pin\0";
const ET_CONTEXT: &[u8] = b"latchkey-oad-emergency-tokencode\0";
const EP_CONTEXT: &[u8] = b"latchkey-oad-emergency-passcode\0";

/// Argon2id cost of the PIN-derived key and of each emergency-code verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The deployment default, measured in `docs/benchmarks.md`: three derivations (PIN key,
    /// emergency tokencode, emergency passcode) fit the 250 ms generation budget on the
    /// project's 2-core machine.
    pub const DEFAULT: Self = Self {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };

    /// Cheap parameters for tests only (never accepted by the server configuration).
    pub const TEST_ONLY_CHEAP: Self = Self {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    fn valid(self) -> bool {
        (8..=1024 * 1024).contains(&self.m_kib)
            && (1..=16).contains(&self.t)
            && (1..=8).contains(&self.p)
            && self.m_kib >= 8 * self.p
    }

    fn argon2(self) -> Option<Argon2<'static>> {
        if !self.valid() {
            return None;
        }
        let params = Params::new(self.m_kib, self.t, self.p, Some(HASH_LEN)).ok()?;
        Some(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Argon2id of `context ‖ parts…` with `salt`; `None` only for invalid parameters.
    pub(crate) fn derive(
        self,
        context: &[u8],
        parts: &[&[u8]],
        salt: &[u8; SALT_LEN],
    ) -> Option<Zeroizing<[u8; HASH_LEN]>> {
        let argon = self.argon2()?;
        let mut input = Zeroizing::new(context.to_vec());
        for p in parts {
            // Length-prefix each part so "12" ‖ "345" and "123" ‖ "45" differ.
            input.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
            input.extend_from_slice(p);
        }
        let mut out = Zeroizing::new([0u8; HASH_LEN]);
        argon.hash_password_into(&input, salt, out.as_mut()).ok()?;
        Some(out)
    }

    pub(crate) fn pin_key(self, pin: &str, salt: &[u8; SALT_LEN]) -> Option<Zeroizing<[u8; 32]>> {
        self.derive(PIN_CONTEXT, &[pin.as_bytes()], salt)
    }

    pub(crate) fn emergency_tokencode(
        self,
        pin: &str,
        code: &str,
        salt: &[u8; SALT_LEN],
    ) -> Option<Zeroizing<[u8; 32]>> {
        self.derive(ET_CONTEXT, &[pin.as_bytes(), code.as_bytes()], salt)
    }

    pub(crate) fn emergency_passcode(
        self,
        code: &str,
        salt: &[u8; SALT_LEN],
    ) -> Option<Zeroizing<[u8; 32]>> {
        self.derive(EP_CONTEXT, &[code.as_bytes()], salt)
    }
}

/// The step verifier keyed by K: `HMAC-SHA256(K, context ‖ step ‖ tokencode)`, truncated by
/// the caller. Keyed once; each step clones the keyed state (half the hashing of re-keying).
pub(crate) struct StepMac(Hmac<Sha256>);

impl StepMac {
    pub(crate) fn new(key: &[u8; 32]) -> Option<Self> {
        <Hmac<Sha256> as Mac>::new_from_slice(key).ok().map(Self)
    }

    pub(crate) fn tag(&self, step: i64, code: &[u8]) -> [u8; HASH_LEN] {
        let mut m = self.0.clone();
        m.update(STEP_CONTEXT);
        m.update(&step.to_be_bytes());
        m.update(code);
        m.finalize().into_bytes().into()
    }
}

/// RFC 4226 HOTP keyed once per token (the generic one in `latchkey-crypto` re-keys and
/// allocates per call, which is most of the generation time for 20,000 steps).
enum Otp {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl Otp {
    fn new(seed: &[u8], alg: OtpAlgorithm) -> Option<Self> {
        if seed.is_empty() {
            return None;
        }
        Some(match alg {
            OtpAlgorithm::Sha1 => Self::Sha1(<Hmac<Sha1> as Mac>::new_from_slice(seed).ok()?),
            OtpAlgorithm::Sha256 => Self::Sha256(<Hmac<Sha256> as Mac>::new_from_slice(seed).ok()?),
            OtpAlgorithm::Sha512 => Self::Sha512(<Hmac<Sha512> as Mac>::new_from_slice(seed).ok()?),
        })
    }

    /// The code for `counter` as `digits` ASCII digits in a stack buffer.
    fn code(&self, counter: u64, digits: u8) -> Option<Zeroizing<[u8; 8]>> {
        let c = counter.to_be_bytes();
        let mac: Zeroizing<Vec<u8>> = Zeroizing::new(match self {
            Self::Sha1(m) => m.clone().chain_update(c).finalize().into_bytes().to_vec(),
            Self::Sha256(m) => m.clone().chain_update(c).finalize().into_bytes().to_vec(),
            Self::Sha512(m) => m.clone().chain_update(c).finalize().into_bytes().to_vec(),
        });
        let offset = usize::from(mac.last()? & 0x0f);
        let window = <[u8; 4]>::try_from(mac.get(offset..offset + 4)?).ok()?;
        let mut v = (u32::from_be_bytes(window) & 0x7fff_ffff) % 10u32.pow(u32::from(digits));
        let mut out = Zeroizing::new([0u8; 8]);
        for i in (0..usize::from(digits)).rev() {
            *out.get_mut(i)? = b'0' + u8::try_from(v % 10).ok()?;
            v /= 10;
        }
        Some(out)
    }
}

/// A token's verifiers as carried in the OAD.
#[derive(Clone)]
pub(crate) struct TokenEntry {
    pub(crate) serial: String,
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) digits: u8,
    pub(crate) period: u32,
    pub(crate) first_step: i64,
    pub(crate) steps: u32,
    pub(crate) verifiers: Vec<u8>,
    pub(crate) emergency: Option<SlowVerifier>,
}

/// An emergency code's own Argon2id verifier.
#[derive(Clone)]
pub(crate) struct SlowVerifier {
    pub(crate) generation: i64,
    pub(crate) expires_at: i64,
    pub(crate) code_len: u8,
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) hash: [u8; HASH_LEN],
}

/// The emergency access code's offline verifier (the PHC string the server stored at issue).
#[derive(Clone)]
pub(crate) struct EacEntry {
    pub(crate) id: String,
    pub(crate) one_time: bool,
    pub(crate) offline_expires_at: i64,
    pub(crate) phc: String,
}

/// Why [`build`] refused. Never holds secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A field of the request is out of range.
    Invalid(&'static str),
    /// A cryptographic primitive failed (bad parameters).
    Crypto(&'static str),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(why) => write!(f, "cannot build offline data: invalid {why}"),
            Self::Crypto(why) => write!(f, "cannot build offline data: {why} failed"),
        }
    }
}

impl std::error::Error for BuildError {}

/// An emergency code to embed: its generation, expiry and value (hashed, never embedded).
#[derive(Clone, Copy)]
pub struct EmergencySource<'a> {
    /// Generation number (increases at every reset).
    pub generation: i64,
    /// Unix seconds after which it is refused.
    pub expires_at: i64,
    /// The value, in clear, in the server's memory only.
    pub value: &'a str,
}

/// The emergency access code to embed: the Argon2id PHC string stored when it was issued.
#[derive(Clone, Copy)]
pub struct EacSource<'a> {
    /// The EAC's id.
    pub id: &'a str,
    /// One-time (the host marks it used) or reusable.
    pub one_time: bool,
    /// End of offline validity.
    pub offline_expires_at: i64,
    /// Argon2id PHC string of the code.
    pub phc: &'a str,
}

/// A TOTP token to embed: the server unsealed its seed and holds the PIN typed in the
/// authentication that triggered the download.
#[derive(Clone, Copy)]
pub struct TokenSource<'a> {
    /// Serial number.
    pub serial: &'a str,
    /// The seed, in the server's memory only.
    pub seed: &'a [u8],
    /// The PIN (empty for a token without one).
    pub pin: &'a str,
    /// Digits (6–8).
    pub digits: u32,
    /// Step in seconds.
    pub period: u32,
    /// HMAC algorithm of the token.
    pub algorithm: OtpAlgorithm,
    /// The token's known clock drift in steps (the code for host step `s` is the token's code
    /// at `s + drift`).
    pub drift: i64,
    /// The token's offline emergency tokencode, if the download includes it.
    pub emergency_tokencode: Option<EmergencySource<'a>>,
}

/// Everything the server puts into one OAD.
#[derive(Clone)]
pub struct BuildRequest<'a> {
    /// The enrolled host's id.
    pub host_id: &'a str,
    /// The user's login.
    pub user: &'a str,
    /// Unix seconds now.
    pub generated_at: i64,
    /// Days of offline data (policy, 1–60).
    pub days: u32,
    /// Refresh when fewer than this many days remain (policy).
    pub refresh_below_days: u32,
    /// Fingerprint of the policy in force.
    pub policy_fingerprint: [u8; 32],
    /// Failures before only emergency codes work (policy).
    pub failures_before_online_required: u32,
    /// Failures before the host wipes the user's cache (policy).
    pub failures_before_wipe: u32,
    /// Argon2id cost.
    pub kdf: KdfParams,
    /// TOTP tokens (HOTP tokens have no time steps and are left out by the caller).
    pub tokens: Vec<TokenSource<'a>>,
    /// The user's offline emergency passcode, if the download includes it.
    pub emergency_passcode: Option<EmergencySource<'a>>,
    /// The user's current emergency access code, if any and offline-valid.
    pub eac: Option<EacSource<'a>>,
}

/// The Ed25519 verifying key (what hosts pin) of a 32-byte signing key seed.
pub fn verifying_key(signing_key: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(signing_key)
        .verifying_key()
        .to_bytes()
}

fn check_str(s: &str, what: &'static str) -> Result<(), BuildError> {
    if s.is_empty() || s.len() > MAX_STR {
        Err(BuildError::Invalid(what))
    } else {
        Ok(())
    }
}

fn salt(rng: &mut (impl RngCore + CryptoRng)) -> [u8; SALT_LEN] {
    let mut s = [0u8; SALT_LEN];
    rng.fill_bytes(&mut s);
    s
}

fn slow(
    rng: &mut (impl RngCore + CryptoRng),
    e: &EmergencySource<'_>,
    hash: impl FnOnce(&[u8; SALT_LEN]) -> Option<Zeroizing<[u8; 32]>>,
) -> Result<SlowVerifier, BuildError> {
    let code_len =
        u8::try_from(e.value.len()).map_err(|_| BuildError::Invalid("emergency code too long"))?;
    if code_len == 0 {
        return Err(BuildError::Invalid("emergency code empty"));
    }
    let s = salt(rng);
    let h = hash(&s).ok_or(BuildError::Crypto("argon2id"))?;
    Ok(SlowVerifier {
        generation: e.generation,
        expires_at: e.expires_at,
        code_len,
        salt: s,
        hash: *h,
    })
}

fn token_entry(
    rng: &mut (impl RngCore + CryptoRng),
    kdf: KdfParams,
    t: &TokenSource<'_>,
    generated_at: i64,
    expires_at: i64,
) -> Result<TokenEntry, BuildError> {
    check_str(t.serial, "serial")?;
    let digits = u8::try_from(t.digits)
        .ok()
        .filter(|d| (6..=8).contains(d))
        .ok_or(BuildError::Invalid("digits must be 6, 7 or 8"))?;
    if !(10..=300).contains(&t.period) {
        return Err(BuildError::Invalid("period must be 10–300 s"));
    }
    let period = i64::from(t.period);
    // One step of slack on each side, for the host's ±1 step window.
    let first_step = generated_at.div_euclid(period) - 1;
    let last_step = expires_at.div_euclid(period) + 1;
    let steps = u32::try_from(last_step - first_step + 1)
        .ok()
        .filter(|n| *n <= MAX_STEPS)
        .ok_or(BuildError::Invalid("window too long"))?;
    let s = salt(rng);
    let key = kdf
        .pin_key(t.pin, &s)
        .ok_or(BuildError::Crypto("argon2id"))?;
    let step_mac = StepMac::new(&key).ok_or(BuildError::Crypto("hmac"))?;
    let otp = Otp::new(t.seed, t.algorithm).ok_or(BuildError::Invalid("token seed"))?;
    let mut verifiers = Vec::with_capacity(usize::try_from(steps).unwrap_or(0) * 4);
    for step in first_step..=last_step {
        let counter = u64::try_from(step.saturating_add(t.drift))
            .map_err(|_| BuildError::Invalid("step before the epoch"))?;
        let code = otp
            .code(counter, digits)
            .ok_or(BuildError::Crypto("hotp"))?;
        let tag = step_mac.tag(step, code.get(..usize::from(digits)).unwrap_or_default());
        verifiers.extend_from_slice(tag.get(..usize::from(VERIFIER_LEN)).unwrap_or_default());
    }
    let emergency = match &t.emergency_tokencode {
        Some(e) => Some(slow(rng, e, |s| {
            kdf.emergency_tokencode(t.pin, e.value, s)
        })?),
        None => None,
    };
    Ok(TokenEntry {
        serial: t.serial.to_owned(),
        salt: s,
        digits,
        period: t.period,
        first_step,
        steps,
        verifiers,
        emergency,
    })
}

fn write_slow(w: &mut Writer, v: Option<&SlowVerifier>) {
    match v {
        None => w.u8(0),
        Some(v) => {
            w.u8(1);
            w.i64(v.generation);
            w.i64(v.expires_at);
            w.u8(v.code_len);
            w.raw(&v.salt);
            w.raw(&v.hash);
        }
    }
}

fn read_slow(r: &mut Reader<'_>) -> Result<Option<SlowVerifier>, OadError> {
    if !r.bool()? {
        return Ok(None);
    }
    let v = SlowVerifier {
        generation: r.i64()?,
        expires_at: r.i64()?,
        code_len: r.u8()?,
        salt: r.array()?,
        hash: r.array()?,
    };
    if v.code_len == 0 {
        return Err(OadError::Malformed("empty emergency code"));
    }
    Ok(Some(v))
}

/// Builds and signs an OAD. Costs one Argon2id per token, plus one per embedded emergency
/// code, plus one HMAC per token and step.
pub fn build(
    req: &BuildRequest<'_>,
    signing_key: &[u8; 32],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, BuildError> {
    check_str(req.host_id, "host id")?;
    check_str(req.user, "user")?;
    if !(1..=60).contains(&req.days) || req.refresh_below_days > req.days {
        return Err(BuildError::Invalid("days out of range"));
    }
    if req.tokens.len() > MAX_TOKENS {
        return Err(BuildError::Invalid("too many tokens"));
    }
    if !req.kdf.valid() {
        return Err(BuildError::Invalid("Argon2id parameters"));
    }
    let expires_at = req
        .generated_at
        .saturating_add(i64::from(req.days) * SECS_PER_DAY);
    let refresh_at = expires_at - i64::from(req.refresh_below_days) * SECS_PER_DAY;
    let tokens = req
        .tokens
        .iter()
        .map(|t| token_entry(rng, req.kdf, t, req.generated_at, expires_at))
        .collect::<Result<Vec<_>, _>>()?;
    let ep = match &req.emergency_passcode {
        Some(e) => Some(slow(rng, e, |s| req.kdf.emergency_passcode(e.value, s))?),
        None => None,
    };
    if let Some(e) = &req.eac {
        check_str(e.id, "access code id")?;
        check_str(e.phc, "access code verifier")?;
    }

    let mut w = Writer::default();
    w.str(req.host_id);
    w.str(req.user);
    w.i64(req.generated_at);
    w.i64(expires_at);
    w.i64(refresh_at);
    w.raw(&req.policy_fingerprint);
    w.u32(req.failures_before_online_required);
    w.u32(req.failures_before_wipe);
    w.u32(req.kdf.m_kib);
    w.u32(req.kdf.t);
    w.u32(req.kdf.p);
    w.u8(VERIFIER_LEN);
    w.u16(u16::try_from(tokens.len()).unwrap_or(0));
    for t in &tokens {
        w.str(&t.serial);
        w.raw(&t.salt);
        w.u8(t.digits);
        w.u32(t.period);
        w.i64(t.first_step);
        w.u32(t.steps);
        w.raw(&t.verifiers);
        write_slow(&mut w, t.emergency.as_ref());
    }
    write_slow(&mut w, ep.as_ref());
    match &req.eac {
        None => w.u8(0),
        Some(e) => {
            w.u8(1);
            w.str(e.id);
            w.u8(u8::from(e.one_time));
            w.i64(e.offline_expires_at);
            w.str(e.phc);
        }
    }
    sign_payload(&w.buf, signing_key)
}

/// Wraps a payload into a signed envelope.
pub(crate) fn sign_payload(payload: &[u8], signing_key: &[u8; 32]) -> Result<Vec<u8>, BuildError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|n| usize::try_from(*n).is_ok_and(|n| n <= MAX_PAYLOAD))
        .ok_or(BuildError::Invalid("payload too large"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + SIG_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    let sig = SigningKey::from_bytes(signing_key).sign(&out);
    out.extend_from_slice(&sig.to_bytes());
    Ok(out)
}

/// Checks the envelope and signature, then parses the payload.
pub(crate) fn open_envelope(bytes: &[u8], server_key: &[u8; 32]) -> Result<Oad, OadError> {
    let mut r = Reader::new(bytes);
    let magic: [u8; 4] = r.array()?;
    if &magic != MAGIC {
        return Err(OadError::Malformed("not offline data"));
    }
    let version = r.u16()?;
    if version != FORMAT_VERSION {
        return Err(OadError::UnsupportedVersion(version));
    }
    let len = usize::try_from(r.u32()?).map_err(|_| OadError::Malformed("length"))?;
    if len > MAX_PAYLOAD {
        return Err(OadError::Malformed("payload too large"));
    }
    let payload = r.take(len)?;
    let sig: [u8; SIG_LEN] = r.array()?;
    r.finish()?;
    let signed = bytes
        .get(..HEADER_LEN + len)
        .ok_or(OadError::Malformed("truncated"))?;
    let key = VerifyingKey::from_bytes(server_key).map_err(|_| OadError::BadSignature)?;
    key.verify_strict(signed, &Signature::from_bytes(&sig))
        .map_err(|_| OadError::BadSignature)?;
    parse_payload(payload)
}

fn parse_payload(payload: &[u8]) -> Result<Oad, OadError> {
    let mut r = Reader::new(payload);
    let host_id = r.str()?;
    let user = r.str()?;
    let generated_at = r.i64()?;
    let expires_at = r.i64()?;
    let refresh_at = r.i64()?;
    let policy_fingerprint = r.array()?;
    let failures_before_online_required = r.u32()?;
    let failures_before_wipe = r.u32()?;
    let kdf = KdfParams {
        m_kib: r.u32()?,
        t: r.u32()?,
        p: r.u32()?,
    };
    if !kdf.valid() {
        return Err(OadError::Malformed("Argon2id parameters"));
    }
    let verifier_len = r.u8()?;
    if !(1..=32).contains(&verifier_len) {
        return Err(OadError::Malformed("verifier length"));
    }
    let count = usize::from(r.u16()?);
    if count > MAX_TOKENS {
        return Err(OadError::Malformed("too many tokens"));
    }
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let serial = r.str()?;
        let salt = r.array()?;
        let digits = r.u8()?;
        let period = r.u32()?;
        let first_step = r.i64()?;
        let steps = r.u32()?;
        if !(6..=8).contains(&digits) || !(10..=300).contains(&period) || steps > MAX_STEPS {
            return Err(OadError::Malformed("token parameters"));
        }
        let n = usize::try_from(steps)
            .ok()
            .and_then(|s| s.checked_mul(usize::from(verifier_len)))
            .ok_or(OadError::Malformed("token parameters"))?;
        let verifiers = r.take(n)?.to_vec();
        let emergency = read_slow(&mut r)?;
        tokens.push(TokenEntry {
            serial,
            salt,
            digits,
            period,
            first_step,
            steps,
            verifiers,
            emergency,
        });
    }
    let emergency_passcode = read_slow(&mut r)?;
    let eac = if r.bool()? {
        Some(EacEntry {
            id: r.str()?,
            one_time: r.bool()?,
            offline_expires_at: r.i64()?,
            phc: r.str()?,
        })
    } else {
        None
    };
    r.finish()?;
    Ok(Oad {
        host_id,
        user,
        generated_at,
        expires_at,
        refresh_at,
        policy_fingerprint,
        failures_before_online_required,
        failures_before_wipe,
        kdf,
        verifier_len,
        tokens,
        emergency_passcode,
        eac,
    })
}
