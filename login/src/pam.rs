//! A minimal, owned libpam application context.
//!
//! [`Pam`] owns the handle and the conversation state: `Drop` closes a session that
//! is still open, deletes established credentials and calls `pam_end`, so every
//! error path cleans up. The conversation never prompts (the landing user could
//! answer anything): messages go to stderr, prompts are refused.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

mod sys {
    use std::ffi::{c_char, c_int, c_void};

    pub const PAM_SUCCESS: c_int = 0;
    pub const PAM_BUF_ERR: c_int = 5;
    pub const PAM_CONV_ERR: c_int = 19;
    pub const PAM_USER: c_int = 2;
    pub const PAM_TTY: c_int = 3;
    pub const PAM_RUSER: c_int = 8;
    pub const PAM_ERROR_MSG: c_int = 3;
    pub const PAM_TEXT_INFO: c_int = 4;
    pub const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;
    pub const PAM_ESTABLISH_CRED: c_int = 0x0002;
    pub const PAM_DELETE_CRED: c_int = 0x0004;

    #[repr(C)]
    pub struct PamHandle {
        _private: [u8; 0],
    }

    #[repr(C)]
    pub struct PamMessage {
        pub msg_style: c_int,
        pub msg: *const c_char,
    }

    #[repr(C)]
    pub struct PamResponse {
        pub resp: *mut c_char,
        pub resp_retcode: c_int,
    }

    pub type ConvFn = unsafe extern "C" fn(
        num_msg: c_int,
        msg: *mut *const PamMessage,
        resp: *mut *mut PamResponse,
        appdata: *mut c_void,
    ) -> c_int;

    #[repr(C)]
    pub struct PamConv {
        pub conv: Option<ConvFn>,
        pub appdata_ptr: *mut c_void,
    }

    #[link(name = "pam")]
    unsafe extern "C" {
        pub fn pam_start(
            service: *const c_char,
            user: *const c_char,
            conv: *const PamConv,
            pamh: *mut *mut PamHandle,
        ) -> c_int;
        pub fn pam_end(pamh: *mut PamHandle, status: c_int) -> c_int;
        pub fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
        pub fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
        pub fn pam_setcred(pamh: *mut PamHandle, flags: c_int) -> c_int;
        pub fn pam_open_session(pamh: *mut PamHandle, flags: c_int) -> c_int;
        pub fn pam_close_session(pamh: *mut PamHandle, flags: c_int) -> c_int;
        pub fn pam_get_item(pamh: *const PamHandle, item: c_int, out: *mut *const c_void) -> c_int;
        pub fn pam_set_item(pamh: *mut PamHandle, item: c_int, value: *const c_void) -> c_int;
        pub fn pam_getenvlist(pamh: *mut PamHandle) -> *mut *mut c_char;
        pub fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
    }
}

/// A PAM call that failed: which step, and libpam's words for the code.
#[derive(Debug)]
pub struct PamError {
    pub step: &'static str,
    pub text: String,
}

/// What the conversation saw.
#[derive(Default)]
struct ConvState {
    /// An error message reached the person (so one more line is not needed).
    told: bool,
    /// A module tried to prompt, or the callback panicked.
    refused: bool,
}

/// Prints one message from a module on stderr, without control characters.
fn show(msg: &[u8]) {
    let clean: Vec<u8> = msg
        .iter()
        .take(1024)
        .map(|&b| if b.is_ascii_control() { b' ' } else { b })
        .collect();
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(&clean);
    let _ = err.write_all(b"\n");
}

/// The conversation callback.
///
/// # Safety
///
/// Called by libpam with `num_msg` valid message pointers, a valid `resp` out
/// pointer and the `appdata` pointer given to `pam_start` (a live `ConvState`).
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const sys::PamMessage,
    resp: *mut *mut sys::PamResponse,
    appdata: *mut c_void,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if num_msg <= 0 || num_msg > 32 || msg.is_null() || resp.is_null() || appdata.is_null() {
            return sys::PAM_CONV_ERR;
        }
        // SAFETY: appdata is the Box<ConvState> owned by the `Pam` that is running
        // this PAM call; nothing else touches it during the call.
        let state = unsafe { &mut *appdata.cast::<ConvState>() };
        let n = num_msg as usize;
        for i in 0..n {
            // SAFETY: libpam passes `num_msg` message pointers (Linux-PAM layout).
            let m = unsafe { *msg.add(i) };
            if m.is_null() {
                return sys::PAM_CONV_ERR;
            }
            // SAFETY: `m` points to a pam_message for the duration of the call.
            let (style, text) = unsafe { ((*m).msg_style, (*m).msg) };
            match style {
                sys::PAM_ERROR_MSG | sys::PAM_TEXT_INFO => {
                    if !text.is_null() {
                        // SAFETY: message text is a NUL-terminated string from the module.
                        show(unsafe { CStr::from_ptr(text) }.to_bytes());
                    }
                    if style == sys::PAM_ERROR_MSG {
                        state.told = true;
                    }
                }
                _ => {
                    state.refused = true;
                    return sys::PAM_CONV_ERR;
                }
            }
        }
        // SAFETY: calloc of n zeroed responses; libpam takes ownership and frees it.
        let out = unsafe { libc::calloc(n, std::mem::size_of::<sys::PamResponse>()) };
        if out.is_null() {
            return sys::PAM_BUF_ERR;
        }
        // SAFETY: `resp` is a valid out pointer (checked non-null above).
        unsafe { *resp = out.cast() };
        sys::PAM_SUCCESS
    }));
    match result {
        Ok(rc) => rc,
        Err(payload) => {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(payload)));
            sys::PAM_CONV_ERR
        }
    }
}

/// An owned PAM transaction.
pub struct Pam {
    handle: *mut sys::PamHandle,
    // Both boxes must outlive `handle`: libpam keeps pointers to them.
    conv: Box<sys::PamConv>,
    state: Box<ConvState>,
    last: c_int,
    cred: bool,
    session: bool,
}

impl Pam {
    /// `pam_start(service, NULL, …)`: the user is decided by the modules.
    pub fn start(service: &CStr) -> Result<Pam, PamError> {
        let mut state = Box::<ConvState>::default();
        let conv = Box::new(sys::PamConv {
            conv: Some(converse),
            appdata_ptr: ptr::from_mut::<ConvState>(&mut state).cast(),
        });
        let mut handle = ptr::null_mut();
        // SAFETY: service is NUL-terminated; user NULL is allowed; conv points to a
        // boxed struct kept alive (with its appdata) as long as the handle.
        let rc = unsafe { sys::pam_start(service.as_ptr(), ptr::null(), &*conv, &mut handle) };
        if rc != sys::PAM_SUCCESS || handle.is_null() {
            return Err(PamError {
                step: "pam_start",
                text: format!("error {rc}"),
            });
        }
        Ok(Pam {
            handle,
            conv,
            state,
            last: sys::PAM_SUCCESS,
            cred: false,
            session: false,
        })
    }

    fn check(&mut self, step: &'static str, rc: c_int) -> Result<(), PamError> {
        self.last = rc;
        if rc == sys::PAM_SUCCESS {
            return Ok(());
        }
        // SAFETY: handle is live; pam_strerror returns a static string or NULL.
        let text = unsafe { sys::pam_strerror(self.handle, rc) };
        let text = if text.is_null() {
            format!("error {rc}")
        } else {
            // SAFETY: non-null result of pam_strerror is a NUL-terminated string.
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        };
        Err(PamError { step, text })
    }

    /// Whether a module already told the person why (through the conversation).
    pub fn told(&self) -> bool {
        self.state.told
    }

    /// Whether a module tried to prompt (which this helper refuses).
    pub fn prompted(&self) -> bool {
        self.state.refused
    }

    fn set_item(&mut self, item: c_int, value: &CStr, step: &'static str) -> Result<(), PamError> {
        // SAFETY: handle is live; libpam copies the NUL-terminated string.
        let rc = unsafe { sys::pam_set_item(self.handle, item, value.as_ptr().cast()) };
        self.check(step, rc)
    }

    pub fn set_tty(&mut self, tty: &CStr) -> Result<(), PamError> {
        self.set_item(sys::PAM_TTY, tty, "pam_set_item(PAM_TTY)")
    }

    pub fn set_ruser(&mut self, ruser: &CStr) -> Result<(), PamError> {
        self.set_item(sys::PAM_RUSER, ruser, "pam_set_item(PAM_RUSER)")
    }

    pub fn authenticate(&mut self) -> Result<(), PamError> {
        // SAFETY: handle is live; the conversation state outlives the call.
        let rc = unsafe { sys::pam_authenticate(self.handle, sys::PAM_DISALLOW_NULL_AUTHTOK) };
        self.check("authentication", rc)
    }

    pub fn acct_mgmt(&mut self) -> Result<(), PamError> {
        // SAFETY: as above.
        let rc = unsafe { sys::pam_acct_mgmt(self.handle, sys::PAM_DISALLOW_NULL_AUTHTOK) };
        self.check("account check", rc)
    }

    /// `PAM_USER` as the modules left it.
    pub fn user(&mut self) -> Option<CString> {
        let mut out: *const c_void = ptr::null();
        // SAFETY: handle is live; `out` receives a pointer owned by libpam.
        let rc = unsafe { sys::pam_get_item(self.handle, sys::PAM_USER, &mut out) };
        if rc != sys::PAM_SUCCESS || out.is_null() {
            return None;
        }
        // SAFETY: PAM_USER is a NUL-terminated string owned by libpam; copy it now.
        let user = unsafe { CStr::from_ptr(out.cast::<c_char>()) }.to_owned();
        (!user.is_empty()).then_some(user)
    }

    pub fn establish_cred(&mut self) -> Result<(), PamError> {
        // SAFETY: as above.
        let rc = unsafe { sys::pam_setcred(self.handle, sys::PAM_ESTABLISH_CRED) };
        self.check("pam_setcred", rc)?;
        self.cred = true;
        Ok(())
    }

    pub fn open_session(&mut self) -> Result<(), PamError> {
        if self.session {
            return Ok(());
        }
        // SAFETY: as above.
        let rc = unsafe { sys::pam_open_session(self.handle, 0) };
        self.check("session", rc)?;
        self.session = true;
        Ok(())
    }

    /// Closes the session and deletes credentials; harmless to call twice.
    pub fn close(&mut self) {
        if self.session {
            self.session = false;
            // SAFETY: handle is live and a session is open.
            let rc = unsafe { sys::pam_close_session(self.handle, 0) };
            self.last = rc;
        }
        if self.cred {
            self.cred = false;
            // SAFETY: handle is live and credentials were established.
            unsafe { sys::pam_setcred(self.handle, sys::PAM_DELETE_CRED) };
        }
    }

    /// The PAM environment (`pam_getenvlist`), as `NAME=value` byte strings.
    pub fn env(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        // SAFETY: handle is live; the result is a malloc'ed, NULL-terminated array
        // of malloc'ed strings that the caller must free.
        let list = unsafe { sys::pam_getenvlist(self.handle) };
        if list.is_null() {
            return out;
        }
        let mut i = 0;
        loop {
            // SAFETY: `list` is NULL-terminated; i never passes the terminator.
            let entry = unsafe { *list.add(i) };
            if entry.is_null() {
                break;
            }
            // SAFETY: each entry is a NUL-terminated string; copied, then freed once.
            unsafe {
                out.push(CStr::from_ptr(entry).to_bytes().to_vec());
                libc::free(entry.cast());
            }
            i += 1;
        }
        // SAFETY: the array itself was malloc'ed by libpam and is freed once.
        unsafe { libc::free(list.cast()) };
        out
    }
}

impl Drop for Pam {
    fn drop(&mut self) {
        self.close();
        // SAFETY: handle came from pam_start and is ended exactly once; the
        // conversation boxes are dropped after this (field drop order follows).
        unsafe { sys::pam_end(self.handle, self.last) };
        let _ = (&self.conv, &self.state);
    }
}
