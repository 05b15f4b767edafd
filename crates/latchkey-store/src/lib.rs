//! SQL storage for Latchkey: one [`SqlStore`] implementing
//! [`latchkey_core::store::Store`] and [`latchkey_core::authn::store::AuthnStore`] on SQLite
//! and PostgreSQL through sqlx's `Any` driver, with the authentication hot path of SQLite on
//! `rusqlite` (`lite/`).
//!
//! Two databases, one contract: each backend has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`, kept equivalent), every shared query is one SQL
//! text run unchanged on both (numbered `$1, $2…` placeholders, which sqlx-sqlite and `lite/`
//! bind by name), and one conformance suite (`tests/store/`) runs on both. Backend
//! differences live in [`SqlStore::connect`] (pools, pragmas, migrations, the `BEGIN`
//! statement), in the migrations, in `lite/` (SQLite's hot path) and in `group/uses.rs`
//! (PostgreSQL's batched token uses).
//!
//! Invariants:
//! - Every change is written in one transaction together with its audit record; the record is
//!   appended first (`UPDATE audit_head … RETURNING`), which takes the head's row or write
//!   lock, so writers are serialised, sequence numbers have no gaps, the chain never forks,
//!   and writers cannot deadlock on each other (every writer locks the head first). A write
//!   whose record depends on its result reserves the sequence number (taking the head's
//!   lock) first and writes the record before committing.
//! - A failed change (conflict, missing row, anything) rolls back, so it writes nothing —
//!   not even its audit record.
//! - The writes of authentication ([`latchkey_core::authn::store::AuthnStore`]) are group
//!   committed (`group/`; on SQLite `lite/writer.rs`): concurrent ones share one transaction,
//!   a failing one writes nothing and leaves the others alone (a savepoint each; PostgreSQL's
//!   token uses are applied together and retried one by one when that fails), and each
//!   caller gets its answer only after that transaction committed. Administrative writes keep
//!   a transaction each.
//! - Error messages never contain bound values (sealed seeds, PIN verifiers, key hashes) or a
//!   database password: constraint violations are recognised by their sqlx error kind and
//!   described by the object concerned, and database messages that may echo input
//!   (PostgreSQL class 22) are replaced by their SQLSTATE.
//! - Integers are stored as 64-bit signed values; a `u64` that does not fit (a token counter
//!   above `i64::MAX`) is refused, never wrapped.
//! - SQLite: WAL, `synchronous=FULL` (a committed change survives power loss),
//!   `foreign_keys=ON`, `busy_timeout=5000`, no `mmap`; administrative writes go through one
//!   single-connection sqlx writer pool and authentication writes through the `rusqlite`
//!   writer thread, each `BEGIN IMMEDIATE` after taking the shared write gate; reads through
//!   a separate reader pool and the `rusqlite` fast reads. A database file created by this
//!   crate has mode 0600.
//! - Lists come back in a stable, identical order on both backends: names, logins and serials
//!   use the `"C"` collation in PostgreSQL and `BINARY` in SQLite (code-point order).
//!
//! Notes:
//! - Schema: integers are `BIGINT`/`INTEGER` only and booleans are 0/1 integers, the types
//!   `Any` carries identically on both; enums are stored as their serde names, phones and
//!   policies (the inner value; the column names the kind) as JSON text. SQLite tables are
//!   `STRICT` (SQLite 3.37 or later; the bundled library is newer).
//! - Values the schema cannot hold (a counter above `i64::MAX`, a policy value of another
//!   kind than the column) are refused with [`StoreError::Corrupt`], which the core reports
//!   as an internal error: they are caller bugs, not outages.
//! - Domain filters are sent as `IN ($1, …)` lists of up to 500 ids; longer filters are
//!   applied after reading.
//! - [`sqlx::any::install_default_drivers`] is called on every connect (it is guarded by a
//!   `Once`); a program must not install a different driver set itself.

mod authn;
mod codec;
mod console;
mod delivery;
mod emergency;
mod error;
mod group;
mod lite;
mod offline;
mod providers;
mod store;
mod tx;

pub use group::GroupCommitStats;
pub use lite::checkpoint::CheckpointStats;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use latchkey_core::store::StoreError;

use crate::error::map_db;
use crate::group::Group;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Pragmas run on every SQLite connection (writer and readers).
/// `busy_timeout` comes first so that the others wait for a lock instead of failing.
/// No `mmap_size`: SQLite unmaps a connection's whole mapping at the start of every read
/// transaction after another connection changed the database, so under a steady stream of
/// authentications every read paid for an `munmap` (with its TLB shootdown) and page faults
/// (measured in docs/benchmarks.md); `pread` from the OS page cache is cheaper.
/// `wal_autocheckpoint = 10000` (`lite::checkpoint::SAFETY_NET`): the checkpoint thread
/// (`lite/checkpoint.rs`) checkpoints from 1,000 frames; a `COMMIT` does only if it falls
/// behind.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA wal_autocheckpoint = 10000; \
     PRAGMA foreign_keys = ON;";

/// Which database a [`SqlStore`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The Latchkey store over SQLite or PostgreSQL.
///
/// Cheap to clone (the pools are shared).
#[derive(Clone, Debug)]
pub struct SqlStore {
    /// All writes and transactions. SQLite: one connection.
    writer: AnyPool,
    /// Reads. PostgreSQL: the same pool as `writer`.
    reader: AnyPool,
    backend: Backend,
    /// PostgreSQL: the group-commit writer of authentication writes (`group/`).
    group: Arc<Group>,
    /// SQLite: the authentication hot path on `rusqlite` (`lite/`).
    lite: Option<Arc<Lite>>,
}

/// The SQLite paths that bypass sqlx (`lite/`).
#[derive(Debug)]
struct Lite {
    /// The reads of the authentication hot path, on the calling thread.
    reads: lite::reads::FastReads,
    /// The group-commit writer of authentication writes.
    writer: lite::writer::LiteWriter,
    /// Taken by every SQLite write transaction of either connection.
    gate: lite::WriteGate,
    /// Runs the WAL checkpoints that no connection runs itself.
    checkpoints: lite::checkpoint::Checkpointer,
}

impl SqlStore {
    /// Connects to `sqlite://PATH` (the file is created, mode 0600, if missing) or
    /// `postgres://…` / `postgresql://…`, and brings the schema up to date (embedded
    /// migrations; on PostgreSQL sqlx holds an advisory lock, so nodes starting together
    /// migrate once).
    ///
    /// An unreachable server is retried for up to 30 seconds before this fails. Errors never
    /// repeat the URL (which may hold a password).
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        // Idempotent: sqlx guards the installation with a `Once`.
        install_default_drivers();
        let backend = match scheme_of(url) {
            Some("sqlite") => Backend::Sqlite,
            Some("postgres" | "postgresql") => Backend::Postgres,
            Some(other) => {
                return Err(StoreError::Backend(format!(
                    "unsupported database URL scheme {other:?} \
                     (expected sqlite://, postgres:// or postgresql://)"
                )));
            }
            None => {
                return Err(StoreError::Backend(
                    "database URL has no scheme (expected sqlite://, postgres:// or \
                     postgresql://)"
                        .to_owned(),
                ));
            }
        };
        let store = match backend {
            Backend::Sqlite => Self::connect_sqlite(url).await?,
            Backend::Postgres => Self::connect_postgres(url).await?,
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        if let Err(e) = migrator.run(&store.writer).await {
            store.close().await;
            return Err(StoreError::Backend(format!("schema migration failed: {e}")));
        }
        tracing::debug!(backend = store.backend(), "store connected");
        Ok(store)
    }

    async fn connect_sqlite(url: &str) -> Result<SqlStore, StoreError> {
        let path = sqlite_path(url)?;
        create_private_file(&path)?;
        let options = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(30))
                // A file has no other end that could hang up: the ping sqlx sends before
                // handing out each connection is a wasted round trip to the connection's
                // worker thread on every query (measured: about a quarter of the server's
                // CPU per authentication; see docs/benchmarks.md).
                .test_before_acquire(false)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(sqlx::raw_sql(SQLITE_PRAGMAS)).await?;
                        Ok(())
                    })
                })
        };
        // The writer connects first, so WAL is switched on before any reader opens the file.
        let writer = options(1)
            .connect(url)
            .await
            .map_err(|e| map_db(e, || "SQLite database".to_owned(), ""))?;
        let reader = options(4)
            .connect(url)
            .await
            .map_err(|e| map_db(e, || "SQLite database".to_owned(), ""))?;
        let gate = lite::WriteGate::default();
        let started = lite::checkpoint::Checkpointer::start(
            &path,
            Arc::clone(&gate),
            lite::checkpoint::INTERVAL,
        )
        .and_then(|ckpt| {
            lite::writer::LiteWriter::start(&path, Arc::clone(&gate)).map(|w| (w, ckpt))
        });
        let (lite_writer, checkpoints) = match started {
            Ok(both) => both,
            Err(e) => {
                writer.close().await;
                reader.close().await;
                return Err(e);
            }
        };
        Ok(SqlStore {
            writer,
            reader,
            backend: Backend::Sqlite,
            group: Arc::new(Group::new()),
            lite: Some(Arc::new(Lite {
                reads: lite::reads::FastReads::new(&path),
                writer: lite_writer,
                gate,
                checkpoints,
            })),
        })
    }

    async fn connect_postgres(url: &str) -> Result<SqlStore, StoreError> {
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|e| map_db(e, || "PostgreSQL database".to_owned(), ""))?;
        Ok(SqlStore {
            writer: pool.clone(),
            reader: pool,
            backend: Backend::Postgres,
            group: Arc::new(Group::new()),
            lite: None,
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Counters of the WAL checkpoint thread (SQLite; `None` on PostgreSQL).
    pub fn checkpoint_stats(&self) -> Option<CheckpointStats> {
        self.lite.as_ref().map(|l| l.checkpoints.stats())
    }

    /// Closes every connection; waits for those in use to be returned.
    pub async fn close(&self) {
        if let Some(lite) = &self.lite {
            lite.writer.close().await;
            let lite = Arc::clone(lite);
            // Joins the thread, which may be inside a checkpoint for some milliseconds.
            let _ = tokio::task::spawn_blocking(move || lite.checkpoints.stop()).await;
        }
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Runs SQL text as is (several statements allowed) on the writer connection and returns
    /// the number of rows affected.
    ///
    /// For tests and operator tooling only: it bypasses the audit chain and every check of
    /// the [`Store`](latchkey_core::store::Store) contract.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await;
        let done = self
            .writer
            .execute(sqlx::raw_sql(sql))
            .await
            .map_err(|e| map_db(e, || "raw statement".to_owned(), ""))?;
        Ok(done.rows_affected())
    }

    /// The statement that opens a write transaction. SQLite takes the write lock at once
    /// (`IMMEDIATE`), so a transaction never has to upgrade a read lock.
    fn begin_statement(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }
}

/// The scheme of a URL (the text before the first `:`), if it looks like one.
fn scheme_of(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// The file named by a `sqlite:` URL, parsed the way sqlx parses it.
fn sqlite_path(url: &str) -> Result<std::path::PathBuf, StoreError> {
    use std::str::FromStr;
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Backend(format!("invalid SQLite URL: {e}")))?;
    let path = opts.get_filename().to_path_buf();
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" || url.contains(":memory:") {
        return Err(StoreError::Backend(
            "an in-memory SQLite database is not supported: name a file (sqlite://PATH)".to_owned(),
        ));
    }
    Ok(path)
}

/// Creates the database file with mode 0600 unless it exists.
fn create_private_file(path: &std::path::Path) -> Result<(), StoreError> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot create SQLite database file {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_checkpoint_only_as_a_safety_net() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let s = SqlStore::connect(&url).await.unwrap();
        for pool in [&s.writer, &s.reader] {
            let n: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(n, lite::checkpoint::SAFETY_NET);
        }
        s.close().await;
    }

    #[test]
    fn scheme_is_found_without_the_rest_of_the_url() {
        assert_eq!(scheme_of("sqlite:///tmp/x.db"), Some("sqlite"));
        assert_eq!(scheme_of("postgres://u:pw@h/db"), Some("postgres"));
        assert_eq!(scheme_of("mysql://root:hunter2@db/x"), Some("mysql"));
        assert_eq!(scheme_of("/just/a/path"), None);
        assert_eq!(scheme_of("no scheme: here"), None);
    }

    /// The whole store relies on sqlx-sqlite binding `$N` by number (through
    /// `sqlite3_bind_parameter_name`), including reuse and out-of-order use.
    #[tokio::test]
    async fn sqlite_binds_numbered_placeholders_through_any() {
        use sqlx::Row;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        let row = sqlx::query("SELECT $2 AS b, $1 AS a, $1 + 1 AS c, $3 AS d")
            .bind(41_i64)
            .bind("two")
            .bind(vec![0_u8, 255])
            .fetch_one(&store.reader)
            .await
            .unwrap();
        assert_eq!(row.try_get::<String, _>("b").unwrap(), "two");
        assert_eq!(row.try_get::<i64, _>("a").unwrap(), 41);
        assert_eq!(row.try_get::<i64, _>("c").unwrap(), 42);
        assert_eq!(row.try_get::<Vec<u8>, _>("d").unwrap(), vec![0, 255]);
        store.close().await;
    }

    #[test]
    fn sqlite_paths_parse_like_sqlx() {
        assert_eq!(
            sqlite_path("sqlite:///tmp/a.db").unwrap(),
            std::path::PathBuf::from("/tmp/a.db")
        );
        assert_eq!(
            sqlite_path("sqlite://rel.db?mode=rwc").unwrap(),
            std::path::PathBuf::from("rel.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
