//! Test helpers: a local HTTP receiver standing in for an SMS/voice provider (it records
//! every request byte for byte and answers from a script), service builders, and a tracing
//! capture.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use latchkey_core::ports::{Clock, FakeClock, PhoneChannel, PhoneMessage};
use latchkey_crypto::secret::SecretString;
use latchkey_messaging::{MessagingConfig, MessagingService, ProviderConfig, ProviderSettings};

pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "tw-token-5f3a9";
pub const KANNEL_PASSWORD: &str = "kn-pw-8c21";
pub const HEADER_SECRET: &str = "Bearer gh-hdr-7731";
pub const CODE: &str = "482139";
pub const TO: &str = "+14155550123";
/// What Twilio answers to a created message (it echoes the text).
pub const TWILIO_SMS_REPLY: &str = r#"{"sid":"SM5ad9f1c2","status":"queued","body":"Your Latchkey code is 482139. It expires in 5 minutes.","to":"+14155550123"}"#;

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, exactly as sent.
    pub target: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
    default: (u16, String),
    delay: Duration,
}

/// A provider stand-in on 127.0.0.1:0.
pub struct Receiver {
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    /// Answers the scripted replies in order, then `default` for ever.
    pub async fn start(script: &[(u16, &str)], default: (u16, &str)) -> Receiver {
        Self::start_slow(script, default, Duration::ZERO).await
    }

    /// Like [`Receiver::start`], but each answer comes after `delay`.
    pub async fn start_slow(
        script: &[(u16, &str)],
        default: (u16, &str),
        delay: Duration,
    ) -> Receiver {
        let shared = Shared {
            seen: Arc::default(),
            script: Arc::new(Mutex::new(
                script.iter().map(|(s, b)| (*s, (*b).to_owned())).collect(),
            )),
            default: (default.0, default.1.to_owned()),
            delay,
        };
        let seen = Arc::clone(&shared.seen);
        let app = Router::new().fallback(record).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            base: format!("http://{addr}"),
            seen,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    s.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        target: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    let (status, body) = s
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| s.default.clone());
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    (StatusCode::from_u16(status).unwrap(), body)
}

/// Fast retries (real time: these tests talk to real sockets).
pub fn fast_config() -> MessagingConfig {
    MessagingConfig {
        retry_backoff_ms: 20,
        request_timeout_secs: 5,
        ..MessagingConfig::default()
    }
}

pub fn service(providers: &[(&str, ProviderSettings)]) -> MessagingService {
    service_with(&fast_config(), providers)
}

pub fn service_with(
    config: &MessagingConfig,
    providers: &[(&str, ProviderSettings)],
) -> MessagingService {
    let list: Vec<ProviderConfig> = providers
        .iter()
        .map(|(n, s)| ProviderConfig {
            name: (*n).to_owned(),
            settings: s.clone(),
        })
        .collect();
    let clock: Arc<dyn Clock> = FakeClock::at(1_700_000_000);
    MessagingService::new(config, &list, &clock).unwrap()
}

pub fn settings(json: &str) -> ProviderSettings {
    ProviderSettings::from_json(json).unwrap()
}

pub fn twilio(base: &str, voice: bool) -> ProviderSettings {
    settings(&format!(
        r#"{{"type":"twilio","account_sid":"{SID}","auth_token":"{TOKEN}","from":"+15005550006","api_base":"{base}","voice":{voice}}}"#
    ))
}

pub fn kannel(base: &str) -> ProviderSettings {
    settings(&format!(
        r#"{{"type":"kannel","url":"{base}/cgi-bin/sendsms","username":"latchkey","password":"{KANNEL_PASSWORD}","from":"Latchkey"}}"#
    ))
}

pub fn message(channel: PhoneChannel) -> PhoneMessage {
    PhoneMessage {
        channel,
        to: TO.to_owned(),
        code: SecretString::from(CODE),
        valid_minutes: 5,
    }
}

/// Everything logged, any target, any level.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Captures every event of the process from now on.
    pub fn install_global(&self) {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
