//! Audit records reach a real journald with every `SSM_RUNAS_*` field intact, and fall
//! back to JSON lines on stderr when there is no journald.
//!
//! The record is written by a child process: this test binary run again with
//! `--ignored --exact write_audit_record_in_child` and the record to write in
//! [`CHILD_ENV`]. The child runs in a mount namespace whose `/run` is the private
//! journal's, so libsystemd's fixed socket path reaches that journald.
//!
//! Needs root and systemd-journald; without them each test says so on stderr and passes.

use std::process::Stdio;
use std::time::Duration;

use ssm_runas::audit::{AuditRecord, Auditor, Decision, MESSAGE_ID};
use ssm_runas_tests::journal::{self, PrivateJournal, Record, field};

/// Carries the record for the child: decision, then the fields, tab separated.
const CHILD_ENV: &str = "SSM_RUNAS_TEST_AUDIT_RECORD";

fn unique_session(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}-{}{nanos:08x}", std::process::id())
}

fn full_record(session: &str) -> AuditRecord {
    AuditRecord {
        decision: Decision::Deny,
        session_id: Some(session.to_string()),
        owner_arn: Some(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Data_Eng_0123456789abcdef/alice@example.com"
                .into(),
        ),
        account_id: Some("111122223333".into()),
        permission_set: Some("Data_Eng".into()),
        principal: Some("alice@example.com".into()),
        principal_kind: Some("idc".into()),
        rule: Some(3),
        rule_line: Some(41),
        linux_user: Some("data-eng".into()),
        // A hostile-looking reason: a newline and a fake field must stay inside the value.
        reason: "no rule grants Data_Eng on this host\nSSM_RUNAS_DECISION=allow".into(),
        peer_pid: Some(31337),
        peer_uid: Some(1001),
        source: Some("agent-state".into()),
        tty: Some("pts/7".into()),
    }
}

/// Encodes a record for [`CHILD_ENV`] (tests only; values contain no tab here).
fn encode(r: &AuditRecord) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let n = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_default();
    [
        r.decision.as_str().to_string(),
        o(&r.session_id),
        o(&r.owner_arn),
        o(&r.account_id),
        o(&r.permission_set),
        o(&r.principal),
        o(&r.principal_kind),
        n(r.rule),
        n(r.rule_line),
        o(&r.linux_user),
        r.reason.replace('\n', "\\n"),
        r.peer_pid.map(|n| n.to_string()).unwrap_or_default(),
        r.peer_uid.map(|n| n.to_string()).unwrap_or_default(),
        o(&r.source),
        o(&r.tty),
    ]
    .join("\t")
}

fn decode(s: &str) -> AuditRecord {
    let f: Vec<&str> = s.split('\t').collect();
    assert_eq!(f.len(), 15, "bad {CHILD_ENV}");
    let o = |i: usize| (!f[i].is_empty()).then(|| f[i].to_string());
    let decision = [
        Decision::Allow,
        Decision::Deny,
        Decision::Error,
        Decision::SessionOpened,
        Decision::SessionClosed,
        Decision::SwitchFailed,
    ]
    .into_iter()
    .find(|d| d.as_str() == f[0])
    .expect("decision");
    AuditRecord {
        decision,
        session_id: o(1),
        owner_arn: o(2),
        account_id: o(3),
        permission_set: o(4),
        principal: o(5),
        principal_kind: o(6),
        rule: o(7).map(|v| v.parse().expect("rule")),
        rule_line: o(8).map(|v| v.parse().expect("rule line")),
        linux_user: o(9),
        reason: f[10].replace("\\n", "\n"),
        peer_pid: o(11).map(|v| v.parse().expect("pid")),
        peer_uid: o(12).map(|v| v.parse().expect("uid")),
        source: o(13),
        tty: o(14),
    }
}

/// Not a test: the child half of the tests below. Ignored so that it runs only when
/// a test starts it with `--ignored --exact`; without [`CHILD_ENV`] it does nothing.
#[test]
#[ignore = "run as a child process by the journal_audit tests"]
fn write_audit_record_in_child() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        Auditor::new(true, None).record(&decode(&spec));
    }
}

fn child_command(
    run: impl FnOnce(&std::path::Path) -> std::process::Command,
) -> std::process::Command {
    let exe = std::env::current_exe().expect("current exe");
    let mut c = run(&exe);
    c.args([
        "--ignored",
        "--exact",
        "write_audit_record_in_child",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ]);
    c
}

#[test]
fn audit_record_reaches_journald_with_every_field() {
    if !journal::available() {
        eprintln!("skipped: needs root, systemd-journald, journalctl and unshare");
        return;
    }
    let j = PrivateJournal::start().expect("start journald");
    let session = unique_session("alice");
    let rec = full_record(&session);
    let mut child = child_command(|exe| j.command(exe))
        .env(CHILD_ENV, encode(&rec))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let child_pid = child.id().to_string();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait child");
    assert!(status.success(), "child failed: {status}: {stderr}");
    // Written to journald, so nothing on stderr.
    assert!(
        !stderr.contains("SSM_RUNAS_"),
        "fell back to stderr: {stderr}"
    );

    let e: Record = j
        .wait_for(
            |r| field(r, "SSM_RUNAS_SESSION_ID").as_deref() == Some(session.as_str()),
            Duration::from_secs(10),
        )
        .expect("audit record in the journal");
    let get = |k: &str| field(&e, k).unwrap_or_else(|| panic!("{k} missing in {e:?}"));
    let expect = [
        ("SSM_RUNAS_DECISION", "deny"),
        (
            "SSM_RUNAS_OWNER_ARN",
            rec.owner_arn.as_deref().unwrap_or_default(),
        ),
        ("SSM_RUNAS_ACCOUNT_ID", "111122223333"),
        ("SSM_RUNAS_PERMISSION_SET", "Data_Eng"),
        ("SSM_RUNAS_PRINCIPAL", "alice@example.com"),
        ("SSM_RUNAS_PRINCIPAL_KIND", "idc"),
        ("SSM_RUNAS_RULE", "3"),
        ("SSM_RUNAS_RULE_LINE", "41"),
        ("SSM_RUNAS_LINUX_USER", "data-eng"),
        ("SSM_RUNAS_REASON", rec.reason.as_str()),
        ("SSM_RUNAS_PEER_PID", "31337"),
        ("SSM_RUNAS_PEER_UID", "1001"),
        ("SSM_RUNAS_SOURCE", "agent-state"),
        ("SSM_RUNAS_TTY", "pts/7"),
        ("PRIORITY", "4"),
        ("MESSAGE_ID", MESSAGE_ID),
        ("SYSLOG_IDENTIFIER", "ssm-runasd"),
        ("_PID", child_pid.as_str()),
        ("_TRANSPORT", "journal"),
    ];
    for (k, v) in expect {
        assert_eq!(get(k), v, "field {k}");
    }
    let message = get("MESSAGE");
    assert!(
        message.starts_with(&format!(
            "ssm-runas: deny session {session} (arn:aws:sts::111122223333:assumed-role/"
        )) && message.contains(" as data-eng by rule 3: no rule grants Data_Eng")
            && !message.contains('\n'),
        "{message:?}"
    );
    // The fake field inside the reason did not become a field of its own.
    assert_eq!(
        e.get("SSM_RUNAS_DECISION").and_then(|v| v.as_str()),
        Some("deny")
    );
}

#[test]
fn a_hostile_owner_is_escaped_in_the_message_and_raw_in_its_field() {
    if !journal::available() {
        eprintln!("skipped: needs root, systemd-journald, journalctl and unshare");
        return;
    }
    let j = PrivateJournal::start().expect("start journald");
    let session = unique_session("mallory");
    // A bidi override (shows `ecila` as `alice`), a Cyrillic look-alike, and far more
    // text than a real owner has.
    let owner = format!(
        "arn:aws:sts::111122223333:assumed-role/Dev/\u{202e}ecil\u{430}{}",
        "x".repeat(1000)
    );
    let rec = AuditRecord {
        decision: Decision::Deny,
        session_id: Some(session.clone()),
        owner_arn: Some(owner.clone()),
        reason: "invalid owner ARN: role session name is not 2-64 characters".into(),
        ..AuditRecord::default()
    };
    let status = child_command(|exe| j.command(exe))
        .env(CHILD_ENV, encode(&rec))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run child");
    assert!(status.success(), "child failed: {status}");
    let e: Record = j
        .wait_for(
            |r| field(r, "SSM_RUNAS_SESSION_ID").as_deref() == Some(session.as_str()),
            Duration::from_secs(10),
        )
        .expect("audit record in the journal");
    assert_eq!(
        field(&e, "SSM_RUNAS_OWNER_ARN").as_deref(),
        Some(owner.as_str())
    );
    let message = field(&e, "MESSAGE").unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "ssm-runas: deny session {session} \
             (arn:aws:sts::111122223333:assumed-role/Dev/\\u{{202e}}ecil\\u{{430}}xxx"
        )) && message.contains("xxx…): invalid owner ARN"),
        "{message:?}"
    );
    assert!(message.chars().count() < 500, "{message:?}");
}

#[test]
fn minimal_records_omit_absent_fields_and_are_found_by_message_id() {
    if !journal::available() {
        eprintln!("skipped: needs root, systemd-journald, journalctl and unshare");
        return;
    }
    let j = PrivateJournal::start().expect("start journald");
    let sessions = [unique_session("bob"), unique_session("carol")];
    for (s, decision) in sessions
        .iter()
        .zip([Decision::Allow, Decision::SwitchFailed])
    {
        let rec = AuditRecord {
            decision,
            session_id: Some(s.clone()),
            ..AuditRecord::default()
        };
        let status = child_command(|exe| j.command(exe))
            .env(CHILD_ENV, encode(&rec))
            .stdout(Stdio::null())
            .status()
            .expect("run child");
        assert!(status.success());
    }
    let audit = j
        .wait_for_n(
            2,
            |r| field(r, "MESSAGE_ID").as_deref() == Some(MESSAGE_ID),
            Duration::from_secs(10),
        )
        .expect("two audit records");
    assert_eq!(audit.len(), 2, "only audit records carry the MESSAGE_ID");
    let bob = &audit[0];
    assert_eq!(
        field(bob, "SSM_RUNAS_SESSION_ID").as_deref(),
        Some(sessions[0].as_str())
    );
    assert_eq!(field(bob, "SSM_RUNAS_DECISION").as_deref(), Some("allow"));
    assert_eq!(field(bob, "PRIORITY").as_deref(), Some("6"));
    assert_eq!(field(bob, "SSM_RUNAS_REASON").as_deref(), Some(""));
    for absent in [
        "SSM_RUNAS_OWNER_ARN",
        "SSM_RUNAS_RULE",
        "SSM_RUNAS_LINUX_USER",
        "SSM_RUNAS_PEER_PID",
    ] {
        assert!(bob.get(absent).is_none(), "{absent} present: {bob:?}");
    }
    assert_eq!(
        field(&audit[1], "SSM_RUNAS_DECISION").as_deref(),
        Some("switch-failed")
    );
    assert_eq!(field(&audit[1], "PRIORITY").as_deref(), Some("3"));
}

#[test]
fn without_journald_records_are_json_lines_on_stderr() {
    if !journal::available() {
        eprintln!("skipped: needs root and unshare");
        return;
    }
    // An empty directory as /run: no journald socket, whatever the host runs.
    let empty = std::env::temp_dir().join(unique_session("ssm-runas-norun"));
    std::fs::create_dir(&empty).expect("temp dir");
    let session = unique_session("dave");
    let rec = full_record(&session);
    let out = child_command(|exe| journal::command_with_run_dir(&empty, exe))
        .env(CHILD_ENV, encode(&rec))
        .output()
        .expect("run child");
    std::fs::remove_dir_all(&empty).expect("remove temp dir");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let v = &lines[0];
    assert_eq!(v["SSM_RUNAS_SESSION_ID"], session.as_str());
    assert_eq!(v["SSM_RUNAS_DECISION"], "deny");
    assert_eq!(v["SSM_RUNAS_PERMISSION_SET"], "Data_Eng");
    assert_eq!(v["SSM_RUNAS_RULE"], 3);
    assert_eq!(v["SSM_RUNAS_PEER_UID"], 1001);
    assert_eq!(v["SSM_RUNAS_REASON"], rec.reason.as_str());
    assert_eq!(v["MESSAGE_ID"], MESSAGE_ID);
    assert_eq!(v["PRIORITY"], 4);
}

#[test]
fn a_record_journald_refuses_goes_to_stderr_with_one_warning() {
    if !journal::available() {
        eprintln!("skipped: needs root and unshare");
        return;
    }
    // A journald socket file nobody listens on (journald died): sending is refused.
    let run = std::env::temp_dir().join(unique_session("ssm-runas-deadjournal"));
    std::fs::create_dir_all(run.join("systemd/journal")).expect("temp dir");
    drop(
        std::os::unix::net::UnixDatagram::bind(run.join("systemd/journal/socket"))
            .expect("bind socket"),
    );
    let session = unique_session("erin");
    let out = child_command(|exe| journal::command_with_run_dir(&run, exe))
        .env(CHILD_ENV, encode(&full_record(&session)))
        .output()
        .expect("run child");
    std::fs::remove_dir_all(&run).expect("remove temp dir");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings = stderr
        .lines()
        .filter(|l| l.starts_with("ssm-runasd: cannot write audit record to journald"))
        .count();
    assert_eq!(warnings, 1, "{stderr}");
    let records: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(records.len(), 1, "{stderr}");
    assert_eq!(records[0]["SSM_RUNAS_SESSION_ID"], session.as_str());
    assert_eq!(records[0]["SSM_RUNAS_DECISION"], "deny");
}

#[test]
fn private_journal_cleans_up_after_itself() {
    if !journal::available() {
        eprintln!("skipped: needs root, systemd-journald, journalctl and unshare");
        return;
    }
    let j = PrivateJournal::start().expect("start journald");
    let run = j.run_dir().to_path_buf();
    let pid = j.pid().expect("journald pid");
    assert!(run.join("systemd/journal/socket").exists());
    // The host's /run is not the private one.
    assert_ne!(
        std::fs::canonicalize("/run").ok(),
        std::fs::canonicalize(&run).ok()
    );
    drop(j);
    assert!(!run.exists(), "{} left behind", run.display());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| !c.starts_with("systemd-journal"))
                .unwrap_or(true),
        "journald {pid} still running"
    );
}
