//! The panic boundary and the reading of C strings.

use std::ffi::{CStr, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::plugin::{Broker, LogLevel};

use super::broker::MosquittoBroker;

/// Runs `body`; if it panics, logs the fact and returns `fail_closed` instead.
///
/// Unwinding out of an `extern "C"` function aborts the process, which here is the whole
/// broker, so every entry point and callback goes through this.
#[inline]
pub fn guard(what: &'static str, fail_closed: c_int, body: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(_) => report_panic(what, fail_closed),
    }
}

/// Out of line, so that the per-message callbacks do not spill `what` for a log line they
/// almost never write.
#[cold]
#[inline(never)]
fn report_panic(what: &'static str, fail_closed: c_int) -> c_int {
    // Logging allocates and calls the broker; if even that panics, stay quiet.
    let _ = catch_unwind(|| {
        MosquittoBroker.log(
            LogLevel::Error,
            &format!("jwt-auth: internal error in {what}; answered with code {fail_closed}"),
        );
    });
    fail_closed
}

/// The bytes of a NUL-terminated C string, or `None` for a NULL pointer.
///
/// # Safety
/// `text` is NULL or points to a NUL-terminated string that stays valid and unchanged
/// for `'a`.
pub unsafe fn c_bytes<'a>(text: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    (!text.is_null()).then(|| unsafe { CStr::from_ptr(text) }.to_bytes())
}

/// A buffer the broker passes with its length, or `None` for a NULL pointer.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes that stay unchanged for `'a`.
pub unsafe fn sized_bytes<'a>(data: *const u8, len: usize) -> Option<&'a [u8]> {
    // SAFETY: non-NULL with `len` bytes by the caller's contract.
    (!data.is_null()).then(|| unsafe { std::slice::from_raw_parts(data, len) })
}
