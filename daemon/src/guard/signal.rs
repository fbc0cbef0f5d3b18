//! Signals to exactly the process that was looked at (pidfd).

use super::*;

/// SIGKILLs `pid` if it is still the process that started at `starttime`. The pidfd pins
/// the process: once its start time is confirmed, the signal cannot reach a newcomer that
/// reused the pid.
pub(super) fn kill_exact(proc_root: &Path, pid: i32, starttime: u64) -> bool {
    signal_exact(proc_root, pid, starttime, libc::SIGKILL)
}

/// Sends `sig` to `pid` through a pidfd, only if it is still the process that started
/// at `starttime`.
pub(super) fn signal_exact(proc_root: &Path, pid: i32, starttime: u64, sig: libc::c_int) -> bool {
    let Ok(fd) = crate::sys::pidfd_open(pid) else {
        return false;
    };
    match read_stat(proc_root, pid) {
        Some(s) if s.starttime == starttime && !s.exited() => {}
        _ => return false,
    }
    crate::sys::pidfd_send_signal(fd.as_fd(), sig).is_ok()
}
