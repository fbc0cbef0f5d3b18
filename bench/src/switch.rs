//! Part 1: switch latency — from the exec of the switch helper inside a simulated
//! session to the mapped account having run `true`.
//!
//! Each run is one stand-in session worker (`ssm-session-worker <SessionId>`, root, at
//! an allowed path) whose child, as the landing user, execs the setuid helper
//! `ssm-runas-login -c true` through the packaged Debian PAM service `ssm-runas`
//! (pointed at the built module and the benchmark's daemon). Timed from the worker's
//! spawn to its exit, which covers the whole switch: PAM auth (Resolve), account
//! (Check), session open and close (with the daemon's audit notes), fork, setuid, the
//! mapped account's shell running `true`.
//!
//! The landing guard runs in `audit` mode (the tests' configuration).
//!
//! Baseline, interleaved with the measured runs: the same worker running, as root,
//! `su -l <the same mapped account> -c true` (PAM service `su-l`: the distribution's
//! account and session stacks, as the helper's service includes them).
//!
//! Warm: one session whose owner the daemon has cached. Cold: a new session per run,
//! the fake SSM answering after an injected round trip (20 ms, 80 ms), each run
//! 200 ms after the previous one (an isolated session start: the daemon paces its
//! DescribeSessions calls, 150 ms apart in main, and a lookup inside that window waits).
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ssm_runas_tests::daemon_env::{Daemon, Switch, World, bin_dir, built, install};

use crate::env;
use crate::stats::summarize;

/// Pause after each cold run, so that each is an isolated session start.
const COLD_GAP: Duration = Duration::from_millis(200);

/// One timed run of `argv` under `worker`; the wall time in ms, or why it failed.
fn timed(worker: &Path, sid: &str, uid: u32, gid: u32, argv: &[String]) -> Result<f64, String> {
    timed_after(worker, sid, uid, gid, argv, 0)
}

/// [`timed`], with the worker waiting `delay_ms` before it starts `argv`; the delay
/// is not counted.
fn timed_after(
    worker: &Path,
    sid: &str,
    uid: u32,
    gid: u32,
    argv: &[String],
    delay_ms: u64,
) -> Result<f64, String> {
    let t = Instant::now();
    let out = env::under(worker, sid, uid, gid, argv)
        .env("MINI_WORKER_DELAY_MS", delay_ms.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the worker: {e}"))?;
    let ms = env::ms_since(t) - delay_ms as f64;
    if !out.status.success() {
        return Err(format!(
            "{:?} in session {sid} failed ({:?}): {}{}",
            argv,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(ms)
}

/// Runs part 1 with `reps` runs per figure, or says why it cannot run.
pub fn run(reps: usize, rtts_ms: &[u64]) -> Result<Value, String> {
    let dir = bin_dir();
    for need in ["ssm-runas-login", "libpam_ssm_runas.so"] {
        if !dir.join(need).exists() {
            return Ok(json!({
                "blocked": format!("{need} is not built in {} (switch helper not merged yet)", dir.display())
            }));
        }
    }
    let su = ["/usr/bin/su", "/bin/su"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("su is not installed")?;
    let world = World::new();
    // The helper at the config's guard helper path, and /etc/pam.d/ssm-runas: the
    // packaged Debian file with the built module and this world's socket (restored on
    // drop, under the lock the end-to-end tests take).
    let sw = Switch::install(&world);
    let helper = sw.helper.clone();
    let cfg = env::config(&world, 10, "");
    let daemon = Daemon::start(&world, &cfg).map_err(|e| e.to_string())?;
    world.settle();

    // The baseline runs under the same stand-in worker binary, copied to a path the
    // daemon does not allow: the landing guard must not take it for a session and
    // prefetch an owner for it (a lookup of a session SSM never lists keeps the
    // daemon's lookup driver busy until its deadline and would slow the cold runs).
    let plain = world.dir.path().join("not-an-agent/ssm-session-worker");
    install(&built("mini-worker"), &plain, 0o755, None);
    let (lu, lg) = (world.landing.uid, world.landing.gid);
    let account = world.readonly.name.clone();
    let helper_true = vec![helper.display().to_string(), "-c".into(), "true".into()];
    let su_true = vec![
        su.to_string(),
        "-l".into(),
        account.clone(),
        "-c".into(),
        "true".into(),
    ];
    // Correctness first: the helper really lands in the mapped account.
    let warm_sid = env::session_id("w", 0);
    world.add_session(&warm_sid, "ReadOnly", "alice@example.com");
    let out = env::under_worker(
        &world,
        &warm_sid,
        lu,
        lg,
        &[helper.display().to_string(), "-c".into(), "id -un".into()],
    )
    .stdin(Stdio::null())
    .output()
    .map_err(|e| e.to_string())?;
    let who = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if who != account {
        return Err(format!(
            "the helper landed as {who:?}, not {account:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            daemon.log()
        ));
    }
    timed(&plain, "root-baseline-0", 0, 0, &su_true)?;

    let mut baseline = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..reps {
        baseline.push(timed(&plain, "root-baseline-0", 0, 0, &su_true)?);
        warm.push(timed(&world.worker, &warm_sid, lu, lg, &helper_true)?);
    }
    let calls_before_cold = world.fake.calls();
    let mut cold = Vec::new();
    for (k, &rtt) in rtts_ms.iter().enumerate() {
        world.fake.set_latency(Duration::from_millis(rtt));
        let mut v = Vec::new();
        let mut base = Vec::new();
        for i in 0..reps {
            let sid = env::session_id(&format!("c{k}x"), i);
            world.add_session(&sid, "ReadOnly", &format!("cold{i}@example.com"));
            base.push(timed(&plain, "root-baseline-0", 0, 0, &su_true)?);
            v.push(timed(&world.worker, &sid, lu, lg, &helper_true)?);
            // An isolated session: the daemon paces DescribeSessions calls (150 ms
            // apart in main), and a session arriving inside that window waits for it.
            std::thread::sleep(COLD_GAP);
        }
        world.fake.set_latency(Duration::ZERO);
        baseline.extend_from_slice(&base);
        cold.push((rtt, v, base));
    }
    let cold_calls = world.fake.calls() - calls_before_cold;
    // Prefetch: the landing guard sees the worker start and resolves its owner at
    // once; when the profile (here: the helper) comes more than one round trip
    // later, the helper's decision should cost no more than a warm one.
    let mut prefetched = Vec::new();
    for (k, &rtt) in rtts_ms.iter().enumerate() {
        world.fake.set_latency(Duration::from_millis(rtt));
        let delay = 2 * rtt + 50;
        let mut v = Vec::new();
        for i in 0..reps {
            let sid = env::session_id(&format!("p{k}x"), i);
            world.add_session(&sid, "ReadOnly", &format!("pre{i}@example.com"));
            v.push(timed_after(
                &world.worker,
                &sid,
                lu,
                lg,
                &helper_true,
                delay,
            )?);
            std::thread::sleep(COLD_GAP);
        }
        world.fake.set_latency(Duration::ZERO);
        let s = summarize(&v);
        prefetched.push(json!({
            "rtt_ms": rtt,
            "helper_started_after_ms": delay,
            "ms": s,
            "over_warm_ms": s.median - summarize(&warm).median,
        }));
    }
    let b = summarize(&baseline);
    let w = summarize(&warm);
    let cold_v: Vec<Value> = cold
        .iter()
        .map(|(rtt, v, base)| {
            let s = summarize(v);
            let rtt_f = *rtt as f64;
            json!({
                "rtt_ms": rtt,
                "ms": s,
                "baseline_ms_same_phase": summarize(base),
                "excess_ms": s.median - b.median,
                "excess_rtts": (s.median - b.median) / rtt_f,
                "over_warm_rtts": (s.median - w.median) / rtt_f,
            })
        })
        .collect();
    Ok(json!({
        "baseline": format!("{su} -l <mapped account> -c true, as root, under the same worker (PAM service su-l)"),
        "measured": "ssm-runas-login -c true as the landing user under the worker (PAM service ssm-runas = packaging/pam.d/ssm-runas.debian)",
        "runs_per_figure": reps,
        "baseline_ms": b,
        "warm_ms": w,
        "warm_ratio": if b.median > 0.0 { w.median / b.median } else { 0.0 },
        "warm_excess_ms": w.median - b.median,
        "cold": cold_v,
        "prefetched": prefetched,
        "cold_describe_sessions_calls": cold_calls,
        "cold_sessions": reps * rtts_ms.len(),
    }))
}
