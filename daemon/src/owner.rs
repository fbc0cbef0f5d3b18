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
    /// A well-formed ARN that is not a session principal (IAM role, IAM group).
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
    /// `aws`, `aws-cn`, `aws-us-gov`, …
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

/// Parses an owner ARN. Never panics, whatever the input.
pub fn parse(arn: &str) -> Result<Principal, InvalidOwner> {
    let _ = arn;
    Err(InvalidOwner("not implemented".into()))
}
