//! The RADIUS client table: which agent a source address belongs to, and its shared secret.
//!
//! RADIUS clients are agents of kind `radius` with a network (`--address`, an address or CIDR)
//! and a sealed shared secret. The table is a snapshot of them with the secrets opened,
//! swapped whole on reload, so a lookup never waits for the database. It is reloaded:
//! - at start;
//! - every [`REFRESH_SECS`] seconds, lazily, by the first lookup that finds the snapshot older
//!   (one request pays a few milliseconds a minute; no background task to keep alive);
//! - when a packet arrives from an address no client covers, or fails the
//!   Message-Authenticator of the client that covers it — so a client just added, or whose
//!   secret was just replaced, works at its first packet — but at most once per
//!   [`MISS_RELOAD_SECS`], so a flood of forged packets costs the database one query a second.
//!
//! A deleted client therefore keeps working until the next periodic reload, at most
//! [`REFRESH_SECS`] seconds. The most specific network wins (a /32 over the /24 around it);
//! between equally specific ones, the agent whose name sorts first, so the choice is stable.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use latchkey_core::CoreError;
use latchkey_core::admin::{AdminService, agent_secret_aad};
use latchkey_core::model::Agent;
use latchkey_core::ports::Clock;
use latchkey_crypto::secret::SecretBytes;
use latchkey_proto::admin::AgentKind;

/// Seconds between periodic reloads.
pub const REFRESH_SECS: i64 = 60;
/// Least seconds between two reloads caused by unknown or failing packets.
pub const MISS_RELOAD_SECS: i64 = 1;

/// One RADIUS client.
#[derive(Clone, Debug)]
pub struct RadiusClient {
    /// The agent (its name goes to the audit log; it is the `Caller` of the engine).
    pub agent: Agent,
    /// The network its packets come from.
    pub net: IpNet,
    /// The shared secret.
    pub secret: SecretBytes,
    /// Requests without a Message-Authenticator are dropped.
    pub require_message_authenticator: bool,
}

/// A snapshot of the clients, most specific network first.
#[derive(Debug, Default)]
struct Snapshot {
    clients: Vec<Arc<RadiusClient>>,
    loaded_at: i64,
}

/// Why a lookup is retried after a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No client covers the address.
    UnknownAddress,
    /// The covering client's secret did not verify the packet.
    BadAuthenticator,
}

/// The client table.
pub struct ClientTable {
    admin: Arc<AdminService>,
    clock: Arc<dyn Clock>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Time of the last reload caused by a miss; `None` before the first.
    last_miss_reload: tokio::sync::Mutex<Option<i64>>,
    /// Held by the one task doing a periodic reload.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ClientTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTable")
            .field("clients", &self.len())
            .finish_non_exhaustive()
    }
}

/// Normalises an IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 client).
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl ClientTable {
    /// Loads the table for the first time.
    pub async fn load(admin: Arc<AdminService>, clock: Arc<dyn Clock>) -> Result<Self, CoreError> {
        let table = Self {
            admin,
            clock,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            last_miss_reload: tokio::sync::Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        };
        table.reload().await?;
        Ok(table)
    }

    /// Number of clients in the current snapshot.
    pub fn len(&self) -> usize {
        self.current().clients.len()
    }

    /// Whether the current snapshot has no client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads every RADIUS agent and opens its secret; an agent whose secret cannot be opened
    /// (a database restored under another master key) is left out and logged, without the
    /// secret.
    pub async fn reload(&self) -> Result<usize, CoreError> {
        let agents = self.admin.store().list_agents(None).await?;
        let mut clients = Vec::new();
        for a in agents {
            if a.kind != AgentKind::Radius {
                continue;
            }
            let (Some(net), Some(sealed)) = (a.address, a.secret_sealed.as_ref()) else {
                continue;
            };
            match self.admin.open(sealed, &agent_secret_aad(&a.name)) {
                Ok(secret) => clients.push(Arc::new(RadiusClient {
                    net: net.trunc(),
                    secret,
                    require_message_authenticator: a.require_message_authenticator,
                    agent: a,
                })),
                Err(e) => {
                    tracing::error!(agent = %a.name, error = %e, "RADIUS client left out: its shared secret cannot be opened");
                }
            }
        }
        clients.sort_by(|x, y| {
            y.net
                .prefix_len()
                .cmp(&x.net.prefix_len())
                .then_with(|| x.agent.name.cmp(&y.agent.name))
        });
        let n = clients.len();
        let fresh = Arc::new(Snapshot {
            clients,
            loaded_at: self.clock.now(),
        });
        match self.snapshot.write() {
            Ok(mut s) => *s = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        tracing::debug!(clients = n, "RADIUS client table loaded");
        Ok(n)
    }

    /// The client covering `ip` in the current snapshot (after a periodic reload when due).
    pub async fn find(&self, ip: IpAddr) -> Option<Arc<RadiusClient>> {
        let now = self.clock.now();
        if now - self.current().loaded_at >= REFRESH_SECS
            && let Ok(_guard) = self.refreshing.try_lock()
            // Another task may have reloaded while this one waited for the lock.
            && now - self.current().loaded_at >= REFRESH_SECS
            && let Err(e) = self.reload().await
        {
            tracing::warn!(error = %e, "RADIUS client table not refreshed; keeping the old one");
        }
        self.lookup(ip)
    }

    fn lookup(&self, ip: IpAddr) -> Option<Arc<RadiusClient>> {
        let ip = canonical(ip);
        self.current()
            .clients
            .iter()
            .find(|c| c.net.contains(&ip))
            .cloned()
    }

    /// After a miss: reloads unless a miss caused a reload less than [`MISS_RELOAD_SECS`] ago,
    /// and looks `ip` up again (in the snapshot another task may just have loaded, when this
    /// one may not reload).
    pub async fn find_after_miss(&self, ip: IpAddr, why: Miss) -> Option<Arc<RadiusClient>> {
        {
            let now = self.clock.now();
            let mut last = self.last_miss_reload.lock().await;
            if last.is_some_and(|t| now - t < MISS_RELOAD_SECS) {
                drop(last);
                return self.lookup(ip);
            }
            *last = Some(now);
            tracing::debug!(?why, "reloading the RADIUS client table after a miss");
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "RADIUS client table not reloaded");
                return None;
            }
        }
        self.lookup(ip)
    }
}
