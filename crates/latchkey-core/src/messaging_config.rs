//! Messaging providers configured by an administrator: the storage port, the port that
//! parses and validates a provider list (implemented by `latchkey-messaging`, which core does
//! not depend on), and the binding of a provider's sealed credentials.
//!
//! Invariants:
//! - A provider's credentials are stored only sealed with the master key, as one JSON object
//!   (`{"auth_token": …}`, `{"headers.Authorization": …}`) bound to
//!   [`provider_aad`]`(name)`; the settings column holds everything else, secrets blanked.
//! - The stored list is replaced as a whole, with its audit record, in one transaction, and
//!   every replacement increments the version, so a node compares one number to know whether
//!   its providers are current.
//! - Nothing here ever returns a secret to an administrator: views come from
//!   [`ProviderCodec::redact`].

use async_trait::async_trait;
use latchkey_crypto::secret::SecretString;

use crate::audit::AuditDraft;
use crate::store::StoreError;

/// One stored provider, as in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredProvider {
    /// Unique name; also binds the sealed credentials.
    pub name: String,
    /// The `type` tag (`twilio`, `generic_http`, `kannel`, `outbox`).
    pub kind: String,
    /// The settings as JSON, every secret blanked.
    pub settings: String,
    /// The credentials, sealed (absent for a provider without any, e.g. the outbox).
    pub secrets_sealed: Option<Vec<u8>>,
}

/// The stored list with its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredProviders {
    /// Incremented by every replacement (1 after the first).
    pub version: i64,
    /// In the order they are tried.
    pub providers: Vec<StoredProvider>,
}

/// Storage of the administrator's provider list (implemented by `latchkey-store`).
#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// The version of the stored list, `None` when the database holds none (the
    /// configuration file's list applies). Versions are never reused, so a node that saw
    /// version N knows any other number means a change. One small indexed read: called before each send.
    async fn find_provider_version(&self) -> Result<Option<i64>, StoreError>;
    /// The stored list, `None` when the database holds none.
    async fn list_providers(&self) -> Result<Option<StoredProviders>, StoreError>;
    /// Replaces the whole list, in order, with `audit`, in one transaction; returns the new
    /// version.
    async fn replace_providers(
        &self,
        providers: &[StoredProvider],
        audit: &AuditDraft,
    ) -> Result<i64, StoreError>;
    /// Removes the stored list, with `audit`, in one transaction, so that the configuration
    /// file's list applies again; the version still grows (versions are never reused).
    /// `false`, and nothing written, when the database held no list.
    async fn clear_providers(&self, audit: &AuditDraft) -> Result<bool, StoreError>;
}

/// A provider with its credentials in clear (inside the server only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenProvider {
    /// Unique name.
    pub name: String,
    /// The `type` tag.
    pub kind: String,
    /// The settings object, every secret blanked (what the settings column holds).
    pub settings: serde_json::Value,
    /// The credentials as a JSON object text (field path → value); `None` when there are
    /// none.
    pub secrets: Option<SecretString>,
}

/// A provider list that does not parse or validate: the message names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderListError(pub String);

/// Parses, validates and splits provider lists; implemented by `latchkey-messaging`, whose
/// checks are exactly what its providers run.
pub trait ProviderCodec: Send + Sync {
    /// Parses and validates `submitted` (each `{"name", "settings": {"type", …}}`), taking
    /// every secret that is omitted, `null` or `"set"` from the provider of the same name and
    /// type in `stored`; then splits each into settings and credentials. The whole list is
    /// checked (names unique) before anything is returned.
    fn prepare(
        &self,
        submitted: &[serde_json::Value],
        stored: &[OpenProvider],
    ) -> Result<Vec<OpenProvider>, ProviderListError>;
    /// What an administrator sees of a provider: its settings with each stored secret shown
    /// as `"set"`.
    fn redact(&self, provider: &OpenProvider) -> serde_json::Value;
    /// The configuration file's providers, redacted: the list in use while the database
    /// holds none.
    fn file_providers(&self) -> Vec<serde_json::Value>;
}

/// Associated data binding a provider's sealed credentials to its name.
pub fn provider_aad(name: &str) -> Vec<u8> {
    format!("messaging-provider:{name}").into_bytes()
}
