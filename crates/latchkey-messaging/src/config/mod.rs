//! Configuration: the deployment-wide [`MessagingConfig`] (texts, time-outs, retries) and
//! the ordered list of [`ProviderConfig`]s an administrator sets up.
//!
//! Both are serde types with `deny_unknown_fields`. A provider's serialised form holds its
//! secrets (auth token, password, header values) **in clear**: the caller seals them before
//! storing, through [`ProviderSettings::secrets_mut`], or seals the whole document. `Debug`
//! never shows them. Everything is checked by `validate()`, which names the field at fault.

mod providers;
mod status;

use std::time::Duration;

use latchkey_core::ports::PhoneChannel;
use latchkey_crypto::secret::SecretString;
use serde::{Deserialize, Serialize};

pub use providers::{GenericHttpConfig, HttpMethod, KannelConfig, OutboxConfig, TwilioConfig};
pub use status::StatusMatch;

use crate::ConfigError;
use crate::text::{DEFAULT_SMS_TEMPLATE, DEFAULT_VOICE_AGAIN, DEFAULT_VOICE_INTRO, MessageTexts};

/// What [`ProviderSettings::redacted`] puts in place of each secret, and what
/// [`ProviderSettings::keep_secrets_from`] recognises as "unchanged".
pub const REDACTED: &str = "<redacted>";

/// Deployment-wide messaging settings (one per deployment, e.g. `[messaging]` in the
/// configuration file). Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingConfig {
    /// SMS text with `{code}` (required) and `{minutes}`; at most 140 bytes once rendered
    /// with an 8-digit code and 70 minutes.
    pub sms_template: String,
    /// Said before the digits are read the first time.
    pub voice_intro: String,
    /// Said before the digits are read the second time.
    pub voice_again: String,
    /// Time-out of one provider request, connection included, in seconds (1–60).
    pub request_timeout_secs: u64,
    /// Attempts on one provider while its failures are transient (1–5), before failing over.
    pub attempts_per_provider: u32,
    /// Pause before the first retry on the same provider, in milliseconds (0–10000); it
    /// doubles for each further retry.
    pub retry_backoff_ms: u64,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        Self {
            sms_template: DEFAULT_SMS_TEMPLATE.to_owned(),
            voice_intro: DEFAULT_VOICE_INTRO.to_owned(),
            voice_again: DEFAULT_VOICE_AGAIN.to_owned(),
            request_timeout_secs: 10,
            attempts_per_provider: 2,
            retry_backoff_ms: 500,
        }
    }
}

impl MessagingConfig {
    /// Checks every field; the error names the first field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.texts().map(drop)
    }

    /// The validated texts.
    pub(crate) fn texts(&self) -> Result<MessageTexts, ConfigError> {
        if !(1..=60).contains(&self.request_timeout_secs) {
            return Err(ConfigError::invalid(
                "request_timeout_secs",
                "must be 1 to 60 seconds",
            ));
        }
        if !(1..=5).contains(&self.attempts_per_provider) {
            return Err(ConfigError::invalid(
                "attempts_per_provider",
                "must be 1 to 5",
            ));
        }
        if self.retry_backoff_ms > 10_000 {
            return Err(ConfigError::invalid(
                "retry_backoff_ms",
                "must be 0 to 10000 milliseconds",
            ));
        }
        MessageTexts::new(&self.sms_template, &self.voice_intro, &self.voice_again)
    }

    /// [`Self::request_timeout_secs`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// [`Self::retry_backoff_ms`] as a duration.
    pub fn retry_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms)
    }
}

/// One configured provider: a name (unique in the list; it names the attempts in delivery
/// records) and its settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// 1–64 characters from `A-Z a-z 0-9 . _ -`.
    pub name: String,
    /// What the provider is and how to reach it.
    pub settings: ProviderSettings,
}

impl ProviderConfig {
    /// The provider of a fresh install: the outbox, logging only.
    pub fn default_outbox() -> Self {
        Self {
            name: "outbox".to_owned(),
            settings: ProviderSettings::Outbox(OutboxConfig { file: None }),
        }
    }

    /// Checks the name and the settings; a settings error's field is prefixed with
    /// `providers["NAME"]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_name(&self.name)?;
        self.settings
            .validate()
            .map_err(|e| e.within(&format!("providers[{:?}]", self.name)))
    }
}

fn validate_name(name: &str) -> Result<(), ConfigError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "name",
            "must be 1 to 64 characters from A-Z a-z 0-9 . _ -",
        ))
    }
}

/// A provider's settings, tagged by `type` in JSON/TOML:
/// `{"type": "twilio", "account_sid": …}`, `"generic_http"`, `"kannel"`, `"outbox"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderSettings {
    /// Twilio's Programmable Messaging and Voice REST API.
    Twilio(TwilioConfig),
    /// Any HTTP API, described by a request template.
    GenericHttp(GenericHttpConfig),
    /// Kannel's `sendsms` HTTP interface (SMS only).
    Kannel(KannelConfig),
    /// The local outbox: a log line and, optionally, a JSON-lines file.
    Outbox(OutboxConfig),
}

impl ProviderSettings {
    /// Parses a JSON document and validates it: the admin API's entry point.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let s: Self = serde_json::from_str(json)?;
        s.validate()?;
        Ok(s)
    }

    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Twilio(_) => "twilio",
            Self::GenericHttp(_) => "generic_http",
            Self::Kannel(_) => "kannel",
            Self::Outbox(_) => "outbox",
        }
    }

    /// Whether this provider delivers on `channel`.
    pub fn supports(&self, channel: PhoneChannel) -> bool {
        match (self, channel) {
            (Self::Twilio(c), PhoneChannel::Sms) => c.sms,
            (Self::Twilio(c), PhoneChannel::Voice) => c.voice,
            (Self::GenericHttp(c), PhoneChannel::Sms) => c.sms,
            (Self::GenericHttp(c), PhoneChannel::Voice) => c.voice,
            (Self::Kannel(_), PhoneChannel::Sms) | (Self::Outbox(_), _) => true,
            (Self::Kannel(_), PhoneChannel::Voice) => false,
        }
    }

    /// Checks every field; the error names the first field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Twilio(c) => crate::providers::twilio::Plan::compile(c).map(drop),
            Self::GenericHttp(c) => crate::providers::generic::Plan::compile(c).map(drop),
            Self::Kannel(c) => crate::providers::kannel::Plan::compile(c).map(drop),
            Self::Outbox(c) => c.validate(),
        }
    }

    /// Every secret of these settings with its field path (`auth_token`, `password`,
    /// `headers.Authorization`), for sealing before storage and opening after loading.
    pub fn secrets_mut(&mut self) -> Vec<(String, &mut SecretString)> {
        match self {
            Self::Twilio(c) => vec![("auth_token".to_owned(), &mut c.auth_token)],
            Self::Kannel(c) => vec![("password".to_owned(), &mut c.password)],
            Self::GenericHttp(c) => c
                .headers
                .iter_mut()
                .map(|(k, v)| (format!("headers.{k}"), v))
                .collect(),
            Self::Outbox(_) => Vec::new(),
        }
    }

    /// A copy with every secret replaced by [`REDACTED`]: what an admin API shows.
    #[must_use]
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        for (_, s) in copy.secrets_mut() {
            *s = SecretString::from(REDACTED);
        }
        copy
    }

    /// Takes each secret that is empty or [`REDACTED`] from `previous` (the same field of
    /// the stored settings), so that an administrator can change a provider without typing
    /// its token again. Fields `previous` lacks stay as they are (and fail validation).
    pub fn keep_secrets_from(&mut self, previous: &Self) {
        let mut old = previous.clone();
        let old: Vec<(String, &mut SecretString)> = old.secrets_mut();
        for (field, s) in self.secrets_mut() {
            if (s.is_empty() || s.expose() == REDACTED)
                && let Some((_, o)) = old.iter().find(|(f, _)| *f == field)
            {
                *s = (**o).clone();
            }
        }
    }
}

/// Checks a list of providers as a whole: each one, and unique names. What
/// [`crate::MessagingService::new`] checks, without building anything.
pub fn validate_providers(list: &[ProviderConfig]) -> Result<(), ConfigError> {
    for (i, p) in list.iter().enumerate() {
        p.validate()?;
        if list.iter().take(i).any(|q| q.name == p.name) {
            return Err(ConfigError::invalid(
                format!("providers[{:?}].name", p.name),
                "is used by another provider; names must be unique",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
