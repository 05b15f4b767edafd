//! The emergency-access part of the store contract: online grants and their codes, offline
//! emergency values, and the notification outbox, run on SQLite and on PostgreSQL with the
//! harness of `common` (see `conformance.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    missing_docs
)]

use latchkey_core::audit::{AuditDraft, Verdict};
use latchkey_core::authn::store::AuthnStore;
use latchkey_core::delivery::{LimitHit, NewDelivery, SendLimits};
use latchkey_core::emergency::{
    Eac, EmergencyUse, NewNotice, NewOnlineEmergency, OfflineEmergency, OfflineOwner, offline_aad,
};
use latchkey_core::ids::{DomainId, TokenId};
use latchkey_core::model::User;
use latchkey_core::store::{SealedKind, Store};
use latchkey_proto::emergency::OnlineEmergencyKind;
use latchkey_proto::policy::TokenAvailableBehavior;
use latchkey_store::SqlStore;

use crate::common::*;

conformance!(
    one_time_code_admits_one_winner,
    grant_replaces_and_ends_once,
    offline_values_admit_one_writer_per_generation,
    offline_values_are_resealable,
    reassigning_a_token_clears_its_emergency_credentials,
    notices_follow_their_transaction_and_scope,
    access_code_replaces_and_is_used_once,
    send_limits_hold_under_concurrency,
    authentication_reads_give_back_every_credential_kind,
);

struct Setup {
    domain: DomainId,
    user: User,
    t1: TokenId,
    t2: TokenId,
}

async fn setup(s: &SqlStore) -> Setup {
    let domain = root(s).await;
    let user = s
        .insert_user(&new_user("alice", domain), &draft("user.create", "alice"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for serial in ["T1", "T2"] {
        ids.push(
            s.insert_token(
                &new_token(serial, domain, Some(user.id)),
                &draft("token.create", serial),
            )
            .await
            .unwrap()
            .id,
        );
    }
    Setup {
        domain,
        user,
        t1: ids[0],
        t2: ids[1],
    }
}

fn grant(token: TokenId, kind: OnlineEmergencyKind, verifiers: &[&str]) -> NewOnlineEmergency {
    NewOnlineEmergency {
        token_id: token,
        kind,
        expires_at: Some(NOW + 3600),
        token_available: TokenAvailableBehavior::DenyToken,
        created_at: NOW,
        verifiers: verifiers.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn notice(x: &Setup, event: &str) -> NewNotice {
    NewNotice {
        created_at: NOW,
        user_id: x.user.id,
        domain_id: x.domain,
        channel: "none".into(),
        destination: None,
        event: event.into(),
        body: format!("Latchkey: {event}"),
    }
}

fn offline(owner: OfflineOwner, generation: i64, tag: &str) -> OfflineEmergency {
    OfflineEmergency {
        owner,
        generation,
        value_sealed: sealed(tag),
        created_at: NOW,
        expires_at: NOW + 30 * 86_400,
        online_use: false,
    }
}

fn authn_draft() -> AuditDraft {
    AuditDraft::ok(NOW, "agent:vpn", "authn", "user:alice", None).with_outcome("success")
}

fn access_code(x: &Setup, id: &str, one_time: bool) -> Eac {
    Eac {
        user_id: x.user.id,
        id: id.into(),
        verifier: format!("v-{id}"),
        offline_verifier: format!("$argon2id$-{id}"),
        one_time,
        expires_at: NOW + 3600,
        offline_expires_at: NOW + 1800,
        created_at: NOW,
        used_at: None,
    }
}

mod cases {
    use super::*;

    pub async fn send_limits_hold_under_concurrency(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let limits = SendLimits {
            cooldown_secs: 0,
            ..SendLimits::default()
        };
        let send = |now: i64, to: &str| NewDelivery {
            user_id: x.user.id,
            destination: to.into(),
            channel: "sms".into(),
            now,
        };
        let before = head_seq(s).await;
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let s = s.clone();
            let d = send(NOW, "+14155550123");
            tasks.push(tokio::spawn(async move {
                s.reserve_delivery(&d, &limits, &draft("authn.code_send", "alice"))
                    .await
                    .unwrap()
            }));
        }
        let mut sent = Vec::new();
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(id) => sent.push(id),
                Err(hit) => {
                    assert_eq!(hit, LimitHit::User);
                    refused += 1;
                }
            }
        }
        assert_eq!(sent.len(), 5, "the per-user limit");
        assert_eq!(refused, 27);
        assert_eq!(head_seq(s).await, before + 32, "every request is audited");
        let refusals = all_audit(s)
            .await
            .into_iter()
            .filter(|r| r.draft.outcome == "refused:user_limit")
            .count();
        assert_eq!(refusals, 27);
        s.record_delivery(sent[0], true, "[]", &draft("message.delivery", "alice"))
            .await
            .unwrap();
        assert_err(
            s.record_delivery(-1, true, "[]", &draft("message.delivery", "alice"))
                .await,
            "not_found",
        );
        // The window passes; the cool-down holds between two sends.
        let later = NOW + 901;
        let cool = SendLimits::default();
        assert!(
            s.reserve_delivery(&send(later, "+14155550123"), &cool, &draft("x", "y"))
                .await
                .unwrap()
                .is_ok()
        );
        assert_eq!(
            s.reserve_delivery(&send(later + 29, "+14155550124"), &cool, &draft("x", "y"))
                .await
                .unwrap(),
            Err(LimitHit::Cooldown)
        );
        // The destination's limit counts every user's sends to that number.
        let dest = SendLimits {
            cooldown_secs: 0,
            per_user: 100,
            per_destination_per_hour: 2,
            ..SendLimits::default()
        };
        let t = NOW + 5000;
        for expected in [true, true, false] {
            let r = s
                .reserve_delivery(&send(t, "+14155550999"), &dest, &draft("x", "y"))
                .await
                .unwrap();
            assert_eq!(r.is_ok(), expected, "{r:?}");
        }
        assert_eq!(verify(s).await, Verdict::Intact(head_seq(s).await));
    }

    pub async fn access_code_replaces_and_is_used_once(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        assert!(s.find_eac(x.user.id).await.unwrap().is_none());
        s.put_eac(&access_code(&x, "a1", true), None, &draft("gen", "alice"))
            .await
            .unwrap();
        s.put_eac(
            &access_code(&x, "a2", true),
            Some(&notice(&x, "emergency.access_code.issued")),
            &draft("gen", "alice"),
        )
        .await
        .unwrap();
        let e = s.find_eac(x.user.id).await.unwrap().unwrap();
        assert_eq!(
            e,
            access_code(&x, "a2", true),
            "the newer replaced the older"
        );
        // The replaced code cannot be used.
        assert!(
            !s.commit_eac_use(x.user.id, "a1", true, NOW, None, &authn_draft())
                .await
                .unwrap()
        );
        let before = head_seq(s).await;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let s = s.clone();
            let user = x.user.id;
            tasks.push(tokio::spawn(async move {
                s.commit_eac_use(user, "a2", true, NOW + 9, None, &authn_draft())
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
        assert_eq!(head_seq(s).await, before + 1);
        assert_eq!(
            s.find_eac(x.user.id).await.unwrap().unwrap().used_at,
            Some(NOW + 9)
        );
        // A reusable code is never marked, and must be the current one.
        s.put_eac(&access_code(&x, "r1", false), None, &draft("gen", "alice"))
            .await
            .unwrap();
        for _ in 0..2 {
            assert!(
                s.commit_eac_use(x.user.id, "r1", false, NOW, None, &authn_draft())
                    .await
                    .unwrap()
            );
        }
        assert!(
            !s.commit_eac_use(x.user.id, "a2", false, NOW, None, &authn_draft())
                .await
                .unwrap()
        );
        assert_eq!(s.find_eac(x.user.id).await.unwrap().unwrap().used_at, None);
        assert!(
            s.delete_eac(x.user.id, &draft("revoke", "alice"))
                .await
                .unwrap()
        );
        assert!(
            !s.delete_eac(x.user.id, &draft("revoke", "alice"))
                .await
                .unwrap()
        );
        assert_eq!(verify(s).await, Verdict::Intact(head_seq(s).await));
    }

    pub async fn one_time_code_admits_one_winner(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        s.put_online_emergency(
            &grant(x.t1, OnlineEmergencyKind::OneTime, &["v1", "v2"]),
            Some(&notice(&x, "emergency.online.issued")),
            &draft("emergency.online.grant", "T1"),
        )
        .await
        .unwrap();
        let e = s.find_online_emergency(x.t1).await.unwrap().unwrap();
        assert_eq!(e.kind, OnlineEmergencyKind::OneTime);
        assert_eq!(e.token_available, TokenAvailableBehavior::DenyToken);
        assert_eq!(e.expires_at, Some(NOW + 3600));
        assert_eq!(
            e.codes
                .iter()
                .map(|c| c.verifier.as_str())
                .collect::<Vec<_>>(),
            ["v1", "v2"]
        );
        let code = e.codes[0].id;
        let before = head_seq(s).await;
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let s = s.clone();
            let u = EmergencyUse {
                user_id: x.user.id,
                token_id: x.t1,
                one_time_code: Some(code),
                now: NOW + 5,
            };
            tasks.push(tokio::spawn(async move {
                s.commit_emergency_use(&u, None, &authn_draft())
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
        assert_eq!(head_seq(s).await, before + 1, "one record");
        let e = s.find_online_emergency(x.t1).await.unwrap().unwrap();
        assert_eq!(e.codes[0].used_at, Some(NOW + 5));
        assert_eq!(e.codes[1].used_at, None);
        // A reusable code (none to mark) always commits, and resets the failure counters.
        s.execute_raw("UPDATE users SET failures = 3")
            .await
            .unwrap();
        let fixed = EmergencyUse {
            user_id: x.user.id,
            token_id: x.t1,
            one_time_code: None,
            now: NOW,
        };
        for _ in 0..2 {
            assert!(
                s.commit_emergency_use(&fixed, None, &authn_draft())
                    .await
                    .unwrap()
            );
        }
        assert_eq!(s.find_lock_state(x.user.id).await.unwrap().failures, 0);
        assert_eq!(verify(s).await, Verdict::Intact(head_seq(s).await));
    }

    pub async fn grant_replaces_and_ends_once(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        for vs in [&["a", "b", "c"][..], &["d"][..]] {
            s.put_online_emergency(
                &grant(x.t1, OnlineEmergencyKind::Fixed, vs),
                None,
                &draft("emergency.online.grant", "T1"),
            )
            .await
            .unwrap();
        }
        s.put_online_emergency(
            &grant(x.t2, OnlineEmergencyKind::OneTime, &["e", "f"]),
            None,
            &draft("emergency.online.grant", "T2"),
        )
        .await
        .unwrap();
        let all = s.list_online_emergencies(x.user.id).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].token_id, x.t1);
        assert_eq!(all[0].codes.len(), 1, "the second grant replaced the first");
        assert_eq!(all[0].codes[0].verifier, "d");
        assert_eq!(all[1].codes.len(), 2);

        let before = head_seq(s).await;
        assert!(
            s.end_online_emergency(x.t1, &draft("emergency.online.end", "T1"))
                .await
                .unwrap()
        );
        assert!(
            !s.end_online_emergency(x.t1, &draft("emergency.online.end", "T1"))
                .await
                .unwrap()
        );
        assert_eq!(
            head_seq(s).await,
            before + 1,
            "the second end wrote nothing"
        );
        assert!(s.find_online_emergency(x.t1).await.unwrap().is_none());
        // Deleting the token takes its grant and codes with it.
        s.delete_token(x.t2, &draft("token.delete", "T2"))
            .await
            .unwrap();
        assert!(
            s.list_online_emergencies(x.user.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(verify(s).await, Verdict::Intact(head_seq(s).await));
    }

    pub async fn offline_values_admit_one_writer_per_generation(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let owner = OfflineOwner::User(x.user.id);
        // Many first writers: one wins.
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.put_offline_emergency(
                    &offline(owner, 1, &format!("first-{i}")),
                    None,
                    None,
                    &draft("emergency.offline_passcode.generate", "alice"),
                )
                .await
                .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
        // Many replacements of generation 1: one wins.
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.put_offline_emergency(
                    &offline(owner, 2, &format!("second-{i}")),
                    Some(1),
                    None,
                    &draft("emergency.offline_passcode.reset", "alice"),
                )
                .await
                .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
        let stored = s.find_offline_emergency(owner).await.unwrap().unwrap();
        assert_eq!(stored.generation, 2);
        assert!(stored.value_sealed.starts_with(&sealed("second-")));
        assert_eq!(stored.expires_at, NOW + 30 * 86_400);
        // A stale replacement loses.
        assert!(
            !s.put_offline_emergency(&offline(owner, 2, "stale"), Some(1), None, &draft("x", "y"))
                .await
                .unwrap()
        );

        // The tokencode of one of her tokens, and its online-use flag.
        let tok = OfflineOwner::Token(x.t1);
        assert_err(
            s.set_offline_online_use(x.t1, true, &draft("x", "T1"))
                .await,
            "not_found",
        );
        assert!(
            s.put_offline_emergency(&offline(tok, 1, "tc"), None, None, &draft("gen", "T1"))
                .await
                .unwrap()
        );
        s.set_offline_online_use(x.t1, true, &draft("online_use", "T1"))
            .await
            .unwrap();
        let mine = s.list_offline_emergencies(x.user.id).await.unwrap();
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0].owner, owner);
        assert_eq!(mine[1].owner, tok);
        assert!(mine[1].online_use);
        assert_eq!(verify(s).await, Verdict::Intact(head_seq(s).await));
    }

    pub async fn offline_values_are_resealable(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let owner = OfflineOwner::Token(x.t2);
        s.put_offline_emergency(&offline(owner, 1, "one"), None, None, &draft("gen", "T2"))
            .await
            .unwrap();
        s.put_offline_emergency(
            &offline(owner, 2, "two"),
            Some(1),
            None,
            &draft("reset", "T2"),
        )
        .await
        .unwrap();
        let item = s
            .list_sealed()
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.kind == SealedKind::OfflineEmergency)
            .unwrap();
        assert_eq!(item.aad, offline_aad(owner, 2));
        assert_eq!(item.sealed, sealed("two"));
        let mut resealed = item.clone();
        resealed.sealed = sealed("two-again");
        s.update_sealed(&[resealed.clone()], &draft("key.rotate", "master-key"))
            .await
            .unwrap();
        assert_eq!(
            s.find_offline_emergency(owner)
                .await
                .unwrap()
                .unwrap()
                .value_sealed,
            sealed("two-again")
        );
        // Bound to the generation: a value sealed for generation 1 is refused.
        let before = head_seq(s).await;
        let mut stale = resealed;
        stale.aad = offline_aad(owner, 1);
        assert_err(
            s.update_sealed(&[stale], &draft("key.rotate", "master-key"))
                .await,
            "not_found",
        );
        assert_eq!(head_seq(s).await, before);
    }

    pub async fn reassigning_a_token_clears_its_emergency_credentials(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let bob = s
            .insert_user(&new_user("bob", x.domain), &draft("user.create", "bob"))
            .await
            .unwrap();
        s.put_online_emergency(
            &grant(x.t1, OnlineEmergencyKind::Fixed, &["v"]),
            None,
            &draft("grant", "T1"),
        )
        .await
        .unwrap();
        s.put_offline_emergency(
            &offline(OfflineOwner::Token(x.t1), 1, "tc"),
            None,
            None,
            &draft("gen", "T1"),
        )
        .await
        .unwrap();
        // A change that keeps the owner keeps them.
        let mut t = s.find_token_by_serial("T1").await.unwrap().unwrap();
        t.enabled = false;
        s.update_token_admin(&t, &draft("token.update", "T1"))
            .await
            .unwrap();
        assert!(s.find_online_emergency(x.t1).await.unwrap().is_some());
        t.user_id = Some(bob.id);
        s.update_token_admin(&t, &draft("token.update", "T1"))
            .await
            .unwrap();
        assert!(s.find_online_emergency(x.t1).await.unwrap().is_none());
        assert!(
            s.find_offline_emergency(OfflineOwner::Token(x.t1))
                .await
                .unwrap()
                .is_none()
        );
    }

    /// The reads a wrong passcode makes (on SQLite on `rusqlite`, `lite/reads.rs`) give back
    /// every kind of credential exactly as written, the user's own and only those.
    pub async fn authentication_reads_give_back_every_credential_kind(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let bob = s
            .insert_user(&new_user("bob", x.domain), &draft("user.create", "bob"))
            .await
            .unwrap();
        let t3 = s
            .insert_token(
                &new_token("T3", x.domain, Some(bob.id)),
                &draft("token.create", "T3"),
            )
            .await
            .unwrap()
            .id;
        // Nothing yet.
        assert_eq!(s.find_on_demand(x.user.id).await.unwrap(), None);
        assert_eq!(s.find_eac(x.user.id).await.unwrap(), None);
        assert!(s.find_online_emergency(x.t1).await.unwrap().is_none());
        assert!(
            s.list_online_emergencies(x.user.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.list_offline_emergencies(x.user.id)
                .await
                .unwrap()
                .is_empty()
        );

        // The on-demand PIN, hers and not bob's.
        for (user, v) in [(x.user.id, "pin-alice"), (bob.id, "pin-bob")] {
            assert!(
                s.set_on_demand(user, Some(v), NOW, &draft("on_demand", "u"))
                    .await
                    .unwrap()
            );
        }
        assert_eq!(
            s.find_on_demand(x.user.id).await.unwrap().as_deref(),
            Some("pin-alice")
        );

        // The emergency access code, every column.
        let mut code = access_code(&x, "e1", false);
        code.used_at = Some(NOW + 1);
        s.put_eac(&code, None, &draft("gen", "alice"))
            .await
            .unwrap();
        s.put_eac(
            &Eac {
                user_id: bob.id,
                ..access_code(&x, "e2", true)
            },
            None,
            &draft("gen", "bob"),
        )
        .await
        .unwrap();
        assert_eq!(s.find_eac(x.user.id).await.unwrap(), Some(code));

        // Online grants of both kinds, with and without an expiry, and a used code.
        let mut fixed = grant(x.t1, OnlineEmergencyKind::Fixed, &["f1", "f2"]);
        fixed.expires_at = None;
        fixed.token_available = TokenAvailableBehavior::AllowAfterExpiry;
        let one_time = grant(x.t2, OnlineEmergencyKind::OneTime, &["o1"]);
        for (g, serial) in [(&fixed, "T1"), (&one_time, "T2")] {
            s.put_online_emergency(g, None, &draft("grant", serial))
                .await
                .unwrap();
        }
        s.put_online_emergency(
            &grant(t3, OnlineEmergencyKind::Fixed, &["b1"]),
            None,
            &draft("grant", "T3"),
        )
        .await
        .unwrap();
        let used = s.find_online_emergency(x.t2).await.unwrap().unwrap().codes[0].id;
        assert!(
            s.commit_emergency_use(
                &EmergencyUse {
                    user_id: x.user.id,
                    token_id: x.t2,
                    one_time_code: Some(used),
                    now: NOW + 2,
                },
                None,
                &authn_draft(),
            )
            .await
            .unwrap()
        );
        let online = s.list_online_emergencies(x.user.id).await.unwrap();
        assert_eq!(online.len(), 2, "hers, not bob's");
        for (e, g) in online.iter().zip([&fixed, &one_time]) {
            assert_eq!(
                (
                    e.token_id,
                    e.kind,
                    e.expires_at,
                    e.token_available,
                    e.created_at
                ),
                (
                    g.token_id,
                    g.kind,
                    g.expires_at,
                    g.token_available,
                    g.created_at
                )
            );
            let verifiers: Vec<&str> = e.codes.iter().map(|c| c.verifier.as_str()).collect();
            assert_eq!(verifiers, g.verifiers);
        }
        assert_eq!(online[0].codes[0].used_at, None);
        assert_eq!(online[1].codes[0].used_at, Some(NOW + 2));
        for e in &online {
            assert_eq!(
                s.find_online_emergency(e.token_id).await.unwrap().as_ref(),
                Some(e),
                "one grant reads as the list has it"
            );
        }

        // Offline values: hers, her token's (usable online), and bob's token's.
        let mine = offline(OfflineOwner::User(x.user.id), 3, "passcode");
        let mut tokens = offline(OfflineOwner::Token(x.t1), 1, "tokencode");
        tokens.online_use = true;
        tokens.expires_at = NOW + 60;
        for o in [&mine, &tokens, &offline(OfflineOwner::Token(t3), 1, "bob")] {
            assert!(
                s.put_offline_emergency(o, None, None, &draft("gen", "x"))
                    .await
                    .unwrap()
            );
        }
        assert_eq!(
            s.list_offline_emergencies(x.user.id).await.unwrap(),
            [mine, tokens]
        );

        // Taken away, they are gone for the reads too.
        assert!(
            s.set_on_demand(x.user.id, None, NOW, &draft("on_demand", "alice"))
                .await
                .unwrap()
        );
        assert_eq!(s.find_on_demand(x.user.id).await.unwrap(), None);
        assert!(
            s.delete_eac(x.user.id, &draft("revoke", "alice"))
                .await
                .unwrap()
        );
        assert_eq!(s.find_eac(x.user.id).await.unwrap(), None);
        assert_eq!(
            s.find_eac(bob.id).await.unwrap().map(|e| e.id),
            Some("e2".to_owned())
        );
        assert!(
            s.end_online_emergency(x.t1, &draft("end", "T1"))
                .await
                .unwrap()
        );
        assert!(s.find_online_emergency(x.t1).await.unwrap().is_none());
        assert_eq!(s.list_online_emergencies(x.user.id).await.unwrap().len(), 1);
        assert_eq!(verify(s).await, Verdict::Intact(head_seq(s).await));
    }

    pub async fn notices_follow_their_transaction_and_scope(db: &mut TestDb) {
        let s = &db.store;
        let x = setup(s).await;
        let other = child(s, "other", x.domain).await;
        let zed = s
            .insert_user(&new_user("zed", other), &draft("user.create", "zed"))
            .await
            .unwrap();
        s.audit_with_notice(&notice(&x, "first"), &draft("reveal", "alice"))
            .await
            .unwrap();
        let owner = OfflineOwner::User(x.user.id);
        s.put_offline_emergency(
            &offline(owner, 1, "v"),
            None,
            Some(&notice(&x, "second")),
            &draft("gen", "alice"),
        )
        .await
        .unwrap();
        // A write that loses its race queues nothing.
        assert!(
            !s.put_offline_emergency(
                &offline(owner, 1, "w"),
                None,
                Some(&notice(&x, "lost")),
                &draft("gen", "alice"),
            )
            .await
            .unwrap()
        );
        let mut z = notice(&x, "zed's");
        z.user_id = zed.id;
        z.domain_id = other;
        z.channel = "sms".into();
        z.destination = Some("+14155550123".into());
        s.audit_with_notice(&z, &draft("reveal", "zed"))
            .await
            .unwrap();

        let all = s.list_notices(None, None, 100).await.unwrap();
        let events: Vec<&str> = all.iter().map(|n| n.notice.event.as_str()).collect();
        assert_eq!(events, ["zed's", "second", "first"], "newest first");
        assert_eq!(all[0].login, "zed");
        assert_eq!(all[0].notice.destination.as_deref(), Some("+14155550123"));
        assert_eq!(s.list_notices(None, None, 1).await.unwrap().len(), 1);
        let alices = s.list_notices(None, Some(x.user.id), 100).await.unwrap();
        assert_eq!(alices.len(), 2);
        let scoped = s.list_notices(Some(&[other]), None, 100).await.unwrap();
        assert_eq!(scoped.len(), 1);
        assert_eq!(scoped[0].login, "zed");
        assert!(
            s.list_notices(Some(&[]), None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        // A user's notices go with the user.
        s.delete_user(zed.id, &draft("user.delete", "zed"))
            .await
            .unwrap();
        assert_eq!(s.list_notices(None, None, 100).await.unwrap().len(), 2);
        assert_eq!(verify(s).await, Verdict::Intact(head_seq(s).await));
    }
}
