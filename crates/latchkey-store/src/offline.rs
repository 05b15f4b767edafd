//! [`OfflineStore`] for [`SqlStore`]: enrolled offline hosts, what each downloaded per user,
//! and the ids of uploaded offline events (for idempotence). Every write is one transaction
//! that appends its audit record (`tx.rs`).

use async_trait::async_trait;
use latchkey_core::audit::AuditDraft;
use latchkey_core::ids::{AgentId, UserId};
use latchkey_core::offline::{Download, HeldDownload, OfflineHost, OfflineStore};
use latchkey_core::store::StoreError;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::SqlStore;
use crate::codec::get;
use crate::error::map_db;

const HOST_COLS: &str = "h.agent_id, h.host_id, h.hostname, h.public_key, h.enrolled_at";

fn host(row: &AnyRow) -> Result<OfflineHost, StoreError> {
    Ok(OfflineHost {
        agent_id: AgentId(get(row, "offline_hosts", "agent_id")?),
        host_id: get(row, "offline_hosts", "host_id")?,
        hostname: get(row, "offline_hosts", "hostname")?,
        public_key: get(row, "offline_hosts", "public_key")?,
        enrolled_at: get(row, "offline_hosts", "enrolled_at")?,
    })
}

fn download(row: &AnyRow) -> Result<Download, StoreError> {
    let gens: String = get(row, "offline_downloads", "tokencode_generations")?;
    let tokencode_generations: Vec<(String, i64)> = serde_json::from_str(&gens)
        .map_err(|_| StoreError::Corrupt("offline_downloads.tokencode_generations".to_owned()))?;
    Ok(Download {
        user_id: UserId(get(row, "offline_downloads", "user_id")?),
        agent_id: AgentId(get(row, "offline_downloads", "agent_id")?),
        synced_at: get(row, "offline_downloads", "synced_at")?,
        expires_at: get(row, "offline_downloads", "expires_at")?,
        policy_fingerprint: get(row, "offline_downloads", "policy_fingerprint")?,
        passcode_generation: row
            .try_get::<Option<i64>, _>("passcode_generation")
            .map_err(|_| StoreError::Corrupt("offline_downloads.passcode_generation".to_owned()))?,
        tokencode_generations,
        eac_id: row
            .try_get::<Option<String>, _>("eac_id")
            .map_err(|_| StoreError::Corrupt("offline_downloads.eac_id".to_owned()))?,
    })
}

#[async_trait]
impl OfflineStore for SqlStore {
    async fn enroll_host(
        &self,
        agent: AgentId,
        new_host_id: &str,
        hostname: &str,
        public_key: &[u8],
        now: i64,
        audit: &AuditDraft,
    ) -> Result<OfflineHost, StoreError> {
        let subject = || format!("offline host of agent #{}", agent.0);
        let mut tx = self.begin_audited(audit).await?;
        sqlx::query(
            "INSERT INTO offline_hosts (agent_id, host_id, hostname, public_key, enrolled_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (agent_id) DO UPDATE SET hostname = $3, public_key = $4, \
             enrolled_at = $5",
        )
        .bind(agent.0)
        .bind(new_host_id)
        .bind(hostname)
        .bind(public_key.to_vec())
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| map_db(e, subject, ""))?;
        let sql = format!("SELECT {HOST_COLS} FROM offline_hosts h WHERE h.agent_id = $1");
        let row = sqlx::query(&sql)
            .bind(agent.0)
            .fetch_one(tx.conn())
            .await
            .map_err(|e| map_db(e, subject, ""))?;
        let h = host(&row)?;
        tx.commit().await?;
        Ok(h)
    }

    async fn find_offline_host(&self, agent: AgentId) -> Result<Option<OfflineHost>, StoreError> {
        let sql = format!("SELECT {HOST_COLS} FROM offline_hosts h WHERE h.agent_id = $1");
        let row = sqlx::query(&sql)
            .bind(agent.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "offline_hosts".to_owned(), ""))?;
        row.as_ref().map(host).transpose()
    }

    async fn record_download(&self, d: &Download, audit: &AuditDraft) -> Result<(), StoreError> {
        let gens = serde_json::to_string(&d.tokencode_generations)
            .map_err(|_| StoreError::Corrupt("tokencode generations".to_owned()))?;
        let mut tx = self.begin_audited(audit).await?;
        sqlx::query(
            "INSERT INTO offline_downloads (user_id, agent_id, synced_at, expires_at, \
             policy_fingerprint, passcode_generation, tokencode_generations, eac_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (user_id, agent_id) DO UPDATE SET synced_at = $3, expires_at = $4, \
             policy_fingerprint = $5, passcode_generation = $6, tokencode_generations = $7, \
             eac_id = $8",
        )
        .bind(d.user_id.0)
        .bind(d.agent_id.0)
        .bind(d.synced_at)
        .bind(d.expires_at)
        .bind(&d.policy_fingerprint)
        .bind(d.passcode_generation)
        .bind(gens)
        .bind(d.eac_id.clone())
        .execute(tx.conn())
        .await
        .map_err(|e| map_db(e, || format!("offline data of user #{}", d.user_id.0), ""))?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_downloads(&self, user: UserId) -> Result<Vec<HeldDownload>, StoreError> {
        let sql = format!(
            "SELECT d.user_id, d.agent_id, d.synced_at, d.expires_at, d.policy_fingerprint, \
             d.passcode_generation, d.tokencode_generations, d.eac_id, {HOST_COLS}, \
             a.name AS agent_name \
             FROM offline_downloads d \
             JOIN offline_hosts h ON h.agent_id = d.agent_id \
             JOIN agents a ON a.id = d.agent_id \
             WHERE d.user_id = $1 ORDER BY d.synced_at DESC, a.name"
        );
        let rows = sqlx::query(&sql)
            .bind(user.0)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "offline_downloads".to_owned(), ""))?;
        rows.iter()
            .map(|r| {
                Ok(HeldDownload {
                    download: download(r)?,
                    host: host(r)?,
                    agent_name: get(r, "agents", "agent_name")?,
                })
            })
            .collect()
    }

    async fn attempt_login(
        &self,
        attempt_id: &str,
        agent: AgentId,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT login FROM authn_attempts WHERE id = $1 AND agent_id = $2")
            .bind(attempt_id)
            .bind(agent.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "authn_attempts".to_owned(), ""))?;
        row.as_ref()
            .map(|r| get(r, "authn_attempts", "login"))
            .transpose()
    }

    async fn record_offline_event(
        &self,
        agent: AgentId,
        event_id: &str,
        received_at: i64,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_reserved().await?;
        let done = sqlx::query(
            "INSERT INTO offline_events (agent_id, event_id, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(agent.0)
        .bind(event_id)
        .bind(received_at)
        .execute(tx.conn())
        .await
        .map_err(|e| map_db(e, || "offline_events".to_owned(), ""))?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.append(audit).await?.commit().await?;
        Ok(true)
    }
}
