//! The host's login records (`/var/run/utmp`, `/var/log/wtmp`, `/var/log/lastlog`)
//! as tests see and clean them. The switch helper writes the real files (nothing
//! the caller sets may move them), so tests read those and, when done, remove
//! every record of their own accounts again: [`LoginFiles`] does it on drop,
//! under the same `fcntl` write lock glibc takes to write them.
use nix::fcntl::{FcntlArg, fcntl};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::mem::{offset_of, size_of};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const UTMP: &str = "/var/run/utmp";
pub const WTMP: &str = "/var/log/wtmp";
pub const LASTLOG: &str = "/var/log/lastlog";

/// `struct lastlog`: 32-bit time, line, host.
const LASTLOG_SIZE: u64 = (4 + libc::__UT_LINESIZE + libc::__UT_HOSTSIZE) as u64;

/// One utmp/wtmp record, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: i16,
    pub pid: i32,
    pub line: String,
    pub user: String,
    pub host: String,
    pub time: i64,
}

impl Record {
    pub fn is_login(&self) -> bool {
        self.kind == libc::USER_PROCESS
    }
}

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn decode(b: &[u8]) -> Record {
    let i32_at = |o: usize| i32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let line = offset_of!(libc::utmpx, ut_line);
    let user = offset_of!(libc::utmpx, ut_user);
    let host = offset_of!(libc::utmpx, ut_host);
    Record {
        kind: i16::from_ne_bytes([b[0], b[1]]),
        pid: i32_at(offset_of!(libc::utmpx, ut_pid)),
        line: text(&b[line..line + libc::__UT_LINESIZE]),
        user: text(&b[user..user + libc::__UT_NAMESIZE]),
        host: text(&b[host..host + libc::__UT_HOSTSIZE]),
        time: i64::from(i32_at(offset_of!(libc::utmpx, ut_tv))),
    }
}

/// Every record of a utmp-format file (none when it does not exist).
pub fn records(path: &str) -> Vec<Record> {
    std::fs::read(path)
        .unwrap_or_default()
        .chunks_exact(size_of::<libc::utmpx>())
        .map(decode)
        .collect()
}

/// The lastlog entry of `uid`: (time, line, host), or `None` when never set.
pub fn lastlog(uid: u32) -> Option<(u32, String, String)> {
    let file = File::open(LASTLOG).ok()?;
    let mut buf = vec![0u8; LASTLOG_SIZE as usize];
    file.read_exact_at(&mut buf, u64::from(uid) * LASTLOG_SIZE)
        .ok()?;
    let time = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    (time != 0).then(|| {
        (
            time,
            text(&buf[4..4 + libc::__UT_LINESIZE]),
            text(&buf[4 + libc::__UT_LINESIZE..]),
        )
    })
}

/// Takes glibc's write lock on the whole of `file` (released when it is closed).
fn lock(file: &File) -> io::Result<()> {
    // SAFETY: an all-zero flock is a valid value; the fields below make it a
    // whole-file write lock.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fcntl(file, FcntlArg::F_SETLKW(&fl))
        .map(drop)
        .map_err(io::Error::from)
}

/// Removes from a utmp-format file the records of `users`, and the closing
/// records (same line and pid) of their logins.
fn scrub(path: &str, users: &[String]) -> io::Result<()> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    lock(&file)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let size = size_of::<libc::utmpx>();
    let all: Vec<(&[u8], Record)> = bytes.chunks(size).map(|c| (c, decode_any(c))).collect();
    let ours: Vec<(String, i32)> = all
        .iter()
        .filter(|(_, r)| users.contains(&r.user))
        .map(|(_, r)| (r.line.clone(), r.pid))
        .collect();
    let kept: Vec<u8> = all
        .iter()
        .filter(|(_, r)| {
            let their_logout =
                r.kind == libc::DEAD_PROCESS && ours.contains(&(r.line.clone(), r.pid));
            !(users.contains(&r.user) || their_logout)
        })
        .flat_map(|(c, _)| c.iter().copied())
        .collect();
    if kept.len() != bytes.len() {
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&kept)?;
        file.set_len(kept.len() as u64)?;
    }
    Ok(())
}

/// A trailing partial record is kept as it is (decoded as nobody's).
fn decode_any(chunk: &[u8]) -> Record {
    if chunk.len() == size_of::<libc::utmpx>() {
        decode(chunk)
    } else {
        Record {
            kind: 0,
            pid: 0,
            line: String::new(),
            user: String::new(),
            host: String::new(),
            time: 0,
        }
    }
}

/// The login files for one test: utmp is created (root:utmp 0664, as
/// systemd-tmpfiles does at boot) when the host has none, and removed again;
/// on drop every record of `users` leaves utmp and wtmp and their lastlog
/// entries are zeroed.
pub struct LoginFiles {
    users: Vec<(String, u32)>,
    created_utmp: Option<PathBuf>,
    /// lastlog's size before the test (entries of high uids grow the file).
    lastlog_len: Option<u64>,
}

impl LoginFiles {
    pub fn new(users: &[(&str, u32)]) -> LoginFiles {
        let created_utmp = if Path::new(UTMP).exists() {
            None
        } else {
            let made = File::create(UTMP).is_ok();
            let _ = std::fs::set_permissions(UTMP, std::fs::Permissions::from_mode(0o664));
            if let Ok(Some(g)) = nix::unistd::Group::from_name("utmp") {
                let _ = nix::unistd::chown(UTMP, None, Some(g.gid));
            }
            made.then(|| PathBuf::from(UTMP))
        };
        LoginFiles {
            users: users.iter().map(|(n, u)| ((*n).to_owned(), *u)).collect(),
            created_utmp,
            lastlog_len: std::fs::metadata(LASTLOG).ok().map(|m| m.len()),
        }
    }
}

impl Drop for LoginFiles {
    fn drop(&mut self) {
        let names: Vec<String> = self.users.iter().map(|(n, _)| n.clone()).collect();
        let _ = scrub(WTMP, &names);
        match &self.created_utmp {
            Some(p) => {
                let _ = std::fs::remove_file(p);
            }
            None => {
                let _ = scrub(UTMP, &names);
            }
        }
        if let Ok(file) = OpenOptions::new().write(true).open(LASTLOG) {
            for (_, uid) in &self.users {
                let at = u64::from(*uid) * LASTLOG_SIZE;
                if file.metadata().is_ok_and(|m| m.len() >= at + LASTLOG_SIZE) {
                    let _ = file.write_all_at(&[0u8; LASTLOG_SIZE as usize], at);
                }
            }
            // Give back what the test's entries grew, unless someone wrote there.
            if let Some(before) = self.lastlog_len
                && let Ok(all) = std::fs::read(LASTLOG)
                && all.len() as u64 > before
                && all[before as usize..].iter().all(|&b| b == 0)
            {
                let _ = file.set_len(before);
            }
        }
    }
}
