//! `pam_ssm_runas.so`: the authorization point of ssm-runas.
//!
//! It acts only for the PAM service `ssm-runas` (every entry point returns
//! `PAM_IGNORE` for any other service) and asks the local daemon `ssm-runasd`
//! which account the calling process's SSM session maps to. The daemon identifies
//! the caller from the socket (`SO_PEERCRED`), never from what is sent.
//!
//! Module arguments: `socket=PATH` (default [`ssm_runas_protocol::DEFAULT_SOCKET`]),
//! `timeout=SECS` (default [`ssm_runas_protocol::DEFAULT_CLIENT_TIMEOUT_SECS`], must
//! exceed the daemon's resolve deadline), `debug`.
//!
//! - `auth`: `Resolve`; on `Allow` sets `PAM_USER` (or checks a preset one) and
//!   exports `SSM_SESSION_ID`, `SSM_RUNAS_OWNER` and `SSM_RUNAS_PRINCIPAL` (the
//!   owner ARN's last element, the person) to the PAM environment.
//!   `Deny` → `PAM_AUTH_ERR`; no answer → `PAM_AUTHINFO_UNAVAIL`. The reason goes
//!   to the person as one `PAM_ERROR_MSG` line and to syslog.
//! - `setcred`: success.
//! - `account`: `Check{PAM_USER}`; anything but a matching `Allow` → `PAM_PERM_DENIED`.
//! - `session`: `SessionOpened` / `SessionClosed` (audit; closing never fails).
//!
//! The exported functions only adapt libpam to [`logic`], which holds the behaviour.
// Product code never panics on purpose: errors are values (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod logic;

use logic::{Code, Level, PamOps, SocketDaemon};
use pam::constants::{PAM_ERROR_MSG, PamFlag, PamResultCode};
use pam::conv::Conv;
use pam::items::{Service, User};
use pam::module::{PamHandle, PamHooks};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_putenv(pamh: *mut c_void, name_value: *const c_char) -> c_int;
    fn pam_syslog(pamh: *const c_void, priority: c_int, fmt: *const c_char, ...);
}

/// The libpam handle seen through [`PamOps`].
struct Handle<'a>(&'a mut PamHandle);

fn to_result(code: PamResultCode) -> Code {
    match code {
        PamResultCode::PAM_SUCCESS => Code::Success,
        PamResultCode::PAM_PERM_DENIED => Code::PermDenied,
        PamResultCode::PAM_AUTH_ERR => Code::AuthErr,
        PamResultCode::PAM_AUTHINFO_UNAVAIL => Code::AuthinfoUnavail,
        PamResultCode::PAM_SESSION_ERR => Code::SessionErr,
        PamResultCode::PAM_IGNORE => Code::Ignore,
        _ => Code::SystemErr,
    }
}

fn to_pam(code: Code) -> PamResultCode {
    match code {
        Code::Success => PamResultCode::PAM_SUCCESS,
        Code::SystemErr => PamResultCode::PAM_SYSTEM_ERR,
        Code::PermDenied => PamResultCode::PAM_PERM_DENIED,
        Code::AuthErr => PamResultCode::PAM_AUTH_ERR,
        Code::AuthinfoUnavail => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Code::SessionErr => PamResultCode::PAM_SESSION_ERR,
        Code::Ignore => PamResultCode::PAM_IGNORE,
    }
}

impl PamOps for Handle<'_> {
    fn service(&self) -> Option<String> {
        let service = self.0.get_item::<Service>().ok()??;
        service.0.to_str().ok().map(str::to_owned)
    }

    fn user(&self) -> Option<String> {
        let user = self.0.get_item::<User>().ok()??;
        let user = user.0.to_str().ok()?;
        (!user.is_empty()).then(|| user.to_owned())
    }

    fn set_user(&mut self, user: &str) -> Result<(), Code> {
        let user = CString::new(user).map_err(|_| Code::SystemErr)?;
        self.0
            .set_item_str(User(user.as_c_str()))
            .map_err(to_result)
    }

    fn putenv(&mut self, name_value: &str) -> Result<(), Code> {
        let kv = CString::new(name_value).map_err(|_| Code::SystemErr)?;
        let handle: *mut PamHandle = &mut *self.0;
        // SAFETY: `handle` is the live handle libpam gave this hook; pam_putenv copies
        // the NUL-terminated string `kv`, which outlives the call.
        let rc = unsafe { pam_putenv(handle.cast(), kv.as_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(Code::SystemErr)
        }
    }

    fn error_msg(&mut self, msg: &str) {
        if let Ok(Some(conv)) = self.0.get_item::<Conv>() {
            let _ = conv.send(PAM_ERROR_MSG, msg);
        }
    }

    fn log(&mut self, level: Level, msg: &str) {
        let priority = match level {
            Level::Err => libc::LOG_ERR,
            Level::Warning => libc::LOG_WARNING,
            Level::Info => libc::LOG_INFO,
            Level::Debug => libc::LOG_DEBUG,
        };
        let Ok(msg) = CString::new(msg.replace('\0', " ")) else {
            return;
        };
        let handle: *const PamHandle = &*self.0;
        // SAFETY: `handle` is the live handle of this hook; the format is a literal
        // "%s" with exactly one NUL-terminated string argument that outlives the call.
        unsafe {
            pam_syslog(
                handle.cast(),
                priority | libc::LOG_AUTHPRIV,
                c"%s".as_ptr(),
                msg.as_ptr(),
            )
        };
    }
}

/// Runs one hook for our service: parses the arguments, logs their problems, and
/// turns a panic into `PAM_SYSTEM_ERR` (pam-bindings would also catch it, as
/// `PAM_ABORT`; this keeps the code we document).
fn run(
    pamh: &mut PamHandle,
    args: &[&CStr],
    hook: impl FnOnce(&mut Handle<'_>, &mut SocketDaemon, &logic::Args) -> Code,
) -> PamResultCode {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut handle = Handle(pamh);
        if handle.service().as_deref() != Some(logic::SERVICE) {
            return Code::Ignore;
        }
        let strs = args.iter().map(|a| a.to_str().map_or("<not UTF-8>", |s| s));
        let (parsed, warnings) = logic::Args::parse(strs);
        for w in warnings {
            handle.log(Level::Warning, &format!("ssm-runas: {w}"));
        }
        let mut daemon = SocketDaemon {
            socket: parsed.socket.clone(),
            timeout: parsed.timeout,
        };
        hook(&mut handle, &mut daemon, &parsed)
    }));
    match outcome {
        Ok(code) => to_pam(code),
        Err(payload) => {
            // Dropping a panic payload can itself panic; never let that escape.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(payload)));
            PamResultCode::PAM_SYSTEM_ERR
        }
    }
}

/// The entry points, generated by `pam_hooks!`.
pub struct SsmRunas;

pam::pam_hooks!(SsmRunas);

impl PamHooks for SsmRunas {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, &args, |h, d, a| logic::authenticate(h, d, a))
    }

    fn sm_setcred(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, &args, |h, _, _| logic::setcred(h))
    }

    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, &args, |h, d, _| logic::acct_mgmt(h, d))
    }

    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, &args, |h, d, _| logic::open_session(h, d))
    }

    fn sm_close_session(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, &args, |h, d, _| logic::close_session(h, d))
    }
}
