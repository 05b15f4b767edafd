//! The console session store conformance suite ([`ConsoleStore`]): one set of test bodies,
//! run on SQLite and on PostgreSQL with the harness of `common`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use latchkey_core::console::{ConsoleSession, ConsoleStore};
use latchkey_core::ids::AdminId;
use latchkey_core::model::NewAdmin;
use latchkey_core::store::Store;
use latchkey_proto::admin::Role;
use latchkey_store::SqlStore;

use crate::common::*;

conformance!(
    a_session_is_stored_by_hash_touched_forward_and_deleted_once,
    sessions_die_with_their_administrator,
    a_session_of_an_unknown_administrator_is_refused,
    expired_sessions_are_purged_with_one_record,
);

async fn admin(s: &SqlStore, name: &str) -> AdminId {
    let d = root(s).await;
    let a = NewAdmin {
        name: name.into(),
        role: Role::SuperAdmin,
        scope: d,
        password_hash: "$argon2id$x".into(),
        token_hash: format!("hash-of-{name}"),
        created_at: NOW,
    };
    s.insert_admin(&a, &draft("admin.create", name))
        .await
        .unwrap()
        .id
}

fn session(id_hash: &str, admin: AdminId) -> ConsoleSession {
    ConsoleSession {
        id_hash: id_hash.into(),
        admin_id: admin,
        admin_name: "ops".into(),
        source: Some("192.0.2.7".into()),
        created_at: NOW,
        last_seen: NOW,
    }
}

async fn seq(s: &SqlStore) -> i64 {
    s.find_audit_head().await.unwrap().seq
}

mod cases {
    use super::*;

    pub async fn a_session_is_stored_by_hash_touched_forward_and_deleted_once(db: &mut TestDb) {
        let s = &db.store;
        let a = admin(s, "ops").await;
        let before = seq(s).await;
        s.insert_console_session(&session("h1", a), &draft("console.signin", "admin:ops"))
            .await
            .unwrap();
        assert_eq!(seq(s).await, before + 1, "audited with the insert");
        let got = s.find_console_session("h1").await.unwrap().unwrap();
        assert_eq!(got, session("h1", a));
        assert_eq!(s.find_console_session("h2").await.unwrap(), None);

        s.touch_console_session("h1", NOW + 60).await.unwrap();
        s.touch_console_session("h1", NOW + 30).await.unwrap();
        let got = s.find_console_session("h1").await.unwrap().unwrap();
        assert_eq!(got.last_seen, NOW + 60, "never moves back");
        assert_eq!(
            seq(s).await,
            before + 1,
            "touching is not an audited change"
        );

        assert!(
            s.delete_console_session("h1", &draft("console.signout", "admin:ops"))
                .await
                .unwrap()
        );
        assert_eq!(seq(s).await, before + 2);
        assert!(
            !s.delete_console_session("h1", &draft("console.signout", "admin:ops"))
                .await
                .unwrap()
        );
        assert_eq!(
            seq(s).await,
            before + 2,
            "no record for a session already gone"
        );
        assert_eq!(s.find_console_session("h1").await.unwrap(), None);
    }

    pub async fn sessions_die_with_their_administrator(db: &mut TestDb) {
        let s = &db.store;
        let a = admin(s, "ops").await;
        s.insert_console_session(&session("h1", a), &draft("console.signin", "admin:ops"))
            .await
            .unwrap();
        s.delete_admin(a, &draft("admin.delete", "admin:ops"))
            .await
            .unwrap();
        assert_eq!(s.find_console_session("h1").await.unwrap(), None);
    }

    pub async fn a_session_of_an_unknown_administrator_is_refused(db: &mut TestDb) {
        let s = &db.store;
        let _ = admin(s, "ops").await;
        let before = seq(s).await;
        assert!(
            s.insert_console_session(
                &session("h1", AdminId(9999)),
                &draft("console.signin", "admin:x")
            )
            .await
            .is_err()
        );
        assert_eq!(seq(s).await, before, "nothing written, not even the record");
    }

    pub async fn expired_sessions_are_purged_with_one_record(db: &mut TestDb) {
        let s = &db.store;
        let a = admin(s, "ops").await;
        let mut idle = session("idle", a);
        idle.last_seen = NOW + 100;
        let mut old = session("old", a);
        old.created_at = NOW - 50;
        old.last_seen = NOW + 900;
        let mut live = session("live", a);
        live.last_seen = NOW + 900;
        for x in [&idle, &old, &live] {
            s.insert_console_session(x, &draft("console.signin", "admin:ops"))
                .await
                .unwrap();
        }
        let purge = draft("console.session_purge", "console sessions");
        let before = seq(s).await;
        // Idle since NOW + 100 or older, created before NOW - 50 or older.
        assert_eq!(
            s.purge_console_sessions(NOW + 100, NOW - 50, &purge)
                .await
                .unwrap(),
            2
        );
        assert_eq!(seq(s).await, before + 1, "one record for the purge");
        let rec = s.list_audit(before, 10).await.unwrap();
        assert_eq!(rec[0].draft.action, "console.session_purge");
        assert!(
            rec[0].draft.detail.contains("\"sessions\":2"),
            "{}",
            rec[0].draft.detail
        );
        assert_eq!(s.find_console_session("idle").await.unwrap(), None);
        assert_eq!(s.find_console_session("old").await.unwrap(), None);
        assert!(s.find_console_session("live").await.unwrap().is_some());
        // Nothing to purge: nothing written.
        assert_eq!(
            s.purge_console_sessions(NOW + 100, NOW - 50, &purge)
                .await
                .unwrap(),
            0
        );
        assert_eq!(seq(s).await, before + 1);
    }
}
