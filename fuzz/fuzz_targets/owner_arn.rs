//! Owner ARNs come from SSM (DescribeSessions) or the agent's state file: an IAM
//! administrator chooses role and session names, so the text is hostile.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssm_runas::owner::{self, Kind, MAX_ARN_LEN, Principal};

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// What every accepted ARN must satisfy, checked against the input text.
fn check(arn: &str, p: &Principal) {
    assert_eq!(p.arn, arn);
    assert!(arn.len() <= MAX_ARN_LEN);
    assert!(
        p.account.len() == 12 && p.account.bytes().all(|b| b.is_ascii_digit()),
        "account {:?} is not 12 digits",
        p.account
    );
    assert!(p.partition == "aws" || p.partition.starts_with("aws-"));
    for n in [
        &p.role_name,
        &p.permission_set,
        &p.session_name,
        &p.user_name,
    ]
    .into_iter()
    .flatten()
    {
        assert!(
            !n.is_empty() && n.len() <= 64 && n.chars().all(is_name_char),
            "{n:?}"
        );
    }
    let service = match p.kind {
        Kind::Idc | Kind::AssumedRole | Kind::FederatedUser => "sts",
        Kind::IamUser | Kind::Root | Kind::Other => "iam",
    };
    assert!(arn.starts_with(&format!("arn:{}:{service}::{}:", p.partition, p.account)));
    match p.kind {
        Kind::Idc | Kind::AssumedRole => {
            let role = p.role_name.as_deref().unwrap_or_default();
            let session = p.session_name.as_deref().unwrap_or_default();
            assert!(arn.ends_with(&format!(":assumed-role/{role}/{session}")));
            assert!(session.len() >= 2);
            if p.kind == Kind::Idc {
                let set = p.permission_set.as_deref().unwrap_or_default();
                assert!(!set.is_empty() && set.len() <= 32);
                let suffix = role
                    .strip_prefix(&format!("AWSReservedSSO_{set}_"))
                    .unwrap_or_default();
                assert!(!suffix.is_empty());
                assert!(
                    suffix
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                );
            } else {
                assert_eq!(p.permission_set, None);
            }
        }
        Kind::IamUser => {
            let path = p.user_path.as_deref().unwrap_or_default();
            let name = p.user_name.as_deref().unwrap_or_default();
            assert!(path.starts_with('/') && path.ends_with('/') && path.len() <= 512);
            assert!(arn.ends_with(&format!(":user{path}{name}")));
        }
        Kind::FederatedUser => {
            let name = p.user_name.as_deref().unwrap_or_default();
            assert!((2..=32).contains(&name.len()));
            assert!(arn.ends_with(&format!(":federated-user/{name}")));
        }
        Kind::Root => assert!(arn.ends_with(":root") && p.name().is_none()),
        Kind::Other => assert!(p.session_name.is_none() && p.user_name.is_none()),
    }
    // The person's name, when there is one, is what rules and `{user}` see.
    if let Some(n) = p.name() {
        assert!(n.chars().all(is_name_char));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(arn) = std::str::from_utf8(data) else {
        return;
    };
    match owner::parse(arn) {
        Ok(p) => check(arn, &p),
        // Errors are one line of text for a person.
        Err(e) => assert!(!e.to_string().contains('\n')),
    }
});
