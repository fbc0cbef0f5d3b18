//! Every raw system call and C library call of the daemon that neither `nix` nor std
//! wraps, each behind a small safe function; the rest of the crate forbids `unsafe`.
//!
//! - pidfds: [`pidfd_open`], [`pidfd_send_signal`] (a signal that cannot reach a
//!   process that reused the pid);
//! - clocks: [`clock_ticks_per_sec`], [`boottime`];
//! - the process-event connector's netlink socket: [`netlink_connector`],
//!   [`send`], [`recv_from_kernel`];
//! - utmp, read and closed through glibc's own functions so that its locking
//!   protocol with every other writer (login, sshd, the helper) holds.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

/// `pidfd_open(2)`: a file descriptor that names exactly process `pid`.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new fd or -1; no
    // memory is shared with the kernel.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let raw = i32::try_from(ret).map_err(|_| io::Error::other("pidfd_open returned a bad fd"))?;
    // SAFETY: `raw` is a fresh fd returned by pidfd_open that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `pidfd_send_signal(2)` with no siginfo: `kill(2)` to exactly the pidfd's process.
pub fn pidfd_send_signal(fd: BorrowedFd<'_>, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: the pidfd is a live fd; a null siginfo and flags 0 mean a plain
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
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The kernel's clock ticks per second (`_SC_CLK_TCK`, the unit of `/proc` times).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a system constant; it takes and returns plain integers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100)
}

/// `CLOCK_BOOTTIME` now (the clock of `/proc/<pid>/stat` start times); zero if the
/// kernel refuses it.
pub fn boottime() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec; clock_gettime writes only into it.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if r != 0 {
        return Duration::ZERO;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// A non-blocking `NETLINK_CONNECTOR` socket bound to multicast `groups`, with a
/// receive buffer of `rcvbuf` bytes where the kernel allows it.
pub fn netlink_connector(groups: u32, rcvbuf: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes integers only and returns a new fd or -1.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::NETLINK_CONNECTOR,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd returned by socket that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: passes a pointer to a live c_int and its exact size; the kernel only
        // reads it.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw const rcvbuf).cast::<libc::c_void>(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            break;
        }
    }
    // SAFETY: sockaddr_nl is plain old data; all zeroes is a valid value.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = groups;
    // SAFETY: a pointer to a live sockaddr_nl and its exact size; bind only reads it.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sa).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// `send(2)` of one datagram (an unconnected netlink socket sends to the kernel).
pub fn send(fd: BorrowedFd<'_>, msg: &[u8]) -> io::Result<usize> {
    // SAFETY: `msg` is a live buffer of `msg.len()` bytes that send only reads.
    let n = unsafe {
        libc::send(
            fd.as_raw_fd(),
            msg.as_ptr().cast::<libc::c_void>(),
            msg.len(),
            0,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// One datagram from a netlink socket without blocking: its length and the sender's
/// port id (0 is the kernel). `WouldBlock` when none is queued.
pub fn recv_from_kernel(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, u32)> {
    // SAFETY: sockaddr_nl is plain old data; all zeroes is a valid value.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    let mut salen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `buf`, `sa` and `salen` are live and writable for the sizes given;
    // recvfrom writes only within them.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::c_void>(),
            buf.len(),
            libc::MSG_DONTWAIT,
            (&raw mut sa).cast::<libc::sockaddr>(),
            &mut salen,
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    Ok((n, sa.nl_pid))
}

/// glibc's `_PATH_UTMP` and `_PATH_WTMP`.
const UTMP: &str = "/var/run/utmp";
const WTMP: &CStr = c"/var/log/wtmp";

unsafe extern "C" {
    // glibc, not in the libc crate for Linux.
    fn updwtmpx(file: *const libc::c_char, ut: *const libc::utmpx);
    fn getutxid(ut: *const libc::utmpx) -> *mut libc::utmpx;
}

/// glibc's utmp functions share one static cursor and buffer: one caller at a time.
static UTMP_LOCK: Mutex<()> = Mutex::new(());

/// A `USER_PROCESS` entry of utmp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtEntry {
    pub pid: i32,
    pub line: Vec<u8>,
    pub id: Vec<u8>,
    pub user: Vec<u8>,
    pub host: Vec<u8>,
    /// Login time, seconds since the epoch.
    pub time: i64,
}

/// The bytes of a fixed-size C char field up to its first NUL.
fn field(f: &[libc::c_char]) -> Vec<u8> {
    f.iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect()
}

fn fill(dst: &mut [libc::c_char], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d = *s as libc::c_char;
    }
}

/// Every `USER_PROCESS` entry of utmp; none when the host keeps no utmp file.
pub fn user_processes() -> io::Result<Vec<UtEntry>> {
    if !std::path::Path::new(UTMP).exists() {
        return Ok(Vec::new());
    }
    let _held = UTMP_LOCK
        .lock()
        .map_err(|_| io::Error::other("utmp lock poisoned"))?;
    let mut out = Vec::new();
    // SAFETY: the lock keeps other threads of this process out of glibc's utmp
    // state; each returned pointer is read before the next call and never kept.
    unsafe {
        libc::setutxent();
        loop {
            let p = libc::getutxent();
            if p.is_null() {
                break;
            }
            let ut = &*p;
            if ut.ut_type == libc::USER_PROCESS {
                out.push(UtEntry {
                    pid: ut.ut_pid,
                    line: field(&ut.ut_line),
                    id: field(&ut.ut_id),
                    user: field(&ut.ut_user),
                    host: field(&ut.ut_host),
                    time: i64::from(ut.ut_tv.tv_sec),
                });
            }
        }
        libc::endutxent();
    }
    Ok(out)
}

/// Marks `entry` `DEAD_PROCESS` in utmp and appends the closing record to wtmp,
/// if its slot still holds exactly that entry (a new login on the same line is
/// left alone). Returns whether it was closed.
pub fn close_entry(entry: &UtEntry, now: std::time::Duration) -> io::Result<bool> {
    let _held = UTMP_LOCK
        .lock()
        .map_err(|_| io::Error::other("utmp lock poisoned"))?;
    // SAFETY: utmpx is plain old data; all zero is its empty value.
    let mut ut: libc::utmpx = unsafe { std::mem::zeroed() };
    ut.ut_type = libc::DEAD_PROCESS;
    ut.ut_pid = entry.pid;
    fill(&mut ut.ut_line, &entry.line);
    fill(&mut ut.ut_id, &entry.id);
    ut.ut_tv.tv_sec = now.as_secs() as _;
    ut.ut_tv.tv_usec = now.subsec_micros() as _;
    // SAFETY: as in user_processes; `ut` is a live local for every call.
    unsafe {
        libc::setutxent();
        let found = getutxid(&ut);
        let same = !found.is_null() && {
            let f = &*found;
            f.ut_type == libc::USER_PROCESS
                && f.ut_pid == entry.pid
                && field(&f.ut_line) == entry.line
                && field(&f.ut_user) == entry.user
                && field(&f.ut_host) == entry.host
                && i64::from(f.ut_tv.tv_sec) == entry.time
        };
        if !same {
            libc::endutxent();
            return Ok(false);
        }
        let written = libc::pututxline(&ut);
        let err = io::Error::last_os_error();
        libc::endutxent();
        if written.is_null() {
            return Err(err);
        }
        updwtmpx(WTMP.as_ptr(), &ut);
    }
    Ok(true)
}
