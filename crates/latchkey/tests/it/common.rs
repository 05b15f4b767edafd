//! Starting servers and running CLI verbs.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// Whether missing external tools must fail the test (CI) instead of skipping it.
pub fn require_tools() -> bool {
    std::env::var("LATCHKEY_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Skips (returns false) or fails, when `tool` is not installed.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !require_tools(),
            "{tool} is required (LATCHKEY_REQUIRE_TOOLS=1) but not installed; run scripts/install-test-deps.sh"
        );
        eprintln!("skipped: {tool} not installed");
    }
    found
}

/// A fresh PostgreSQL database URL on the test cluster, or `None` (skip) outside CI.
pub fn postgres_database() -> Option<String> {
    let Ok(base) = std::env::var("LATCHKEY_TEST_POSTGRES_URL") else {
        assert!(
            !require_tools(),
            "LATCHKEY_TEST_POSTGRES_URL must be set (scripts/test.sh starts a throwaway cluster)"
        );
        eprintln!("skipped: LATCHKEY_TEST_POSTGRES_URL not set");
        return None;
    };
    let name = format!("lk_it_{}", hex::encode(rand::random::<[u8; 6]>()));
    let out = Command::new("psql")
        .args([
            base.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database part");
    Some(format!("{prefix}/{name}"))
}

/// Polls `f` every 50 ms for up to `secs` seconds. Waiting on a real process is the one
/// place a test may sleep: there is no clock to move.
#[allow(clippy::disallowed_methods)]
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A running `latchkey serve`.
pub struct Server {
    pub dir: PathBuf,
    pub url: String,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn pump(r: impl std::io::Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            let mut s = into.lock().expect("lock");
            s.push_str(&line);
            s.push('\n');
        }
    });
}

impl Server {
    /// Starts a server on `dir` with extra `serve` arguments.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let _ = std::fs::remove_file(dir.join("server.json"));
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir")
            .arg(dir)
            .arg("serve")
            .args(["--http-listen", "127.0.0.1:0"])
            // Every test server gets its own free RADIUS port (`server.json` names it).
            .args(["--radius-listen", "127.0.0.1:0"])
            .args(extra);
        cmd.env_remove("LATCHKEY_MASTER_KEY")
            .env("LATCHKEY_LOG_LEVEL", "debug");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn latchkey");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        pump(child.stdout.take().expect("stdout"), Arc::clone(&stdout));
        pump(child.stderr.take().expect("stderr"), Arc::clone(&stderr));
        let file = dir.join("server.json");
        let mut exited = None;
        let up = wait_for(60, || {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some(status);
                return true;
            }
            file.exists() && stdout.lock().expect("lock").contains("Latchkey")
        });
        assert!(
            up && exited.is_none(),
            "server did not start ({exited:?}):\n{}\n{}",
            stdout.lock().unwrap(),
            stderr.lock().unwrap()
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("server.json"))
                .expect("json");
        let url = v["url"].as_str().expect("url").to_owned();
        Server {
            dir: dir.to_owned(),
            url,
            child,
            stdout,
            stderr,
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("lock").clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let exited = wait_for(20, || matches!(self.child.try_wait(), Ok(Some(_))));
        if !exited {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        wait_for(2, || false);
        (self.stdout(), self.stderr())
    }

    /// Runs a CLI verb against this server.
    pub fn cli(&self, args: &[&str]) -> Run {
        cli(&self.dir, args)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Result of a CLI run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "CLI failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        self.ok();
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `latchkey --data-dir DIR ARGS…`.
pub fn cli(dir: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run latchkey");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// File mode bits.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// A PAM service of a test's own (`/etc/pam.d/latchkey-it-…`), removed when dropped.
pub struct PamService {
    name: String,
}

impl PamService {
    /// Writes the service with `auth` as its `auth required` module and arguments; `None`
    /// (skip) when `/etc/pam.d` is not writable outside CI.
    pub fn install(auth: &str) -> Option<PamService> {
        let name = format!("latchkey-it-{}", hex::encode(rand::random::<[u8; 4]>()));
        let text = format!(
            "# latchkey integration test (removed at the end of the test)\n\
             auth     required  {auth}\n\
             account  required  pam_permit.so\n"
        );
        match std::fs::write(format!("/etc/pam.d/{name}"), text) {
            Ok(()) => Some(PamService { name }),
            Err(e) => {
                assert!(
                    !require_tools(),
                    "cannot write /etc/pam.d ({e}); the PAM test needs root"
                );
                eprintln!("skipped: cannot write /etc/pam.d ({e})");
                None
            }
        }
    }

    /// `pamtester SERVICE USER authenticate` with `input` as the user's typing.
    pub fn login(&self, user: &str, input: &str) -> (bool, String) {
        use std::io::Write;
        let mut child = Command::new("pamtester")
            .args([self.name.as_str(), user, "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pamtester");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

impl Drop for PamService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/etc/pam.d/{}", self.name));
    }
}

/// `POST` of `body` as JSON to `srv`'s `path` with the agent key `key`; asserts 200 and
/// returns the answer.
pub async fn post_ok(
    srv: &Server,
    key: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", srv.url))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

/// A call of the cloud API (`/api/v1/cloud/{path}`) that must answer 200.
pub async fn cloud(
    srv: &Server,
    key: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    post_ok(srv, key, &format!("/api/v1/cloud/{path}"), body).await
}
