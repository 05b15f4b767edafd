//! Master-key rotation: every sealed value is re-sealed with a new key.
//!
//! Order of events, so that neither a crash nor a concurrent write loses a value:
//! 1. The new key is staged on disk beside the current one ([`KeyPersistence::stage`], which
//!    refuses while an earlier staged key exists: an unfinished rotation is finished first).
//! 2. In memory the new key becomes current and the old one stays for opening, so values
//!    sealed from now on use the new key and old ones still open.
//! 3. Every value still sealed with another key is re-sealed in one transaction with its
//!    audit record, and once more for values written while the first pass ran.
//! 4. The staged key replaces the current key file; the old key is dropped.
//!
//! After a crash between 1 and 4 the binary loads both files (current and staged) and calls
//! [`AdminService::finish_interrupted_rotation`], which re-seals everything to the current
//! file's key and removes the staged one — whichever side of the commit the crash fell on.

use latchkey_crypto::seal::{Keyring, MasterKey};
use latchkey_proto::admin::KeyRotation;

use super::AdminService;
use crate::CoreError;
use crate::audit::AuditDraft;
use crate::authz::{Actor, DomainTree, Permission};
use crate::store::SealedItem;

/// Where the master key lives (a file in the data directory); implemented by the binary.
pub trait KeyPersistence: Send + Sync {
    /// Writes `key` beside the current key without replacing it; fails if a staged key exists.
    fn stage(&self, key: &MasterKey) -> Result<(), String>;
    /// Makes the staged key the current one.
    fn commit(&self) -> Result<(), String>;
    /// Removes a staged key that is no longer needed.
    fn discard_staged(&self) -> Result<(), String>;
}

impl AdminService {
    /// Re-seals with the current key every value sealed with another key of the keyring, in
    /// one transaction with an audit record by `actor`; returns how many.
    async fn reseal_to_current(
        &self,
        actor: &str,
        source: Option<&str>,
    ) -> Result<usize, CoreError> {
        let ring = self.current_keyring()?;
        let mut items = Vec::new();
        for it in self.store.list_sealed().await? {
            if ring.is_sealed_with_current(&it.sealed) {
                continue;
            }
            let plain = ring.open(&it.sealed, &it.aad)?;
            let sealed = ring.seal(&mut self.rng(), plain.expose(), &it.aad);
            items.push(SealedItem { sealed, ..it });
        }
        if items.is_empty() {
            return Ok(0);
        }
        let audit = AuditDraft::ok(self.clock.now(), actor, "key.reseal", "master-key", source).with_detail(
            &serde_json::json!({"key_id": hex::encode(ring.current().key_id()), "resealed": items.len()}),
        );
        self.store.update_sealed(&items, &audit).await?;
        Ok(items.len())
    }

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
        persistence.stage(&new).map_err(|e| {
            CoreError::Conflict(format!(
                "cannot stage the new key ({e}); restart the server to finish an earlier rotation"
            ))
        })?;
        self.replace_keyring(Keyring::new(new.clone()).with_older(old.current().clone()))?;
        let who = actor.audit_name();
        let mut resealed = 0;
        for _ in 0..2 {
            match self.reseal_to_current(&who, actor.source.as_deref()).await {
                Ok(n) => resealed += n,
                Err(e) => {
                    // Nothing committed with the new key in this pass; go back to the old key.
                    self.replace_keyring(Keyring::clone(&old))?;
                    let _ = persistence.discard_staged();
                    return Err(e);
                }
            }
        }
        persistence
            .commit()
            .map_err(|e| CoreError::Internal(format!("making the new key current: {e}")))?;
        self.replace_keyring(Keyring::new(new))?;
        let audit = self
            .draft(actor, "key.rotate", "master-key")
            .with_detail(&serde_json::json!({"key_id": key_id, "resealed": resealed}));
        self.store.append_audit(&audit).await?;
        Ok(KeyRotation {
            resealed: resealed as u64,
            key_id,
        })
    }

    /// Finishes a rotation interrupted by a crash: re-seals every value to the current key
    /// and removes the staged key. Call at startup when a staged key was found.
    pub async fn finish_interrupted_rotation(&self) -> Result<usize, CoreError> {
        let n = self.reseal_to_current("system", None).await?;
        if let Some(p) = &self.key_persistence {
            p.discard_staged()
                .map_err(|e| CoreError::Internal(format!("removing the staged key: {e}")))?;
        }
        Ok(n)
    }
}
