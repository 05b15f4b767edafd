//! Group commit (`src/group/`, `src/lite/writer.rs`) on both databases: concurrent authentication writes share a
//! transaction, and still each is atomic with its audit record, a failing one leaves the others
//! of its batch alone, the chain stays one chain, replays admit one winner, and an answer
//! leaves only after its batch committed.
//!
//! To know that operations really share a batch, a test holds the database's write lock from
//! a connection of its own (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the audit head's row lock),
//! sends a first operation (the writer takes it alone and waits for the lock), waits until the
//! others are all queued behind it, and lets go: the writer then takes them in one batch.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    missing_docs
)]

use std::time::Duration;

use latchkey_core::audit::{AuditDraft, Verdict};
use latchkey_core::authn::store::{
    Attempt, AttemptState, AuthnStore, Failure, FailureOutcome, TokenUse,
};
use latchkey_core::ids::{AgentId, DomainId, TokenId, UserId};
use latchkey_core::store::{Store, StoreError};
use latchkey_proto::policy::LockoutPolicy;
use latchkey_store::{GroupCommitStats, SqlStore};
use sqlx::{Connection, Executor};
use tokio::task::JoinHandle;

use crate::common::*;

conformance!(
    lone_operations_are_committed_one_by_one,
    distinct_token_uses_share_a_batch_with_their_records,
    same_step_in_one_batch_admits_one_winner,
    two_writers_admit_one_winner_per_step,
    a_failing_operation_leaves_its_batch_alone,
    answers_leave_only_after_commit,
    closing_loses_no_reported_success,
    a_failed_batch_fails_all_its_operations_and_writes_nothing,
    administrative_writes_get_their_turn_under_authentication_load,
);

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// A connection of the test's own that holds the database's write lock.
struct Holder(sqlx::AnyConnection);

async fn hold_writer(db: &TestDb) -> Holder {
    let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    if db.store.backend() == "sqlite" {
        c.execute("BEGIN IMMEDIATE").await.unwrap();
    } else {
        c.execute("BEGIN").await.unwrap();
        c.execute("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
            .await
            .unwrap();
    }
    Holder(c)
}

impl Holder {
    async fn release(mut self) {
        self.0.execute("ROLLBACK").await.unwrap();
        self.0.close().await.unwrap();
    }

    /// Runs `sql` in the held transaction and commits it.
    async fn commit_with(mut self, sql: &str) {
        self.0.execute(sql).await.unwrap();
        self.0.execute("COMMIT").await.unwrap();
        self.0.close().await.unwrap();
    }
}

/// Waits (up to 10 s) until the store's group-commit counters satisfy `cond`.
async fn wait_for(s: &SqlStore, what: &str, cond: impl Fn(&GroupCommitStats) -> bool) {
    for _ in 0..2000 {
        if cond(&s.group_commit_stats()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}: {:?}", s.group_commit_stats());
}

/// Holds the write lock, sends a first operation (taken alone by the writer, which then waits
/// for the lock), runs `spawn` to send `n` more, waits until all `n` are queued, and lets go.
/// Returns the first operation's task and the counters from before.
async fn in_one_batch<T>(
    db: &TestDb,
    n: u64,
    spawn: impl FnOnce() -> T,
) -> (T, JoinHandle<()>, GroupCommitStats) {
    let s = db.store.clone();
    let before = s.group_commit_stats();
    let holder = hold_writer(db).await;
    let first = {
        let s = s.clone();
        tokio::spawn(async move {
            s.audit_only(&authn_draft("first", "user:first"))
                .await
                .unwrap();
        })
    };
    wait_for(&s, "the first batch to start", |st| {
        st.batches == before.batches + 1
    })
    .await;
    let out = spawn();
    wait_for(&s, "every operation to be queued", |st| st.queued == n).await;
    holder.release().await;
    (out, first, before)
}

/// The store's counters show that the operations after the first went in one batch.
fn assert_one_batch(db: &TestDb, before: &GroupCommitStats, n: u64) {
    let st = db.store.group_commit_stats();
    assert_eq!(st.batches, before.batches + 2, "{st:?}");
    assert_eq!(st.operations, before.operations + n + 1, "{st:?}");
    assert!(st.largest_batch >= n, "{st:?}");
    assert_eq!(st.failed_batches, before.failed_batches, "{st:?}");
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// `n` users `u00…` in the root domain, each with one token `S00…`.
async fn users_with_tokens(s: &SqlStore, n: usize) -> (DomainId, Vec<(UserId, TokenId)>) {
    let domain = root(s).await;
    let mut out = Vec::new();
    for i in 0..n {
        let login = format!("u{i:02}");
        let user = s
            .insert_user(&new_user(&login, domain), &draft("user.create", &login))
            .await
            .unwrap();
        let serial = format!("S{i:02}");
        let token = s
            .insert_token(
                &new_token(&serial, domain, Some(user.id)),
                &draft("token.create", &serial),
            )
            .await
            .unwrap();
        out.push((user.id, token.id));
    }
    (domain, out)
}

fn authn_draft(outcome: &str, target: &str) -> AuditDraft {
    AuditDraft::ok(NOW, "agent:vpn", "authn", target, Some("192.0.2.7"))
        .with_outcome(outcome)
        .with_detail(&serde_json::json!({"serial": target}))
}

fn token_use(token: TokenId, used: i64, success_for: Option<UserId>) -> TokenUse {
    TokenUse {
        token_id: token,
        used,
        drift: 0,
        next_counter: u64::try_from(used + 1).unwrap(),
        success_for,
    }
}

async fn last_used(s: &SqlStore, t: TokenId) -> Option<i64> {
    s.find_auth_token(t).await.unwrap().unwrap().token.last_used
}

fn attempt(id: &str, agent: AgentId, user: UserId) -> Attempt {
    Attempt {
        id: id.into(),
        agent_id: agent,
        user_id: user,
        login: "u00".into(),
        expires_at: NOW + 180,
        created_at: NOW,
        state: AttemptState::NewPin { token: 1, tries: 0 },
    }
}

fn no_lock() -> LockoutPolicy {
    LockoutPolicy {
        max_failures: 1000,
        window_seconds: 3600,
        ..LockoutPolicy::default()
    }
}

/// The audit target that [`refuse_records_of`] makes fail.
const REFUSED: &str = "refused by a trigger";

/// Makes appending a record with `target` fail (a trigger of the test's own): an operation
/// that fails after it has written.
async fn refuse_records_of(db: &TestDb, target: &str) {
    let sql = if db.store.backend() == "sqlite" {
        format!(
            "CREATE TRIGGER lk_test_refuse BEFORE INSERT ON audit_log \
             WHEN NEW.target = '{target}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        )
    } else {
        format!(
            "CREATE FUNCTION lk_test_refuse() RETURNS trigger AS $$ BEGIN \
             IF NEW.target = '{target}' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER lk_test_refuse BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION lk_test_refuse();"
        )
    };
    db.store.execute_raw(&sql).await.unwrap();
}

/// A mixed-batch task: what it did and how it ended.
type Task = JoinHandle<(&'static str, Result<String, StoreError>)>;

fn n_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap()
}

fn variant(e: &StoreError) -> &'static str {
    match e {
        StoreError::Conflict(_) => "conflict",
        StoreError::NotFound(_) => "not_found",
        StoreError::Backend(_) => "backend",
        StoreError::Corrupt(_) => "corrupt",
    }
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

mod cases {
    use super::*;

    /// With no concurrency every operation is its own batch: nothing waits for company.
    pub async fn lone_operations_are_committed_one_by_one(db: &mut TestDb) {
        let s = &db.store;
        let (_, ut) = users_with_tokens(s, 1).await;
        let (user, token) = ut[0];
        assert_eq!(s.group_commit_stats(), GroupCommitStats::default());
        let before = head_seq(s).await;
        for step in 1..=5 {
            assert!(
                s.commit_token_use(
                    &token_use(token, step, Some(user)),
                    &authn_draft("success", "S00")
                )
                .await
                .unwrap()
            );
        }
        assert_eq!(
            s.group_commit_stats(),
            GroupCommitStats {
                batches: 5,
                operations: 5,
                largest_batch: 1,
                failed_batches: 0,
                queued: 0,
            }
        );
        assert_eq!(head_seq(s).await, before + 5);
        assert_eq!(verify(s).await, Verdict::Intact(before + 5));
    }

    /// Many uses of distinct tokens in one batch: all succeed, each with its own record, in
    /// one gap-free chain.
    pub async fn distinct_token_uses_share_a_batch_with_their_records(db: &mut TestDb) {
        const N: usize = 48;
        let (_, ut) = users_with_tokens(&db.store, N).await;
        let before_seq = head_seq(&db.store).await;
        let s = db.store.clone();
        let (tasks, first, before) = in_one_batch(db, N as u64, || {
            ut.iter()
                .enumerate()
                .map(|(i, &(user, token))| {
                    let s = s.clone();
                    tokio::spawn(async move {
                        let target = format!("user:u{i:02}");
                        s.commit_token_use(
                            &token_use(token, 7, Some(user)),
                            &authn_draft("success", &target),
                        )
                        .await
                        .unwrap()
                    })
                })
                .collect::<Vec<_>>()
        })
        .await;
        first.await.unwrap();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_one_batch(db, &before, N as u64);

        let s = &db.store;
        for &(_, token) in &ut {
            assert_eq!(last_used(s, token).await, Some(7));
        }
        assert_eq!(head_seq(s).await, before_seq + 1 + n_i64(N));
        let records = all_audit(s).await;
        let mut targets: Vec<String> = records
            .iter()
            .filter(|r| r.draft.outcome == "success")
            .map(|r| r.draft.target.clone())
            .collect();
        targets.sort();
        let expected: Vec<String> = (0..N).map(|i| format!("user:u{i:02}")).collect();
        assert_eq!(targets, expected, "one record per use");
        assert_eq!(verify(s).await, Verdict::Intact(before_seq + 1 + n_i64(N)));
    }

    /// The same code many times in one batch: exactly one wins, one record.
    pub async fn same_step_in_one_batch_admits_one_winner(db: &mut TestDb) {
        const N: usize = 32;
        let (_, ut) = users_with_tokens(&db.store, 1).await;
        let (user, token) = ut[0];
        let before_seq = head_seq(&db.store).await;
        let s = db.store.clone();
        let (tasks, first, before) = in_one_batch(db, N as u64, || {
            (0..N)
                .map(|_| {
                    let s = s.clone();
                    tokio::spawn(async move {
                        s.commit_token_use(
                            &token_use(token, 9, Some(user)),
                            &authn_draft("success", "S00"),
                        )
                        .await
                        .unwrap()
                    })
                })
                .collect::<Vec<_>>()
        })
        .await;
        first.await.unwrap();
        let mut wins = 0;
        for t in tasks {
            if t.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
        assert_one_batch(db, &before, N as u64);
        let s = &db.store;
        assert_eq!(last_used(s, token).await, Some(9));
        // The first operation's record and the winner's.
        assert_eq!(head_seq(s).await, before_seq + 2);
        assert_eq!(verify(s).await, Verdict::Intact(before_seq + 2));
    }

    /// Two stores on one database (two nodes on PostgreSQL), each with its own writer, race
    /// with the same codes: one winner per step, one chain.
    pub async fn two_writers_admit_one_winner_per_step(db: &mut TestDb) {
        let (_, ut) = users_with_tokens(&db.store, 2).await;
        let other = SqlStore::connect(&db.url).await.unwrap();
        let before_seq = head_seq(&db.store).await;
        let mut tasks = Vec::new();
        for step in 1..=6_i64 {
            for copy in 0..16 {
                for &(user, token) in &ut {
                    let s = if copy % 2 == 0 {
                        db.store.clone()
                    } else {
                        other.clone()
                    };
                    tasks.push(tokio::spawn(async move {
                        let won = s
                            .commit_token_use(
                                &token_use(token, step, Some(user)),
                                &authn_draft("success", "two"),
                            )
                            .await
                            .unwrap();
                        (token, step, won)
                    }));
                }
            }
            // Steps follow each other, as codes do; within a step every copy races.
            let mut wins = std::collections::HashMap::new();
            for t in tasks.drain(..) {
                let (token, step, won) = t.await.unwrap();
                if won {
                    *wins.entry((token, step)).or_insert(0) += 1;
                }
            }
            for &(_, token) in &ut {
                assert_eq!(wins.get(&(token, step)), Some(&1), "step {step}");
            }
        }
        let s = &db.store;
        for &(_, token) in &ut {
            assert_eq!(last_used(s, token).await, Some(6));
        }
        assert_eq!(head_seq(s).await, before_seq + 12);
        assert_eq!(verify(&other).await, Verdict::Intact(before_seq + 12));
        other.close().await;
    }

    /// Operations that fail (or find nothing to do) in the middle of a batch write nothing
    /// and take nothing of the others with them.
    pub async fn a_failing_operation_leaves_its_batch_alone(db: &mut TestDb) {
        const GOOD: usize = 20;
        let (domain, ut) = users_with_tokens(&db.store, GOOD + 1).await;
        let agent = db
            .store
            .insert_agent(
                &rest_agent("vpn", domain, "hash-vpn"),
                &draft("agent.create", "agent:vpn"),
            )
            .await
            .unwrap();
        db.store
            .insert_attempt(&attempt("taken-id", agent.id, ut[0].0))
            .await
            .unwrap();
        // The last user's token: used by an operation that fails after updating it; the
        // user gets a counted failure in the same batch.
        let (victim_user, victim) = ut[GOOD];
        let before_seq = head_seq(&db.store).await;
        let s = db.store.clone();
        let good = ut[..GOOD].to_vec();

        refuse_records_of(db, REFUSED).await;
        let (tasks, first, before) = in_one_batch(db, (GOOD + 9) as u64, || {
            let mut tasks: Vec<Task> = Vec::new();
            for (i, &(user, token)) in good.iter().enumerate() {
                let g = s.clone();
                tasks.push(tokio::spawn(async move {
                    let r = g
                        .commit_token_use(
                            &token_use(token, 3, Some(user)),
                            &authn_draft("success", &format!("user:u{i:02}")),
                        )
                        .await;
                    ("good", r.map(|b| b.to_string()))
                }));
                // Interleave the failing ones with the good ones.
                let s = s.clone();
                let bad: Option<Task> = match i {
                    // Fails after writing (a trigger refuses its record): the token update
                    // already made is undone.
                    0 => Some(tokio::spawn(async move {
                        let r = s
                            .commit_token_use(
                                &token_use(victim, 3, Some(victim_user)),
                                &authn_draft("success", REFUSED),
                            )
                            .await;
                        ("refused after writing", r.map(|b| b.to_string()))
                    })),
                    // A user the token does not belong to: false, nothing written.
                    16 => Some(tokio::spawn(async move {
                        let r = s
                            .commit_token_use(
                                &token_use(victim, 3, Some(UserId(999_999))),
                                &authn_draft("success", "ghost"),
                            )
                            .await;
                        ("ghost user", r.map(|b| b.to_string()))
                    })),
                    // A token that does not exist: false, nothing written.
                    2 => Some(tokio::spawn(async move {
                        let r = s
                            .commit_token_use(
                                &token_use(TokenId(999_999), 3, None),
                                &authn_draft("success", "ghost token"),
                            )
                            .await;
                        ("ghost token", r.map(|b| b.to_string()))
                    })),
                    // A unique violation.
                    4 => Some(tokio::spawn(async move {
                        let r = s.insert_attempt(&attempt("taken-id", agent.id, user)).await;
                        ("duplicate attempt", r.map(|()| String::new()))
                    })),
                    // A foreign-key violation.
                    6 => Some(tokio::spawn(async move {
                        let r = s
                            .insert_attempt(&attempt("no-agent", AgentId(999_999), user))
                            .await;
                        ("attempt of no agent", r.map(|()| String::new()))
                    })),
                    // A failure of a user that does not exist.
                    8 => Some(tokio::spawn(async move {
                        let f = Failure {
                            user_id: UserId(999_999),
                            token_ids: vec![token],
                            now: NOW,
                            policy: no_lock(),
                        };
                        let r = s.commit_failure(&f, &authn_draft("fail", "ghost")).await;
                        ("failure of no user", r.map(|o| format!("{o:?}")))
                    })),
                    // A PIN for a token that does not exist.
                    10 => Some(tokio::spawn(async move {
                        let r = s
                            .update_token_pin(TokenId(999_999), "v1$x$y", &draft("pin", "none"))
                            .await;
                        ("pin of no token", r.map(|()| String::new()))
                    })),
                    // A failure that counts (and a record of its own).
                    12 => Some(tokio::spawn(async move {
                        let f = Failure {
                            user_id: victim_user,
                            token_ids: vec![victim],
                            now: NOW,
                            policy: no_lock(),
                        };
                        let r = s
                            .commit_failure(&f, &authn_draft("fail:wrong_pin", "counted"))
                            .await;
                        ("counted failure", r.map(|o| format!("{o:?}")))
                    })),
                    // A record alone.
                    14 => Some(tokio::spawn(async move {
                        let r = s.audit_only(&authn_draft("fail:unknown_user", "x")).await;
                        ("record only", r.map(|()| String::new()))
                    })),
                    _ => None,
                };
                tasks.extend(bad);
            }
            tasks
        })
        .await;
        first.await.unwrap();
        let mut outcomes = std::collections::BTreeMap::new();
        for t in tasks {
            let (what, r) = t.await.unwrap();
            match what {
                "good" => assert_eq!(r.unwrap(), "true"),
                other => {
                    let shown = match r {
                        Ok(v) => format!("ok {v}"),
                        Err(e) => format!("err {}", variant(&e)),
                    };
                    outcomes.insert(other, shown);
                }
            }
        }
        assert_one_batch(db, &before, (GOOD + 9) as u64);
        let counted = format!(
            "ok {:?}",
            FailureOutcome {
                failures: 1,
                locked: false
            }
        );
        assert_eq!(
            outcomes,
            [
                ("refused after writing", "err backend".to_owned()),
                ("ghost user", "ok false".to_owned()),
                ("ghost token", "ok false".to_owned()),
                ("duplicate attempt", "err conflict".to_owned()),
                ("attempt of no agent", "err not_found".to_owned()),
                ("failure of no user", "err not_found".to_owned()),
                ("pin of no token", "err not_found".to_owned()),
                ("counted failure", counted),
                ("record only", "ok ".to_owned()),
            ]
            .into_iter()
            .collect()
        );

        let s = &db.store;
        for &(_, token) in &good {
            assert_eq!(last_used(s, token).await, Some(3));
        }
        assert_eq!(
            last_used(s, victim).await,
            None,
            "rolled back to its savepoint"
        );
        // The counted failure is there, beside the undone use of the same token; the attempt
        // that was taken already is still there.
        assert_eq!(s.find_lock_state(victim_user).await.unwrap().failures, 1);
        assert_eq!(
            s.find_auth_token(victim)
                .await
                .unwrap()
                .unwrap()
                .failed_passcodes,
            1
        );
        assert!(
            s.take_attempt("taken-id", agent.id)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            s.take_attempt("no-agent", AgentId(999_999))
                .await
                .unwrap()
                .is_none()
        );
        // Records: the first operation, every good use, the counted failure, the record.
        let expected = before_seq + 1 + n_i64(GOOD) + 2;
        assert_eq!(head_seq(s).await, expected);
        let records = all_audit(s).await;
        assert!(records.iter().all(|r| !r.draft.target.starts_with("ghost")
            && r.draft.target != "none"
            && r.draft.target != REFUSED));
        assert_eq!(verify(s).await, Verdict::Intact(expected));
    }

    /// An answer leaves only once its batch has committed: another connection sees the use
    /// the moment its success arrives, and it survives a restart.
    pub async fn answers_leave_only_after_commit(db: &mut TestDb) {
        const N: usize = 24;
        let (_, ut) = users_with_tokens(&db.store, N).await;
        let observer = SqlStore::connect(&db.url).await.unwrap();
        let s = db.store.clone();
        let (tasks, first, _) = in_one_batch(db, N as u64, || {
            ut.iter()
                .map(|&(user, token)| {
                    let s = s.clone();
                    let observer = observer.clone();
                    tokio::spawn(async move {
                        let won = s
                            .commit_token_use(
                                &token_use(token, 11, Some(user)),
                                &authn_draft("success", "seen"),
                            )
                            .await
                            .unwrap();
                        // Read at once through another pool: committed, not merely written.
                        (won, last_used(&observer, token).await)
                    })
                })
                .collect::<Vec<_>>()
        })
        .await;
        first.await.unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap(), (true, Some(11)));
        }
        observer.close().await;
        db.restart().await;
        for &(_, token) in &ut {
            assert_eq!(last_used(&db.store, token).await, Some(11));
        }
        let head = head_seq(&db.store).await;
        assert_eq!(verify(&db.store).await, Verdict::Intact(head));
    }

    /// Closing the store while uses are in flight: every use reported as a success is on disk
    /// after a restart, every one that got an error wrote nothing.
    pub async fn closing_loses_no_reported_success(db: &mut TestDb) {
        const N: usize = 40;
        let (_, ut) = users_with_tokens(&db.store, N).await;
        let mut tasks = Vec::new();
        for &(user, token) in &ut {
            let s = db.store.clone();
            tasks.push(tokio::spawn(async move {
                let r = s
                    .commit_token_use(
                        &token_use(token, 5, Some(user)),
                        &authn_draft("success", "closing"),
                    )
                    .await;
                (token, r)
            }));
        }
        // Let some through, then close in the middle of the rest.
        wait_for(&db.store, "a first batch", |st| st.batches >= 1).await;
        db.store.close().await;
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        db.restart().await;
        let s = &db.store;
        let mut succeeded = 0;
        for (token, r) in results {
            match r {
                Ok(true) => {
                    succeeded += 1;
                    assert_eq!(last_used(s, token).await, Some(5), "a reported success");
                }
                Ok(false) => panic!("no race here"),
                Err(_) => assert_eq!(last_used(s, token).await, None, "a reported error"),
            }
        }
        let records = all_audit(s).await;
        let closing = records
            .iter()
            .filter(|r| r.draft.target == "closing")
            .count();
        assert_eq!(
            closing, succeeded,
            "one record per reported success, no other"
        );
        let head = head_seq(s).await;
        assert_eq!(verify(s).await, Verdict::Intact(head));
    }

    /// A batch that cannot commit (here: the chain head is gone when it starts) fails every
    /// operation in it, and none of them wrote anything.
    pub async fn a_failed_batch_fails_all_its_operations_and_writes_nothing(db: &mut TestDb) {
        const N: usize = 10;
        let (_, ut) = users_with_tokens(&db.store, N).await;
        let head = db.store.find_audit_head().await.unwrap();
        let records_before = all_audit(&db.store).await.len();
        let s = db.store.clone();
        let before = s.group_commit_stats();
        let holder = hold_writer(db).await;
        let tasks: Vec<_> = ut
            .iter()
            .map(|&(user, token)| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.commit_token_use(
                        &token_use(token, 4, Some(user)),
                        &authn_draft("success", "doomed"),
                    )
                    .await
                })
            })
            .collect();
        wait_for(&s, "every operation to be taken or queued", |st| {
            st.operations - before.operations + st.queued == N as u64
        })
        .await;
        holder.commit_with("DELETE FROM audit_head").await;
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert_eq!(variant(&e), "corrupt", "{e}");
        }
        let st = s.group_commit_stats();
        assert!(st.failed_batches > before.failed_batches, "{st:?}");
        db.store
            .execute_raw(&format!(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, {}, '{}')",
                head.seq, head.hash
            ))
            .await
            .unwrap();
        for &(_, token) in &ut {
            assert_eq!(last_used(&db.store, token).await, None);
        }
        assert_eq!(all_audit(&db.store).await.len(), records_before);
        assert_eq!(verify(&db.store).await, Verdict::Intact(head.seq));
        // And the writer goes on.
        let (user, token) = ut[0];
        assert!(
            db.store
                .commit_token_use(
                    &token_use(token, 4, Some(user)),
                    &authn_draft("success", "x")
                )
                .await
                .unwrap()
        );
        assert_eq!(verify(&db.store).await, Verdict::Intact(head.seq + 1));
    }

    /// Administrative writes keep their own transactions beside the batches (on SQLite on
    /// another connection, through the write gate): under a steady stream of authentication
    /// writes each of them still gets its turn and succeeds, the batches go on meanwhile, and
    /// the chain stays one chain.
    pub async fn administrative_writes_get_their_turn_under_authentication_load(db: &mut TestDb) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

        const ADMIN_WRITES: usize = 40;
        let (domain, ut) = users_with_tokens(&db.store, 16).await;
        let before_seq = head_seq(&db.store).await;
        let stop = Arc::new(AtomicBool::new(false));
        let uses = Arc::new(AtomicU64::new(0));
        let mut load = Vec::new();
        for &(user, token) in &ut {
            let (s, stop, uses) = (db.store.clone(), Arc::clone(&stop), Arc::clone(&uses));
            load.push(tokio::spawn(async move {
                let mut step = 0;
                while !stop.load(Ordering::Relaxed) {
                    step += 1;
                    let won = s
                        .commit_token_use(
                            &token_use(token, step, Some(user)),
                            &authn_draft("success", "load"),
                        )
                        .await
                        .unwrap();
                    assert!(won, "every step is fresh");
                    uses.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        wait_for(&db.store, "the load to run", |st| st.operations >= 200).await;
        let mut during = Vec::new();
        for i in 0..ADMIN_WRITES {
            let before = uses.load(Ordering::Relaxed);
            let login = format!("admin-made-{i:02}");
            db.store
                .insert_user(&new_user(&login, domain), &draft("user.create", &login))
                .await
                .unwrap_or_else(|e| panic!("administrative write {i} under load: {e}"));
            during.push(uses.load(Ordering::Relaxed) - before);
        }
        stop.store(true, Ordering::Relaxed);
        for t in load {
            t.await.unwrap();
        }
        assert!(
            during.iter().sum::<u64>() > 0,
            "the batches went on between the administrative writes: {during:?}"
        );
        let s = &db.store;
        let expected =
            before_seq + i64::try_from(uses.load(Ordering::Relaxed)).unwrap() + n_i64(ADMIN_WRITES);
        assert_eq!(head_seq(s).await, expected);
        assert_eq!(verify(s).await, Verdict::Intact(expected));
    }
}
