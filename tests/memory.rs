//! What the plugin keeps per client, measured with a counting global allocator: the bytes
//! still held after clients authenticate, per client.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use jsonwebtoken::{EncodingKey, Header};
use mosquitto_jwt_auth::plugin::{AuthDecision, Broker, Client, LogLevel, Plugin};
use serde_json::json;

struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SECRET: &str = "memory-test-secret-0123456789abcdef";
const CLIENTS: usize = 1_000;

/// Each client (its address) has its own id, `device-<address>`, and the user `alice`.
struct Fleet;

impl Broker for Fleet {
    fn log(&self, _: LogLevel, _: &str) {}
    fn with_client_id<R>(&self, client: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        read(Some(format!("device-{:06}", client.0).as_bytes()))
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

fn token(i: usize, shared: bool) -> String {
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
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
}

/// Bytes the plugin still holds per client after `CLIENTS` clients authenticated.
/// `token_cache` is the option's value: the cache is a fixed budget, measured apart.
fn held_per_client(shared: bool, token_cache: &str) -> f64 {
    let plugin = Plugin::new(
        Fleet,
        [("secret_key", SECRET), ("token_cache", token_cache)],
    )
    .unwrap();
    let tokens: Vec<String> = (0..CLIENTS).map(|i| token(i, shared)).collect();
    let before = HELD.load(Ordering::Relaxed);
    for (i, token) in tokens.iter().enumerate() {
        assert_eq!(
            plugin.basic_auth(Client(i), Some(b"alice"), Some(token.as_bytes())),
            AuthDecision::Accept
        );
    }
    let held = HELD.load(Ordering::Relaxed) - before;
    assert_eq!(plugin.client_states(), CLIENTS);
    held as f64 / CLIENTS as f64
}

// One test, not two: the counter is global and tests run in parallel.
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
