//! The SQLite fast read path: the reads of the authentication path run on the calling thread
//! through `rusqlite` (the parent module says why): the two every authentication makes (the
//! user by login, the user's tokens), and those a wrong passcode adds before it is counted
//! (the user's on-demand PIN, online and offline emergency credentials, emergency access
//! code; and a token's emergency grant, read when a valid code meets a token in emergency
//! access), so that a failure, what an attacker sends, costs no more hand-offs than a
//! success. A read of a few pages that sit in the OS page cache takes microseconds, so
//! running it inline on an async worker costs less than the hand-off to a sqlx worker thread
//! it replaces.
//!
//! The connections are opened read-write but with `query_only`, so they can take part in WAL
//! (which needs the shared-memory index) and still never write. Each statement sees the latest
//! committed state, exactly like the sqlx readers; a read of several statements runs them in
//! one read transaction, so they see one snapshot. The emergency and on-demand reads run the
//! sqlx path's SQL texts (`emergency.rs`, `delivery.rs`) and decoders (`codec.rs`). Only these
//! reads use the path; every other read stays on sqlx.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use latchkey_core::authn::store::AuthToken;
use latchkey_core::emergency::{Eac, OfflineEmergency, OnlineEmergency};
use latchkey_core::ids::{TokenId, UserId};
use latchkey_core::model::User;
use latchkey_core::store::StoreError;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::{ColumnNames, LiteRow, bind};
use crate::codec::{
    self, AUTH_TOKEN_COLS, CODE_COLS, Cols as _, EAC_COLS, OFFLINE_COLS, ONLINE_COLS, USER_COLS,
};
use crate::delivery::FIND_ON_DEMAND;
use crate::emergency::{
    FIND_EAC, FIND_ONLINE, FIND_ONLINE_CODES, LIST_OFFLINE, LIST_ONLINE, LIST_ONLINE_CODES,
    attach_codes,
};

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
        // A connection still inside a transaction (its rollback failed) would keep an old
        // snapshot for every later read: it is closed instead of kept.
        if conn.is_autocommit() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < KEEP {
                idle.push(conn);
            }
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
            snapshot(c, |c| {
                let Some(user) = user_by_login(c, login)? else {
                    return Ok(None);
                };
                let tokens = auth_tokens(c, user.id)?;
                Ok(Some((user, tokens)))
            })
        })
    }

    /// `Store::find_on_demand`.
    pub(crate) fn find_on_demand(&self, user: UserId) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            first(c, FIND_ON_DEMAND, &user.0, &ON_DEMAND_NAMES, |r| {
                r.text("on_demand", "pin_verifier")
            })
        })
    }

    /// `Store::find_eac`.
    pub(crate) fn find_eac(&self, user: UserId) -> Result<Option<Eac>, StoreError> {
        self.with(|c| first(c, &FIND_EAC, &user.0, &EAC_NAMES, |r| codec::eac(r)))
    }

    /// `Store::list_offline_emergencies`.
    pub(crate) fn list_offline_emergencies(
        &self,
        user: UserId,
    ) -> Result<Vec<OfflineEmergency>, StoreError> {
        self.with(|c| {
            all(c, &LIST_OFFLINE, &user.0, &OFFLINE_NAMES, |r| {
                codec::offline(r)
            })
        })
    }

    /// `Store::list_online_emergencies`: the grants, then (if any) their codes, in one read
    /// transaction so the codes are those of the grants read.
    pub(crate) fn list_online_emergencies(
        &self,
        user: UserId,
    ) -> Result<Vec<OnlineEmergency>, StoreError> {
        self.with(|c| {
            snapshot(c, |c| {
                let mut grants = all(c, &LIST_ONLINE, &user.0, &ONLINE_NAMES, |r| {
                    codec::online(r)
                })?;
                if !grants.is_empty() {
                    let codes = all(c, &LIST_ONLINE_CODES, &user.0, &CODE_NAMES, |r| {
                        codec::online_code(r)
                    })?;
                    attach_codes(&mut grants, codes);
                }
                Ok(grants)
            })
        })
    }

    /// `Store::find_online_emergency`: the grant and its codes in one read transaction.
    pub(crate) fn find_online_emergency(
        &self,
        token: TokenId,
    ) -> Result<Option<OnlineEmergency>, StoreError> {
        self.with(|c| {
            snapshot(c, |c| {
                let Some(mut e) = first(c, &FIND_ONLINE, &token.0, &ONLINE_NAMES, |r| {
                    codec::online(r)
                })?
                else {
                    return Ok(None);
                };
                let codes = all(c, &FIND_ONLINE_CODES, &token.0, &CODE_NAMES, |r| {
                    codec::online_code(r)
                })?;
                e.codes.extend(codes.into_iter().map(|(_, code)| code));
                Ok(Some(e))
            })
        })
    }
}

static USER_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(USER_COLS));
static AUTH_TOKEN_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(AUTH_TOKEN_COLS));

static ON_DEMAND_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of("pin_verifier"));
static EAC_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(EAC_COLS));
static OFFLINE_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(OFFLINE_COLS));
static ONLINE_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(ONLINE_COLS));
static CODE_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(CODE_COLS));

/// Every row of `sql` (columns `names`, one placeholder `$1` bound to `key`), decoded.
fn all<T>(
    c: &Connection,
    sql: &str,
    key: &dyn ToSql,
    names: &ColumnNames,
    decode: impl Fn(&LiteRow<'_, '_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut st = c.prepare_cached(sql).map_err(|e| read_error(&e))?;
    bind(&mut st, &[key])?;
    let mut rows = st.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| read_error(&e))? {
        out.push(decode(&LiteRow::new(row, names))?);
    }
    Ok(out)
}

/// The first row of `sql`, as [`all`] reads them; the key of each of these reads is unique,
/// so there is at most one.
fn first<T>(
    c: &Connection,
    sql: &str,
    key: &dyn ToSql,
    names: &ColumnNames,
    decode: impl Fn(&LiteRow<'_, '_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut st = c.prepare_cached(sql).map_err(|e| read_error(&e))?;
    bind(&mut st, &[key])?;
    let mut rows = st.raw_query();
    match rows.next().map_err(|e| read_error(&e))? {
        Some(row) => decode(&LiteRow::new(row, names)).map(Some),
        None => Ok(None),
    }
}

/// Runs `f` in one read transaction, so its statements see one snapshot. `BEGIN` and
/// `COMMIT` are cached statements: `Connection::transaction` would parse them again for every
/// read (a tenth of the read path in the load harness's profile). On an error the transaction
/// is rolled back; a connection whose rollback failed is still in it, and [`FastReads::with`]
/// closes it instead of keeping it.
fn snapshot<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let run = |sql: &str| {
        c.prepare_cached(sql)
            .and_then(|mut st| st.raw_execute())
            .map_err(|e| read_error(&e))
    };
    run("BEGIN")?;
    let out = f(c).and_then(|v| run("COMMIT").map(|_| v));
    if out.is_err() && !c.is_autocommit() {
        let _ = run("ROLLBACK");
    }
    out
}

/// The user by login, and the user's tokens (texts built once, not per read). The tokens
/// are sorted by serial here, not by `ORDER BY`: `tokens_user_id` does not hold the serial,
/// so SQLite would build a temporary B-tree for every read to sort a row or two. Rust's
/// `str` order is SQLite's `BINARY` collation (bytewise), so the order is the same.
static USER_BY_LOGIN: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {USER_COLS} FROM users WHERE login = ?1"));
static AUTH_TOKENS: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {AUTH_TOKEN_COLS} FROM tokens WHERE user_id = ?1"));

fn user_by_login(c: &Connection, login: &str) -> Result<Option<User>, StoreError> {
    let mut st = c
        .prepare_cached(&USER_BY_LOGIN)
        .map_err(|e| read_error(&e))?;
    st.query_row([login], |row| {
        Ok(codec::user(&LiteRow::new(row, &USER_NAMES)))
    })
    .optional()
    .map_err(|e| read_error(&e))?
    .transpose()
}

fn auth_tokens(c: &Connection, user: UserId) -> Result<Vec<AuthToken>, StoreError> {
    let mut st = c.prepare_cached(&AUTH_TOKENS).map_err(|e| read_error(&e))?;
    let rows = st
        .query_map([user.0], |row| {
            Ok(codec::auth_token(&LiteRow::new(row, &AUTH_TOKEN_NAMES)))
        })
        .map_err(|e| read_error(&e))?;
    let mut out: Vec<AuthToken> = Vec::new();
    for r in rows {
        out.push(r.map_err(|e| read_error(&e))??);
    }
    out.sort_unstable_by(|a, b| a.token.serial.cmp(&b.token.serial));
    Ok(out)
}

fn read_error(e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("SQLite read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The qualified lists are aliased, so a row is read by the names the decoders ask for.
    #[test]
    fn emergency_columns_are_named_as_the_decoders_read_them() {
        for (names, expected) in [
            (
                &*ONLINE_NAMES,
                &[
                    "token_id",
                    "kind",
                    "expires_at",
                    "token_available",
                    "created_at",
                ][..],
            ),
            (&*CODE_NAMES, &["token_id", "id", "verifier", "used_at"][..]),
        ] {
            for col in expected {
                assert!(names.index(col).is_some(), "{col}");
            }
        }
    }
}
