//! Starting and stopping the `latchkey serve` processes under test, their temporary data
//! directories and, with PostgreSQL, a database of their own.
//!
//! Everything started here is recorded in [`Cluster`] as soon as it exists, so
//! [`Cluster::shutdown`] can undo it after an error half-way through a start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::cpucap::CpuCap;
use crate::stats::ServerUse;

/// One running server.
pub struct Node {
    child: Child,
    /// Process id (for `/proc` and the signal).
    pub pid: u32,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// RADIUS address (UDP), when the server has one.
    pub radius: Option<SocketAddr>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where its standard error goes.
    pub log: PathBuf,
    /// Its CPU quota (`--node-cpu-quota`); dropped after `child`, once the node has exited.
    _cap: Option<CpuCap>,
}

/// A database created for this run on the PostgreSQL server given with `--postgres`.
struct PgDatabase {
    /// URL of the database the harness connected to in order to create this one.
    admin_url: String,
    /// Name of the created database.
    name: String,
}

/// The servers under test and what they need.
#[derive(Default)]
pub struct Cluster {
    dir: Option<TempDir>,
    /// Running nodes, in start order.
    pub nodes: Vec<Node>,
    pg: Option<PgDatabase>,
    clk_tck: Option<f64>,
}

/// How to start the servers.
pub struct StartOptions<'a> {
    /// The `latchkey` binary.
    pub binary: &'a Path,
    /// `--postgres`: URL of a PostgreSQL server (any database the user may connect to).
    pub postgres: Option<&'a str>,
    /// Number of nodes.
    pub nodes: usize,
    /// `LATCHKEY_LOG_LEVEL` for the servers, when given.
    pub log_level: Option<&'a str>,
    /// Run node *i* on CPU *i* only (modulo the CPUs there are), through `taskset`: each node
    /// a machine of one core, so that a second node adds capacity as a second machine would.
    pub pin_nodes: bool,
    /// Cap every node at this many CPUs (`cpucap.rs`).
    pub cpu_quota: Option<f64>,
}

/// The `latchkey` binary to run: `path` if it exists, else, for the default relative path, the
/// same path under this workspace (so `cargo run` works from any directory).
pub fn find_binary(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.canonicalize().unwrap_or_else(|_| path.to_owned()));
    }
    if path.is_relative() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let p = workspace.join(path);
        if p.is_file() {
            return Ok(p.canonicalize().unwrap_or(p));
        }
    }
    bail!(
        "the latchkey binary {} does not exist: build it first with\n    \
         cargo build --release -p latchkey\nor name another one with --latchkey PATH",
        path.display()
    )
}

impl Cluster {
    /// Starts the nodes: the first one creates the database, the master key and the admin
    /// token; the others get a copy of the master key before they start.
    pub async fn start(&mut self, o: &StartOptions<'_>) -> Result<()> {
        let dir = tempfile::Builder::new()
            .prefix("latchkey-bench-")
            .tempdir()
            .context("creating a temporary directory")?;
        let root = dir.path().to_owned();
        self.dir = Some(dir);
        let database_url = match o.postgres {
            Some(url) => Some(self.create_pg_database(url).await?),
            None => None,
        };
        for i in 1..=o.nodes {
            let data_dir = root.join(format!("node{i}"));
            if let Some(first) = self.nodes.first() {
                create_private_dir(&data_dir)?;
                let from = first.data_dir.join("master.key");
                std::fs::copy(&from, data_dir.join("master.key"))
                    .with_context(|| format!("copying {}", from.display()))?;
            }
            let log = root.join(format!("node{i}.log"));
            let node = spawn(o, i, &data_dir, &log, database_url.as_deref())?;
            self.nodes.push(node);
            if let Some(node) = self.nodes.last_mut() {
                wait_ready(node).await?;
            }
        }
        Ok(())
    }

    /// The first administrator's API token, written by node 1 on its first start.
    pub fn admin_token(&self) -> Result<String> {
        let node = self.nodes.first().context("no server is running")?;
        let path = node.data_dir.join("admin.token");
        let token = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the admin token {}", path.display()))?;
        Ok(token.trim().to_owned())
    }

    /// CPU seconds and peak resident set of the nodes so far, and the harness's own CPU.
    pub fn usage(&mut self) -> ServerUse {
        let tck = *self.clk_tck.get_or_insert_with(clock_ticks);
        let mut u = ServerUse::default();
        for n in &self.nodes {
            let dir = format!("/proc/{}", n.pid);
            u.cpu_secs += cpu_secs(&format!("{dir}/stat"), tck).unwrap_or(0.0);
            u.peak_rss_kib = u.peak_rss_kib.max(peak_rss_kib(&format!("{dir}/status")));
        }
        u.bench_cpu_secs = cpu_secs("/proc/self/stat", tck).unwrap_or(0.0);
        if let Some((busy, total)) = machine_cpu(tck) {
            u.machine_busy_secs = busy;
            u.machine_total_secs = total;
        }
        u
    }

    /// Stops every node (SIGTERM, then SIGKILL after 10 s), drops the PostgreSQL database and
    /// removes the temporary directory. Never fails: problems are printed.
    pub async fn shutdown(&mut self) {
        for node in &mut self.nodes {
            stop(node).await;
        }
        self.nodes.clear();
        if let Some(pg) = self.pg.take()
            && let Err(e) = drop_pg_database(&pg).await
        {
            eprintln!(
                "latchkey-bench: could not drop the database {}: {e:#}",
                pg.name
            );
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_owned();
            if let Err(e) = dir.close() {
                eprintln!("latchkey-bench: could not remove {}: {e}", path.display());
            }
        }
    }

    async fn create_pg_database(&mut self, admin_url: &str) -> Result<String> {
        use sqlx::Connection;
        let name = format!(
            "latchkey_bench_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut url = url::Url::parse(admin_url)
            .with_context(|| format!("--postgres {admin_url:?} is not a URL"))?;
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .context("connecting to the PostgreSQL server given with --postgres")?;
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating the database {name} (needs CREATEDB)"))?;
        let _ = conn.close().await;
        self.pg = Some(PgDatabase {
            admin_url: admin_url.to_owned(),
            name: name.clone(),
        });
        url.set_path(&format!("/{name}"));
        Ok(url.to_string())
    }
}

async fn drop_pg_database(pg: &PgDatabase) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg.admin_url).await?;
    sqlx::raw_sql(&format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        pg.name
    ))
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Starts node number `n` (from 1).
fn spawn(
    o: &StartOptions<'_>,
    n: usize,
    data_dir: &Path,
    log: &Path,
    db: Option<&str>,
) -> Result<Node> {
    let stderr =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let stdout = stderr.try_clone()?;
    let mut cmd = match o.pin_nodes.then(|| pinned_cpu(n)) {
        Some(cpu) => {
            // taskset execs the server, so the pid is the server's.
            let mut c = Command::new("taskset");
            c.arg("--cpu-list").arg(cpu.to_string()).arg(o.binary);
            c
        }
        None => Command::new(o.binary),
    };
    cmd.arg("--data-dir")
        .arg(data_dir)
        .arg("serve")
        .arg("--http-listen")
        .arg("127.0.0.1:0")
        .arg("--radius-listen")
        .arg("127.0.0.1:0");
    if let Some(db) = db {
        cmd.arg("--database-url").arg(db);
    }
    // The run is defined by the command line above, not by whatever the caller's shell holds.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LATCHKEY_") {
            cmd.env_remove(k);
        }
    }
    if let Some(level) = o.log_level {
        cmd.env("LATCHKEY_LOG_LEVEL", level);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", o.binary.display()))?;
    let pid = child.id().context("the server exited at once")?;
    let cap = o
        .cpu_quota
        .map(|fraction| CpuCap::apply(pid, n, fraction))
        .transpose()?;
    Ok(Node {
        child,
        pid,
        url: String::new(),
        radius: None,
        data_dir: data_dir.to_owned(),
        log: log.to_owned(),
        _cap: cap,
    })
}

/// The CPU of node `n` (from 1): `n - 1` modulo the CPUs there are.
fn pinned_cpu(n: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    n.saturating_sub(1) % cpus
}

/// Waits for `server.json` and a 200 from `/healthz`, at most 60 s.
async fn wait_ready(node: &mut Node) -> Result<()> {
    let deadline = Instant::now() + Duration::from_mins(1);
    let file = node.data_dir.join("server.json");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    loop {
        if let Some(status) = node.child.try_wait()? {
            bail!(
                "the server exited during start-up ({status}); its output:\n{}",
                tail(&node.log)
            );
        }
        if node.url.is_empty()
            && let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(url) = v.get("url").and_then(|u| u.as_str())
        {
            url.trim_end_matches('/').clone_into(&mut node.url);
            node.radius = v
                .get("radius")
                .and_then(|r| r.as_str())
                .and_then(|r| r.parse().ok());
        }
        if !node.url.is_empty()
            && let Ok(r) = client.get(format!("{}/healthz", node.url)).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the server did not answer within 60 s; its output:\n{}",
                tail(&node.log)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last lines of a log file.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    lines.get(from..).unwrap_or_default().join("\n")
}

async fn stop(node: &mut Node) {
    if matches!(node.child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SIGTERM through kill(1): the crate forbids unsafe code, so no libc::kill.
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(node.pid.to_string())
        .status();
    match tokio::time::timeout(Duration::from_secs(15), node.child.wait()).await {
        Ok(_) => {}
        Err(_) => {
            eprintln!(
                "latchkey-bench: server {} ignored SIGTERM for 15 s; killing it",
                node.pid
            );
            let _ = node.child.kill().await;
        }
    }
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a `/proc/PID/stat` file, in seconds.
#[allow(clippy::cast_precision_loss)] // clock ticks far below 2^52
fn cpu_secs(path: &str, clk_tck: f64) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces; the fields after it start with the state.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck)
}

/// Busy and total CPU seconds of the whole machine since boot, from `/proc/stat`.
#[allow(clippy::cast_precision_loss)] // clock ticks far below 2^52
fn machine_cpu(clk_tck: f64) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some(((total - idle) as f64 / clk_tck, total as f64 / clk_tck))
}

/// `VmHWM` of a `/proc/PID/status` file, KiB; 0 if unreadable.
fn peak_rss_kib(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_proc_figures() {
        assert!(cpu_secs("/proc/self/stat", 100.0).is_some());
        assert!(peak_rss_kib("/proc/self/status") > 0);
        assert!(cpu_secs("/proc/self/nonexistent", 100.0).is_none());
        let (busy, total) = machine_cpu(100.0).unwrap();
        assert!(busy > 0.0 && total >= busy);
    }
}
