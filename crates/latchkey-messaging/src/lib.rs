//! Delivery of one-time codes by SMS and voice call: the [`Messenger`] port of
//! `latchkey-core`, implemented over Twilio, a generic HTTP provider, Kannel's `sendsms`
//! interface and a local outbox file.
//!
//! The crate is stateless: it turns a [`PhoneMessage`] into provider requests and reports
//! every attempt in a [`Delivery`]. Rate limits, code generation and the delivery records
//! belong to the caller.
//!
//! Invariants:
//! - The code, the rendered text, auth tokens, passwords and header values never reach a
//!   log line, an error, a `Debug` output or an attempt's `detail`. Secrets are held in
//!   [`SecretString`]; every attempt detail passes through a scrubber that removes them
//!   even if a provider echoes them back. The outbox file is the one place where the text is
//!   written, on purpose: it is the local stand-in for a phone.
//! - Configuration is validated once ([`ProviderSettings::validate`],
//!   [`MessagingConfig::validate`], [`MessagingService::new`]); a service that was built
//!   can always render its texts (the worst-case SMS length is checked up front).
//! - Providers are tried in order; a transient failure is retried on the same provider a
//!   bounded number of times with back-off, a permanent one moves on at once; the call
//!   itself never fails.
//!
//! [`Messenger`]: latchkey_core::ports::Messenger
//! [`PhoneMessage`]: latchkey_core::ports::PhoneMessage
//! [`Delivery`]: latchkey_core::ports::Delivery
//! [`SecretString`]: latchkey_crypto::secret::SecretString

pub mod config;
pub mod error;
mod gsm;
mod phone;
mod providers;
mod secret_serde;
mod service;
pub mod stored;
mod template;
pub mod text;

pub use config::{
    GenericHttpConfig, HttpMethod, KannelConfig, MessagingConfig, OutboxConfig, ProviderConfig,
    ProviderSettings, REDACTED, StatusMatch, TwilioConfig, validate_providers,
};
pub use error::ConfigError;
pub use phone::{is_e164, mask_number};
pub use service::{MessagingService, NO_PROVIDER};
pub use stored::{ReloadingMessenger, StoredCodec};
