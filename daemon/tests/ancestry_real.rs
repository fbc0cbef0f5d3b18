//! Ancestry checks against real processes: a fake `ssm-session-worker` (a copy of `/bin/sh`
//! running a script named after the SessionId, placed at a path the policy allows) starts a
//! child that drops to an unprivileged uid, exactly as the agent starts a session's shell.
//!
//! Needs root (to run the worker as root and the child as uid 65534); without root each test
//! prints a note and passes without checking anything.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid};
use ssm_runas::ancestry::{AncestryError, WorkerPolicy, find_worker, identify, worker_alive};
use ssm_runas::peer;

const SID: &str = "alice@example.com-0a1b2c3d4e5f6a7b8";
const IID: &str = "i-0123456789abcdef0";
const NOBODY: u32 = 65534;

fn proc_root() -> &'static Path {
    Path::new("/proc")
}

/// Root-only: these tests are `#[ignore = "needs root"]`; run as root with
/// `--include-ignored` (scripts/test.sh does).
fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root to start processes as other users: run it as root, or leave out --include-ignored"
    );
}

/// The role this test binary plays when the fake worker starts it: drop to
/// `SSMRUNAS_TEST_UID` (keeping `SSMRUNAS_TEST_EUID` as effective uid if set, like a setuid
/// helper), then either connect to `SSMRUNAS_TEST_SOCKET` and wait for one byte or EOF, or
/// sleep until killed. Does nothing when run by the ordinary test harness.
#[test]
#[ignore = "started by the fake worker of the other tests"]
fn helper_child() {
    let Some(uid) = std::env::var("SSMRUNAS_TEST_UID")
        .ok()
        .and_then(|u| u.parse::<u32>().ok())
    else {
        return;
    };
    let euid = std::env::var("SSMRUNAS_TEST_EUID")
        .ok()
        .and_then(|u| u.parse::<u32>().ok())
        .unwrap_or(uid);
    nix::unistd::setgroups(&[]).unwrap();
    let g = Gid::from_raw(uid);
    nix::unistd::setresgid(g, g, g).unwrap();
    nix::unistd::setresuid(Uid::from_raw(uid), Uid::from_raw(euid), Uid::from_raw(euid)).unwrap();
    if let Ok(path) = std::env::var("SSMRUNAS_TEST_SOCKET") {
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(b"x").unwrap();
        let mut buf = [0u8; 1];
        let _ = s.read(&mut buf);
    } else {
        std::thread::sleep(Duration::from_secs(600));
    }
    std::process::exit(0);
}

/// A temporary directory (mode 0755, so uid 65534 can use it), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("ssm-runas-ancestry-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

enum ChildKind {
    /// This test binary in [`helper_child`] mode, with these environment variables.
    Helper(Vec<(&'static str, String)>),
    /// `sleep 600`, as the worker's own user.
    Sleep,
}

/// A fake worker and its process group; killed and reaped on drop.
struct FakeWorker {
    child: Child,
    exe: PathBuf,
}

impl FakeWorker {
    /// Copies `/bin/sh` to `<dir>/<rel>` and runs it as `<that path> <args…>` in `<dir>/work`,
    /// where a script named `args[0]` starts `kind`. `as_uid`: run the worker itself as this
    /// user instead of root.
    fn start(dir: &Path, rel: &str, args: &[&str], kind: ChildKind, as_uid: Option<u32>) -> Self {
        let exe = dir.join(rel);
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        for d in exe.ancestors().skip(1).take_while(|d| d.starts_with(dir)) {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::copy("/bin/sh", &exe).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The trailing `exit 0` keeps the shell from replacing itself with its last command.
        let (script, env) = match kind {
            ChildKind::Helper(env) => (
                "\"$SSMRUNAS_TEST_HELPER\" --exact helper_child --ignored --test-threads=1 -q\nexit 0\n",
                env,
            ),
            ChildKind::Sleep => ("sleep 600\nexit 0\n", Vec::new()),
        };
        let script_path = work.join(args[0]);
        std::fs::write(&script_path, script).unwrap();
        std::fs::set_permissions(&script_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut cmd = Command::new(&exe);
        cmd.args(args)
            .current_dir(&work)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("SSMRUNAS_TEST_HELPER", std::env::current_exe().unwrap())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0);
        if let Some(uid) = as_uid {
            cmd.uid(uid).gid(uid);
        }
        // Another test thread forking while our copy was still open for writing makes exec
        // fail with ETXTBSY for a moment: retry.
        let mut tries = 0;
        let child = loop {
            match cmd.spawn() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other.unwrap(),
            }
        };
        FakeWorker { child, exe }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Waits for the worker's child to exist and to run as `uid`; returns its pid.
    fn wait_for_child(&self, uid: u32) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                if peer::ppid(proc_root(), pid).ok() == Some(self.pid())
                    && peer::uids(proc_root(), pid).ok().map(|u| u.0) == Some(uid)
                {
                    return pid;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the fake worker's child did not appear"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for FakeWorker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn policy(dir: &Path) -> WorkerPolicy {
    WorkerPolicy {
        allowed_paths: vec![
            format!("{}/agent/*/ssm-session-worker", dir.display()),
            "/usr/bin/ssm-session-worker".to_owned(),
        ],
    }
}

const WORKER_REL: &str = "agent/3.3.1142.0/ssm-session-worker";

#[test]
#[ignore = "needs root"]
fn finds_a_real_worker_from_its_unprivileged_child() {
    require_root();
    let dir = TempDir::new("real");
    let mut w = FakeWorker::start(
        &dir.0,
        WORKER_REL,
        &[SID],
        ChildKind::Helper(vec![("SSMRUNAS_TEST_UID", NOBODY.to_string())]),
        None,
    );
    let child = w.wait_for_child(NOBODY);
    let found = find_worker(proc_root(), child, &policy(&dir.0)).unwrap();
    assert_eq!(found.pid, w.pid());
    assert_eq!(found.session_id, SID);
    assert_eq!(found.instance_id, None);
    assert_eq!(found.exe, w.exe);
    assert!(worker_alive(proc_root(), &found));
    w.kill();
    assert!(!worker_alive(proc_root(), &found));
}

#[test]
#[ignore = "needs root"]
fn old_agent_command_line_with_an_instance_id() {
    require_root();
    let dir = TempDir::new("iid");
    let w = FakeWorker::start(&dir.0, WORKER_REL, &[SID, IID], ChildKind::Sleep, None);
    let child = w.wait_for_child(0);
    let found = find_worker(proc_root(), child, &policy(&dir.0)).unwrap();
    assert_eq!(found.instance_id.as_deref(), Some(IID));
}

#[test]
#[ignore = "needs root"]
fn a_worker_whose_binary_was_replaced_still_counts() {
    require_root();
    let dir = TempDir::new("deleted");
    let w = FakeWorker::start(
        &dir.0,
        WORKER_REL,
        &[SID],
        ChildKind::Helper(vec![("SSMRUNAS_TEST_UID", NOBODY.to_string())]),
        None,
    );
    let child = w.wait_for_child(NOBODY);
    std::fs::remove_file(&w.exe).unwrap();
    let link = std::fs::read_link(format!("/proc/{}/exe", w.pid())).unwrap();
    assert!(link.to_string_lossy().ends_with(" (deleted)"), "{link:?}");
    let found = find_worker(proc_root(), child, &policy(&dir.0)).unwrap();
    assert_eq!(found.exe, w.exe);
}

#[test]
#[ignore = "needs root"]
fn a_non_root_worker_lookalike_is_denied() {
    require_root();
    let dir = TempDir::new("nonroot");
    let w = FakeWorker::start(&dir.0, WORKER_REL, &[SID], ChildKind::Sleep, Some(NOBODY));
    let child = w.wait_for_child(NOBODY);
    match find_worker(proc_root(), child, &policy(&dir.0)) {
        Err(AncestryError::NotAWorker { pid, why }) => {
            assert_eq!(pid, w.pid());
            assert!(why.contains("not running as root"), "{why}");
        }
        other => panic!("expected NotAWorker, got {other:?}"),
    }
}

#[test]
#[ignore = "needs root"]
fn a_root_lookalike_from_another_path_is_denied() {
    require_root();
    let dir = TempDir::new("elsewhere");
    let w = FakeWorker::start(
        &dir.0,
        "elsewhere/ssm-session-worker",
        &[SID],
        ChildKind::Sleep,
        None,
    );
    let child = w.wait_for_child(0);
    match find_worker(proc_root(), child, &policy(&dir.0)) {
        Err(AncestryError::NotAWorker { pid, why }) => {
            assert_eq!(pid, w.pid());
            assert!(why.contains("not an allowed session worker path"), "{why}");
        }
        other => panic!("expected NotAWorker, got {other:?}"),
    }
}

#[test]
fn a_process_outside_a_session() {
    let dir = TempDir::new("outside");
    let me = i32::try_from(std::process::id()).unwrap();
    assert_eq!(
        find_worker(proc_root(), me, &policy(&dir.0)).unwrap_err(),
        AncestryError::NotInSession
    );
}

fn accept_within(listener: &UnixListener, limit: Duration) -> UnixStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "nobody connected");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
#[ignore = "needs root"]
fn identify_a_setuid_helper_on_the_socket() {
    require_root();
    let dir = TempDir::new("identify");
    let sock = dir.0.join("sock");
    let listener = UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    // The connecting process has real uid 65534 and effective uid 0, like the setuid helper.
    let _w = FakeWorker::start(
        &dir.0,
        WORKER_REL,
        &[SID],
        ChildKind::Helper(vec![
            ("SSMRUNAS_TEST_UID", NOBODY.to_string()),
            ("SSMRUNAS_TEST_EUID", "0".to_owned()),
            ("SSMRUNAS_TEST_SOCKET", sock.display().to_string()),
        ]),
        None,
    );
    let mut conn = accept_within(&listener, Duration::from_secs(20));
    let mut byte = [0u8; 1];
    conn.read_exact(&mut byte).unwrap();
    let policy = policy(&dir.0);

    let id = identify(proc_root(), conn.as_fd(), &policy, NOBODY).unwrap();
    assert_eq!(id.peer.uid, 0, "SO_PEERCRED reports the effective uid");
    assert_eq!(peer::ppid(proc_root(), id.peer.pid).unwrap(), id.worker.pid);
    assert_eq!(id.worker.session_id, SID);

    assert_eq!(
        identify(proc_root(), conn.as_fd(), &policy, NOBODY - 1).unwrap_err(),
        AncestryError::WrongUser {
            uid: NOBODY,
            expected: NOBODY - 1
        }
    );

    // The helper exits: the same connection no longer identifies anyone.
    let helper = id.peer.pid;
    let pinned = peer::pin(proc_root(), helper).unwrap();
    conn.write_all(b"q").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pinned.still_same(proc_root()) {
        assert!(Instant::now() < deadline, "the helper did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        identify(proc_root(), conn.as_fd(), &policy, NOBODY).unwrap_err(),
        AncestryError::Gone
    );
}

#[test]
fn a_peer_outside_a_session_is_not_identified() {
    let dir = TempDir::new("identify-outside");
    let sock = dir.0.join("sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let _client = UnixStream::connect(&sock).unwrap();
    let (conn, _) = listener.accept().unwrap();
    let me = nix::unistd::getuid().as_raw();
    assert_eq!(
        identify(proc_root(), conn.as_fd(), &policy(&dir.0), me).unwrap_err(),
        AncestryError::NotInSession
    );
}

#[test]
fn a_pin_does_not_survive_its_process() {
    let mut child = Command::new("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let pinned = peer::pin(proc_root(), pid).unwrap();
    assert!(pinned.still_same(proc_root()));
    assert_eq!(pinned.starttime, peer::starttime(proc_root(), pid).unwrap());
    child.kill().unwrap();
    // Exited but not yet reaped (a zombie keeps its pid and start time): already not the same.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pinned.still_same(proc_root()) {
        assert!(Instant::now() < deadline, "sleep did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait().unwrap();
    assert!(!pinned.still_same(proc_root()));
    assert!(peer::pin(proc_root(), pid).is_err());
}
