//! The SQLite group-commit writer: a thread of its own with a `rusqlite` connection of its
//! own, running the authentication writes of concurrent requests in one durable transaction.
//!
//! It keeps the contract of the sqlx group-commit writer (`crate::group`, which PostgreSQL
//! uses) point for point — one transaction and one `fsync` per batch, the audit head read
//! once and written once, a savepoint per operation (a failing one takes nothing of the
//! others with it), answers only after `COMMIT` returned, a failed batch fails every
//! operation in it, abandoned operations skipped, a panic costs only its batch — and differs
//! only in where the statements run: here each operation is a plain function run on this
//! thread, so a batch costs two hand-offs per operation (its arrival and its answer) instead
//! of two per statement.
//!
//! Invariants:
//! - The thread holds the [`WriteGate`] from `BEGIN IMMEDIATE` to `COMMIT` or `ROLLBACK` of a
//!   batch and never while it waits for work, so administrative writes (sqlx's writer
//!   connection, which takes the same gate) get their turn between two batches.
//! - The connection is opened with `synchronous = FULL` and `foreign_keys = ON` (both are
//!   per connection in SQLite): a committed batch survives power loss, and references are
//!   checked as on every other connection. It checkpoints only if the checkpoint thread
//!   (`checkpoint.rs`) falls far behind (`wal_autocheckpoint` at its safety net), so batches
//!   do not wait for checkpoints.
//! - [`LiteWriter::close`] lets the thread finish the batch it is in and the operations queued
//!   before the call, then stops it and closes the connection; operations sent after that get
//!   an error and write nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use latchkey_core::audit::{AuditDraft, chain_hash};
use latchkey_core::store::StoreError;
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::{WriteGate, bind, map_lite};
use crate::codec::AUDIT_COLS;
use crate::group::{Counters, GroupCommitStats, Pending, QUEUE, writer_stopped};
use crate::tx::chain_subject;

/// Operations a batch holds at most.
pub(crate) const SQLITE_BATCH: usize = 128;

/// Per-connection settings of the writer (see the module invariants); `journal_mode` is a
/// property of the file, set by the first connection, and repeated here for a file that a
/// tool opened in another mode meanwhile. No `mmap_size`, for the reason given at
/// `SQLITE_PRAGMAS` in `lib.rs`.
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA wal_autocheckpoint = 10000; \
     PRAGMA foreign_keys = ON;";

/// Appends a record (the text built once, not per record).
static INSERT_AUDIT: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
});

/// The batch's transaction as one operation sees it: the connection (inside the operation's
/// savepoint) and the audit chain to append to.
pub(crate) struct LiteBatch<'c> {
    conn: &'c Connection,
    /// The chain's last sequence number and hash, including this batch's records so far.
    seq: i64,
    hash: String,
}

impl LiteBatch<'_> {
    /// The connection to run the operation's statements on.
    pub(crate) fn conn(&self) -> &Connection {
        self.conn
    }

    /// Appends `d` to the audit chain after the batch's previous record.
    pub(crate) fn append(&mut self, d: &AuditDraft) -> Result<(), StoreError> {
        let seq = self
            .seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("audit sequence number overflow".to_owned()))?;
        let hash = chain_hash(&self.hash, seq, d);
        let mut st = self
            .conn
            .prepare_cached(&INSERT_AUDIT)
            .map_err(|e| map_lite(&e, chain_subject, ""))?;
        bind(
            &mut st,
            &[
                &seq, &d.at, &d.actor, &d.action, &d.target, &d.outcome, &d.source, &d.detail,
                &self.hash, &hash,
            ],
        )?;
        st.raw_execute()
            // A unique violation here means audit_log and audit_head disagree.
            .map_err(|e| match map_lite(&e, chain_subject, "") {
                StoreError::Conflict(_) => StoreError::Corrupt(format!(
                    "audit record {seq} already exists: audit_head is behind audit_log"
                )),
                other => other,
            })?;
        self.seq = seq;
        self.hash = hash;
        Ok(())
    }
}

/// A queued operation with its answer channel, its type erased.
trait Job: Send {
    /// The caller stopped waiting.
    fn abandoned(&self) -> bool;
    /// Runs the operation; `true` when it succeeded (its writes are to be kept).
    fn run(&mut self, b: &mut LiteBatch<'_>) -> bool;
    /// Answers the caller once the batch ended: committed (`Ok`) or rolled back (`Err`).
    fn finish(self: Box<Self>, batch: Result<(), &StoreError>);
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut LiteBatch<'_>) -> Result<T, StoreError> + Send + 'static,
{
    fn abandoned(&self) -> bool {
        self.caller_left()
    }

    fn run(&mut self, b: &mut LiteBatch<'_>) -> bool {
        match self.take_op() {
            Some(op) => {
                let result = op(b);
                self.settle(result)
            }
            None => false,
        }
    }

    fn finish(self: Box<Self>, batch: Result<(), &StoreError>) {
        self.answer_with(batch);
    }
}

enum Msg {
    Job(Box<dyn Job>),
    /// Stop after what was queued before; answer when the connection is closed.
    Close(oneshot::Sender<()>),
}

/// The SQLite group-commit writer of one store (shared by its clones).
pub(crate) struct LiteWriter {
    sender: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for LiteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteWriter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl LiteWriter {
    /// Opens the writer's connection to the database at `path` (errors are reported here)
    /// and starts its thread.
    pub(crate) fn start(path: &Path, gate: WriteGate) -> Result<LiteWriter, StoreError> {
        let conn = open(path)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let counters = Arc::<Counters>::default();
        let shared = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("lk-sqlite-writer".to_owned())
            .spawn(move || serve(conn, &gate, &shared, receiver))
            .map_err(|e| StoreError::Backend(format!("cannot start the SQLite writer: {e}")))?;
        Ok(LiteWriter { sender, counters })
    }

    /// Runs `op` in the next batch and returns its result once the batch has committed (an
    /// error if it did not).
    ///
    /// `op` runs inside its own savepoint: an `Err` rolls back everything it wrote (its audit
    /// records included), an `Ok` keeps everything, so an operation that has nothing to do
    /// must return before writing.
    pub(crate) async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut LiteBatch<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (pending, answer) = Pending::new(op);
        let job: Box<dyn Job> = Box::new(pending);
        self.sender
            .send(Msg::Job(job))
            .await
            .map_err(|_| writer_stopped())?;
        answer.await.map_err(|_| writer_stopped())?
    }

    /// Stops the writer after the operations queued so far and waits until its connection
    /// is closed. Idempotent.
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.sender.send(Msg::Close(done)).await.is_ok() {
            // An error means the thread is gone already.
            let _ = closed.await;
        }
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        let queued = self
            .sender
            .max_capacity()
            .saturating_sub(self.sender.capacity());
        self.counters
            .snapshot(u64::try_from(queued).unwrap_or(u64::MAX))
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = super::open(path, Duration::from_secs(5), PRAGMAS, || {
        "SQLite database (writer)".to_owned()
    })?;
    // Every statement of every operation stays prepared.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The thread: batch after batch until the store is closed or every sender is gone.
fn serve(conn: Connection, gate: &WriteGate, counters: &Counters, mut queue: mpsc::Receiver<Msg>) {
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        // Waits for one message, then takes what else is queued (up to the cap) at once.
        let Some(first) = queue.blocking_recv() else {
            break;
        };
        let mut jobs: Vec<Box<dyn Job>> = Vec::with_capacity(SQLITE_BATCH);
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(job) => jobs.push(job),
                Msg::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if jobs.len() < SQLITE_BATCH {
                next = queue.try_recv().ok();
            }
        }
        jobs.retain(|job| !job.abandoned());
        if jobs.is_empty() {
            continue;
        }
        counters.count_batch(jobs.len());
        let outcome = run_batch(&conn, gate, &mut jobs);
        if let Err(e) = &outcome {
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, operations = jobs.len(), "group commit batch rolled back");
        }
        for job in jobs {
            job.finish(outcome.as_ref().copied());
        }
    }
    // Operations sent from now on fail at once; those still queued are dropped, and their
    // callers hear that the writer stopped.
    queue.close();
    drop(queue);
    drop(conn);
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn exec(conn: &Connection, sql: &'static str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.raw_execute())
        .map(|_| ())
        .map_err(|e| map_lite(&e, || format!("group commit ({sql})"), ""))
}

/// Ends an open transaction without keeping anything (nothing to do when SQLite already
/// rolled it back itself).
fn roll_back(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "rollback of a group commit batch failed");
    }
}

/// One transaction for `jobs`; `Err` when it did not commit (and then nothing is kept). The
/// gate is held until the transaction has ended, rolled back included.
fn run_batch(
    conn: &Connection,
    gate: &WriteGate,
    jobs: &mut [Box<dyn Job>],
) -> Result<(), StoreError> {
    let _turn = gate.blocking_lock();
    // A panic (in SQLite's bindings, say) costs this batch, not the writer.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        exec(conn, "BEGIN IMMEDIATE")?;
        batch_body(conn, jobs).and_then(|()| exec(conn, "COMMIT"))
    }))
    .unwrap_or_else(|_| {
        Err(StoreError::Backend(
            "the SQLite write batch panicked".to_owned(),
        ))
    });
    if outcome.is_err() {
        roll_back(conn);
    }
    outcome
}

fn batch_body(conn: &Connection, jobs: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    let head = conn
        .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")
        .and_then(|mut st| {
            st.query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .optional()
        })
        .map_err(|e| map_lite(&e, chain_subject, ""))?;
    let (start, hash) =
        head.ok_or_else(|| StoreError::Corrupt("audit_head row is missing".to_owned()))?;
    let mut batch = LiteBatch {
        conn,
        seq: start,
        hash,
    };
    for job in jobs.iter_mut() {
        exec(conn, "SAVEPOINT lk_op")?;
        let (seq, hash) = (batch.seq, batch.hash.clone());
        if job.run(&mut batch) {
            exec(conn, "RELEASE SAVEPOINT lk_op")?;
        } else {
            // A savepoint that cannot be rolled back (SQLite rolls the whole transaction
            // back on some errors) fails the batch: nothing of it is kept.
            exec(conn, "ROLLBACK TO SAVEPOINT lk_op")?;
            exec(conn, "RELEASE SAVEPOINT lk_op")?;
            batch.seq = seq;
            batch.hash = hash;
        }
    }
    if batch.seq != start {
        let mut st = conn
            .prepare_cached("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .map_err(|e| map_lite(&e, chain_subject, ""))?;
        bind(&mut st, &[&batch.seq, &batch.hash])?;
        st.raw_execute()
            .map_err(|e| map_lite(&e, chain_subject, ""))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_writer_checkpoints_only_as_a_safety_net_and_syncs_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        std::fs::write(&path, b"").unwrap();
        let conn = open(&path).unwrap();
        let pragma = |name: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(
            pragma("wal_autocheckpoint"),
            super::super::checkpoint::SAFETY_NET
        );
        assert_eq!(pragma("synchronous"), 2, "FULL");
        assert_eq!(pragma("foreign_keys"), 1);
    }
}
