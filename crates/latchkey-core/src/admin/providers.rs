//! The administrator's messaging providers: list and replace, super administrators only
//! ([`Permission::ManageMessaging`]: the providers are deployment-wide, they carry
//! credentials that cost money, and they see every user's phone number).
//!
//! Credentials are sealed with the master key (bound to the provider's name) before they are
//! stored, and opened only for the messenger ([`AdminService::load_messaging_providers`]);
//! no answer ever carries them. Master-key rotation re-seals them with every other sealed
//! value (`SealedKind::MessagingProvider`).

use std::sync::Arc;

use latchkey_crypto::secret::SecretString;
use latchkey_proto::messaging::{ProviderList, ProviderSource};

use super::AdminService;
use crate::CoreError;
use crate::authz::{Actor, DomainTree, Permission};
use crate::messaging_config::{
    OpenProvider, ProviderCodec, ProviderStore, StoredProvider, provider_aad,
};

/// The ports the provider administration needs.
pub(super) struct ProviderPorts {
    store: Arc<dyn ProviderStore>,
    codec: Arc<dyn ProviderCodec>,
}

impl AdminService {
    /// Makes the messaging providers configurable through this service.
    #[must_use]
    pub fn with_messaging_providers(
        mut self,
        store: Arc<dyn ProviderStore>,
        codec: Arc<dyn ProviderCodec>,
    ) -> Self {
        self.messaging_providers = Some(ProviderPorts { store, codec });
        self
    }

    fn provider_ports(&self) -> Result<&ProviderPorts, CoreError> {
        self.messaging_providers.as_ref().ok_or_else(|| {
            CoreError::Conflict(
                "messaging providers are not configurable in this deployment".to_owned(),
            )
        })
    }

    /// The version of the stored provider list (`None`: the file's list applies, also when
    /// providers are not configurable here). For the messenger, before each send; no actor,
    /// nothing secret.
    pub async fn messaging_providers_version(&self) -> Result<Option<i64>, CoreError> {
        match &self.messaging_providers {
            Some(p) => Ok(p.store.find_provider_version().await?),
            None => Ok(None),
        }
    }

    /// The stored list with its credentials opened, and its version; `None` when the
    /// database holds none. For the messenger only: never return it to an administrator.
    pub async fn load_messaging_providers(
        &self,
    ) -> Result<Option<(i64, Vec<OpenProvider>)>, CoreError> {
        let ports = self.provider_ports()?;
        let Some(stored) = ports.store.list_providers().await? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(stored.providers.len());
        for p in stored.providers {
            out.push(self.open_provider(p)?);
        }
        Ok(Some((stored.version, out)))
    }

    fn open_provider(&self, p: StoredProvider) -> Result<OpenProvider, CoreError> {
        let settings = serde_json::from_str(&p.settings).map_err(|_| {
            CoreError::Internal(format!("stored settings of provider {:?}", p.name))
        })?;
        let secrets = match &p.secrets_sealed {
            Some(sealed) => {
                let plain = self.open(sealed, &provider_aad(&p.name))?;
                let text = std::str::from_utf8(plain.expose()).map_err(|_| {
                    CoreError::Internal(format!("stored credentials of provider {:?}", p.name))
                })?;
                Some(SecretString::from(text))
            }
            None => None,
        };
        Ok(OpenProvider {
            name: p.name,
            kind: p.kind,
            settings,
            secrets,
        })
    }

    fn provider_view(
        &self,
        version: Option<i64>,
        list: Option<&[OpenProvider]>,
    ) -> Result<ProviderList, CoreError> {
        let codec = &self.provider_ports()?.codec;
        Ok(match list {
            Some(list) => ProviderList {
                source: ProviderSource::Database,
                version,
                providers: list.iter().map(|p| codec.redact(p)).collect(),
            },
            None => ProviderList {
                source: ProviderSource::File,
                version: None,
                providers: codec.file_providers(),
            },
        })
    }

    /// The providers in use, in order, secrets shown as `"set"`.
    pub async fn list_messaging_providers(&self, actor: &Actor) -> Result<ProviderList, CoreError> {
        DomainTree::require(actor, Permission::ManageMessaging)?;
        match self.load_messaging_providers().await? {
            Some((version, list)) => self.provider_view(Some(version), Some(&list)),
            None => self.provider_view(None, None),
        }
    }

    /// Replaces the stored provider list as a whole (validated completely first; a secret
    /// omitted, `null` or `"set"` keeps the stored one of the provider with the same name and
    /// type). Audited with the names and types, never the settings' secrets.
    pub async fn set_messaging_providers(
        &self,
        actor: &Actor,
        submitted: &[serde_json::Value],
    ) -> Result<ProviderList, CoreError> {
        DomainTree::require(actor, Permission::ManageMessaging)?;
        let ports = self.provider_ports()?;
        let stored = self
            .load_messaging_providers()
            .await?
            .map(|(_, l)| l)
            .unwrap_or_default();
        let list = ports
            .codec
            .prepare(submitted, &stored)
            .map_err(|e| CoreError::invalid("providers", e.0))?;
        let mut rows = Vec::with_capacity(list.len());
        for p in &list {
            let secrets_sealed = match &p.secrets {
                Some(s) => Some(self.seal(s.expose().as_bytes(), &provider_aad(&p.name))?),
                None => None,
            };
            rows.push(StoredProvider {
                name: p.name.clone(),
                kind: p.kind.clone(),
                settings: p.settings.to_string(),
                secrets_sealed,
            });
        }
        let summary: Vec<serde_json::Value> = list
            .iter()
            .map(|p| serde_json::json!({"name": p.name, "type": p.kind}))
            .collect();
        let audit = self
            .draft(actor, "messaging.providers.set", "messaging-providers")
            .with_detail(&serde_json::json!({"providers": summary}));
        let version = ports.store.replace_providers(&rows, &audit).await?;
        self.provider_view(Some(version), Some(&list))
    }

    /// Removes the stored list: the configuration file's providers apply again, on every
    /// node from its next send. Audited when there was a list; a no-op otherwise. `true`
    /// when a list was removed.
    pub async fn clear_messaging_providers(&self, actor: &Actor) -> Result<bool, CoreError> {
        DomainTree::require(actor, Permission::ManageMessaging)?;
        let ports = self.provider_ports()?;
        let audit = self.draft(actor, "messaging.providers.clear", "messaging-providers");
        Ok(ports.store.clear_providers(&audit).await?)
    }
}
