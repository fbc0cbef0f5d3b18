//! The daemon's Unix socket: length-prefixed JSON frames (see `protocol/`), one
//! request per connection, read/write timeouts, a bound on concurrent connections.
//! A malformed, oversized or silent client only ever costs its own task.
#![forbid(unsafe_code)]

use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ssm_runas_protocol::{self as protocol, FrameError, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::service::Service;

/// Binds the socket: its directory is created 0755 root, a stale socket is
/// replaced, and the socket itself is 0600 — only root (the PAM module runs in the
/// setuid switch helper, the admin CLI as root) may connect.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => {
            return Err(io::Error::other(format!(
                "{} is a directory",
                path.display()
            )));
        }
        Ok(_) => {
            // Refuse to steal the socket of a daemon that is still running.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another ssm-runasd is listening on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves until `shutdown` turns true, then waits for requests in flight.
pub async fn serve(
    listener: UnixListener,
    service: Arc<Service>,
    max_connections: usize,
    client_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let service = Arc::clone(&service);
        tasks.spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, &service, client_timeout).await {
                tracing::debug!("client dropped: {e}");
            }
        });
        // Reap finished tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

async fn connection(
    mut stream: UnixStream,
    service: &Service,
    timeout: Duration,
) -> Result<(), FrameError> {
    let req: Request = match tokio::time::timeout(timeout, read_frame(&mut stream)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            service
                .counters
                .errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Tell a confused client why, if it is still listening; never wait long.
            let answer = Response::Error {
                reason: format!("bad request: {e}"),
            };
            let _ = tokio::time::timeout(
                Duration::from_millis(200),
                write_frame(&mut stream, &answer),
            )
            .await;
            return Err(e);
        }
        Err(_) => {
            return Err(FrameError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "client silent",
            )));
        }
    };
    let answer = service.handle(stream.as_fd(), req).await;
    match tokio::time::timeout(timeout, write_frame(&mut stream, &answer)).await {
        Ok(r) => r,
        Err(_) => Err(FrameError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "client not reading",
        ))),
    }
}

async fn read_frame(stream: &mut UnixStream) -> Result<Request, FrameError> {
    let mut prefix = [0u8; 4];
    match stream.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = protocol::check_len(prefix)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(FrameError::Io)?;
    protocol::decode(&body)
}

async fn write_frame(stream: &mut UnixStream, answer: &Response) -> Result<(), FrameError> {
    let bytes = protocol::encode(answer)?;
    stream.write_all(&bytes).await.map_err(FrameError::Io)?;
    stream.flush().await.map_err(FrameError::Io)
}
