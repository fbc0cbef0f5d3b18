//! The operating-system calls the helper makes, each a small safe wrapper.

use std::ffi::{CStr, CString, c_int};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// Turns a `-1` return into the current `errno`.
fn cvt(rc: c_int) -> io::Result<c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Every signal back to its default action and nothing blocked, then the
/// job-control signals ignored until the child runs (an early Ctrl-C must not
/// leave a half-switched state).
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; invalid numbers just fail.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP] {
        // SAFETY: ignoring a standard signal is always valid.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    unblock_all();
}

/// Clears the signal mask.
pub fn unblock_all() {
    // SAFETY: `set` is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Restores the default action of every signal (in the child, before exec: an
/// ignored signal would stay ignored across exec).
pub fn default_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: as in reset_signals.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    unblock_all();
}

/// Makes sure fds 0–2 are open (on /dev/null if not) and closes everything above.
pub fn sanitize_fds() -> io::Result<()> {
    for fd in 0..3 {
        // SAFETY: F_GETFD on any number is harmless.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: the path is a NUL-terminated literal.
            let new = cvt(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) })?;
            if new != fd {
                return Err(io::Error::other("cannot reopen standard descriptors"));
            }
        }
    }
    // SAFETY: closing descriptors this process does not use; nothing refers to them.
    if unsafe { libc::close_range(3, u32::MAX, 0) } == 0 {
        return Ok(());
    }
    let fds: Vec<c_int> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: as above; the directory's own fd is already closed by now.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

pub fn set_umask() {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0o022) };
}

/// Discards input typed on the terminal but not read yet.
pub fn flush_tty_input() {
    // SAFETY: isatty/tcflush on fd 0 only inspect or change the terminal queue.
    unsafe {
        if libc::isatty(0) == 1 {
            libc::tcflush(0, libc::TCIFLUSH);
        }
    }
}

/// The terminal on stdin, if any.
pub fn tty_name() -> Option<CString> {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: the buffer and its length match; the result is NUL-terminated on success.
    let rc = unsafe { libc::ttyname_r(0, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: ttyname_r succeeded, so buf holds a NUL-terminated string.
    Some(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_owned())
}

/// (real uid, effective uid).
pub fn ids() -> (u32, u32) {
    // SAFETY: getuid/geteuid cannot fail.
    unsafe { (libc::getuid(), libc::geteuid()) }
}

/// Drops the environment inherited from the caller; modules get a fixed PATH.
pub fn clear_env() -> io::Result<()> {
    // SAFETY: the helper is single-threaded, so nothing reads the environment
    // concurrently; both strings are NUL-terminated literals.
    unsafe {
        cvt(libc::clearenv())?;
        cvt(libc::setenv(
            c"PATH".as_ptr(),
            c"/usr/sbin:/usr/bin:/sbin:/bin".as_ptr(),
            1,
        ))?;
    }
    Ok(())
}

/// An account from the passwd database.
pub struct Passwd {
    pub name: CString,
    pub uid: u32,
    pub gid: u32,
    pub home: CString,
    pub shell: CString,
}

fn passwd_lookup(
    f: impl Fn(&mut libc::passwd, &mut [libc::c_char], &mut *mut libc::passwd) -> c_int,
) -> io::Result<Option<Passwd>> {
    let mut size = 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: an all-zero passwd is a valid value to be overwritten.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = f(&mut pwd, &mut buf, &mut result);
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        let field = |p: *const libc::c_char| {
            if p.is_null() {
                CString::default()
            } else {
                // SAFETY: on success the string fields point into `buf` (alive
                // here) and are NUL-terminated.
                unsafe { CStr::from_ptr(p) }.to_owned()
            }
        };
        return Ok(Some(Passwd {
            name: field(pwd.pw_name),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            home: field(pwd.pw_dir),
            shell: field(pwd.pw_shell),
        }));
    }
}

pub fn passwd_by_name(name: &CStr) -> io::Result<Option<Passwd>> {
    passwd_lookup(|pwd, buf, result| {
        // SAFETY: all pointers are valid for the call and `buf.len()` is its size.
        unsafe { libc::getpwnam_r(name.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), result) }
    })
}

pub fn passwd_by_uid(uid: u32) -> io::Result<Option<Passwd>> {
    passwd_lookup(|pwd, buf, result| {
        // SAFETY: as above.
        unsafe { libc::getpwuid_r(uid, pwd, buf.as_mut_ptr(), buf.len(), result) }
    })
}

pub fn initgroups(name: &CStr, gid: u32) -> io::Result<()> {
    // SAFETY: name is NUL-terminated; the process is privileged at this point.
    cvt(unsafe { libc::initgroups(name.as_ptr(), gid) }).map(drop)
}

/// A pipe whose ends close on exec: (read end, write end).
pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both are fresh descriptors from pipe2 that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub enum Fork {
    Child,
    Parent(libc::pid_t),
}

/// `fork(2)`.
///
/// # Safety
///
/// The child may only call async-signal-safe functions until it execs or exits, unless
/// the process had exactly one thread when it forked. The helper is single-threaded
/// itself, but PAM modules may have started threads: callers must prepare everything
/// the child needs (argv, environment, paths) before forking and must not allocate,
/// lock or unwind in the child.
pub unsafe fn fork() -> io::Result<Fork> {
    // SAFETY: the caller upholds the contract above.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Fork::Child
    } else {
        Fork::Parent(pid)
    })
}

/// Sets real, effective and saved gid then uid, and proves root cannot come back.
/// Runs in the forked child, so it does not allocate; errors are errno values.
pub fn become_user(uid: u32, gid: u32) -> Result<(), c_int> {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .map_or(libc::EPERM, |e| e)
    };
    // SAFETY: plain credential syscalls.
    unsafe {
        if libc::setresgid(gid, gid, gid) == -1 || libc::setresuid(uid, uid, uid) == -1 {
            return Err(errno());
        }
    }
    let (mut r, mut e, mut s) = (0, 0, 0);
    let (mut gr, mut ge, mut gs) = (0, 0, 0);
    // SAFETY: the out pointers are valid locals.
    let rc = unsafe {
        libc::getresuid(&mut r, &mut e, &mut s) | libc::getresgid(&mut gr, &mut ge, &mut gs)
    };
    if rc != 0 || [r, e, s] != [uid; 3] || [gr, ge, gs] != [gid; 3] {
        return Err(libc::EPERM);
    }
    // SAFETY: an attempt to regain root, which must fail.
    if unsafe { libc::setuid(0) } == 0 {
        return Err(libc::EPERM);
    }
    Ok(())
}

/// Makes the real, effective and saved uid root. Once the daemon has decided, the
/// helper must be out of the landing user's reach: the kernel lets a process signal
/// another whose real or saved uid is its own, so with the landing user's real uid any
/// landing shell on the host (`kill -KILL -1`) could kill or stop this helper and with
/// it the switched session it waits for.
pub fn leave_caller_uid() -> io::Result<()> {
    // SAFETY: a plain credential syscall; the process is privileged (euid 0).
    cvt(unsafe { libc::setresuid(0, 0, 0) })?;
    let (mut r, mut e, mut s) = (1, 1, 1);
    // SAFETY: the out pointers are valid locals.
    cvt(unsafe { libc::getresuid(&mut r, &mut e, &mut s) })?;
    if [r, e, s] != [0; 3] {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    Ok(())
}

/// The pids of this process's children, from `/proc` (`/proc/<pid>/stat` field 4).
fn children() -> io::Result<Vec<libc::pid_t>> {
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read(entry.path().join("stat")) else {
            continue;
        };
        // The name (field 2) may hold anything; the fields after its last `)` do not.
        let Some(close) = stat.iter().rposition(|&b| b == b')') else {
            continue;
        };
        let ppid = stat[close + 1..]
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty())
            .nth(1)
            .and_then(|f| std::str::from_utf8(f).ok()?.parse::<libc::pid_t>().ok());
        if ppid == Some(me) {
            out.push(pid);
        }
    }
    Ok(out)
}

/// SIGKILLs and reaps every child this process has. Called before the helper forks
/// anything itself, so each one is something the landing shell started before it
/// exec'd the helper (a job put in the background on the profile's line, a program
/// that would inject keystrokes or read the terminal): none may live on inside the
/// switched session. Returns how many were killed; fails when a child cannot be found
/// within two seconds, which ends the switch.
pub fn kill_inherited_children() -> io::Result<usize> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut killed = 0;
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r > 0 {
            continue;
        }
        if r == -1 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ECHILD) => return Ok(killed),
                Some(libc::EINTR) => continue,
                _ => return Err(e),
            }
        }
        // Children, none reaped yet: find and kill them. A child cannot make new
        // children of this process, so the set only shrinks.
        let kids = children()?;
        if kids.is_empty() {
            if std::time::Instant::now() > deadline {
                return Err(io::Error::other(
                    "a process started before the switch cannot be found",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
            continue;
        }
        for pid in kids {
            // SAFETY: signalling our own unreaped child: its pid cannot have been reused.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
        // SAFETY: status is a valid out pointer; blocks until one child is reaped.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::ECHILD | libc::EINTR)) {
                return Err(e);
            }
        }
    }
}

pub fn chdir(dir: &CStr) -> io::Result<()> {
    // SAFETY: dir is NUL-terminated.
    cvt(unsafe { libc::chdir(dir.as_ptr()) }).map(drop)
}

/// NULL-terminated pointer arrays for `execve`, built before `fork` so the child
/// does not allocate. They point into the strings they borrow, which therefore
/// outlive them.
pub struct ExecArgs<'a> {
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    _strings: PhantomData<&'a CStr>,
}

impl<'a> ExecArgs<'a> {
    pub fn new(argv: &'a [CString], envp: &'a [CString]) -> ExecArgs<'a> {
        let list = |v: &'a [CString]| {
            let mut out: Vec<*const libc::c_char> = v.iter().map(|a| a.as_ptr()).collect();
            out.push(std::ptr::null());
            out
        };
        ExecArgs {
            argv: list(argv),
            envp: list(envp),
            _strings: PhantomData,
        }
    }
}

/// `execve`; returns the errno only on failure.
pub fn execve(path: &CStr, args: &ExecArgs<'_>) -> c_int {
    // SAFETY: both arrays are NULL-terminated and point at CStrings borrowed for the
    // lifetime of `args`, alive across the call.
    unsafe { libc::execve(path.as_ptr(), args.argv.as_ptr(), args.envp.as_ptr()) };
    io::Error::last_os_error()
        .raw_os_error()
        .map_or(libc::ENOEXEC, |e| e)
}

/// Writes `bytes` once; a short write only loses a report. Async-signal-safe.
pub fn write_all(fd: BorrowedFd<'_>, bytes: &[u8]) {
    // SAFETY: the buffer is valid for its length.
    unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
}

/// Reads up to `buf.len()` bytes, retrying on EINTR; 0 at end of file.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the remaining slice is valid for writing.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        match usize::try_from(n) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(got)
}

pub fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit ends the (forked) process without running the parent's atexit
    // handlers or flushing its buffers twice.
    unsafe { libc::_exit(code) }
}

static CHILD: AtomicI32 = AtomicI32::new(0);
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: c_int) {
    CAUGHT.store(sig, Ordering::SeqCst);
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(child, sig) };
    }
}

/// In the parent: SIGHUP, SIGTERM and SIGINT are passed on to `child`.
pub fn forward_signals_to(child: libc::pid_t) {
    CHILD.store(child, Ordering::SeqCst);
    for sig in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `sa` is fully initialised; the handler only uses atomics and kill.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0; // no SA_RESTART: waitpid returns EINTR
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// How the child ended.
pub enum Ended {
    Exited(c_int),
    Signaled(c_int),
}

/// Waits for `child`; after a SIGHUP/SIGTERM was passed on, gives it 2 s then
/// sends SIGKILL.
pub fn wait_child(child: libc::pid_t) -> io::Result<Ended> {
    let mut kill_at: Option<std::time::Instant> = None;
    loop {
        let mut status = 0;
        let flags = if kill_at.is_some() { libc::WNOHANG } else { 0 };
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(child, &mut status, flags) };
        if r == child {
            if libc::WIFEXITED(status) {
                return Ok(Ended::Exited(libc::WEXITSTATUS(status)));
            }
            if libc::WIFSIGNALED(status) {
                return Ok(Ended::Signaled(libc::WTERMSIG(status)));
            }
            continue;
        }
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let sig = CAUGHT.swap(0, Ordering::SeqCst);
        if (sig == libc::SIGTERM || sig == libc::SIGHUP) && kill_at.is_none() {
            kill_at = Some(std::time::Instant::now() + std::time::Duration::from_secs(2));
        }
        if let Some(at) = kill_at {
            if std::time::Instant::now() >= at {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(child, libc::SIGKILL) };
                kill_at = None;
            } else {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

/// Ends this process the way the child ended.
pub fn die_like(sig: c_int) -> ! {
    // SAFETY: restoring the default action and raising a signal on ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
    unblock_all();
    // SAFETY: as above.
    unsafe { libc::raise(sig) };
    std::process::exit(128 + sig)
}

/// One line to the auth log (syslog, LOG_AUTHPRIV).
pub fn log(priority: c_int, msg: &str) {
    let Ok(msg) = CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: the ident is a static NUL-terminated literal (openlog keeps the
    // pointer); the format is "%s" with exactly one NUL-terminated argument.
    unsafe {
        libc::openlog(
            c"ssm-runas-login".as_ptr(),
            libc::LOG_PID,
            libc::LOG_AUTHPRIV,
        );
        libc::syslog(priority, c"%s".as_ptr(), msg.as_ptr());
    }
}

// Login records.
//
// utmp, wtmp and lastlog as util-linux `login` writes them (pututxline,
// updwtmpx, one `struct lastlog` at uid × its size), and the terminal on fd 0
// given to the account. Paths are the C library's and the system's; nothing the
// caller sets can move them.

/// Where wtmp and lastlog are (glibc's `_PATH_WTMP`, shadow's `_PATH_LASTLOG`).
const WTMP: &CStr = c"/var/log/wtmp";
const UTMP: &str = "/var/run/utmp";
const LASTLOG: &str = "/var/log/lastlog";

unsafe extern "C" {
    // glibc, not in the libc crate for Linux.
    fn updwtmpx(file: *const libc::c_char, ut: *const libc::utmpx);
    fn getutxid(ut: *const libc::utmpx) -> *mut libc::utmpx;
}

/// One utmp/wtmp record, as plain values.
pub struct UtRecord<'a> {
    /// `USER_PROCESS` when true, else `DEAD_PROCESS`.
    pub login: bool,
    pub pid: i32,
    pub line: &'a [u8],
    pub id: &'a [u8],
    pub user: &'a [u8],
    pub host: &'a [u8],
    pub time: std::time::Duration,
    /// For a `DEAD_PROCESS`: (termination signal, exit status).
    pub exit: (i16, i16),
}

/// Copies `src` into a C char field, cut to its size (no terminator needed: the
/// fields are fixed-size and zero-padded).
fn fill(dst: &mut [libc::c_char], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d = *s as libc::c_char;
    }
}

fn field_eq(a: &[libc::c_char], b: &[libc::c_char]) -> bool {
    a.iter().zip(b.iter()).all(|(x, y)| x == y)
}

fn utmpx_of(rec: &UtRecord<'_>) -> libc::utmpx {
    // SAFETY: utmpx is plain old data; all zero is its empty value.
    let mut ut: libc::utmpx = unsafe { std::mem::zeroed() };
    ut.ut_type = if rec.login {
        libc::USER_PROCESS
    } else {
        libc::DEAD_PROCESS
    };
    ut.ut_pid = rec.pid;
    fill(&mut ut.ut_line, rec.line);
    fill(&mut ut.ut_id, rec.id);
    fill(&mut ut.ut_user, rec.user);
    fill(&mut ut.ut_host, rec.host);
    ut.ut_tv.tv_sec = rec.time.as_secs() as _;
    ut.ut_tv.tv_usec = rec.time.subsec_micros() as _;
    ut.ut_exit.e_termination = rec.exit.0;
    ut.ut_exit.e_exit = rec.exit.1;
    ut
}

/// Writes `rec` to utmp (replacing the entry with its `ut_id`) and appends it to
/// wtmp. A closing record is written only while the utmp entry of that id still
/// belongs to `rec.pid` (or there is no utmp file at all), so a record someone
/// else already closed (the daemon's sweeper) is not closed twice. Errors come
/// from utmp; the wtmp append is best effort, as glibc's `updwtmpx` reports nothing.
pub fn write_utmp(rec: &UtRecord<'_>) -> io::Result<()> {
    let ut = utmpx_of(rec);
    let have_utmp = std::path::Path::new(UTMP).exists();
    let mut result = Ok(());
    // SAFETY: the utmp functions are used by this single thread only; every
    // pointer passed is to a live local; pointers returned point into libc's
    // static buffer and are read before the next call.
    unsafe {
        libc::setutxent();
        let ours = rec.login || !have_utmp || {
            let found = getutxid(&ut);
            !found.is_null()
                && (*found).ut_type == libc::USER_PROCESS
                && (*found).ut_pid == rec.pid
                && field_eq(&(*found).ut_line, &ut.ut_line)
        };
        if !ours {
            libc::endutxent();
            return Ok(());
        }
        if have_utmp && libc::pututxline(&ut).is_null() {
            result = Err(io::Error::last_os_error());
        } else if !have_utmp {
            result = Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        libc::endutxent();
        updwtmpx(WTMP.as_ptr(), &ut);
    }
    result
}

/// Writes the lastlog entry of `uid` (32-bit time, line, host), as `login` does.
/// The file is not created when missing.
pub fn write_lastlog(uid: u32, time: u64, line: &[u8], host: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let mut entry = [0u8; 4 + libc::__UT_LINESIZE + libc::__UT_HOSTSIZE];
    entry[..4].copy_from_slice(&(time as u32).to_ne_bytes());
    for (d, s) in entry[4..4 + libc::__UT_LINESIZE].iter_mut().zip(line) {
        *d = *s;
    }
    for (d, s) in entry[4 + libc::__UT_LINESIZE..].iter_mut().zip(host) {
        *d = *s;
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(LASTLOG)?;
    file.write_all_at(&entry, u64::from(uid) * entry.len() as u64)
}

/// The terminal on fd 0: device (major, minor), owner, group and mode; `None`
/// when fd 0 is not a terminal (a character device that `isatty` accepts).
pub struct StdinTty {
    pub major: u32,
    pub minor: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

pub fn stdin_tty() -> Option<StdinTty> {
    // SAFETY: isatty and fstat on fd 0 only inspect it; `st` is a valid out pointer.
    unsafe {
        if libc::isatty(0) != 1 {
            return None;
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(0, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFCHR {
            return None;
        }
        Some(StdinTty {
            major: libc::major(st.st_rdev),
            minor: libc::minor(st.st_rdev),
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
        })
    }
}

/// `fchown` and `fchmod` of the terminal on fd 0 (the descriptor, never a path).
pub fn set_stdin_tty_owner(uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    // SAFETY: changing the owner and mode of the open descriptor 0.
    unsafe {
        cvt(libc::fchown(0, uid, gid))?;
        cvt(libc::fchmod(0, mode))?;
    }
    Ok(())
}

/// The gid of group `name`, if it exists.
pub fn group_gid(name: &CStr) -> Option<u32> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero group is a valid value to be overwritten.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call and `buf.len()` is its size.
    let rc = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

/// In the parent after the fork: the caller's file-size and descriptor limits
/// must not keep the records from being written (a `RLIMIT_FSIZE` of 0 would
/// otherwise kill the helper with SIGXFSZ on the wtmp append, and hide the
/// login). Only this process is changed; the shell has its own limits.
pub fn lift_record_limits() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain limit and disposition changes on this process; root may raise
    // hard limits. A failure leaves the old limit, and the write reports it.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        libc::setrlimit(libc::RLIMIT_FSIZE, &unlimited);
        let mut now = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) == 0 && now.rlim_cur < 64 {
            let files = libc::rlimit {
                rlim_cur: 64,
                rlim_max: now.rlim_max.max(64),
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &files);
        }
    }
}
