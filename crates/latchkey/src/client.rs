//! Typed client of the admin API, used by the CLI verbs.
//!
//! The server is found through `--server` (or `LATCHKEY_SERVER`), else the `server.json` a
//! running `latchkey serve` writes into the data directory; the token through `--token-file`
//! (or `LATCHKEY_TOKEN_FILE`), else `admin.token` in the data directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use latchkey_proto::ErrorBody;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::serve::{SERVER_FILE, TOKEN_FILE};

/// A failed CLI call, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be found or reached (exit 7).
    #[error("{0}")]
    Unreachable(String),
    /// The server refused the request (exit code by status).
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// Local problem: a file, bad arguments (exit 1).
    #[error("{0}")]
    Local(String),
}

impl ClientError {
    /// Process exit code: 3 authentication/permission, 4 not found, 5 conflict, 6 invalid
    /// request, 7 unreachable, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Unreachable(_) => 7,
            Self::Refused { status, .. } => match status.as_u16() {
                401 | 403 => 3,
                404 => 4,
                409 => 5,
                400 | 405 | 413 | 422 => 6,
                _ => 1,
            },
            Self::Local(_) => 1,
        }
    }
}

/// Where and how to reach the server.
#[derive(Debug, Clone)]
pub struct Target {
    /// Data directory of a local server.
    pub data_dir: PathBuf,
    /// Explicit server URL.
    pub server: Option<String>,
    /// Explicit token file.
    pub token_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust, for a server with a private certificate.
    pub ca_cert: Option<PathBuf>,
}

/// The admin API client.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn read_trimmed(path: &Path, what: &str) -> Result<String, ClientError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| ClientError::Local(format!("cannot read the {what} {}: {e}", path.display())))
}

impl Client {
    /// Builds a client for `target`.
    pub fn new(target: &Target) -> Result<Self, ClientError> {
        let base = match &target.server {
            Some(s) => s.trim_end_matches('/').to_owned(),
            None => {
                let p = target.data_dir.join(SERVER_FILE);
                let text = std::fs::read_to_string(&p).map_err(|_| {
                    ClientError::Unreachable(format!(
                        "no running server found: {} does not exist. Start one with `latchkey --data-dir {} serve`, or pass --server URL",
                        p.display(),
                        target.data_dir.display()
                    ))
                })?;
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| ClientError::Local(format!("{} is damaged: {e}", p.display())))?;
                v.get("url")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| ClientError::Local(format!("{} has no url", p.display())))?
                    .to_owned()
            }
        };
        let token_path = target
            .token_file
            .clone()
            .unwrap_or_else(|| target.data_dir.join(TOKEN_FILE));
        let token = read_trimmed(&token_path, "admin token file")?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent("latchkey-cli");
        if let Some(ca) = &target.ca_cert {
            let pem = std::fs::read(ca)
                .map_err(|e| ClientError::Local(format!("cannot read {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| ClientError::Local(format!("{}: {e}", ca.display())))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Local(e.to_string()))?;
        Ok(Self { http, base, token })
    }

    /// Sends a request to `/api/v1/admin{path}` and decodes the answer.
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = format!("{}/api/v1/admin{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            ClientError::Unreachable(format!("cannot reach the server at {}: {e}", self.base))
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&bytes).map_or_else(
                |_| format!("server answered {status}"),
                |e| match e.field {
                    Some(f) if !e.message.starts_with(&f) => format!("{f}: {}", e.message),
                    _ => e.message,
                },
            );
            return Err(ClientError::Refused { status, message });
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Local(format!("unexpected answer from the server: {e}")))
    }

    /// `GET`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, None).await
    }
}

/// Percent-encodes one URL path segment.
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
