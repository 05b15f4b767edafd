//! `latchkey serve`: opens the database, bootstraps a fresh install, serves HTTP and RADIUS
//! until a signal arrives.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use latchkey_core::admin::{AdminService, FirstAdmin, KeyPersistence};
use latchkey_core::authn::AuthnService;
use latchkey_core::console::ConsoleService;
use latchkey_core::messaging_config::ProviderStore;
use latchkey_core::ports::{Clock, Entropy, EntropyRng, OsEntropy};
use latchkey_core::store::Store;
use latchkey_radius::{Handler as RadiusHandler, RadiusServer};
use latchkey_store::SqlStore;

use crate::config::{Config, LogFormat};
use crate::keyfile::{self, KeyFile, KeySource};

/// The system clock; the one place the wall clock is read.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the binary is where real time enters
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// Name of the file, in the data directory, that tells the CLI where the server listens.
pub const SERVER_FILE: &str = "server.json";
/// Name of the file, in the data directory, holding the first administrator's API token.
pub const TOKEN_FILE: &str = "admin.token";

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cfg.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Hides a password in a database URL for printing.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// What opening the data directory and database produced.
struct Opened {
    admin: Arc<AdminService>,
    authn: Arc<AuthnService>,
    clock: Arc<dyn Clock>,
    backend: &'static str,
    key_source: KeySource,
    first: Option<FirstAdmin>,
    /// Security Console sessions.
    console: Arc<ConsoleService>,
    /// The store, to close at shutdown (the SQLite writer finishes what it was given).
    store: Arc<SqlStore>,
}

/// Loads the keys, opens the database, finishes an interrupted key rotation and, on a fresh
/// install, creates the first administrator and writes their token file.
async fn open(cfg: &Config) -> Result<Opened> {
    let entropy = Arc::new(OsEntropy);
    let (keyring, key_source) =
        keyfile::load_keyring(&cfg.master_key_file, &mut EntropyRng(entropy.as_ref()))?;
    let store = SqlStore::connect(&cfg.database_url)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&cfg.database_url)))?;
    let backend = store.backend();
    let persistence: Option<Arc<dyn KeyPersistence>> = match &key_source {
        KeySource::File { path, .. } => Some(Arc::new(KeyFile(path.clone()))),
        KeySource::Env => None,
    };
    let store = Arc::new(store);
    let closing = Arc::clone(&store);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let admin = AdminService::new(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&clock),
        Arc::clone(&entropy) as Arc<dyn Entropy>,
        keyring,
        persistence,
    )
    .await
    .context("loading keys (is this the master key this database was created with?)")?
    .with_max_emergency_lifetime_days(cfg.max_emergency_lifetime_days)
    .with_eac_settings(cfg.eac)
    .with_messaging_providers(
        Arc::clone(&store) as Arc<dyn ProviderStore>,
        Arc::new(latchkey_messaging::StoredCodec::new(cfg.providers.clone())),
    );
    if let KeySource::File {
        interrupted_rotation: true,
        ..
    } = &key_source
    {
        let n = admin
            .finish_interrupted_rotation()
            .await
            .context("finishing an interrupted key rotation")?;
        tracing::warn!(resealed = n, "finished an interrupted master-key rotation");
    }
    let first = admin
        .bootstrap(&cfg.first_admin_name)
        .await
        .context("creating the first administrator")?;
    if let Some(first) = &first {
        let token = format!("{}\n", first.token.expose());
        keyfile::write_private(&cfg.data_dir.join(TOKEN_FILE), token.as_bytes(), true)?;
    }
    let admin = Arc::new(admin);
    // The administrator's stored list, when there is one, replaces the file's; every send
    // checks its version, so a change made on any node applies here without a restart.
    let messenger = latchkey_messaging::ReloadingMessenger::new(
        Arc::clone(&admin),
        &cfg.messaging,
        &cfg.providers,
        Arc::clone(&clock),
    )
    .context("setting up the SMS and voice providers")?;
    let console_store = Arc::clone(&store);
    let console_entropy = Arc::clone(&entropy);
    let offline = Arc::new(latchkey_core::offline::OfflineService::new(
        Arc::clone(&store) as Arc<dyn latchkey_core::offline::OfflineStore>,
        Arc::clone(&admin),
        Arc::clone(&clock),
        Arc::clone(&entropy) as Arc<dyn Entropy>,
    ));
    let authn = Arc::new(
        AuthnService::new(store, Arc::clone(&admin), Arc::clone(&clock), entropy)
            .with_messaging(Arc::new(messenger), cfg.send_limits, cfg.phone_code)
            .with_offline(offline),
    );
    let console = Arc::new(
        ConsoleService::new(
            Arc::clone(&admin),
            Arc::clone(&authn),
            console_store,
            Arc::clone(&clock),
            console_entropy,
            cfg.console,
        )
        .context("setting up the Security Console")?,
    );
    Ok(Opened {
        admin,
        authn,
        clock,
        backend,
        key_source,
        first,
        console,
        store: closing,
    })
}

/// Where RADIUS listens, and for how many clients, when it is on.
struct RadiusInfo {
    addr: SocketAddr,
    clients: usize,
}

/// Tells the operator where everything is and, once, how to sign in.
fn print_banner(cfg: &Config, url: &str, radius: Option<&RadiusInfo>, o: &Opened) {
    println!("Latchkey {} is running.", env!("CARGO_PKG_VERSION"));
    println!("  Admin API:  {url}/api/v1/admin   (OpenAPI document: {url}/api/v1/openapi.json)");
    println!(
        "  Console:    {url}/console   (sign in: password + passcode of your own Latchkey token)"
    );
    println!("  Health:     {url}/healthz, {url}/readyz");
    println!(
        "  Database:   {} ({})",
        o.backend,
        redact_url(&cfg.database_url)
    );
    match &o.key_source {
        KeySource::File {
            path,
            created: true,
            ..
        } => {
            println!(
                "  Master key: created {} (0600) — back it up; without it the seeds are lost",
                path.display()
            );
        }
        KeySource::File { path, .. } => println!("  Master key: {}", path.display()),
        KeySource::Env => println!("  Master key: from {}", keyfile::MASTER_KEY_ENV),
    }
    match radius {
        Some(r) => println!(
            "  RADIUS:     udp {} ({} client(s); add one with: latchkey agent add NAME --kind radius --address CIDR)",
            r.addr, r.clients
        ),
        None => println!("  RADIUS:     off ([radius] listen is empty)"),
    }
    let dd = cfg.data_dir.display();
    match &o.first {
        Some(first) => {
            println!();
            println!(
                "First start: created the super administrator {:?}.",
                first.name
            );
            println!(
                "  Console password (shown once): {}",
                first.password.expose()
            );
            println!(
                "  Admin API token: written to {} (0600)",
                cfg.data_dir.join(TOKEN_FILE).display()
            );
            println!(
                "Sign in from another terminal with the CLI, which finds this server through the data directory:"
            );
            println!("  latchkey --data-dir {dd} user add alice --phone +14155550123");
            println!("  latchkey --data-dir {dd} token generate --user alice");
        }
        None => println!("Administrators exist already. CLI: latchkey --data-dir {dd} user list"),
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> Result<()> {
    init_logging(&cfg);
    create_data_dir(&cfg.data_dir)?;
    let opened = open(&cfg).await?;
    let app = latchkey_web::router(latchkey_web::AppState {
        admin: Arc::clone(&opened.admin),
        authn: Arc::clone(&opened.authn),
    });
    let app = latchkey_web::console::enable(
        app,
        latchkey_web::console::ConsoleState {
            service: Arc::clone(&opened.console),
            secure_cookies: cfg.console_secure_cookies,
        },
    );
    let listener = std::net::TcpListener::bind(cfg.http_listen)
        .with_context(|| format!("listening on {}", cfg.http_listen))?;
    listener.set_nonblocking(true)?;
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    let radius = match cfg.radius_listen.addr() {
        Some(addr) => Some(bind_radius(addr, &opened).await?),
        None => None,
    };
    let radius_info = match &radius {
        Some(r) => Some(RadiusInfo {
            addr: r.local_addr()?,
            clients: r.handler().clients().len(),
        }),
        None => None,
    };
    let radius_addr = radius_info.as_ref().map(|r| r.addr.to_string());
    let server_file =
        serde_json::json!({"url": url, "radius": radius_addr, "pid": std::process::id()})
            .to_string();
    keyfile::write_private(
        &cfg.data_dir.join(SERVER_FILE),
        server_file.as_bytes(),
        true,
    )?;
    print_banner(&cfg, &url, radius_info.as_ref(), &opened);

    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let radius_task = radius.map(|server| {
        let mut stop = stop_rx;
        tokio::spawn(server.run(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }))
    });
    if let Some(r) = &radius_info {
        tracing::info!(addr = %r.addr, clients = r.clients, "RADIUS listening");
    }
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tracing::info!(%url, "listening");
    match &cfg.tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "loading TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            axum_server::from_tcp_rustls(listener, tls)
                .handle(handle)
                .serve(service)
                .await?;
        }
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(service)
                .await?;
        }
    }
    if let Some(t) = radius_task {
        let _ = t.await;
    }
    // Every request has been answered or dropped: let the writer finish what it holds.
    opened.store.close().await;
    let _ = std::fs::remove_file(cfg.data_dir.join(SERVER_FILE));
    Ok(())
}

/// Loads the RADIUS client table and binds the UDP socket.
async fn bind_radius(addr: SocketAddr, o: &Opened) -> Result<RadiusServer> {
    let handler = RadiusHandler::new(
        Arc::clone(&o.admin),
        Arc::clone(&o.authn),
        Arc::clone(&o.clock),
    )
    .await
    .context("loading the RADIUS clients")?;
    RadiusServer::bind(addr, Arc::new(handler))
        .await
        .with_context(|| {
            format!(
                "listening for RADIUS on {addr} (UDP); another RADIUS server may hold the port — \
                 set [radius] listen (env LATCHKEY_RADIUS_LISTEN, flag --radius-listen) to \
                 another address, or to \"\" to turn RADIUS off"
            )
        })
}

fn create_data_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
}
