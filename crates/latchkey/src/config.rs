//! Configuration: one versioned TOML file, `LATCHKEY_<SECTION>_<KEY>` environment overrides,
//! command-line flags over both; parsed into [`RawConfig`] and validated once into [`Config`].
//!
//! Precedence: flag > environment > file > default. Unknown keys in the file are errors, so a
//! misspelt setting never passes silently.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use latchkey_core::authn::PhoneCodeSettings;
use latchkey_core::console::ConsoleSettings;
use latchkey_core::delivery::SendLimits;
use latchkey_core::emergency::{EacSettings, parse_lifetime};
use latchkey_messaging::{
    MessagingConfig, OutboxConfig, ProviderConfig, ProviderSettings, validate_providers,
};
use serde::Deserialize;

/// The configuration file format version this build reads.
pub const CONFIG_VERSION: u32 = 1;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Format version; must be 1 when present.
    pub version: Option<u32>,
    /// `[server]`.
    #[serde(default)]
    pub server: RawServer,
    /// `[database]`.
    #[serde(default)]
    pub database: RawDatabase,
    /// `[security]`.
    #[serde(default)]
    pub security: RawSecurity,
    /// `[log]`.
    #[serde(default)]
    pub log: RawLog,
    /// `[radius]`.
    #[serde(default)]
    pub radius: RawRadius,
    /// `[emergency]`.
    #[serde(default)]
    pub emergency: RawEmergency,
    /// `[messaging]`.
    #[serde(default)]
    pub messaging: RawMessaging,
    #[serde(default)]
    pub console: RawConsole,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    pub idle_timeout: Option<String>,
    pub max_lifetime: Option<String>,
    pub secure_cookies: Option<bool>,
}

/// `[emergency]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmergency {
    /// Maximum lifetime of new online emergency tokencodes in days; 0 means no maximum.
    pub max_code_lifetime_days: Option<u32>,
    /// Length of emergency access codes (8–48).
    pub access_code_length: Option<u32>,
    /// Emergency access codes are one-time unless a request says otherwise.
    pub access_code_one_time: Option<bool>,
    /// Default online validity of emergency access codes (`30m`, `12h`, `7d`).
    pub access_code_expires_in: Option<String>,
    /// Default offline validity of emergency access codes.
    pub access_code_offline_expires_in: Option<String>,
    /// The defaults override what a request asks.
    pub access_code_lock_defaults: Option<bool>,
}

/// `[messaging]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessaging {
    /// Digits of SMS and voice codes (6 or 8).
    pub code_digits: Option<u32>,
    /// Validity of SMS and voice codes in minutes (1–70).
    pub code_valid_minutes: Option<u32>,
    /// Answers allowed per code (1–10).
    pub code_tries: Option<u32>,
    /// Codes per user per window.
    pub per_user: Option<u32>,
    /// The per-user window in minutes.
    pub per_user_window_minutes: Option<u32>,
    /// Codes per destination number per hour.
    pub per_destination_per_hour: Option<u32>,
    /// Codes per deployment per hour.
    pub per_deployment_per_hour: Option<u32>,
    /// Seconds between two codes to one user.
    pub resend_cooldown_seconds: Option<u32>,
    /// `[messaging.texts]`: SMS template, voice wording, timeouts and retries.
    #[serde(default)]
    pub texts: MessagingConfig,
    /// `[[messaging.provider]]`: providers, tried in order.
    #[serde(default)]
    pub provider: Vec<ProviderConfig>,
}

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// HTTP listen address.
    pub http_listen: Option<String>,
    /// Allow plain HTTP on a non-loopback address.
    pub allow_insecure_http: Option<bool>,
    /// PEM certificate chain for HTTPS.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for HTTPS.
    pub tls_key_file: Option<PathBuf>,
}

/// `[database]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// Database URL; empty means SQLite in the data directory.
    pub url: Option<String>,
}

/// `[security]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    /// Master key file; default `DATA_DIR/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// Name of the super administrator created on first start.
    pub first_admin_name: Option<String>,
}

/// `[radius]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRadius {
    /// UDP listen address; empty turns RADIUS off.
    pub listen: Option<String>,
}

/// `[log]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive.
    pub level: Option<String>,
    /// `text` or `json`.
    pub format: Option<String>,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// RADIUS listen address, or off.
    pub radius_listen: RadiusListen,
    /// TLS certificate and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Database URL (already defaulted to the SQLite file).
    pub database_url: String,
    /// Master key file.
    pub master_key_file: PathBuf,
    /// First administrator's name.
    pub first_admin_name: String,
    /// Log filter.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Maximum lifetime of new online emergency tokencodes in days (`None`: no maximum).
    pub max_emergency_lifetime_days: Option<u32>,
    /// Emergency access code settings.
    pub eac: EacSettings,
    /// SMS and voice codes.
    pub phone_code: PhoneCodeSettings,
    /// Abuse limits of SMS and voice codes.
    pub send_limits: SendLimits,
    /// Message texts and delivery timing.
    pub messaging: MessagingConfig,
    /// SMS and voice providers in order; the outbox (`DATA_DIR/outbox.jsonl`) when none is
    /// configured.
    pub providers: Vec<ProviderConfig>,
    /// Security Console session lifetimes.
    pub console: ConsoleSettings,
    /// Whether console cookies are `Secure` (and `__Host-`): with TLS, or behind a TLS proxy.
    pub console_secure_cookies: bool,
}

/// Where the RADIUS server listens: a UDP address, or nowhere (`[radius] listen = ""`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RadiusListen(pub Option<SocketAddr>);

impl RadiusListen {
    /// The address, when RADIUS is on.
    pub fn addr(self) -> Option<SocketAddr> {
        self.0
    }
}

impl fmt::Display for RadiusListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("off"),
        }
    }
}

/// Values given on the command line, which win over everything.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--http-listen`.
    pub http_listen: Option<String>,
    /// `--radius-listen` (an empty value turns RADIUS off).
    pub radius_listen: Option<String>,
}

/// A configuration problem, reported at startup.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped key.
    #[error("configuration file {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What and where.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("configuration {key}: {message}")]
    Invalid {
        /// `section.key` and its environment name.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Every key that can be overridden from the environment: `(section.key, ENV_NAME)`.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("server.http_listen", "LATCHKEY_SERVER_HTTP_LISTEN"),
    (
        "server.allow_insecure_http",
        "LATCHKEY_SERVER_ALLOW_INSECURE_HTTP",
    ),
    ("server.tls_cert_file", "LATCHKEY_SERVER_TLS_CERT_FILE"),
    ("server.tls_key_file", "LATCHKEY_SERVER_TLS_KEY_FILE"),
    ("database.url", "LATCHKEY_DATABASE_URL"),
    (
        "security.master_key_file",
        "LATCHKEY_SECURITY_MASTER_KEY_FILE",
    ),
    (
        "security.first_admin_name",
        "LATCHKEY_SECURITY_FIRST_ADMIN_NAME",
    ),
    ("log.level", "LATCHKEY_LOG_LEVEL"),
    ("log.format", "LATCHKEY_LOG_FORMAT"),
    ("radius.listen", "LATCHKEY_RADIUS_LISTEN"),
    (
        "emergency.max_code_lifetime_days",
        "LATCHKEY_EMERGENCY_MAX_CODE_LIFETIME_DAYS",
    ),
    (
        "emergency.access_code_length",
        "LATCHKEY_EMERGENCY_ACCESS_CODE_LENGTH",
    ),
    (
        "emergency.access_code_one_time",
        "LATCHKEY_EMERGENCY_ACCESS_CODE_ONE_TIME",
    ),
    (
        "emergency.access_code_expires_in",
        "LATCHKEY_EMERGENCY_ACCESS_CODE_EXPIRES_IN",
    ),
    (
        "emergency.access_code_offline_expires_in",
        "LATCHKEY_EMERGENCY_ACCESS_CODE_OFFLINE_EXPIRES_IN",
    ),
    (
        "emergency.access_code_lock_defaults",
        "LATCHKEY_EMERGENCY_ACCESS_CODE_LOCK_DEFAULTS",
    ),
    ("messaging.code_digits", "LATCHKEY_MESSAGING_CODE_DIGITS"),
    (
        "messaging.code_valid_minutes",
        "LATCHKEY_MESSAGING_CODE_VALID_MINUTES",
    ),
    ("messaging.code_tries", "LATCHKEY_MESSAGING_CODE_TRIES"),
    ("messaging.per_user", "LATCHKEY_MESSAGING_PER_USER"),
    (
        "messaging.per_user_window_minutes",
        "LATCHKEY_MESSAGING_PER_USER_WINDOW_MINUTES",
    ),
    (
        "messaging.per_destination_per_hour",
        "LATCHKEY_MESSAGING_PER_DESTINATION_PER_HOUR",
    ),
    (
        "messaging.per_deployment_per_hour",
        "LATCHKEY_MESSAGING_PER_DEPLOYMENT_PER_HOUR",
    ),
    (
        "messaging.resend_cooldown_seconds",
        "LATCHKEY_MESSAGING_RESEND_COOLDOWN_SECONDS",
    ),
    ("console.idle_timeout", "LATCHKEY_CONSOLE_IDLE_TIMEOUT"),
    ("console.max_lifetime", "LATCHKEY_CONSOLE_MAX_LIFETIME"),
    ("console.secure_cookies", "LATCHKEY_CONSOLE_SECURE_COOKIES"),
];

impl RawConfig {
    /// Reads and parses a file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())
    }

    /// Applies environment overrides from `env` (a lookup, so tests need not touch the real
    /// environment).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (key, name) in ENV_KEYS {
            let Some(v) = env(name) else { continue };
            match *key {
                "server.http_listen" => self.server.http_listen = Some(v),
                "server.allow_insecure_http" => {
                    self.server.allow_insecure_http =
                        Some(parse_bool(&v).ok_or_else(|| invalid(name, "must be true or false"))?);
                }
                "server.tls_cert_file" => self.server.tls_cert_file = Some(v.into()),
                "server.tls_key_file" => self.server.tls_key_file = Some(v.into()),
                "database.url" => self.database.url = Some(v),
                "security.master_key_file" => self.security.master_key_file = Some(v.into()),
                "security.first_admin_name" => self.security.first_admin_name = Some(v),
                "log.level" => self.log.level = Some(v),
                "log.format" => self.log.format = Some(v),
                "radius.listen" => self.radius.listen = Some(v),
                "emergency.max_code_lifetime_days" => {
                    self.emergency.max_code_lifetime_days = Some(number(name, &v)?);
                }
                "emergency.access_code_length" => {
                    self.emergency.access_code_length = Some(number(name, &v)?);
                }
                "emergency.access_code_one_time" => {
                    self.emergency.access_code_one_time =
                        Some(parse_bool(&v).ok_or_else(|| invalid(name, "must be true or false"))?);
                }
                "emergency.access_code_expires_in" => {
                    self.emergency.access_code_expires_in = Some(v);
                }
                "emergency.access_code_offline_expires_in" => {
                    self.emergency.access_code_offline_expires_in = Some(v);
                }
                "emergency.access_code_lock_defaults" => {
                    self.emergency.access_code_lock_defaults =
                        Some(parse_bool(&v).ok_or_else(|| invalid(name, "must be true or false"))?);
                }
                "messaging.code_digits" => self.messaging.code_digits = Some(number(name, &v)?),
                "messaging.code_valid_minutes" => {
                    self.messaging.code_valid_minutes = Some(number(name, &v)?);
                }
                "messaging.code_tries" => self.messaging.code_tries = Some(number(name, &v)?),
                "messaging.per_user" => self.messaging.per_user = Some(number(name, &v)?),
                "messaging.per_user_window_minutes" => {
                    self.messaging.per_user_window_minutes = Some(number(name, &v)?);
                }
                "messaging.per_destination_per_hour" => {
                    self.messaging.per_destination_per_hour = Some(number(name, &v)?);
                }
                "messaging.per_deployment_per_hour" => {
                    self.messaging.per_deployment_per_hour = Some(number(name, &v)?);
                }
                "messaging.resend_cooldown_seconds" => {
                    self.messaging.resend_cooldown_seconds = Some(number(name, &v)?);
                }
                "console.idle_timeout" => self.console.idle_timeout = Some(v),
                "console.max_lifetime" => self.console.max_lifetime = Some(v),
                "console.secure_cookies" => {
                    self.console.secure_cookies =
                        Some(parse_bool(&v).ok_or_else(|| invalid(name, "must be true or false"))?);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Validates into a [`Config`].
    pub fn validate(self, data_dir: &Path, o: &Overrides) -> Result<Config, ConfigError> {
        if let Some(v) = self.version
            && v != CONFIG_VERSION
        {
            return Err(invalid(
                "version",
                format!("this build reads version {CONFIG_VERSION}, the file says {v}"),
            ));
        }
        let addr =
            |key: &str, v: Option<&String>, default: &str| -> Result<SocketAddr, ConfigError> {
                let s = v.map_or(default, String::as_str);
                s.parse().map_err(|_| {
                    invalid(
                        key,
                        format!("{s:?} is not an address:port such as 127.0.0.1:8080"),
                    )
                })
            };
        let http_listen = addr(
            "server.http_listen",
            o.http_listen.as_ref().or(self.server.http_listen.as_ref()),
            "127.0.0.1:8080",
        )?;
        let radius_listen = match o.radius_listen.as_ref().or(self.radius.listen.as_ref()) {
            Some(v) if v.trim().is_empty() => RadiusListen(None),
            v => RadiusListen(Some(addr("radius.listen", v, "127.0.0.1:1812")?)),
        };
        let tls = tls_files(self.server.tls_cert_file, self.server.tls_key_file)?;
        let behind_proxy = tls.is_none() && !http_listen.ip().is_loopback();
        if behind_proxy && !self.server.allow_insecure_http.unwrap_or(false) {
            return Err(invalid(
                "server.http_listen",
                format!(
                    "{http_listen} is reachable from the network but TLS is not configured; set tls_cert_file and \
                     tls_key_file, or allow_insecure_http = true behind a TLS-terminating proxy"
                ),
            ));
        }
        let database_url = match o
            .database_url
            .clone()
            .or(self.database.url)
            .filter(|u| !u.is_empty())
        {
            Some(u) => u,
            None => format!("sqlite://{}", data_dir.join("latchkey.db").display()),
        };
        let log_format = match self.log.format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("{other:?} is neither text nor json"),
                ));
            }
        };
        let max_emergency_lifetime_days = max_lifetime(&self.emergency)?;
        let (console, console_secure_cookies) =
            console_settings(&self.console, tls.is_some() || behind_proxy)?;
        let eac = eac_settings(&self.emergency)?;
        let (phone_code, send_limits) = messaging_settings(&self.messaging)?;
        let providers = providers(self.messaging.provider, data_dir)?;
        self.messaging
            .texts
            .validate()
            .map_err(|e| invalid("messaging.texts", e.to_string()))?;
        let log_level = self.log.level.unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid(
                "log.level",
                format!("{log_level:?} is not a level or filter directive"),
            ));
        }
        Ok(Config {
            data_dir: data_dir.to_owned(),
            http_listen,
            radius_listen,
            tls,
            database_url,
            master_key_file: self
                .security
                .master_key_file
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| data_dir.join("master.key")),
            first_admin_name: self
                .security
                .first_admin_name
                .unwrap_or_else(|| "admin".to_owned()),
            log_level,
            log_format,
            max_emergency_lifetime_days,
            eac,
            phone_code,
            send_limits,
            messaging: self.messaging.texts,
            providers,
            console,
            console_secure_cookies,
        })
    }
}

/// Both TLS files, or neither (absent or both empty).
fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    match (cert, key) {
        (Some(c), Some(k)) if !c.as_os_str().is_empty() && !k.as_os_str().is_empty() => {
            Ok(Some((c, k)))
        }
        (None, None) => Ok(None),
        (Some(c), Some(k)) if c.as_os_str().is_empty() && k.as_os_str().is_empty() => Ok(None),
        _ => Err(invalid(
            "server.tls_cert_file",
            "give both tls_cert_file and tls_key_file, or neither",
        )),
    }
}

/// A whole number from the environment.
fn number(name: &str, v: &str) -> Result<u32, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| invalid(name, "must be a whole number"))
}

/// `[console] idle_timeout` (1 minute – 24 hours), `max_lifetime` (at least the idle
/// timeout, at most 7 days) and `secure_cookies`, whose default `https` is true with TLS and
/// on a non-loopback plain-HTTP listener: browsers reach that only through the TLS proxy that
/// `allow_insecure_http` promises.
fn console_settings(c: &RawConsole, https: bool) -> Result<(ConsoleSettings, bool), ConfigError> {
    let d = ConsoleSettings::default();
    let secs = |key: &'static str, v: &Option<String>, default: i64| match v {
        Some(t) => parse_lifetime("lifetime", t).map_err(|e| invalid(key, e.to_string())),
        None => Ok(default),
    };
    let idle_timeout = secs("console.idle_timeout", &c.idle_timeout, d.idle_timeout)?;
    let max_lifetime = secs("console.max_lifetime", &c.max_lifetime, d.max_lifetime)?;
    if !(60..=86_400).contains(&idle_timeout) {
        return Err(invalid(
            "console.idle_timeout",
            "must be between 1m and 24h",
        ));
    }
    if max_lifetime < idle_timeout || max_lifetime > 7 * 86_400 {
        return Err(invalid(
            "console.max_lifetime",
            "must be at least the idle timeout and at most 7d",
        ));
    }
    Ok((
        ConsoleSettings {
            idle_timeout,
            max_lifetime,
        },
        c.secure_cookies.unwrap_or(https),
    ))
}

/// `[emergency] max_code_lifetime_days`: `None` for no maximum (0).
fn max_lifetime(e: &RawEmergency) -> Result<Option<u32>, ConfigError> {
    match e.max_code_lifetime_days.unwrap_or(30) {
        0 => Ok(None),
        d if d <= 3650 => Ok(Some(d)),
        d => Err(invalid(
            "emergency.max_code_lifetime_days",
            format!("{d} is more than 3650 days; use 0 for no maximum"),
        )),
    }
}

/// `[emergency] access_code_*`, validated.
fn eac_settings(e: &RawEmergency) -> Result<EacSettings, ConfigError> {
    let d = EacSettings::default();
    let lifetime = |key: &'static str, v: &Option<String>, default: i64| match v {
        Some(t) => parse_lifetime("lifetime", t).map_err(|e| invalid(key, e.to_string())),
        None => Ok(default),
    };
    let s = EacSettings {
        default_one_time: e.access_code_one_time.unwrap_or(d.default_one_time),
        default_expires_secs: lifetime(
            "emergency.access_code_expires_in",
            &e.access_code_expires_in,
            d.default_expires_secs,
        )?,
        default_offline_expires_secs: lifetime(
            "emergency.access_code_offline_expires_in",
            &e.access_code_offline_expires_in,
            d.default_offline_expires_secs,
        )?,
        lock: e.access_code_lock_defaults.unwrap_or(d.lock),
        length: e.access_code_length.unwrap_or(d.length),
    };
    s.validate()
        .map_err(|m| invalid("emergency.access_code_*", m))?;
    Ok(s)
}

/// `[[messaging.provider]]`, validated; the outbox into `DATA_DIR/outbox.jsonl` when empty.
fn providers(
    list: Vec<ProviderConfig>,
    data_dir: &Path,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    if list.is_empty() {
        return Ok(vec![ProviderConfig {
            name: "outbox".to_owned(),
            settings: ProviderSettings::Outbox(OutboxConfig {
                file: Some(data_dir.join("outbox.jsonl")),
            }),
        }]);
    }
    validate_providers(&list).map_err(|e| invalid("messaging.provider", e.to_string()))?;
    Ok(list)
}

/// `[messaging]` codes and limits, validated.
fn messaging_settings(m: &RawMessaging) -> Result<(PhoneCodeSettings, SendLimits), ConfigError> {
    let dc = PhoneCodeSettings::default();
    let code = PhoneCodeSettings {
        digits: m.code_digits.unwrap_or(dc.digits),
        valid_minutes: m.code_valid_minutes.unwrap_or(dc.valid_minutes),
        tries: m.code_tries.unwrap_or(dc.tries),
    };
    if code.digits != 6 && code.digits != 8 {
        return Err(invalid("messaging.code_digits", "must be 6 or 8"));
    }
    if !(1..=70).contains(&code.valid_minutes) {
        return Err(invalid("messaging.code_valid_minutes", "must be 1 to 70"));
    }
    if !(1..=10).contains(&code.tries) {
        return Err(invalid("messaging.code_tries", "must be 1 to 10"));
    }
    let dl = SendLimits::default();
    let positive = |key: &'static str, v: Option<u32>, default: u32| match v {
        Some(0) => Err(invalid(key, "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let limits = SendLimits {
        per_user: positive("messaging.per_user", m.per_user, dl.per_user)?,
        user_window_secs: i64::from(positive(
            "messaging.per_user_window_minutes",
            m.per_user_window_minutes,
            15,
        )?) * 60,
        per_destination_per_hour: positive(
            "messaging.per_destination_per_hour",
            m.per_destination_per_hour,
            dl.per_destination_per_hour,
        )?,
        per_deployment_per_hour: positive(
            "messaging.per_deployment_per_hour",
            m.per_deployment_per_hour,
            dl.per_deployment_per_hour,
        )?,
        cooldown_secs: m
            .resend_cooldown_seconds
            .map_or(dl.cooldown_secs, i64::from),
    };
    Ok((code, limits))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Loads the configuration: the file given, else `DATA_DIR/latchkey.toml` if present, else
/// defaults; then the environment; then flags.
pub fn load(data_dir: &Path, file: Option<&Path>, o: &Overrides) -> Result<Config, ConfigError> {
    let default_file = data_dir.join("latchkey.toml");
    let mut raw = match file {
        Some(f) => RawConfig::from_file(f)?,
        None if default_file.exists() => RawConfig::from_file(&default_file)?,
        None => RawConfig::default(),
    };
    raw.apply_env(|k| std::env::var(k).ok())?;
    raw.validate(data_dir, o)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that the file `text` is refused with a message naming `key`.
    fn assert_refused(text: &str, key: &str) {
        let e = RawConfig::from_toml(text)
            .unwrap()
            .validate(Path::new("/d"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{text}: {e}");
    }

    #[test]
    fn example_file_parses_and_documents_every_env_name() {
        let text = include_str!("../../../examples/latchkey.toml");
        let raw = RawConfig::from_toml(text).expect("example parses");
        let cfg = raw
            .validate(Path::new("/tmp/x"), &Overrides::default())
            .expect("example validates");
        assert_eq!(cfg.http_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.radius_listen.to_string(), "127.0.0.1:1812");
        for (key, env) in ENV_KEYS {
            assert!(
                text.contains(env),
                "examples/latchkey.toml does not mention {env} ({key})"
            );
        }
    }

    #[test]
    fn console_sessions_and_secure_cookies() {
        let d = Path::new("/d");
        let none = Overrides::default();
        let cfg = RawConfig::default().validate(d, &none).unwrap();
        assert_eq!(cfg.console, ConsoleSettings::default());
        assert!(!cfg.console_secure_cookies, "plain HTTP on loopback");
        let raw = RawConfig::from_toml("[console]\nidle_timeout = \"5m\"\nmax_lifetime = \"1d\"")
            .unwrap();
        let cfg = raw.validate(d, &none).unwrap();
        assert_eq!(
            (cfg.console.idle_timeout, cfg.console.max_lifetime),
            (300, 86_400)
        );
        // Behind a TLS proxy: Secure unless turned off.
        let proxied = "[server]\nhttp_listen = \"0.0.0.0:8080\"\nallow_insecure_http = true\n";
        let cfg = RawConfig::from_toml(proxied)
            .unwrap()
            .validate(d, &none)
            .unwrap();
        assert!(cfg.console_secure_cookies);
        let mut raw = RawConfig::from_toml(proxied).unwrap();
        raw.apply_env(|k| (k == "LATCHKEY_CONSOLE_SECURE_COOKIES").then(|| "false".into()))
            .unwrap();
        assert!(!raw.validate(d, &none).unwrap().console_secure_cookies);
        for (text, key) in [
            ("[console]\nidle_timeout = \"30s\"", "console.idle_timeout"),
            ("[console]\nidle_timeout = \"2d\"", "console.idle_timeout"),
            ("[console]\nmax_lifetime = \"10m\"", "console.max_lifetime"),
            ("[console]\nmax_lifetime = \"8d\"", "console.max_lifetime"),
        ] {
            assert_refused(text, key);
        }
    }

    #[test]
    fn emergency_lifetime_maximum() {
        let d = Path::new("/d");
        let none = Overrides::default();
        let cfg = RawConfig::default().validate(d, &none).unwrap();
        assert_eq!(cfg.max_emergency_lifetime_days, Some(30));
        let raw = RawConfig::from_toml("[emergency]\nmax_code_lifetime_days = 0").unwrap();
        assert_eq!(
            raw.validate(d, &none).unwrap().max_emergency_lifetime_days,
            None
        );
        let raw = RawConfig::from_toml("[emergency]\nmax_code_lifetime_days = 3651").unwrap();
        let e = raw.validate(d, &none).unwrap_err().to_string();
        assert!(e.contains("emergency.max_code_lifetime_days"), "{e}");
        let mut raw = RawConfig::default();
        raw.apply_env(|k| (k == "LATCHKEY_EMERGENCY_MAX_CODE_LIFETIME_DAYS").then(|| "7".into()))
            .unwrap();
        assert_eq!(
            raw.validate(d, &none).unwrap().max_emergency_lifetime_days,
            Some(7)
        );
        let mut raw = RawConfig::default();
        assert!(
            raw.apply_env(
                |k| (k == "LATCHKEY_EMERGENCY_MAX_CODE_LIFETIME_DAYS").then(|| "a week".into())
            )
            .is_err()
        );
    }

    #[test]
    fn access_code_and_messaging_settings() {
        let d = Path::new("/d");
        let none = Overrides::default();
        let cfg = RawConfig::default().validate(d, &none).unwrap();
        assert_eq!(cfg.eac, EacSettings::default());
        assert_eq!(cfg.send_limits, SendLimits::default());
        let raw = RawConfig::from_toml(
            "[emergency]\naccess_code_expires_in = \"2h\"\naccess_code_lock_defaults = true\n\
             [messaging]\ncode_digits = 8\nper_user = 3\nresend_cooldown_seconds = 0",
        )
        .unwrap();
        let cfg = raw.validate(d, &none).unwrap();
        assert_eq!(cfg.eac.default_expires_secs, 7200);
        assert!(cfg.eac.lock);
        assert_eq!(cfg.phone_code.digits, 8);
        assert_eq!(cfg.send_limits.per_user, 3);
        assert_eq!(cfg.send_limits.cooldown_secs, 0);
        for (text, key) in [
            (
                "[emergency]\naccess_code_expires_in = \"8d\"",
                "emergency.access_code",
            ),
            (
                "[emergency]\naccess_code_length = 7",
                "emergency.access_code",
            ),
            ("[messaging]\ncode_digits = 7", "messaging.code_digits"),
            (
                "[messaging]\ncode_valid_minutes = 71",
                "messaging.code_valid_minutes",
            ),
            ("[messaging]\nper_user = 0", "messaging.per_user"),
        ] {
            assert_refused(text, key);
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(
            RawConfig::from_toml("[server]\nhttp_listn = \"x\"")
                .unwrap_err()
                .contains("http_listn")
        );
        let raw = RawConfig::from_toml("[server]\nhttp_listen = \"nonsense\"").unwrap();
        assert!(
            raw.validate(Path::new("/d"), &Overrides::default())
                .is_err()
        );
        let raw = RawConfig::from_toml("[server]\nhttp_listen = \"0.0.0.0:8080\"").unwrap();
        let e = raw
            .validate(Path::new("/d"), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("TLS"), "{e}");
        let raw = RawConfig::from_toml(
            "[server]\nhttp_listen = \"0.0.0.0:8080\"\nallow_insecure_http = true",
        )
        .unwrap();
        assert!(raw.validate(Path::new("/d"), &Overrides::default()).is_ok());
        assert!(
            RawConfig::from_toml("version = 2")
                .unwrap()
                .validate(Path::new("/d"), &Overrides::default())
                .is_err()
        );
    }

    #[test]
    fn radius_listen_defaults_overrides_and_off() {
        let d = Path::new("/d");
        let none = Overrides::default();
        let cfg = RawConfig::default().validate(d, &none).unwrap();
        assert_eq!(cfg.radius_listen.to_string(), "127.0.0.1:1812");
        let raw = RawConfig::from_toml("[radius]\nlisten = \"\"").unwrap();
        let cfg = raw.validate(d, &none).unwrap();
        assert_eq!(cfg.radius_listen, RadiusListen(None));
        assert_eq!(cfg.radius_listen.to_string(), "off");
        let mut raw = RawConfig::from_toml("[radius]\nlisten = \"0.0.0.0:1645\"").unwrap();
        assert_eq!(
            raw.validate(d, &none).unwrap().radius_listen.to_string(),
            "0.0.0.0:1645"
        );
        raw = RawConfig::from_toml("[radius]\nlisten = \"0.0.0.0:1645\"").unwrap();
        raw.apply_env(|k| (k == "LATCHKEY_RADIUS_LISTEN").then(|| "127.0.0.1:2".to_owned()))
            .unwrap();
        let flag = Overrides {
            radius_listen: Some(String::new()),
            ..Overrides::default()
        };
        assert_eq!(
            raw.validate(d, &none).unwrap().radius_listen.to_string(),
            "127.0.0.1:2"
        );
        let raw = RawConfig::from_toml("[radius]\nlisten = \"127.0.0.1:3\"").unwrap();
        assert_eq!(raw.validate(d, &flag).unwrap().radius_listen.addr(), None);
        let e = RawConfig::from_toml("[radius]\nlisten = \"radius.example\"")
            .unwrap()
            .validate(d, &none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("radius.listen"), "{e}");
        assert!(
            RawConfig::from_toml("[radius]\nport = 1812")
                .unwrap_err()
                .contains("port")
        );
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let mut raw = RawConfig::from_toml("[server]\nhttp_listen = \"127.0.0.1:1\"").unwrap();
        raw.apply_env(|k| (k == "LATCHKEY_SERVER_HTTP_LISTEN").then(|| "127.0.0.1:2".to_owned()))
            .unwrap();
        let cfg = raw
            .validate(Path::new("/d"), &Overrides::default())
            .unwrap();
        assert_eq!(cfg.http_listen.port(), 2);
        let mut raw = RawConfig::from_toml("").unwrap();
        raw.apply_env(|k| (k == "LATCHKEY_SERVER_HTTP_LISTEN").then(|| "127.0.0.1:2".to_owned()))
            .unwrap();
        let o = Overrides {
            http_listen: Some("127.0.0.1:3".into()),
            ..Overrides::default()
        };
        assert_eq!(
            raw.validate(Path::new("/d"), &o)
                .unwrap()
                .http_listen
                .port(),
            3
        );
        let mut raw = RawConfig::default();
        assert!(
            raw.apply_env(
                |k| (k == "LATCHKEY_SERVER_ALLOW_INSECURE_HTTP").then(|| "maybe".to_owned())
            )
            .is_err()
        );
    }
}
