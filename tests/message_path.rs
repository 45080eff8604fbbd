//! The per-message checks allocate nothing: a counting global allocator watches the plugin
//! logic answer READ and WRITE checks for an authenticated client.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mosquitto_jwt_auth::acl::Access;
use mosquitto_jwt_auth::plugin::{AclDecision, AuthDecision, Broker, Client, LogLevel, Plugin};

struct Counting;

thread_local! {
    // `const` with no destructor: reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// A broker with one client, as the FFI layer would present it.
struct OneClient;

impl Broker for OneClient {
    fn log(&self, _: LogLevel, _: &str) {}
    fn with_client_id<R>(&self, _: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        read(Some(b"sensor-12"))
    }
    fn with_client_username<R>(&self, _: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        read(Some(b"alice"))
    }
    fn session_ends_with_connection(&self, _: Client) -> bool {
        false
    }
    fn set_username(&self, _: Client, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn kick(&self, _: &[u8], _: bool) -> Result<(), String> {
        Ok(())
    }
    fn now(&self) -> f64 {
        1_800_000_000.0
    }
}

const SECRET: &str = "message-path-secret";

fn token(claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

#[test]
fn read_and_write_checks_do_not_allocate() {
    let plugin = Plugin::new(OneClient, [("secret_key", SECRET)]).unwrap();
    let receive: Vec<String> = (0..100)
        .map(|i| format!("fleet/{i}/+/cmd"))
        .chain(["alerts/#".into()])
        .collect();
    let claims = serde_json::json!({
        "username": "alice",
        "exp": 1_900_000_000,
        "publish_acl": ["devices/alice/#", "+/status"],
        "receive_acl": receive,
    });
    let client = Client(0x1000);
    let password = token(claims);
    assert_eq!(
        plugin.basic_auth(client, Some(b"alice"), Some(password.as_bytes())),
        AuthDecision::Accept
    );

    let checks: [(Access, &[u8], AclDecision); 6] = [
        (Access::Read, b"fleet/42/x/cmd", AclDecision::Allow),
        (Access::Read, b"alerts/fire/floor/3", AclDecision::Allow),
        (Access::Read, b"fleet/42/x/other", AclDecision::Deny),
        (Access::Write, b"devices/alice/temp", AclDecision::Allow),
        (Access::Write, b"x/status", AclDecision::Allow),
        (Access::Write, b"devices/bob/temp", AclDecision::Deny),
    ];
    for (access, topic, expected) in checks {
        let mut decision = None;
        let count = allocations_during(|| {
            decision = Some(plugin.acl_check(client, Some(access), Some(topic)));
        });
        assert_eq!(
            decision,
            Some(expected),
            "{access:?} {}",
            String::from_utf8_lossy(topic)
        );
        assert_eq!(
            count,
            0,
            "{access:?} {} allocated",
            String::from_utf8_lossy(topic)
        );
    }

    // Offline, a durable session still gets its queued messages checked.
    plugin.disconnect(client);
    for (topic, expected) in [
        (&b"fleet/7/y/cmd"[..], AclDecision::Allow),
        (b"other", AclDecision::Deny),
    ] {
        let mut decision = None;
        let count = allocations_during(|| {
            decision = Some(plugin.acl_check(client, Some(Access::Read), Some(topic)));
        });
        assert_eq!(decision, Some(expected));
        assert_eq!(count, 0, "an offline READ allocated");
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Without this, a broken counter would make the test above pass.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) > 0);
}
