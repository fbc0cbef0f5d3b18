//! What `pam_ssm_runas.so` decides, written against two small traits so it can be
//! tested without libpam or a daemon: [`PamOps`] (the PAM handle) and [`Daemon`]
//! (one request, one answer).
#![forbid(unsafe_code)]

use ssm_runas_protocol::{
    DEFAULT_CLIENT_TIMEOUT_SECS, DEFAULT_RESOLVE_DEADLINE_SECS, DEFAULT_SOCKET, Request, Response,
};
use std::path::PathBuf;
use std::time::Duration;

/// The only PAM service this module acts for.
pub const SERVICE: &str = "ssm-runas";

/// Longest reason shown to the person, in bytes.
const MAX_REASON: usize = 300;

/// The PAM return codes this module uses (values from `<security/_pam_types.h>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success,
    SystemErr,
    PermDenied,
    AuthErr,
    AuthinfoUnavail,
    SessionErr,
    Ignore,
}

/// Syslog priority of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Err,
    Warning,
    Info,
    Debug,
}

/// The parts of a PAM handle the module needs.
pub trait PamOps {
    /// `PAM_SERVICE`, if set and valid UTF-8.
    fn service(&self) -> Option<String>;
    /// `PAM_USER` without prompting; `None` when unset or empty.
    fn user(&self) -> Option<String>;
    /// Sets `PAM_USER`.
    fn set_user(&mut self, user: &str) -> Result<(), Code>;
    /// `pam_putenv("NAME=value")`.
    fn putenv(&mut self, name_value: &str) -> Result<(), Code>;
    /// Sends one `PAM_ERROR_MSG` through the conversation (errors ignored).
    fn error_msg(&mut self, msg: &str);
    /// Writes one line to the system log (errors ignored).
    fn log(&mut self, level: Level, msg: &str);
}

/// One request to the daemon, one answer (or why there was none).
pub trait Daemon {
    fn call(&mut self, req: &Request) -> Result<Response, String>;
}

/// The real daemon: a Unix socket and a timeout.
pub struct SocketDaemon {
    pub socket: PathBuf,
    pub timeout: Duration,
}

impl Daemon for SocketDaemon {
    fn call(&mut self, req: &Request) -> Result<Response, String> {
        ssm_runas_protocol::call(&self.socket, req, self.timeout).map_err(|e| match e {
            ssm_runas_protocol::FrameError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                format!("the ssm-runas daemon is not running ({io})")
            }
            other => format!("no answer from the ssm-runas daemon: {other}"),
        })
    }
}

/// The module's arguments from the PAM configuration line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub socket: PathBuf,
    pub timeout: Duration,
    pub debug: bool,
}

impl Args {
    /// Parses `socket=PATH`, `timeout=SECS` and `debug`. Anything unusable is
    /// reported in the returned warnings and the default kept.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> (Args, Vec<String>) {
        let mut out = Args {
            socket: PathBuf::from(DEFAULT_SOCKET),
            timeout: Duration::from_secs(DEFAULT_CLIENT_TIMEOUT_SECS),
            debug: false,
        };
        let mut warnings = Vec::new();
        for arg in args {
            if arg == "debug" {
                out.debug = true;
            } else if let Some(path) = arg.strip_prefix("socket=") {
                if path.starts_with('/') {
                    out.socket = PathBuf::from(path);
                } else {
                    warnings.push(format!(
                        "ignoring {arg:?}: the socket path must be absolute"
                    ));
                }
            } else if let Some(secs) = arg.strip_prefix("timeout=") {
                match secs.parse::<u64>() {
                    // The client must outwait the daemon's own deadline, or a slow first
                    // lookup fails here while the daemon still answers ("first login
                    // fails, second works").
                    Ok(s) if s > DEFAULT_RESOLVE_DEADLINE_SECS && s <= 600 => {
                        out.timeout = Duration::from_secs(s);
                    }
                    _ => warnings.push(format!(
                        "ignoring {arg:?}: the timeout must be between {} and 600 seconds",
                        DEFAULT_RESOLVE_DEADLINE_SECS + 1
                    )),
                }
            } else {
                warnings.push(format!("ignoring unknown argument {arg:?}"));
            }
        }
        (out, warnings)
    }
}

/// Makes text from the daemon safe to show on one terminal line.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REASON));
    for c in text.chars() {
        // Controls and invisible characters (bidi overrides, zero-width) become spaces:
        // the line is shown on the person's terminal.
        let c = if ssm_runas_protocol::text::is_unsafe(c) {
            ' '
        } else {
            c
        };
        if out.len() + c.len_utf8() > MAX_REASON {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

/// A name the module is willing to hand to PAM as `PAM_USER`: what `useradd`
/// would accept on any distribution, at most 32 bytes.
pub fn valid_user_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 32
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes.iter().enumerate().all(|(i, &b)| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'_'
                || b == b'-'
                || b == b'.'
                || (b == b'$' && i == bytes.len() - 1)
        })
}

/// A value fit for an environment variable: printable, no control characters, bounded.
fn valid_env_value(value: &str, max: usize) -> bool {
    !value.is_empty() && value.len() <= max && !value.chars().any(char::is_control)
}

/// The person in an owner ARN: its last path element (the IdC user or role
/// session name of an assumed role, the IAM user name), or the account's `root`.
pub fn principal_name(owner: &str) -> Option<&str> {
    let resource = owner.splitn(6, ':').nth(5)?;
    let name = resource.rsplit('/').next()?;
    (valid_env_value(name, 128) && !name.contains('=')).then_some(name)
}

/// Whether this module should act at all.
fn ours<P: PamOps>(pam: &P) -> bool {
    pam.service().as_deref() == Some(SERVICE)
}

fn tell<P: PamOps>(pam: &mut P, level: Level, msg: &str) {
    let line = format!("ssm-runas: {}", one_line(msg));
    pam.error_msg(&line);
    pam.log(level, &line);
}

/// `pam_sm_authenticate`: asks the daemon which account this session maps to.
pub fn authenticate<P: PamOps, D: Daemon>(pam: &mut P, daemon: &mut D, args: &Args) -> Code {
    if !ours(pam) {
        return Code::Ignore;
    }
    let allow = match daemon.call(&Request::Resolve) {
        Ok(Response::Allow(allow)) => allow,
        Ok(Response::Deny { reason }) => {
            tell(pam, Level::Warning, &format!("denied: {reason}"));
            return Code::AuthErr;
        }
        Ok(Response::Error { reason }) => {
            tell(
                pam,
                Level::Err,
                &format!("the daemon refused the request: {reason}"),
            );
            return Code::AuthinfoUnavail;
        }
        Ok(other) => {
            tell(
                pam,
                Level::Err,
                &format!("the daemon gave a wrong kind of answer: {other:?}"),
            );
            return Code::AuthinfoUnavail;
        }
        Err(why) => {
            tell(pam, Level::Err, &why);
            return Code::AuthinfoUnavail;
        }
    };
    if !valid_user_name(&allow.user) {
        tell(
            pam,
            Level::Err,
            "the daemon answered with an invalid account name",
        );
        return Code::AuthinfoUnavail;
    }
    if !valid_env_value(&allow.session_id, 128) || allow.session_id.contains('=') {
        tell(
            pam,
            Level::Err,
            "the daemon answered with an invalid session id",
        );
        return Code::AuthinfoUnavail;
    }
    match pam.user() {
        Some(asked) if asked != allow.user => {
            tell(
                pam,
                Level::Warning,
                &format!(
                    "this session maps to {}, not {}",
                    allow.user,
                    one_line(&asked)
                ),
            );
            return Code::AuthErr;
        }
        Some(_) => {}
        None => {
            if let Err(code) = pam.set_user(&allow.user) {
                tell(pam, Level::Err, "cannot set the PAM user");
                return if code == Code::Success {
                    Code::SystemErr
                } else {
                    code
                };
            }
        }
    }
    if pam
        .putenv(&format!("SSM_SESSION_ID={}", allow.session_id))
        .is_err()
    {
        tell(pam, Level::Err, "cannot export SSM_SESSION_ID");
        return Code::SystemErr;
    }
    if valid_env_value(&allow.owner, 2048) {
        // The owner is informative only: a failure to export it does not block.
        let _ = pam.putenv(&format!("SSM_RUNAS_OWNER={}", allow.owner));
        // The person, for the login record's host (`who`, `last`); informative too.
        if let Some(name) = principal_name(&allow.owner) {
            let _ = pam.putenv(&format!("SSM_RUNAS_PRINCIPAL={name}"));
        }
    }
    let line = format!(
        "session {} of {} maps to {} by {}",
        allow.session_id,
        one_line(&allow.owner),
        allow.user,
        one_line(&allow.rule)
    );
    pam.log(Level::Info, &line);
    if args.debug {
        pam.log(Level::Debug, &format!("socket {}", args.socket.display()));
    }
    Code::Success
}

/// `pam_sm_setcred`: nothing to establish; success for our service.
pub fn setcred<P: PamOps>(pam: &mut P) -> Code {
    if ours(pam) {
        Code::Success
    } else {
        Code::Ignore
    }
}

/// `pam_sm_acct_mgmt`: re-checks that this session still maps to `PAM_USER`.
pub fn acct_mgmt<P: PamOps, D: Daemon>(pam: &mut P, daemon: &mut D) -> Code {
    if !ours(pam) {
        return Code::Ignore;
    }
    let Some(user) = pam.user() else {
        tell(pam, Level::Err, "no account to check");
        return Code::PermDenied;
    };
    match daemon.call(&Request::Check { user: user.clone() }) {
        Ok(Response::Allow(allow)) if allow.user == user => Code::Success,
        Ok(Response::Allow(allow)) => {
            tell(
                pam,
                Level::Warning,
                &format!(
                    "this session maps to {}, not {}",
                    one_line(&allow.user),
                    one_line(&user)
                ),
            );
            Code::PermDenied
        }
        Ok(Response::Deny { reason }) => {
            tell(pam, Level::Warning, &format!("denied: {reason}"));
            Code::PermDenied
        }
        Ok(Response::Error { reason }) => {
            tell(
                pam,
                Level::Err,
                &format!("the daemon refused the request: {reason}"),
            );
            Code::PermDenied
        }
        Ok(other) => {
            tell(
                pam,
                Level::Err,
                &format!("the daemon gave a wrong kind of answer: {other:?}"),
            );
            Code::PermDenied
        }
        Err(why) => {
            tell(pam, Level::Err, &why);
            Code::PermDenied
        }
    }
}

/// `pam_sm_open_session`: tells the daemon (audit). Only an explicit refusal
/// blocks; an unreachable daemon is logged.
pub fn open_session<P: PamOps, D: Daemon>(pam: &mut P, daemon: &mut D) -> Code {
    if !ours(pam) {
        return Code::Ignore;
    }
    let Some(user) = pam.user() else {
        tell(pam, Level::Err, "no account for the session");
        return Code::SessionErr;
    };
    match daemon.call(&Request::SessionOpened { user }) {
        Ok(Response::Ack) => Code::Success,
        Ok(Response::Deny { reason }) => {
            tell(pam, Level::Warning, &format!("denied: {reason}"));
            Code::SessionErr
        }
        Ok(other) => {
            pam.log(
                Level::Warning,
                &format!("ssm-runas: session opened, daemon answered {other:?}"),
            );
            Code::Success
        }
        Err(why) => {
            pam.log(
                Level::Warning,
                &format!("ssm-runas: session opened, not recorded: {why}"),
            );
            Code::Success
        }
    }
}

/// `pam_sm_close_session`: tells the daemon (audit); never blocks the close.
pub fn close_session<P: PamOps, D: Daemon>(pam: &mut P, daemon: &mut D) -> Code {
    if !ours(pam) {
        return Code::Ignore;
    }
    let Some(user) = pam.user() else {
        return Code::Success;
    };
    match daemon.call(&Request::SessionClosed { user }) {
        Ok(Response::Ack) => {}
        Ok(other) => {
            pam.log(
                Level::Warning,
                &format!("ssm-runas: session closed, daemon answered {other:?}"),
            );
        }
        Err(why) => {
            pam.log(
                Level::Warning,
                &format!("ssm-runas: session closed, not recorded: {why}"),
            );
        }
    }
    Code::Success
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssm_runas_protocol::Allow;

    #[derive(Default)]
    struct FakePam {
        service: Option<String>,
        user: Option<String>,
        env: Vec<String>,
        msgs: Vec<String>,
        logs: Vec<String>,
    }

    impl PamOps for FakePam {
        fn service(&self) -> Option<String> {
            self.service.clone()
        }
        fn user(&self) -> Option<String> {
            self.user.clone()
        }
        fn set_user(&mut self, user: &str) -> Result<(), Code> {
            self.user = Some(user.to_string());
            Ok(())
        }
        fn putenv(&mut self, kv: &str) -> Result<(), Code> {
            self.env.push(kv.to_string());
            Ok(())
        }
        fn error_msg(&mut self, msg: &str) {
            self.msgs.push(msg.to_string());
        }
        fn log(&mut self, _: Level, msg: &str) {
            self.logs.push(msg.to_string());
        }
    }

    struct FakeDaemon {
        answer: Result<Response, String>,
        asked: Vec<Request>,
    }

    impl Daemon for FakeDaemon {
        fn call(&mut self, req: &Request) -> Result<Response, String> {
            self.asked.push(req.clone());
            self.answer.clone()
        }
    }

    fn daemon(answer: Result<Response, String>) -> FakeDaemon {
        FakeDaemon {
            answer,
            asked: vec![],
        }
    }

    fn allow(user: &str) -> Response {
        Response::Allow(Allow {
            user: user.into(),
            groups: vec![],
            session_id: "alice-0123456789abcdef0".into(),
            owner: "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/alice".into(),
            rule: "rule 1".into(),
        })
    }

    fn pam(user: Option<&str>) -> FakePam {
        FakePam {
            service: Some(SERVICE.into()),
            user: user.map(Into::into),
            ..Default::default()
        }
    }

    fn args() -> Args {
        Args::parse([]).0
    }

    #[test]
    fn other_services_are_ignored_without_asking_the_daemon() {
        let mut p = FakePam {
            service: Some("sshd".into()),
            ..Default::default()
        };
        let mut d = daemon(Ok(allow("alice")));
        assert_eq!(authenticate(&mut p, &mut d, &args()), Code::Ignore);
        assert_eq!(acct_mgmt(&mut p, &mut d), Code::Ignore);
        assert_eq!(setcred(&mut p), Code::Ignore);
        assert_eq!(open_session(&mut p, &mut d), Code::Ignore);
        assert_eq!(close_session(&mut p, &mut d), Code::Ignore);
        assert!(d.asked.is_empty());
        assert_eq!(p.user, None);
    }

    #[test]
    fn allow_sets_user_and_environment() {
        let mut p = pam(None);
        let mut d = daemon(Ok(allow("alice")));
        assert_eq!(authenticate(&mut p, &mut d, &args()), Code::Success);
        assert_eq!(d.asked, vec![Request::Resolve]);
        assert_eq!(p.user.as_deref(), Some("alice"));
        assert_eq!(p.env[0], "SSM_SESSION_ID=alice-0123456789abcdef0");
        assert!(p.env[1].starts_with("SSM_RUNAS_OWNER=arn:aws:sts::"));
        assert_eq!(p.env[2], "SSM_RUNAS_PRINCIPAL=alice");
        assert!(p.msgs.is_empty());
    }

    #[test]
    fn the_principal_is_the_last_element_of_the_owner() {
        for (arn, name) in [
            (
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/alice@corp.example",
                Some("alice@corp.example"),
            ),
            ("arn:aws:iam::111122223333:user/dev/bob", Some("bob")),
            ("arn:aws-cn:iam::111122223333:root", Some("root")),
            ("arn:aws:iam::111122223333:user/", None),
            ("not an arn", None),
        ] {
            assert_eq!(principal_name(arn), name, "{arn}");
        }
    }

    #[test]
    fn preset_user_must_match() {
        let mut p = pam(Some("alice"));
        assert_eq!(
            authenticate(&mut p, &mut daemon(Ok(allow("alice"))), &args()),
            Code::Success
        );
        let mut p = pam(Some("root"));
        assert_eq!(
            authenticate(&mut p, &mut daemon(Ok(allow("alice"))), &args()),
            Code::AuthErr
        );
        assert_eq!(p.user.as_deref(), Some("root"));
        assert_eq!(
            p.msgs,
            vec!["ssm-runas: this session maps to alice, not root"]
        );
        assert!(p.env.is_empty());
    }

    #[test]
    fn deny_and_failures_explain_themselves_on_one_line() {
        let mut p = pam(None);
        let d = &mut daemon(Ok(Response::Deny {
            reason: "no rule for\nReadOnly".into(),
        }));
        assert_eq!(authenticate(&mut p, d, &args()), Code::AuthErr);
        assert_eq!(p.msgs, vec!["ssm-runas: denied: no rule for ReadOnly"]);
        assert_eq!(p.user, None);

        let mut p = pam(None);
        let d = &mut daemon(Err("the ssm-runas daemon is not running".into()));
        assert_eq!(authenticate(&mut p, d, &args()), Code::AuthinfoUnavail);
        assert_eq!(
            p.msgs,
            vec!["ssm-runas: the ssm-runas daemon is not running"]
        );

        let mut p = pam(None);
        let d = &mut daemon(Ok(Response::Error {
            reason: "bad".into(),
        }));
        assert_eq!(authenticate(&mut p, d, &args()), Code::AuthinfoUnavail);

        let mut p = pam(None);
        assert_eq!(
            authenticate(&mut p, &mut daemon(Ok(Response::Ack)), &args()),
            Code::AuthinfoUnavail
        );
    }

    #[test]
    fn invalid_answers_fail_closed() {
        for user in ["root;id", "../x", "", "Alice", "-x"] {
            let mut p = pam(None);
            assert_eq!(
                authenticate(&mut p, &mut daemon(Ok(allow(user))), &args()),
                Code::AuthinfoUnavail,
                "{user}"
            );
            assert_eq!(p.user, None);
        }
    }

    #[test]
    fn account_rechecks_the_pam_user() {
        let mut p = pam(Some("alice"));
        let mut d = daemon(Ok(allow("alice")));
        assert_eq!(acct_mgmt(&mut p, &mut d), Code::Success);
        assert_eq!(
            d.asked,
            vec![Request::Check {
                user: "alice".into()
            }]
        );
        assert_eq!(
            acct_mgmt(&mut pam(Some("bob")), &mut daemon(Ok(allow("alice")))),
            Code::PermDenied
        );
        let mut p = pam(Some("alice"));
        let d = &mut daemon(Ok(Response::Deny {
            reason: "rule gone".into(),
        }));
        assert_eq!(acct_mgmt(&mut p, d), Code::PermDenied);
        assert_eq!(p.msgs, vec!["ssm-runas: denied: rule gone"]);
        assert_eq!(
            acct_mgmt(&mut pam(None), &mut daemon(Ok(allow("alice")))),
            Code::PermDenied
        );
        assert_eq!(
            acct_mgmt(&mut pam(Some("alice")), &mut daemon(Err("down".into()))),
            Code::PermDenied
        );
    }

    #[test]
    fn sessions_are_reported_and_close_never_blocks() {
        let mut p = pam(Some("alice"));
        let mut d = daemon(Ok(Response::Ack));
        assert_eq!(open_session(&mut p, &mut d), Code::Success);
        assert_eq!(close_session(&mut p, &mut d), Code::Success);
        assert_eq!(
            d.asked,
            vec![
                Request::SessionOpened {
                    user: "alice".into()
                },
                Request::SessionClosed {
                    user: "alice".into()
                }
            ]
        );
        assert_eq!(
            close_session(&mut p, &mut daemon(Err("down".into()))),
            Code::Success
        );
        assert_eq!(
            open_session(&mut p, &mut daemon(Err("down".into()))),
            Code::Success
        );
        let d = &mut daemon(Ok(Response::Deny {
            reason: "no".into(),
        }));
        assert_eq!(open_session(&mut p, d), Code::SessionErr);
    }

    #[test]
    fn arguments() {
        let (a, w) = Args::parse(["socket=/tmp/x.sock", "timeout=30", "debug"]);
        assert_eq!(a.socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(a.timeout, Duration::from_secs(30));
        assert!(a.debug && w.is_empty());
        let (a, w) = Args::parse(["timeout=5", "socket=rel", "bogus"]);
        assert_eq!(a, args());
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn one_line_strips_controls_and_bounds_length() {
        assert_eq!(one_line("a\r\nb\x1b[2J"), "a  b [2J");
        assert_eq!(one_line("deny \u{202e}ecila"), "deny  ecila");
        assert!(one_line(&"x".repeat(1000)).len() <= MAX_REASON + 3);
    }
}
