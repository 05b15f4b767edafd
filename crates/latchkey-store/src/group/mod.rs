//! Group commit: concurrent writes of authentication share one durable transaction.
//!
//! Every successful authentication changes state (the token's step, the counters) and appends
//! an audit record, and its answer may only leave once that is on disk. One transaction per
//! authentication means one `fsync` per authentication on SQLite (`synchronous=FULL`) and,
//! on PostgreSQL, one commit per authentication while holding the audit head's row lock.
//! Here a writer owns the write path of these operations instead. This module is the
//! contract and PostgreSQL's writer (a tokio task on sqlx); SQLite's writer keeps the same
//! contract on a thread of its own (`lite/writer.rs`, which says why):
//!
//! - Callers send a boxed operation through a bounded channel ([`QUEUE`] entries; a full
//!   channel makes callers wait) and await a oneshot answer.
//! - The writer takes whatever is queued, up to the backend's batch cap
//!   ([`POSTGRES_BATCH`]; SQLite's is larger), without waiting for more: a lone request is
//!   committed at once.
//! - One transaction per batch: `BEGIN` (`IMMEDIATE` on SQLite), the audit head read and
//!   locked (`FOR UPDATE` on PostgreSQL: the same head-first lock order as every other
//!   writer), then each operation inside `SAVEPOINT lk_op` … `RELEASE`, its audit records
//!   appended one after the other from the head kept in memory, then the head written once,
//!   then `COMMIT`. Here (PostgreSQL) the batch's token uses go first, all together and
//!   without savepoints (`uses.rs`), then the other operations in arrival order; so a token
//!   use is applied before a failure that arrived before it in the same batch. Both orders
//!   are ones the requests could have arrived in.
//! - An operation that fails is rolled back to its savepoint (its records too, and the
//!   in-memory head goes back with it); the others of the batch are unaffected. An
//!   operation that succeeds keeps every write it made: an operation that finds it has
//!   nothing to do (a token use that lost the race) returns before writing.
//! - Answers are sent only after `COMMIT` returned. If the batch itself fails (begin, the
//!   head, a savepoint that cannot be rolled back, the commit), the whole batch is rolled
//!   back and every operation in it gets an error: nothing it did is on disk.
//! - An operation whose caller has gone away (its request was dropped) before the batch
//!   starts is skipped and writes nothing.
//! - A panic in a batch (in a driver, say) rolls that batch back and its callers get an
//!   error; the writer goes on with the next batch. Here each batch runs in a task of its own
//!   for that.
//!
//! Other writers (administration, see `tx.rs`) keep their own transactions; they serialise
//! with the batches through the audit head's row lock (PostgreSQL) or the write gate and the
//! database's write lock (SQLite).

mod uses;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use latchkey_core::audit::{AuditDraft, AuditRecord};
use latchkey_core::authn::store::TokenUse;
use latchkey_core::store::StoreError;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::SqlStore;
use crate::codec;
use crate::error::map_db;
use crate::tx::{chain_subject, insert_record};

/// Operations a batch holds at most on PostgreSQL: each operation is a subtransaction, and a
/// transaction with more than 64 subtransactions overflows PostgreSQL's per-backend cache
/// of them (`PGPROC_MAX_CACHED_SUBXIDS`), which slows every other session's snapshots.
pub(crate) const POSTGRES_BATCH: usize = 64;
/// Operations waiting for the writer at most; further callers wait to enqueue.
pub(crate) const QUEUE: usize = 512;

/// The future of one batched operation.
pub(crate) type OpFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The batch's transaction as one operation sees it: a connection inside the operation's
/// savepoint, and the audit chain to append to.
pub(crate) struct BatchTx {
    tx: Transaction<'static, Any>,
    /// The chain's last sequence number and hash, including this batch's records so far.
    seq: i64,
    hash: String,
    /// `audit_head` holds `seq` and `hash` already (written with the uses' records).
    head_written: bool,
}

impl BatchTx {
    /// The connection to run the operation's statements on.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Appends `d` to the audit chain after the batch's previous record.
    pub(crate) async fn append(&mut self, d: &AuditDraft) -> Result<AuditRecord, StoreError> {
        let seq = self
            .seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("audit sequence number overflow".to_owned()))?;
        let record = insert_record(&mut self.tx, seq, self.hash.clone(), d).await?;
        self.seq = seq;
        self.hash.clone_from(&record.hash);
        Ok(record)
    }
}

/// Counters of the group-commit writer since the store was connected (all clones of a
/// [`SqlStore`] share them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Batches run, committed or not.
    pub batches: u64,
    /// Operations run in them, including those that failed or found nothing to do.
    pub operations: u64,
    /// The most operations one batch held.
    pub largest_batch: u64,
    /// Batches that failed as a whole (every operation in them got an error).
    pub failed_batches: u64,
    /// Operations waiting for the writer right now.
    pub queued: u64,
}

/// The live counters behind [`GroupCommitStats`] (also kept by the SQLite writer,
/// `lite/writer.rs`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    batches: AtomicU64,
    operations: AtomicU64,
    largest_batch: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
}

impl Counters {
    /// Counts a batch of `n` operations as it starts.
    pub(crate) fn count_batch(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.operations.fetch_add(n, Ordering::Relaxed);
        self.largest_batch.fetch_max(n, Ordering::Relaxed);
    }

    /// The counters now, with `queued` operations waiting.
    pub(crate) fn snapshot(&self, queued: u64) -> GroupCommitStats {
        GroupCommitStats {
            batches: self.batches.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
            queued,
        }
    }
}

/// A queued operation with its answer channel, its type erased.
trait Job: Send {
    /// The caller stopped waiting.
    fn abandoned(&self) -> bool;
    /// Runs the operation; `true` when it succeeded (its writes are to be kept).
    fn run<'a>(
        &'a mut self,
        tx: &'a mut BatchTx,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
    /// Answers the caller once the batch ended: committed (`Ok`) or rolled back (`Err`).
    fn finish(self: Box<Self>, batch: Result<(), &StoreError>);
}

/// A queued operation and its answer channel, for either writer (this one's operations are
/// futures on a `BatchTx`, SQLite's plain functions on a `LiteBatch`).
pub(crate) struct Pending<T, F> {
    op: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending<T, F> {
    /// `op`, and where its answer will arrive.
    pub(crate) fn new(op: F) -> (Self, oneshot::Receiver<Result<T, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            op: Some(op),
            result: None,
            reply,
        };
        (pending, answer)
    }

    /// The caller stopped waiting.
    pub(crate) fn caller_left(&self) -> bool {
        self.reply.is_closed()
    }

    /// The operation, once (`None` if it was taken already).
    pub(crate) fn take_op(&mut self) -> Option<F> {
        self.op.take()
    }

    /// Keeps what the operation returned; `true` when it succeeded (its writes stay).
    pub(crate) fn settle(&mut self, result: Result<T, StoreError>) -> bool {
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    /// Answers the caller once the batch ended: committed (`Ok`) or rolled back (`Err`).
    pub(crate) fn answer_with(self, batch: Result<(), &StoreError>) {
        // The caller may have gone away meanwhile; then nobody needs the answer.
        let _ = self.reply.send(answer(self.result, batch));
    }
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut BatchTx) -> OpFuture<'a, T> + Send + 'static,
{
    fn abandoned(&self) -> bool {
        self.caller_left()
    }

    fn run<'a>(
        &'a mut self,
        tx: &'a mut BatchTx,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            match self.take_op() {
                Some(op) => {
                    let result = op(tx).await;
                    self.settle(result)
                }
                None => false,
            }
        })
    }

    fn finish(self: Box<Self>, batch: Result<(), &StoreError>) {
        self.answer_with(batch);
    }
}

/// What the caller of an operation hears: its `result` (if it ran) in a batch that ended
/// with `batch`.
fn answer<T>(
    result: Option<Result<T, StoreError>>,
    batch: Result<(), &StoreError>,
) -> Result<T, StoreError> {
    match (result, batch) {
        // The operation's own failure (it was rolled back to its savepoint).
        (Some(Err(e)), _) => Err(e),
        (Some(Ok(v)), Ok(())) => Ok(v),
        // Succeeded in a batch that did not commit, or not run at all: nothing of it is
        // on disk.
        (Some(Ok(_)) | None, Err(e)) => Err(copy_error(e)),
        (None, Ok(())) => Err(StoreError::Backend(
            "the operation was not run by its batch".to_owned(),
        )),
    }
}

/// The same error for another caller of the batch.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        StoreError::Backend(m) => StoreError::Backend(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
    }
}

pub(crate) fn writer_stopped() -> StoreError {
    StoreError::Backend("the store's writer has stopped or dropped the operation".to_owned())
}

/// Opens a batch's transaction.
const BEGIN: &str = "BEGIN";
/// Reads the head and holds its row lock for the batch: the same head-first lock order as
/// every other writer, so writers cannot deadlock.
const LOCK_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";

/// What waits for the writer: an operation (a closure run in its own savepoint) or a token
/// use (data, applied together with the batch's other uses: `uses.rs`).
enum Queued {
    Op(Box<dyn Job>),
    Use(Box<uses::UseJob>),
}

impl Queued {
    fn abandoned(&self) -> bool {
        match self {
            Queued::Op(job) => job.abandoned(),
            Queued::Use(job) => job.abandoned(),
        }
    }
}

/// The group-commit writer of one store (shared by its clones); started on first use.
pub(crate) struct Group {
    sender: OnceLock<mpsc::Sender<Queued>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("started", &self.sender.get().is_some())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Group {
    pub(crate) fn new() -> Group {
        Group {
            sender: OnceLock::new(),
            counters: Arc::default(),
        }
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        let queued = self.sender.get().map_or(0, |s| {
            u64::try_from(s.max_capacity().saturating_sub(s.capacity())).unwrap_or(u64::MAX)
        });
        self.counters.snapshot(queued)
    }
}

impl SqlStore {
    /// Runs `op` in the next group-commit batch and returns its result once the batch has
    /// committed (an error if it did not).
    ///
    /// `op` runs inside its own savepoint: an `Err` rolls back everything it wrote (its audit
    /// records included), an `Ok` keeps everything, so an operation that has nothing to do
    /// must return before writing. `op` must not use the store's other write methods (the
    /// batch holds the writer connection).
    pub(crate) async fn batched<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut BatchTx) -> OpFuture<'a, T> + Send + 'static,
    {
        self.not_on_sqlite()?;
        let sender = self.group_sender()?;
        let (pending, answer) = Pending::new(op);
        let job: Box<dyn Job> = Box::new(pending);
        sender
            .send(Queued::Op(job))
            .await
            .map_err(|_| writer_stopped())?;
        answer.await.map_err(|_| writer_stopped())?
    }

    /// `AuthnStore::commit_token_use` in the next batch (`uses.rs`): `true` once the batch
    /// that applied it has committed, `false` when another use of the token won.
    pub(crate) async fn batched_use(
        &self,
        token_use: TokenUse,
        counter: i64,
        audit: AuditDraft,
    ) -> Result<bool, StoreError> {
        self.not_on_sqlite()?;
        let sender = self.group_sender()?;
        let (reply, answer) = oneshot::channel();
        let job = uses::UseJob::new(token_use, counter, audit, reply);
        sender
            .send(Queued::Use(Box::new(job)))
            .await
            .map_err(|_| writer_stopped())?;
        answer.await.map_err(|_| writer_stopped())?
    }

    /// Counters of the group-commit writer (for tests, metrics and the curious).
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        match &self.lite {
            Some(lite) => lite.writer.stats(),
            None => self.group.stats(),
        }
    }

    /// SQLite's batches belong to its own writer (`lite/writer.rs`): a second writer on sqlx's
    /// connection would only contend with it.
    fn not_on_sqlite(&self) -> Result<(), StoreError> {
        match self.lite {
            Some(_) => Err(StoreError::Backend(
                "group commit on SQLite goes through the SQLite writer".to_owned(),
            )),
            None => Ok(()),
        }
    }

    /// The writer's queue, starting the writer on the current tokio runtime at first use.
    fn group_sender(&self) -> Result<&mpsc::Sender<Queued>, StoreError> {
        if let Some(s) = self.group.sender.get() {
            return Ok(s);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Backend("the store must be used on a tokio runtime".to_owned())
        })?;
        Ok(self.group.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            runtime.spawn(writer(
                self.writer.clone(),
                Arc::clone(&self.group.counters),
                receiver,
            ));
            sender
        }))
    }
}

/// The writer task: batch after batch until every sender is gone.
async fn writer(pool: AnyPool, counters: Arc<Counters>, mut queue: mpsc::Receiver<Queued>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(POSTGRES_BATCH);
    // Waits for one operation, then takes what else is queued (up to the cap) at once.
    while queue.recv_many(&mut batch, POSTGRES_BATCH).await > 0 {
        batch.retain(|job| !job.abandoned());
        if batch.is_empty() {
            continue;
        }
        let n = batch.len();
        counters.count_batch(n);
        let mut jobs = Jobs::default();
        for job in batch.drain(..) {
            match job {
                Queued::Op(op) => jobs.ops.push(op),
                Queued::Use(u) => jobs.uses.push(*u),
            }
        }
        // A task of its own, so that a panic in one batch (in a driver, say) costs that batch
        // (rolled back, its callers get an error) and not the writer.
        let run = tokio::spawn(run_and_answer(pool.clone(), Arc::clone(&counters), jobs));
        if let Err(e) = run.await {
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, operations = n, "group commit batch panicked");
        }
    }
}

/// A batch's work: the token uses, then the other operations.
#[derive(Default)]
struct Jobs {
    uses: Vec<uses::UseJob>,
    ops: Vec<Box<dyn Job>>,
}

/// Runs one batch and answers its callers.
async fn run_and_answer(pool: AnyPool, counters: Arc<Counters>, mut jobs: Jobs) {
    let outcome = run_batch(&pool, &mut jobs).await;
    if let Err(e) = &outcome {
        counters.failed_batches.fetch_add(1, Ordering::Relaxed);
        let n = jobs.uses.len() + jobs.ops.len();
        tracing::warn!(error = %e, operations = n, "group commit batch rolled back");
    }
    for job in jobs.uses {
        job.finish(outcome.as_ref().copied());
    }
    for job in jobs.ops {
        job.finish(outcome.as_ref().copied());
    }
}

async fn exec(conn: &mut AnyConnection, sql: &'static str) -> Result<(), StoreError> {
    conn.execute(sql)
        .await
        .map(|_| ())
        .map_err(|e| map_db(e, || format!("group commit ({sql})"), ""))
}

/// One transaction for `jobs`; `Err` when it did not commit.
async fn run_batch(pool: &AnyPool, jobs: &mut Jobs) -> Result<(), StoreError> {
    let mut batch = begin(pool).await?;
    let start = batch.seq;
    // The uses first: with no other operation in the batch their records also move the head.
    let last = jobs.ops.is_empty();
    if let Err(e) = uses::apply_together(&mut batch, &mut jobs.uses, last).await {
        // Nothing of the batch is kept but the uses' failure: start again, one by one.
        tracing::warn!(error = %e, uses = jobs.uses.len(), "token uses applied one by one");
        // Rolled back now, not when the pool gets round to it: until then the old
        // transaction holds the audit head the new one is about to wait for.
        batch
            .tx
            .rollback()
            .await
            .map_err(|e| map_db(e, || "rollback".to_owned(), ""))?;
        batch = begin(pool).await?;
        for u in &mut jobs.uses {
            uses::apply_alone(&mut batch, u).await?;
        }
    }
    for job in &mut jobs.ops {
        exec(batch.conn(), "SAVEPOINT lk_op").await?;
        let (seq, hash) = (batch.seq, batch.hash.clone());
        if job.run(&mut batch).await {
            exec(batch.conn(), "RELEASE SAVEPOINT lk_op").await?;
        } else {
            // A savepoint that cannot be rolled back fails the batch: nothing of it is kept.
            exec(batch.conn(), "ROLLBACK TO SAVEPOINT lk_op").await?;
            exec(batch.conn(), "RELEASE SAVEPOINT lk_op").await?;
            batch.seq = seq;
            batch.hash = hash;
        }
    }
    if batch.seq != start && !batch.head_written {
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(batch.seq)
            .bind(&batch.hash)
            .execute(&mut *batch.tx)
            .await
            .map_err(|e| map_db(e, chain_subject, ""))?;
    }
    batch
        .tx
        .commit()
        .await
        .map_err(|e| map_db(e, || "commit".to_owned(), ""))
}

/// Opens a batch's transaction and takes the audit head (dropping the result without
/// committing rolls it back).
async fn begin(pool: &AnyPool) -> Result<BatchTx, StoreError> {
    let mut tx = pool
        .begin_with(BEGIN)
        .await
        .map_err(|e| map_db(e, || "begin transaction".to_owned(), ""))?;
    let row = sqlx::query(LOCK_HEAD)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| map_db(e, chain_subject, ""))?
        .ok_or_else(|| StoreError::Corrupt("audit_head row is missing".to_owned()))?;
    let head = codec::audit_head(&row)?;
    Ok(BatchTx {
        tx,
        seq: head.seq,
        hash: head.hash,
        head_written: false,
    })
}
