//! Twilio's REST API: `Messages.json` for SMS, `Calls.json` with inline `Twiml` for voice.
//!
//! A created message or call answers 201 with a JSON body whose `sid` is recorded; errors
//! answer a JSON body with Twilio's `code` and `message`. 5xx, 429 and transport failures
//! are transient; every other failure (bad number, bad credentials, unverified caller id)
//! is permanent.

use std::fmt::Write as _;

use latchkey_core::ports::PhoneChannel;
use latchkey_crypto::secret::SecretString;
use url::Url;

use super::{Outcome, Outgoing, Provider, check_http_url, exchange, is_transient_status, snippet};
use crate::ConfigError;
use crate::config::TwilioConfig;
use crate::phone::is_e164;

/// A checked Twilio configuration.
#[derive(Debug)]
pub(crate) struct Plan {
    account_sid: String,
    auth_token: SecretString,
    from: String,
    messages_url: Url,
    calls_url: Url,
    sms: bool,
    voice: bool,
}

impl Plan {
    /// Checks `c` and builds the two endpoint URLs.
    pub(crate) fn compile(c: &TwilioConfig) -> Result<Self, ConfigError> {
        let sid = c.account_sid.trim();
        let sid_ok = sid.len() == 34
            && sid.starts_with("AC")
            && sid.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
        if !sid_ok {
            return Err(ConfigError::invalid(
                "account_sid",
                "must be AC followed by 32 hexadecimal digits",
            ));
        }
        let token = c.auth_token.expose();
        if token.trim().is_empty() {
            return Err(ConfigError::invalid("auth_token", "is required"));
        }
        if token.len() > 256 || token.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                "auth_token",
                "must be at most 256 characters without control characters",
            ));
        }
        if !is_e164(c.from.trim()) {
            return Err(ConfigError::invalid(
                "from",
                "must be an E.164 number such as +14155550123",
            ));
        }
        let base = check_http_url("api_base", &c.api_base)?;
        if base.query().is_some() {
            return Err(ConfigError::invalid("api_base", "must not have a query"));
        }
        if !c.sms && !c.voice {
            return Err(ConfigError::invalid(
                "sms",
                "at least one of sms and voice must be true",
            ));
        }
        let root = base.as_str().trim_end_matches('/');
        let endpoint = |what: &str| {
            Url::parse(&format!("{root}/2010-04-01/Accounts/{sid}/{what}.json"))
                .map_err(|e| ConfigError::invalid("api_base", format!("is not a URL ({e})")))
        };
        Ok(Self {
            account_sid: sid.to_owned(),
            auth_token: c.auth_token.clone(),
            from: c.from.trim().to_owned(),
            messages_url: endpoint("Messages")?,
            calls_url: endpoint("Calls")?,
            sms: c.sms,
            voice: c.voice,
        })
    }
}

/// The provider.
pub(crate) struct Twilio {
    name: String,
    plan: Plan,
    client: reqwest::Client,
}

impl Twilio {
    pub(crate) fn new(name: String, plan: Plan, client: reqwest::Client) -> Self {
        Self { name, plan, client }
    }
}

/// The parts of Twilio's answer that go into the record: never `body`, which echoes the
/// text. Read from a JSON value, as the types vary (`status` is a word on success and a
/// number on errors).
struct Answer {
    sid: Option<String>,
    status: Option<String>,
    code: Option<i64>,
    message: Option<String>,
}

impl Answer {
    fn parse(body: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        let text = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Some(Self {
            sid: text("sid"),
            status: text("status"),
            code: v.get("code").and_then(serde_json::Value::as_i64),
            message: text("message"),
        })
    }
}

#[async_trait::async_trait]
impl Provider for Twilio {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, channel: PhoneChannel) -> bool {
        match channel {
            PhoneChannel::Sms => self.plan.sms,
            PhoneChannel::Voice => self.plan.voice,
        }
    }

    fn secrets(&self) -> Vec<&str> {
        vec![self.plan.auth_token.expose()]
    }

    async fn send(&self, m: &Outgoing<'_>) -> Outcome {
        let p = &self.plan;
        let (url, content) = match m.channel {
            PhoneChannel::Sms => (&p.messages_url, ("Body", m.text)),
            PhoneChannel::Voice => (&p.calls_url, ("Twiml", m.twiml)),
        };
        let req = self
            .client
            .post(url.clone())
            .basic_auth(&p.account_sid, Some(p.auth_token.expose()))
            .form(&[("To", m.to), ("From", p.from.as_str()), content]);
        let reply = match exchange(req).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        let answer = Answer::parse(&reply.body);
        let status = reply.status.as_u16();
        if reply.status.is_success() {
            let mut d = format!("HTTP {status}");
            if let Some(a) = &answer {
                if let Some(sid) = a.sid.as_deref().filter(|s| is_plain_id(s)) {
                    let _ = write!(d, "; sid {sid}");
                }
                if let Some(st) = a.status.as_deref().filter(|s| is_plain_id(s)) {
                    let _ = write!(d, "; status {st}");
                }
            }
            return Outcome::delivered(d);
        }
        let why = match answer {
            Some(Answer {
                code: Some(code),
                message,
                ..
            }) => format!(
                "Twilio error {code}: {}",
                snippet(message.as_deref().unwrap_or(""))
            ),
            _ => snippet(&reply.body),
        };
        let d = format!("HTTP {status}; {why}");
        if is_transient_status(reply.status) {
            Outcome::transient(d)
        } else {
            Outcome::permanent(d)
        }
    }
}

/// Whether an identifier from a response is short and plain enough to record as is.
fn is_plain_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TwilioConfig {
        TwilioConfig {
            account_sid: format!("AC{}", "0123456789abcdef".repeat(2)),
            auth_token: SecretString::from("tok-0123456789"),
            from: "+15005550006".to_owned(),
            api_base: "https://api.twilio.com/".to_owned(),
            sms: true,
            voice: true,
        }
    }

    #[test]
    fn endpoints() {
        let p = Plan::compile(&cfg()).unwrap();
        assert_eq!(
            p.messages_url.as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
        );
        assert_eq!(
            p.calls_url.as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json"
        );
    }

    #[test]
    fn checks() {
        let field = |f: fn(&mut TwilioConfig)| {
            let mut c = cfg();
            f(&mut c);
            Plan::compile(&c).unwrap_err().field().map(str::to_owned)
        };
        assert_eq!(
            field(|c| c.account_sid = "AC123".into()).as_deref(),
            Some("account_sid")
        );
        assert_eq!(
            field(|c| c.account_sid = format!("AC{}/../x", "0".repeat(27))).as_deref(),
            Some("account_sid")
        );
        assert_eq!(
            field(|c| c.auth_token = SecretString::from(" ")).as_deref(),
            Some("auth_token")
        );
        assert_eq!(
            field(|c| c.from = "4155550123".into()).as_deref(),
            Some("from")
        );
        assert_eq!(
            field(|c| c.from = "+1 415 555".into()).as_deref(),
            Some("from")
        );
        assert_eq!(
            field(|c| c.api_base = "ftp://x".into()).as_deref(),
            Some("api_base")
        );
        assert_eq!(
            field(|c| c.api_base = "https://x/?a=b".into()).as_deref(),
            Some("api_base")
        );
        assert_eq!(
            field(|c| {
                c.sms = false;
                c.voice = false;
            })
            .as_deref(),
            Some("sms")
        );
    }
}
