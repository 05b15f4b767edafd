//! Shared test harness: a router over a fresh SQLite database in a temporary directory, built
//! the way the binary builds it, driven in-process with `tower::ServiceExt::oneshot`.

#![allow(dead_code)] // each test module uses a different part

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use latchkey_core::admin::{AdminService, KeyPersistence};
use latchkey_core::authn::store::AuthnStore;
use latchkey_core::authn::{AuthnService, PhoneCodeSettings};
use latchkey_core::delivery::SendLimits;
use latchkey_core::emergency::EacSettings;
use latchkey_core::ports::{EntropyRng, FakeClock, Messenger, OsEntropy};
use latchkey_core::store::Store;
use latchkey_crypto::seal::{Keyring, MasterKey};
use latchkey_store::SqlStore;
use latchkey_web::AppState;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A running application and what a test needs to look behind it.
pub struct App {
    pub router: Router,
    pub admin: Arc<AdminService>,
    pub authn: Arc<AuthnService>,
    pub store: Arc<SqlStore>,
    /// The clock both services read; tests move it (never sleep).
    pub clock: Arc<FakeClock>,
    /// The bootstrap super-admin's API token.
    pub root: String,
    _dir: tempfile::TempDir,
}

/// An answer, with the body read.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts an `ErrorBody` with this status and code; returns the body.
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        let v = self.json();
        assert_eq!(v["error"], code, "unexpected error code: {}", self.body);
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message: {}",
            self.body
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["error", "message", "field"].contains(&k.as_str())),
            "not an ErrorBody: {}",
            self.body
        );
        v
    }

    /// Asserts this status; returns the JSON body (null when empty).
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// A key persistence that records what it was asked to do.
#[derive(Default)]
pub struct RecordingPersistence {
    pub staged: Mutex<Vec<String>>,
    pub commits: Mutex<usize>,
}

impl KeyPersistence for RecordingPersistence {
    fn stage(&self, key: &MasterKey) -> Result<(), String> {
        let id = hex(&key.key_id());
        self.staged.lock().unwrap().push(id);
        Ok(())
    }

    fn commit(&self) -> Result<(), String> {
        *self.commits.lock().unwrap() += 1;
        Ok(())
    }

    fn discard_staged(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Where the fake clock starts (Unix seconds; 20 s into a 30 s step).
pub const START: i64 = 1_700_000_000;

pub async fn app() -> App {
    app_with(None).await
}

pub async fn app_with(persistence: Option<Arc<dyn KeyPersistence>>) -> App {
    app_with_options(Options {
        persistence,
        ..Options::default()
    })
    .await
}

/// How to build a test application.
pub struct Options {
    pub persistence: Option<Arc<dyn KeyPersistence>>,
    /// Deployment maximum lifetime of new emergency codes (`None`: no maximum).
    pub max_emergency_days: Option<u32>,
    pub eac: EacSettings,
    /// A messenger for SMS and voice codes, and the abuse limits.
    pub messaging: Option<(Arc<dyn Messenger>, SendLimits)>,
    /// Extra set-up of the admin service (e.g. its messaging-provider ports) on the store.
    pub configure_admin: Option<fn(AdminService, &Arc<SqlStore>) -> AdminService>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            persistence: None,
            max_emergency_days: Some(30),
            eac: EacSettings::default(),
            messaging: None,
            configure_admin: None,
        }
    }
}

pub async fn app_with_options(o: Options) -> App {
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
            o.persistence,
        )
        .await
        .unwrap()
        .with_max_emergency_lifetime_days(o.max_emergency_days)
        .with_eac_settings(o.eac),
    );
    let admin = match o.configure_admin {
        Some(f) => Arc::new(f(Arc::into_inner(admin).unwrap(), &store)),
        None => admin,
    };
    let first = admin
        .bootstrap("admin")
        .await
        .unwrap()
        .expect("fresh database bootstraps");
    let mut authn = AuthnService::new(
        store.clone() as Arc<dyn AuthnStore>,
        admin.clone(),
        clock.clone(),
        Arc::new(OsEntropy),
    );
    if let Some((m, limits)) = o.messaging {
        authn = authn.with_messaging(m, limits, PhoneCodeSettings::default());
    }
    let offline = latchkey_core::offline::OfflineService::new(
        store.clone() as Arc<dyn latchkey_core::offline::OfflineStore>,
        admin.clone(),
        clock.clone(),
        Arc::new(OsEntropy),
    )
    .with_kdf(latchkey_offline::KdfParams::TEST_ONLY_CHEAP);
    let authn = Arc::new(authn.with_offline(Arc::new(offline)));
    let router = latchkey_web::router(AppState {
        admin: admin.clone(),
        authn: authn.clone(),
    });
    App {
        router,
        admin,
        authn,
        store,
        clock,
        root: first.token.expose().to_owned(),
        _dir: dir,
    }
}

impl App {
    /// Sends a request; checks the headers every answer must carry.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let body = String::from_utf8(bytes.to_vec()).unwrap();
        assert_eq!(
            headers
                .get(header::CACHE_CONTROL)
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{status}"
        );
        assert_eq!(
            headers
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .map(|v| v.to_str().unwrap()),
            Some("nosniff")
        );
        if !body.is_empty() {
            assert!(
                headers
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")),
                "non-JSON answer {status}: {body}"
            );
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A JSON request as `token` (no Authorization header when `None`).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    /// A request with a raw body and content type.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// A request as the bootstrap super-admin.
    pub async fn root(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call(method, path, Some(&self.root.clone()), body)
            .await
    }

    /// Creates something as root (`POST path` answered 201); returns the answer.
    pub async fn created(&self, path: &str, body: Value) -> Value {
        self.root("POST", path, Some(body)).await.expect(201)
    }

    /// A request coming from a client address (as when served with connect info).
    pub async fn call_from(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.root))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
        self.send(req).await
    }

    /// Sequence number of the last audit record.
    pub async fn audit_seq(&self) -> i64 {
        self.store.find_audit_head().await.unwrap().seq
    }

    /// Creates an administrator as root; returns their token.
    pub async fn make_admin(&self, name: &str, role: &str, scope: &str) -> String {
        let r = self
            .root(
                "POST",
                "/api/v1/admin/admins",
                Some(json!({"name": name, "role": role, "scope": scope})),
            )
            .await;
        r.expect(201)["token"].as_str().unwrap().to_owned()
    }
}

/// Logs captured from a `tracing` subscriber installed for the current thread.
#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl LogBuf {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a TRACE-level subscriber writing to a buffer, for this thread (a current-thread
/// tokio test runs every task here) until the guard drops.
pub fn capture_logs() -> (tracing::subscriber::DefaultGuard, LogBuf) {
    let buf = LogBuf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), buf)
}
