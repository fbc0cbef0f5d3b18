//! `/etc/ssm-runas/config.toml`: parsing and validation.
//!
//! Every problem is reported as `PATH:LINE:COLUMN: message`. Unknown keys are
//! errors. Structural errors (bad TOML, a wrong type, an unknown key) stop the parse
//! at the first one, as TOML parsers do; semantic errors (a malformed account id, a
//! mapped user `root`, …) are all collected and reported together.
//!
//! The reference for every option is `docs/configuration.md`; the commented example
//! is `packaging/config.example.toml`.
#![forbid(unsafe_code)]

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use ssm_runas_protocol::text;
use toml::Spanned;

use crate::glob;
use crate::owner::Kind;
use crate::username;

mod rule;
mod shadow;

use rule::RawRule;
pub use rule::is_group_name;

/// A value from the file, quoted in a message: control and invisible characters
/// escaped, long values cut ([`text::escape`]).
fn q(v: &str) -> String {
    text::escape(v)
}

/// Where the configuration lives unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/ssm-runas/config.toml";
/// The session document a plain `aws ssm start-session` uses.
pub const DEFAULT_DOCUMENT: &str = "SSM-SessionManagerRunShell";
/// Where the agent installs its session worker (deb/rpm, and snap).
pub const DEFAULT_WORKER_PATHS: [&str; 2] = [
    "/usr/bin/ssm-session-worker",
    "/snap/amazon-ssm-agent/*/ssm-session-worker",
];
/// The root of the agent's state files.
pub const DEFAULT_AGENT_STATE_DIR: &str = "/var/lib/amazon/ssm";

/// Where the owner of a session is learnt from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `ssm:DescribeSessions` (the default).
    Api,
    /// The agent's own state file only.
    AgentState,
    /// The agent's state file, then the API when the file is missing or unreadable.
    AgentStateThenApi,
}

impl Source {
    /// The name used in the config file and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::AgentState => "agent-state",
            Source::AgentStateThenApi => "agent-state-then-api",
        }
    }

    fn parse(s: &str) -> Option<Source> {
        match s {
            "api" => Some(Source::Api),
            "agent-state" => Some(Source::AgentState),
            "agent-state-then-api" => Some(Source::AgentStateThenApi),
            _ => None,
        }
    }
}

/// `[aws]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aws {
    /// Region; `None` means the default chain (environment, then instance metadata).
    pub region: Option<String>,
    /// Endpoint override (VPC endpoints, tests).
    pub endpoint_url: Option<String>,
    /// This instance's id; `None` means instance metadata.
    pub instance_id: Option<String>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one API attempt.
    pub attempt_timeout: Duration,
}

/// `[resolver]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolver {
    /// Where owners come from.
    pub source: Source,
    /// Session documents that may switch.
    pub allowed_documents: Vec<String>,
    /// Glob patterns of the agent's session worker executable.
    pub worker_paths: Vec<String>,
    /// Root of the agent's state files.
    pub agent_state_dir: PathBuf,
    /// Overall deadline for resolving one session.
    pub deadline: Duration,
}

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    /// The Unix socket the daemon listens on.
    pub socket: PathBuf,
    /// Concurrent connections served; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Read/write timeout for one client.
    pub client_timeout: Duration,
}

/// `[audit]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// Send audit records to journald when it is running.
    pub journald: bool,
    /// Also append them as JSON lines to this file.
    pub file: Option<PathBuf>,
}

/// What the landing guard does with a landing-user process that should not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardMode {
    /// Kill it (with its process group and session) and record why (default).
    Enforce,
    /// Only record it.
    Audit,
    /// Do nothing.
    Off,
}

impl GuardMode {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardMode::Enforce => "enforce",
            GuardMode::Audit => "audit",
            GuardMode::Off => "off",
        }
    }
}

/// `[guard]`: the landing guard.
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    /// enforce | audit | off.
    pub mode: GuardMode,
    /// How long a fresh landing shell may live before it must have exec'd the helper.
    pub grace: Duration,
    /// Interval of the `/proc` scan when process events are not available.
    pub scan_interval: Duration,
    /// The installed switch helper (the one landing-uid program allowed to run).
    pub helper_path: PathBuf,
}

/// Where the package installs the switch helper.
pub const DEFAULT_HELPER_PATH: &str = "/usr/libexec/ssm-runas/ssm-runas-login";

/// Which kinds of principal a rule's `kind = "…"` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindSel {
    /// IAM Identity Center.
    Idc,
    /// Any other assumed role.
    AssumedRole,
    /// An IAM user.
    IamUser,
    /// A federated user.
    FederatedUser,
}

impl KindSel {
    /// Whether a principal of kind `k` is selected.
    pub fn selects(self, k: Kind) -> bool {
        matches!(
            (self, k),
            (KindSel::Idc, Kind::Idc)
                | (KindSel::AssumedRole, Kind::AssumedRole)
                | (KindSel::IamUser, Kind::IamUser)
                | (KindSel::FederatedUser, Kind::FederatedUser)
        )
    }

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            KindSel::Idc => "idc",
            KindSel::AssumedRole => "assumed-role",
            KindSel::IamUser => "iam-user",
            KindSel::FederatedUser => "federated-user",
        }
    }

    fn parse(s: &str) -> Option<KindSel> {
        match s {
            "idc" => Some(KindSel::Idc),
            "assumed-role" => Some(KindSel::AssumedRole),
            "iam-user" => Some(KindSel::IamUser),
            "federated-user" => Some(KindSel::FederatedUser),
            _ => None,
        }
    }
}

/// The conditions of one rule; every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conditions {
    /// IdC permission set name, exact.
    pub permission_set: Option<String>,
    /// IAM role name, exact or glob.
    pub role: Option<String>,
    /// Account ids (any of).
    pub account: Option<Vec<String>>,
    /// IdC user name / role session name / IAM user name, exact or glob.
    pub principal: Option<String>,
    /// Kind of principal.
    pub kind: Option<KindSel>,
}

impl Conditions {
    /// True when the rule has no condition and so matches every owner.
    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }
}

/// The Linux account a rule maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinuxUser {
    /// A fixed account name.
    Literal(String),
    /// A template containing `{user}`.
    Template(String),
}

impl fmt::Display for LinuxUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinuxUser::Literal(s) | LinuxUser::Template(s) => f.write_str(s),
        }
    }
}

/// What a matching rule decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Switch to this account.
    Map {
        /// The account (literal or template).
        linux_user: LinuxUser,
        /// Supplementary groups for the account.
        groups: Vec<String>,
        /// Create the account on first use.
        create: bool,
    },
    /// Refuse, showing this message to the person.
    Deny {
        /// The message.
        message: String,
    },
}

/// One `[[rule]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1-based position in the file.
    pub number: usize,
    /// Line of its `[[rule]]` header.
    pub line: usize,
    /// When it applies.
    pub when: Conditions,
    /// What it decides.
    pub outcome: Outcome,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The neutral account every session lands as.
    pub landing_user: String,
    /// Domain removed from names before `{user}` (`"*"`: any `@…`).
    pub strip_domain: Option<String>,
    /// `[aws]`.
    pub aws: Aws,
    /// `[resolver]`.
    pub resolver: Resolver,
    /// `[daemon]`.
    pub daemon: Daemon,
    /// `[audit]`.
    pub audit: Audit,
    /// `[guard]`.
    pub guard: Guard,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            text::escape_max(&self.path.display().to_string(), usize::MAX),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Why a config was refused: every error found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<Diagnostic>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A loaded config and the warnings about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Things that are legal but probably wrong (shadowed rules, …).
    pub warnings: Vec<Diagnostic>,
}

// ---------------------------------------------------------------------------
// Raw (as written) form.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    landing_user: Spanned<String>,
    strip_domain: Option<Spanned<String>>,
    #[serde(default)]
    aws: RawAws,
    #[serde(default)]
    resolver: RawResolver,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    guard: RawGuard,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGuard {
    mode: Option<Spanned<String>>,
    grace_secs: Option<Spanned<f64>>,
    scan_interval_ms: Option<Spanned<i64>>,
    helper_path: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: Option<Spanned<String>>,
    endpoint_url: Option<Spanned<String>>,
    instance_id: Option<Spanned<String>>,
    connect_timeout_secs: Option<Spanned<f64>>,
    attempt_timeout_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawResolver {
    source: Option<Spanned<String>>,
    allowed_documents: Option<Vec<Spanned<String>>>,
    worker_paths: Option<Vec<Spanned<String>>>,
    agent_state_dir: Option<Spanned<String>>,
    deadline_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    socket: Option<Spanned<String>>,
    max_connections: Option<Spanned<i64>>,
    client_timeout_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    #[serde(default = "yes")]
    journald: bool,
    file: Option<Spanned<String>>,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            journald: true,
            file: None,
        }
    }
}

fn yes() -> bool {
    true
}

// ---------------------------------------------------------------------------

/// Byte offsets to line:column.
struct Source_<'a> {
    path: &'a Path,
    text: &'a str,
    /// Byte offset of the start of each line, so finding a line is a binary search
    /// (scanning from the start for every rule made large files quadratic).
    line_starts: Vec<usize>,
}

impl<'a> Source_<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source_ {
            path,
            text,
            line_starts,
        }
    }

    fn at(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        let offset = offset.min(self.text.len());
        // The number of line starts at or before `offset` is the 1-based line.
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let line_start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Diagnostic {
            path: self.path.to_path_buf(),
            line,
            column,
            // Values are quoted escaped already ([`q`]); this also covers the TOML
            // parser's own messages.
            message: text::escape_max(&message.into(), usize::MAX),
        }
    }

    fn span(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        self.at(span.start, message)
    }
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(vec![Diagnostic {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse(path, &text)
}

/// Parses and validates config text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
    parse_with(path, text, &system_uid)
}

/// Looks a user name up in the system's user database.
pub fn system_uid(name: &str) -> Option<u32> {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
}

/// [`parse`] with an explicit user lookup (for tests).
pub fn parse_with(
    path: &Path,
    text: &str,
    uid_of: &dyn Fn(&str) -> Option<u32>,
) -> Result<Loaded, ConfigError> {
    let src = Source_::new(path, text);
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        ConfigError(vec![src.at(offset, e.message().trim().to_string())])
    })?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let landing_user = raw.landing_user.get_ref().clone();
    if !username::is_valid(&landing_user) {
        errors.push(src.span(
            raw.landing_user.span(),
            format!(
                "landing_user `{}` is not a valid Linux user name",
                q(&landing_user)
            ),
        ));
    } else if landing_user == "root" || uid_of(&landing_user) == Some(0) {
        errors.push(src.span(
            raw.landing_user.span(),
            "landing_user must not be root or any uid-0 account",
        ));
    }

    let strip_domain = raw.strip_domain.as_ref().map(|d| {
        let v = d.get_ref().trim_start_matches('@').to_ascii_lowercase();
        if v.is_empty()
            || (v != "*"
                && !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        {
            errors.push(src.span(
                d.span(),
                format!(
                    "strip_domain `{}` must be a domain name like `example.com`, or `*`",
                    q(d.get_ref())
                ),
            ));
        }
        v
    });

    let aws = Aws {
        region: raw.aws.region.as_ref().map(|r| {
            let v = r.get_ref();
            let qv = q(v);
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                errors.push(src.span(
                    r.span(),
                    format!("region `{qv}` is not a region name like `eu-west-1`"),
                ));
            }
            v.clone()
        }),
        endpoint_url: raw.aws.endpoint_url.as_ref().map(|u| {
            let v = u.get_ref();
            let qv = q(v);
            if !(v.starts_with("https://") || v.starts_with("http://")) {
                errors.push(src.span(
                    u.span(),
                    format!("endpoint_url `{qv}` must start with https:// (or http:// for tests)"),
                ));
            }
            v.clone()
        }),
        instance_id: raw.aws.instance_id.as_ref().map(|i| {
            let v = i.get_ref();
            let qv = q(v);
            if !crate::session_id::is_instance_id(v) {
                errors.push(src.span(
                    i.span(),
                    format!("instance_id `{qv}` is not an instance id like `i-0123456789abcdef0`"),
                ));
            }
            v.clone()
        }),
        connect_timeout: secs(
            &src,
            &mut errors,
            raw.aws.connect_timeout_secs.as_ref(),
            3.0,
            "connect_timeout_secs",
        ),
        attempt_timeout: secs(
            &src,
            &mut errors,
            raw.aws.attempt_timeout_secs.as_ref(),
            3.0,
            "attempt_timeout_secs",
        ),
    };

    let source = match raw.resolver.source.as_ref() {
        None => Source::Api,
        Some(s) => Source::parse(s.get_ref()).unwrap_or_else(|| {
            errors.push(src.span(
                s.span(),
                format!(
                    "source `{}` is not one of `api`, `agent-state`, `agent-state-then-api`",
                    q(s.get_ref())
                ),
            ));
            Source::Api
        }),
    };
    let allowed_documents = match &raw.resolver.allowed_documents {
        None => vec![DEFAULT_DOCUMENT.to_string()],
        Some(list) => {
            if list.is_empty() {
                errors.push(src.at(
                    0,
                    "resolver.allowed_documents is empty: no session could ever switch",
                ));
            }
            list.iter()
                .map(|d| {
                    let v = d.get_ref();
                    let qv = q(v);
                    if v.is_empty()
                        || v.len() > 128
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
                    {
                        errors.push(
                            src.span(d.span(), format!("`{qv}` is not an SSM document name")),
                        );
                    }
                    v.clone()
                })
                .collect()
        }
    };
    let worker_paths = match &raw.resolver.worker_paths {
        None => DEFAULT_WORKER_PATHS.iter().map(|s| s.to_string()).collect(),
        Some(list) => list
            .iter()
            .map(|p| {
                let v = p.get_ref();
                let qv = q(v);
                if !v.starts_with('/') || v.contains("..") || v.ends_with('/') {
                    errors.push(src.span(
                        p.span(),
                        format!(
                            "worker path `{qv}` must be an absolute path to the session worker"
                        ),
                    ));
                } else if let Err(e) = glob::validate(v) {
                    errors.push(src.span(p.span(), format!("worker path `{qv}`: {e}")));
                }
                v.clone()
            })
            .collect(),
    };
    let agent_state_dir = match &raw.resolver.agent_state_dir {
        None => PathBuf::from(DEFAULT_AGENT_STATE_DIR),
        Some(d) => {
            if !d.get_ref().starts_with('/') {
                errors.push(src.span(d.span(), "agent_state_dir must be an absolute path"));
            }
            PathBuf::from(d.get_ref())
        }
    };
    let deadline = secs(
        &src,
        &mut errors,
        raw.resolver.deadline_secs.as_ref(),
        10.0,
        "deadline_secs",
    );
    if deadline.as_secs_f64() >= ssm_runas_protocol::DEFAULT_CLIENT_TIMEOUT_SECS as f64
        && let Some(d) = &raw.resolver.deadline_secs
    {
        errors.push(src.span(
                d.span(),
                format!(
                    "deadline_secs must be shorter than the PAM module's timeout ({} s), or the first login fails while the second works",
                    ssm_runas_protocol::DEFAULT_CLIENT_TIMEOUT_SECS
                ),
            ));
    }

    let socket = match &raw.daemon.socket {
        None => PathBuf::from(ssm_runas_protocol::DEFAULT_SOCKET),
        Some(s) => {
            if !s.get_ref().starts_with('/') {
                errors.push(src.span(s.span(), "socket must be an absolute path"));
            }
            PathBuf::from(s.get_ref())
        }
    };
    let max_connections = match &raw.daemon.max_connections {
        None => 64,
        Some(m) => {
            let v = *m.get_ref();
            if !(1..=4096).contains(&v) {
                errors.push(src.span(m.span(), "max_connections must be between 1 and 4096"));
            }
            v.clamp(1, 4096) as usize
        }
    };
    let client_timeout = secs(
        &src,
        &mut errors,
        raw.daemon.client_timeout_secs.as_ref(),
        5.0,
        "client_timeout_secs",
    );

    let audit = Audit {
        journald: raw.audit.journald,
        file: raw.audit.file.as_ref().map(|f| {
            if !f.get_ref().starts_with('/') {
                errors.push(src.span(f.span(), "audit file must be an absolute path"));
            }
            PathBuf::from(f.get_ref())
        }),
    };

    let guard = Guard {
        mode: match &raw.guard.mode {
            None => GuardMode::Enforce,
            Some(m) => match m.get_ref().as_str() {
                "enforce" => GuardMode::Enforce,
                "audit" => GuardMode::Audit,
                "off" => GuardMode::Off,
                other => {
                    errors.push(src.span(
                        m.span(),
                        format!(
                            "guard mode `{}` is not one of `enforce`, `audit`, `off`",
                            q(other)
                        ),
                    ));
                    GuardMode::Enforce
                }
            },
        },
        grace: {
            let g = secs(
                &src,
                &mut errors,
                raw.guard.grace_secs.as_ref(),
                3.0,
                "grace_secs",
            );
            if g > Duration::from_secs(60)
                && let Some(s) = &raw.guard.grace_secs
            {
                errors.push(src.span(s.span(), "grace_secs must be at most 60"));
            }
            g
        },
        scan_interval: match &raw.guard.scan_interval_ms {
            None => Duration::from_millis(200),
            Some(v) => {
                let ms = *v.get_ref();
                if !(10..=10_000).contains(&ms) {
                    errors
                        .push(src.span(v.span(), "scan_interval_ms must be between 10 and 10000"));
                }
                Duration::from_millis(ms.clamp(10, 10_000) as u64)
            }
        },
        helper_path: match &raw.guard.helper_path {
            None => PathBuf::from(DEFAULT_HELPER_PATH),
            Some(p) => {
                if !p.get_ref().starts_with('/') {
                    errors.push(src.span(p.span(), "helper_path must be an absolute path"));
                }
                PathBuf::from(p.get_ref())
            }
        },
    };

    let rules = rule::parse_all(
        &src,
        &raw.rule,
        &landing_user,
        uid_of,
        &mut errors,
        &mut warnings,
    );

    if !errors.is_empty() {
        return Err(ConfigError(errors));
    }

    // Shadowed rules: legal, but almost always a mistake.
    let shadows = shadow::check(&rules);
    for &(j, i) in &shadows.shadowed {
        if let (Some(later), Some(earlier)) = (rules.get(j), rules.get(i)) {
            warnings.push(Diagnostic {
                path: path.to_path_buf(),
                line: later.line,
                column: 1,
                message: format!(
                    "rule {} can never match: rule {} (line {}) matches every owner it would",
                    later.number, earlier.number, earlier.line
                ),
            });
        }
    }
    if let Some(later) = shadows.stopped_at.and_then(|j| rules.get(j)) {
        warnings.push(Diagnostic {
            path: path.to_path_buf(),
            line: later.line,
            column: 1,
            message: format!(
                "rules from rule {} on were not checked for being shadowed: the check stops after {} comparisons",
                later.number,
                shadow::BUDGET
            ),
        });
    }
    if rules.is_empty() {
        warnings.push(src.at(0, "no [[rule]]: every session will be denied"));
    }

    Ok(Loaded {
        config: Config {
            path: path.to_path_buf(),
            landing_user,
            strip_domain,
            aws,
            resolver: Resolver {
                source,
                allowed_documents,
                worker_paths,
                agent_state_dir,
                deadline,
            },
            daemon: Daemon {
                socket,
                max_connections,
                client_timeout,
            },
            audit,
            guard,
            rules,
        },
        warnings,
    })
}

fn secs(
    src: &Source_<'_>,
    errors: &mut Vec<Diagnostic>,
    v: Option<&Spanned<f64>>,
    default: f64,
    name: &str,
) -> Duration {
    match v {
        None => Duration::from_secs_f64(default),
        Some(s) => {
            let x = *s.get_ref();
            if !(x > 0.0 && x <= 300.0) {
                errors.push(src.span(
                    s.span(),
                    format!("{name} must be more than 0 and at most 300 seconds"),
                ));
                Duration::from_secs_f64(default)
            } else {
                Duration::from_secs_f64(x)
            }
        }
    }
}

#[cfg(test)]
mod tests;
