//! ssm-runas-demo: the README's main command (via scripts/demo.sh). On this machine,
//! as root: starts a local fake SSM endpoint and the real daemon with the rules of
//! `packaging/config.example.toml`, installs the real PAM module and setuid helper,
//! plays one simulated Session Manager session per example rule (a fake agent
//! worker types the shell profile line into a real pty), shows the Linux account
//! each lands as and its audit record, then removes everything it created.
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ssm_runas_tests::daemon_env::{Daemon, INSTANCE, built, install};
use ssm_runas_tests::fake_ssm::{FakeSession, FakeSsm};
use ssm_runas_tests::harness::{PamServiceFile, PtySession, TempDir, processes_of};

/// Accounts the example config names; created for the demo when absent.
const ACCOUNTS: [&str; 5] = ["ssm-landing", "readonly", "alice", "deploy", "breakglass"];

struct Created(Vec<String>);

impl Drop for Created {
    fn drop(&mut self) {
        // The demo's sessions are real logins: their utmp/wtmp/lastlog records go
        // with the demo's accounts.
        let accounts: Vec<(String, u32)> = self
            .0
            .iter()
            .filter_map(|n| {
                let u = nix::unistd::User::from_name(n).ok().flatten()?;
                Some((n.clone(), u.uid.as_raw()))
            })
            .collect();
        let named: Vec<(&str, u32)> = accounts.iter().map(|(n, u)| (n.as_str(), *u)).collect();
        drop(ssm_runas_tests::login_files::LoginFiles::new(&named));
        for name in self.0.iter().rev() {
            if let Ok(Some(u)) = nix::unistd::User::from_name(name) {
                for pid in processes_of(u.uid.as_raw()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = Command::new("userdel")
                .args(["--remove", name])
                .stderr(Stdio::null())
                .status();
            println!("   removed account {name}");
        }
    }
}

fn root_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() -> ExitCode {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "ssm-runas-demo: run as root (it creates accounts and a PAM service for the demo, then removes them)"
        );
        return ExitCode::from(2);
    }
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssm-runas-demo: {e}");
            ExitCode::from(1)
        }
    }
}

fn demo() -> Result<(), String> {
    println!(
        "== ssm-runas demo: fake SSM endpoint, real ssm-runasd, real PAM module and switch helper"
    );
    let mut created = Created(Vec::new());
    for name in ACCOUNTS {
        if nix::unistd::User::from_name(name).ok().flatten().is_none() {
            let ok = Command::new("useradd")
                .args(["--create-home", "--user-group", "--shell", "/bin/sh", name])
                .status()
                .map_err(|e| format!("useradd: {e}"))?
                .success();
            if !ok {
                return Err(format!("useradd {name} failed"));
            }
            created.0.push(name.to_string());
        }
    }
    println!(
        "   accounts created for the demo: {}",
        if created.0.is_empty() {
            "(none needed)".to_string()
        } else {
            created.0.join(", ")
        }
    );
    println!(
        "   (`create = true` is honoured by provisioning, not part of this demo: alice was made here)"
    );
    let landing = nix::unistd::User::from_name("ssm-landing")
        .ok()
        .flatten()
        .ok_or("no ssm-landing")?;

    let dir = TempDir::new("ssm-runas-demo").map_err(|e| e.to_string())?;
    let fake = FakeSsm::start();
    let worker = dir.path().join("agent/ssm-session-worker");
    install(&built("fake-worker"), &worker, 0o755, None);
    let helper = dir.path().join("libexec/ssm-runas-login");
    install(
        &built("ssm-runas-login"),
        &helper,
        0o4750,
        Some(landing.gid.as_raw()),
    );
    let socket = dir.path().join("ssm-runasd.sock");
    let audit = dir.path().join("audit.jsonl");

    // The example config, pointed at the fake endpoint and this demo's paths.
    let example = std::fs::read_to_string(root_dir().join("packaging/config.example.toml"))
        .map_err(|e| e.to_string())?;
    let config = example
        .replacen("[aws]\n", &format!("[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\ninstance_id = \"{INSTANCE}\"\n", fake.url()), 1)
        .replacen("[resolver]\n", &format!("[resolver]\nworker_paths = [\"{}\"]\ndeadline_secs = 5\n", worker.display()), 1)
        .replacen("[daemon]\n", &format!("[daemon]\nsocket = \"{}\"\n", socket.display()), 1)
        .replacen("[audit]\n", &format!("[audit]\njournald = false\nfile = \"{}\"\n", audit.display()), 1)
        .replacen("[guard]\n", &format!("[guard]\nhelper_path = \"{}\"\n", helper.display()), 1);
    let daemon = Daemon::spawn_in_dir(
        dir.path(),
        &config,
        None,
        &[
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ],
    )
    .map_err(|e| format!("ssm-runasd did not start: {e}"))?;
    println!("   ssm-runasd is ready (Type=notify), rules from packaging/config.example.toml");

    let packaged = std::fs::read_to_string(root_dir().join("packaging/pam.d/ssm-runas.debian"))
        .map_err(|e| e.to_string())?;
    let service = packaged.replace(
        "pam_ssm_runas.so",
        &format!(
            "{} socket={}",
            built("libpam_ssm_runas.so").display(),
            socket.display()
        ),
    );
    let _pam = PamServiceFile::install("ssm-runas", &service)
        .map_err(|e| format!("/etc/pam.d/ssm-runas: {e}"))?;

    let sessions = [
        (
            "mallory@example.com",
            "AWSReservedSSO_ReadOnly_0123456789abcdef",
            "111122223333",
            "sts",
            "a suspended person (rule 1)",
        ),
        (
            "alice@example.com",
            "AWSReservedSSO_ReadOnly_0123456789abcdef",
            "111122223333",
            "sts",
            "permission set ReadOnly (rule 2)",
        ),
        (
            "alice@example.com",
            "AWSReservedSSO_AdministratorAccess_fedcba9876543210",
            "111122223333",
            "sts",
            "permission set AdministratorAccess (rule 3)",
        ),
        (
            "github-run-4711",
            "ci-deployer",
            "111122223333",
            "sts",
            "a CI role (rule 4)",
        ),
        (
            "breakglass",
            "",
            "111122223333",
            "iam",
            "the break-glass IAM user (rule 5)",
        ),
        (
            "alice@example.com",
            "AWSReservedSSO_AdministratorAccess_fedcba9876543210",
            "444455556666",
            "sts",
            "AdministratorAccess in another account (no rule)",
        ),
    ];
    for (i, (name, role, account, service, what)) in sessions.iter().enumerate() {
        let owner = if *service == "iam" {
            format!("arn:aws:iam::{account}:user/{name}")
        } else {
            format!("arn:aws:sts::{account}:assumed-role/{role}/{name}")
        };
        let prefix: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect();
        let sid = format!("{prefix}-0a1b2c3d4e5f6a7b{i}");
        fake.add_session(FakeSession::connected(&sid, INSTANCE, &owner));
        println!();
        println!("-- session {}: {what}", i + 1);
        println!("   aws ssm start-session by {owner}");
        let mut s = PtySession::spawn(
            &worker,
            &sid,
            "ssm-landing",
            Some(&format!("exec {}", helper.display())),
            None,
        )
        .map_err(|e| format!("fake worker: {e}"))?;
        // Type the command until the mapped shell runs it: input typed during the
        // switch is flushed on purpose.
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end
            && s.wait_exit(Duration::from_millis(10))
                .ok()
                .flatten()
                .is_none()
        {
            // The quotes keep the terminal's echo of the typed line from matching.
            let _ = s.send("echo \"now\"\" running as: $(id -un), home: $HOME, loginuid: $(cat /proc/self/loginuid)\"; exit\n");
            if s.read_until("now running as: ", Duration::from_secs(1))
                .is_ok()
            {
                break;
            }
        }
        let _ = s.wait_exit(Duration::from_secs(10));
        println!("   terminal:");
        for line in s
            .output()
            .replace('\r', "")
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            println!("   | {line}");
        }
        let left = processes_of(landing.uid.as_raw()).len();
        println!("   session ended; processes left as ssm-landing: {left}");
        let records = std::fs::read_to_string(&audit).unwrap_or_default();
        if let Some(r) = records
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| {
                r["SSM_RUNAS_SESSION_ID"] == sid.as_str()
                    && (r["SSM_RUNAS_DECISION"] == "allow" || r["SSM_RUNAS_DECISION"] == "deny")
            })
        {
            println!(
                "   audit: decision={} principal={} permission_set={} rule={} linux_user={} reason={:?}",
                r["SSM_RUNAS_DECISION"].as_str().unwrap_or("-"),
                r["SSM_RUNAS_PRINCIPAL"].as_str().unwrap_or("-"),
                r["SSM_RUNAS_PERMISSION_SET"].as_str().unwrap_or("-"),
                r["SSM_RUNAS_RULE"]
                    .as_u64()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                r["SSM_RUNAS_LINUX_USER"].as_str().unwrap_or("-"),
                r["SSM_RUNAS_REASON"].as_str().unwrap_or("-"),
            );
        }
    }
    println!();
    println!("== cleaning up");
    drop(daemon);
    println!(
        "   stopped ssm-runasd; removed the fake endpoint, /etc/pam.d/ssm-runas (restored), {}",
        dir.path().display()
    );
    Ok(())
}
