//! The SQLite fast read path: the two reads every authentication makes (the user by login,
//! the user's tokens) run on the calling thread through `rusqlite` (the parent module says
//! why). A read of a few pages that sit in the OS page cache takes microseconds, so running
//! it inline on an async worker costs less than the hand-off to a sqlx worker thread it
//! replaces.
//!
//! The connections are opened read-write but with `query_only`, so they can take part in WAL
//! (which needs the shared-memory index) and still never write. Each statement sees the latest
//! committed state, exactly like the sqlx readers. Only these reads use the path; every
//! other read stays on sqlx.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use latchkey_core::authn::store::AuthToken;
use latchkey_core::ids::UserId;
use latchkey_core::model::User;
use latchkey_core::store::StoreError;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{ColumnNames, LiteRow};
use crate::codec::{self, AUTH_TOKEN_COLS, USER_COLS};

/// Idle connections kept at most (more are opened under load and closed when returned).
const KEEP: usize = 4;

/// A pool of read-only `rusqlite` connections to one database file.
pub(crate) struct FastReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for FastReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastReads")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FastReads {
    /// Readers of the database at `path` (opened lazily).
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| read_error(&e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| read_error(&e))?;
        conn.execute_batch("PRAGMA query_only = ON;")
            .map_err(|e| read_error(&e))?;
        Ok(conn)
    }

    /// Runs `f` on an idle connection (or a new one), then returns the connection.
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < KEEP {
            idle.push(conn);
        }
        out
    }

    /// `Store::find_user_by_login`.
    pub(crate) fn find_user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        self.with(|c| user_by_login(c, login))
    }

    /// `AuthnStore::list_auth_tokens`.
    pub(crate) fn list_auth_tokens(&self, user: UserId) -> Result<Vec<AuthToken>, StoreError> {
        self.with(|c| auth_tokens(c, user))
    }

    /// `AuthnStore::find_user_with_tokens`: both reads in one read transaction, so they see
    /// one snapshot, and the second takes no lock and refills no page cache of its own.
    pub(crate) fn find_user_with_tokens(
        &self,
        login: &str,
    ) -> Result<Option<(User, Vec<AuthToken>)>, StoreError> {
        self.with(|c| {
            // Dropped without `commit` (an error), it ends the transaction all the same.
            let tx = c.unchecked_transaction().map_err(|e| read_error(&e))?;
            let found = match user_by_login(&tx, login)? {
                Some(user) => {
                    let tokens = auth_tokens(&tx, user.id)?;
                    Some((user, tokens))
                }
                None => None,
            };
            tx.commit().map_err(|e| read_error(&e))?;
            Ok(found)
        })
    }
}

static USER_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(USER_COLS));
static AUTH_TOKEN_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(AUTH_TOKEN_COLS));

fn user_by_login(c: &Connection, login: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE login = ?1");
    let mut st = c.prepare_cached(&sql).map_err(|e| read_error(&e))?;
    st.query_row([login], |row| {
        Ok(codec::user(&LiteRow::new(row, &USER_NAMES)))
    })
    .optional()
    .map_err(|e| read_error(&e))?
    .transpose()
}

fn auth_tokens(c: &Connection, user: UserId) -> Result<Vec<AuthToken>, StoreError> {
    let sql = format!("SELECT {AUTH_TOKEN_COLS} FROM tokens WHERE user_id = ?1 ORDER BY serial");
    let mut st = c.prepare_cached(&sql).map_err(|e| read_error(&e))?;
    let rows = st
        .query_map([user.0], |row| {
            Ok(codec::auth_token(&LiteRow::new(row, &AUTH_TOKEN_NAMES)))
        })
        .map_err(|e| read_error(&e))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(|e| read_error(&e))??);
    }
    Ok(out)
}

fn read_error(e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("SQLite read: {e}"))
}
