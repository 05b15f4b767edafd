//! The agent connection: a Unix stream socket, one request line out, one answer line in, each
//! bounded by the module's timeout and [`MAX_LINE`].

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::conversation::{AgentLink, LinkError};
use crate::protocol::{MAX_LINE, Request, Response, to_line};

/// Refuses a socket that neither root nor this process's own user owns: with a `socket=`
/// argument pointing into a writable directory, someone else's listener must not be able to
/// answer "success". (`/proc/self` belongs to the process's effective user.)
fn check_owner(path: &Path) -> Result<(), LinkError> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::symlink_metadata(path)
        .map_err(|e| LinkError::Unreachable(format!("{}: {e}", path.display())))?
        .uid();
    let me = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    if owner == 0 || owner == me {
        Ok(())
    } else {
        Err(LinkError::Unreachable(format!(
            "{}: owned by uid {owner}, not by root; refusing to use it",
            path.display()
        )))
    }
}

/// A connection to the agent.
pub struct SocketLink {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl SocketLink {
    /// Connects to the agent socket.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, LinkError> {
        check_owner(path)?;
        let s = UnixStream::connect(path)
            .map_err(|e| LinkError::Unreachable(format!("{}: {e}", path.display())))?;
        s.set_read_timeout(Some(timeout))
            .and_then(|()| s.set_write_timeout(Some(timeout)))
            .map_err(|e| LinkError::Unreachable(e.to_string()))?;
        let writer = s
            .try_clone()
            .map_err(|e| LinkError::Unreachable(e.to_string()))?;
        Ok(Self {
            reader: BufReader::new(s),
            writer,
        })
    }
}

impl AgentLink for SocketLink {
    fn exchange(&mut self, req: &Request) -> Result<Response, LinkError> {
        // The line holds the passcode in clear: wiped once written.
        let line = Zeroizing::new(to_line(req).map_err(|e| LinkError::Protocol(e.to_string()))?);
        self.writer
            .write_all(&line)
            .map_err(|e| LinkError::Unreachable(e.to_string()))?;
        let mut buf = Vec::new();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
        (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|e| LinkError::Unreachable(e.to_string()))?;
        if buf.last() != Some(&b'\n') {
            return Err(LinkError::Protocol(
                "the agent closed the connection or sent an over-long line".to_owned(),
            ));
        }
        serde_json::from_slice(&buf).map_err(|e| LinkError::Protocol(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_of_another_user_is_refused() {
        let dir = std::env::temp_dir().join(format!("pam-lk-owner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("agent.sock");
        let _ = std::fs::remove_file(&path);
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        // Our own socket is accepted.
        assert!(check_owner(&path).is_ok());
        // Handing it to another user needs root; elsewhere the first half is all we can show.
        if std::os::unix::fs::chown(&path, Some(65534), None).is_ok() {
            match SocketLink::connect(&path, Duration::from_secs(1)) {
                Err(LinkError::Unreachable(m)) => assert!(m.contains("uid 65534"), "{m}"),
                Err(e) => panic!("unexpected error {e:?}"),
                Ok(_) => panic!("a socket of uid 65534 was used"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
