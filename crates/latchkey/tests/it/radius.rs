//! RADIUS against the real binary with real clients written by others: `radtest`/`radclient`
//! (from `FreeRADIUS`), the Python package `pyrad` with `enforce_ma=True`, and `pam_radius_auth` driven by
//! `pamtester` through a PAM service of the test's own with a private `conf=` file. Plus raw
//! datagrams for duplicates and bad input. Every server listens on free ports and tells them in
//! `DATA_DIR/server.json`; codes come from `oathtool` at the real time, which the server reads
//! too (TOTP ±1 step: the next code is the one 30 s ahead, no waiting).

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use latchkey_radius::codec::{Code, Packet, attr, hide_password};
use serde_json::{Value, json};

use crate::authn::{SECRET as SECRET_B32, now, oathtool_totp as totp};
use crate::common::{PamService, Server, have_tool, require_tools};

const RADIUS_SECRET: &str = "it-radius-secret-0123";

/// The RADIUS address the server wrote to `server.json`.
fn radius_addr(srv: &Server) -> String {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(srv.dir.join("server.json")).unwrap())
            .unwrap();
    v["radius"].as_str().expect("radius address").to_owned()
}

/// A user with a TOTP token `S-USER` (and a PIN).
fn user(srv: &Server, login: &str, pin: Option<&str>) {
    srv.cli(&["user", "add", login]).ok();
    let serial = format!("S-{login}");
    srv.cli(&[
        "token", "import", "--user", login, "--type", "totp", "--secret", SECRET_B32, "--serial",
        &serial,
    ])
    .ok();
    if let Some(p) = pin {
        srv.cli(&["token", "set-pin", &serial, p]).ok();
    }
}

/// A RADIUS client for 127.0.0.1.
fn radius_client(srv: &Server, name: &str, require_ma: bool) {
    let mut args = vec![
        "agent",
        "add",
        name,
        "--kind",
        "radius",
        "--address",
        "127.0.0.1/32",
        "--secret",
        RADIUS_SECRET,
    ];
    if !require_ma {
        args.push("--no-message-authenticator");
    }
    srv.cli(&args).ok();
}

fn audit(srv: &Server) -> Vec<Value> {
    srv.cli(&["audit", "export"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .filter(|r| r["action"] == "authn")
        .collect()
}

fn outcomes(srv: &Server, login: &str) -> Vec<String> {
    audit(srv)
        .into_iter()
        .filter(|r| r["target"] == format!("user:{login}"))
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// What a client printed, and the reply code it accepted (`None`: no valid answer).
struct Heard {
    code: Option<String>,
    out: String,
}

fn received(out: &str) -> Option<String> {
    out.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Received ")
            .and_then(|r| r.split_whitespace().next())
            .filter(|c| c.starts_with("Access-"))
            .map(str::to_owned)
    })
}

/// `radclient -x` with `attrs` on standard input; `tries` of one second each.
fn radclient(addr: &str, secret: &str, attrs: &str, tries: u32) -> Heard {
    let mut child = Command::new("radclient")
        .args([
            "-x",
            "-r",
            &tries.to_string(),
            "-t",
            "1",
            addr,
            "auth",
            secret,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attrs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Heard {
        code: received(&out),
        out,
    }
}

fn pap(user: &str, password: &str, ma: bool) -> String {
    let mut s = format!("User-Name = \"{user}\"\nUser-Password = \"{password}\"\n");
    if ma {
        s.push_str("Message-Authenticator = 0x00\n");
    }
    s
}

#[test]
fn radtest_and_radclient_pap_against_a_client_requiring_message_authenticator() {
    if !have_tool("oathtool") || !have_tool("radclient") || !have_tool("radtest") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start(tmp.path(), &[]);
    let addr = radius_addr(&srv);
    assert!(
        srv.stdout().contains(&format!("RADIUS:     udp {addr}")),
        "{}",
        srv.stdout()
    );
    user(&srv, "rita", Some("1357"));
    user(&srv, "carl", None);
    radius_client(&srv, "vpn", true);
    let t = now();

    // radtest (it always sends a Message-Authenticator): PIN + oathtool code.
    let out = Command::new("radtest")
        .args([
            "rita",
            &format!("1357{}", totp(t)),
            &addr,
            "0",
            RADIUS_SECRET,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(received(&out).as_deref(), Some("Access-Accept"), "{out}");
    assert!(out.contains("Reply-Message = \"Authenticated\""), "{out}");

    // radclient with a Message-Authenticator: accept, then a wrong code rejected.
    let h = radclient(&addr, RADIUS_SECRET, &pap("carl", &totp(t), true), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Accept"), "{}", h.out);
    assert!(h.out.contains("Message-Authenticator"), "{}", h.out);
    let h = radclient(&addr, RADIUS_SECRET, &pap("carl", "000000", true), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Reject"), "{}", h.out);
    assert!(h.out.contains("Access denied"), "{}", h.out);

    // Without a Message-Authenticator: this client requires one, so no answer.
    let fresh = totp(t + 30);
    let h = radclient(&addr, RADIUS_SECRET, &pap("carl", &fresh, false), 1);
    assert_eq!(h.code, None, "{}", h.out);
    // A wrong shared secret: no answer either.
    let h = radclient(&addr, "wrong-shared-secret", &pap("carl", &fresh, true), 1);
    assert_eq!(h.code, None, "{}", h.out);
    // The dropped requests reached no authentication: the fresh code still works.
    let h = radclient(&addr, RADIUS_SECRET, &pap("carl", &fresh, true), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Accept"), "{}", h.out);

    assert_eq!(outcomes(&srv, "rita"), ["success"]);
    assert_eq!(
        outcomes(&srv, "carl"),
        ["success", "fail:wrong_tokencode", "success"]
    );
    let rec = audit(&srv).pop().unwrap();
    assert_eq!(rec["actor"], "agent:vpn");
    assert_eq!(rec["source"], "127.0.0.1");
    let (_, logs) = srv.stop();
    assert!(logs.contains("MissingAuthenticator"), "drop not logged");
    assert!(logs.contains("BadAuthenticator"), "drop not logged");
    assert!(
        !logs.contains(RADIUS_SECRET),
        "the shared secret is in the log"
    );
    assert!(!logs.contains(&fresh), "a passcode is in the log");
}

#[test]
fn radclient_pap_against_a_client_not_requiring_message_authenticator() {
    if !have_tool("oathtool") || !have_tool("radclient") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start(tmp.path(), &[]);
    let addr = radius_addr(&srv);
    user(&srv, "lena", None);
    user(&srv, "otto", None);
    radius_client(&srv, "legacy-nas", false);
    let t = now();
    let h = radclient(&addr, RADIUS_SECRET, &pap("lena", &totp(t), false), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Accept"), "{}", h.out);
    // The reply still carries a Message-Authenticator, which radclient checked.
    assert!(h.out.contains("Message-Authenticator"), "{}", h.out);
    let h = radclient(&addr, RADIUS_SECRET, &pap("otto", &totp(t), true), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Accept"), "{}", h.out);
    let h = radclient(&addr, RADIUS_SECRET, &pap("otto", "123", false), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Reject"), "{}", h.out);
    // A wrong secret with a Message-Authenticator: dropped.
    let h = radclient(&addr, "wrong-shared-secret", &pap("otto", "1", true), 1);
    assert_eq!(h.code, None, "{}", h.out);
    // A wrong secret without one cannot be told from a wrong password: the server rejects,
    // and the client discards that reject, whose authenticator is not made with its secret.
    let h = radclient(&addr, "wrong-shared-secret", &pap("otto", "1", false), 1);
    assert_eq!(h.code, None, "{}", h.out);
    assert_eq!(outcomes(&srv, "lena"), ["success"]);
    assert_eq!(
        outcomes(&srv, "otto"),
        ["success", "fail:wrong_pin", "fail:wrong_pin"]
    );
}

/// Runs `radius_pyrad.py USER ANSWERS…`; the replies it printed.
fn pyrad(addr: &str, user: &str, answers: &[&str]) -> Vec<Value> {
    let port = addr.rsplit_once(':').unwrap().1;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/radius_pyrad.py");
    let python = std::env::var("LATCHKEY_VENV").map_or_else(
        |_| "/opt/latchkey-venv/bin/python".to_owned(),
        |v| format!("{v}/bin/python"),
    );
    let out = Command::new(&python)
        .args([script, "--port", port, "--secret", RADIUS_SECRET, user])
        .args(answers)
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pyrad: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn have_pyrad() -> bool {
    let python = std::env::var("LATCHKEY_VENV").map_or_else(
        |_| "/opt/latchkey-venv/bin/python".to_owned(),
        |v| format!("{v}/bin/python"),
    );
    let ok = Command::new(&python)
        .args(["-c", "import pyrad"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !require_tools(),
            "pyrad is required (LATCHKEY_REQUIRE_TOOLS=1) but {python} cannot import it; run scripts/install-test-deps.sh"
        );
        eprintln!("skipped: pyrad not installed in {python}");
    }
    ok
}

fn codes(replies: &[Value]) -> Vec<&str> {
    replies
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect()
}

#[test]
fn pyrad_new_pin_and_next_tokencode_challenges() {
    if !have_tool("oathtool") || !have_pyrad() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start(tmp.path(), &[]);
    let addr = radius_addr(&srv);
    radius_client(&srv, "vpn", true);

    // New-PIN mode: tokencode, new PIN, confirmation, then new PIN + the next tokencode.
    user(&srv, "nina", None);
    srv.cli(&["token", "require-new-pin", "S-nina"]).ok();
    let t = now();
    let next = format!("24680{}", totp(t + 30));
    let r = pyrad(&addr, "nina", &[&totp(t), "24680", "24680", &next]);
    assert_eq!(
        codes(&r),
        [
            "Access-Challenge",
            "Access-Challenge",
            "Access-Challenge",
            "Access-Accept"
        ],
        "{r:?}"
    );
    assert!(
        r[0]["message"].as_str().unwrap().contains("new PIN"),
        "{r:?}"
    );
    assert!(r[1]["message"].as_str().unwrap().contains("again"), "{r:?}");
    assert!(
        r[2]["message"].as_str().unwrap().contains("PIN accepted"),
        "{r:?}"
    );
    assert!(
        r[2]["message"].as_str().unwrap().contains("next tokencode"),
        "{r:?}"
    );
    // Each challenge has its own State (the attempt id).
    assert_ne!(r[0]["state"], r[1]["state"]);
    assert_eq!(
        outcomes(&srv, "nina"),
        ["challenge", "challenge", "challenge", "success"]
    );

    // Next-tokencode mode: three wrong passcodes, then a right one is challenged once.
    user(&srv, "ned", Some("1357"));
    for _ in 0..3 {
        assert_eq!(
            codes(&pyrad(&addr, "ned", &["1357000000"])),
            ["Access-Reject"]
        );
    }
    let t = now();
    let r = pyrad(&addr, "ned", &[&format!("1357{}", totp(t)), &totp(t + 30)]);
    assert_eq!(codes(&r), ["Access-Challenge", "Access-Accept"], "{r:?}");
    assert!(
        r[0]["message"].as_str().unwrap().contains("next tokencode"),
        "{r:?}"
    );
    // Its one chance: a wrong next tokencode ends the attempt.
    user(&srv, "nell", Some("1357"));
    for _ in 0..3 {
        assert_eq!(
            codes(&pyrad(&addr, "nell", &["1357999999"])),
            ["Access-Reject"]
        );
    }
    let r = pyrad(&addr, "nell", &[&format!("1357{}", totp(t)), "000000"]);
    assert_eq!(codes(&r), ["Access-Challenge", "Access-Reject"], "{r:?}");
}

#[test]
fn pam_radius_auth_login_with_one_challenge_round() {
    if !have_tool("oathtool") || !have_tool("pamtester") {
        return;
    }
    if !std::path::Path::new("/lib/x86_64-linux-gnu/security/pam_radius_auth.so").exists()
        && !std::path::Path::new("/usr/lib/x86_64-linux-gnu/security/pam_radius_auth.so").exists()
    {
        assert!(!require_tools(), "pam_radius_auth.so is not installed");
        eprintln!("skipped: pam_radius_auth.so not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start(tmp.path(), &[]);
    let addr = radius_addr(&srv);
    // pam_radius_auth 2.0 sends no Message-Authenticator.
    radius_client(&srv, "workstation", false);
    user(&srv, "pam", Some("2468"));
    // Its own configuration: one server, this one. Never /etc/pam_radius_auth.conf.
    let conf = tmp.path().join("pam_radius_auth.conf");
    std::fs::write(&conf, format!("{addr} {RADIUS_SECRET} 3\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let Some(pam) = PamService::install(&format!("pam_radius_auth.so conf={}", conf.display()))
    else {
        return;
    };
    // Three wrong passcodes: refused, and the token goes into next-tokencode mode.
    for _ in 0..3 {
        let (ok, out) = pam.login("pam", "2468000000\n");
        assert!(!ok, "a wrong passcode logged in: {out}");
    }
    // The right passcode is answered by a challenge for the next tokencode.
    let t = now();
    let (ok, out) = pam.login("pam", &format!("2468{}\n{}\n", totp(t), totp(t + 30)));
    assert!(ok, "login failed: {out}");
    assert!(out.contains("next tokencode"), "no challenge prompt: {out}");
    assert_eq!(
        outcomes(&srv, "pam"),
        [
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "fail:wrong_tokencode",
            "challenge",
            "success"
        ]
    );
    // The same passcode again: a replay, refused.
    let (ok, out) = pam.login("pam", &format!("2468{}\n", totp(t + 30)));
    assert!(!ok, "a used code logged in again: {out}");
    assert_eq!(
        outcomes(&srv, "pam").last().map(String::as_str),
        Some("fail:passcode_reuse")
    );
}

/// A signed Access-Request datagram (with Message-Authenticator) and its authenticator.
fn request(id: u8, user: &str, password: &str, extra: &[(u8, &[u8])]) -> (Vec<u8>, [u8; 16]) {
    let ra: [u8; 16] = rand::random();
    let mut p = Packet::new(Code::ACCESS_REQUEST, id, ra);
    p.push(attr::USER_NAME, user.as_bytes());
    p.push(
        attr::USER_PASSWORD,
        hide_password(password.as_bytes(), RADIUS_SECRET.as_bytes(), &ra).unwrap(),
    );
    for (k, v) in extra {
        p.push(*k, *v);
    }
    p.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
    (p.sign_request(RADIUS_SECRET.as_bytes()).unwrap(), ra)
}

/// A UDP socket from `from` (any 127/8 address works on loopback) to the server.
fn socket(from: &str, addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(from).unwrap();
    s.connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    s
}

fn answer(s: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 4096];
    s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

/// Sends a request that must be answered: waits up to 15 s (a loaded CI machine runs many
/// servers at once), unlike [`answer`]'s short wait used where silence is expected.
fn exchange(s: &UdpSocket, bytes: &[u8], ra: &[u8; 16]) -> Option<Packet> {
    s.send(bytes).unwrap();
    awaited(s).map(|r| Packet::verify_reply(&r, ra, RADIUS_SECRET.as_bytes(), true).unwrap())
}

/// An answer that must come, waited for up to 15 s.
fn awaited(s: &UdpSocket) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let reply = answer(s);
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    reply
}

#[test]
fn duplicates_replay_and_lockout_shared_with_the_rest_api() {
    if !have_tool("oathtool") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start(tmp.path(), &[]);
    let addr = radius_addr(&srv);
    radius_client(&srv, "vpn", true);
    user(&srv, "dora", None);
    let s = socket("127.0.0.1:0", &addr);
    let t = now();

    // The same datagram twice: the same reply, one authentication.
    let (bytes, ra) = request(1, "dora", &totp(t), &[]);
    s.send(&bytes).unwrap();
    let first = awaited(&s).expect("an answer");
    s.send(&bytes).unwrap();
    let second = awaited(&s).expect("the cached answer");
    assert_eq!(first, second);
    let p = Packet::verify_reply(&first, &ra, RADIUS_SECRET.as_bytes(), true).unwrap();
    assert_eq!(p.code, Code::ACCESS_ACCEPT);
    assert_eq!(outcomes(&srv, "dora"), ["success"]);
    // The same passcode in a new request: a replay.
    let (bytes, ra) = request(2, "dora", &totp(t), &[]);
    assert_eq!(exchange(&s, &bytes, &ra).unwrap().code, Code::ACCESS_REJECT);
    assert_eq!(outcomes(&srv, "dora"), ["success", "fail:passcode_reuse"]);

    // Lockout counts RADIUS and REST failures together (default: 5 lock the user).
    user(&srv, "lou", Some("8642"));
    for i in 0..3u8 {
        let (bytes, ra) = request(10 + i, "lou", "8642000000", &[]);
        assert_eq!(exchange(&s, &bytes, &ra).unwrap().code, Code::ACCESS_REJECT);
    }
    let key = srv
        .cli(&["agent", "add", "portal", "--kind", "rest", "--json"])
        .json()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rest = |passcode: String| {
        rt.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/api/v1/authn/initialize", srv.url))
                .bearer_auth(&key)
                .json(&json!({"user": "lou", "passcode": passcode}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    for _ in 0..2 {
        assert_eq!(rest("8642000000".to_owned())["result"], "FAIL");
    }
    assert_eq!(
        srv.cli(&["user", "show", "lou", "--json"]).json()["status"],
        "locked"
    );
    let t = now();
    let (bytes, ra) = request(20, "lou", &format!("8642{}", totp(t)), &[]);
    assert_eq!(exchange(&s, &bytes, &ra).unwrap().code, Code::ACCESS_REJECT);
    assert_eq!(
        outcomes(&srv, "lou").last().map(String::as_str),
        Some("fail:user_locked")
    );
    // Unlocked by an administrator: the token's wrong passcodes were counted across both
    // channels too, so a right passcode over REST now meets next-tokencode mode.
    srv.cli(&["user", "unlock", "lou"]).ok();
    let r = rest(format!("8642{}", totp(t + 30)));
    assert_eq!(r["result"], "CHALLENGE", "{r}");
    assert_eq!(r["challenge"]["kind"], "next_tokencode", "{r}");
}

#[test]
fn bad_input_is_dropped_and_the_server_keeps_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start(tmp.path(), &[]);
    let addr = radius_addr(&srv);
    radius_client(&srv, "vpn", true);
    user(&srv, "bea", Some("1111"));
    let s = socket("127.0.0.1:0", &addr);
    // A well-formed request that must still be answered after each bad one.
    let alive = |id: u8| {
        let (bytes, ra) = request(id, "bea", "1111000000", &[]);
        let r = exchange(&s, &bytes, &ra);
        assert_eq!(
            r.map(|p| p.code),
            Some(Code::ACCESS_REJECT),
            "no answer after bad input {id}"
        );
    };
    let (good, _) = request(99, "bea", "1111000000", &[]);
    let mut bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("truncated header", good[..12].to_vec()),
        ("truncated body", good[..good.len() - 5].to_vec()),
        ("length below 20", {
            let mut b = good.clone();
            b[2..4].copy_from_slice(&10u16.to_be_bytes());
            b
        }),
        ("length above the datagram", {
            let mut b = good.clone();
            b[2..4].copy_from_slice(&(u16::try_from(good.len()).unwrap() + 40).to_be_bytes());
            b
        }),
        ("length above 4096", {
            let mut b = good.clone();
            b[2..4].copy_from_slice(&5000u16.to_be_bytes());
            b
        }),
        ("attribute overrunning the packet", {
            let mut b = good.clone();
            b[21] = 200;
            b
        }),
        ("attribute length 1", {
            let mut b = good.clone();
            b[21] = 1;
            b
        }),
        ("attribute type 0", {
            let mut b = good.clone();
            b[20] = 0;
            b
        }),
        ("altered after signing", {
            let mut b = good.clone();
            let n = b.len();
            b[n - 20] ^= 0xff;
            b
        }),
        ("accounting request", {
            let mut b = good.clone();
            b[0] = 4;
            b
        }),
        ("a reply", {
            let mut b = good.clone();
            b[0] = 2;
            b
        }),
    ];
    bad.push((
        "garbage",
        (0..600u32)
            .map(|i| u8::try_from(i * 7 % 256).unwrap())
            .collect(),
    ));
    for (i, (what, bytes)) in bad.iter().enumerate() {
        s.send(bytes).unwrap();
        assert_eq!(answer(&s), None, "{what} was answered");
        alive(u8::try_from(i).unwrap());
    }
    // Unknown attribute types are ignored (RFC 2865 §5), not a reason to drop.
    let (bytes, ra) = request(
        200,
        "bea",
        "1111000000",
        &[(250, b"unassigned"), (26, b"\0\0\x01\x37\x01\x05abc")],
    );
    assert_eq!(exchange(&s, &bytes, &ra).unwrap().code, Code::ACCESS_REJECT);
    // An address no RADIUS client covers: dropped, and counted in the log.
    let stranger = socket("127.0.0.2:0", &addr);
    let (bytes, _) = request(201, "bea", "1111000000", &[]);
    stranger.send(&bytes).unwrap();
    assert_eq!(answer(&stranger), None);
    alive(202);
    // Only the well-formed requests reached the engine.
    assert_eq!(outcomes(&srv, "bea").len(), bad.len() + 2);
    let (_, logs) = srv.stop();
    assert!(logs.contains("UnknownClient"), "unknown client not logged");
    assert!(
        logs.contains("malformed RADIUS packet"),
        "malformed not logged"
    );
    assert!(!logs.contains("panicked"), "{logs}");
}

/// The emergency credentials of PRODUCT.md §4's "manager online" column over RADIUS, with
/// `radclient`: an online emergency tokencode after the PIN is accepted (a one-time one once);
/// the offline emergency passcode and an emergency access code are rejected.
#[test]
fn emergency_credentials_over_radius_follow_the_manager_column() {
    if !have_tool("radclient") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let srv = Server::start(tmp.path(), &[]);
    let addr = radius_addr(&srv);
    user(&srv, "erik", Some("2468"));
    radius_client(&srv, "vpn", true);
    let g = srv
        .cli(&["emergency", "online", "S-erik", "--one-time", "1", "--json"])
        .json();
    let code = g["codes"][0].as_str().unwrap().to_owned();
    let typed = format!("2468{code}");
    let h = radclient(&addr, RADIUS_SECRET, &pap("erik", &typed, true), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Accept"), "{}", h.out);
    let h = radclient(&addr, RADIUS_SECRET, &pap("erik", &typed, true), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Reject"), "{}", h.out);
    let passcode = srv
        .cli(&[
            "emergency",
            "offline",
            "show",
            "erik",
            "--reason",
            "INC-1",
            "--json",
        ])
        .json()["passcode"]
        .as_str()
        .unwrap()
        .to_owned();
    let h = radclient(&addr, RADIUS_SECRET, &pap("erik", &passcode, true), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Reject"), "{}", h.out);
    let eac = srv.cli(&["eac", "generate", "erik", "--json"]).json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let h = radclient(&addr, RADIUS_SECRET, &pap("erik", &eac, true), 2);
    assert_eq!(h.code.as_deref(), Some("Access-Reject"), "{}", h.out);
    assert_eq!(
        outcomes(&srv, "erik"),
        [
            "success",
            "fail:passcode_reuse",
            "fail:offline_emergency_passcode_not_accepted_online",
            "fail:emergency_access_code_not_accepted_on_manager_channel",
        ]
    );
}

/// An on-demand tokencode over RADIUS: the on-demand PIN alone is answered with an
/// Access-Challenge (State, Reply-Message); the code that went to the phone (the outbox of a
/// fresh install) answers it.
#[test]
fn on_demand_tokencode_over_radius() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("latchkey.toml"),
        "[messaging]\nresend_cooldown_seconds = 0\n",
    )
    .unwrap();
    let srv = Server::start(tmp.path(), &[]);
    let addr = radius_addr(&srv);
    radius_client(&srv, "vpn", true);
    srv.cli(&["user", "add", "odin", "--phone", "+14155550199"])
        .ok();
    srv.cli(&["user", "on-demand", "odin", "--pin", "864209"])
        .ok();
    let s = socket("127.0.0.1:0", &addr);
    let (bytes, ra) = request(1, "odin", "864209", &[]);
    let c = exchange(&s, &bytes, &ra).expect("an answer");
    assert_eq!(c.code, Code::ACCESS_CHALLENGE);
    let state = c.first(attr::STATE).expect("State").to_vec();
    let prompt =
        String::from_utf8_lossy(c.first(attr::REPLY_MESSAGE).expect("prompt")).into_owned();
    assert!(prompt.contains("tokencode"), "{prompt}");
    let outbox = std::fs::read_to_string(tmp.path().join("outbox.jsonl")).unwrap();
    let sent: Value = serde_json::from_str(outbox.lines().last().unwrap()).unwrap();
    assert_eq!(sent["to"], "+14155550199");
    let code = sent["code"].as_str().unwrap().to_owned();
    let (bytes, ra) = request(2, "odin", &code, &[(attr::STATE, &state)]);
    assert_eq!(exchange(&s, &bytes, &ra).unwrap().code, Code::ACCESS_ACCEPT);
    assert_eq!(
        outcomes(&srv, "odin").last().map(String::as_str),
        Some("success")
    );
}
