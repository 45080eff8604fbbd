//! The broker keeps serving whatever clients send and whatever goes wrong inside the
//! plugin: hostile CONNECTs by the hundred, panics injected into callbacks, and several
//! plugin instances side by side.

mod support;

use serde_json::json;
use support::clients::v5::{self, Mqtt5, PubAckReason, SubscribeReasonCode, accepted};
use support::raw;
use support::tokens::{SECRET, claims, hs256, now};
use support::{Broker, BrokerConfig, fixture};

/// Whether the plugin should refuse the password with a logged reason (it looks like a
/// JWT) or leave it to other checks with a debug line (it does not).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Refused,
    NotAJwt,
}

fn b64(bytes: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// Every kind of hostile password, with what the plugin must make of it.
fn hostile_passwords() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let ok = || claims("alice", json!({})).to_string();
    let hs = |header: &str, claims: &str| support::tokens::raw(header, claims, SECRET.as_bytes());
    let good = hs256(&claims("alice", json!({})));
    let rsa_pem = std::fs::read(fixture("keys/rsa.pub.pem")).unwrap();
    let nested = "[".repeat(5_000) + &"]".repeat(5_000);
    // Ten thousand one-character patterns: the most a 65,535-byte password can carry.
    let mut many_bad: Vec<String> = (0..10_000).map(|i| (i % 10).to_string()).collect();
    many_bad.push("a/#/b".into());
    let long_junk: Vec<u8> = (0..65_535u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut long_nul = long_junk.clone();
    long_nul[100] = 0;
    vec![
        (
            "alg none",
            format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(ok().as_bytes())).into_bytes(),
            Expect::Refused,
        ),
        (
            "HS256 keyed with the RSA public key",
            support::tokens::raw(r#"{"alg":"HS256"}"#, &ok(), &rsa_pem).into_bytes(),
            Expect::Refused,
        ),
        (
            "truncated signature",
            good.as_bytes()[..good.len() - 5].to_vec(),
            Expect::Refused,
        ),
        (
            "truncated to two parts",
            good.as_bytes()[..good.rfind('.').unwrap()].to_vec(),
            Expect::NotAJwt,
        ),
        ("over-long junk", long_junk, Expect::NotAJwt),
        ("NUL inside", long_nul, Expect::NotAJwt),
        (
            "not UTF-8",
            b"\xff\xfe\xfd.\x80\x81.\xc3\x28".to_vec(),
            Expect::NotAJwt,
        ),
        (
            // The broker passes the password as a C string: it ends at the NUL.
            "NUL inside a token",
            [&good.as_bytes()[..20], b"\0", &good.as_bytes()[21..]].concat(),
            Expect::NotAJwt,
        ),
        (
            "10,000 patterns, one invalid",
            hs256(&claims("alice", json!({ "publish_acl": many_bad }))).into_bytes(),
            Expect::Refused,
        ),
        (
            "deeply nested claims",
            hs(
                r#"{"alg":"HS256"}"#,
                &format!(r#"{{"username":"alice","x":{nested}}}"#),
            )
            .into_bytes(),
            Expect::Refused,
        ),
        (
            "deeply nested header",
            hs(&format!(r#"{{"alg":"HS256","x":{nested}}}"#), &ok()).into_bytes(),
            Expect::NotAJwt,
        ),
        (
            "number as user",
            hs256(&json!({"username": 42, "exp": now() + 60})).into_bytes(),
            Expect::Refused,
        ),
        (
            "numbers as patterns",
            hs256(&claims("alice", json!({"publish_acl": [1, 2]}))).into_bytes(),
            Expect::Refused,
        ),
        (
            "number as alg",
            hs(r#"{"alg":256}"#, &ok()).into_bytes(),
            Expect::Refused,
        ),
        (
            "duplicate user claim",
            hs(
                r#"{"alg":"HS256"}"#,
                &format!(
                    r#"{{"username":"alice","username":"mallory","exp":{}}}"#,
                    now() + 60
                ),
            )
            .into_bytes(),
            Expect::Refused,
        ),
        (
            "expired",
            hs256(&claims("alice", json!({"exp": now() - 60}))).into_bytes(),
            Expect::Refused,
        ),
    ]
}

/// 200 hostile clients at once, every kind of bad password among them.
#[test]
fn two_hundred_hostile_clients_at_once_leave_the_broker_serving() {
    let mut broker = Broker::start(
        &BrokerConfig::with_secret(SECRET)
            .option("algorithm", "HS256,RS256")
            .option("public_key_file", &fixture("keys/rsa.pub.pem")),
    );
    let kinds = hostile_passwords();
    let port = broker.port;
    let clients: Vec<_> = (0..200)
        .map(|i| {
            let (what, password, expect) = kinds[i % kinds.len()].clone();
            std::thread::spawn(move || {
                let id = format!("hostile-{i}");
                let version = if i % 2 == 0 { 5 } else { 4 };
                let session = raw::connect(port, version, &id, Some(b"alice"), Some(&password));
                (id, what, expect, session.code)
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for (id, what, _, code) in &results {
        assert!(
            matches!(code, Some(raw::V5_NOT_AUTHORIZED | raw::V3_NOT_AUTHORIZED)),
            "{id} ({what}): {code:?}"
        );
    }
    assert!(broker.is_running());
    let t = hs256(&claims("alice", json!({"publish_acl": "a/#"})));
    let valid = Mqtt5::login(broker.port, "valid-after", "alice", &t).unwrap();
    assert!(accepted(valid.publish("a/1", "still serving")));

    // One line from the plugin per hostile client: a refusal with its reason, or the note
    // that the password is not a JWT. The valid client's line comes after all of them.
    broker
        .log
        .wait_for_text("client 'valid-after' authenticated as 'alice'");
    let lines = broker.log.lines();
    for (id, what, expect, _) in &results {
        let quoted = format!("client '{id}'");
        let mine: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("jwt-auth:") && l.contains(&quoted))
            .collect();
        assert_eq!(mine.len(), 1, "{id} ({what}): {mine:?}");
        let expected = match expect {
            Expect::Refused => format!("jwt-auth: refused client '{id}' (username 'alice'): "),
            Expect::NotAJwt => format!("jwt-auth: client '{id}' sent a password that is not a JWT"),
        };
        assert!(mine[0].starts_with(&expected), "{id} ({what}): {}", mine[0]);
    }
    // The token itself is never in the log.
    let secret_part = &t[t.rfind('.').unwrap()..];
    assert!(!lines.iter().any(|l| l.contains(secret_part)));
}

#[test]
fn a_token_with_ten_thousand_patterns_is_served() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET));
    let many: Vec<String> = (0..10_000).map(|i| (i % 10).to_string()).collect();
    let t = hs256(&claims("alice", json!({ "publish_acl": many })));
    assert!(t.len() < 65_535, "{} bytes", t.len());
    let client = Mqtt5::login(broker.port, "many", "alice", &t).unwrap();
    assert!(accepted(client.publish("7", "x")));
    assert_eq!(client.publish("x", "x"), PubAckReason::NotAuthorized);
}

/// The test hook of debug builds makes a callback panic for clients whose id starts
/// with `panic-<callback>`; release builds do not have it.
#[test]
fn a_panic_inside_the_plugin_becomes_a_refusal_or_a_denial() {
    let mut broker = Broker::start(
        &BrokerConfig::with_secret(SECRET)
            .option("test_panic", "basic_auth,ext_auth,acl_check,disconnect"),
    );
    let t = hs256(&claims(
        "alice",
        json!({"publish_acl": "a/#", "subscribe_acl": "a/#", "receive_acl": "a/#"}),
    ));
    assert_eq!(
        Mqtt5::login(broker.port, "panic-basic_auth", "alice", &t).err(),
        Some(v5::ConnectReturnCode::NotAuthorized)
    );
    broker
        .log
        .wait_for_text("jwt-auth: internal error in basic auth; answered with code 11");
    let (_, code) = raw::Mqtt5Wire::connect(
        broker.port,
        "panic-ext_auth",
        None,
        "JWT",
        Some(t.as_bytes()),
    );
    assert_eq!(code, Some(raw::V5_NOT_AUTHORIZED));

    let denied = Mqtt5::login(broker.port, "panic-acl_check", "alice", &t).unwrap();
    assert_eq!(denied.publish("a/1", "x"), PubAckReason::NotAuthorized);
    assert_eq!(denied.subscribe("a/#"), SubscribeReasonCode::NotAuthorized);
    broker
        .log
        .wait_for_text("jwt-auth: internal error in ACL check; answered with code 12");

    Mqtt5::login(broker.port, "panic-disconnect", "alice", &t)
        .unwrap()
        .disconnect();
    broker
        .log
        .wait_for_text("jwt-auth: internal error in disconnect; answered with code 0");

    // The session table was borrowed when the ACL check panicked; it still works.
    let fine = Mqtt5::login(broker.port, "fine", "alice", &t).unwrap();
    assert!(accepted(fine.publish("a/2", "x")));
    assert_eq!(fine.publish("b/1", "x"), PubAckReason::NotAuthorized);
    assert!(broker.is_running());
}

/// `per_listener_settings true`: each listener's plugin instance has its own keys and
/// claim names, and judges only its own listener's clients.
#[test]
fn two_listeners_two_instances_each_with_its_own_configuration() {
    let broker = Broker::start(
        &BrokerConfig::with_secret("first-listener-secret-0123456789")
            .option("publish_claim", "pub")
            .second_listener(&[
                ("secret_key", "second-listener-secret-0123456789"),
                ("user_claim", "sub"),
            ]),
    );
    let sign = |secret: &str, claims: serde_json::Value| {
        support::tokens::raw(r#"{"alg":"HS256"}"#, &claims.to_string(), secret.as_bytes())
    };
    let exp = now() + 600;
    let first = sign(
        "first-listener-secret-0123456789",
        json!({"username": "alice", "exp": exp, "pub": "a/#"}),
    );
    let second = sign(
        "second-listener-secret-0123456789",
        json!({"sub": "bob", "exp": exp, "publish_acl": "b/#"}),
    );
    let alice = Mqtt5::login(broker.port, "alice-1", "alice", &first).unwrap();
    assert!(accepted(alice.publish("a/1", "x")));
    assert_eq!(alice.publish("b/1", "x"), PubAckReason::NotAuthorized);
    let bob = Mqtt5::login(broker.second_port, "bob-2", "bob", &second).unwrap();
    assert!(accepted(bob.publish("b/1", "x")));
    assert_eq!(bob.publish("a/1", "x"), PubAckReason::NotAuthorized);
    // Each listener refuses the other's tokens.
    assert_eq!(
        Mqtt5::login(broker.second_port, "alice-2", "alice", &first).err(),
        Some(v5::ConnectReturnCode::NotAuthorized)
    );
    assert_eq!(
        Mqtt5::login(broker.port, "bob-1", "bob", &second).err(),
        Some(v5::ConnectReturnCode::NotAuthorized)
    );
}
