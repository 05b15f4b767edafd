//! `latchkey-bench`: the load harness. It starts `latchkey serve` (on SQLite, or several nodes
//! on one PostgreSQL database), provisions users with HOTP tokens and a REST agent through the
//! admin API, then measures, from this process, the throughput and latency of successful and
//! failing authentications next to an empty endpoint of the same HTTP stack, so the ratio
//! means something on a noisy machine; and the same for RADIUS (Access-Requests next to
//! Status-Server) against the same server in the same run. See `docs/benchmarks.md`.
//!
//! It only talks to servers it started, on loopback, and every loop is bounded in time.

mod cluster;
mod cpucap;
mod disk;
mod load;
mod provision;
mod radius;
mod report;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use latchkey_proto::authn::{AuthnResponse, AuthnResult, InitializeRequest};

use crate::cluster::{Cluster, StartOptions};
use crate::load::{Kind, Plan, Target};
use crate::provision::{Admin, BenchUser};
use crate::stats::{PhaseResult, ServerUse};

/// Load harness for Latchkey: authentication throughput and latency against an empty endpoint.
#[derive(Debug, Parser)]
#[command(name = "latchkey-bench", version, about)]
#[allow(clippy::struct_excessive_bools)] // independent command-line switches
struct Args {
    /// The latchkey binary to start (build it with `cargo build --release -p latchkey`).
    #[arg(long, default_value = "target/release/latchkey")]
    latchkey: PathBuf,
    /// Users to provision, each with its own HOTP token.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Give every token a PIN, so passcodes are PIN + code.
    #[arg(long)]
    pin: bool,
    /// Seconds per load phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of unreported warm-up (empty endpoint, then successes) before the phases.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Client tasks (requests in flight at most).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Admin requests in flight while provisioning.
    #[arg(long, default_value_t = 16)]
    provision_concurrency: usize,
    /// Also run successful authentications paced at half the measured throughput (open loop)
    /// and report their p50/p99.
    #[arg(long)]
    latency_at_half: bool,
    /// PostgreSQL server URL (e.g. from `scripts/pg-throwaway.sh start DIR`); the harness
    /// creates a fresh database on it for the run and drops it at the end.
    #[arg(long)]
    postgres: Option<String>,
    /// Number of server nodes (more than one needs --postgres).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Fresh codes the replay check fires at once at all nodes (0 skips the check).
    #[arg(long, default_value_t = 16)]
    replay_codes: usize,
    /// Simultaneous requests per code in the replay check.
    #[arg(long, default_value_t = 64)]
    replay_fanout: usize,
    /// Log level for the servers (`LATCHKEY_LOG_LEVEL`); default: the server's own default.
    #[arg(long)]
    server_log_level: Option<String>,
    /// Skip the RADIUS phases (for a server built without RADIUS).
    #[arg(long)]
    no_radius: bool,
    /// Run node N on CPU N-1 only (`taskset`), so that each node is a one-core machine and the
    /// scale-out ratio measures added capacity (see docs/benchmarks.md).
    #[arg(long)]
    pin_nodes: bool,
    /// Cap every node at this many CPUs (e.g. 0.25) through a cgroup (root only), so that a
    /// node is the bottleneck and the scale-out ratio measures added capacity.
    #[arg(long)]
    node_cpu_quota: Option<f64>,
}

impl Args {
    fn check(&self) -> Result<()> {
        if self.nodes == 0 || self.nodes > 8 {
            bail!("--nodes must be 1 to 8");
        }
        if self.nodes > 1 && self.postgres.is_none() {
            bail!(
                "--nodes {} needs --postgres URL: nodes share one database",
                self.nodes
            );
        }
        if !(1..=1024).contains(&self.concurrency) {
            bail!("--concurrency must be 1 to 1024");
        }
        if self.users < self.concurrency {
            bail!(
                "--users ({}) must be at least --concurrency ({}): each client task owns its users",
                self.users,
                self.concurrency
            );
        }
        if self.users > 1_000_000 {
            bail!("--users must be at most 1,000,000");
        }
        if !(1..=600).contains(&self.seconds) || self.warmup > 60 {
            bail!("--seconds must be 1 to 600 and --warmup at most 60");
        }
        if self.replay_fanout == 0 || self.replay_fanout > 256 || self.replay_codes > 1000 {
            bail!("--replay-fanout must be 1 to 256 and --replay-codes at most 1000");
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("latchkey-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut cluster = Cluster::default();
        let result = tokio::select! {
            r = run(&args, &mut cluster) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        };
        cluster.shutdown().await;
        match result {
            Ok(0) => ExitCode::SUCCESS,
            Ok(findings) => {
                eprintln!(
                    "latchkey-bench: {findings} correctness finding(s): unexpected answers or \
                     double-accepted codes (see above)"
                );
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("latchkey-bench: {e:#}");
                ExitCode::from(2)
            }
        }
    })
}

/// Everything the phases share.
struct Bench<'a> {
    args: &'a Args,
    cluster: &'a mut Cluster,
    target: Arc<Target>,
    parts: Vec<Vec<BenchUser>>,
    results: Vec<PhaseResult>,
    /// p50 and p99 of a 4 KiB `fdatasync` in node 1's data directory, when measured.
    disk: Option<(Duration, Duration)>,
}

impl Bench<'_> {
    async fn phase(&mut self, name: &str, plan: Plan, report: bool) -> Result<()> {
        let before = self.cluster.usage();
        let parts = std::mem::take(&mut self.parts);
        let out = load::run(&self.target, &plan, parts).await;
        let after = self.cluster.usage();
        self.parts = out.parts;
        let r = PhaseResult {
            name: name.to_owned(),
            elapsed: out.elapsed,
            tally: out.tally,
            target_rate: plan.rate,
            server: ServerUse {
                cpu_secs: after.cpu_secs - before.cpu_secs,
                peak_rss_kib: after.peak_rss_kib,
                bench_cpu_secs: after.bench_cpu_secs - before.bench_cpu_secs,
                machine_busy_secs: after.machine_busy_secs - before.machine_busy_secs,
                machine_total_secs: after.machine_total_secs - before.machine_total_secs,
            },
        };
        if report {
            report::phase_line(&r);
            if plan.kind == Kind::Fail && r.elapsed + Duration::from_millis(500) < plan.duration {
                println!(
                    "    stopped early: every user reached {} wrong passcodes (more --users \
                     for a longer failing phase)",
                    provision::FAILURE_CAP
                );
            }
            self.results.push(r);
        } else if r.tally.errors > 0 || r.tally.unexpected > 0 {
            println!(
                "warm-up ({name}): {} errors, {} unexpected answers; first: {}",
                r.tally.errors,
                r.tally.unexpected,
                r.tally
                    .first_error
                    .as_deref()
                    .or(r.tally.first_unexpected.as_deref())
                    .unwrap_or("")
            );
        }
        Ok(())
    }
}

fn plan(kind: Kind, secs: u64, nodes: Vec<usize>, rate: Option<f64>) -> Plan {
    Plan {
        kind,
        duration: Duration::from_secs(secs),
        nodes,
        rate,
    }
}

/// Name of the successful authentications paced at half their measured throughput.
const HALF: &str = "success at half load";
/// Name of the empty endpoint paced at the same rate (the half-load phase's control).
const HALF_EMPTY: &str = "empty at that rate";

/// Name of the RADIUS Status-Server phase.
const RADIUS_EMPTY: &str = "radius Status-Server";
/// Name of the RADIUS Access-Request phase.
const RADIUS_SUCCESS: &str = "radius Access-Accept";

/// Runs the benchmark; returns the number of correctness findings.
async fn run(args: &Args, cluster: &mut Cluster) -> Result<u64> {
    args.check()?;
    let backend = if args.postgres.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let (target, users) = setup(args, cluster, backend).await?;
    let disk = cluster
        .nodes
        .first()
        .and_then(|n| match disk::fsync_latency(&n.data_dir, 200) {
            Ok(d) => {
                println!(
                    "disk: 4 KiB append + fdatasync in {}: p50 {:.2} ms, p99 {:.2} ms (a durable \
                     commit waits for at least one)",
                    n.data_dir.display(),
                    d.0.as_secs_f64() * 1000.0,
                    d.1.as_secs_f64() * 1000.0
                );
                Some(d)
            }
            Err(e) => {
                println!("disk: the fsync probe failed ({e}); not reported");
                None
            }
        });
    let mut b = Bench {
        args,
        cluster,
        target,
        parts: load::partition(users, args.concurrency),
        results: Vec::new(),
        disk,
    };
    first_success(&mut b).await?;
    measure(&mut b, backend).await
}

/// Starts the servers and provisions the policies, the agent and the users.
async fn setup(
    args: &Args,
    cluster: &mut Cluster,
    backend: &str,
) -> Result<(Arc<Target>, Vec<BenchUser>)> {
    let binary = cluster::find_binary(&args.latchkey)?;
    println!(
        "latchkey-bench: {} node(s) of {} on {backend}{}; {} users{}; {} s per phase; \
         concurrency {}",
        args.nodes,
        binary.display(),
        match (args.pin_nodes, args.node_cpu_quota) {
            (true, Some(q)) => format!(", node N pinned to CPU N-1 and capped at {q} CPU"),
            (true, None) => ", node N pinned to CPU N-1".to_owned(),
            (false, Some(q)) => format!(", every node capped at {q} CPU"),
            (false, None) => String::new(),
        },
        args.users,
        if args.pin { " with PINs" } else { "" },
        args.seconds,
        args.concurrency
    );
    let started = Instant::now();
    cluster
        .start(&StartOptions {
            binary: &binary,
            postgres: args.postgres.as_deref(),
            nodes: args.nodes,
            log_level: args.server_log_level.as_deref(),
            pin_nodes: args.pin_nodes,
            cpu_quota: args.node_cpu_quota,
        })
        .await?;
    for (i, n) in cluster.nodes.iter().enumerate() {
        println!("node {}: {} (pid {})", i + 1, n.url, n.pid);
    }
    println!("servers ready in {:.2} s", started.elapsed().as_secs_f64());

    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency.max(args.replay_fanout) + 16)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url.clone()).collect();
    let first = urls.first().cloned().unwrap_or_default();
    let admin = Admin::new(client.clone(), &first, &cluster.admin_token()?);
    provision::lenient_policies(&admin)
        .await
        .context("setting the lockout and token policies")?;
    let api_key = provision::agent(&admin)
        .await
        .context("creating the agent")?;
    let radius: Vec<std::net::SocketAddr> = if args.no_radius {
        Vec::new()
    } else {
        cluster
            .nodes
            .iter()
            .map(|n| n.radius)
            .collect::<Option<Vec<_>>>()
            .context(
                "a server did not name a RADIUS address in server.json: rebuild it, or pass \
                 --no-radius",
            )?
    };
    let radius_secret = hex::encode(rand::random::<[u8; 16]>());
    if !radius.is_empty() {
        provision::radius_agent(&admin, &radius_secret)
            .await
            .context("creating the RADIUS client")?;
    }
    let target = Arc::new(Target {
        client,
        nodes: urls,
        api_key,
        radius,
        radius_secret,
    });
    probe(&target).await?;

    let (users, took) =
        provision::users(&admin, args.users, args.pin, args.provision_concurrency).await?;
    println!(
        "provisioned {} users with HOTP tokens{} in {:.2} s ({:.0} users/s, {} admin requests \
         in flight)",
        users.len(),
        if args.pin { " and PINs" } else { "" },
        took.as_secs_f64(),
        stats::per_sec(users.len() as u64, took),
        args.provision_concurrency
    );
    Ok((target, users))
}

/// The phases, the replay check and the summary; returns the number of correctness findings.
async fn measure(b: &mut Bench<'_>, backend: &str) -> Result<u64> {
    let args = b.args;
    let all: Vec<usize> = (0..args.nodes).collect();
    if args.warmup > 0 {
        let p = plan(Kind::Health, args.warmup, all.clone(), None);
        b.phase("warm-up empty", p, false).await?;
        let p = plan(Kind::Success, args.warmup, all.clone(), None);
        b.phase("warm-up success", p, false).await?;
    }
    let secs = args.seconds;
    let p = plan(Kind::Health, secs, all.clone(), None);
    b.phase("empty (/healthz)", p, true).await?;
    let one_node = if args.nodes > 1 {
        let p = plan(Kind::Success, secs, vec![0], None);
        b.phase("success (node 1 only)", p, true).await?;
        Some("success (node 1 only)")
    } else {
        None
    };
    let success = if args.nodes > 1 {
        "success (all nodes)"
    } else {
        "success"
    };
    let p = plan(Kind::Success, secs, all.clone(), None);
    b.phase(success, p, true).await?;
    let radius = if b.target.radius.is_empty() {
        None
    } else {
        let p = plan(Kind::RadiusStatus, secs, all.clone(), None);
        b.phase(RADIUS_EMPTY, p, true).await?;
        let p = plan(Kind::RadiusSuccess, secs, all.clone(), None);
        b.phase(RADIUS_SUCCESS, p, true).await?;
        Some((RADIUS_EMPTY, RADIUS_SUCCESS))
    };
    // Before the failing phase, so no user carries failures into it.
    let half = if b.args.latency_at_half {
        let rate = b
            .results
            .iter()
            .find(|r| r.name == success)
            .map_or(0.0, PhaseResult::ok_rate)
            / 2.0;
        if rate >= 1.0 {
            let p = plan(Kind::Success, secs, all.clone(), Some(rate));
            b.phase(HALF, p, true).await?;
            // The control: the same pacing with nothing behind it, so that the part of the
            // tail that the harness and the shared machine add can be told from the server's.
            let p = plan(Kind::Health, secs, all.clone(), Some(rate));
            b.phase(HALF_EMPTY, p, true).await?;
            Some((HALF, HALF_EMPTY))
        } else {
            println!("no successful throughput measured: skipping the half-load phase");
            None
        }
    } else {
        None
    };
    let p = plan(Kind::Fail, secs, all.clone(), None);
    b.phase("fail (wrong code)", p, true).await?;

    let replay = if args.replay_codes > 0 {
        let mut users: Vec<BenchUser> = b.parts.iter().flatten().cloned().collect();
        Some(
            load::replay_check(&b.target, &mut users, args.replay_codes, args.replay_fanout)
                .await?,
        )
    } else {
        None
    };
    report::summary(
        &b.results,
        &report::Context {
            backend,
            nodes: args.nodes,
            empty: "empty (/healthz)",
            success,
            success_one: one_node,
            half,
            replay: replay.as_ref(),
            radius,
            disk_fsync: b.disk,
        },
    );
    let unexpected: u64 = b
        .results
        .iter()
        .filter(|r| r.name.starts_with("success") || r.name == RADIUS_SUCCESS)
        .map(|r| r.tally.unexpected)
        .sum();
    let double = replay.as_ref().map_or(0, |r| r.double as u64);
    Ok(unexpected + double)
}

/// One request with an unknown user: tells a server without the authentication API, or an
/// agent key it refuses, before any time is spent provisioning.
async fn probe(t: &Target) -> Result<()> {
    let base = t.nodes.first().map_or("", String::as_str);
    let resp = t
        .client
        .post(format!("{base}/api/v1/authn/initialize"))
        .bearer_auth(&t.api_key)
        .json(&InitializeRequest {
            user: "bench-probe-nobody".to_owned(),
            passcode: "000000".to_owned(),
            client_address: None,
        })
        .send()
        .await
        .context("POST /api/v1/authn/initialize")?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::METHOD_NOT_ALLOWED
    {
        bail!(
            "this latchkey build does not serve POST /api/v1/authn/initialize ({status}): \
             rebuild it (cargo build --release -p latchkey) from a tree with the \
             authentication API"
        );
    }
    if !status.is_success() {
        bail!("POST /api/v1/authn/initialize for an unknown user answered {status}: {text}");
    }
    let r: AuthnResponse = serde_json::from_str(&text)
        .with_context(|| format!("unreadable answer to the probe: {text}"))?;
    if r.result != AuthnResult::Fail {
        bail!("an unknown user was answered {:?}, not FAIL", r.result);
    }
    Ok(())
}

/// One successful authentication before any load, so a set-up problem (a PIN the server
/// wants changed, a token it does not accept) stops the run with its answer.
async fn first_success(b: &mut Bench<'_>) -> Result<()> {
    let Some(u) = b.parts.first_mut().and_then(|p| p.first_mut()) else {
        bail!("no users");
    };
    let base = b.target.nodes.first().map_or("", String::as_str);
    let passcode = u.next_passcode()?;
    let resp = b
        .target
        .client
        .post(format!("{base}/api/v1/authn/initialize"))
        .bearer_auth(&b.target.api_key)
        .json(&InitializeRequest {
            user: u.login.clone(),
            passcode,
            client_address: None,
        })
        .send()
        .await?;
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<AuthnResponse>(&text) {
        Ok(r) if r.result == AuthnResult::Success => Ok(()),
        _ => bail!(
            "the first authentication of {} with a valid passcode was not SUCCESS: {text}",
            u.login
        ),
    }
}
