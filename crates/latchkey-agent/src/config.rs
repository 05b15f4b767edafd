//! Configuration: command-line flags, `LATCHKEY_AGENT_*` environment variables (clap), then
//! an optional TOML file, then defaults — in that order of precedence.
//!
//! ```toml
//! # /etc/latchkey-agent.toml (every key optional)
//! server = "https://mfa.example.com"     # default: the URL given to `enroll`
//! state_dir = "/var/lib/latchkey-agent"  # LATCHKEY_AGENT_STATE_DIR
//! socket = "/run/latchkey-agent.sock"    # LATCHKEY_AGENT_SOCKET
//! online_timeout_ms = 3000               # LATCHKEY_AGENT_ONLINE_TIMEOUT_MS
//! ca_file = "/etc/latchkey/ca.pem"       # LATCHKEY_AGENT_CA_FILE
//! refresh = "every_login"                # or "when_due"; LATCHKEY_AGENT_REFRESH
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/latchkey-agent";
/// Default socket.
pub const DEFAULT_SOCKET: &str = "/run/latchkey-agent.sock";
/// Default configuration file (read only when it exists).
pub const DEFAULT_CONFIG: &str = "/etc/latchkey-agent.toml";
/// Default online timeout.
pub const DEFAULT_ONLINE_TIMEOUT_MS: u64 = 3000;

/// The TOML file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Server URL (overrides the enrolment's).
    pub server: Option<String>,
    /// State directory.
    pub state_dir: Option<PathBuf>,
    /// Socket path.
    pub socket: Option<PathBuf>,
    /// Online timeout in milliseconds.
    pub online_timeout_ms: Option<u64>,
    /// Extra CA certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// `every_login` (default) or `when_due`.
    pub refresh: Option<String>,
}

/// Values given on the command line or in the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--server`.
    pub server: Option<String>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--online-timeout-ms`.
    pub online_timeout_ms: Option<u64>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--refresh`.
    pub refresh: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Server URL override (else the enrolment's).
    pub server: Option<String>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Socket path.
    pub socket: PathBuf,
    /// Timeout of each server request.
    pub online_timeout: Duration,
    /// Extra CA certificate.
    pub ca_file: Option<PathBuf>,
    /// Ask for fresh offline data at every online login (`every_login`), or only when due.
    pub refresh_every_login: bool,
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The server must be `https://`, or `http://` to a loopback address: the agent believes the
/// server's SUCCESS, so over plain HTTP anyone on the path could log anyone in.
pub fn check_server(s: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("server is not a URL ({e}): {s:?}"))?;
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host
        .parse::<std::net::IpAddr>()
        .map_or(host.eq_ignore_ascii_case("localhost"), |ip| {
            ip.is_loopback()
        });
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "server must be an https URL (got {s:?}): the agent trusts the server's answers, \
             so plain http is allowed only to a loopback address"
        )),
        _ => Err(format!("server must be an http(s) URL (got {s:?})")),
    }
}

impl Config {
    /// Resolves flags/env over the file over defaults.
    pub fn resolve(o: Overrides) -> Result<Self, String> {
        let file = match &o.config {
            Some(p) => read_file(p)?,
            None if Path::new(DEFAULT_CONFIG).exists() => read_file(Path::new(DEFAULT_CONFIG))?,
            None => FileConfig::default(),
        };
        let ms = o
            .online_timeout_ms
            .or(file.online_timeout_ms)
            .unwrap_or(DEFAULT_ONLINE_TIMEOUT_MS);
        if !(100..=60_000).contains(&ms) {
            return Err(format!("online timeout must be 100..=60000 ms (got {ms})"));
        }
        let server = o.server.or(file.server);
        if let Some(s) = &server {
            check_server(s)?;
        }
        let refresh_every_login = match o.refresh.or(file.refresh).as_deref() {
            None | Some("every_login") => true,
            Some("when_due") => false,
            Some(other) => {
                return Err(format!(
                    "refresh must be every_login or when_due (got {other:?})"
                ));
            }
        };
        Ok(Self {
            refresh_every_login,
            server,
            state_dir: o
                .state_dir
                .or(file.state_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            socket: o
                .socket
                .or(file.socket)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
            online_timeout: Duration::from_millis(ms),
            ca_file: o.ca_file.or(file.ca_file),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_validation() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("agent.toml");
        std::fs::write(
            &f,
            "state_dir = \"/srv/a\"\nsocket = \"/srv/a.sock\"\nonline_timeout_ms = 500\n",
        )
        .unwrap();
        let c = Config::resolve(Overrides {
            config: Some(f.clone()),
            socket: Some("/tmp/s".into()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/srv/a"));
        assert_eq!(c.socket, PathBuf::from("/tmp/s"));
        assert_eq!(c.online_timeout, Duration::from_millis(500));
        assert!(c.refresh_every_login);
        let due = Config::resolve(Overrides {
            config: Some(f.clone()),
            refresh: Some("when_due".into()),
            ..Overrides::default()
        })
        .unwrap();
        assert!(!due.refresh_every_login);
        assert!(
            Config::resolve(Overrides {
                config: Some(f.clone()),
                refresh: Some("sometimes".into()),
                ..Overrides::default()
            })
            .unwrap_err()
            .contains("every_login or when_due")
        );
        std::fs::write(&f, "stat_dir = \"/srv/a\"\n").unwrap();
        let e = Config::resolve(Overrides {
            config: Some(f.clone()),
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        let e = Config::resolve(Overrides {
            config: Some(d.path().join("none.toml")),
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        let empty = d.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let server = |s: &str| {
            Config::resolve(Overrides {
                config: Some(empty.clone()),
                server: Some(s.to_owned()),
                ..Overrides::default()
            })
        };
        assert!(server("https://mfa.example.com").is_ok());
        assert!(server("http://127.0.0.1:8080").is_ok());
        assert!(server("http://[::1]:8080").is_ok());
        assert!(server("http://localhost:8080").is_ok());
        assert!(
            server("http://mfa.example.com")
                .unwrap_err()
                .contains("https")
        );
        assert!(server("ftp://mfa.example.com").is_err());
        assert!(server("mfa.example.com").is_err());
        assert!(
            Config::resolve(Overrides {
                online_timeout_ms: Some(0),
                config: Some(d.path().join("agent.toml")),
                ..Overrides::default()
            })
            .is_err()
        );
    }
}
