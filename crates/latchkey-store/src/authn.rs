//! [`AuthnStore`] for [`SqlStore`]: the atomic steps of authentication.
//!
//! Every write runs as one operation of a group-commit batch (PostgreSQL: `group/`;
//! SQLite: the `rusqlite` writer of `lite/writer.rs`, running the same statements through
//! `lite/ops.rs`): inside its own savepoint (PostgreSQL's token uses: all of a batch's
//! together, `group/uses.rs`) of a transaction that took the audit chain's head first (as every other writer does), so concurrent transactions always lock in the same
//! order and cannot deadlock on PostgreSQL, and its caller hears of it only once the batch
//! has committed. The steps that must not lose an update under concurrency (a token's
//! last-used step, a user's failure count) are single conditional or relative `UPDATE`s,
//! which PostgreSQL re-evaluates on the latest row version under READ COMMITTED, and which
//! run one after the other within a batch.

use async_trait::async_trait;
use latchkey_core::audit::AuditDraft;
use latchkey_core::authn::store::{
    Attempt, AuthToken, AuthnStore, Failure, FailureOutcome, LockState, TokenUse, lock_until,
    user_with_tokens_in_two_reads,
};
use latchkey_core::ids::{AgentId, TokenId, UserId};
use latchkey_core::model::User;
use latchkey_core::store::StoreError;
use latchkey_proto::admin::UserStatus;

use crate::SqlStore;
use crate::codec::{
    self, ATTEMPT_COLS, AUTH_TOKEN_COLS, LOCK_COLS, counter_int, enum_text, get, u32_of,
};
use crate::error::map_db;
use crate::lite::ops;

// The statements of the authentication writes, shared by the sqlx path (PostgreSQL, below)
// and the `rusqlite` path (SQLite, `lite/ops.rs`).

/// Advances a token if the step is new. `$1` step, `$2` drift, `$3` counter, `$4` id.
pub(crate) const TOKEN_USE: &str = "UPDATE tokens SET last_used = $1, drift = $2, counter = $3 \
     WHERE id = $4 AND (last_used IS NULL OR last_used < $1)";
/// [`TOKEN_USE`] for a successful authentication of user `$5`: also resets the token's failure
/// counter; only while the token still belongs to that user.
pub(crate) const TOKEN_USE_SUCCESS: &str = "UPDATE tokens SET last_used = $1, drift = $2, \
     counter = $3, failed_passcodes = 0 \
     WHERE id = $4 AND user_id = $5 AND (last_used IS NULL OR last_used < $1)";
/// Resets user `$1`'s failure and lock counters after a success, if there is anything to
/// reset: most successes follow a success, and an update that changes nothing would still
/// rewrite the row (on SQLite, a page more for every commit to write and `fsync`).
pub(crate) const USER_SUCCESS: &str = "UPDATE users SET failures = 0, last_failure_at = NULL, \
     lock_count = 0 \
     WHERE id = $1 AND (failures <> 0 OR last_failure_at IS NOT NULL OR lock_count <> 0)";
/// Counts one failure: starts again at 1 when the last failure is more than `$2` seconds
/// before `$1` (as [`latchkey_core::authn::store::window_restarts`] decides).
pub(crate) const COUNT_FAILURE: &str = "UPDATE users SET \
     failures = CASE WHEN last_failure_at IS NULL OR $1 - last_failure_at > $2 \
     THEN 1 ELSE failures + 1 END, \
     last_failure_at = $1 \
     WHERE id = $3 RETURNING failures, lock_count, status";
/// The columns [`COUNT_FAILURE`] returns.
pub(crate) const COUNT_FAILURE_RETURNS: &str = "failures, lock_count, status";
/// Locks user `$3` with status `$1` until `$2` (`NULL`: until an administrator unlocks).
pub(crate) const LOCK_USER: &str = "UPDATE users SET status = $1, locked_until = $2, \
     lock_count = lock_count + 1 WHERE id = $3";
/// Unlocks user `$2` (status `$3` → `$1`) if its lock ran out by `$4`.
pub(crate) const AUTO_UNLOCK: &str = "UPDATE users SET status = $1, failures = 0, \
     last_failure_at = NULL, locked_until = NULL \
     WHERE id = $2 AND status = $3 AND locked_until IS NOT NULL AND locked_until <= $4";
/// Sets token `$2`'s PIN verifier to `$1`.
pub(crate) const TOKEN_PIN: &str =
    "UPDATE tokens SET pin_verifier = $1, new_pin_required = 0 WHERE id = $2";
/// Stores an attempt.
pub(crate) const INSERT_ATTEMPT: &str = "INSERT INTO authn_attempts \
     (id, agent_id, user_id, login, expires_at, state, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Counts a failure of user `$1` on the tokens `$2…` (only the user's own tokens count).
pub(crate) fn count_token_failures(tokens: usize) -> String {
    let ids = (2..tokens + 2)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE tokens SET failed_passcodes = failed_passcodes + 1 \
         WHERE user_id = $1 AND id IN ({ids})"
    )
}

/// Removes attempt `$1` of agent `$2` and returns it.
pub(crate) fn take_attempt_sql() -> String {
    format!("DELETE FROM authn_attempts WHERE id = $1 AND agent_id = $2 RETURNING {ATTEMPT_COLS}")
}

/// The error for a user named by id that does not exist.
pub(crate) fn missing_user(id: UserId) -> StoreError {
    StoreError::NotFound(format!("user #{}", id.0))
}

/// Adds `"locked": …` to the audit detail (a JSON object text; anything else becomes one).
pub(crate) fn with_locked(detail: &str, locked: bool) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(detail).unwrap_or_else(|_| serde_json::json!({}));
    match v.as_object_mut() {
        Some(o) => {
            o.insert("locked".to_owned(), locked.into());
        }
        None => v = serde_json::json!({ "locked": locked }),
    }
    v.to_string()
}

#[async_trait]
impl AuthnStore for SqlStore {
    async fn find_lock_state(&self, user: UserId) -> Result<LockState, StoreError> {
        let sql = format!("SELECT {LOCK_COLS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(user.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "users".to_owned(), ""))?
            .ok_or_else(|| missing_user(user))?;
        codec::lock_state(&row)
    }

    async fn list_auth_tokens(&self, user: UserId) -> Result<Vec<AuthToken>, StoreError> {
        if let Some(lite) = &self.lite {
            return lite.reads.list_auth_tokens(user);
        }
        let sql =
            format!("SELECT {AUTH_TOKEN_COLS} FROM tokens WHERE user_id = $1 ORDER BY serial");
        let rows = sqlx::query(&sql)
            .bind(user.0)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "tokens".to_owned(), ""))?;
        rows.iter().map(codec::auth_token).collect()
    }

    async fn find_user_with_tokens(
        &self,
        login: &str,
    ) -> Result<Option<(User, Vec<AuthToken>)>, StoreError> {
        match &self.lite {
            Some(lite) => lite.reads.find_user_with_tokens(login),
            None => user_with_tokens_in_two_reads(self, login).await,
        }
    }

    async fn find_auth_token(&self, id: TokenId) -> Result<Option<AuthToken>, StoreError> {
        let sql = format!("SELECT {AUTH_TOKEN_COLS} FROM tokens WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "tokens".to_owned(), ""))?;
        row.as_ref().map(codec::auth_token).transpose()
    }

    /// In the next group-commit batch (`group/`, `lite/`): the conditional token update, (on
    /// success) the user's counter reset, then the record. A lost race stops after the first
    /// statement, having written nothing. A token that no longer exists, or (on success) no
    /// longer belongs to the user, is `false` as well (nothing written; the caller fails the
    /// attempt). The token's owner exists (a foreign key), so its reset cannot miss.
    async fn commit_token_use(&self, u: &TokenUse, audit: &AuditDraft) -> Result<bool, StoreError> {
        let counter = counter_int(u.next_counter)?;
        let u = *u;
        let audit = audit.clone();
        if let Some(lite) = &self.lite {
            return lite
                .writer
                .run(move |b| ops::token_use(b, &u, counter, &audit))
                .await;
        }
        // PostgreSQL: applied with the batch's other uses in one statement (`group/uses.rs`).
        self.batched_use(u, counter, audit).await
    }

    async fn commit_failure(
        &self,
        f: &Failure,
        audit: &AuditDraft,
    ) -> Result<FailureOutcome, StoreError> {
        let f = f.clone();
        let audit = audit.clone();
        let enabled = enum_text(&UserStatus::Enabled, "user status")?;
        let locked_text = enum_text(&UserStatus::Locked, "user status")?;
        if let Some(lite) = &self.lite {
            return lite
                .writer
                .run(move |b| ops::failure(b, &f, &audit, &enabled, &locked_text))
                .await;
        }
        self.batched(move |tx| {
            Box::pin(async move {
                const T: &str = "users";
                let subject = || format!("user #{}", f.user_id.0);
                let row = sqlx::query(COUNT_FAILURE)
                    .bind(f.now)
                    .bind(i64::from(f.policy.window_seconds))
                    .bind(f.user_id.0)
                    .fetch_optional(tx.conn())
                    .await
                    .map_err(|e| map_db(e, subject, ""))?
                    .ok_or_else(|| missing_user(f.user_id))?;
                let failures = u32_of(get(&row, T, "failures")?, T, "failures")?;
                let lock_count = u32_of(get(&row, T, "lock_count")?, T, "lock_count")?;
                let status: String = get(&row, T, "status")?;
                // Only an enabled user is locked: a user disabled meanwhile stays disabled (a
                // lock could otherwise end by itself and enable them).
                let locked = failures >= f.policy.max_failures && status == enabled;
                if locked {
                    let until = lock_until(&f.policy, lock_count, f.now);
                    sqlx::query(LOCK_USER)
                        .bind(locked_text)
                        .bind(until)
                        .bind(f.user_id.0)
                        .execute(tx.conn())
                        .await
                        .map_err(|e| map_db(e, subject, ""))?;
                }
                if !f.token_ids.is_empty() {
                    let sql = count_token_failures(f.token_ids.len());
                    let mut q = sqlx::query(&sql).bind(f.user_id.0);
                    for t in &f.token_ids {
                        q = q.bind(t.0);
                    }
                    q.execute(tx.conn())
                        .await
                        .map_err(|e| map_db(e, || "tokens".to_owned(), ""))?;
                }
                let mut record = audit;
                record.detail = with_locked(&record.detail, locked);
                tx.append(&record).await?;
                Ok(FailureOutcome { failures, locked })
            })
        })
        .await
    }

    async fn auto_unlock(
        &self,
        user: UserId,
        now: i64,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let audit = audit.clone();
        let enabled = enum_text(&UserStatus::Enabled, "user status")?;
        let locked = enum_text(&UserStatus::Locked, "user status")?;
        if let Some(lite) = &self.lite {
            return lite
                .writer
                .run(move |b| ops::auto_unlock(b, user, now, &audit, &enabled, &locked))
                .await;
        }
        self.batched(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(AUTO_UNLOCK)
                    .bind(enabled)
                    .bind(user.0)
                    .bind(locked)
                    .bind(now)
                    .execute(tx.conn())
                    .await
                    .map_err(|e| map_db(e, || format!("user #{}", user.0), ""))?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                tx.append(&audit).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn update_token_pin(
        &self,
        token: TokenId,
        verifier: &str,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let audit = audit.clone();
        let verifier = verifier.to_owned();
        if let Some(lite) = &self.lite {
            return lite
                .writer
                .run(move |b| ops::token_pin(b, token, &verifier, &audit))
                .await;
        }
        self.batched(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(TOKEN_PIN)
                    .bind(verifier)
                    .bind(token.0)
                    .execute(tx.conn())
                    .await
                    .map_err(|e| map_db(e, || format!("token #{}", token.0), ""))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("token #{}", token.0)));
                }
                tx.append(&audit).await?;
                Ok(())
            })
        })
        .await
    }

    async fn insert_attempt(&self, a: &Attempt) -> Result<(), StoreError> {
        let state = codec::attempt_state_json(&a.state)?;
        let a = a.clone();
        if let Some(lite) = &self.lite {
            return lite
                .writer
                .run(move |b| ops::insert_attempt(b, &a, &state))
                .await;
        }
        self.batched(move |tx| {
            Box::pin(async move {
                // The id is a bearer value for the agent: never in a message.
                let subject = || "authentication attempt".to_owned();
                sqlx::query(INSERT_ATTEMPT)
                    .bind(&a.id)
                    .bind(a.agent_id.0)
                    .bind(a.user_id.0)
                    .bind(&a.login)
                    .bind(a.expires_at)
                    .bind(state)
                    .bind(a.created_at)
                    .execute(tx.conn())
                    .await
                    .map_err(|e| map_db(e, subject, "agent or user"))?;
                Ok(())
            })
        })
        .await
    }

    async fn take_attempt(&self, id: &str, agent: AgentId) -> Result<Option<Attempt>, StoreError> {
        let id = id.to_owned();
        if let Some(lite) = &self.lite {
            return lite
                .writer
                .run(move |b| ops::take_attempt(b, &id, agent))
                .await;
        }
        self.batched(move |tx| {
            Box::pin(async move {
                // One statement: of concurrent takers, only one gets the row; another agent's
                // attempt is left alone.
                let sql = take_attempt_sql();
                let row = sqlx::query(&sql)
                    .bind(&id)
                    .bind(agent.0)
                    .fetch_optional(tx.conn())
                    .await
                    .map_err(|e| map_db(e, || "authentication attempt".to_owned(), ""))?;
                row.as_ref().map(codec::attempt).transpose()
            })
        })
        .await
    }

    /// The record alone, in the next group-commit batch.
    async fn audit_only(&self, audit: &AuditDraft) -> Result<(), StoreError> {
        let audit = audit.clone();
        if let Some(lite) = &self.lite {
            return lite.writer.run(move |b| b.append(&audit)).await;
        }
        self.batched(move |tx| {
            Box::pin(async move {
                tx.append(&audit).await?;
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_count_returns_what_its_readers_expect() {
        assert!(COUNT_FAILURE.ends_with(&format!("RETURNING {COUNT_FAILURE_RETURNS}")));
    }

    #[test]
    fn locked_is_added_to_the_detail() {
        assert_eq!(
            with_locked(r#"{"counted":true}"#, true),
            r#"{"counted":true,"locked":true}"#
        );
        assert_eq!(with_locked("{}", false), r#"{"locked":false}"#);
        assert_eq!(with_locked("not json", false), r#"{"locked":false}"#);
        assert_eq!(with_locked("[1]", true), r#"{"locked":true}"#);
    }
}
