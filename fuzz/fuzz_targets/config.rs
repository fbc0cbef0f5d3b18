//! The configuration text (`/etc/ssm-runas/config.toml`). Written by an administrator,
//! but often generated from fleet data (permission set and user names), and echoed in
//! diagnostics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ssm_runas::config::{self, LinuxUser, Outcome};
use ssm_runas::owner::{Kind, Principal};
use ssm_runas::rules::{self, Verdict};
use ssm_runas::username;

/// A pretend user database: `toor` is another uid-0 account.
fn uid_of(name: &str) -> Option<u32> {
    match name {
        "root" | "toor" => Some(0),
        "ssm-landing" => Some(990),
        "alice" => Some(1000),
        _ => None,
    }
}

/// Whether a diagnostic's line and column point inside `text` (or just after its end).
fn inside(text: &str, line: usize, column: usize) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    line >= 1 && line <= lines.len() && column >= 1 && column <= lines[line - 1].chars().count() + 1
}

fn principals() -> Vec<Principal> {
    let p =
        |kind, role: Option<&str>, set: Option<&str>, session: Option<&str>, user: Option<&str>| {
            Principal {
                arn: "arn:aws:sts::111122223333:assumed-role/x/y".into(),
                partition: "aws".into(),
                account: "111122223333".into(),
                kind,
                role_name: role.map(Into::into),
                permission_set: set.map(Into::into),
                session_name: session.map(Into::into),
                user_name: user.map(Into::into),
                user_path: None,
            }
        };
    vec![
        p(
            Kind::Idc,
            Some("AWSReservedSSO_Admin_0123456789abcdef"),
            Some("Admin"),
            Some("root"),
            None,
        ),
        p(
            Kind::Idc,
            Some("AWSReservedSSO_Dev_0123"),
            Some("Dev"),
            Some("ssm-landing"),
            None,
        ),
        p(
            Kind::AssumedRole,
            Some("Ops"),
            None,
            Some("alice@example.com"),
            None,
        ),
        p(Kind::AssumedRole, Some("Ops"), None, Some("toor"), None),
        p(Kind::IamUser, None, None, None, Some("Bob.Smith")),
        p(
            Kind::FederatedUser,
            None,
            None,
            None,
            Some("ROOT@example.com"),
        ),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/ssm-runas/config.toml");
    match config::parse_with(path, text, &uid_of) {
        Err(e) => {
            assert!(!e.0.is_empty(), "a refused config names at least one error");
            for d in &e.0 {
                assert!(
                    inside(text, d.line, d.column),
                    "{}:{} outside the text",
                    d.line,
                    d.column
                );
            }
        }
        Ok(loaded) => {
            for w in &loaded.warnings {
                assert!(
                    inside(text, w.line, w.column),
                    "warning {}:{} outside",
                    w.line,
                    w.column
                );
            }
            let cfg = &loaded.config;
            assert!(username::is_valid(&cfg.landing_user));
            assert_ne!(uid_of(&cfg.landing_user), Some(0));
            for t in [
                cfg.aws.connect_timeout,
                cfg.aws.attempt_timeout,
                cfg.resolver.deadline,
                cfg.daemon.client_timeout,
            ] {
                assert!(!t.is_zero() && t.as_secs_f64() <= 300.0);
            }
            assert!((1..=4096).contains(&cfg.daemon.max_connections));
            for (i, r) in cfg.rules.iter().enumerate() {
                assert!(r.number >= i + 1);
                assert!(inside(text, r.line, 1));
                for a in r.when.account.iter().flatten() {
                    assert!(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
                }
                match &r.outcome {
                    Outcome::Deny { message } => {
                        assert!(!message.is_empty() && message.len() <= 200);
                        assert!(!message.chars().any(char::is_control));
                    }
                    Outcome::Map {
                        linux_user, groups, ..
                    } => {
                        if let LinuxUser::Literal(u) = linux_user {
                            assert!(username::is_valid(u));
                            assert_ne!(uid_of(u), Some(0));
                            assert_ne!(u, &cfg.landing_user);
                        }
                        for g in groups {
                            assert!(username::is_valid(g) && g != "root");
                        }
                    }
                }
            }
            // No accepted configuration ever maps anyone to root or the landing user.
            for p in principals() {
                if let Verdict::Allow { user, .. } = rules::decide_with(cfg, &p, &uid_of) {
                    assert!(username::is_valid(&user), "{user:?}");
                    assert_ne!(uid_of(&user), Some(0), "{user:?}");
                    assert_ne!(user, cfg.landing_user);
                }
            }
        }
    }
});
