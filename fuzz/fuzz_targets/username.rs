//! The `{user}` rule: a person's name (chosen by whoever starts a session: an IdC user
//! name, a role session name) becomes a Linux account name.
//! The input is one flags byte, then the name (and, for flags 3, `domain\nname`).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ssm_runas::config::{self, Config};
use ssm_runas::owner::{Kind, Principal};
use ssm_runas::rules::{self, Verdict};
use ssm_runas::username::{expand, from_name};

/// `^[a-z_][a-z0-9._-]{0,31}$`, written out independently of `username::is_valid`.
fn allowed(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some('a'..='z' | '_'))
        && s.chars().count() <= 32
        && c.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-'))
}

fn uid_of(name: &str) -> Option<u32> {
    match name {
        "root" | "toor" => Some(0),
        "ssm-landing" => Some(990),
        _ => None,
    }
}

const LANDING: &str = "ssm-landing";

/// Configurations whose rules apply `{user}` to any name: one per `strip_domain` form.
fn configs() -> &'static [Config] {
    static C: OnceLock<Vec<Config>> = OnceLock::new();
    C.get_or_init(|| {
        let rules = r#"
[[rule]]
role = "Plain"
linux_user = "{user}"
[[rule]]
role = "Prefixed"
linux_user = "ssm-{user}"
[[rule]]
role = "Suffixed"
linux_user = "r{user}"
"#;
        [
            "",
            "strip_domain = \"*\"\n",
            "strip_domain = \"example.com\"\n",
        ]
        .iter()
        .map(|strip| {
            let text = format!("landing_user = \"{LANDING}\"\n{strip}{rules}");
            config::parse_with(Path::new("fuzz.toml"), &text, &uid_of)
                .expect("the fuzz configuration is valid")
                .config
        })
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (strip, name): (Option<&str>, &str) = match flags % 4 {
        0 => (None, &text),
        1 => (Some("*"), &text),
        2 => (Some("example.com"), &text),
        _ => match text.split_once('\n') {
            Some((d, n)) => (Some(d), n),
            None => (Some(""), &text),
        },
    };
    if let Ok(u) = from_name(name, strip) {
        assert!(allowed(&u), "{name:?} gave {u:?}");
    }
    for t in ["{user}", "ssm-{user}", "r{user}"] {
        if let Ok(u) = expand(t, name, strip) {
            assert!(allowed(&u), "{t} with {name:?} gave {u:?}");
        }
    }
    // The whole decision, for the three fixed strip_domain forms.
    if flags % 4 == 3 {
        return;
    }
    let cfg = &configs()[usize::from(flags % 4)];
    for role in ["Plain", "Prefixed", "Suffixed"] {
        let p = Principal {
            arn: format!("arn:aws:sts::111122223333:assumed-role/{role}/x"),
            partition: "aws".into(),
            account: "111122223333".into(),
            kind: Kind::AssumedRole,
            role_name: Some(role.into()),
            permission_set: None,
            session_name: Some(name.to_string()),
            user_name: None,
            user_path: None,
        };
        if let Verdict::Allow { user, .. } = rules::decide_with(cfg, &p, &uid_of) {
            assert!(allowed(&user), "{name:?} mapped to {user:?}");
            assert!(
                user != "root" && user != "toor" && user != LANDING,
                "{name:?} mapped to {user:?}"
            );
        }
    }
});
