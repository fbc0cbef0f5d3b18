//! Closes the login records of sessions that are gone.
//!
//! `ssm-runas-login` writes a `USER_PROCESS` utmp entry (host `ssm:…`) for each
//! switched session and closes it when the shell ends. When the agent SIGKILLs
//! the helper (TerminateSession, idle timeout) nothing of the session is left to
//! close it, and `who` would show a ghost. Every [`SWEEP_INTERVAL`] the daemon
//! closes each entry of ours whose shell is gone: the pid no longer exists or is
//! a zombie, or it is now another login's process (its loginuid is not the entry's account).
#![forbid(unsafe_code)]

use crate::sys::{self, UtEntry};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often entries are checked.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// The host prefix of the helper's records.
const HOST_PREFIX: &[u8] = b"ssm:";

/// `(uid_t)-1`: a process with no login uid.
const NO_LOGINUID: u32 = u32::MAX;

static WARNED: AtomicBool = AtomicBool::new(false);

/// Whether the shell of `entry` has ended: its pid is gone, or belongs to a
/// process of another login (a reused pid).
fn gone(entry: &UtEntry) -> bool {
    if entry.pid <= 0 {
        return true;
    }
    match crate::peer::stat(std::path::Path::new("/proc"), entry.pid) {
        // An unreaped zombie has ended too.
        Ok(st) if st.exited() => return true,
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
        // Unreadable for another reason: not proof that it ended.
        Err(_) => return false,
    }
    let dir = format!("/proc/{}", entry.pid);
    let Ok(text) = std::fs::read_to_string(format!("{dir}/loginuid")) else {
        return false;
    };
    let Ok(loginuid) = text.trim().parse::<u32>() else {
        return false;
    };
    let Ok(name) = std::str::from_utf8(&entry.user) else {
        return false;
    };
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => loginuid != NO_LOGINUID && loginuid != u.uid.as_raw(),
        _ => false,
    }
}

/// Closes the records of ended sessions; returns how many it closed.
pub fn sweep() -> usize {
    let entries = match sys::user_processes() {
        Ok(e) => e,
        Err(e) => {
            warn_once(&format!("cannot read utmp: {e}"));
            return 0;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut closed = 0;
    for entry in entries
        .iter()
        .filter(|e| e.host.starts_with(HOST_PREFIX) && gone(e))
    {
        match sys::close_entry(entry, now) {
            Ok(true) => {
                closed += 1;
                tracing::info!(
                    "closed the login record of {} on {} ({}): its shell {} is gone",
                    String::from_utf8_lossy(&entry.user),
                    String::from_utf8_lossy(&entry.line),
                    String::from_utf8_lossy(&entry.host),
                    entry.pid
                );
            }
            Ok(false) => {}
            Err(e) => warn_once(&format!(
                "cannot close the login record on {}: {e}",
                String::from_utf8_lossy(&entry.line)
            )),
        }
    }
    closed
}

/// Logs a failure once per run (a daemon without write access would otherwise
/// say it every two seconds).
fn warn_once(msg: &str) {
    if !WARNED.swap(true, Ordering::SeqCst) {
        tracing::warn!("login records: {msg} (said once)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i32, user: &str) -> UtEntry {
        UtEntry {
            pid,
            line: b"pts/9".to_vec(),
            id: b"ts/9".to_vec(),
            user: user.as_bytes().to_vec(),
            host: b"ssm:alice-1".to_vec(),
            time: 0,
        }
    }

    #[test]
    fn a_missing_pid_is_gone_and_a_live_one_is_not() {
        // pid_max is at most 2^22: this pid cannot exist.
        assert!(gone(&entry(0x7fff_fff0, "root")));
        assert!(gone(&entry(0, "root")));
        // This test process: its loginuid is whatever the test runner has; an
        // entry for the account of that loginuid (or an unset one) is alive.
        let me = std::process::id() as i32;
        let loginuid: u32 = std::fs::read_to_string("/proc/self/loginuid")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(NO_LOGINUID);
        let uid = if loginuid == NO_LOGINUID { 0 } else { loginuid };
        let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map_or_else(|| "root".to_owned(), |u| u.name);
        assert!(!gone(&entry(me, &name)));
    }
}
