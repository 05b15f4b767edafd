//! The handler against the real engine on a fresh SQLite database and a fake clock that the
//! tests move (never sleep): the mapping onto initialize/verify, the Message-Authenticator
//! policy, the client table and its refresh, duplicate detection, and what is dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use latchkey_core::admin::AdminService;
use latchkey_core::authn::AuthnService;
use latchkey_core::authn::store::AuthnStore;
use latchkey_core::authz::Actor;
use latchkey_core::ports::{Clock, EntropyRng, FakeClock, OsEntropy};
use latchkey_crypto::base32::encode_base32;
use latchkey_crypto::otp::{OtpAlgorithm, totp};
use latchkey_crypto::seal::{Keyring, MasterKey};
use latchkey_store::SqlStore;
use serde_json::json;

use super::*;
use crate::codec::hide_password;

const SEED: &[u8; 20] = b"12345678901234567890";
const PIN: &str = "4821";
const NAS_SECRET: &str = "nas-secret-0123456789";
const LEGACY_SECRET: &str = "legacy-secret-0123";
const HOST_SECRET: &str = "host-secret-0123456";
/// 20 s into a 30 s step.
const START: i64 = 1_700_000_000;

struct Fx {
    handler: Handler,
    admin: Arc<AdminService>,
    actor: Actor,
    clock: Arc<FakeClock>,
    _dir: tempfile::TempDir,
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn nas() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

async fn fx() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/db.sqlite", dir.path().display());
    let store = Arc::new(SqlStore::connect(&url).await.unwrap());
    let keyring = Keyring::new(MasterKey::generate(&mut EntropyRng(&OsEntropy)));
    let clock = FakeClock::at(START);
    let admin = Arc::new(
        AdminService::new(
            store.clone(),
            clock.clone(),
            Arc::new(OsEntropy),
            keyring,
            None,
        )
        .await
        .unwrap(),
    );
    let first = admin.bootstrap("admin").await.unwrap().unwrap();
    let actor = admin
        .authenticate(first.token.expose(), None)
        .await
        .unwrap();
    admin
        .create_user(&actor, from_json(json!({"login": "alice"})))
        .await
        .unwrap();
    admin
        .import_token(
            &actor,
            from_json(json!({"serial": "T1", "user": "alice", "type": "totp", "secret": encode_base32(SEED)})),
        )
        .await
        .unwrap();
    admin.set_pin(&actor, "T1", PIN).await.unwrap();
    for (name, address, secret, ma) in [
        ("nas", "127.0.0.1/32", NAS_SECRET, true),
        ("legacy", "10.0.0.0/8", LEGACY_SECRET, false),
        ("host", "10.1.2.3", HOST_SECRET, true),
    ] {
        admin
            .create_agent(
                &actor,
                from_json(json!({"name": name, "kind": "radius", "address": address,
                                 "secret": secret, "require_message_authenticator": ma})),
            )
            .await
            .unwrap();
    }
    let authn = Arc::new(AuthnService::new(
        store.clone() as Arc<dyn AuthnStore>,
        admin.clone(),
        clock.clone(),
        Arc::new(OsEntropy),
    ));
    let handler = Handler::new(admin.clone(), authn, clock.clone())
        .await
        .unwrap();
    Fx {
        handler,
        admin,
        actor,
        clock,
        _dir: dir,
    }
}

/// What a test request carries.
struct Req<'a> {
    user: &'a str,
    password: &'a str,
    state: Option<Vec<u8>>,
    secret: &'a str,
    message_authenticator: bool,
    extra: Vec<(u8, Vec<u8>)>,
}

impl<'a> Req<'a> {
    fn new(user: &'a str, password: &'a str, secret: &'a str) -> Self {
        Self {
            user,
            password,
            state: None,
            secret,
            message_authenticator: true,
            extra: Vec::new(),
        }
    }

    /// The datagram and its Request Authenticator.
    fn build(&self, id: u8) -> (Vec<u8>, [u8; 16]) {
        let ra: [u8; 16] = rand::random();
        let mut p = Packet::new(Code::ACCESS_REQUEST, id, ra);
        p.push(attr::USER_NAME, self.user.as_bytes());
        p.push(
            attr::USER_PASSWORD,
            hide_password(self.password.as_bytes(), self.secret.as_bytes(), &ra).unwrap(),
        );
        if let Some(s) = &self.state {
            p.push(attr::STATE, s.clone());
        }
        for (k, v) in &self.extra {
            p.push(*k, v.clone());
        }
        if self.message_authenticator {
            p.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
        }
        (p.sign_request(self.secret.as_bytes()).unwrap(), ra)
    }
}

impl Fx {
    fn code(&self, steps: i64) -> String {
        totp(
            SEED,
            self.clock.now() + steps * 30,
            30,
            6,
            OtpAlgorithm::Sha1,
        )
        .unwrap()
    }

    /// Sends `req` from `from`; the verified reply, or `None` when dropped.
    async fn send(&self, from: SocketAddr, req: &Req<'_>) -> Option<Packet> {
        let (bytes, ra) = req.build(rand::random());
        let reply = self.handler.handle(from, &bytes).await?;
        Some(Packet::verify_reply(&reply, &ra, req.secret.as_bytes(), true).unwrap())
    }

    async fn audit(&self) -> Vec<latchkey_proto::admin::AuditRecordView> {
        self.admin
            .list_audit(&self.actor, 0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "authn")
            .collect()
    }
}

fn text(p: &Packet, kind: u8) -> String {
    String::from_utf8(p.all(kind).flatten().copied().collect()).unwrap()
}

#[tokio::test]
async fn pap_accept_reject_and_replay() {
    let fx = fx().await;
    let good = format!("{PIN}{}", fx.code(0));
    let r = fx
        .send(nas(), &Req::new("alice", &good, NAS_SECRET))
        .await
        .unwrap();
    assert_eq!(r.code, Code::ACCESS_ACCEPT);
    assert_eq!(r.attributes[0].kind, attr::MESSAGE_AUTHENTICATOR);
    assert_eq!(text(&r, attr::REPLY_MESSAGE), "Authenticated");
    // The same passcode in a new request: a replay.
    let r = fx
        .send(nas(), &Req::new("alice", &good, NAS_SECRET))
        .await
        .unwrap();
    assert_eq!(r.code, Code::ACCESS_REJECT);
    assert_eq!(text(&r, attr::REPLY_MESSAGE), "Access denied");
    let wrong = format!("{PIN}000000");
    let r = fx
        .send(nas(), &Req::new("alice", &wrong, NAS_SECRET))
        .await
        .unwrap();
    assert_eq!(r.code, Code::ACCESS_REJECT);
    let outcomes: Vec<String> = fx.audit().await.into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        ["success", "fail:passcode_reuse", "fail:wrong_tokencode"]
    );
    let s = fx.handler.stats().snapshot();
    assert_eq!((s.accepts, s.rejects, s.dropped()), (1, 2, 0));
}

#[tokio::test]
async fn audit_names_the_radius_agent_and_addresses() {
    let fx = fx().await;
    let mut req = Req::new("alice", "nope", NAS_SECRET);
    req.extra
        .push((attr::CALLING_STATION_ID, b"198.51.100.7\n".to_vec()));
    fx.send(nas(), &req).await.unwrap();
    let rec = fx.audit().await.pop().unwrap();
    assert_eq!(rec.actor, "agent:nas");
    assert_eq!(rec.source.as_deref(), Some("127.0.0.1"));
    assert_eq!(rec.detail["client"], "198.51.100.7");
    assert!(!rec.detail.to_string().contains("nope"));
}

#[tokio::test]
async fn message_authenticator_policy() {
    let fx = fx().await;
    let legacy = SocketAddr::from(([10, 9, 9, 9], 1812));
    // Required by the client: absent is dropped, wrong is dropped.
    let mut no_ma = Req::new("alice", "x", NAS_SECRET);
    no_ma.message_authenticator = false;
    assert!(fx.send(nas(), &no_ma).await.is_none());
    let (mut bytes, _) = Req::new("alice", "x", NAS_SECRET).build(1);
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    assert!(fx.handler.handle(nas(), &bytes).await.is_none());
    // Not required: absent is answered, wrong is still dropped, right is answered.
    let mut no_ma = Req::new("alice", "x", LEGACY_SECRET);
    no_ma.message_authenticator = false;
    assert_eq!(
        fx.send(legacy, &no_ma).await.unwrap().code,
        Code::ACCESS_REJECT
    );
    let (mut bytes, _) = Req::new("alice", "x", LEGACY_SECRET).build(2);
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    assert!(fx.handler.handle(legacy, &bytes).await.is_none());
    assert!(
        fx.send(legacy, &Req::new("alice", "x", LEGACY_SECRET))
            .await
            .is_some()
    );
    // A wrong shared secret: dropped (the Message-Authenticator gives it away).
    assert!(
        fx.send(nas(), &Req::new("alice", "x", "another-secret-1"))
            .await
            .is_none()
    );
    let s = fx.handler.stats().snapshot();
    assert_eq!(s.missing_authenticator, 1);
    assert_eq!(s.bad_authenticator, 3);
    assert_eq!(s.rejects, 2);
    // Dropped packets leave no audit record and count no failure.
    assert_eq!(fx.audit().await.len(), 2);
}

#[tokio::test]
async fn status_server_needs_a_message_authenticator() {
    let fx = fx().await;
    let ra: [u8; 16] = rand::random();
    let mut p = Packet::new(Code::STATUS_SERVER, 7, ra);
    p.push(attr::PROXY_STATE, &b"ps1"[..]);
    let bare = p.clone().sign_request(NAS_SECRET.as_bytes()).unwrap();
    assert!(fx.handler.handle(nas(), &bare).await.is_none());
    p.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
    let signed = p.sign_request(NAS_SECRET.as_bytes()).unwrap();
    let reply = fx.handler.handle(nas(), &signed).await.unwrap();
    let r = Packet::verify_reply(&reply, &ra, NAS_SECRET.as_bytes(), true).unwrap();
    assert_eq!(r.code, Code::ACCESS_ACCEPT);
    assert_eq!(r.identifier, 7);
    assert_eq!(r.first(attr::PROXY_STATE), Some(&b"ps1"[..]));
    // Answered afresh every time, never from (or into) the duplicate cache.
    assert!(fx.handler.handle(nas(), &signed).await.is_some());
    let s = fx.handler.stats().snapshot();
    assert_eq!((s.accepts, s.duplicate_answered), (2, 0));
    assert!(fx.handler.dedup.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_most_specific_network_wins() {
    let fx = fx().await;
    let host = SocketAddr::from(([10, 1, 2, 3], 5000));
    // 10.1.2.3 is inside legacy's 10.0.0.0/8 but has its own /32 client, which requires a
    // Message-Authenticator and has its own secret.
    let mut no_ma = Req::new("alice", "x", LEGACY_SECRET);
    no_ma.message_authenticator = false;
    assert!(fx.send(host, &no_ma).await.is_none());
    assert!(
        fx.send(host, &Req::new("alice", "x", LEGACY_SECRET))
            .await
            .is_none()
    );
    let r = fx
        .send(host, &Req::new("alice", "x", HOST_SECRET))
        .await
        .unwrap();
    assert_eq!(r.code, Code::ACCESS_REJECT);
    assert_eq!(fx.audit().await.pop().unwrap().actor, "agent:host");
    // An IPv4-mapped IPv6 source is the IPv4 client.
    let mapped: SocketAddr = "[::ffff:10.1.2.3]:5000".parse().unwrap();
    assert!(
        fx.send(mapped, &Req::new("alice", "x", HOST_SECRET))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn client_table_follows_agents_with_a_rate_limited_reload() {
    let fx = fx().await;
    let new = SocketAddr::from(([192, 0, 2, 5], 1645));
    let req = Req::new("alice", "x", "new-client-secret");
    assert!(fx.send(new, &req).await.is_none());
    assert_eq!(fx.handler.stats().snapshot().unknown_client, 1);
    // Added: picked up at its first packet, after the miss reload's second has passed.
    fx.admin
        .create_agent(
            &fx.actor,
            from_json(
                json!({"name": "vpn2", "kind": "radius", "address": "192.0.2.0/24",
                             "secret": "new-client-secret"}),
            ),
        )
        .await
        .unwrap();
    assert!(
        fx.send(new, &req).await.is_none(),
        "a second miss reload within one second"
    );
    fx.clock.advance(1);
    assert!(fx.send(new, &req).await.is_some());
    // Deleted: still served until the periodic reload, then dropped.
    fx.admin.delete_agent(&fx.actor, "vpn2").await.unwrap();
    fx.clock.advance(30);
    assert!(fx.send(new, &req).await.is_some());
    fx.clock.advance(30);
    assert!(fx.send(new, &req).await.is_none());
    // A replaced secret works at once: the failed Message-Authenticator reloads the table.
    fx.admin.delete_agent(&fx.actor, "nas").await.unwrap();
    fx.admin
        .create_agent(
            &fx.actor,
            from_json(
                json!({"name": "nas", "kind": "radius", "address": "127.0.0.1",
                             "secret": "replaced-secret-99"}),
            ),
        )
        .await
        .unwrap();
    fx.clock.advance(1);
    assert!(
        fx.send(nas(), &Req::new("alice", "x", "replaced-secret-99"))
            .await
            .is_some()
    );
    assert!(
        fx.send(nas(), &Req::new("alice", "x", NAS_SECRET))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn duplicates_get_the_cached_reply_without_a_second_authentication() {
    let fx = fx().await;
    let good = format!("{PIN}{}", fx.code(0));
    let (bytes, ra) = Req::new("alice", &good, NAS_SECRET).build(42);
    let first = fx.handler.handle(nas(), &bytes).await.unwrap();
    let again = fx.handler.handle(nas(), &bytes).await.unwrap();
    assert_eq!(first, again);
    let r = Packet::verify_reply(&again, &ra, NAS_SECRET.as_bytes(), true).unwrap();
    assert_eq!(r.code, Code::ACCESS_ACCEPT);
    assert_eq!(fx.audit().await.len(), 1, "authenticated twice");
    assert_eq!(fx.handler.stats().snapshot().duplicate_answered, 1);
    // From another source port it is another request: the passcode is used up.
    let other = SocketAddr::from(([127, 0, 0, 1], 40001));
    let reply = fx.handler.handle(other, &bytes).await.unwrap();
    let r = Packet::verify_reply(&reply, &ra, NAS_SECRET.as_bytes(), true).unwrap();
    assert_eq!(r.code, Code::ACCESS_REJECT);
    // After the cache's lifetime the same datagram is handled afresh.
    fx.clock.advance(crate::dedup::DEFAULT_TTL_SECS);
    let reply = fx.handler.handle(nas(), &bytes).await.unwrap();
    let r = Packet::verify_reply(&reply, &ra, NAS_SECRET.as_bytes(), true).unwrap();
    assert_eq!(r.code, Code::ACCESS_REJECT);
    assert_eq!(fx.audit().await.len(), 3);
}

#[tokio::test]
async fn new_pin_challenge_flow_over_state() {
    let fx = fx().await;
    fx.admin
        .require_new_pin(&fx.actor, "T1", true)
        .await
        .unwrap();
    let code = fx.code(0);
    let mut req = Req::new("alice", &code, NAS_SECRET);
    req.extra.push((attr::PROXY_STATE, b"hop".to_vec()));
    let r = fx.send(nas(), &req).await.unwrap();
    assert_eq!(r.code, Code::ACCESS_CHALLENGE);
    assert!(text(&r, attr::REPLY_MESSAGE).to_lowercase().contains("pin"));
    assert_eq!(r.first(attr::PROXY_STATE), Some(&b"hop"[..]));
    let mut state = r.first(attr::STATE).unwrap().to_vec();
    for answer in ["97531", "97531"] {
        let mut req = Req::new("alice", answer, NAS_SECRET);
        req.state = Some(state.clone());
        let r = fx.send(nas(), &req).await.unwrap();
        assert_eq!(
            r.code,
            Code::ACCESS_CHALLENGE,
            "{}",
            text(&r, attr::REPLY_MESSAGE)
        );
        state = r.first(attr::STATE).unwrap().to_vec();
    }
    fx.clock.advance(30);
    let next = format!("97531{}", fx.code(0));
    let mut req = Req::new("alice", &next, NAS_SECRET);
    req.state = Some(state.clone());
    let r = fx.send(nas(), &req).await.unwrap();
    assert_eq!(r.code, Code::ACCESS_ACCEPT);
    // The State is used up.
    let mut req = Req::new("alice", &next, NAS_SECRET);
    req.state = Some(state);
    assert_eq!(
        fx.send(nas(), &req).await.unwrap().code,
        Code::ACCESS_REJECT
    );
}

#[tokio::test]
async fn what_is_dropped_and_what_is_rejected() {
    let fx = fx().await;
    for junk in [
        &b""[..],
        &[1u8; 19][..],
        &[1, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
        &[
            1, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2,
        ][..],
        &[
            1, 0, 0, 23, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9, 1,
        ][..],
    ] {
        assert!(fx.handler.handle(nas(), junk).await.is_none());
    }
    // Accounting on the authentication port, and replies: dropped.
    let mut acct = Packet::new(Code::ACCOUNTING_REQUEST, 1, [0; 16]);
    acct.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
    let acct = acct.sign_request(NAS_SECRET.as_bytes()).unwrap();
    assert!(fx.handler.handle(nas(), &acct).await.is_none());
    // CHAP (no User-Password): rejected, not dropped, and the engine is not asked.
    let ra: [u8; 16] = rand::random();
    let mut chap = Packet::new(Code::ACCESS_REQUEST, 3, ra);
    chap.push(attr::USER_NAME, &b"alice"[..]);
    chap.push(attr::CHAP_PASSWORD, vec![1; 17]);
    chap.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
    let chap = chap.sign_request(NAS_SECRET.as_bytes()).unwrap();
    let reply = fx.handler.handle(nas(), &chap).await.unwrap();
    let r = Packet::verify_reply(&reply, &ra, NAS_SECRET.as_bytes(), true).unwrap();
    assert_eq!(r.code, Code::ACCESS_REJECT);
    // Unknown attribute types are ignored (RFC 2865 §5), the request answered.
    let good = format!("{PIN}{}", fx.code(0));
    let mut req = Req::new("alice", &good, NAS_SECRET);
    req.extra.push((250, b"unassigned".to_vec()));
    req.extra.push((26, vec![0, 0, 0, 9, 1, 3, b'x']));
    assert_eq!(
        fx.send(nas(), &req).await.unwrap().code,
        Code::ACCESS_ACCEPT
    );
    let s = fx.handler.stats().snapshot();
    assert_eq!(s.malformed, 5);
    assert_eq!(s.unsupported_code, 1);
    assert_eq!((s.rejects, s.accepts), (1, 1));
    assert_eq!(s.received, 8);
    assert_eq!(fx.audit().await.len(), 1);
}
