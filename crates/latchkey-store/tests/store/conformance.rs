//! The store conformance suite: one set of test bodies, run on SQLite and on PostgreSQL.
//!
//! SQLite runs always, on a fresh file in a temporary directory. PostgreSQL runs when
//! `LATCHKEY_TEST_POSTGRES_URL` names a server (each test gets its own fresh database, dropped
//! afterwards); without it the PostgreSQL tests are skipped, or fail when
//! `LATCHKEY_REQUIRE_TOOLS=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    missing_docs
)]

use latchkey_core::audit::{AuditDraft, Verdict};
use latchkey_core::ids::{AdminId, AgentId, DomainId, TokenId, UserId};
use latchkey_core::model::{NewAgent, NewDomain};
use latchkey_core::store::{SealedItem, SealedKind, Store, StoreError};
use latchkey_crypto::OtpAlgorithm;
use latchkey_proto::admin::{AgentKind, Phone, PhoneSource, Role, TokenType, UserStatus};
use latchkey_proto::policy::{LockoutPolicy, PolicyKind, PolicyValue, TokenPolicy};
use latchkey_store::SqlStore;

use crate::common::*;

conformance!(
    ping_and_empty_store,
    domains_round_trip,
    domain_conflicts_and_missing_write_nothing,
    users_round_trip,
    user_conflicts_and_missing_write_nothing,
    tokens_round_trip,
    token_conflicts_and_missing_write_nothing,
    token_counter_above_i64_max_is_refused,
    tokens_unassigned_when_user_deleted,
    agents_round_trip,
    agent_conflicts_and_missing_write_nothing,
    admins_round_trip,
    admin_conflicts_and_missing_write_nothing,
    admin_tokens_go_with_their_admin,
    named_secrets,
    sealed_values_list_and_update,
    sealed_update_is_all_or_nothing,
    mutations_are_audited_in_order,
    data_survives_restart,
    concurrent_appends_form_one_chain,
    two_nodes_share_one_chain,
    tampering_is_detected,
    scoped_lists_with_many_domains,
);

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

mod cases {
    use super::*;

    pub async fn ping_and_empty_store(db: &mut TestDb) {
        let s = &db.store;
        s.ping().await.unwrap();
        assert!(s.list_domains().await.unwrap().is_empty());
        assert!(s.list_users(None).await.unwrap().is_empty());
        assert!(s.list_tokens(None).await.unwrap().is_empty());
        assert!(s.list_agents(None).await.unwrap().is_empty());
        assert!(s.list_admins(None).await.unwrap().is_empty());
        assert!(s.list_sealed().await.unwrap().is_empty());
        assert!(s.list_audit(0, 10).await.unwrap().is_empty());
        assert_eq!(s.count_admins().await.unwrap(), 0);
        let head = s.find_audit_head().await.unwrap();
        assert_eq!(head.seq, 0);
        assert_eq!(head.hash, latchkey_core::audit::GENESIS_HASH);
        assert_eq!(verify(s).await, Verdict::Intact(0));
    }

    pub async fn domains_round_trip(db: &mut TestDb) {
        let s = &db.store;
        let all = PolicyKind::ALL.map(PolicyValue::default_of).to_vec();
        let r = s
            .insert_domain(
                &NewDomain {
                    name: "root".into(),
                    parent: None,
                    policies: all.clone(),
                    created_at: NOW,
                },
                &draft("domain.create", "domain:root"),
            )
            .await
            .unwrap();
        assert_eq!(r.name, "root");
        assert_eq!(r.parent, None);
        assert_eq!(r.policies, all);
        assert_eq!(r.created_at, NOW);

        // Policies given in any order come back in kind order.
        let lockout = PolicyValue::Lockout(LockoutPolicy {
            max_failures: 9,
            auto_unlock_minutes: Some(15),
            ..LockoutPolicy::default()
        });
        let token = PolicyValue::Token(TokenPolicy {
            pin_min_length: 6,
            ..TokenPolicy::default()
        });
        let b = s
            .insert_domain(
                &NewDomain {
                    name: "b-sales".into(),
                    parent: Some(r.id),
                    policies: vec![lockout, token],
                    created_at: NOW + 5,
                },
                &draft("domain.create", "domain:b-sales"),
            )
            .await
            .unwrap();
        assert_eq!(b.policies, vec![token, lockout]);
        let a = child(s, "a-eng", r.id).await;

        let listed = s.list_domains().await.unwrap();
        let names: Vec<_> = listed.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a-eng", "b-sales", "root"]);
        assert_eq!(listed[1], b);
        assert_eq!(listed[2], r);
        assert_eq!(listed[0].parent, Some(r.id));
        assert!(listed[0].policies.is_empty());

        // Set, replace, clear.
        let offline = PolicyValue::default_of(PolicyKind::Offline);
        s.update_domain_policy(
            a,
            PolicyKind::Offline,
            Some(&offline),
            &draft("policy.set", "a"),
        )
        .await
        .unwrap();
        let new_lockout = PolicyValue::Lockout(LockoutPolicy::default());
        s.update_domain_policy(
            b.id,
            PolicyKind::Lockout,
            Some(&new_lockout),
            &draft("policy.set", "b"),
        )
        .await
        .unwrap();
        s.update_domain_policy(b.id, PolicyKind::Token, None, &draft("policy.clear", "b"))
            .await
            .unwrap();
        let listed = s.list_domains().await.unwrap();
        assert_eq!(listed[0].own_policy(PolicyKind::Offline), Some(&offline));
        assert_eq!(listed[1].policies, vec![new_lockout]);
        // Clearing what is not set is fine.
        s.update_domain_policy(b.id, PolicyKind::Token, None, &draft("policy.clear", "b"))
            .await
            .unwrap();
        assert_eq!(head_seq(s).await, 7);
        assert_eq!(verify(s).await, Verdict::Intact(7));
    }

    pub async fn domain_conflicts_and_missing_write_nothing(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        child(s, "sales", r).await;
        let before = head_seq(s).await;
        let dup = NewDomain {
            name: "sales".into(),
            parent: Some(r),
            policies: vec![],
            created_at: NOW,
        };
        let msg = assert_err(
            s.insert_domain(&dup, &draft("domain.create", "sales"))
                .await,
            "conflict",
        );
        assert!(msg.contains("domain \"sales\""), "{msg}");
        let orphan = NewDomain {
            name: "orphan".into(),
            parent: Some(DomainId(9999)),
            policies: vec![],
            created_at: NOW,
        };
        assert_err(
            s.insert_domain(&orphan, &draft("domain.create", "orphan"))
                .await,
            "not_found",
        );
        let v = PolicyValue::default_of(PolicyKind::Token);
        assert_err(
            s.update_domain_policy(
                DomainId(9999),
                PolicyKind::Token,
                Some(&v),
                &draft("policy.set", "x"),
            )
            .await,
            "not_found",
        );
        // A value of another kind is refused before anything is written.
        assert!(
            s.update_domain_policy(r, PolicyKind::Lockout, Some(&v), &draft("policy.set", "x"))
                .await
                .is_err()
        );
        assert_eq!(head_seq(s).await, before);
        assert_eq!(s.list_domains().await.unwrap().len(), 2);
        assert_eq!(verify(s).await, Verdict::Intact(before));
    }

    pub async fn users_round_trip(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let sales = child(s, "sales", r).await;
        let bob = s
            .insert_user(&new_user("bob", sales), &draft("user.create", "user:bob"))
            .await
            .unwrap();
        let alice = s
            .insert_user(&new_user("alice", r), &draft("user.create", "user:alice"))
            .await
            .unwrap();
        assert_eq!(alice.login, "alice");
        assert_eq!(alice.status, UserStatus::Enabled);
        assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
        assert_eq!(alice.phones.len(), 1);
        assert_eq!(alice.created_at, NOW);
        assert_eq!(
            s.find_user_by_login("alice").await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(s.find_user_by_login("nobody").await.unwrap(), None);
        assert_eq!(
            s.find_user_by_id(alice.id).await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(
            s.find_user_by_id(UserId(alice.id.0 + 1000)).await.unwrap(),
            None
        );

        let all = s.list_users(None).await.unwrap();
        assert_eq!(all, vec![alice.clone(), bob.clone()]);
        assert_eq!(
            s.list_users(Some(&[sales])).await.unwrap(),
            vec![bob.clone()]
        );
        assert_eq!(s.list_users(Some(&[sales, r])).await.unwrap().len(), 2);
        assert!(s.list_users(Some(&[])).await.unwrap().is_empty());

        let mut changed = alice.clone();
        changed.status = UserStatus::Locked;
        changed.email = None;
        changed.phones = vec![
            Phone {
                number: "+442071838750".into(),
                source: PhoneSource::Synced,
            },
            Phone {
                number: "+14155550100".into(),
                source: PhoneSource::Manual,
            },
        ];
        changed.domain_id = sales;
        s.update_user(&changed, &draft("user.update", "user:alice"))
            .await
            .unwrap();
        assert_eq!(
            s.find_user_by_login("alice").await.unwrap(),
            Some(changed.clone())
        );
        assert_eq!(
            s.list_users(Some(&[sales])).await.unwrap(),
            vec![changed, bob.clone()]
        );

        s.delete_user(bob.id, &draft("user.delete", "user:bob"))
            .await
            .unwrap();
        assert_eq!(s.find_user_by_login("bob").await.unwrap(), None);
        assert_eq!(verify(s).await, Verdict::Intact(6));
    }

    pub async fn user_conflicts_and_missing_write_nothing(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let alice = s
            .insert_user(&new_user("alice", r), &draft("user.create", "user:alice"))
            .await
            .unwrap();
        let before = head_seq(s).await;
        let msg = assert_err(
            s.insert_user(&new_user("alice", r), &draft("user.create", "x"))
                .await,
            "conflict",
        );
        assert!(msg.contains("user \"alice\""), "{msg}");
        assert_err(
            s.insert_user(
                &new_user("carol", DomainId(777)),
                &draft("user.create", "x"),
            )
            .await,
            "not_found",
        );
        let mut ghost = alice.clone();
        ghost.id = UserId(alice.id.0 + 1000);
        assert_err(
            s.update_user(&ghost, &draft("user.update", "x")).await,
            "not_found",
        );
        let mut moved = alice.clone();
        moved.domain_id = DomainId(777);
        moved.status = UserStatus::Disabled;
        assert_err(
            s.update_user(&moved, &draft("user.update", "x")).await,
            "not_found",
        );
        assert_err(
            s.delete_user(UserId(alice.id.0 + 1000), &draft("user.delete", "x"))
                .await,
            "not_found",
        );
        assert_eq!(head_seq(s).await, before);
        assert_eq!(s.list_users(None).await.unwrap(), vec![alice]);
        assert_eq!(verify(s).await, Verdict::Intact(before));
    }

    pub async fn tokens_round_trip(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let sales = child(s, "sales", r).await;
        let alice = s
            .insert_user(&new_user("alice", r), &draft("user.create", "user:alice"))
            .await
            .unwrap();
        let t2 = s
            .insert_token(
                &new_token("T-0002", sales, None),
                &draft("token.import", "T-0002"),
            )
            .await
            .unwrap();
        let t1 = s
            .insert_token(
                &new_token("T-0001", r, Some(alice.id)),
                &draft("token.import", "T-0001"),
            )
            .await
            .unwrap();
        assert_eq!(t1.serial, "T-0001");
        assert_eq!(t1.token_type, TokenType::Hotp);
        assert_eq!(t1.algorithm, OtpAlgorithm::Sha256);
        assert_eq!((t1.digits, t1.period, t1.counter), (8, 30, 42));
        assert_eq!(t1.seed_sealed, sealed("T-0001"));
        assert_eq!(t1.user_id, Some(alice.id));
        assert!(t1.enabled);
        assert_eq!(t1.pin_verifier, None);
        assert!(!t1.new_pin_required);
        assert_eq!(t1.last_used, None);
        assert_eq!(t1.drift, 0);
        assert_eq!(t1.created_at, NOW + 1);
        assert_eq!(
            s.find_token_by_serial("T-0001").await.unwrap(),
            Some(t1.clone())
        );
        assert_eq!(s.find_token_by_serial("T-9999").await.unwrap(), None);
        assert_eq!(
            s.list_tokens_for_user(alice.id).await.unwrap(),
            vec![t1.clone()]
        );
        assert_eq!(
            s.list_tokens(None).await.unwrap(),
            vec![t1.clone(), t2.clone()]
        );
        assert_eq!(
            s.list_tokens(Some(&[sales])).await.unwrap(),
            vec![t2.clone()]
        );

        // Administrative fields.
        let mut changed = t1.clone();
        changed.enabled = false;
        changed.pin_verifier = Some("v1$abcdef".into());
        changed.new_pin_required = true;
        changed.user_id = None;
        changed.domain_id = sales;
        s.update_token_admin(&changed, &draft("token.update", "T-0001"))
            .await
            .unwrap();
        assert_eq!(
            s.find_token_by_serial("T-0001").await.unwrap(),
            Some(changed.clone())
        );
        assert!(s.list_tokens_for_user(alice.id).await.unwrap().is_empty());
        // Assign t2 to alice.
        let mut t2b = t2.clone();
        t2b.user_id = Some(alice.id);
        s.update_token_admin(&t2b, &draft("token.assign", "T-0002"))
            .await
            .unwrap();
        assert_eq!(s.list_tokens_for_user(alice.id).await.unwrap(), vec![t2b]);

        // A TOTP token with the largest storable counter.
        let mut big = new_token("T-0003", r, None);
        big.token_type = TokenType::Totp;
        big.algorithm = OtpAlgorithm::Sha1;
        big.counter = u64::try_from(i64::MAX).unwrap();
        let big = s
            .insert_token(&big, &draft("token.import", "T-0003"))
            .await
            .unwrap();
        assert_eq!(big.counter, u64::try_from(i64::MAX).unwrap());
        assert_eq!(
            s.find_token_by_serial("T-0003").await.unwrap(),
            Some(big.clone())
        );

        s.delete_token(big.id, &draft("token.delete", "T-0003"))
            .await
            .unwrap();
        assert_eq!(s.find_token_by_serial("T-0003").await.unwrap(), None);
        assert_eq!(verify(s).await, Verdict::Intact(9));
    }

    pub async fn token_conflicts_and_missing_write_nothing(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let t = s
            .insert_token(&new_token("T-1", r, None), &draft("token.import", "T-1"))
            .await
            .unwrap();
        let before = head_seq(s).await;
        let msg = assert_err(
            s.insert_token(&new_token("T-1", r, None), &draft("token.import", "x"))
                .await,
            "conflict",
        );
        assert!(msg.contains("token \"T-1\""), "{msg}");
        // The sealed seed (bound as bytes) never appears in an error.
        assert!(!msg.contains("T-1\u{0}"), "{msg}");
        assert_err(
            s.insert_token(
                &new_token("T-2", DomainId(404), None),
                &draft("token.import", "x"),
            )
            .await,
            "not_found",
        );
        assert_err(
            s.insert_token(
                &new_token("T-3", r, Some(UserId(404))),
                &draft("token.import", "x"),
            )
            .await,
            "not_found",
        );
        let mut ghost = t.clone();
        ghost.id = TokenId(t.id.0 + 100);
        assert_err(
            s.update_token_admin(&ghost, &draft("token.update", "x"))
                .await,
            "not_found",
        );
        let mut bad_user = t.clone();
        bad_user.user_id = Some(UserId(404));
        bad_user.pin_verifier = Some("v1$secret-verifier".into());
        let msg = assert_err(
            s.update_token_admin(&bad_user, &draft("token.update", "x"))
                .await,
            "not_found",
        );
        assert!(!msg.contains("secret-verifier"), "{msg}");
        assert_err(
            s.delete_token(TokenId(t.id.0 + 100), &draft("token.delete", "x"))
                .await,
            "not_found",
        );
        assert_eq!(head_seq(s).await, before);
        assert_eq!(s.list_tokens(None).await.unwrap(), vec![t]);
    }

    pub async fn token_counter_above_i64_max_is_refused(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let before = head_seq(s).await;
        for counter in [u64::try_from(i64::MAX).unwrap() + 1, u64::MAX] {
            let mut t = new_token("T-BIG", r, None);
            t.counter = counter;
            let e = s
                .insert_token(&t, &draft("token.import", "T-BIG"))
                .await
                .unwrap_err();
            assert!(e.to_string().contains("counter"), "{e}");
        }
        assert_eq!(head_seq(s).await, before);
        assert_eq!(s.find_token_by_serial("T-BIG").await.unwrap(), None);
    }

    pub async fn tokens_unassigned_when_user_deleted(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let alice = s
            .insert_user(&new_user("alice", r), &draft("user.create", "alice"))
            .await
            .unwrap();
        let bob = s
            .insert_user(&new_user("bob", r), &draft("user.create", "bob"))
            .await
            .unwrap();
        s.insert_token(
            &new_token("A-1", r, Some(alice.id)),
            &draft("token.import", "A-1"),
        )
        .await
        .unwrap();
        s.insert_token(
            &new_token("A-2", r, Some(alice.id)),
            &draft("token.import", "A-2"),
        )
        .await
        .unwrap();
        s.insert_token(
            &new_token("B-1", r, Some(bob.id)),
            &draft("token.import", "B-1"),
        )
        .await
        .unwrap();
        s.delete_user(alice.id, &draft("user.delete", "alice"))
            .await
            .unwrap();
        for serial in ["A-1", "A-2"] {
            let t = s.find_token_by_serial(serial).await.unwrap().unwrap();
            assert_eq!(t.user_id, None, "{serial}");
            assert_eq!(t.domain_id, r);
        }
        assert_eq!(
            s.find_token_by_serial("B-1")
                .await
                .unwrap()
                .unwrap()
                .user_id,
            Some(bob.id)
        );
        assert!(s.list_tokens_for_user(alice.id).await.unwrap().is_empty());
        assert_eq!(s.list_tokens(None).await.unwrap().len(), 3);
    }

    pub async fn agents_round_trip(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let sales = child(s, "sales", r).await;
        let vpn = s
            .insert_agent(&radius_agent("vpn", sales), &draft("agent.create", "vpn"))
            .await
            .unwrap();
        let web = s
            .insert_agent(
                &rest_agent("portal", r, "keyhash-1"),
                &draft("agent.create", "portal"),
            )
            .await
            .unwrap();
        let cloud = NewAgent {
            kind: AgentKind::CloudApp,
            ..rest_agent("crm", r, "keyhash-2")
        };
        let crm = s
            .insert_agent(&cloud, &draft("agent.create", "crm"))
            .await
            .unwrap();
        let mut host = rest_agent("laptop-7", sales, "keyhash-3");
        host.kind = AgentKind::OfflineHost;
        let host = s
            .insert_agent(&host, &draft("agent.create", "laptop-7"))
            .await
            .unwrap();

        assert_eq!(vpn.kind, AgentKind::Radius);
        assert_eq!(vpn.address, Some("10.1.0.0/16".parse().unwrap()));
        assert_eq!(vpn.secret_sealed, Some(sealed("vpn")));
        assert!(vpn.require_message_authenticator);
        assert_eq!(vpn.api_key_hash, None);
        assert_eq!(web.api_key_hash.as_deref(), Some("keyhash-1"));
        assert_eq!(crm.kind, AgentKind::CloudApp);
        assert_eq!(host.kind, AgentKind::OfflineHost);

        assert_eq!(
            s.find_agent_by_name("vpn").await.unwrap(),
            Some(vpn.clone())
        );
        assert_eq!(s.find_agent_by_name("nope").await.unwrap(), None);
        assert_eq!(
            s.find_agent_by_key_hash("keyhash-1").await.unwrap(),
            Some(web.clone())
        );
        assert_eq!(s.find_agent_by_key_hash("keyhash-9").await.unwrap(), None);
        assert_eq!(
            s.list_agents(None).await.unwrap(),
            vec![crm.clone(), host.clone(), web.clone(), vpn.clone()]
        );
        assert_eq!(
            s.list_agents(Some(&[sales])).await.unwrap(),
            vec![host, vpn.clone()]
        );

        s.delete_agent(vpn.id, &draft("agent.delete", "vpn"))
            .await
            .unwrap();
        assert_eq!(s.find_agent_by_name("vpn").await.unwrap(), None);
        assert_eq!(verify(s).await, Verdict::Intact(7));
    }

    pub async fn agent_conflicts_and_missing_write_nothing(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let a = s
            .insert_agent(
                &rest_agent("portal", r, "keyhash-1"),
                &draft("agent.create", "portal"),
            )
            .await
            .unwrap();
        let before = head_seq(s).await;
        let msg = assert_err(
            s.insert_agent(
                &rest_agent("portal", r, "keyhash-2"),
                &draft("agent.create", "x"),
            )
            .await,
            "conflict",
        );
        assert!(msg.contains("agent \"portal\""), "{msg}");
        // Same key hash under another name: a conflict that does not echo the hash.
        let msg = assert_err(
            s.insert_agent(
                &rest_agent("other", r, "keyhash-1"),
                &draft("agent.create", "x"),
            )
            .await,
            "conflict",
        );
        assert!(!msg.contains("keyhash-1"), "{msg}");
        assert_err(
            s.insert_agent(
                &radius_agent("vpn", DomainId(55)),
                &draft("agent.create", "x"),
            )
            .await,
            "not_found",
        );
        assert_err(
            s.delete_agent(AgentId(a.id.0 + 50), &draft("agent.delete", "x"))
                .await,
            "not_found",
        );
        assert_eq!(head_seq(s).await, before);
        assert_eq!(s.list_agents(None).await.unwrap(), vec![a]);
    }

    pub async fn admins_round_trip(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let sales = child(s, "sales", r).await;
        assert_eq!(s.count_admins().await.unwrap(), 0);
        let mut root_admin = new_admin("root", r, "tokhash-root");
        root_admin.role = Role::SuperAdmin;
        let ra = s
            .insert_admin(&root_admin, &draft("admin.create", "root"))
            .await
            .unwrap();
        let helper = s
            .insert_admin(
                &new_admin("helper", sales, "tokhash-helper"),
                &draft("admin.create", "helper"),
            )
            .await
            .unwrap();
        let mut aud = new_admin("auditor", r, "tokhash-aud");
        aud.role = Role::Auditor;
        let aud = s
            .insert_admin(&aud, &draft("admin.create", "auditor"))
            .await
            .unwrap();
        let mut da = new_admin("dom", sales, "tokhash-dom");
        da.role = Role::DomainAdmin;
        let da = s
            .insert_admin(&da, &draft("admin.create", "dom"))
            .await
            .unwrap();
        let mut hd = new_admin("desk", sales, "tokhash-desk");
        hd.role = Role::HelpDesk;
        let hd = s
            .insert_admin(&hd, &draft("admin.create", "desk"))
            .await
            .unwrap();

        assert_eq!(ra.role, Role::SuperAdmin);
        assert_eq!(ra.scope, r);
        assert_eq!(ra.password_hash, root_admin.password_hash);
        assert_eq!(helper.role, Role::PrivilegedHelpDesk);
        assert_eq!(s.count_admins().await.unwrap(), 5);
        assert_eq!(
            s.find_admin_by_name("root").await.unwrap(),
            Some(ra.clone())
        );
        assert_eq!(s.find_admin_by_name("nobody").await.unwrap(), None);
        assert_eq!(
            s.find_admin_by_token_hash("tokhash-helper").await.unwrap(),
            Some(helper.clone())
        );
        assert_eq!(
            s.find_admin_by_token_hash("tokhash-none").await.unwrap(),
            None
        );
        assert_eq!(
            s.list_admins(None).await.unwrap(),
            vec![
                aud.clone(),
                hd.clone(),
                da.clone(),
                helper.clone(),
                ra.clone()
            ]
        );
        assert_eq!(
            s.list_admins(Some(&[sales])).await.unwrap(),
            vec![hd, da, helper.clone()]
        );
        assert_eq!(s.list_admins(Some(&[r])).await.unwrap(), vec![aud, ra]);

        s.delete_admin(helper.id, &draft("admin.delete", "helper"))
            .await
            .unwrap();
        assert_eq!(s.count_admins().await.unwrap(), 4);
        assert_eq!(s.find_admin_by_name("helper").await.unwrap(), None);
        assert_eq!(verify(s).await, Verdict::Intact(8));
    }

    pub async fn admin_conflicts_and_missing_write_nothing(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let a = s
            .insert_admin(
                &new_admin("ann", r, "tokhash-1"),
                &draft("admin.create", "ann"),
            )
            .await
            .unwrap();
        let before = head_seq(s).await;
        let msg = assert_err(
            s.insert_admin(
                &new_admin("ann", r, "tokhash-2"),
                &draft("admin.create", "x"),
            )
            .await,
            "conflict",
        );
        assert!(msg.contains("\"ann\""), "{msg}");
        // The token hash is taken: the admin row inserted before it is rolled back too.
        let msg = assert_err(
            s.insert_admin(
                &new_admin("ben", r, "tokhash-1"),
                &draft("admin.create", "x"),
            )
            .await,
            "conflict",
        );
        assert!(!msg.contains("tokhash-1"), "{msg}");
        assert_eq!(s.find_admin_by_name("ben").await.unwrap(), None);
        assert_err(
            s.insert_admin(
                &new_admin("cid", DomainId(404), "tokhash-3"),
                &draft("admin.create", "x"),
            )
            .await,
            "not_found",
        );
        assert_err(
            s.delete_admin(AdminId(a.id.0 + 10), &draft("admin.delete", "x"))
                .await,
            "not_found",
        );
        assert_eq!(head_seq(s).await, before);
        assert_eq!(s.count_admins().await.unwrap(), 1);
        assert_eq!(s.list_admins(None).await.unwrap(), vec![a]);
    }

    pub async fn admin_tokens_go_with_their_admin(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let a = s
            .insert_admin(
                &new_admin("ann", r, "tokhash-ann"),
                &draft("admin.create", "ann"),
            )
            .await
            .unwrap();
        assert_eq!(
            s.find_admin_by_token_hash("tokhash-ann").await.unwrap(),
            Some(a.clone())
        );
        s.delete_admin(a.id, &draft("admin.delete", "ann"))
            .await
            .unwrap();
        assert_eq!(
            s.find_admin_by_token_hash("tokhash-ann").await.unwrap(),
            None
        );
        assert_eq!(
            db.store
                .execute_raw("DELETE FROM admin_tokens")
                .await
                .unwrap(),
            0
        );
        // The hash is free again, so no token row of the deleted admin is left.
        let b = s
            .insert_admin(
                &new_admin("ben", r, "tokhash-ann"),
                &draft("admin.create", "ben"),
            )
            .await
            .unwrap();
        assert_eq!(
            s.find_admin_by_token_hash("tokhash-ann").await.unwrap(),
            Some(b)
        );
    }

    pub async fn named_secrets(db: &mut TestDb) {
        let s = &db.store;
        let before = head_seq(s).await;
        assert_eq!(s.find_secret("pin-key").await.unwrap(), None);
        let first = s
            .insert_secret_if_absent("pin-key", &sealed("one"), NOW)
            .await
            .unwrap();
        assert_eq!(first, sealed("one"));
        let second = s
            .insert_secret_if_absent("pin-key", &sealed("two"), NOW + 1)
            .await
            .unwrap();
        assert_eq!(second, sealed("one"), "the first value stays");
        assert_eq!(s.find_secret("pin-key").await.unwrap(), Some(sealed("one")));
        let other = s
            .insert_secret_if_absent("other", &sealed("three"), NOW)
            .await
            .unwrap();
        assert_eq!(other, sealed("three"));

        // Racing nodes all get the same stored value.
        let mut tasks = Vec::new();
        for i in 0..8 {
            let st = db.store.clone();
            tasks.push(tokio::spawn(async move {
                st.insert_secret_if_absent("raced", &sealed(&format!("v{i}")), NOW)
                    .await
                    .unwrap()
            }));
        }
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        values.dedup();
        assert_eq!(values.len(), 1);
        assert_eq!(
            s.find_secret("raced").await.unwrap(),
            Some(values[0].clone())
        );
        assert_eq!(head_seq(s).await, before);
    }

    async fn sealed_fixture(s: &SqlStore) -> Vec<SealedItem> {
        let r = root(s).await;
        s.insert_token(&new_token("T-1", r, None), &draft("token.import", "T-1"))
            .await
            .unwrap();
        s.insert_agent(&radius_agent("vpn", r), &draft("agent.create", "vpn"))
            .await
            .unwrap();
        s.insert_agent(
            &rest_agent("portal", r, "kh"),
            &draft("agent.create", "portal"),
        )
        .await
        .unwrap();
        s.insert_secret_if_absent("pin-key", &sealed("pin-key"), NOW)
            .await
            .unwrap();
        s.list_sealed().await.unwrap()
    }

    pub async fn sealed_values_list_and_update(db: &mut TestDb) {
        let s = &db.store;
        let items = sealed_fixture(s).await;
        let t = s.find_token_by_serial("T-1").await.unwrap().unwrap();
        let vpn = s.find_agent_by_name("vpn").await.unwrap().unwrap();
        assert_eq!(items.len(), 3, "{items:?}");
        assert_eq!(items[0].kind, SealedKind::TokenSeed);
        assert_eq!(items[0].id, t.id.0);
        assert_eq!(items[0].aad, b"token-seed:T-1".to_vec());
        assert_eq!(items[0].aad, latchkey_core::admin::seed_aad("T-1"));
        assert_eq!(items[0].sealed, sealed("T-1"));
        assert_eq!(items[1].kind, SealedKind::AgentSecret);
        assert_eq!(items[1].id, vpn.id.0);
        assert_eq!(items[1].aad, b"agent-secret:vpn".to_vec());
        assert_eq!(items[1].sealed, sealed("vpn"));
        assert_eq!(items[2].kind, SealedKind::Secret);
        assert_eq!(items[2].aad, b"secret:pin-key".to_vec());
        assert_eq!(items[2].sealed, sealed("pin-key"));

        let before = head_seq(s).await;
        let resealed: Vec<_> = items
            .iter()
            .map(|i| SealedItem {
                sealed: [b"v2:".as_slice(), &i.sealed].concat(),
                ..i.clone()
            })
            .collect();
        s.update_sealed(&resealed, &draft("keys.rotate", "master-key"))
            .await
            .unwrap();
        assert_eq!(head_seq(s).await, before + 1);
        assert_eq!(s.list_sealed().await.unwrap(), resealed);
        assert_eq!(
            s.find_token_by_serial("T-1")
                .await
                .unwrap()
                .unwrap()
                .seed_sealed,
            resealed[0].sealed
        );
        assert_eq!(
            s.find_agent_by_name("vpn")
                .await
                .unwrap()
                .unwrap()
                .secret_sealed,
            Some(resealed[1].sealed.clone())
        );
        assert_eq!(
            s.find_secret("pin-key").await.unwrap(),
            Some(resealed[2].sealed.clone())
        );
        // An empty batch is still one audited transaction.
        s.update_sealed(&[], &draft("keys.rotate", "noop"))
            .await
            .unwrap();
        assert_eq!(verify(s).await, Verdict::Intact(before + 2));
    }

    pub async fn sealed_update_is_all_or_nothing(db: &mut TestDb) {
        let s = &db.store;
        let items = sealed_fixture(s).await;
        let before = head_seq(s).await;
        let mut changed: Vec<_> = items
            .iter()
            .map(|i| SealedItem {
                sealed: b"new".to_vec(),
                ..i.clone()
            })
            .collect();
        changed.push(SealedItem {
            kind: SealedKind::TokenSeed,
            id: 987_654,
            aad: b"token-seed:ghost".to_vec(),
            sealed: b"new".to_vec(),
        });
        assert_err(
            s.update_sealed(&changed, &draft("keys.rotate", "x")).await,
            "not_found",
        );
        // A value bound to another name is refused.
        let mut wrong = items[0].clone();
        wrong.aad = b"token-seed:T-2".to_vec();
        wrong.sealed = b"new".to_vec();
        assert_err(
            s.update_sealed(&[wrong], &draft("keys.rotate", "x")).await,
            "not_found",
        );
        // The REST agent has no secret to replace.
        let portal = s.find_agent_by_name("portal").await.unwrap().unwrap();
        let no_secret = SealedItem {
            kind: SealedKind::AgentSecret,
            id: portal.id.0,
            aad: b"agent-secret:portal".to_vec(),
            sealed: b"new".to_vec(),
        };
        assert_err(
            s.update_sealed(&[no_secret], &draft("keys.rotate", "x"))
                .await,
            "not_found",
        );
        assert_eq!(s.list_sealed().await.unwrap(), items);
        assert_eq!(head_seq(s).await, before);
    }

    pub async fn mutations_are_audited_in_order(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let u = s
            .insert_user(&new_user("alice", r), &draft("user.create", "user:alice"))
            .await
            .unwrap();
        let detail = serde_json::json!({"status": "disabled"});
        let d = AuditDraft::ok(NOW + 9, "admin:ann", "user.update", "user:alice", None)
            .with_detail(&detail)
            .with_outcome("ok");
        s.update_user(&u, &d).await.unwrap();
        let extra = AuditDraft::ok(
            NOW + 10,
            "agent:vpn",
            "auth.fail",
            "user:alice",
            Some("10.0.0.1"),
        )
        .with_outcome("bad passcode");
        let rec = s.append_audit(&extra).await.unwrap();
        assert_eq!(rec.seq, 4);
        assert_eq!(rec.draft, extra);

        let all = all_audit(s).await;
        assert_eq!(all.len(), 4);
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(all[0].draft, draft("domain.create", "domain:root"));
        assert_eq!(all[2].draft, d);
        assert_eq!(all[3], rec);
        assert_eq!(all[0].prev_hash, latchkey_core::audit::GENESIS_HASH);
        assert_eq!(all[1].prev_hash, all[0].hash);
        assert_eq!(s.list_audit(1, 2).await.unwrap(), all[1..3].to_vec());
        assert!(s.list_audit(4, 10).await.unwrap().is_empty());
        let head = s.find_audit_head().await.unwrap();
        assert_eq!((head.seq, head.hash), (4, rec.hash));
    }

    pub async fn data_survives_restart(db: &mut TestDb) {
        let r = root(&db.store).await;
        let u = db
            .store
            .insert_user(&new_user("alice", r), &draft("user.create", "alice"))
            .await
            .unwrap();
        let t = db
            .store
            .insert_token(
                &new_token("T-1", r, Some(u.id)),
                &draft("token.import", "T-1"),
            )
            .await
            .unwrap();
        db.store
            .insert_secret_if_absent("pin-key", &sealed("k"), NOW)
            .await
            .unwrap();
        let head = db.store.find_audit_head().await.unwrap();

        db.restart().await;
        let s = &db.store;
        assert_eq!(s.find_user_by_login("alice").await.unwrap(), Some(u));
        assert_eq!(s.find_token_by_serial("T-1").await.unwrap(), Some(t));
        assert_eq!(s.find_secret("pin-key").await.unwrap(), Some(sealed("k")));
        assert_eq!(s.find_audit_head().await.unwrap(), head);
        let next = s
            .append_audit(&draft("system.start", "server"))
            .await
            .unwrap();
        assert_eq!(next.seq, head.seq + 1);
        assert_eq!(next.prev_hash, head.hash);
        assert_eq!(verify(s).await, Verdict::Intact(head.seq + 1));
    }

    pub async fn concurrent_appends_form_one_chain(db: &mut TestDb) {
        let mut tasks = Vec::new();
        for i in 0..25 {
            let s = db.store.clone();
            tasks.push(tokio::spawn(async move {
                s.append_audit(&draft("auth.ok", &format!("user:u{i}")))
                    .await
                    .unwrap()
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap().seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=25).collect::<Vec<i64>>());
        assert_eq!(verify(&db.store).await, Verdict::Intact(25));
    }

    /// Two stores on one database (two nodes, or the CLI next to the server) append
    /// concurrently: still one gap-free chain.
    pub async fn two_nodes_share_one_chain(db: &mut TestDb) {
        let other = SqlStore::connect(&db.url).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = if i % 2 == 0 {
                db.store.clone()
            } else {
                other.clone()
            };
            tasks.push(tokio::spawn(async move {
                s.append_audit(&draft("auth.ok", &format!("user:n{i}")))
                    .await
                    .unwrap()
                    .seq
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=20).collect::<Vec<i64>>());
        assert_eq!(verify(&other).await, Verdict::Intact(20));
        other.close().await;
    }

    pub async fn tampering_is_detected(db: &mut TestDb) {
        let s = &db.store;
        for i in 1..=10 {
            s.append_audit(&draft("auth.ok", &format!("user:u{i}")))
                .await
                .unwrap();
        }
        assert_eq!(verify(s).await, Verdict::Intact(10));
        let n = s
            .execute_raw("UPDATE audit_log SET target = 'user:mallory' WHERE seq = 7")
            .await
            .unwrap();
        assert_eq!(n, 1);
        match verify(s).await {
            Verdict::Broken { seq, checked, .. } => assert_eq!((seq, checked), (7, 6)),
            v @ Verdict::Intact(_) => panic!("tampering not detected: {v:?}"),
        }
        // Deleting the tail is caught by the head.
        s.execute_raw("UPDATE audit_log SET target = 'user:u7' WHERE seq = 7")
            .await
            .unwrap();
        assert_eq!(verify(s).await, Verdict::Intact(10));
        s.execute_raw("DELETE FROM audit_log WHERE seq >= 9")
            .await
            .unwrap();
        assert!(matches!(verify(s).await, Verdict::Broken { seq: 9, .. }));
    }

    pub async fn scoped_lists_with_many_domains(db: &mut TestDb) {
        let s = &db.store;
        let r = root(s).await;
        let sales = child(s, "sales", r).await;
        s.insert_user(&new_user("alice", r), &draft("user.create", "alice"))
            .await
            .unwrap();
        let bob = s
            .insert_user(&new_user("bob", sales), &draft("user.create", "bob"))
            .await
            .unwrap();
        // More ids than one IN list carries (most of them unknown): same answer.
        let mut many: Vec<DomainId> = (100_000..101_000).map(DomainId).collect();
        many.push(sales);
        assert_eq!(s.list_users(Some(&many)).await.unwrap(), vec![bob]);
        many.push(r);
        assert_eq!(s.list_users(Some(&many)).await.unwrap().len(), 2);
    }
}

// ---------------------------------------------------------------------------------------
// Backend-independent connection tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unsupported_scheme_fails_clearly_without_the_password() {
    let e = SqlStore::connect("mysql://root:hunter2@db.example/latchkey")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, StoreError::Backend(_)), "{msg}");
    assert!(msg.contains("unsupported database URL scheme"), "{msg}");
    assert!(msg.contains("mysql"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    let e = SqlStore::connect("just-a-path.db").await.unwrap_err();
    assert!(!e.to_string().is_empty());
    let e = SqlStore::connect("sqlite::memory:").await.unwrap_err();
    assert!(e.to_string().contains("in-memory"), "{e}");
}

#[tokio::test]
async fn bad_postgres_url_fails_without_the_password() {
    // (An unreachable server is retried until the 30 s acquire timeout: too slow for a test.)
    let e = SqlStore::connect("postgres://lk:hunter2@127.0.0.1:notaport/latchkey")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, StoreError::Backend(_)), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[cfg(unix)]
#[tokio::test]
async fn new_sqlite_file_is_private_and_durable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    let s = SqlStore::connect(&url).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // WAL is on; reconnecting to an existing file works and keeps it.
    s.close().await;
    let s = SqlStore::connect(&url).await.unwrap();
    s.ping().await.unwrap();
    assert!(dir.path().join("new.db-wal").exists() || dir.path().join("new.db").exists());
    s.close().await;
}

#[tokio::test]
async fn sqlite_pragmas_are_set_on_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let s = SqlStore::connect(&url).await.unwrap();
    // execute_raw cannot read values; check through a failing FK instead (foreign_keys=ON)
    // and through the journal file that WAL creates.
    let r = s.execute_raw("INSERT INTO users (login, domain_id, status, phones, created_at) VALUES ('x', 4242, 'enabled', '[]', 0)").await;
    assert!(r.is_err(), "foreign keys are enforced");
    assert!(dir.path().join("p.db-wal").exists(), "journal_mode=WAL");
    s.close().await;
}

#[tokio::test]
async fn sqlite_wal_is_checkpointed_by_the_store_itself() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let s = SqlStore::connect(&url).await.unwrap();
    // The migrations alone fill the WAL, far less than the connections' own automatic
    // checkpoint waits for: the store's checkpoint thread copies it into the database file.
    // A checkpoint that began after the migrations: two more runs than now.
    let after = s.checkpoint_stats().unwrap().runs + 2;
    let mut stats = s.checkpoint_stats().unwrap();
    for _ in 0..2000 {
        if stats.runs >= after && stats.last_log > 0 && stats.last_copied == stats.last_log {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        stats = s.checkpoint_stats().unwrap();
    }
    assert!(stats.runs >= after && stats.last_log > 0, "{stats:?}");
    assert_eq!(stats.last_copied, stats.last_log, "{stats:?}");
    assert_eq!(stats.failures, 0, "{stats:?}");
    s.close().await;
}
