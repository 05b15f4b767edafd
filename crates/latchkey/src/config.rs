//! Configuration: one versioned TOML file, `LATCHKEY_<SECTION>_<KEY>` environment overrides,
//! command-line flags over both; parsed into [`RawConfig`] and validated once into [`Config`].
//!
//! Precedence: flag > environment > file > default. Unknown keys in the file are errors, so a
//! misspelt setting never passes silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
}

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// HTTP listen address.
    pub http_listen: Option<String>,
    /// RADIUS listen address.
    pub radius_listen: Option<String>,
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
    /// RADIUS listen address.
    pub radius_listen: SocketAddr,
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
}

/// Values given on the command line, which win over everything.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--http-listen`.
    pub http_listen: Option<String>,
    /// `--radius-listen`.
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
    ("server.radius_listen", "LATCHKEY_SERVER_RADIUS_LISTEN"),
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
                "server.radius_listen" => self.server.radius_listen = Some(v),
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
        let radius_listen = addr(
            "server.radius_listen",
            o.radius_listen
                .as_ref()
                .or(self.server.radius_listen.as_ref()),
            "127.0.0.1:1812",
        )?;
        let tls = match (self.server.tls_cert_file, self.server.tls_key_file) {
            (Some(c), Some(k)) if !c.as_os_str().is_empty() && !k.as_os_str().is_empty() => {
                Some((c, k))
            }
            (None, None) => None,
            (Some(c), Some(k)) if c.as_os_str().is_empty() && k.as_os_str().is_empty() => None,
            _ => {
                return Err(invalid(
                    "server.tls_cert_file",
                    "give both tls_cert_file and tls_key_file, or neither",
                ));
            }
        };
        if tls.is_none()
            && !http_listen.ip().is_loopback()
            && !self.server.allow_insecure_http.unwrap_or(false)
        {
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
        })
    }
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

    #[test]
    fn example_file_parses_and_documents_every_env_name() {
        let text = include_str!("../../../examples/latchkey.toml");
        let raw = RawConfig::from_toml(text).expect("example parses");
        let cfg = raw
            .validate(Path::new("/tmp/x"), &Overrides::default())
            .expect("example validates");
        assert_eq!(cfg.http_listen.to_string(), "127.0.0.1:8080");
        for (key, env) in ENV_KEYS {
            assert!(
                text.contains(env),
                "examples/latchkey.toml does not mention {env} ({key})"
            );
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
