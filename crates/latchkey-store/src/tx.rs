//! The write pattern of every writer but authentication (which is group committed, see
//! `group/`, `lite/writer.rs`): open a transaction, append the audit record first (which locks the chain
//! head), do the change, commit. Dropping an [`AuditedTx`] without committing rolls
//! everything back, so an error returned with `?` anywhere in between writes nothing.
//!
//! A change whose record depends on its result (the record says whether a failure locked the
//! user) or that may turn out to write nothing (a token use that lost the race) takes the
//! head lock first all the same, with [`SqlStore::begin_reserved`], and writes the record
//! afterwards with [`ReservedTx::append`]: the lock order (head first) is the same for every
//! writer, so writers cannot deadlock on PostgreSQL.

use std::ops::{Deref, DerefMut};

use latchkey_core::audit::{AuditDraft, AuditRecord, chain_hash};
use latchkey_core::store::StoreError;
use sqlx::AnyConnection;
use sqlx::{Any, Transaction};
use tokio::sync::OwnedMutexGuard;

use crate::SqlStore;
use crate::codec::{self, AUDIT_COLS};
use crate::error::map_db;

pub(crate) fn chain_subject() -> String {
    "audit chain".to_owned()
}

/// A write transaction on the writer pool, holding SQLite's write gate (`lite/`) until it
/// ends; dropping it without committing rolls it back.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Any>,
    /// Released after the transaction ended (fields drop in order).
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits the transaction.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls the transaction back now.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// A write transaction holding the chain head with the next sequence number reserved; its
/// record is not written yet.
pub(crate) struct ReservedTx {
    tx: WriteTx,
    seq: i64,
    prev_hash: String,
}

impl ReservedTx {
    /// The connection to run the change on.
    #[allow(
        dead_code,
        reason = "part of the write API of the store's other writers"
    )]
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Writes the record for the reserved sequence number.
    pub(crate) async fn append(mut self, d: &AuditDraft) -> Result<AuditedTx, StoreError> {
        let record = write_record(&mut self.tx, self.seq, self.prev_hash, d).await?;
        Ok(AuditedTx {
            tx: self.tx,
            record,
        })
    }

    /// Rolls everything back now (the sequence number is released with it).
    #[allow(
        dead_code,
        reason = "part of the write API of the store's other writers"
    )]
    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        self.tx
            .rollback()
            .await
            .map_err(|e| map_db(e, || "rollback".to_owned(), ""))
    }
}

/// A write transaction whose audit record is already appended.
pub(crate) struct AuditedTx {
    tx: WriteTx,
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

    /// Rolls the change and its record back now.
    #[allow(
        dead_code,
        reason = "part of the write API of the store's other writers"
    )]
    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        self.tx
            .rollback()
            .await
            .map_err(|e| map_db(e, || "rollback".to_owned(), ""))
    }
}

impl SqlStore {
    /// Opens a plain write transaction (no audit record), on the writer pool.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let turn = self.write_turn().await;
        let tx = self
            .writer
            .begin_with(self.begin_statement())
            .await
            .map_err(|e| map_db(e, || "begin transaction".to_owned(), ""))?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// SQLite: waits for the write gate, which a write on the writer pool outside a
    /// transaction must hold too; PostgreSQL: nothing (row locks do the work).
    pub(crate) async fn write_turn(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.lite {
            Some(lite) => Some(std::sync::Arc::clone(&lite.gate).lock_owned().await),
            None => None,
        }
    }

    /// Opens a write transaction and appends `draft` to the audit chain in it.
    pub(crate) async fn begin_audited(&self, draft: &AuditDraft) -> Result<AuditedTx, StoreError> {
        self.begin_reserved().await?.append(draft).await
    }

    /// Opens a write transaction and reserves the next sequence number of the audit chain
    /// (taking the head's lock); the record is written later with [`ReservedTx::append`].
    pub(crate) async fn begin_reserved(&self) -> Result<ReservedTx, StoreError> {
        let mut tx = self.begin_write().await?;
        let (seq, prev_hash) = reserve(&mut tx).await?;
        Ok(ReservedTx { tx, seq, prev_hash })
    }
}

/// Reserves the next sequence number inside the caller's transaction.
///
/// The head update comes first: it takes the head's row lock (PostgreSQL) or is a write
/// under the database write lock (SQLite), so concurrent appenders queue here, and it returns
/// the new sequence number together with the previous hash.
async fn reserve(conn: &mut AnyConnection) -> Result<(i64, String), StoreError> {
    let row = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| map_db(e, chain_subject, ""))?
        .ok_or_else(|| StoreError::Corrupt("audit_head row is missing".to_owned()))?;
    let head = codec::audit_head(&row)?;
    Ok((head.seq, head.hash))
}

/// Writes record `seq` (reserved by [`reserve`] in the same transaction) and moves the head's
/// hash to it.
async fn write_record(
    conn: &mut AnyConnection,
    seq: i64,
    prev_hash: String,
    d: &AuditDraft,
) -> Result<AuditRecord, StoreError> {
    let record = insert_record(&mut *conn, seq, prev_hash, d).await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&record.hash)
        .execute(&mut *conn)
        .await
        .map_err(|e| map_db(e, chain_subject, ""))?;
    Ok(record)
}

/// Inserts record `seq` after `prev_hash`, leaving `audit_head` alone (the caller owns the
/// head: [`write_record`] moves it per record, a group-commit batch once per batch).
pub(crate) async fn insert_record(
    conn: &mut AnyConnection,
    seq: i64,
    prev_hash: String,
    d: &AuditDraft,
) -> Result<AuditRecord, StoreError> {
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
        .map_err(|e| match map_db(e, chain_subject, "") {
            StoreError::Conflict(_) => StoreError::Corrupt(format!(
                "audit record {seq} already exists: audit_head is behind audit_log"
            )),
            other => other,
        })?;
    Ok(AuditRecord {
        seq,
        draft: d.clone(),
        prev_hash,
        hash,
    })
}
