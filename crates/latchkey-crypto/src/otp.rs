//! HOTP (RFC 4226) and TOTP (RFC 6238) code computation.
//!
//! Only computation lives here; replay protection, drift windows and
//! counter persistence are the caller's job, because they need storage.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use crate::CryptoError;

/// The HMAC hash function used for OTP computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OtpAlgorithm {
    /// HMAC-SHA1, the RFC 4226 default and what nearly every token uses.
    #[default]
    Sha1,
    /// HMAC-SHA256 (RFC 6238).
    Sha256,
    /// HMAC-SHA512 (RFC 6238).
    Sha512,
}

impl OtpAlgorithm {
    /// The canonical name used in `otpauth://` URIs: `SHA1`, `SHA256`, `SHA512`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    /// Parses an algorithm name case-insensitively, ignoring `-` and `_`
    /// (so `sha1`, `SHA-1`, `Sha_256` are accepted), because token vendors
    /// and import files spell these inconsistently.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        match norm.as_str() {
            "SHA1" => Ok(Self::Sha1),
            "SHA256" => Ok(Self::Sha256),
            "SHA512" => Ok(Self::Sha512),
            _ => Err(CryptoError::InvalidParameter(
                "unknown OTP algorithm (expected SHA1, SHA256 or SHA512)",
            )),
        }
    }
}

/// Computes HMAC over `msg` with the chosen algorithm.
fn hmac_bytes(alg: OtpAlgorithm, key: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    // HMAC accepts keys of any length, so these errors never occur in
    // practice; mapping them keeps the function panic-free.
    let err = |_| CryptoError::InvalidSecret("HMAC rejected the secret");
    Ok(match alg {
        OtpAlgorithm::Sha1 => {
            let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key).map_err(err)?;
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        OtpAlgorithm::Sha256 => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(err)?;
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        OtpAlgorithm::Sha512 => {
            let mut m = <Hmac<Sha512> as Mac>::new_from_slice(key).map_err(err)?;
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
    })
}

/// Computes an RFC 4226 HOTP value as a zero-padded decimal string.
///
/// `digits` must be 6, 7 or 8 (fewer is too weak, more exceeds the 31-bit
/// truncated value's useful range); `secret` must not be empty.
pub fn hotp(
    secret: &[u8],
    counter: u64,
    digits: u32,
    alg: OtpAlgorithm,
) -> Result<String, CryptoError> {
    if !(6..=8).contains(&digits) {
        return Err(CryptoError::InvalidParameter(
            "OTP digits must be 6, 7 or 8",
        ));
    }
    if secret.is_empty() {
        return Err(CryptoError::InvalidSecret("OTP secret is empty"));
    }
    let mac = zeroize::Zeroizing::new(hmac_bytes(alg, secret, &counter.to_be_bytes())?);
    // Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte
    // selects a 4-byte window.
    let broken = || CryptoError::InvalidParameter("HMAC output too short");
    let offset = usize::from(mac.last().ok_or_else(broken)? & 0x0f);
    let window = mac
        .get(offset..offset + 4)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .ok_or_else(broken)?;
    let bin = u32::from_be_bytes(window) & 0x7fff_ffff;
    let code = bin % 10u32.pow(digits);
    let width = usize::try_from(digits).map_err(|_| broken())?;
    Ok(format!("{code:0width$}"))
}

/// The TOTP time step: `floor(unix_secs / period)`.
///
/// Times before the epoch map to step 0. `period` must be non-zero; callers
/// validate it (as [`totp`] does), and a zero period yields 0 rather than a
/// division by zero.
pub fn totp_step(unix_secs: i64, period: u32) -> u64 {
    u64::try_from(unix_secs)
        .ok()
        .and_then(|t| t.checked_div(u64::from(period)))
        .unwrap_or(0)
}

/// Computes an RFC 6238 TOTP value for the time `unix_secs`.
///
/// `period` must be non-zero; `digits` as for [`hotp`].
pub fn totp(
    secret: &[u8],
    unix_secs: i64,
    period: u32,
    digits: u32,
    alg: OtpAlgorithm,
) -> Result<String, CryptoError> {
    if period == 0 {
        return Err(CryptoError::InvalidParameter(
            "TOTP period must be non-zero",
        ));
    }
    hotp(secret, totp_step(unix_secs, period), digits, alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC4226_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in (0u64..).zip(expected) {
            assert_eq!(
                hotp(RFC4226_SECRET, counter, 6, OtpAlgorithm::Sha1).unwrap(),
                want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b() {
        let sha1 = b"12345678901234567890".as_slice();
        let sha256 = b"12345678901234567890123456789012".as_slice();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let table: [(i64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        for (t, w1, w256, w512) in table {
            assert_eq!(totp(sha1, t, 30, 8, OtpAlgorithm::Sha1).unwrap(), w1, "{t}");
            assert_eq!(
                totp(sha256, t, 30, 8, OtpAlgorithm::Sha256).unwrap(),
                w256,
                "{t}"
            );
            assert_eq!(
                totp(sha512, t, 30, 8, OtpAlgorithm::Sha512).unwrap(),
                w512,
                "{t}"
            );
        }
    }

    #[test]
    fn digits_range_enforced() {
        for d in [0, 5, 9, 10] {
            assert!(matches!(
                hotp(RFC4226_SECRET, 0, d, OtpAlgorithm::Sha1),
                Err(CryptoError::InvalidParameter(_))
            ));
        }
        assert_eq!(
            hotp(RFC4226_SECRET, 0, 7, OtpAlgorithm::Sha1)
                .unwrap()
                .len(),
            7
        );
    }

    #[test]
    fn empty_secret_rejected() {
        assert!(matches!(
            hotp(b"", 0, 6, OtpAlgorithm::Sha1),
            Err(CryptoError::InvalidSecret(_))
        ));
    }

    #[test]
    fn steps() {
        assert_eq!(totp_step(59, 30), 1);
        assert_eq!(totp_step(60, 30), 2);
        assert_eq!(totp_step(-1, 30), 0);
        assert_eq!(totp_step(i64::MIN, 30), 0);
        assert_eq!(totp_step(100, 0), 0);
        assert!(totp(RFC4226_SECRET, 0, 0, 6, OtpAlgorithm::Sha1).is_err());
    }

    #[test]
    fn algorithm_names() {
        for alg in [
            OtpAlgorithm::Sha1,
            OtpAlgorithm::Sha256,
            OtpAlgorithm::Sha512,
        ] {
            assert_eq!(OtpAlgorithm::parse(alg.as_str()).unwrap(), alg);
        }
        assert_eq!(OtpAlgorithm::parse("sha1").unwrap(), OtpAlgorithm::Sha1);
        assert_eq!(OtpAlgorithm::parse("SHA-1").unwrap(), OtpAlgorithm::Sha1);
        assert_eq!(
            OtpAlgorithm::parse("sha-256").unwrap(),
            OtpAlgorithm::Sha256
        );
        assert_eq!(OtpAlgorithm::parse("Sha512").unwrap(), OtpAlgorithm::Sha512);
        assert!(OtpAlgorithm::parse("md5").is_err());
        assert!(OtpAlgorithm::parse("").is_err());
    }
}
