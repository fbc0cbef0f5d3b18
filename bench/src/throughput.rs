//! Part 2: decision throughput of the daemon on a warm cache.
//!
//! One session whose owner is cached; `bench-client` (setuid root, run by the stand-in
//! worker as the landing user) opens N threads that each send `Resolve` on a new
//! connection in a loop, so every request costs a full peer identification (SO_PEERCRED,
//! pidfd, the /proc walk to the worker), a rule decision, an account lookup and an audit
//! record. Baseline in the same run, same daemon, same client binary: `Status` sent by
//! root (the daemon answers it in full only to a real uid 0), which takes the same socket
//! path and one `/proc/<pid>/status` read but skips the walk to the worker, the decision
//! and the audit record — the ratio is the cost of deciding on top of the plumbing.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use ssm_runas_tests::daemon_env::{Daemon, World};

use crate::env::{self, Mem};
use crate::stats::{Summary, summarize};

/// What to run.
pub struct Opts {
    /// Concurrent clients per level.
    pub levels: Vec<usize>,
    /// Seconds per run.
    pub secs: f64,
    /// Runs per level and request kind.
    pub reps: usize,
    /// Whether to measure the `Status` baseline (off only when profiling).
    pub baseline: bool,
}

/// One level's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Level {
    /// Concurrent clients.
    pub clients: usize,
    /// Warm decisions per second (over the runs).
    pub decisions_per_s: Summary,
    /// Per-run p50 latency in µs (over the runs).
    pub p50_us: Summary,
    /// Per-run p99 latency in µs (over the runs).
    pub p99_us: Summary,
    /// Baseline (`Status`) answers per second.
    pub baseline_per_s: Summary,
    /// Baseline p50 latency in µs.
    pub baseline_p50_us: Summary,
    /// Baseline p99 latency in µs.
    pub baseline_p99_us: Summary,
    /// Median decisions/s over median baseline answers/s.
    pub ratio_to_baseline: f64,
    /// Daemon CPU seconds per decision, in µs (median over runs).
    pub daemon_cpu_us_per_decision: f64,
    /// Daemon CPU use during the Resolve runs, in cores (median over runs).
    pub daemon_cores: f64,
    /// Answers that were not Allow, and socket failures, over all Resolve runs.
    pub bad_answers: u64,
    /// The first problem a client saw, if any.
    pub first_problem: Option<String>,
    /// Every run's raw client report.
    pub runs: Vec<Value>,
}

/// The whole part's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Result {
    /// Per concurrency level.
    pub levels: Vec<Level>,
    /// DescribeSessions calls made during the measured runs (a warm cache makes none).
    pub api_calls_during_runs: usize,
    /// Daemon memory before the load.
    pub mem_before: Mem,
    /// Largest RSS sampled during the load, and VmHWM afterwards.
    pub mem_peak_under_load: Mem,
    /// `[daemon] max_connections` in force.
    pub max_connections: u64,
    /// Audit sink used.
    pub audit_sink: &'static str,
}

struct Run {
    report: Value,
    cpu_s: f64,
}

/// What a run talks to.
struct Bench<'a> {
    world: &'a World,
    client: &'a std::path::Path,
    session: &'a str,
    pid: u32,
}

fn run_client(
    b: &Bench<'_>,
    kind: &str,
    clients: usize,
    secs: f64,
    peak: &mut Mem,
) -> std::result::Result<Run, String> {
    // Keep the audit file from growing to gigabytes (the daemon appends with O_APPEND).
    let Bench {
        world,
        client,
        session,
        pid,
    } = *b;
    let _ = std::fs::write(world.dir.path().join("audit.jsonl"), b"");
    let argv = vec![
        client.display().to_string(),
        world.socket().display().to_string(),
        kind.to_string(),
        clients.to_string(),
        secs.to_string(),
    ];
    let stop = AtomicBool::new(false);
    let cpu0 = env::cpu_secs(pid);
    let (out, sampled) = std::thread::scope(|s| {
        let sampler = s.spawn(|| env::sample_peak(pid, &stop));
        // `Status` is answered in full only to a caller whose real uid is root too, so
        // the baseline client runs as root, outside any session.
        let out = if kind == "status" {
            std::process::Command::new(client).args(&argv[1..]).output()
        } else {
            env::under_worker(world, session, world.landing.uid, world.landing.gid, &argv).output()
        };
        stop.store(true, Ordering::Relaxed);
        (out, sampler.join().unwrap_or_default())
    });
    let cpu_s = env::cpu_secs(pid) - cpu0;
    peak.vm_rss_kib = peak.vm_rss_kib.max(sampled.vm_rss_kib);
    peak.vm_hwm_kib = peak.vm_hwm_kib.max(sampled.vm_hwm_kib);
    peak.threads = peak.threads.max(sampled.threads);
    let out = out.map_err(|e| format!("cannot run the bench client: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(text.trim()).map_err(|_| {
        format!(
            "bench client said {:?} / {:?} (status {:?})",
            text,
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        )
    })?;
    Ok(Run { report, cpu_s })
}

fn f(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64().unwrap_or(0.0)
}

/// Runs part 2.
pub fn run(opts: &Opts) -> std::result::Result<Result, String> {
    let world = World::new();
    eprintln!("throughput: world in {}", world.dir.path().display());
    let client = env::install_client(&world);
    let cfg = env::config(&world, 10, "");
    let daemon = Daemon::start(&world, &cfg).map_err(|e| e.to_string())?;
    world.settle();
    let pid = daemon.child.id();
    eprintln!("throughput: ssm-runasd is pid {pid}");
    let session = env::session_id("t", 0);
    world.add_session(&session, "ReadOnly", "alice");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mem_before = env::mem(pid);
    let mut peak = Mem::default();
    let bench = Bench {
        world: &world,
        client: &client,
        session: &session,
        pid,
    };
    // Warm the cache (one lookup through the fake SSM), and check the path works.
    let warm = run_client(&bench, "resolve", 1, 0.3, &mut peak)?;
    if f(&warm.report, &["expected_answers"]) < 1.0 {
        return Err(format!(
            "warm-up got no Allow: {}\n{}",
            warm.report,
            daemon.log()
        ));
    }
    let calls_warm = world.fake.calls();
    let mut levels = Vec::new();
    for &n in &opts.levels {
        let (mut res, mut base) = (Vec::new(), Vec::new());
        for _ in 0..opts.reps {
            // Interleaved so that both see the same background noise.
            if opts.baseline {
                base.push(run_client(&bench, "status", n, opts.secs, &mut peak)?);
            }
            res.push(run_client(&bench, "resolve", n, opts.secs, &mut peak)?);
        }
        let col = |runs: &[Run], path: &[&str]| -> Vec<f64> {
            runs.iter().map(|r| f(&r.report, path)).collect()
        };
        let decisions = summarize(&col(&res, &["per_s"]));
        let baseline = summarize(&col(&base, &["per_s"]));
        let cpu_per: Vec<f64> = res
            .iter()
            .map(|r| {
                let d = f(&r.report, &["expected_answers"]).max(1.0);
                r.cpu_s / d * 1e6
            })
            .collect();
        let cores: Vec<f64> = res
            .iter()
            .map(|r| r.cpu_s / f(&r.report, &["elapsed_s"]).max(1e-9))
            .collect();
        let bad = res
            .iter()
            .map(|r| (f(&r.report, &["unexpected_answers"]) + f(&r.report, &["failed"])) as u64)
            .sum();
        let first_problem = res
            .iter()
            .chain(base.iter())
            .find_map(|r| r.report["first_problem"].as_str().map(str::to_string));
        levels.push(Level {
            clients: n,
            ratio_to_baseline: if baseline.median > 0.0 {
                decisions.median / baseline.median
            } else {
                0.0
            },
            decisions_per_s: decisions,
            p50_us: summarize(&col(&res, &["lat_us", "p50"])),
            p99_us: summarize(&col(&res, &["lat_us", "p99"])),
            baseline_per_s: baseline,
            baseline_p50_us: summarize(&col(&base, &["lat_us", "p50"])),
            baseline_p99_us: summarize(&col(&base, &["lat_us", "p99"])),
            daemon_cpu_us_per_decision: summarize(&cpu_per).median,
            daemon_cores: summarize(&cores).median,
            bad_answers: bad,
            first_problem,
            runs: res
                .iter()
                .map(|r| json!({"kind": "resolve", "client": r.report, "daemon_cpu_s": r.cpu_s}))
                .chain(base.iter().map(
                    |r| json!({"kind": "status", "client": r.report, "daemon_cpu_s": r.cpu_s}),
                ))
                .collect(),
        });
    }
    let after = env::mem(pid);
    peak.vm_hwm_kib = peak.vm_hwm_kib.max(after.vm_hwm_kib);
    Ok(Result {
        levels,
        api_calls_during_runs: world.fake.calls() - calls_warm,
        mem_before,
        mem_peak_under_load: peak,
        max_connections: 64,
        audit_sink: "file (audit.jsonl, one O_APPEND write per record); journald off",
    })
}
