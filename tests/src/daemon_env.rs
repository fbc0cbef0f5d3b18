//! A running `ssm-runasd` for tests, with everything it needs around it: a landing
//! user and mapped accounts, a fake SSM endpoint, a stand-in session worker at an
//! allowed path, and a setuid test client. Everything is removed on drop.
//!
//! Root only: tests that use it call [`crate::daemon_env::skip_unless_root`] first.
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::fake_ssm::{FakeSession, FakeSsm};
pub use crate::harness::require_root;
use crate::harness::{TempDir, TestUser, processes_of};

/// The instance the fake SSM and the daemon agree on.
pub const INSTANCE: &str = "i-0123456789abcdef0";

/// True when running as root; otherwise prints why the test is skipped.
pub fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        false
    } else {
        eprintln!("{test}: skipped (needs root)");
        true
    }
}

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/<test>-<hash> → target/debug
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// A built binary of the workspace, or a panic saying how to build it.
pub fn built(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// SIGKILLs every process whose real uid is `uid`.
pub fn kill_uid(uid: u32) {
    for pid in processes_of(uid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Copies `from` to `to` with `mode` (and, for setuid, root:`gid`).
pub fn install(from: &Path, to: &Path, mode: u32, gid: Option<u32>) {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::copy(from, to).expect("copy binary");
    if let Some(g) = gid {
        nix::unistd::chown(
            to,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(nix::unistd::Gid::from_raw(g)),
        )
        .expect("chown");
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The world around a daemon under test.
pub struct World {
    /// Scratch directory (config, socket, audit file, installed binaries).
    pub dir: TempDir,
    /// The landing user.
    pub landing: TestUser,
    /// Mapped accounts: `readonly` and `admin` roles of the test config.
    pub readonly: TestUser,
    /// See `readonly`.
    pub admin: TestUser,
    /// The fake SSM endpoint.
    pub fake: FakeSsm,
    /// The stand-in worker, at an allowed path.
    pub worker: PathBuf,
    /// The setuid test client.
    pub probe: PathBuf,
}

impl World {
    /// Sets up users, the fake endpoint and the binaries.
    pub fn new() -> World {
        let dir = TempDir::new("ssmr-d").expect("temp dir");
        let landing = TestUser::create("sl").expect("landing user");
        let readonly = TestUser::create("sr").expect("mapped user");
        let admin = TestUser::create("sa").expect("mapped user");
        let fake = FakeSsm::start();
        let worker = dir.path().join("agent/ssm-session-worker");
        install(&built("mini-worker"), &worker, 0o755, None);
        let probe = dir.path().join("libexec/runas-probe");
        install(&built("runas-probe"), &probe, 0o4755, Some(0));
        World {
            dir,
            landing,
            readonly,
            admin,
            fake,
            worker,
            probe,
        }
    }

    /// The config text: the world's users, the fake endpoint, and `extra` appended.
    pub fn config(&self, extra: &str) -> String {
        format!(
            r#"landing_user = "{landing}"
strip_domain = "example.com"

[aws]
region = "us-east-1"
endpoint_url = "{url}"
instance_id = "{INSTANCE}"

[resolver]
worker_paths = ["{worker}"]
deadline_secs = 3

[daemon]
socket = "{dir}/ssm-runasd.sock"
client_timeout_secs = 2

[audit]
journald = false
file = "{dir}/audit.jsonl"

# Tests of the daemon alone run clients outside sessions on purpose: the guard
# only records them. The guard's own tests switch it to enforce.
[guard]
mode = "audit"
helper_path = "{dir}/libexec/ssm-runas-login"

[[rule]]
principal = "mallory"
deny = "Your access is suspended"

[[rule]]
permission_set = "ReadOnly"
linux_user = "{ro}"

[[rule]]
permission_set = "Admin"
linux_user = "{admin}"
groups = ["adm"]
{extra}"#,
            landing = self.landing.name,
            url = self.fake.url(),
            worker = self.worker.display(),
            dir = self.dir.path().display(),
            ro = self.readonly.name,
            admin = self.admin.name,
        )
    }

    /// Writes the agent's state file for `session` (from the real-format fixture),
    /// root-owned 0600 under `<dir>/agent-state/<instance>/document/state/current/`.
    pub fn write_agent_state(&self, session: &str, permission_set: &str, person: &str) {
        let fixture = include_str!("../fixtures/agent-state/agent-state-standard-stream.json");
        let owner = format!(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_{permission_set}_0123456789abcdef/{person}"
        );
        let text = fixture
            .replace("alice@example.com-0a1b2c3d4e5f6a7b8", session)
            .replace(
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_DevOps_0123456789abcdef/alice@example.com",
                &owner,
            );
        let dir = self
            .dir
            .path()
            .join(format!("agent-state/{INSTANCE}/document/state/current"));
        std::fs::create_dir_all(&dir).expect("mkdir state");
        let path = dir.join(session);
        std::fs::write(&path, text).expect("write state");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    /// Adds a Connected session of this instance to the fake SSM.
    pub fn add_session(&self, id: &str, permission_set: &str, person: &str) {
        self.fake.add_session(FakeSession::connected(
            id,
            INSTANCE,
            &format!(
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_{permission_set}_0123456789abcdef/{person}"
            ),
        ));
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("ssm-runasd.sock")
    }

    /// Runs the probe with `args` inside a session: worker (root, argv[1] = `session`)
    /// → child as `uid`:`gid` → the setuid probe. Returns the probe's JSON answer.
    pub fn in_session(
        &self,
        worker: &Path,
        session: &str,
        uid: u32,
        gid: u32,
        args: &[&str],
    ) -> serde_json::Value {
        json_of(
            self.worker_command(worker, session, uid, gid, args)
                .output()
                .expect("run worker"),
        )
    }

    /// The command that runs the probe with `args` under `worker` (see [`World::in_session`]).
    pub fn worker_command(
        &self,
        worker: &Path,
        session: &str,
        uid: u32,
        gid: u32,
        args: &[&str],
    ) -> Command {
        let mut argv = vec![
            self.probe.display().to_string(),
            self.socket().display().to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let mut cmd = Command::new(worker);
        cmd.arg(session)
            .env("MINI_WORKER_UID", uid.to_string())
            .env("MINI_WORKER_GID", gid.to_string())
            .env(
                "MINI_WORKER_CMD",
                serde_json::to_string(&argv).unwrap_or_default(),
            );
        cmd
    }

    /// Waits for the daemon's start-up calls to AWS (identity, permission probe), then
    /// zeroes the fake's counters so a test counts only its own calls.
    pub fn settle(&self) {
        let end = Instant::now() + Duration::from_secs(5);
        while (self.fake.calls() < 1 || self.fake.sts_calls() < 1) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.fake.reset_counts();
    }

    /// The JSON audit records written so far.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until an audit record satisfies `pred`.
    pub fn wait_audit(
        &self,
        pred: impl Fn(&serde_json::Value) -> bool,
        timeout: Duration,
    ) -> Option<serde_json::Value> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(r) = self.audit().into_iter().find(|r| pred(r)) {
                return Some(r);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// Parses the probe's one JSON line.
pub fn json_of(out: Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        serde_json::json!({
            "unparsed": text.to_string(),
            "stderr": String::from_utf8_lossy(&out.stderr).to_string(),
            "status": out.status.code(),
        })
    })
}

/// A running `ssm-runasd`; SIGTERMed (then killed) on drop.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// Its config file.
    pub config: PathBuf,
    notify: UnixDatagram,
    _notify_dir: TempDir,
    log_path: PathBuf,
}

impl Daemon {
    /// Writes `config` and starts the daemon; returns once it said READY=1.
    pub fn start(world: &World, config: &str) -> io::Result<Daemon> {
        Daemon::start_in(world, config, None)
    }

    /// [`Daemon::start`], inside `journal`'s private `/run` so that its audit
    /// records go to that real, standalone journald.
    pub fn start_in(
        world: &World,
        config: &str,
        journal: Option<&crate::journal::PrivateJournal>,
    ) -> io::Result<Daemon> {
        Daemon::spawn(
            world,
            config,
            journal,
            &[("AWS_EC2_METADATA_DISABLED", "true")],
        )
    }

    /// [`Daemon::start_in`] with extra environment variables.
    pub fn spawn(
        world: &World,
        config: &str,
        journal: Option<&crate::journal::PrivateJournal>,
        envs: &[(&str, &str)],
    ) -> io::Result<Daemon> {
        Daemon::spawn_in_dir(world.dir.path(), config, journal, envs)
    }

    /// Starts the daemon with its config and log in `dir`.
    pub fn spawn_in_dir(
        dir: &Path,
        config: &str,
        journal: Option<&crate::journal::PrivateJournal>,
        envs: &[(&str, &str)],
    ) -> io::Result<Daemon> {
        let path = dir.join("config.toml");
        std::fs::write(&path, config)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        let notify_dir = TempDir::new("ssmr-n")?;
        let notify_path = notify_dir.path().join("notify");
        let notify = UnixDatagram::bind(&notify_path)?;
        notify.set_read_timeout(Some(Duration::from_millis(200)))?;
        let log_path = dir.join("daemon.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut cmd = match journal {
            Some(j) => j.command(built("ssm-runasd")),
            None => Command::new(built("ssm-runasd")),
        };
        let child = cmd
            .arg("--config")
            .arg(&path)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env_remove("AWS_PROFILE")
            .envs(envs.iter().copied())
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()?;
        let mut d = Daemon {
            child,
            config: path,
            notify,
            _notify_dir: notify_dir,
            log_path,
        };
        d.wait_notify("READY=1", Duration::from_secs(20))?;
        Ok(d)
    }

    /// Waits for a notify message containing `what`.
    pub fn wait_notify(&mut self, what: &str, timeout: Duration) -> io::Result<String> {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                let log = self.stop_and_log();
                return Err(io::Error::other(format!(
                    "ssm-runasd exited ({st}) before {what}:\n{log}"
                )));
            }
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                if msg.contains(what) {
                    return Ok(msg);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no {what} from ssm-runasd"),
        ))
    }

    /// Sends a signal.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 10 s) and returns its stderr.
    pub fn stop_and_log(&mut self) -> String {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }

    /// What the daemon has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.stop_and_log();
    }
}

/// The switch installed around a [`World`]: the setuid helper at the config's
/// `helper_path`, the pty-faithful fake worker at a second allowed worker path,
/// and `/etc/pam.d/ssm-runas` — the packaged Debian file with the built module by
/// absolute path and the world's socket (restored on drop). The login records
/// the helper writes for the world's accounts are removed again on drop.
pub struct Switch {
    /// The installed helper.
    pub helper: PathBuf,
    /// The fake worker copy.
    pub pty_worker: PathBuf,
    _records: crate::login_files::LoginFiles,
    _pam: crate::harness::PamServiceFile,
}

impl Switch {
    /// Installs the helper, the pty worker and the PAM service.
    pub fn install(w: &World) -> Switch {
        let helper = w.dir.path().join("libexec/ssm-runas-login");
        install(
            &built("ssm-runas-login"),
            &helper,
            0o4750,
            Some(w.landing.gid),
        );
        let pty_worker = w.dir.path().join("pty-agent/ssm-session-worker");
        install(&built("fake-worker"), &pty_worker, 0o755, None);
        let packaged = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/pam.d/ssm-runas.debian"),
        )
        .expect("packaged PAM service file");
        let service = packaged.replace(
            "pam_ssm_runas.so",
            &format!(
                "{} socket={}",
                built("libpam_ssm_runas.so").display(),
                w.socket().display()
            ),
        );
        let pam = crate::harness::PamServiceFile::install("ssm-runas", &service)
            .expect("install /etc/pam.d/ssm-runas");
        // Under the PAM file's lock: one switch test at a time writes login records.
        let records = crate::login_files::LoginFiles::new(&[
            (&w.landing.name, w.landing.uid),
            (&w.readonly.name, w.readonly.uid),
            (&w.admin.name, w.admin.uid),
        ]);
        Switch {
            helper,
            pty_worker,
            _records: records,
            _pam: pam,
        }
    }

    /// The Session Manager shell profile line.
    pub fn profile(&self) -> String {
        format!("exec {}", self.helper.display())
    }

    /// The world's config with the pty worker allowed too, and the guard in `mode`.
    pub fn config(&self, w: &World, guard_mode: &str, extra: &str) -> String {
        w.config(extra)
            .replace("mode = \"audit\"", &format!("mode = \"{guard_mode}\""))
            .replace(
                &format!("worker_paths = [\"{}\"]", w.worker.display()),
                &format!(
                    "worker_paths = [\"{}\", \"{}\"]",
                    w.worker.display(),
                    self.pty_worker.display()
                ),
            )
    }

    /// A session as the agent starts it, typing the profile line.
    pub fn session(&self, w: &World, sid: &str) -> crate::harness::PtySession {
        crate::harness::PtySession::spawn(
            &self.pty_worker,
            sid,
            &w.landing.name,
            Some(&self.profile()),
            None,
        )
        .expect("fake worker")
    }
}
