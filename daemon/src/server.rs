//! The daemon's Unix socket: length-prefixed JSON frames (see `protocol/`), one
//! request per connection, read/write timeouts, a bound on concurrent connections.
//! A malformed, oversized or silent client only ever costs its own task.
//!
//! Accept, then admit: a connection takes one of the `max_connections` decision slots
//! only once its whole request has arrived. Until then it costs a task and a file
//! descriptor, bounded in all ([`MAX_PENDING`]); past the bound a new connection is
//! closed at once. So idle or stuck clients cannot make every switch wait past the PAM
//! module's timeout. (No bound per client process: only root connects, and a helper
//! opens one connection at a time; a bound of 8 refused a benchmark client's threads.)
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

/// Connections whose request has not arrived yet, at most, in all.
pub const MAX_PENDING: usize = 512;

/// One admitted pending connection; gives its place back when dropped.
struct PendingPlace {
    count: Arc<std::sync::atomic::AtomicUsize>,
}

impl PendingPlace {
    fn take(count: &Arc<std::sync::atomic::AtomicUsize>) -> Option<PendingPlace> {
        use std::sync::atomic::Ordering::AcqRel;
        count
            .fetch_update(AcqRel, std::sync::atomic::Ordering::Acquire, |n| {
                (n < MAX_PENDING).then_some(n + 1)
            })
            .ok()?;
        Some(PendingPlace {
            count: Arc::clone(count),
        })
    }
}

impl Drop for PendingPlace {
    fn drop(&mut self) {
        self.count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

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
    let pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    loop {
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
        let Some(place) = PendingPlace::take(&pending) else {
            let peer = crate::peer::peer_cred(stream.as_fd()).map_or(0, |c| c.pid);
            service
                .counters
                .errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                "refused a connection from process {peer}: too many connections without a request"
            );
            drop(stream);
            continue;
        };
        let service = Arc::clone(&service);
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            if let Err(e) = connection(stream, &service, client_timeout, place, permits).await {
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
    place: PendingPlace,
    permits: Arc<Semaphore>,
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
    // The request is here: from now on it waits for a decision slot, not for its peer.
    drop(place);
    let Ok(_permit) = permits.acquire_owned().await else {
        return Ok(());
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
