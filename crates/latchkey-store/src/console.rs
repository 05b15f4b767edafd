//! [`ConsoleStore`] for [`SqlStore`]: Security Console sessions (migration `0007_console`).
//!
//! Only the SHA-256 of a session identifier is stored. Creating and deleting a session are
//! written with their audit record in one transaction; recording a request (`last_seen`) is
//! a single conditional `UPDATE` that never moves the time back, so nodes serving the same
//! session concurrently cannot shorten it.

use async_trait::async_trait;
use latchkey_core::audit::AuditDraft;
use latchkey_core::console::{ConsoleSession, ConsoleStore};
use latchkey_core::ids::AdminId;
use latchkey_core::store::StoreError;

use crate::SqlStore;
use crate::codec::get;
use crate::error::map_db;

const TABLE: &str = "console_sessions";

fn subject() -> String {
    "console session".to_owned()
}

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn insert_console_session(
        &self,
        s: &ConsoleSession,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, admin_id, admin_name, source, created_at, \
             last_seen) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id_hash)
        .bind(s.admin_id.0)
        .bind(&s.admin_name)
        .bind(s.source.as_deref())
        .bind(s.created_at)
        .bind(s.last_seen)
        .execute(tx.conn())
        .await
        .map_err(|e| map_db(e, subject, "admin"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_console_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, admin_id, admin_name, source, created_at, last_seen \
             FROM console_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| map_db(e, subject, ""))?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ConsoleSession {
            id_hash: get(&row, TABLE, "id_hash")?,
            admin_id: AdminId(get(&row, TABLE, "admin_id")?),
            admin_name: get(&row, TABLE, "admin_name")?,
            source: get(&row, TABLE, "source")?,
            created_at: get(&row, TABLE, "created_at")?,
            last_seen: get(&row, TABLE, "last_seen")?,
        }))
    }

    async fn touch_console_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE console_sessions SET last_seen = $1 WHERE id_hash = $2 AND last_seen < $1",
        )
        .bind(now)
        .bind(id_hash)
        .execute(&self.writer)
        .await
        .map_err(|e| map_db(e, subject, ""))?;
        Ok(())
    }

    async fn delete_console_session(
        &self,
        id_hash: &str,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        let done = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, subject, ""))?;
        if done.rows_affected() == 0 {
            // Gone already (another node, or a double sign-out): no record either.
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn purge_console_sessions(
        &self,
        idle_since: i64,
        created_since: i64,
        audit: &AuditDraft,
    ) -> Result<u64, StoreError> {
        // The head is locked first (the lock order of every writer); the record, which says
        // how many went, is written only when some did.
        let mut tx = self.begin_reserved().await?;
        let done =
            sqlx::query("DELETE FROM console_sessions WHERE last_seen <= $1 OR created_at <= $2")
                .bind(idle_since)
                .bind(created_since)
                .execute(tx.conn())
                .await
                .map_err(|e| map_db(e, subject, ""))?;
        let n = done.rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        let audit = audit
            .clone()
            .with_detail(&serde_json::json!({"sessions": n}));
        tx.append(&audit).await?.commit().await?;
        Ok(n)
    }
}
