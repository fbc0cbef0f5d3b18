//! The daemon's calls into the C library that neither `nix` nor std wraps: for
//! now only utmp, read and closed through glibc's own functions so that its
//! locking protocol with every other writer (login, sshd, the helper) holds.

use std::ffi::CStr;
use std::io;
use std::sync::Mutex;

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
