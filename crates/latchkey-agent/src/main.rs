//! The `latchkey-agent` binary: `run` (the daemon), `enroll`, `status`, `sync`, `users`,
//! `forget`. Reads the clock (the one place allowed to) and wires the library together.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use latchkey_agent::cache::{Cache, CacheKey};
use latchkey_agent::config::{Config, Overrides};
use latchkey_agent::engine::{Clock, Engine, HostIdentity};
use latchkey_agent::enrollment::{self, Enrollment, SecretText};
use latchkey_agent::events::EventQueue;
use latchkey_agent::upstream::HttpUpstream;
use latchkey_agent::{daemon, files};
use serde_json::json;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "latchkey-agent",
    version,
    about = "Latchkey offline workstation agent"
)]
struct Cli {
    /// Configuration file (TOML); default /etc/latchkey-agent.toml when it exists.
    #[arg(long, env = "LATCHKEY_AGENT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// State directory (enrolment, cache key, encrypted cache, event queue).
    #[arg(long, env = "LATCHKEY_AGENT_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,
    /// Socket the PAM module connects to.
    #[arg(long, env = "LATCHKEY_AGENT_SOCKET", global = true)]
    socket: Option<PathBuf>,
    /// Timeout of each server request, in milliseconds (default 3000).
    #[arg(long, env = "LATCHKEY_AGENT_ONLINE_TIMEOUT_MS", global = true)]
    online_timeout_ms: Option<u64>,
    /// Extra CA certificate (PEM) to trust for the server.
    #[arg(long, env = "LATCHKEY_AGENT_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// When to ask for fresh offline data: `every_login` (default) or `when_due`.
    #[arg(long, env = "LATCHKEY_AGENT_REFRESH", global = true)]
    refresh: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (foreground; logs to stderr).
    Run,
    /// Enrol this host with a server, using an API key of an `offline_host` agent.
    Enroll {
        /// Server URL, e.g. `https://mfa.example.com`.
        #[arg(long, env = "LATCHKEY_AGENT_SERVER")]
        server: String,
        /// File holding the API key printed by `latchkey agent add … --kind offline_host`.
        #[arg(long)]
        api_key_file: PathBuf,
        /// Host name to register (default: this machine's).
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Show the enrolment and the local state.
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Upload queued offline events now.
    Sync,
    /// List the users with offline data on this host.
    Users {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user's offline data from this host.
    Forget {
        /// Login.
        user: String,
    },
}

struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LATCHKEY_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latchkey-agent: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey-agent: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let server_flag = match &cli.command {
        Command::Enroll { server, .. } => Some(server.clone()),
        _ => None,
    };
    let cfg = Config::resolve(Overrides {
        config: cli.config,
        server: server_flag,
        state_dir: cli.state_dir,
        socket: cli.socket,
        online_timeout_ms: cli.online_timeout_ms,
        ca_file: cli.ca_file,
        refresh: cli.refresh,
    })
    .map_err(|e| anyhow!(e))?;
    match cli.command {
        Command::Run => daemon_main(&cfg).await,
        Command::Enroll {
            api_key_file,
            hostname,
            ..
        } => enroll(&cfg, &api_key_file, hostname).await,
        Command::Status { json } => status(&cfg, json),
        Command::Sync => sync(&cfg).await,
        Command::Users { json } => users(&cfg, json),
        Command::Forget { user } => forget(&cfg, &user),
    }
}

fn upstream(cfg: &Config, e: &Enrollment) -> Result<HttpUpstream> {
    let server = cfg.server.clone().unwrap_or_else(|| e.server.clone());
    // Also for an enrolment written before the rule (the override was checked already).
    latchkey_agent::config::check_server(&server).map_err(|e| anyhow!(e))?;
    HttpUpstream::new(
        &server,
        e.api_key.0.clone(),
        cfg.online_timeout,
        cfg.ca_file.as_deref(),
    )
    .map_err(|e| anyhow!(e))
}

fn engine(cfg: &Config) -> Result<Engine> {
    let e = Enrollment::load(&cfg.state_dir).map_err(|e| anyhow!(e))?;
    let key = CacheKey::load(&cfg.state_dir.join("cache.key"))?;
    let cache = Cache::new(&cfg.state_dir, key)?;
    let server_key = e.server_key().map_err(|e| anyhow!(e))?;
    let up = upstream(cfg, &e)?;
    Ok(Engine::new(
        Arc::new(up),
        Arc::new(SystemClock),
        cache,
        EventQueue::new(&cfg.state_dir),
        HostIdentity {
            host_id: e.host_id.clone(),
            server_key,
        },
    )
    .with_refresh_every_login(cfg.refresh_every_login))
}

async fn daemon_main(cfg: &Config) -> Result<()> {
    let engine = Arc::new(engine(cfg)?);
    let listener = daemon::bind(&cfg.socket)
        .with_context(|| format!("cannot listen on {}", cfg.socket.display()))?;
    tracing::info!(
        socket = %cfg.socket.display(),
        state_dir = %cfg.state_dir.display(),
        "latchkey-agent listening"
    );
    // Queued events also go out periodically, not only after a login.
    let flusher = Arc::clone(&engine);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_mins(5));
        loop {
            tick.tick().await;
            if let Err(e) = flusher.flush_events().await {
                tracing::debug!("periodic event upload: {e}");
            }
        }
    });
    let shutdown = async {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut t) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    daemon::serve(listener, engine, shutdown).await;
    let _ = std::fs::remove_file(&cfg.socket);
    tracing::info!("latchkey-agent stopped");
    Ok(())
}

fn default_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

async fn enroll(cfg: &Config, api_key_file: &PathBuf, hostname: Option<String>) -> Result<()> {
    let server = cfg
        .server
        .clone()
        .ok_or_else(|| anyhow!("--server is required"))?;
    let api_key = Zeroizing::new(
        std::fs::read_to_string(api_key_file)
            .with_context(|| format!("cannot read {}", api_key_file.display()))?
            .trim()
            .to_owned(),
    );
    if api_key.is_empty() {
        bail!("{} is empty", api_key_file.display());
    }
    files::private_dir(&cfg.state_dir)
        .with_context(|| format!("cannot create {}", cfg.state_dir.display()))?;
    CacheKey::load_or_create(&cfg.state_dir.join("cache.key"))?;
    let hostname = hostname.unwrap_or_else(default_hostname);
    let (host_key, public) = enrollment::new_host_key();
    let up = HttpUpstream::new(
        &server,
        api_key.clone(),
        cfg.online_timeout.max(Duration::from_secs(10)),
        cfg.ca_file.as_deref(),
    )
    .map_err(|e| anyhow!(e))?;
    let answer = up.enroll(&hostname, &public).await?;
    enrollment::decode_key(&answer.server_key).map_err(|e| anyhow!(e))?;
    let e = Enrollment {
        server: server.trim_end_matches('/').to_owned(),
        host_id: answer.host_id,
        hostname,
        server_key: answer.server_key,
        api_key: SecretText(api_key),
        host_key,
        enrolled_at: SystemClock.now(),
    };
    e.save(&cfg.state_dir).map_err(|e| anyhow!(e))?;
    println!(
        "enrolled {:?} as host {} with {}; server key pinned",
        e.hostname, e.host_id, e.server
    );
    Ok(())
}

fn status(cfg: &Config, as_json: bool) -> Result<()> {
    let e = Enrollment::load(&cfg.state_dir).map_err(|e| anyhow!(e))?;
    let users = CacheKey::load(&cfg.state_dir.join("cache.key"))
        .and_then(|k| Cache::new(&cfg.state_dir, k))
        .and_then(|c| c.users())
        .map(|u| u.len())?;
    let pending = EventQueue::new(&cfg.state_dir)
        .load()
        .map(|v| v.len())
        .map_err(|e| anyhow!("event queue: {e}"))?;
    let v = json!({
        "enrolled": true,
        "server": cfg.server.clone().unwrap_or_else(|| e.server.clone()),
        "host_id": e.host_id,
        "hostname": e.hostname,
        "server_key": e.server_key,
        "enrolled_at": e.enrolled_at,
        "state_dir": cfg.state_dir,
        "socket": cfg.socket,
        "socket_present": cfg.socket.exists(),
        "users_with_offline_data": users,
        "pending_events": pending,
    });
    if as_json {
        println!("{v}");
    } else {
        let mut out = std::io::stdout().lock();
        for (k, val) in v.as_object().into_iter().flatten() {
            let s = val.as_str().map_or_else(|| val.to_string(), str::to_owned);
            let _ = writeln!(out, "{k:<24} {s}");
        }
    }
    Ok(())
}

async fn sync(cfg: &Config) -> Result<()> {
    let engine = engine(cfg)?;
    let n = engine.flush_events().await?;
    println!("uploaded {n} offline events");
    Ok(())
}

fn users(cfg: &Config, as_json: bool) -> Result<()> {
    let e = Enrollment::load(&cfg.state_dir).map_err(|e| anyhow!(e))?;
    let server_key = e.server_key().map_err(|e| anyhow!(e))?;
    let cache = Cache::new(
        &cfg.state_dir,
        CacheKey::load(&cfg.state_dir.join("cache.key"))?,
    )?;
    let mut rows = Vec::new();
    for user in cache.users()? {
        let row = match cache.load(&user) {
            Ok(Some(entry)) => match latchkey_offline::open(&entry.oad, &server_key, &e.host_id) {
                Ok(oad) => json!({
                    "user": user,
                    "status": "ok",
                    "generated_at": oad.generated_at(),
                    "refresh_at": oad.refresh_at(),
                    "expires_at": oad.expires_at(),
                    "failures": entry.state.failures(),
                    "stored_at": entry.stored_at,
                }),
                Err(err) => json!({"user": user, "status": "refused", "error": err.to_string()}),
            },
            Ok(None) => continue,
            Err(err) => json!({"user": user, "status": "unreadable", "error": err.to_string()}),
        };
        rows.push(row);
    }
    if as_json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        let field = |r: &serde_json::Value, k: &str| {
            r.get(k).map_or_else(String::new, |v| {
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            })
        };
        for r in rows {
            println!(
                "{:<20} {:<10} expires_at={} failures={} {}",
                field(&r, "user"),
                field(&r, "status"),
                field(&r, "expires_at"),
                field(&r, "failures"),
                field(&r, "error")
            );
        }
    }
    Ok(())
}

fn forget(cfg: &Config, user: &str) -> Result<()> {
    let cache = Cache::new(
        &cfg.state_dir,
        CacheKey::load(&cfg.state_dir.join("cache.key"))?,
    )?;
    if cache.delete(user)? {
        println!("deleted the offline data of {user:?}");
        Ok(())
    } else {
        bail!("no offline data for {user:?} on this host")
    }
}
