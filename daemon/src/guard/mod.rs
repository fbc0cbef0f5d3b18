//! The landing guard: makes `deny` mean deny.
//!
//! Every session lands as the powerless landing user; the shell profile line
//! `exec <switch helper>` typed into the pty is what switches it, and it is not a
//! security boundary (a Ctrl-C in the same burst discards it). The guard watches every
//! process whose real or effective uid is the landing user and allows only:
//!
//! 1. the switch helper itself: `/proc/<pid>/exe` is the installed helper (same device and
//!    inode as `helper_path`, or a deleted root-owned setuid file that was at that path,
//!    as after a package upgrade);
//! 2. a process that is the **direct child** of a verified session worker (root, `exe` an
//!    allowed worker path, `argv[1]` a well-formed SessionId) for at most `grace` after the
//!    kernel started it — the landing shell, until it has exec'd the helper.
//!
//! Everything else with the landing uid is a violation: a landing shell past its grace, any
//! command a landing shell started, a landing-user process outside any SSM session. In
//! `enforce` mode the guard writes one line to the session's terminal and SIGKILLs the
//! session (see [`GuardHandle`]); in `audit` mode it only records; `off` runs nothing.
//! One audit record per violation (`guard-kill` / `guard-audit`), never twice for the same
//! session.
//!
//! The guard learns of processes from the kernel's process-event connector (netlink,
//! `CN_IDX_PROC`: fork, exec and uid-change events, acted on as they arrive) when it can be
//! opened, and always also scans `/proc` every `scan_interval` (the fallback, the safety
//! net for lost events, and the clock for grace periods). `docs/guard.md` describes it for
//! administrators.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::ancestry::{self, AncestryError, Worker, WorkerPolicy};
use crate::audit::{AuditRecord, Auditor, Decision};
use crate::config::{self, GuardMode};
use crate::peer;
use crate::session_id::{is_instance_id, is_session_id};

/// How long the agent gets to read [`TERMINAL_LINE`] from a frozen session before it
/// is killed.
const TERMINAL_LINE_GRACE: Duration = Duration::from_millis(150);

/// What the guard writes to the terminal of a session it closes.
pub const TERMINAL_LINE: &str =
    "\r\nssm-runas: this session did not switch accounts and is being closed\r\n";

/// Longest command line kept in an audit reason, in characters.
const MAX_COMMAND_CHARS: usize = 200;
/// What the kernel appends to `/proc/<pid>/exe` when the file was replaced or removed.
const DELETED_SUFFIX: &str = " (deleted)";
/// With process events, the cache of "not a landing process" is thrown away this often
/// anyway, so a lost event cannot hide a process for long.
const CACHE_REFRESH_EVENTS: Duration = Duration::from_secs(30);
/// With the scan alone, every process's uids are re-read this often; in between, only
/// processes whose `/proc/<pid>` inode or owner changed are (see [`Known`]).
const CACHE_REFRESH_SCAN: Duration = Duration::from_secs(5);

/// What the guard needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSettings {
    /// enforce | audit | off.
    pub mode: GuardMode,
    /// How long a fresh landing shell may live before it must have exec'd the helper.
    pub grace: Duration,
    /// Interval of the `/proc` scan (always run, also when process events work).
    pub scan_interval: Duration,
    /// The installed switch helper.
    pub helper_path: PathBuf,
    /// The landing user's uid (never 0).
    pub landing_uid: u32,
    /// Where a session worker's executable may live.
    pub worker_policy: WorkerPolicy,
    /// `/proc`. Any other root (a fake tree in tests) is only read: nothing is signalled.
    pub proc_root: PathBuf,
}

impl GuardSettings {
    /// The settings for a validated `[guard]` section, the landing user's uid and the
    /// configured worker paths, on the real `/proc`.
    pub fn new(guard: &config::Guard, landing_uid: u32, worker_paths: &[String]) -> GuardSettings {
        GuardSettings {
            mode: guard.mode,
            grace: guard.grace,
            scan_interval: guard.scan_interval,
            helper_path: guard.helper_path.clone(),
            landing_uid,
            worker_policy: WorkerPolicy {
                allowed_paths: worker_paths.to_vec(),
            },
            proc_root: PathBuf::from("/proc"),
        }
    }

    fn scan_interval(&self) -> Duration {
        self.scan_interval.max(Duration::from_millis(10))
    }
}

/// How the guard learns of new processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The kernel's process-event connector, plus the periodic `/proc` scan.
    ProcConnector,
    /// The periodic `/proc` scan only.
    ProcScan,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::ProcConnector => f.write_str("process events (proc connector)"),
            Method::ProcScan => f.write_str("/proc scan"),
        }
    }
}

/// Called from the guard's thread for each new verified session worker. Must not block
/// (hand the work to another thread or task).
pub type OnWorker = Arc<dyn Fn(&Worker) + Send + Sync>;

mod clock;
mod connector;
mod engine;
mod handle;
mod procfs;
mod signal;
mod terminal;
#[cfg(test)]
mod tests;

use clock::*;
use procfs::*;
use signal::*;
use terminal::*;

pub use handle::{GuardHandle, spawn, spawn_with_method};
