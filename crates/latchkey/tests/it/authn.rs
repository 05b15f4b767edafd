//! Online authentication over real HTTP against the real binary: oathtool passcodes, replay,
//! drift, concurrency on SQLite and on two nodes sharing PostgreSQL.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Server, have_tool, postgres_database};

/// Now, from the real clock: the server under test uses it too.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("i64")
}

pub(crate) const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

pub(crate) fn oathtool_totp(at: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "--base32", SECRET, &format!("--now=@{at}")])
        .output()
        .expect("oathtool");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A user with a TOTP token (PIN optional) and a REST agent; returns the agent's API key.
pub(crate) fn provision(srv: &Server, user: &str, pin: Option<&str>) -> String {
    srv.cli(&["user", "add", user]).ok();
    srv.cli(&[
        "token",
        "import",
        "--user",
        user,
        "--type",
        "totp",
        "--secret",
        SECRET,
        "--serial",
        &format!("S-{user}"),
    ])
    .ok();
    if let Some(p) = pin {
        srv.cli(&["token", "set-pin", &format!("S-{user}"), p]).ok();
    }
    let a = srv
        .cli(&[
            "agent",
            "add",
            &format!("agent-{user}"),
            "--kind",
            "rest",
            "--json",
        ])
        .json();
    a["api_key"].as_str().expect("api key").to_owned()
}

pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    path: &str,
    body: Value,
) -> Value {
    let r = client
        .post(format!("{url}/api/v1/authn/{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "status");
    r.json().await.expect("json")
}

fn audit_outcomes(srv: &Server, user: &str) -> Vec<String> {
    let out = srv.cli(&["audit", "export"]).ok().stdout.clone();
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .filter(|r| r["action"] == "authn" && r["target"] == format!("user:{user}"))
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oathtool_passcodes_over_http() {
    if !have_tool("oathtool") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    let key = provision(&srv, "paula", Some("1357"));
    let c = reqwest::Client::new();
    let t = now();
    let code = oathtool_totp(t);
    let ok = post(
        &c,
        &srv.url,
        &key,
        "initialize",
        json!({"user": "paula", "passcode": format!("1357{code}")}),
    )
    .await;
    assert_eq!(ok["result"], "SUCCESS", "{ok}");
    let again = post(
        &c,
        &srv.url,
        &key,
        "initialize",
        json!({"user": "paula", "passcode": format!("1357{code}")}),
    )
    .await;
    assert_eq!(again["result"], "FAIL");
    let old = post(
        &c,
        &srv.url,
        &key,
        "initialize",
        json!({"user": "paula", "passcode": format!("1357{}", oathtool_totp(t - 60))}),
    )
    .await;
    assert_eq!(old["result"], "FAIL");
    let wrong_pin = post(
        &c,
        &srv.url,
        &key,
        "initialize",
        json!({"user": "paula", "passcode": format!("9999{}", oathtool_totp(t + 30))}),
    )
    .await;
    assert_eq!(wrong_pin, again, "failure answers must be identical");
    let outcomes = audit_outcomes(&srv, "paula");
    assert_eq!(outcomes.first().map(String::as_str), Some("success"));
    assert!(
        outcomes.iter().any(|o| o == "fail:passcode_reuse"),
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|o| o == "fail:wrong_pin"),
        "{outcomes:?}"
    );
    assert!(
        !srv.stderr().contains(&code),
        "the passcode must not be logged"
    );

    // A token whose clock runs five steps slow: re-synchronised through next-tokencode mode.
    let key2 = provision(&srv, "drifty", None);
    let t = now();
    let ch = post(
        &c,
        &srv.url,
        &key2,
        "initialize",
        json!({"user": "drifty", "passcode": oathtool_totp(t - 150)}),
    )
    .await;
    assert_eq!(ch["result"], "CHALLENGE", "{ch}");
    assert_eq!(ch["challenge"]["kind"], "next_tokencode");
    let done = post(
        &c,
        &srv.url,
        &key2,
        "verify",
        json!({"attempt_id": ch["attempt_id"], "response": oathtool_totp(t - 120)}),
    )
    .await;
    assert_eq!(done["result"], "SUCCESS", "{done}");
    // The learned drift now admits the slow token's next code without a challenge.
    let next = post(
        &c,
        &srv.url,
        &key2,
        "initialize",
        json!({"user": "drifty", "passcode": oathtool_totp(t - 90)}),
    )
    .await;
    assert_eq!(next["result"], "SUCCESS", "{next}");
}

/// Fires the same passcode `n` times at once, spread over `urls`; returns the SUCCESS count.
async fn race(urls: &[String], key: &str, user: &str, passcode: &str, n: usize) -> usize {
    let c = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (c, url, key) = (c.clone(), urls[i % urls.len()].clone(), key.to_owned());
        let body = json!({"user": user, "passcode": passcode});
        tasks.push(tokio::spawn(async move {
            post(&c, &url, &key, "initialize", body).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        let v = t.await.expect("task");
        if v["result"] == "SUCCESS" {
            wins += 1;
        } else {
            assert_eq!(v["result"], "FAIL", "{v}");
        }
    }
    wins
}

/// A second node on the same database, with the first node's master key.
fn second_node(first: &Path, dir: &Path, url: &str) -> Server {
    std::fs::copy(first.join("master.key"), dir.join("master.key")).expect("copy key");
    Server::start(dir, &["--database-url", url])
}

async fn concurrency(urls: &[String], srv: &Server) {
    let key = provision(srv, "racer", None);
    // Make sure all 64 land in the same step, whatever the wall clock does meanwhile.
    let t = now();
    let code = oathtool_totp(t);
    assert_eq!(
        race(urls, &key, "racer", &code, 64).await,
        1,
        "exactly one of 64 identical passcodes may succeed"
    );

    // Failure counters are exact under concurrency: with max_failures 20, 19 concurrent
    // failures leave the user unlocked and one more locks them.
    srv.cli(&["domain", "add", "strict"]).ok();
    srv.cli(&[
        "domain",
        "set-policy",
        "strict",
        "lockout",
        r#"{"max_failures": 20}"#,
    ])
    .ok();
    srv.cli(&[
        "domain",
        "set-policy",
        "strict",
        "token",
        r#"{"incorrect_passcode_limit": 100}"#,
    ])
    .ok();
    let key = provision(srv, "counted", None);
    srv.cli(&["user", "update", "counted", "--domain", "strict"])
        .ok();
    assert_eq!(race(urls, &key, "counted", "000000", 19).await, 0);
    assert_eq!(
        srv.cli(&["user", "show", "counted", "--json"]).json()["status"],
        "enabled"
    );
    assert_eq!(race(urls, &key, "counted", "000000", 1).await, 0);
    assert_eq!(
        srv.cli(&["user", "show", "counted", "--json"]).json()["status"],
        "locked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_success_for_64_identical_passcodes_on_sqlite() {
    if !have_tool("oathtool") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    concurrency(std::slice::from_ref(&srv.url), &srv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_behave_as_one() {
    if !have_tool("oathtool") {
        return;
    }
    let Some(db) = postgres_database() else {
        return;
    };
    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let one = Server::start(a.path(), &["--database-url", &db]);
    let two = second_node(a.path(), b.path(), &db);
    assert!(
        !two.stdout().contains("First start"),
        "the second node must find the first node's administrator"
    );
    let urls = [one.url.clone(), two.url.clone()];
    concurrency(&urls, &one).await;

    // A challenge started on one node is answered on the other.
    let key = provision(&one, "nina", None);
    one.cli(&["token", "require-new-pin", "S-nina"]).ok();
    let c = reqwest::Client::new();
    let t = now();
    let ch = post(
        &c,
        &one.url,
        &key,
        "initialize",
        json!({"user": "nina", "passcode": oathtool_totp(t)}),
    )
    .await;
    assert_eq!(ch["challenge"]["kind"], "new_pin", "{ch}");
    let ch = post(
        &c,
        &two.url,
        &key,
        "verify",
        json!({"attempt_id": ch["attempt_id"], "response": "246810"}),
    )
    .await;
    assert_eq!(ch["challenge"]["kind"], "confirm_pin", "{ch}");
    let ch = post(
        &c,
        &one.url,
        &key,
        "verify",
        json!({"attempt_id": ch["attempt_id"], "response": "246810"}),
    )
    .await;
    assert_eq!(ch["challenge"]["kind"], "next_passcode", "{ch}");
    let done = post(&c, &two.url, &key, "verify", json!({"attempt_id": ch["attempt_id"], "response": format!("246810{}", oathtool_totp(t + 30))})).await;
    assert_eq!(done["result"], "SUCCESS", "{done}");
}
