//! Restarts keep everything; a hand-edited audit row is caught; key rotation survives restart.

use latchkey_store::SqlStore;

use crate::common::{Server, postgres_database};

async fn tamper(url: &str) {
    let store = SqlStore::connect(url).await.expect("connect for tampering");
    let n = store
        .execute_raw("UPDATE audit_log SET target = 'user:mallory' WHERE seq = 3")
        .await
        .expect("edit row");
    assert_eq!(n, 1);
    store.close().await;
}

fn restart_flow(database_url: Option<&str>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let extra: Vec<&str> = database_url
        .map(|u| vec!["--database-url", u])
        .unwrap_or_default();
    let srv = Server::start(dir, &extra);
    srv.cli(&["user", "add", "rita"]).ok();
    srv.cli(&["token", "generate", "--user", "rita", "--serial", "R1"])
        .ok();
    srv.cli(&[
        "agent",
        "add",
        "vpn",
        "--kind",
        "radius",
        "--address",
        "10.1.2.3",
        "--secret",
        "s3cret-radius",
    ])
    .ok();
    let key_before = std::fs::read_to_string(dir.join("master.key")).expect("key");
    srv.cli(&["key", "rotate"]).ok();
    let key_after = std::fs::read_to_string(dir.join("master.key")).expect("key");
    assert_ne!(key_before, key_after, "rotation must write a new key");
    assert!(!dir.join("master.key.next").exists());
    srv.stop();

    let srv = Server::start(dir, &extra);
    assert!(!srv.stdout().contains("First start"), "{}", srv.stdout());
    let u = srv.cli(&["user", "show", "rita", "--json"]).json();
    assert_eq!(u["tokens"][0], "R1");
    // Opening every sealed value again proves the data survived under the rotated key.
    srv.cli(&["key", "rotate"]).ok();
    srv.cli(&["audit", "verify"]).ok();
    srv.stop();

    let url = database_url.map_or_else(
        || format!("sqlite://{}", dir.join("latchkey.db").display()),
        str::to_owned,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(tamper(&url));

    let srv = Server::start(dir, &extra);
    let v = srv.cli(&["audit", "verify", "--json"]);
    assert_eq!(
        v.code, 10,
        "verify must fail after a hand edit: {}",
        v.stdout
    );
    let j: serde_json::Value = serde_json::from_str(&v.stdout).expect("json");
    assert_eq!(j["first_bad_seq"], 3);
    assert_eq!(j["ok"], false);
}

#[test]
fn restart_on_sqlite() {
    restart_flow(None);
}

#[test]
fn restart_on_postgres() {
    let Some(url) = postgres_database() else {
        return;
    };
    restart_flow(Some(&url));
}

#[test]
fn interrupted_rotation_is_finished_at_start() {
    // Simulate a crash after the database was re-sealed with a staged key but before the key
    // file was replaced: seal with a key that exists only as master.key.next.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let srv = Server::start(dir, &[]);
    srv.cli(&["token", "generate", "--serial", "T1"]).ok();
    srv.cli(&["key", "rotate"]).ok();
    srv.stop();
    // The rotated key is now current; put the previous one back as master.key and the
    // current one as the staged key: exactly the state after a crash before the rename.
    let current = std::fs::read(dir.join("master.key")).expect("key");
    let other = tempfile::tempdir().expect("tempdir");
    let srv2 = Server::start(other.path(), &[]);
    srv2.stop();
    std::fs::copy(other.path().join("master.key"), dir.join("master.key")).expect("copy");
    std::fs::write(dir.join("master.key.next"), current).expect("write");
    std::fs::set_permissions(
        dir.join("master.key.next"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let srv = Server::start(dir, &[]);
    assert!(
        !dir.join("master.key.next").exists(),
        "the staged key must be removed once everything is re-sealed"
    );
    assert!(
        srv.stderr()
            .contains("finished an interrupted master-key rotation"),
        "{}",
        srv.stderr()
    );
    // Every value opens with the current key alone: a fresh rotation must succeed.
    srv.cli(&["key", "rotate"]).ok();
    srv.stop();
    let srv = Server::start(dir, &[]);
    srv.cli(&["key", "rotate"]).ok();
}
