//! Topic authorization through the real broker.
//!
//! "Not delivered" is shown without waiting for a silence: the denied message is sent
//! first and an allowed one after it on the same path; when the allowed one arrives, the
//! denied one would have arrived before it.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::clients::v3::{self, Mqtt3};
use support::clients::v5::{self, LastWill, Mqtt5, PubAckReason, QoS, SubscribeReasonCode};
use support::tokens::{self, SECRET, claims, hs256};
use support::{Broker, BrokerConfig};

fn hs_broker() -> Broker {
    Broker::start(&BrokerConfig::with_secret(SECRET))
}

fn token(user: &str, acl: Value) -> String {
    hs256(&claims(user, acl))
}

/// A client allowed to watch everything (but `$` topics).
fn watcher(broker: &Broker, id: &str) -> Mqtt5 {
    let t = token(
        "watcher",
        json!({"subscribe_acl": "#", "receive_acl": "#", "publish_acl": "#"}),
    );
    let watcher = Mqtt5::login(broker.port, id, "watcher", &t).unwrap();
    assert!(matches!(
        watcher.subscribe("#"),
        SubscribeReasonCode::Success(_)
    ));
    watcher
}

#[test]
fn publish_is_allowed_only_on_publish_patterns() {
    let broker = hs_broker();
    let watcher = watcher(&broker, "watcher");
    let alice = Mqtt5::login(
        broker.port,
        "alice",
        "alice",
        &token("alice", json!({"publish_acl": ["devices/alice/#"]})),
    )
    .unwrap();
    assert_eq!(
        alice.publish("devices/bob/temp", "denied"),
        PubAckReason::NotAuthorized
    );
    assert_eq!(
        alice.publish("devices/alice", "allowed"),
        PubAckReason::Success
    );
    assert_eq!(
        watcher.next_message(),
        ("devices/alice".into(), "allowed".into())
    );
    assert_eq!(
        alice.publish("devices/alice/temp/1", "deep"),
        PubAckReason::Success
    );
    assert_eq!(
        watcher.next_message(),
        ("devices/alice/temp/1".into(), "deep".into())
    );
    broker.log.wait_for_text("Denied PUBLISH from alice");
}

#[test]
fn publish_denial_over_mqtt311_reaches_no_subscriber() {
    let broker = hs_broker();
    let watcher = watcher(&broker, "watcher");
    let alice = Mqtt3::login(
        broker.port,
        "alice3",
        "alice",
        &token("alice", json!({"publish_acl": "up/alice"})),
    )
    .unwrap();
    alice.publish("up/bob", "denied");
    alice.publish("up/alice", "allowed");
    assert_eq!(
        watcher.next_message(),
        ("up/alice".into(), "allowed".into())
    );
}

#[test]
fn subscribe_is_allowed_only_when_the_patterns_cover_the_filter() {
    let broker = hs_broker();
    let t = token(
        "alice",
        json!({"subscribe_acl": ["my/+/other", "a/#"], "receive_acl": "#"}),
    );
    let alice = Mqtt5::login(broker.port, "alice", "alice", &t).unwrap();
    for (filter, allowed) in [
        ("my/+/other", true),
        ("my/x/other", true),
        ("my/#", false),
        ("my/x/other/deeper", false),
        ("a", true),
        ("a/+/c", true),
        ("a/#", true),
        ("+", false),
        ("#", false),
        ("$share/workers/my/x/other", true),
        ("$share/workers/#", false),
    ] {
        let reason = alice.subscribe(filter);
        assert_eq!(
            matches!(reason, SubscribeReasonCode::Success(_)),
            allowed,
            "{filter}: {reason:?}"
        );
        if !allowed {
            assert_eq!(reason, SubscribeReasonCode::NotAuthorized, "{filter}");
        }
    }
    let alice3 = Mqtt3::login(broker.port, "alice3", "alice", &t).unwrap();
    assert_eq!(alice3.subscribe("my/#"), v3::SubscribeReasonCode::Failure);
    assert!(matches!(
        alice3.subscribe("my/y/other"),
        v3::SubscribeReasonCode::Success(_)
    ));
}

#[test]
fn a_hash_pattern_does_not_grant_sys_topics() {
    let broker = hs_broker();
    let t = token("alice", json!({"subscribe_acl": "#", "receive_acl": "#"}));
    let alice = Mqtt5::login(broker.port, "alice", "alice", &t).unwrap();
    assert_eq!(
        alice.subscribe("$SYS/#"),
        SubscribeReasonCode::NotAuthorized
    );
    let t = token(
        "ops",
        json!({"subscribe_acl": "$SYS/#", "receive_acl": "$SYS/#"}),
    );
    let ops = Mqtt5::login(broker.port, "ops", "ops", &t).unwrap();
    assert!(matches!(
        ops.subscribe("$SYS/broker/version"),
        SubscribeReasonCode::Success(_)
    ));
}

#[test]
fn only_messages_on_receive_patterns_are_delivered() {
    let broker = hs_broker();
    let publisher = watcher(&broker, "publisher");
    let t = token(
        "alice",
        json!({"subscribe_acl": "sensors/#", "receive_acl": ["sensors/+/temp"]}),
    );
    let alice = Mqtt5::login(broker.port, "alice", "alice", &t).unwrap();
    assert!(matches!(
        alice.subscribe("sensors/#"),
        SubscribeReasonCode::Success(_)
    ));
    assert_eq!(
        publisher.publish("sensors/a/humidity", "denied"),
        PubAckReason::Success
    );
    assert_eq!(
        publisher.publish("sensors/a/temp", "allowed"),
        PubAckReason::Success
    );
    assert_eq!(
        alice.next_message(),
        ("sensors/a/temp".into(), "allowed".into())
    );
    // The publisher, allowed everything, saw both.
    assert_eq!(publisher.next_message().0, "sensors/a/humidity");
}

#[test]
fn retained_messages_are_filtered_at_subscribe() {
    let broker = hs_broker();
    let publisher = watcher(&broker, "publisher");
    assert_eq!(
        publisher.publish_retained("r/denied", "no"),
        PubAckReason::Success
    );
    assert_eq!(
        publisher.publish_retained("r/allowed", "yes"),
        PubAckReason::Success
    );
    let t = token(
        "alice",
        json!({"subscribe_acl": "r/#", "receive_acl": "r/allowed"}),
    );
    let alice = Mqtt5::login(broker.port, "alice", "alice", &t).unwrap();
    assert!(matches!(
        alice.subscribe("r/#"),
        SubscribeReasonCode::Success(_)
    ));
    assert_eq!(
        publisher.publish("r/allowed", "live"),
        PubAckReason::Success
    );
    let mut seen = Vec::new();
    loop {
        let message = alice.next_message();
        if message.1 == "live" {
            break;
        }
        seen.push(message);
    }
    assert_eq!(seen, vec![("r/allowed".to_owned(), "yes".to_owned())]);
}

#[test]
fn without_disconnect_on_expiry_an_expired_token_loses_every_right_while_connected() {
    let broker =
        Broker::start(&BrokerConfig::with_secret(SECRET).option("disconnect_on_expiry", "false"));
    // Long enough to outlast the churn on a loaded machine, then it expires.
    let expires = tokens::now() + 5;
    let t = hs256(&claims(
        "alice",
        json!({"exp": expires, "publish_acl": "a/#", "subscribe_acl": "a/#", "receive_acl": "a/#"}),
    ));
    let alice = Mqtt5::login(broker.port, "alice", "alice", &t).unwrap();
    assert!(v5::accepted(alice.publish("a/1", "before")));
    // Waiting for the clock is the point of this test, not a synchronisation.
    let wait = expires.saturating_sub(tokens::now()) + 1;
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(alice.publish("a/2", "after"), PubAckReason::NotAuthorized);
    assert_eq!(alice.subscribe("a/#"), SubscribeReasonCode::NotAuthorized);
    broker.log.wait_for_text(
        "jwt-auth: token of client 'alice' has expired; denying all its topic access",
    );
    assert_eq!(broker.log.count("has expired; denying"), 1);
}

#[test]
fn acl_file_decides_for_tokens_without_acl_claims_and_password_file_clients() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(
        &acl,
        "user alice\ntopic readwrite alice/#\n\nuser legacy\ntopic readwrite legacy/#\n",
    )
    .unwrap();
    let passwords = support::password_file(dir.path(), "legacy", "plain-secret");
    let broker = Broker::start(
        &BrokerConfig::with_secret(SECRET)
            .line(format!("acl_file {}", acl.display()))
            .line(format!("password_file {}", passwords.display())),
    );
    // A token without ACL claims: the plugin defers, acl_file decides.
    let alice = Mqtt5::login(broker.port, "alice", "alice", &token("alice", json!({}))).unwrap();
    assert!(v5::accepted(alice.publish("alice/1", "ok")));
    assert_eq!(alice.publish("legacy/1", "no"), PubAckReason::NotAuthorized);
    // A token with ACL claims: the plugin decides, acl_file is not consulted.
    let bob = Mqtt5::login(
        broker.port,
        "bob",
        "bob",
        &token("bob", json!({"publish_acl": "bob/#"})),
    )
    .unwrap();
    assert!(v5::accepted(bob.publish("bob/1", "ok")));
    assert_eq!(bob.publish("alice/1", "no"), PubAckReason::NotAuthorized);
    // A password-file client beside them, judged by acl_file.
    let legacy = Mqtt5::login(broker.port, "legacy", "legacy", "plain-secret").unwrap();
    assert!(v5::accepted(legacy.publish("legacy/1", "ok")));
    assert_eq!(legacy.publish("alice/1", "no"), PubAckReason::NotAuthorized);
}

#[test]
fn a_will_is_checked_against_publish_patterns() {
    let broker = hs_broker();
    let watcher = watcher(&broker, "watcher");
    let t = token("alice", json!({"publish_acl": "status/alice"}));
    let connect = |id: &str, will_topic: &str| {
        let mut options = v5::login(broker.port, id, "alice", &t);
        options.set_last_will(LastWill::new(
            will_topic,
            format!("{id} gone"),
            QoS::AtLeastOnce,
            false,
            None,
        ));
        Mqtt5::connect(options).unwrap()
    };
    connect("denied-will", "status/bob").kill();
    broker
        .log
        .wait_for_text("Client denied-will closed its connection");
    connect("allowed-will", "status/alice").kill();
    assert_eq!(
        watcher.next_message(),
        ("status/alice".into(), "allowed-will gone".into())
    );

    // An MQTT 3.1.1 clean session: its state ends with the connection, after the will.
    let mut options = v3::login(broker.port, "v3-will", "alice", &t);
    options.set_last_will(v3::LastWill::new(
        "status/alice",
        "v3 gone",
        v3::QoS::AtLeastOnce,
        false,
    ));
    Mqtt3::connect(options).unwrap().kill();
    assert_eq!(
        watcher.next_message(),
        ("status/alice".into(), "v3 gone".into())
    );
}

#[test]
fn messages_queued_for_an_offline_session_are_checked_against_its_receive_patterns() {
    let broker = hs_broker();
    let publisher = watcher(&broker, "publisher");
    let narrow = token(
        "alice",
        json!({"subscribe_acl": "q/#", "receive_acl": "q/allowed/#"}),
    );
    // The device comes back with a token that would let it receive everything: a message
    // that reaches it was queued while it was offline, under the old token's rights.
    let broad = token(
        "alice",
        json!({"subscribe_acl": "q/#", "receive_acl": "q/#"}),
    );
    let durable = |token: &str| {
        let mut options = v5::login(broker.port, "durable", "alice", token);
        options.set_clean_start(false);
        options.set_session_expiry_interval(Some(300));
        options
    };
    let alice = Mqtt5::connect(durable(&narrow)).unwrap();
    assert!(matches!(
        alice.subscribe("q/#"),
        SubscribeReasonCode::Success(_)
    ));
    alice.disconnect();
    broker.log.wait_for_text("Client durable disconnected");
    assert_eq!(publisher.publish("q/denied/1", "no"), PubAckReason::Success);
    assert_eq!(
        publisher.publish("q/allowed/1", "yes"),
        PubAckReason::Success
    );
    let alice = Mqtt5::connect(durable(&broad)).unwrap();
    assert_eq!(alice.next_message(), ("q/allowed/1".into(), "yes".into()));

    // The same over MQTT 3.1.1 (clean session false).
    let durable3 = |token: &str| {
        let mut options = v3::login(broker.port, "durable3", "alice", token);
        options.set_clean_session(false);
        options
    };
    let alice3 = Mqtt3::connect(durable3(&narrow)).unwrap();
    assert!(matches!(
        alice3.subscribe("q/#"),
        v3::SubscribeReasonCode::Success(_)
    ));
    alice3.disconnect();
    broker.log.wait_for_text("Client durable3 disconnected");
    assert_eq!(publisher.publish("q/denied/2", "no"), PubAckReason::Success);
    assert_eq!(
        publisher.publish("q/allowed/2", "yes"),
        PubAckReason::Success
    );
    let alice3 = Mqtt3::connect(durable3(&broad)).unwrap();
    assert_eq!(alice3.next_message(), ("q/allowed/2".into(), "yes".into()));
}

#[test]
fn on_takeover_the_new_connection_token_decides() {
    let broker = hs_broker();
    let old = Mqtt5::login(
        broker.port,
        "device-7",
        "alice",
        &token("alice", json!({"publish_acl": "old/#"})),
    )
    .unwrap();
    assert!(v5::accepted(old.publish("old/1", "x")));
    let new = Mqtt5::login(
        broker.port,
        "device-7",
        "alice",
        &token("alice", json!({"publish_acl": "new/#"})),
    )
    .unwrap();
    old.wait_closed();
    assert!(v5::accepted(new.publish("new/1", "x")));
    assert_eq!(new.publish("old/1", "x"), PubAckReason::NotAuthorized);
}

/// The numbers of the plugin's "client states held" debug lines, in order.
fn states_held(broker: &Broker) -> Vec<usize> {
    broker
        .log
        .lines()
        .iter()
        .filter_map(|l| {
            l.split("; ")
                .nth(1)?
                .strip_suffix(" client states held")?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn client_state_does_not_grow_under_churn() {
    let broker = hs_broker();
    let t = token("alice", json!({"publish_acl": "a/#"}));
    for i in 0..200 {
        Mqtt3::login(broker.port, &format!("churn3-{i}"), "alice", &t)
            .unwrap()
            .disconnect();
    }
    // The log arrives through a pipe: wait for the last line rather than read too early.
    broker
        .log
        .wait_for_nth("the 200th authentication", 200, |l| {
            l.ends_with(" client states held")
        });
    let held = states_held(&broker);
    assert_eq!(held.len(), 200);
    assert!(
        held.iter().all(|&n| n == 1),
        "MQTT 3 clean sessions end with their connection: {held:?}"
    );

    // MQTT 5 does not tell whether a session outlives its connection: those states go when
    // the address is reused or, once the token has expired, at the next sweep.
    // Long enough to outlast the churn on a loaded machine, then it expires.
    let expires = tokens::now() + 5;
    let short = hs256(&claims(
        "alice",
        json!({"exp": expires, "publish_acl": "a/#"}),
    ));
    // More cycles than the 64 states at which the table is first swept.
    for i in 0..100 {
        Mqtt5::login(broker.port, &format!("churn5-{i}"), "alice", &short)
            .unwrap()
            .disconnect();
    }
    std::thread::sleep(Duration::from_secs(
        expires.saturating_sub(tokens::now()) + 1,
    ));
    Mqtt5::login(broker.port, "after", "alice", &t).unwrap();
    broker
        .log
        .wait_for_text("client 'after' authenticated as 'alice'");
    let last = *states_held(&broker).last().unwrap();
    assert!(last <= 64, "{last} states held after the churn");
}
