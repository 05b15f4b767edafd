//! Messaging providers set by an administrator (`/api/v1/admin/messaging/providers`), the
//! way the binary wires them: the stored list replaces the file's, the messenger picks up a
//! change at the next send, credentials are sealed with the master key (and re-sealed by a
//! rotation), never shown, and kept when an update leaves them out. A Twilio-shaped receiver
//! on 127.0.0.1 records the exact request an SMS started through the cloud API produces.

use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use latchkey_core::admin::AdminService;
use latchkey_core::delivery::SendLimits;
use latchkey_core::messaging_config::{ProviderStore, provider_aad};
use latchkey_core::ports::{Clock, Delivery, Messenger, PhoneMessage};
use latchkey_core::store::{SealedKind, Store};
use latchkey_messaging::{MessagingConfig, ProviderConfig, ReloadingMessenger, StoredCodec};
use latchkey_store::SqlStore;
use serde_json::{Value, json};

use crate::authn::{Fx, assert_success, create_agent};
use crate::common::{App, Options, RecordingPersistence, Resp, app_with_options};

const PATH: &str = "/api/v1/admin/messaging/providers";
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tw-token-5f3a9";
/// `Basic base64(SID:TOKEN)`, computed independently (`printf %s "$SID:$TOKEN" | base64`).
const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dy10b2tlbi01ZjNhOQ==";
const PHONE: &str = "+14155550123";

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// A Twilio stand-in on 127.0.0.1:0 that records every request and answers 201.
struct Receiver {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn record(
    State(seen): State<Arc<Mutex<Vec<Seen>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        target: uri.path_and_query().map(ToString::to_string).unwrap(),
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    (
        StatusCode::CREATED,
        r#"{"sid":"SM5ad9f1c2","status":"queued"}"#,
    )
}

impl Receiver {
    async fn start() -> Self {
        let seen = Arc::<Mutex<Vec<Seen>>>::default();
        let app = Router::new().fallback(record).with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// The messenger is built on the admin service, which the harness builds: bound once the
/// application exists.
#[derive(Default)]
struct Late(OnceLock<Arc<dyn Messenger>>);

#[async_trait]
impl Messenger for Late {
    async fn deliver(&self, m: &PhoneMessage) -> Delivery {
        self.0.get().unwrap().deliver(m).await
    }
}

pub(crate) fn with_providers(a: AdminService, store: &Arc<SqlStore>) -> AdminService {
    a.with_messaging_providers(
        Arc::clone(store) as Arc<dyn ProviderStore>,
        Arc::new(StoredCodec::new(vec![ProviderConfig::default_outbox()])),
    )
}

/// Alice (token T1, phone +14155550123), a cloud application, the providers API, and the
/// messenger the binary uses, over the file's default list (the log-only outbox).
struct Fixture {
    fx: Fx,
    cloud_key: String,
}

async fn fixture_with(persistence: bool) -> Fixture {
    let late = Arc::new(Late::default());
    let app = app_with_options(Options {
        messaging: Some((late.clone() as Arc<dyn Messenger>, SendLimits::default())),
        configure_admin: Some(with_providers),
        persistence: persistence.then(|| Arc::new(RecordingPersistence::default()) as Arc<_>),
        ..Options::default()
    })
    .await;
    let config = MessagingConfig {
        retry_backoff_ms: 0,
        ..MessagingConfig::default()
    };
    let messenger = ReloadingMessenger::new(
        app.admin.clone(),
        &config,
        &[ProviderConfig::default_outbox()],
        app.clock.clone() as Arc<dyn Clock>,
    )
    .unwrap();
    assert!(late.0.set(Arc::new(messenger)).is_ok());
    let fx = Fx::on(app).await;
    fx.app
        .root(
            "PATCH",
            "/api/v1/admin/users/alice",
            Some(json!({"phones": [{"number": PHONE}]})),
        )
        .await
        .expect(200);
    let cloud_key = create_agent(&fx.app, "portal", "cloud-app").await;
    Fixture { fx, cloud_key }
}

async fn fixture() -> Fixture {
    fixture_with(false).await
}

fn twilio(rx: &Receiver, token: Option<&str>) -> Value {
    let mut settings = json!({
        "type": "twilio", "account_sid": SID, "from": "+15005550006", "api_base": rx.base,
    });
    if let Some(t) = token {
        settings["auth_token"] = json!(t);
    }
    json!({"name": "twilio-main", "settings": settings})
}

impl Fixture {
    fn app(&self) -> &App {
        &self.fx.app
    }

    async fn put(&self, providers: Value) -> Resp {
        self.app()
            .root("PUT", PATH, Some(json!({"providers": providers})))
            .await
    }

    async fn get(&self) -> Value {
        self.app().root("GET", PATH, None).await.expect(200)
    }

    /// Starts an SMS login for alice; the challenge.
    async fn start_sms(&self) -> Value {
        let r = self
            .fx
            .agent_call(
                Some(&self.cloud_key),
                "/api/v1/cloud/start",
                &json!({"user": "alice", "method": "sms"}),
                None,
            )
            .await;
        let v = r.expect(200);
        assert_eq!(v["challenge"]["kind"], "sms_code", "{v}");
        v
    }

    async fn verify(&self, challenge: &Value, code: &str) -> Resp {
        self.fx
            .agent_call(
                Some(&self.cloud_key),
                "/api/v1/cloud/verify",
                &json!({"attempt_id": challenge["attempt_id"], "response": code}),
                None,
            )
            .await
    }

    /// The stored sealed credentials of the one provider that has some.
    async fn sealed(&self) -> Vec<u8> {
        let items: Vec<_> = self
            .app()
            .store
            .list_sealed()
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.kind == SealedKind::MessagingProvider)
            .collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].aad, provider_aad("twilio-main"));
        items[0].sealed.clone()
    }

    /// The credentials as the server opens them.
    fn open(&self, sealed: &[u8]) -> Value {
        let plain = self
            .app()
            .admin
            .open(sealed, &provider_aad("twilio-main"))
            .unwrap();
        serde_json::from_slice(plain.expose()).unwrap()
    }
}

/// The code inside a Twilio SMS form body (`…&Body=Your+Latchkey+code+is+NNNNNN.+…`).
fn code_of(body: &str) -> String {
    let (_, rest) = body.split_once("code+is+").unwrap();
    rest.chars().take_while(char::is_ascii_digit).collect()
}

#[tokio::test]
async fn a_twilio_provider_set_by_the_api_sends_with_the_sealed_token() {
    let f = fixture().await;
    let rx = Receiver::start().await;

    // A fresh install: the file's list (the outbox) is in use.
    let before = f.get().await;
    assert_eq!(before["source"], "file");
    assert_eq!(before["version"], Value::Null);
    assert_eq!(before["providers"][0]["name"], "outbox");
    assert_eq!(before["providers"][0]["settings"]["type"], "outbox");
    // An SMS now goes to the outbox, not to the receiver.
    f.start_sms().await;
    assert!(rx.seen().is_empty());

    let r = f.put(json!([twilio(&rx, Some(TOKEN))])).await;
    let v = r.expect(200);
    assert!(!r.body.contains(TOKEN), "{}", r.body);
    assert_eq!(v["source"], "database");
    assert_eq!(v["version"], 1);
    assert_eq!(v["providers"][0]["settings"]["auth_token"], "set");
    assert_eq!(v["providers"][0]["settings"]["account_sid"], SID);
    let listed = f.app().root("GET", PATH, None).await;
    assert!(!listed.body.contains(TOKEN));
    assert_eq!(listed.json(), v);

    // Sealed at rest, bound to the provider's name; opens to the token.
    let sealed = f.sealed().await;
    assert!(!sealed.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
    assert_eq!(f.open(&sealed), json!({"auth_token": TOKEN}));
    assert!(
        f.app()
            .admin
            .open(&sealed, &provider_aad("another-name"))
            .is_err()
    );

    // The next SMS (after the resend cool-down) goes through Twilio, byte for byte.
    f.app().clock.advance(31);
    let ch = f.start_sms().await;
    let seen = rx.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.target,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(r.header("authorization"), BASIC);
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let code = code_of(&r.body);
    assert_eq!(
        r.body,
        format!(
            "To=%2B14155550123&From=%2B15005550006\
             &Body=Your+Latchkey+code+is+{code}.+It+expires+in+5+minutes."
        )
    );
    assert_success(&f.verify(&ch, &code).await);

    // The delivery record names the stored provider; the change is audited without secrets.
    let sent = f
        .app()
        .root("GET", "/api/v1/admin/deliveries?user=alice", None)
        .await
        .expect(200);
    assert_eq!(sent[0]["attempts"][0]["provider"], "twilio-main");
    let log = f.app().root("GET", "/api/v1/admin/audit", None).await.body;
    assert!(log.contains("messaging.providers.set"));
    assert!(log.contains("twilio-main"));
    assert!(!log.contains(TOKEN));
}

#[tokio::test]
async fn bad_lists_and_lesser_admins_change_nothing_and_send_nothing() {
    let f = fixture().await;
    let rx = Receiver::start().await;
    f.put(json!([twilio(&rx, Some(TOKEN))])).await.expect(200);
    let stored = f.get().await;
    let sealed = f.sealed().await;
    let seq = f.app().audit_seq().await;

    let generic = |url: &str, body: &str| {
        json!({"name": "gw", "settings": {
            "type": "generic_http", "url": url, "body_template": body,
            "headers": {"Authorization": "Bearer gw-secret-1"},
        }})
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad URL",
            json!([generic(
                "ftp://sms.example.org/send",
                r#"{"to":"{to}","text":"{text}"}"#
            )]),
            "url",
        ),
        (
            "bad template",
            json!([generic(
                "https://sms.example.org/send",
                r#"{"to":"{to}","text":"{Code}"}"#
            )]),
            "body_template",
        ),
        (
            "unknown kind",
            json!([{"name": "pigeon", "settings": {"type": "carrier_pigeon", "loft": "roof"}}]),
            "carrier_pigeon",
        ),
        (
            "duplicate names",
            json!([twilio(&rx, Some(TOKEN)), twilio(&rx, Some(TOKEN))]),
            "unique",
        ),
        (
            "unknown field",
            json!([{"name": "ob", "settings": {"type": "outbox", "colour": "red"}}]),
            "colour",
        ),
        (
            "bad name",
            json!([{"name": "no spaces please", "settings": {"type": "outbox"}}]),
            "name",
        ),
        ("not an object", json!(["twilio"]), "providers[0]"),
        (
            "outbox aimed at another file",
            json!([{"name": "ob", "settings": {"type": "outbox", "file": "/etc/passwd"}}]),
            "providers[0].settings.file",
        ),
        (
            "outbox file relative to the working directory",
            json!([{"name": "ob", "settings": {"type": "outbox", "file": "latchkey.db"}}]),
            "providers[0].settings.file",
        ),
        (
            "new provider without its secret",
            json!([{"name": "kannel", "settings": {"type": "kannel",
                "url": "http://127.0.0.1:13013/cgi-bin/sendsms", "username": "lk"}}]),
            "password",
        ),
    ];
    for (what, list, mentions) in cases {
        let r = f.put(list).await;
        let e = r.expect_error(400, "invalid_request");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{what}: {message}");
        assert!(
            !r.body.contains("gw-secret-1") && !r.body.contains(TOKEN),
            "{what}"
        );
    }
    // The whole body must be {"providers": [...]}.
    f.app()
        .root("PUT", PATH, Some(json!({"providers": [], "extra": 1})))
        .await
        .expect_error(400, "invalid_request");

    // A domain administrator may neither read nor change the providers.
    let carol = f
        .app()
        .root(
            "POST",
            "/api/v1/admin/admins",
            Some(json!({"name": "carol", "role": "domain-admin"})),
        )
        .await
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let seq_after_carol = f.app().audit_seq().await;
    assert_eq!(seq_after_carol, seq + 1);
    f.app()
        .call("GET", PATH, Some(&carol), None)
        .await
        .expect_error(403, "forbidden");
    f.app()
        .call(
            "PUT",
            PATH,
            Some(&carol),
            Some(json!({"providers": [{"name": "ob", "settings": {"type": "outbox"}}]})),
        )
        .await
        .expect_error(403, "forbidden");
    f.app()
        .call("GET", PATH, None, None)
        .await
        .expect_error(401, "unauthenticated");

    // Nothing changed, nothing was sent, nothing was audited.
    assert_eq!(f.get().await, stored);
    assert_eq!(f.sealed().await, sealed);
    assert_eq!(f.app().audit_seq().await, seq_after_carol);
    assert!(rx.seen().is_empty());
}

#[tokio::test]
async fn an_omitted_secret_is_kept_and_rotation_reseals_it() {
    let f = fixture_with(true).await;
    let rx = Receiver::start().await;
    f.put(json!([twilio(&rx, Some(TOKEN))])).await.expect(200);
    let first = f.sealed().await;

    // Omitted, null and "set" keep the stored token; the rest of the settings change.
    for token in [None, Some(Value::Null), Some(json!("set"))] {
        let mut p = twilio(&rx, None);
        p["settings"]["from"] = json!("+15005550007");
        if let Some(t) = token {
            p["settings"]["auth_token"] = t;
        }
        let v = f.put(json!([p])).await.expect(200);
        assert_eq!(v["providers"][0]["settings"]["auth_token"], "set");
        assert_eq!(v["providers"][0]["settings"]["from"], "+15005550007");
        assert_eq!(f.open(&f.sealed().await), json!({"auth_token": TOKEN}));
    }
    assert_eq!(f.get().await["version"], 4);

    // The token in use is the kept one.
    let ch = f.start_sms().await;
    let seen = rx.seen();
    assert_eq!(seen.last().unwrap().header("authorization"), BASIC);
    assert!(seen.last().unwrap().body.contains("From=%2B15005550007"));
    assert_success(&f.verify(&ch, &code_of(&seen.last().unwrap().body)).await);

    // Rotation re-seals the credentials: other ciphertext, same token.
    let before = f.sealed().await;
    assert_ne!(before, first, "every write seals afresh");
    let rot = f
        .app()
        .root("POST", "/api/v1/admin/keys/rotate", None)
        .await
        .expect(200);
    assert!(rot["resealed"].as_u64().unwrap() >= 1);
    let after = f.sealed().await;
    assert_ne!(after, before);
    // The key id (bytes 1..9 of the sealed format) is the new key's.
    assert_eq!(super_hex(&after[1..9]), rot["key_id"].as_str().unwrap());
    assert_eq!(f.open(&after), json!({"auth_token": TOKEN}));
    let loaded = f.app().admin.load_messaging_providers().await.unwrap();
    assert_eq!(loaded.unwrap().1.len(), 1);

    // A new token replaces the old one.
    f.put(json!([twilio(&rx, Some("tw-token-new"))]))
        .await
        .expect(200);
    assert_eq!(
        f.open(&f.sealed().await),
        json!({"auth_token": "tw-token-new"})
    );
    f.app().clock.advance(31);
    f.start_sms().await;
    assert_ne!(rx.seen().last().unwrap().header("authorization"), BASIC);
}

fn super_hex(b: &[u8]) -> String {
    crate::common::hex(b)
}

#[tokio::test]
async fn the_messenger_follows_the_stored_list_at_the_next_send() {
    let f = fixture().await;
    let rx1 = Receiver::start().await;
    let rx2 = Receiver::start().await;
    f.put(json!([twilio(&rx1, Some(TOKEN))])).await.expect(200);
    f.start_sms().await;
    assert_eq!(rx1.seen().len(), 1);

    // Replaced by another list: the very next send uses it, no restart.
    f.put(json!([twilio(&rx2, Some(TOKEN))])).await.expect(200);
    f.app().clock.advance(31);
    f.start_sms().await;
    assert_eq!(rx1.seen().len(), 1);
    assert_eq!(rx2.seen().len(), 1);

    // Order is kept: the first provider that serves SMS delivers.
    let mut voice_only = twilio(&rx1, Some(TOKEN));
    voice_only["name"] = json!("voice-only");
    voice_only["settings"]["sms"] = json!(false);
    voice_only["settings"]["voice"] = json!(true);
    let v = f
        .put(json!([voice_only, twilio(&rx2, Some(TOKEN))]))
        .await
        .expect(200);
    let names: Vec<&str> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["voice-only", "twilio-main"]);
    f.app().clock.advance(31);
    f.start_sms().await;
    assert_eq!(rx1.seen().len(), 1);
    assert_eq!(rx2.seen().len(), 2);

    // DELETE: the file's list (the outbox) applies again, from the next send; audited once.
    let seq = f.app().audit_seq().await;
    f.app().root("DELETE", PATH, None).await.expect(204);
    assert_eq!(f.app().audit_seq().await, seq + 1);
    let v = f.get().await;
    assert_eq!(v["source"], "file");
    assert_eq!(v["providers"][0]["name"], "outbox");
    assert!(
        f.app()
            .store
            .list_sealed()
            .await
            .unwrap()
            .iter()
            .all(|i| i.kind != SealedKind::MessagingProvider)
    );
    f.app().clock.advance(31);
    f.start_sms().await;
    assert_eq!(rx2.seen().len(), 2);
    // Again: nothing to remove, nothing recorded.
    let seq = f.app().audit_seq().await;
    f.app().root("DELETE", PATH, None).await.expect(204);
    assert_eq!(f.app().audit_seq().await, seq);

    // Set again: versions are never reused, so the messenger cannot mistake the new list for
    // one it built before.
    let v = f.put(json!([twilio(&rx1, Some(TOKEN))])).await.expect(200);
    assert_eq!(v["version"], 5);
    f.app().clock.advance(31);
    f.start_sms().await;
    assert_eq!(rx1.seen().len(), 2);
}
