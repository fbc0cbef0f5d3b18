//! Test support: users, directories, processes, ptys and PAM service files, each
//! removed again when dropped. Everything here assumes the tests run as root (CI
//! does); check [`is_root`] first and skip otherwise.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Whether the tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short string unique to this process and call.
fn unique() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:x}{:x}{:x}",
        std::process::id() % 0x10000,
        n,
        nanos % 0x1000
    )
}

/// Runs a command, failing with its stderr when it does not succeed.
fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether the session output `out` has a line that is `text`, maybe after the shell's
/// `$ ` prompt (a shell may print its prompt before the answer to a line typed earlier).
pub fn printed_line(out: &str, text: &str) -> bool {
    out.split("\r\n")
        .any(|l| l == text || l.strip_prefix("$ ") == Some(text))
}

/// Polls `ok` every 25 ms until it holds or `within` has passed; its last answer.
pub fn wait_until(within: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    ok()
}

/// For root-only tests, which are marked `#[ignore = "needs root"]` so that a run without
/// root lists them as ignored rather than passed; `scripts/test.sh` runs them as root with
/// `--include-ignored`. Run without root anyway, they stop here with this message.
pub fn require_root() {
    assert!(
        is_root(),
        "this test needs root (it creates users, setuid files and PAM services): run it as root, or leave out --include-ignored"
    );
}

/// Pids of the processes whose real uid is `uid`.
pub fn processes_of(uid: u32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok())
                    == Some(uid)
            })
        })
        .collect()
}

/// A local account created for one test; killed and removed (with its home) on drop.
#[derive(Debug)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    /// `useradd -m -U -s /bin/sh` with a unique lowercase name starting with `prefix`.
    pub fn create(prefix: &str) -> io::Result<TestUser> {
        TestUser::create_with(prefix, "/bin/sh", &[])
    }

    /// Like [`TestUser::create`] with a login shell and supplementary groups.
    pub fn create_with(prefix: &str, shell: &str, groups: &[&str]) -> io::Result<TestUser> {
        let prefix: String = prefix
            .chars()
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            .take(16)
            .collect();
        let name = format!("t{prefix}{}", unique());
        let name: String = name.chars().take(32).collect();
        let mut cmd = Command::new("useradd");
        cmd.args(["-m", "-U", "-s", shell]);
        if !groups.is_empty() {
            cmd.args(["-G", &groups.join(",")]);
        }
        cmd.arg(&name);
        // Parallel tests contend for the lock on /etc/passwd; retry a little.
        let mut tries = 0;
        loop {
            match run(&mut cmd) {
                Ok(()) => break,
                Err(e) if tries < 20 && e.to_string().contains("lock") => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
        let user = nix::unistd::User::from_name(&name)
            .map_err(io::Error::from)?
            .ok_or_else(|| io::Error::other(format!("{name} missing after useradd")))?;
        Ok(TestUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }

    /// The user's home directory.
    pub fn home(&self) -> PathBuf {
        PathBuf::from(format!("/home/{}", self.name))
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for _ in 0..20 {
            let pids = processes_of(self.uid);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for _ in 0..20 {
            match run(Command::new("userdel").args(["-r", &self.name])) {
                Err(e) if e.to_string().contains("lock") => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => break,
            }
        }
        let _ = run(Command::new("groupdel").arg(&self.name));
    }
}

/// A directory (mode 0755) removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new directory under `/tmp`.
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        TempDir::new_in(Path::new("/tmp"), prefix)
    }

    /// A new directory under `base`.
    pub fn new_in(base: &Path, prefix: &str) -> io::Result<TempDir> {
        let path = base.join(format!("{prefix}-{}", unique()));
        fs::create_dir(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Whether setuid bits are honoured on the filesystem of `path`.
fn allows_setuid(path: &Path) -> bool {
    nix::sys::statvfs::statvfs(path)
        .is_ok_and(|s| !s.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID))
}

/// A temporary directory, traversable by everyone, on a filesystem that honours
/// setuid bits (`/tmp`, else `/var/tmp`, else next to the test binaries).
pub fn suid_dir() -> io::Result<TempDir> {
    let mut bases = vec![PathBuf::from("/tmp"), PathBuf::from("/var/tmp")];
    if let Some(dir) = std::env::current_exe()?.parent() {
        bases.push(dir.to_path_buf());
    }
    for base in bases {
        if base.is_dir() && allows_setuid(&base) {
            return TempDir::new_in(&base, "ssm-runas-suid");
        }
    }
    Err(io::Error::other(
        "no filesystem without nosuid for setuid test binaries",
    ))
}

/// A child process killed and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bytes read so far from a child's stdout, shared with the reader thread.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    eof: bool,
}

/// A `fake-worker` running a session on a pty, driven through its stdin/stdout.
pub struct PtySession {
    child: Child,
    stdin: Option<ChildStdin>,
    captured: Arc<(Mutex<Captured>, Condvar)>,
    status: Option<ExitStatus>,
}

impl PtySession {
    /// Starts `worker_exe <session_id>` with the landing user, profile line and early
    /// input in `FAKE_WORKER_*` variables (argv keeps the real worker's shape).
    pub fn spawn(
        worker_exe: &Path,
        session_id: &str,
        landing: &str,
        profile: Option<&str>,
        early_input: Option<&str>,
    ) -> io::Result<PtySession> {
        let mut cmd = Command::new(worker_exe);
        cmd.arg(session_id).env("FAKE_WORKER_LANDING", landing);
        if let Some(p) = profile {
            cmd.env("FAKE_WORKER_PROFILE", p);
        }
        if let Some(e) = early_input {
            cmd.env("FAKE_WORKER_EARLY_INPUT", e);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let captured = Arc::new((Mutex::new(Captured::default()), Condvar::new()));
        let shared = Arc::clone(&captured);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = stdout.read(&mut buf).unwrap_or(0);
                let (lock, cvar) = &*shared;
                let Ok(mut c) = lock.lock() else { return };
                if n == 0 {
                    c.eof = true;
                    cvar.notify_all();
                    return;
                }
                c.bytes.extend_from_slice(&buf[..n]);
                cvar.notify_all();
            }
        });
        Ok(PtySession {
            child,
            stdin,
            captured,
            status: None,
        })
    }

    /// Types `s` into the session.
    pub fn send(&mut self, s: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("stdin closed"))?;
        stdin.write_all(s.as_bytes())?;
        stdin.flush()
    }

    /// Types `cmd` followed by an echo of `<marker>-done` until the output shows that
    /// marker, for up to 20 s, and returns the output so far. Input typed while the
    /// helper switches is flushed on purpose (it must never run as anyone), so the
    /// line is typed again until the mapped shell runs it. The quotes keep the
    /// terminal's echo of the typed line from matching.
    pub fn run(&mut self, cmd: &str, marker: &str) -> String {
        let line = format!("{cmd}; echo \"{marker}\"\"-done\"\n");
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if self.send(&line).is_err() {
                break;
            }
            if let Ok(out) = self.read_until(&format!("{marker}-done\r\n"), Duration::from_secs(1))
            {
                return out;
            }
        }
        panic!(
            "no {marker}-done (session output below):\n{}",
            self.output()
        )
    }

    /// Waits until the output contains `needle`; returns all output so far.
    pub fn read_until(&mut self, needle: &str, timeout: Duration) -> io::Result<String> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.captured;
        let mut c = lock.lock().map_err(|_| io::Error::other("poisoned"))?;
        loop {
            let text = String::from_utf8_lossy(&c.bytes).into_owned();
            if text.contains(needle) {
                return Ok(text);
            }
            let now = Instant::now();
            if c.eof || now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{needle:?} not seen ({}); output so far:\n{text}",
                        if c.eof { "session ended" } else { "timed out" }
                    ),
                ));
            }
            c = cvar
                .wait_timeout(c, deadline - now)
                .map_err(|_| io::Error::other("poisoned"))?
                .0;
        }
    }

    /// Waits up to `timeout` for the worker to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                self.status = Some(s);
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything read from the session so far.
    pub fn output(&self) -> String {
        let (lock, _) = &*self.captured;
        lock.lock()
            .map(|c| String::from_utf8_lossy(&c.bytes).into_owned())
            .unwrap_or_default()
    }

    /// The worker's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        self.stdin = None;
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            // Like TerminateSession: the worker kills its child and closes the pty.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            if !matches!(self.wait_exit(Duration::from_secs(3)), Ok(Some(_))) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// An exclusive lock shared by every test process: `flock` on a file in /run/lock.
pub struct GlobalLock {
    _lock: Flock<File>,
}

impl GlobalLock {
    /// Blocks until the lock named `name` is ours.
    pub fn acquire(name: &str) -> io::Result<GlobalLock> {
        let dir = if Path::new("/run/lock").is_dir() {
            "/run/lock"
        } else {
            "/tmp"
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(format!("{dir}/ssm-runas-tests-{name}.lock"))?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
        Ok(GlobalLock { _lock: lock })
    }
}

/// `/etc/pam.d/<service>` written for one test and restored on drop. Holds a lock
/// per service name so that tests in every test process take turns.
pub struct PamServiceFile {
    path: PathBuf,
    backup: Option<PathBuf>,
    // Dropped last: the file is restored before the next test may install its own.
    _lock: GlobalLock,
}

impl PamServiceFile {
    pub fn install(service: &str, contents: &str) -> io::Result<PamServiceFile> {
        if service.is_empty() || service.contains('/') || service.starts_with('.') {
            return Err(io::Error::other(format!("bad service name {service:?}")));
        }
        let lock = GlobalLock::acquire(&format!("pam-{service}"))?;
        let path = Path::new("/etc/pam.d").join(service);
        let backup = if path.exists() {
            let b = path.with_file_name(format!(".{service}.ssm-runas-tests-backup"));
            fs::rename(&path, &b)?;
            Some(b)
        } else {
            None
        };
        let tmp = path.with_file_name(format!(".{service}.ssm-runas-tests-{}", unique()));
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))?;
            fs::rename(&tmp, &path)
        })();
        let file = PamServiceFile {
            path,
            backup,
            _lock: lock,
        };
        written.map(|()| file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PamServiceFile {
    fn drop(&mut self) {
        match &self.backup {
            Some(b) => {
                let _ = fs::rename(b, &self.path);
            }
            None => {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}
