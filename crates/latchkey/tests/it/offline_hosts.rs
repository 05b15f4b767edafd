//! Offline hosts through the real binary and HTTP (`docs/design/offline.md`): an
//! offline-host agent enrols, an online SUCCESS brings offline data, and
//! `latchkey offline-hosts USER` lists the host with the generations it holds; a reset of the
//! offline emergency passcode shows the old generation until the host's next sync. On SQLite,
//! and on PostgreSQL when `LATCHKEY_TEST_POSTGRES_URL` is set.

use latchkey_crypto::decode_base32_secret;
use latchkey_crypto::otp::{OtpAlgorithm, totp};
use serde_json::{Value, json};

use crate::authn::now;
use crate::common::{Server, post_ok, postgres_database};

const PIN: &str = "73519";

/// PIN and the code `step_offset` steps from now (the second login uses the next step's
/// code, accepted within the ±1 window, so the test never waits for a step).
fn passcode(step_offset: i64) -> String {
    let seed = decode_base32_secret(crate::authn::SECRET).unwrap();
    let code = totp(
        seed.expose(),
        now() + step_offset * 30,
        30,
        6,
        OtpAlgorithm::Sha1,
    )
    .unwrap();
    format!("{PIN}{code}")
}

async fn scenario(extra: &[&str]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), extra);
    srv.cli(&[
        "domain",
        "set-policy",
        "root",
        "offline",
        r#"{"enabled": true}"#,
    ])
    .ok();
    srv.cli(&["user", "add", "olga"]).ok();
    srv.cli(&[
        "token",
        "import",
        "--user",
        "olga",
        "--type",
        "totp",
        "--secret",
        crate::authn::SECRET,
        "--serial",
        "S-olga",
    ])
    .ok();
    srv.cli(&["token", "set-pin", "S-olga", PIN]).ok();
    let key = srv
        .cli(&["agent", "add", "ws9", "--kind", "offline-host", "--json"])
        .json()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let none = srv.cli(&["offline-hosts", "olga"]);
    assert!(
        none.ok().stdout.contains("no offline host"),
        "{}",
        none.stdout
    );

    let enrolled = post_ok(
        &srv,
        &key,
        "/api/v1/offline/enroll",
        json!({"hostname": "ws9.example", "host_public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}),
    )
    .await;
    let host_id = enrolled["host_id"].as_str().unwrap().to_owned();
    let answer = post_ok(
        &srv,
        &key,
        "/api/v1/authn/initialize",
        json!({"user": "olga", "passcode": passcode(0), "want_offline_data": true}),
    )
    .await;
    assert_eq!(answer["result"], "SUCCESS", "{answer}");
    assert!(
        answer["offline_data"]
            .as_str()
            .is_some_and(|d| d.len() > 1000)
    );

    let list = srv.cli(&["offline-hosts", "olga", "--json"]).json();
    let h = &list["hosts"][0];
    assert_eq!(h["agent"], "ws9");
    assert_eq!(h["host_id"], host_id.as_str());
    assert_eq!(h["hostname"], "ws9.example");
    assert_eq!(h["emergency_passcode_generation"], 1);
    assert_eq!(h["emergency_tokencodes"][0]["serial"], "S-olga");
    assert_eq!(h["stale"], false);
    let human = srv.cli(&["offline-hosts", "olga"]).ok().stdout.clone();
    assert!(
        human.contains("ws9.example") && human.contains("S-olga:1"),
        "{human}"
    );

    srv.cli(&["emergency", "offline", "reset", "olga"]).ok();
    let list = srv.cli(&["offline-hosts", "olga", "--json"]).json();
    assert_eq!(list["hosts"][0]["emergency_passcode_generation"], 1);
    let answer = post_ok(
        &srv,
        &key,
        "/api/v1/authn/initialize",
        json!({"user": "olga", "passcode": passcode(1), "want_offline_data": true}),
    )
    .await;
    assert_eq!(answer["result"], "SUCCESS", "{answer}");
    let list = srv.cli(&["offline-hosts", "olga", "--json"]).json();
    assert_eq!(list["hosts"][0]["emergency_passcode_generation"], 2);

    // Offline events: uploaded twice, recorded once each, with their original times.
    let at = now() - 5000;
    let events = json!({"events": [
        {"id": "0b8f6a52-0000-4000-8000-000000000001", "user": "olga", "at": at,
         "result": "success", "credential": "offline_emergency_passcode", "reason": "ok"},
        {"id": "0b8f6a52-0000-4000-8000-000000000002", "user": "olga", "at": at + 60,
         "result": "fail", "credential": null, "reason": "wrong_passcode"},
    ]});
    for _ in 0..2 {
        let r = post_ok(&srv, &key, "/api/v1/offline/events", events.clone()).await;
        assert_eq!(r["accepted"], 2);
    }
    let recorded: Vec<Value> = srv
        .cli(&["audit", "export"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .filter(|r| r["action"] == "offline.authn")
        .collect();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(recorded[0]["at"], at);
    assert_eq!(recorded[0]["detail"]["host_id"], host_id.as_str());
    assert_eq!(recorded[1]["outcome"], "fail:wrong_passcode");
    srv.cli(&["audit", "verify"]).ok();
}

#[tokio::test]
async fn offline_hosts_listed_by_the_cli_on_sqlite() {
    scenario(&[]).await;
}

#[tokio::test]
async fn offline_hosts_listed_by_the_cli_on_postgres() {
    let Some(db) = postgres_database() else {
        return;
    };
    scenario(&["--database-url", &db]).await;
}
