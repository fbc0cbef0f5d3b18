//! `ssm-runas-login`: the switch helper an SSM session's shell profile `exec`s.
//!
//! Installed setuid root (mode 4750, group = the landing user's group). It takes no
//! target user: it runs the PAM service `ssm-runas`, whose module asks the daemon
//! which account this session maps to and sets `PAM_USER`; the helper then becomes
//! exactly that account (never root) and starts its login shell, or `shell -c
//! COMMAND` with `-c`. Any failure prints one line `ssm-runas: <why>` and exits
//! non-zero, which ends the session: there is never a shell left as the landing user.
//!
//! Order (util-linux `su -l`): kill what the landing shell forked before it exec'd us
//! → authenticate → acct_mgmt → real, effective and saved uid root (no landing process
//! can signal us from here on) → initgroups → setcred(ESTABLISH) → open_session →
//! fork; the child sets gid/uid, a clean environment, chdir home, exec; the parent
//! waits, closes the session, deletes credentials, ends PAM and exits with the
//! child's status.
// Product code never panics on purpose: errors are values (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod child;
mod env;
mod pam;
mod records;
mod sys;

use ssm_runas_protocol::{DEFAULT_SOCKET, Request};
use std::ffi::{CString, OsString};
use std::fmt;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// The PAM service this helper runs.
const SERVICE: &std::ffi::CStr = c"ssm-runas";

/// How long a failure report to the daemon may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// Writes one line to stderr; never panics.
fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "ssm-runas: {line}");
}

/// Why the switch did not happen.
#[derive(Debug)]
enum Error {
    Usage(String),
    NotSetuid,
    RootCaller,
    Setup(&'static str, std::io::Error),
    Pam(pam::PamError),
    /// A module already told the person why; nothing more to print.
    Refused(pam::PamError),
    NoUser,
    UserChanged,
    Prompted,
    UnknownUser(String),
    RootTarget(String),
    Lookup(std::io::Error),
    Child(&'static str, std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg} (see --help)"),
            Error::NotSetuid => write!(f, "this helper is not installed setuid root"),
            Error::RootCaller => write!(f, "this helper is for the landing user, not root"),
            Error::Setup(what, e) => write!(f, "cannot {what}: {e}"),
            Error::Pam(e) | Error::Refused(e) => write!(f, "{} failed: {}", e.step, e.text),
            Error::Prompted => write!(
                f,
                "a module of the PAM service ssm-runas asked for input, which this helper refuses"
            ),
            Error::UserChanged => write!(f, "a PAM module changed the account during the switch"),
            Error::NoUser => write!(f, "PAM did not name an account to switch to"),
            Error::UnknownUser(u) => write!(f, "account {u} does not exist"),
            Error::RootTarget(u) => write!(f, "refusing to become {u}: it has uid 0"),
            Error::Lookup(e) => write!(f, "cannot read the account database: {e}"),
            Error::Child(what, e) => write!(f, "cannot {what}: {e}"),
        }
    }
}

/// What the caller asked for.
enum Mode {
    Login,
    Command(OsString),
    Help,
    Version,
}

fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Mode, Error> {
    let _argv0 = args.next();
    let Some(first) = args.next() else {
        return Ok(Mode::Login);
    };
    let mode = match first.as_bytes() {
        b"--help" | b"-h" => Mode::Help,
        b"--version" | b"-V" => Mode::Version,
        b"-c" | b"--command" => {
            let cmd = args
                .next()
                .ok_or_else(|| Error::Usage("-c needs a command".into()))?;
            Mode::Command(cmd)
        }
        _ => {
            return Err(Error::Usage(format!(
                "{:?} is not an option: the account is decided by ssm-runasd",
                first.to_string_lossy()
            )));
        }
    };
    if let Some(extra) = args.next() {
        return Err(Error::Usage(format!(
            "too many arguments at {:?}",
            extra.to_string_lossy()
        )));
    }
    Ok(mode)
}

const HELP: &str = "\
Usage: ssm-runas-login [-c COMMAND]

Switches this AWS SSM session into the Linux account that ssm-runasd maps the
session's owner to, through the PAM service \"ssm-runas\", and starts that
account's login shell (or runs COMMAND with the account's shell).

Meant to be started by the Session Manager shell profile:
    exec /usr/libexec/ssm-runas/ssm-runas-login

Options:
  -c, --command COMMAND  run COMMAND instead of an interactive login shell
  -h, --help             show this help
  -V, --version          show the version
";

/// Best-effort audit record of a failure after PAM was started.
fn report(reason: &str) {
    let reason: String = reason.chars().take(512).collect();
    let _ = ssm_runas_protocol::call(
        Path::new(DEFAULT_SOCKET),
        &Request::SwitchFailed { reason },
        REPORT_TIMEOUT,
    );
}

fn run(mode: Mode) -> Result<i32, Error> {
    let (ruid, euid) = sys::ids();
    if euid != 0 {
        return Err(Error::NotSetuid);
    }
    if ruid == 0 {
        return Err(Error::RootCaller);
    }
    // Before anything else: what the landing shell forked before it exec'd this helper
    // is its child now, and must not live on in the switched session.
    let killed = sys::kill_inherited_children()
        .map_err(|e| Error::Setup("end the processes started before the switch", e))?;
    if killed > 0 {
        sys::log(
            libc::LOG_NOTICE,
            &format!(
                "uid {ruid}: killed {killed} processes the landing shell started before the switch"
            ),
        );
    }
    sys::set_umask();
    sys::sanitize_fds().map_err(|e| Error::Setup("set up standard descriptors", e))?;
    let kept = env::kept_from(std::env::vars_os());
    sys::clear_env().map_err(|e| Error::Setup("clear the environment", e))?;

    let mut pam = pam::Pam::start(SERVICE).map_err(Error::Pam)?;
    if let Some(tty) = sys::tty_name() {
        pam.set_tty(&tty).map_err(Error::Pam)?;
    }
    if let Ok(Some(caller)) = sys::passwd_by_uid(ruid) {
        pam.set_ruser(&caller.name).map_err(Error::Pam)?;
    }
    if let Err(e) = pam.authenticate() {
        if pam.prompted() && !pam.told() {
            return Err(Error::Prompted);
        }
        return Err(if pam.told() {
            Error::Refused(e)
        } else {
            Error::Pam(e)
        });
    }
    let user = pam.user().ok_or(Error::NoUser)?;
    let user_text = user.to_string_lossy().into_owned();
    let result = switch(&mut pam, &user, &user_text, &kept, mode);
    if let Err(e) = &result
        && !matches!(e, Error::Refused(_))
    {
        report(&format!("{user_text}: {e}"));
    }
    result
}

/// Everything after authentication: the account step, the session, the child.
fn switch(
    pam: &mut pam::Pam,
    user: &std::ffi::CStr,
    user_text: &str,
    kept: &[(String, String)],
    mode: Mode,
) -> Result<i32, Error> {
    if let Err(e) = pam.acct_mgmt() {
        return Err(if pam.told() {
            Error::Refused(e)
        } else {
            Error::Pam(e)
        });
    }
    let pw = sys::passwd_by_name(user)
        .map_err(Error::Lookup)?
        .ok_or_else(|| Error::UnknownUser(user_text.to_owned()))?;
    if pw.uid == 0 {
        return Err(Error::RootTarget(user_text.to_owned()));
    }
    if pw.name.as_bytes() != user.to_bytes() {
        return Err(Error::UnknownUser(user_text.to_owned()));
    }
    sys::log(
        libc::LOG_INFO,
        &format!(
            "uid {} switching to {user_text} (uid {}) on {}",
            sys::ids().0,
            pw.uid,
            sys::tty_name()
                .map_or_else(|| "no tty".to_owned(), |t| t.to_string_lossy().into_owned())
        ),
    );
    // Decided: out of the landing user's reach before anything runs for the account.
    sys::leave_caller_uid().map_err(|e| Error::Setup("leave the landing user's uid", e))?;
    sys::initgroups(user, pw.gid).map_err(|e| Error::Setup("set the account's groups", e))?;
    pam.establish_cred().map_err(Error::Pam)?;
    pam.open_session().map_err(Error::Pam)?;
    // The account is the one authentication decided; no later module may swap it.
    if pam.user().as_deref() != Some(user) {
        return Err(Error::UserChanged);
    }

    let shell = if pw.shell.is_empty() {
        c"/bin/sh".to_owned()
    } else {
        pw.shell.clone()
    };
    let home = pw.home.to_string_lossy().into_owned();
    let shell_text = shell.to_string_lossy().into_owned();
    let envp: Vec<CString> = env::build(
        kept,
        &env::Account {
            user: user_text,
            home: &home,
            shell: &shell_text,
        },
        &pam.env(),
    )
    .into_iter()
    .filter_map(|v| CString::new(v).ok())
    .collect();
    let base = Path::new(std::ffi::OsStr::from_bytes(shell.as_bytes()))
        .file_name()
        .map_or_else(|| b"sh".to_vec(), |n| n.as_bytes().to_vec());
    let argv: Vec<CString> = match &mode {
        Mode::Command(cmd) => vec![
            CString::new(base).map_err(|_| Error::Usage("bad shell".into()))?,
            c"-c".to_owned(),
            CString::new(cmd.as_bytes())
                .map_err(|_| Error::Usage("the command contains NUL".into()))?,
        ],
        _ => {
            let mut dash = b"-".to_vec();
            dash.extend_from_slice(&base);
            vec![CString::new(dash).map_err(|_| Error::Usage("bad shell".into()))?]
        }
    };
    let exec_args = sys::ExecArgs::new(&argv, &envp);

    let host = records::host_from_pam_env(&pam.env());
    let terminal = records::Terminal::give_to(pw.uid, pw.gid);
    let started = child::spawn(&child::Prepared {
        uid: pw.uid,
        gid: pw.gid,
        home: &pw.home,
        shell: &shell,
        args: &exec_args,
    })
    .map_err(|e| Error::Setup("start the account's shell", e))?;
    let child = match started {
        Ok(pid) => pid,
        Err(f) => {
            return Err(Error::Child(
                match (f.stage, &mode) {
                    (child::Stage::Credentials, _) => "become the account",
                    (child::Stage::Exec, Mode::Command(_)) => "run the command's shell",
                    (child::Stage::Exec, _) => "start the login shell",
                },
                f.error(),
            ));
        }
    };
    let login = records::Login::open(user_text, pw.uid, &host, child);
    let ended = sys::wait_child(child).map_err(|e| Error::Setup("wait for the shell", e))?;
    if let Some(login) = login {
        login.close(&ended);
    }
    drop(terminal);
    pam.close();
    match ended {
        sys::Ended::Exited(code) => Ok(code),
        sys::Ended::Signaled(sig) => Ok(-sig),
    }
}

fn main() {
    // Nothing inherited is trusted; the first thing is to drop what was typed ahead
    // and to stop signals from interrupting half-way.
    sys::flush_tty_input();
    sys::reset_signals();
    let mode = match parse_args(std::env::args_os()) {
        Ok(m) => m,
        Err(e) => {
            say(&e.to_string());
            std::process::exit(2);
        }
    };
    match mode {
        Mode::Help => {
            let _ = std::io::stdout().lock().write_all(HELP.as_bytes());
            std::process::exit(0);
        }
        Mode::Version => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "ssm-runas-login {}",
                env!("CARGO_PKG_VERSION")
            );
            std::process::exit(0);
        }
        _ => {}
    }
    let caller = sys::ids().0;
    match run(mode) {
        Ok(code) if code < 0 => sys::die_like(-code),
        Ok(code) => std::process::exit(code),
        Err(e) => {
            if !matches!(e, Error::Refused(_)) {
                say(&e.to_string());
            }
            sys::log(libc::LOG_NOTICE, &format!("uid {caller}: {e}"));
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Mode, Error> {
        parse_args(list.iter().map(OsString::from))
    }

    #[test]
    fn no_target_user_is_accepted() {
        assert!(matches!(args(&["x"]), Ok(Mode::Login)));
        assert!(matches!(args(&["x", "-c", "id -un"]), Ok(Mode::Command(c)) if c == "id -un"));
        assert!(matches!(args(&["x", "--help"]), Ok(Mode::Help)));
        assert!(matches!(args(&["x", "--version"]), Ok(Mode::Version)));
        assert!(matches!(args(&["x", "root"]), Err(Error::Usage(_))));
        assert!(matches!(args(&["x", "-c"]), Err(Error::Usage(_))));
        assert!(matches!(
            args(&["x", "-c", "id", "root"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            args(&["x", "--socket=/tmp/s"]),
            Err(Error::Usage(_))
        ));
    }
}
