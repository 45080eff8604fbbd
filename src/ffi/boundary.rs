//! The panic boundary and the reading of C strings.

use std::ffi::{CStr, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::plugin::{Broker, LogLevel};

use super::broker::MosquittoBroker;

/// Runs `body`; if it panics, logs the fact and returns `fail_closed` instead.
///
/// Unwinding out of an `extern "C"` function aborts the process, which here is the whole
/// broker, so every entry point and callback goes through this.
pub fn guard(what: &str, fail_closed: c_int, body: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(_) => {
            // Logging allocates and calls the broker; if even that panics, stay quiet.
            let _ = catch_unwind(|| {
                MosquittoBroker.log(
                    LogLevel::Error,
                    &format!(
                        "jwt-auth: internal error in {what}; answered with code {fail_closed}"
                    ),
                );
            });
            fail_closed
        }
    }
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

/// True when the C string at `text` is exactly `expected`. One pass that stops at the first
/// difference: on the message path this replaces measuring the string and then comparing.
///
/// # Safety
/// `text` is NULL or points to a NUL-terminated string that stays valid during the call.
pub unsafe fn c_str_is(text: *const c_char, expected: &[u8]) -> bool {
    if text.is_null() {
        return false;
    }
    let text = text.cast::<u8>();
    for (i, &want) in expected.iter().enumerate() {
        // SAFETY: bytes 0..i equalled bytes of `expected`, none of them NUL (a NUL in
        // `expected` returns below before reading further), so the string has not ended
        // before index i.
        let have = unsafe { *text.add(i) };
        if have != want || want == 0 {
            return false;
        }
    }
    // SAFETY: as above, the string has not ended before this index.
    unsafe { *text.add(expected.len()) == 0 }
}

/// A buffer the broker passes with its length, or `None` for a NULL pointer.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes that stay unchanged for `'a`.
pub unsafe fn sized_bytes<'a>(data: *const u8, len: usize) -> Option<&'a [u8]> {
    // SAFETY: non-NULL with `len` bytes by the caller's contract.
    (!data.is_null()).then(|| unsafe { std::slice::from_raw_parts(data, len) })
}

#[cfg(test)]
mod tests {
    use super::c_str_is;

    #[test]
    fn a_c_string_is_compared_whole() {
        let is = |c: &std::ffi::CStr, expected: &[u8]| unsafe { c_str_is(c.as_ptr(), expected) };
        assert!(is(c"sensor-1", b"sensor-1"));
        assert!(is(c"", b""));
        assert!(!is(c"sensor-1", b"sensor-"), "a longer string");
        assert!(!is(c"sensor", b"sensor-1"), "a shorter string");
        assert!(!is(c"sensor-2", b"sensor-1"));
        assert!(!is(c"a", b"a\0"), "a NUL expected is never matched");
        assert!(!unsafe { c_str_is(std::ptr::null(), b"") });
    }
}
