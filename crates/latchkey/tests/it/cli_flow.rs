//! The administrator's first hour, through the CLI, on both databases.

use crate::common::{Server, mode, postgres_database};

/// Everything issue #2 lists for the CLI, against a server on `extra` (database flags).
fn admin_flow(extra: &[&str]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let srv = Server::start(dir, extra);
    let out = srv.stdout();
    assert!(
        out.contains("First start: created the super administrator \"admin\""),
        "{out}"
    );
    assert!(out.contains("Console password (shown once)"), "{out}");
    assert_eq!(mode(&dir.join("admin.token")), 0o600);
    assert_eq!(mode(&dir.join("master.key")), 0o600);

    srv.cli(&["domain", "add", "sales"]).ok();
    srv.cli(&["domain", "add", "emea", "--parent", "sales"])
        .ok();
    let user = srv
        .cli(&[
            "user",
            "add",
            "Alice",
            "--domain",
            "emea",
            "--phone",
            "+14155550123",
            "--email",
            "alice@example.org",
            "--json",
        ])
        .json();
    assert_eq!(user["login"], "alice");
    assert_eq!(user["domain"], "emea");
    assert_eq!(user["phones"][0]["number"], "+14155550123");
    assert_eq!(user["phones"][0]["source"], "manual");

    // A duplicate is refused with the conflict exit code and a clear message.
    let dup = srv.cli(&["user", "add", "alice"]);
    assert_eq!(dup.code, 5, "{}", dup.stderr);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    // A bad phone number is refused as invalid input.
    let bad = srv.cli(&["user", "add", "bob", "--phone", "0155 555"]);
    assert_eq!(bad.code, 6, "{}", bad.stderr);
    assert!(bad.stderr.contains("phones"), "{}", bad.stderr);

    let tok = srv
        .cli(&[
            "token",
            "import",
            "--user",
            "alice",
            "--type",
            "totp",
            "--secret",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "--digits",
            "8",
            "--period",
            "60",
            "--algorithm",
            "sha256",
            "--json",
        ])
        .json();
    let serial = tok["serial"].as_str().expect("serial").to_owned();
    assert_eq!(tok["digits"], 8);
    assert_eq!(tok["period"], 60);
    assert_eq!(tok["algorithm"], "sha256");
    assert!(
        !tok.to_string().contains("GEZDGNBV"),
        "a token view must never show the seed"
    );
    let bad_seed = srv.cli(&[
        "token",
        "import",
        "--user",
        "alice",
        "--type",
        "totp",
        "--secret",
        "not base32 !!",
    ]);
    assert_eq!(bad_seed.code, 6, "{}", bad_seed.stderr);

    srv.cli(&["token", "set-pin", &serial, "4821"]).ok();
    let shown = srv.cli(&["token", "show", &serial, "--json"]).json();
    assert_eq!(shown["has_pin"], true);
    assert_eq!(shown["new_pin_required"], false);
    srv.cli(&["token", "require-new-pin", &serial]).ok();
    assert_eq!(
        srv.cli(&["token", "show", &serial, "--json"]).json()["new_pin_required"],
        true
    );
    let short = srv.cli(&["token", "set-pin", &serial, "12"]);
    assert_eq!(short.code, 6, "{}", short.stderr);

    let shown = srv.cli(&["user", "show", "alice", "--json"]).json();
    assert_eq!(shown["tokens"][0], serial.as_str());
    let list = srv.cli(&["user", "list", "--json"]).json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let agent = srv
        .cli(&["agent", "add", "vpn-portal", "--kind", "rest", "--json"])
        .json();
    let key = agent["api_key"].as_str().expect("api_key shown once");
    assert!(key.starts_with("lkag_") && key.len() > 40);
    assert_eq!(agent["agent"]["channel"], "manager");
    let radius = srv
        .cli(&[
            "agent",
            "add",
            "vpn",
            "--kind",
            "radius",
            "--address",
            "127.0.0.1/32",
            "--secret",
            "testing123",
            "--json",
        ])
        .json();
    assert!(
        radius.get("api_key").is_none() && radius.get("secret").is_none(),
        "a given secret is not echoed"
    );
    let listed = srv.cli(&["agent", "list", "--json"]).stdout;
    assert!(!listed.contains(key) && !listed.contains("testing123"));

    // A help-desk administrator of "emea" works through their own token file and sees only emea.
    let hd = srv
        .cli(&[
            "admin",
            "add",
            "helen",
            "--role",
            "help-desk",
            "--scope",
            "emea",
            "--json",
        ])
        .json();
    let token_file = dir.join("helen.token");
    std::fs::write(&token_file, hd["token"].as_str().expect("token")).expect("write token");
    let tf = token_file.to_str().expect("utf-8");
    let seen = srv
        .cli(&["--token-file", tf, "user", "show", "alice", "--json"])
        .json();
    assert_eq!(seen["login"], "alice");
    let refused = srv.cli(&[
        "--token-file",
        tf,
        "user",
        "add",
        "carol",
        "--domain",
        "emea",
    ]);
    assert_eq!(
        refused.code, 3,
        "help desk may not create users: {}",
        refused.stderr
    );
    srv.cli(&["domain", "add", "apac"]).ok();
    srv.cli(&["user", "add", "dave", "--domain", "apac"]).ok();
    let other = srv.cli(&["--token-file", tf, "user", "show", "dave"]);
    assert_eq!(other.code, 3, "{}", other.stderr);
    assert!(!other.stdout.contains("dave") || other.stdout.is_empty());
    srv.cli(&["--token-file", tf, "user", "unlock", "alice"])
        .ok();

    let verify = srv.cli(&["audit", "verify"]);
    verify.ok();
    assert!(verify.stdout.contains("intact"), "{}", verify.stdout);
    let export = srv.cli(&["audit", "export"]).ok().stdout.clone();
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(
        lines.len() >= 12,
        "expected an audit record per change, got {}",
        lines.len()
    );
    assert!(
        lines
            .iter()
            .any(|r| r["action"] == "token.pin.set" && r["actor"] == "admin:admin")
    );
    assert!(
        lines
            .iter()
            .any(|r| r["action"] == "user.update" && r["actor"] == "admin:helen")
    );
    for secret in [
        "GEZDGNBV",
        "4821",
        key,
        hd["token"].as_str().expect("token"),
        "testing123",
    ] {
        assert!(!export.contains(secret), "audit export leaks a secret");
    }
    let (_, logs) = srv.stop();
    for secret in [
        "GEZDGNBV",
        key,
        hd["token"].as_str().expect("token"),
        "testing123",
    ] {
        assert!(!logs.contains(secret), "server log leaks a secret");
    }
}

#[test]
fn admin_flow_on_sqlite() {
    admin_flow(&[]);
}

#[test]
fn admin_flow_on_postgres() {
    let Some(url) = postgres_database() else {
        return;
    };
    admin_flow(&["--database-url", &url]);
}

#[test]
fn sqlite_database_is_in_wal_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    srv.cli(&["user", "add", "walter"]).ok();
    let header = std::fs::read(tmp.path().join("latchkey.db")).expect("database file");
    // Bytes 18 and 19 of the SQLite header are the write/read format versions: 2 means WAL.
    assert_eq!(
        (header[18], header[19]),
        (2, 2),
        "database is not in WAL mode"
    );
    assert_eq!(
        crate::common::mode(&tmp.path().join("latchkey.db")) & 0o077,
        0,
        "database readable by others"
    );
}
