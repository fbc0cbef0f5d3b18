//! mini-worker: the smallest stand-in for the SSM agent's session worker, for the
//! daemon's tests. Copied to a path the test config allows and run as root with
//! argv[1] = a SessionId (as `ssm-session-worker <SessionId>` is), it starts one
//! child with the given uid/gid (no supplementary groups) and waits for it, so the
//! child's parent is "the worker". No pty: the pty-faithful worker is `fake-worker`.
//!
//! Usage: MINI_WORKER_UID=UID MINI_WORKER_GID=GID MINI_WORKER_CMD='["PROGRAM","ARG",...]' \
//!        mini-worker SESSION_ID [INSTANCE_ID]
//!
//! `MINI_WORKER_DELAY_MS` delays the child (the agent types the profile line some
//! time after the worker starts). What to run comes from the environment so that argv has exactly the real
//! worker's shape, which the daemon checks.
use std::ffi::CString;
use std::process::ExitCode;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Uid, execv, fork, getuid, setgid, setgroups, setuid};

fn main() -> ExitCode {
    let env_u32 = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    let (Some(uid), Some(gid)) = (env_u32("MINI_WORKER_UID"), env_u32("MINI_WORKER_GID")) else {
        eprintln!("mini-worker: MINI_WORKER_UID and MINI_WORKER_GID are required");
        return ExitCode::from(2);
    };
    let cmd: Vec<String> = std::env::var("MINI_WORKER_CMD")
        .ok()
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default();
    let argv: Vec<CString> = cmd
        .iter()
        .filter_map(|a| CString::new(a.as_str()).ok())
        .collect();
    if argv.is_empty() {
        eprintln!("mini-worker: no program");
        return ExitCode::from(2);
    }
    // Like the agent typing the profile some time after the worker started.
    if let Some(ms) = std::env::var("MINI_WORKER_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    // SAFETY: single-threaded program; the child only calls async-signal-safe
    // functions (setgroups/setgid/setuid/execv) before exec or _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            if getuid().is_root() {
                let gid = Gid::from_raw(gid);
                if setgroups(&[]).is_err()
                    || setgid(gid).is_err()
                    || setuid(Uid::from_raw(uid)).is_err()
                {
                    // SAFETY: _exit is async-signal-safe.
                    unsafe { libc::_exit(126) };
                }
            }
            let _ = execv(&argv[0], &argv);
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return ExitCode::from(code as u8),
                Ok(WaitStatus::Signaled(..)) => return ExitCode::from(128),
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return ExitCode::from(1),
            }
        },
        Err(e) => {
            eprintln!("mini-worker: fork: {e}");
            ExitCode::from(1)
        }
    }
}
