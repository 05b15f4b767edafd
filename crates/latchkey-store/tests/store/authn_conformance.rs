//! The authentication-store conformance suite ([`AuthnStore`]): one set of test bodies, run
//! on SQLite and on PostgreSQL with the harness of `common` (see `conformance.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    missing_docs
)]

use latchkey_core::audit::{AuditDraft, Verdict};
use latchkey_core::authn::store::{
    Attempt, AttemptState, AuthToken, AuthnStore, Failure, FailureOutcome, LockState, TokenUse,
};
use latchkey_core::ids::{AgentId, DomainId, TokenId, UserId};
use latchkey_core::model::User;
use latchkey_core::store::Store;
use latchkey_proto::admin::UserStatus;
use latchkey_proto::policy::LockoutPolicy;
use latchkey_store::SqlStore;

use crate::common::*;

conformance!(
    token_use_admits_one_winner_per_step,
    token_use_without_success_keeps_counters,
    token_use_of_a_missing_token_writes_nothing,
    concurrent_failures_are_all_counted,
    lockout_auto_unlock_and_escalation,
    manual_lock_needs_an_administrator,
    disabled_user_is_not_locked,
    failure_window_restarts,
    success_resets_failures,
    missing_user_is_not_found,
    attempts_are_taken_once,
    attempts_go_with_their_user_and_agent,
    token_pin_update_clears_new_pin_flag,
    tokens_are_read_by_serial,
);

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A domain, user `alice` and her tokens `T1` and `T2`.
struct Setup {
    domain: DomainId,
    user: User,
    t1: TokenId,
    t2: TokenId,
}

async fn setup(s: &SqlStore) -> Setup {
    let domain = root(s).await;
    let user = s
        .insert_user(
            &new_user("alice", domain),
            &draft("user.create", "user:alice"),
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for serial in ["T1", "T2"] {
        let t = s
            .insert_token(
                &new_token(serial, domain, Some(user.id)),
                &draft("token.create", serial),
            )
            .await
            .unwrap();
        ids.push(t.id);
    }
    Setup {
        domain,
        user,
        t1: ids[0],
        t2: ids[1],
    }
}

fn authn_draft(outcome: &str) -> AuditDraft {
    AuditDraft::ok(NOW, "agent:vpn", "authn", "user:alice", Some("192.0.2.7"))
        .with_outcome(outcome)
        .with_detail(&serde_json::json!({"counted": true}))
}

fn token_use(token: TokenId, used: i64, success_for: Option<UserId>) -> TokenUse {
    TokenUse {
        token_id: token,
        used,
        drift: 1,
        next_counter: u64::try_from(used + 1).unwrap(),
        success_for,
    }
}

fn policy(max_failures: u32, auto_unlock_minutes: Option<u32>, escalate: bool) -> LockoutPolicy {
    LockoutPolicy {
        max_failures,
        window_seconds: 3600,
        auto_unlock_minutes,
        escalate,
        ..LockoutPolicy::default()
    }
}

async fn fail_at(
    s: &SqlStore,
    x: &Setup,
    now: i64,
    policy: LockoutPolicy,
) -> (FailureOutcome, serde_json::Value) {
    let f = Failure {
        user_id: x.user.id,
        token_ids: vec![x.t1, x.t2],
        now,
        policy,
    };
    let out = s
        .commit_failure(&f, &authn_draft("fail:wrong_pin"))
        .await
        .unwrap();
    let last = all_audit(s).await.pop().unwrap();
    assert_eq!(last.draft.outcome, "fail:wrong_pin");
    (out, serde_json::from_str(&last.draft.detail).unwrap())
}

async fn status(s: &SqlStore) -> UserStatus {
    s.find_user_by_login("alice").await.unwrap().unwrap().status
}

async fn failed_passcodes(s: &SqlStore, t: TokenId) -> u32 {
    s.find_auth_token(t)
        .await
        .unwrap()
        .unwrap()
        .failed_passcodes
}

fn unlock_draft(at: i64) -> AuditDraft {
    AuditDraft::ok(at, "system", "user.auto_unlock", "user:alice", None)
}

fn attempt(id: &str, agent: AgentId, user: UserId) -> Attempt {
    Attempt {
        id: id.into(),
        agent_id: agent,
        user_id: user,
        login: "alice".into(),
        expires_at: NOW + 180,
        created_at: NOW,
        state: AttemptState::ConfirmPin {
            token: 7,
            verifier: "v1$c2FsdA$aGFzaA".into(),
            tries: 1,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

mod cases {
    use super::*;

    pub async fn token_use_admits_one_winner_per_step(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let before = head_seq(s).await;
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let s = s.clone();
            let u = token_use(x.t1, 100, Some(x.user.id));
            tasks.push(tokio::spawn(async move {
                s.commit_token_use(&u, &authn_draft("success"))
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            if t.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
        assert_eq!(head_seq(s).await, before + 1, "exactly one record");
        let t = s.find_auth_token(x.t1).await.unwrap().unwrap().token;
        assert_eq!(t.last_used, Some(100));
        assert_eq!(t.counter, 101);
        assert_eq!(t.drift, 1);

        // The same or a lower step loses and writes nothing; a higher one wins.
        for step in [100, 99, 0] {
            assert!(
                !s.commit_token_use(&token_use(x.t1, step, Some(x.user.id)), &authn_draft("x"))
                    .await
                    .unwrap()
            );
        }
        assert_eq!(head_seq(s).await, before + 1);
        assert!(
            s.commit_token_use(
                &token_use(x.t1, 101, Some(x.user.id)),
                &authn_draft("success")
            )
            .await
            .unwrap()
        );
        let t = s.find_auth_token(x.t1).await.unwrap().unwrap().token;
        assert_eq!(t.last_used, Some(101));
        assert_eq!(t.counter, 102);
        // The other token is untouched.
        let t2 = s.find_auth_token(x.t2).await.unwrap().unwrap().token;
        assert_eq!(t2.last_used, None);
        assert_eq!(t2.counter, 42);

        let records = all_audit(s).await;
        assert_eq!(records.len(), usize::try_from(before + 2).unwrap());
        assert!(
            records
                .iter()
                .rev()
                .take(2)
                .all(|r| r.draft.outcome == "success")
        );
        assert_eq!(verify(s).await, Verdict::Intact(before + 2));
    }

    pub async fn token_use_without_success_keeps_counters(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        fail_at(s, &x, NOW, policy(10, None, false)).await;
        // A token use that is no success (a challenge is issued) resets nothing.
        assert!(
            s.commit_token_use(&token_use(x.t1, 5, None), &authn_draft("challenge"))
                .await
                .unwrap()
        );
        assert_eq!(failed_passcodes(s, x.t1).await, 1);
        assert_eq!(s.find_lock_state(x.user.id).await.unwrap().failures, 1);
        assert_eq!(
            s.find_auth_token(x.t1)
                .await
                .unwrap()
                .unwrap()
                .token
                .last_used,
            Some(5)
        );
    }

    pub async fn token_use_of_a_missing_token_writes_nothing(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let before = head_seq(s).await;
        let r = s
            .commit_token_use(
                &token_use(TokenId(9999), 1, Some(x.user.id)),
                &authn_draft("s"),
            )
            .await
            .unwrap();
        assert!(!r);
        // A success for a user the token does not belong to (one that is gone) uses nothing.
        let r = s
            .commit_token_use(&token_use(x.t1, 1, Some(UserId(9999))), &authn_draft("s"))
            .await
            .unwrap();
        assert!(!r);
        assert_eq!(
            s.find_auth_token(x.t1)
                .await
                .unwrap()
                .unwrap()
                .token
                .last_used,
            None
        );
        assert_eq!(head_seq(s).await, before);
        assert_eq!(verify(s).await, Verdict::Intact(before));
    }

    pub async fn concurrent_failures_are_all_counted(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let before = head_seq(s).await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let s = s.clone();
            let f = Failure {
                user_id: x.user.id,
                token_ids: vec![x.t1, x.t2],
                now: NOW + i,
                policy: LockoutPolicy {
                    max_failures: 1000,
                    window_seconds: 86_400,
                    ..LockoutPolicy::default()
                },
            };
            tasks.push(tokio::spawn(async move {
                s.commit_failure(&f, &authn_draft("fail:wrong_tokencode"))
                    .await
                    .unwrap()
            }));
        }
        let mut counts = Vec::new();
        for t in tasks {
            let out = t.await.unwrap();
            assert!(!out.locked);
            counts.push(out.failures);
        }
        counts.sort_unstable();
        assert_eq!(counts, (1..=40).collect::<Vec<u32>>(), "no lost update");
        let lock = s.find_lock_state(x.user.id).await.unwrap();
        assert_eq!(lock.failures, 40);
        assert_eq!(lock.locked_until, None);
        assert_eq!(lock.lock_count, 0);
        assert_eq!(failed_passcodes(s, x.t1).await, 40);
        assert_eq!(failed_passcodes(s, x.t2).await, 40);
        assert_eq!(status(s).await, UserStatus::Enabled);
        let records = all_audit(s).await;
        assert_eq!(records.len(), usize::try_from(before + 40).unwrap());
        for r in records.iter().skip(usize::try_from(before).unwrap()) {
            let d: serde_json::Value = serde_json::from_str(&r.draft.detail).unwrap();
            assert_eq!(d, serde_json::json!({"counted": true, "locked": false}));
        }
        assert_eq!(verify(s).await, Verdict::Intact(before + 40));
    }

    pub async fn lockout_auto_unlock_and_escalation(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let pol = policy(3, Some(10), true);

        // Third failure locks for ten minutes.
        for (i, expect) in [(0, 1), (1, 2)] {
            let (out, detail) = fail_at(s, &x, NOW + i, pol).await;
            assert_eq!(
                out,
                FailureOutcome {
                    failures: expect,
                    locked: false
                }
            );
            assert_eq!(detail["locked"], false);
        }
        let (out, detail) = fail_at(s, &x, NOW + 2, pol).await;
        assert_eq!(
            out,
            FailureOutcome {
                failures: 3,
                locked: true
            }
        );
        assert_eq!(detail, serde_json::json!({"counted": true, "locked": true}));
        let until = NOW + 2 + 600;
        assert_eq!(
            s.find_lock_state(x.user.id).await.unwrap(),
            LockState {
                failures: 3,
                last_failure_at: Some(NOW + 2),
                locked_until: Some(until),
                lock_count: 1,
            }
        );
        assert_eq!(status(s).await, UserStatus::Locked);
        let listed = s.list_users(None).await.unwrap();
        assert_eq!(listed[0].status, UserStatus::Locked);

        // A further failure while locked counts but does not lock again.
        let (out, _) = fail_at(s, &x, NOW + 3, pol).await;
        assert_eq!(
            out,
            FailureOutcome {
                failures: 4,
                locked: false
            }
        );
        assert_eq!(s.find_lock_state(x.user.id).await.unwrap().lock_count, 1);
        assert_eq!(
            s.find_lock_state(x.user.id).await.unwrap().locked_until,
            Some(until)
        );

        // Not due: nothing written.
        let before = head_seq(s).await;
        assert!(
            !s.auto_unlock(x.user.id, until - 1, &unlock_draft(until - 1))
                .await
                .unwrap()
        );
        assert_eq!(head_seq(s).await, before);
        assert_eq!(status(s).await, UserStatus::Locked);

        // Due: unlocked, counted once.
        assert!(
            s.auto_unlock(x.user.id, until, &unlock_draft(until))
                .await
                .unwrap()
        );
        assert_eq!(head_seq(s).await, before + 1);
        assert_eq!(
            all_audit(s).await.pop().unwrap().draft.action,
            "user.auto_unlock"
        );
        assert_eq!(status(s).await, UserStatus::Enabled);
        assert_eq!(
            s.find_lock_state(x.user.id).await.unwrap(),
            LockState {
                failures: 0,
                last_failure_at: None,
                locked_until: None,
                lock_count: 1,
            }
        );
        // Only once.
        assert!(
            !s.auto_unlock(x.user.id, until + 5, &unlock_draft(until + 5))
                .await
                .unwrap()
        );
        assert_eq!(head_seq(s).await, before + 1);

        // The next lock lasts twice as long.
        let later = until + 10;
        for i in 0..3 {
            fail_at(s, &x, later + i, pol).await;
        }
        let lock = s.find_lock_state(x.user.id).await.unwrap();
        assert_eq!(lock.locked_until, Some(later + 2 + 1200));
        assert_eq!(lock.lock_count, 2);
        assert_eq!(status(s).await, UserStatus::Locked);

        // An administrator enabling the user unlocks and resets.
        let mut user = s.find_user_by_login("alice").await.unwrap().unwrap();
        user.status = UserStatus::Enabled;
        s.update_user(&user, &draft("user.unlock", "user:alice"))
            .await
            .unwrap();
        assert_eq!(status(s).await, UserStatus::Enabled);
        let lock = s.find_lock_state(x.user.id).await.unwrap();
        assert_eq!(lock.failures, 0);
        assert_eq!(lock.last_failure_at, None);
        assert_eq!(lock.locked_until, None);
        assert!(
            !s.auto_unlock(x.user.id, later + 10_000, &unlock_draft(later))
                .await
                .unwrap()
        );
        assert_eq!(verify(s).await, Verdict::Intact(head_seq(s).await));
    }

    pub async fn manual_lock_needs_an_administrator(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let p = policy(3, None, false);
        for i in 0..3 {
            fail_at(s, &x, NOW + i, p).await;
        }
        assert_eq!(status(s).await, UserStatus::Locked);
        let lock = s.find_lock_state(x.user.id).await.unwrap();
        assert_eq!(lock.locked_until, None);
        assert_eq!(lock.lock_count, 1);
        let before = head_seq(s).await;
        for at in [NOW + 600, NOW + 86_400 * 365] {
            assert!(
                !s.auto_unlock(x.user.id, at, &unlock_draft(at))
                    .await
                    .unwrap()
            );
        }
        assert_eq!(head_seq(s).await, before);
        assert_eq!(status(s).await, UserStatus::Locked);

        // Other updates keep the lock; enabling lifts it.
        let mut u = s.find_user_by_login("alice").await.unwrap().unwrap();
        u.email = Some("alice@example.org".into());
        s.update_user(&u, &draft("user.update", "user:alice"))
            .await
            .unwrap();
        assert_eq!(status(s).await, UserStatus::Locked);
        assert_eq!(s.find_lock_state(x.user.id).await.unwrap().failures, 3);
        u.status = UserStatus::Enabled;
        s.update_user(&u, &draft("user.unlock", "user:alice"))
            .await
            .unwrap();
        assert_eq!(status(s).await, UserStatus::Enabled);
        assert_eq!(s.find_lock_state(x.user.id).await.unwrap().failures, 0);
    }

    pub async fn disabled_user_is_not_locked(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let mut u = x.user.clone();
        u.status = UserStatus::Disabled;
        s.update_user(&u, &draft("user.disable", "user:alice"))
            .await
            .unwrap();
        let p = policy(1, Some(1), false);
        let (out, detail) = fail_at(s, &x, NOW, p).await;
        assert_eq!(
            out,
            FailureOutcome {
                failures: 1,
                locked: false
            }
        );
        assert_eq!(detail["locked"], false);
        assert_eq!(status(s).await, UserStatus::Disabled);
        assert_eq!(
            s.find_lock_state(x.user.id).await.unwrap().locked_until,
            None
        );
    }

    pub async fn failure_window_restarts(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let p = LockoutPolicy {
            max_failures: 100,
            window_seconds: 60,
            ..LockoutPolicy::default()
        };
        assert_eq!(fail_at(s, &x, NOW, p).await.0.failures, 1);
        // Exactly the window apart still counts.
        assert_eq!(fail_at(s, &x, NOW + 60, p).await.0.failures, 2);
        assert_eq!(fail_at(s, &x, NOW + 100, p).await.0.failures, 3);
        // More than the window after the last failure starts again.
        assert_eq!(fail_at(s, &x, NOW + 161, p).await.0.failures, 1);
        let lock = s.find_lock_state(x.user.id).await.unwrap();
        assert_eq!(lock.failures, 1);
        assert_eq!(lock.last_failure_at, Some(NOW + 161));
        // The tokens' counters are not windowed.
        assert_eq!(failed_passcodes(s, x.t1).await, 4);
    }

    pub async fn success_resets_failures(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let p = policy(2, Some(1), true);
        fail_at(s, &x, NOW, p).await;
        fail_at(s, &x, NOW + 1, p).await;
        assert!(
            s.auto_unlock(x.user.id, NOW + 61, &unlock_draft(NOW))
                .await
                .unwrap()
        );
        fail_at(s, &x, NOW + 70, p).await;
        let lock = s.find_lock_state(x.user.id).await.unwrap();
        assert_eq!((lock.failures, lock.lock_count), (1, 1));
        assert_eq!(failed_passcodes(s, x.t1).await, 3);
        assert_eq!(failed_passcodes(s, x.t2).await, 3);

        assert!(
            s.commit_token_use(
                &token_use(x.t1, 50, Some(x.user.id)),
                &authn_draft("success")
            )
            .await
            .unwrap()
        );
        assert_eq!(
            s.find_lock_state(x.user.id).await.unwrap(),
            LockState::default()
        );
        assert_eq!(failed_passcodes(s, x.t1).await, 0);
        // The token that was not used keeps its own count.
        assert_eq!(failed_passcodes(s, x.t2).await, 3);
        let listed = s.list_auth_tokens(x.user.id).await.unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|t| (t.token.serial.as_str(), t.failed_passcodes))
                .collect::<Vec<_>>(),
            [("T1", 0), ("T2", 3)]
        );
        assert_eq!(status(s).await, UserStatus::Enabled);
    }

    /// Both reads of a user's tokens give them by serial, not in the order they were made
    /// (the SQLite fast path sorts them itself).
    pub async fn tokens_are_read_by_serial(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        for serial in ["T0-late", "A9", "T1a"] {
            s.insert_token(
                &new_token(serial, x.domain, Some(x.user.id)),
                &draft("token.create", serial),
            )
            .await
            .unwrap();
        }
        let expected = ["A9", "T0-late", "T1", "T1a", "T2"];
        let serials = |tokens: &[AuthToken]| {
            tokens
                .iter()
                .map(|t| t.token.serial.clone())
                .collect::<Vec<_>>()
        };
        let listed = s.list_auth_tokens(x.user.id).await.unwrap();
        assert_eq!(serials(&listed), expected);
        let (user, tokens) = s.find_user_with_tokens("alice").await.unwrap().unwrap();
        assert_eq!(user.id, x.user.id);
        assert_eq!(serials(&tokens), expected);
    }

    pub async fn missing_user_is_not_found(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let before = head_seq(s).await;
        assert_err(s.find_lock_state(UserId(9999)).await, "not_found");
        let f = Failure {
            user_id: UserId(9999),
            token_ids: vec![x.t1],
            now: NOW,
            policy: LockoutPolicy::default(),
        };
        assert_err(s.commit_failure(&f, &authn_draft("x")).await, "not_found");
        assert_eq!(failed_passcodes(s, x.t1).await, 0);
        assert!(
            !s.auto_unlock(UserId(9999), NOW, &unlock_draft(NOW))
                .await
                .unwrap()
        );
        assert!(s.list_auth_tokens(UserId(9999)).await.unwrap().is_empty());
        assert!(s.find_auth_token(TokenId(9999)).await.unwrap().is_none());
        assert_eq!(head_seq(s).await, before);
        // A fresh user starts clean.
        assert_eq!(
            s.find_lock_state(x.user.id).await.unwrap(),
            LockState::default()
        );
    }

    pub async fn attempts_are_taken_once(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let agent = s
            .insert_agent(
                &rest_agent("vpn", x.domain, "hash-vpn"),
                &draft("agent.create", "agent:vpn"),
            )
            .await
            .unwrap();
        let before = head_seq(s).await;
        let a = attempt("att-1", agent.id, x.user.id);
        s.insert_attempt(&a).await.unwrap();
        assert_err(s.insert_attempt(&a).await, "conflict");
        // Another agent can neither take nor remove it.
        assert_eq!(
            s.take_attempt("att-1", AgentId(agent.id.0 + 1))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.take_attempt("att-1", agent.id).await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(s.take_attempt("att-1", agent.id).await.unwrap(), None);
        assert_eq!(s.take_attempt("never", agent.id).await.unwrap(), None);

        // Every state kind round-trips.
        let states = [
            AttemptState::NewPin { token: 1, tries: 2 },
            AttemptState::NextTokencode {
                token: 3,
                after: -4,
                resync: true,
            },
            AttemptState::NextPasscode { token: 5 },
        ];
        for (i, st) in states.into_iter().enumerate() {
            let mut b = attempt(&format!("st-{i}"), agent.id, x.user.id);
            b.state = st;
            s.insert_attempt(&b).await.unwrap();
            assert_eq!(s.take_attempt(&b.id, agent.id).await.unwrap(), Some(b));
        }

        // Concurrent takers: exactly one gets it.
        s.insert_attempt(&attempt("att-2", agent.id, x.user.id))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let s = s.clone();
            let agent = agent.id;
            tasks.push(tokio::spawn(async move {
                s.take_attempt("att-2", agent).await.unwrap()
            }));
        }
        let mut got = 0;
        for t in tasks {
            if t.await.unwrap().is_some() {
                got += 1;
            }
        }
        assert_eq!(got, 1);

        // Unknown agent or user.
        assert_err(
            s.insert_attempt(&attempt("att-3", AgentId(9999), x.user.id))
                .await,
            "not_found",
        );
        assert_err(
            s.insert_attempt(&attempt("att-4", agent.id, UserId(9999)))
                .await,
            "not_found",
        );
        // Attempts are not audited.
        assert_eq!(head_seq(s).await, before);
    }

    pub async fn attempts_go_with_their_user_and_agent(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let agent = s
            .insert_agent(
                &rest_agent("vpn", x.domain, "hash-vpn"),
                &draft("agent.create", "agent:vpn"),
            )
            .await
            .unwrap();
        let bob = s
            .insert_user(&new_user("bob", x.domain), &draft("user.create", "bob"))
            .await
            .unwrap();
        s.insert_attempt(&attempt("of-alice", agent.id, x.user.id))
            .await
            .unwrap();
        s.insert_attempt(&attempt("of-bob", agent.id, bob.id))
            .await
            .unwrap();
        s.delete_user(x.user.id, &draft("user.delete", "user:alice"))
            .await
            .unwrap();
        assert_eq!(s.take_attempt("of-alice", agent.id).await.unwrap(), None);
        s.delete_agent(agent.id, &draft("agent.delete", "agent:vpn"))
            .await
            .unwrap();
        assert_eq!(s.take_attempt("of-bob", agent.id).await.unwrap(), None);
    }

    pub async fn token_pin_update_clears_new_pin_flag(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let mut t = s.find_auth_token(x.t1).await.unwrap().unwrap().token;
        t.new_pin_required = true;
        t.pin_verifier = None;
        s.update_token_admin(&t, &draft("token.update", "T1"))
            .await
            .unwrap();
        let before = head_seq(s).await;
        s.update_token_pin(x.t1, "v1$bmV3$cGlu", &draft("token.pin", "T1"))
            .await
            .unwrap();
        assert_eq!(head_seq(s).await, before + 1);
        let t = s.find_auth_token(x.t1).await.unwrap().unwrap().token;
        assert!(!t.new_pin_required);
        assert_eq!(t.pin_verifier.as_deref(), Some("v1$bmV3$cGlu"));
        assert_err(
            s.update_token_pin(TokenId(9999), "v1$x$y", &draft("token.pin", "none"))
                .await,
            "not_found",
        );
        assert_eq!(head_seq(s).await, before + 1);
    }
}
