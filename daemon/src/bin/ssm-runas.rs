//! `ssm-runas`: the admin CLI (check-config, explain, status).
//!
//! Exit codes: 0 success / allowed; 1 denied (explain) or daemon unreachable
//! (status); 2 usage or configuration error.
#![forbid(unsafe_code)]
// Product code never panics on purpose: errors are values (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;
use ssm_runas::config::{self, Loaded};
use ssm_runas::owner::{self, Principal};
use ssm_runas::rules::{self, Verdict};
use ssm_runas_protocol as protocol;
use ssm_runas_protocol::text;

const EXPLAIN_EXAMPLE: &str = "Examples:
  ssm-runas explain arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/alice@example.com
  ssm-runas explain --json --config ./config.toml arn:aws:iam::111122223333:user/bob

Exit status: 0 the owner is allowed, 1 it is denied, 2 usage or configuration error.";

const CHECK_EXAMPLE: &str = "Example:
  ssm-runas check-config --config /etc/ssm-runas/config.toml

Prints a one-line summary and exits 0 when the file is valid; prints every error as
PATH:LINE:COLUMN: message and exits 2 when it is not. Warnings (rules an earlier rule
shadows, …) go to standard error and do not change the exit status.";

const STATUS_EXAMPLE: &str = "Example:
  ssm-runas status

Asks the running ssm-runasd over its socket. Exit status: 0 answered, 1 the daemon is
not reachable, 2 usage error.";

/// Administer ssm-runas: map AWS SSM Session Manager sessions to Linux accounts.
#[derive(Parser)]
#[command(
    name = "ssm-runas",
    version,
    about,
    long_about = "Administer ssm-runas, which moves each AWS Systems Manager Session Manager session \
into the Linux account that the rules in /etc/ssm-runas/config.toml map its IAM principal \
(IAM Identity Center permission set, IAM role or user) to.",
    after_help = "Run `ssm-runas <COMMAND> --help` for each command's details and examples."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration file.
    #[command(after_help = CHECK_EXAMPLE)]
    CheckConfig {
        /// Configuration file.
        #[arg(long, value_name = "PATH", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Show which Linux account a session owner ARN maps to, and why.
    #[command(after_help = EXPLAIN_EXAMPLE)]
    Explain {
        /// Configuration file.
        #[arg(long, value_name = "PATH", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// The session Owner ARN, as `aws ssm describe-sessions` shows it.
        owner_arn: String,
    },
    /// Show the running daemon's state: identity, source, cache, counters, last AWS error.
    #[command(after_help = STATUS_EXAMPLE)]
    Status {
        /// Configuration file (to find the daemon's socket).
        #[arg(long, value_name = "PATH", default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// The daemon's socket (overrides the configuration).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    let code = match cli.command {
        Command::CheckConfig { config } => check_config(&config),
        Command::Explain {
            config,
            json,
            owner_arn,
        } => explain(&config, json, &owner_arn),
        Command::Status {
            config,
            socket,
            json,
        } => status(&config, socket, json),
    };
    ExitCode::from(code)
}

fn load(path: &std::path::Path) -> Result<Loaded, u8> {
    match config::load(path) {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!(
                    "{}:{}:{}: warning: {}",
                    text::escape_max(&w.path.display().to_string(), usize::MAX),
                    w.line,
                    w.column,
                    w.message
                );
            }
            Ok(l)
        }
        Err(e) => {
            for d in &e.0 {
                eprintln!("{d}");
            }
            Err(2)
        }
    }
}

fn check_config(path: &std::path::Path) -> u8 {
    let l = match load(path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let c = &l.config;
    let n = c.rules.len();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}: OK: {n} rule{}, landing user {}, source {}{}",
        text::escape_max(&path.display().to_string(), usize::MAX),
        if n == 1 { "" } else { "s" },
        c.landing_user,
        c.resolver.source.as_str(),
        if l.warnings.is_empty() {
            String::new()
        } else {
            format!(
                ", {} warning{}",
                l.warnings.len(),
                if l.warnings.len() == 1 { "" } else { "s" }
            )
        }
    );
    0
}

fn principal_json(p: &Principal) -> serde_json::Value {
    json!({
        "arn": p.arn,
        "kind": p.kind.as_str(),
        "partition": p.partition,
        "account": p.account,
        "role": p.role_name,
        "permission_set": p.permission_set,
        "name": p.name(),
        "user_path": p.user_path,
    })
}

fn explain(path: &std::path::Path, as_json: bool, arn: &str) -> u8 {
    let l = match load(path) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    let p = match owner::parse(arn) {
        Ok(p) => p,
        Err(e) => {
            if as_json {
                let v = json!({"owner": arn, "decision": "deny", "reason": e.to_string()});
                let _ = writeln!(out, "{v}");
            } else {
                // The ARN as typed, escaped: it failed to parse, so it may hold anything.
                let _ = writeln!(out, "owner           {}", text::escape_ascii(arn));
                let _ = writeln!(out, "decision        deny");
                let _ = writeln!(out, "reason          {e}");
            }
            return 1;
        }
    };
    let verdict = rules::decide(&l.config, &p);
    if as_json {
        let mut v = json!({"principal": principal_json(&p)});
        match &verdict {
            Verdict::Allow {
                rule,
                line,
                user,
                groups,
                create,
            } => {
                v["decision"] = json!("allow");
                v["rule"] = json!({"number": rule, "line": line});
                v["linux_user"] = json!(user);
                v["groups"] = json!(groups);
                v["create"] = json!(create);
            }
            Verdict::Deny { rule, reason } => {
                v["decision"] = json!("deny");
                v["rule"] = match rule {
                    Some((n, line)) => json!({"number": n, "line": line}),
                    None => serde_json::Value::Null,
                };
                v["reason"] = json!(reason);
            }
        }
        let _ = writeln!(out, "{v}");
    } else {
        let row = |out: &mut std::io::StdoutLock<'_>, k: &str, v: &str| {
            let _ = writeln!(out, "{k:<15} {v}");
        };
        row(&mut out, "owner", &p.arn);
        row(&mut out, "kind", p.kind.as_str());
        row(&mut out, "partition", &p.partition);
        row(&mut out, "account", &p.account);
        if let Some(r) = &p.role_name {
            row(&mut out, "role", r);
        }
        if let Some(ps) = &p.permission_set {
            row(&mut out, "permission set", ps);
        }
        if let Some(n) = p.name() {
            row(&mut out, "name", n);
        }
        if let Some(path) = &p.user_path {
            row(&mut out, "user path", path);
        }
        match &verdict {
            Verdict::Allow {
                rule,
                line,
                user,
                groups,
                create,
            } => {
                row(&mut out, "rule", &format!("{rule} (line {line})"));
                row(&mut out, "decision", "allow");
                row(&mut out, "linux user", user);
                row(
                    &mut out,
                    "groups",
                    &if groups.is_empty() {
                        "(none)".to_string()
                    } else {
                        groups.join(", ")
                    },
                );
                row(&mut out, "create", if *create { "yes" } else { "no" });
            }
            Verdict::Deny { rule, reason } => {
                row(
                    &mut out,
                    "rule",
                    &match rule {
                        Some((n, line)) => format!("{n} (line {line})"),
                        None => "none matched (default: deny)".to_string(),
                    },
                );
                row(&mut out, "decision", "deny");
                row(&mut out, "reason", reason);
            }
        }
    }
    match verdict {
        Verdict::Allow { .. } => 0,
        Verdict::Deny { .. } => 1,
    }
}

fn status(path: &std::path::Path, socket: Option<PathBuf>, as_json: bool) -> u8 {
    let socket = socket.unwrap_or_else(|| match config::load(path) {
        Ok(l) => l.config.daemon.socket,
        Err(_) => PathBuf::from(protocol::DEFAULT_SOCKET),
    });
    let timeout = Duration::from_secs(protocol::DEFAULT_CLIENT_TIMEOUT_SECS);
    let report = match protocol::call(&socket, &protocol::Request::Status, timeout) {
        Ok(protocol::Response::Status(r)) => r,
        Ok(other) => {
            eprintln!("ssm-runas: unexpected answer from the daemon: {other:?}");
            return 1;
        }
        Err(e) => {
            eprintln!(
                "ssm-runas: cannot reach ssm-runasd at {}: {e} (is `systemctl status ssm-runasd` running?)",
                socket.display()
            );
            return 1;
        }
    };
    let mut out = std::io::stdout().lock();
    if as_json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(&report).unwrap_or_default()
        );
        return 0;
    }
    let r = &report;
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "(unknown)".into());
    let rows: Vec<(&str, String)> = vec![
        ("version", r.version.clone()),
        ("config", r.config_path.clone()),
        ("source", r.source.clone()),
        ("landing user", r.landing_user.clone()),
        ("rules", r.rules.to_string()),
        ("instance", opt(&r.instance_id)),
        ("aws identity", opt(&r.aws_identity)),
        (
            "describe-sessions",
            match r.describe_sessions_allowed {
                Some(true) => "allowed".into(),
                Some(false) => "DENIED: the instance role needs ssm:DescribeSessions".into(),
                None => "(not checked)".into(),
            },
        ),
        ("cached owners", r.cache_size.to_string()),
        (
            "decisions",
            format!(
                "{} allowed, {} denied, {} errors",
                r.allowed, r.denied, r.errors
            ),
        ),
        ("api calls", r.api_calls.to_string()),
        (
            "last aws error",
            r.last_aws_error.clone().unwrap_or_else(|| "(none)".into()),
        ),
        ("uptime", format!("{} s", r.uptime_secs)),
    ];
    for (k, v) in rows
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain(r.extra.iter().cloned())
    {
        let _ = writeln!(out, "{k:<18} {v}");
    }
    0
}
