//! The audit log over HTTP, and master-key rotation.

use std::sync::Arc;

use latchkey_core::admin::{agent_secret_aad, secret_aad, seed_aad};
use latchkey_core::store::{SealedKind, Store};
use serde_json::json;

use crate::common::{App, RecordingPersistence, app, app_with};

async fn some_changes(app: &App) {
    app.root(
        "POST",
        "/api/v1/admin/domains",
        Some(json!({"name": "alpha"})),
    )
    .await
    .expect(201);
    app.root(
        "POST",
        "/api/v1/admin/users",
        Some(json!({"login": "alice", "domain": "alpha"})),
    )
    .await
    .expect(201);
    app.root(
        "POST",
        "/api/v1/admin/tokens/import",
        Some(json!({"serial": "T1", "user": "alice", "type": "totp", "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"})),
    )
    .await
    .expect(201);
    app.root(
        "PUT",
        "/api/v1/admin/tokens/T1/pin",
        Some(json!({"pin": "1234"})),
    )
    .await
    .expect(200);
    app.root(
        "POST",
        "/api/v1/admin/agents",
        Some(json!({"name": "nas1", "kind": "radius", "address": "192.0.2.1"})),
    )
    .await
    .expect(201);
    app.root(
        "POST",
        "/api/v1/admin/agents",
        Some(json!({"name": "web1", "kind": "rest"})),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn audit_lists_and_verifies_changes() {
    let app = app().await;
    some_changes(&app).await;
    let v = app
        .root("GET", "/api/v1/admin/audit/verify", None)
        .await
        .expect(200);
    assert_eq!(v["ok"], true, "{v}");
    let head = app.audit_seq().await;
    assert_eq!(v["records"], head);

    let all = app
        .root("GET", "/api/v1/admin/audit", None)
        .await
        .expect(200);
    let all = all.as_array().unwrap();
    assert_eq!(i64::try_from(all.len()).unwrap(), head);
    let mine: Vec<&str> = all
        .iter()
        .filter(|r| r["actor"] == "admin:admin")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        mine,
        [
            "domain.create",
            "user.create",
            "token.import",
            "token.pin.set",
            "agent.create",
            "agent.create"
        ]
    );
    assert!(all.iter().any(|r| r["target"] == "user:alice"));

    // Paging.
    let page = app
        .root("GET", "/api/v1/admin/audit?after=2&limit=3", None)
        .await
        .expect(200);
    let seqs: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5]);
    let page = app
        .root("GET", &format!("/api/v1/admin/audit?after={head}"), None)
        .await
        .expect(200);
    assert_eq!(page.as_array().unwrap().len(), 0);
    for bad in [
        "limit=0",
        "limit=10001",
        "after=abc",
        "limit=-1",
        "colour=red",
    ] {
        app.root("GET", &format!("/api/v1/admin/audit?{bad}"), None)
            .await
            .expect_error(400, "invalid_request");
    }
    // An auditor of the whole deployment may read it too.
    let auditor = app.make_admin("audrey", "auditor", "root").await;
    app.call("GET", "/api/v1/admin/audit/verify", Some(&auditor), None)
        .await
        .expect(200);
    app.call(
        "POST",
        "/api/v1/admin/users",
        Some(&auditor),
        Some(json!({"login": "x"})),
    )
    .await
    .expect_error(403, "forbidden");
}

#[tokio::test]
async fn audit_records_the_client_address() {
    let app = app().await;
    let addr = "198.51.100.7:40123".parse().unwrap();
    app.call_from(
        addr,
        "POST",
        "/api/v1/admin/users",
        Some(json!({"login": "alice"})),
    )
    .await
    .expect(201);
    let all = app
        .root("GET", "/api/v1/admin/audit", None)
        .await
        .expect(200);
    let last = all.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "user.create");
    assert_eq!(last["source"], "198.51.100.7");
}

/// Every sealed value in the database opens with the service's current keyring.
async fn all_sealed_values_open(app: &App) -> usize {
    let items = app.store.list_sealed().await.unwrap();
    for it in &items {
        match it.kind {
            SealedKind::TokenSeed => assert!(it.aad.starts_with(&seed_aad(""))),
            SealedKind::AgentSecret => assert!(it.aad.starts_with(&agent_secret_aad(""))),
            SealedKind::Secret => assert!(it.aad.starts_with(&secret_aad(""))),
            SealedKind::OfflineEmergency => assert!(it.aad.starts_with(b"offline-emergency-")),
            SealedKind::MessagingProvider => {
                assert!(it.aad.starts_with(b"messaging-provider:"));
            }
        }
        app.admin
            .open(&it.sealed, &it.aad)
            .expect("opens with the current key");
    }
    items.len()
}

#[tokio::test]
async fn key_rotation_reseals_everything() {
    let persistence = Arc::new(RecordingPersistence::default());
    let app = app_with(Some(persistence.clone())).await;
    some_changes(&app).await;
    // Offline emergency values are sealed too.
    let reveal = |path: &'static str| {
        let app = &app;
        async move {
            app.root("POST", path, Some(json!({"reason": "key test"})))
                .await
                .expect(200)
        }
    };
    let passcode = reveal("/api/v1/admin/users/alice/emergency/offline-passcode/reveal").await;
    let tokencode = reveal("/api/v1/admin/tokens/T1/emergency/offline-tokencode/reveal").await;
    let sealed = all_sealed_values_open(&app).await;
    assert!(
        sealed >= 5,
        "PIN key, token seed, RADIUS secret and two offline values are sealed: {sealed}"
    );

    let r1 = app
        .root("POST", "/api/v1/admin/keys/rotate", None)
        .await
        .expect(200);
    assert_eq!(r1["resealed"], sealed as u64);
    assert_eq!(*persistence.commits.lock().unwrap(), 1);
    assert_eq!(
        persistence.staged.lock().unwrap().as_slice(),
        [r1["key_id"].as_str().unwrap()]
    );
    assert_eq!(all_sealed_values_open(&app).await, sealed);
    // The offline values read the same after re-sealing.
    assert_eq!(
        reveal("/api/v1/admin/users/alice/emergency/offline-passcode/reveal").await["passcode"],
        passcode["passcode"]
    );
    assert_eq!(
        reveal("/api/v1/admin/tokens/T1/emergency/offline-tokencode/reveal").await["tokencode"],
        tokencode["tokencode"]
    );

    // Everything still works: reads, PINs (the PIN key was resealed), new tokens.
    app.root("GET", "/api/v1/admin/tokens", None)
        .await
        .expect(200);
    app.root("GET", "/api/v1/admin/agents/nas1", None)
        .await
        .expect(200);
    app.root(
        "PUT",
        "/api/v1/admin/tokens/T1/pin",
        Some(json!({"pin": "5678"})),
    )
    .await
    .expect(200);
    app.root(
        "POST",
        "/api/v1/admin/tokens/generate",
        Some(json!({"serial": "T2"})),
    )
    .await
    .expect(201);

    // And again.
    let r2 = app
        .root("POST", "/api/v1/admin/keys/rotate", None)
        .await
        .expect(200);
    assert_ne!(r1["key_id"], r2["key_id"]);
    assert_eq!(r2["resealed"], sealed as u64 + 1);
    assert_eq!(*persistence.commits.lock().unwrap(), 2);
    assert_eq!(all_sealed_values_open(&app).await, sealed + 1);
    let v = app
        .root("GET", "/api/v1/admin/audit/verify", None)
        .await
        .expect(200);
    assert_eq!(v["ok"], true);
    let all = app
        .root("GET", "/api/v1/admin/audit", None)
        .await
        .expect(200);
    let rotations = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "key.rotate")
        .count();
    assert_eq!(rotations, 2);

    // Only a super administrator rotates.
    let da = app.make_admin("dora", "domain-admin", "root").await;
    app.call("POST", "/api/v1/admin/keys/rotate", Some(&da), None)
        .await
        .expect_error(403, "forbidden");
}

#[tokio::test]
async fn key_rotation_without_persistence_is_a_conflict() {
    let app = app().await;
    some_changes(&app).await;
    let before = app.audit_seq().await;
    app.root("POST", "/api/v1/admin/keys/rotate", None)
        .await
        .expect_error(409, "conflict");
    assert_eq!(app.audit_seq().await, before);
    assert!(all_sealed_values_open(&app).await >= 3);
}
