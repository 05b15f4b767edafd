//! One datagram in, one reply (or nothing) out: the RADIUS adapter onto the authentication
//! engine. It never touches a socket, so the tests call it directly with a fake clock.
//!
//! In order, and the first failing step decides:
//! 1. decode — malformed: **drop**;
//! 2. packet type — only Access-Request and Status-Server are served: **drop** the rest;
//! 3. client — the agent of kind `radius` whose network covers the source address: unknown
//!    address **dropped**;
//! 4. Message-Authenticator — present and wrong: **drop**; absent while the client requires it
//!    (the default, against `BlastRADIUS`), or on a Status-Server: **drop**;
//! 5. duplicate cache — a retransmission gets the cached reply, or is dropped while the first
//!    copy is being handled (Status-Server skips it: it changes nothing and is answered afresh);
//! 6. engine — an Access-Request without State is `initialize(user, password)`, one with State
//!    is `verify(State, password)`: SUCCESS is an **Access-Accept**, FAIL an **Access-Reject**,
//!    CHALLENGE an **Access-Challenge** with State = the attempt id and Reply-Message = the
//!    prompt. A request without User-Password (CHAP, EAP) is **rejected**. An engine error (the
//!    database is down) gets **no answer**, so the client retries or fails over.
//!
//! Every reply carries a Message-Authenticator (first) and the request's Proxy-State
//! attributes, in order. Drops are counted in [`Stats`] and logged at debug level with the
//! reason and the source — never the secret, the password or the user name.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use latchkey_core::CoreError;
use latchkey_core::admin::AdminService;
use latchkey_core::authn::{AuthnService, Caller};
use latchkey_core::ports::Clock;
use latchkey_proto::authn::{AuthnResponse, AuthnResult, InitializeRequest, VerifyRequest};
use md5::{Digest, Md5};
use zeroize::Zeroize;

use crate::clients::{ClientTable, Miss, RadiusClient};
use crate::codec::{Code, CodecError, MessageAuthenticatorCheck, Packet, attr, unhide_password};
use crate::dedup::{DuplicateCache, Key, Seen};
use crate::stats::{Outcome, Stats};

/// Reply-Message attributes a reply carries at most (253 octets each).
const MAX_REPLY_MESSAGES: usize = 4;
/// Longest Calling-Station-Id kept for the audit log.
const MAX_CLIENT_ADDRESS: usize = 128;

/// Why a request got no answer although it was valid.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The engine failed (database unavailable, corrupt data): no answer, so the client
    /// retries or fails over to another server; the operator reads the log.
    #[error("authentication engine: {0}")]
    Engine(#[from] CoreError),
    /// The reply could not be written (more Proxy-State than fits a packet): no answer.
    #[error("writing the reply: {0}")]
    Codec(#[from] CodecError),
}

/// The RADIUS request handler.
pub struct Handler {
    authn: Arc<AuthnService>,
    clients: ClientTable,
    dedup: Mutex<DuplicateCache>,
    stats: Stats,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

/// The request as the engine needs it, with the decoded password wiped on drop.
struct Credentials {
    user: String,
    password: String,
    state: Option<String>,
    client_address: Option<String>,
}

impl Drop for Credentials {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

impl Handler {
    /// A handler over the engine; loads the client table.
    pub async fn new(
        admin: Arc<AdminService>,
        authn: Arc<AuthnService>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CoreError> {
        let clients = ClientTable::load(admin, Arc::clone(&clock)).await?;
        Ok(Self {
            authn,
            clients,
            dedup: Mutex::new(DuplicateCache::default()),
            stats: Stats::default(),
            clock,
        })
    }

    /// Replaces the duplicate cache (tests use a small one).
    #[must_use]
    pub fn with_duplicate_cache(mut self, cache: DuplicateCache) -> Self {
        self.dedup = Mutex::new(cache);
        self
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The client table.
    pub fn clients(&self) -> &ClientTable {
        &self.clients
    }

    /// Handles one datagram from `source`: the reply to send back, or `None` to drop it.
    pub async fn handle(&self, source: SocketAddr, datagram: &[u8]) -> Option<Vec<u8>> {
        self.stats.received();
        let (outcome, reply) = self.process(source, datagram).await;
        self.stats.count(outcome);
        if reply.is_none() {
            tracing::debug!(%source, ?outcome, "RADIUS packet dropped");
        }
        reply
    }

    async fn process(&self, source: SocketAddr, datagram: &[u8]) -> (Outcome, Option<Vec<u8>>) {
        let packet = match Packet::decode(datagram) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%source, error = %e, "malformed RADIUS packet");
                return (Outcome::Malformed, None);
            }
        };
        if packet.code != Code::ACCESS_REQUEST && packet.code != Code::STATUS_SERVER {
            return (Outcome::UnsupportedCode, None);
        }
        let client = match self.authenticate_client(source.ip(), &packet).await {
            Ok(c) => c,
            Err(outcome) => return (outcome, None),
        };
        // Status-Server authenticates nobody and its answer never changes: answered afresh,
        // so that a client polling it cannot crowd real requests out of the duplicate cache.
        if packet.code == Code::STATUS_SERVER {
            return match self.respond(&client, &packet, source).await {
                Ok((outcome, reply)) => (outcome, Some(reply)),
                Err(_) => (Outcome::Error, None),
            };
        }
        // The packet as received, without padding: what a retransmission repeats.
        let len = packet.encoded_len().unwrap_or(datagram.len());
        let digest: [u8; 16] = Md5::digest(datagram.get(..len).unwrap_or(datagram)).into();
        let key = Key {
            source,
            identifier: packet.identifier,
            authenticator: packet.authenticator,
        };
        let seen = self
            .dedup
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .begin(key, digest, self.clock.now());
        match seen {
            Seen::Answered(reply) => return (Outcome::DuplicateAnswered, Some(reply)),
            Seen::InProgress => return (Outcome::DuplicateDropped, None),
            Seen::New => {}
        }
        match self.respond(&client, &packet, source).await {
            Ok((outcome, reply)) => {
                self.dedup
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .finish(&key, digest, reply.clone());
                (outcome, Some(reply))
            }
            Err(e) => {
                self.dedup
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .abandon(&key, digest);
                tracing::error!(%source, agent = %client.agent.name, error = %e, "RADIUS request not answered");
                (Outcome::Error, None)
            }
        }
    }

    /// The client that sent `packet`, its Message-Authenticator checked; or why to drop it.
    async fn authenticate_client(
        &self,
        ip: IpAddr,
        packet: &Packet,
    ) -> Result<Arc<RadiusClient>, Outcome> {
        let client = match self.clients.find(ip).await {
            Some(c) => c,
            None => self
                .clients
                .find_after_miss(ip, Miss::UnknownAddress)
                .await
                .ok_or(Outcome::UnknownClient)?,
        };
        let check = |c: &RadiusClient| match packet.check_request_authenticator(c.secret.expose()) {
            MessageAuthenticatorCheck::Absent
                if c.require_message_authenticator || packet.code == Code::STATUS_SERVER =>
            {
                Err(Outcome::MissingAuthenticator)
            }
            MessageAuthenticatorCheck::Valid | MessageAuthenticatorCheck::Absent => Ok(()),
            MessageAuthenticatorCheck::Invalid => Err(Outcome::BadAuthenticator),
        };
        match check(&client) {
            Ok(()) => Ok(client),
            Err(Outcome::BadAuthenticator) => {
                // The secret may just have been replaced: one rate-limited reload, one retry.
                let again = self
                    .clients
                    .find_after_miss(ip, Miss::BadAuthenticator)
                    .await
                    .ok_or(Outcome::BadAuthenticator)?;
                check(&again).map(|()| again)
            }
            Err(o) => Err(o),
        }
    }

    /// The signed reply to an authenticated request.
    async fn respond(
        &self,
        client: &RadiusClient,
        request: &Packet,
        source: SocketAddr,
    ) -> Result<(Outcome, Vec<u8>), HandlerError> {
        let (outcome, mut reply) = if request.code == Code::STATUS_SERVER {
            let mut r = Packet::new(Code::ACCESS_ACCEPT, request.identifier, [0; 16]);
            r.push_text(attr::REPLY_MESSAGE, "Latchkey RADIUS server is up", 1);
            (Outcome::Accept, r)
        } else {
            self.authenticate_user(client, request, source).await?
        };
        for v in request.all(attr::PROXY_STATE) {
            reply.push(attr::PROXY_STATE, v);
        }
        let bytes = reply.sign_reply(&request.authenticator, client.secret.expose())?;
        Ok((outcome, bytes))
    }

    /// Runs the engine for an Access-Request and maps its answer.
    async fn authenticate_user(
        &self,
        client: &RadiusClient,
        request: &Packet,
        source: SocketAddr,
    ) -> Result<(Outcome, Packet), HandlerError> {
        let Some(creds) = credentials(client, request) else {
            // CHAP, EAP, or a User-Password of an impossible length: not something this
            // server can check. Rejected, not dropped: the client must not retry it.
            return Ok(reply_for(request.identifier, &AuthnResponse::fail()));
        };
        let caller = Caller {
            agent: client.agent.clone(),
            source: Some(source.ip().to_canonical().to_string()),
            client: creds.client_address.clone(),
        };
        let answer = match &creds.state {
            None => {
                let mut req = InitializeRequest {
                    user: creds.user.clone(),
                    passcode: creds.password.clone(),
                    client_address: creds.client_address.clone(),
                };
                let r = self.authn.initialize(&caller, &req).await;
                req.passcode.zeroize();
                r?
            }
            Some(state) => {
                let mut req = VerifyRequest {
                    attempt_id: state.clone(),
                    response: creds.password.clone(),
                    client_address: creds.client_address.clone(),
                };
                let r = self.authn.verify(&caller, &req).await;
                req.response.zeroize();
                r?
            }
        };
        Ok(reply_for(request.identifier, &answer))
    }
}

/// Reads user, password, State and Calling-Station-Id; `None` without a usable User-Password.
fn credentials(client: &RadiusClient, p: &Packet) -> Option<Credentials> {
    let hidden = p.first(attr::USER_PASSWORD)?;
    let password = unhide_password(hidden, client.secret.expose(), &p.authenticator).ok()?;
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    Some(Credentials {
        user: p.first(attr::USER_NAME).map(text).unwrap_or_default(),
        // Not UTF-8 (or decoded with the wrong secret): kept as a string that cannot match,
        // so the attempt is still audited and counted like any wrong passcode.
        password: String::from_utf8_lossy(password.expose()).into_owned(),
        state: p.first(attr::STATE).map(text),
        client_address: p.first(attr::CALLING_STATION_ID).map(|v| {
            text(v)
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_CLIENT_ADDRESS)
                .collect()
        }),
    })
}

/// The reply packet (unsigned) for an engine answer.
fn reply_for(identifier: u8, answer: &AuthnResponse) -> (Outcome, Packet) {
    let (outcome, code) = match (answer.result, &answer.attempt_id) {
        (AuthnResult::Success, _) => (Outcome::Accept, Code::ACCESS_ACCEPT),
        (AuthnResult::Challenge, Some(_)) => (Outcome::Challenge, Code::ACCESS_CHALLENGE),
        // A challenge without an attempt cannot be answered: refuse rather than mislead.
        (AuthnResult::Challenge, None) | (AuthnResult::Fail, _) => {
            (Outcome::Reject, Code::ACCESS_REJECT)
        }
    };
    let mut reply = Packet::new(code, identifier, [0; 16]);
    if outcome == Outcome::Challenge {
        if let Some(id) = &answer.attempt_id {
            reply.push(attr::STATE, id.as_bytes());
        }
        let prompt = answer
            .challenge
            .as_ref()
            .map_or(answer.message.as_str(), |c| c.prompt.as_str());
        reply.push_text(attr::REPLY_MESSAGE, prompt, MAX_REPLY_MESSAGES);
    } else if outcome == Outcome::Reject {
        reply.push_text(
            attr::REPLY_MESSAGE,
            &AuthnResponse::fail().message,
            MAX_REPLY_MESSAGES,
        );
    } else {
        reply.push_text(attr::REPLY_MESSAGE, &answer.message, MAX_REPLY_MESSAGES);
    }
    (outcome, reply)
}

#[cfg(test)]
mod tests;
