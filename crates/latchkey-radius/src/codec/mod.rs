//! RADIUS packets as bytes and back (RFC 2865 §3–§5, RFC 2869 §5.14, RFC 3579 §3.2).
//!
//! Pure: no sockets, no clock, no randomness (a request authenticator is an argument), so every
//! function here can be unit-tested with the RFC vectors and fuzzed.
//!
//! Invariants:
//! - [`Packet::decode`] accepts a datagram only when the header length is within 20–4096 and
//!   within the datagram, and the attributes tile the packet exactly (no attribute shorter than
//!   its own header, none running past the end, no type 0, at most one Message-Authenticator
//!   and only of 16 octets). Octets after the header length are padding and ignored (RFC 2865
//!   §3).
//! - `decode(b)` then [`Packet::encode`] gives back exactly the first `length` octets of `b`:
//!   attribute order and values are kept, so a Message-Authenticator computed over the
//!   re-encoded packet is the one computed over the bytes received.
//! - Nothing here panics on any input: all slicing is checked (the fuzz target
//!   `fuzz/fuzz_targets/radius_codec.rs` holds us to it).
//!
//! Why by hand: the crates that exist either own the socket and the handler (radius-rs), or
//! target clients, or are unmaintained; none gives a small, allocation-light codec with strict
//! length checks, Message-Authenticator verification in constant time and a redacting `Debug`
//! for `User-Password`. The cryptography is not ours: MD5 and HMAC come from `md-5` and `hmac`.

mod auth;

#[cfg(test)]
mod tests;

use std::fmt;

pub use auth::{MessageAuthenticatorCheck, Password, hide_password, unhide_password};

/// Shortest packet: the header.
pub const HEADER_LEN: usize = 20;
/// Longest packet (RFC 2865 §3).
pub const MAX_PACKET_LEN: usize = 4096;
/// Longest attribute value (the length octet counts the 2-octet attribute header).
pub const MAX_VALUE_LEN: usize = 253;

/// Attribute types this server reads or writes.
pub mod attr {
    /// User-Name (RFC 2865 §5.1).
    pub const USER_NAME: u8 = 1;
    /// User-Password, hidden (RFC 2865 §5.2).
    pub const USER_PASSWORD: u8 = 2;
    /// CHAP-Password (RFC 2865 §5.3): not supported.
    pub const CHAP_PASSWORD: u8 = 3;
    /// NAS-IP-Address (RFC 2865 §5.4).
    pub const NAS_IP_ADDRESS: u8 = 4;
    /// Reply-Message (RFC 2865 §5.18).
    pub const REPLY_MESSAGE: u8 = 18;
    /// State (RFC 2865 §5.24).
    pub const STATE: u8 = 24;
    /// Session-Timeout (RFC 2865 §5.27).
    pub const SESSION_TIMEOUT: u8 = 27;
    /// Calling-Station-Id (RFC 2865 §5.31).
    pub const CALLING_STATION_ID: u8 = 31;
    /// NAS-Identifier (RFC 2865 §5.32).
    pub const NAS_IDENTIFIER: u8 = 32;
    /// Proxy-State (RFC 2865 §5.33): copied unchanged into the reply.
    pub const PROXY_STATE: u8 = 33;
    /// EAP-Message (RFC 3579 §3.1): not supported.
    pub const EAP_MESSAGE: u8 = 79;
    /// Message-Authenticator (RFC 2869 §5.14, RFC 3579 §3.2).
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
}

/// A packet type (RFC 2865 §3, RFC 5997). A plain octet, so that every value round-trips.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u8);

impl Code {
    /// Access-Request.
    pub const ACCESS_REQUEST: Code = Code(1);
    /// Access-Accept.
    pub const ACCESS_ACCEPT: Code = Code(2);
    /// Access-Reject.
    pub const ACCESS_REJECT: Code = Code(3);
    /// Accounting-Request (not served on the authentication port).
    pub const ACCOUNTING_REQUEST: Code = Code(4);
    /// Access-Challenge.
    pub const ACCESS_CHALLENGE: Code = Code(11);
    /// Status-Server (RFC 5997).
    pub const STATUS_SERVER: Code = Code(12);

    /// The RFC name, or `Code-N`.
    pub fn name(self) -> String {
        match self.0 {
            1 => "Access-Request".to_owned(),
            2 => "Access-Accept".to_owned(),
            3 => "Access-Reject".to_owned(),
            4 => "Accounting-Request".to_owned(),
            5 => "Accounting-Response".to_owned(),
            11 => "Access-Challenge".to_owned(),
            12 => "Status-Server".to_owned(),
            13 => "Status-Client".to_owned(),
            n => format!("Code-{n}"),
        }
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Why bytes are not a RADIUS packet, or a packet cannot be written. A server drops such a
/// packet without an answer (RFC 2865 §3: "silently discarded").
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Fewer than 20 octets: drop.
    #[error("shorter than the 20-octet header ({0} octets)")]
    TooShort(usize),
    /// The header's length is below 20 or above 4096: drop.
    #[error("header length {0} outside 20..=4096")]
    BadLength(usize),
    /// The header's length is larger than the datagram: drop.
    #[error("header length {length} but only {received} octets received")]
    Truncated {
        /// Header length.
        length: usize,
        /// Octets received.
        received: usize,
    },
    /// An attribute's length octet is below 2: drop.
    #[error("attribute {kind} at offset {offset} has length {length} (below 2)")]
    AttributeTooShort {
        /// Attribute type.
        kind: u8,
        /// Offset of the attribute in the packet.
        offset: usize,
        /// Its length octet.
        length: u8,
    },
    /// An attribute runs past the end of the packet (or its header does): drop.
    #[error("attribute at offset {offset} runs past the end of the packet")]
    AttributeOverrun {
        /// Offset of the attribute in the packet.
        offset: usize,
    },
    /// Attribute type 0 is not a type (`FreeRADIUS` treats it the same way): drop.
    #[error("attribute type 0 at offset {offset}")]
    AttributeTypeZero {
        /// Offset of the attribute in the packet.
        offset: usize,
    },
    /// More than one Message-Authenticator, or one that is not 16 octets: drop.
    #[error("malformed Message-Authenticator")]
    BadMessageAuthenticator,
    /// A User-Password that is not 16–128 octets in steps of 16 (or a password to hide that is
    /// longer than 128): reject the attempt.
    #[error("User-Password must be 16 to 128 octets in steps of 16")]
    BadPasswordLength,
    /// Reading a reply: its Response Authenticator or Message-Authenticator does not match
    /// the shared secret (forged, or another secret): drop.
    #[error("the reply's authenticator does not match the shared secret")]
    WrongAuthenticator,
    /// Reading a reply that must carry a Message-Authenticator and does not: drop.
    #[error("the reply carries no Message-Authenticator")]
    MissingMessageAuthenticator,
    /// Writing: an attribute value longer than 253 octets. A bug in the caller.
    #[error("attribute {kind} value of {len} octets (at most 253)")]
    ValueTooLong {
        /// Attribute type.
        kind: u8,
        /// Value length.
        len: usize,
    },
    /// Writing: the packet would be longer than 4096 octets. A bug in the caller.
    #[error("packet of {0} octets (at most 4096)")]
    PacketTooLong(usize),
}

/// One attribute: type and raw value.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Type.
    pub kind: u8,
    /// Value, as on the wire (a User-Password stays hidden).
    pub value: Vec<u8>,
}

impl Attribute {
    /// An attribute of `kind` holding `value`.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Attribute");
        d.field("kind", &self.kind);
        match self.kind {
            attr::USER_PASSWORD | attr::MESSAGE_AUTHENTICATOR => {
                d.field("value", &format_args!("<{} octets>", self.value.len()));
            }
            _ => {
                d.field("value", &self.value);
            }
        }
        d.finish()
    }
}

/// A packet: header fields and attributes in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Type.
    pub code: Code,
    /// Identifier, matching a reply to its request.
    pub identifier: u8,
    /// Request Authenticator (random, in requests) or Response Authenticator (in replies).
    pub authenticator: [u8; 16],
    /// Attributes, in order.
    pub attributes: Vec<Attribute>,
}

impl Packet {
    /// An empty packet.
    pub fn new(code: Code, identifier: u8, authenticator: [u8; 16]) -> Self {
        Self {
            code,
            identifier,
            authenticator,
            attributes: Vec::new(),
        }
    }

    /// Parses a datagram; see the module invariants for what is refused.
    pub fn decode(buf: &[u8]) -> Result<Packet, CodecError> {
        let header = buf
            .get(..HEADER_LEN)
            .ok_or(CodecError::TooShort(buf.len()))?;
        let (&code, rest) = header.split_first().ok_or(CodecError::TooShort(0))?;
        let (&identifier, rest) = rest.split_first().ok_or(CodecError::TooShort(1))?;
        let (len_octets, auth) = rest.split_at_checked(2).ok_or(CodecError::TooShort(2))?;
        let length = usize::from(u16::from_be_bytes(
            len_octets.try_into().map_err(|_| CodecError::TooShort(2))?,
        ));
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&length) {
            return Err(CodecError::BadLength(length));
        }
        let authenticator: [u8; 16] = auth.try_into().map_err(|_| CodecError::TooShort(4))?;
        let body = buf.get(HEADER_LEN..length).ok_or(CodecError::Truncated {
            length,
            received: buf.len(),
        })?;
        let attributes = decode_attributes(body)?;
        let mut mas = attributes
            .iter()
            .filter(|a| a.kind == attr::MESSAGE_AUTHENTICATOR);
        if let Some(ma) = mas.next()
            && (ma.value.len() != 16 || mas.next().is_some())
        {
            return Err(CodecError::BadMessageAuthenticator);
        }
        Ok(Packet {
            code: Code(code),
            identifier,
            authenticator,
            attributes,
        })
    }

    /// The packet's length on the wire, or why it cannot be written.
    pub fn encoded_len(&self) -> Result<usize, CodecError> {
        let mut len = HEADER_LEN;
        for a in &self.attributes {
            if a.value.len() > MAX_VALUE_LEN {
                return Err(CodecError::ValueTooLong {
                    kind: a.kind,
                    len: a.value.len(),
                });
            }
            len += 2 + a.value.len();
        }
        if len > MAX_PACKET_LEN {
            return Err(CodecError::PacketTooLong(len));
        }
        Ok(len)
    }

    /// Writes the packet as it stands (authenticator field included, nothing computed).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let len = self.encoded_len()?;
        let mut out = Vec::with_capacity(len);
        out.push(self.code.0);
        out.push(self.identifier);
        // `encoded_len` capped it at 4096.
        out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(&self.authenticator);
        for a in &self.attributes {
            out.push(a.kind);
            // `encoded_len` capped every value at 253.
            out.push(u8::try_from(a.value.len() + 2).unwrap_or(u8::MAX));
            out.extend_from_slice(&a.value);
        }
        Ok(out)
    }

    /// The value of the first attribute of `kind`.
    pub fn first(&self, kind: u8) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.value.as_slice())
    }

    /// The values of every attribute of `kind`, in order.
    pub fn all(&self, kind: u8) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |a| a.kind == kind)
            .map(|a| a.value.as_slice())
    }

    /// Adds an attribute at the end.
    pub fn push(&mut self, kind: u8, value: impl Into<Vec<u8>>) {
        self.attributes.push(Attribute::new(kind, value));
    }

    /// Adds a text as one or more attributes of `kind` (Reply-Message is split this way: RFC
    /// 2865 §5.18 lets a client show several in a row as one text), cutting at character
    /// boundaries; at most `max_parts` attributes.
    pub fn push_text(&mut self, kind: u8, text: &str, max_parts: usize) {
        let mut rest = text;
        let mut parts = 0;
        while !rest.is_empty() && parts < max_parts {
            let mut cut = rest.len().min(MAX_VALUE_LEN);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (head, tail) = rest.split_at(cut);
            self.push(kind, head.as_bytes());
            rest = tail;
            parts += 1;
        }
    }
}

/// Splits the attribute area into attributes.
fn decode_attributes(mut body: &[u8]) -> Result<Vec<Attribute>, CodecError> {
    let mut out = Vec::with_capacity(8);
    let mut offset = HEADER_LEN;
    while !body.is_empty() {
        let &[kind, length, ..] = body else {
            return Err(CodecError::AttributeOverrun { offset });
        };
        if kind == 0 {
            return Err(CodecError::AttributeTypeZero { offset });
        }
        if length < 2 {
            return Err(CodecError::AttributeTooShort {
                kind,
                offset,
                length,
            });
        }
        let (this, rest) = body
            .split_at_checked(usize::from(length))
            .ok_or(CodecError::AttributeOverrun { offset })?;
        out.push(Attribute::new(kind, this.get(2..).unwrap_or_default()));
        offset += usize::from(length);
        body = rest;
    }
    Ok(out)
}
