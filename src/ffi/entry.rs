//! The three functions Mosquitto looks up in the library (plugin API version 5).

use std::ffi::{c_int, c_void};

use crate::plugin::{Broker, LogLevel, OptionalEvents, Plugin};

use super::bindings::{self as b, mosquitto_opt, mosquitto_plugin_id_t};
use super::boundary::{c_bytes, guard};
use super::broker::MosquittoBroker;
use super::callbacks::{CALLBACKS, Callback, Instance, OPTIONAL_CALLBACKS};

const API_VERSION: c_int = 5;

/// Tells the broker which plugin API this library speaks: version 5, if offered.
///
/// # Safety
/// `supported_versions` is NULL or points to `supported_version_count` integers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mosquitto_plugin_version(
    supported_version_count: c_int,
    supported_versions: *const c_int,
) -> c_int {
    guard("mosquitto_plugin_version", -1, || {
        let count = usize::try_from(supported_version_count).unwrap_or(0);
        if supported_versions.is_null() || count == 0 {
            return -1;
        }
        // SAFETY: non-NULL, with `count` elements by the caller's contract.
        let offered = unsafe { std::slice::from_raw_parts(supported_versions, count) };
        if offered.contains(&API_VERSION) {
            API_VERSION
        } else {
            -1
        }
    })
}

/// Reads the options, loads the keys and registers the callbacks of one instance. Any
/// problem is logged with the option it concerns and fails the broker's start-up.
///
/// # Safety
/// `userdata` is a valid place to store the instance pointer; `options` is NULL or points to
/// `option_count` options whose strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mosquitto_plugin_init(
    identifier: *mut mosquitto_plugin_id_t,
    userdata: *mut *mut c_void,
    options: *mut mosquitto_opt,
    option_count: c_int,
) -> c_int {
    guard("mosquitto_plugin_init", b::MOSQ_ERR_UNKNOWN, || {
        if identifier.is_null() || userdata.is_null() {
            return b::MOSQ_ERR_INVAL;
        }
        // SAFETY: per the contract above.
        let options = match unsafe { read_options(options, option_count) } {
            Ok(options) => options,
            Err(problem) => return fail(&problem),
        };
        // Without exactly one provider compiled in, jsonwebtoken panics on first use.
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return fail("built without a crypto provider for jsonwebtoken");
        }
        // Before the plugin starts its thread, so that the thread can never run code that
        // was unmapped.
        let fetches = options
            .iter()
            .any(|(k, _)| matches!(*k, "jwks_url" | "oidc_issuer"));
        if fetches && let Err(problem) = keep_library_loaded() {
            return fail(&problem);
        }
        let plugin = match Plugin::new(MosquittoBroker, options.iter().map(|(k, v)| (*k, *v))) {
            Ok(plugin) => plugin,
            Err(e) => return fail(&e.to_string()),
        };
        let instance = Box::into_raw(Box::new(Instance { identifier, plugin }));
        if let Err(problem) = register(instance) {
            // SAFETY: allocated just above and registered nowhere any more.
            drop(unsafe { Box::from_raw(instance) });
            return fail(&problem);
        }
        // SAFETY: checked non-NULL above.
        unsafe { *userdata = instance.cast() };
        b::MOSQ_ERR_SUCCESS
    })
}

/// Unregisters the callbacks and frees the instance. The broker calls it once per
/// instance at shutdown, after every client is gone.
///
/// # Safety
/// `userdata` is NULL or the pointer `mosquitto_plugin_init` stored, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mosquitto_plugin_cleanup(
    userdata: *mut c_void,
    options: *mut mosquitto_opt,
    option_count: c_int,
) -> c_int {
    // The options were read at init; the instance holds all it needs.
    let _ = (options, option_count);
    guard("mosquitto_plugin_cleanup", b::MOSQ_ERR_SUCCESS, || {
        let instance = userdata.cast::<Instance>();
        if !instance.is_null() {
            // SAFETY: the pointer init stored; the broker calls cleanup once.
            unregister_all(unsafe { &*instance });
            // SAFETY: as above; no callback can run any more.
            drop(unsafe { Box::from_raw(instance) });
        }
        b::MOSQ_ERR_SUCCESS
    })
}

/// The key fetching thread is not waited for at cleanup while a fetch is in flight (that
/// could stall shutdown for `jwks_timeout`), and the broker unloads the library after
/// cleanup: the library is marked never to be unmapped, so the thread's code stays.
fn keep_library_loaded() -> Result<(), String> {
    // SAFETY: dladdr fills `info` for an address inside this library; dlopen with
    // RTLD_NOLOAD only adds a reference to an object already loaded. The reference is kept
    // on purpose.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let here = keep_library_loaded as *const c_void;
        if libc::dladdr(here, &mut info) == 0 || info.dli_fname.is_null() {
            return Err("cannot find the plugin's own library to keep it loaded".into());
        }
        let flags = libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE;
        if libc::dlopen(info.dli_fname, flags).is_null() {
            return Err("cannot keep the plugin's library loaded for its fetching thread".into());
        }
    }
    Ok(())
}

fn fail(problem: &str) -> c_int {
    MosquittoBroker.log(LogLevel::Error, &format!("jwt-auth: {problem}"));
    b::MOSQ_ERR_INVAL
}

/// # Safety
/// As for `mosquitto_plugin_init`; the strings outlive the returned slices.
unsafe fn read_options<'a>(
    options: *const mosquitto_opt,
    count: c_int,
) -> Result<Vec<(&'a str, &'a str)>, String> {
    let count = usize::try_from(count).unwrap_or(0);
    if count == 0 {
        return Ok(Vec::new());
    }
    if options.is_null() {
        return Err("the broker passed no options".into());
    }
    // SAFETY: non-NULL with `count` elements by the caller's contract.
    let options = unsafe { std::slice::from_raw_parts(options, count) };
    options
        .iter()
        .map(|option| {
            // SAFETY: NULL or NUL-terminated strings owned by the broker's configuration.
            let (key, value) = unsafe { (c_bytes(option.key), c_bytes(option.value)) };
            let key = key
                .and_then(|k| std::str::from_utf8(k).ok())
                .ok_or("an option with no readable name")?;
            let value = std::str::from_utf8(value.unwrap_or_default())
                .map_err(|_| format!("plugin_opt_{key}: the value is not valid UTF-8"))?;
            Ok((key, value))
        })
        .collect()
}

fn register(instance: *mut Instance) -> Result<(), String> {
    // SAFETY: `instance` is a live, boxed Instance.
    let identifier = unsafe { (*instance).identifier };
    for (done, (event, callback)) in CALLBACKS.iter().enumerate() {
        let rc = register_one(instance, *event, *callback);
        if rc != b::MOSQ_ERR_SUCCESS {
            unregister(identifier, &CALLBACKS[..done]);
            return Err(if rc == b::MOSQ_ERR_ALREADY_EXISTS {
                "this plugin is already loaded for this listener; load it once per listener \
                 (several instances need per_listener_settings true)"
                    .to_owned()
            } else {
                format!("cannot register callback for event {event} (error {rc})")
            });
        }
    }
    let [connect, client_offline] = OPTIONAL_CALLBACKS
        .map(|(event, callback)| register_one(instance, event, callback) == b::MOSQ_ERR_SUCCESS);
    if connect || client_offline {
        let line = format!(
            "jwt-auth: following the broker's CONNECT ({connect}) and CLIENT_OFFLINE ({client_offline}) events"
        );
        MosquittoBroker.log(LogLevel::Info, &line);
    }
    // SAFETY: as above.
    unsafe { &(*instance).plugin }.set_optional_events(OptionalEvents {
        connect,
        client_offline,
    });
    Ok(())
}

fn register_one(
    instance: *mut Instance,
    event: b::mosquitto_plugin_event,
    callback: Callback,
) -> c_int {
    // SAFETY: the broker's registration function, called from init on its thread, with a
    // live instance as userdata.
    unsafe {
        b::mosquitto_callback_register(
            (*instance).identifier,
            event as c_int,
            Some(callback),
            std::ptr::null(),
            instance.cast(),
        )
    }
}

/// Unregisters every callback of `instance`. Optional ones the broker never took are
/// refused with an error code (2.0: NOT_SUPPORTED, 2.1: NOT_FOUND), which is harmless.
fn unregister_all(instance: &Instance) {
    unregister(instance.identifier, &CALLBACKS);
    unregister(instance.identifier, &OPTIONAL_CALLBACKS);
}

fn unregister(
    identifier: *mut mosquitto_plugin_id_t,
    callbacks: &[(b::mosquitto_plugin_event, Callback)],
) {
    for (event, callback) in callbacks {
        // SAFETY: the broker's unregistration function; an unknown callback is an error
        // code, not a fault.
        unsafe {
            b::mosquitto_callback_unregister(
                identifier,
                *event as c_int,
                Some(*callback),
                std::ptr::null(),
            );
        }
    }
}
