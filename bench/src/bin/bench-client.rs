//! bench-client: the load generator of the throughput benchmark.
//!
//! Installed setuid root (mode 4750, group = the landing user's group) in the
//! benchmark's scratch directory and started by the stand-in session worker as the
//! landing user — exactly how the PAM module reaches the daemon from inside the
//! switch helper. Each of THREADS threads sends REQUEST in a loop for SECONDS, every
//! request on a new connection (so every request is a new peer identification),
//! and the latencies are reported as one JSON line on stdout.
//!
//! Usage: bench-client SOCKET resolve|status THREADS SECONDS
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ssm_runas_protocol::{Request, Response, call};

#[derive(Default)]
struct ThreadResult {
    /// Latency of each answered request, in microseconds.
    lat_us: Vec<u32>,
    /// Answers that were not the expected kind (deny, error).
    unexpected: u64,
    /// Requests that failed on the socket.
    failed: u64,
    first_problem: Option<String>,
}

fn expected(req: &Request, resp: &Response) -> bool {
    matches!(
        (req, resp),
        (Request::Resolve, Response::Allow(_)) | (Request::Status, Response::Status(_))
    )
}

fn worker(socket: &Path, req: &Request, start: &Barrier, secs: f64) -> ThreadResult {
    let mut r = ThreadResult {
        lat_us: Vec::with_capacity(4096),
        ..ThreadResult::default()
    };
    start.wait();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        match call(socket, req, Duration::from_secs(30)) {
            Ok(resp) => {
                let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                r.lat_us.push(us);
                if !expected(req, &resp) {
                    r.unexpected += 1;
                    if r.first_problem.is_none() {
                        r.first_problem = Some(format!("{resp:?}"));
                    }
                }
            }
            Err(e) => {
                r.failed += 1;
                if r.first_problem.is_none() {
                    r.first_problem = Some(e.to_string());
                }
                // Do not spin on a dead socket.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    r
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        eprintln!("usage: bench-client SOCKET resolve|status THREADS SECONDS");
        ExitCode::from(2)
    };
    if args.len() != 5 {
        return usage();
    }
    let socket = PathBuf::from(&args[1]);
    let req = match args[2].as_str() {
        "resolve" => Request::Resolve,
        "status" => Request::Status,
        _ => return usage(),
    };
    let (Ok(threads), Ok(secs)) = (args[3].parse::<usize>(), args[4].parse::<f64>()) else {
        return usage();
    };
    if threads == 0 || threads > 4096 || !(0.1..=600.0).contains(&secs) {
        return usage();
    }
    let barrier = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::with_capacity(threads);
    for _ in 0..threads {
        let (socket, req, barrier) = (socket.clone(), req.clone(), Arc::clone(&barrier));
        let h = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || worker(&socket, &req, &barrier, secs));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("bench-client: cannot start thread: {e}");
                return ExitCode::from(1);
            }
        }
    }
    barrier.wait();
    let t0 = Instant::now();
    let mut all = Vec::new();
    let (mut unexpected, mut failed, mut problem) = (0u64, 0u64, None);
    for h in handles {
        let Ok(r) = h.join() else {
            eprintln!("bench-client: a thread panicked");
            return ExitCode::from(1);
        };
        all.extend_from_slice(&r.lat_us);
        unexpected += r.unexpected;
        failed += r.failed;
        if problem.is_none() {
            problem = r.first_problem;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    all.sort_unstable();
    let answered = all.len() as u64;
    let good = answered - unexpected;
    let mean = if all.is_empty() {
        0.0
    } else {
        all.iter().map(|&v| f64::from(v)).sum::<f64>() / all.len() as f64
    };
    let out = serde_json::json!({
        "request": args[2],
        "threads": threads,
        "elapsed_s": elapsed,
        "answered": answered,
        "expected_answers": good,
        "unexpected_answers": unexpected,
        "failed": failed,
        "per_s": good as f64 / elapsed,
        "lat_us": {
            "p50": pct(&all, 50.0),
            "p95": pct(&all, 95.0),
            "p99": pct(&all, 99.0),
            "max": all.last().copied().unwrap_or(0),
            "mean": mean,
        },
        "first_problem": problem,
    });
    println!("{out}");
    ExitCode::SUCCESS
}
