//! `fake-worker`: behaves like the SSM agent's `ssm-session-worker` for one
//! Standard_Stream session (ARCHITECTURE.md §2), so tests get the same process tree,
//! pty and keystroke timing as a real session.
//!
//! ```text
//! FAKE_WORKER_LANDING=USER [FAKE_WORKER_PROFILE=LINE] [FAKE_WORKER_EARLY_INPUT=TEXT]
//! [FAKE_WORKER_DELAY_MS=N] fake-worker <SessionId>
//! ```
//!
//! Run as root. Opens a pty and forks; the child becomes a session leader with the
//! pty as controlling terminal on fds 0–2, takes the landing user's groups, gid and
//! uid, and execs plain `/bin/sh` with the worker's environment plus
//! `TERM=xterm-256color`, `LANG=C.UTF-8` (when unset) and `HOME=/home/<user>`.
//! The parent types the early input, waits the delay, types the profile line and
//! a newline, then relays its stdin to the pty and the pty to its stdout until the
//! pty is closed. On SIGTERM it kills only its direct child (SIGKILL) and closes the
//! pty, as the agent does on TerminateSession. It prints nothing of its own on
//! stdout; diagnostics go to stderr. It exits with its shell's status (128 + the
//! signal when the shell was killed), so a test can see how the session ended.

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::openpty;
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, User, execve, fork, initgroups, setgid, setsid, setuid};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicBool, Ordering};

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: i32) {
    TERMINATE.store(true, Ordering::SeqCst);
}

fn fail(msg: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "fake-worker: {msg}");
    std::process::exit(1)
}

struct Args {
    session_id: String,
    landing: String,
    profile: Option<String>,
    early: Option<String>,
    delay_ms: u64,
}

fn parse() -> Args {
    // Everything but the SessionId comes from the environment, so that argv has
    // exactly the real worker's shape (`ssm-session-worker <SessionId>`), which
    // ssm-runasd verifies.
    let mut it = std::env::args().skip(1);
    let session_id = it
        .next()
        .unwrap_or_else(|| fail("usage: FAKE_WORKER_LANDING=USER fake-worker <SessionId>"));
    if it.next().is_some() {
        fail("only the SessionId goes on the command line; options are FAKE_WORKER_* variables");
    }
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let args = Args {
        session_id,
        landing: var("FAKE_WORKER_LANDING").unwrap_or_default(),
        profile: var("FAKE_WORKER_PROFILE"),
        early: var("FAKE_WORKER_EARLY_INPUT"),
        delay_ms: var("FAKE_WORKER_DELAY_MS")
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| fail("bad FAKE_WORKER_DELAY_MS"))
            })
            .unwrap_or(0),
    };
    if args.landing.is_empty() {
        fail("FAKE_WORKER_LANDING=USER is required");
    }
    args
}

/// The child: the landing user's `sh` on the pty. Never returns.
fn child(slave: OwnedFd, master: OwnedFd, user: &User) -> ! {
    drop(master);
    if setsid().is_err() {
        fail("setsid");
    }
    // SAFETY: TIOCSCTTY on the pty slave we own, in a fresh session without a terminal.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } == -1 {
        fail("TIOCSCTTY");
    }
    for fd in 0..3 {
        // SAFETY: replaces fds 0-2 with the slave; no Rust value owns those numbers.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } == -1 {
            fail("dup2");
        }
    }
    drop(slave);
    let name = CString::new(user.name.clone()).unwrap_or_else(|_| fail("bad user name"));
    if initgroups(&name, user.gid).is_err()
        || setgid(user.gid).is_err()
        || setuid(user.uid).is_err()
    {
        fail("cannot take the landing user's credentials");
    }
    // Rust ignores SIGPIPE; a real worker's shell starts with default dispositions.
    // SAFETY: restoring the default action.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    let mut env: Vec<(Vec<u8>, Vec<u8>)> = std::env::vars_os()
        .map(|(k, v)| (k.into_vec(), v.into_vec()))
        .filter(|(k, _)| k.as_slice() != b"TERM" && k.as_slice() != b"HOME")
        .collect();
    env.push((b"TERM".to_vec(), b"xterm-256color".to_vec()));
    if !env.iter().any(|(k, _)| k.as_slice() == b"LANG") {
        env.push((b"LANG".to_vec(), b"C.UTF-8".to_vec()));
    }
    env.push((
        b"HOME".to_vec(),
        format!("/home/{}", user.name).into_bytes(),
    ));
    let envp: Vec<CString> = env
        .into_iter()
        .filter_map(|(mut k, v)| {
            k.push(b'=');
            k.extend_from_slice(&v);
            CString::new(k).ok()
        })
        .collect();
    let _ = execve(c"/bin/sh", &[c"sh"], &envp);
    fail("cannot exec /bin/sh")
}

fn write_all(master: &OwnedFd, bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        match nix::unistd::write(master, rest) {
            Ok(n) => rest = &rest[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

fn main() {
    let args = parse();
    if !nix::unistd::geteuid().is_root() {
        fail("must run as root");
    }
    let user = match User::from_name(&args.landing) {
        Ok(Some(u)) => u,
        _ => fail(&format!("no such user {}", args.landing)),
    };
    let pty = openpty(None, None).unwrap_or_else(|e| fail(&format!("openpty: {e}")));
    // SAFETY: the process is single-threaded here, so the child may run Rust code.
    let pid = match unsafe { fork() } {
        Ok(ForkResult::Child) => child(pty.slave, pty.master, &user),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(&format!("fork: {e}")),
    };
    drop(pty.slave);
    let master = pty.master;
    // SAFETY: the handler only stores to an atomic.
    let _ = unsafe { signal(Signal::SIGTERM, SigHandler::Handler(on_term)) };
    let _ = writeln!(
        std::io::stderr(),
        "fake-worker: session {} shell pid {pid}",
        args.session_id
    );

    if let Some(early) = &args.early {
        write_all(&master, early.as_bytes());
    }
    if args.delay_ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(args.delay_ms));
    }
    if let Some(profile) = &args.profile {
        write_all(&master, format!("{profile}\n").as_bytes());
    }
    relay(&master, pid);
    drop(master);
    let code = match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
        _ => 1,
    };
    std::process::exit(code);
}

/// Copies stdin to the pty and the pty to stdout until the pty closes or SIGTERM.
fn relay(master: &OwnedFd, pid: Pid) {
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 4096];
    loop {
        if TERMINATE.load(Ordering::SeqCst) {
            let _ = kill(pid, Signal::SIGKILL);
            return;
        }
        let stdin_fd = stdin.as_fd();
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let master_ready = fds[0].revents().unwrap_or(PollFlags::empty());
        let stdin_ready = fds
            .get(1)
            .and_then(PollFd::revents)
            .unwrap_or(PollFlags::empty());
        if master_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match nix::unistd::read(master, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => return,
                Ok(n) => {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            }
        }
        if stdin_ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => {
                    if !write_all(master, &buf[..n]) {
                        return;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
}
