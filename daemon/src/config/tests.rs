use super::*;

fn no_users(name: &str) -> Option<u32> {
    match name {
        "toor" => Some(0),
        "alice" => Some(1001),
        _ => None,
    }
}

fn parse_ok(text: &str) -> Loaded {
    match parse_with(Path::new("/etc/ssm-runas/config.toml"), text, &no_users) {
        Ok(l) => l,
        Err(e) => panic!("unexpected error:\n{e}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse_with(Path::new("c.toml"), text, &no_users) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.0.iter().map(|d| d.to_string()).collect(),
    }
}

const MINIMAL: &str = "landing_user = \"ssm-landing\"\n";

#[test]
fn minimal_config_gets_documented_defaults() {
    let l = parse_ok(MINIMAL);
    let c = &l.config;
    assert_eq!(c.landing_user, "ssm-landing");
    assert_eq!(c.resolver.source, Source::Api);
    assert_eq!(
        c.resolver.allowed_documents,
        vec!["SSM-SessionManagerRunShell"]
    );
    assert_eq!(
        c.resolver.worker_paths,
        vec![
            "/usr/bin/ssm-session-worker",
            "/snap/amazon-ssm-agent/*/ssm-session-worker"
        ]
    );
    assert_eq!(c.resolver.deadline, Duration::from_secs(10));
    assert_eq!(
        c.daemon.socket,
        PathBuf::from("/run/ssm-runas/ssm-runasd.sock")
    );
    assert!(c.audit.journald);
    assert!(c.rules.is_empty());
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("every session will be denied"))
    );
}

#[test]
fn full_config_parses() {
    let text = r#"
landing_user = "ssm-landing"
strip_domain = "example.com"

[aws]
region = "eu-west-1"
endpoint_url = "https://ssm.eu-west-1.amazonaws.com"
instance_id = "i-0123456789abcdef0"
connect_timeout_secs = 2
attempt_timeout_secs = 2.5

[resolver]
source = "agent-state-then-api"
allowed_documents = ["SSM-SessionManagerRunShell", "Custom-Shell"]
worker_paths = ["/usr/bin/ssm-session-worker"]
agent_state_dir = "/var/lib/amazon/ssm"
deadline_secs = 8

[daemon]
socket = "/run/x.sock"
max_connections = 10
client_timeout_secs = 3

[audit]
journald = false
file = "/var/log/ssm-runas/audit.jsonl"

[[rule]]
permission_set = "ReadOnly"
linux_user = "readonly"

[[rule]]
permission_set = "Admin"
account = ["111122223333", "444455556666"]
linux_user = "{user}"
groups = ["adm", "sudo"]
create = true

[[rule]]
role = "ci-*"
kind = "assumed-role"
deny = "CI roles may not open shells"
"#;
    let l = parse_ok(text);
    let c = &l.config;
    assert_eq!(c.strip_domain.as_deref(), Some("example.com"));
    assert_eq!(c.aws.attempt_timeout, Duration::from_millis(2500));
    assert_eq!(c.resolver.source, Source::AgentStateThenApi);
    assert_eq!(c.daemon.max_connections, 10);
    assert_eq!(
        c.audit.file,
        Some(PathBuf::from("/var/log/ssm-runas/audit.jsonl"))
    );
    assert_eq!(c.rules.len(), 3);
    assert_eq!((c.rules[0].number, c.rules[0].line), (1, 28));
    assert_eq!((c.rules[1].number, c.rules[1].line), (2, 32));
    assert_eq!(c.rules[1].when.account.as_ref().map(Vec::len), Some(2));
    assert_eq!(
        c.rules[1].outcome,
        Outcome::Map {
            linux_user: LinuxUser::Template("{user}".into()),
            groups: vec!["adm".into(), "sudo".into()],
            create: true
        }
    );
    assert_eq!(
        c.rules[2].outcome,
        Outcome::Deny {
            message: "CI roles may not open shells".into()
        }
    );
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn structural_errors_have_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "landing_user = \"x\"\nbogus = 1\n",
            "c.toml:2:1: unknown field `bogus`",
        ),
        (
            "landing_user = \"x\"\n[[rule]]\n  bogus = 1\n",
            "c.toml:3:3: unknown field `bogus`",
        ),
        (
            "landing_user = 3\n",
            "c.toml:1:16: invalid type: integer `3`, expected a string",
        ),
        (
            "[aws]\nregion = \"eu-west-1\"\n",
            "c.toml:1:1: missing field `landing_user`",
        ),
        (
            "landing_user = \"x\"\n[resolver]\nworker_paths = \"/usr/bin/x\"\n",
            "c.toml:3:16: invalid type: string",
        ),
        (
            "landing_user = \"x\"\n[[rule]]\naccount = [\"1\"\n",
            "c.toml:3:",
        ),
    ];
    for (text, want) in cases {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with(want),
            "got {:?}, want prefix {want:?}",
            errs[0]
        );
    }
}

#[test]
fn semantic_errors_are_all_reported_with_positions() {
    let text = r#"landing_user = "ssm-landing"
[resolver]
source = "magic"

[[rule]]
account = ["12345", "111122223333"]
linux_user = "root"

[[rule]]
permission_set = "Admin"
linux_user = "ssm-landing"

[[rule]]
role = "a?b"
linux_user = "Bad Name"

[[rule]]
principal = "x"
linux_user = "ok"
groups = ["wheel", "Not A Group"]

[[rule]]
principal = "y"

[[rule]]
principal = "z"
linux_user = "toor"
"#;
    let errs = errors(text);
    let want = [
        "c.toml:3:10: source `magic` is not one of",
        "c.toml:6:12: account `12345` is not a 12-digit AWS account id",
        "c.toml:7:14: rule 1: linux_user `root` is root (uid 0): never allowed",
        "c.toml:11:14: rule 2: linux_user `ssm-landing` is the landing user",
        "c.toml:14:8: role `a?b`: `?` is not supported",
        "c.toml:15:14: rule 3: linux_user `Bad Name` is not a valid Linux user name",
        "c.toml:20:20: `Not A Group` is not a valid group name",
        "c.toml:22:1: rule 5: needs `linux_user",
        "c.toml:27:14: rule 6: linux_user `toor` is root (uid 0)",
    ];
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
    for (e, w) in errs.iter().zip(want) {
        assert!(e.starts_with(w), "got {e:?}, want prefix {w:?}");
    }
}

#[test]
fn templates_are_checked() {
    let ok = parse_ok("landing_user = \"l\"\n[[rule]]\nlinux_user = \"ro-{user}\"\n");
    assert!(
        matches!(&ok.config.rules[0].outcome, Outcome::Map { linux_user: LinuxUser::Template(t), .. } if t == "ro-{user}")
    );
    for bad in ["{name}", "{user}{user}", "RO-{user}", "{user}!", "{ user }"] {
        let text = format!("landing_user = \"l\"\n[[rule]]\nlinux_user = \"{bad}\"\n");
        let errs = errors(&text);
        assert!(
            errs[0].starts_with("c.toml:3:14: rule 1: linux_user"),
            "{bad}: {errs:?}"
        );
    }
}

#[test]
fn landing_user_must_not_be_root_and_must_be_a_name() {
    assert!(
        errors("landing_user = \"root\"\n")[0]
            .starts_with("c.toml:1:16: landing_user must not be root")
    );
    assert!(
        errors("landing_user = \"toor\"\n")[0]
            .starts_with("c.toml:1:16: landing_user must not be root")
    );
    assert!(errors("landing_user = \"A B\"\n")[0].contains("is not a valid Linux user name"));
}

#[test]
fn deny_rules_take_no_groups_and_one_line() {
    let errs = errors("landing_user = \"l\"\n[[rule]]\ndeny = \"no\"\ngroups = [\"adm\"]\n");
    assert!(
        errs[0].contains("make no sense on a `deny` rule"),
        "{errs:?}"
    );
    let errs = errors("landing_user = \"l\"\n[[rule]]\ndeny = \"a\\nb\"\n");
    assert!(errs[0].contains("one line"), "{errs:?}");
    let errs = errors("landing_user = \"l\"\n[[rule]]\ndeny = \"x\"\nlinux_user = \"u\"\n");
    assert!(
        errs[0].contains("either `linux_user` or `deny`"),
        "{errs:?}"
    );
}

#[test]
fn deadline_must_stay_below_the_pam_timeout() {
    let errs = errors("landing_user = \"l\"\n[resolver]\ndeadline_secs = 20\n");
    assert!(
        errs[0].starts_with("c.toml:3:17: deadline_secs must be shorter"),
        "{errs:?}"
    );
}

#[test]
fn shadowed_rules_are_warned_about() {
    let text = r#"landing_user = "l"
[[rule]]
permission_set = "Admin"
linux_user = "admin"

[[rule]]
permission_set = "Admin"
account = ["111122223333"]
linux_user = "admin2"

[[rule]]
role = "ci-*"
linux_user = "ci"

[[rule]]
role = "ci-deploy"
linux_user = "deploy"

[[rule]]
kind = "idc"
linux_user = "{user}"

[[rule]]
permission_set = "ReadOnly"
linux_user = "ro"

[[rule]]
kind = "iam-user"
principal = "bob"
linux_user = "bob"
"#;
    let l = parse_ok(text);
    let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        w,
        vec![
            "/etc/ssm-runas/config.toml:6:1: rule 2 can never match: rule 1 (line 2) matches every owner it would",
            "/etc/ssm-runas/config.toml:15:1: rule 4 can never match: rule 3 (line 11) matches every owner it would",
            "/etc/ssm-runas/config.toml:23:1: rule 6 can never match: rule 5 (line 19) matches every owner it would",
        ]
    );
}

#[test]
fn permission_set_with_wrong_kind_is_refused() {
    let errs = errors(
        "landing_user = \"l\"\n[[rule]]\npermission_set = \"A\"\nkind = \"iam-user\"\nlinux_user = \"u\"\n",
    );
    assert!(errs[0].contains("only matches kind `idc`"), "{errs:?}");
}

#[test]
fn columns_count_characters_not_bytes() {
    let errs = errors("landing_user = \"l\" # é\n[[rule]]\nlinux_user = \"u\"\nx = \"é\"\n");
    assert!(errs[0].starts_with("c.toml:4:1:"), "{errs:?}");
    let errs =
        errors("landing_user = \"l\"\n[[rule]]\ndeny = \"é\"\nprincipal = \"é\"\nkind = \"bad\"\n");
    assert!(errs[0].starts_with("c.toml:5:8:"), "{errs:?}");
}

#[test]
fn a_shadow_check_that_runs_out_of_budget_says_so() {
    let mut text = String::from("landing_user = \"l\"\n");
    for i in 0..700 {
        text.push_str(&format!(
            "[[rule]]\nprincipal = \"*x{i}\"\nlinux_user = \"a\"\n"
        ));
    }
    for i in 0..700 {
        text.push_str(&format!(
            "[[rule]]\nprincipal = \"y{i}\"\nlinux_user = \"b\"\n"
        ));
    }
    let l = parse_ok(&text);
    let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(
            "were not checked for being shadowed: the check stops after 200000 comparisons"
        ),
        "{w:?}"
    );
}

/// Every line of `errs`/warnings is one line with no control or bidi character.
fn assert_clean(lines: &[String]) {
    for l in lines {
        assert!(
            !l.chars().any(ssm_runas_protocol::text::is_unsafe),
            "raw control or format character in {l:?}"
        );
    }
}

#[test]
fn values_quoted_in_errors_are_escaped() {
    // A value that would print a second, fake diagnostic and clear the screen.
    let errs = errors(
        "landing_user = \"l\"\n[[rule]]\nlinux_user = \"bob\\nFAKE:1:1: all good\\u001b[2J\"\n",
    );
    assert_eq!(
        errs,
        [
            "c.toml:3:14: rule 1: linux_user `bob\\nFAKE:1:1: all good\\u{1b}[2J` is not a valid Linux user name (^[a-z_][a-z0-9._-]{0,31}$)"
        ]
    );
    let errs = errors("landing_user = \"a\\nb\"\n");
    assert_eq!(
        errs,
        ["c.toml:1:16: landing_user `a\\nb` is not a valid Linux user name"]
    );
    // Bidi overrides and zero-width characters, everywhere a value is quoted.
    let errs = errors(
        "landing_user = \"l\"\nstrip_domain = \"e\\u202e.com\"\n\
         [aws]\nregion = \"eu\\u200b\"\nendpoint_url = \"x\\u2066\"\ninstance_id = \"i-\\u0007\"\n\
         [resolver]\nsource = \"api\\r\"\nallowed_documents = [\"d\\u0085\"]\nworker_paths = [\"w\\t\"]\n\
         [guard]\nmode = \"\\u001b]0;x\\u0007\"\n\
         [[rule]]\npermission_set = \"A\\u202e\"\nrole = \"r\\u0000\"\naccount = [\"1\\n\"]\n\
         principal = \"p\\u2028?\"\nkind = \"k\\u202d\"\nlinux_user = \"u\"\ngroups = [\"g\\u202e\"]\n",
    );
    assert_clean(&errs);
    for shown in [
        "`e\\u{202e}.com`",
        "`eu\\u{200b}`",
        "`x\\u{2066}`",
        "`i-\\u{7}`",
        "`api\\r`",
        "`d\\u{85}`",
        "`w\\t`",
        "`\\u{1b}]0;x\\u{7}`",
        "`A\\u{202e}`",
        "`r\\u{0}`",
        "`1\\n`",
        "`p\\u{2028}?`",
        "`k\\u{202d}`",
        "`g\\u{202e}`",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(shown)),
            "{shown} not in {errs:#?}"
        );
    }
}

#[test]
fn values_quoted_in_warnings_are_escaped_and_long_ones_cut() {
    let l = parse_ok(
        "landing_user = \"l\"\n[[rule]]\nlinux_user = \"u\"\ngroups = [\"adm\", \"adm\"]\n",
    );
    let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        w,
        ["/etc/ssm-runas/config.toml:4:18: group `adm` is listed twice"]
    );
    let long = format!("\\u202e{}", "x".repeat(1000));
    let errs = errors(&format!("landing_user = \"{long}\"\n"));
    assert_clean(&errs);
    assert!(errs[0].contains("`\\u{202e}xxx"), "{errs:?}");
    assert!(errs[0].len() < 400, "{}", errs[0].len());
    assert!(errs[0].contains("x…`"), "{errs:?}");
}

#[test]
fn the_toml_parsers_own_messages_are_escaped_too() {
    let errs = errors("landing_user = \"l\"\n\u{202e}x = 1\n");
    assert_clean(&errs);
}
