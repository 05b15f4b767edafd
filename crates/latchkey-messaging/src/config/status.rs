//! HTTP status codes a generic provider counts as success: a code (`202`) or an inclusive
//! range (`"200-299"`).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ConfigError;

/// An inclusive range of HTTP status codes; one code is a range of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusMatch {
    /// Lowest code that matches.
    pub low: u16,
    /// Highest code that matches.
    pub high: u16,
}

impl StatusMatch {
    /// Exactly `code`.
    pub const fn code(code: u16) -> Self {
        Self {
            low: code,
            high: code,
        }
    }

    /// `low..=high`.
    pub const fn range(low: u16, high: u16) -> Self {
        Self { low, high }
    }

    /// Whether `status` is in the range.
    pub fn matches(self, status: u16) -> bool {
        (self.low..=self.high).contains(&status)
    }

    /// Codes 100–599, low ≤ high.
    pub(crate) fn validate(self) -> Result<(), String> {
        if self.low < 100 || self.high > 599 || self.low > self.high {
            return Err(format!(
                "{self} is not a status code or range within 100-599"
            ));
        }
        Ok(())
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl std::str::FromStr for StatusMatch {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ConfigError::invalid(
                "success_status",
                "each entry is a status code like 202 or a range like \"200-299\"",
            )
        };
        let num = |t: &str| t.trim().parse::<u16>().map_err(|_| bad());
        match s.split_once('-') {
            Some((a, b)) => Ok(Self::range(num(a)?, num(b)?)),
            None => Ok(Self::code(num(s)?)),
        }
    }
}

impl Serialize for StatusMatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.low == self.high {
            s.serialize_u16(self.low)
        } else {
            s.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for StatusMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusMatch;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code like 202 or a range like \"200-299\"")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusMatch, E> {
                u16::try_from(v)
                    .map(StatusMatch::code)
                    .map_err(|_| E::custom("status code out of range"))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusMatch, E> {
                u16::try_from(v)
                    .map(StatusMatch::code)
                    .map_err(|_| E::custom("status code out of range"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusMatch, E> {
                v.parse().map_err(|e: ConfigError| E::custom(e))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let v: Vec<StatusMatch> = serde_json::from_str(r#"[202, "200-299", " 204 "]"#).unwrap();
        assert_eq!(
            v,
            [
                StatusMatch::code(202),
                StatusMatch::range(200, 299),
                StatusMatch::code(204)
            ]
        );
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"[202,"200-299",204]"#);
        assert!(v.iter().all(|m| m.validate().is_ok()));
        assert!(StatusMatch::range(200, 299).matches(250));
        assert!(!StatusMatch::code(202).matches(200));
        assert!(serde_json::from_str::<StatusMatch>(r#""2xx""#).is_err());
        assert!(StatusMatch::range(300, 200).validate().is_err());
        assert!(StatusMatch::code(99).validate().is_err());
        assert!(StatusMatch::code(600).validate().is_err());
    }
}
