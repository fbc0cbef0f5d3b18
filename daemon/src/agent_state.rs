//! The SSM agent's per-session state file:
//! `<state root>/<instance id>/document/state/current/<SessionId>` (default root
//! `/var/lib/amazon/ssm`).
//!
//! The agent writes it (JSON, mode 0600, root) before it starts the session worker and removes
//! it when the session ends. It is internal and undocumented (see
//! `tests/fixtures/agent-state/FIELDS.md`), so it is never the only source of an owner. The
//! write is not atomic: an empty or truncated file is retried a few times. Run Command
//! documents share the directory, and a `TerminateSession` document briefly reuses the
//! session's file name: only `DocumentType == "StartSession"` counts.
//!
//! The file is opened without following a symbolic link and must be a regular, root-owned
//! file that is not group or world writable. The directories above it are not checked: they
//! belong to the agent (root) under a root-owned data directory.
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::session_id::{is_instance_id, is_session_id};

/// Where the agent keeps its data on Linux.
pub const DEFAULT_STATE_ROOT: &str = "/var/lib/amazon/ssm";
/// Largest state file we read (real ones are a few KiB).
const MAX_SIZE: u64 = 1 << 20;
/// How many times an empty or truncated file is read again, and the pause before each.
const TORN_RETRIES: u32 = 4;
const TORN_PAUSE: Duration = Duration::from_millis(50);

/// What the state file says about a running session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSession {
    /// `DocumentInformation.DocumentID`, equal to the requested SessionId.
    pub session_id: String,
    /// The owner ARN (`DocumentInformation.SessionOwner`).
    pub owner: String,
    /// `DocumentInformation.DocumentName`, e.g. `SSM-SessionManagerRunShell`, when not empty.
    pub document_name: Option<String>,
    /// The effective run-as user (`InstancePluginsInformation[0].Configuration.RunAsUser`),
    /// when not empty.
    pub run_as: Option<String>,
}

/// Why the state file gave no owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentStateError {
    /// No state file for this session (not started yet, already ended, or another instance).
    Missing,
    /// The file could not be opened or read, or is not the JSON we expect.
    Unreadable(String),
    /// The file stayed empty or truncated across retries (the agent was writing it).
    Torn,
    /// The file is not a session start document (e.g. the session is terminating).
    NotASession,
    /// The file names no owner (agents older than 3.0.356.0 do not record it).
    NoOwner,
    /// The file cannot be trusted: not a regular root-owned file, or group/world writable.
    Untrusted(String),
    /// The file is for another session id.
    Mismatch,
}

impl fmt::Display for AgentStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentStateError::Missing => write!(f, "the agent has no state file for this session"),
            AgentStateError::Unreadable(e) => {
                write!(
                    f,
                    "the agent's state file for this session is unreadable: {e}"
                )
            }
            AgentStateError::Torn => write!(
                f,
                "the agent's state file for this session stayed incomplete (being written)"
            ),
            AgentStateError::NotASession => write!(
                f,
                "the agent's state file is not a session start document (the session may be ending)"
            ),
            AgentStateError::NoOwner => write!(
                f,
                "the agent's state file names no session owner (agent older than 3.0.356.0?)"
            ),
            AgentStateError::Untrusted(why) => {
                write!(f, "the agent's state file is not trusted: {why}")
            }
            AgentStateError::Mismatch => {
                write!(f, "the agent's state file belongs to another session")
            }
        }
    }
}

impl std::error::Error for AgentStateError {}

/// The state file of a session: `<root>/<instance-id>/document/state/current/<SessionId>`.
/// Returns `None` when either id is malformed (so no path can step outside the directory).
pub fn state_path(state_root: &Path, instance_id: &str, session_id: &str) -> Option<PathBuf> {
    if !is_instance_id(instance_id)
        || !is_session_id(session_id)
        || session_id == "."
        || session_id == ".."
    {
        return None;
    }
    Some(
        state_root
            .join(instance_id)
            .join("document")
            .join("state")
            .join("current")
            .join(session_id),
    )
}

/// Reads the session's state file and checks that it is root-owned. See [`read_with`].
pub fn read(
    state_root: &Path,
    instance_id: &str,
    session_id: &str,
) -> Result<AgentSession, AgentStateError> {
    read_with(state_root, instance_id, session_id, true)
}

/// Reads the session's state file. `require_root: false` skips only the owner check (for
/// tests on files the test user owns); the file must still be a regular file, reached without
/// following a symbolic link, and not group or world writable.
pub fn read_with(
    state_root: &Path,
    instance_id: &str,
    session_id: &str,
    require_root: bool,
) -> Result<AgentSession, AgentStateError> {
    let path = state_path(state_root, instance_id, session_id).ok_or_else(|| {
        AgentStateError::Unreadable("malformed instance id or session id".to_owned())
    })?;
    let mut attempt = 0;
    loop {
        let content = read_file(&path, require_root)?;
        match parse(&content, session_id) {
            Err(Parse::Incomplete) if attempt < TORN_RETRIES => {
                attempt += 1;
                std::thread::sleep(TORN_PAUSE);
            }
            Err(Parse::Incomplete) => return Err(AgentStateError::Torn),
            Err(Parse::Bad(e)) => return Err(e),
            Ok(s) => return Ok(s),
        }
    }
}

fn read_file(path: &Path, require_root: bool) -> Result<Vec<u8>, AgentStateError> {
    let file = File::options()
        .read(true)
        // O_NONBLOCK: a FIFO planted here must not hang us. It has no effect on regular files.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => AgentStateError::Missing,
            Some(libc::ELOOP) => AgentStateError::Untrusted("it is a symbolic link".to_owned()),
            _ => AgentStateError::Unreadable(e.to_string()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| AgentStateError::Unreadable(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(AgentStateError::Untrusted(
            "it is not a regular file".to_owned(),
        ));
    }
    if require_root && meta.uid() != 0 {
        return Err(AgentStateError::Untrusted(format!(
            "it is owned by uid {}, not root",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(AgentStateError::Untrusted(format!(
            "it is group or world writable (mode {:o})",
            meta.mode() & 0o7777
        )));
    }
    if meta.len() > MAX_SIZE {
        return Err(AgentStateError::Unreadable("it is too large".to_owned()));
    }
    let mut content = Vec::new();
    file.take(MAX_SIZE + 1)
        .read_to_end(&mut content)
        .map_err(|e| AgentStateError::Unreadable(e.to_string()))?;
    if content.len() as u64 > MAX_SIZE {
        return Err(AgentStateError::Unreadable("it is too large".to_owned()));
    }
    Ok(content)
}

#[derive(Deserialize)]
struct DocumentState {
    #[serde(rename = "DocumentInformation")]
    info: Option<DocumentInfo>,
    #[serde(rename = "DocumentType")]
    document_type: Option<String>,
    #[serde(rename = "InstancePluginsInformation")]
    plugins: Option<Vec<PluginState>>,
}

#[derive(Deserialize)]
struct DocumentInfo {
    #[serde(rename = "DocumentID")]
    document_id: Option<String>,
    #[serde(rename = "DocumentName")]
    document_name: Option<String>,
    #[serde(rename = "SessionOwner")]
    session_owner: Option<String>,
}

#[derive(Deserialize)]
struct PluginState {
    #[serde(rename = "Configuration")]
    configuration: Option<Configuration>,
}

#[derive(Deserialize)]
struct Configuration {
    #[serde(rename = "RunAsUser")]
    run_as_user: Option<String>,
    #[serde(rename = "SessionId")]
    session_id: Option<String>,
}

enum Parse {
    /// Empty or cut short: the agent may be writing it.
    Incomplete,
    Bad(AgentStateError),
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// Parses the content of a state file for `session_id` exactly as [`read_with`] does after
/// reading it, without the retries: an empty or cut-short file is [`AgentStateError::Torn`].
/// Public for the fuzz targets (`fuzz/`), which feed it hostile bytes.
pub fn parse_content(content: &[u8], session_id: &str) -> Result<AgentSession, AgentStateError> {
    match parse(content, session_id) {
        Ok(s) => Ok(s),
        Err(Parse::Incomplete) => Err(AgentStateError::Torn),
        Err(Parse::Bad(e)) => Err(e),
    }
}

fn parse(content: &[u8], session_id: &str) -> Result<AgentSession, Parse> {
    if content.iter().all(u8::is_ascii_whitespace) {
        return Err(Parse::Incomplete);
    }
    // The agent writes one JSON object: a torn write of it still starts with `{`.
    // Anything else is not being written, it is wrong (found by fuzzing: `-` read as
    // a cut-short number, so "being written" for ever).
    if content.trim_ascii_start().first() != Some(&b'{') {
        return Err(Parse::Bad(AgentStateError::Unreadable(
            "not the expected JSON: not an object".to_owned(),
        )));
    }
    let doc: DocumentState = serde_json::from_slice(content).map_err(|e| {
        if e.is_eof() {
            Parse::Incomplete
        } else {
            Parse::Bad(AgentStateError::Unreadable(format!(
                "not the expected JSON: {e}"
            )))
        }
    })?;
    if doc.document_type.as_deref() != Some("StartSession") {
        return Err(Parse::Bad(AgentStateError::NotASession));
    }
    let info = doc.info.ok_or_else(|| {
        Parse::Bad(AgentStateError::Unreadable(
            "no DocumentInformation".to_owned(),
        ))
    })?;
    if info.document_id.as_deref() != Some(session_id) {
        return Err(Parse::Bad(AgentStateError::Mismatch));
    }
    let config = doc
        .plugins
        .and_then(|p| p.into_iter().next())
        .and_then(|p| p.configuration);
    let (run_as, config_sid) = match config {
        Some(c) => (non_empty(c.run_as_user), non_empty(c.session_id)),
        None => (None, None),
    };
    if config_sid.is_some_and(|s| s != session_id) {
        return Err(Parse::Bad(AgentStateError::Mismatch));
    }
    let owner = non_empty(info.session_owner).ok_or(Parse::Bad(AgentStateError::NoOwner))?;
    Ok(AgentSession {
        session_id: session_id.to_owned(),
        owner,
        document_name: non_empty(info.document_name),
        run_as,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_paths() {
        let root = Path::new(DEFAULT_STATE_ROOT);
        assert_eq!(
            state_path(root, "i-0123456789abcdef0", "bob-0e6d5c4b3a2918f7e"),
            Some(PathBuf::from(
                "/var/lib/amazon/ssm/i-0123456789abcdef0/document/state/current/bob-0e6d5c4b3a2918f7e"
            ))
        );
        for (iid, sid) in [
            ("i-0123456789abcdef0", ".."),
            ("i-0123456789abcdef0", "."),
            ("i-0123456789abcdef0", "a/../../b"),
            ("i-0123456789abcdef0", ""),
            ("..", "bob-0e6d5c4b3a2918f7e"),
            ("i-0123456789abcdef0/..", "bob-0e6d5c4b3a2918f7e"),
        ] {
            assert_eq!(state_path(root, iid, sid), None, "{iid} {sid}");
        }
    }

    #[test]
    fn whitespace_only_and_cut_json_are_incomplete() {
        assert!(matches!(parse(b"", "x"), Err(Parse::Incomplete)));
        assert!(matches!(parse(b"  \n", "x"), Err(Parse::Incomplete)));
        assert!(matches!(
            parse(b"{\"DocumentInformation\": {\"DocumentID\": \"x", "x"),
            Err(Parse::Incomplete)
        ));
        assert!(matches!(
            parse(b"{\"DocumentType\": 3}", "x"),
            Err(Parse::Bad(AgentStateError::Unreadable(_)))
        ));
        assert!(matches!(
            parse(b"[1,2]x", "x"),
            Err(Parse::Bad(AgentStateError::Unreadable(_)))
        ));
    }

    #[test]
    fn parse_content_reads_as_read_with_does() {
        let file = br#"{"DocumentType": "StartSession",
            "DocumentInformation": {"DocumentID": "x", "SessionOwner": "arn:aws:iam::111122223333:root"}}"#;
        assert_eq!(
            parse_content(file, "x").map(|s| s.owner),
            Ok("arn:aws:iam::111122223333:root".to_owned())
        );
        assert_eq!(parse_content(b" \n", "x"), Err(AgentStateError::Torn));
        assert_eq!(
            parse_content(b"{\"DocumentType\": \"StartSe", "x"),
            Err(AgentStateError::Torn)
        );
        // Fuzzer input: an object cut short inside a value is still being written.
        assert_eq!(
            parse_content(b"{\n  \"DocumentInformation\":\n\n[\n-", "x"),
            Err(AgentStateError::Torn)
        );
        // Fuzzer finding: text that is no object is wrong, not "being written".
        for not_an_object in [&b"-"[..], b" 12", b"[", b"\"x", b"nul"] {
            assert!(
                matches!(
                    parse_content(not_an_object, "x"),
                    Err(AgentStateError::Unreadable(_))
                ),
                "{not_an_object:?}"
            );
        }
        assert_eq!(parse_content(file, "y"), Err(AgentStateError::Mismatch));
    }
}
