//! SMS and voice codes through the real binary: the outbox of a fresh install, and a real
//! Kannel (bearerbox + smsbox + fakesmsc, started by `scripts/kannel-standin.sh`) configured
//! as the SMS provider. The code that arrives is the one that then authenticates.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Server, cloud, require_tools, wait_for};

fn cloud_key(srv: &Server, user: &str, phone: &str) -> String {
    srv.cli(&["user", "add", user, "--phone", phone]).ok();
    srv.cli(&["agent", "add", "portal", "--kind", "cloud-app", "--json"])
        .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_delivers_codes_to_its_outbox_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // No resend cool-down: the test sends two codes to the same user in a row.
    std::fs::write(
        tmp.path().join("latchkey.toml"),
        "[messaging]\nresend_cooldown_seconds = 0\n",
    )
    .expect("config");
    let srv = Server::start(tmp.path(), &[]);
    let key = cloud_key(&srv, "olga", "+14155550123");
    let m = cloud(&srv, &key, "methods", json!({"user": "olga"})).await;
    assert_eq!(
        m["methods"],
        json!(["authenticator", "sms", "voice", "emergency_access_code"])
    );
    let c = cloud(
        &srv,
        &key,
        "start",
        json!({"user": "olga", "method": "sms"}),
    )
    .await;
    assert_eq!(c["challenge"]["kind"], "sms_code", "{c}");
    let outbox = tmp.path().join("outbox.jsonl");
    let line: Value =
        serde_json::from_str(std::fs::read_to_string(&outbox).expect("outbox").trim())
            .expect("json line");
    assert_eq!(line["to"], "+14155550123");
    let code = line["code"].as_str().expect("code").to_owned();
    assert_eq!(code.len(), 6);
    assert!(line["text"].as_str().unwrap_or_default().contains(&code));
    let r = cloud(
        &srv,
        &key,
        "verify",
        json!({"attempt_id": c["attempt_id"], "response": code}),
    )
    .await;
    assert_eq!(r["result"], "SUCCESS");

    // On the manager channel: the on-demand PIN alone sends a tokencode by SMS.
    srv.cli(&["user", "on-demand", "olga", "--pin", "975310"])
        .ok();
    let rest = srv
        .cli(&["agent", "add", "vpn", "--kind", "rest", "--json"])
        .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let http = reqwest::Client::new();
    let ch = crate::authn::post(
        &http,
        &srv.url,
        &rest,
        "initialize",
        json!({"user": "olga", "passcode": "975310"}),
    )
    .await;
    assert_eq!(ch["challenge"]["kind"], "next_tokencode", "{ch}");
    let text = std::fs::read_to_string(&outbox).expect("outbox");
    let last: Value = serde_json::from_str(text.lines().last().expect("line")).expect("json");
    let tokencode = last["code"].as_str().expect("code").to_owned();
    assert_ne!(tokencode, code);
    let ok = crate::authn::post(
        &http,
        &srv.url,
        &rest,
        "verify",
        json!({"attempt_id": ch["attempt_id"], "response": tokencode}),
    )
    .await;
    assert_eq!(ok["result"], "SUCCESS");
    let (_, logs) = srv.stop();
    assert!(!logs.contains(&code), "a code is in the log");
    assert!(!logs.contains(&tokencode), "a code is in the log");
}

fn kannel_installed() -> bool {
    let present = Path::new("/usr/lib/kannel/test/fakesmsc").exists()
        && Command::new("sh")
            .args(["-c", "command -v bearerbox || test -x /usr/sbin/bearerbox"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            !require_tools(),
            "LATCHKEY_REQUIRE_TOOLS=1 but Kannel is missing (scripts/install-test-deps.sh)"
        );
        eprintln!("skipped: Kannel not installed");
    }
    present
}

/// Stops the stand-in on drop.
struct Kannel(PathBuf);

impl Drop for Kannel {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.0)
            .output();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kannel-standin.sh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_receives_the_sms_and_its_code_authenticates() {
    if !kannel_installed() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("kannel");
    let out = Command::new("bash")
        .arg(script())
        .arg("start")
        .arg(&run)
        .output()
        .expect("kannel-standin.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _kannel = Kannel(run.clone());
    let env: std::collections::HashMap<String, String> = std::fs::read_to_string(run.join("env"))
        .expect("env")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let config = data.join("latchkey.toml");
    std::fs::write(
        &config,
        format!(
            "[[messaging.provider]]\nname = \"kannel\"\n\
             settings = {{ type = \"kannel\", url = \"{}\", username = \"{}\", \
             password = \"{}\", from = \"+15005550006\" }}\n",
            env["SENDSMS_URL"], env["SENDSMS_USER"], env["SENDSMS_PASSWORD"]
        ),
    )
    .expect("config");
    let srv = Server::start(&data, &["--config", config.to_str().expect("path")]);
    let key = cloud_key(&srv, "kurt", "+4915112345678");
    let c = cloud(
        &srv,
        &key,
        "start",
        json!({"user": "kurt", "method": "sms"}),
    )
    .await;
    assert_eq!(c["result"], "CHALLENGE", "{c}");
    let received = run.join("fakesmsc.out");
    let mut text = String::new();
    assert!(
        wait_for(10, || {
            text = std::fs::read_to_string(&received).unwrap_or_default();
            text.contains("Got message")
        }),
        "fakesmsc received nothing"
    );
    let line = text
        .lines()
        .find(|l| l.contains("Got message"))
        .expect("message line");
    assert!(line.contains("+15005550006 +4915112345678"), "{line}");
    let code: String = line
        .split("code is ")
        .nth(1)
        .expect("code in the text")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(code.len(), 6, "{line}");
    let r = cloud(
        &srv,
        &key,
        "verify",
        json!({"attempt_id": c["attempt_id"], "response": code}),
    )
    .await;
    assert_eq!(r["result"], "SUCCESS");
}
