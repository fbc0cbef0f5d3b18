//! The mapped account's shell: forked, given the account's credentials, started, and
//! how that went reported back to the parent through a close-on-exec pipe.
//!
//! The child runs between `fork` and `execve` in a process whose PAM modules may have
//! started threads: it allocates nothing, takes no lock and never unwinds. Everything
//! it needs is prepared by the parent in [`Prepared`].

use std::ffi::CStr;
use std::io;
use std::os::fd::AsFd;

use crate::sys;

/// Where the child failed, before the shell ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Setting gid and uid (or proving root cannot come back).
    Credentials,
    /// `execve` of the shell.
    Exec,
}

/// What the child reports when it could not start the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub errno: i32,
}

impl Failure {
    const LEN: usize = 8;

    fn encode(self) -> [u8; Self::LEN] {
        let stage: i32 = match self.stage {
            Stage::Credentials => 1,
            Stage::Exec => 2,
        };
        let mut msg = [0u8; Self::LEN];
        msg[..4].copy_from_slice(&stage.to_be_bytes());
        msg[4..].copy_from_slice(&self.errno.to_be_bytes());
        msg
    }

    fn decode(msg: [u8; Self::LEN]) -> Option<Failure> {
        let stage = match i32::from_be_bytes([msg[0], msg[1], msg[2], msg[3]]) {
            1 => Stage::Credentials,
            2 => Stage::Exec,
            _ => return None,
        };
        let errno = i32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]);
        Some(Failure { stage, errno })
    }

    /// The error as the operating system words it.
    pub fn error(self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }
}

/// Everything the child needs, made before the fork.
pub struct Prepared<'a> {
    pub uid: u32,
    pub gid: u32,
    pub home: &'a CStr,
    pub shell: &'a CStr,
    pub args: &'a sys::ExecArgs<'a>,
}

/// Forks and starts the shell in the child. Returns the child's pid once it exec'd,
/// or what went wrong in the child (the child has then been reaped).
pub fn spawn(p: &Prepared<'_>) -> io::Result<Result<libc::pid_t, Failure>> {
    let (rd, wr) = sys::pipe_cloexec()?;
    // SAFETY: the child below only makes async-signal-safe calls on values prepared
    // before the fork, allocates nothing and ends in execve or _exit.
    match unsafe { sys::fork() }? {
        sys::Fork::Child => {
            drop(rd);
            sys::default_signals();
            let fail = |stage: Stage, errno: i32| -> ! {
                sys::write_all(wr.as_fd(), &Failure { stage, errno }.encode());
                sys::exit_now(127)
            };
            if let Err(errno) = sys::become_user(p.uid, p.gid) {
                fail(Stage::Credentials, errno);
            }
            if p.home.is_empty() || sys::chdir(p.home).is_err() {
                let _ = sys::chdir(c"/");
            }
            // Keystrokes typed before the switch are the landing shell's, not this one's.
            sys::flush_tty_input();
            let errno = sys::execve(p.shell, p.args);
            fail(Stage::Exec, errno)
        }
        sys::Fork::Parent(child) => {
            drop(wr);
            sys::forward_signals_to(child);
            let mut buf = [0u8; Failure::LEN];
            // End of file without a report: the exec succeeded (the pipe closed on exec).
            let n = sys::read(rd.as_fd(), &mut buf).unwrap_or(0);
            if n == Failure::LEN
                && let Some(f) = Failure::decode(buf)
            {
                let _ = sys::wait_child(child);
                return Ok(Err(f));
            }
            Ok(Ok(child))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_garbage_is_none() {
        for f in [
            Failure {
                stage: Stage::Credentials,
                errno: libc::EPERM,
            },
            Failure {
                stage: Stage::Exec,
                errno: libc::ENOENT,
            },
        ] {
            assert_eq!(Failure::decode(f.encode()), Some(f));
        }
        assert_eq!(Failure::decode([0, 0, 0, 9, 0, 0, 0, 1]), None);
    }
}
