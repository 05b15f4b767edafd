//! The Unix socket server: one JSON request per line, one answer line each.
//!
//! Invariants:
//! - The socket is created mode 0600 (root only when the daemon runs as root); a stale socket
//!   file is replaced, any other file at the path is an error.
//! - A line over [`MAX_LINE`], a line that is not a request, or an unknown operation gets one
//!   `error` answer and the connection is closed; the daemon keeps serving others.
//! - An idle connection is closed after [`IDLE`]; at most [`MAX_CONNECTIONS`] are served at
//!   once (the others wait in the listen backlog).
//! - Events are uploaded after an answer is written, never before: the PAM user does not
//!   wait for the upload.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::engine::Engine;
use crate::protocol::{MAX_LINE, Response, parse_request, to_line};

/// An idle connection (a user taking long over a challenge) is closed after this.
pub const IDLE: Duration = Duration::from_mins(5);

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// Binds the socket at `path`, mode 0600.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::other(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serves connections until `shutdown` completes.
pub async fn serve(
    listener: UnixListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let engine = Arc::clone(&engine);
                    tokio::spawn(async move {
                        connection(stream, &engine).await;
                        drop(permit);
                    });
                }
                Err(e) => tracing::error!("accept on the agent socket: {e}"),
            }
        }
    }
}

async fn write_line(w: &mut (impl AsyncWriteExt + Unpin), r: &Response) -> bool {
    match to_line(r) {
        Ok(line) => w.write_all(&line).await.is_ok() && w.flush().await.is_ok(),
        Err(_) => false,
    }
}

/// Serves one connection.
pub async fn connection(stream: UnixStream, engine: &Engine) {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    loop {
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(IDLE, (&mut reader).take(limit).read_until(b'\n', &mut buf)).await;
        match read {
            Err(_) | Ok(Err(_) | Ok(0)) => return,
            Ok(Ok(_)) => {}
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() >= MAX_LINE {
            tracing::warn!("agent socket: request line over {MAX_LINE} bytes; closing");
            write_line(&mut w, &Response::error("request line too long")).await;
            // Closing with unread input would reset the connection before the peer reads
            // the error: stop writing, then discard a bounded amount of what is left.
            let _ = w.shutdown().await;
            let mut sink = Vec::new();
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                (&mut reader).take(1 << 20).read_to_end(&mut sink),
            )
            .await;
            return;
        }
        // A last line without newline (the peer closed its side) is still a request.
        let req = match parse_request(&buf) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("agent socket: {e}; closing the connection");
                write_line(&mut w, &Response::error(&e.to_string())).await;
                return;
            }
        };
        let resp = engine.handle(req).await;
        if !write_line(&mut w, &resp).await {
            return;
        }
        if engine.take_contacted()
            && let Err(e) = engine.flush_events().await
        {
            tracing::warn!("offline events not uploaded yet: {e}");
        }
    }
}
