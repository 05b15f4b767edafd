//! Master-key rotation: every sealed value is re-sealed with a new key in one transaction.
//!
//! Order of events, so that a crash at any point loses nothing: the new key is staged
//! (written beside the current one), the database is re-sealed and committed, then the new
//! key is made current. On start the binary loads both the current and a staged key, and
//! each sealed value names the key that sealed it.

use latchkey_crypto::seal::MasterKey;
use latchkey_proto::admin::KeyRotation;

use super::AdminService;
use crate::CoreError;
use crate::authz::{Actor, DomainTree, Permission};
use crate::store::SealedItem;

/// Where the master key lives (a file in the data directory); implemented by the binary.
pub trait KeyPersistence: Send + Sync {
    /// Writes `key` beside the current key without replacing it.
    fn stage(&self, key: &MasterKey) -> Result<(), String>;
    /// Makes the staged key the current one.
    fn commit(&self) -> Result<(), String>;
}

impl AdminService {
    /// Rotates the master key.
    pub async fn rotate_master_key(&self, actor: &Actor) -> Result<KeyRotation, CoreError> {
        DomainTree::require(actor, Permission::ManageKeys)?;
        let persistence = self.key_persistence.clone().ok_or_else(|| {
            CoreError::Conflict(
                "the master key was supplied by the environment; rotate it there".to_owned(),
            )
        })?;
        let old = self.current_keyring()?;
        let new = MasterKey::generate(&mut self.rng());
        let key_id = hex::encode(new.key_id());
        persistence
            .stage(&new)
            .map_err(|e| CoreError::Internal(format!("staging the new key: {e}")))?;
        let new_ring = latchkey_crypto::seal::Keyring::new(new);
        let items = self.store.list_sealed().await?;
        let mut resealed = Vec::with_capacity(items.len());
        for it in items {
            let plain = old.open(&it.sealed, &it.aad)?;
            let sealed = new_ring.seal(&mut self.rng(), plain.expose(), &it.aad);
            resealed.push(SealedItem { sealed, ..it });
        }
        let audit = self
            .draft(actor, "key.rotate", "master-key")
            .with_detail(&serde_json::json!({"key_id": key_id, "resealed": resealed.len()}));
        self.store.update_sealed(&resealed, &audit).await?;
        persistence
            .commit()
            .map_err(|e| CoreError::Internal(format!("making the new key current: {e}")))?;
        self.replace_keyring(new_ring)?;
        Ok(KeyRotation {
            resealed: resealed.len() as u64,
            key_id,
        })
    }
}
