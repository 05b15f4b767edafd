//! [`ProviderStore`] for [`SqlStore`]: the administrator's messaging providers.
//!
//! The list is replaced as a whole in one audited transaction (which holds the audit head's
//! lock, so concurrent replacements queue); the single-row `messaging_provider_state` carries
//! the version every node compares before a send. Credentials arrive sealed and are stored
//! as they are; master-key rotation re-seals them through [`SqlStore::mp_list_sealed`] and
//! the `MessagingProvider` arm of `update_sealed`.

use async_trait::async_trait;
use latchkey_core::audit::AuditDraft;
use latchkey_core::messaging_config::{
    ProviderStore, StoredProvider, StoredProviders, provider_aad,
};
use latchkey_core::store::{SealedItem, SealedKind, StoreError};

use crate::SqlStore;
use crate::codec::get;
use crate::error::map_db;

const T: &str = "messaging_providers";
const S: &str = "messaging_provider_state";

impl SqlStore {
    /// Every provider's sealed credentials, for master-key rotation.
    pub(crate) async fn mp_list_sealed(&self) -> Result<Vec<SealedItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, secrets_sealed FROM messaging_providers \
             WHERE secrets_sealed IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(|e| map_db(e, || T.to_owned(), ""))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = get(&row, T, "name")?;
            out.push(SealedItem {
                kind: SealedKind::MessagingProvider,
                id: get(&row, T, "id")?,
                aad: provider_aad(&name),
                sealed: get(&row, T, "secrets_sealed")?,
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl ProviderStore for SqlStore {
    async fn find_provider_version(&self) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT version FROM messaging_provider_state WHERE id = 1 AND in_use = 1")
                .fetch_optional(&self.reader)
                .await
                .map_err(|e| map_db(e, || S.to_owned(), ""))?;
        row.map(|r| get(&r, S, "version")).transpose()
    }

    async fn list_providers(&self) -> Result<Option<StoredProviders>, StoreError> {
        // One read transaction would be nicer; instead the version is read before and after
        // the rows and the read repeated if a replacement fell in between.
        for _ in 0..5 {
            let Some(version) = self.find_provider_version().await? else {
                return Ok(None);
            };
            let rows = sqlx::query(
                "SELECT name, kind, settings, secrets_sealed FROM messaging_providers \
                 ORDER BY position",
            )
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || T.to_owned(), ""))?;
            if self.find_provider_version().await? != Some(version) {
                continue;
            }
            let mut providers = Vec::with_capacity(rows.len());
            for row in rows {
                providers.push(StoredProvider {
                    name: get(&row, T, "name")?,
                    kind: get(&row, T, "kind")?,
                    settings: get(&row, T, "settings")?,
                    secrets_sealed: get(&row, T, "secrets_sealed")?,
                });
            }
            return Ok(Some(StoredProviders { version, providers }));
        }
        Err(StoreError::Conflict(
            "the provider list kept changing while it was read".to_owned(),
        ))
    }

    async fn replace_providers(
        &self,
        providers: &[StoredProvider],
        audit: &AuditDraft,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        sqlx::query("DELETE FROM messaging_providers")
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || T.to_owned(), ""))?;
        for (position, p) in (0_i64..).zip(providers) {
            sqlx::query(
                "INSERT INTO messaging_providers (position, name, kind, settings, \
                 secrets_sealed) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(position)
            .bind(p.name.as_str())
            .bind(p.kind.as_str())
            .bind(p.settings.as_str())
            .bind(p.secrets_sealed.as_deref())
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("messaging provider {:?}", p.name), ""))?;
        }
        let row = sqlx::query(
            "INSERT INTO messaging_provider_state (id, version, in_use, updated_at) \
             VALUES (1, 1, 1, $1) \
             ON CONFLICT (id) DO UPDATE SET version = messaging_provider_state.version + 1, \
             in_use = 1, updated_at = excluded.updated_at RETURNING version",
        )
        .bind(audit.at)
        .fetch_one(tx.conn())
        .await
        .map_err(|e| map_db(e, || S.to_owned(), ""))?;
        let version = get(&row, S, "version")?;
        tx.commit().await?;
        Ok(version)
    }

    async fn clear_providers(&self, audit: &AuditDraft) -> Result<bool, StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        let cleared = sqlx::query(
            "UPDATE messaging_provider_state SET version = version + 1, in_use = 0, \
             updated_at = $1 WHERE id = 1 AND in_use = 1 RETURNING version",
        )
        .bind(audit.at)
        .fetch_optional(tx.conn())
        .await
        .map_err(|e| map_db(e, || S.to_owned(), ""))?
        .is_some();
        if !cleared {
            // Nothing stored: no change, and no record of one.
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM messaging_providers")
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || T.to_owned(), ""))?;
        tx.commit().await?;
        Ok(true)
    }
}
