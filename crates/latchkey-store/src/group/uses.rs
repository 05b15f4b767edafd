//! PostgreSQL: the token uses of a batch as two statements, whatever their number.
//!
//! A token use is the one write every successful authentication makes. Run as an ordinary
//! operation it costs five round trips to the database (savepoint, token update, user
//! reset, record, release), all of them while the batch holds the audit head's row lock —
//! the lock every writer of every node takes. On loopback that put a node's batches at a
//! few milliseconds each and made the head the ceiling of the whole cluster (two nodes
//! served 0.8–0.9x of one, docs/benchmarks.md). Here the uses of a batch are data, not
//! closures: one statement applies all of them and says which won, one statement appends
//! the winners' records.
//!
//! Invariants (the same contract as `AuthnStore::commit_token_use`):
//! - A use is applied only if its step is above the token's last used one (and, for a
//!   success, the token still belongs to the user): one `UPDATE … FROM` over the batch's
//!   uses, which PostgreSQL re-evaluates on the latest row version when another node's
//!   transaction changed the row first, so across nodes each step is accepted once.
//! - Within a batch, uses of the same token are decided here first: only the one with the
//!   highest step (the earliest of equal ones) is sent, the others lose — accepting the
//!   highest step makes every lower one a replay.
//! - A winner's record is appended in the same transaction; a loser writes nothing.
//! - The uses go first in the batch, without a savepoint (two round trips less while the
//!   head is held). If either statement fails (neither should: they only update non-key
//!   columns and append to the chain the batch holds — a trigger, a full disk or a corrupt
//!   chain can still make them), the whole transaction is rolled back — nothing else of the
//!   batch has run yet — and a new one runs the uses one by one, each in a savepoint of its
//!   own, so that a failing use fails alone, as any operation of a batch does.
//! - With no other operation in the batch, the records and the head move in one statement.

use latchkey_core::audit::{AuditDraft, chain_hash};
use latchkey_core::authn::store::TokenUse;
use latchkey_core::store::StoreError;
use serde::Serialize;
use sqlx::Row;
use tokio::sync::oneshot;

use super::{BatchTx, copy_error};
use crate::authn::{TOKEN_USE, TOKEN_USE_SUCCESS, USER_SUCCESS};
use crate::error::map_db;
use crate::tx::chain_subject;

/// Applies the uses in `$1` (a JSON array of [`UseRow`]) and returns the `ord` of each that
/// won. The user reset runs for the winners that were successes, and only where there is
/// something to reset (as `authn::USER_SUCCESS`).
const APPLY_USES: &str = "WITH i AS ( \
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(ord bigint, token_id bigint, \
         used bigint, drift bigint, counter bigint, user_id bigint) \
     ), won AS ( \
         UPDATE tokens t SET last_used = i.used, drift = i.drift, counter = i.counter, \
         failed_passcodes = CASE WHEN i.user_id IS NULL THEN t.failed_passcodes ELSE 0 END \
         FROM i \
         WHERE t.id = i.token_id AND (i.user_id IS NULL OR t.user_id = i.user_id) \
         AND (t.last_used IS NULL OR t.last_used < i.used) \
         RETURNING i.ord, i.user_id \
     ), reset AS ( \
         UPDATE users u SET failures = 0, last_failure_at = NULL, lock_count = 0 \
         FROM won WHERE u.id = won.user_id \
         AND (u.failures <> 0 OR u.last_failure_at IS NOT NULL OR u.lock_count <> 0) \
     ) \
     SELECT ord FROM won";

/// Appends the records in `$1` (a JSON array of [`RecordRow`]).
const APPEND_RECORDS: &str = "INSERT INTO audit_log \
     (seq, at, actor, action, target, outcome, source, detail, prev_hash, hash) \
     SELECT seq, at, actor, action, target, outcome, source, detail, prev_hash, hash \
     FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, at bigint, actor text, \
     action text, target text, outcome text, source text, detail text, prev_hash text, \
     hash text)";
/// [`APPEND_RECORDS`] and the head moved to `$2`, `$3` (the last record), in one statement.
const APPEND_RECORDS_AND_HEAD: &str = "WITH appended AS (INSERT INTO audit_log \
     (seq, at, actor, action, target, outcome, source, detail, prev_hash, hash) \
     SELECT seq, at, actor, action, target, outcome, source, detail, prev_hash, hash \
     FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, at bigint, actor text, \
     action text, target text, outcome text, source text, detail text, prev_hash text, \
     hash text)) \
     UPDATE audit_head SET seq = $2, hash = $3 WHERE id = 1";

/// A token use waiting for its batch.
pub(crate) struct UseJob {
    token_use: TokenUse,
    /// The counter to store (checked into `i64` by the caller).
    counter: i64,
    audit: AuditDraft,
    reply: oneshot::Sender<Result<bool, StoreError>>,
    /// Set when the batch applied it.
    won: bool,
    /// Its own failure (one-by-one path only): rolled back to its savepoint.
    failed: Option<StoreError>,
}

impl UseJob {
    pub(crate) fn new(
        token_use: TokenUse,
        counter: i64,
        audit: AuditDraft,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    ) -> Self {
        Self {
            token_use,
            counter,
            audit,
            reply,
            won: false,
            failed: None,
        }
    }

    /// The caller stopped waiting.
    pub(crate) fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    /// Answers the caller once the batch ended: committed (`Ok`) or rolled back (`Err`).
    pub(crate) fn finish(self, batch: Result<(), &StoreError>) {
        let answer = match (self.failed, batch) {
            (Some(e), _) => Err(e),
            (None, Ok(())) => Ok(self.won),
            (None, Err(e)) => Err(copy_error(e)),
        };
        // The caller may have gone away meanwhile; then nobody needs the answer.
        let _ = self.reply.send(answer);
    }
}

#[derive(Serialize)]
struct UseRow {
    ord: usize,
    token_id: i64,
    used: i64,
    drift: i64,
    counter: i64,
    user_id: Option<i64>,
}

#[derive(Serialize)]
struct RecordRow<'a> {
    seq: i64,
    at: i64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    source: Option<&'a str>,
    detail: &'a str,
    prev_hash: String,
    hash: String,
}

/// The indexes of the uses to send: per token, the highest step (the first of equal ones).
fn contenders(uses: &[UseJob]) -> Vec<usize> {
    let mut best: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for (i, u) in uses.iter().enumerate() {
        let token = u.token_use.token_id.0;
        let better = best
            .get(&token)
            .and_then(|&j| uses.get(j))
            .is_none_or(|held| u.token_use.used > held.token_use.used);
        if better {
            best.insert(token, i);
        }
    }
    let mut out: Vec<usize> = best.into_values().collect();
    out.sort_unstable();
    out
}

fn encode<T: Serialize>(rows: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(rows)
        .map_err(|_| StoreError::Backend(format!("{what} cannot be encoded")))
}

async fn exec(batch: &mut BatchTx, sql: &'static str) -> Result<(), StoreError> {
    super::exec(batch.conn(), sql).await
}

/// One use in a savepoint of its own: the statements of `authn.rs`, as the SQLite writer
/// runs them. `Err` only when the savepoint itself fails (the batch cannot go on); the
/// use's own failure is kept in the job.
pub(crate) async fn apply_alone(batch: &mut BatchTx, u: &mut UseJob) -> Result<(), StoreError> {
    let (seq, hash) = (batch.seq, batch.hash.clone());
    exec(batch, "SAVEPOINT lk_op").await?;
    match use_alone(batch, u).await {
        Ok(won) => {
            u.won = won;
            exec(batch, "RELEASE SAVEPOINT lk_op").await
        }
        Err(e) => {
            u.failed = Some(e);
            exec(batch, "ROLLBACK TO SAVEPOINT lk_op").await?;
            exec(batch, "RELEASE SAVEPOINT lk_op").await?;
            batch.seq = seq;
            batch.hash = hash;
            Ok(())
        }
    }
}

async fn use_alone(batch: &mut BatchTx, u: &UseJob) -> Result<bool, StoreError> {
    let t = &u.token_use;
    let subject = || format!("token #{}", t.token_id.0);
    let mut q = sqlx::query(if t.success_for.is_some() {
        TOKEN_USE_SUCCESS
    } else {
        TOKEN_USE
    })
    .bind(t.used)
    .bind(t.drift)
    .bind(u.counter)
    .bind(t.token_id.0);
    if let Some(user) = t.success_for {
        q = q.bind(user.0);
    }
    let done = q
        .execute(batch.conn())
        .await
        .map_err(|e| map_db(e, subject, ""))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if let Some(user) = t.success_for {
        sqlx::query(USER_SUCCESS)
            .bind(user.0)
            .execute(batch.conn())
            .await
            .map_err(|e| map_db(e, || format!("user #{}", user.0), ""))?;
    }
    batch.append(&u.audit).await?;
    Ok(true)
}

/// All of `uses` in two statements, marking each winner and appending the winners' records
/// (in the order of `uses`); with `last` (nothing else follows in the batch) the second
/// statement also moves the head. On `Err` the batch's transaction is unusable: the caller
/// rolls it back and tries [`apply_alone`] for each use.
pub(crate) async fn apply_together(
    batch: &mut BatchTx,
    uses: &mut [UseJob],
    last: bool,
) -> Result<(), StoreError> {
    let send = contenders(uses);
    if send.is_empty() {
        return Ok(());
    }
    let rows: Vec<UseRow> = send
        .iter()
        .filter_map(|&i| uses.get(i).map(|u| (i, u)))
        .map(|(ord, u)| UseRow {
            ord,
            token_id: u.token_use.token_id.0,
            used: u.token_use.used,
            drift: u.token_use.drift,
            counter: u.counter,
            user_id: u.token_use.success_for.map(|user| user.0),
        })
        .collect();
    let won = sqlx::query(APPLY_USES)
        .bind(encode(&rows, "token uses")?)
        .fetch_all(batch.conn())
        .await
        .map_err(|e| map_db(e, || "token uses".to_owned(), ""))?;
    for row in &won {
        let ord: i64 = row
            .try_get("ord")
            .map_err(|e| map_db(e, || "token uses".to_owned(), ""))?;
        let job = usize::try_from(ord).ok().and_then(|i| uses.get_mut(i));
        match job {
            Some(job) => job.won = true,
            None => {
                return Err(StoreError::Corrupt(
                    "a token use the batch did not send was reported as applied".to_owned(),
                ));
            }
        }
    }
    let mut records = Vec::with_capacity(won.len());
    for u in uses.iter().filter(|u| u.won) {
        let seq = batch
            .seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("audit sequence number overflow".to_owned()))?;
        let hash = chain_hash(&batch.hash, seq, &u.audit);
        let d = &u.audit;
        records.push(RecordRow {
            seq,
            at: d.at,
            actor: &d.actor,
            action: &d.action,
            target: &d.target,
            outcome: &d.outcome,
            source: d.source.as_deref(),
            detail: &d.detail,
            prev_hash: std::mem::replace(&mut batch.hash, hash.clone()),
            hash,
        });
        batch.seq = seq;
    }
    if records.is_empty() {
        return Ok(());
    }
    let records = encode(&records, "audit records")?;
    if last {
        sqlx::query(APPEND_RECORDS_AND_HEAD)
            .bind(records)
            .bind(batch.seq)
            .bind(batch.hash.clone())
            .execute(batch.conn())
            .await
            .map_err(|e| map_db(e, chain_subject, ""))?;
        batch.head_written = true;
    } else {
        sqlx::query(APPEND_RECORDS)
            .bind(records)
            .execute(batch.conn())
            .await
            .map_err(|e| map_db(e, chain_subject, ""))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use latchkey_core::ids::TokenId;

    use super::*;

    fn job(token: i64, used: i64) -> UseJob {
        let (reply, _) = oneshot::channel();
        UseJob::new(
            TokenUse {
                token_id: TokenId(token),
                used,
                drift: 0,
                next_counter: 0,
                success_for: None,
            },
            0,
            AuditDraft::ok(0, "a", "b", "c", None),
            reply,
        )
    }

    #[test]
    fn per_token_the_highest_step_contends_and_the_first_of_equals() {
        let uses = vec![
            job(1, 5),
            job(2, 9),
            job(1, 7),
            job(1, 7),
            job(3, 1),
            job(2, 9),
        ];
        assert_eq!(contenders(&uses), vec![1, 2, 4]);
        assert!(contenders(&[]).is_empty());
    }
}
