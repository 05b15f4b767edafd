//! The local outbox: the provider of a fresh install, and the phone of tests and demos.
//!
//! Every message becomes one log line — channel, masked number, lifetime, never the code —
//! and, when a file is configured, one JSON line appended to it:
//! `{"at":…,"provider":…,"channel":"sms","to":"+1…","text":"…","code":"…","valid_minutes":5}`.
//! The file holds the code on purpose (it stands in for the phone), so it is created with
//! mode 0600; an existing file keeps its mode. Appends are serialised, one `write` each.

use std::path::PathBuf;
use std::sync::Arc;

use latchkey_core::ports::{Clock, PhoneChannel};
use tokio::io::AsyncWriteExt as _;
use zeroize::Zeroizing;

use super::{Outcome, Outgoing, Provider, channel_name};
use crate::config::OutboxConfig;
use crate::phone::mask_number;

/// One line of the outbox file; borrowed, so no unwiped copy of the text is made.
#[derive(serde::Serialize)]
struct Line<'a> {
    at: i64,
    provider: &'a str,
    channel: &'static str,
    to: &'a str,
    text: &'a str,
    code: &'a str,
    valid_minutes: u32,
}

/// The provider.
pub(crate) struct Outbox {
    name: String,
    file: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    lock: tokio::sync::Mutex<()>,
}

impl Outbox {
    pub(crate) fn new(name: String, c: &OutboxConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            name,
            file: c.file.clone(),
            clock,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    async fn append(&self, path: &PathBuf, line: &[u8]) -> std::io::Result<()> {
        let _serialised = self.lock.lock().await;
        let mut opts = tokio::fs::OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let mut f = opts.open(path).await?;
        f.write_all(line).await?;
        f.flush().await
    }
}

#[async_trait::async_trait]
impl Provider for Outbox {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, _channel: PhoneChannel) -> bool {
        true
    }

    fn secrets(&self) -> Vec<&str> {
        Vec::new()
    }

    async fn send(&self, m: &Outgoing<'_>) -> Outcome {
        let channel = channel_name(m.channel);
        tracing::info!(
            provider = %self.name,
            channel,
            to = %mask_number(m.to),
            valid_minutes = m.minutes,
            file = ?self.file,
            "outbox: message stored (the code is not logged; see the outbox file)"
        );
        let Some(path) = &self.file else {
            return Outcome::delivered("logged (no outbox file configured)");
        };
        let record = Line {
            at: self.clock.now(),
            provider: &self.name,
            channel,
            to: m.to,
            text: m.text,
            code: m.code,
            valid_minutes: m.minutes,
        };
        let Ok(line) = serde_json::to_string(&record) else {
            return Outcome::permanent("cannot encode the outbox line");
        };
        let mut line = Zeroizing::new(line);
        line.push('\n');
        match self.append(path, line.as_bytes()).await {
            Ok(()) => Outcome::delivered(format!("appended to {}", path.display())),
            Err(e) => Outcome::permanent(format!("cannot append to {}: {e}", path.display())),
        }
    }
}
