//! The session as the host's own tools see it: a `USER_PROCESS` entry in utmp
//! (`who`, `w`), the same record in wtmp (`last`), the account's lastlog entry
//! (`lastlog`), and the terminal given to the account (`tty`, `mesg`, `write`)
//! — what util-linux `login` does, for the one pty the session runs on.
//!
//! The record's host names the session: `ssm:<person>/<session id>`, or just
//! `ssm:<session id>` when the session id already starts with the person's name
//! (AWS builds it that way). Both come from the PAM environment, where
//! `pam_ssm_runas` put the daemon's answer; nothing the caller sets is used. A
//! record that cannot be written is logged, never a reason to refuse the session.
//! When nothing of the session survives to close the entry (the agent SIGKILLs
//! the helper), ssm-runasd's sweeper closes it (daemon `login_records`).
#![forbid(unsafe_code)]

use crate::sys;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How every host field written by ssm-runas starts; the daemon's sweeper only
/// touches entries with it.
pub const HOST_PREFIX: &str = "ssm:";

/// The terminal's mode while the account has it (`login`'s default: the owner
/// reads and writes, group `tty` may write, for `write` and `wall`).
const TTY_MODE: u32 = 0o620;

/// A value from the PAM environment fit for the host field: the characters of
/// IAM names and SSM session ids only, so nothing can spoof columns or escape.
fn clean(value: &str) -> Option<&str> {
    (!value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b)))
    .then_some(value)
}

/// The host field for a session and its person, cut to the field's size.
pub fn host(session_id: Option<&str>, person: Option<&str>) -> String {
    let sid = session_id.and_then(clean);
    let person = person.and_then(clean);
    let mut text = match (person, sid) {
        (Some(p), Some(s)) if s.starts_with(&format!("{p}-")) => format!("{HOST_PREFIX}{s}"),
        (Some(p), Some(s)) => format!("{HOST_PREFIX}{p}/{s}"),
        (None, Some(s)) => format!("{HOST_PREFIX}{s}"),
        (Some(p), None) => format!("{HOST_PREFIX}{p}"),
        (None, None) => HOST_PREFIX.to_owned(),
    };
    text.truncate(libc::__UT_HOSTSIZE);
    text
}

/// The host field from the PAM environment (`SSM_SESSION_ID`, `SSM_RUNAS_PRINCIPAL`).
pub fn host_from_pam_env(env: &[Vec<u8>]) -> String {
    let get = |name: &str| {
        env.iter().find_map(|kv| {
            let rest = kv.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
            std::str::from_utf8(rest).ok()
        })
    };
    host(get("SSM_SESSION_ID"), get("SSM_RUNAS_PRINCIPAL"))
}

/// The terminal line (`pts/3`) and utmp id (its last four bytes, as sshd
/// writes them: `login`'s digits-only id would collide with getty's on `tty3`).
fn line_and_id(tty: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let line = tty.strip_prefix(b"/dev/")?;
    if line.is_empty() || line.len() > libc::__UT_LINESIZE {
        return None;
    }
    let id = line[line.len().saturating_sub(4)..].to_vec();
    Some((line.to_vec(), id))
}

/// Device numbers of pty slaves (`/dev/pts/N`): majors 136 to 143.
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;

/// The controlling terminal of this process, (major, minor), from the kernel
/// (`/proc/self/stat` field 7, `tty_nr`).
fn controlling_tty() -> Option<(u32, u32)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let tty_nr: u32 = after.split_whitespace().nth(4)?.parse().ok()?;
    (tty_nr != 0).then(|| decode_dev(tty_nr))
}

/// The kernel's `new_encode_dev` undone: minor in bits 0–7 and 20–31, major in 8–19.
fn decode_dev(dev: u32) -> (u32, u32) {
    ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00))
}

/// The terminal on fd 0 when it is the session's own: a pty slave that is also
/// this process's controlling terminal. Anything else — `/dev/tty`, `/dev/ptmx`,
/// a console, another pty the caller opened — is never changed or recorded: the
/// caller decides what fd 0 is.
fn session_pty() -> Option<sys::StdinTty> {
    let tty = sys::stdin_tty()?;
    (PTY_SLAVE_MAJORS.contains(&tty.major) && controlling_tty() == Some((tty.major, tty.minor)))
        .then_some(tty)
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn warn(what: &str, e: &std::io::Error) {
    sys::log(libc::LOG_WARNING, &format!("cannot {what}: {e}"));
}

/// The terminal on fd 0, given to the account for the session and handed back
/// (owner, group and mode as they were) when it is dropped.
pub struct Terminal {
    before: Option<(u32, u32, u32)>,
}

impl Terminal {
    /// Gives the session's pty to `uid`, group `tty` (the account's group where
    /// there is none), mode 0620. Without one, does nothing.
    pub fn give_to(uid: u32, gid: u32) -> Terminal {
        let before = session_pty().map(|t| (t.uid, t.gid, t.mode));
        if before.is_some() {
            let group = sys::group_gid(c"tty").unwrap_or(gid);
            if let Err(e) = sys::set_stdin_tty_owner(uid, group, TTY_MODE) {
                warn("give the terminal to the account", &e);
            }
        }
        Terminal { before }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some((uid, gid, mode)) = self.before.take()
            && let Err(e) = sys::set_stdin_tty_owner(uid, gid, mode)
            // A hung-up terminal (the agent closed the pty) goes away by itself.
            && e.raw_os_error() != Some(libc::EIO)
        {
            warn("hand the terminal back", &e);
        }
    }
}

/// An open login record; [`Login::close`] writes its `DEAD_PROCESS` record.
pub struct Login {
    line: Vec<u8>,
    id: Vec<u8>,
    pid: i32,
}

impl Login {
    /// Records that `user` (uid `uid`) logged in on the session's pty with its
    /// shell `pid`: utmp, wtmp and lastlog. `None` when there is no such pty.
    pub fn open(user: &str, uid: u32, host: &str, pid: i32) -> Option<Login> {
        sys::lift_record_limits();
        session_pty()?;
        let tty = sys::tty_name()?;
        let Some((line, id)) = line_and_id(tty.to_bytes()) else {
            sys::log(
                libc::LOG_WARNING,
                &format!(
                    "no login record: {} is not under /dev",
                    tty.to_string_lossy()
                ),
            );
            return None;
        };
        let time = now();
        let rec = sys::UtRecord {
            login: true,
            pid,
            line: &line,
            id: &id,
            user: user.as_bytes(),
            host: host.as_bytes(),
            time,
            exit: (0, 0),
        };
        if let Err(e) = sys::write_utmp(&rec) {
            warn("write the utmp login record", &e);
        }
        if let Err(e) = sys::write_lastlog(uid, time.as_secs(), &line, host.as_bytes())
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn("write the lastlog entry", &e);
        }
        if std::path::Path::new(WTMPDB).exists() && !std::path::Path::new(WTMP).exists() {
            sys::log(
                libc::LOG_INFO,
                "this host keeps logins in wtmpdb: pam_wtmpdb in the session stack records them",
            );
        }
        Some(Login { line, id, pid })
    }

    /// Closes the record: `DEAD_PROCESS` in utmp and wtmp, with how the shell
    /// ended. Does nothing when the entry is no longer this session's (the
    /// daemon's sweeper already closed it).
    pub fn close(self, ended: &sys::Ended) {
        let exit = match ended {
            sys::Ended::Exited(code) => (0, *code as i16),
            sys::Ended::Signaled(sig) => (*sig as i16, 0),
        };
        let rec = sys::UtRecord {
            login: false,
            pid: self.pid,
            line: &self.line,
            id: &self.id,
            user: b"",
            host: b"",
            time: now(),
            exit,
        };
        if let Err(e) = sys::write_utmp(&rec)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn("write the utmp logout record", &e);
        }
    }
}

/// Where wtmpdb keeps its database (Debian 13, newer Fedora and SUSE).
const WTMPDB: &str = "/var/lib/wtmpdb/wtmp.db";
/// The classic wtmp file.
const WTMP: &str = "/var/log/wtmp";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_names_the_session_and_the_person_once() {
        assert_eq!(
            host(
                Some("alice@corp.example-0a1b2c3d4e5f60718"),
                Some("alice@corp.example")
            ),
            "ssm:alice@corp.example-0a1b2c3d4e5f60718"
        );
        assert_eq!(
            host(Some("botsession-0a1b"), Some("alice")),
            "ssm:alice/botsession-0a1b"
        );
        assert_eq!(host(Some("s-1"), None), "ssm:s-1");
        assert_eq!(host(None, None), "ssm:");
    }

    #[test]
    fn odd_characters_never_reach_the_host_field() {
        assert_eq!(host(Some("a b"), Some("x\ny")), "ssm:");
        assert_eq!(host(Some("s-1"), Some("al ice")), "ssm:s-1");
        assert_eq!(host(Some(&"a".repeat(129)), None), "ssm:");
    }

    #[test]
    fn the_host_comes_from_the_pam_environment() {
        let env = vec![
            b"SSM_SESSION_ID=alice-0a1b".to_vec(),
            b"SSM_RUNAS_PRINCIPAL=alice".to_vec(),
            b"SSM_SESSION_IDX=evil".to_vec(),
        ];
        assert_eq!(host_from_pam_env(&env), "ssm:alice-0a1b");
    }

    #[test]
    fn tty_nr_decodes_to_the_pty_device() {
        assert_eq!(decode_dev(136 << 8 | 3), (136, 3));
        assert_eq!(
            decode_dev(136 << 8 | (300 & 0xff) | (256 << 12)),
            (136, 300)
        );
        assert_eq!(decode_dev(4 << 8 | 1), (4, 1));
    }

    #[test]
    fn line_and_id_as_sshd_writes_them() {
        assert_eq!(
            line_and_id(b"/dev/pts/3"),
            Some((b"pts/3".to_vec(), b"ts/3".to_vec()))
        );
        assert_eq!(
            line_and_id(b"/dev/pts/123"),
            Some((b"pts/123".to_vec(), b"/123".to_vec()))
        );
        assert_eq!(line_and_id(b"/tmp/pts/3"), None);
        assert_eq!(line_and_id(b"/dev/"), None);
    }
}
