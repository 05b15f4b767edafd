//! Wire types of the messaging-provider administration
//! (`/api/v1/admin/messaging/providers`).
//!
//! A provider is shown and accepted as `{"name": …, "settings": {"type": …, …}}`, the same
//! shape as `[[messaging.provider]]` in the configuration file. Secrets never travel back:
//! an answer shows each stored secret as [`SECRET_SET`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an answer shows in place of each stored secret (auth token, password, header value).
/// Sent back in a request, it means "keep the stored value", like `null` or an omitted field.
pub const SECRET_SET: &str = "set";

/// Where the providers in use come from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProviderSource {
    /// The list set through the admin API (stored in the database); it replaces the file's.
    Database,
    /// `[[messaging.provider]]` of the configuration file (default: the outbox), because the
    /// database holds no list.
    File,
}

/// `GET`/`PUT /api/v1/admin/messaging/providers`: the providers in use, in order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderList {
    /// Where the list comes from.
    pub source: ProviderSource,
    /// Change counter of the stored list (absent while the file's list applies).
    pub version: Option<i64>,
    /// Providers in the order they are tried, secrets shown as `"set"`.
    #[schema(value_type = Vec<Object>)]
    pub providers: Vec<serde_json::Value>,
}

/// `PUT /api/v1/admin/messaging/providers`: the whole ordered list, replacing the stored one.
/// Its `Debug` shows only the number of providers: the list may carry credentials.
#[derive(Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SetProviders {
    /// Providers in the order they are to be tried: `{"name", "settings": {"type", …}}`. A
    /// secret omitted, `null` or `"set"` on a provider of the same name and type keeps the
    /// stored secret.
    #[schema(value_type = Vec<Object>)]
    pub providers: Vec<serde_json::Value>,
}

impl std::fmt::Debug for SetProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetProviders")
            .field(
                "providers",
                &format_args!("[{} provider(s)]", self.providers.len()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::SetProviders;

    #[test]
    fn set_providers_debug_shows_no_setting() {
        let s = SetProviders {
            providers: vec![
                serde_json::json!({"name": "tw", "settings": {"auth_token": "tw-secret-9"}}),
            ],
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("tw-secret-9"), "{shown}");
        assert!(shown.contains("1 provider(s)"), "{shown}");
    }
}
