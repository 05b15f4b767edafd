//! The UDP transport: receives datagrams, hands each to the [`Handler`] on its own task, and
//! sends back whatever reply it returns.
//!
//! Invariants: a slow or failing request never blocks the others (one task each, at most
//! [`MAX_IN_FLIGHT`] at once; beyond that datagrams are dropped and counted, and the clients
//! retransmit); a receive or send error is logged and the loop goes on; the loop ends when the
//! shutdown future completes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use crate::codec::MAX_PACKET_LEN;
use crate::handler::Handler;
use crate::stats::Outcome;

/// Requests handled at once at most.
pub const MAX_IN_FLIGHT: usize = 1024;
/// How often the counters are logged (when they changed).
const STATS_EVERY: Duration = Duration::from_mins(5);

/// A bound RADIUS server.
#[derive(Debug)]
pub struct RadiusServer {
    socket: Arc<UdpSocket>,
    handler: Arc<Handler>,
}

impl RadiusServer {
    /// Binds the UDP socket (port 0 picks a free port; see [`RadiusServer::local_addr`]).
    pub async fn bind(addr: SocketAddr, handler: Arc<Handler>) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        Ok(Self {
            socket: Arc::new(socket),
            handler,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The handler (for its counters).
    pub fn handler(&self) -> &Arc<Handler> {
        &self.handler
    }

    /// Serves until `shutdown` completes; requests in flight then finish on their own tasks.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut buf = vec![0u8; MAX_PACKET_LEN];
        let mut stats_tick = tokio::time::interval(STATS_EVERY);
        stats_tick.tick().await;
        let mut logged = self.handler.stats().snapshot();
        tokio::pin!(shutdown);
        loop {
            let (len, source) = tokio::select! {
                () = &mut shutdown => break,
                _ = stats_tick.tick() => {
                    let now = self.handler.stats().snapshot();
                    if now != logged {
                        tracing::info!(stats = ?now, "RADIUS counters");
                        logged = now;
                    }
                    continue;
                }
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "RADIUS receive failed");
                        // Never spin on a socket in a persistent error state.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                self.handler.stats().received();
                self.handler.stats().count(Outcome::Overload);
                continue;
            };
            let datagram = buf.get(..len).unwrap_or_default().to_vec();
            let (socket, handler) = (Arc::clone(&self.socket), Arc::clone(&self.handler));
            tokio::spawn(async move {
                if let Some(reply) = handler.handle(source, &datagram).await
                    && let Err(e) = socket.send_to(&reply, source).await
                {
                    tracing::warn!(%source, error = %e, "RADIUS reply not sent");
                }
                drop(permit);
            });
        }
        tracing::info!(stats = ?self.handler.stats().snapshot(), "RADIUS server stopped");
    }
}
