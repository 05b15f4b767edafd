//! The provider implementations behind one small trait, and what they share: the HTTP
//! exchange with its failure classification, URL checks, and the scrubbing of attempt
//! details.
//!
//! Each kind has a `Plan`: its configuration checked and pre-compiled (URLs parsed,
//! templates parsed, header values built). `Plan::compile` is both the validation of the
//! configuration and the first half of building a provider, so nothing that validated can
//! fail to build.

pub(crate) mod generic;
pub(crate) mod kannel;
pub(crate) mod outbox;
pub(crate) mod twilio;

use std::error::Error as _;
use std::sync::Arc;

use latchkey_core::ports::{Clock, PhoneChannel};
use reqwest::StatusCode;
use url::Url;

use crate::ConfigError;
use crate::config::{ProviderConfig, ProviderSettings};

/// Most of a response body that is read; the rest is ignored.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest attempt detail kept, in characters.
const MAX_DETAIL_CHARS: usize = 300;
/// Longest piece of a provider's response quoted in a detail, in characters.
pub(crate) const MAX_SNIPPET_CHARS: usize = 120;
/// What a scrubbed secret is replaced with.
const SCRUBBED: &str = "<redacted>";

/// One message as a provider sends it: everything rendered. Borrowed from buffers that the
/// dispatcher wipes after the delivery.
pub(crate) struct Outgoing<'a> {
    pub(crate) channel: PhoneChannel,
    /// E.164 destination.
    pub(crate) to: &'a str,
    /// The code alone.
    pub(crate) code: &'a str,
    /// Lifetime in minutes.
    pub(crate) minutes: u32,
    /// The SMS text, or the spoken script of a call.
    pub(crate) text: &'a str,
    /// Twilio's `TwiML` of a call (empty for SMS).
    pub(crate) twiml: &'a str,
}

/// The result of one attempt, before scrubbing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) ok: bool,
    pub(crate) transient: bool,
    pub(crate) detail: String,
}

impl Outcome {
    pub(crate) fn delivered(detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            transient: false,
            detail: detail.into(),
        }
    }

    pub(crate) fn transient(detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            transient: true,
            detail: detail.into(),
        }
    }

    pub(crate) fn permanent(detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            transient: false,
            detail: detail.into(),
        }
    }
}

/// A configured provider.
#[async_trait::async_trait]
pub(crate) trait Provider: Send + Sync {
    /// The configured name.
    fn name(&self) -> &str;
    /// Whether it delivers on `channel`.
    fn supports(&self, channel: PhoneChannel) -> bool;
    /// Configuration secrets that must never appear in a detail (tokens, passwords, header
    /// values), even if the provider echoes them back.
    fn secrets(&self) -> Vec<&str>;
    /// One attempt. Never panics; every failure is an [`Outcome`].
    async fn send(&self, m: &Outgoing<'_>) -> Outcome;
}

/// `sms` or `voice`, as records and logs name channels.
pub(crate) fn channel_name(c: PhoneChannel) -> &'static str {
    match c {
        PhoneChannel::Sms => "sms",
        PhoneChannel::Voice => "voice",
    }
}

/// Builds the providers of a validated list.
pub(crate) fn build(
    list: &[ProviderConfig],
    client: &reqwest::Client,
    clock: &Arc<dyn Clock>,
) -> Result<Vec<Box<dyn Provider>>, ConfigError> {
    crate::config::validate_providers(list)?;
    list.iter()
        .map(|p| {
            let name = p.name.clone();
            let within = |e: ConfigError| e.within(&format!("providers[{name:?}]"));
            Ok(match &p.settings {
                ProviderSettings::Twilio(c) => Box::new(twilio::Twilio::new(
                    name.clone(),
                    twilio::Plan::compile(c).map_err(within)?,
                    client.clone(),
                )) as Box<dyn Provider>,
                ProviderSettings::GenericHttp(c) => Box::new(generic::GenericHttp::new(
                    name.clone(),
                    generic::Plan::compile(c).map_err(within)?,
                    client.clone(),
                )),
                ProviderSettings::Kannel(c) => Box::new(kannel::Kannel::new(
                    name.clone(),
                    kannel::Plan::compile(c).map_err(within)?,
                    client.clone(),
                )),
                ProviderSettings::Outbox(c) => {
                    c.validate().map_err(within)?;
                    Box::new(outbox::Outbox::new(name.clone(), c, Arc::clone(clock)))
                }
            })
        })
        .collect()
}

/// Parses `s` as a provider URL: `http` or `https`, a host, no user name or password in
/// it (credentials belong in their own, secret, fields), no fragment.
pub(crate) fn check_http_url(field: &str, s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s.trim())
        .map_err(|e| ConfigError::invalid(field, format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::invalid(field, "must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::invalid(field, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::invalid(
            field,
            "must not contain a user name or password; use the provider's credential fields",
        ));
    }
    if url.fragment().is_some() {
        return Err(ConfigError::invalid(field, "must not have a #fragment"));
    }
    Ok(url)
}

/// A response: its status and (the start of) its body.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
}

/// Sends `req` and reads the reply. A transport failure (time-out, refused or broken
/// connection, TLS failure) is a transient [`Outcome`], described without the URL, which
/// may carry credentials (Kannel's password is a query parameter).
pub(crate) async fn exchange(req: reqwest::RequestBuilder) -> Result<Reply, Outcome> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| Outcome::transient(describe_transport_error(e)))?;
    let status = resp.status();
    let mut body = Vec::new();
    // A body that cannot be read is treated as empty: the status has been given, and the
    // classification below decides on it.
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_BODY_BYTES.saturating_sub(body.len());
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if body.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A transport error in words, without the URL.
fn describe_transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The innermost cause says what actually happened (e.g. "Connection refused").
    let mut cause: Option<&dyn std::error::Error> = e.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    match last {
        Some(c) => format!("{what}: {c}"),
        None => what.to_owned(),
    }
}

/// Whether a status is worth retrying or failing over: 5xx, 429 Too Many Requests and
/// 408 Request Timeout. Every other failure status is permanent.
pub(crate) fn is_transient_status(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT
}

/// `HTTP 503: Temporal failure, try again later`, or `HTTP 503` when the body said nothing.
pub(crate) fn status_detail(status: StatusCode, snippet: &str) -> String {
    if snippet.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {snippet}", status.as_u16())
    }
}

/// The first line of a response, trimmed and cut to [`MAX_SNIPPET_CHARS`].
pub(crate) fn snippet(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(MAX_SNIPPET_CHARS).collect();
    if line.chars().count() > MAX_SNIPPET_CHARS {
        out.push('…');
    }
    out
}

/// `detail` with every secret (of at least 4 characters: shorter ones would only blank out
/// ordinary text) replaced, control characters dropped, and the length capped.
pub(crate) fn scrub(detail: &str, secrets: &[&str]) -> String {
    let mut out = detail.to_owned();
    for s in secrets {
        if s.chars().count() >= 4 {
            out = out.replace(s, SCRUBBED);
        }
    }
    let mut out: String = out
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DETAIL_CHARS)
        .collect();
    if detail.chars().count() > MAX_DETAIL_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets_and_control_characters() {
        let d = scrub(
            "HTTP 400: body \"code 482139\"\ntoken s3cr3t-tok",
            &["482139", "s3cr3t-tok", "ab"],
        );
        assert_eq!(d, "HTTP 400: body \"code <redacted>\"token <redacted>");
        let long = "x".repeat(1000);
        assert_eq!(scrub(&long, &[]).chars().count(), MAX_DETAIL_CHARS + 1);
    }

    #[test]
    fn urls() {
        assert!(check_http_url("url", "https://sms.example.org/send?x=1").is_ok());
        for (bad, why) in [
            ("ftp://example.org/", "http or https"),
            ("not a url", "is not a URL"),
            ("https://user:pw@example.org/", "user name or password"),
            ("https://example.org/#frag", "fragment"),
            ("file:///etc/passwd", "http or https"),
        ] {
            let e = check_http_url("url", bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
            assert_eq!(e.field(), Some("url"));
        }
    }

    #[test]
    fn transient_statuses() {
        for s in [500, 502, 503, 504, 429, 408] {
            assert!(is_transient_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 422, 301] {
            assert!(
                !is_transient_status(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }

    #[test]
    fn snippets() {
        assert_eq!(
            snippet("\n  0: Accepted for delivery\nmore"),
            "0: Accepted for delivery"
        );
        assert_eq!(
            snippet(&"y".repeat(500)).chars().count(),
            MAX_SNIPPET_CHARS + 1
        );
    }
}
