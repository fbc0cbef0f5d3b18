//! Part 3: AWS call economy. N sessions on one host all start within one window
//! (spread evenly); each one's landing shell asks the daemon once, as the PAM module
//! does. Counted: DescribeSessions calls the fake SSM received, and sessions that got
//! no Allow — with 0 % and 30 % of calls answered `ThrottlingException`, for the API
//! source and the agent-state source.
//!
//! The fake has no fault *rate*, only a queue (`fail_next`). A side thread keeps the
//! queue at "the next call fails" with probability p, re-drawn after each call it
//! sees; the daemon makes one DescribeSessions call at a time (single flight, paced
//! calls), so every call gets its own draw. The draws come from a fixed seed.
#![forbid(unsafe_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use ssm_runas_tests::daemon_env::{Daemon, World, json_of};
use ssm_runas_tests::fake_ssm::{FakeSsm, Fault};

use crate::env;
use crate::stats::{Rng, Summary, summarize};

/// What to run.
pub struct Opts {
    /// Sessions per scenario.
    pub sessions: usize,
    /// They all start within this window.
    pub window: Duration,
    /// Round trip added to every fake SSM answer.
    pub rtt: Duration,
    /// Throttling rates to run.
    pub throttle: Vec<f64>,
    /// The resolver deadline (the daemon's default is 10 s).
    pub deadline_secs: u64,
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// `api` or `agent-state`.
    pub source: String,
    /// Share of DescribeSessions calls throttled.
    pub throttle: f64,
    /// Sessions started.
    pub sessions: usize,
    /// DescribeSessions calls received by the fake.
    pub describe_sessions_calls: usize,
    /// Of which answered ThrottlingException.
    pub throttled_calls: usize,
    /// Sessions that got no Allow.
    pub failed_switches: usize,
    /// Why the first failure failed.
    pub first_failure: Option<String>,
    /// Time from a session's start (its worker's spawn) to the daemon's answer, ms.
    pub decision_ms: Summary,
    /// From the first start to the last answer, ms.
    pub wall_ms: f64,
    /// When each DescribeSessions call reached the fake, ms after the first start
    /// (sampled every 0.2 ms).
    pub call_times_ms: Vec<f64>,
}

/// Notes when the fake's call counter moves, until `stop`.
fn watch_calls(fake: &FakeSsm, t0: Instant, stop: &AtomicBool) -> Vec<f64> {
    let mut seen = fake.calls();
    let mut times = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = fake.calls();
        if now > seen {
            let t = Instant::now();
            let ms = if t >= t0 {
                (t - t0).as_secs_f64() * 1000.0
            } else {
                -(t0 - t).as_secs_f64() * 1000.0
            };
            times.extend(std::iter::repeat_n(ms, now - seen));
            seen = now;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    times
}

/// Keeps "the next call fails" true with probability `p` per call until `stop`.
/// Returns (faults that calls consumed, whether one is still queued).
fn throttler(fake: &FakeSsm, p: f64, stop: &AtomicBool) -> (usize, bool) {
    let mut rng = Rng::new(0x5eed_0000_0000_0001);
    let mut seen = fake.calls();
    let mut consumed = 0usize;
    let draw = |rng: &mut Rng| {
        let fail = rng.next_f64() < p;
        if fail {
            fake.fail_next(1, Fault::Throttling);
        }
        fail
    };
    let mut queued = draw(&mut rng);
    while !stop.load(Ordering::Relaxed) {
        let now = fake.calls();
        if now != seen {
            if now > seen + 1 {
                eprintln!(
                    "economy: {} calls between two looks; fault rate is approximate",
                    now - seen
                );
            }
            seen = now;
            consumed += usize::from(queued);
            queued = draw(&mut rng);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    (consumed, queued)
}

/// Consumes a queued fault with one signed-looking DescribeSessions call of our own, so
/// it cannot leak into the next scenario (the fake keeps its queue).
fn consume_one(fake: &FakeSsm) {
    use std::io::{Read, Write};
    let body = r#"{"State":"Active"}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSSM.DescribeSessions\r\nContent-Type: application/x-amz-json-1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDBENCH/20240101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=00\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if let Ok(mut s) = std::net::TcpStream::connect(fake.addr()) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(req.as_bytes());
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
}

fn scenario(
    world: &World,
    source: &str,
    p: f64,
    opts: &Opts,
    tag: &str,
) -> Result<Scenario, String> {
    let extra = if source == "agent-state" {
        format!(
            "source = \"agent-state\"\nagent_state_dir = \"{}\"",
            world.dir.path().join("agent-state").display()
        )
    } else {
        String::new()
    };
    let cfg = env::config(world, opts.deadline_secs, &extra);
    // Counts from earlier scenarios would let settle() return before this daemon's
    // start-up probe, which would then be counted as a session's call.
    world.fake.reset_counts();
    let daemon = Daemon::start(world, &cfg).map_err(|e| e.to_string())?;
    if source == "api" {
        world.settle();
    } else {
        std::thread::sleep(Duration::from_millis(200));
        world.fake.reset_counts();
    }
    world.fake.set_latency(opts.rtt);
    let stop = AtomicBool::new(false);
    let mut throttled = (0usize, false);
    let mut call_times = Vec::new();
    let results: Mutex<Vec<(f64, serde_json::Value)>> = Mutex::new(Vec::new());
    let probe = world.probe.display().to_string();
    let socket = world.socket().display().to_string();
    let t0 = Instant::now() + Duration::from_millis(50);
    std::thread::scope(|s| {
        let th = (p > 0.0).then(|| s.spawn(|| throttler(&world.fake, p, &stop)));
        let watcher = s.spawn(|| watch_calls(&world.fake, t0, &stop));
        let mut starters = Vec::new();
        for i in 0..opts.sessions {
            let (probe, socket, results) = (&probe, &socket, &results);
            starters.push(s.spawn(move || {
                let at = t0 + opts.window.mul_f64(i as f64 / opts.sessions as f64);
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                let sid = env::session_id(tag, i);
                let (ps, person) = if i % 2 == 0 {
                    ("ReadOnly", format!("reader{i}@example.com"))
                } else {
                    ("Admin", format!("admin{i}@example.com"))
                };
                if source == "agent-state" {
                    world.write_agent_state(&sid, ps, &person);
                } else {
                    world.add_session(&sid, ps, &person);
                }
                let started = Instant::now();
                let argv = vec![probe.clone(), socket.clone(), "resolve".to_string()];
                let v = match env::under_worker(
                    world,
                    &sid,
                    world.landing.uid,
                    world.landing.gid,
                    &argv,
                )
                .output()
                {
                    Ok(out) => json_of(out),
                    Err(e) => serde_json::json!({"error": e.to_string()}),
                };
                let ms = env::ms_since(started);
                if let Ok(mut r) = results.lock() {
                    r.push((ms, v));
                }
            }));
        }
        for h in starters {
            let _ = h.join();
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(h) = th {
            throttled = h.join().unwrap_or_default();
        }
        call_times = watcher.join().unwrap_or_default();
    });
    let wall_ms = env::ms_since(t0);
    let calls = world.fake.calls();
    world.fake.set_latency(Duration::ZERO);
    if std::env::var_os("BENCH_DAEMON_LOG").is_some() {
        eprintln!(
            "--- ssm-runasd log ({source}, throttle {p}) ---\n{}",
            daemon.log()
        );
    }
    drop(daemon);
    // The sessions end: SSM stops listing them and the agent removes its state files, so
    // the next scenario's queries see only its own sessions (as on a real host).
    let state_dir = world.dir.path().join(format!(
        "agent-state/{}/document/state/current",
        ssm_runas_tests::daemon_env::INSTANCE
    ));
    for i in 0..opts.sessions {
        let sid = env::session_id(tag, i);
        world.fake.remove_session(&sid);
        let _ = std::fs::remove_file(state_dir.join(&sid));
    }
    if throttled.1 {
        consume_one(&world.fake);
        world.fake.reset_counts();
    }
    let results = results.into_inner().unwrap_or_default();
    let failures: Vec<&serde_json::Value> = results
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["answer"] != "allow")
        .collect();
    Ok(Scenario {
        source: source.to_string(),
        throttle: p,
        sessions: opts.sessions,
        describe_sessions_calls: calls,
        throttled_calls: throttled.0,
        failed_switches: failures.len() + opts.sessions.saturating_sub(results.len()),
        first_failure: failures.first().map(|v| v.to_string()),
        decision_ms: summarize(&results.iter().map(|(ms, _)| *ms).collect::<Vec<_>>()),
        wall_ms,
        call_times_ms: call_times
            .iter()
            .map(|t| (t * 10.0).round() / 10.0)
            .collect(),
    })
}

/// Runs part 3.
pub fn run(opts: &Opts) -> Result<Vec<Scenario>, String> {
    let world = World::new();
    let mut out = Vec::new();
    for source in ["api", "agent-state"] {
        for (k, &p) in opts.throttle.iter().enumerate() {
            let tag = format!("{}{k}x", if source == "api" { "a" } else { "s" });
            out.push(scenario(&world, source, p, opts, &tag)?);
        }
    }
    Ok(out)
}
