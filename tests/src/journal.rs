//! A standalone systemd-journald for tests, private to one test, and reading its
//! records back.
//!
//! Programs log to journald through the fixed path `/run/systemd/journal/socket`. So a
//! temporary directory plays the role of `/run`: journald runs in its own mount
//! namespace with that directory bind-mounted on `/run`, and every program under test
//! is started in another mount namespace with the same directory on `/run`. A Unix
//! socket path resolves to the same inode in both, so the program reaches this
//! journald and nothing else; the host's journal (if any) is never touched. Records
//! are read with `journalctl --directory <run>/log/journal -o json`.
//!
//! Needs root (mount namespaces), `unshare` and `mount` from util-linux, `sh`, and
//! `/lib/systemd/systemd-journald` + `journalctl`; see [`available`].
//!
//! What running journald standalone takes (systemd 252):
//! - no flags: any argument is a journal *namespace* name (`systemd-journald --help`
//!   starts a namespaced journald writing persistently to
//!   `/var/log/journal/<machine-id>.--help` and listening on
//!   `/run/systemd/journal.--help/`). Namespaced journals do not use the default
//!   socket path, so the default instance is the one to run.
//! - it creates `/run/systemd/journal/{socket,stdout,dev-log,io.systemd.journal}` itself
//!   when not socket-activated, and writes `/run/log/journal/<machine-id>/system.journal`
//!   (volatile) until it is asked to flush, which never happens here. To be safe against
//!   a host configuration, its namespace also gets a private empty `/var/log/journal`
//!   and a private `journald.conf` (volatile storage, no kmsg import, no forwarding, no
//!   rate limit).
//! - `mount` writes `/run/mount/utab` through libmount unless given `-n`; the scripts
//!   here use `mount -n` so the host's `/run` is never written.
//! - the mounts live only in the namespaces: they vanish when the last process in them
//!   exits, so nothing needs unmounting.
//! - there is no `journalctl --flush`/`--sync` for a standalone journald; entries are
//!   written to the file as they arrive, so readers poll ([`PrivateJournal::wait_for`]).

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// Where Debian/Ubuntu (and most others, via `/lib` → `/usr/lib`) install journald.
pub const JOURNALD: &str = "/lib/systemd/systemd-journald";

/// One journal entry as `journalctl -o json` prints it.
pub type Record = Map<String, Value>;

/// Runs `"$@"` with `$1` bind-mounted on `/run` (the caller has already entered a new,
/// private mount namespace). Fixed text: all data arrive in argv.
const RUN_WITH_RUN_DIR: &str = r#"set -e
run="$1"; shift
mount -n --bind "$run" /run
exec "$@""#;

/// The same for journald: `$1` on `/run`, `$2/journald.conf` on the host's config file
/// and `$2/var-log-journal` on `/var/log/journal`, when those exist.
const RUN_JOURNALD: &str = r#"set -e
run="$1"; aux="$2"; shift 2
mount -n --bind "$run" /run
if [ -f /etc/systemd/journald.conf ]; then
  mount -n --bind "$aux/journald.conf" /etc/systemd/journald.conf
fi
if [ -d /var/log/journal ]; then
  mount -n --bind "$aux/var-log-journal" /var/log/journal
fi
exec "$@""#;

const JOURNALD_CONF: &str = "[Journal]
Storage=volatile
ReadKMsg=no
Audit=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
RateLimitIntervalSec=0
";

fn find_in_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Whether a private journald can run here: journald and journalctl installed,
/// `unshare` and `mount` available, and we are root.
pub fn available() -> bool {
    nix::unistd::geteuid().is_root()
        && Path::new(JOURNALD).is_file()
        && ["journalctl", "unshare", "mount", "sh"]
            .iter()
            .all(|p| find_in_path(p))
}

/// A fresh directory under the system temp dir, mode 0700.
fn unique_dir(prefix: &str) -> io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary directory name",
    ))
}

/// A [`Command`] that runs `program` in a new private mount namespace where `run_dir`
/// is mounted on `/run`. The caller adds arguments, environment and stdio as usual.
/// The process id of the spawned child is the program's own (`unshare` and `sh` exec).
/// Note that everything else under the real `/run` is hidden from the program.
pub fn command_with_run_dir(run_dir: &Path, program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(RUN_WITH_RUN_DIR)
        .arg("sh")
        .arg(run_dir)
        .arg(program);
    c
}

/// A standalone journald in its own mount namespace, with a temporary directory as
/// its `/run`. Dropping it stops journald and removes the directory.
#[derive(Debug)]
pub struct PrivateJournal {
    /// Holds `run/` (the journald's `/run`) and `aux/` (its private config).
    root: PathBuf,
    run: PathBuf,
    journald: Option<Child>,
}

impl PrivateJournal {
    /// Starts journald and waits (up to 10 s) until its socket exists.
    pub fn start() -> io::Result<PrivateJournal> {
        let root = unique_dir("ssm-runas-journal")?;
        let mut j = PrivateJournal {
            run: root.join("run"),
            root,
            journald: None,
        };
        let aux = j.root.join("aux");
        std::fs::create_dir(&j.run)?;
        std::fs::set_permissions(&j.run, std::fs::Permissions::from_mode(0o755))?;
        std::fs::create_dir(&aux)?;
        std::fs::create_dir(aux.join("var-log-journal"))?;
        std::fs::write(aux.join("journald.conf"), JOURNALD_CONF)?;
        let stderr = std::fs::File::create(aux.join("journald.stderr"))?;
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(RUN_JOURNALD)
            .arg("sh")
            .arg(&j.run)
            .arg(&aux)
            .arg(JOURNALD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        j.journald = Some(child);
        let socket = j.run.join("systemd/journal/socket");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if let Some(child) = j.journald.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let err = std::fs::read_to_string(aux.join("journald.stderr")).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "systemd-journald exited ({status}) before creating its socket: {err}"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "systemd-journald did not create its socket within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(j)
    }

    /// The directory that is `/run` for journald and for [`PrivateJournal::command`].
    pub fn run_dir(&self) -> &Path {
        &self.run
    }

    /// The pid of journald.
    pub fn pid(&self) -> Option<u32> {
        self.journald.as_ref().map(Child::id)
    }

    /// A [`Command`] running `program` where `/run` is this journal's run dir, so that
    /// what it sends to journald arrives here. See [`command_with_run_dir`].
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        command_with_run_dir(&self.run, program)
    }

    /// All entries so far (journald's own start messages included), oldest first.
    pub fn records(&self) -> io::Result<Vec<Record>> {
        let dir = self.run.join("log/journal");
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let out = Command::new("journalctl")
            .arg("--directory")
            .arg(&dir)
            .args(["--output=json", "--all", "--no-pager", "--quiet"])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "journalctl failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut records = Vec::new();
        for line in out.stdout.split(|&b| b == b'\n') {
            if line.first() != Some(&b'{') {
                continue;
            }
            match serde_json::from_slice(line) {
                Ok(Value::Object(m)) => records.push(m),
                Ok(_) | Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "journalctl printed a line that is not a JSON object: {}",
                            String::from_utf8_lossy(line)
                        ),
                    ));
                }
            }
        }
        Ok(records)
    }

    /// Polls [`PrivateJournal::records`] until `count` entries satisfy `pred` and
    /// returns them, or fails with `TimedOut` after `timeout`.
    pub fn wait_for_n(
        &self,
        count: usize,
        pred: impl Fn(&Record) -> bool,
        timeout: Duration,
    ) -> io::Result<Vec<Record>> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.records()?;
            let found: Vec<Record> = all.iter().filter(|r| pred(r)).cloned().collect();
            if found.len() >= count {
                return Ok(found);
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} of {count} expected journal entries after {timeout:?} ({} entries in all)",
                        found.len(),
                        all.len()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls until an entry satisfies `pred` and returns the first such entry.
    pub fn wait_for(
        &self,
        pred: impl Fn(&Record) -> bool,
        timeout: Duration,
    ) -> io::Result<Record> {
        let mut found = self.wait_for_n(1, pred, timeout)?;
        Ok(found.swap_remove(0))
    }
}

impl Drop for PrivateJournal {
    fn drop(&mut self) {
        if let Some(mut child) = self.journald.take() {
            // The child is journald itself (unshare and sh exec). Its mount namespace,
            // and with it the bind mounts, goes away when it exits.
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A field of an entry as text. `journalctl -o json` prints a value that is not
/// printable UTF-8 (a newline, say) as an array of byte values, and a field that
/// occurs more than once as an array of values; the first value is returned.
pub fn field(record: &Record, name: &str) -> Option<String> {
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) if items.iter().all(Value::is_u64) => {
                let bytes: Option<Vec<u8>> = items
                    .iter()
                    .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect();
                bytes.map(|b| String::from_utf8_lossy(&b).into_owned())
            }
            Value::Array(items) => items.first().and_then(text),
            _ => None,
        }
    }
    record.get(name).and_then(text)
}
