//! [`Broker`] implemented with Mosquitto's own functions. Only called on the broker's
//! thread, from inside its callbacks.

use std::ffi::{CStr, CString, c_char, c_int, c_longlong, c_ulong};

use crate::plugin::broker::{Admitted, PlainParts};
use crate::plugin::{Broker, Client, LogLevel};

use super::bindings::{self, mosquitto};
use super::boundary::c_bytes;

pub struct MosquittoBroker;

/// The formats of [`Admitted`]'s line, with and without an expiry, for its plain parts:
/// client id and user (`%.*s`: at most 64 bytes each, not NUL-terminated), the seconds
/// (`%lld`), the client states held (`%lu`).
const ADMITTED_UNTIL: &CStr = c"jwt-auth: client '%.*s' authenticated as '%.*s' until %lld s from now; %lu client states held";
const ADMITTED_FOREVER: &CStr =
    c"jwt-auth: client '%.*s' authenticated as '%.*s' without expiry; %lu client states held";

fn pointer(client: Client) -> *mut mosquitto {
    client.0 as *mut mosquitto
}

impl Broker for MosquittoBroker {
    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => bindings::MOSQ_LOG_DEBUG,
            LogLevel::Info => bindings::MOSQ_LOG_INFO,
            LogLevel::Notice => bindings::MOSQ_LOG_NOTICE,
            LogLevel::Warning => bindings::MOSQ_LOG_WARNING,
            LogLevel::Error => bindings::MOSQ_LOG_ERR,
        };
        let Ok(text) = CString::new(message.replace('\0', "\\0")) else {
            return;
        };
        // SAFETY: a valid format string with one %s and a NUL-terminated argument; the
        // message never reaches the format position, so '%' in it is harmless.
        unsafe { bindings::mosquitto_log_printf(level as c_int, c"%s".as_ptr(), text.as_ptr()) };
    }

    /// Mosquitto's printf formats the line only if it keeps debug lines, so a CONNECT
    /// pays for no text when it does not (its default).
    fn log_admitted(&self, line: &Admitted<'_>) {
        let Some(PlainParts {
            client_id,
            user,
            expires_in,
            held,
        }) = line.plain_parts()
        else {
            return self.log(LogLevel::Debug, &line.to_string());
        };
        let level = bindings::MOSQ_LOG_DEBUG as c_int;
        // At most 64 bytes each (`plain_parts`), so the lengths fit `%.*s`'s int.
        let (id_len, user_len) = (client_id.len() as c_int, user.len() as c_int);
        // An empty name still gets a pointer to a C string, as C asks of `%s`.
        let text = |name: &[u8]| -> *const c_char {
            if name.is_empty() {
                c"".as_ptr()
            } else {
                name.as_ptr().cast()
            }
        };
        let (id, user) = (text(client_id), text(user));
        let held = held as c_ulong;
        // SAFETY: each format's conversions match the arguments in number and type;
        // `%.*s` reads at most its length from its pointer, valid for that many bytes;
        // the names are printable ASCII, and arguments never reach the format position, so
        // '%' in them is harmless.
        unsafe {
            match expires_in {
                Some(seconds) => bindings::mosquitto_log_printf(
                    level,
                    ADMITTED_UNTIL.as_ptr(),
                    id_len,
                    id,
                    user_len,
                    user,
                    seconds as c_longlong,
                    held,
                ),
                None => bindings::mosquitto_log_printf(
                    level,
                    ADMITTED_FOREVER.as_ptr(),
                    id_len,
                    id,
                    user_len,
                    user,
                    held,
                ),
            }
        }
    }

    fn with_client_id<R>(&self, client: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        // SAFETY: `client` came from the event being handled, so it is a live client, and
        // its id is not changed while `read` runs (it calls no broker function).
        read(unsafe { c_bytes(bindings::mosquitto_client_id(pointer(client))) })
    }

    fn with_client_username<R>(&self, client: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        // SAFETY: as for `with_client_id`.
        read(unsafe { c_bytes(bindings::mosquitto_client_username(pointer(client))) })
    }

    fn session_ends_with_connection(&self, client: Client) -> bool {
        // SAFETY: a live client from the current event.
        let (version, clean) = unsafe {
            (
                bindings::mosquitto_client_protocol_version(pointer(client)),
                bindings::mosquitto_client_clean_session(pointer(client)),
            )
        };
        // MQTT 5's clean start says nothing about how long the session lives.
        version != 5 && clean
    }

    fn set_username(&self, client: Client, username: &str) -> Result<(), String> {
        let name = CString::new(username).map_err(|_| "it contains a NUL character")?;
        // SAFETY: a live client from the current event; the broker copies the name.
        let rc = unsafe { bindings::mosquitto_set_username(pointer(client), name.as_ptr()) };
        if rc == bindings::MOSQ_ERR_SUCCESS {
            Ok(())
        } else {
            Err(format!("the broker refused it (error {rc})"))
        }
    }

    fn kick(&self, client_id: &[u8], with_will: bool) -> Result<(), String> {
        let id = CString::new(client_id).map_err(|_| "its id contains a NUL byte")?;
        // SAFETY: called from TICK on the broker's thread; the broker copies nothing and
        // only reads the id during the call. It runs the plugin's DISCONNECT callback
        // before returning, which the plugin allows for by holding no borrow here.
        let rc = unsafe { bindings::mosquitto_kick_client_by_clientid(id.as_ptr(), with_will) };
        if rc == bindings::MOSQ_ERR_SUCCESS {
            Ok(())
        } else {
            Err(format!("the broker answered error {rc}"))
        }
    }

    fn now(&self) -> f64 {
        clock(libc::CLOCK_REALTIME)
    }

    fn now_for_messages(&self) -> f64 {
        // The coarse clock costs a few nanoseconds and lags by at most a few milliseconds,
        // nothing beside expiry in seconds.
        clock(libc::CLOCK_REALTIME_COARSE)
    }
}

/// Unix seconds; a clock that cannot be read reads as the end of time, so that every
/// token counts as expired (failing closed) rather than never expiring.
fn clock(id: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return f64::INFINITY;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What C's printf writes for these formats: `%.*s` takes a length and bytes,
    /// `%lld` and `%lu` a number.
    fn printf(format: &CStr, mut args: Vec<String>) -> String {
        let format = format.to_str().unwrap();
        let mut out = String::new();
        let mut rest = format;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            let conversion = ["%.*s", "%lld", "%lu"]
                .into_iter()
                .find(|c| rest.starts_with(c))
                .unwrap_or_else(|| panic!("unexpected conversion in {format}"));
            out.push_str(&args.remove(0));
            rest = &rest[conversion.len()..];
        }
        out.push_str(rest);
        assert!(args.is_empty(), "arguments left over");
        out
    }

    #[test]
    fn the_formats_print_the_admitted_line_word_for_word() {
        for expires_in in [Some(3600.0), Some(1.4), None] {
            let line = Admitted {
                client_id: b"sensor-7 %s",
                user: "alice",
                expires_in,
                held: 12,
            };
            let parts = line.plain_parts().unwrap();
            let (format, seconds) = match parts.expires_in {
                Some(seconds) => (ADMITTED_UNTIL, vec![seconds.to_string()]),
                None => (ADMITTED_FOREVER, vec![]),
            };
            let mut args = vec![
                String::from_utf8(parts.client_id.to_vec()).unwrap(),
                String::from_utf8(parts.user.to_vec()).unwrap(),
            ];
            args.extend(seconds);
            args.push(parts.held.to_string());
            assert_eq!(printf(format, args), line.to_string());
        }
    }
}
