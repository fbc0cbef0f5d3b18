use super::*;
use crate::config::parse_with;
use std::path::Path;

fn uid_of(name: &str) -> Option<u32> {
    match name {
        "toor" => Some(0),
        _ => None,
    }
}

fn idc(account: &str, ps: &str, name: &str) -> Principal {
    Principal {
        arn: format!(
            "arn:aws:sts::{account}:assumed-role/AWSReservedSSO_{ps}_0123456789abcdef/{name}"
        ),
        partition: "aws".into(),
        account: account.into(),
        kind: Kind::Idc,
        role_name: Some(format!("AWSReservedSSO_{ps}_0123456789abcdef")),
        permission_set: Some(ps.into()),
        session_name: Some(name.into()),
        user_name: None,
        user_path: None,
    }
}

fn role(account: &str, role: &str, session: &str) -> Principal {
    Principal {
        arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        partition: "aws".into(),
        account: account.into(),
        kind: Kind::AssumedRole,
        role_name: Some(role.into()),
        permission_set: None,
        session_name: Some(session.into()),
        user_name: None,
        user_path: None,
    }
}

fn iam_user(account: &str, name: &str) -> Principal {
    Principal {
        arn: format!("arn:aws:iam::{account}:user/{name}"),
        partition: "aws".into(),
        account: account.into(),
        kind: Kind::IamUser,
        role_name: None,
        permission_set: None,
        session_name: None,
        user_name: Some(name.into()),
        user_path: Some("/".into()),
    }
}

const CONFIG: &str = r#"landing_user = "ssm-landing"
strip_domain = "example.com"

[[rule]]
principal = "mallory@example.com"
deny = "Your access is suspended; ask #security"

[[rule]]
permission_set = "ReadOnly"
linux_user = "readonly"

[[rule]]
permission_set = "Admin"
account = ["111122223333"]
linux_user = "{user}"
groups = ["adm", "sudo"]
create = true

[[rule]]
permission_set = "Admin"
linux_user = "adm-{user}"

[[rule]]
role = "ci-*"
kind = "assumed-role"
linux_user = "ci"

[[rule]]
kind = "iam-user"
principal = "bob"
linux_user = "toor"
"#;

fn verdict(p: &Principal) -> Verdict {
    let cfg = parse_with(Path::new("c.toml"), CONFIG, &|_| None)
        .map(|l| l.config)
        .unwrap_or_else(|e| panic!("{e}"));
    decide_with(&cfg, p, &uid_of)
}

fn allow(v: &Verdict) -> (usize, &str) {
    match v {
        Verdict::Allow { rule, user, .. } => (*rule, user.as_str()),
        other => panic!("expected allow, got {other:?}"),
    }
}

#[test]
fn one_person_two_permission_sets_two_accounts() {
    let a = verdict(&idc("111122223333", "ReadOnly", "alice@example.com"));
    let b = verdict(&idc("111122223333", "Admin", "alice@example.com"));
    assert_eq!(allow(&a), (2, "readonly"));
    assert_eq!(allow(&b), (3, "alice"));
    assert!(
        matches!(b, Verdict::Allow { ref groups, create: true, line: 12, .. } if groups == &["adm", "sudo"])
    );
}

#[test]
fn first_match_wins_and_account_lists_restrict() {
    let other_account = verdict(&idc("444455556666", "Admin", "Alice@Example.com"));
    assert_eq!(allow(&other_account), (4, "adm-alice"));
}

#[test]
fn deny_rule_message_reaches_the_person() {
    let v = verdict(&idc("111122223333", "Admin", "mallory@example.com"));
    assert_eq!(
        v,
        Verdict::Deny {
            rule: Some((1, 4)),
            reason: "Your access is suspended; ask #security".into()
        }
    );
}

#[test]
fn unmatched_owner_is_denied_by_default() {
    let v = verdict(&idc("111122223333", "Billing", "alice@example.com"));
    match v {
        Verdict::Deny { rule: None, reason } => assert_eq!(
            reason,
            "no rule maps alice@example.com with permission set Billing in account 111122223333 to a Linux account"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn role_globs_and_kinds() {
    assert_eq!(
        allow(&verdict(&role("111122223333", "ci-deployer", "gh-123"))),
        (5, "ci")
    );
    // An IdC role never matches `kind = "assumed-role"`.
    assert!(matches!(
        verdict(&role("111122223333", "deployer", "x")),
        Verdict::Deny { rule: None, .. }
    ));
}

#[test]
fn a_mapped_account_that_is_uid_0_is_denied_at_decision_time() {
    let v = verdict(&iam_user("111122223333", "bob"));
    assert!(
        matches!(v, Verdict::Deny { rule: Some((6, _)), ref reason } if reason.contains("root")),
        "{v:?}"
    );
}

#[test]
fn unusable_names_are_denied_not_truncated() {
    let v = verdict(&idc(
        "111122223333",
        "Admin",
        &format!("{}@example.com", "a".repeat(40)),
    ));
    assert!(
        matches!(v, Verdict::Deny { rule: Some((3, _)), ref reason } if reason.contains("longer than 32")),
        "{v:?}"
    );
    let v = verdict(&idc("111122223333", "Admin", "9lives@example.com"));
    assert!(matches!(v, Verdict::Deny { .. }), "{v:?}");
}

#[test]
fn template_never_yields_root_or_landing() {
    let cfg = parse_with(
        Path::new("c.toml"),
        "landing_user = \"ssm-landing\"\n[[rule]]\nlinux_user = \"{user}\"\n",
        &|_| None,
    )
    .map(|l| l.config)
    .unwrap_or_else(|e| panic!("{e}"));
    for name in ["root", "ROOT", "ssm-landing", "toor"] {
        let v = decide_with(&cfg, &role("111122223333", "r", name), &uid_of);
        assert!(matches!(v, Verdict::Deny { .. }), "{name}: {v:?}");
    }
}

#[test]
fn non_session_principals_are_never_mapped() {
    let cfg = parse_with(
        Path::new("c.toml"),
        "landing_user = \"l\"\n[[rule]]\nlinux_user = \"shared\"\n",
        &|_| None,
    )
    .map(|l| l.config)
    .unwrap_or_else(|e| panic!("{e}"));
    let role_arn = crate::owner::parse("arn:aws:iam::111122223333:role/Admin")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(role_arn.kind, Kind::Other);
    assert!(matches!(
        decide_with(&cfg, &role_arn, &uid_of),
        Verdict::Deny { rule: None, .. }
    ));
    // The catch-all maps real session principals.
    assert!(matches!(
        decide_with(&cfg, &iam_user("111122223333", "bob"), &uid_of),
        Verdict::Allow { .. }
    ));
}

#[test]
fn deny_reasons_quote_the_owner_escaped() {
    // The owner parser accepts ASCII only; were that to change, a bidi override or a
    // look-alike letter in a name must still show in the reason the person reads.
    let cfg = parse_with(
        Path::new("c.toml"),
        "landing_user = \"l\"\n[[rule]]\nrole = \"Dev\"\nlinux_user = \"{user}\"\n",
        &uid_of,
    )
    .unwrap()
    .config;
    let p = role("111122223333", "Ops\u{202e}", "\u{430}lice\nx");
    let Verdict::Deny { reason, .. } = decide_with(&cfg, &p, &uid_of) else {
        panic!("allowed");
    };
    assert_eq!(
        reason,
        "no rule maps \\u{430}lice\\nx in role Ops\\u{202e} in account 111122223333 to a Linux account"
    );
    let p = role("111122223333", "Dev", "9\u{202e}x");
    let Verdict::Deny { reason, .. } = decide_with(&cfg, &p, &uid_of) else {
        panic!("allowed");
    };
    assert!(
        !reason.chars().any(ssm_runas_protocol::text::is_unsafe) && reason.contains("\\u{202e}"),
        "{reason}"
    );
    let mut other = role("111122223333", "Dev", "bob");
    other.kind = Kind::Other;
    other.arn = "arn:aws:iam::111122223333:role/\u{202e}x\u{1b}[2J".into();
    let Verdict::Deny { reason, .. } = decide_with(&cfg, &other, &uid_of) else {
        panic!("allowed");
    };
    assert_eq!(
        reason,
        "arn:aws:iam::111122223333:role/\\u{202e}x\\u{1b}[2J is not a session principal"
    );
}
