//! Kannel's smsbox `sendsms` interface: `GET …/cgi-bin/sendsms?username&password&to&text
//! [&from]`.
//!
//! Kannel answers `202 Accepted` with `0: Accepted for delivery` (or `3: Queued for later
//! delivery`); 200 is accepted as well, as older gateways and compatible front ends answer
//! it. `503 Temporal failure, try again later` and other 5xx are transient; 4xx (`403
//! Authorization failed for sendsms`, `400 Missing receiver number`, …) are permanent.
//! The password is a query parameter by Kannel's design, so the URL is never logged or
//! put in a detail. Text outside the GSM 7-bit alphabet is sent with `coding=2&charset=UTF-8`
//! (UCS-2); otherwise Kannel would replace those characters with `?`.

use latchkey_core::ports::PhoneChannel;
use latchkey_crypto::secret::SecretString;
use reqwest::StatusCode;
use url::Url;

use super::{Outcome, Outgoing, Provider, check_http_url, exchange, is_transient_status, snippet};
use crate::ConfigError;
use crate::config::KannelConfig;
use crate::gsm::is_gsm7;
use crate::phone::is_e164;

/// Query parameters this provider sets.
const OWN_PARAMS: [&str; 5] = ["username", "password", "to", "text", "from"];

/// A checked Kannel configuration.
#[derive(Debug)]
pub(crate) struct Plan {
    url: Url,
    username: String,
    password: SecretString,
    from: Option<String>,
}

impl Plan {
    /// Checks `c`.
    pub(crate) fn compile(c: &KannelConfig) -> Result<Self, ConfigError> {
        let url = check_http_url("url", &c.url)?;
        if let Some((k, _)) = url
            .query_pairs()
            .find(|(k, _)| OWN_PARAMS.contains(&k.as_ref()))
        {
            return Err(ConfigError::invalid(
                "url",
                format!("must not set the query parameter {k:?}; it comes from the other fields"),
            ));
        }
        let username = c.username.trim();
        if username.is_empty() || username.chars().any(char::is_control) {
            return Err(ConfigError::invalid("username", "is required"));
        }
        if c.password.expose().is_empty() || c.password.expose().chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                "password",
                "is required and has no control characters",
            ));
        }
        let from = match c.from.as_deref().map(str::trim) {
            None => None,
            Some(f) if is_sender(f) => Some(f.to_owned()),
            Some(_) => {
                return Err(ConfigError::invalid(
                    "from",
                    "must be an E.164 number, a short code of 3-15 digits, or 1-11 letters and digits",
                ));
            }
        };
        Ok(Self {
            url,
            username: username.to_owned(),
            password: c.password.clone(),
            from,
        })
    }

    /// The request URL for one message.
    fn url_for(&self, to: &str, text: &str) -> Url {
        let mut url = self.url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("username", &self.username)
                .append_pair("password", self.password.expose())
                .append_pair("to", to)
                .append_pair("text", text);
            // Kannel would squeeze the text into GSM 7-bit and turn every other character
            // into '?': ask for UCS-2 (coding=2), from UTF-8, when the text needs it.
            if !is_gsm7(text) {
                q.append_pair("coding", "2").append_pair("charset", "UTF-8");
            }
            if let Some(f) = &self.from {
                q.append_pair("from", f);
            }
        }
        url
    }
}

/// E.164, a short code, or an alphanumeric sender id (GSM allows 11 characters).
fn is_sender(s: &str) -> bool {
    is_e164(s)
        || ((3..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        || ((1..=11).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The provider.
pub(crate) struct Kannel {
    name: String,
    plan: Plan,
    client: reqwest::Client,
}

impl Kannel {
    pub(crate) fn new(name: String, plan: Plan, client: reqwest::Client) -> Self {
        Self { name, plan, client }
    }
}

#[async_trait::async_trait]
impl Provider for Kannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, channel: PhoneChannel) -> bool {
        channel == PhoneChannel::Sms
    }

    fn secrets(&self) -> Vec<&str> {
        vec![self.plan.password.expose()]
    }

    async fn send(&self, m: &Outgoing<'_>) -> Outcome {
        if m.channel != PhoneChannel::Sms {
            return Outcome::permanent("Kannel sends SMS only");
        }
        let req = self.client.get(self.plan.url_for(m.to, m.text));
        let reply = match exchange(req).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        let d = super::status_detail(reply.status, &snippet(&reply.body));
        if matches!(reply.status, StatusCode::ACCEPTED | StatusCode::OK) {
            Outcome::delivered(d)
        } else if is_transient_status(reply.status) {
            Outcome::transient(d)
        } else {
            Outcome::permanent(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> KannelConfig {
        KannelConfig {
            url: "http://127.0.0.1:13013/cgi-bin/sendsms".into(),
            username: "latchkey".into(),
            password: SecretString::from("pw&=+ x"),
            from: Some("Latchkey".into()),
        }
    }

    #[test]
    fn query() {
        let p = Plan::compile(&cfg()).unwrap();
        assert_eq!(
            p.url_for("+14155550123", "Code 1 & 2").as_str(),
            "http://127.0.0.1:13013/cgi-bin/sendsms?username=latchkey&password=pw%26%3D%2B+x\
             &to=%2B14155550123&text=Code+1+%26+2&from=Latchkey"
        );
        assert_eq!(
            p.url_for("+14155550123", "Código 1").as_str(),
            "http://127.0.0.1:13013/cgi-bin/sendsms?username=latchkey&password=pw%26%3D%2B+x\
             &to=%2B14155550123&text=C%C3%B3digo+1&coding=2&charset=UTF-8&from=Latchkey"
        );
    }

    #[test]
    fn checks() {
        let field = |f: fn(&mut KannelConfig)| {
            let mut c = cfg();
            f(&mut c);
            Plan::compile(&c).unwrap_err().field().map(str::to_owned)
        };
        assert_eq!(
            field(|c| c.url = "kannel:13013".into()).as_deref(),
            Some("url")
        );
        assert_eq!(
            field(|c| c.url = "http://k/cgi-bin/sendsms?password=x".into()).as_deref(),
            Some("url")
        );
        assert_eq!(
            field(|c| c.username = String::new()).as_deref(),
            Some("username")
        );
        assert_eq!(
            field(|c| c.password = SecretString::default()).as_deref(),
            Some("password")
        );
        assert_eq!(
            field(|c| c.from = Some("Latchkey Inc.".into())).as_deref(),
            Some("from")
        );
        let mut c = cfg();
        c.from = Some("+4915112345678".into());
        assert!(Plan::compile(&c).is_ok());
        c.from = None;
        c.url = "http://k:13013/cgi-bin/sendsms?smsc=FAKE".into();
        assert!(Plan::compile(&c).is_ok());
    }
}
