//! `/etc/pam.d/<service>` installed for the benchmark and restored on drop, under the
//! same lock the end-to-end tests take (`/run/lock/ssm-runas-tests-pam-<service>.lock`),
//! so a test run and a benchmark run never see each other's service file. Mirrors
//! `PamServiceFile` of the tests' harness.
#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// An installed service file; the previous one (if any) comes back on drop.
pub struct PamService {
    path: PathBuf,
    backup: Option<PathBuf>,
    _lock: Flock<File>,
}

impl PamService {
    /// Installs `contents` as `/etc/pam.d/<service>` (blocks while someone else holds it).
    pub fn install(service: &str, contents: &str) -> io::Result<PamService> {
        if service.is_empty() || service.contains('/') || service.starts_with('.') {
            return Err(io::Error::other(format!("bad service name {service:?}")));
        }
        let dir = if Path::new("/run/lock").is_dir() {
            "/run/lock"
        } else {
            "/tmp"
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(format!("{dir}/ssm-runas-tests-pam-{service}.lock"))?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
        let path = Path::new("/etc/pam.d").join(service);
        let backup = if path.exists() {
            let b = path.with_file_name(format!(".{service}.ssm-runas-bench-backup"));
            fs::rename(&path, &b)?;
            Some(b)
        } else {
            None
        };
        let tmp = path.with_file_name(format!(".{service}.ssm-runas-bench-{}", std::process::id()));
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))?;
            fs::rename(&tmp, &path)
        })();
        let svc = PamService {
            path,
            backup,
            _lock: lock,
        };
        written.map(|()| svc)
    }
}

impl Drop for PamService {
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
