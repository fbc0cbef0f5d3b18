//! Signals to exactly the process that was looked at (pidfd).

use super::*;

pub(super) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new fd or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let raw = i32::try_from(ret).map_err(|_| io::Error::other("bad fd from pidfd_open"))?;
    // SAFETY: `raw` is a fresh fd returned by pidfd_open that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// SIGKILLs `pid` if it is still the process that started at `starttime`. The pidfd pins
/// the process: once its start time is confirmed, the signal cannot reach a newcomer that
/// reused the pid.
pub(super) fn kill_exact(proc_root: &Path, pid: i32, starttime: u64) -> bool {
    signal_exact(proc_root, pid, starttime, libc::SIGKILL)
}

/// Sends `sig` to `pid` through a pidfd, only if it is still the process that started
/// at `starttime`.
pub(super) fn signal_exact(proc_root: &Path, pid: i32, starttime: u64, sig: libc::c_int) -> bool {
    let Ok(fd) = pidfd_open(pid) else {
        return false;
    };
    match read_stat(proc_root, pid) {
        Some(s) if s.starttime == starttime && !s.exited() => {}
        _ => return false,
    }
    // SAFETY: the pidfd is a live fd we own; a null siginfo and flags 0 mean a plain
    // kill(2)-style signal; no memory is shared.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    r == 0
}
