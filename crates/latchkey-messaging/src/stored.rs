//! Providers configured by an administrator and stored in the database: the
//! [`ProviderCodec`] that parses, validates and splits the admin API's lists, and the
//! [`ReloadingMessenger`] that sends through the stored list when there is one (the file's
//! otherwise) and rebuilds its providers when the stored version changes.
//!
//! Invariants:
//! - What is stored was validated by exactly the checks the providers run
//!   ([`validate_providers`], i.e. each kind's `Plan::compile`).
//! - Credentials leave this module only as the JSON object that core seals; views show each
//!   as [`SECRET_SET`].
//! - Every node asks the store for the list's version before each send (one row by primary
//!   key) and rebuilds when it differs, so a change reaches every node sharing the database
//!   at its next send, without a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use latchkey_core::admin::AdminService;
use latchkey_core::messaging_config::{OpenProvider, ProviderCodec, ProviderListError};
use latchkey_core::ports::{Clock, Delivery, Messenger, PhoneMessage};
use latchkey_crypto::secret::SecretString;
use latchkey_proto::messaging::SECRET_SET;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::config::{REDACTED, validate_providers};
use crate::{ConfigError, MessagingConfig, MessagingService, ProviderConfig, ProviderSettings};

/// The [`ProviderCodec`] of the admin API, holding the configuration file's providers (shown
/// while the database holds no list).
#[derive(Debug, Clone)]
pub struct StoredCodec {
    file: Vec<ProviderConfig>,
}

impl StoredCodec {
    /// A codec whose fallback list is `file` (the configuration file's providers).
    pub fn new(file: Vec<ProviderConfig>) -> Self {
        Self { file }
    }
}

/// Whether a submitted secret means "keep the stored one".
fn keeps(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s == SECRET_SET || s == REDACTED,
        Some(_) => false,
    }
}

/// A provider's credentials, field path → value: the JSON object core seals.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct SecretMap(#[serde(with = "crate::secret_serde::map")] BTreeMap<String, SecretString>);

/// The stored credentials of a provider as a field → value map.
fn secret_map(p: &OpenProvider) -> Result<BTreeMap<String, SecretString>, ConfigError> {
    let Some(s) = &p.secrets else {
        return Ok(BTreeMap::new());
    };
    let map: SecretMap = serde_json::from_str(s.expose())
        .map_err(|_| ConfigError::Malformed("stored credentials do not parse".to_owned()))?;
    Ok(map.0)
}

/// Puts each stored secret into `settings` where the submission left it out, `null` or
/// `"set"`. A `headers` object that is absent keeps every stored header; a header absent
/// from a given `headers` object is removed.
fn fill_kept(settings: &mut Map<String, Value>, stored: &BTreeMap<String, SecretString>) {
    let headers_absent = !settings.contains_key("headers");
    for (field, value) in stored {
        let v = Value::String(value.expose().to_owned());
        if let Some(h) = field.strip_prefix("headers.") {
            let headers = settings
                .entry("headers")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(headers) = headers
                && ((headers_absent && !headers.contains_key(h))
                    || (headers.contains_key(h) && keeps(headers.get(h))))
            {
                headers.insert(h.to_owned(), v);
            }
        } else if keeps(settings.get(field)) {
            settings.insert(field.clone(), v);
        }
    }
}

/// Parses one submitted provider, filling kept secrets from `stored`.
fn parse_one(
    i: usize,
    submitted: &Value,
    stored: &[OpenProvider],
) -> Result<ProviderConfig, ConfigError> {
    let mut doc = submitted.clone();
    let Value::Object(obj) = &mut doc else {
        return Err(ConfigError::invalid(
            format!("providers[{i}]"),
            "must be an object {\"name\": …, \"settings\": {\"type\": …, …}}",
        ));
    };
    let name = obj.get("name").and_then(Value::as_str).map(str::to_owned);
    let mut kept_from = None;
    if let (Some(name), Some(Value::Object(settings))) = (name, obj.get_mut("settings")) {
        let kind = settings.get("type").and_then(Value::as_str);
        if let Some(old) = stored
            .iter()
            .find(|p| p.name == name && Some(p.kind.as_str()) == kind)
        {
            let before = settings.clone();
            fill_kept(settings, &secret_map(old)?);
            if *settings != before {
                kept_from = Some(old);
            }
        }
    }
    // Which entry, but no position in a text there is none of (values are parsed, not text).
    let config: ProviderConfig = serde_json::from_value(doc).map_err(|e| {
        let m = crate::error::parse_message(&e.to_string(), e.line(), e.column());
        ConfigError::Malformed(format!(
            "providers[{i}]: {}",
            m.replace(" (line 0, column 0)", "")
        ))
    })?;
    // A kept credential goes only where it went before: otherwise an administrator could
    // point the provider at a host of their own and receive the token they cannot read.
    // (An invalid entry is refused by `validate_providers` with its own, clearer message.)
    if let Some(old) = kept_from
        && config.validate().is_ok()
    {
        let old_settings: ProviderSettings = serde_json::from_value(old.settings.clone())
            .map_err(|_| ConfigError::Malformed("stored settings do not parse".to_owned()))?;
        if let Some((field, new_dest)) = destination(&config.settings)
            && destination(&old_settings).is_none_or(|(_, old_dest)| old_dest != new_dest)
        {
            return Err(ConfigError::invalid(
                format!("providers[{i}].settings.{field}"),
                "differs from the stored provider's destination: enter the provider's \
                 credentials again (stored ones are kept only for the same destination)",
            ));
        }
    }
    Ok(config)
}

/// The field that says where a provider's credentials are sent, and that destination's
/// origin (scheme, host, port; the whole value when it has none); `None` for the outbox.
fn destination(settings: &ProviderSettings) -> Option<(&'static str, String)> {
    let (field, value) = match settings {
        ProviderSettings::Twilio(c) => ("api_base", c.api_base.as_str()),
        ProviderSettings::GenericHttp(c) => ("url", c.url.as_str()),
        ProviderSettings::Kannel(c) => ("url", c.url.as_str()),
        ProviderSettings::Outbox(_) => return None,
    };
    let origin = url::Url::parse(value)
        .ok()
        .map(|u| u.origin())
        .filter(url::Origin::is_tuple)
        .map_or_else(|| value.to_owned(), |o| o.ascii_serialization());
    Some((field, origin))
}

/// Splits validated settings into the stored form (secrets blanked) and the secrets.
fn split(p: &ProviderConfig) -> Result<OpenProvider, ConfigError> {
    let mut settings = p.settings.clone();
    let mut secrets = BTreeMap::new();
    for (field, s) in settings.secrets_mut() {
        secrets.insert(field, std::mem::take(s));
    }
    let secrets = if secrets.is_empty() {
        None
    } else {
        let text = Zeroizing::new(
            serde_json::to_string(&SecretMap(secrets))
                .map_err(|_| ConfigError::Malformed("credentials do not serialise".to_owned()))?,
        );
        Some(SecretString::from(text.as_str()))
    };
    Ok(OpenProvider {
        name: p.name.clone(),
        kind: settings.kind().to_owned(),
        settings: serde_json::to_value(&settings)
            .map_err(|_| ConfigError::Malformed("settings do not serialise".to_owned()))?,
        secrets,
    })
}

/// A stored provider back as a configuration, credentials in place.
pub fn provider_config(p: &OpenProvider) -> Result<ProviderConfig, ConfigError> {
    let mut settings: ProviderSettings = serde_json::from_value(p.settings.clone())?;
    let stored = secret_map(p)?;
    for (field, s) in settings.secrets_mut() {
        if let Some(v) = stored.get(&field) {
            *s = v.clone();
        }
    }
    let c = ProviderConfig {
        name: p.name.clone(),
        settings,
    };
    c.validate()?;
    Ok(c)
}

/// `{"name", "settings"}` with every secret shown as [`SECRET_SET`].
fn view(name: &str, settings: &ProviderSettings) -> Value {
    let mut copy = settings.clone();
    for (_, s) in copy.secrets_mut() {
        *s = SecretString::from(SECRET_SET);
    }
    serde_json::json!({
        "name": name,
        "settings": serde_json::to_value(&copy).unwrap_or(Value::Null),
    })
}

impl StoredCodec {
    /// An outbox file named through the API must be one the configuration file names, or an
    /// absolute path ending in `.jsonl`: the server appends to that path, and an administrator
    /// must not be able to aim it at the database, the master key or another file the server
    /// can write.
    fn check_outbox_files(&self, list: &[ProviderConfig]) -> Result<(), ConfigError> {
        let configured: Vec<&std::path::Path> = self
            .file
            .iter()
            .filter_map(|p| match &p.settings {
                ProviderSettings::Outbox(o) => o.file.as_deref(),
                _ => None,
            })
            .collect();
        for (i, p) in list.iter().enumerate() {
            if let ProviderSettings::Outbox(o) = &p.settings
                && let Some(f) = &o.file
                && !configured.contains(&f.as_path())
                && !(f.is_absolute() && f.extension().is_some_and(|e| e == "jsonl"))
            {
                return Err(ConfigError::invalid(
                    format!("providers[{i}].settings.file"),
                    "through the API an outbox file must be an absolute path ending in .jsonl \
                     (or one the configuration file names)",
                ));
            }
        }
        Ok(())
    }
}

impl ProviderCodec for StoredCodec {
    fn prepare(
        &self,
        submitted: &[Value],
        stored: &[OpenProvider],
    ) -> Result<Vec<OpenProvider>, ProviderListError> {
        let run = || -> Result<Vec<OpenProvider>, ConfigError> {
            let list = submitted
                .iter()
                .enumerate()
                .map(|(i, v)| parse_one(i, v, stored))
                .collect::<Result<Vec<_>, _>>()?;
            validate_providers(&list)?;
            self.check_outbox_files(&list)?;
            list.iter().map(split).collect()
        };
        run().map_err(|e| ProviderListError(e.to_string()))
    }

    fn redact(&self, provider: &OpenProvider) -> Value {
        match provider_config(provider) {
            Ok(c) => view(&c.name, &c.settings),
            Err(_) => {
                serde_json::json!({"name": provider.name, "settings": {"type": provider.kind}})
            }
        }
    }

    fn file_providers(&self) -> Vec<Value> {
        self.file
            .iter()
            .map(|p| view(&p.name, &p.settings))
            .collect()
    }
}

/// The service in use and the stored version it was built from (`None`: the file's list).
struct Current {
    version: Option<i64>,
    service: Arc<MessagingService>,
}

/// A [`Messenger`] that sends through the administrator's stored providers when the database
/// holds a list, through the configuration file's otherwise, and picks up a change at the
/// next send on every node.
pub struct ReloadingMessenger {
    admin: Arc<AdminService>,
    config: MessagingConfig,
    clock: Arc<dyn Clock>,
    file: Arc<MessagingService>,
    current: Mutex<Arc<Current>>,
}

impl std::fmt::Debug for ReloadingMessenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingMessenger").finish_non_exhaustive()
    }
}

impl ReloadingMessenger {
    /// Validates `config` and the file's `providers` and builds the messenger; the stored
    /// list, if any, is loaded at the first send.
    pub fn new(
        admin: Arc<AdminService>,
        config: &MessagingConfig,
        providers: &[ProviderConfig],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let file = Arc::new(MessagingService::new(config, providers, &clock)?);
        Ok(Self {
            admin,
            config: config.clone(),
            clock,
            current: Mutex::new(Arc::new(Current {
                version: None,
                service: Arc::clone(&file),
            })),
            file,
        })
    }

    fn cached(&self) -> Arc<Current> {
        match self.current.lock() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    fn replace(&self, next: Arc<Current>) {
        match self.current.lock() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
    }

    /// The service for the stored list as it is now (rebuilt if its version changed). When
    /// the store cannot be read or the stored list cannot be built, the last good service is
    /// kept and the failure logged; the next send tries again.
    pub async fn service(&self) -> Arc<MessagingService> {
        let cached = self.cached();
        let version = match self.admin.messaging_providers_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the messaging provider version; using the last list");
                return Arc::clone(&cached.service);
            }
        };
        if version == cached.version {
            return Arc::clone(&cached.service);
        }
        let next = match self.build().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the stored messaging providers; using the last list");
                return Arc::clone(&cached.service);
            }
        };
        let service = Arc::clone(&next.service);
        tracing::info!(
            version = ?next.version,
            providers = ?service.provider_names(),
            "messaging providers reloaded"
        );
        self.replace(next);
        service
    }

    async fn build(&self) -> Result<Arc<Current>, String> {
        let Some((version, list)) = self
            .admin
            .load_messaging_providers()
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(Arc::new(Current {
                version: None,
                service: Arc::clone(&self.file),
            }));
        };
        let configs = list
            .iter()
            .map(provider_config)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let service = MessagingService::new(&self.config, &configs, &self.clock)
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(Current {
            version: Some(version),
            service: Arc::new(service),
        }))
    }
}

#[async_trait::async_trait]
impl Messenger for ReloadingMessenger {
    async fn deliver(&self, m: &PhoneMessage) -> Delivery {
        self.service().await.deliver(m).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use serde_json::json;

    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn codec() -> StoredCodec {
        StoredCodec::new(vec![ProviderConfig::default_outbox()])
    }

    fn twilio(token: Option<Value>) -> Value {
        let mut s = json!({"type": "twilio", "account_sid": SID, "from": "+15005550006"});
        if let Some(t) = token {
            s["auth_token"] = t;
        }
        json!({"name": "tw", "settings": s})
    }

    fn generic(headers: Option<Value>) -> Value {
        let mut s = json!({"type": "generic_http", "url": "https://sms.example.org/send",
            "body_template": "{\"to\":\"{to}\",\"text\":\"{text}\"}"});
        if let Some(h) = headers {
            s["headers"] = h;
        }
        json!({"name": "gw", "settings": s})
    }

    fn secrets(p: &OpenProvider) -> Value {
        serde_json::from_str(p.secrets.as_ref().unwrap().expose()).unwrap()
    }

    #[test]
    fn secrets_are_split_out_redacted_and_put_back() {
        let c = codec();
        let list = c.prepare(&[twilio(Some(json!("tok-1")))], &[]).unwrap();
        let p = &list[0];
        assert_eq!(p.kind, "twilio");
        assert_eq!(p.settings["auth_token"], "");
        assert!(!p.settings.to_string().contains("tok-1"));
        assert_eq!(secrets(p), json!({"auth_token": "tok-1"}));
        let view = c.redact(p);
        assert_eq!(view["settings"]["auth_token"], SECRET_SET);
        assert!(!view.to_string().contains("tok-1"));
        let back = provider_config(p).unwrap();
        match &back.settings {
            ProviderSettings::Twilio(t) => assert_eq!(t.auth_token.expose(), "tok-1"),
            other => panic!("{other:?}"),
        }
        // The outbox has no secrets at all.
        let list = c
            .prepare(
                &[json!({"name": "ob", "settings": {"type": "outbox"}})],
                &[],
            )
            .unwrap();
        assert_eq!(list[0].secrets, None);
        assert_eq!(c.file_providers()[0]["name"], "outbox");
    }

    #[test]
    fn omitted_null_and_set_keep_the_stored_secret_of_the_same_name_and_type() {
        let c = codec();
        let stored = c.prepare(&[twilio(Some(json!("tok-1")))], &[]).unwrap();
        for t in [
            None,
            Some(Value::Null),
            Some(json!("set")),
            Some(json!(REDACTED)),
        ] {
            let list = c.prepare(&[twilio(t)], &stored).unwrap();
            assert_eq!(secrets(&list[0]), json!({"auth_token": "tok-1"}));
        }
        let list = c.prepare(&[twilio(Some(json!("tok-2")))], &stored).unwrap();
        assert_eq!(secrets(&list[0]), json!({"auth_token": "tok-2"}));
        // Another name: nothing to keep, so the token is missing.
        let mut renamed = twilio(None);
        renamed["name"] = json!("tw2");
        let e = c.prepare(&[renamed], &stored).unwrap_err();
        assert!(e.0.contains("auth_token"), "{}", e.0);
    }

    #[test]
    fn a_kept_secret_never_follows_a_new_destination() {
        let c = codec();
        let stored = c.prepare(&[twilio(Some(json!("tok-1")))], &[]).unwrap();
        let mut moved = twilio(Some(json!("set")));
        moved["settings"]["api_base"] = json!("https://attacker.example");
        let e = c.prepare(&[moved.clone()], &stored).unwrap_err();
        assert!(e.0.contains("api_base"), "{}", e.0);
        assert!(!e.0.contains("tok-1"), "{}", e.0);
        // With the credential typed again, the move is fine.
        moved["settings"]["auth_token"] = json!("tok-2");
        let list = c.prepare(&[moved], &stored).unwrap();
        assert_eq!(secrets(&list[0]), json!({"auth_token": "tok-2"}));
        // Another path on the same host keeps the headers.
        let stored = c
            .prepare(&[generic(Some(json!({"Authorization": "Bearer a"})))], &[])
            .unwrap();
        let mut p = generic(None);
        p["settings"]["url"] = json!("https://sms.example.org/v2/send");
        let l = c.prepare(&[p.clone()], &stored).unwrap();
        assert_eq!(secrets(&l[0]), json!({"headers.Authorization": "Bearer a"}));
        p["settings"]["url"] = json!("https://sms.example.org:8443/send");
        assert!(c.prepare(&[p], &stored).unwrap_err().0.contains("url"));
    }

    #[test]
    fn headers_are_kept_replaced_or_removed() {
        let c = codec();
        let stored = c
            .prepare(
                &[generic(Some(
                    json!({"Authorization": "Bearer a", "X-Key": "k"}),
                ))],
                &[],
            )
            .unwrap();
        // No `headers`: all kept.
        let l = c.prepare(&[generic(None)], &stored).unwrap();
        assert_eq!(
            secrets(&l[0]),
            json!({"headers.Authorization": "Bearer a", "headers.X-Key": "k"})
        );
        // `null`/"set" keep, a new value replaces, a header left out is removed.
        let l = c
            .prepare(
                &[generic(Some(
                    json!({"Authorization": null, "X-Other": "o"}),
                ))],
                &stored,
            )
            .unwrap();
        assert_eq!(
            secrets(&l[0]),
            json!({"headers.Authorization": "Bearer a", "headers.X-Other": "o"})
        );
        let l = c
            .prepare(&[generic(Some(json!({"X-Key": "set"})))], &stored)
            .unwrap();
        assert_eq!(secrets(&l[0]), json!({"headers.X-Key": "k"}));
    }

    #[test]
    fn errors_name_the_field_and_never_quote_a_secret() {
        let c = codec();
        let mut p = twilio(Some(json!("tok-1")));
        p["settings"]["sms"] = json!("hunter2-secret");
        let e = c.prepare(&[p], &[]).unwrap_err();
        assert!(!e.0.contains("hunter2-secret"), "{}", e.0);
        let e = c.prepare(&[json!(42)], &[]).unwrap_err();
        assert!(e.0.starts_with("providers[0]"), "{}", e.0);
        let e = c
            .prepare(&[twilio(Some(json!("a"))), twilio(Some(json!("b")))], &[])
            .unwrap_err();
        assert!(e.0.contains("unique"), "{}", e.0);
    }
}
