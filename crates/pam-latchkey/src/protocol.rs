//! The agent ↔ PAM socket protocol: one JSON object per line, one answer line per request line.
//!
//! This file is compiled into both `pam-latchkey` and `latchkey-agent` (`#[path]`), so the two
//! sides can never disagree on a field: the PAM module must not link the agent's tokio and
//! HTTP stack, and the agent must not link the module's FFI. Pure data, serde only.
//!
//! Invariants:
//! - A line is at most [`MAX_LINE`] bytes including the newline; longer input is an error.
//! - Passcodes and challenge answers are [`Passcode`]s: redacted `Debug`, wiped on drop.
//! - Unknown operations and unknown fields are errors (`deny_unknown_fields`), answered with
//!   [`Outcome::Error`] and a closed connection.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Longest request or answer line, in bytes, newline included.
pub const MAX_LINE: usize = 4096;

/// Longest passcode or challenge answer, in characters.
pub const MAX_PASSCODE: usize = 256;

/// Longest login name, in characters.
pub const MAX_USER: usize = 256;

/// Longest remote host, in characters (the server's limit for `client_address`).
pub const MAX_RHOST: usize = 64;

/// A passcode or challenge answer: never printed, wiped from memory when dropped.
#[derive(Clone, Default)]
pub struct Passcode(Zeroizing<String>);

impl Passcode {
    /// Takes ownership of `s`.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The value. Every use is greppable.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in characters (not secret: the server learns it anyway).
    pub fn char_len(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for Passcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passcode(<redacted>)")
    }
}

impl Serialize for Passcode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Passcode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// A request line from the PAM module.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Start an authentication with the user's passcode.
    Authenticate {
        /// Login name.
        user: String,
        /// PIN followed by the tokencode, or an emergency code.
        passcode: Passcode,
        /// The remote host PAM knows (`PAM_RHOST`), for the server's audit log.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rhost: Option<String>,
    },
    /// Answer the challenge of an attempt.
    Respond {
        /// The attempt, from the previous [`Response`].
        attempt_id: String,
        /// What the user typed.
        response: Passcode,
    },
}

/// The outcome in a [`Response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Authenticated (online or offline).
    Success,
    /// Show `prompt` and answer with [`Request::Respond`].
    Challenge,
    /// Access denied (never says why).
    Fail,
    /// The request itself was unusable (garbage, too long, unknown op); the connection is
    /// closed after this answer.
    Error,
}

/// The answer line of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Outcome.
    pub result: Outcome,
    /// With [`Outcome::Challenge`]: the attempt to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    /// With [`Outcome::Challenge`]: the text to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Whether the answer to `prompt` may be echoed (never for PINs and codes).
    #[serde(default)]
    pub echo: bool,
    /// Text for the user (success/failure) or, with [`Outcome::Error`], what was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Response {
    /// Success, with a message for the user.
    pub fn success(message: &str) -> Self {
        Self::plain(Outcome::Success, Some(message))
    }

    /// The one failure answer.
    pub fn fail() -> Self {
        Self::plain(Outcome::Fail, Some("Access denied"))
    }

    /// A protocol error; `why` names the problem, never a value.
    pub fn error(why: &str) -> Self {
        Self::plain(Outcome::Error, Some(why))
    }

    /// A challenge.
    pub fn challenge(attempt_id: String, prompt: String) -> Self {
        Self {
            result: Outcome::Challenge,
            attempt_id: Some(attempt_id),
            prompt: Some(prompt),
            echo: false,
            message: None,
        }
    }

    fn plain(result: Outcome, message: Option<&str>) -> Self {
        Self {
            result,
            attempt_id: None,
            prompt: None,
            echo: false,
            message: message.map(str::to_owned),
        }
    }
}

/// Why a request line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Over [`MAX_LINE`].
    TooLong,
    /// Not a request object (the serde message names the problem, never echoes a value).
    Invalid(String),
    /// A field over its limit.
    FieldTooLong(&'static str),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "request line longer than {MAX_LINE} bytes"),
            Self::Invalid(why) => write!(f, "invalid request: {why}"),
            Self::FieldTooLong(field) => write!(f, "{field} is too long"),
        }
    }
}

/// Parses and checks one request line (without its newline).
pub fn parse_request(line: &[u8]) -> Result<Request, LineError> {
    if line.len() >= MAX_LINE {
        return Err(LineError::TooLong);
    }
    let req: Request = serde_json::from_slice(line).map_err(|e| {
        // serde_json's messages name types and positions; for a string in the wrong place
        // they can quote it, so keep only the category and position.
        LineError::Invalid(format!(
            "{} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Io => "read error",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "not a request object",
                serde_json::error::Category::Eof => "incomplete JSON",
            },
            e.line(),
            e.column()
        ))
    })?;
    match &req {
        Request::Authenticate {
            user,
            passcode,
            rhost,
        } => {
            if user.is_empty() || user.chars().count() > MAX_USER {
                return Err(LineError::FieldTooLong("user"));
            }
            if passcode.char_len() > MAX_PASSCODE {
                return Err(LineError::FieldTooLong("passcode"));
            }
            if rhost
                .as_ref()
                .is_some_and(|r| r.chars().count() > MAX_RHOST)
            {
                return Err(LineError::FieldTooLong("rhost"));
            }
        }
        Request::Respond {
            attempt_id,
            response,
        } => {
            if attempt_id.len() > 128 {
                return Err(LineError::FieldTooLong("attempt_id"));
            }
            if response.char_len() > MAX_PASSCODE {
                return Err(LineError::FieldTooLong("response"));
            }
        }
    }
    Ok(req)
}

/// One line of JSON for `value`, newline included.
pub fn to_line<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut v = serde_json::to_vec(value)?;
    v.push(b'\n');
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_stable() {
        let r = parse_request(br#"{"op":"authenticate","user":"ann","passcode":"1234567890"}"#)
            .unwrap();
        match r {
            Request::Authenticate { user, passcode, .. } => {
                assert_eq!(user, "ann");
                assert_eq!(passcode.expose(), "1234567890");
                assert_eq!(format!("{passcode:?}"), "Passcode(<redacted>)");
            }
            Request::Respond { .. } => panic!("wrong op"),
        }
        let r = parse_request(br#"{"op":"respond","attempt_id":"a1","response":"42"}"#).unwrap();
        assert!(matches!(r, Request::Respond { .. }));
        let line = to_line(&Response::challenge("a1".into(), "Next tokencode: ".into())).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"result\":\"challenge\",\"attempt_id\":\"a1\",\"prompt\":\"Next tokencode: \",\"echo\":false}\n"
        );
        let back: Response = serde_json::from_slice(&to_line(&Response::fail()).unwrap()).unwrap();
        assert_eq!(back.result, Outcome::Fail);
    }

    #[test]
    fn garbage_is_refused_without_echoing_values() {
        for bad in [
            &b"hello"[..],
            br#"{"op":"authenticate","user":"ann"}"#,
            br#"{"op":"reboot"}"#,
            br#"{"op":"authenticate","user":"ann","passcode":"x","extra":1}"#,
            br#"{"op":"authenticate","user":"","passcode":"x"}"#,
            br#"{"op":"authenticate","user":"ann","passcode":12345678}"#,
            br"[]",
            b"",
        ] {
            let e = parse_request(bad).unwrap_err();
            assert!(!e.to_string().contains("12345678"), "{e}");
        }
        let long = format!(
            r#"{{"op":"authenticate","user":"ann","passcode":"{}"}}"#,
            "9".repeat(300)
        );
        assert_eq!(
            parse_request(long.as_bytes()).unwrap_err(),
            LineError::FieldTooLong("passcode")
        );
        assert_eq!(
            parse_request(&vec![b' '; MAX_LINE]).unwrap_err(),
            LineError::TooLong
        );
    }
}
