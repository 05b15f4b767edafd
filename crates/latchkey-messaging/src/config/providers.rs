//! The settings of each provider kind. Their checks live with the code that uses them
//! (`crate::providers::*::Plan::compile`), so that what is validated is exactly what runs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use latchkey_crypto::secret::SecretString;
use serde::{Deserialize, Serialize};

use super::StatusMatch;
use crate::ConfigError;

fn yes() -> bool {
    true
}

fn default_twilio_api_base() -> String {
    "https://api.twilio.com".to_owned()
}

/// Twilio: SMS through `POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json` and calls
/// through `…/Calls.json`, form-encoded, HTTP basic authentication with the account SID and
/// auth token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// `AC` followed by 32 hexadecimal digits.
    pub account_sid: String,
    /// The account's auth token (secret).
    #[serde(with = "crate::secret_serde::string")]
    pub auth_token: SecretString,
    /// The sending number, E.164 (a Twilio number or verified caller id).
    pub from: String,
    /// API root; the default is Twilio's. Overridden by tests and Twilio-compatible APIs.
    #[serde(default = "default_twilio_api_base")]
    pub api_base: String,
    /// Send SMS through this provider (default true).
    #[serde(default = "yes")]
    pub sms: bool,
    /// Place voice calls through this provider (default false: calls cost more, so they
    /// are switched on deliberately).
    #[serde(default)]
    pub voice: bool,
}

/// HTTP methods a generic provider may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `GET`: everything in the URL; no body.
    #[serde(alias = "get")]
    Get,
    /// `POST` (the default).
    #[serde(alias = "post")]
    Post,
    /// `PUT`.
    #[serde(alias = "put")]
    Put,
    /// `PATCH`.
    #[serde(alias = "patch")]
    Patch,
}

fn default_method() -> HttpMethod {
    HttpMethod::Post
}

fn default_success() -> Vec<StatusMatch> {
    vec![StatusMatch::range(200, 299)]
}

/// Any HTTP SMS or voice API, described as a request template.
///
/// Placeholders (`{to}`, `{to_digits}`, `{text}`, `{code}`, `{minutes}`) may appear in
/// `url` (percent-encoded) and `body_template` (escaped for `content_type`: JSON string,
/// form field, XML text, or as is for anything else). `{text}` is the SMS text, or the
/// spoken script for a call. Header values are literal and secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericHttpConfig {
    /// Request method (default `POST`).
    #[serde(default = "default_method")]
    pub method: HttpMethod,
    /// `http` or `https` URL; placeholders allowed in the path and query, not in the host.
    pub url: String,
    /// Extra request headers (e.g. `Authorization`); values are secrets.
    #[serde(default, with = "crate::secret_serde::map")]
    pub headers: BTreeMap<String, SecretString>,
    /// Request body; none for `GET`.
    #[serde(default)]
    pub body_template: Option<String>,
    /// Content type of the body (default `application/json` when there is a body).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Statuses that mean "accepted" (default `["200-299"]`).
    #[serde(default = "default_success")]
    pub success_status: Vec<StatusMatch>,
    /// A regular expression the response body must match for success; a capture group
    /// named `id` becomes the provider message id in the delivery record.
    #[serde(default)]
    pub response_pattern: Option<String>,
    /// Send SMS through this provider (default true).
    #[serde(default = "yes")]
    pub sms: bool,
    /// Place voice calls through this provider (default false); `{text}` is then the
    /// spoken script.
    #[serde(default)]
    pub voice: bool,
}

/// Kannel's `sendsms` interface: `GET URL?username=…&password=…&to=…&text=…[&from=…]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KannelConfig {
    /// The smsbox `sendsms` URL, e.g. `http://kannel.example.org:13013/cgi-bin/sendsms`.
    pub url: String,
    /// A `sendsms-user` of the smsbox.
    pub username: String,
    /// Its password (secret).
    #[serde(with = "crate::secret_serde::string")]
    pub password: SecretString,
    /// Sender: E.164, a short code, or an alphanumeric sender of up to 11 characters;
    /// Kannel's `default-sender` when absent.
    #[serde(default)]
    pub from: Option<String>,
}

/// The local outbox: the default of a fresh install. Each message is a log line (without
/// the code) and, when `file` is set, a JSON line appended to that file — which holds the
/// text, code included: it is the local stand-in for the phone. The file is created with
/// mode 0600.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// JSON-lines file to append to; relative paths are relative to the working directory.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl OutboxConfig {
    /// A file, if set, must be a non-empty path to a file (not ending in `/`).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(f) = &self.file {
            let s = f.to_string_lossy();
            if s.trim().is_empty() || s.ends_with('/') {
                return Err(ConfigError::invalid(
                    "file",
                    "must be the path of a file (or absent for log-only)",
                ));
            }
        }
        Ok(())
    }
}
