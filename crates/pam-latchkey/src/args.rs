//! Module arguments from the `/etc/pam.d` line: `socket=/path`, `timeout=SECONDS`, `debug`.
//!
//! Unknown arguments are reported (syslog-less: to the caller, who logs them) and ignored, as
//! PAM modules conventionally do, so that a typo never locks everybody out by itself.

use std::path::PathBuf;
use std::time::Duration;

/// Default agent socket.
pub const DEFAULT_SOCKET: &str = "/run/latchkey-agent.sock";

/// Default time to wait for one answer of the agent. The agent itself gives the server 3 s
/// and then verifies offline (Argon2id, under a second), so 15 s leaves room for both.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Parsed module arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Agent socket path.
    pub socket: PathBuf,
    /// Per-answer timeout.
    pub timeout: Duration,
    /// Arguments that were not understood (to be reported).
    pub unknown: Vec<String>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            timeout: DEFAULT_TIMEOUT,
            unknown: Vec::new(),
        }
    }
}

/// Parses the module arguments.
pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Args {
    let mut out = Args::default();
    for a in args {
        if let Some(p) = a.strip_prefix("socket=") {
            if p.starts_with('/') {
                out.socket = PathBuf::from(p);
            } else {
                out.unknown.push(a.to_owned());
            }
        } else if let Some(t) = a.strip_prefix("timeout=") {
            match t.parse::<u64>() {
                Ok(s) if (1..=300).contains(&s) => out.timeout = Duration::from_secs(s),
                _ => out.unknown.push(a.to_owned()),
            }
        } else {
            out.unknown.push(a.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(parse([]), Args::default());
        let a = parse([
            "socket=/tmp/x.sock",
            "timeout=4",
            "bogus",
            "timeout=0",
            "socket=rel",
        ]);
        assert_eq!(a.socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(a.timeout, Duration::from_secs(4));
        assert_eq!(a.unknown, ["bogus", "timeout=0", "socket=rel"]);
    }
}
