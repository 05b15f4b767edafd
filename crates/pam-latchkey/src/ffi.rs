//! The libpam boundary: `pam_sm_authenticate`, `pam_sm_setcred`, and the conversation
//! function wrapped as a [`Conversation`].
//!
//! Invariants:
//! - The only `unsafe` of the workspace. Every pointer from libpam is checked for null
//!   before use; strings are copied out at once.
//! - No panic unwinds into libpam: each entry point runs under `catch_unwind` and answers
//!   `PAM_SYSTEM_ERR` if anything panicked.
//! - Linked against `libpam.so.0` by file name (`+verbatim`), which every Debian system has
//!   (libpam0g is `Priority: required`), so building needs no `libpam0g-dev`.
//! - Responses of the conversation are wiped before they are freed.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use zeroize::{Zeroize, Zeroizing};

use crate::args;
use crate::client::SocketLink;
use crate::conversation::{ConvError, Conversation, PamResult, authenticate};
use crate::protocol::Passcode;

const PAM_SUCCESS: c_int = 0;
const PAM_SYSTEM_ERR: c_int = 4;
const PAM_AUTH_ERR: c_int = 7;
const PAM_AUTHINFO_UNAVAIL: c_int = 9;
const PAM_USER_UNKNOWN: c_int = 10;
const PAM_CONV_ERR: c_int = 19;

const PAM_RHOST: c_int = 4;
const PAM_CONV: c_int = 5;

const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;

const LOG_AUTHPRIV: c_int = 10 << 3;
const LOG_ERR: c_int = 3;
const LOG_NOTICE: c_int = 5;
const LOG_INFO: c_int = 6;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

#[link(name = "libpam.so.0", kind = "dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    fn pam_get_user(pamh: *mut c_void, user: *mut *const c_char, prompt: *const c_char) -> c_int;
    fn pam_get_item(pamh: *const c_void, item_type: c_int, item: *mut *const c_void) -> c_int;
}

unsafe extern "C" {
    fn free(p: *mut c_void);
    fn syslog(priority: c_int, format: *const c_char, ...);
}

fn log(level: c_int, text: &str) {
    let clean: String = text.chars().filter(|c| *c != '\0').collect();
    if let Ok(c) = CString::new(format!("pam_latchkey: {clean}")) {
        // SAFETY: a constant format and a NUL-terminated string that outlives the call.
        unsafe { syslog(LOG_AUTHPRIV | level, c"%s".as_ptr(), c.as_ptr()) };
    }
}

/// The application's conversation function.
struct PamConversation {
    conv: *const PamConv,
}

impl Conversation for PamConversation {
    fn ask(&mut self, prompt: &str, echo: bool) -> Result<Passcode, ConvError> {
        let c_prompt = CString::new(prompt).map_err(|_| ConvError)?;
        let msg = PamMessage {
            msg_style: if echo {
                PAM_PROMPT_ECHO_ON
            } else {
                PAM_PROMPT_ECHO_OFF
            },
            msg: c_prompt.as_ptr(),
        };
        let mut msgp: *const PamMessage = &raw const msg;
        let mut resp: *mut PamResponse = ptr::null_mut();
        // SAFETY: `conv` came non-null from pam_get_item(PAM_CONV) and libpam keeps it alive
        // for the whole call of pam_sm_authenticate.
        let conv = unsafe { &*self.conv };
        let f = conv.conv.ok_or(ConvError)?;
        // SAFETY: one message, as the conversation contract requires; `resp` is ours to free.
        let rc = unsafe { f(1, &raw mut msgp, &raw mut resp, conv.appdata_ptr) };
        if resp.is_null() {
            return Err(ConvError);
        }
        // SAFETY: on return the application gave us an array of one response (malloc'd).
        let answer = unsafe {
            let r = &mut *resp;
            let out = if r.resp.is_null() {
                None
            } else {
                let bytes = CStr::from_ptr(r.resp).to_bytes();
                let len = bytes.len();
                // Not UTF-8: the copy is wiped too (it is what the user typed).
                let s = String::from_utf8(bytes.to_vec())
                    .map_err(|e| Zeroizing::new(e.into_bytes()))
                    .ok();
                // Volatile writes (zeroize): a plain memset right before free() is a dead
                // store the optimiser may remove.
                std::slice::from_raw_parts_mut(r.resp.cast::<u8>(), len).zeroize();
                free(r.resp.cast());
                s
            };
            free(resp.cast());
            out
        };
        if rc != PAM_SUCCESS {
            return Err(ConvError);
        }
        answer.map(Passcode::new).ok_or(ConvError)
    }
}

/// Reads the module arguments.
///
/// # Safety
/// `argv` must point to `argc` NUL-terminated strings (libpam guarantees it).
unsafe fn module_args(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    let n = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (0..n)
        .filter_map(|i| {
            // SAFETY: i < argc.
            let p = unsafe { *argv.add(i) };
            (!p.is_null()).then(|| {
                // SAFETY: non-null, NUL-terminated.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            })
        })
        .collect()
}

/// # Safety
/// `pamh` is the handle libpam passed to the entry point.
unsafe fn run(pamh: *mut c_void, argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: forwarded from libpam.
    let args = args::parse(
        unsafe { module_args(argc, argv) }
            .iter()
            .map(String::as_str),
    );
    for a in &args.unknown {
        log(
            LOG_ERR,
            &format!("ignoring unknown or invalid argument {a:?}"),
        );
    }
    let mut user_ptr: *const c_char = ptr::null();
    // SAFETY: valid handle; libpam owns the returned string.
    let rc = unsafe { pam_get_user(pamh, &raw mut user_ptr, ptr::null()) };
    if rc != PAM_SUCCESS {
        return rc;
    }
    if user_ptr.is_null() {
        return PAM_USER_UNKNOWN;
    }
    // SAFETY: non-null, NUL-terminated, owned by libpam.
    let Ok(user) = unsafe { CStr::from_ptr(user_ptr) }
        .to_str()
        .map(str::to_owned)
    else {
        return PAM_USER_UNKNOWN;
    };
    let mut conv: *const c_void = ptr::null();
    // SAFETY: valid handle.
    if unsafe { pam_get_item(pamh, PAM_CONV, &raw mut conv) } != PAM_SUCCESS || conv.is_null() {
        log(LOG_ERR, "the application has no conversation function");
        return PAM_CONV_ERR;
    }
    let mut rhost_ptr: *const c_void = ptr::null();
    // SAFETY: valid handle; the item is a NUL-terminated string when set.
    let rhost = unsafe {
        if pam_get_item(pamh, PAM_RHOST, &raw mut rhost_ptr) == PAM_SUCCESS && !rhost_ptr.is_null()
        {
            CStr::from_ptr(rhost_ptr.cast())
                .to_str()
                .ok()
                .map(str::to_owned)
        } else {
            None
        }
    };
    let mut conversation = PamConversation { conv: conv.cast() };
    let timeout = args.timeout;
    let decision = authenticate(&user, rhost.as_deref(), &mut conversation, || {
        SocketLink::connect(&args.socket, timeout)
    });
    let (code, level) = match decision.result {
        PamResult::Success => (PAM_SUCCESS, LOG_INFO),
        PamResult::AuthErr => (PAM_AUTH_ERR, LOG_NOTICE),
        PamResult::AuthinfoUnavail => (PAM_AUTHINFO_UNAVAIL, LOG_ERR),
        PamResult::ConvErr => (PAM_CONV_ERR, LOG_ERR),
        PamResult::SystemErr => (PAM_SYSTEM_ERR, LOG_ERR),
    };
    log(level, &format!("user {user:?}: {}", decision.log));
    code
}

/// PAM `auth` entry point.
///
/// # Safety
/// Called by libpam with its handle and the module arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut c_void,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    if pamh.is_null() {
        return PAM_SYSTEM_ERR;
    }
    // SAFETY: forwarded from libpam.
    catch_unwind(AssertUnwindSafe(|| unsafe { run(pamh, argc, argv) })).unwrap_or_else(|_| {
        log(LOG_ERR, "internal error (panic caught)");
        PAM_SYSTEM_ERR
    })
}

/// PAM `auth` credential entry point: this module sets no credentials.
#[unsafe(no_mangle)]
pub extern "C" fn pam_sm_setcred(
    _pamh: *mut c_void,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    PAM_SUCCESS
}
