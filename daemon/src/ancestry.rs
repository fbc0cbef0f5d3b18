//! From the peer of the socket to its verified `ssm-session-worker`.
//!
//! The agent starts `ssm-session-worker <SessionId> [<InstanceId>]` as root, and the session's
//! shell is its child. We walk `PPid` upward from the peer's parent. The nearest ancestor that
//! *looks* like a worker — by the name of its executable, its `argv[0]` or its `comm`, or because
//! its executable is an allowed worker path — must *verify*:
//!
//! - real and effective uid 0 (from `/proc/<pid>/status`, i.e. the kernel);
//! - `/proc/<pid>/exe` matches an allowed path pattern (a trailing ` (deleted)`, seen after an
//!   agent upgrade, is accepted when the rest matches);
//! - `argv[1]` is a well-formed SessionId, the optional `argv[2]` a well-formed instance id,
//!   and nothing more.
//!
//! A process that looks like a worker and does not verify is an attack, not a session:
//! [`AncestryError::NotAWorker`]. Names and command lines are set by the process itself, so
//! they only decide *whether* to check; the decision rests on uid and `exe`, which come from
//! the kernel. A pid can be reused while we read `/proc`, so the worker is pinned and the whole
//! chain (start time and parent of every hop) is re-read after the checks.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::glob::matches_path;
use crate::peer::{self, PeerCred};
use crate::session_id::{is_instance_id, is_session_id};

/// The worker's executable name.
pub const WORKER_NAME: &str = "ssm-session-worker";
/// The worker's `comm`: the kernel truncates names to 15 bytes.
pub const WORKER_COMM: &str = "ssm-session-wor";
/// How many ancestors are examined at most.
pub const MAX_DEPTH: usize = 64;
/// What the kernel appends to `/proc/<pid>/exe` when the executable was replaced or removed.
const DELETED_SUFFIX: &str = " (deleted)";

/// Where a session worker's executable may live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPolicy {
    /// Glob patterns (`*` does not cross `/`), e.g. `/usr/bin/ssm-session-worker` or
    /// `/snap/amazon-ssm-agent/*/ssm-session-worker`.
    pub allowed_paths: Vec<String>,
}

impl WorkerPolicy {
    /// The agent's install paths for deb/rpm and snap packages.
    pub fn standard() -> Self {
        WorkerPolicy {
            allowed_paths: vec![
                "/usr/bin/ssm-session-worker".to_owned(),
                "/snap/amazon-ssm-agent/*/ssm-session-worker".to_owned(),
            ],
        }
    }

    /// If `exe` (the text of `/proc/<pid>/exe`) is an allowed worker executable, returns the
    /// path without a ` (deleted)` suffix.
    pub fn allowed_exe<'a>(&self, exe: &'a str) -> Option<&'a str> {
        let allowed = |p: &str| self.allowed_paths.iter().any(|pat| matches_path(pat, p));
        if allowed(exe) {
            return Some(exe);
        }
        exe.strip_suffix(DELETED_SUFFIX)
            .filter(|rest| allowed(rest))
    }
}

/// A verified session worker.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Its pid.
    pub pid: i32,
    /// Its start time (clock ticks after boot), to tell it from a later process with its pid.
    pub starttime: u64,
    /// `argv[1]`, a well-formed SessionId.
    pub session_id: String,
    /// `argv[2]` when present (agents older than 3.1.501.0).
    pub instance_id: Option<String>,
    /// Its executable, without a ` (deleted)` suffix.
    pub exe: PathBuf,
}

/// Why a process could not be tied to a session worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AncestryError {
    /// No ancestor looks like a session worker.
    NotInSession,
    /// An ancestor looks like a session worker but does not verify.
    NotAWorker {
        /// The impostor's pid.
        pid: i32,
        /// What failed, in words.
        why: String,
    },
    /// The peer's real uid is not the landing user.
    WrongUser {
        /// The peer's real uid.
        uid: u32,
        /// The landing user's uid.
        expected: u32,
    },
    /// A process went away (or its pid was reused) while it was being checked.
    Gone,
    /// `/proc` could not be read.
    Io(String),
}

impl fmt::Display for AncestryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AncestryError::NotInSession => write!(f, "not in an SSM session"),
            AncestryError::NotAWorker { pid, why } => write!(
                f,
                "process {pid} looks like a session worker but is not one: {why}"
            ),
            AncestryError::WrongUser { uid, expected } => write!(
                f,
                "wrong user: uid {uid} is not the landing user (uid {expected})"
            ),
            AncestryError::Gone => {
                write!(
                    f,
                    "a process of the session went away while it was being checked"
                )
            }
            AncestryError::Io(e) => write!(f, "cannot read process information: {e}"),
        }
    }
}

impl std::error::Error for AncestryError {}

fn from_io(e: io::Error) -> AncestryError {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => AncestryError::Gone,
        _ => AncestryError::Io(e.to_string()),
    }
}

fn is_worker_name(name: &[u8]) -> bool {
    name == WORKER_NAME.as_bytes() || name == WORKER_COMM.as_bytes()
}

fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// What `/proc` says about one process, as far as names go.
struct Looks {
    exe: Option<String>,
    argv: Vec<Vec<u8>>,
    comm: Option<Vec<u8>>,
}

fn read_looks(proc_root: &Path, pid: i32) -> Looks {
    let dir = proc_root.join(pid.to_string());
    // exe cannot be read for kernel threads and exited processes; that is not an error here.
    let exe = std::fs::read_link(dir.join("exe"))
        .ok()
        .map(|p| String::from_utf8_lossy(p.as_os_str().as_bytes()).into_owned());
    let argv = std::fs::read(dir.join("cmdline"))
        .map(|c| split_cmdline(&c))
        .unwrap_or_default();
    let comm = std::fs::read(dir.join("comm")).ok().map(|mut c| {
        if c.last() == Some(&b'\n') {
            c.pop();
        }
        c
    });
    Looks { exe, argv, comm }
}

fn split_cmdline(content: &[u8]) -> Vec<Vec<u8>> {
    let body = content.strip_suffix(b"\0").unwrap_or(content);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

impl Looks {
    fn like_worker(&self, policy: &WorkerPolicy) -> bool {
        let exe_name = self.exe.as_deref().map(|e| {
            let e = e.strip_suffix(DELETED_SUFFIX).unwrap_or(e);
            basename(e.as_bytes())
        });
        exe_name.is_some_and(is_worker_name)
            || self
                .argv
                .first()
                .is_some_and(|a| is_worker_name(basename(a)))
            || self.comm.as_deref().is_some_and(is_worker_name)
            || self
                .exe
                .as_deref()
                .is_some_and(|e| policy.allowed_exe(e).is_some())
    }
}

fn verify(
    proc_root: &Path,
    pid: i32,
    starttime: u64,
    looks: &Looks,
    policy: &WorkerPolicy,
) -> Result<Worker, AncestryError> {
    let not = |why: String| AncestryError::NotAWorker { pid, why };
    let (real, effective) = peer::uids(proc_root, pid).map_err(from_io)?;
    if real != 0 || effective != 0 {
        return Err(not(format!(
            "not running as root (uid {real}, effective uid {effective})"
        )));
    }
    let Some(exe_text) = looks.exe.as_deref() else {
        return Err(not("its executable cannot be read".to_owned()));
    };
    let Some(exe) = policy.allowed_exe(exe_text) else {
        return Err(not(format!(
            "its executable {exe_text:?} is not an allowed session worker path"
        )));
    };
    let session_id = match looks.argv.get(1).map(|a| std::str::from_utf8(a)) {
        None => return Err(not("no session id in its command line".to_owned())),
        Some(Ok(s)) if is_session_id(s) => s.to_owned(),
        Some(_) => return Err(not("its session id is malformed".to_owned())),
    };
    let instance_id = match looks.argv.get(2).map(|a| std::str::from_utf8(a)) {
        None => None,
        Some(Ok(s)) if is_instance_id(s) => Some(s.to_owned()),
        Some(_) => return Err(not("its instance id is malformed".to_owned())),
    };
    if looks.argv.len() > 3 {
        return Err(not(
            "its command line has unexpected extra arguments".to_owned()
        ));
    }
    Ok(Worker {
        pid,
        starttime,
        session_id,
        instance_id,
        exe: PathBuf::from(exe),
    })
}

/// One step of the walk: a process, its start time and its parent when read.
struct Hop {
    pid: i32,
    starttime: u64,
    ppid: i32,
}

/// Finds the verified session worker among the ancestors of `pid` (not `pid` itself).
///
/// Returns [`AncestryError::NotInSession`] when no ancestor up to pid 1 (or [`MAX_DEPTH`]
/// ancestors) looks like a worker, [`AncestryError::NotAWorker`] when the nearest one that
/// does fails verification, and [`AncestryError::Gone`] when a process of the chain exited or
/// changed while it was read.
pub fn find_worker(
    proc_root: &Path,
    pid: i32,
    policy: &WorkerPolicy,
) -> Result<Worker, AncestryError> {
    let first = peer::stat(proc_root, pid).map_err(from_io)?;
    if first.exited() {
        return Err(AncestryError::Gone);
    }
    let mut hops = vec![Hop {
        pid,
        starttime: first.starttime,
        ppid: first.ppid,
    }];
    let mut cur = first.ppid;
    for _ in 0..MAX_DEPTH {
        if cur <= 1 {
            return Err(AncestryError::NotInSession);
        }
        let st = peer::stat(proc_root, cur).map_err(from_io)?;
        let looks = read_looks(proc_root, cur);
        if looks.like_worker(policy) {
            let pinned = peer::pin(proc_root, cur).map_err(from_io)?;
            if pinned.starttime != st.starttime {
                return Err(AncestryError::Gone);
            }
            let worker = verify(proc_root, cur, st.starttime, &looks, policy)?;
            // Everything read above belongs to the processes we think it does only if none of
            // them changed meanwhile: every hop still has its start time and its parent, and
            // the worker is still the pinned process.
            for hop in &hops {
                match peer::stat(proc_root, hop.pid) {
                    Ok(s) if s.starttime == hop.starttime && s.ppid == hop.ppid => {}
                    Ok(_) => return Err(AncestryError::Gone),
                    Err(e) => return Err(from_io(e)),
                }
            }
            if !pinned.still_same(proc_root) {
                return Err(AncestryError::Gone);
            }
            return Ok(worker);
        }
        hops.push(Hop {
            pid: cur,
            starttime: st.starttime,
            ppid: st.ppid,
        });
        cur = st.ppid;
    }
    Err(AncestryError::NotInSession)
}

/// A socket peer tied to its session worker.
#[derive(Debug)]
pub struct Identified {
    /// `SO_PEERCRED` of the peer (its uid there is the *effective* uid).
    pub peer: PeerCred,
    /// The peer's start time, to notice later that it exited and its pid was reused.
    pub peer_starttime: u64,
    /// The verified worker above it.
    pub worker: Worker,
}

/// Identifies the peer of a connected Unix socket: its pid from the kernel, its real uid must
/// be `landing_uid`, and it must descend from a verified session worker. The peer is pinned
/// first and re-checked last, so a pid reused meanwhile gives [`AncestryError::Gone`].
pub fn identify(
    proc_root: &Path,
    fd: BorrowedFd<'_>,
    policy: &WorkerPolicy,
    landing_uid: u32,
) -> Result<Identified, AncestryError> {
    let peer = peer::peer_cred(fd).map_err(|e| AncestryError::Io(e.to_string()))?;
    if peer.pid <= 0 {
        return Err(AncestryError::Io(
            "the kernel did not report the peer's process id".to_owned(),
        ));
    }
    let pinned = peer::pin_socket_peer(proc_root, fd, peer.pid).map_err(from_io)?;
    // SO_PEERCRED holds the effective uid: the setuid helper has euid 0. Its real uid is the
    // landing user.
    let (real, _effective) = peer::uids(proc_root, peer.pid).map_err(from_io)?;
    if !pinned.still_same(proc_root) {
        return Err(AncestryError::Gone);
    }
    if real != landing_uid {
        return Err(AncestryError::WrongUser {
            uid: real,
            expected: landing_uid,
        });
    }
    let worker = find_worker(proc_root, peer.pid, policy)?;
    if !pinned.still_same(proc_root) {
        return Err(AncestryError::Gone);
    }
    Ok(Identified {
        peer,
        peer_starttime: pinned.starttime,
        worker,
    })
}

/// Whether the worker is still running: same pid, same start time, not exited.
pub fn worker_alive(proc_root: &Path, w: &Worker) -> bool {
    matches!(peer::stat(proc_root, w.pid), Ok(s) if s.starttime == w.starttime && !s.exited())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    const SID: &str = "alice@example.com-0a1b2c3d4e5f6a7b8";
    const IID: &str = "i-0123456789abcdef0";
    const WORKER: &str = "/usr/bin/ssm-session-worker";

    /// A fake `/proc` in a temporary directory, removed on drop.
    struct FakeProc {
        root: PathBuf,
    }

    struct P<'a> {
        pid: i32,
        ppid: i32,
        uid: (u32, u32),
        exe: Option<&'a str>,
        argv: &'a [&'a str],
        comm: &'a str,
        starttime: u64,
    }

    impl FakeProc {
        fn new(name: &str) -> Self {
            let root = std::env::temp_dir()
                .join(format!("ssm-runas-fakeproc-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(&root).unwrap();
            FakeProc { root }
        }

        fn add(&self, p: P<'_>) {
            let dir = self.root.join(p.pid.to_string());
            fs::create_dir_all(&dir).unwrap();
            fs::write(
                dir.join("stat"),
                format!(
                    "{} ({}) S {} {} {} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {} 1000 10 0 0 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n",
                    p.pid, p.comm, p.ppid, p.ppid, p.ppid, p.starttime
                ),
            )
            .unwrap();
            fs::write(
                dir.join("status"),
                format!(
                    "Name:\t{}\nState:\tS (sleeping)\nPid:\t{}\nPPid:\t{}\nUid:\t{}\t{}\t{}\t{}\nGid:\t0\t0\t0\t0\n",
                    p.comm, p.pid, p.ppid, p.uid.0, p.uid.1, p.uid.1, p.uid.1
                ),
            )
            .unwrap();
            let mut cmdline = Vec::new();
            for a in p.argv {
                cmdline.extend_from_slice(a.as_bytes());
                cmdline.push(0);
            }
            fs::write(dir.join("cmdline"), cmdline).unwrap();
            fs::write(dir.join("comm"), format!("{}\n", p.comm)).unwrap();
            let _ = fs::remove_file(dir.join("exe"));
            if let Some(exe) = p.exe {
                std::os::unix::fs::symlink(exe, dir.join("exe")).unwrap();
            }
        }

        /// The usual tree: agent (100) → agent worker (200) → `worker` (300) → sh (400) →
        /// helper (500, setuid root, real uid 1001).
        fn session(name: &str, worker: P<'_>) -> Self {
            let fp = FakeProc::new(name);
            fp.add(P {
                pid: 100,
                ppid: 1,
                uid: (0, 0),
                exe: Some("/usr/bin/amazon-ssm-agent"),
                argv: &["/usr/bin/amazon-ssm-agent"],
                comm: "amazon-ssm-agen",
                starttime: 1000,
            });
            fp.add(P {
                pid: 200,
                ppid: 100,
                uid: (0, 0),
                exe: Some("/usr/bin/ssm-agent-worker"),
                argv: &["/usr/bin/ssm-agent-worker"],
                comm: "ssm-agent-worke",
                starttime: 1001,
            });
            fp.add(P {
                pid: 300,
                ppid: 200,
                ..worker
            });
            fp.add(P {
                pid: 400,
                ppid: 300,
                uid: (1001, 1001),
                exe: Some("/usr/bin/dash"),
                argv: &["sh"],
                comm: "sh",
                starttime: 3000,
            });
            fp.add(P {
                pid: 500,
                ppid: 400,
                uid: (1001, 0),
                exe: Some("/usr/libexec/ssm-runas/login"),
                argv: &["/usr/libexec/ssm-runas/login"],
                comm: "login",
                starttime: 3001,
            });
            fp
        }

        fn find(&self) -> Result<Worker, AncestryError> {
            find_worker(&self.root, 500, &WorkerPolicy::standard())
        }
    }

    impl Drop for FakeProc {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    fn worker<'a>(exe: Option<&'a str>, argv: &'a [&'a str]) -> P<'a> {
        P {
            pid: 0,
            ppid: 0,
            uid: (0, 0),
            exe,
            argv,
            comm: "ssm-session-wor",
            starttime: 2000,
        }
    }

    fn assert_not_a_worker(r: Result<Worker, AncestryError>, why_contains: &str) {
        match r {
            Err(AncestryError::NotAWorker { pid: 300, why }) => {
                assert!(why.contains(why_contains), "{why:?} lacks {why_contains:?}")
            }
            other => panic!("expected NotAWorker for 300 ({why_contains}), got {other:?}"),
        }
    }

    #[test]
    fn finds_the_standard_worker() {
        let fp = FakeProc::session("happy", worker(Some(WORKER), &[WORKER, SID]));
        let w = fp.find().unwrap();
        assert_eq!(w.pid, 300);
        assert_eq!(w.starttime, 2000);
        assert_eq!(w.session_id, SID);
        assert_eq!(w.instance_id, None);
        assert_eq!(w.exe, PathBuf::from(WORKER));
        assert!(worker_alive(&fp.root, &w));
        // Same pid, another process: no longer alive.
        fp.add(P {
            pid: 300,
            ppid: 200,
            starttime: 9999,
            ..worker(None, &[WORKER, SID])
        });
        assert!(!worker_alive(&fp.root, &w));
    }

    #[test]
    fn old_agents_pass_the_instance_id() {
        let fp = FakeProc::session("instance", worker(Some(WORKER), &[WORKER, SID, IID]));
        let w = fp.find().unwrap();
        assert_eq!(w.instance_id.as_deref(), Some(IID));
        let fp = FakeProc::session(
            "hybrid",
            worker(Some(WORKER), &[WORKER, SID, "mi-0123456789abcdef0"]),
        );
        assert_eq!(
            fp.find().unwrap().instance_id.as_deref(),
            Some("mi-0123456789abcdef0")
        );
    }

    #[test]
    fn deleted_executable_after_an_upgrade() {
        let fp = FakeProc::session(
            "deleted",
            worker(
                Some("/usr/bin/ssm-session-worker (deleted)"),
                &[WORKER, SID],
            ),
        );
        assert_eq!(fp.find().unwrap().exe, PathBuf::from(WORKER));
        let fp = FakeProc::session(
            "deleted-elsewhere",
            worker(Some("/tmp/ssm-session-worker (deleted)"), &[WORKER, SID]),
        );
        assert_not_a_worker(fp.find(), "not an allowed session worker path");
    }

    #[test]
    fn snap_install_path() {
        let snap = "/snap/amazon-ssm-agent/9881/ssm-session-worker";
        let fp = FakeProc::session("snap", worker(Some(snap), &[snap, SID]));
        assert_eq!(fp.find().unwrap().exe, PathBuf::from(snap));
        let deep = "/snap/amazon-ssm-agent/9881/evil/ssm-session-worker";
        let fp = FakeProc::session("snap-deep", worker(Some(deep), &[deep, SID]));
        assert_not_a_worker(fp.find(), "not an allowed");
    }

    #[test]
    fn a_worker_named_process_that_is_not_root_is_an_attack() {
        let fake = "/home/landing/ssm-session-worker";
        let fp = FakeProc::session(
            "nonroot",
            P {
                uid: (1001, 1001),
                ..worker(Some(fake), &[fake, SID])
            },
        );
        assert_not_a_worker(fp.find(), "not running as root");
        // Running the real worker binary does not make the landing user root.
        let fp = FakeProc::session(
            "nonroot-real-exe",
            P {
                uid: (1001, 1001),
                ..worker(Some(WORKER), &[WORKER, SID])
            },
        );
        assert_not_a_worker(fp.find(), "not running as root");
        // A setuid-root program run by the landing user has euid 0 but not a real uid 0.
        let fp = FakeProc::session(
            "setuid",
            P {
                uid: (1001, 0),
                ..worker(Some(WORKER), &[WORKER, SID])
            },
        );
        assert_not_a_worker(fp.find(), "uid 1001");
    }

    #[test]
    fn a_root_process_from_another_executable_named_like_a_worker_is_an_attack() {
        // By argv[0].
        let fp = FakeProc::session(
            "argv0",
            P {
                comm: "python3",
                ..worker(Some("/usr/bin/python3.12"), &["ssm-session-worker", SID])
            },
        );
        assert_not_a_worker(fp.find(), "\"/usr/bin/python3.12\" is not an allowed");
        // By comm only.
        let fp = FakeProc::session(
            "comm",
            worker(Some("/usr/bin/python3.12"), &["python3", SID]),
        );
        assert_not_a_worker(fp.find(), "not an allowed");
        // By the name of its executable.
        let fp = FakeProc::session(
            "exe-name",
            P {
                comm: "x",
                ..worker(Some("/opt/evil/ssm-session-worker"), &["x", SID])
            },
        );
        assert_not_a_worker(fp.find(), "not an allowed");
        // With no readable executable.
        let fp = FakeProc::session("no-exe", worker(None, &[WORKER, SID]));
        assert_not_a_worker(fp.find(), "cannot be read");
    }

    #[test]
    fn an_allowed_executable_counts_whatever_its_argv0() {
        let fp = FakeProc::session(
            "renamed",
            P {
                comm: "worker",
                ..worker(Some(WORKER), &["worker", SID])
            },
        );
        assert_eq!(fp.find().unwrap().session_id, SID);
    }

    #[test]
    fn malformed_command_lines() {
        let cases: [(&[&str], &str); 6] = [
            (&[WORKER], "no session id"),
            (&[], "no session id"),
            (&[WORKER, "alice bob-0a1b"], "session id is malformed"),
            (&[WORKER, ""], "session id is malformed"),
            (&[WORKER, SID, "i-XYZ"], "instance id is malformed"),
            (&[WORKER, SID, IID, "--extra"], "extra arguments"),
        ];
        for (i, (argv, why)) in cases.into_iter().enumerate() {
            let fp = FakeProc::session(&format!("argv{i}"), worker(Some(WORKER), argv));
            assert_not_a_worker(fp.find(), why);
        }
    }

    #[test]
    fn no_worker_means_not_in_a_session() {
        let fp = FakeProc::session(
            "none",
            P {
                comm: "sshd",
                ..worker(Some("/usr/sbin/sshd"), &["sshd: landing"])
            },
        );
        assert_eq!(fp.find().unwrap_err(), AncestryError::NotInSession);
        assert_eq!(fp.find().unwrap_err().to_string(), "not in an SSM session");
    }

    #[test]
    fn the_nearest_worker_lookalike_decides() {
        // A real worker above, an impostor (the landing user's own process) below it.
        let fp = FakeProc::session("nearest", worker(Some(WORKER), &[WORKER, SID]));
        let fake = "/home/landing/ssm-session-worker";
        fp.add(P {
            pid: 400,
            ppid: 300,
            uid: (1001, 1001),
            exe: Some(fake),
            argv: &[fake, SID],
            comm: "ssm-session-wor",
            starttime: 3000,
        });
        match fp.find() {
            Err(AncestryError::NotAWorker { pid: 400, .. }) => {}
            other => panic!("expected NotAWorker for 400, got {other:?}"),
        }
    }

    #[test]
    fn the_peer_itself_is_not_a_candidate() {
        let fp = FakeProc::session("self", worker(Some("/usr/sbin/cron"), &["cron"]));
        // Process 300 verifies as a worker but is where the walk starts: not in a session.
        fp.add(P {
            pid: 300,
            ppid: 200,
            ..worker(Some(WORKER), &[WORKER, SID])
        });
        assert_eq!(
            find_worker(&fp.root, 300, &WorkerPolicy::standard()).unwrap_err(),
            AncestryError::NotInSession
        );
    }

    fn chain(name: &str, depth: i32) -> FakeProc {
        // Worker 1000, then `depth` ordinary processes below it; the peer is the last one.
        let fp = FakeProc::new(name);
        fp.add(P {
            pid: 1000,
            ppid: 1,
            ..worker(Some(WORKER), &[WORKER, SID])
        });
        for i in 1..=depth {
            fp.add(P {
                pid: 1000 + i,
                ppid: 1000 + i - 1,
                uid: (1001, 1001),
                exe: Some("/usr/bin/dash"),
                argv: &["sh"],
                comm: "sh",
                starttime: 5000 + u64::try_from(i).unwrap(),
            });
        }
        fp
    }

    #[test]
    fn depth_limit() {
        let depth = i32::try_from(MAX_DEPTH).unwrap();
        let policy = WorkerPolicy::standard();
        // The worker is the MAX_DEPTH-th ancestor of the peer: found.
        let fp = chain("depth-ok", depth);
        assert_eq!(
            find_worker(&fp.root, 1000 + depth, &policy).unwrap().pid,
            1000
        );
        // One further: not looked at.
        let fp = chain("depth-over", depth + 1);
        assert_eq!(
            find_worker(&fp.root, 1000 + depth + 1, &policy).unwrap_err(),
            AncestryError::NotInSession
        );
        // A parent loop ends at the limit too.
        let fp = FakeProc::new("loop");
        for (pid, ppid) in [(10, 11), (11, 12), (12, 10)] {
            fp.add(P {
                pid,
                ppid,
                uid: (1001, 1001),
                exe: Some("/usr/bin/dash"),
                argv: &["sh"],
                comm: "sh",
                starttime: 1,
            });
        }
        assert_eq!(
            find_worker(&fp.root, 10, &policy).unwrap_err(),
            AncestryError::NotInSession
        );
    }

    #[test]
    fn hostile_comm_does_not_confuse_stat() {
        let fp = FakeProc::session("comm-parens", worker(Some(WORKER), &[WORKER, SID]));
        fp.add(P {
            pid: 400,
            ppid: 300,
            uid: (1001, 1001),
            exe: Some("/usr/bin/dash"),
            argv: &["sh"],
            comm: "x) S 1 1 1 (y",
            starttime: 3000,
        });
        fp.add(P {
            pid: 500,
            ppid: 400,
            uid: (1001, 0),
            exe: Some("/usr/libexec/ssm-runas/login"),
            argv: &["login"],
            comm: ") R 1 ",
            starttime: 3001,
        });
        assert_eq!(fp.find().unwrap().pid, 300);
    }

    #[test]
    fn a_vanished_peer_is_gone() {
        let fp = FakeProc::session("gone", worker(Some(WORKER), &[WORKER, SID]));
        assert_eq!(
            find_worker(&fp.root, 777, &WorkerPolicy::standard()).unwrap_err(),
            AncestryError::Gone
        );
    }

    #[test]
    fn messages_are_one_line_for_people() {
        let e = AncestryError::NotAWorker {
            pid: 123,
            why: "not running as root (uid 1001, effective uid 1001)".into(),
        };
        assert_eq!(
            e.to_string(),
            "process 123 looks like a session worker but is not one: not running as root (uid 1001, effective uid 1001)"
        );
        assert_eq!(
            AncestryError::WrongUser {
                uid: 1001,
                expected: 1002
            }
            .to_string(),
            "wrong user: uid 1001 is not the landing user (uid 1002)"
        );
        // An executable path with a newline in it stays on one line.
        let fp = FakeProc::session(
            "newline",
            worker(Some("/tmp/a\nb/ssm-session-worker"), &[WORKER, SID]),
        );
        let msg = fp.find().unwrap_err().to_string();
        assert!(!msg.contains('\n'), "{msg}");
    }
}
