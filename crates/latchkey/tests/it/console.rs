//! The Security Console in a real browser: Debian's `chromium` driven by npm `playwright-core`
//! (`tests/console/*.mjs`) against the real binary, with data prepared by the CLI and the
//! codes handed out in the browser used through the cloud and agent APIs.
//!
//! Needs `node`, `/usr/bin/chromium` (or `LK_CHROMIUM`) and `tests/console/node_modules`
//! (`npm ci` in `tests/console`, done by `scripts/install-test-deps.sh`); without them the
//! tests skip with a message, and fail in CI (`CI=true` or `LATCHKEY_REQUIRE_TOOLS=1`).
//! Screenshots go to `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::authn::{post, provision};
use crate::common::{Server, cloud, have_tool};

const PIN: &str = "2468";
const ADMIN_PIN: &str = "8642";
/// The console administrators' own tokens (HOTP, so each sign-in takes the next code).
const ADMIN_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> PathBuf {
    std::env::var_os("LK_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Whether node, chromium and playwright-core are here; otherwise skip, or fail in CI.
fn browser_ready() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("LATCHKEY_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node (apt: nodejs)".to_owned());
    }
    if !chromium().exists() {
        missing.push(format!("{} (apt: chromium)", chromium().display()));
    }
    if !repo()
        .join("tests/console/node_modules/playwright-core")
        .exists()
    {
        missing.push(
            "tests/console/node_modules/playwright-core (npm ci in tests/console)".to_owned(),
        );
    }
    if missing.is_empty() {
        return have_tool("oathtool");
    }
    let msg = format!(
        "console browser tests need: {}; run scripts/install-test-deps.sh",
        missing.join(", ")
    );
    assert!(!ci, "{msg}");
    eprintln!("skipped: {msg}");
    false
}

/// The first administrator's console password, printed once by the first start.
fn first_password(srv: &Server) -> String {
    let out = srv.stdout();
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Console password (shown once):"))
        .map_or_else(
            || panic!("no console password in:\n{out}"),
            |p| p.trim().to_owned(),
        )
}

/// PIN + HOTP codes `0..n` of [`ADMIN_SECRET`] computed by oathtool, comma-separated.
fn admin_passcodes(n: u32) -> String {
    (0..n)
        .map(|c| {
            let out = Command::new("oathtool")
                .args(["--hotp", "--base32", ADMIN_SECRET, "-c", &c.to_string()])
                .output()
                .expect("oathtool");
            assert!(out.status.success());
            format!("{ADMIN_PIN}{}", String::from_utf8_lossy(&out.stdout).trim())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Gives administrator `name` their linked Latchkey user (same login, in their scope domain)
/// with an HOTP token and PIN.
fn link_admin(srv: &Server, name: &str, domain: &str) {
    srv.cli(&["user", "add", name, "--domain", domain]).ok();
    let serial = format!("ADM-{name}");
    srv.cli(&[
        "token",
        "import",
        "--user",
        name,
        "--type",
        "hotp",
        "--secret",
        ADMIN_SECRET,
        "--serial",
        &serial,
    ])
    .ok();
    srv.cli(&["token", "set-pin", &serial, ADMIN_PIN]).ok();
}

/// Runs `node tests/console/SCENARIO.mjs` with `env`; returns its output after checking it
/// passed.
fn scenario(srv: &Server, name: &str, env: &[(&str, &str)]) -> String {
    let shots = repo().join("target/console-screenshots").join(name);
    let out = Command::new("node")
        .arg(repo().join(format!("tests/console/{name}.mjs")))
        .current_dir(repo().join("tests/console"))
        .env("LK_URL", &srv.url)
        .env("LK_CHROMIUM", chromium())
        .env("LK_SHOTS", &shots)
        .envs(env.iter().copied())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("{name}.mjs:\n{stdout}\n{stderr}");
    assert!(
        out.status.success() && stdout.contains("SCENARIO PASSED"),
        "{name}.mjs failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
        out.status,
        srv.stderr()
    );
    stdout
}

fn line_value(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} line in:\n{out}"))
        .trim()
        .to_owned()
}

fn audit(srv: &Server) -> Vec<Value> {
    srv.cli(&["audit", "export"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_procedure_in_the_browser() {
    if !browser_ready() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    provision(&srv, "lena", Some(PIN));
    link_admin(&srv, "admin", "root");
    let out = scenario(
        &srv,
        "seed",
        &[
            ("LK_ADMIN", "admin"),
            ("LK_PASSWORD", &first_password(&srv)),
            ("LK_PASSCODES", &admin_passcodes(3)),
            ("LK_USER", "lena"),
        ],
    );
    let second = line_value(&out, "VALUE2");
    let log = audit(&srv);
    let by_console = |action: &str| {
        log.iter()
            .filter(|r| r["action"] == action && r["actor"] == "admin:admin")
            .count()
    };
    assert_eq!(by_console("emergency.offline_passcode.reveal"), 2);
    assert_eq!(by_console("emergency.offline_passcode.reset"), 1);
    assert_eq!(by_console("console.signin"), 1);
    // The second factor went through the authentication service as the console's agent.
    assert!(log.iter().any(|r| r["action"] == "authn"
        && r["actor"] == "agent:security-console"
        && r["target"] == "user:admin"
        && r["outcome"] == "success"));
    assert!(!log.iter().any(|r| r.to_string().contains(&second)));
    // The value the browser showed is the one the admin API reads now (after the reset).
    let now = srv
        .cli(&[
            "emergency",
            "offline",
            "show",
            "lena",
            "--reason",
            "check",
            "--json",
        ])
        .json();
    assert_eq!(now["passcode"], second.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_from_the_console_work_through_the_cloud_and_agent_apis() {
    if !browser_ready() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    let key = provision(&srv, "lena", Some(PIN));
    let cloud_key = srv
        .cli(&["agent", "add", "portal", "--kind", "cloud-app", "--json"])
        .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    link_admin(&srv, "admin", "root");
    let out = scenario(
        &srv,
        "eac",
        &[
            ("LK_ADMIN", "admin"),
            ("LK_PASSWORD", &first_password(&srv)),
            ("LK_PASSCODES", &admin_passcodes(3)),
            ("LK_USER", "lena"),
            ("LK_SERIAL", "S-lena"),
        ],
    );
    let c = reqwest::Client::new();
    // The emergency access code, through the cloud API; it is one-time.
    let eac = line_value(&out, "EAC");
    for expected in ["SUCCESS", "FAIL"] {
        let start = cloud(
            &srv,
            &cloud_key,
            "start",
            json!({"user": "lena", "method": "emergency_access_code"}),
        )
        .await;
        assert_eq!(start["result"], "CHALLENGE", "{start}");
        let done = cloud(
            &srv,
            &cloud_key,
            "verify",
            json!({"attempt_id": start["attempt_id"], "response": eac}),
        )
        .await;
        assert_eq!(done["result"], expected, "{done}");
    }
    // The temporary fixed tokencode, through the agent API with the token's PIN; reusable.
    let online = line_value(&out, "ONLINE");
    for _ in 0..2 {
        let r = post(
            &c,
            &srv.url,
            &key,
            "initialize",
            json!({"user": "lena", "passcode": format!("{PIN}{online}")}),
        )
        .await;
        assert_eq!(r["result"], "SUCCESS", "{r}");
    }
    let wrong = post(
        &c,
        &srv.url,
        &key,
        "initialize",
        json!({"user": "lena", "passcode": format!("{PIN}{online}X")}),
    )
    .await;
    assert_eq!(wrong["result"], "FAIL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_domains_csrf_and_sign_out_are_enforced() {
    if !browser_ready() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    provision(&srv, "lena", Some(PIN));
    srv.cli(&["domain", "add", "east"]).ok();
    let hd = srv
        .cli(&[
            "admin",
            "add",
            "hd",
            "--role",
            "help-desk",
            "--scope",
            "east",
            "--json",
        ])
        .json();
    let password = hd["password"].as_str().expect("password").to_owned();
    link_admin(&srv, "hd", "east");
    scenario(
        &srv,
        "scope",
        &[
            ("LK_HD", "hd"),
            ("LK_HD_PASSWORD", &password),
            ("LK_PASSCODES", &admin_passcodes(3)),
            ("LK_USER", "lena"),
        ],
    );
    let log = audit(&srv);
    assert!(
        log.iter()
            .any(|r| r["action"] == "console.signout" && r["actor"] == "admin:hd")
    );
    // Nothing was read for the help desk: no emergency record by hd.
    assert!(!log.iter().any(|r| {
        r["actor"] == "admin:hd"
            && r["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("emergency."))
    }));
}

/// The hidden `csrf` field of a console page.
fn csrf_of(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    let rest = &body[at..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

/// `NAME=VALUE` of the Set-Cookie `name` in an answer.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_works_on_every_node_of_a_postgres_cluster() {
    if !have_tool("oathtool") {
        return;
    }
    let Some(db) = crate::common::postgres_database() else {
        return;
    };
    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let one = Server::start(a.path(), &["--database-url", &db]);
    std::fs::copy(a.path().join("master.key"), b.path().join("master.key")).expect("copy key");
    let two = Server::start(b.path(), &["--database-url", &db]);
    link_admin(&one, "admin", "root");
    let password = first_password(&one);
    let passcode = admin_passcodes(1);
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // Sign in on node one.
    let page = c
        .get(format!("{}/console/sign-in", one.url))
        .send()
        .await
        .expect("sign-in page");
    let pre = set_cookie(&page, "latchkey_console_signin").expect("double-submit cookie");
    let csrf = csrf_of(&page.text().await.expect("body"));
    let r = c
        .post(format!("{}/console/sign-in", one.url))
        .header("cookie", pre)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "admin"),
            ("password", password.as_str()),
            ("passcode", passcode.as_str()),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "latchkey_console").expect("session cookie");

    // The session works on node two, and signing out there ends it on node one.
    let r = c
        .get(format!("{}/console/users", two.url))
        .header("cookie", &session)
        .send()
        .await
        .expect("users on node two");
    assert_eq!(r.status(), 200);
    let csrf = csrf_of(&r.text().await.expect("body"));
    let r = c
        .post(format!("{}/console/sign-out", two.url))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(r.status(), 303);
    let r = c
        .get(format!("{}/console/users", one.url))
        .header("cookie", &session)
        .send()
        .await
        .expect("users on node one");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_pages_in_the_browser() {
    if !browser_ready() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    provision(&srv, "lena", Some(PIN));
    link_admin(&srv, "admin", "root");
    let out = scenario(
        &srv,
        "admin_pages",
        &[
            ("LK_ADMIN", "admin"),
            ("LK_PASSWORD", &first_password(&srv)),
            ("LK_PASSCODES", &admin_passcodes(2)),
            ("LK_USER", "lena"),
        ],
    );
    let uri = line_value(&out, "OTPAUTH");
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("secret in the URI");
    let log = audit(&srv);
    let by_console = |action: &str, target: &str| {
        log.iter()
            .filter(|r| {
                r["action"] == action && r["actor"] == "admin:admin" && r["target"] == target
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(by_console("token.generate", "token:WEB-1").len(), 1);
    assert_eq!(
        by_console("token.update", "token:WEB-1").len(),
        2,
        "disabled, enabled"
    );
    assert_eq!(by_console("domain.create", "domain:east").len(), 1);
    let set = by_console("policy.set", "domain:east");
    assert_eq!(set.len(), 1, "the refused value was not saved");
    assert_eq!(
        set[0]["detail"]["value"]["value"]["max_failures"], 7,
        "{}",
        set[0]
    );
    assert_eq!(by_console("agent.create", "agent:web-vpn").len(), 1);
    assert_eq!(by_console("admin.create", "admin:kim").len(), 1);
    assert!(
        !log.iter().any(|r| r.to_string().contains(secret)),
        "the token's seed is in no audit record"
    );
    // What the browser did is what the CLI sees.
    let tokens = srv.cli(&["token", "list", "--json"]).json();
    assert!(
        tokens
            .as_array()
            .expect("array")
            .iter()
            .any(|t| t["serial"] == "WEB-1" && t["user"] == "lena" && t["enabled"] == true),
        "{tokens}"
    );
}
