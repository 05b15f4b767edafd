//! The SQLite paths that bypass sqlx: the authentication hot path on `rusqlite`.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, and every statement (and
//! every row) is a message to that thread and back. On the 2-core machine the profiles of the
//! load harness put those thread switches, not SQLite, at the top of the server's time per
//! authentication (docs/benchmarks.md). So on SQLite:
//!
//! - [`reads`]: the reads of every authentication (the user with the user's tokens) and of
//!   every failing one (emergency credentials, on-demand, access code) run on the calling
//!   thread;
//! - [`writer`]: the group-commit writer of authentication writes is a thread of its own with
//!   its own connection, running a whole batch without a hand-off per statement;
//! - [`ops`]: the authentication writes that writer runs;
//! - [`checkpoint`]: WAL checkpoints on a thread of their own, so that no write waits for
//!   one.
//!
//! Everything else (administration, migrations, the other reads) stays on sqlx. The SQL
//! texts are the ones the sqlx path runs (numbered `$N` placeholders, bound by name here as
//! sqlx-sqlite binds them), so the two paths cannot drift apart in what they do; the one
//! conformance suite runs against both backends.
//!
//! Invariants:
//! - Error messages never contain bound values: constraint violations are recognised by
//!   SQLite's extended result code and described by the object concerned, as
//!   [`crate::error::map_db`] does for sqlx.
//! - Two connections write the file (sqlx's writer for administration, this writer for
//!   authentication); they take turns through one in-process gate
//!   ([`WriteGate`], fair, first come first served) before `BEGIN IMMEDIATE`, so neither can
//!   starve the other through SQLite's sleeping busy handler.

pub(crate) mod checkpoint;
pub(crate) mod ops;
pub(crate) mod reads;
pub(crate) mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use latchkey_core::store::StoreError;
use rusqlite::ffi;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, Row, Statement};

use crate::codec::Cols;

/// The in-process turn of the two SQLite write connections (see the module invariants).
pub(crate) type WriteGate = Arc<tokio::sync::Mutex<()>>;

/// Binds `values` to `$1`, `$2`, … of `st` by name, as sqlx-sqlite does, so a placeholder may
/// be reused or appear out of order. Exactly one value per placeholder: SQLite would bind a
/// missing one as NULL without a word.
pub(crate) fn bind(st: &mut Statement<'_>, values: &[&dyn ToSql]) -> Result<(), StoreError> {
    if st.parameter_count() != values.len() {
        return Err(StoreError::Backend(format!(
            "statement has {} placeholders, {} values given",
            st.parameter_count(),
            values.len()
        )));
    }
    for (i, v) in (1..).zip(values) {
        let name = format!("${i}");
        let index = st
            .parameter_index(&name)
            .map_err(|e| map_lite(&e, || "statement".to_owned(), ""))?
            .ok_or_else(|| StoreError::Backend(format!("statement has no placeholder {name}")))?;
        st.raw_bind_parameter(index, v)
            .map_err(|e| map_lite(&e, || "statement".to_owned(), ""))?;
    }
    Ok(())
}

/// Opens a read-write connection of this module's own to the database at `path` (an existing
/// file), with `busy` as its busy timeout and `pragmas` run on it; errors are described by
/// `subject`.
pub(crate) fn open(
    path: &Path,
    busy: Duration,
    pragmas: &str,
    subject: fn() -> String,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| map_lite(&e, subject, ""))?;
    conn.busy_timeout(busy)
        .map_err(|e| map_lite(&e, subject, ""))?;
    conn.execute_batch(pragmas)
        .map_err(|e| map_lite(&e, subject, ""))?;
    Ok(conn)
}

/// Maps a `rusqlite` error met while working on `subject`, like [`crate::error::map_db`]:
/// `refs` names what `subject` refers to, for foreign-key violations.
pub(crate) fn map_lite(
    e: &rusqlite::Error,
    subject: impl FnOnce() -> String,
    refs: &'static str,
) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(err, _) => match err.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::Conflict(subject())
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                let what = if refs.is_empty() {
                    "a referenced row"
                } else {
                    refs
                };
                StoreError::NotFound(format!("{what} referenced by {}", subject()))
            }
            ffi::SQLITE_CONSTRAINT_NOTNULL => {
                StoreError::Backend(format!("{}: a required column is missing", subject()))
            }
            ffi::SQLITE_CONSTRAINT_CHECK => {
                StoreError::Backend(format!("{}: a value is out of range", subject()))
            }
            // SQLite's own texts name tables, columns and states, never bound values.
            code => StoreError::Backend(format!("{}: {err} (code {code})", subject())),
        },
        rusqlite::Error::FromSqlConversionFailure(index, ..)
        | rusqlite::Error::IntegralValueOutOfRange(index, _)
        | rusqlite::Error::InvalidColumnType(index, ..) => {
            StoreError::Corrupt(format!("{}: column {index} cannot be decoded", subject()))
        }
        rusqlite::Error::InvalidColumnName(col) => {
            StoreError::Corrupt(format!("{}: column {col} missing", subject()))
        }
        rusqlite::Error::Utf8Error(_) => {
            StoreError::Corrupt(format!("{}: a value cannot be decoded", subject()))
        }
        other => StoreError::Backend(format!("{}: {other}", subject())),
    }
}

/// The column names of a constant column list such as [`crate::codec::USER_COLS`]
/// (`"a, b, (SELECT …) AS c"` gives `a`, `b`, `c`), so a row is read by index: rusqlite's
/// lookup by name asks SQLite for every column's name and compares them case-insensitively,
/// for every value read (a measurable share of a read in the profile).
#[derive(Debug)]
pub(crate) struct ColumnNames(Vec<&'static str>);

impl ColumnNames {
    /// The names in `cols`, in order; the lists contain no comma other than between columns.
    pub(crate) fn of(cols: &'static str) -> Self {
        Self(
            cols.split(',')
                .filter_map(|c| c.split_whitespace().last())
                .collect(),
        )
    }

    fn index(&self, col: &str) -> Option<usize> {
        self.0.iter().position(|c| *c == col)
    }
}

/// A `rusqlite` row of a statement selecting `names`, seen through the decoders' [`Cols`],
/// so both paths share one decoder per type.
pub(crate) struct LiteRow<'a, 'b> {
    row: &'a Row<'b>,
    names: &'a ColumnNames,
}

impl<'a, 'b> LiteRow<'a, 'b> {
    /// `row` of a statement whose columns are `names`.
    pub(crate) fn new(row: &'a Row<'b>, names: &'a ColumnNames) -> Self {
        Self { row, names }
    }

    fn get<T: rusqlite::types::FromSql>(
        &self,
        table: &'static str,
        col: &'static str,
    ) -> Result<T, StoreError> {
        // A list that does not match the statement (a comma inside a sub-select, say) would
        // read every column from the wrong place.
        if self.row.as_ref().column_count() != self.names.0.len() {
            return Err(StoreError::Corrupt(format!(
                "{table}: the statement's columns do not match its column list"
            )));
        }
        let index = self
            .names
            .index(col)
            .ok_or_else(|| StoreError::Corrupt(format!("{table}.{col}: column not selected")))?;
        self.row
            .get::<_, T>(index)
            .map_err(|e| StoreError::Corrupt(format!("{table}.{col}: {e}")))
    }
}

impl Cols for LiteRow<'_, '_> {
    fn int(&self, table: &'static str, col: &'static str) -> Result<i64, StoreError> {
        self.get(table, col)
    }
    fn opt_int(&self, table: &'static str, col: &'static str) -> Result<Option<i64>, StoreError> {
        self.get(table, col)
    }
    fn text(&self, table: &'static str, col: &'static str) -> Result<String, StoreError> {
        self.get(table, col)
    }
    fn opt_text(
        &self,
        table: &'static str,
        col: &'static str,
    ) -> Result<Option<String>, StoreError> {
        self.get(table, col)
    }
    fn blob(&self, table: &'static str, col: &'static str) -> Result<Vec<u8>, StoreError> {
        self.get(table, col)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn numbered_placeholders_bind_by_name_in_any_order() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let mut st = c.prepare("SELECT $2, $1, $1 + 1").unwrap();
        bind(&mut st, &[&41_i64, &"two"]).unwrap();
        let mut rows = st.raw_query();
        let row = rows.next().unwrap().unwrap();
        assert_eq!(row.get::<_, String>(0).unwrap(), "two");
        assert_eq!(row.get::<_, i64>(1).unwrap(), 41);
        assert_eq!(row.get::<_, i64>(2).unwrap(), 42);
    }

    #[test]
    fn column_lists_give_their_names_aliases_included() {
        let names = ColumnNames::of(crate::codec::AUTH_TOKEN_COLS);
        assert_eq!(names.0.first(), Some(&"id"));
        assert_eq!(names.0.last(), Some(&"in_emergency"));
        assert_eq!(names.index("failed_passcodes"), Some(16));
        assert_eq!(names.0.len(), 18);
        let user = ColumnNames::of(crate::codec::USER_COLS);
        assert_eq!(
            user.0,
            [
                "id",
                "login",
                "domain_id",
                "status",
                "email",
                "phones",
                "created_at"
            ]
        );
    }

    #[test]
    fn a_missing_placeholder_or_value_is_an_error_not_a_wrong_binding() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let mut st = c.prepare("SELECT $1").unwrap();
        assert!(bind(&mut st, &[&1_i64, &2_i64]).is_err());
        let mut st = c.prepare("SELECT $1, $2").unwrap();
        assert!(bind(&mut st, &[&1_i64]).is_err());
        let mut st = c.prepare("SELECT $1, $3").unwrap();
        assert!(bind(&mut st, &[&1_i64, &2_i64]).is_err());
    }

    #[test]
    fn constraint_violations_map_without_values() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = ON; CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT UNIQUE); \
             CREATE TABLE c (p_id INTEGER NOT NULL REFERENCES p (id)); \
             INSERT INTO p VALUES (1, 'secret-value');",
        )
        .unwrap();
        let e = c
            .execute("INSERT INTO p VALUES (2, 'secret-value')", [])
            .unwrap_err();
        let mapped = map_lite(&e, || "thing".to_owned(), "");
        assert!(matches!(&mapped, StoreError::Conflict(m) if m == "thing"));
        let e = c.execute("INSERT INTO c VALUES (99)", []).unwrap_err();
        let mapped = map_lite(&e, || "child".to_owned(), "parent");
        assert!(
            matches!(&mapped, StoreError::NotFound(m) if m == "parent referenced by child"),
            "{mapped:?}"
        );
        assert!(!format!("{mapped:?}").contains("secret-value"));
    }
}
