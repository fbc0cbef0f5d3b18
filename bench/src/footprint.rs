//! Part 4: footprint. Daemon start-up time to READY=1 (sd_notify), its memory idle
//! (and, from part 2, under load), the sizes of what is installed, and proof that
//! the PAM module — loaded into the switch helper, and into any PAM application whose
//! stack names it — carries no async runtime.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;
use ssm_runas_tests::daemon_env::{Daemon, World, bin_dir};

use crate::env::{self, Mem};
use crate::stats::{Summary, summarize};

/// Crates whose presence means an async runtime (or its reactor) is linked.
const RUNTIME_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "async-io",
    "futures-executor",
];

/// The PAM module's dependency and symbol check.
#[derive(Debug, Clone, Serialize)]
pub struct PamCheck {
    /// The module checked.
    pub so: String,
    /// `cargo tree -p pam-ssm-runas -e normal`: the crates it links (None: cargo unavailable).
    pub dependency_crates: Option<Vec<String>>,
    /// Runtime crates among them.
    pub runtime_crates_in_tree: Option<Vec<String>>,
    /// Symbols (`nm`, all tables) naming a runtime crate.
    pub runtime_symbols: Option<usize>,
    /// Dynamic symbols the module exports (`nm -D --defined-only`).
    pub exported_symbols: Option<Vec<String>>,
    /// Shared libraries it needs (`DT_NEEDED`, from `objdump -p`).
    pub needed: Option<Vec<String>>,
    /// Whether the module is free of any async runtime, by every check that could run.
    pub no_async_runtime: bool,
}

/// The part's result.
#[derive(Debug, Clone, Serialize)]
pub struct Result {
    /// From spawn to READY=1, API source (builds the AWS SDK client), ms.
    pub ready_ms_api: Summary,
    /// From spawn to READY=1, agent-state source (no AWS client), ms.
    pub ready_ms_agent_state: Summary,
    /// Idle daemon, API source, 1 s after start-up (its AWS checks done), before any request.
    pub idle_api: Mem,
    /// The same daemon after its first decision (one owner looked up and cached).
    pub idle_api_after_first_decision: Mem,
    /// Idle daemon, agent-state source.
    pub idle_agent_state: Mem,
    /// Sizes of the built artefacts (bytes), `None` when not built.
    pub sizes: BTreeMap<String, Option<u64>>,
    /// Directory the artefacts were taken from.
    pub artefacts_dir: String,
    /// The PAM module check.
    pub pam: PamCheck,
}

fn tool_lines(cmd: &mut Command) -> Option<Vec<String>> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn pam_check(so: &Path) -> PamCheck {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = tool_lines(
        Command::new(cargo)
            .args([
                "tree",
                "-p",
                "pam-ssm-runas",
                "-e",
                "normal",
                "--prefix",
                "none",
                "--offline",
            ])
            .current_dir(workspace_root()),
    )
    .map(|lines| {
        let mut crates: Vec<String> = lines
            .iter()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        crates.sort();
        crates.dedup();
        crates
    });
    let in_tree = tree.as_ref().map(|c| {
        c.iter()
            .filter(|name| RUNTIME_CRATES.contains(&name.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    });
    let exists = so.exists();
    let symbols = exists
        .then(|| tool_lines(Command::new("nm").arg("-C").arg(so)))
        .flatten()
        .map(|lines| {
            lines
                .iter()
                .filter(|l| {
                    RUNTIME_CRATES
                        .iter()
                        .any(|c| l.contains(&format!("{}::", c.replace('-', "_"))))
                })
                .count()
        });
    let exported = exists
        .then(|| tool_lines(Command::new("nm").args(["-D", "--defined-only"]).arg(so)))
        .flatten()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.split_whitespace().last().map(str::to_string))
                .collect()
        });
    let needed = exists
        .then(|| tool_lines(Command::new("objdump").arg("-p").arg(so)))
        .flatten()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("NEEDED")
                        .map(|v| v.trim().to_string())
                })
                .collect()
        });
    let no_async_runtime =
        exists && in_tree.as_ref().is_none_or(Vec::is_empty) && symbols == Some(0);
    PamCheck {
        so: so.display().to_string(),
        dependency_crates: tree,
        runtime_crates_in_tree: in_tree,
        runtime_symbols: symbols,
        exported_symbols: exported,
        needed,
        no_async_runtime,
    }
}

/// Runs part 4 with `starts` daemon start-ups per source.
pub fn run(starts: usize) -> std::result::Result<Result, String> {
    let world = World::new();
    let api_cfg = env::config(&world, 10, "");
    let state_cfg = env::config(
        &world,
        10,
        &format!(
            "source = \"agent-state\"\nagent_state_dir = \"{}\"",
            world.dir.path().join("agent-state").display()
        ),
    );
    let ready = |cfg: &str| -> std::result::Result<Vec<f64>, String> {
        let mut v = Vec::new();
        for _ in 0..starts {
            let t = Instant::now();
            let d = Daemon::start(&world, cfg).map_err(|e| e.to_string())?;
            v.push(env::ms_since(t));
            drop(d);
        }
        Ok(v)
    };
    let ready_api = ready(&api_cfg)?;
    let ready_state = ready(&state_cfg)?;

    let d = Daemon::start(&world, &api_cfg).map_err(|e| e.to_string())?;
    world.settle();
    std::thread::sleep(Duration::from_secs(1));
    let idle_api = env::mem(d.child.id());
    let sid = env::session_id("f", 0);
    world.add_session(&sid, "Admin", "carol@example.com");
    let v = world.in_session(
        &world.worker,
        &sid,
        world.landing.uid,
        world.landing.gid,
        &["resolve"],
    );
    if v["answer"] != "allow" {
        return Err(format!(
            "footprint: first decision was not allow: {v}\n{}",
            d.log()
        ));
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle_after = env::mem(d.child.id());
    drop(d);

    let d = Daemon::start(&world, &state_cfg).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(1));
    let idle_state = env::mem(d.child.id());
    drop(d);

    let dir = bin_dir();
    let mut sizes = BTreeMap::new();
    for name in [
        "ssm-runasd",
        "ssm-runas",
        "ssm-runas-login",
        "libpam_ssm_runas.so",
    ] {
        sizes.insert(name.to_string(), env::file_size(&dir.join(name)));
    }
    Ok(Result {
        ready_ms_api: summarize(&ready_api),
        ready_ms_agent_state: summarize(&ready_state),
        idle_api,
        idle_api_after_first_decision: idle_after,
        idle_agent_state: idle_state,
        sizes,
        artefacts_dir: dir.display().to_string(),
        pam: pam_check(&dir.join("libpam_ssm_runas.so")),
    })
}
