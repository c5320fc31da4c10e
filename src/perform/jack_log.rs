//! libjack reports through two callbacks, errors and info, which print to stderr unless told
//! otherwise: with no JACK server running, opening a client printed seven lines of libjack's
//! own (`Cannot connect to server socket err = No such file or directory`, …) before tms's one
//! clear line. tms routes them here: dropped, or shown prefixed `jack:` when `TMS_VERBOSE` is
//! set (for finding out why a server cannot be reached).

use std::ffi::{c_char, CStr};
use std::io::Write;
use std::sync::Once;

static ROUTED: Once = Once::new();

/// Routes libjack's messages before the first client opens; later calls do nothing.
pub(crate) fn route_messages() {
    ROUTED.call_once(|| {
        let to: extern "C" fn(*const c_char) = if crate::out::verbose() {
            to_stderr
        } else {
            dropped
        };
        set_callbacks(to);
    });
}

#[allow(unsafe_code)]
fn set_callbacks(to: extern "C" fn(*const c_char)) {
    // SAFETY: both setters only store the pointer; the callbacks are plain functions that
    // live as long as the program and never unwind.
    unsafe {
        jack_sys::jack_set_error_function(Some(to));
        jack_sys::jack_set_info_function(Some(to));
    }
}

extern "C" fn dropped(_: *const c_char) {}

#[allow(unsafe_code)]
extern "C" fn to_stderr(message: *const c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: libjack passes a NUL-terminated string that lives for the call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    // Never `eprintln!`: a closed stderr must not panic across the C boundary.
    let _ = writeln!(std::io::stderr(), "jack: {text}");
}
