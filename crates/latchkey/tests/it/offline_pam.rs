//! Offline workstation login end to end: the real `latchkey serve`, the real `latchkey-agent`
//! daemon enrolled with it, `pam_latchkey.so` loaded by `pamtester` through a PAM service of
//! the test's own (`/etc/pam.d/latchkey-it-…`, removed afterwards), `oathtool` passcodes at
//! the real time. The server is stopped to prove offline.
//!
//! The agent binary and the module are found next to `CARGO_BIN_EXE_latchkey`
//! (`target/debug`); `scripts/test.sh` builds them first (`cargo build -p latchkey-agent -p
//! pam-latchkey`). In CI (`LATCHKEY_REQUIRE_TOOLS=1`) a missing artefact fails the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::authn::{now, oathtool_totp as totp};
use crate::common::{BIN, PamService, Server, have_tool, require_tools, wait_for};

const PIN: &str = "2468";

/// `target/debug/latchkey-agent` and `target/debug/libpam_latchkey.so`, or `None` (skip).
fn artefacts() -> Option<(PathBuf, PathBuf)> {
    let dir = Path::new(BIN).parent().expect("target dir");
    let agent = dir.join("latchkey-agent");
    let module = dir.join("libpam_latchkey.so");
    if agent.exists() && module.exists() {
        return Some((agent, module));
    }
    assert!(
        !require_tools(),
        "{} or {} is missing: build them with `cargo build -p latchkey-agent -p pam-latchkey` (scripts/test.sh does)",
        agent.display(),
        module.display()
    );
    eprintln!("skipped: latchkey-agent / libpam_latchkey.so not built");
    None
}

/// A running `latchkey-agent run`, with its log.
struct Agent {
    bin: PathBuf,
    state: PathBuf,
    socket: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Agent {
    fn new(bin: &Path, dir: &Path) -> Agent {
        let config = dir.join("agent.toml");
        // Its own (empty) configuration: never /etc/latchkey-agent.toml.
        std::fs::write(&config, "").unwrap();
        Agent {
            bin: bin.to_owned(),
            state: dir.join("agent-state"),
            socket: dir.join("agent.sock"),
            config,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--socket")
            .arg(&self.socket)
            .args(["--online-timeout-ms", "2000"])
            .args(args)
            .env("LATCHKEY_AGENT_LOG", "info");
        c
    }

    /// Runs a CLI subcommand; (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(args).stdin(Stdio::null()).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn start(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let mut child = self
            .cmd(&["run"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let socket = self.socket.clone();
        assert!(
            wait_for(20, || socket.exists()),
            "agent did not start: {}",
            self.log()
        );
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            if !wait_for(10, || matches!(c.try_wait(), Ok(Some(_)))) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn users(&self) -> Vec<Value> {
        let (ok, out, err) = self.run(&["users", "--json"]);
        assert!(ok, "users: {err}");
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Offline policy on (limits 3 and 6), a user with a TOTP token and PIN, an offline-host
/// agent `ws1`; its API key.
fn provision(srv: &Server, login: &str) -> String {
    provision_user(srv, login);
    host_key(srv, "ws1")
}

fn provision_user(srv: &Server, login: &str) {
    srv.cli(&[
        "domain",
        "set-policy",
        "root",
        "offline",
        r#"{"enabled": true, "failures_before_online_required": 3, "failures_before_wipe": 6}"#,
    ])
    .ok();
    srv.cli(&["user", "add", login]).ok();
    let serial = format!("S-{login}");
    srv.cli(&[
        "token",
        "import",
        "--user",
        login,
        "--type",
        "totp",
        "--secret",
        crate::authn::SECRET,
        "--serial",
        &serial,
    ])
    .ok();
    srv.cli(&["token", "set-pin", &serial, PIN]).ok();
}

/// A new offline-host agent; its API key.
fn host_key(srv: &Server, name: &str) -> String {
    let a = srv
        .cli(&["agent", "add", name, "--kind", "offline-host", "--json"])
        .json();
    a["api_key"].as_str().expect("api key").to_owned()
}

/// An agent in `dir`, enrolled with `srv` under `key`, running.
fn enrolled_agent(bin: &Path, dir: &Path, srv: &Server, key: &str, hostname: &str) -> Agent {
    std::fs::create_dir_all(dir).unwrap();
    let mut agent = Agent::new(bin, dir);
    let key_file = dir.join("api.key");
    std::fs::write(&key_file, key).unwrap();
    let (ok, out, err) = agent.run(&[
        "enroll",
        "--server",
        &srv.url,
        "--api-key-file",
        key_file.to_str().unwrap(),
        "--hostname",
        hostname,
    ]);
    assert!(ok, "enroll failed: {out}{err}");
    agent.start();
    agent
}

/// Points a running agent at a restarted server (new port) and restarts it.
fn repoint(agent: &mut Agent, srv: &Server) {
    agent.stop();
    std::fs::write(&agent.config, format!("server = \"{}\"\n", srv.url)).unwrap();
    agent.start();
}

fn offline_audit(srv: &Server, login: &str) -> Vec<Value> {
    srv.cli(&["audit", "export"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .filter(|r| r["action"] == "offline.authn" && r["target"] == format!("user:{login}"))
        .collect()
}

/// One raw request line on the agent socket; the answer line and whether the agent closed.
fn raw(socket: &Path, bytes: &[u8]) -> (String, bool) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(bytes).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let mut rest = Vec::new();
    let closed = r.read_to_end(&mut rest).is_ok_and(|n| n == 0);
    (line, closed)
}

#[test]
fn pam_login_online_then_offline_with_the_server_stopped() {
    if !have_tool("oathtool") || !have_tool("pamtester") {
        return;
    }
    let Some((agent_bin, module)) = artefacts() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    std::fs::create_dir(&data).unwrap();
    let srv = Server::start(&data, &[]);
    let key = provision(&srv, "wanda");

    // Enrol the host.
    let mut agent = Agent::new(&agent_bin, tmp.path());
    let key_file = tmp.path().join("api.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let (ok, out, err) = agent.run(&[
        "enroll",
        "--server",
        &srv.url,
        "--api-key-file",
        key_file.to_str().unwrap(),
        "--hostname",
        "ws1.example.test",
    ]);
    assert!(ok, "enroll failed: {out}{err}");
    assert_eq!(
        crate::common::mode(&agent.state.join("enrollment.json")),
        0o600
    );
    assert_eq!(crate::common::mode(&agent.state.join("cache.key")), 0o600);
    agent.start();
    assert_eq!(crate::common::mode(&agent.socket), 0o600);
    let Some(pam) = PamService::install(&pam_line(&module, &agent.socket)) else {
        return;
    };

    // 1. Online login through PAM: the agent now holds offline data.
    let t = now();
    let (ok, out) = pam.login("wanda", &format!("{PIN}{}\n", totp(t)));
    assert!(ok, "online login failed: {out}\n{}", agent.log());
    assert!(out.contains("Passcode"), "no passcode prompt: {out}");
    let users = agent.users();
    assert_eq!(users.len(), 1, "{users:?}\n{}", agent.log());
    assert_eq!(users[0]["user"], "wanda");
    assert_eq!(users[0]["status"], "ok");
    assert!(users[0]["expires_at"].as_i64().unwrap() > t + 13 * 86_400);
    let (ok, out, _) = agent.run(&["status", "--json"]);
    assert!(ok);
    let st: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["users_with_offline_data"], 1);
    assert_eq!(st["hostname"], "ws1.example.test");

    // 2. Server stopped: PIN + the tokencode of a later step works offline ...
    let (_, _) = srv.stop();
    let offline_from = now();
    let later = format!("{PIN}{}\n", totp(t + 30));
    let (ok, out) = pam.login("wanda", &later);
    assert!(ok, "offline login failed: {out}\n{}", agent.log());
    assert!(agent.log().contains("offline: success"), "{}", agent.log());
    // ... once: the same tokencode again is refused offline.
    let (ok, out) = pam.login("wanda", &later);
    assert!(!ok, "a used tokencode logged in again offline: {out}");
    // Wrong passcodes are counted.
    let before = agent.users()[0]["failures"].as_u64().unwrap();
    for _ in 0..2 {
        let (ok, _) = pam.login("wanda", &format!("{PIN}000000\n"));
        assert!(!ok);
    }
    assert_eq!(agent.users()[0]["failures"].as_u64().unwrap(), before + 2);

    // 3. Garbage on the socket: an error answer, the connection closed, the daemon alive.
    let (line, closed) = raw(&agent.socket, b"GET / HTTP/1.0\r\n\r\n");
    assert!(line.contains("\"result\":\"error\""), "{line}");
    assert!(closed);
    let (line, _) = raw(&agent.socket, &[b'x'; 9000]);
    assert!(line.contains("too long"), "{line}");
    assert!(agent.is_running(), "the agent died: {}", agent.log());
    // An unknown user offline: refused (PAM_AUTH_ERR, not "user unknown").
    let (ok, out) = pam.login("nobody", &format!("{PIN}{}\n", totp(t)));
    assert!(!ok);
    assert!(out.contains("Authentication failure"), "{out}");

    // 4. A cache file altered by one byte: refused, with a clear log line.
    let cache = std::fs::read_dir(agent.state.join("users"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cache"))
        .unwrap();
    let good = std::fs::read(&cache).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    std::fs::write(&cache, &bad).unwrap();
    let (ok, _) = pam.login("wanda", &format!("{PIN}{}\n", totp(t + 60)));
    assert!(!ok, "an altered cache file was accepted");
    assert!(
        agent.log().contains("fails its integrity check"),
        "no clear log line: {}",
        agent.log()
    );
    assert_eq!(agent.users()[0]["status"], "unreadable");
    // Truncated, and an unknown schema version: refused the same way, each with its message.
    std::fs::write(&cache, &good[..good.len() - 7]).unwrap();
    assert!(!pam.login("wanda", &format!("{PIN}{}\n", totp(t + 60))).0);
    let mut v9 = good.clone();
    v9[4..6].copy_from_slice(&9u16.to_be_bytes());
    std::fs::write(&cache, &v9).unwrap();
    assert!(!pam.login("wanda", &format!("{PIN}{}\n", totp(t + 60))).0);
    assert!(
        agent.log().contains("unknown schema version 9"),
        "{}",
        agent.log()
    );
    std::fs::write(&cache, &good).unwrap();
    // Offline data signed by another server than the pinned one: refused.
    let enrollment = agent.state.join("enrollment.json");
    let pinned = std::fs::read_to_string(&enrollment).unwrap();
    let mut e: Value = serde_json::from_str(&pinned).unwrap();
    e["server_key"] = Value::from("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=");
    agent.stop();
    std::fs::write(&enrollment, e.to_string()).unwrap();
    agent.start();
    assert!(!pam.login("wanda", &format!("{PIN}{}\n", totp(t + 60))).0);
    assert!(
        agent.log().contains("signature does not verify"),
        "{}",
        agent.log()
    );
    agent.stop();
    std::fs::write(&enrollment, &pinned).unwrap();

    // 5. The server is back (on a new port: the agent's configuration says where, and the
    //    restarted agent keeps its state): the tokencode used offline still works online, and
    //    the offline events reach the audit log with their original times.
    let offline_until = now();
    let srv = Server::start(&data, &[]);
    repoint(&mut agent, &srv);
    let (ok, out) = pam.login("wanda", &later);
    assert!(
        ok,
        "the offline-used tokencode failed online: {out}\n{}",
        agent.log()
    );
    let mut events = Vec::new();
    assert!(
        wait_for(20, || {
            events = offline_audit(&srv, "wanda");
            events.len() >= 8
        }),
        "offline events not uploaded: {events:?}\n{}",
        agent.log()
    );
    let outcomes: Vec<&str> = events
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    eprintln!("offline events in the audit log: {outcomes:?}");
    assert_eq!(outcomes.first(), Some(&"success"), "{events:?}");
    // The original (host) times, not the upload time.
    for e in &events {
        let at = e["at"].as_i64().unwrap();
        assert!(
            (offline_from..=offline_until).contains(&at),
            "{at} not in {offline_from}..={offline_until}: {e}"
        );
    }
    assert!(outcomes.iter().filter(|o| o.starts_with("fail")).count() >= 3);
    let (ok, out, _) = agent.run(&["status", "--json"]);
    assert!(ok);
    let st: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["pending_events"], 0, "{out}");

    // 6. `forget` removes the user's offline data.
    let (ok, _, err) = agent.run(&["forget", "wanda"]);
    assert!(ok, "{err}");
    assert!(agent.users().is_empty());
    drop(srv);
}

#[test]
fn agent_down_is_authinfo_unavailable_and_unenrolled_agent_refuses_to_start() {
    if !have_tool("pamtester") {
        return;
    }
    let Some((agent_bin, module)) = artefacts() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let agent = Agent::new(&agent_bin, tmp.path());
    // Not enrolled: `run` says so and exits non-zero.
    let (ok, _, err) = agent.run(&["run"]);
    assert!(!ok);
    assert!(err.contains("not enrolled"), "{err}");
    // No agent at the socket: PAM_AUTHINFO_UNAVAIL.
    let Some(pam) = PamService::install(&pam_line(&module, &agent.socket)) else {
        return;
    };
    let (ok, out) = pam.login("wanda", "12345678\n");
    assert!(!ok);
    assert!(
        out.contains("Authentication service cannot retrieve authentication info"),
        "{out}"
    );
}

#[test]
fn emergency_codes_failure_limits_a_reset_and_two_hosts() {
    if !have_tool("oathtool") || !have_tool("pamtester") {
        return;
    }
    let Some((agent_bin, module)) = artefacts() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    std::fs::create_dir(&data).unwrap();
    let srv = Server::start(&data, &[]);
    provision_user(&srv, "eve");
    let show = |srv: &Server, what: &[&str]| srv.cli(what).json();
    let ep1 = show(
        &srv,
        &[
            "emergency",
            "offline",
            "show",
            "eve",
            "--reason",
            "IT-1",
            "--json",
        ],
    )["passcode"]
        .as_str()
        .unwrap()
        .to_owned();
    let et = show(
        &srv,
        &[
            "emergency",
            "tokencode",
            "show",
            "S-eve",
            "--reason",
            "IT-2",
            "--json",
        ],
    )["tokencode"]
        .as_str()
        .unwrap()
        .to_owned();
    let eac = srv
        .cli(&[
            "eac",
            "generate",
            "eve",
            "--one-time",
            "--expires-in",
            "12h",
            "--json",
        ])
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (k1, k2) = (host_key(&srv, "ws1"), host_key(&srv, "ws2"));
    let a1 = enrolled_agent(&agent_bin, &tmp.path().join("h1"), &srv, &k1, "ws1");
    let mut a2 = enrolled_agent(&agent_bin, &tmp.path().join("h2"), &srv, &k2, "ws2");
    let (Some(p1), Some(p2)) = (
        PamService::install(&pam_line(&module, &a1.socket)),
        PamService::install(&pam_line(&module, &a2.socket)),
    ) else {
        return;
    };

    // The user holds offline data on two hosts at once.
    let t = now();
    // Codes of the steps before, at and after `t`: each inside the server's ±1 step window
    // whenever it is typed (the test takes well under 30 s), and never reused.
    let (ok, out) = p2.login("eve", &format!("{PIN}{}\n", totp(t - 30)));
    assert!(ok, "{out}\n{}", a2.log());
    let (ok, out) = p1.login("eve", &format!("{PIN}{}\n", totp(t)));
    assert!(ok, "{out}\n{}", a1.log());
    assert_eq!(a1.users()[0]["status"], "ok");
    assert_eq!(a2.users()[0]["status"], "ok");

    // The help desk resets the offline emergency passcode; the server stops.
    srv.cli(&["emergency", "offline", "reset", "eve"]).ok();
    let ep2 = show(
        &srv,
        &[
            "emergency",
            "offline",
            "show",
            "eve",
            "--reason",
            "IT-3",
            "--json",
        ],
    )["passcode"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(ep1, ep2);
    srv.stop();

    // Offline, ws1 still holds the old value: the new one fails, the old one works, and so does
    // PIN + the offline emergency tokencode.
    assert!(!p1.login("eve", &format!("{ep2}\n")).0);
    // The one-time emergency access code (made before ws1 synced) works once.
    let (ok, out) = p1.login("eve", &format!("{eac}\n"));
    assert!(ok, "emergency access code refused: {out}\n{}", a1.log());
    assert!(
        !p1.login("eve", &format!("{eac}\n")).0,
        "a one-time code worked twice"
    );
    let (ok, out) = p1.login("eve", &format!("{ep1}\n"));
    assert!(
        ok,
        "offline emergency passcode refused: {out}\n{}",
        a1.log()
    );
    let (ok, out) = p1.login("eve", &format!("{PIN}{et}\n"));
    assert!(
        ok,
        "offline emergency tokencode refused: {out}\n{}",
        a1.log()
    );

    // Three wrong passcodes: a right tokencode is no longer enough, an emergency code is.
    for _ in 0..3 {
        assert!(!p1.login("eve", &format!("{PIN}000000\n")).0);
    }
    assert_eq!(a1.users()[0]["failures"], 3);
    assert!(!p1.login("eve", &format!("{PIN}{}\n", totp(t + 60))).0);
    assert!(p1.login("eve", &format!("{ep1}\n")).0);
    assert_eq!(a1.users()[0]["failures"], 0);
    // Six wrong passcodes: the cache is gone, and with it every offline login.
    for _ in 0..6 {
        assert!(!p1.login("eve", &format!("{PIN}999999\n")).0);
    }
    assert!(a1.users().is_empty(), "{:?}", a1.users());
    assert!(!p1.login("eve", &format!("{ep1}\n")).0);
    assert!(
        a1.log().contains("offline data was deleted"),
        "{}",
        a1.log()
    );
    // ws2 is not affected.
    assert_eq!(a2.users()[0]["failures"], 0);

    // ws2's next online login brings the new emergency passcode; offline again, only the new
    // one works there.
    let srv = Server::start(&data, &[]);
    repoint(&mut a2, &srv);
    let (ok, out) = p2.login("eve", &format!("{PIN}{}\n", totp(t + 30)));
    assert!(ok, "{out}\n{}", a2.log());
    srv.stop();
    assert!(!p2.login("eve", &format!("{ep1}\n")).0);
    let (ok, out) = p2.login("eve", &format!("{ep2}\n"));
    assert!(
        ok,
        "the new emergency passcode was not delivered: {out}\n{}",
        a2.log()
    );
}

/// The `auth` line of a PAM service using `pam_latchkey.so` by absolute path.
fn pam_line(module: &Path, socket: &Path) -> String {
    format!(
        "{} socket={} timeout=20",
        module.display(),
        socket.display()
    )
}
