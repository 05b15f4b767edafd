//! The administrative service: every admin API call and CLI verb ends in one method here.
//!
//! Each method takes the authenticated [`Actor`], checks role and scope with
//! [`DomainTree::require_in_scope`] before reading anything it will return, validates the
//! input completely before writing, and writes the change with its audit record in one store
//! call.

mod admins;
mod agents;
mod audit_log;
mod bootstrap;
mod domains;
mod eac;
mod emergency;
mod keys;
mod linked;
mod on_demand;
mod providers;
mod tokens;
mod users;

use std::sync::{Arc, RwLock};

use latchkey_crypto::seal::Keyring;
use latchkey_crypto::secret::SecretBytes;
use latchkey_crypto::verifier::{VerifierKey, bearer_token_hash};

pub use bootstrap::FirstAdmin;
pub use keys::KeyPersistence;

use crate::CoreError;
use crate::audit::AuditDraft;
use crate::authz::{Actor, DomainTree};
use crate::ports::{Clock, Entropy, EntropyRng};
use crate::store::Store;

/// Name of the stored secret holding the PIN verifier key.
const PIN_KEY_SECRET: &str = "pin-verifier-key";

/// The administrative service.
pub struct AdminService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    keyring: RwLock<Arc<Keyring>>,
    pin_key: VerifierKey,
    key_persistence: Option<Arc<dyn KeyPersistence>>,
    /// Deployment maximum lifetime of new online emergency tokencodes (`None`: no maximum).
    max_emergency_lifetime_days: Option<u32>,
    /// Deployment settings of emergency access codes.
    eac_settings: crate::emergency::EacSettings,
    /// Storage and codec of the administrator's messaging providers (`None`: not
    /// configurable in this deployment).
    messaging_providers: Option<providers::ProviderPorts>,
    /// Bumped by every change to domains, policies or agents, so that the authentication
    /// service's cache of them (`authn/hot.rs`) is dropped at once on this node.
    config_epoch: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for AdminService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminService").finish_non_exhaustive()
    }
}

impl AdminService {
    /// Builds the service, loading (or on first start creating) the PIN verifier key, which is
    /// kept sealed in the store so that rotating the master key never invalidates PINs.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        keyring: Keyring,
        key_persistence: Option<Arc<dyn KeyPersistence>>,
    ) -> Result<Self, CoreError> {
        let aad = secret_aad(PIN_KEY_SECRET);
        let sealed = match store.find_secret(PIN_KEY_SECRET).await? {
            Some(s) => s,
            None => {
                let mut rng = EntropyRng(entropy.as_ref());
                let fresh = VerifierKey::generate(&mut rng);
                let sealed = keyring.seal(&mut rng, fresh.expose(), &aad);
                store
                    .insert_secret_if_absent(PIN_KEY_SECRET, &sealed, clock.now())
                    .await?
            }
        };
        let pin_key = VerifierKey::from_bytes(keyring.open(&sealed, &aad)?.expose())?;
        Ok(Self {
            store,
            clock,
            entropy,
            keyring: RwLock::new(Arc::new(keyring)),
            pin_key,
            key_persistence,
            max_emergency_lifetime_days: Some(crate::emergency::DEFAULT_MAX_ONLINE_LIFETIME_DAYS),
            eac_settings: crate::emergency::EacSettings::default(),
            messaging_providers: None,
            config_epoch: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Sets the deployment settings of emergency access codes (validated by the caller with
    /// [`crate::emergency::EacSettings::validate`]).
    #[must_use]
    pub fn with_eac_settings(mut self, settings: crate::emergency::EacSettings) -> Self {
        self.eac_settings = settings;
        self
    }

    /// Sets the deployment's maximum lifetime of new online emergency tokencodes, in days;
    /// `None` allows any lifetime, including no expiration.
    #[must_use]
    pub fn with_max_emergency_lifetime_days(mut self, days: Option<u32>) -> Self {
        self.max_emergency_lifetime_days = days;
        self
    }

    /// The configuration epoch: changes whenever domains, policies or agents change here.
    pub(crate) fn config_epoch(&self) -> u64 {
        self.config_epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks domains, policies or agents as changed.
    pub(crate) fn bump_config_epoch(&self) {
        self.config_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The store, for the other services built on the same ports.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Finds the administrator owning an admin API token.
    pub async fn authenticate(
        &self,
        bearer: &str,
        source: Option<String>,
    ) -> Result<Actor, CoreError> {
        if bearer.is_empty() || bearer.len() > 200 {
            return Err(CoreError::Unauthenticated);
        }
        let admin = self
            .store
            .find_admin_by_token_hash(&bearer_token_hash(bearer))
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        Ok(Actor::of(admin, source))
    }

    /// The domain tree as it is now.
    async fn tree(&self) -> Result<DomainTree, CoreError> {
        Ok(DomainTree::new(self.store.list_domains().await?))
    }

    /// An audit draft for `actor` doing `action` on `target`, now.
    fn draft(&self, actor: &Actor, action: &str, target: &str) -> AuditDraft {
        AuditDraft::ok(
            self.clock.now(),
            &actor.audit_name(),
            action,
            target,
            actor.source.as_deref(),
        )
    }

    fn rng(&self) -> EntropyRng<'_> {
        EntropyRng(self.entropy.as_ref())
    }

    fn current_keyring(&self) -> Result<Arc<Keyring>, CoreError> {
        self.keyring
            .read()
            .map(|k| Arc::clone(&k))
            .map_err(|_| CoreError::Internal("keyring lock poisoned".to_owned()))
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CoreError> {
        Ok(self
            .current_keyring()?
            .seal(&mut self.rng(), plaintext, aad))
    }

    /// Opens a sealed value (for the authentication services that need seeds in hand).
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, CoreError> {
        Ok(self.current_keyring()?.open(sealed, aad)?)
    }

    /// The PIN verifier key.
    pub fn pin_key(&self) -> &VerifierKey {
        &self.pin_key
    }

    fn replace_keyring(&self, new: Keyring) -> Result<(), CoreError> {
        let mut guard = self
            .keyring
            .write()
            .map_err(|_| CoreError::Internal("keyring lock poisoned".to_owned()))?;
        *guard = Arc::new(new);
        Ok(())
    }
}

/// Associated data binding a token seed to its serial.
pub fn seed_aad(serial: &str) -> Vec<u8> {
    format!("token-seed:{serial}").into_bytes()
}

/// Associated data binding a RADIUS secret to its agent.
pub fn agent_secret_aad(name: &str) -> Vec<u8> {
    format!("agent-secret:{name}").into_bytes()
}

/// Associated data binding a named secret to its name.
pub fn secret_aad(name: &str) -> Vec<u8> {
    format!("secret:{name}").into_bytes()
}

/// Context string of PIN verifiers.
pub const PIN_CONTEXT: &str = "token-pin";
