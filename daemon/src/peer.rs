//! Who is at the other end of the socket, as the kernel reports it.
//!
//! - [`peer_cred`]: `SO_PEERCRED` (pid, *effective* uid and gid at `connect` time).
//! - [`pin`] / [`pin_socket_peer`]: hold a pidfd on a process and remember its start time,
//!   so a later [`Pinned::still_same`] can tell whether the pid now names another process.
//! - [`stat`], [`starttime`], [`ppid`], [`uids`]: small readers for `/proc/<pid>/…`.
//!
//! Every function takes the proc root as a parameter so tests can point it at a fake tree.
//! **When the proc root is not exactly `/proc`, pidfds are not used** (a fake tree has no
//! processes behind it): pinning then rests on the start time alone.
//!
//! `SO_PEERCRED` gives the *effective* uid. The switch helper is setuid root, so its euid is 0
//! while its real uid is the landing user: read the real uid with [`uids`].
#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{getsockopt, sockopt};

/// The peer of a Unix socket, as reported by `SO_PEERCRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id of the peer at `connect` time (0 when not visible in our pid namespace).
    pub pid: i32,
    /// **Effective** uid of the peer at `connect` time.
    pub uid: u32,
    /// Effective gid of the peer at `connect` time.
    pub gid: u32,
}

/// Reads the credentials of the peer of a connected Unix socket (`SO_PEERCRED`).
pub fn peer_cred(fd: BorrowedFd<'_>) -> io::Result<PeerCred> {
    let c = getsockopt(&fd, sockopt::PeerCredentials)?;
    Ok(PeerCred {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// The fields of `/proc/<pid>/stat` that we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 5: the process group.
    pub pgrp: i32,
    /// Field 6: the session id (of the kernel, not SSM).
    pub sid: i32,
    /// Field 7: the controlling terminal, `new_encode_dev` form; 0 when none. The
    /// kernel prints it as a signed int, so a pty numbered 524,288 or more (possible
    /// once `kernel.pty.max` is raised) reads negative: kept as the same 32 bits.
    pub tty_nr: u32,
    /// Field 20: live threads of the thread group (the leader included while it is
    /// not a zombie).
    pub threads: u32,
    /// Field 22: start time in clock ticks after boot.
    pub starttime: u64,
}

impl ProcStat {
    /// Whether the process has exited and only waits to be reaped: dead, or a zombie
    /// with no thread left. A thread-group leader that ended with a raw `exit` system
    /// call shows `Z` while its other threads keep running: that process is alive.
    pub fn exited(&self) -> bool {
        match self.state {
            'X' | 'x' => true,
            'Z' => self.threads <= 1,
            _ => false,
        }
    }
}

impl ProcStat {
    /// The controlling terminal's (major, minor), if the process has one.
    pub fn tty_device(&self) -> Option<(u32, u32)> {
        let x = self.tty_nr;
        (x != 0).then_some(((x >> 8) & 0xfff, (x & 0xff) | ((x >> 12) & 0xfff00)))
    }

    /// The controlling terminal as utmp names it (`pts/3`), when it is a pty slave.
    pub fn tty_line(&self) -> Option<String> {
        pts_number(self.tty_device()?).map(|n| format!("pts/{n}"))
    }
}

/// `N` of `/dev/pts/N` for a pty slave's (major, minor): majors 136–143, and the minor
/// may exceed 255 once `kernel.pty.max` is raised. `None` for any other device.
pub fn pts_number(dev: (u32, u32)) -> Option<u32> {
    (136..=143)
        .contains(&dev.0)
        .then(|| (dev.0 - 136) * 256 + dev.1)
}

fn pid_dir(proc_root: &Path, pid: i32) -> io::Result<PathBuf> {
    if pid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid process id {pid}"),
        ));
    }
    Ok(proc_root.join(pid.to_string()))
}

fn invalid(what: &str, pid: i32) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed {what} for process {pid}"),
    )
}

/// Parses the content of `/proc/<pid>/stat`. The command name (field 2) is in parentheses and
/// may itself contain spaces and `)`, so the fields are read after the **last** `)`.
pub fn parse_stat(content: &str) -> Option<ProcStat> {
    let close = content.rfind(')')?;
    let rest = content.get(close + 1..)?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 of the whole line.
    let mut state = fields.first()?.chars();
    let s = state.next()?;
    if state.next().is_some() {
        return None;
    }
    let tty: i32 = fields.get(4)?.parse().ok()?;
    Some(ProcStat {
        state: s,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        sid: fields.get(3)?.parse().ok()?,
        tty_nr: tty.cast_unsigned(),
        threads: fields.get(17)?.parse().ok()?,
        starttime: fields.get(19)?.parse().ok()?,
    })
}

/// Reads a small /proc file with one buffer: no fstat and no growing reads (proc
/// files report size 0, so `read_to_string` issues many small reads). Invalid UTF-8
/// (a process may put any bytes in its `comm`) is replaced, never an error, so a
/// process cannot make itself unreadable.
pub fn read_small(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut f = fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        let len = buf.len();
        if buf.capacity() - len < 1024 {
            buf.reserve(4096);
        }
        let spare = buf.capacity() - len;
        buf.resize(len + spare, 0);
        let n = f.read(&mut buf[len..])?;
        buf.truncate(len + n);
        if n == 0 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Reads `/proc/<pid>/stat`.
pub fn stat(proc_root: &Path, pid: i32) -> io::Result<ProcStat> {
    let content = read_small(&pid_dir(proc_root, pid)?.join("stat"))?;
    parse_stat(&content).ok_or_else(|| invalid("stat", pid))
}

/// Start time of a process (field 22 of `/proc/<pid>/stat`), in clock ticks after boot.
pub fn starttime(proc_root: &Path, pid: i32) -> io::Result<u64> {
    Ok(stat(proc_root, pid)?.starttime)
}

fn status_field(proc_root: &Path, pid: i32, key: &str) -> io::Result<String> {
    let content = read_small(&pid_dir(proc_root, pid)?.join("status"))?;
    content
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
        .map(str::to_owned)
        .ok_or_else(|| invalid("status", pid))
}

/// Parent pid, from the `PPid:` line of `/proc/<pid>/status`.
pub fn ppid(proc_root: &Path, pid: i32) -> io::Result<i32> {
    status_field(proc_root, pid, "PPid")?
        .parse()
        .map_err(|_| invalid("status", pid))
}

/// Real and effective uid, from the `Uid:` line of `/proc/<pid>/status`.
pub fn uids(proc_root: &Path, pid: i32) -> io::Result<(u32, u32)> {
    let line = status_field(proc_root, pid, "Uid")?;
    let mut it = line.split_ascii_whitespace().map(str::parse::<u32>);
    match (it.next(), it.next()) {
        (Some(Ok(real)), Some(Ok(effective))) => Ok((real, effective)),
        _ => Err(invalid("status", pid)),
    }
}

fn is_real_proc(proc_root: &Path) -> bool {
    proc_root == Path::new("/proc")
}

/// A process held by a pidfd (on the real `/proc`) together with its start time.
#[derive(Debug)]
pub struct Pinned {
    /// The process id.
    pub pid: i32,
    /// Its start time when it was pinned.
    pub starttime: u64,
    pidfd: Option<OwnedFd>,
}

use crate::sys::pidfd_open;

/// Whether the process behind a pidfd has not exited. A pidfd becomes readable when its
/// process exits (including while it is a zombie).
fn pidfd_alive(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => true,
        Ok(_) => false,
        Err(_) => false,
    }
}

fn gone() -> io::Error {
    io::Error::from_raw_os_error(libc::ESRCH)
}

fn pin_with(proc_root: &Path, pid: i32, pidfd: Option<OwnedFd>) -> io::Result<Pinned> {
    // Read the start time while holding the pidfd, then check that the pidfd's process is
    // still alive: a live process keeps its pid, so the stat we read was its own.
    let st = stat(proc_root, pid)?;
    if st.exited() {
        return Err(gone());
    }
    if let Some(fd) = &pidfd
        && !pidfd_alive(fd.as_fd())
    {
        return Err(gone());
    }
    Ok(Pinned {
        pid,
        starttime: st.starttime,
        pidfd,
    })
}

/// Pins process `pid`: opens a pidfd on it (real `/proc` only) and records its start time.
/// Fails with `ESRCH` if it has already exited.
pub fn pin(proc_root: &Path, pid: i32) -> io::Result<Pinned> {
    pid_dir(proc_root, pid)?;
    let pidfd = if is_real_proc(proc_root) {
        Some(pidfd_open(pid)?)
    } else {
        None
    };
    pin_with(proc_root, pid, pidfd)
}

/// Pins the peer of a connected Unix socket. Uses `SO_PEERPIDFD` (Linux 6.5+), which names
/// exactly the process that connected even if its pid was reused since; on older kernels it
/// falls back to [`pin`] on `pid` (from [`peer_cred`]).
pub fn pin_socket_peer(proc_root: &Path, fd: BorrowedFd<'_>, pid: i32) -> io::Result<Pinned> {
    pid_dir(proc_root, pid)?;
    if !is_real_proc(proc_root) {
        return pin_with(proc_root, pid, None);
    }
    match getsockopt(&fd, sockopt::PeerPidfd) {
        Ok(pidfd) => pin_with(proc_root, pid, Some(pidfd)),
        Err(_) => pin(proc_root, pid),
    }
}

impl Pinned {
    /// Whether the pinned process is still alive and `/proc/<pid>` still shows the same start
    /// time, i.e. the pid has not been reused. On a fake proc root, only the start time (and
    /// the zombie state) are checked.
    pub fn still_same(&self, proc_root: &Path) -> bool {
        match stat(proc_root, self.pid) {
            Ok(st) if st.starttime == self.starttime && !st.exited() => {}
            _ => return false,
        }
        match &self.pidfd {
            Some(fd) => pidfd_alive(fd.as_fd()),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_TAIL: &str = "S 77 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0";

    #[test]
    fn a_name_that_is_not_utf8_does_not_make_a_process_unreadable() {
        // Any process may set its own comm to arbitrary bytes (prctl PR_SET_NAME).
        let root = std::env::temp_dir().join(format!("ssm-runas-peer-{}", std::process::id()));
        let dir = root.join("42");
        fs::create_dir_all(&dir).unwrap();
        let mut bytes = b"42 (\xff\xfe) ".to_vec();
        bytes.extend_from_slice(STAT_TAIL.as_bytes());
        fs::write(dir.join("stat"), bytes).unwrap();
        let st = stat(&root, 42);
        let _ = fs::remove_dir_all(&root);
        assert_eq!(st.unwrap().starttime, 123456);
    }

    #[test]
    fn stat_fields_after_the_last_paren() {
        let plain = parse_stat(&format!("42 (sh) {STAT_TAIL}")).unwrap();
        assert_eq!(
            plain,
            ProcStat {
                state: 'S',
                ppid: 77,
                pgrp: 77,
                sid: 77,
                tty_nr: 0,
                threads: 1,
                starttime: 123456
            }
        );
        // A hostile comm with spaces, parentheses and digits must not shift the fields.
        let tricky = parse_stat(&format!("42 (a) Z 1 2 (x y) ) {STAT_TAIL}")).unwrap();
        assert_eq!(tricky, plain);
        assert!(parse_stat("42 (sh) S 1 2").is_none());
        assert!(parse_stat("no paren at all").is_none());
        assert!(parse_stat(&format!("42 (sh) {}", STAT_TAIL.replace("123456", "x"))).is_none());
    }

    #[test]
    fn a_zombie_leader_with_live_threads_has_not_exited() {
        let with = |state: &str, threads: &str| {
            let tail = STAT_TAIL.replacen("S ", &format!("{state} "), 1).replacen(
                " 20 0 1 0 ",
                &format!(" 20 0 {threads} 0 "),
                1,
            );
            parse_stat(&format!("42 (python3) {tail}")).unwrap()
        };
        assert_eq!(with("Z", "2").threads, 2);
        assert!(!with("Z", "2").exited(), "its other thread still runs");
        assert!(with("Z", "1").exited());
        assert!(with("X", "1").exited());
        assert!(!with("S", "1").exited());
    }

    #[test]
    fn pty_lines_as_utmp_names_them() {
        let with = |tty: u32| {
            let tail = STAT_TAIL.replacen(" 0 -1 ", &format!(" {} -1 ", tty.cast_signed()), 1);
            parse_stat(&format!("42 (sh) {tail}")).unwrap().tty_line()
        };
        assert_eq!(with(34817), Some("pts/1".into()));
        assert_eq!(with(0x8000_8800), Some("pts/524288".into()));
        assert_eq!(with(0), None);
        assert_eq!(with(0x0401), None, "/dev/tty1 is not a pty");
    }

    #[test]
    fn a_negative_tty_nr_is_the_same_device() {
        // /dev/pts/524288: major 136, minor 524288; bit 31 is set, so it prints negative.
        let dev: u32 = 0x8000_8800;
        let printed = dev.cast_signed();
        assert!(printed < 0);
        let tail = STAT_TAIL.replacen(" 0 -1 ", &format!(" {printed} -1 "), 1);
        let st = parse_stat(&format!("42 (sh) {tail}")).unwrap();
        assert_eq!(st.tty_nr, dev);
    }

    #[test]
    fn real_process_readers_agree() {
        let me = i32::try_from(std::process::id()).unwrap();
        let proc_root = Path::new("/proc");
        let st = stat(proc_root, me).unwrap();
        assert_eq!(st.ppid, ppid(proc_root, me).unwrap());
        assert_eq!(starttime(proc_root, me).unwrap(), st.starttime);
        let (real, effective) = uids(proc_root, me).unwrap();
        assert_eq!(real, nix::unistd::getuid().as_raw());
        assert_eq!(effective, nix::unistd::geteuid().as_raw());
        let pinned = pin(proc_root, me).unwrap();
        assert!(pinned.still_same(proc_root));
        assert!(pin(proc_root, 0).is_err());
        assert!(pin(proc_root, -5).is_err());
    }

    #[test]
    fn peer_cred_of_a_socketpair_is_this_process() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let cred = peer_cred(a.as_fd()).unwrap();
        assert_eq!(cred.pid, i32::try_from(std::process::id()).unwrap());
        assert_eq!(cred.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(cred.gid, nix::unistd::getegid().as_raw());
        let pinned = pin_socket_peer(Path::new("/proc"), a.as_fd(), cred.pid).unwrap();
        assert!(pinned.still_same(Path::new("/proc")));
    }
}
