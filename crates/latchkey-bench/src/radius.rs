//! The RADIUS side of the load: one UDP socket per client task, one request in flight on it,
//! built and checked with the server's own codec (`latchkey_radius::codec`) the way a NAS does
//! it — PAP User-Password hidden, a Message-Authenticator in every request, and every reply's
//! Response Authenticator and Message-Authenticator verified before it counts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use latchkey_radius::codec::{Code, Packet, attr, hide_password};
use tokio::net::UdpSocket;

/// How long a request waits for its reply (no retransmission: a lost reply is an error).
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A task's RADIUS client.
pub struct RadiusClient {
    socket: UdpSocket,
    next_id: u8,
    buf: Vec<u8>,
}

/// What a RADIUS request got.
pub enum Heard {
    /// A valid reply of this code.
    Reply(Code),
    /// No valid reply in time, or a socket error.
    Nothing(String),
}

/// What to send.
pub enum Ask<'a> {
    /// Status-Server: the RADIUS stack with no authentication behind it (RFC 5997).
    Status,
    /// A PAP Access-Request.
    Access {
        /// Login.
        user: &'a str,
        /// Passcode.
        password: &'a str,
    },
}

/// A datagram ready to go.
pub struct Prepared {
    bytes: Vec<u8>,
    authenticator: [u8; 16],
    identifier: u8,
    to: SocketAddr,
}

impl RadiusClient {
    /// A client on a fresh loopback socket.
    pub async fn new() -> std::io::Result<Self> {
        Ok(Self {
            socket: UdpSocket::bind("127.0.0.1:0").await?,
            next_id: 0,
            buf: vec![0; 4096],
        })
    }

    /// Builds a request to `to` (hiding the password, signing the Message-Authenticator).
    pub fn prepare(
        &mut self,
        to: SocketAddr,
        secret: &[u8],
        ask: &Ask<'_>,
    ) -> Result<Prepared, String> {
        let authenticator: [u8; 16] = rand::random();
        let identifier = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let code = match ask {
            Ask::Status => Code::STATUS_SERVER,
            Ask::Access { .. } => Code::ACCESS_REQUEST,
        };
        let mut p = Packet::new(code, identifier, authenticator);
        if let Ask::Access { user, password } = ask {
            p.push(attr::USER_NAME, user.as_bytes());
            let hidden = hide_password(password.as_bytes(), secret, &authenticator)
                .map_err(|e| e.to_string())?;
            p.push(attr::USER_PASSWORD, hidden);
            p.push(attr::NAS_IDENTIFIER, &b"latchkey-bench"[..]);
        }
        p.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
        let bytes = p.sign_request(secret).map_err(|e| e.to_string())?;
        Ok(Prepared {
            bytes,
            authenticator,
            identifier,
            to,
        })
    }

    /// Sends a prepared request and waits for its valid reply; replies to earlier requests
    /// (which timed out) are skipped.
    pub async fn exchange(&mut self, p: &Prepared, secret: &[u8]) -> Heard {
        if let Err(e) = self.socket.send_to(&p.bytes, p.to).await {
            return Heard::Nothing(format!("RADIUS send: {e}"));
        }
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = tokio::time::timeout(left, self.socket.recv_from(&mut self.buf)).await;
            let n = match got {
                Err(_) => return Heard::Nothing("RADIUS: no reply within 5 s".to_owned()),
                Ok(Err(e)) => return Heard::Nothing(format!("RADIUS receive: {e}")),
                Ok(Ok((n, from))) if from == p.to => n,
                Ok(Ok(_)) => continue,
            };
            let Some(bytes) = self.buf.get(..n) else {
                continue;
            };
            if bytes.get(1) != Some(&p.identifier) {
                continue;
            }
            match Packet::verify_reply(bytes, &p.authenticator, secret, true) {
                Ok(r) => return Heard::Reply(r.code),
                Err(e) => return Heard::Nothing(format!("RADIUS reply refused: {e}")),
            }
        }
    }
}
