//! The audit trail: one structured record per decision.
//!
//! A record goes to journald (structured fields `SSM_RUNAS_*`, a fixed
//! [`MESSAGE_ID`]) when journald is wanted and its socket exists, else as one JSON
//! line on stderr; and, when configured, as one JSON line appended to a file.
//! `docs/audit.md` describes every field. Writing a record never panics and never
//! blocks a decision: a sink that fails is reported on stderr once, and a record that
//! journald refused is written to stderr instead, so it is never silently lost.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use libsystemd::logging::{Priority, journal_send};
use serde_json::{Map, Value};
use ssm_runas_protocol::text;

/// `MESSAGE_ID` of every audit record, so `journalctl MESSAGE_ID=…` lists audit
/// records only. Fixed forever (generated once for ssm-runas).
pub const MESSAGE_ID: &str = "698ec4fa86e2498ca42765ab09034648";

/// `SYSLOG_IDENTIFIER` of audit records sent to journald.
pub const SYSLOG_IDENTIFIER: &str = "ssm-runasd";

/// Where journald listens; the same path libsystemd sends to.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decision {
    /// A session was mapped to a Linux account.
    Allow,
    /// A session was refused an account (no rule, invalid owner, …).
    Deny,
    /// No decision could be made (AWS unreachable, internal error): the caller was denied.
    #[default]
    Error,
    /// The switch helper opened the PAM session for the mapped account.
    SessionOpened,
    /// The switched session ended.
    SessionClosed,
    /// The switch helper failed after an allow (the session ends).
    SwitchFailed,
    /// The landing guard killed a landing-user process that should not exist, and its session.
    GuardKill,
    /// The landing guard found such a process and only recorded it (`[guard] mode = "audit"`).
    GuardAudit,
}

impl Decision {
    /// The value of `SSM_RUNAS_DECISION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Error => "error",
            Decision::SessionOpened => "session-opened",
            Decision::SessionClosed => "session-closed",
            Decision::SwitchFailed => "switch-failed",
            Decision::GuardKill => "guard-kill",
            Decision::GuardAudit => "guard-audit",
        }
    }

    /// The syslog priority: 6 (info) for allow/opened/closed, 4 (warning) for deny,
    /// guard-kill and guard-audit, 3 (err) for error and switch-failed.
    pub fn priority(self) -> u8 {
        match self {
            Decision::Allow | Decision::SessionOpened | Decision::SessionClosed => 6,
            Decision::Deny | Decision::GuardKill | Decision::GuardAudit => 4,
            Decision::Error | Decision::SwitchFailed => 3,
        }
    }

    fn journal_priority(self) -> Priority {
        match self.priority() {
            6 => Priority::Info,
            4 => Priority::Warning,
            _ => Priority::Error,
        }
    }
}

/// One audit record. Absent (`None`) fields are left out of every output.
/// The decision defaults to [`Decision::Error`], so a half-filled record never reads
/// as an allow.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord {
    /// `SSM_RUNAS_DECISION`.
    pub decision: Decision,
    /// `SSM_RUNAS_SESSION_ID`: the SSM SessionId.
    pub session_id: Option<String>,
    /// `SSM_RUNAS_OWNER_ARN`: the session's owner ARN as AWS gave it.
    pub owner_arn: Option<String>,
    /// `SSM_RUNAS_ACCOUNT_ID`: the owner's 12-digit account.
    pub account_id: Option<String>,
    /// `SSM_RUNAS_PERMISSION_SET`: the IdC permission set, for IdC owners.
    pub permission_set: Option<String>,
    /// `SSM_RUNAS_PRINCIPAL`: the person's name (IdC user, role session or IAM user name).
    pub principal: Option<String>,
    /// `SSM_RUNAS_PRINCIPAL_KIND`: [`crate::owner::Kind::as_str`].
    pub principal_kind: Option<String>,
    /// `SSM_RUNAS_RULE`: the 1-based number of the rule that decided.
    pub rule: Option<usize>,
    /// `SSM_RUNAS_RULE_LINE`: the line of that rule in the configuration file.
    pub rule_line: Option<usize>,
    /// `SSM_RUNAS_LINUX_USER`: the mapped Linux account.
    pub linux_user: Option<String>,
    /// `SSM_RUNAS_REASON`: a one-line reason (always present; may be empty for an allow).
    pub reason: String,
    /// `SSM_RUNAS_PEER_PID`: the requesting process, from `SO_PEERCRED`.
    pub peer_pid: Option<i32>,
    /// `SSM_RUNAS_PEER_UID`: its uid, from `SO_PEERCRED`.
    pub peer_uid: Option<u32>,
    /// `SSM_RUNAS_SOURCE`: where the owner came from, `api` or `agent-state`.
    pub source: Option<String>,
    /// `SSM_RUNAS_TTY`: the session's terminal as utmp names it (`pts/3`), on session
    /// records, so they join the login records (`last`, `who`).
    pub tty: Option<String>,
}

impl AuditRecord {
    /// A record of `decision` with everything else absent.
    pub fn new(decision: Decision) -> AuditRecord {
        AuditRecord {
            decision,
            ..AuditRecord::default()
        }
    }

    /// Fills the owner fields (ARN, account, permission set, principal name and kind)
    /// from a parsed owner.
    pub fn set_owner(&mut self, p: &crate::owner::Principal) {
        self.owner_arn = Some(p.arn.clone());
        self.account_id = Some(p.account.clone());
        self.permission_set = p.permission_set.clone();
        self.principal = p.name().map(str::to_string);
        self.principal_kind = Some(p.kind.as_str().to_string());
    }
}

/// A field value: text or a number (numbers are JSON numbers in JSON lines; journald
/// stores every field as text).
enum FieldValue<'a> {
    Text(&'a str),
    Number(u64),
    Signed(i64),
}

impl FieldValue<'_> {
    fn to_text(&self) -> String {
        match self {
            FieldValue::Text(s) => (*s).to_string(),
            FieldValue::Number(n) => n.to_string(),
            FieldValue::Signed(n) => n.to_string(),
        }
    }
    fn to_json(&self) -> Value {
        match self {
            FieldValue::Text(s) => Value::String((*s).to_string()),
            FieldValue::Number(n) => Value::from(*n),
            FieldValue::Signed(n) => Value::from(*n),
        }
    }
}

/// The `SSM_RUNAS_*` fields of a record, in a fixed order, absent ones left out.
fn fields(r: &AuditRecord) -> Vec<(&'static str, FieldValue<'_>)> {
    let mut f = vec![("SSM_RUNAS_DECISION", FieldValue::Text(r.decision.as_str()))];
    let texts = [
        ("SSM_RUNAS_SESSION_ID", &r.session_id),
        ("SSM_RUNAS_OWNER_ARN", &r.owner_arn),
        ("SSM_RUNAS_ACCOUNT_ID", &r.account_id),
        ("SSM_RUNAS_PERMISSION_SET", &r.permission_set),
        ("SSM_RUNAS_PRINCIPAL", &r.principal),
        ("SSM_RUNAS_PRINCIPAL_KIND", &r.principal_kind),
    ];
    for (k, v) in texts {
        if let Some(v) = v {
            f.push((k, FieldValue::Text(v)));
        }
    }
    if let Some(n) = r.rule {
        f.push(("SSM_RUNAS_RULE", FieldValue::Number(n as u64)));
    }
    if let Some(n) = r.rule_line {
        f.push(("SSM_RUNAS_RULE_LINE", FieldValue::Number(n as u64)));
    }
    if let Some(u) = &r.linux_user {
        f.push(("SSM_RUNAS_LINUX_USER", FieldValue::Text(u)));
    }
    f.push(("SSM_RUNAS_REASON", FieldValue::Text(&r.reason)));
    if let Some(n) = r.peer_pid {
        f.push(("SSM_RUNAS_PEER_PID", FieldValue::Signed(i64::from(n))));
    }
    if let Some(n) = r.peer_uid {
        f.push(("SSM_RUNAS_PEER_UID", FieldValue::Number(u64::from(n))));
    }
    if let Some(s) = &r.source {
        f.push(("SSM_RUNAS_SOURCE", FieldValue::Text(s)));
    }
    if let Some(t) = &r.tty {
        f.push(("SSM_RUNAS_TTY", FieldValue::Text(t)));
    }
    f
}

/// How many characters of each value `MESSAGE` shows (the fields keep them whole).
const MESSAGE_ID_CHARS: usize = 128;
const MESSAGE_ARN_CHARS: usize = 256;
const MESSAGE_REASON_CHARS: usize = 512;

/// The human `MESSAGE` of a record, one line, e.g.
/// `ssm-runas: allow session alice-0123 (arn:…) as devops by rule 2`.
///
/// Every value is escaped ([`text`]): control and invisible characters (bidi
/// overrides, zero-width characters) always, and every non-ASCII character in the
/// session id, the owner ARN and the account name, which are ASCII when genuine,
/// so a look-alike letter shows as `\u{…}`. Each value is cut (`…`) after a bounded
/// number of characters. The `SSM_RUNAS_*` fields keep the values exactly.
pub fn message(r: &AuditRecord) -> String {
    let mut m = format!("ssm-runas: {}", r.decision.as_str());
    m.push_str(" session ");
    match &r.session_id {
        Some(s) => m.push_str(&text::escape_ascii_max(s, MESSAGE_ID_CHARS)),
        None => m.push_str("(unknown)"),
    }
    if let Some(arn) = &r.owner_arn {
        m.push_str(&format!(
            " ({})",
            text::escape_ascii_max(arn, MESSAGE_ARN_CHARS)
        ));
    }
    if let Some(u) = &r.linux_user {
        m.push_str(&format!(
            " as {}",
            text::escape_ascii_max(u, MESSAGE_ID_CHARS)
        ));
    }
    if let Some(n) = r.rule {
        m.push_str(&format!(" by rule {n}"));
    }
    if !r.reason.is_empty() {
        m.push_str(&format!(
            ": {}",
            text::escape_max(&r.reason, MESSAGE_REASON_CHARS)
        ));
    }
    m
}

/// Now as RFC 3339 UTC with microseconds, e.g. `2026-11-29T13:05:00.123456Z`.
fn timestamp() -> String {
    format_timestamp(std::time::SystemTime::now())
}

fn format_timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Writes audit records. `Send + Sync`: share one behind an `Arc`.
#[derive(Debug)]
pub struct Auditor {
    journald: bool,
    file: Option<PathBuf>,
    journal_warned: AtomicBool,
    file_warned: AtomicBool,
}

impl Auditor {
    /// An auditor that writes to journald (when `journald` is true and the journald
    /// socket exists at the time of each record; otherwise JSON lines on stderr), and
    /// to `file` when given. With `journald == false` and no file, records go to
    /// stderr as JSON lines: records are never dropped.
    pub fn new(journald: bool, file: Option<PathBuf>) -> Auditor {
        Auditor {
            journald,
            file,
            journal_warned: AtomicBool::new(false),
            file_warned: AtomicBool::new(false),
        }
    }

    /// Writes one record to every sink. Never panics; errors go to stderr once per sink.
    pub fn record(&self, r: &AuditRecord) {
        let mut json = None;
        let mut json_line = || json.get_or_insert_with(|| Auditor::to_json(r)).clone();
        let to_stderr = if self.journald && Path::new(JOURNAL_SOCKET).exists() {
            match send_journal(r) {
                Ok(()) => false,
                Err(e) => {
                    warn_once(
                        &self.journal_warned,
                        &format!("cannot write audit record to journald: {e}"),
                    );
                    true
                }
            }
        } else {
            self.journald || self.file.is_none()
        };
        if to_stderr {
            write_stderr(&json_line());
        }
        if let Some(path) = &self.file
            && let Err(e) = append_line(path, &json_line())
        {
            warn_once(
                &self.file_warned,
                &format!("cannot append audit record to {}: {e}", path.display()),
            );
            if !to_stderr {
                write_stderr(&json_line());
            }
        }
    }

    /// The record as one JSON line (no trailing newline): the `SSM_RUNAS_*` fields
    /// (rule, rule line, peer pid and uid as JSON numbers, the rest strings), plus
    /// `MESSAGE`, `MESSAGE_ID`, `PRIORITY` (a number) and `TIMESTAMP` (RFC 3339 UTC).
    pub fn to_json(r: &AuditRecord) -> String {
        let mut m = Map::new();
        m.insert("TIMESTAMP".into(), Value::String(timestamp()));
        m.insert("PRIORITY".into(), Value::from(r.decision.priority()));
        m.insert("MESSAGE_ID".into(), Value::String(MESSAGE_ID.into()));
        m.insert("MESSAGE".into(), Value::String(message(r)));
        for (k, v) in fields(r) {
            m.insert(k.into(), v.to_json());
        }
        // Serialising a map of strings and numbers cannot fail; fall back to a
        // fixed line rather than panic.
        serde_json::to_string(&Value::Object(m))
            .unwrap_or_else(|_| r#"{"SSM_RUNAS_DECISION":"error"}"#.to_string())
    }
}

fn send_journal(r: &AuditRecord) -> Result<(), String> {
    let mut vars: Vec<(&str, String)> = vec![
        ("MESSAGE_ID", MESSAGE_ID.to_string()),
        ("SYSLOG_IDENTIFIER", SYSLOG_IDENTIFIER.to_string()),
    ];
    vars.extend(fields(r).into_iter().map(|(k, v)| (k, v.to_text())));
    journal_send(r.decision.journal_priority(), &message(r), vars.into_iter())
        .map_err(|e| e.to_string())
}

/// Appends `line` and a newline with one `write` on an `O_APPEND` descriptor, creating
/// the file with mode 0600. The final path component must not be a symlink.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    f.write_all(&buf)
}

fn write_stderr(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(line.as_bytes())
        .and_then(|()| err.write_all(b"\n"));
}

fn warn_once(flag: &AtomicBool, msg: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        write_stderr(&format!(
            "ssm-runasd: {}",
            text::escape_max(msg, MESSAGE_REASON_CHARS)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn allow() -> AuditRecord {
        AuditRecord {
            decision: Decision::Allow,
            session_id: Some("alice-0123456789abcdef0".into()),
            owner_arn: Some(
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_DevOps_0123456789abcdef/alice"
                    .into(),
            ),
            account_id: Some("111122223333".into()),
            permission_set: Some("DevOps".into()),
            principal: Some("alice".into()),
            principal_kind: Some("idc".into()),
            rule: Some(2),
            rule_line: Some(17),
            linux_user: Some("devops".into()),
            reason: String::new(),
            peer_pid: Some(4242),
            peer_uid: Some(1001),
            source: Some("api".into()),
            tty: None,
        }
    }

    fn parse(line: &str) -> Map<String, Value> {
        match serde_json::from_str(line) {
            Ok(Value::Object(m)) => m,
            other => panic!("not a JSON object: {line}: {other:?}"),
        }
    }

    #[test]
    fn decision_names_and_priorities() {
        let all = [
            (Decision::Allow, "allow", 6),
            (Decision::Deny, "deny", 4),
            (Decision::Error, "error", 3),
            (Decision::SessionOpened, "session-opened", 6),
            (Decision::SessionClosed, "session-closed", 6),
            (Decision::SwitchFailed, "switch-failed", 3),
            (Decision::GuardKill, "guard-kill", 4),
            (Decision::GuardAudit, "guard-audit", 4),
        ];
        for (d, name, prio) in all {
            assert_eq!((d.as_str(), d.priority()), (name, prio));
        }
        assert_eq!(AuditRecord::default().decision, Decision::Error);
    }

    #[test]
    fn json_has_every_field_of_a_full_record() {
        let line = Auditor::to_json(&allow());
        assert!(!line.contains('\n'));
        let m = parse(&line);
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let n = |k: &str| m.get(k).and_then(Value::as_i64);
        assert_eq!(s("SSM_RUNAS_DECISION").as_deref(), Some("allow"));
        assert_eq!(
            s("SSM_RUNAS_SESSION_ID").as_deref(),
            Some("alice-0123456789abcdef0")
        );
        assert_eq!(s("SSM_RUNAS_ACCOUNT_ID").as_deref(), Some("111122223333"));
        assert_eq!(s("SSM_RUNAS_PERMISSION_SET").as_deref(), Some("DevOps"));
        assert_eq!(s("SSM_RUNAS_PRINCIPAL").as_deref(), Some("alice"));
        assert_eq!(s("SSM_RUNAS_PRINCIPAL_KIND").as_deref(), Some("idc"));
        assert_eq!(s("SSM_RUNAS_LINUX_USER").as_deref(), Some("devops"));
        assert_eq!(s("SSM_RUNAS_SOURCE").as_deref(), Some("api"));
        assert_eq!(s("SSM_RUNAS_REASON").as_deref(), Some(""));
        assert_eq!(n("SSM_RUNAS_RULE"), Some(2));
        assert_eq!(n("SSM_RUNAS_RULE_LINE"), Some(17));
        assert_eq!(n("SSM_RUNAS_PEER_PID"), Some(4242));
        assert_eq!(n("SSM_RUNAS_PEER_UID"), Some(1001));
        assert_eq!(n("PRIORITY"), Some(6));
        assert_eq!(s("MESSAGE_ID").as_deref(), Some(MESSAGE_ID));
        assert_eq!(
            s("MESSAGE").as_deref(),
            Some(
                "ssm-runas: allow session alice-0123456789abcdef0 (arn:aws:sts::111122223333:\
                 assumed-role/AWSReservedSSO_DevOps_0123456789abcdef/alice) as devops by rule 2"
            )
        );
        let ts = s("TIMESTAMP").unwrap_or_default();
        assert!(
            ts.len() == 27 && ts.starts_with("20") && ts.ends_with('Z'),
            "{ts}"
        );
        assert_eq!(m.len(), 18);
    }

    #[test]
    fn json_omits_absent_fields_and_keeps_hostile_text_on_one_line() {
        let r = AuditRecord {
            decision: Decision::Deny,
            session_id: Some("mallory-1".into()),
            reason: "no rule matches\n{\"SSM_RUNAS_DECISION\":\"allow\"}".into(),
            ..AuditRecord::default()
        };
        let line = Auditor::to_json(&r);
        assert!(!line.contains('\n'));
        let m = parse(&line);
        let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "MESSAGE",
                "MESSAGE_ID",
                "PRIORITY",
                "SSM_RUNAS_DECISION",
                "SSM_RUNAS_REASON",
                "SSM_RUNAS_SESSION_ID",
                "TIMESTAMP"
            ]
        );
        assert_eq!(m["SSM_RUNAS_DECISION"], "deny");
        assert_eq!(m["SSM_RUNAS_REASON"], Value::String(r.reason.clone()));
        assert_eq!(m["PRIORITY"], 4);
        assert_eq!(
            m["MESSAGE"],
            "ssm-runas: deny session mallory-1: no rule matches\\n{\"SSM_RUNAS_DECISION\":\"allow\"}"
        );
    }

    #[test]
    fn owner_names_in_the_message_are_escaped_and_cut_but_kept_whole_in_fields() {
        // A bidi override that would show `…/alice` reversed, a Cyrillic `а` that
        // looks like a Latin `a`, and a name far longer than any real one.
        let arn = format!(
            "arn:aws:sts::111122223333:assumed-role/Dev/\u{202e}ecil\u{430}{}",
            "x".repeat(3000)
        );
        let r = AuditRecord {
            decision: Decision::Deny,
            session_id: Some("m\u{200b}allory-1".into()),
            owner_arn: Some(arn.clone()),
            linux_user: Some("\u{430}lice".into()),
            reason: "invalid owner ARN: \u{2066}x\u{2069}".into(),
            ..AuditRecord::default()
        };
        let msg = message(&r);
        assert!(
            !msg.chars().any(|c| text::is_unsafe(c) || c == '\u{430}'),
            "{msg}"
        );
        assert!(
            msg.starts_with(
                "ssm-runas: deny session m\\u{200b}allory-1 \
                 (arn:aws:sts::111122223333:assumed-role/Dev/\\u{202e}ecil\\u{430}xxx"
            ),
            "{msg}"
        );
        assert!(
            msg.ends_with("xxx…) as \\u{430}lice: invalid owner ARN: \\u{2066}x\\u{2069}"),
            "{msg}"
        );
        assert!(msg.chars().count() < 400, "{}", msg.chars().count());
        let m = parse(&Auditor::to_json(&r));
        assert_eq!(m["MESSAGE"], msg.as_str());
        assert_eq!(m["SSM_RUNAS_OWNER_ARN"], arn.as_str());
        assert_eq!(m["SSM_RUNAS_SESSION_ID"], "m\u{200b}allory-1");
        assert_eq!(m["SSM_RUNAS_LINUX_USER"], "\u{430}lice");
        assert_eq!(
            m["SSM_RUNAS_REASON"],
            "invalid owner ARN: \u{2066}x\u{2069}"
        );
    }

    #[test]
    fn file_sink_appends_one_line_per_record_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("ssm-runas-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let a = Auditor::new(false, Some(path.clone()));
        a.record(&allow());
        let mut deny = allow();
        deny.decision = Decision::Deny;
        deny.reason = "denied".into();
        a.record(&deny);
        // A second auditor appends, it does not truncate.
        Auditor::new(false, Some(path.clone())).record(&AuditRecord::default());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().map(parse).collect();
        assert!(text.ends_with('\n'));
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["SSM_RUNAS_DECISION"], "allow");
        assert_eq!(lines[1]["SSM_RUNAS_DECISION"], "deny");
        assert_eq!(lines[1]["SSM_RUNAS_REASON"], "denied");
        assert_eq!(lines[2]["SSM_RUNAS_DECISION"], "error");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_sink_refuses_a_symlink_and_does_not_panic() {
        let dir = std::env::temp_dir().join(format!("ssm-runas-audit-l-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let target = dir.join("target");
        std::fs::write(&target, "").unwrap();
        let link = dir.join("audit.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let a = Auditor::new(false, Some(link));
        a.record(&allow());
        a.record(&allow());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |s: u64, us: u64| {
            format_timestamp(UNIX_EPOCH + Duration::from_micros(s * 1_000_000 + us))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(1_796_562_000, 123_456), "2026-12-06T13:00:00.123456Z");
        assert_eq!(at(4_102_444_799, 999_999), "2099-12-31T23:59:59.999999Z");
    }

    #[test]
    fn owner_fields_come_from_the_parsed_principal() {
        let arn = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Data_Eng_0a1b/alice";
        let p = crate::owner::parse(arn).unwrap();
        let mut r = AuditRecord::new(Decision::Allow);
        r.set_owner(&p);
        let m = parse(&Auditor::to_json(&r));
        assert_eq!(m["SSM_RUNAS_OWNER_ARN"], arn);
        assert_eq!(m["SSM_RUNAS_ACCOUNT_ID"], "111122223333");
        assert_eq!(m["SSM_RUNAS_PERMISSION_SET"], "Data_Eng");
        assert_eq!(m["SSM_RUNAS_PRINCIPAL"], "alice");
        assert_eq!(m["SSM_RUNAS_PRINCIPAL_KIND"], "idc");
        let mut r = AuditRecord::new(Decision::Deny);
        r.set_owner(&crate::owner::parse("arn:aws:iam::111122223333:root").unwrap());
        let m = parse(&Auditor::to_json(&r));
        assert_eq!(m["SSM_RUNAS_PRINCIPAL_KIND"], "root");
        assert!(m.get("SSM_RUNAS_PRINCIPAL").is_none());
        assert!(m.get("SSM_RUNAS_PERMISSION_SET").is_none());
    }

    #[test]
    fn auditor_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Auditor>();
    }
}
