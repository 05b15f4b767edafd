//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that takes the WAL past 1,000 pages,
//! on the committing connection — under authentication load, the group-commit writer. That
//! `COMMIT` copied the WAL's pages into the database file and synced it before returning: the
//! writer was on the CPU for 3–8 ms and then waited for the disk, every 100–200 ms at half the
//! peak load, and every request that arrived meanwhile waited too (docs/benchmarks.md,
//! 2026-12-07). So this thread checkpoints instead, every [`INTERVAL`], in two steps:
//!
//! 1. Without any lock a writer needs: a `PASSIVE` checkpoint copies what is committed, then
//!    the thread `fdatasync`s the database file itself when something new was copied, so the
//!    pages are on disk before step 2. Writers go on meanwhile.
//! 2. When the WAL holds [`COMPLETE_AT`] frames or more, the thread takes the in-process
//!    [`WriteGate`] — so neither writer can commit — and runs a `RESTART` checkpoint: it copies
//!    the few frames committed since step 1, syncs a database file that has little left to
//!    write, and waits until no reader reads from the WAL any more (readers take
//!    microseconds), so that the next writer starts the WAL over from its beginning. Step 1
//!    alone cannot do that: under load some reader is always inside the WAL when a writer
//!    begins, and SQLite starts the WAL over only when none is. Measured: with step 1 alone,
//!    every tick copied the whole WAL and still the WAL grew to the safety net's 10,000
//!    frames.
//!
//! The writers' pause is step 2 alone, not the whole copy and sync.
//!
//! Invariants:
//! - Durability is SQLite's own: a checkpoint syncs the WAL before copying and the database
//!   after; the extra sync of step 1 only writes earlier what SQLite would sync anyway.
//! - The connections keep `wal_autocheckpoint` at [`SAFETY_NET`] frames, ten times
//!   [`COMPLETE_AT`]: if this thread falls behind or stops, the committing connection
//!   checkpoints as SQLite always does, and the WAL stays bounded.
//! - The gate is held only for step 2, and taken like the writers take it (fair, in order);
//!   step 2 waits at most [`RESTART_WAIT`] for readers (an administrator's long read, say),
//!   looking again every [`READER_POLL`], and then leaves the restart to a later tick.
//! - A failed checkpoint is logged and retried at the next tick; nothing is lost.

use std::cell::Cell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use latchkey_core::store::StoreError;
use rusqlite::Connection;

use super::{WriteGate, map_lite};

/// Time between two checkpoints.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);
/// WAL frames from which the WAL is started over under the write gate (SQLite's own automatic
/// checkpoint threshold).
pub(crate) const COMPLETE_AT: i64 = 1_000;
/// How long step 2 waits, holding the write gate, for readers to leave the WAL.
pub(crate) const RESTART_WAIT: Duration = Duration::from_millis(5);
/// How often step 2 looks again whether the readers have left the WAL.
const READER_POLL: Duration = Duration::from_micros(50);
/// `wal_autocheckpoint` of every connection: the fallback should this thread fall behind.
pub(crate) const SAFETY_NET: i64 = 10 * COMPLETE_AT;

/// What the checkpoint thread of a SQLite store did so far
/// ([`crate::SqlStore::checkpoint_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Ticks run.
    pub runs: u64,
    /// `RESTART` checkpoints tried under the write gate (step 2). One that a reader kept
    /// from finishing within its wait counts too: the next tick tries again.
    pub gated_restarts_tried: u64,
    /// Checkpoints or syncs that failed (retried at the next tick).
    pub failures: u64,
    /// Frames in the WAL at the end of the last tick.
    pub last_log: u64,
    /// Of those, the frames copied into the database file.
    pub last_copied: u64,
}

#[derive(Debug, Default)]
struct Counters {
    runs: AtomicU64,
    gated_restarts_tried: AtomicU64,
    failures: AtomicU64,
    last_log: AtomicU64,
    last_copied: AtomicU64,
}

/// The checkpoint thread of one store.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    /// Dropping the sender stops the thread.
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl Checkpointer {
    /// Opens the thread's connection to the database at `path` (errors are reported here) and
    /// starts it, checkpointing every `every`.
    pub(crate) fn start(
        path: &Path,
        gate: WriteGate,
        every: Duration,
    ) -> Result<Checkpointer, StoreError> {
        let ckpt = Ckpt::open(path, gate)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let counters = Arc::<Counters>::default();
        let shared = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("lk-sqlite-ckpt".to_owned())
            .spawn(move || {
                // Any message or a dropped sender stops the thread.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    ckpt.tick(&shared);
                }
            })
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the SQLite checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
            counters,
        })
    }

    pub(crate) fn stats(&self) -> CheckpointStats {
        let c = &self.counters;
        CheckpointStats {
            runs: c.runs.load(Ordering::Acquire),
            gated_restarts_tried: c.gated_restarts_tried.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            last_log: c.last_log.load(Ordering::Relaxed),
            last_copied: c.last_copied.load(Ordering::Relaxed),
        }
    }

    /// Stops the thread after its current tick and closes its connection. Idempotent.
    pub(crate) fn stop(&self) {
        drop(
            self.stop
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread
            && t.join().is_err()
        {
            tracing::error!("the SQLite checkpoint thread panicked");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one tick works with.
struct Ckpt {
    conn: Connection,
    /// The database file, for the sync of step 1.
    db: File,
    db_path: PathBuf,
    gate: WriteGate,
    /// Frames copied as of the last sync of the database file by step 1.
    synced: Cell<i64>,
}

/// The checkpoint connection's busy handler: `true` to try again after [`READER_POLL`],
/// `false` to give up (`SQLITE_BUSY`) once [`RESTART_WAIT`] has passed since the first call
/// for the same lock (`tries == 0`).
fn wait_for_readers(tries: i32) -> bool {
    thread_local! {
        static SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    #[cfg(test)]
    tests::READER_POLLS.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    if tries == 0 {
        SINCE.set(Some(now));
    }
    let since = SINCE.get().unwrap_or(now);
    if now.saturating_duration_since(since) >= RESTART_WAIT {
        return false;
    }
    // A real wait for other connections on a thread of its own, not a timer of the product's
    // logic: there is no clock to move.
    #[expect(clippy::disallowed_methods, reason = "waiting for SQLite readers")]
    std::thread::sleep(READER_POLL);
    true
}

impl Ckpt {
    fn open(path: &Path, gate: WriteGate) -> Result<Ckpt, StoreError> {
        let subject = || "SQLite database (checkpoints)".to_owned();
        let conn = super::open(
            path,
            RESTART_WAIT,
            &format!("PRAGMA wal_autocheckpoint = {SAFETY_NET};"),
            subject,
        )?;
        // Step 2 waits for readers still in the WAL while it holds the gate: readers of the
        // authentication path take microseconds, but an administrator's long read must not
        // hold every write up. After [`RESTART_WAIT`] step 2 gives up until the next tick.
        // This handler replaces the busy timeout `open` set: SQLite's own sleeps 1 ms, then
        // 2 ms, then the rest, so a reader that left the WAL after a few microseconds cost
        // step 2 a whole millisecond with the gate held (docs/benchmarks.md, 2026-12-07).
        conn.busy_handler(Some(wait_for_readers))
            .map_err(|e| map_lite(&e, subject, ""))?;
        // SQLite's own name for the file (symbolic links resolved).
        let db_path = PathBuf::from(conn.path().unwrap_or_default());
        let db = File::open(&db_path).map_err(|e| {
            StoreError::Backend(format!(
                "cannot open the SQLite database {} for checkpoints: {e}",
                db_path.display()
            ))
        })?;
        Ok(Ckpt {
            conn,
            db,
            db_path,
            gate,
            synced: Cell::new(0),
        })
    }

    /// One tick: steps 1 and 2 of the module comment; the outcome goes to the counters and,
    /// if something failed, the log.
    fn tick(&self, counters: &Counters) {
        // Release: whoever sees this count also sees the previous tick's figures.
        counters.runs.fetch_add(1, Ordering::Release);
        let outcome = self.copy().and_then(|(log, copied)| {
            if log >= COMPLETE_AT {
                counters
                    .gated_restarts_tried
                    .fetch_add(1, Ordering::Relaxed);
                self.finish()
            } else {
                Ok((log, copied))
            }
        });
        match outcome {
            Ok((log, copied)) => {
                let frames = |n: i64| u64::try_from(n).unwrap_or(0);
                counters.last_log.store(frames(log), Ordering::Relaxed);
                counters
                    .last_copied
                    .store(frames(copied), Ordering::Relaxed);
            }
            Err(e) => {
                counters.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "SQLite WAL checkpoint failed; retrying at the next tick");
            }
        }
    }

    /// Step 1: copies what is committed without holding writers back, and syncs the database
    /// file when something new was copied. Returns the WAL's frames and those copied so far.
    fn copy(&self) -> Result<(i64, i64), StoreError> {
        let (log, copied) = self.checkpoint("PASSIVE")?;
        let before = self.synced.replace(copied);
        if copied > 0 && copied != before {
            self.db.sync_data().map_err(|e| {
                StoreError::Backend(format!(
                    "cannot sync the SQLite database {}: {e}",
                    self.db_path.display()
                ))
            })?;
        }
        Ok((log, copied))
    }

    /// Step 2: with the write gate held, copies the rest, syncs, and waits for the readers to
    /// leave the WAL, so that the next writer starts it over.
    fn finish(&self) -> Result<(i64, i64), StoreError> {
        let _turn = self.gate.blocking_lock();
        let done = self.checkpoint("RESTART")?;
        self.synced.set(done.1);
        Ok(done)
    }

    /// `PRAGMA wal_checkpoint(MODE)`: the WAL's frames and those copied.
    fn checkpoint(&self, mode: &'static str) -> Result<(i64, i64), StoreError> {
        let subject = || format!("SQLite {mode} checkpoint");
        let (_blocked, log, copied) = self
            .conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| map_lite(&e, subject, ""))?;
        // A checkpoint held back by a reader reports itself blocked: the passive step
        // whenever a reader limits it (what step 2 is for), step 2 when a reader stayed in the
        // WAL longer than `RESTART_WAIT`. Neither is a failure: the next tick tries again.
        Ok((log, copied))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Calls of [`wait_for_readers`] in this test process (all tests add to it).
    pub(super) static READER_POLLS: AtomicU64 = AtomicU64::new(0);

    fn wal_database(dir: &Path) -> (PathBuf, Connection) {
        let path = dir.join("c.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE t (x BLOB);",
            )
            .unwrap();
        // The empty table in the file itself, so that a copy of the file can be read.
        writer
            .query_row("PRAGMA wal_checkpoint", [], |_| Ok(()))
            .unwrap();
        (path, writer)
    }

    fn insert(writer: &Connection, n: usize) {
        for _ in 0..n {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                .unwrap();
        }
    }

    fn rows_in_file(dir: &Path, path: &Path) -> i64 {
        // A copy of the database file without its WAL: what checkpoints have copied.
        let copy = dir.join("copy.db");
        std::fs::copy(path, &copy).unwrap();
        Connection::open(&copy)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_tick_copies_every_commit_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path());
        insert(&writer, 10);
        // Nobody checkpointed: the file has none of the rows.
        assert_eq!(rows_in_file(dir.path(), &path), 0);
        let counters = Counters::default();
        let ckpt = Ckpt::open(&path, WriteGate::default()).unwrap();
        ckpt.tick(&counters);
        assert_eq!(rows_in_file(dir.path(), &path), 10);
        let log = counters.last_log.load(Ordering::Relaxed);
        assert!(log >= 10, "{counters:?}");
        assert_eq!(counters.last_copied.load(Ordering::Relaxed), log);
        // Small and finished by the passive step: the gate was not needed.
        assert_eq!(counters.gated_restarts_tried.load(Ordering::Relaxed), 0);
        assert_eq!(counters.failures.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_long_wal_is_started_over_under_the_gate_even_when_all_of_it_was_copied() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path());
        insert(&writer, usize::try_from(COMPLETE_AT).unwrap());
        let counters = Counters::default();
        let ckpt = Ckpt::open(&path, WriteGate::default()).unwrap();
        ckpt.tick(&counters);
        let log = counters.last_log.load(Ordering::Relaxed);
        assert!(log >= u64::try_from(COMPLETE_AT).unwrap(), "{counters:?}");
        assert_eq!(counters.last_copied.load(Ordering::Relaxed), log);
        assert_eq!(counters.gated_restarts_tried.load(Ordering::Relaxed), 1);
        assert_eq!(counters.failures.load(Ordering::Relaxed), 0);
        // The next commit writes at the WAL's beginning: the file does not grow.
        let wal = dir.path().join("c.db-wal");
        let before = std::fs::metadata(&wal).unwrap().len();
        insert(&writer, 1);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), before);
    }

    #[test]
    fn a_reader_that_stays_in_the_wal_holds_the_gated_step_up_only_briefly() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path());
        insert(&writer, usize::try_from(COMPLETE_AT).unwrap());
        // An administrator's long read, inside the WAL for the whole tick.
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let seen: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let counters = Counters::default();
        let ckpt = Ckpt::open(&path, WriteGate::default()).unwrap();
        let polls = READER_POLLS.load(Ordering::Relaxed);
        let started = std::time::Instant::now();
        ckpt.tick(&counters);
        // RESTART_WAIT is 5 ms; the bound leaves a slow machine 400 times that.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // It looked for the reader every READER_POLL, more often than the four looks of SQLite's
        // own handler (after 0, 1, 3 and 5 ms), even should every sleep overshoot to a
        // millisecond. Other tests only add to the count.
        let looked = READER_POLLS.load(Ordering::Relaxed) - polls;
        assert!(looked > 4, "{looked} polls");
        assert_eq!(counters.gated_restarts_tried.load(Ordering::Relaxed), 1);
        assert_eq!(counters.failures.load(Ordering::Relaxed), 0, "{counters:?}");
        // The reader still sees its snapshot; a later tick starts the WAL over.
        let still: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(still, seen);
        reader.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn what_the_passive_step_cannot_finish_the_gated_step_does() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path());
        insert(&writer, 10);
        // A reader of the snapshot after ten rows keeps the passive step from copying what
        // comes after it, as a writer committing during the copy would.
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let seen: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 10);
        insert(&writer, usize::try_from(COMPLETE_AT).unwrap());
        let ckpt = Ckpt::open(&path, WriteGate::default()).unwrap();
        let (log, copied) = ckpt.copy().unwrap();
        // Copied up to the reader's snapshot, not to the end. (The database file alone is not
        // a database until a checkpoint finishes: SQLite sets its size only then.)
        assert!(
            log >= COMPLETE_AT && copied > 0 && copied < log,
            "{log} {copied}"
        );
        reader.execute_batch("COMMIT").unwrap();
        let (log, copied) = ckpt.finish().unwrap();
        assert_eq!(copied, log);
        assert_eq!(rows_in_file(dir.path(), &path), 10 + COMPLETE_AT);
    }

    #[tokio::test]
    async fn the_thread_checkpoints_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = wal_database(dir.path());
        insert(&writer, 1);
        let ckpt =
            Checkpointer::start(&path, WriteGate::default(), Duration::from_millis(1)).unwrap();
        // Two ticks from now: one that began after the insert has ended.
        let after = ckpt.stats().runs + 2;
        for _ in 0..5000 {
            if ckpt.stats().runs >= after {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(ckpt.stats().runs >= after, "{:?}", ckpt.stats());
        ckpt.stop();
        ckpt.stop();
        let stopped = ckpt.stats().runs;
        assert_eq!(rows_in_file(dir.path(), &path), 1);
        assert_eq!(ckpt.stats().runs, stopped, "still running after stop");
        assert_eq!(ckpt.stats().failures, 0);
    }

    #[test]
    fn a_missing_database_is_an_error_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let err = Checkpointer::start(
            &dir.path().join("none/x.db"),
            WriteGate::default(),
            INTERVAL,
        )
        .unwrap_err();
        assert!(err.to_string().contains("checkpoints"), "{err}");
    }
}
