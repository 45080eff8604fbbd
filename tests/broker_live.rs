//! Live sessions through the real broker: disconnect at expiry, MQTT 5 enhanced
//! authentication and re-authentication, the token in the username, placeholders and the
//! superuser claim.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::clients::v5::{
    self, LastWill, Mqtt5, PubAckReason, QoS, SubscribeReasonCode, accepted,
};
use support::raw::{self, AUTH, Mqtt5Wire};
use support::tokens::{SECRET, claims, hs256, now};
use support::{Broker, BrokerConfig};

fn token(user: &str, extra: Value) -> String {
    hs256(&claims(user, extra))
}

/// A client that sees everything published (but `$` topics).
fn watcher(broker: &Broker) -> Mqtt5 {
    let t = token(
        "watcher",
        json!({"subscribe_acl": "#", "receive_acl": "#", "publish_acl": "#"}),
    );
    let watcher = Mqtt5::login(broker.port, "watcher", "watcher", &t).unwrap();
    assert!(matches!(
        watcher.subscribe("#"),
        SubscribeReasonCode::Success(_)
    ));
    watcher
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A client whose token expires two seconds from now, with a will on `wills/<id>`.
fn short_lived(broker: &Broker, id: &str) -> (Mqtt5, u64) {
    let exp = now() + 2;
    let t = token(
        "alice",
        json!({"exp": exp, "publish_acl": ["wills/#", "a/#"]}),
    );
    let mut options = v5::login(broker.port, id, "alice", &t);
    options.set_last_will(LastWill::new(
        format!("wills/{id}"),
        format!("{id} gone"),
        QoS::AtLeastOnce,
        false,
        None,
    ));
    (Mqtt5::connect(options).unwrap(), exp)
}

#[test]
fn a_client_is_disconnected_within_a_second_of_expiry_with_its_will() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET));
    let watcher = watcher(&broker);
    let (client, exp) = short_lived(&broker, "expiring");
    assert!(accepted(client.publish("a/1", "before")));
    // The broker closes the connection; the client only waits for it.
    let how = client.wait_closed();
    let delay = unix_now() - exp as f64;
    eprintln!("disconnected {delay:.3} s after exp ({how})");
    assert!(delay >= 0.0, "disconnected {delay} s before exp");
    assert!(delay < 3.0, "disconnected {delay} s after exp");
    broker
        .log
        .wait_for_text("jwt-auth: token of client 'expiring' has expired; disconnecting it");
    let (topic, payload) = watcher.next_message();
    assert_eq!((topic.as_str(), payload.as_str()), ("a/1", "before"));
    assert_eq!(
        watcher.next_message(),
        ("wills/expiring".into(), "expiring gone".into())
    );
}

/// Mosquitto re-checks a durable session's subscriptions as it disconnects it; they are
/// the client's rights, so they survive the kick and serve it when it comes back.
#[test]
fn a_durable_session_kicked_at_expiry_keeps_its_subscriptions() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET));
    let rights = |exp: u64| {
        token(
            "alice",
            json!({"exp": exp, "subscribe_acl": "a/#", "receive_acl": "a/#"}),
        )
    };
    let durable = |t: &str| {
        let mut options = v5::login(broker.port, "durable", "alice", t);
        options.set_clean_start(false);
        options.set_session_expiry_interval(Some(3600));
        Mqtt5::connect(options).unwrap()
    };
    let client = durable(&rights(now() + 2));
    assert!(matches!(
        client.subscribe("a/#"),
        SubscribeReasonCode::Success(_)
    ));
    client.wait_closed();
    broker
        .log
        .wait_for_text("token of client 'durable' has expired; disconnecting it");
    let back = durable(&rights(now() + 600));
    let publisher = Mqtt5::login(
        broker.port,
        "publisher",
        "publisher",
        &token("publisher", json!({"publish_acl": "a/#"})),
    )
    .unwrap();
    assert_eq!(
        publisher.publish("a/1", "for the durable session"),
        PubAckReason::Success
    );
    assert_eq!(
        back.next_message(),
        ("a/1".into(), "for the durable session".into())
    );
}

#[test]
fn with_expiry_will_false_the_will_is_not_sent() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET).option("expiry_will", "false"));
    let watcher = watcher(&broker);
    let (client, _) = short_lived(&broker, "quiet");
    client.wait_closed();
    broker
        .log
        .wait_for_text("token of client 'quiet' has expired; disconnecting it");
    // A sentinel published after the kick arrives first: no will came before it.
    let sentinel = Mqtt5::login(
        broker.port,
        "sentinel",
        "sentinel",
        &token("sentinel", json!({"publish_acl": "wills/#"})),
    )
    .unwrap();
    assert!(accepted(sentinel.publish("wills/sentinel", "after")));
    assert_eq!(
        watcher.next_message(),
        ("wills/sentinel".into(), "after".into())
    );
}

const JWT: &str = "JWT";

/// PUBACK reasons that accept the message (0x10: no subscriber matched).
fn delivered(reason: Option<u8>) -> bool {
    matches!(reason, Some(0x00 | 0x10))
}

#[test]
fn enhanced_authentication_accepts_refuses_and_defers_other_methods() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET));
    let good = token("alice", json!({"publish_acl": "a/#"}));
    // With a username, or without (then it becomes the token's user).
    let (mut with_name, code) = Mqtt5Wire::connect(
        broker.port,
        "ea-1",
        Some("alice"),
        JWT,
        Some(good.as_bytes()),
    );
    assert_eq!(code, Some(raw::ACCEPTED));
    assert!(delivered(with_name.publish("a/1", b"x")));
    assert_eq!(with_name.publish("b/1", b"x"), Some(0x87));
    let (_, code) = Mqtt5Wire::connect(broker.port, "ea-2", None, "jwt", Some(good.as_bytes()));
    assert_eq!(code, Some(raw::ACCEPTED));
    broker.log.wait_for_text("as ea-2 (p5, c1, k60, u'alice')");

    let expired = token("alice", json!({"exp": now() - 10}));
    for (id, username, data, why) in [
        (
            "ea-3",
            Some("mallory"),
            good.as_str(),
            "username 'mallory' is not the token's user 'alice'",
        ),
        ("ea-4", None, expired.as_str(), "token has expired (exp)"),
        (
            "ea-5",
            None,
            "not a token",
            "the authentication data is not a JWT",
        ),
    ] {
        let (_, code) = Mqtt5Wire::connect(broker.port, id, username, JWT, Some(data.as_bytes()));
        assert_eq!(code, Some(raw::V5_NOT_AUTHORIZED), "{id}");
        broker.log.wait_for_text(&format!("refused client '{id}'"));
        assert!(broker.log.count(why) >= 1, "{why}");
    }
    // rumqttc's own client: the method and data as CONNECT properties.
    let mut options = v5::options(broker.port, "ea-rumqttc");
    options.set_authentication_method(Some(JWT.into()));
    options.set_authentication_data(Some(good.clone().into()));
    let client = Mqtt5::connect(options).expect("accepted");
    assert!(accepted(client.publish("a/2", "y")));

    // Another method is not the plugin's: "bad authentication method".
    let (_, code) = Mqtt5Wire::connect(
        broker.port,
        "ea-6",
        None,
        "SCRAM-SHA-256",
        Some(b"client-first"),
    );
    assert_eq!(code, Some(0x8C));
}

#[test]
fn reauthentication_replaces_rights_mid_session() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET));
    let first = token("alice", json!({"publish_acl": "old/#"}));
    let (mut wire, code) =
        Mqtt5Wire::connect(broker.port, "reauth", None, JWT, Some(first.as_bytes()));
    assert_eq!(code, Some(raw::ACCEPTED));
    assert!(delivered(wire.publish("old/1", b"x")));
    assert_eq!(wire.publish("new/1", b"x"), Some(0x87));

    let second = token("alice", json!({"publish_acl": "new/#"}));
    let answer = wire
        .reauthenticate(JWT, second.as_bytes())
        .expect("an answer");
    assert_eq!((answer.kind, answer.reason()), (AUTH, 0x00), "{answer:?}");
    // Allowed before, denied after; and the reverse.
    assert_eq!(wire.publish("old/2", b"x"), Some(0x87));
    assert!(delivered(wire.publish("new/2", b"x")));
    broker
        .log
        .wait_for_text("jwt-auth: client 'reauth' re-authenticated");
}

#[test]
fn reauthentication_moves_the_expiry_deadline() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET));
    let short = token("alice", json!({"exp": now() + 2, "publish_acl": "a/#"}));
    let (mut wire, code) =
        Mqtt5Wire::connect(broker.port, "renewed", None, JWT, Some(short.as_bytes()));
    assert_eq!(code, Some(raw::ACCEPTED));
    let long = token("alice", json!({"exp": now() + 600, "publish_acl": "a/#"}));
    let answer = wire
        .reauthenticate(JWT, long.as_bytes())
        .expect("an answer");
    assert_eq!(answer.reason(), 0x00);
    // Past the first token's expiry, the client is still connected and allowed.
    std::thread::sleep(Duration::from_secs(3));
    assert!(delivered(wire.publish("a/1", b"still here")));
    assert_eq!(broker.log.count("has expired; disconnecting"), 0);
}

#[test]
fn a_bad_reauthentication_disconnects_the_client() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET));
    let first = token("alice", json!({"publish_acl": "a/#"}));
    let bob = token("bob", json!({"publish_acl": "#"}));
    for (id, data, why) in [
        (
            "reauth-bob",
            bob.as_str(),
            "the new token's user 'bob' is not the client's user 'alice'",
        ),
        (
            "reauth-junk",
            "junk",
            "the authentication data is not a JWT",
        ),
    ] {
        let (mut wire, code) =
            Mqtt5Wire::connect(broker.port, id, None, JWT, Some(first.as_bytes()));
        assert_eq!(code, Some(raw::ACCEPTED));
        // Mosquitto 2.0 answers with a CONNACK "not authorized" and closes; whatever it
        // sends, the connection ends and further packets get no answer.
        let answer = wire.reauthenticate(JWT, data.as_bytes());
        assert!(
            answer
                .as_ref()
                .is_none_or(|a| a.kind != AUTH || a.reason() != 0),
            "{answer:?}"
        );
        while wire.read().is_some() {}
        assert_eq!(wire.publish("a/1", b"x"), None);
        broker.log.wait_for_text(&format!(
            "jwt-auth: re-authentication of client '{id}' refused: {why}"
        ));
    }
}

#[test]
fn a_token_in_the_username_becomes_the_username() {
    let broker =
        Broker::start(&BrokerConfig::with_secret(SECRET).option("token_source", "username"));
    let t = token("alice", json!({"publish_acl": "a/#"}));
    let session = raw::connect(broker.port, 5, "in-username", Some(t.as_bytes()), None);
    assert_eq!(session.code, Some(raw::ACCEPTED));
    broker
        .log
        .wait_for_text("as in-username (p5, c1, k60, u'alice')");
    // rumqttc sends a password too; it is not looked at.
    let client = Mqtt5::login(broker.port, "in-username-2", &t, "ignored").unwrap();
    assert!(accepted(client.publish("a/1", "x")));
    assert_eq!(client.publish("b/1", "x"), PubAckReason::NotAuthorized);
    let bad = token("alice", json!({"exp": now() - 10}));
    let session = raw::connect(
        broker.port,
        4,
        "expired-username",
        Some(bad.as_bytes()),
        None,
    );
    assert_eq!(session.code, Some(raw::V3_NOT_AUTHORIZED));
}

#[test]
fn placeholders_follow_the_client_and_hostile_ids_get_nothing() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET));
    let t = token(
        "alice",
        json!({
            "publish_acl": ["devices/%c/up", "users/${username}/#"],
            "subscribe_acl": "devices/${clientid}/down",
        }),
    );
    let device = Mqtt5::login(broker.port, "dev-7", "alice", &t).unwrap();
    assert!(accepted(device.publish("devices/dev-7/up", "x")));
    assert_eq!(
        device.publish("devices/dev-8/up", "x"),
        PubAckReason::NotAuthorized
    );
    assert!(accepted(device.publish("users/alice/1", "x")));
    assert!(matches!(
        device.subscribe("devices/dev-7/down"),
        SubscribeReasonCode::Success(_)
    ));

    for hostile in ["a/+", "#", "x/y", "+"] {
        let client = Mqtt5::login(broker.port, hostile, "alice", &t).unwrap();
        for topic in [
            "devices/a/up",
            "devices/x/y/up",
            "devices//up",
            "devices/%c/up",
        ] {
            assert_eq!(
                client.publish(topic, "x"),
                PubAckReason::NotAuthorized,
                "{hostile} {topic}"
            );
        }
        assert_eq!(
            client.subscribe("devices/#"),
            SubscribeReasonCode::NotAuthorized,
            "{hostile}"
        );
        assert!(accepted(client.publish("users/alice/2", "x")), "{hostile}");
        broker.log.wait_for_text(&format!(
            "jwt-auth: client '{hostile}': the client id is empty, starts with '$' or holds '+', '#', '/' or NUL; patterns using it match nothing"
        ));
    }
    // A client id starting with `$` would turn `%c/#` into `$CONTROL/#` or `$SYS/#`.
    let rooted = token(
        "alice",
        json!({"publish_acl": "%c/#", "subscribe_acl": "%c/#", "receive_acl": "%c/#"}),
    );
    for id in ["$CONTROL", "$SYS"] {
        let client = Mqtt5::login(broker.port, id, "alice", &rooted).unwrap();
        assert_eq!(
            client.publish(&format!("{id}/dynamic-security/v1"), "{}"),
            PubAckReason::NotAuthorized,
            "{id}"
        );
        assert_eq!(
            client.subscribe(&format!("{id}/#")),
            SubscribeReasonCode::NotAuthorized,
            "{id}"
        );
    }
    // An empty client id gets one assigned by the broker before authentication.
    let client = Mqtt5::login(broker.port, "", "alice", &t).unwrap();
    assert_eq!(
        client.publish("devices//up", "x"),
        PubAckReason::NotAuthorized
    );
}

#[test]
fn a_superuser_may_do_everything() {
    let broker =
        Broker::start(&BrokerConfig::with_secret(SECRET).option("superuser_claim", "admin"));
    let admin = token("root", json!({"admin": true}));
    let root = Mqtt5::login(broker.port, "root", "root", &admin).unwrap();
    assert!(matches!(
        root.subscribe("#"),
        SubscribeReasonCode::Success(_)
    ));
    assert!(accepted(root.publish("any/topic", "x")));
    assert_eq!(root.next_message(), ("any/topic".into(), "x".into()));
    assert!(matches!(
        root.subscribe("$SYS/broker/version"),
        SubscribeReasonCode::Success(_)
    ));
    assert_eq!(root.next_message().0, "$SYS/broker/version");
    // "true" as a string is not true.
    let fake = token("eve", json!({"admin": "true", "publish_acl": "eve/#"}));
    let eve = Mqtt5::login(broker.port, "eve", "eve", &fake).unwrap();
    assert_eq!(eve.publish("any/topic", "x"), PubAckReason::NotAuthorized);
    assert_eq!(eve.subscribe("#"), SubscribeReasonCode::NotAuthorized);
}

/// Mosquitto re-checks every client on SIGHUP with the username and password it holds:
/// clients whose token came as authentication data or as the username must pass too.
#[test]
fn clients_of_every_token_source_stay_connected_across_a_reload() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET).option("token_source", "either"));
    let t = token("alice", json!({"publish_acl": "a/#"}));
    let (mut enhanced, code) =
        Mqtt5Wire::connect(broker.port, "by-auth-data", None, JWT, Some(t.as_bytes()));
    assert_eq!(code, Some(raw::ACCEPTED));
    let by_username = Mqtt5::login(broker.port, "by-username", &t, "not a token").unwrap();
    let by_password = Mqtt5::login(broker.port, "by-password", "alice", &t).unwrap();
    broker.reload();
    for id in ["by-auth-data", "by-username", "by-password"] {
        broker
            .log
            .wait_for_text(&format!("re-check of client '{id}': still admitted"));
    }
    assert!(delivered(enhanced.publish("a/1", b"x")));
    assert!(accepted(by_username.publish("a/2", "x")));
    assert!(accepted(by_password.publish("a/3", "x")));
}
