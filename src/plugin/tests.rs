use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use serde_json::json;

use super::*;
use crate::test_tokens::{SECRET, hs256};

const NOW: f64 = 1_800_000_000.0;

/// One connection as the fake broker sees it. Leaked, so the broker can hand out
/// references that live as long as the test.
struct FakeClient {
    id: Vec<u8>,
    username: RefCell<Option<Vec<u8>>>,
    ends_with_connection: bool,
}

#[derive(Default)]
struct FakeBroker {
    now: Cell<f64>,
    clients: RefCell<HashMap<usize, &'static FakeClient>>,
    logs: RefCell<Vec<(LogLevel, String)>>,
    /// Client ids kicked, with whether the will goes out.
    kicks: RefCell<Vec<(String, bool)>>,
    /// Refuse kicks, as the broker does for an id it no longer knows.
    kick_fails: Cell<bool>,
}

impl FakeBroker {
    fn username(&self, client: Client) -> Option<Vec<u8>> {
        self.client(client)
            .and_then(|c| c.username.borrow().clone())
    }

    fn client(&self, client: Client) -> Option<&'static FakeClient> {
        self.clients.borrow().get(&client.0).copied()
    }
}

impl Broker for &FakeBroker {
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }
    fn with_client_id<R>(&self, client: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        read(self.client(client).map(|c| c.id.as_slice()))
    }
    fn with_client_username<R>(&self, client: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        match self.client(client) {
            Some(c) => read(c.username.borrow().as_deref()),
            None => read(None),
        }
    }
    fn session_ends_with_connection(&self, client: Client) -> bool {
        self.client(client).is_some_and(|c| c.ends_with_connection)
    }
    fn set_username(&self, client: Client, username: &str) -> Result<(), String> {
        let c = self.client(client).ok_or("no such client")?;
        *c.username.borrow_mut() = Some(username.as_bytes().to_vec());
        Ok(())
    }
    fn kick(&self, client_id: &[u8], with_will: bool) -> Result<(), String> {
        if self.kick_fails.get() {
            return Err("not found".into());
        }
        self.kicks
            .borrow_mut()
            .push((String::from_utf8_lossy(client_id).into_owned(), with_will));
        Ok(())
    }
    fn now(&self) -> f64 {
        self.now.get()
    }
}

struct Harness {
    broker: &'static FakeBroker,
    plugin: Plugin<&'static FakeBroker>,
}

impl Harness {
    fn new(options: &[(&str, &str)]) -> Harness {
        let broker: &'static FakeBroker = Box::leak(Box::default());
        broker.now.set(NOW);
        let mut all = vec![("secret_key", SECRET)];
        all.extend_from_slice(options);
        let plugin = Plugin::new(broker, all).unwrap();
        broker.logs.borrow_mut().clear();
        Harness { broker, plugin }
    }

    /// A new connection at `address`, as the broker would set it up before BASIC_AUTH.
    fn arrive(
        &self,
        address: usize,
        id: &str,
        username: Option<&str>,
        mqtt3_clean: bool,
    ) -> Client {
        let username = RefCell::new(username.map(|u| u.as_bytes().to_vec()));
        let fake = Box::leak(Box::new(FakeClient {
            id: id.as_bytes().to_vec(),
            username,
            ends_with_connection: mqtt3_clean,
        }));
        self.broker.clients.borrow_mut().insert(address, fake);
        Client(address)
    }

    fn connect(
        &self,
        address: usize,
        id: &str,
        username: Option<&str>,
        token: &str,
    ) -> AuthDecision {
        let client = self.arrive(address, id, username, false);
        self.plugin
            .basic_auth(client, username.map(str::as_bytes), Some(token.as_bytes()))
    }

    fn check(&self, address: usize, access: Access, topic: &str) -> AclDecision {
        self.plugin
            .acl_check(Client(address), Some(access), Some(topic.as_bytes()))
    }

    fn logs(&self) -> Vec<String> {
        self.broker
            .logs
            .borrow()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    fn notices(&self) -> Vec<String> {
        let logs = self.broker.logs.borrow();
        logs.iter()
            .filter(|(l, _)| *l != LogLevel::Debug)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

fn token(extra: serde_json::Value) -> String {
    let mut claims = json!({"username": "alice", "exp": NOW + 3600.0});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    hs256(&claims)
}

fn acl_token() -> String {
    token(json!({
        "publish_acl": ["devices/alice/#"],
        "subscribe_acl": ["commands/alice/+"],
        "receive_acl": "commands/alice/+",
    }))
}

#[test]
fn passwords_that_are_not_tokens_are_deferred() {
    let h = Harness::new(&[]);
    let client = h.arrive(1, "c1", Some("bob"), false);
    assert_eq!(
        h.plugin.basic_auth(client, Some(b"bob"), None),
        AuthDecision::Defer
    );
    assert_eq!(h.plugin.basic_auth(client, None, None), AuthDecision::Defer);
    assert_eq!(
        h.plugin.basic_auth(client, Some(b"bob"), Some(b"hunter2")),
        AuthDecision::Defer
    );
    let junk: Vec<u8> = (0..65_535u32)
        .map(|i| (i.wrapping_mul(7919) % 251) as u8 + 1)
        .collect();
    assert_eq!(
        h.plugin.basic_auth(client, Some(b"bob"), Some(&junk)),
        AuthDecision::Defer
    );
    assert_eq!(
        h.plugin
            .basic_auth(client, Some(b"bob"), Some(b"\xff\xfe\x80")),
        AuthDecision::Defer
    );
    assert!(h.notices().is_empty(), "{:?}", h.notices());
    let debug = h.logs();
    assert_eq!(
        debug.len(),
        3,
        "one line per password that is not a JWT: {debug:?}"
    );
    assert!(debug[0].contains("client 'c1' sent a password that is not a JWT"));
}

#[test]
fn a_bad_token_is_refused_with_one_line_that_does_not_quote_it() {
    let h = Harness::new(&[]);
    let expired = token(json!({"exp": NOW - 1.0}));
    assert_eq!(
        h.connect(1, "dev-1", Some("alice"), &expired),
        AuthDecision::Refuse
    );
    let notices = h.notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(
        notices[0],
        "jwt-auth: refused client 'dev-1' (username 'alice'): token has expired (exp)"
    );
    for part in expired.split('.') {
        assert!(!h.logs().iter().any(|l| l.contains(part)));
    }
}

#[test]
fn the_username_must_be_the_token_user() {
    let h = Harness::new(&[]);
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &token(json!({}))),
        AuthDecision::Accept
    );
    assert_eq!(
        h.connect(2, "c2", Some("mallory"), &token(json!({}))),
        AuthDecision::Refuse
    );
    assert!(
        h.notices()[0].ends_with("username 'mallory' is not the token's user 'alice'"),
        "{:?}",
        h.notices()
    );
}

#[test]
fn without_a_username_the_token_user_becomes_the_username() {
    let h = Harness::new(&[]);
    assert_eq!(h.connect(1, "c1", None, &acl_token()), AuthDecision::Accept);
    assert_eq!(h.broker.username(Client(1)), Some(b"alice".to_vec()));
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/t"),
        AclDecision::Allow
    );
}

#[test]
fn a_refused_token_leaves_the_username_alone() {
    let h = Harness::new(&[]);
    let bad = token(json!({"publish_acl": ["a/#/b"]}));
    assert_eq!(h.connect(1, "c1", None, &bad), AuthDecision::Refuse);
    assert_eq!(h.broker.username(Client(1)), None);
}

#[test]
fn acl_claims_decide_each_access() {
    let h = Harness::new(&[]);
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/temp"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(1, Access::Write, "devices/bob/temp"),
        AclDecision::Deny
    );
    assert_eq!(
        h.check(1, Access::Read, "commands/alice/reboot"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(1, Access::Read, "devices/alice/temp"),
        AclDecision::Deny
    );
    assert_eq!(
        h.check(1, Access::Subscribe, "commands/alice/+"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(1, Access::Subscribe, "commands/#"),
        AclDecision::Deny
    );
    assert_eq!(
        h.check(1, Access::Unsubscribe, "commands/#"),
        AclDecision::Allow
    );
    assert_eq!(
        h.plugin
            .acl_check(Client(1), None, Some(b"devices/alice/x")),
        AclDecision::Deny
    );
    assert_eq!(
        h.plugin.acl_check(Client(1), Some(Access::Write), None),
        AclDecision::Deny
    );
}

#[test]
fn clients_it_did_not_authenticate_and_tokens_without_acl_claims_are_deferred() {
    let h = Harness::new(&[]);
    assert_eq!(h.check(9, Access::Write, "a"), AclDecision::Defer);
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &token(json!({}))),
        AuthDecision::Accept
    );
    assert_eq!(h.check(1, Access::Write, "a"), AclDecision::Defer);
    assert_eq!(h.check(1, Access::Subscribe, "#"), AclDecision::Defer);
}

#[test]
fn a_malformed_acl_claim_refuses_the_token() {
    let h = Harness::new(&[]);
    let bad = token(json!({"publish_acl": ["ok", "a/#/b"]}));
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &bad),
        AuthDecision::Refuse
    );
    assert!(
        h.notices()[0].contains("claim 'publish_acl': pattern 'a/#/b' is not a valid topic filter")
    );
    assert_eq!(h.check(1, Access::Write, "ok"), AclDecision::Defer);
}

#[test]
fn after_expiry_every_check_is_denied_even_while_connected() {
    let h = Harness::new(&[("leeway", "5")]);
    let short = token(json!({"exp": NOW + 10.0}));
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &short),
        AuthDecision::Accept
    );
    assert_eq!(h.check(1, Access::Write, "x"), AclDecision::Defer);
    h.broker.now.set(NOW + 14.9);
    assert_eq!(
        h.check(1, Access::Write, "x"),
        AclDecision::Defer,
        "inside the leeway"
    );
    h.broker.now.set(NOW + 15.0);
    for access in [
        Access::Write,
        Access::Read,
        Access::Subscribe,
        Access::Unsubscribe,
    ] {
        assert_eq!(h.check(1, access, "x"), AclDecision::Deny, "{access:?}");
    }
    let notices = h.notices();
    assert_eq!(
        notices,
        vec!["jwt-auth: token of client 'c1' has expired; denying all its topic access"]
    );
}

#[test]
fn a_reused_address_never_inherits_rights() {
    let h = Harness::new(&[]);
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    h.plugin.disconnect(Client(1));
    // A certificate-authenticated client lands on the freed address without BASIC_AUTH.
    h.arrive(1, "cert-client", Some("alice"), false);
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/x"),
        AclDecision::Defer
    );
    assert_eq!(h.plugin.client_states(), 0);

    // A password-file client passes through BASIC_AUTH and is deferred.
    assert_eq!(
        h.connect(2, "c2", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    let legacy = h.arrive(2, "c2", Some("alice"), false);
    assert_eq!(
        h.plugin
            .basic_auth(legacy, Some(b"alice"), Some(b"plain password")),
        AuthDecision::Defer
    );
    assert_eq!(
        h.check(2, Access::Write, "devices/alice/x"),
        AclDecision::Defer
    );

    // Same for an MQTT 5 enhanced-auth client.
    assert_eq!(
        h.connect(3, "c3", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    let scram = h.arrive(3, "c3", Some("alice"), false);
    assert_eq!(
        h.plugin
            .ext_auth_start(scram, Some(b"SCRAM-SHA-1"), Some(b"client-first")),
        AuthDecision::Defer
    );
    assert_eq!(
        h.check(3, Access::Write, "devices/alice/x"),
        AclDecision::Defer
    );
}

#[test]
fn wills_and_offline_queues_are_judged_after_disconnect() {
    let h = Harness::new(&[]);
    assert_eq!(
        h.connect(1, "durable", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    h.plugin.disconnect(Client(1));
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/will"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(1, Access::Read, "commands/alice/x"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(1, Access::Read, "commands/bob/x"),
        AclDecision::Deny
    );
    // The broker discards the session (a takeover): the second DISCONNECT.
    h.plugin.disconnect(Client(1));
    assert_eq!(h.plugin.client_states(), 0);

    assert_eq!(
        h.connect(2, "other", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    h.plugin.disconnect(Client(2));
    assert_eq!(
        h.check(2, Access::Write, "devices/bob/will"),
        AclDecision::Deny
    );
}

#[test]
fn an_offline_session_answers_only_what_an_offline_session_asks() {
    let h = Harness::new(&[]);
    for (address, second) in [
        (1, Access::Subscribe),
        (2, Access::Unsubscribe),
        (3, Access::Write),
    ] {
        assert_eq!(
            h.connect(address, "c", Some("alice"), &acl_token()),
            AuthDecision::Accept
        );
        h.plugin.disconnect(Client(address));
        assert_eq!(
            h.check(address, Access::Write, "devices/alice/will"),
            AclDecision::Allow
        );
        // A new connection at the reused address, with the same id and username, that
        // never passed through this plugin: its own requests give it away.
        assert_eq!(
            h.check(address, second, "devices/alice/x"),
            AclDecision::Defer,
            "{second:?}"
        );
        assert_eq!(
            h.check(address, Access::Read, "commands/alice/x"),
            AclDecision::Defer
        );
    }
    assert_eq!(h.plugin.client_states(), 0);
}

#[test]
fn the_username_is_part_of_the_client_s_identity() {
    let h = Harness::new(&[]);
    assert_eq!(
        h.connect(1, "same-id", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    h.plugin.disconnect(Client(1));
    // At the freed address, same id, another username and no BASIC_AUTH (a certificate
    // client): not the client that presented the token.
    h.arrive(1, "same-id", Some("mallory"), false);
    assert_eq!(
        h.check(1, Access::Read, "devices/alice/x"),
        AclDecision::Defer
    );
    assert_eq!(h.plugin.client_states(), 0);
}

/// A live session is taken for its client without comparing (the broker reports a
/// disconnection before it frees a client), but only while every disconnection was
/// handled: after one that did not finish, each check compares again.
#[cfg(debug_assertions)]
#[test]
fn after_a_failed_disconnect_every_check_compares_the_client() {
    let h = Harness::new(&[("test_panic", "disconnect")]);
    for (address, id) in [(1, "panic-disconnect-1"), (2, "c2")] {
        assert_eq!(
            h.connect(address, id, Some("alice"), &acl_token()),
            AuthDecision::Accept
        );
    }
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.plugin.disconnect(Client(1));
    }));
    assert!(failed.is_err(), "the injected panic");
    // The session at 1 is still recorded as live, though its client is gone; a certificate
    // client at that address inherits nothing.
    h.arrive(1, "cert-client", Some("alice"), false);
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/x"),
        AclDecision::Defer
    );
    // Nor at an address whose disconnection was never reported at all.
    h.arrive(2, "cert-client-2", Some("alice"), false);
    assert_eq!(
        h.check(2, Access::Write, "devices/alice/x"),
        AclDecision::Defer
    );
    h.plugin.disconnect(Client(2));
    assert_eq!(h.plugin.client_states(), 0);
}

/// A broker with CONNECT events but no CLIENT_OFFLINE would not report a durable
/// session's disconnection, so nothing is taken for live.
#[test]
fn with_connect_but_no_client_offline_event_every_check_compares_the_client() {
    let h = Harness::new(&[]);
    h.plugin.set_optional_events(OptionalEvents {
        connect: true,
        client_offline: false,
    });
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    h.plugin.connected(Client(1));
    h.arrive(1, "cert-client", Some("alice"), false);
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/x"),
        AclDecision::Defer
    );
}

#[test]
fn with_connect_events_a_connection_it_did_not_authenticate_inherits_nothing() {
    let h = Harness::new(&[]);
    h.plugin.set_optional_events(OptionalEvents {
        connect: true,
        client_offline: true,
    });
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    h.plugin.connected(Client(1));
    assert_eq!(
        h.check(1, Access::Subscribe, "commands/alice/+"),
        AclDecision::Allow
    );
    // Later the address belongs to a connection this plugin never saw (a certificate
    // client with the same id and username): the broker's CONNECT gives it away.
    h.plugin.client_offline(Client(1));
    h.plugin.connected(Client(1));
    assert_eq!(
        h.check(1, Access::Read, "commands/alice/x"),
        AclDecision::Defer
    );
    assert_eq!(h.plugin.client_states(), 0);
}

#[test]
fn with_client_offline_events_disconnect_ends_the_session() {
    let h = Harness::new(&[]);
    h.plugin.set_optional_events(OptionalEvents {
        connect: false,
        client_offline: true,
    });
    assert_eq!(
        h.connect(1, "c1", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    h.plugin.disconnect(Client(1));
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/will"),
        AclDecision::Allow
    );
    h.check(2, Access::Read, "x");
    assert_eq!(
        h.plugin.client_states(),
        0,
        "a non-durable session ends with its connection"
    );

    assert_eq!(
        h.connect(3, "c3", Some("alice"), &acl_token()),
        AuthDecision::Accept
    );
    h.plugin.client_offline(Client(3));
    h.check(2, Access::Read, "x");
    assert_eq!(
        h.check(3, Access::Read, "commands/alice/x"),
        AclDecision::Allow,
        "durable: kept"
    );
}

#[test]
fn a_clean_mqtt3_session_is_forgotten_after_its_will() {
    let h = Harness::new(&[]);
    let client = h.arrive(1, "clean", Some("alice"), true);
    assert_eq!(
        h.plugin
            .basic_auth(client, Some(b"alice"), Some(acl_token().as_bytes())),
        AuthDecision::Accept
    );
    h.plugin.disconnect(client);
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/will"),
        AclDecision::Allow
    );
    // Any other client's callback: the clean session's last checks are over.
    assert_eq!(h.check(2, Access::Read, "x"), AclDecision::Defer);
    assert_eq!(h.plugin.client_states(), 0);
}

#[test]
fn on_takeover_the_new_connection_token_decides() {
    let h = Harness::new(&[]);
    let old = token(json!({"publish_acl": "old/#"}));
    let new = token(json!({"publish_acl": "new/#"}));
    assert_eq!(
        h.connect(1, "same-id", Some("alice"), &old),
        AuthDecision::Accept
    );
    assert_eq!(
        h.connect(2, "same-id", Some("alice"), &new),
        AuthDecision::Accept
    );
    h.plugin.disconnect(Client(1));
    assert_eq!(h.check(2, Access::Write, "new/x"), AclDecision::Allow);
    assert_eq!(h.check(2, Access::Write, "old/x"), AclDecision::Deny);
}

#[test]
fn state_does_not_grow_under_churn() {
    let h = Harness::new(&[]);
    let t = acl_token();
    for i in 0..10_000 {
        // MQTT 3 clean sessions at ever new addresses: each ends with its connection.
        let client = h.arrive(1_000 + i, &format!("c{i}"), Some("alice"), true);
        assert_eq!(
            h.plugin
                .basic_auth(client, Some(b"alice"), Some(t.as_bytes())),
            AuthDecision::Accept
        );
        h.plugin.disconnect(client);
    }
    h.check(1, Access::Read, "x");
    assert_eq!(h.plugin.client_states(), 0);

    // MQTT 5 sessions may be durable, so they wait for their token to expire.
    for i in 0..10_000 {
        let now = NOW + i as f64 * 0.1;
        h.broker.now.set(now);
        let short = token(json!({"exp": now + 60.0}));
        assert_eq!(
            h.connect(100_000 + i, &format!("v5-{i}"), Some("alice"), &short),
            AuthDecision::Accept
        );
        h.plugin.disconnect(Client(100_000 + i));
    }
    assert!(
        h.plugin.client_states() < 1_300,
        "{}",
        h.plugin.client_states()
    );
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// PyJWT's RS256 token for the fixture key `rsa`, and the one for the next key `rsa-2`.
fn rotation_tokens() -> (String, String) {
    let fixtures: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("tokens.json")).unwrap()).unwrap();
    let rs256 = fixtures["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["alg"] == "RS256")
        .unwrap();
    (
        rs256["token_with_kid"].as_str().unwrap().to_owned(),
        fixtures["rotated"]["token"].as_str().unwrap().to_owned(),
    )
}

/// A plugin reading the fixture key set from a file the test may rewrite, as an operator
/// rotating keys would; the directory lives as long as the first value.
fn with_key_set() -> (tempfile::TempDir, std::path::PathBuf, Harness) {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::copy(fixture("keys/jwks.json"), &jwks).unwrap();
    let h = Harness::new(&[
        ("algorithm", "HS256,RS256"),
        ("jwks_file", jwks.to_str().unwrap()),
    ]);
    (dir, jwks, h)
}

#[test]
fn reload_rotates_keys_and_keeps_them_when_the_new_file_is_bad() {
    let (_dir, jwks, h) = with_key_set();
    let (current, next) = rotation_tokens();
    assert_eq!(h.connect(1, "c1", None, &current), AuthDecision::Accept);
    assert_eq!(h.connect(2, "c2", None, &next), AuthDecision::Refuse);

    std::fs::copy(fixture("keys/jwks-rotated.json"), &jwks).unwrap();
    h.plugin.reload();
    assert!(
        h.notices()
            .iter()
            .any(|l| l == "jwt-auth: reloaded keys; 2 keys loaded"),
        "{:?}",
        h.notices()
    );
    assert_eq!(h.connect(3, "c3", None, &current), AuthDecision::Refuse);
    assert_eq!(h.connect(4, "c4", None, &next), AuthDecision::Accept);
    // The client admitted with the old key keeps its session and rights.
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/x"),
        AclDecision::Allow
    );

    let warnings = |h: &Harness| -> Vec<String> {
        h.broker
            .logs
            .borrow()
            .iter()
            .filter(|(level, _)| *level == LogLevel::Warning)
            .map(|(_, m)| m.clone())
            .collect()
    };
    // A file that does not parse, or is gone: the previous keys stay.
    for broken in [&b"{\"keys\": ["[..], b"{\"keys\": [{\"kty\": \"RSA\"}]}"] {
        std::fs::write(&jwks, broken).unwrap();
        h.broker.logs.borrow_mut().clear();
        h.plugin.reload();
        let warnings = warnings(&h);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "jwt-auth: reload failed, keeping the previous keys: plugin_opt_jwks_file: "
            ),
            "{warnings:?}"
        );
        assert_eq!(h.connect(5, "c5", None, &next), AuthDecision::Accept);
        assert_eq!(h.connect(6, "c6", None, &current), AuthDecision::Refuse);
    }
    std::fs::remove_file(&jwks).unwrap();
    h.plugin.reload();
    assert!(h.logs().iter().any(|l| l.contains("cannot read")));
    assert_eq!(h.connect(7, "c7", None, &next), AuthDecision::Accept);

    // A set emptied on purpose revokes its keys: RS256 tokens are refused from then on,
    // with a warning; the secret still serves HS256.
    std::fs::write(&jwks, "{\"keys\": []}").unwrap();
    h.broker.logs.borrow_mut().clear();
    h.plugin.reload();
    let warnings = warnings(&h);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("after reload, plugin_opt_jwks_file: "));
    assert!(warnings[1].contains(
        "after reload, plugin_opt_algorithm: RS256 needs an RSA key and none is configured"
    ));
    assert_eq!(h.connect(8, "c8", None, &next), AuthDecision::Refuse);
    assert_eq!(
        h.connect(9, "c9", None, &token(json!({}))),
        AuthDecision::Accept
    );
}

/// The broker's own re-check on reload: BASIC_AUTH again, at the same address, with the
/// same password, for every client it holds.
fn recheck(h: &Harness, address: usize, token: &str) -> AuthDecision {
    let client = Client(address);
    let username = h.broker.username(client);
    h.plugin
        .basic_auth(client, username.as_deref(), Some(token.as_bytes()))
}

/// The session remembers the credentials the broker will present again: the username as
/// sent when it was the token's user, or the token's user put in its place.
#[test]
fn a_live_client_is_answered_from_its_session_only_for_the_credentials_it_will_present() {
    for (address, sent) in [(1, Some("alice")), (2, None)] {
        let h = Harness::new(&[]);
        let t = token(json!({}));
        let id = format!("c{address}");
        assert_eq!(h.connect(address, &id, sent, &t), AuthDecision::Accept);
        assert_eq!(recheck(&h, address, &t), AuthDecision::Accept);
        let answered = format!("jwt-auth: re-check of client '{id}': still admitted");
        assert_eq!(
            h.logs().iter().filter(|l| **l == answered).count(),
            1,
            "{sent:?}"
        );
        let other = token(json!({"n": 1}));
        assert_eq!(recheck(&h, address, &other), AuthDecision::Accept);
        let authenticated = format!("client '{id}' authenticated as 'alice'");
        assert_eq!(
            h.logs()
                .iter()
                .filter(|l| l.contains(&authenticated))
                .count(),
            2,
            "{sent:?}"
        );
    }
}

#[test]
fn the_reload_recheck_keeps_connected_and_offline_clients_admitted() {
    let (_dir, jwks, h) = with_key_set();
    let (current, _) = rotation_tokens();
    assert_eq!(h.connect(1, "online", None, &current), AuthDecision::Accept);
    assert_eq!(
        h.connect(2, "offline", None, &current),
        AuthDecision::Accept
    );
    h.plugin.disconnect(Client(2));
    h.plugin.tick();

    std::fs::copy(fixture("keys/jwks-rotated.json"), &jwks).unwrap();
    h.plugin.reload();
    assert_eq!(recheck(&h, 1, &current), AuthDecision::Accept);
    assert_eq!(recheck(&h, 2, &current), AuthDecision::Accept);
    // Neither re-check changed what the sessions may do: the offline one still answers
    // only for its queued messages.
    assert_eq!(
        h.check(1, Access::Subscribe, "commands/alice/1"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(2, Access::Read, "commands/alice/1"),
        AclDecision::Allow
    );
    h.plugin.tick();

    // After the pass, the offline session's address taken by a new connection with the
    // same token: checked with today's keys, which no longer include its signer.
    assert_eq!(
        h.connect(2, "offline", Some("alice"), &current),
        AuthDecision::Refuse
    );
    // A live session is asked again only by the broker, so its answer still stands.
    assert_eq!(recheck(&h, 1, &current), AuthDecision::Accept);
}

#[test]
fn without_ticks_an_offline_session_is_verified_again_on_reload() {
    let h = Harness::new(&[]);
    let t = token(json!({}));
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.plugin.disconnect(Client(1));
    h.plugin.reload();
    // Verified, not taken from the session: a tampered copy of the token at the same
    // address would be refused, and this one passes on its own merits.
    assert_eq!(recheck(&h, 1, &t), AuthDecision::Accept);
    assert!(
        h.logs()
            .iter()
            .any(|l| l.contains("client 'c' authenticated as 'alice'")),
        "{:?}",
        h.logs()
    );
}

/// A client admitted on the broker's re-check may be offline, and Mosquitto frees an offline
/// client (at session expiry) without a word: a stranger later at its address, who never
/// passed through this plugin, inherits nothing.
#[test]
fn a_session_admitted_on_a_reload_recheck_is_never_taken_for_live() {
    for with_ticks in [false, true] {
        let h = Harness::new(&[]);
        if with_ticks {
            h.plugin.tick();
        }
        let t = acl_token();
        assert_eq!(
            h.connect(1, "durable", Some("alice"), &t),
            AuthDecision::Accept
        );
        h.plugin.disconnect(Client(1));
        h.plugin.reload();
        // Asked with another password than the one admitted (say, the record was swept),
        // the plugin verifies it and admits the offline client again.
        let other = token(json!({"publish_acl": ["devices/alice/#"], "n": 1}));
        assert_eq!(recheck(&h, 1, &other), AuthDecision::Accept, "{with_ticks}");
        if with_ticks {
            h.plugin.tick();
        }
        // The offline session expires; the broker frees it; a certificate client lands on
        // the address.
        h.arrive(1, "stranger", Some("mallory"), false);
        assert_eq!(
            h.check(1, Access::Write, "devices/alice/x"),
            AclDecision::Defer,
            "{with_ticks}"
        );
    }
}

#[test]
fn a_recheck_refuses_an_expired_token_and_ignores_another_password() {
    let h = Harness::new(&[]);
    let t = token(json!({"exp": NOW + 10.0}));
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.plugin.tick();
    h.plugin.reload();
    h.broker.now.set(NOW + 11.0);
    assert_eq!(recheck(&h, 1, &t), AuthDecision::Refuse);
    assert!(
        h.notices()
            .iter()
            .any(|l| l == "jwt-auth: re-check of client 'c': its token has expired")
    );
    // Another password at a live address is a new authentication, judged on its own.
    let other = token(json!({"exp": NOW + 100.0, "publish_acl": "x"}));
    assert_eq!(recheck(&h, 1, &other), AuthDecision::Accept);
    assert_eq!(h.check(1, Access::Write, "x"), AclDecision::Allow);
}

mod live;

#[test]
fn within_a_recheck_pass_an_offline_address_is_answered_once_and_only_for_its_client() {
    let (_dir, jwks, h) = with_key_set();
    let (current, _) = rotation_tokens();
    for address in [1, 2] {
        assert_eq!(
            h.connect(address, "offline", None, &current),
            AuthDecision::Accept
        );
        h.plugin.disconnect(Client(address));
    }
    h.plugin.tick();
    std::fs::copy(fixture("keys/jwks-rotated.json"), &jwks).unwrap();
    h.plugin.reload();
    assert_eq!(recheck(&h, 1, &current), AuthDecision::Accept);
    // The broker re-checks each client once: a second BASIC_AUTH at that address in the
    // same pass is a new connection (a websocket listener can take one before the next
    // tick), verified with today's keys.
    assert_eq!(recheck(&h, 1, &current), AuthDecision::Refuse);
    // Same token, another client id: not the recorded client, so verified too.
    h.arrive(2, "someone-else", Some("alice"), false);
    assert_eq!(recheck(&h, 2, &current), AuthDecision::Refuse);
}
