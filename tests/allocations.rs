//! What the plugin allocates, watched by a counting global allocator: nothing for the
//! per-message checks, and under a kibibyte held per authenticated client.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use jsonwebtoken::{EncodingKey, Header};
use mosquitto_jwt_auth::acl::Access;
use mosquitto_jwt_auth::plugin::{AclDecision, AuthDecision, Broker, Client, LogLevel, Plugin};
use serde_json::json;

struct Counting;

thread_local! {
    // `const` with no destructor: reading them never allocates. Per thread, so that tests
    // running side by side do not count each other's allocations.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: isize, allocations: usize) {
    HELD.with(|held| held.set(held.get() + bytes));
    ALLOCATIONS.with(|n| n.set(n.get() + allocations));
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize, 1);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize), 0);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize, 1);
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

fn bytes_held_after(f: impl FnOnce()) -> isize {
    let before = HELD.with(Cell::get);
    f();
    HELD.with(Cell::get) - before
}

/// A broker whose clients are all user `alice`, each with its own id, `device-<address>`,
/// lent without allocating.
struct Fleet;

impl Broker for Fleet {
    fn log(&self, _: LogLevel, _: &str) {}
    fn with_client_id<R>(&self, client: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        let mut id = [0u8; 16];
        let mut rest = &mut id[..];
        write!(rest, "device-{:06}", client.0 % 1_000_000).unwrap();
        let len = 16 - rest.len();
        read(Some(&id[..len]))
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

const SECRET: &str = "allocation-test-secret-0123456789abcdef";

fn token(claims: serde_json::Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
}

#[test]
fn read_and_write_checks_do_not_allocate() {
    let plugin = Plugin::new(Fleet, [("secret_key", SECRET)]).unwrap();
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

const CLIENTS: usize = 1_000;

fn fleet_token(i: usize, shared: bool) -> String {
    let owner = if shared {
        "fleet".to_owned()
    } else {
        format!("device-{i:06}")
    };
    // Ten patterns, as a device typically gets: its own topics and some shared ones.
    let publish: Vec<String> = (0..5).map(|k| format!("devices/{owner}/out/{k}")).collect();
    let receive: Vec<String> = (0..5)
        .map(|k| format!("devices/{owner}/in/{k}/+"))
        .collect();
    let claims = json!({
        "username": "alice", "exp": 1_900_000_000,
        "publish_acl": publish, "receive_acl": receive,
    });
    token(claims)
}

/// Bytes the plugin still holds per client after `CLIENTS` clients authenticated.
/// `token_cache` is the option's value: the cache is a fixed budget, measured apart.
fn held_per_client(shared: bool, token_cache: &str) -> f64 {
    let plugin = Plugin::new(
        Fleet,
        [("secret_key", SECRET), ("token_cache", token_cache)],
    )
    .unwrap();
    let tokens: Vec<String> = (0..CLIENTS).map(|i| fleet_token(i, shared)).collect();
    let held = bytes_held_after(|| {
        for (i, token) in tokens.iter().enumerate() {
            assert_eq!(
                plugin.basic_auth(Client(i), Some(b"alice"), Some(token.as_bytes())),
                AuthDecision::Accept
            );
        }
    });
    assert_eq!(plugin.client_states(), CLIENTS);
    held as f64 / CLIENTS as f64
}

#[test]
fn a_client_with_ten_patterns_costs_under_a_kibibyte_and_equal_claims_share_their_acl() {
    let own = held_per_client(false, "0");
    let shared = held_per_client(true, "0");
    eprintln!(
        "bytes held per client: {own:.0} with its own ten patterns, {shared:.0} with shared ones"
    );
    assert!(own < 1024.0, "{own} bytes per client");
    // Sharing leaves only the session itself per client.
    assert!(shared < own / 2.0, "{shared} vs {own}");
    // The token cache adds a bounded amount per cached token (4,096 tokens by default).
    let cached = held_per_client(false, "4096") - own;
    eprintln!("bytes per cached token: {cached:.0}");
    assert!(cached < 2048.0, "{cached} bytes per cached token");
}
