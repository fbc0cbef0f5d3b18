//! The landing guard: makes `deny` mean deny.
//!
//! Every session lands as the powerless landing user; the shell profile line
//! `exec <switch helper>` typed into the pty is what switches it, and it is not a
//! security boundary (a Ctrl-C in the same burst discards it). The guard watches every
//! process whose real or effective uid is the landing user and allows only:
//!
//! 1. the switch helper itself: `/proc/<pid>/exe` is the installed helper (same device and
//!    inode as `helper_path`, or a deleted root-owned setuid file that was at that path,
//!    as after a package upgrade);
//! 2. a process that is the **direct child** of a verified session worker (root, `exe` an
//!    allowed worker path, `argv[1]` a well-formed SessionId) for at most `grace` after the
//!    kernel started it — the landing shell, until it has exec'd the helper.
//!
//! Everything else with the landing uid is a violation: a landing shell past its grace, any
//! command a landing shell started, a landing-user process outside any SSM session. In
//! `enforce` mode the guard writes one line to the session's terminal and SIGKILLs the
//! session (see [`GuardHandle`]); in `audit` mode it only records; `off` runs nothing.
//! One audit record per violation (`guard-kill` / `guard-audit`), never twice for the same
//! session.
//!
//! The guard learns of processes from the kernel's process-event connector (netlink,
//! `CN_IDX_PROC`: fork, exec and uid-change events, acted on as they arrive) when it can be
//! opened, and always also scans `/proc` every `scan_interval` (the fallback, the safety
//! net for lost events, and the clock for grace periods). `docs/guard.md` describes it for
//! administrators.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::ancestry::{self, AncestryError, Worker, WorkerPolicy};
use crate::audit::{AuditRecord, Auditor, Decision};
use crate::config::{self, GuardMode};
use crate::peer;
use crate::session_id::{is_instance_id, is_session_id};

/// How long the agent gets to read [`TERMINAL_LINE`] from a frozen session before it
/// is killed.
const TERMINAL_LINE_GRACE: Duration = Duration::from_millis(150);

/// What the guard writes to the terminal of a session it closes.
pub const TERMINAL_LINE: &str =
    "\r\nssm-runas: this session did not switch accounts and is being closed\r\n";

/// Longest command line kept in an audit reason, in characters.
const MAX_COMMAND_CHARS: usize = 200;
/// What the kernel appends to `/proc/<pid>/exe` when the file was replaced or removed.
const DELETED_SUFFIX: &str = " (deleted)";
/// With process events, the cache of "not a landing process" is thrown away this often
/// anyway, so a lost event cannot hide a process for long.
const CACHE_REFRESH_EVENTS: Duration = Duration::from_secs(30);
/// With the scan alone, every process's uids are re-read this often; in between, only
/// processes whose `/proc/<pid>` inode or owner changed are (see [`Known`]).
const CACHE_REFRESH_SCAN: Duration = Duration::from_secs(5);

/// What the guard needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSettings {
    /// enforce | audit | off.
    pub mode: GuardMode,
    /// How long a fresh landing shell may live before it must have exec'd the helper.
    pub grace: Duration,
    /// Interval of the `/proc` scan (always run, also when process events work).
    pub scan_interval: Duration,
    /// The installed switch helper.
    pub helper_path: PathBuf,
    /// The landing user's uid (never 0).
    pub landing_uid: u32,
    /// Where a session worker's executable may live.
    pub worker_policy: WorkerPolicy,
    /// `/proc`. Any other root (a fake tree in tests) is only read: nothing is signalled.
    pub proc_root: PathBuf,
}

impl GuardSettings {
    /// The settings for a validated `[guard]` section, the landing user's uid and the
    /// configured worker paths, on the real `/proc`.
    pub fn new(guard: &config::Guard, landing_uid: u32, worker_paths: &[String]) -> GuardSettings {
        GuardSettings {
            mode: guard.mode,
            grace: guard.grace,
            scan_interval: guard.scan_interval,
            helper_path: guard.helper_path.clone(),
            landing_uid,
            worker_policy: WorkerPolicy {
                allowed_paths: worker_paths.to_vec(),
            },
            proc_root: PathBuf::from("/proc"),
        }
    }

    fn scan_interval(&self) -> Duration {
        self.scan_interval.max(Duration::from_millis(10))
    }
}

/// How the guard learns of new processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The kernel's process-event connector, plus the periodic `/proc` scan.
    ProcConnector,
    /// The periodic `/proc` scan only.
    ProcScan,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::ProcConnector => f.write_str("process events (proc connector)"),
            Method::ProcScan => f.write_str("/proc scan"),
        }
    }
}

/// Called from the guard's thread for each new verified session worker. Must not block
/// (hand the work to another thread or task).
pub type OnWorker = Arc<dyn Fn(&Worker) + Send + Sync>;

// ---------------------------------------------------------------------------
// /proc readers.

/// The fields of `/proc/<pid>/stat` the guard uses (shared with the peer checks).
type Stat = crate::peer::ProcStat;

/// Reads `/proc/<pid>/stat` through [`crate::peer::stat`], which never fails on the
/// bytes a process may put in its own name, so no process can hide from the guard.
fn read_stat(proc_root: &Path, pid: i32) -> Option<Stat> {
    crate::peer::stat(proc_root, pid).ok()
}

fn read_exe(proc_root: &Path, pid: i32) -> Option<String> {
    fs::read_link(proc_root.join(pid.to_string()).join("exe"))
        .ok()
        .map(|p| String::from_utf8_lossy(p.as_os_str().as_bytes()).into_owned())
}

fn read_argv(proc_root: &Path, pid: i32) -> Vec<Vec<u8>> {
    let Ok(c) = fs::read(proc_root.join(pid.to_string()).join("cmdline")) else {
        return Vec::new();
    };
    let body = c.strip_suffix(b"\0").unwrap_or(&c);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// The command line as one printable, bounded line (for audit reasons). Set by the
/// process itself: informative only.
fn command_of(proc_root: &Path, pid: i32) -> String {
    let mut argv = read_argv(proc_root, pid);
    // In the middle of an exec the new command line is briefly empty.
    for _ in 0..5 {
        if !argv.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        argv = read_argv(proc_root, pid);
    }
    let text = if argv.is_empty() {
        let comm = fs::read(proc_root.join(pid.to_string()).join("comm")).unwrap_or_default();
        format!("[{}]", String::from_utf8_lossy(comm.trim_ascii_end()))
    } else {
        argv.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_COMMAND_CHARS)
        .collect();
    if text.chars().count() > MAX_COMMAND_CHARS {
        out.push('…');
    }
    out
}

/// Lists the numeric entries of the proc root.
fn list_pids(proc_root: &Path) -> Vec<i32> {
    let Ok(rd) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    rd.filter_map(|e| {
        let e = e.ok()?;
        let name = e.file_name();
        let s = name.to_str()?;
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<i32>().ok().filter(|p| *p > 0)
    })
    .collect()
}

/// Checks that `pid` is a session worker: root, an allowed executable, a well-formed
/// SessionId as `argv[1]` (and at most an instance id after it). Same rules as
/// [`ancestry::find_worker`] applies to the worker it finds.
fn verify_worker(proc_root: &Path, pid: i32, policy: &WorkerPolicy) -> Option<Worker> {
    let before = read_stat(proc_root, pid)?;
    if before.exited() || peer::uids(proc_root, pid).ok()? != (0, 0) {
        return None;
    }
    let exe = read_exe(proc_root, pid)?;
    let exe = policy.allowed_exe(&exe)?.to_owned();
    let argv = read_argv(proc_root, pid);
    if argv.len() < 2 || argv.len() > 3 {
        return None;
    }
    let session_id = std::str::from_utf8(&argv[1])
        .ok()
        .filter(|s| is_session_id(s))?;
    let instance_id = match argv.get(2) {
        None => None,
        Some(a) => Some(std::str::from_utf8(a).ok().filter(|s| is_instance_id(s))?),
    };
    // Everything read belongs to the same process only if it is still there.
    let after = read_stat(proc_root, pid)?;
    if after.starttime != before.starttime || after.exited() {
        return None;
    }
    Some(Worker {
        pid,
        starttime: before.starttime,
        session_id: session_id.to_owned(),
        instance_id: instance_id.map(str::to_owned),
        exe: PathBuf::from(exe),
    })
}

// ---------------------------------------------------------------------------
// Clocks.

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a system constant; it takes and returns plain integers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100)
}

/// Now, in clock ticks after boot (the unit and origin of `/proc/<pid>/stat` field 22,
/// which counts `CLOCK_BOOTTIME`).
fn boottime_ticks(hz: u64) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec; clock_gettime writes only into it.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if r != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(hz) + nanos * hz / 1_000_000_000
}

fn duration_to_ticks(d: Duration, hz: u64) -> u64 {
    let t = d
        .as_nanos()
        .saturating_mul(u128::from(hz))
        .div_ceil(1_000_000_000);
    u64::try_from(t).unwrap_or(u64::MAX)
}

/// `3 s`, `1.5 s`, `250 ms`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

// ---------------------------------------------------------------------------
// Terminals.

/// Major/minor of a `new_encode_dev` value (`tty_nr`).
fn decode_tty_nr(x: u32) -> (u32, u32) {
    ((x >> 8) & 0xfff, (x & 0xff) | ((x >> 12) & 0xfff00))
}

/// Major/minor of a userspace `dev_t` (`st_rdev`).
fn decode_rdev(d: u64) -> (u32, u32) {
    let major = ((d >> 8) & 0xfff) | ((d >> 32) & 0xffff_f000);
    let minor = (d & 0xff) | ((d >> 12) & 0xffff_ff00);
    (
        u32::try_from(major).unwrap_or(0),
        u32::try_from(minor).unwrap_or(0),
    )
}

/// Pseudo-terminal slaves (`/dev/pts/N`) have majors 136–143.
fn is_pts(dev: (u32, u32)) -> bool {
    (136..=143).contains(&dev.0)
}

/// Opens a terminal for writing without ever blocking or becoming its controller, checks
/// it is still the device we looked at, and writes the line once.
fn write_line(path: &Path, dev: (u32, u32)) -> bool {
    let Ok(mut f) = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    else {
        return false;
    };
    match f.metadata() {
        Ok(m) if m.file_type().is_char_device() && decode_rdev(m.rdev()) == dev => {}
        _ => return false,
    }
    f.write(TERMINAL_LINE.as_bytes()).is_ok()
}

/// Writes [`TERMINAL_LINE`] to the process's terminal: one of its fds 0–2 when it is the
/// controlling pty (or any pty when it has none), else `/dev/pts/N` from `tty_nr`.
fn write_terminal(proc_root: &Path, pid: i32, st: &Stat) -> bool {
    let ctty = (st.tty_nr != 0).then(|| decode_tty_nr(st.tty_nr));
    let fd_dir = proc_root.join(pid.to_string()).join("fd");
    for fd in 0..3 {
        let p = fd_dir.join(fd.to_string());
        // `metadata` follows the fd link to the device without opening it.
        let Ok(m) = fs::metadata(&p) else { continue };
        if !m.file_type().is_char_device() {
            continue;
        }
        let dev = decode_rdev(m.rdev());
        if is_pts(dev) && ctty.is_none_or(|c| c == dev) && write_line(&p, dev) {
            return true;
        }
    }
    if let Some(dev) = ctty.filter(|d| is_pts(*d)) {
        let n = (dev.0 - 136) * 256 + dev.1;
        let p = PathBuf::from(format!("/dev/pts/{n}"));
        if let Ok(m) = fs::metadata(&p)
            && m.file_type().is_char_device()
            && decode_rdev(m.rdev()) == dev
        {
            return write_line(&p, dev);
        }
    }
    false
}

// ---------------------------------------------------------------------------
// Signals.

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
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
fn kill_exact(proc_root: &Path, pid: i32, starttime: u64) -> bool {
    signal_exact(proc_root, pid, starttime, libc::SIGKILL)
}

/// Sends `sig` to `pid` through a pidfd, only if it is still the process that started
/// at `starttime`.
fn signal_exact(proc_root: &Path, pid: i32, starttime: u64, sig: libc::c_int) -> bool {
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

// ---------------------------------------------------------------------------
// The process-event connector (netlink).

mod connector {
    use super::*;

    const CN_IDX_PROC: u32 = 1;
    const CN_VAL_PROC: u32 = 1;
    const PROC_CN_MCAST_LISTEN: u32 = 1;
    const PROC_CN_MCAST_IGNORE: u32 = 2;
    const NLMSG_HDRLEN: usize = 16;
    const CN_MSG_LEN: usize = 20;
    const PROC_EVENT_FORK: u32 = 0x1;
    const PROC_EVENT_EXEC: u32 = 0x2;
    const PROC_EVENT_UID: u32 = 0x4;
    const PROC_EVENT_NONE: u32 = 0x0;
    const PROC_EVENT_EXIT: u32 = 0x8000_0000;
    /// The events the guard asks for, where the kernel can filter.
    const WANTED: u32 = PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_UID;

    /// A process event the guard cares about (thread-group ids).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Event {
        /// A new process (not a thread).
        Fork(i32),
        /// A process exec'd.
        Exec(i32),
        /// A process changed uid.
        Uid(i32),
        /// A process exited.
        Exit(i32),
        /// The kernel's answer to a request.
        Ack {
            /// The kernel's sequence number.
            seq: u32,
            /// The request's ack + 1.
            ack: u32,
            /// 0, or an errno.
            err: u32,
        },
    }

    /// A netlink socket subscribed to process events.
    pub(super) struct Connector {
        fd: OwnedFd,
    }

    fn u32_at(b: &[u8], off: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
    }
    fn i32_at(b: &[u8], off: usize) -> Option<i32> {
        Some(i32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
    }
    fn u16_at(b: &[u8], off: usize) -> Option<u16> {
        Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
    }

    /// Sends a `PROC_CN_MCAST_*` request. With `filter`, the request carries a `struct
    /// proc_input` (Linux 6.6+: only the events in the mask are delivered to this socket);
    /// older kernels ignore such a request.
    fn control(fd: BorrowedFd<'_>, op: u32, filter: Option<u32>, nonce: u32) -> io::Result<()> {
        let payload: u16 = if filter.is_some() { 8 } else { 4 };
        let total = NLMSG_HDRLEN + CN_MSG_LEN + usize::from(payload);
        let mut m = Vec::with_capacity(total);
        // struct nlmsghdr
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&std::process::id().to_ne_bytes());
        // struct cn_msg
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        // seq and ack: the kernel's answer carries our ack + 1.
        m.extend_from_slice(&nonce.to_ne_bytes());
        m.extend_from_slice(&nonce.to_ne_bytes());
        m.extend_from_slice(&payload.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        // enum proc_cn_mcast_op, then enum proc_cn_event (the mask)
        m.extend_from_slice(&op.to_ne_bytes());
        if let Some(mask) = filter {
            m.extend_from_slice(&mask.to_ne_bytes());
        }
        // SAFETY: `m` is a live buffer of `m.len()` bytes that send only reads; an
        // unconnected netlink socket sends to the kernel.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                m.as_ptr().cast::<libc::c_void>(),
                m.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    impl Connector {
        /// Opens the socket, joins the process-events group and asks the kernel to send
        /// events. Needs CAP_NET_ADMIN in the initial namespaces (root on the host).
        pub(super) fn open() -> io::Result<Connector> {
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
            // A big receive buffer makes lost events (ENOBUFS) rare under fork storms.
            let size: libc::c_int = 4 << 20;
            for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
                // SAFETY: passes a pointer to a live c_int and its exact size; the kernel
                // only reads it.
                let r = unsafe {
                    libc::setsockopt(
                        fd.as_raw_fd(),
                        libc::SOL_SOCKET,
                        opt,
                        (&raw const size).cast::<libc::c_void>(),
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
            sa.nl_groups = CN_IDX_PROC;
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
            let c = Connector { fd };
            // Listen to everything (every kernel understands this) and wait for the
            // kernel's answer: without CAP_NET_ADMIN (before Linux 6.6) it is an error, and
            // from another user or pid namespace there is none. Answers are multicast, so
            // ours is told apart by a nonce.
            let nonce = std::process::id().rotate_left(16)
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
            control(c.fd(), PROC_CN_MCAST_LISTEN, None, nonce)?;
            c.wait_ack(nonce, Duration::from_millis(500))?;
            // Then ask for only the events used: Linux 6.6+ filters per socket (threads'
            // exits and renames are many on a busy host); older kernels ignore this.
            control(
                c.fd(),
                PROC_CN_MCAST_LISTEN,
                Some(WANTED),
                nonce.wrapping_add(2),
            )?;
            Ok(c)
        }

        pub(super) fn fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }

        /// Waits up to `limit` for the kernel's answer to our request `nonce`.
        fn wait_ack(&self, nonce: u32, limit: Duration) -> io::Result<()> {
            let end = Instant::now() + limit;
            let mut events = Vec::new();
            loop {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the kernel did not answer the subscription (not in the initial namespaces?)",
                    ));
                }
                let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
                let mut fds = [PollFd::new(self.fd(), PollFlags::POLLIN)];
                if !matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0) {
                    continue;
                }
                events.clear();
                self.drain(&mut events)?;
                for e in &events {
                    // The kernel overwrites seq with its own counter; ack is ours + 1.
                    if let Event::Ack { ack, err, .. } = *e
                        && ack == nonce.wrapping_add(1)
                    {
                        return match err {
                            0 => Ok(()),
                            e => Err(io::Error::from_raw_os_error(
                                i32::try_from(e).unwrap_or(libc::EPERM),
                            )),
                        };
                    }
                }
            }
        }

        /// Reads every pending datagram from the kernel into `out`. `Err` with `ENOBUFS`
        /// means events were lost: the caller must rescan `/proc`.
        pub(super) fn drain(&self, out: &mut Vec<Event>) -> io::Result<()> {
            let mut buf = [0u8; 4096];
            for _ in 0..4096 {
                // SAFETY: sockaddr_nl is plain old data; all zeroes is a valid value.
                let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
                let mut salen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
                // SAFETY: `buf`, `sa` and `salen` are live and writable for the sizes
                // given; recvfrom writes only within them.
                let n = unsafe {
                    libc::recvfrom(
                        self.fd.as_raw_fd(),
                        buf.as_mut_ptr().cast::<libc::c_void>(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                        (&raw mut sa).cast::<libc::sockaddr>(),
                        &mut salen,
                    )
                };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EAGAIN) => return Ok(()),
                        Some(libc::EINTR) => continue,
                        _ => return Err(e),
                    }
                }
                // Only the kernel (port 0) speaks for the kernel.
                if sa.nl_pid != 0 {
                    continue;
                }
                parse(&buf[..usize::try_from(n).unwrap_or(0)], out);
            }
            Ok(())
        }
    }

    impl Drop for Connector {
        fn drop(&mut self) {
            let _ = control(self.fd.as_fd(), PROC_CN_MCAST_IGNORE, None, 0);
        }
    }

    /// Parses the netlink messages of one datagram.
    pub(super) fn parse(buf: &[u8], out: &mut Vec<Event>) {
        let mut off = 0;
        while let Some(len) = u32_at(buf, off) {
            let len = len as usize;
            if len < NLMSG_HDRLEN || off + len > buf.len() {
                return;
            }
            let msg = &buf[off..off + len];
            if u16_at(msg, 4) == Some(libc::NLMSG_DONE as u16) {
                event(&msg[NLMSG_HDRLEN..], out);
            }
            off += (len + 3) & !3;
        }
    }

    /// One `struct cn_msg` carrying a `struct proc_event`.
    fn event(cn: &[u8], out: &mut Vec<Event>) {
        if u32_at(cn, 0) != Some(CN_IDX_PROC) || u32_at(cn, 4) != Some(CN_VAL_PROC) {
            return;
        }
        let Some(dlen) = u16_at(cn, 16) else { return };
        let Some(ev) = cn.get(CN_MSG_LEN..CN_MSG_LEN + dlen as usize) else {
            return;
        };
        // struct proc_event: what @0, cpu @4, timestamp_ns @8, event_data @16.
        let d = 16;
        let e = match u32_at(ev, 0) {
            Some(PROC_EVENT_FORK) => match (i32_at(ev, d + 8), i32_at(ev, d + 12)) {
                (Some(pid), Some(tgid)) if pid == tgid => Event::Fork(tgid),
                _ => return,
            },
            Some(PROC_EVENT_EXEC) => match i32_at(ev, d + 4) {
                Some(tgid) => Event::Exec(tgid),
                None => return,
            },
            Some(PROC_EVENT_UID) => match i32_at(ev, d + 4) {
                Some(tgid) => Event::Uid(tgid),
                None => return,
            },
            Some(PROC_EVENT_NONE) => match (u32_at(cn, 8), u32_at(cn, 12), u32_at(ev, d)) {
                (Some(seq), Some(ack), Some(err)) => Event::Ack { seq, ack, err },
                _ => return,
            },
            Some(PROC_EVENT_EXIT) => match (i32_at(ev, d), i32_at(ev, d + 4)) {
                (Some(pid), Some(tgid)) if pid == tgid => Event::Exit(tgid),
                _ => return,
            },
            _ => return,
        };
        out.push(e);
    }

    #[cfg(test)]
    pub(super) fn fake_event(what: u32, data: &[i32]) -> Vec<u8> {
        let mut ev = Vec::new();
        ev.extend_from_slice(&what.to_ne_bytes());
        ev.extend_from_slice(&0u32.to_ne_bytes());
        ev.extend_from_slice(&0u64.to_ne_bytes());
        for x in data {
            ev.extend_from_slice(&x.to_ne_bytes());
        }
        let total = NLMSG_HDRLEN + CN_MSG_LEN + ev.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&(ev.len() as u16).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&ev);
        m
    }
}

use connector::{Connector, Event};

// ---------------------------------------------------------------------------
// Classification.

/// What one landing-uid process is.
#[derive(Debug)]
enum Class {
    /// Nothing to do (gone, a zombie, or it changed while being read).
    Ignore,
    /// The switch helper.
    Helper,
    /// A direct child of a worker within its grace: re-check at `until` (ticks).
    Grace { until: u64 },
    /// Not allowed.
    Violation(Violation),
}

#[derive(Debug)]
struct Violation {
    pid: i32,
    ruid: u32,
    stat: Stat,
    /// The verified worker it runs under, if any.
    worker: Option<Worker>,
    reason: String,
    command: String,
}

/// What one violation is recorded as, so it is recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Everything under one SSM session worker.
    Session(i32, u64),
    /// A process group led by a landing-user process (outside any session).
    Group(i32, u64),
    /// A single process (outside any session).
    Process(i32, u64),
}

/// What the guard last read about a process.
///
/// Reading `/proc/<pid>/status` costs tens of microseconds per process; `stat(2)` of the
/// `/proc/<pid>` directory a few. The directory's inode changes when the pid is reused
/// and its owner is the process's effective uid (root while it is not dumpable), so a
/// scan without process events re-reads the uids only when either changed. A process
/// that makes itself non-dumpable keeps a root-owned directory and is found by the full
/// re-read every [`CACHE_REFRESH_SCAN`] (and by the session sweep of any violation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    landing: bool,
    dir: Option<(u64, u32)>,
}

fn dir_identity(proc_root: &Path, pid: i32) -> Option<(u64, u32)> {
    let m = fs::symlink_metadata(proc_root.join(pid.to_string())).ok()?;
    Some((m.ino(), m.uid()))
}

/// State of the guard's thread.
struct Engine {
    s: GuardSettings,
    inner: Arc<Inner>,
    hz: u64,
    me: i32,
    /// Whether process events keep `known` accurate between scans.
    events: bool,
    /// pid → what was last read about it.
    known: HashMap<i32, Known>,
    /// Landing shells in their grace: pid → (start time, end of grace), in ticks.
    grace: HashMap<i32, (u64, u64)>,
    /// Verified workers by pid.
    workers: HashMap<i32, Worker>,
    /// Violations recorded, with the scan generation that last saw them.
    recorded: HashMap<Key, u64>,
    /// Processes sent SIGKILL (pid, start time): until they are gone, they may still be
    /// seen — reparented, so looking like a new violation — and must not be recorded again.
    killed: HashSet<(i32, u64)>,
    generation: u64,
    last_refresh: Instant,
}

impl Engine {
    fn new(s: GuardSettings, inner: Arc<Inner>, events: bool) -> Engine {
        Engine {
            s,
            inner,
            hz: clock_ticks_per_sec(),
            me: i32::try_from(std::process::id()).unwrap_or(0),
            events,
            known: HashMap::new(),
            grace: HashMap::new(),
            workers: HashMap::new(),
            recorded: HashMap::new(),
            killed: HashSet::new(),
            generation: 0,
            last_refresh: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        boottime_ticks(self.hz)
    }

    fn apply(&mut self, s: GuardSettings) {
        if s.landing_uid != self.s.landing_uid
            || s.worker_policy != self.s.worker_policy
            || s.proc_root != self.s.proc_root
        {
            self.known.clear();
            self.workers.clear();
            self.grace.clear();
        }
        if s.mode != self.s.mode {
            // What audit mode recorded, enforce mode acts on and records again.
            self.recorded.clear();
        }
        self.s = s;
    }

    fn real_proc(&self) -> bool {
        self.s.proc_root == Path::new("/proc")
    }

    /// A worker is verified once per (pid, start time); the first time, `on_worker` runs.
    fn note_worker(&mut self, w: Worker) -> Worker {
        if let Some(old) = self.workers.get(&w.pid)
            && old.starttime == w.starttime
        {
            return old.clone();
        }
        let cb = self.inner.on_worker.clone();
        let arg = w.clone();
        // The callback belongs to the daemon; a panic in it must not end the guard.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&arg)));
        self.workers.insert(w.pid, w.clone());
        w
    }

    /// The verified worker at `pid`, if it is one.
    fn worker_at(&mut self, pid: i32) -> Option<Worker> {
        self.worker_at_depth(pid, 0)
    }

    fn worker_at_depth(&mut self, pid: i32, depth: u8) -> Option<Worker> {
        if pid <= 1 {
            return None;
        }
        let proc_root = self.s.proc_root.clone();
        let st = read_stat(&proc_root, pid)?;
        // What makes a worker (root, an allowed executable) is read afresh every time: an
        // exec keeps the pid and the start time, not the identity.
        if st.exited() || peer::uids(&proc_root, pid).ok()? != (0, 0) {
            return None;
        }
        let exe = read_exe(&proc_root, pid)?;
        let exe = PathBuf::from(self.s.worker_policy.allowed_exe(&exe)?);
        if let Some(w) = self.workers.get(&pid)
            && w.starttime == st.starttime
            && w.exe == exe
        {
            return Some(w.clone());
        }
        let w = verify_worker(&proc_root, pid, &self.s.worker_policy)?;
        // A worker's fork child, before it execs the shell, is a copy of the worker with
        // the worker as its parent: not a new worker.
        if depth == 0
            && self
                .worker_at_depth(st.ppid, 1)
                .is_some_and(|p| p.session_id == w.session_id)
        {
            return None;
        }
        Some(self.note_worker(w))
    }

    /// A root process that just exec'd (or that a scan finds) may be a new worker.
    fn maybe_worker(&mut self, pid: i32) {
        let Some(exe) = read_exe(&self.s.proc_root, pid) else {
            return;
        };
        if self.s.worker_policy.allowed_exe(&exe).is_some() {
            let _ = self.worker_at(pid);
        }
    }

    /// Whether `pid` runs the installed switch helper.
    fn is_helper(&self, pid: i32) -> bool {
        let exe_link = self.s.proc_root.join(pid.to_string()).join("exe");
        let Some(text) = read_exe(&self.s.proc_root, pid) else {
            return false;
        };
        // `metadata` follows the magic link to the file the process really runs.
        let Ok(exe) = fs::metadata(&exe_link) else {
            return false;
        };
        let helper = self.s.helper_path.as_os_str().as_bytes();
        if text.as_bytes() == helper {
            return fs::metadata(&self.s.helper_path)
                .is_ok_and(|h| h.dev() == exe.dev() && h.ino() == exe.ino());
        }
        // After a package upgrade a running helper's file is deleted. Only root can delete
        // it, and only root can make a root-owned setuid file.
        text.as_bytes().strip_suffix(DELETED_SUFFIX.as_bytes()) == Some(helper)
            && exe.uid() == 0
            && exe.mode() & 0o4000 != 0
            && exe.nlink() == 0
    }

    /// Whether `pid` (started at `start`, child of `ppid`) descends from a running switch
    /// helper **through a child the helper started after the daemon allowed it** (see
    /// [`GuardHandle::admit_helper`]). The helper is setuid root, so the landing user can
    /// neither trace it nor become its child: what it starts once allowed is its own doing
    /// (PAM modules' helper programs, such as `mkhomedir_helper`, inherit its real uid, the
    /// landing user's). What the landing shell forked before it exec'd the helper is the
    /// helper's child too, but older than the allow: not the helper's doing. A helper the
    /// daemon has not allowed (yet) vouches for nothing.
    fn under_helper(&self, pid: i32, start: u64, mut ppid: i32) -> bool {
        // The branch below the helper starts with its direct child.
        let (mut child, mut child_start) = (pid, start);
        for _ in 0..ancestry::MAX_DEPTH {
            if ppid <= 1 {
                return false;
            }
            let Some(parent) = read_stat(&self.s.proc_root, ppid) else {
                return false;
            };
            let admitted = lock(&self.inner.admitted)
                .get(&ppid)
                .copied()
                .filter(|(helper_start, _)| *helper_start == parent.starttime);
            // The nearest helper the daemon allowed decides; a helper-program copy of
            // it in between (its fork child before exec) is just part of the branch.
            if let Some((_, at)) = admitted
                && self.is_helper(ppid)
            {
                return child != ppid && child_start >= at;
            }
            (child, child_start) = (ppid, parent.starttime);
            ppid = parent.ppid;
        }
        false
    }

    fn classify(&mut self, pid: i32, ruid: u32, now: u64) -> Class {
        if self.is_helper(pid) {
            return Class::Helper;
        }
        let proc_root = self.s.proc_root.clone();
        let Some(st) = read_stat(&proc_root, pid) else {
            return Class::Ignore;
        };
        if st.exited() {
            return Class::Ignore;
        }
        if self.under_helper(pid, st.starttime, st.ppid) {
            return Class::Helper;
        }
        let violation = |worker: Option<Worker>, reason: String| {
            Class::Violation(Violation {
                pid,
                ruid,
                stat: st,
                worker,
                reason,
                command: command_of(&proc_root, pid),
            })
        };
        if let Some(w) = self.worker_at(st.ppid) {
            // The parent link read before checking the worker must still hold.
            if read_stat(&proc_root, pid).is_none_or(|s| s != st) {
                return Class::Ignore;
            }
            let until = st
                .starttime
                .saturating_add(duration_to_ticks(self.s.grace, self.hz));
            if now < until {
                return Class::Grace { until };
            }
            let reason = format!(
                "landing shell did not exec the switch helper within {}",
                human(self.s.grace)
            );
            return violation(Some(w), reason);
        }
        match ancestry::find_worker(&proc_root, pid, &self.s.worker_policy) {
            Ok(w) => {
                let w = self.note_worker(w);
                violation(
                    Some(w),
                    "landing-user command started in a session that did not switch accounts"
                        .to_owned(),
                )
            }
            Err(AncestryError::Gone) => Class::Ignore,
            Err(AncestryError::NotInSession) => violation(
                None,
                "landing-user process outside any SSM session".to_owned(),
            ),
            Err(AncestryError::NotAWorker { pid: fake, why }) => violation(
                None,
                format!(
                    "landing-user process under process {fake}, which claims to be a session worker but is not one: {why}"
                ),
            ),
            Err(e) => violation(
                None,
                format!("landing-user process that cannot be tied to an SSM session: {e}"),
            ),
        }
    }

    /// Looks at one process: remembers whether it is a landing process, and acts.
    /// `may_be_worker`: it just exec'd, or a scan found it (not a fork: a worker's fork
    /// child is a copy of the worker).
    fn check_pid(&mut self, pid: i32, may_be_worker: bool) {
        if pid <= 1 || pid == self.me {
            return;
        }
        // The directory first: if the uids change after it, so does its owner.
        let dir = if self.events {
            None
        } else {
            dir_identity(&self.s.proc_root, pid)
        };
        let Ok((ruid, euid)) = peer::uids(&self.s.proc_root, pid) else {
            self.forget(pid);
            return;
        };
        let l = self.s.landing_uid;
        let landing = ruid == l || euid == l;
        self.known.insert(pid, Known { landing, dir });
        if !landing {
            self.grace.remove(&pid);
            if ruid == 0 && euid == 0 && may_be_worker {
                self.maybe_worker(pid);
            }
            return;
        }
        let now = self.now();
        match self.classify(pid, ruid, now) {
            Class::Ignore | Class::Helper => {
                self.grace.remove(&pid);
            }
            Class::Grace { until } => {
                let start = read_stat(&self.s.proc_root, pid).map_or(0, |s| s.starttime);
                self.grace.insert(pid, (start, until));
            }
            Class::Violation(v) => {
                self.grace.remove(&pid);
                self.act(v);
            }
        }
    }

    fn forget(&mut self, pid: i32) {
        self.known.remove(&pid);
        self.grace.remove(&pid);
        self.workers.remove(&pid);
    }

    fn key_of(&self, v: &Violation) -> Key {
        if let Some(w) = &v.worker {
            return Key::Session(w.pid, w.starttime);
        }
        match self.landing_group_leader(v) {
            Some(start) => Key::Group(v.stat.pgrp, start),
            None => Key::Process(v.pid, v.stat.starttime),
        }
    }

    /// The start time of the violator's process-group leader when that leader is a
    /// landing-user process.
    fn landing_group_leader(&self, v: &Violation) -> Option<u64> {
        let pg = v.stat.pgrp;
        if pg <= 1 {
            return None;
        }
        let (r, e) = peer::uids(&self.s.proc_root, pg).ok()?;
        if r != self.s.landing_uid && e != self.s.landing_uid {
            return None;
        }
        Some(read_stat(&self.s.proc_root, pg)?.starttime)
    }

    fn act(&mut self, v: Violation) {
        let key = self.key_of(&v);
        let first = self.recorded.insert(key, self.generation).is_none()
            && !self.killed.contains(&(v.pid, v.stat.starttime));
        let decision = match self.s.mode {
            GuardMode::Off => return,
            GuardMode::Audit => Decision::GuardAudit,
            GuardMode::Enforce => {
                self.enforce(&v, first);
                Decision::GuardKill
            }
        };
        if !first {
            return;
        }
        let mut r = AuditRecord::new(decision);
        r.session_id = v.worker.as_ref().map(|w| w.session_id.clone());
        r.peer_pid = Some(v.pid);
        r.peer_uid = Some(v.ruid);
        r.reason = format!("{}: {}", v.reason, v.command);
        self.inner.auditor().record(&r);
        // Counted once recorded, so a count always has its record.
        if decision == Decision::GuardKill {
            self.inner.kills.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes the terminal line (first time only) and SIGKILLs the violator and, under a
    /// session worker, every non-root process of its session, its process group and the
    /// worker's subtree; outside any session, its process group when a landing-user process
    /// leads it. Never a process whose real uid is 0.
    fn enforce(&mut self, v: &Violation, first: bool) {
        let proc_root = &self.s.proc_root;
        let mut targets: Vec<(i32, u64, Stat)> = vec![(v.pid, v.stat.starttime, v.stat)];
        let sweep_sid = v.worker.is_some() && v.stat.sid > 1;
        let sweep_pgrp =
            v.stat.pgrp > 1 && (v.worker.is_some() || self.landing_group_leader(v).is_some());
        if sweep_sid || sweep_pgrp || v.worker.is_some() {
            let all: Vec<(i32, Stat)> = list_pids(proc_root)
                .into_iter()
                .filter_map(|p| Some((p, read_stat(proc_root, p)?)))
                .collect();
            let parent: HashMap<i32, i32> = all.iter().map(|(p, s)| (*p, s.ppid)).collect();
            let under_worker = |mut p: i32| {
                let Some(w) = &v.worker else { return false };
                for _ in 0..ancestry::MAX_DEPTH {
                    match parent.get(&p) {
                        Some(&pp) if pp == w.pid => return true,
                        Some(&pp) if pp > 1 => p = pp,
                        _ => return false,
                    }
                }
                false
            };
            for (p, s) in &all {
                if *p == v.pid || *p <= 1 || *p == self.me || s.exited() {
                    continue;
                }
                let hit = (sweep_sid && s.sid == v.stat.sid)
                    || (sweep_pgrp && s.pgrp == v.stat.pgrp)
                    || under_worker(*p);
                if hit {
                    targets.push((*p, s.starttime, *s));
                }
            }
        }
        // Never a root process (the worker, the agent, anything of root's).
        targets.retain(|(p, _, _)| peer::uids(proc_root, *p).is_ok_and(|(r, _)| r != 0));
        if !self.real_proc() {
            return;
        }
        if first {
            // Inside a session, freeze it first, so nothing it runs gets ahead of the
            // kill; then the line, and a moment for the agent to read it: a session
            // whose processes die hangs up its terminal, and what the agent has not
            // read by then is lost. Not outside a session: the parent may be root's
            // and react to a stopped child (`su` stops itself, then never reaps the
            // killed child).
            let in_session = v.worker.is_some();
            if in_session {
                for (p, start, _) in &targets {
                    signal_exact(proc_root, *p, *start, libc::SIGSTOP);
                }
            }
            let told = targets
                .iter()
                .any(|(p, _, s)| write_terminal(proc_root, *p, s));
            if told && in_session {
                std::thread::sleep(TERMINAL_LINE_GRACE);
            }
        }
        for (p, start, _) in &targets {
            if kill_exact(proc_root, *p, *start) {
                self.killed.insert((*p, *start));
            }
        }
    }

    /// Looks at every process. With events, processes known not to be landing-user
    /// processes are not re-read.
    fn full_scan(&mut self) {
        self.generation += 1;
        let refresh = if self.events {
            CACHE_REFRESH_EVENTS
        } else {
            CACHE_REFRESH_SCAN
        };
        if self.last_refresh.elapsed() >= refresh {
            self.known.clear();
            self.last_refresh = Instant::now();
        }
        let pids = list_pids(&self.s.proc_root);
        let present: HashSet<i32> = pids.iter().copied().collect();
        self.known.retain(|p, _| present.contains(p));
        self.grace.retain(|p, _| present.contains(p));
        self.workers.retain(|p, _| present.contains(p));
        lock(&self.inner.admitted).retain(|p, _| present.contains(p));
        for pid in pids {
            match self.known.get(&pid) {
                Some(k) if k.landing => {}
                // Process events report every change of a known process.
                Some(_) if self.events => continue,
                Some(k) if k.dir.is_some() && k.dir == dir_identity(&self.s.proc_root, pid) => {
                    continue;
                }
                _ => {}
            }
            self.check_pid(pid, true);
        }
        // A violation no scan sees any more has ended; forget it.
        let g = self.generation;
        self.recorded.retain(|_, seen| *seen == g);
        self.killed.retain(|(p, _)| present.contains(p));
    }

    /// The next grace period to end, as a wall-clock instant.
    fn next_grace_end(&self) -> Option<Instant> {
        let until = self.grace.values().map(|(_, u)| *u).min()?;
        let now = self.now();
        let ticks = until.saturating_sub(now) + 1;
        let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(self.hz.max(1));
        Some(Instant::now() + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }

    fn expire_graces(&mut self) {
        let now = self.now();
        let due: Vec<i32> = self
            .grace
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(p, _)| *p)
            .collect();
        for pid in due {
            self.check_pid(pid, false);
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Ack { .. } => {}
            Event::Exit(pid) => self.forget(pid),
            Event::Fork(pid) => {
                self.known.remove(&pid);
                self.check_pid(pid, false);
            }
            Event::Exec(pid) | Event::Uid(pid) => {
                self.known.remove(&pid);
                self.workers.remove(&pid);
                self.check_pid(pid, matches!(e, Event::Exec(_)));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The handle and the thread.

struct Inner {
    settings: Mutex<(u64, GuardSettings)>,
    auditor: Mutex<Arc<Auditor>>,
    on_worker: OnWorker,
    kills: AtomicU64,
    want: Method,
    method: Mutex<Method>,
    /// Helpers the daemon allowed to switch: pid → (start time, tick of the allow).
    admitted: Mutex<HashMap<i32, (u64, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn auditor(&self) -> Arc<Auditor> {
        Arc::clone(&lock(&self.auditor))
    }
    fn settings(&self) -> (u64, GuardSettings) {
        lock(&self.settings).clone()
    }
}

struct Running {
    stop: io::PipeWriter,
    thread: JoinHandle<()>,
}

/// The running guard. Dropping it (or [`GuardHandle::stop`]) ends its thread.
pub struct GuardHandle {
    inner: Arc<Inner>,
    running: Mutex<Option<Running>>,
}

impl fmt::Debug for GuardHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardHandle")
            .field("mode", &self.mode())
            .field("method", &self.method())
            .field("kills", &self.kills())
            .finish()
    }
}

/// Starts the guard (nothing runs in mode `off`). It tries process events first and falls
/// back to the `/proc` scan when the connector cannot be opened; see [`GuardHandle::method`].
/// `on_worker` is called from the guard's thread once for each new verified session
/// worker (the daemon uses it to prefetch the session's owner); it must not block.
pub fn spawn(settings: GuardSettings, auditor: Arc<Auditor>, on_worker: OnWorker) -> GuardHandle {
    spawn_with_method(settings, auditor, on_worker, Method::ProcConnector)
}

/// [`spawn`], choosing the method: `ProcScan` never opens the connector (tests, or hosts
/// where process events misbehave); `ProcConnector` tries it and falls back to the scan.
pub fn spawn_with_method(
    settings: GuardSettings,
    auditor: Arc<Auditor>,
    on_worker: OnWorker,
    method: Method,
) -> GuardHandle {
    let handle = GuardHandle {
        inner: Arc::new(Inner {
            settings: Mutex::new((0, settings.clone())),
            auditor: Mutex::new(auditor),
            on_worker,
            kills: AtomicU64::new(0),
            want: method,
            method: Mutex::new(method),
            admitted: Mutex::new(HashMap::new()),
        }),
        running: Mutex::new(None),
    };
    if settings.mode != GuardMode::Off {
        handle.start();
    }
    handle
}

impl GuardHandle {
    fn start(&self) {
        let mut running = lock(&self.running);
        if running.is_some() {
            return;
        }
        let connector = match self.inner.want {
            Method::ProcConnector => match Connector::open() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(
                        "landing guard: process events are not available ({e}); scanning /proc instead"
                    );
                    None
                }
            },
            Method::ProcScan => None,
        };
        *lock(&self.inner.method) = if connector.is_some() {
            Method::ProcConnector
        } else {
            Method::ProcScan
        };
        let (reader, writer) = match io::pipe() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("landing guard: cannot start: {e}");
                return;
            }
        };
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("landing-guard".into())
            .spawn(move || run(inner, connector, reader));
        match spawned {
            Ok(thread) => {
                *running = Some(Running {
                    stop: writer,
                    thread,
                })
            }
            Err(e) => tracing::error!("landing guard: cannot start its thread: {e}"),
        }
    }

    fn stop_thread(&self) {
        let r = lock(&self.running).take();
        if let Some(Running { stop, thread }) = r {
            drop(stop);
            let _ = thread.join();
        }
    }

    /// How the running guard learns of processes (when off: how it last did, or would).
    pub fn method(&self) -> Method {
        *lock(&self.inner.method)
    }

    /// `process events (proc connector) and a /proc scan every 200 ms`, or
    /// `/proc scan every 200 ms`, or `off`.
    pub fn describe(&self) -> String {
        let (_, s) = self.inner.settings();
        if s.mode == GuardMode::Off || lock(&self.running).is_none() {
            return "off".to_owned();
        }
        let every = human(s.scan_interval());
        match self.method() {
            Method::ProcConnector => {
                format!("{} and a /proc scan every {every}", Method::ProcConnector)
            }
            Method::ProcScan => format!("/proc scan every {every}"),
        }
    }

    /// The mode in force.
    pub fn mode(&self) -> GuardMode {
        self.inner.settings().1.mode
    }

    /// Puts new settings in force (on configuration reload): starts or stops the thread
    /// when the mode changes to or from `off`.
    pub fn update(&self, s: GuardSettings) {
        let off = s.mode == GuardMode::Off;
        {
            let mut g = lock(&self.inner.settings);
            g.0 += 1;
            g.1 = s;
        }
        if off {
            self.stop_thread();
        } else {
            self.start();
        }
    }

    /// Sends later audit records to another auditor (on reload, when `[audit]` changed).
    pub fn set_auditor(&self, auditor: Arc<Auditor>) {
        *lock(&self.inner.auditor) = auditor;
    }

    /// The daemon allowed the helper `pid` (started at `starttime`) to switch: from now
    /// on, and only from now on, what it starts is its own doing. A descendant of the
    /// helper whose branch began before this (a job the landing shell forked just before
    /// exec'ing the helper, and whatever that job forks later) stays a violation.
    pub fn admit_helper(&self, pid: i32, starttime: u64) {
        let now = boottime_ticks(clock_ticks_per_sec());
        lock(&self.inner.admitted)
            .entry(pid)
            .and_modify(|e| {
                if e.0 != starttime {
                    *e = (starttime, now);
                }
            })
            .or_insert((starttime, now));
    }

    /// How many violations were enforced (killed) since the start.
    pub fn kills(&self) -> u64 {
        self.inner.kills.load(Ordering::Relaxed)
    }

    /// Ends the guard's thread.
    pub fn stop(self) {
        self.stop_thread();
    }
}

impl Drop for GuardHandle {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn until_ms(deadline: Instant) -> u16 {
    let d = deadline.saturating_duration_since(Instant::now());
    u16::try_from(d.as_micros().div_ceil(1000).min(60_000)).unwrap_or(60_000)
}

fn run(inner: Arc<Inner>, connector: Option<Connector>, stop: io::PipeReader) {
    let (mut version, settings) = inner.settings();
    let mut engine = Engine::new(settings, Arc::clone(&inner), connector.is_some());
    engine.full_scan();
    let mut next_scan = Instant::now() + engine.s.scan_interval();
    let mut events = Vec::new();
    loop {
        let (v, s) = inner.settings();
        if v != version {
            version = v;
            engine.apply(s);
            engine.full_scan();
            next_scan = Instant::now() + engine.s.scan_interval();
        }
        let deadline = match engine.next_grace_end() {
            Some(g) if g < next_scan => g,
            _ => next_scan,
        };
        let timeout = PollTimeout::from(until_ms(deadline));
        let mut fds = vec![PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
        if let Some(c) = &connector {
            fds.push(PollFd::new(c.fd(), PollFlags::POLLIN));
        }
        let ready = poll(&mut fds, timeout);
        let stop_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let events_ready = fds
            .get(1)
            .and_then(PollFd::revents)
            .is_some_and(|r| !r.is_empty());
        if stop_ready {
            return;
        }
        if let Err(e) = ready
            && e != nix::errno::Errno::EINTR
        {
            tracing::error!("landing guard: poll failed: {e}");
            std::thread::sleep(engine.s.scan_interval());
        }
        if events_ready && let Some(c) = &connector {
            events.clear();
            let lost = c.drain(&mut events).is_err();
            for e in events.drain(..) {
                engine.on_event(e);
            }
            if lost {
                // Events were dropped: nothing cached can be trusted.
                engine.known.clear();
                engine.full_scan();
                next_scan = Instant::now() + engine.s.scan_interval();
            }
        }
        engine.expire_graces();
        if Instant::now() >= next_scan {
            engine.full_scan();
            next_scan = Instant::now() + engine.s.scan_interval();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const SID: &str = "alice@example.com-0a1b2c3d4e5f6a7b8";
    const LANDING: u32 = 1001;
    const HZ: u64 = 100;

    /// A fake `/proc` (and a helper file) in a temporary directory, removed on drop.
    struct FakeProc {
        dir: PathBuf,
        root: PathBuf,
        helper: PathBuf,
    }

    struct P<'a> {
        pid: i32,
        ppid: i32,
        sid: i32,
        uid: (u32, u32),
        exe: &'a str,
        argv: &'a [&'a str],
        start: u64,
    }

    impl FakeProc {
        fn new(name: &str) -> FakeProc {
            let dir = std::env::temp_dir().join(format!(
                "ssm-runas-guard-unit-{}-{name}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            let root = dir.join("proc");
            fs::create_dir_all(&root).unwrap();
            let helper = dir.join("ssm-runas-login");
            fs::write(&helper, "helper").unwrap();
            let fp = FakeProc { dir, root, helper };
            // init, the agent and the worker (root), as on a real instance.
            fp.add(P {
                pid: 1,
                ppid: 0,
                sid: 1,
                uid: (0, 0),
                exe: "/usr/lib/systemd/systemd",
                argv: &["/sbin/init"],
                start: 1,
            });
            fp.add(P {
                pid: 100,
                ppid: 1,
                sid: 100,
                uid: (0, 0),
                exe: "/usr/bin/amazon-ssm-agent",
                argv: &["/usr/bin/amazon-ssm-agent"],
                start: 10,
            });
            fp.add(P {
                pid: 300,
                ppid: 100,
                sid: 100,
                uid: (0, 0),
                exe: "/usr/bin/ssm-session-worker",
                argv: &["/usr/bin/ssm-session-worker", SID],
                start: 1000,
            });
            fp
        }

        fn add(&self, p: P<'_>) {
            let d = self.root.join(p.pid.to_string());
            fs::create_dir_all(&d).unwrap();
            let name = p.exe.rsplit('/').next().unwrap();
            fs::write(
                d.join("stat"),
                format!(
                    "{} ({name}) S {} {} {} 34816 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {} 1000 10 0 0 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n",
                    p.pid, p.ppid, p.sid, p.sid, p.start
                ),
            )
            .unwrap();
            fs::write(
                d.join("status"),
                format!(
                    "Name:\t{name}\nPid:\t{}\nPPid:\t{}\nUid:\t{}\t{}\t{}\t{}\n",
                    p.pid, p.ppid, p.uid.0, p.uid.1, p.uid.1, p.uid.1
                ),
            )
            .unwrap();
            let mut cmdline = Vec::new();
            for a in p.argv {
                cmdline.extend_from_slice(a.as_bytes());
                cmdline.push(0);
            }
            fs::write(d.join("cmdline"), cmdline).unwrap();
            fs::write(d.join("comm"), format!("{name}\n")).unwrap();
            let _ = fs::remove_file(d.join("exe"));
            std::os::unix::fs::symlink(p.exe, d.join("exe")).unwrap();
        }

        fn engine(&self, mode: GuardMode, seen: Arc<AtomicUsize>) -> (Engine, PathBuf) {
            let audit = self.dir.join("audit.jsonl");
            let s = GuardSettings {
                mode,
                grace: Duration::from_secs(3),
                scan_interval: Duration::from_millis(200),
                helper_path: self.helper.clone(),
                landing_uid: LANDING,
                worker_policy: WorkerPolicy::standard(),
                proc_root: self.root.clone(),
            };
            let inner = Arc::new(Inner {
                settings: Mutex::new((0, s.clone())),
                auditor: Mutex::new(Arc::new(Auditor::new(false, Some(audit.clone())))),
                on_worker: Arc::new(move |w: &Worker| {
                    assert_eq!(w.session_id, SID);
                    seen.fetch_add(1, Ordering::SeqCst);
                }),
                kills: AtomicU64::new(0),
                want: Method::ProcScan,
                method: Mutex::new(Method::ProcScan),
                admitted: Mutex::new(HashMap::new()),
            });
            let mut e = Engine::new(s, inner, false);
            e.hz = HZ;
            (e, audit)
        }
    }

    impl Drop for FakeProc {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    fn reason(c: &Class) -> (&str, Option<&str>) {
        match c {
            Class::Violation(v) => (
                v.reason.as_str(),
                v.worker.as_ref().map(|w| w.session_id.as_str()),
            ),
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn the_landing_shell_is_allowed_only_during_its_grace() {
        let fp = FakeProc::new("grace");
        fp.add(P {
            pid: 400,
            ppid: 300,
            sid: 400,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/dash",
            argv: &["sh"],
            start: 2000,
        });
        let seen = Arc::new(AtomicUsize::new(0));
        let (mut e, _) = fp.engine(GuardMode::Audit, Arc::clone(&seen));
        // 3 s at 100 Hz: allowed until tick 2300.
        assert!(matches!(
            e.classify(400, LANDING, 2299),
            Class::Grace { until: 2300 }
        ));
        let late = e.classify(400, LANDING, 2300);
        assert_eq!(
            reason(&late),
            (
                "landing shell did not exec the switch helper within 3 s",
                Some(SID)
            )
        );
        // The worker was verified twice but announced once.
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_helper_is_allowed_and_anything_a_shell_starts_is_not() {
        let fp = FakeProc::new("helper");
        let helper = fp.helper.to_str().unwrap().to_owned();
        fp.add(P {
            pid: 400,
            ppid: 300,
            sid: 400,
            uid: (LANDING, 0),
            exe: &helper,
            argv: &[&helper],
            start: 2000,
        });
        fp.add(P {
            pid: 500,
            ppid: 400,
            sid: 400,
            uid: (LANDING, 0),
            exe: &helper,
            argv: &[&helper],
            start: 2001,
        });
        fp.add(P {
            pid: 401,
            ppid: 300,
            sid: 401,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/dash",
            argv: &["sh"],
            start: 2000,
        });
        fp.add(P {
            pid: 402,
            ppid: 401,
            sid: 401,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/sleep",
            argv: &["sleep", "60"],
            start: 2001,
        });
        let (mut e, _) = fp.engine(GuardMode::Audit, Arc::new(AtomicUsize::new(0)));
        // The helper, and its child before it changes uid: allowed however old.
        assert!(matches!(e.classify(400, LANDING, 99_999), Class::Helper));
        assert!(matches!(e.classify(500, LANDING, 99_999), Class::Helper));
        // What the helper's branch started before the daemon allowed it vouches for
        // nothing: a job the landing shell forked just before exec'ing the helper.
        fp.add(P {
            pid: 502,
            ppid: 400,
            sid: 400,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/sleep",
            argv: &["sleep", "600"],
            start: 2000,
        });
        assert!(matches!(
            e.classify(502, LANDING, 2003),
            Class::Violation(_)
        ));
        lock(&e.inner.admitted).insert(400, (2000, 2001));
        // A PAM module's helper program started by the helper keeps its real uid.
        fp.add(P {
            pid: 501,
            ppid: 500,
            sid: 400,
            uid: (LANDING, 0),
            exe: "/usr/sbin/mkhomedir_helper",
            argv: &["/usr/sbin/mkhomedir_helper", "bob"],
            start: 2002,
        });
        assert!(matches!(e.classify(501, LANDING, 99_999), Class::Helper));
        // Still not the job forked before the allow, nor what it forks later.
        assert!(matches!(
            e.classify(502, LANDING, 2003),
            Class::Violation(_)
        ));
        fp.add(P {
            pid: 503,
            ppid: 502,
            sid: 400,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/cat",
            argv: &["cat"],
            start: 2005,
        });
        assert!(matches!(
            e.classify(503, LANDING, 2006),
            Class::Violation(_)
        ));
        // A helper that was allowed once, then its pid reused: vouches for nothing.
        lock(&e.inner.admitted).insert(400, (1999, 2001));
        assert!(matches!(
            e.classify(501, LANDING, 99_999),
            Class::Violation(_)
        ));
        lock(&e.inner.admitted).insert(400, (2000, 2001));
        // A command started by a shell in its grace: not allowed, even right away.
        let c = e.classify(402, LANDING, 2002);
        assert_eq!(
            reason(&c),
            (
                "landing-user command started in a session that did not switch accounts",
                Some(SID)
            )
        );
        // The same path name, but another file (e.g. bind-mounted elsewhere): not the helper.
        let other = fp.dir.join("elsewhere");
        fs::write(&other, "x").unwrap();
        let d = fp.root.join("400");
        fs::remove_file(d.join("exe")).unwrap();
        std::os::unix::fs::symlink(&other, d.join("exe")).unwrap();
        assert!(!e.is_helper(400));
    }

    #[test]
    fn processes_outside_a_session_or_under_an_impostor_are_violations() {
        let fp = FakeProc::new("outside");
        fp.add(P {
            pid: 600,
            ppid: 1,
            sid: 600,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/sleep",
            argv: &["sleep", "60"],
            start: 5,
        });
        // A landing-owned "worker" at the right path: not root, so not a worker.
        fp.add(P {
            pid: 700,
            ppid: 1,
            sid: 700,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/ssm-session-worker",
            argv: &["/usr/bin/ssm-session-worker", SID],
            start: 5,
        });
        fp.add(P {
            pid: 701,
            ppid: 700,
            sid: 701,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/dash",
            argv: &["sh"],
            start: 6,
        });
        // A root worker-named process at a path that is not allowed.
        fp.add(P {
            pid: 800,
            ppid: 1,
            sid: 800,
            uid: (0, 0),
            exe: "/tmp/ssm-session-worker",
            argv: &["/tmp/ssm-session-worker", SID],
            start: 5,
        });
        fp.add(P {
            pid: 801,
            ppid: 800,
            sid: 801,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/dash",
            argv: &["sh"],
            start: 6,
        });
        let seen = Arc::new(AtomicUsize::new(0));
        let (mut e, _) = fp.engine(GuardMode::Audit, Arc::clone(&seen));
        let c = e.classify(600, LANDING, 10);
        assert_eq!(
            reason(&c),
            ("landing-user process outside any SSM session", None)
        );
        for pid in [701, 801] {
            let c = e.classify(pid, LANDING, 10);
            let (why, sid) = reason(&c);
            assert!(
                why.contains("claims to be a session worker but is not one"),
                "{why}"
            );
            assert_eq!(sid, None);
        }
        assert_eq!(seen.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_violation_is_recorded_once_per_session_with_its_command() {
        let fp = FakeProc::new("record");
        fp.add(P {
            pid: 400,
            ppid: 300,
            sid: 400,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/dash",
            argv: &["sh"],
            start: 2,
        });
        fp.add(P {
            pid: 401,
            ppid: 400,
            sid: 400,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/sleep",
            argv: &["sleep", "60\n{\"x\":1}"],
            start: 3,
        });
        fp.add(P {
            pid: 900,
            ppid: 100,
            sid: 100,
            uid: (0, 0),
            exe: "/usr/bin/ssm-agent-worker",
            argv: &["ssm-agent-worker"],
            start: 3,
        });
        let (mut e, audit) = fp.engine(GuardMode::Audit, Arc::new(AtomicUsize::new(0)));
        e.full_scan();
        e.full_scan();
        let text = fs::read_to_string(&audit).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["SSM_RUNAS_DECISION"], "guard-audit");
        assert_eq!(lines[0]["SSM_RUNAS_SESSION_ID"], SID);
        assert_eq!(lines[0]["SSM_RUNAS_PEER_UID"], LANDING);
        let why = lines[0]["SSM_RUNAS_REASON"].as_str().unwrap();
        assert!(
            why == "landing shell did not exec the switch helper within 3 s: sh"
                || why.starts_with("landing-user command started in a session"),
            "{why}"
        );
        // Nothing was signalled on a fake tree, and audit mode counts no kills.
        assert_eq!(e.inner.kills.load(Ordering::Relaxed), 0);
        // Once the session is gone, a new violation of a new session is recorded again.
        fs::remove_dir_all(fp.root.join("400")).unwrap();
        fs::remove_dir_all(fp.root.join("401")).unwrap();
        e.full_scan();
        fp.add(P {
            pid: 600,
            ppid: 1,
            sid: 600,
            uid: (LANDING, LANDING),
            exe: "/usr/bin/sleep",
            argv: &["sleep"],
            start: 9,
        });
        e.full_scan();
        assert_eq!(fs::read_to_string(&audit).unwrap().lines().count(), 2);
    }

    #[test]
    fn stat_fields_and_terminal_numbers() {
        let st = crate::peer::parse_stat(
            "42 (a) b) (c) S 7 8 9 34817 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000",
        )
        .unwrap();
        assert_eq!(
            (st.ppid, st.pgrp, st.sid, st.tty_nr, st.starttime),
            (7, 8, 9, 34817, 123_456)
        );
        // 34817 = major 136, minor 1: /dev/pts/1.
        assert_eq!(decode_tty_nr(34817), (136, 1));
        assert!(is_pts(decode_tty_nr(34817)));
        assert!(!is_pts(decode_tty_nr(0x0401))); // /dev/tty1
        assert_eq!(decode_rdev(libc::makedev(136, 300)), (136, 300));
        assert!(crate::peer::parse_stat("42 (sh) S 1 2").is_none());
    }

    #[test]
    fn connector_messages_are_parsed_and_threads_skipped() {
        let mut out = Vec::new();
        let mut buf = connector::fake_event(0x1, &[10, 10, 11, 11]);
        buf.extend(connector::fake_event(0x1, &[10, 10, 12, 11])); // a thread
        buf.extend(connector::fake_event(0x2, &[11, 11]));
        buf.extend(connector::fake_event(0x4, &[13, 11, 1001, 1001]));
        buf.extend(connector::fake_event(0x8000_0000, &[11, 11, 0, 9, 10, 10]));
        buf.extend(connector::fake_event(0x200, &[11, 11])); // comm: ignored
        buf.extend(connector::fake_event(0x0, &[1])); // an answer, errno 1
        connector::parse(&buf, &mut out);
        assert_eq!(
            out,
            [
                Event::Fork(11),
                Event::Exec(11),
                Event::Uid(11),
                Event::Exit(11),
                Event::Ack {
                    seq: 0,
                    ack: 0,
                    err: 1
                }
            ]
        );
        // Truncated input is ignored, not a panic.
        connector::parse(&buf[..30], &mut out);
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(3)), "3 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_millis(200)), "200 ms");
        assert_eq!(duration_to_ticks(Duration::from_millis(1001), 100), 101);
    }
}
