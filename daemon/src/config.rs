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
mod sections;
mod shadow;

use rule::RawRule;
pub use rule::is_group_name;
use sections::{RawAudit, RawAws, RawDaemon, RawGuard, RawResolver};

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
    let mut c = sections::Check {
        src: &src,
        errors: &mut errors,
    };
    let landing_user = sections::landing_user(&mut c, &raw.landing_user, uid_of);
    let strip_domain = sections::strip_domain(&mut c, raw.strip_domain.as_ref());
    let aws = sections::aws(&mut c, &raw.aws);
    let resolver = sections::resolver(&mut c, &raw.resolver);
    let daemon = sections::daemon(&mut c, &raw.daemon);
    let audit = sections::audit(&mut c, &raw.audit);
    let guard = sections::guard(&mut c, &raw.guard);

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
            resolver,
            daemon,
            audit,
            guard,
            rules,
        },
        warnings,
    })
}

#[cfg(test)]
mod tests;
