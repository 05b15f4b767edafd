//! HOTP (RFC 4226) and TOTP (RFC 6238) code computation.
//!
//! Only computation lives here; replay protection, drift windows and
//! counter persistence are the caller's job, because they need storage.
//!
//! Two forms of one computation: [`hotp`] and [`totp`] return the zero-padded string a token
//! displays, and [`OtpKey`] keys the HMAC once and yields codes as integers, for scanning a
//! window of counters without re-keying, allocating or formatting per counter.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use zeroize::Zeroize;

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

/// The keyed HMAC state of one algorithm.
///
/// `hmac` 0.12 absorbs the padded key into the inner and outer hash states when the MAC is
/// built; cloning that state per counter then costs two compressions instead of four.
#[derive(Clone)]
enum KeyedMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

/// An OTP secret prepared once for computing the codes of many counters.
///
/// Built from (secret, algorithm, digits) with the same validation as [`hotp`]; every code
/// it computes afterwards is infallible and allocation-free.
///
/// # Zeroization
///
/// The keyed state is as good as the secret (it computes every code), but it is **not**
/// wiped on drop: `hmac` 0.12 / `digest` 0.10 implement no `Zeroize` for it and keep its
/// fields private, and overwriting it from outside would need `unsafe`, which this crate
/// forbids. (`hmac` 0.13 has a `zeroize` feature for this.) So keep an `OtpKey` on the
/// stack and no longer than the [`SecretBytes`](crate::SecretBytes) seed it was built from,
/// and do not clone it needlessly. Every HMAC of a secret leaves this state behind, [`hotp`]
/// included; the prepared key changes how often it is built, not whether it is wiped.
#[derive(Clone)]
pub struct OtpKey {
    mac: KeyedMac,
    digits: u32,
    /// `10^digits`: the code is the truncated value modulo this.
    modulus: u32,
}

impl std::fmt::Debug for OtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpKey")
            .field("digits", &self.digits)
            .finish_non_exhaustive()
    }
}

impl OtpKey {
    /// Prepares `secret` for `alg` and `digits` codes.
    ///
    /// `digits` must be 6, 7 or 8 (fewer is too weak, more exceeds the 31-bit truncated
    /// value's useful range); `secret` must not be empty.
    pub fn new(secret: &[u8], alg: OtpAlgorithm, digits: u32) -> Result<Self, CryptoError> {
        if !(6..=8).contains(&digits) {
            return Err(CryptoError::InvalidParameter(
                "OTP digits must be 6, 7 or 8",
            ));
        }
        if secret.is_empty() {
            return Err(CryptoError::InvalidSecret("OTP secret is empty"));
        }
        // HMAC accepts keys of any length, so these errors never occur in practice; mapping
        // them keeps the constructor panic-free.
        let err = |_| CryptoError::InvalidSecret("HMAC rejected the secret");
        let mac = match alg {
            OtpAlgorithm::Sha1 => {
                KeyedMac::Sha1(<Hmac<Sha1> as Mac>::new_from_slice(secret).map_err(err)?)
            }
            OtpAlgorithm::Sha256 => {
                KeyedMac::Sha256(<Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(err)?)
            }
            OtpAlgorithm::Sha512 => {
                KeyedMac::Sha512(<Hmac<Sha512> as Mac>::new_from_slice(secret).map_err(err)?)
            }
        };
        Ok(Self {
            mac,
            digits,
            modulus: 10u32.pow(digits),
        })
    }

    /// The number of digits of this key's codes.
    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// The code of `counter` as an integer below `10^digits` (RFC 4226 §5.3).
    pub fn code(&self, counter: u64) -> u32 {
        let msg = counter.to_be_bytes();
        let bin = match &self.mac {
            KeyedMac::Sha1(m) => truncate_mac(m, &msg),
            KeyedMac::Sha256(m) => truncate_mac(m, &msg),
            KeyedMac::Sha512(m) => truncate_mac(m, &msg),
        };
        bin % self.modulus
    }

    /// The value of a typed code: exactly [`digits`](Self::digits) ASCII digits, else `None`.
    ///
    /// Leading zeros count toward the length (`"012345"` is 12345 for a 6-digit key, `"12345"`
    /// is no code), so the integer compares like the zero-padded string did. Every byte is
    /// looked at whatever it holds, so the time depends only on the length.
    pub fn parse_code(&self, typed: &str) -> Option<u32> {
        let ok_len = usize::try_from(self.digits).is_ok_and(|d| d == typed.len());
        let (value, all_digits) = typed.bytes().fold((0u32, true), |(v, ok), b| {
            let d = b.wrapping_sub(b'0');
            // Wrapping: a long input is refused by its length, and must not panic first.
            (v.wrapping_mul(10).wrapping_add(u32::from(d)), ok && d < 10)
        });
        (ok_len && all_digits).then_some(value)
    }
}

/// HMAC of `msg` under the keyed state `keyed`, dynamically truncated (RFC 4226 §5.3) to a
/// 31-bit value.
fn truncate_mac<M: Mac + Clone>(keyed: &M, msg: &[u8]) -> u32 {
    let mut m = keyed.clone();
    m.update(msg);
    let mut out = m.finalize().into_bytes();
    let mac = out.as_slice();
    // The low nibble of the last byte selects a 4-byte window. Every output here is at least
    // 20 bytes, so offset + 4 <= 19 always fits; `skip`/`take` say so without indexing.
    let offset = mac.last().map_or(0, |b| usize::from(b & 0x0f));
    let bin = mac
        .iter()
        .skip(offset)
        .take(4)
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    // The MAC holds more of the HMAC output than the code shows; wipe what this copy holds.
    out.as_mut_slice().zeroize();
    bin & 0x7fff_ffff
}

/// Computes an RFC 4226 HOTP value as a zero-padded decimal string.
///
/// `digits` must be 6, 7 or 8 (fewer is too weak, more exceeds the 31-bit
/// truncated value's useful range); `secret` must not be empty. To compute or check many
/// counters of one secret, prepare an [`OtpKey`] once instead.
pub fn hotp(
    secret: &[u8],
    counter: u64,
    digits: u32,
    alg: OtpAlgorithm,
) -> Result<String, CryptoError> {
    let key = OtpKey::new(secret, alg, digits)?;
    let width = usize::try_from(digits)
        .map_err(|_| CryptoError::InvalidParameter("OTP digits must be 6, 7 or 8"))?;
    let code = key.code(counter);
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

    /// The string path as it was before [`OtpKey`]: a fresh HMAC per counter, the MAC in a
    /// `Vec`, the code formatted by `format!`. An oracle independent of the code under test.
    fn reference_hotp(secret: &[u8], counter: u64, digits: u32, alg: OtpAlgorithm) -> String {
        let msg = counter.to_be_bytes();
        let mac: Vec<u8> = match alg {
            OtpAlgorithm::Sha1 => {
                let mut m = <Hmac<Sha1> as Mac>::new_from_slice(secret).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
            OtpAlgorithm::Sha256 => {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
            OtpAlgorithm::Sha512 => {
                let mut m = <Hmac<Sha512> as Mac>::new_from_slice(secret).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
        };
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let bin = u32::from_be_bytes(mac[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
        let code = bin % 10u32.pow(digits);
        format!("{code:0w$}", w = digits as usize)
    }

    #[test]
    fn integer_codes_equal_the_strings() {
        let secrets: [(&[u8], OtpAlgorithm); 3] = [
            (b"12345678901234567890", OtpAlgorithm::Sha1),
            (b"12345678901234567890123456789012", OtpAlgorithm::Sha256),
            (
                b"1234567890123456789012345678901234567890123456789012345678901234",
                OtpAlgorithm::Sha512,
            ),
        ];
        for (secret, alg) in secrets {
            for digits in 6..=8 {
                let key = OtpKey::new(secret, alg, digits).unwrap();
                assert_eq!(key.digits(), digits);
                for counter in (0..200).chain([u64::MAX - 1, u64::MAX, 37_037_036]) {
                    let s = reference_hotp(secret, counter, digits, alg);
                    assert_eq!(hotp(secret, counter, digits, alg).unwrap(), s);
                    let n = key.code(counter);
                    assert!(n < 10u32.pow(digits));
                    assert_eq!(key.parse_code(&s), Some(n), "{alg:?} {digits} {counter}");
                    assert_eq!(format!("{n:0w$}", w = s.len()), s);
                }
            }
        }
    }

    #[test]
    fn typed_codes_parse_exactly() {
        let six = OtpKey::new(RFC4226_SECRET, OtpAlgorithm::Sha1, 6).unwrap();
        let eight = OtpKey::new(RFC4226_SECRET, OtpAlgorithm::Sha1, 8).unwrap();
        assert_eq!(six.parse_code("012345"), Some(12_345));
        assert_eq!(six.parse_code("000000"), Some(0));
        assert_eq!(six.parse_code("999999"), Some(999_999));
        assert_eq!(eight.parse_code("99999999"), Some(99_999_999));
        assert_eq!(eight.parse_code("00012345"), Some(12_345));
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "+12345",
            "-12345",
            " 12345",
            "12345 ",
            "\u{ff11}\u{ff12}",
            "12\u{0}456",
            "99999999999999999999",
        ] {
            assert_eq!(six.parse_code(bad), None, "{bad:?}");
        }
        assert_eq!(eight.parse_code("012345"), None);
    }

    #[test]
    fn prepared_key_validates_like_hotp() {
        for d in [0, 5, 9, 10] {
            assert!(matches!(
                OtpKey::new(RFC4226_SECRET, OtpAlgorithm::Sha1, d),
                Err(CryptoError::InvalidParameter(_))
            ));
        }
        assert!(matches!(
            OtpKey::new(b"", OtpAlgorithm::Sha256, 6),
            Err(CryptoError::InvalidSecret(_))
        ));
        let key = OtpKey::new(RFC4226_SECRET, OtpAlgorithm::Sha1, 6).unwrap();
        assert_eq!(format!("{key:?}"), "OtpKey { digits: 6, .. }");
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
