//! The `otpauth://` Key URI format (Google Authenticator, `oathtool`, most
//! authenticator apps) for provisioning and importing tokens.
//!
//! Format: `otpauth://TYPE/LABEL?secret=BASE32&issuer=...&algorithm=...&digits=...&period=...|counter=...`
//! where `TYPE` is `totp` or `hotp` and `LABEL` is `Issuer:account` or
//! `account` (percent-encoded; the colon may be literal or `%3A`).
//!
//! Parsing is lenient where real-world URIs vary (case of the type and
//! parameter names, unknown parameters such as `image`, missing `counter`)
//! and strict where a wrong value would silently produce wrong codes
//! (digits, period, algorithm, duplicate parameters).

use std::fmt::Write as _;

use url::Url;

use crate::base32::{decode_base32_secret, encode_base32};
use crate::{CryptoError, OtpAlgorithm, SecretBytes};

/// Whether a token is time-based or counter-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpKind {
    /// RFC 6238 time-based codes.
    Totp,
    /// RFC 4226 counter-based codes.
    Hotp,
}

/// A parsed `otpauth://` URI.
///
/// `Debug` is safe to log: the secret prints as `<redacted>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpAuth {
    /// TOTP or HOTP.
    pub kind: OtpKind,
    /// The service name; from the `issuer` parameter, else the label prefix.
    pub issuer: Option<String>,
    /// The account name from the label (never empty).
    pub account: String,
    /// The decoded seed (10..=128 bytes).
    pub secret: SecretBytes,
    /// HMAC algorithm (default SHA1).
    pub algorithm: OtpAlgorithm,
    /// Code length, 6..=8 (default 6).
    pub digits: u32,
    /// TOTP step in seconds, 1..=300 (default 30); carried but unused for HOTP.
    pub period: u32,
    /// HOTP initial counter (default 0); always 0 for TOTP.
    pub counter: u64,
}

/// Default TOTP period in seconds.
const DEFAULT_PERIOD: u32 = 30;
/// Default code length.
const DEFAULT_DIGITS: u32 = 6;

/// Decodes `%XX` escapes (leaving `+` alone: in a path it is a literal).
fn percent_decode(s: &str) -> Result<String, CryptoError> {
    let bad = CryptoError::InvalidUri("label has a malformed percent escape");
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(|c| char::from(c).to_digit(16));
            let lo = bytes.next().and_then(|c| char::from(c).to_digit(16));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(bad);
            };
            out.push(u8::try_from(hi * 16 + lo).map_err(|_| bad)?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| CryptoError::InvalidUri("label is not valid UTF-8"))
}

/// Percent-encodes everything except RFC 3986 unreserved characters and `@`.
///
/// Stricter than `url`'s form encoding on purpose: spaces become `%20`, not
/// `+`, because several authenticator apps show a `+` literally, and `:`
/// inside an issuer or account is escaped so the label separator stays
/// unambiguous.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Splits the raw (still percent-encoded) label into issuer prefix and
/// account. A literal `:` wins over `%3A` so that our own output, which
/// escapes colons inside names, round-trips.
fn split_label(raw: &str) -> Result<(Option<String>, String), CryptoError> {
    let (issuer, account) = if let Some((iss, acc)) = raw.split_once(':') {
        (Some(percent_decode(iss)?), percent_decode(acc)?)
    } else {
        let decoded = percent_decode(raw)?;
        match decoded.split_once(':') {
            Some((iss, acc)) => (Some(iss.to_owned()), acc.to_owned()),
            None => (None, decoded),
        }
    };
    // The spec allows optional spaces after the colon.
    let account = account.trim().to_owned();
    let issuer = issuer
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty());
    if account.is_empty() {
        return Err(CryptoError::InvalidUri("label (account name) is missing"));
    }
    Ok((issuer, account))
}

/// Stores `value` into `slot`, rejecting a second occurrence: two `secret`
/// or `digits` values would make the result depend on which one an app
/// happens to read.
fn set_once<T>(slot: &mut Option<T>, value: T, dup: &'static str) -> Result<(), CryptoError> {
    if slot.is_some() {
        return Err(CryptoError::InvalidUri(dup));
    }
    *slot = Some(value);
    Ok(())
}

impl OtpAuth {
    /// Parses an `otpauth://` URI. Errors are [`CryptoError::InvalidUri`]
    /// naming the offending field; the secret is never echoed.
    pub fn parse(uri: &str) -> Result<Self, CryptoError> {
        let url = Url::parse(uri.trim()).map_err(|_| CryptoError::InvalidUri("not a valid URI"))?;
        if url.scheme() != "otpauth" {
            return Err(CryptoError::InvalidUri("scheme must be otpauth"));
        }
        let kind = match url.host_str().map(str::to_ascii_lowercase).as_deref() {
            Some("totp") => OtpKind::Totp,
            Some("hotp") => OtpKind::Hotp,
            _ => return Err(CryptoError::InvalidUri("type must be totp or hotp")),
        };
        let raw_label = url.path().strip_prefix('/').unwrap_or(url.path());
        let (label_issuer, account) = split_label(raw_label)?;

        let mut secret = None;
        let mut issuer = None;
        let mut algorithm = None;
        let mut digits = None;
        let mut period = None;
        let mut counter = None;
        for (key, value) in url.query_pairs() {
            match key.to_ascii_lowercase().as_str() {
                "secret" => {
                    let s = decode_base32_secret(&value).map_err(|_| {
                        CryptoError::InvalidUri("secret is not valid base32 of 10..=128 bytes")
                    })?;
                    set_once(&mut secret, s, "secret appears more than once")?;
                }
                "issuer" => set_once(
                    &mut issuer,
                    value.trim().to_owned(),
                    "issuer appears more than once",
                )?,
                "algorithm" => {
                    let a = OtpAlgorithm::parse(&value).map_err(|_| {
                        CryptoError::InvalidUri("algorithm must be SHA1, SHA256 or SHA512")
                    })?;
                    set_once(&mut algorithm, a, "algorithm appears more than once")?;
                }
                "digits" => {
                    let d = value
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|d| (6..=8).contains(d))
                        .ok_or(CryptoError::InvalidUri("digits must be 6, 7 or 8"))?;
                    set_once(&mut digits, d, "digits appears more than once")?;
                }
                "period" => {
                    let p = value
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|p| (1..=300).contains(p))
                        .ok_or(CryptoError::InvalidUri("period must be 1..=300 seconds"))?;
                    set_once(&mut period, p, "period appears more than once")?;
                }
                "counter" => {
                    let c = value.trim().parse::<u64>().map_err(|_| {
                        CryptoError::InvalidUri("counter must be an unsigned integer")
                    })?;
                    set_once(&mut counter, c, "counter appears more than once")?;
                }
                // Unknown parameters (image, color, ...) are app decoration.
                _ => {}
            }
        }

        let secret = secret.ok_or(CryptoError::InvalidUri("secret parameter is missing"))?;
        // The parameter is authoritative; the label prefix is the fallback
        // for old URIs that only carry it there.
        let issuer = issuer.filter(|i| !i.is_empty()).or(label_issuer);
        Ok(Self {
            kind,
            issuer,
            account,
            secret,
            algorithm: algorithm.unwrap_or_default(),
            digits: digits.unwrap_or(DEFAULT_DIGITS),
            period: period.unwrap_or(DEFAULT_PERIOD),
            counter: match kind {
                // A missing HOTP counter is a spec violation, but 0 is what
                // every app assumes, so accept it.
                OtpKind::Hotp => counter.unwrap_or(0),
                OtpKind::Totp => 0,
            },
        })
    }

    /// Renders the URI for provisioning (QR code or copy-paste).
    ///
    /// The result contains the secret: treat it as secret material. An
    /// account containing `:` without an issuer cannot round-trip (the spec
    /// reads the part before the colon as the issuer).
    pub fn to_uri(&self) -> String {
        let host = match self.kind {
            OtpKind::Totp => "totp",
            OtpKind::Hotp => "hotp",
        };
        let mut uri = format!("otpauth://{host}/");
        if let Some(issuer) = &self.issuer {
            uri.push_str(&percent_encode(issuer));
            uri.push(':');
        }
        uri.push_str(&percent_encode(&self.account));
        uri.push_str("?secret=");
        uri.push_str(&encode_base32(self.secret.expose()));
        if let Some(issuer) = &self.issuer {
            uri.push_str("&issuer=");
            uri.push_str(&percent_encode(issuer));
        }
        uri.push_str("&algorithm=");
        uri.push_str(self.algorithm.as_str());
        // Writing to a String cannot fail.
        let _ = write!(uri, "&digits={}", self.digits);
        let _ = match self.kind {
            OtpKind::Totp => write!(uri, "&period={}", self.period),
            OtpKind::Hotp => write!(uri, "&counter={}", self.counter),
        };
        uri
    }
}

#[cfg(test)]
mod tests;
