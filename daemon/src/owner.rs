//! Parsing an SSM session `Owner` ARN into a typed principal.
//!
//! See ARCHITECTURE.md §3 and `shared/fixtures/owner-arns.tsv`.
#![forbid(unsafe_code)]

/// What kind of principal started a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An IAM Identity Center permission set role session (`AWSReservedSSO_<set>_<hex>`).
    Idc,
    /// Any other assumed-role session.
    AssumedRole,
    /// An IAM user (any path).
    IamUser,
    /// A federated user (`sts … federated-user/<name>`).
    FederatedUser,
    /// The account root user.
    Root,
    /// A well-formed ARN that is not a session principal (IAM role, IAM group): never
    /// the owner of a session; rules should not map it.
    Other,
}

impl Kind {
    /// The name used in config (`kind = "…"`) and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Idc => "idc",
            Kind::AssumedRole => "assumed-role",
            Kind::IamUser => "iam-user",
            Kind::FederatedUser => "federated-user",
            Kind::Root => "root",
            Kind::Other => "other",
        }
    }
}

/// A parsed owner ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The ARN exactly as given.
    pub arn: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, or another `aws-…` partition (see [`parse`]).
    pub partition: String,
    /// 12-digit account id.
    pub account: String,
    /// The kind of principal.
    pub kind: Kind,
    /// Role name for assumed roles (and IdC: the whole `AWSReservedSSO_…` name).
    pub role_name: Option<String>,
    /// IdC permission set name.
    pub permission_set: Option<String>,
    /// Role session name (IdC: the IdC user name).
    pub session_name: Option<String>,
    /// IAM user name or federated user name.
    pub user_name: Option<String>,
    /// IAM user path (`/` or `/a/b/`).
    pub user_path: Option<String>,
}

impl Principal {
    /// The person's name as rules see it (`principal = …` and `{user}`): the role
    /// session name (IdC user name), IAM user name, or federated user name.
    pub fn name(&self) -> Option<&str> {
        self.session_name.as_deref().or(self.user_name.as_deref())
    }
}

/// Why an owner ARN is not a principal we can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOwner(pub String);

impl std::fmt::Display for InvalidOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid owner ARN: {}", self.0)
    }
}

impl std::error::Error for InvalidOwner {}

/// Longest owner ARN we look at (IAM's limit for a principal ARN).
pub const MAX_ARN_LEN: usize = 2048;

/// Whether `c` is in IAM's name alphabet `[\w+=,.@-]` (ASCII only).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// Whether `s` is `min..=max` characters of `[\w+=,.@-]`.
fn is_name(s: &str, min: usize, max: usize) -> bool {
    // All accepted characters are ASCII, so bytes == characters once checked.
    s.chars().all(is_name_char) && (min..=max).contains(&s.len())
}

/// Whether `p` is an AWS partition name: `aws` or `aws-<a-z0-9>+(-<a-z0-9>+)*`.
///
/// Not a fixed list: new partitions (e.g. `aws-iso-f`, `aws-eusc`) appear over time and
/// the partition comes from AWS's own answer, so only its shape is checked.
fn is_partition(p: &str) -> bool {
    let Some(rest) = p.strip_prefix("aws") else {
        return false;
    };
    p.len() <= 32
        && (rest.is_empty()
            || rest.strip_prefix('-').is_some_and(|r| {
                r.split('-').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                })
            }))
}

fn is_account(a: &str) -> bool {
    a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())
}

/// Splits `AWSReservedSSO_<set>_<hex>` into the permission set name, following the
/// greedy `^AWSReservedSSO_(.+)_([0-9a-f]+)$`: the suffix is what follows the last `_`.
/// Returns `None` when the role is not an IdC role (including a permission set name
/// that is not 1–32 characters of `[\w+=,.@-]`).
fn idc_permission_set(role: &str) -> Option<&str> {
    let rest = role.strip_prefix("AWSReservedSSO_")?;
    let (set, suffix) = rest.rsplit_once('_')?;
    let hex = !suffix.is_empty()
        && suffix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex && is_name(set, 1, 32)).then_some(set)
}

/// Splits an IAM resource `<path/>name` (after `user/`, `role/`, `group/`) into its
/// path (`/` or `/a/b/`) and name. Path segments must be non-empty `[\w+=,.@-]`
/// (stricter than IAM, which allows more printable ASCII in paths: such owners are
/// refused, which fails closed). The whole path is at most 512 characters.
fn split_path<'a>(what: &str, resource: &'a str) -> Result<(String, &'a str), InvalidOwner> {
    let (dirs, name) = match resource.rsplit_once('/') {
        Some((dirs, name)) => (Some(dirs), name),
        None => (None, resource),
    };
    let path = match dirs {
        None => "/".to_string(),
        Some(dirs) => {
            if dirs.split('/').any(|seg| !is_name(seg, 1, 512)) {
                return Err(invalid(format!("{what} path is not valid")));
            }
            format!("/{dirs}/")
        }
    };
    if path.len() > 512 {
        return Err(invalid(format!(
            "{what} path is longer than 512 characters"
        )));
    }
    if name.is_empty() {
        return Err(invalid(format!("{what} name is empty")));
    }
    Ok((path, name))
}

fn invalid(reason: impl Into<String>) -> InvalidOwner {
    InvalidOwner(reason.into())
}

/// Parses an owner ARN. Never panics, whatever the input.
///
/// Accepted forms (partition `aws`, `aws-cn`, `aws-us-gov`, or any other `aws-…`
/// partition such as `aws-iso-b`; region always empty; account exactly 12 digits):
///
/// | ARN | [`Kind`] |
/// |---|---|
/// | `arn:P:sts::A:assumed-role/AWSReservedSSO_<set>_<hex>/<name>` | [`Kind::Idc`] |
/// | `arn:P:sts::A:assumed-role/<role>/<session>` | [`Kind::AssumedRole`] |
/// | `arn:P:iam::A:user/<path/><name>` | [`Kind::IamUser`] |
/// | `arn:P:sts::A:federated-user/<name>` | [`Kind::FederatedUser`] |
/// | `arn:P:iam::A:root` | [`Kind::Root`] |
/// | `arn:P:iam::A:role/<path/><name>`, `arn:P:iam::A:group/<path/><name>` | [`Kind::Other`] |
///
/// Names: role session names are 2–64 characters of `[\w+=,.@-]` (ASCII), role names
/// and IAM user names 1–64, federated user names 2–32 (GetFederationToken's limit).
/// No trimming: surrounding whitespace makes the ARN invalid.
pub fn parse(arn: &str) -> Result<Principal, InvalidOwner> {
    if arn.is_empty() {
        return Err(invalid("empty"));
    }
    if arn.len() > MAX_ARN_LEN {
        return Err(invalid(format!("longer than {MAX_ARN_LEN} bytes")));
    }
    let mut parts = arn.splitn(6, ':');
    let (Some(prefix), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid(
            "not of the form arn:partition:service:region:account:resource",
        ));
    };
    if prefix != "arn" {
        return Err(invalid("does not start with \"arn:\""));
    }
    if !is_partition(partition) {
        return Err(invalid("unknown partition"));
    }
    if !region.is_empty() {
        return Err(invalid("region must be empty for sts and iam ARNs"));
    }
    if !is_account(account) {
        return Err(invalid("account is not 12 digits"));
    }
    let mut p = Principal {
        arn: arn.to_string(),
        partition: partition.to_string(),
        account: account.to_string(),
        kind: Kind::Other,
        role_name: None,
        permission_set: None,
        session_name: None,
        user_name: None,
        user_path: None,
    };
    match service {
        "sts" => {
            if let Some(rest) = resource.strip_prefix("assumed-role/") {
                let Some((role, session)) = rest.split_once('/') else {
                    return Err(invalid("assumed-role without a session name"));
                };
                if !is_name(role, 1, 64) {
                    return Err(invalid("role name is not 1-64 characters of [\\w+=,.@-]"));
                }
                if !is_name(session, 2, 64) {
                    return Err(invalid(
                        "role session name is not 2-64 characters of [\\w+=,.@-]",
                    ));
                }
                match idc_permission_set(role) {
                    Some(set) => {
                        p.kind = Kind::Idc;
                        p.permission_set = Some(set.to_string());
                    }
                    None => p.kind = Kind::AssumedRole,
                }
                p.role_name = Some(role.to_string());
                p.session_name = Some(session.to_string());
            } else if let Some(name) = resource.strip_prefix("federated-user/") {
                if !is_name(name, 2, 32) {
                    return Err(invalid(
                        "federated user name is not 2-32 characters of [\\w+=,.@-]",
                    ));
                }
                p.kind = Kind::FederatedUser;
                p.user_name = Some(name.to_string());
            } else {
                return Err(invalid(
                    "sts resource is not assumed-role/… or federated-user/…",
                ));
            }
        }
        "iam" => {
            if resource == "root" {
                p.kind = Kind::Root;
            } else if let Some(rest) = resource.strip_prefix("user/") {
                let (path, name) = split_path("IAM user", rest)?;
                if !is_name(name, 1, 64) {
                    return Err(invalid(
                        "IAM user name is not 1-64 characters of [\\w+=,.@-]",
                    ));
                }
                p.kind = Kind::IamUser;
                p.user_name = Some(name.to_string());
                p.user_path = Some(path);
            } else if let Some(rest) = resource.strip_prefix("role/") {
                let (_, name) = split_path("IAM role", rest)?;
                if !is_name(name, 1, 64) {
                    return Err(invalid("role name is not 1-64 characters of [\\w+=,.@-]"));
                }
                p.role_name = Some(name.to_string());
            } else if let Some(rest) = resource.strip_prefix("group/") {
                let (_, name) = split_path("IAM group", rest)?;
                if !is_name(name, 1, 128) {
                    return Err(invalid("group name is not 1-128 characters of [\\w+=,.@-]"));
                }
            } else {
                return Err(invalid(
                    "iam resource is not root, user/…, role/… or group/…",
                ));
            }
        }
        _ => return Err(invalid("service is not sts or iam")),
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/owner-arns.tsv");

    fn opt(s: &str) -> Option<String> {
        (!s.is_empty()).then(|| s.to_string())
    }

    /// Every row of the shared fixture. Its `kind` column says `other` for the root
    /// user and federated users; our rules give them their own kinds ([`Kind::Root`],
    /// [`Kind::FederatedUser`]), so `other` is narrowed by the resource type here.
    #[test]
    fn fixture_rows() {
        let mut lines = FIXTURE.lines();
        let header = lines.next().unwrap_or_default();
        assert_eq!(
            header,
            "arn\tpartition\taccount\tkind\trole_name\tpermission_set\tsession_name\tuser_name\tuser_path\tnote"
        );
        let mut checked = 0;
        for line in lines {
            let c: Vec<&str> = line.split('\t').collect();
            assert_eq!(c.len(), 10, "row has 10 columns: {line:?}");
            let (arn, note) = (c[0], c[9]);
            let got = parse(arn);
            if c[3] == "invalid" {
                let err = got.expect_err(note);
                assert!(!err.0.contains('\n'), "{note}: reason is one line");
                checked += 1;
                continue;
            }
            let p = got.unwrap_or_else(|e| panic!("{note}: {arn}: {e}"));
            let kind = match c[3] {
                "idc-assumed-role" => Kind::Idc,
                "assumed-role" => Kind::AssumedRole,
                "iam-user" => Kind::IamUser,
                "other" if arn.ends_with(":root") => Kind::Root,
                "other" if arn.contains(":federated-user/") => Kind::FederatedUser,
                "other" => Kind::Other,
                k => panic!("unknown kind {k:?} in fixture"),
            };
            assert_eq!(p.arn, arn, "{note}");
            assert_eq!(p.partition, c[1], "{note}");
            assert_eq!(p.account, c[2], "{note}");
            assert_eq!(p.kind, kind, "{note}");
            assert_eq!(p.role_name, opt(c[4]), "{note}");
            assert_eq!(p.permission_set, opt(c[5]), "{note}");
            assert_eq!(p.session_name, opt(c[6]), "{note}");
            assert_eq!(p.user_name, opt(c[7]), "{note}");
            assert_eq!(p.user_path, opt(c[8]), "{note}");
            checked += 1;
        }
        assert!(checked >= 50, "only {checked} rows");
    }

    fn ok(arn: &str) -> Principal {
        parse(arn).unwrap_or_else(|e| panic!("{arn}: {e}"))
    }

    fn bad(arn: &str) -> String {
        match parse(arn) {
            Ok(p) => panic!("{arn} parsed as {p:?}"),
            Err(e) => e.0,
        }
    }

    const SSO: &str = "arn:aws:sts::111122223333:assumed-role/";

    #[test]
    fn idc_permission_set_with_underscores_keeps_all_but_the_suffix() {
        let p = ok(&format!(
            "{SSO}AWSReservedSSO_Data_Eng_RO_0123456789abcdef/alice"
        ));
        assert_eq!(p.kind, Kind::Idc);
        assert_eq!(p.permission_set.as_deref(), Some("Data_Eng_RO"));
        assert_eq!(
            p.role_name.as_deref(),
            Some("AWSReservedSSO_Data_Eng_RO_0123456789abcdef")
        );
        assert_eq!(p.session_name.as_deref(), Some("alice"));
        assert_eq!(p.name(), Some("alice"));
    }

    #[test]
    fn idc_hex_looking_permission_set_and_names() {
        let p = ok(&format!(
            "{SSO}AWSReservedSSO_deadbeef_0123456789abcdef/cafebabe"
        ));
        assert_eq!(p.kind, Kind::Idc);
        assert_eq!(p.permission_set.as_deref(), Some("deadbeef"));
        assert_eq!(p.session_name.as_deref(), Some("cafebabe"));
        // Only hex after the last underscore: the set may be all hex itself.
        let p = ok(&format!("{SSO}AWSReservedSSO_abc_def/xy"));
        assert_eq!(p.permission_set.as_deref(), Some("abc"));
    }

    #[test]
    fn idc_lookalikes_are_plain_assumed_roles() {
        for role in [
            "AWSReservedSSO_DevOps_",                // empty suffix
            "AWSReservedSSO_DevOps_0123g",           // non-hex suffix
            "AWSReservedSSO_",                       // nothing after the prefix
            "AWSReservedSSO__",                      // empty set, empty suffix
            "AWSReservedSSODevOps_0123456789abcdef", // no underscore after prefix
            "xAWSReservedSSO_DevOps_0123456789abcdef",
        ] {
            let p = ok(&format!("{SSO}{role}/alice"));
            assert_eq!(p.kind, Kind::AssumedRole, "{role}");
            assert_eq!(p.permission_set, None, "{role}");
            assert_eq!(p.role_name.as_deref(), Some(role));
        }
    }

    #[test]
    fn idc_permission_set_length_limit() {
        let set32 = "P".repeat(32);
        let p = ok(&format!("{SSO}AWSReservedSSO_{set32}_ab/alice"));
        assert_eq!(p.kind, Kind::Idc);
        assert_eq!(p.permission_set.as_deref(), Some(set32.as_str()));
        // 33 characters is not a permission set name: the role is an ordinary role
        // (it still fits in 64 characters with a short suffix).
        let set33 = "P".repeat(33);
        let p = ok(&format!("{SSO}AWSReservedSSO_{set33}_ab/alice"));
        assert_eq!(p.kind, Kind::AssumedRole);
        assert_eq!(p.permission_set, None);
        // With a real 16-hex suffix the role name is 65 characters: invalid.
        bad(&format!(
            "{SSO}AWSReservedSSO_{set33}_0123456789abcdef/alice"
        ));
    }

    #[test]
    fn partitions() {
        for part in [
            "aws",
            "aws-cn",
            "aws-us-gov",
            "aws-iso",
            "aws-iso-b",
            "aws-iso-f",
        ] {
            let p = ok(&format!(
                "arn:{part}:sts::111122223333:assumed-role/AWSReservedSSO_Ops_0a/bob"
            ));
            assert_eq!(p.partition, part);
            assert_eq!(p.kind, Kind::Idc);
        }
        for part in [
            "", "AWS", "aws-", "aws--cn", "aws_cn", "azure", "aws-CN", "aws-cn-",
        ] {
            bad(&format!(
                "arn:{part}:sts::111122223333:assumed-role/Dev/bob"
            ));
        }
    }

    #[test]
    fn empty_parts_and_structure() {
        for arn in [
            "arn:",
            "arn:aws",
            "arn:aws:sts",
            "arn:aws:sts:",
            "arn:aws:sts::",
            "arn:aws:sts::111122223333",
            "arn:aws:sts::111122223333:",
            "arn:aws:sts::111122223333:assumed-role",
            "arn:aws:sts::111122223333:assumed-role/",
            "arn:aws:sts::111122223333:assumed-role/Dev/",
            "arn:aws:sts::111122223333:assumed-role/Dev/bob/",
            "arn:aws:sts::111122223333:assumed-role/Dev/bob/x",
            "arn:aws:sts::111122223333:assumed-role/Dev//bob",
            "arn::sts::111122223333:assumed-role/Dev/bob",
            "ARN:aws:sts::111122223333:assumed-role/Dev/bob",
            "arn:aws:STS::111122223333:assumed-role/Dev/bob",
            "arn:aws:sts::111122223333:Assumed-Role/Dev/bob",
            "arn:aws:sts::111122223333:assumed-role/Dev/bob\n",
            "arn:aws:sts::111122223333:assumed-role/Dev/bob ",
            "arn:aws:sts::1111222233334:assumed-role/Dev/bob",
            "arn:aws:sts::١١١١٢٢٢٢٣٣٣٣:assumed-role/Dev/bob", // Arabic-Indic digits
            "arn:aws:iam::111122223333:root/",
            "arn:aws:iam::111122223333:rootx",
            "arn:aws:iam::111122223333:user",
            "arn:aws:iam::111122223333:user//carol",
            "arn:aws:iam::111122223333:user/a//carol",
            "arn:aws:iam::111122223333:user/carol/",
            "arn:aws:iam::111122223333:policy/x",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:sts::111122223333:root",
            "arn:aws:iam::111122223333:assumed-role/Dev/bob",
            "arn:aws:sts::111122223333:user/carol",
            "arn:aws:sts::111122223333:federated-user/e",
            "arn:aws:sts::111122223333:federated-user/a/b",
        ] {
            let reason = bad(arn);
            assert!(!reason.contains('\n') && !reason.is_empty(), "{arn:?}");
        }
    }

    #[test]
    fn unicode_names_are_refused() {
        for name in ["ålice", "bob\u{200b}", "日本", "ＡＢ", "bob\u{0301}"] {
            bad(&format!("{SSO}Dev/{name}"));
            bad(&format!("{SSO}{name}/bob"));
            bad(&format!("arn:aws:iam::111122223333:user/{name}"));
            bad(&format!("arn:aws:iam::111122223333:user/{name}/carol"));
            bad(&format!("{SSO}AWSReservedSSO_{name}_0123456789abcdef/bob"));
        }
    }

    #[test]
    fn iam_user_paths() {
        let p = ok("arn:aws:iam::111122223333:user/a/b.c/d-e/carol");
        assert_eq!(p.user_path.as_deref(), Some("/a/b.c/d-e/"));
        assert_eq!(p.user_name.as_deref(), Some("carol"));
        assert_eq!(p.name(), Some("carol"));
        assert_eq!(p.session_name, None);
        let p = ok("arn:aws-cn:iam::333344445555:user/x");
        assert_eq!((p.partition.as_str(), p.kind), ("aws-cn", Kind::IamUser));
        bad(&format!(
            "arn:aws:iam::111122223333:user/{}",
            "U".repeat(65)
        ));
        bad(&format!(
            "arn:aws:iam::111122223333:user/{}/carol",
            "p".repeat(511)
        ));
    }

    #[test]
    fn root_federated_and_others() {
        let p = ok("arn:aws-cn:iam::333344445555:root");
        assert_eq!(p.kind, Kind::Root);
        assert_eq!(p.name(), None);
        let p = ok("arn:aws-us-gov:sts::222233334444:federated-user/erin@x");
        assert_eq!(p.kind, Kind::FederatedUser);
        assert_eq!(p.name(), Some("erin@x"));
        bad(&format!(
            "arn:aws:sts::111122223333:federated-user/{}",
            "f".repeat(33)
        ));
        let p = ok("arn:aws:iam::111122223333:group/admins");
        assert_eq!((p.kind, p.name()), (Kind::Other, None));
        let p = ok("arn:aws:iam::111122223333:role/service-role/x");
        assert_eq!((p.kind, p.role_name.as_deref()), (Kind::Other, Some("x")));
        assert_eq!(p.session_name, None);
    }

    #[test]
    fn length_limits() {
        let s64 = "s".repeat(64);
        ok(&format!("{SSO}Dev/{s64}"));
        bad(&format!("{SSO}Dev/{s64}s"));
        ok(&format!("{SSO}{}/bob", "r".repeat(64)));
        ok(&format!("{SSO}Dev/ab"));
        bad(&format!("{SSO}Dev/a"));
        let huge = format!("{SSO}Dev/{}", "a".repeat(MAX_ARN_LEN));
        bad(&huge);
    }

    /// A valid ARN of each kind, to mutate.
    const SEEDS: &[&str] = &[
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Data_Eng_0123456789abcdef/alice@example.com",
        "arn:aws-us-gov:sts::222233334444:assumed-role/BreakGlass/bob",
        "arn:aws:iam::111122223333:user/ops/carol",
        "arn:aws-cn:sts::333344445555:federated-user/erin",
        "arn:aws:iam::111122223333:root",
        "arn:aws:iam::111122223333:role/a/b",
    ];

    /// What every successful parse must satisfy, checked against the input.
    fn check_invariants(arn: &str, p: &Principal) {
        assert_eq!(p.arn, arn);
        assert!(arn.len() <= MAX_ARN_LEN);
        assert!(p.account.len() == 12 && p.account.bytes().all(|b| b.is_ascii_digit()));
        assert!(p.partition == "aws" || p.partition.starts_with("aws-"));
        let names = [
            &p.role_name,
            &p.permission_set,
            &p.session_name,
            &p.user_name,
        ];
        for n in names.into_iter().flatten() {
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
                    assert!(role.starts_with(&format!("AWSReservedSSO_{set}_")));
                    assert!(set.len() <= 32);
                    let suffix = &role[15 + set.len() + 1..];
                    assert!(!suffix.is_empty() && !suffix.contains('_'));
                } else {
                    assert_eq!(p.permission_set, None);
                }
            }
            Kind::IamUser => {
                let path = p.user_path.as_deref().unwrap_or_default();
                let name = p.user_name.as_deref().unwrap_or_default();
                assert!(path.starts_with('/') && path.ends_with('/'));
                assert!(arn.ends_with(&format!(":user{path}{name}")));
            }
            Kind::FederatedUser => {
                let name = p.user_name.as_deref().unwrap_or_default();
                assert!(arn.ends_with(&format!(":federated-user/{name}")));
            }
            Kind::Root => assert!(arn.ends_with(":root") && p.name().is_none()),
            Kind::Other => assert!(p.session_name.is_none() && p.user_name.is_none()),
        }
    }

    fn mutate(seed: &str, ops: &[(u8, usize, char)]) -> String {
        let mut s: Vec<char> = seed.chars().collect();
        for &(op, pos, c) in ops {
            let i = if s.is_empty() { 0 } else { pos % (s.len() + 1) };
            match op % 4 {
                0 => s.insert(i, c),
                1 if i < s.len() => {
                    s.remove(i);
                }
                2 if i < s.len() => s[i] = c,
                _ => s.truncate(i),
            }
        }
        s.into_iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            if let Ok(p) = parse(&s) {
                check_invariants(&s, &p);
            }
        }

        #[test]
        fn never_panics_on_mutated_arns(
            seed in proptest::sample::select(SEEDS),
            ops in proptest::collection::vec(
                (any::<u8>(), any::<usize>(), prop_oneof![
                    Just(':'), Just('/'), Just('_'), Just('-'), Just('a'), Just('0'),
                    Just('é'), Just(' '), Just('\0'), any::<char>(),
                ]),
                0..6,
            ),
        ) {
            let s = mutate(seed, &ops);
            if let Ok(p) = parse(&s) {
                check_invariants(&s, &p);
            }
        }

        #[test]
        fn generated_idc_arns_round_trip(
            part in prop_oneof![Just("aws"), Just("aws-cn"), Just("aws-us-gov")],
            account in "[0-9]{12}",
            set in "[A-Za-z0-9_+=,.@-]{1,32}",
            suffix in "[0-9a-f]{16}",
            user in "[A-Za-z0-9_+=,.@-]{2,64}",
        ) {
            let arn = format!("arn:{part}:sts::{account}:assumed-role/AWSReservedSSO_{set}_{suffix}/{user}");
            let p = parse(&arn);
            let role = format!("AWSReservedSSO_{set}_{suffix}");
            if role.len() > 64 {
                prop_assert!(p.is_err());
            } else {
                let p = p.map_err(|e| TestCaseError::fail(e.to_string()))?;
                check_invariants(&arn, &p);
                prop_assert_eq!(p.kind, Kind::Idc);
                prop_assert_eq!(p.permission_set.as_deref(), Some(set.as_str()));
                prop_assert_eq!(p.role_name.as_deref(), Some(role.as_str()));
                prop_assert_eq!(p.session_name.as_deref(), Some(user.as_str()));
                prop_assert_eq!(p.account, account);
            }
        }
    }
}
