//! The agent connection: a Unix stream socket, one request line out, one answer line in, each
//! bounded by the module's timeout and [`MAX_LINE`].

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::conversation::{AgentLink, LinkError};
use crate::protocol::{MAX_LINE, Request, Response, to_line};

/// A connection to the agent.
pub struct SocketLink {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl SocketLink {
    /// Connects to the agent socket.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, LinkError> {
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
