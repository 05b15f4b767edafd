//! Command-line interface: argument definitions and dispatch.

// Doc comments here are clap's --help text, read by administrators, not rustdoc.
#![allow(clippy::doc_markdown)]

mod admin_verbs;
mod args;
mod emergency_verbs;
mod messaging_verbs;
mod offline_verbs;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::client::{Client, ClientError, Target};
use crate::config::{self, Overrides};

pub use args::*;

/// Latchkey: multi-factor authentication server with emergency and offline access.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about)]
pub struct Cli {
    /// Data directory: database, master key, admin token, and where the CLI finds a local server.
    #[arg(
        long,
        global = true,
        env = "LATCHKEY_DATA_DIR",
        default_value = ".latchkey-data"
    )]
    pub data_dir: PathBuf,
    /// Admin API base URL of a remote server (default: the local server of --data-dir).
    #[arg(long, global = true, env = "LATCHKEY_SERVER")]
    pub server: Option<String>,
    /// File holding an admin API token (default: DATA_DIR/admin.token).
    #[arg(long, global = true, env = "LATCHKEY_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM CA certificate to trust for an HTTPS server with a private certificate.
    #[arg(long, global = true, env = "LATCHKEY_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Print the server's JSON answer instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTP API; RADIUS and background jobs as they arrive).
    Serve(ServeArgs),
    /// Check a configuration file and print the settings in force.
    CheckConfig(ServeArgs),
    /// Security domains and their policies.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// Tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Emergency access: online emergency tokencodes, offline emergency passcode and tokencode.
    #[command(subcommand)]
    Emergency(EmergencyCmd),
    /// Emergency access codes (cloud channel and offline hosts).
    #[command(subcommand)]
    Eac(EacCmd),
    /// Notifications queued for users.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Agents (REST, RADIUS clients, offline hosts, cloud applications).
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Administrators.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The master key.
    #[command(subcommand)]
    Key(KeyCmd),
    /// SMS and voice providers.
    #[command(subcommand)]
    Messaging(MessagingCmd),
    /// Offline hosts holding a user's offline data: last sync, expiry, generations held.
    OfflineHosts(offline_verbs::OfflineHostsArgs),
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (default: DATA_DIR/latchkey.toml if present).
    #[arg(long, env = "LATCHKEY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub database_url: Option<String>,
    /// HTTP listen address.
    #[arg(long)]
    pub http_listen: Option<String>,
    /// RADIUS listen address.
    #[arg(long)]
    pub radius_listen: Option<String>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            database_url: self.database_url.clone(),
            http_listen: self.http_listen.clone(),
            radius_listen: self.radius_listen.clone(),
        }
    }
}

/// Runs the parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match &cli.command {
        Command::Serve(a) | Command::CheckConfig(a) => {
            let cfg = match config::load(&cli.data_dir, a.config.as_deref(), &a.overrides()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("latchkey: {e}");
                    return ExitCode::from(2);
                }
            };
            if matches!(cli.command, Command::CheckConfig(_)) {
                println!("configuration is valid");
                println!("  http_listen   = {}", cfg.http_listen);
                println!("  radius_listen = {}", cfg.radius_listen);
                println!(
                    "  database      = {}",
                    crate::serve::redact_url(&cfg.database_url)
                );
                println!("  master key    = {}", cfg.master_key_file.display());
                println!(
                    "  tls           = {}",
                    if cfg.tls.is_some() { "on" } else { "off" }
                );
                println!(
                    "  phone codes   = {} digits, {} min, {} tries; {} per user per {} min, \
                     {} per number per hour, {} per hour in all, {} s between codes",
                    cfg.phone_code.digits,
                    cfg.phone_code.valid_minutes,
                    cfg.phone_code.tries,
                    cfg.send_limits.per_user,
                    cfg.send_limits.user_window_secs / 60,
                    cfg.send_limits.per_destination_per_hour,
                    cfg.send_limits.per_deployment_per_hour,
                    cfg.send_limits.cooldown_secs
                );
                return ExitCode::SUCCESS;
            }
            match crate::serve::run(cfg).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("latchkey: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            let target = Target {
                data_dir: cli.data_dir.clone(),
                server: cli.server.clone(),
                token_file: cli.token_file.clone(),
                ca_cert: cli.ca_cert.clone(),
            };
            let result = match Client::new(&target) {
                Ok(client) => admin_verbs::dispatch(&client, &cli.command, cli.json).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("latchkey: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

/// Result of a verb: an exit code, or an error that maps to one.
pub type VerbResult = Result<ExitCode, ClientError>;
