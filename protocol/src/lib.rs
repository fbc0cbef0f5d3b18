//! The wire protocol between `ssm-runasd` and its local clients: the PAM module
//! `pam_ssm_runas.so`, the switch helper `ssm-runas-login` and the admin CLI.
//!
//! One connection carries one request and one response. Each message is a frame:
//! a 4-byte big-endian length followed by that many bytes of JSON. Frames larger
//! than [`MAX_FRAME`] are refused by both sides. Every message is wrapped in an
//! [`Envelope`] that carries [`PROTOCOL_VERSION`]; a peer that speaks another
//! version gets [`Response::Error`] and the connection is closed.
//!
//! The daemon never trusts what a client says about itself: who is asking comes
//! from the kernel (`SO_PEERCRED`), so requests carry no pid, uid or session id.
//! This crate holds no AWS types and no secrets.
#![forbid(unsafe_code)]
// Product code never panics on purpose: errors are values (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

mod wire;

pub mod text;

/// The version of this protocol. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame either side accepts, in bytes (length prefix excluded).
pub const MAX_FRAME: usize = 64 * 1024;

/// Where the daemon listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/ssm-runas/ssm-runasd.sock";

/// How long the daemon may take to resolve a session's owner, by default (seconds).
pub const DEFAULT_RESOLVE_DEADLINE_SECS: u64 = 10;

/// How long a client waits for the daemon's answer, by default (seconds). Always
/// longer than the daemon's resolve deadline, so a slow first lookup is answered
/// instead of timing out on the client side ("first login fails, second works").
pub const DEFAULT_CLIENT_TIMEOUT_SECS: u64 = DEFAULT_RESOLVE_DEADLINE_SECS + 5;

/// A versioned message. Written with serde; read with [`decode`], which checks it
/// strictly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope<T> {
    /// Protocol version of the sender.
    pub v: u32,
    /// The message itself.
    pub body: T,
}

impl<T> Envelope<T> {
    /// Wraps `body` with this crate's protocol version.
    pub fn new(body: T) -> Self {
        Envelope {
            v: PROTOCOL_VERSION,
            body,
        }
    }
}

/// What a client may ask. A handful of narrow verbs; the daemon decides everything.
///
/// On the wire: an object whose first key is `verb` (the variant, in snake case),
/// followed by exactly the variant's fields. Decoding is strict (see [`decode`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verb", rename_all = "snake_case")]
pub enum Request {
    /// "Which Linux account may the process at my end of this socket become?"
    /// Sent by the PAM module's `auth` step.
    Resolve,
    /// "Does the process at my end still map to `user`?" Sent by the PAM
    /// module's `account` step to re-check `PAM_USER`.
    Check {
        /// The account PAM is about to admit.
        user: String,
    },
    /// The PAM session for `user` was opened (audit only).
    SessionOpened {
        /// The mapped account.
        user: String,
    },
    /// The PAM session for `user` was closed (audit only).
    SessionClosed {
        /// The mapped account.
        user: String,
    },
    /// The switch helper failed after PAM said yes (audit only).
    SwitchFailed {
        /// One line saying why; at most 512 bytes are kept.
        reason: String,
    },
    /// Daemon state for `ssm-runas status`. Answered in full to uid 0 only.
    Status,
}

/// What the daemon answers.
///
/// On the wire: an object whose first key is `answer` (the variant, in snake case),
/// followed by exactly the variant's fields. Decoding is strict (see [`decode`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Response {
    /// The caller's session maps to this account.
    Allow(Allow),
    /// The caller may not switch; `reason` is one line meant for the person.
    Deny {
        /// Why, in words a person understands.
        reason: String,
    },
    /// The request was recorded.
    Ack,
    /// The daemon's state.
    Status(Box<StatusReport>),
    /// The request itself was wrong (bad version, bad frame, not permitted).
    Error {
        /// What was wrong.
        reason: String,
    },
}

/// A positive decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// The Linux account the session becomes.
    pub user: String,
    /// Supplementary groups the rule grants (the account's own groups still apply).
    pub groups: Vec<String>,
    /// The SSM session id, exported to the shell as `SSM_SESSION_ID`.
    pub session_id: String,
    /// The session owner's ARN.
    pub owner: String,
    /// Which rule decided, e.g. `rule 2 (config.toml:14)`.
    pub rule: String,
}

/// The daemon's state, for `ssm-runas status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// Daemon version.
    pub version: String,
    /// Path of the configuration in force.
    pub config_path: String,
    /// Where owners come from (`api`, `agent-state`, `agent-state-then-api`).
    pub source: String,
    /// The landing user.
    pub landing_user: String,
    /// Number of rules in force.
    pub rules: usize,
    /// The AWS identity the daemon runs as, when known.
    #[serde(deserialize_with = "wire::present")]
    pub aws_identity: Option<String>,
    /// Whether `ssm:DescribeSessions` is known to be permitted (`None`: not known yet).
    #[serde(deserialize_with = "wire::present")]
    pub describe_sessions_allowed: Option<bool>,
    /// The instance id the daemon serves, when known.
    #[serde(deserialize_with = "wire::present")]
    pub instance_id: Option<String>,
    /// Sessions whose owner is cached.
    pub cache_size: usize,
    /// Decisions that allowed a switch.
    pub allowed: u64,
    /// Decisions that denied a switch.
    pub denied: u64,
    /// Requests that failed for another reason.
    pub errors: u64,
    /// Calls made to the SSM API.
    pub api_calls: u64,
    /// The last error from AWS, if any.
    #[serde(deserialize_with = "wire::present")]
    pub last_aws_error: Option<String>,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// Free-form extra lines (landing guard mode and method, and so on).
    pub extra: Vec<(String, String)>,
}

/// An error while reading or writing a frame.
#[derive(Debug)]
pub enum FrameError {
    /// The underlying read or write failed (including timeouts).
    Io(io::Error),
    /// The peer announced a frame larger than [`MAX_FRAME`].
    TooLarge(usize),
    /// The frame was not valid JSON of the expected shape.
    Malformed(String),
    /// The peer speaks another protocol version.
    Version(u32),
    /// The peer closed the connection before a whole frame arrived.
    Closed,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) if e.kind() == io::ErrorKind::WouldBlock => {
                write!(f, "timed out")
            }
            FrameError::Io(e) if e.kind() == io::ErrorKind::TimedOut => write!(f, "timed out"),
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::TooLarge(n) => {
                write!(f, "frame of {n} bytes exceeds the maximum of {MAX_FRAME}")
            }
            FrameError::Malformed(e) => write!(f, "malformed message: {e}"),
            FrameError::Version(v) => write!(
                f,
                "protocol version {v} is not supported (this side speaks {PROTOCOL_VERSION})"
            ),
            FrameError::Closed => write!(f, "connection closed"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::Closed
        } else {
            FrameError::Io(e)
        }
    }
}

/// Serializes `body` into a complete frame (length prefix included).
pub fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, FrameError> {
    let json = serde_json::to_vec(&Envelope::new(body))
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if json.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(json.len()));
    }
    let len = u32::try_from(json.len()).map_err(|_| FrameError::TooLarge(json.len()))?;
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Checks a frame's announced length.
pub fn check_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    Ok(len)
}

/// Parses a frame's payload (without the length prefix) and checks its version.
///
/// Strict: every field of every object must be one the type names, every field it
/// names must be present (an absent value is written as `null`), no field may appear
/// twice, and a [`Request`] or [`Response`] object starts with its tag (`verb`,
/// `answer`), as [`encode`] writes it. The payload is decoded straight into `T`:
/// no intermediate JSON tree, so the memory used is about the size of the
/// values kept, whatever the shape of the input.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    // Look at the version first so that a newer peer gets a version error rather
    // than a confusing "unknown variant". The body is skipped without being stored.
    let v = wire::version(payload).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if v != PROTOCOL_VERSION {
        return Err(FrameError::Version(v));
    }
    wire::body(payload).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Writes one message as a frame to a blocking writer.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, body: &T) -> Result<(), FrameError> {
    let frame = encode(body)?;
    w.write_all(&frame)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame from a blocking reader.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix)?;
    let len = check_len(prefix)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    decode(&payload)
}

/// Sends `req` to the daemon at `socket` and waits up to `timeout` for its answer.
/// Blocking, no threads: suitable for the PAM module and the setuid helper.
pub fn call(
    socket: &std::path::Path,
    req: &Request,
    timeout: std::time::Duration,
) -> Result<Response, FrameError> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write_frame(&mut stream, req)?;
    read_frame(&mut stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_through_a_frame() {
        let reqs = [
            Request::Resolve,
            Request::Check {
                user: "alice".into(),
            },
            Request::SessionOpened { user: "a".into() },
            Request::SessionClosed { user: "a".into() },
            Request::SwitchFailed {
                reason: "no shell".into(),
            },
            Request::Status,
        ];
        for req in reqs {
            let again: Request = decode(&encode(&req).unwrap()[4..]).unwrap();
            assert_eq!(again, req);
            let frame = encode(&req).unwrap();
            let back: Request = read_frame(&mut &frame[..]).unwrap();
            assert_eq!(back, req);
        }
    }

    #[test]
    fn response_round_trips_through_a_frame() {
        let resp = Response::Allow(Allow {
            user: "alice".into(),
            groups: vec!["adm".into()],
            session_id: "alice-0123456789abcdef0".into(),
            owner: "arn:aws:iam::111122223333:user/alice".into(),
            rule: "rule 1".into(),
        });
        let frame = encode(&resp).unwrap();
        let back: Response = read_frame(&mut &frame[..]).unwrap();
        assert_eq!(back, resp);
        let others = [
            Response::Deny {
                reason: "no".into(),
            },
            Response::Ack,
            Response::Status(Box::new(StatusReport {
                aws_identity: Some("arn:aws:sts::111122223333:assumed-role/r/i".into()),
                extra: vec![("guard".into(), "on".into())],
                ..StatusReport::default()
            })),
            Response::Error {
                reason: "bad".into(),
            },
        ];
        for resp in others {
            let back: Response = read_frame(&mut &encode(&resp).unwrap()[..]).unwrap();
            assert_eq!(back, resp);
        }
    }

    #[test]
    fn wire_format_is_tagged_json_with_a_version() {
        let frame = encode(&Request::Check { user: "bob".into() }).unwrap();
        assert_eq!(
            std::str::from_utf8(&frame[4..]).unwrap(),
            r#"{"v":1,"body":{"verb":"check","user":"bob"}}"#
        );
        assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
    }

    #[test]
    fn oversized_frame_is_refused_before_reading_it() {
        let mut bytes = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let err = read_frame::<_, Request>(&mut &bytes[..]).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge(n) if n == MAX_FRAME + 1),
            "{err}"
        );
    }

    #[test]
    fn other_version_is_refused() {
        let payload = br#"{"v":2,"body":{"verb":"resolve"}}"#;
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        let err = read_frame::<_, Request>(&mut &bytes[..]).unwrap_err();
        assert!(matches!(err, FrameError::Version(2)), "{err}");
    }

    #[test]
    fn unknown_verbs_and_fields_are_malformed() {
        for payload in [
            &br#"{"v":1,"body":{"verb":"become","user":"root"}}"#[..],
            br#"{"v":1,"body":{"verb":"resolve","pid":1}}"#,
            br#"{"v":1,"body":{"verb":"resolve"},"x":1}"#,
            b"not json",
        ] {
            let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(payload);
            let err = read_frame::<_, Request>(&mut &bytes[..]).unwrap_err();
            assert!(matches!(err, FrameError::Malformed(_)), "{err}");
        }
    }

    fn malformed<T: DeserializeOwned + std::fmt::Debug>(payload: &str) -> String {
        match decode::<T>(payload.as_bytes()) {
            Err(FrameError::Malformed(e)) => e,
            other => panic!("{payload}: {other:?}"),
        }
    }

    #[test]
    fn extra_fields_are_malformed_on_variants_without_fields_too() {
        for payload in [
            r#"{"v":1,"body":{"verb":"status","x":null}}"#,
            r#"{"v":1,"body":{"verb":"resolve","user":"root"}}"#,
            r#"{"v":1,"body":{"verb":"check","user":"a","pid":1}}"#,
        ] {
            malformed::<Request>(payload);
        }
        for payload in [
            r#"{"v":1,"body":{"answer":"ack","user":"root"}}"#,
            r#"{"v":1,"body":{"answer":"deny","reason":"no","user":"root"}}"#,
        ] {
            malformed::<Response>(payload);
        }
    }

    #[test]
    fn the_shape_is_exactly_what_encode_writes() {
        for payload in [
            // The tag comes first.
            r#"{"v":1,"body":{"user":"bob","verb":"check"}}"#,
            // Once.
            r#"{"v":1,"body":{"verb":"check","verb":"check","user":"bob"}}"#,
            r#"{"v":1,"body":{"verb":"check","user":"bob","user":"eve"}}"#,
            r#"{"v":1,"v":1,"body":{"verb":"resolve"}}"#,
            r#"{"v":1,"body":{"verb":"resolve"},"body":{"verb":"status"}}"#,
            // Every field present, of its type.
            r#"{"v":1,"body":{"verb":"check"}}"#,
            r#"{"v":1,"body":{"verb":"check","user":null}}"#,
            r#"{"v":1,"body":{}}"#,
            r#"{"v":1}"#,
            // Objects, not arrays.
            r#"[1,{"verb":"resolve"}]"#,
            r#"{"v":1,"body":["resolve"]}"#,
            // Nothing after the message.
            r#"{"v":1,"body":{"verb":"resolve"}} x"#,
        ] {
            malformed::<Request>(payload);
        }
        let e = malformed::<Request>(r#"{"v":1,"body":{"user":"bob","verb":"check"}}"#);
        assert!(e.contains("first field must be `verb`"), "{e}");
    }

    #[test]
    fn a_status_report_must_name_every_field() {
        let full = Response::Status(Box::default());
        let frame = encode(&full).unwrap();
        assert_eq!(decode::<Response>(&frame[4..]).unwrap(), full);
        let text = std::str::from_utf8(&frame[4..]).unwrap();
        assert!(text.contains(r#""aws_identity":null"#), "{text}");
        malformed::<Response>(&text.replace(r#""aws_identity":null,"#, ""));
    }

    #[test]
    fn truncated_frame_is_closed() {
        let frame = encode(&Request::Resolve).unwrap();
        let err = read_frame::<_, Request>(&mut &frame[..frame.len() - 1]).unwrap_err();
        assert!(matches!(err, FrameError::Closed), "{err}");
    }

    #[test]
    fn client_timeout_outlasts_daemon_deadline() {
        const { assert!(DEFAULT_CLIENT_TIMEOUT_SECS > DEFAULT_RESOLVE_DEADLINE_SECS) };
    }
}
