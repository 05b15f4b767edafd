//! The server, as the agent sees it: the [`Upstream`] port and its HTTP implementation.
//!
//! The only decision made here is the one the offline fallback depends on, [`UpstreamError`]:
//! - `Unreachable`: no connection, timeout, a 5xx, a redirect or a 200 that is not a Latchkey
//!   answer (a captive portal) — the agent may verify offline;
//! - `Refused`: the server answered 4xx (revoked key, bad request) — no offline fallback.
//!
//! An authentication FAIL is not an error at all: it is an [`AuthnAnswer`] and is final.
//!
//! The wire types are the agent's own small copies of the `/api/v1/authn` ones (unknown
//! response fields ignored), so an agent keeps working against a newer server.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::events::Event;
use crate::protocol::Passcode;

/// Longest answer body read from the server (the cache refuses larger files anyway).
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// Why the server gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Connection error, timeout, 5xx, redirect, or a 200 that is not a Latchkey answer: the
    /// caller may fall back to offline verification.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The server answered and refused the request (4xx): no fallback.
    #[error("server refused the request: {0}")]
    Refused(String),
}

/// Outcome of one authentication step on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StepResult {
    /// Authenticated.
    Success,
    /// Answer the challenge.
    Challenge,
    /// Denied.
    Fail,
}

#[derive(Deserialize)]
struct WireChallenge {
    prompt: String,
}

#[derive(Deserialize)]
struct WireAnswer {
    result: StepResult,
    #[serde(default)]
    attempt_id: Option<String>,
    #[serde(default)]
    challenge: Option<WireChallenge>,
    #[serde(default)]
    offline_data: Option<String>,
}

/// The server's answer to one step.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthnAnswer {
    /// Outcome.
    pub result: StepResult,
    /// With a challenge: the server's attempt id.
    pub attempt_id: Option<String>,
    /// With a challenge: the text to show.
    pub prompt: Option<String>,
    /// With SUCCESS, when the server sent one: the signed OAD bytes.
    pub offline_data: Option<Vec<u8>>,
}

impl fmt::Debug for AuthnAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthnAnswer")
            .field("result", &self.result)
            .field("attempt_id", &self.attempt_id)
            .field(
                "offline_data_len",
                &self.offline_data.as_ref().map(Vec::len),
            )
            .finish_non_exhaustive()
    }
}

/// A step to send.
#[derive(Debug, Clone)]
pub enum Step<'a> {
    /// `POST /api/v1/authn/initialize`.
    Initialize {
        /// Login.
        user: &'a str,
        /// Passcode.
        passcode: &'a Passcode,
        /// End user's address for the audit log.
        client_address: Option<&'a str>,
    },
    /// `POST /api/v1/authn/verify`.
    Verify {
        /// The server's attempt id.
        attempt_id: &'a str,
        /// The user's answer.
        response: &'a Passcode,
    },
}

/// The server.
#[async_trait]
pub trait Upstream: Send + Sync {
    /// Sends one authentication step.
    async fn step(
        &self,
        step: Step<'_>,
        want_offline_data: bool,
    ) -> Result<AuthnAnswer, UpstreamError>;

    /// Uploads events; returns the server's `accepted` count.
    async fn upload_events(&self, events: &[Event]) -> Result<u64, UpstreamError>;
}

/// Enrolment answer of the server.
#[derive(Debug, Clone, Deserialize)]
pub struct EnrollAnswer {
    /// The host's id on the server.
    pub host_id: String,
    /// The server's Ed25519 verifying key, base64.
    pub server_key: String,
}

/// The HTTP implementation.
pub struct HttpUpstream {
    http: reqwest::Client,
    base: String,
    api_key: Zeroizing<String>,
}

impl fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpUpstream")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct InitializeBody<'a> {
    user: &'a str,
    passcode: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_address: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    want_offline_data: bool,
}

#[derive(Serialize)]
struct VerifyBody<'a> {
    attempt_id: &'a str,
    response: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    want_offline_data: bool,
}

#[derive(Serialize)]
struct EventsBody<'a> {
    events: &'a [Event],
}

#[derive(Deserialize)]
struct EventsAnswer {
    accepted: u64,
}

impl HttpUpstream {
    /// A client for `base` (e.g. `https://mfa.example.com`), with `timeout` for every request
    /// and an optional extra CA certificate (PEM).
    pub fn new(
        base: &str,
        api_key: Zeroizing<String>,
        timeout: Duration,
        ca_file: Option<&Path>,
    ) -> Result<Self, String> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("latchkey-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca_file {
            let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
            b = b.add_root_certificate(cert);
        }
        Ok(Self {
            http: b.build().map_err(|e| e.to_string())?,
            base: base.trim_end_matches('/').to_owned(),
            api_key,
        })
    }

    async fn post<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, UpstreamError> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .http
            .post(&url)
            .bearer_auth(self.api_key.as_str())
            .json(body)
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(format!("{url}: {e}")))?;
        let status = resp.status();
        // Bounded: a captive portal or a broken proxy must not make the agent buffer without
        // limit (the largest real answer, a 60-day OAD, is far below this).
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| UpstreamError::Unreachable(format!("{url}: {e}")))?
        {
            if bytes.len().saturating_add(chunk.len()) > MAX_ANSWER {
                return Err(UpstreamError::Unreachable(format!(
                    "{url}: answer longer than {MAX_ANSWER} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_server_error() || status.is_redirection() {
            return Err(UpstreamError::Unreachable(format!("{url}: HTTP {status}")));
        }
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str().map(str::to_owned)))
                .unwrap_or_default();
            return Err(UpstreamError::Refused(format!(
                "{url}: HTTP {status} {msg}"
            )));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| UpstreamError::Unreachable(format!("{url}: not a Latchkey answer ({e})")))
    }

    /// `POST /api/v1/offline/enroll`.
    pub async fn enroll(
        &self,
        hostname: &str,
        host_public_key: &[u8; 32],
    ) -> Result<EnrollAnswer, UpstreamError> {
        self.post(
            "/api/v1/offline/enroll",
            &serde_json::json!({
                "hostname": hostname,
                "host_public_key": B64.encode(host_public_key),
            }),
        )
        .await
    }
}

#[async_trait]
impl Upstream for HttpUpstream {
    async fn step(
        &self,
        step: Step<'_>,
        want_offline_data: bool,
    ) -> Result<AuthnAnswer, UpstreamError> {
        let w: WireAnswer = match step {
            Step::Initialize {
                user,
                passcode,
                client_address,
            } => {
                self.post(
                    "/api/v1/authn/initialize",
                    &InitializeBody {
                        user,
                        passcode: passcode.expose(),
                        client_address,
                        want_offline_data,
                    },
                )
                .await?
            }
            Step::Verify {
                attempt_id,
                response,
            } => {
                self.post(
                    "/api/v1/authn/verify",
                    &VerifyBody {
                        attempt_id,
                        response: response.expose(),
                        want_offline_data,
                    },
                )
                .await?
            }
        };
        let offline_data = match (&w.result, w.offline_data) {
            (StepResult::Success, Some(b)) => match B64.decode(b.as_bytes()) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::error!("the server sent offline_data that is not base64: {e}");
                    None
                }
            },
            _ => None,
        };
        Ok(AuthnAnswer {
            result: w.result,
            attempt_id: w.attempt_id,
            prompt: w.challenge.map(|c| c.prompt),
            offline_data,
        })
    }

    async fn upload_events(&self, events: &[Event]) -> Result<u64, UpstreamError> {
        let a: EventsAnswer = self
            .post("/api/v1/offline/events", &EventsBody { events })
            .await?;
        Ok(a.accepted)
    }
}
