//! `latchkey messaging providers list|set` through the real binary, with two `latchkey serve`
//! processes on one database (PostgreSQL when `LATCHKEY_TEST_POSTGRES_URL` is set, and a
//! shared SQLite file): a list set through one node is used by the other at its next send,
//! without a restart; the credentials never appear in the CLI's output or the logs.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Server, cloud, postgres_database};

const SECRET: &str = "tw-secret-cli-77";
const SID: &str = "AC0123456789abcdef0123456789abcdef";

/// Starts an SMS login for `user` on `srv` and returns the code that arrived in `outbox`
/// (its last line), checking the line.
async fn sms_via(srv: &Server, key: &str, user: &str, outbox: &Path) -> (Value, String) {
    let c = cloud(srv, key, "start", json!({"user": user, "method": "sms"})).await;
    assert_eq!(c["challenge"]["kind"], "sms_code", "{c}");
    let text = std::fs::read_to_string(outbox).expect("outbox file");
    let line: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("json");
    assert_eq!(line["to"], "+14155550123");
    let code = line["code"].as_str().expect("code").to_owned();
    (c, code)
}

fn write(path: &Path, v: &Value) {
    std::fs::write(path, v.to_string()).expect("write");
}

/// Two nodes on `db`: A in `tmp/a`, B in `tmp/b` with A's master key and admin token.
async fn two_nodes_agree(db: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (node_a_dir, node_b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&node_a_dir, &node_b_dir] {
        std::fs::create_dir_all(dir).expect("dir");
        std::fs::write(
            dir.join("latchkey.toml"),
            "[messaging]\nresend_cooldown_seconds = 0\n",
        )
        .expect("config");
    }
    let node_a = Server::start(&node_a_dir, &["--database-url", db]);
    for file in ["master.key", "admin.token"] {
        std::fs::copy(node_a_dir.join(file), node_b_dir.join(file)).expect("copy");
    }
    let node_b = Server::start(&node_b_dir, &["--database-url", db]);

    node_a
        .cli(&["user", "add", "pia", "--phone", "+14155550123"])
        .ok();
    let key = node_a
        .cli(&["agent", "add", "portal", "--kind", "cloud-app", "--json"])
        .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();

    // The file's list while the database holds none.
    let v = node_b
        .cli(&["messaging", "providers", "list", "--json"])
        .json();
    assert_eq!(v["source"], "file");
    assert_eq!(v["providers"][0]["name"], "outbox");

    // Set through A: a voice-only Twilio account (a credential) and an outbox file.
    let shared = tmp.path().join("shared.jsonl");
    let list = tmp.path().join("providers.json");
    write(
        &list,
        &json!({"providers": [
            {"name": "calls", "settings": {"type": "twilio", "account_sid": SID,
                "auth_token": SECRET, "from": "+15005550006", "sms": false, "voice": true}},
            {"name": "shared-outbox", "settings": {"type": "outbox", "file": shared}},
        ]}),
    );
    let set = node_a.cli(&[
        "messaging",
        "providers",
        "set",
        list.to_str().expect("utf-8"),
        "--json",
    ]);
    let v = set.json();
    assert!(!set.stdout.contains(SECRET));
    assert_eq!(v["source"], "database");
    assert_eq!(v["version"], 1);
    assert_eq!(v["providers"][0]["settings"]["auth_token"], "set");
    assert_eq!(v["providers"][1]["name"], "shared-outbox");

    // B, which was running all along, sends through the new list; the code authenticates.
    let (challenge, code) = sms_via(&node_b, &key, "pia", &shared).await;
    let r = cloud(
        &node_b,
        &key,
        "verify",
        json!({"attempt_id": challenge["attempt_id"], "response": code}),
    )
    .await;
    assert_eq!(r["result"], "SUCCESS", "{r}");
    assert!(
        !node_a_dir.join("outbox.jsonl").exists() || {
            let t = std::fs::read_to_string(node_a_dir.join("outbox.jsonl")).unwrap_or_default();
            !t.contains(&code)
        }
    );

    // The human listing through B.
    let human = node_b.cli(&["messaging", "providers", "list"]);
    human.ok();
    assert!(
        human
            .stdout
            .contains("providers from the database (version 1), in order:"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("calls"));
    assert!(human.stdout.contains("shared-outbox"));
    assert!(!human.stdout.contains(SECRET));

    // Replaced through B with a bare array (the token kept by leaving it out); A follows.
    let second = tmp.path().join("second.jsonl");
    write(
        &list,
        &json!([
            {"name": "second-outbox", "settings": {"type": "outbox", "file": second}},
            {"name": "calls", "settings": {"type": "twilio", "account_sid": SID,
                "from": "+15005550006", "sms": false, "voice": true}},
        ]),
    );
    let v = node_b
        .cli(&[
            "messaging",
            "providers",
            "set",
            list.to_str().expect("utf-8"),
            "--json",
        ])
        .json();
    assert_eq!(v["version"], 2);
    assert_eq!(v["providers"][1]["settings"]["auth_token"], "set");
    let (_, code2) = sms_via(&node_a, &key, "pia", &second).await;
    assert_ne!(code2, code);
    assert_eq!(
        std::fs::read_to_string(&shared)
            .expect("shared")
            .lines()
            .count(),
        1
    );

    // A bad list is refused with the field named; nothing changes.
    write(
        &list,
        &json!([{"name": "gw", "settings": {"type": "generic_http",
            "url": "ftp://sms.example.org/send", "body_template": "{\"to\":\"{to}\",\"text\":\"{text}\"}"}}]),
    );
    let bad = node_a.cli(&[
        "messaging",
        "providers",
        "set",
        list.to_str().expect("utf-8"),
    ]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("url"), "{}", bad.stderr);
    let v = node_a
        .cli(&["messaging", "providers", "list", "--json"])
        .json();
    assert_eq!(v["version"], 2);
    assert_eq!(v["providers"][0]["name"], "second-outbox");

    // Cleared through B: the file's list (A's own outbox file) applies again on A.
    let v = node_b
        .cli(&["messaging", "providers", "clear", "--json"])
        .json();
    assert_eq!(v["source"], "file");
    assert_eq!(v["version"], Value::Null);
    let (_, code3) = sms_via(&node_a, &key, "pia", &node_a_dir.join("outbox.jsonl")).await;
    assert_ne!(code3, code2);
    assert_eq!(
        std::fs::read_to_string(&second)
            .expect("second")
            .lines()
            .count(),
        1
    );

    let (_, a_logs) = node_a.stop();
    let (_, b_logs) = node_b.stop();
    for logs in [a_logs, b_logs] {
        assert!(!logs.contains(SECRET), "the credential is in a log");
        assert!(!logs.contains(&code), "a code is in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_follow_providers_set_through_the_cli() {
    let Some(db) = postgres_database() else {
        return;
    };
    two_nodes_agree(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_sqlite_file_follow_providers_set_through_the_cli() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/shared.sqlite", tmp.path().display());
    two_nodes_agree(&db).await;
}
