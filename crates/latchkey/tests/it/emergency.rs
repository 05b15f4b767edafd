//! Emergency access end to end: the help desk's CLI verbs against the real binary, and the
//! codes they hand out used through the REST agent API, next to `oathtool` tokencodes.

use serde_json::{Value, json};

use crate::authn::{now, oathtool_totp, post, provision};
use crate::common::{Server, cloud, have_tool};

const PIN: &str = "2468";

async fn login(srv: &Server, key: &str, user: &str, passcode: &str) -> Value {
    let c = reqwest::Client::new();
    post(
        &c,
        &srv.url,
        key,
        "initialize",
        json!({"user": user, "passcode": passcode}),
    )
    .await["result"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_desk_verbs_hand_out_codes_that_work_once_or_until_found() {
    if !have_tool("oathtool") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    let key = provision(&srv, "lena", Some(PIN));

    // A set of one-time tokencodes: each works once, with the PIN.
    let g = srv
        .cli(&["emergency", "online", "S-lena", "--one-time", "2", "--json"])
        .json();
    let codes: Vec<String> = g["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 2);
    assert!(codes.iter().all(|c| c.len() == 8));
    let first = format!("{PIN}{}", codes[0]);
    assert_eq!(login(&srv, &key, "lena", &first).await, "SUCCESS");
    assert_eq!(login(&srv, &key, "lena", &first).await, "FAIL");
    let shown = srv
        .cli(&["emergency", "online-show", "S-lena", "--json"])
        .json();
    assert_eq!(shown["unused_codes"], 1);
    assert!(!shown.to_string().contains(&codes[1]), "never shown again");

    // Beyond the deployment maximum (30 days): refused with exit code 6, nothing changes.
    let far = srv.cli(&[
        "emergency",
        "online",
        "S-lena",
        "--fixed",
        "--expires",
        "2099-01-01",
    ]);
    assert_eq!(far.code, 6, "{}", far.stderr);
    assert!(far.stderr.contains("maximum lifetime"), "{}", far.stderr);
    assert_eq!(
        srv.cli(&["emergency", "online-show", "S-lena", "--json"])
            .json()["unused_codes"],
        1
    );

    // A fixed tokencode, printed alone on the first line for the help desk to read out; it
    // works until the token turns up, which (by default) ends emergency access.
    let fixed = srv
        .cli(&["emergency", "online", "S-lena", "--fixed"])
        .ok()
        .stdout
        .clone();
    let code = fixed.lines().next().expect("code line").trim().to_owned();
    assert_eq!(code.len(), 8, "{fixed}");
    for _ in 0..2 {
        assert_eq!(
            login(&srv, &key, "lena", &format!("{PIN}{code}")).await,
            "SUCCESS"
        );
    }
    let token = format!("{PIN}{}", oathtool_totp(now()));
    assert_eq!(login(&srv, &key, "lena", &token).await, "SUCCESS");
    assert_eq!(
        srv.cli(&["emergency", "online-show", "S-lena"]).code,
        4,
        "emergency access ended"
    );
    assert_eq!(
        login(&srv, &key, "lena", &format!("{PIN}{code}")).await,
        "FAIL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_values_are_read_with_a_reason_reset_and_audited() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    let key = provision(&srv, "omar", Some(PIN));

    // The reason is required by the CLI (usage error) and by the server.
    assert_eq!(srv.cli(&["emergency", "offline", "show", "omar"]).code, 2);
    let empty = srv.cli(&["emergency", "offline", "show", "omar", "--reason", " "]);
    assert_eq!(empty.code, 6, "{}", empty.stderr);

    let v = srv
        .cli(&[
            "emergency",
            "offline",
            "show",
            "omar",
            "--reason",
            "INC-77",
            "--json",
        ])
        .json();
    let passcode = v["passcode"].as_str().expect("passcode").to_owned();
    assert_eq!(passcode.len(), 12);
    assert!(v["expires_at"].as_i64().expect("expiry") > now() + 29 * 86_400);
    assert_eq!(v["hosts"], json!([]));
    // Never accepted online.
    assert_eq!(login(&srv, &key, "omar", &passcode).await, "FAIL");

    let r = srv
        .cli(&["emergency", "offline", "reset", "omar", "--json"])
        .json();
    assert_eq!(r["generation"], 2);
    assert!(r.get("passcode").is_none());
    let human = srv
        .cli(&["emergency", "offline", "show", "omar", "--reason", "INC-78"])
        .ok()
        .stdout
        .clone();
    let new = human.lines().next().expect("value line").trim();
    assert_eq!(new.len(), 12);
    assert_ne!(new, passcode);
    assert!(human.contains("generation 2"), "{human}");

    // The token's offline tokencode, accepted online once allowed.
    let t = srv
        .cli(&[
            "emergency",
            "tokencode",
            "show",
            "S-omar",
            "--reason",
            "INC-79",
            "--json",
        ])
        .json();
    let tokencode = t["tokencode"].as_str().expect("tokencode").to_owned();
    let typed = format!("{PIN}{tokencode}");
    assert_eq!(login(&srv, &key, "omar", &typed).await, "FAIL");
    srv.cli(&[
        "emergency",
        "tokencode",
        "set",
        "S-omar",
        "--online-use",
        "on",
    ])
    .ok();
    assert_eq!(login(&srv, &key, "omar", &typed).await, "SUCCESS");

    // Every read is in the audit log with its reason; the user was told.
    let log = srv.cli(&["audit", "export"]).ok().stdout.clone();
    let reads: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .filter(|r| r["action"].as_str().is_some_and(|a| a.ends_with(".reveal")))
        .collect();
    let reasons: Vec<&str> = reads
        .iter()
        .map(|r| r["detail"]["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(reasons, ["INC-77", "INC-78", "INC-79"]);
    assert!(!log.contains(&passcode) && !log.contains(&tokencode));
    let outbox = srv
        .cli(&["outbox", "list", "--user", "omar", "--json"])
        .json();
    let events: Vec<&str> = outbox
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        events,
        [
            "emergency.used",
            "emergency.offline.revealed",
            "emergency.offline.revealed",
            "emergency.offline.reset",
            "emergency.offline.revealed",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_access_code_from_the_cli_opens_the_cloud_channel_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let srv = Server::start(tmp.path(), &[]);
    provision(&srv, "nina", None);
    let cloud_key = srv
        .cli(&["agent", "add", "portal", "--kind", "cloud-app", "--json"])
        .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let g = srv
        .cli(&[
            "eac",
            "generate",
            "nina",
            "--one-time",
            "--expires-in",
            "30m",
            "--json",
        ])
        .json();
    let code = g["code"].as_str().expect("code").to_owned();
    assert_eq!(code.len(), 10);
    let expires = g["expires_at"].as_i64().expect("expiry");
    assert!((expires - now() - 1800).abs() <= 5, "{g}");
    assert!(g["offline_expires_at"].as_i64().expect("offline") <= expires);
    let bad = srv.cli(&["eac", "generate", "nina", "--expires-in", "9d"]);
    assert_eq!(bad.code, 6, "{}", bad.stderr);

    for expected in ["SUCCESS", "FAIL"] {
        let ch = cloud(
            &srv,
            &cloud_key,
            "start",
            json!({"user": "nina", "method": "emergency_access_code"}),
        )
        .await;
        assert_eq!(ch["result"], "CHALLENGE", "{ch}");
        let r = cloud(
            &srv,
            &cloud_key,
            "verify",
            json!({"attempt_id": ch["attempt_id"], "response": code}),
        )
        .await;
        assert_eq!(r["result"], expected);
    }
    let shown = srv.cli(&["eac", "show", "nina", "--json"]).json();
    assert!(shown["used_at"].is_i64());
    assert!(shown.get("code").is_none());
}
