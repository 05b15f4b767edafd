//! What the shared secret protects: User-Password hiding (RFC 2865 §5.2), the Response
//! Authenticator (RFC 2865 §3) and the Message-Authenticator (RFC 3579 §3.2, HMAC-MD5).
//!
//! Every comparison of an authenticator is constant-time (`subtle`), so a forger learns
//! nothing from how long a refusal took.

use std::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{CodecError, HEADER_LEN, Packet, attr};

type HmacMd5 = Hmac<Md5>;

/// Longest User-Password (RFC 2865 §5.2).
const MAX_PASSWORD: usize = 128;

/// A recovered User-Password: wiped from memory on drop, redacted in `Debug`.
#[derive(Clone, Default)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// The password's octets. Callers must not log or store them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// What a Message-Authenticator check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageAuthenticatorCheck {
    /// The packet carries none.
    Absent,
    /// Present and right for this secret.
    Valid,
    /// Present and wrong: the packet was forged, altered, or sent with another secret.
    Invalid,
}

fn md5_of(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Hides a password for an Access-Request: padded with zeros to a multiple of 16 (at least 16,
/// at most 128), each block `XOR`-ed with `MD5(secret + previous block)`, the first one with
/// `MD5(secret + request authenticator)`.
pub fn hide_password(
    password: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Result<Vec<u8>, CodecError> {
    if password.len() > MAX_PASSWORD {
        return Err(CodecError::BadPasswordLength);
    }
    let padded_len = password.len().div_ceil(16).max(1) * 16;
    let mut out = Zeroizing::new(password.to_vec());
    out.resize(padded_len, 0);
    let mut prev: [u8; 16] = *request_authenticator;
    for block in out.chunks_mut(16) {
        let key = md5_of(&[secret, &prev]);
        for (b, k) in block.iter_mut().zip(key) {
            *b ^= k;
        }
        prev.copy_from_slice(block);
    }
    Ok(out.to_vec())
}

/// Recovers a hidden password: the inverse of [`hide_password`], with the zero padding cut
/// off. A wrong secret yields garbage, not an error: without a Message-Authenticator nothing
/// in the packet tells a wrong secret from a wrong password.
pub fn unhide_password(
    hidden: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Result<Password, CodecError> {
    if hidden.is_empty() || hidden.len() > MAX_PASSWORD || !hidden.len().is_multiple_of(16) {
        return Err(CodecError::BadPasswordLength);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(hidden.len()));
    let mut prev: &[u8] = request_authenticator;
    for block in hidden.chunks(16) {
        let key = md5_of(&[secret, prev]);
        out.extend(block.iter().zip(key).map(|(c, k)| c ^ k));
        prev = block;
    }
    let end = out.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    out.truncate(end);
    Ok(Password(out))
}

impl Packet {
    /// Offset, in the encoded packet, of the Message-Authenticator's value.
    fn message_authenticator_offset(&self) -> Option<usize> {
        let mut offset = HEADER_LEN;
        for a in &self.attributes {
            if a.kind == attr::MESSAGE_AUTHENTICATOR {
                return Some(offset + 2);
            }
            offset += 2 + a.value.len();
        }
        None
    }

    /// HMAC-MD5 over the encoded packet with `authenticator` in the header and the
    /// Message-Authenticator's value zeroed (RFC 3579 §3.2).
    fn message_authenticator_over(
        &self,
        authenticator: &[u8; 16],
        secret: &[u8],
    ) -> Result<Option<[u8; 16]>, CodecError> {
        let Some(at) = self.message_authenticator_offset() else {
            return Ok(None);
        };
        let mut bytes = self.encode()?;
        if let Some(h) = bytes.get_mut(4..HEADER_LEN) {
            h.copy_from_slice(authenticator);
        }
        if let Some(v) = bytes.get_mut(at..at + 16) {
            v.fill(0);
        }
        let mut mac = <HmacMd5 as Mac>::new_from_slice(secret)
            .map_err(|_| CodecError::BadMessageAuthenticator)?;
        mac.update(&bytes);
        Ok(Some(mac.finalize().into_bytes().into()))
    }

    /// Checks the Message-Authenticator of a request (Access-Request, Status-Server), which is
    /// computed over the request as sent, its own authenticator included.
    pub fn check_request_authenticator(&self, secret: &[u8]) -> MessageAuthenticatorCheck {
        self.check_message_authenticator(&self.authenticator, secret)
    }

    /// Checks the Message-Authenticator as computed with `authenticator` in the header (the
    /// request's authenticator, for a reply).
    fn check_message_authenticator(
        &self,
        authenticator: &[u8; 16],
        secret: &[u8],
    ) -> MessageAuthenticatorCheck {
        let Some(received) = self.first(attr::MESSAGE_AUTHENTICATOR) else {
            return MessageAuthenticatorCheck::Absent;
        };
        match self.message_authenticator_over(authenticator, secret) {
            Ok(Some(expected)) if bool::from(expected.as_slice().ct_eq(received)) => {
                MessageAuthenticatorCheck::Valid
            }
            _ => MessageAuthenticatorCheck::Invalid,
        }
    }

    /// Writes a reply to the request whose authenticator is `request_authenticator`: puts a
    /// Message-Authenticator first (the `BlastRADIUS` advice: a forger cannot then prefix
    /// chosen data), computes it, then the Response Authenticator over the result.
    pub fn sign_reply(
        mut self,
        request_authenticator: &[u8; 16],
        secret: &[u8],
    ) -> Result<Vec<u8>, CodecError> {
        self.attributes
            .retain(|a| a.kind != attr::MESSAGE_AUTHENTICATOR);
        self.attributes.insert(
            0,
            super::Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 16]),
        );
        self.authenticator = *request_authenticator;
        let ma = self
            .message_authenticator_over(request_authenticator, secret)?
            .unwrap_or_default();
        if let Some(a) = self.attributes.first_mut() {
            a.value = ma.to_vec();
        }
        let mut bytes = self.encode()?;
        let response = md5_of(&[&bytes, secret]);
        if let Some(h) = bytes.get_mut(4..HEADER_LEN) {
            h.copy_from_slice(&response);
        }
        Ok(bytes)
    }

    /// Writes a request as a client does: the authenticator stays as given (the caller chose
    /// it at random); a Message-Authenticator attribute, if the packet has one, gets its value.
    pub fn sign_request(mut self, secret: &[u8]) -> Result<Vec<u8>, CodecError> {
        if let Some(ma) = self.message_authenticator_over(&self.authenticator, secret)?
            && let Some(a) = self
                .attributes
                .iter_mut()
                .find(|a| a.kind == attr::MESSAGE_AUTHENTICATOR)
        {
            a.value = ma.to_vec();
        }
        self.encode()
    }

    /// Reads a reply as a client does: the Response Authenticator must match, and so must the
    /// Message-Authenticator when present; `require_message_authenticator` also refuses a reply
    /// without one (pyrad's `enforce_ma`).
    pub fn verify_reply(
        bytes: &[u8],
        request_authenticator: &[u8; 16],
        secret: &[u8],
        require_message_authenticator: bool,
    ) -> Result<Packet, CodecError> {
        let p = Packet::decode(bytes)?;
        let mut with_request = p.encode()?;
        if let Some(h) = with_request.get_mut(4..HEADER_LEN) {
            h.copy_from_slice(request_authenticator);
        }
        let expected = md5_of(&[&with_request, secret]);
        if !bool::from(expected.ct_eq(&p.authenticator)) {
            return Err(CodecError::WrongAuthenticator);
        }
        match p.check_message_authenticator(request_authenticator, secret) {
            MessageAuthenticatorCheck::Valid => Ok(p),
            MessageAuthenticatorCheck::Absent if !require_message_authenticator => Ok(p),
            MessageAuthenticatorCheck::Absent => Err(CodecError::MissingMessageAuthenticator),
            MessageAuthenticatorCheck::Invalid => Err(CodecError::WrongAuthenticator),
        }
    }
}
