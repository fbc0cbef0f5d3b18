//! The suite's output: the targets of issue 6 checked against the figures, a
//! plain-text table, and the JSON file.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

/// One target of the issue and where the run stands.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is measured.
    pub name: String,
    /// The target, in words.
    pub target: String,
    /// The figure this run measured.
    pub value: String,
    /// Met, missed, or `None` when the part did not run.
    pub met: Option<bool>,
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

fn t(name: &str, target: &str, value: Option<String>, met: Option<bool>) -> Target {
    Target {
        name: name.into(),
        target: target.into(),
        value: value.unwrap_or_else(|| "not measured".into()),
        met,
    }
}

/// Checks the targets against `all`.
pub fn targets(all: &Value) -> Vec<Target> {
    let mut out = Vec::new();
    let sw = &all["switch"];
    let ratio = num(sw, &["warm_ratio"]);
    out.push(t(
        "warm switch / baseline (su -l)",
        "<= 1.15",
        ratio.map(|r| format!("{r:.2}")),
        ratio.map(|r| r <= 1.15),
    ));
    if let Some(cold) = sw["cold"].as_array() {
        for c in cold {
            let rtt = num(c, &["rtt_ms"]).unwrap_or(0.0);
            let x = num(c, &["excess_rtts"]);
            out.push(t(
                &format!("cold switch - baseline, RTT {rtt:.0} ms"),
                "<= 1.1 RTT",
                x.map(|x| format!("{x:.2} RTT")),
                x.map(|x| x <= 1.1),
            ));
        }
    } else {
        out.push(t("cold switch - baseline", "<= 1.1 RTT", None, None));
    }
    let api30 = all["economy"].as_array().and_then(|a| {
        a.iter()
            .find(|s| s["source"] == "api" && num(s, &["throttle"]).is_some_and(|p| p > 0.29))
    });
    let calls = api30.and_then(|s| num(s, &["describe_sessions_calls"]));
    let fails = api30.and_then(|s| num(s, &["failed_switches"]));
    out.push(t(
        "200 starts, 30 % throttling: DescribeSessions calls",
        "<= 10",
        calls.map(|c| format!("{c:.0}")),
        calls.map(|c| c <= 10.0),
    ));
    out.push(t(
        "200 starts, 30 % throttling: failed switches",
        "0",
        fails.map(|c| format!("{c:.0}")),
        fails.map(|c| c == 0.0),
    ));
    let best = all["throughput"]["levels"].as_array().and_then(|l| {
        l.iter()
            .filter_map(|x| {
                Some((
                    num(x, &["decisions_per_s", "median"])?,
                    num(x, &["clients"])?,
                ))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
    });
    out.push(t(
        "warm decisions/s (best level)",
        ">= 20000",
        best.map(|(r, n)| format!("{r:.0} ({n:.0} clients)")),
        best.map(|(r, _)| r >= 20000.0),
    ));
    let rss = num(&all["footprint"], &["idle_api", "vm_rss_kib"]);
    out.push(t(
        "daemon RSS idle",
        "<= 15 MiB",
        rss.map(|k| format!("{:.1} MiB", k / 1024.0)),
        rss.map(|k| k <= 15.0 * 1024.0),
    ));
    let pam = all["footprint"]["pam"]["no_async_runtime"].as_bool();
    out.push(t(
        "PAM module links no async runtime",
        "none",
        pam.map(|p| {
            if p {
                "none found".into()
            } else {
                "FOUND".to_string()
            }
        }),
        pam,
    ));
    out
}

fn ms(v: &Value) -> String {
    match (num(v, &["median"]), num(v, &["p95"])) {
        (Some(m), Some(p)) => format!("{m:.1} ms (p95 {p:.1})"),
        _ => "-".into(),
    }
}

fn mib(v: &Value, key: &str) -> String {
    num(v, &[key]).map_or("-".into(), |k| format!("{:.1} MiB", k / 1024.0))
}

/// The plain-text table.
pub fn table(all: &Value, targets: &[Target]) -> String {
    let mut s = String::new();
    let m = &all["meta"];
    let _ = writeln!(
        s,
        "\nssm-runas benchmarks — {} build, {} CPUs ({}), kernel {}, load {:.2} → {:.2}, {:.0} s",
        m["build"].as_str().unwrap_or("?"),
        m["cpus"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["kernel"].as_str().unwrap_or("?"),
        num(m, &["loadavg_at_start"]).unwrap_or(0.0),
        num(m, &["loadavg_at_end"]).unwrap_or(0.0),
        num(m, &["duration_s"]).unwrap_or(0.0),
    );
    let sw = &all["switch"];
    let ran = |part: &str| !all[part].is_null();
    if ran("switch") {
        let _ = writeln!(
            s,
            "\n1. Switch latency (exec of the helper in a session → `true` ran as the mapped account)"
        );
        if let Some(b) = sw["blocked"].as_str().or(sw["error"].as_str()) {
            let _ = writeln!(s, "   not measured: {b}");
        } else {
            let _ = writeln!(
                s,
                "   baseline  su -l ACCOUNT -c true     {}",
                ms(&sw["baseline_ms"])
            );
            let _ = writeln!(
                s,
                "   warm      ssm-runas-login -c true   {}   ratio {:.2}",
                ms(&sw["warm_ms"]),
                num(sw, &["warm_ratio"]).unwrap_or(0.0)
            );
            for c in sw["cold"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    s,
                    "   cold      RTT {:>3.0} ms               {}   − baseline {:.1} ms = {:.2} RTT",
                    num(c, &["rtt_ms"]).unwrap_or(0.0),
                    ms(&c["ms"]),
                    num(c, &["excess_ms"]).unwrap_or(0.0),
                    num(c, &["excess_rtts"]).unwrap_or(0.0),
                );
            }
            for c in sw["prefetched"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    s,
                    "   cold, helper {:>3.0} ms after the worker (RTT {:>3.0} ms, prefetched) {}   − warm {:+.1} ms",
                    num(c, &["helper_started_after_ms"]).unwrap_or(0.0),
                    num(c, &["rtt_ms"]).unwrap_or(0.0),
                    ms(&c["ms"]),
                    num(c, &["over_warm_ms"]).unwrap_or(0.0),
                );
            }
        }
    }
    let tp = &all["throughput"];
    if ran("throughput") {
        let _ = writeln!(
            s,
            "\n2. Decision throughput (warm cache, new connection per request)"
        );
        if let Some(e) = tp["error"].as_str() {
            let _ = writeln!(s, "   failed: {e}");
        }
        if let Some(levels) = tp["levels"].as_array() {
            let _ = writeln!(
                s,
                "   {:>7} {:>12} {:>9} {:>9} | {:>12} {:>9} {:>9} | {:>6} {:>9} {:>6}",
                "clients",
                "decisions/s",
                "p50 µs",
                "p99 µs",
                "baseline/s",
                "p50 µs",
                "p99 µs",
                "ratio",
                "cpu µs/d",
                "cores"
            );
            for l in levels {
                let _ = writeln!(
                    s,
                    "   {:>7} {:>12.0} {:>9.0} {:>9.0} | {:>12.0} {:>9.0} {:>9.0} | {:>6.2} {:>9.1} {:>6.2}{}",
                    num(l, &["clients"]).unwrap_or(0.0),
                    num(l, &["decisions_per_s", "median"]).unwrap_or(0.0),
                    num(l, &["p50_us", "median"]).unwrap_or(0.0),
                    num(l, &["p99_us", "median"]).unwrap_or(0.0),
                    num(l, &["baseline_per_s", "median"]).unwrap_or(0.0),
                    num(l, &["baseline_p50_us", "median"]).unwrap_or(0.0),
                    num(l, &["baseline_p99_us", "median"]).unwrap_or(0.0),
                    num(l, &["ratio_to_baseline"]).unwrap_or(0.0),
                    num(l, &["daemon_cpu_us_per_decision"]).unwrap_or(0.0),
                    num(l, &["daemon_cores"]).unwrap_or(0.0),
                    match num(l, &["bad_answers"]) {
                        Some(b) if b > 0.0 => format!("  ({b:.0} bad answers)"),
                        _ => String::new(),
                    }
                );
            }
            let _ = writeln!(
                s,
                "   baseline = `Status` sent by root to the same daemon and socket (no walk to the worker, decision or audit); DescribeSessions calls during runs: {}",
                tp["api_calls_during_runs"]
            );
        }
    }
    if ran("economy") {
        let _ = writeln!(
            s,
            "\n3. AWS call economy (200 sessions starting within 1 s, fake SSM RTT 20 ms)"
        );
        if let Some(e) = all["economy"]["error"].as_str() {
            let _ = writeln!(s, "   failed: {e}");
        }
        if let Some(sc) = all["economy"].as_array() {
            let _ = writeln!(
                s,
                "   {:<12} {:>9} {:>16} {:>10} {:>8} {:>22} {:>9}",
                "source",
                "throttle",
                "DescribeSessions",
                "throttled",
                "failed",
                "decision ms (p95)",
                "wall ms"
            );
            for x in sc {
                let _ = writeln!(
                    s,
                    "   {:<12} {:>8.0}% {:>16.0} {:>10.0} {:>8.0} {:>22} {:>9.0}",
                    x["source"].as_str().unwrap_or("?"),
                    num(x, &["throttle"]).unwrap_or(0.0) * 100.0,
                    num(x, &["describe_sessions_calls"]).unwrap_or(-1.0),
                    num(x, &["throttled_calls"]).unwrap_or(-1.0),
                    num(x, &["failed_switches"]).unwrap_or(-1.0),
                    ms(&x["decision_ms"]),
                    num(x, &["wall_ms"]).unwrap_or(0.0),
                );
            }
        }
    }
    let fp = &all["footprint"];
    if ran("footprint") {
        let _ = writeln!(s, "\n4. Footprint");
        if let Some(e) = fp["error"].as_str() {
            let _ = writeln!(s, "   failed: {e}");
        } else {
            let _ = writeln!(
                s,
                "   start → READY=1, API source          {}",
                ms(&fp["ready_ms_api"])
            );
            let _ = writeln!(
                s,
                "   start → READY=1, agent-state source  {}",
                ms(&fp["ready_ms_agent_state"])
            );
            let _ = writeln!(
                s,
                "   RSS idle (API / after 1st decision / agent-state)  {} / {} / {}",
                mib(&fp["idle_api"], "vm_rss_kib"),
                mib(&fp["idle_api_after_first_decision"], "vm_rss_kib"),
                mib(&fp["idle_agent_state"], "vm_rss_kib"),
            );
            let _ = writeln!(
                s,
                "   RSS under load (peak sampled / VmHWM)               {} / {}",
                mib(&tp["mem_peak_under_load"], "vm_rss_kib"),
                mib(&tp["mem_peak_under_load"], "vm_hwm_kib"),
            );
            if let Some(sizes) = fp["sizes"].as_object() {
                let list: Vec<String> = sizes
                    .iter()
                    .map(|(k, v)| match v.as_f64() {
                        Some(b) => format!("{k} {:.0} KiB", b / 1024.0),
                        None => format!("{k} not built"),
                    })
                    .collect();
                let _ = writeln!(s, "   sizes: {}", list.join(", "));
            }
            let _ = writeln!(
                s,
                "   PAM module: runtime crates in its tree {}, runtime symbols {}, needs {}",
                fp["pam"]["runtime_crates_in_tree"],
                fp["pam"]["runtime_symbols"],
                fp["pam"]["needed"],
            );
        }
    }
    let _ = writeln!(s, "\nTargets");
    for x in targets {
        let _ = writeln!(
            s,
            "   {:<52} {:>10}  {:<22} {}",
            x.name,
            x.target,
            x.value,
            match x.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "-",
            }
        );
    }
    s
}

/// Writes `all` to `DIR/bench-<time>.json` and `DIR/latest.json`.
pub fn write(dir: &Path, started: &str, all: &Value) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(all).map_err(std::io::Error::other)?;
    let stamp: String = started
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    for name in [format!("bench-{stamp}.json"), "latest.json".to_string()] {
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, &text)?;
        std::fs::rename(&tmp, &path)?;
    }
    eprintln!(
        "ssm-runas-bench: results in {}",
        dir.join("latest.json").display()
    );
    Ok(())
}
