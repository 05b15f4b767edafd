//! The generic HTTP provider: a request template (method, URL, headers, body) and a rule
//! for success (status codes and, optionally, a pattern the response body must match).
//!
//! Statuses outside `success_status` are transient when 5xx, 429 or 408 and permanent
//! otherwise; a success status whose body does not match `response_pattern` is permanent
//! (the provider answered and said no; asking again would get the same answer).

use latchkey_core::ports::PhoneChannel;
use latchkey_crypto::secret::SecretString;
use regex::{Regex, RegexBuilder};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::{Outcome, Outgoing, Provider, check_http_url, exchange, is_transient_status, snippet};
use crate::ConfigError;
use crate::config::{GenericHttpConfig, HttpMethod, StatusMatch};
use crate::template::{Escape, Template, Values, Var};

/// Values used to try a template out at configuration time: awkward characters in every
/// position, the longest code and lifetime.
const SAMPLE: Values<'static> = Values {
    to: "+14155550123",
    text: "Your code is 12345678. \"Quotes\" & <angles> \\ ' é\nnew line",
    code: "12345678",
    minutes: 70,
};

/// Headers the provider sets itself.
const RESERVED_HEADERS: [&str; 4] = [
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
];

/// A checked generic configuration.
#[derive(Debug)]
pub(crate) struct Plan {
    method: reqwest::Method,
    url: Template,
    headers: HeaderMap,
    header_secrets: Vec<SecretString>,
    body: Option<Body>,
    success: Vec<StatusMatch>,
    pattern: Option<Regex>,
    sms: bool,
    voice: bool,
}

#[derive(Debug)]
struct Body {
    template: Template,
    escape: Escape,
    content_type: HeaderValue,
}

impl Plan {
    /// Checks `c`: URL and placeholders, headers, body against its content type, success
    /// statuses, the pattern.
    #[allow(clippy::too_many_lines)] // one check after the other, each with its message
    pub(crate) fn compile(c: &GenericHttpConfig) -> Result<Self, ConfigError> {
        // URL: placeholders only after the host.
        let raw_url = c.url.trim();
        let after_scheme = raw_url.find("://").map_or(0, |i| i + 3);
        let authority_end = raw_url
            .get(after_scheme..)
            .and_then(|r| r.find(['/', '?']))
            .map_or(raw_url.len(), |i| i + after_scheme);
        if raw_url
            .get(..authority_end)
            .is_some_and(|p| p.contains('{'))
        {
            return Err(ConfigError::invalid(
                "url",
                "placeholders are allowed in the path and query, not in the scheme or host",
            ));
        }
        let url =
            Template::parse(raw_url, &Var::ALL).map_err(|r| ConfigError::invalid("url", r))?;
        check_http_url("url", &url.render(&SAMPLE, Escape::UrlComponent))?;

        // Headers: literal, secret values.
        let mut headers = HeaderMap::new();
        let mut header_secrets = Vec::new();
        for (name, value) in &c.headers {
            let field = format!("headers.{name}");
            let hname = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::invalid(&field, "is not a valid header name"))?;
            if RESERVED_HEADERS.contains(&hname.as_str()) {
                return Err(ConfigError::invalid(
                    &field,
                    "is set by Latchkey (use content_type for the body's type)",
                ));
            }
            if !Template::parse(value.expose(), &[]).is_ok_and(|t| !t.has_placeholders()) {
                return Err(ConfigError::invalid(
                    &field,
                    "header values are sent as written; placeholders are not expanded there",
                ));
            }
            let mut hvalue = HeaderValue::from_str(value.expose()).map_err(|_| {
                ConfigError::invalid(&field, "is not a valid header value (visible ASCII only)")
            })?;
            hvalue.set_sensitive(true);
            headers.append(hname, hvalue);
            header_secrets.push(value.clone());
        }

        // Body.
        let body = match (&c.body_template, c.method) {
            (Some(_), HttpMethod::Get) => {
                return Err(ConfigError::invalid(
                    "body_template",
                    "a GET request has no body; put the placeholders in the URL",
                ));
            }
            (None, _) => {
                if c.content_type.is_some() {
                    return Err(ConfigError::invalid(
                        "content_type",
                        "is set but there is no body_template",
                    ));
                }
                None
            }
            (Some(src), _) => Some(compile_body(src, c.content_type.as_deref())?),
        };

        // The request must say where to and what.
        let uses = |v: Var| url.uses(v) || body.as_ref().is_some_and(|b| b.template.uses(v));
        let where_field = if body.is_some() {
            "body_template"
        } else {
            "url"
        };
        if !uses(Var::To) && !uses(Var::ToDigits) {
            return Err(ConfigError::invalid(
                where_field,
                "the request must contain {to} or {to_digits} (in the URL or the body)",
            ));
        }
        if !uses(Var::Text) && !uses(Var::Code) {
            return Err(ConfigError::invalid(
                where_field,
                "the request must contain {text} or {code} (in the URL or the body)",
            ));
        }

        if c.success_status.is_empty() {
            return Err(ConfigError::invalid(
                "success_status",
                "must list at least one status code or range",
            ));
        }
        for s in &c.success_status {
            s.validate()
                .map_err(|r| ConfigError::invalid("success_status", r))?;
        }

        let pattern = c
            .response_pattern
            .as_deref()
            .map(|p| {
                RegexBuilder::new(p)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| ConfigError::invalid("response_pattern", format!("{e}")))
            })
            .transpose()?;

        if !c.sms && !c.voice {
            return Err(ConfigError::invalid(
                "sms",
                "at least one of sms and voice must be true",
            ));
        }

        Ok(Self {
            method: match c.method {
                HttpMethod::Get => reqwest::Method::GET,
                HttpMethod::Post => reqwest::Method::POST,
                HttpMethod::Put => reqwest::Method::PUT,
                HttpMethod::Patch => reqwest::Method::PATCH,
            },
            url,
            headers,
            header_secrets,
            body,
            success: c.success_status.clone(),
            pattern,
            sms: c.sms,
            voice: c.voice,
        })
    }
}

/// The body template with the escaping its content type needs; a JSON body must render to
/// valid JSON.
fn compile_body(src: &str, content_type: Option<&str>) -> Result<Body, ConfigError> {
    let template =
        Template::parse(src, &Var::ALL).map_err(|r| ConfigError::invalid("body_template", r))?;
    let ct = content_type.map_or("application/json", str::trim);
    let content_type = HeaderValue::from_str(ct)
        .map_err(|_| ConfigError::invalid("content_type", "is not a valid header value"))?;
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let escape = if essence == "application/json" || essence.ends_with("+json") {
        Escape::Json
    } else if essence == "application/x-www-form-urlencoded" {
        Escape::Form
    } else if essence == "application/xml" || essence == "text/xml" || essence.ends_with("+xml") {
        Escape::Xml
    } else {
        Escape::Raw
    };
    if escape == Escape::Json {
        let sample = template.render(&SAMPLE, escape);
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&sample) {
            return Err(ConfigError::invalid(
                "body_template",
                format!(
                    "with content type {ct} the body must be JSON once filled in ({e}); \
                     placeholders go inside quotes: \"{{text}}\""
                ),
            ));
        }
    }
    Ok(Body {
        template,
        escape,
        content_type,
    })
}

/// The provider.
pub(crate) struct GenericHttp {
    name: String,
    plan: Plan,
    client: reqwest::Client,
}

impl GenericHttp {
    pub(crate) fn new(name: String, plan: Plan, client: reqwest::Client) -> Self {
        Self { name, plan, client }
    }
}

#[async_trait::async_trait]
impl Provider for GenericHttp {
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
        self.plan
            .header_secrets
            .iter()
            .map(SecretString::expose)
            .collect()
    }

    async fn send(&self, m: &Outgoing<'_>) -> Outcome {
        let p = &self.plan;
        let values = Values {
            to: m.to,
            text: m.text,
            code: m.code,
            minutes: m.minutes,
        };
        let url = p.url.render(&values, Escape::UrlComponent);
        let Ok(url) = url::Url::parse(&url) else {
            return Outcome::permanent("the URL template did not give a URL");
        };
        let mut req = self
            .client
            .request(p.method.clone(), url)
            .headers(p.headers.clone());
        if let Some(b) = &p.body {
            let body = b.template.render(&values, b.escape);
            req = req
                .header(CONTENT_TYPE, b.content_type.clone())
                .body(body.as_str().to_owned());
        }
        let reply = match exchange(req).await {
            Ok(r) => r,
            Err(o) => return o,
        };
        let status = reply.status.as_u16();
        if p.success.iter().any(|s| s.matches(status)) {
            return match &p.pattern {
                None => Outcome::delivered(format!("HTTP {status}")),
                Some(re) => match re.captures(&reply.body) {
                    Some(caps) => {
                        let id = caps.name("id").map(|m| snippet(m.as_str()));
                        match id {
                            Some(id) if !id.is_empty() => {
                                Outcome::delivered(format!("HTTP {status}; id {id}"))
                            }
                            _ => Outcome::delivered(format!("HTTP {status}; response matched")),
                        }
                    }
                    None => Outcome::permanent(format!(
                        "HTTP {status}, but the response does not match response_pattern: {}",
                        snippet(&reply.body)
                    )),
                },
            };
        }
        let d = super::status_detail(reply.status, &snippet(&reply.body));
        if is_transient_status(reply.status) {
            Outcome::transient(d)
        } else {
            Outcome::permanent(d)
        }
    }
}
