//! What every part of the suite needs around the daemon: commands run inside a
//! simulated session, `/proc` readings of the daemon, the bench client installed
//! setuid root. Built on `ssm_runas_tests::daemon_env`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;
use ssm_runas_tests::daemon_env::{World, built, install};

/// A stable, well-formed SessionId for benchmark session `i` of scenario `tag`.
pub fn session_id(tag: &str, i: usize) -> String {
    format!("bench{tag}{i}-{:017x}", 0x0a1b_2c3d_4e5f_0000u64 + i as u64)
}

/// `argv` run by the stand-in worker `ssm-session-worker <session>` as `uid:gid`: the
/// process tree the daemon accepts (root worker at an allowed path → landing user).
pub fn under_worker(world: &World, session: &str, uid: u32, gid: u32, argv: &[String]) -> Command {
    under(&world.worker, session, uid, gid, argv)
}

/// [`under_worker`] with another copy of the stand-in worker.
pub fn under(worker: &Path, session: &str, uid: u32, gid: u32, argv: &[String]) -> Command {
    let mut cmd = Command::new(worker);
    cmd.arg(session)
        .env("MINI_WORKER_UID", uid.to_string())
        .env("MINI_WORKER_GID", gid.to_string())
        .env(
            "MINI_WORKER_CMD",
            serde_json::to_string(argv).unwrap_or_default(),
        );
    cmd
}

/// Installs `bench-client` setuid root, executable by the landing group only.
pub fn install_client(world: &World) -> PathBuf {
    let to = world.dir.path().join("libexec/bench-client");
    install(&built("bench-client"), &to, 0o4750, Some(world.landing.gid));
    to
}

/// The world's config with the resolver's deadline set to `deadline_secs` and `extra`
/// lines added to `[resolver]`.
pub fn config(world: &World, deadline_secs: u64, resolver_extra: &str) -> String {
    world.config("").replace(
        "deadline_secs = 3",
        &format!("deadline_secs = {deadline_secs}\n{resolver_extra}"),
    )
}

/// Memory figures of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Mem {
    /// Resident set size now (KiB).
    pub vm_rss_kib: u64,
    /// Peak resident set size (KiB).
    pub vm_hwm_kib: u64,
    /// Number of threads.
    pub threads: u64,
}

/// Reads [`Mem`] of `pid`.
pub fn mem(pid: u32) -> Mem {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Mem {
        vm_rss_kib: field("VmRSS:"),
        vm_hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
    }
}

/// CPU time (user + system) used by `pid` so far, in seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: field 3 is f[0], so utime (14) is f[11], stime (15) f[12].
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1);
    ticks as f64 / hz as f64
}

/// Samples [`Mem`] of `pid` every 50 ms until `stop` turns true; returns the largest RSS
/// seen and the largest thread count.
pub fn sample_peak(pid: u32, stop: &std::sync::atomic::AtomicBool) -> Mem {
    let mut peak = Mem::default();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let m = mem(pid);
        peak.vm_rss_kib = peak.vm_rss_kib.max(m.vm_rss_kib);
        peak.vm_hwm_kib = peak.vm_hwm_kib.max(m.vm_hwm_kib);
        peak.threads = peak.threads.max(m.threads);
        std::thread::sleep(Duration::from_millis(50));
    }
    peak
}

/// The 1-minute load average (a noise indicator recorded with the results).
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Size of a file in bytes, when it exists.
pub fn file_size(p: &Path) -> Option<u64> {
    std::fs::metadata(p).ok().map(|m| m.len())
}

/// Seconds since `t`, as f64 milliseconds.
pub fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
