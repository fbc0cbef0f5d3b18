//! The landing guard against real processes: a landing user created for each test,
//! processes started as that user (outside any session, under a fake session worker,
//! running the helper, on a pty), and the guard's kills and audit records.
//!
//! Needs root (to create users, setuid, and listen to process events); skipped otherwise.
//! Every process started here is killed and reaped, and every user removed, also when a
//! test fails.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ssm_runas::ancestry::{Worker, WorkerPolicy};
use ssm_runas::audit::Auditor;
use ssm_runas::config::GuardMode;
use ssm_runas::guard::{self, GuardHandle, GuardSettings, Method, TERMINAL_LINE};

const SID: &str = "alice@example.com-0a1b2c3d4e5f6a7b8";

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Root-only: these tests are `#[ignore = "needs root"]`; run as root with
/// `--include-ignored` (scripts/test.sh does).
fn require_root() {
    assert!(
        is_root(),
        "this test needs root: run it as root, or leave out --include-ignored"
    );
}

/// A landing user made for one test, removed on drop.
struct LandingUser {
    name: String,
    uid: u32,
    gid: u32,
}

fn run_retrying(cmd: &str, args: &[&str]) -> bool {
    // useradd/userdel fail while another test holds the passwd lock: try again.
    for _ in 0..100 {
        match Command::new(cmd).args(args).stderr(Stdio::null()).status() {
            Ok(s) if s.success() => return true,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}

impl LandingUser {
    fn new(tag: &str) -> LandingUser {
        let name = format!("srg{tag}{}", std::process::id() % 100_000);
        let ok = run_retrying(
            "useradd",
            &["--system", "--no-create-home", "--shell", "/bin/sh", &name],
        );
        assert!(ok, "useradd {name} failed");
        let u = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .expect("the new user exists");
        LandingUser {
            name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        }
    }
}

impl Drop for LandingUser {
    fn drop(&mut self) {
        // Nothing of the user may outlive the test.
        let _ = Command::new("pkill")
            .args(["-KILL", "-U", &self.uid.to_string()])
            .status();
        if !run_retrying("userdel", &["-r", &self.name]) {
            let _ = run_retrying("userdel", &[&self.name]);
        }
    }
}

/// A temporary directory readable by everyone (the landing user runs files from it).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("ssm-runas-guard-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Children killed and reaped on drop.
#[derive(Default)]
struct Kids(Vec<Child>);

impl Kids {
    fn add(&mut self, c: Child) -> usize {
        self.0.push(c);
        self.0.len() - 1
    }
    fn pid(&self, i: usize) -> i32 {
        self.0[i].id() as i32
    }
    /// Waits up to `limit` for child `i` to end; its wait status.
    fn wait_end(&mut self, i: usize, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Ok(Some(s)) = self.0[i].try_wait() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    fn running(&mut self, i: usize) -> bool {
        matches!(self.0[i].try_wait(), Ok(None))
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Spawns, retrying while the program is "busy": a file just written here can still be
/// open for writing in a child another test forked meanwhile (until that child execs).
fn spawn(cmd: &mut Command) -> Child {
    for _ in 0..50 {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r.unwrap(),
        }
    }
    cmd.spawn().unwrap()
}

/// `program args…` as `user` (real and effective uid, no supplementary groups).
fn as_user(user: &LandingUser, program: impl AsRef<OsStr>, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null());
    let (uid, gid) = (user.uid, user.gid);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (setgroups, setgid, setuid).
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setgroups(&[])?;
            nix::unistd::setgid(nix::unistd::Gid::from_raw(gid))?;
            nix::unistd::setuid(nix::unistd::Uid::from_raw(uid))?;
            Ok(())
        });
    }
    cmd
}

struct Guard {
    handle: GuardHandle,
    audit: PathBuf,
    workers: Arc<Mutex<Vec<Worker>>>,
}

fn settings(user: &LandingUser, dir: &Path, mode: GuardMode) -> GuardSettings {
    GuardSettings {
        mode,
        grace: Duration::from_secs(1),
        scan_interval: Duration::from_millis(200),
        helper_path: dir.join("ssm-runas-login"),
        landing_uid: user.uid,
        worker_policy: WorkerPolicy {
            allowed_paths: vec![dir.join("ssm-session-worker").display().to_string()],
        },
        proc_root: PathBuf::from("/proc"),
    }
}

fn start(s: GuardSettings, dir: &Path, method: Method) -> Guard {
    let audit = dir.join("audit.jsonl");
    let workers = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&workers);
    let handle = guard::spawn_with_method(
        s,
        Arc::new(Auditor::new(false, Some(audit.clone()))),
        Arc::new(move |w: &Worker| seen.lock().unwrap().push(w.clone())),
        method,
    );
    // Let the first full scan finish before the test starts processes.
    std::thread::sleep(Duration::from_millis(100));
    Guard {
        handle,
        audit,
        workers,
    }
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits (a little) for the kill count to reach `n`: the kill comes first, the record and
/// the count just after it.
fn wait_kills(g: &Guard, n: u64) -> u64 {
    wait_for(Duration::from_secs(1), || {
        (g.handle.kills() >= n).then_some(())
    });
    g.handle.kills()
}

fn killed(s: Option<std::process::ExitStatus>) -> bool {
    s.and_then(|s| s.signal()) == Some(libc::SIGKILL)
}

/// Children of `ppid`, from /proc.
fn children_of(ppid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) == Some(ppid) {
            out.push(pid);
        }
    }
    out
}

fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(x) = f() {
            return Some(x);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn exists(pid: i32) -> bool {
    // A zombie still has a /proc entry; ask for its state.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with(['Z', 'X']))
        })
        == Some(false)
}

#[test]
#[ignore = "needs root"]
fn outside_any_session_is_killed_at_once_with_process_events() {
    require_root();
    let user = LandingUser::new("ev");
    let dir = TempDir::new("ev");
    let mut s = settings(&user, &dir.0, GuardMode::Enforce);
    // A scan this slow cannot be what kills it quickly: the events do.
    s.scan_interval = Duration::from_secs(30);
    let g = start(s, &dir.0, Method::ProcConnector);
    assert_eq!(g.handle.method(), Method::ProcConnector);
    let mut kids = Kids::default();
    let t0 = Instant::now();
    let i = kids.add(as_user(&user, "sleep", &["60"]).spawn().unwrap());
    let st = kids.wait_end(i, Duration::from_secs(3));
    assert!(killed(st), "not killed: {st:?}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(wait_kills(&g, 1), 1);
    let r = records(&g.audit);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["SSM_RUNAS_DECISION"], "guard-kill");
    assert_eq!(r[0]["SSM_RUNAS_PEER_PID"], kids.pid(i));
    assert_eq!(r[0]["SSM_RUNAS_PEER_UID"], user.uid);
    // The command is what the process runs when the guard looks: often still the
    // forked test binary, before it execs sleep.
    let why = r[0]["SSM_RUNAS_REASON"].as_str().unwrap();
    assert!(
        why.starts_with("landing-user process outside any SSM session: "),
        "{why}"
    );
    assert!(r[0].get("SSM_RUNAS_SESSION_ID").is_none());
}

#[test]
#[ignore = "needs root"]
fn outside_any_session_is_killed_by_the_scan_alone() {
    require_root();
    let user = LandingUser::new("sc");
    let dir = TempDir::new("sc");
    let mut s = settings(&user, &dir.0, GuardMode::Enforce);
    s.scan_interval = Duration::from_millis(100);
    let g = start(s, &dir.0, Method::ProcScan);
    assert_eq!(g.handle.method(), Method::ProcScan);
    assert_eq!(g.handle.describe(), "/proc scan every 100 ms");
    let mut kids = Kids::default();
    let t0 = Instant::now();
    let i = kids.add(as_user(&user, "sleep", &["60"]).spawn().unwrap());
    let st = kids.wait_end(i, Duration::from_secs(3));
    assert!(killed(st), "not killed: {st:?}");
    // One scan interval plus a margin for a loaded test machine.
    assert!(
        t0.elapsed() < Duration::from_millis(800),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(wait_kills(&g, 1), 1);
    assert_eq!(records(&g.audit).len(), 1);
}

#[test]
#[ignore = "needs root"]
fn audit_mode_records_once_and_kills_nothing() {
    require_root();
    let user = LandingUser::new("au");
    let dir = TempDir::new("au");
    let g = start(
        settings(&user, &dir.0, GuardMode::Audit),
        &dir.0,
        Method::ProcConnector,
    );
    assert_eq!(g.handle.mode(), GuardMode::Audit);
    let mut kids = Kids::default();
    let i = kids.add(as_user(&user, "sleep", &["60"]).spawn().unwrap());
    // Several scans later it is still running, and it was recorded exactly once.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(kids.running(i));
    let r = records(&g.audit);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["SSM_RUNAS_DECISION"], "guard-audit");
    assert_eq!(r[0]["SSM_RUNAS_PEER_PID"], kids.pid(i));
    assert_eq!(g.handle.kills(), 0);
    // Switching to enforce on reload acts on it.
    g.handle.update(settings(&user, &dir.0, GuardMode::Enforce));
    assert!(killed(kids.wait_end(i, Duration::from_secs(3))));
    assert_eq!(wait_kills(&g, 1), 1);
    // Off stops the guard: a new process lives.
    g.handle.update(settings(&user, &dir.0, GuardMode::Off));
    assert_eq!(g.handle.describe(), "off");
    let j = kids.add(as_user(&user, "sleep", &["60"]).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(600));
    assert!(kids.running(j));
}

/// A fake session worker: a copy of /bin/sh at an allowed worker path, run as root with
/// argv[1] = SID, which reads its script from the file named SID in its directory.
fn fake_worker(dir: &Path, script: &str) -> Command {
    let worker = dir.join("ssm-session-worker");
    fs::copy("/bin/sh", &worker).unwrap();
    fs::write(dir.join(SID), script).unwrap();
    let mut cmd = Command::new(&worker);
    cmd.arg(SID)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    cmd
}

fn setpriv(user: &LandingUser) -> String {
    format!(
        "setpriv --reuid={} --regid={} --clear-groups --",
        user.uid, user.gid
    )
}

#[test]
#[ignore = "needs root"]
fn a_landing_shell_lives_only_for_its_grace_and_the_worker_survives() {
    require_root();
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is needed");
        return;
    }
    let user = LandingUser::new("gr");
    let dir = TempDir::new("gr");
    let g = start(
        settings(&user, &dir.0, GuardMode::Enforce),
        &dir.0,
        Method::ProcConnector,
    );
    let mut kids = Kids::default();
    let script = format!("{} setsid sleep 60\nexit 0\n", setpriv(&user));
    let t0 = Instant::now();
    let w = kids.add(spawn(&mut fake_worker(&dir.0, &script)));
    let wpid = kids.pid(w);
    let shell = wait_for(Duration::from_secs(2), || {
        children_of(wpid).into_iter().next()
    })
    .expect("the worker started its landing child");
    // Allowed during its grace (1 s).
    std::thread::sleep(Duration::from_millis(600).saturating_sub(t0.elapsed()));
    assert!(exists(shell), "killed within its grace");
    // Killed after it; the root worker is not: it sees its child die and exits 0.
    let st = kids.wait_end(w, Duration::from_secs(3));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "worker: {st:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(wait_kills(&g, 1), 1);
    let r = records(&g.audit);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["SSM_RUNAS_DECISION"], "guard-kill");
    assert_eq!(r[0]["SSM_RUNAS_SESSION_ID"], SID);
    assert_eq!(r[0]["SSM_RUNAS_PEER_PID"], shell);
    assert_eq!(
        r[0]["SSM_RUNAS_REASON"],
        "landing shell did not exec the switch helper within 1 s: sleep 60"
    );
    let workers = g.workers.lock().unwrap();
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0].session_id, SID);
    assert_eq!(workers[0].pid, wpid);
}

#[test]
#[ignore = "needs root"]
fn a_command_started_by_a_landing_shell_ends_the_session_at_once() {
    require_root();
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is needed");
        return;
    }
    let user = LandingUser::new("cm");
    let dir = TempDir::new("cm");
    let mut s = settings(&user, &dir.0, GuardMode::Enforce);
    s.grace = Duration::from_secs(5);
    let g = start(s, &dir.0, Method::ProcConnector);
    let mut kids = Kids::default();
    // The shell forks `sleep` (it is not its last command): a command, not the helper.
    let script = format!(
        "{} setsid sh -c 'sleep 60; exit 0'\nexit 0\n",
        setpriv(&user)
    );
    let t0 = Instant::now();
    let w = kids.add(spawn(&mut fake_worker(&dir.0, &script)));
    let st = kids.wait_end(w, Duration::from_secs(4));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "worker: {st:?}");
    // Long before the shell's 5 s grace.
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(wait_kills(&g, 1), 1);
    let r = records(&g.audit);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["SSM_RUNAS_SESSION_ID"], SID);
    // Seen at its fork: the shell's copy, or `sleep` once it has exec'd.
    let why = r[0]["SSM_RUNAS_REASON"].as_str().unwrap();
    assert!(
        why.starts_with("landing-user command started in a session that did not switch accounts: "),
        "{why}"
    );
}

#[test]
#[ignore = "needs root"]
fn root_processes_in_the_session_are_never_killed() {
    require_root();
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is needed");
        return;
    }
    let user = LandingUser::new("rt");
    let dir = TempDir::new("rt");
    let g = start(
        settings(&user, &dir.0, GuardMode::Enforce),
        &dir.0,
        Method::ProcConnector,
    );
    let mut kids = Kids::default();
    // A new session whose leader forks a root `sleep 61`, then becomes the landing process.
    let script = format!(
        "setsid sh -c 'sleep 61 & exec {} sleep 60'\nexit 0\n",
        setpriv(&user)
    );
    let w = kids.add(spawn(&mut fake_worker(&dir.0, &script)));
    let wpid = kids.pid(w);
    let leader = wait_for(Duration::from_secs(2), || {
        children_of(wpid).into_iter().next()
    })
    .expect("the worker started its child");
    let root_sleep = wait_for(Duration::from_secs(2), || {
        children_of(leader).into_iter().next()
    })
    .expect("the root sleep started");
    let st = kids.wait_end(w, Duration::from_secs(4));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "worker: {st:?}");
    assert!(!exists(leader));
    assert!(
        exists(root_sleep),
        "a root process of the session was killed"
    );
    assert_eq!(wait_kills(&g, 1), 1);
    // Clean up: the orphan is init's child now; init reaps it.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(root_sleep),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
#[ignore = "needs root"]
fn the_switch_helper_is_never_killed() {
    require_root();
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is needed");
        return;
    }
    let user = LandingUser::new("hp");
    let dir = TempDir::new("hp");
    let s = settings(&user, &dir.0, GuardMode::Enforce);
    // Any program at the helper path, setuid root like the real one.
    fs::copy("/bin/sleep", &s.helper_path).unwrap();
    fs::set_permissions(&s.helper_path, fs::Permissions::from_mode(0o4755)).unwrap();
    let other = dir.0.join("not-the-helper");
    fs::copy("/bin/sleep", &other).unwrap();
    let helper_path = s.helper_path.clone();
    let g = start(s, &dir.0, Method::ProcConnector);
    let mut kids = Kids::default();
    // As in a session: the landing child of the worker execs the helper within its grace.
    let script = format!(
        "{} setsid {} 60\nexit 0\n",
        setpriv(&user),
        helper_path.display()
    );
    let w = kids.add(spawn(&mut fake_worker(&dir.0, &script)));
    let wpid = kids.pid(w);
    let helper = wait_for(Duration::from_secs(2), || {
        children_of(wpid).into_iter().next()
    })
    .expect("the worker started its landing child");
    // The same program at another path is not the helper.
    let o = kids.add(spawn(&mut as_user(&user, &other, &["60"])));
    assert!(killed(kids.wait_end(o, Duration::from_secs(2))));
    // Well past the 1 s grace, the helper still runs.
    std::thread::sleep(Duration::from_millis(1800));
    assert!(exists(helper), "the helper was killed");
    assert!(kids.running(w));
    assert_eq!(wait_kills(&g, 1), 1);
    let r = records(&g.audit);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["SSM_RUNAS_PEER_PID"], kids.pid(o));
    assert_eq!(wait_kills(&g, 1), 1);
    // A package upgrade: dpkg strips the setuid bit of the file it replaces (so no
    // hard link keeps a setuid copy), removes it and installs the new helper. The
    // running helper, which still runs as root, is still the helper.
    fs::set_permissions(&helper_path, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_file(&helper_path).unwrap();
    fs::copy("/bin/sleep", &helper_path).unwrap();
    fs::set_permissions(&helper_path, fs::Permissions::from_mode(0o4755)).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        exists(helper),
        "the upgrade made the running helper a violation"
    );
    assert_eq!(wait_kills(&g, 1), 1);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(helper),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
#[ignore = "needs root"]
fn the_person_is_told_on_the_terminal() {
    require_root();
    let user = LandingUser::new("tt");
    let dir = TempDir::new("tt");
    let g = start(
        settings(&user, &dir.0, GuardMode::Enforce),
        &dir.0,
        Method::ProcConnector,
    );
    let pty = nix::pty::openpty(None, None).unwrap();
    let master: OwnedFd = pty.master;
    let slave: OwnedFd = pty.slave;
    let mut cmd = Command::new("sleep");
    cmd.arg("60")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    let (uid, gid) = (user.uid, user.gid);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (setsid, ioctl, setgroups, setgid, setuid).
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            nix::unistd::setgroups(&[])?;
            nix::unistd::setgid(nix::unistd::Gid::from_raw(gid))?;
            nix::unistd::setuid(nix::unistd::Uid::from_raw(uid))?;
            Ok(())
        });
    }
    let mut kids = Kids::default();
    let i = kids.add(cmd.spawn().unwrap());
    assert!(killed(kids.wait_end(i, Duration::from_secs(3))));
    // The line is waiting on the master side.
    let mut f = fs::File::from(master);
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 256];
    while !got.ends_with(TERMINAL_LINE.as_bytes()) && Instant::now() < end {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&f),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).unwrap_or(0) == 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    // The pty turns "\n" into "\r\n" on output.
    let text = String::from_utf8_lossy(&got).replace("\r\r\n", "\r\n");
    assert!(
        text.contains("ssm-runas: this session did not switch accounts and is being closed"),
        "{text:?}"
    );
    assert_eq!(wait_kills(&g, 1), 1);
    drop(slave);
}
