//! `ssm-runas-bench`: the benchmark suite of ssm-runas (run through `scripts/bench.sh`).
//!
//! Runs as root. Each part builds its own world (users, fake SSM, stand-in session
//! worker, a real `ssm-runasd`) from `ssm_runas_tests::daemon_env`, measures, and
//! removes everything again. Figures are medians with p95 over repetitions, and ratios
//! against a baseline measured in the same run. Prints a table and writes JSON.
//!
//! Usage: ssm-runas-bench [--out DIR] [--parts switch,throughput,economy,footprint]
//!                        [--quick] [--secs S] [--reps N]
//!                        [--levels 1,16,256] [--no-baseline]   (profiling aids: part 2 only)
#![forbid(unsafe_code)]

mod economy;
mod env;
mod footprint;
mod report;
mod stats;
mod switch;
mod throughput;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Args {
    out: PathBuf,
    parts: Vec<String>,
    secs: f64,
    reps: usize,
    quick: bool,
    levels: Vec<usize>,
    baseline: bool,
}

const PARTS: &[&str] = &["switch", "throughput", "economy", "footprint"];

fn parse_args() -> Result<Args, String> {
    let bin = ssm_runas_tests::daemon_env::bin_dir();
    let mut a = Args {
        out: bin
            .parent()
            .map(|p| p.join("bench"))
            .unwrap_or_else(|| "target/bench".into()),
        parts: PARTS.iter().map(|s| s.to_string()).collect(),
        secs: 3.0,
        reps: 3,
        quick: false,
        levels: vec![1, 16, 256],
        baseline: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--out" => a.out = PathBuf::from(val("--out")?),
            "--parts" => {
                a.parts = val("--parts")?.split(',').map(str::to_string).collect();
                if let Some(bad) = a.parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
                    return Err(format!("unknown part {bad:?} (parts: {})", PARTS.join(",")));
                }
            }
            "--secs" => {
                a.secs = val("--secs")?
                    .parse()
                    .map_err(|_| "--secs needs a number".to_string())?
            }
            "--reps" => {
                a.reps = val("--reps")?
                    .parse()
                    .map_err(|_| "--reps needs a number".to_string())?
            }
            "--quick" => a.quick = true,
            "--levels" => {
                a.levels = val("--levels")?
                    .split(',')
                    .map(|v| v.parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| "--levels needs numbers, e.g. 1,16,256".to_string())?
            }
            "--no-baseline" => a.baseline = false,
            "-h" | "--help" => {
                return Err("usage: ssm-runas-bench [--out DIR] [--parts switch,throughput,economy,footprint] [--quick] [--secs S] [--reps N] [--levels 1,16,256] [--no-baseline]".into());
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if a.quick {
        a.secs = a.secs.min(1.0);
        a.reps = a.reps.min(2);
    }
    a.reps = a.reps.max(1);
    Ok(a)
}

fn meta(started: &str) -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    json!({
        "started_utc": started,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "loadavg_at_start": env::loadavg(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "artefacts": ssm_runas_tests::daemon_env::bin_dir().display().to_string(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "release_build_s": std::env::var("BENCH_BUILD_SECS").ok().and_then(|v| v.parse::<u64>().ok()),
    })
}

fn to_value<T: serde::Serialize>(r: Result<T, String>) -> Result<Value, String> {
    r.and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string()))
}

fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ssm-runas-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("ssm-runas-bench: run as root (it creates users and a setuid client)");
        return ExitCode::from(2);
    }
    let t0 = Instant::now();
    let started = utc_now();
    let mut results = serde_json::Map::new();
    results.insert("meta".into(), meta(&started));
    let want = |p: &str| args.parts.iter().any(|x| x == p);
    let mut failed = false;
    let mut record = |name: &str, r: Result<Value, String>, secs: f64| {
        eprintln!("ssm-runas-bench: {name} done in {secs:.1} s");
        let v = match r {
            Ok(mut v) => {
                if let Value::Object(m) = &mut v {
                    m.insert("duration_s".into(), json!(secs));
                }
                v
            }
            Err(e) => {
                eprintln!("ssm-runas-bench: {name} failed: {e}");
                failed = true;
                json!({"error": e, "duration_s": secs})
            }
        };
        results.insert(name.into(), v);
    };
    if want("switch") {
        let t = Instant::now();
        let r = switch::run(if args.quick { 10 } else { 30 }, &[20, 80]);
        record("switch", r, t.elapsed().as_secs_f64());
    }
    if want("throughput") {
        let t = Instant::now();
        let r = throughput::run(&throughput::Opts {
            levels: args.levels.clone(),
            secs: args.secs,
            reps: args.reps,
            baseline: args.baseline,
        });
        record("throughput", to_value(r), t.elapsed().as_secs_f64());
    }
    if want("economy") {
        let t = Instant::now();
        let r = economy::run(&economy::Opts {
            sessions: 200,
            window: Duration::from_secs(1),
            rtt: Duration::from_millis(20),
            throttle: vec![0.0, 0.3],
            deadline_secs: 10,
        });
        record("economy", to_value(r), t.elapsed().as_secs_f64());
    }
    if want("footprint") {
        let t = Instant::now();
        let r = footprint::run(if args.quick { 3 } else { 10 });
        record("footprint", to_value(r), t.elapsed().as_secs_f64());
    }
    let total = t0.elapsed().as_secs_f64();
    if let Some(Value::Object(m)) = results.get_mut("meta") {
        m.insert("duration_s".into(), json!(total));
        m.insert("loadavg_at_end".into(), json!(env::loadavg()));
    }
    let mut all = Value::Object(results);
    let targets = report::targets(&all);
    if let Value::Object(m) = &mut all {
        m.insert(
            "targets".into(),
            serde_json::to_value(&targets).unwrap_or_default(),
        );
    }
    print!("{}", report::table(&all, &targets));
    if let Err(e) = report::write(&args.out, &started, &all) {
        eprintln!("ssm-runas-bench: cannot write results: {e}");
        return ExitCode::from(1);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
