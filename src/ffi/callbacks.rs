//! The callbacks registered with the broker, one per event. Each reads its event
//! structure, asks the plugin logic, and maps the answer to a return code; on a NULL
//! pointer or a panic it fails closed.

use std::ffi::{c_int, c_void};

use crate::acl::Access;
use crate::plugin::{AclDecision, AuthDecision, Client, Plugin};

use super::bindings::{self as b, mosquitto, mosquitto_plugin_id_t};
use super::boundary::{c_bytes, guard, sized_bytes};
use super::broker::MosquittoBroker;

/// One plugin instance: one `plugin` line, or one listener with `per_listener_settings`.
/// The broker hands its address back to every callback as userdata.
pub struct Instance {
    pub identifier: *mut mosquitto_plugin_id_t,
    pub plugin: Plugin<MosquittoBroker>,
}

pub type Callback = unsafe extern "C" fn(c_int, *mut c_void, *mut c_void) -> c_int;

/// The events the plugin needs; all exist since Mosquitto 2.0.0.
pub const CALLBACKS: [(b::mosquitto_plugin_event, Callback); 6] = [
    (b::MOSQ_EVT_BASIC_AUTH, on_basic_auth),
    (b::MOSQ_EVT_EXT_AUTH_START, on_ext_auth_start),
    (b::MOSQ_EVT_ACL_CHECK, on_acl_check),
    (b::MOSQ_EVT_DISCONNECT, on_disconnect),
    (b::MOSQ_EVT_RELOAD, on_reload),
    (b::MOSQ_EVT_TICK, on_tick),
];

/// Mosquitto 2.1's numbers for events 2.0 does not have (its headers are not the ones
/// this crate builds against). 2.0 answers MOSQ_ERR_NOT_SUPPORTED when asked for them.
pub const MOSQ_EVT_CONNECT: b::mosquitto_plugin_event = 11;
pub const MOSQ_EVT_CLIENT_OFFLINE: b::mosquitto_plugin_event = 28;

/// The events used where the broker has them.
pub const OPTIONAL_CALLBACKS: [(b::mosquitto_plugin_event, Callback); 2] = [
    (MOSQ_EVT_CONNECT, on_connect),
    (MOSQ_EVT_CLIENT_OFFLINE, on_client_offline),
];

/// The start of `mosquitto_evt_disconnect` and of 2.1's `mosquitto_evt_connect` and
/// `mosquitto_evt_client_offline`, the only part read here.
#[repr(C)]
struct ClientEvent {
    future: *mut c_void,
    client: *mut mosquitto,
}

/// # Safety
/// `userdata` is NULL or the `Instance` registered with the callback, alive until
/// `mosquitto_plugin_cleanup`; `data` is NULL or the event structure of type `T` the
/// broker passes for this event, alive for the call.
unsafe fn unpack<'a, T>(userdata: *mut c_void, data: *mut c_void) -> Option<(&'a Instance, &'a T)> {
    // SAFETY: per the contract above, both are NULL or valid for the call.
    unsafe {
        Some((
            (userdata as *const Instance).as_ref()?,
            (data as *const T).as_ref()?,
        ))
    }
}

fn client(pointer: *mut mosquitto) -> Option<Client> {
    (!pointer.is_null()).then_some(Client(pointer as usize))
}

fn auth_code(decision: AuthDecision) -> c_int {
    match decision {
        AuthDecision::Accept => b::MOSQ_ERR_SUCCESS,
        AuthDecision::Refuse => b::MOSQ_ERR_AUTH,
        AuthDecision::Defer => b::MOSQ_ERR_PLUGIN_DEFER,
    }
}

extern "C" fn on_basic_auth(_event: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    guard("basic auth", b::MOSQ_ERR_AUTH, || {
        // SAFETY: registered for MOSQ_EVT_BASIC_AUTH with an Instance as userdata.
        let Some((instance, event)) =
            (unsafe { unpack::<b::mosquitto_evt_basic_auth>(userdata, data) })
        else {
            return b::MOSQ_ERR_AUTH;
        };
        let Some(client) = client(event.client) else {
            return b::MOSQ_ERR_AUTH;
        };
        // SAFETY: the broker's username and password strings live for the call.
        let (username, password) = unsafe { (c_bytes(event.username), c_bytes(event.password)) };
        auth_code(instance.plugin.basic_auth(client, username, password))
    })
}

extern "C" fn on_ext_auth_start(_event: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    guard("extended auth", b::MOSQ_ERR_AUTH, || {
        // SAFETY: registered for MOSQ_EVT_EXT_AUTH_START with an Instance as userdata.
        let Some((instance, event)) =
            (unsafe { unpack::<b::mosquitto_evt_extended_auth>(userdata, data) })
        else {
            return b::MOSQ_ERR_AUTH;
        };
        let Some(client) = client(event.client) else {
            return b::MOSQ_ERR_AUTH;
        };
        // SAFETY: the broker's method string and data buffer live for the call; the data
        // is `data_in_len` bytes long.
        let (method, data) = unsafe {
            (
                c_bytes(event.auth_method),
                sized_bytes(event.data_in.cast(), usize::from(event.data_in_len)),
            )
        };
        auth_code(instance.plugin.ext_auth_start(client, method, data))
    })
}

/// Mosquitto's access bits, by value: one load, where a `match` on them compiles to a
/// power-of-two test and a bit scan, for WRITE (once per message) and the rare kinds.
const ACCESS_BY_BIT: [Option<Access>; 9] = {
    let mut by_bit = [None; 9];
    by_bit[b::MOSQ_ACL_READ as usize] = Some(Access::Read);
    by_bit[b::MOSQ_ACL_WRITE as usize] = Some(Access::Write);
    by_bit[b::MOSQ_ACL_SUBSCRIBE as usize] = Some(Access::Subscribe);
    by_bit[b::MOSQ_ACL_UNSUBSCRIBE as usize] = Some(Access::Unsubscribe);
    by_bit
};

extern "C" fn on_acl_check(_event: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    guard("ACL check", b::MOSQ_ERR_ACL_DENIED, || {
        // SAFETY: registered for MOSQ_EVT_ACL_CHECK with an Instance as userdata.
        let Some((instance, event)) =
            (unsafe { unpack::<b::mosquitto_evt_acl_check>(userdata, data) })
        else {
            return b::MOSQ_ERR_ACL_DENIED;
        };
        let Some(client) = client(event.client) else {
            return b::MOSQ_ERR_ACL_DENIED;
        };
        // Measured only if a check gets as far as comparing it with a filter.
        // SAFETY: the broker's topic string lives for the call.
        let topic = || unsafe { c_bytes(event.topic) };
        // READ, once per message and subscriber, gets a copy of the check of its own, which
        // knows its access without decoding it again after the topic's `strlen`.
        if event.access == b::MOSQ_ACL_READ as c_int {
            return acl_code(
                instance
                    .plugin
                    .acl_check_with(client, Some(Access::Read), topic),
            );
        }
        let access = usize::try_from(event.access)
            .ok()
            .and_then(|bit| ACCESS_BY_BIT.get(bit).copied())
            .flatten();
        acl_code(instance.plugin.acl_check_with(client, access, topic))
    })
}

fn acl_code(decision: AclDecision) -> c_int {
    match decision {
        AclDecision::Allow => b::MOSQ_ERR_SUCCESS,
        AclDecision::Deny => b::MOSQ_ERR_ACL_DENIED,
        AclDecision::Defer => b::MOSQ_ERR_PLUGIN_DEFER,
    }
}

/// The shared body of the events that name a client and want no answer (CONNECT,
/// CLIENT_OFFLINE, DISCONNECT). Nothing is denied here: on failure, state is only kept
/// longer.
fn client_event(
    what: &'static str,
    data: *mut c_void,
    userdata: *mut c_void,
    handle: impl FnOnce(&Plugin<MosquittoBroker>, Client),
) -> c_int {
    guard(what, b::MOSQ_ERR_SUCCESS, || {
        // SAFETY: registered with an Instance as userdata, for events whose structures all
        // start as ClientEvent (`future`, then `client`).
        if let Some((instance, event)) = unsafe { unpack::<ClientEvent>(userdata, data) }
            && let Some(client) = client(event.client)
        {
            handle(&instance.plugin, client);
        }
        b::MOSQ_ERR_SUCCESS
    })
}

extern "C" fn on_connect(_event: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    client_event("connect", data, userdata, Plugin::connected)
}

extern "C" fn on_client_offline(_event: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    client_event("client offline", data, userdata, Plugin::client_offline)
}

extern "C" fn on_disconnect(_event: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    client_event("disconnect", data, userdata, Plugin::disconnect)
}

/// Always SUCCESS, even after a panic: an error would make Mosquitto 2.0 skip reloading its
/// own password and ACL files, and 2.1 quit.
extern "C" fn on_reload(_event: c_int, _data: *mut c_void, userdata: *mut c_void) -> c_int {
    guard("reload", b::MOSQ_ERR_SUCCESS, || {
        // SAFETY: registered with an Instance as userdata, alive until cleanup.
        if let Some(instance) = unsafe { (userdata as *const Instance).as_ref() } {
            instance.plugin.reload();
        }
        b::MOSQ_ERR_SUCCESS
    })
}

extern "C" fn on_tick(_event: c_int, data: *mut c_void, userdata: *mut c_void) -> c_int {
    guard("tick", b::MOSQ_ERR_SUCCESS, || {
        // SAFETY: registered with an Instance as userdata, alive until cleanup; `data` is
        // NULL or the broker's tick event, writable for the call.
        let (Some(instance), event) = (unsafe {
            (
                (userdata as *const Instance).as_ref(),
                (data as *mut b::mosquitto_evt_tick).as_mut(),
            )
        }) else {
            return b::MOSQ_ERR_SUCCESS;
        };
        let next_ms = instance.plugin.tick();
        // 2.1 reads this field as `next_ms`, the longest wait it may make before the next
        // tick; 2.0 calls it `next_ns` and ignores it. Zero means "no wish".
        if let (Some(event), Some(ms)) = (event, next_ms) {
            event.next_ns = ms.try_into().unwrap_or(0);
        }
        b::MOSQ_ERR_SUCCESS
    })
}
