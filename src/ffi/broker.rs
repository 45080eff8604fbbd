//! [`Broker`] implemented with Mosquitto's own functions. Only called on the broker's
//! thread, from inside its callbacks.

use std::ffi::{CString, c_int};

use crate::plugin::{Broker, Client, LogLevel};

use super::bindings::{self, mosquitto};
use super::boundary::c_bytes;

pub struct MosquittoBroker;

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
