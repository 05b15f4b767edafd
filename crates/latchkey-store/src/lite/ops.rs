//! The authentication writes on SQLite, as operations of the `rusqlite` group-commit writer
//! (`writer.rs`). Each does what its sqlx counterpart in `authn.rs` does, statement for
//! statement and with the same SQL texts; the conformance and group-commit suites hold both
//! to the `AuthnStore` contract.

use std::sync::LazyLock;

use latchkey_core::audit::AuditDraft;
use latchkey_core::authn::store::{Attempt, Failure, FailureOutcome, TokenUse, lock_until};
use latchkey_core::ids::{AgentId, TokenId, UserId};
use latchkey_core::store::StoreError;
use rusqlite::types::ToSql;

use super::writer::LiteBatch;
use super::{ColumnNames, LiteRow, bind, map_lite};
use crate::authn::{
    AUTO_UNLOCK, COUNT_FAILURE, COUNT_FAILURE_RETURNS, INSERT_ATTEMPT, LOCK_USER, TOKEN_PIN,
    TOKEN_USE, TOKEN_USE_SUCCESS, USER_SUCCESS, count_token_failures, missing_user,
    take_attempt_sql, with_locked,
};
use crate::codec::{self, ATTEMPT_COLS, Cols as _, u32_of};

/// The columns [`COUNT_FAILURE`] returns.
static FAILURE_NAMES: LazyLock<ColumnNames> =
    LazyLock::new(|| ColumnNames::of(COUNT_FAILURE_RETURNS));
static ATTEMPT_NAMES: LazyLock<ColumnNames> = LazyLock::new(|| ColumnNames::of(ATTEMPT_COLS));

/// Runs a statement without result rows; the number of rows it changed.
fn execute(
    b: &LiteBatch<'_>,
    sql: &str,
    values: &[&dyn ToSql],
    subject: impl Fn() -> String,
    refs: &'static str,
) -> Result<usize, StoreError> {
    let mut st = b
        .conn()
        .prepare_cached(sql)
        .map_err(|e| map_lite(&e, &subject, refs))?;
    bind(&mut st, values)?;
    st.raw_execute().map_err(|e| map_lite(&e, &subject, refs))
}

/// `AuthnStore::commit_token_use`: the conditional token update, (on success) the user's
/// counter reset, then the record. A lost race, a token that no longer exists or no longer
/// belongs to the user stops after the first statement, having written nothing.
pub(crate) fn token_use(
    b: &mut LiteBatch<'_>,
    u: &TokenUse,
    counter: i64,
    audit: &AuditDraft,
) -> Result<bool, StoreError> {
    let subject = || format!("token #{}", u.token_id.0);
    let sql = if u.success_for.is_some() {
        TOKEN_USE_SUCCESS
    } else {
        TOKEN_USE
    };
    let done = match u.success_for {
        Some(user) => execute(
            b,
            sql,
            &[&u.used, &u.drift, &counter, &u.token_id.0, &user.0],
            subject,
            "",
        )?,
        None => execute(
            b,
            sql,
            &[&u.used, &u.drift, &counter, &u.token_id.0],
            subject,
            "",
        )?,
    };
    if done == 0 {
        return Ok(false);
    }
    if let Some(user) = u.success_for {
        execute(
            b,
            USER_SUCCESS,
            &[&user.0],
            || format!("user #{}", user.0),
            "",
        )?;
    }
    b.append(audit)?;
    Ok(true)
}

/// `AuthnStore::commit_failure`: counts the failure, locks the user when the policy says so
/// (only an enabled user: a user disabled meanwhile stays disabled), counts the tokens, then
/// the record with whether this failure locked the user.
pub(crate) fn failure(
    b: &mut LiteBatch<'_>,
    f: &Failure,
    audit: &AuditDraft,
    enabled: &str,
    locked_text: &str,
) -> Result<FailureOutcome, StoreError> {
    const T: &str = "users";
    let subject = || format!("user #{}", f.user_id.0);
    let window = i64::from(f.policy.window_seconds);
    let (failures, lock_count, status) = {
        let mut st = b
            .conn()
            .prepare_cached(COUNT_FAILURE)
            .map_err(|e| map_lite(&e, subject, ""))?;
        bind(&mut st, &[&f.now, &window, &f.user_id.0])?;
        let mut rows = st.raw_query();
        let row = rows
            .next()
            .map_err(|e| map_lite(&e, subject, ""))?
            .ok_or_else(|| missing_user(f.user_id))?;
        let row = LiteRow::new(row, &FAILURE_NAMES);
        (
            u32_of(row.int(T, "failures")?, T, "failures")?,
            u32_of(row.int(T, "lock_count")?, T, "lock_count")?,
            row.text(T, "status")?,
        )
    };
    let locked = failures >= f.policy.max_failures && status == enabled;
    if locked {
        let until = lock_until(&f.policy, lock_count, f.now);
        execute(
            b,
            LOCK_USER,
            &[&locked_text, &until, &f.user_id.0],
            subject,
            "",
        )?;
    }
    if !f.token_ids.is_empty() {
        let sql = count_token_failures(f.token_ids.len());
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(f.token_ids.len() + 1);
        values.push(&f.user_id.0);
        values.extend(f.token_ids.iter().map(|t| &t.0 as &dyn ToSql));
        execute(b, &sql, &values, || "tokens".to_owned(), "")?;
    }
    let mut record = audit.clone();
    record.detail = with_locked(&record.detail, locked);
    b.append(&record)?;
    Ok(FailureOutcome { failures, locked })
}

/// `AuthnStore::auto_unlock`: `false` (nothing written) when the lock is not due.
pub(crate) fn auto_unlock(
    b: &mut LiteBatch<'_>,
    user: UserId,
    now: i64,
    audit: &AuditDraft,
    enabled: &str,
    locked: &str,
) -> Result<bool, StoreError> {
    let done = execute(
        b,
        AUTO_UNLOCK,
        &[&enabled, &user.0, &locked, &now],
        || format!("user #{}", user.0),
        "",
    )?;
    if done == 0 {
        return Ok(false);
    }
    b.append(audit)?;
    Ok(true)
}

/// `AuthnStore::update_token_pin`.
pub(crate) fn token_pin(
    b: &mut LiteBatch<'_>,
    token: TokenId,
    verifier: &str,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let subject = || format!("token #{}", token.0);
    if execute(b, TOKEN_PIN, &[&verifier, &token.0], subject, "")? == 0 {
        return Err(StoreError::NotFound(subject()));
    }
    b.append(audit)
}

/// `AuthnStore::insert_attempt`, with the state already serialised.
pub(crate) fn insert_attempt(
    b: &mut LiteBatch<'_>,
    a: &Attempt,
    state: &str,
) -> Result<(), StoreError> {
    execute(
        b,
        INSERT_ATTEMPT,
        &[
            &a.id,
            &a.agent_id.0,
            &a.user_id.0,
            &a.login,
            &a.expires_at,
            &state,
            &a.created_at,
        ],
        // The id is a bearer value for the agent: never in a message.
        || "authentication attempt".to_owned(),
        "agent or user",
    )
    .map(|_| ())
}

/// `AuthnStore::take_attempt`: one statement, so of concurrent takers only one gets the row;
/// another agent's attempt is left alone.
pub(crate) fn take_attempt(
    b: &mut LiteBatch<'_>,
    id: &str,
    agent: AgentId,
) -> Result<Option<Attempt>, StoreError> {
    let subject = || "authentication attempt".to_owned();
    let mut st = b
        .conn()
        .prepare_cached(&take_attempt_sql())
        .map_err(|e| map_lite(&e, subject, ""))?;
    bind(&mut st, &[&id, &agent.0])?;
    let mut rows = st.raw_query();
    let taken = match rows.next().map_err(|e| map_lite(&e, subject, ""))? {
        Some(row) => Some(codec::attempt(&LiteRow::new(row, &ATTEMPT_NAMES))?),
        None => None,
    };
    // Step to the end, so the statement has finished deleting before the savepoint ends.
    while rows
        .next()
        .map_err(|e| map_lite(&e, subject, ""))?
        .is_some()
    {}
    Ok(taken)
}
