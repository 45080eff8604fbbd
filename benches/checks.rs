//! The checks the broker makes through the plugin, timed as the broker makes them:
//! the READ decision for a delivered message (with 1, 10, 100 and 10,000 patterns),
//! subscribe coverage, and the whole BASIC_AUTH path.
//!
//!     cargo bench --bench checks

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use mosquitto_jwt_auth::acl::{Access, TopicSet};
use mosquitto_jwt_auth::plugin::{AuthDecision, Broker, Client, LogLevel, Plugin};
use serde_json::{Value, json};

const SECRET: &str = "bench-secret-0123456789abcdef0123456789";
const NOW: f64 = 1_800_000_000.0;

/// A broker whose clients all have the same id and username, as a real broker's lookups
/// would return them: two pointer reads.
struct BenchBroker {
    ends_with_connection: Cell<bool>,
}

impl Broker for BenchBroker {
    fn log(&self, _: LogLevel, _: &str) {}
    fn with_client_id<R>(&self, _: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        read(Some(b"sensor-12"))
    }
    fn with_client_username<R>(&self, _: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        read(Some(b"alice"))
    }
    fn session_ends_with_connection(&self, _: Client) -> bool {
        self.ends_with_connection.get()
    }
    fn set_username(&self, _: Client, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn kick(&self, _: &[u8], _: bool) -> Result<(), String> {
        Ok(())
    }
    fn now(&self) -> f64 {
        NOW
    }
}

fn plugin(options: &[(&str, &str)]) -> Plugin<BenchBroker> {
    let mut all = vec![("secret_key", SECRET)];
    all.extend_from_slice(options);
    // MQTT 3 clean sessions: the state of each ends with its connection.
    let broker = BenchBroker {
        ends_with_connection: Cell::new(true),
    };
    Plugin::new(broker, all).unwrap()
}

fn hs256(claims: &Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::default(), claims, &key).unwrap()
}

/// `count` receive patterns, a third each literal, with `+`, and with `#`.
fn patterns(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| match i % 3 {
            0 => format!("fleet/{i}/status"),
            1 => format!("fleet/+/{i}/cmd"),
            _ => format!("region/{i}/#"),
        })
        .collect()
}

fn read_decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for count in [1, 10, 100, 10_000] {
        let plugin = plugin(&[]);
        let client = Client(0x1000);
        let token = hs256(&json!({
            "username": "alice", "exp": NOW + 3600.0, "receive_acl": patterns(count),
        }));
        assert_eq!(
            plugin.basic_auth(client, Some(b"alice"), Some(token.as_bytes())),
            AuthDecision::Accept
        );
        // One topic the last pattern allows, one that no pattern allows.
        let last = count - 1;
        let allowed = match last % 3 {
            0 => format!("fleet/{last}/status"),
            1 => format!("fleet/7/{last}/cmd"),
            _ => format!("region/{last}/a/b"),
        };
        for (name, topic) in [("allowed", allowed.as_str()), ("denied", "fleet/x/y/z/w")] {
            group.bench_with_input(BenchmarkId::new(name, count), &topic, |b, topic| {
                b.iter(|| {
                    plugin.acl_check(
                        client,
                        Some(Access::Read),
                        Some(black_box(topic.as_bytes())),
                    )
                })
            });
        }
    }
    group.finish();
}

/// The topic trie alone, without the plugin's session lookup and identity check.
fn trie(c: &mut Criterion) {
    let mut group = c.benchmark_group("trie");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for count in [10, 10_000] {
        let patterns = patterns(count);
        let set = TopicSet::new(patterns.iter().map(String::as_str));
        group.bench_function(BenchmarkId::new("denied", count), |b| {
            b.iter(|| set.matches(black_box(b"fleet/x/y/z/w")))
        });
    }
    group.finish();
}

fn subscribe_coverage(c: &mut Criterion) {
    let mut group = c.benchmark_group("subscribe");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for count in [10, 100] {
        let plugin = plugin(&[]);
        let client = Client(0x1000);
        let token = hs256(&json!({
            "username": "alice", "exp": NOW + 3600.0, "subscribe_acl": patterns(count),
        }));
        assert_eq!(
            plugin.basic_auth(client, Some(b"alice"), Some(token.as_bytes())),
            AuthDecision::Accept
        );
        group.bench_function(BenchmarkId::new("filter", count), |b| {
            b.iter(|| {
                plugin.acl_check(
                    client,
                    Some(Access::Subscribe),
                    Some(black_box(b"region/2/#")),
                )
            })
        });
    }
    group.finish();
}

/// BASIC_AUTH as at each CONNECT: token recognised and verified (or found in the token
/// cache), claims checked, ACL compiled (or shared), session recorded; then DISCONNECT of
/// an MQTT 3 clean session, so the table stays small. Each iteration is a new client
/// address.
fn basic_auth(c: &mut Criterion) {
    let mut group = c.benchmark_group("basic_auth");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let fixtures: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tokens.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let rs256 = fixtures["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["alg"] == "RS256")
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let hs = hs256(&json!({
        "username": "alice", "exp": NOW + 3600.0, "publish_acl": patterns(10), "receive_acl": patterns(10),
    }));
    let rsa = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/rsa.pub.pem"
    );
    // Every iteration presents the same token: with the token cache (the default) it is
    // verified once; with `token_cache 0`, every time.
    let uncached = plugin(&[
        ("algorithm", "HS256,RS256"),
        ("public_key_file", rsa),
        ("token_cache", "0"),
    ]);
    let cached = plugin(&[("algorithm", "HS256,RS256"), ("public_key_file", rsa)]);
    for (name, plugin, token) in [
        ("HS256", &uncached, &hs),
        ("RS256", &uncached, &rs256),
        ("HS256 cached", &cached, &hs),
        ("RS256 cached", &cached, &rs256),
    ] {
        let mut address = 0x1000usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                address += 16;
                let client = Client(address);
                let decision = plugin.basic_auth(client, Some(b"alice"), Some(token.as_bytes()));
                plugin.disconnect(client);
                decision
            })
        });
    }
    group.finish();
}

criterion_group!(benches, read_decision, trie, subscribe_coverage, basic_auth);
criterion_main!(benches);
