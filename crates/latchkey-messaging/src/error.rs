//! The configuration error: the only error this crate returns. Delivery never fails as a
//! call; its outcome is the list of attempts.

/// A provider or messaging configuration that cannot work. Nothing was built or sent; the
/// administrator fixes the named field and submits again (the admin API answers 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field has a value that cannot work. The reason never echoes a secret.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the field at fault, e.g. `providers["sms-1"].url`.
        field: String,
        /// Why, in words an administrator can act on.
        reason: String,
    },
    /// The document does not have the expected shape (unknown or missing field, wrong type),
    /// as reported by the parser; the administrator corrects the document.
    #[error("invalid provider configuration: {0}")]
    Malformed(String),
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error with its field path placed under `prefix` (e.g. a provider's name).
    #[must_use]
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::Invalid { field, reason } => Self::Invalid {
                field: format!("{prefix}.{field}"),
                reason,
            },
            m @ Self::Malformed(_) => m,
        }
    }

    /// The field at fault, if the error names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::Malformed(_) => None,
        }
    }
}

impl From<serde_json::Error> for ConfigError {
    fn from(e: serde_json::Error) -> Self {
        Self::Malformed(parse_message(&e.to_string(), e.line(), e.column()))
    }
}

/// A parser message that cannot echo a value: "invalid type: string \"hunter2\", expected
/// a boolean" quotes the offending value, which may be a secret typed into the wrong field,
/// so such messages keep only what was expected and where. Messages about unknown or missing
/// fields name fields only and are kept as they are.
pub(crate) fn parse_message(msg: &str, line: usize, column: usize) -> String {
    if !(msg.starts_with("invalid type") || msg.starts_with("invalid value")) {
        return msg.to_owned();
    }
    let expected = msg
        .split_once(", expected ")
        .map_or("another value", |(_, rest)| {
            rest.split(" at line ").next().unwrap_or(rest)
        });
    format!(
        "a value has the wrong type or form, expected {expected} (line {line}, column {column})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_never_echo_values() {
        let e: ConfigError = serde_json::from_str::<bool>("\"hunter2\"")
            .unwrap_err()
            .into();
        let text = e.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("expected a boolean"), "{text}");
    }

    #[test]
    fn within_prefixes_the_field() {
        let e = ConfigError::invalid("url", "must be http or https").within("providers[\"a\"]");
        assert_eq!(e.field(), Some("providers[\"a\"].url"));
        assert_eq!(e.to_string(), "providers[\"a\"].url: must be http or https");
    }
}
