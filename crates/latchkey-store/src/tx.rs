//! The one write pattern: open a transaction, append the audit record first (which locks the
//! chain head), do the change, commit. Dropping an [`AuditedTx`] without committing rolls
//! everything back, so an error returned with `?` anywhere in between writes nothing.

use latchkey_core::audit::{AuditDraft, AuditRecord, chain_hash};
use latchkey_core::store::StoreError;
use sqlx::AnyConnection;
use sqlx::{Any, Transaction};

use crate::SqlStore;
use crate::codec::{self, AUDIT_COLS};
use crate::error::map_db;

/// A write transaction whose audit record is already appended.
pub(crate) struct AuditedTx {
    tx: Transaction<'static, Any>,
    record: AuditRecord,
}

impl AuditedTx {
    /// The connection to run the change on.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Commits the change and its record together.
    pub(crate) async fn commit(self) -> Result<AuditRecord, StoreError> {
        self.tx
            .commit()
            .await
            .map_err(|e| map_db(e, || "commit".to_owned(), ""))?;
        Ok(self.record)
    }
}

impl SqlStore {
    /// Opens a plain write transaction (no audit record), on the writer pool.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        self.writer
            .begin_with(self.begin_statement())
            .await
            .map_err(|e| map_db(e, || "begin transaction".to_owned(), ""))
    }

    /// Opens a write transaction and appends `draft` to the audit chain in it.
    pub(crate) async fn begin_audited(&self, draft: &AuditDraft) -> Result<AuditedTx, StoreError> {
        let mut tx = self.begin_write().await?;
        let record = append(&mut tx, draft).await?;
        Ok(AuditedTx { tx, record })
    }
}

/// Appends one record inside the caller's transaction.
///
/// The head update comes first: it takes the head's row lock (PostgreSQL) or is a write
/// under the database write lock (SQLite), so concurrent appenders queue here, and it returns
/// the new sequence number together with the previous hash.
async fn append(conn: &mut AnyConnection, d: &AuditDraft) -> Result<AuditRecord, StoreError> {
    let subject = || "audit chain".to_owned();
    let row = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| map_db(e, subject, ""))?
        .ok_or_else(|| StoreError::Corrupt("audit_head row is missing".to_owned()))?;
    let head = codec::audit_head(&row)?;
    let seq = head.seq;
    let prev_hash = head.hash;
    let hash = chain_hash(&prev_hash, seq, d);
    let insert = format!(
        "INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    sqlx::query(&insert)
        .bind(seq)
        .bind(d.at)
        .bind(&d.actor)
        .bind(&d.action)
        .bind(&d.target)
        .bind(&d.outcome)
        .bind(d.source.as_deref())
        .bind(&d.detail)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *conn)
        .await
        // A unique violation here means audit_log and audit_head disagree.
        .map_err(|e| match map_db(e, subject, "") {
            StoreError::Conflict(_) => StoreError::Corrupt(format!(
                "audit record {seq} already exists: audit_head is behind audit_log"
            )),
            other => other,
        })?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await
        .map_err(|e| map_db(e, subject, ""))?;
    Ok(AuditRecord {
        seq,
        draft: d.clone(),
        prev_hash,
        hash,
    })
}
