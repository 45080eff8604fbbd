//! Every key source through the real broker, and key rotation by SIGHUP.

mod support;

use serde_json::json;
use support::clients::v5::{self, ConnectReturnCode, Mqtt5, accepted};
use support::tokens::{self, claims, pyjwt, pyjwt_rotated};
use support::{Broker, BrokerConfig, fixture};

/// Connects as `alice` with `token`; the CONNACK decides.
fn login(broker: &Broker, id: &str, token: &str) -> Result<Mqtt5, ConnectReturnCode> {
    Mqtt5::login(broker.port, id, "alice", token)
}

fn assert_refused(broker: &Broker, id: &str, token: &str) {
    assert_eq!(
        login(broker, id, token).err(),
        Some(ConnectReturnCode::NotAuthorized),
        "{id}"
    );
}

#[test]
fn an_hmac_secret_from_a_file_or_encoded_in_the_option() {
    let from_file = Broker::start(
        &BrokerConfig::default()
            .option("algorithm", "HS256,HS384,HS512")
            .option("secret_key_file", &fixture("keys/hmac.secret")),
    );
    for alg in ["HS256", "HS384", "HS512"] {
        login(&from_file, alg, &pyjwt(alg, "token")).expect(alg);
    }

    let secret = std::fs::read_to_string(fixture("keys/hmac.secret")).unwrap();
    let secret = secret.trim_end().as_bytes();
    for (encoding, engine) in [
        ("base64", base64::engine::general_purpose::STANDARD),
        (
            "base64url",
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ),
    ] {
        let encoded = base64::Engine::encode(&engine, secret);
        let broker = Broker::start(
            &BrokerConfig::default()
                .option("secret_key", &encoded)
                .option("secret_key_encoding", encoding),
        );
        login(&broker, encoding, &pyjwt("HS256", "token")).expect(encoding);
        // The encoded text itself is not the secret.
        let as_text = Broker::start(&BrokerConfig::default().option("secret_key", &encoded));
        assert_refused(&as_text, encoding, &pyjwt("HS256", "token"));
    }
}

#[test]
fn a_pem_bundle_of_mixed_keys_and_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let mut pem = Vec::new();
    for file in [
        "rsa.cert.pem",
        "secp256k1.pub.pem",
        "ec521.pub.pem",
        "ed25519.pub.pem",
    ] {
        pem.extend(std::fs::read(fixture(&format!("keys/{file}"))).unwrap());
    }
    std::fs::write(&bundle, pem).unwrap();
    let broker = Broker::start(
        &BrokerConfig::default()
            .option("algorithm", "RS256,PS512,ES256K,ES512,EdDSA")
            .option("public_key_file", bundle.to_str().unwrap()),
    );
    for alg in ["RS256", "PS512", "ES256K", "ES512", "ES521", "EdDSA"] {
        login(&broker, alg, &pyjwt(alg, "token")).expect(alg);
    }
    // Configured, but the bundle has no key that signed it.
    assert_refused(&broker, "rotated", &pyjwt_rotated());
    // Not configured, though a bundle key would fit it.
    assert_refused(&broker, "RS384", &pyjwt("RS384", "token"));
    broker.log.wait_for_text(
        "refused client 'RS384' (username 'alice'): algorithm 'RS384' is not accepted",
    );
}

#[test]
fn a_jwk_set_with_every_key_type() {
    let algorithms = "HS256,RS256,PS384,ES256,ES256K,ES384,ES512,EdDSA";
    let broker = Broker::start(
        &BrokerConfig::default()
            .option("algorithm", algorithms)
            .option("jwks_file", &fixture("keys/jwks.json")),
    );
    broker
        .log
        .wait_for_text("passed over key 'encryption': its use is 'enc', not 'sig'");
    for alg in algorithms.split(',') {
        login(&broker, alg, &pyjwt(alg, "token_with_kid")).expect(alg);
        login(&broker, &format!("{alg}-no-kid"), &pyjwt(alg, "token")).expect(alg);
    }
    assert_refused(&broker, "unknown-kid", &pyjwt_rotated());
    broker.log.wait_for_text(
        "refused client 'unknown-kid' (username 'alice'): no key has the token's kid 'rsa-2'",
    );
}

/// An operator swaps the key set file and sends SIGHUP: clients already connected stay,
/// an offline durable session keeps receiving, the next CONNECT is checked with the new
/// keys, and a broken file changes nothing. (Mosquitto re-checks every client it holds on
/// reload, offline ones included, and disconnects the ones refused.)
#[test]
fn sighup_rotates_the_keys_and_keeps_them_when_the_new_file_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::copy(fixture("keys/jwks.json"), &jwks).unwrap();
    let broker = Broker::start(
        &BrokerConfig::default()
            .option("algorithm", "RS256,HS256")
            .option("secret_key_file", &fixture("keys/hmac.secret"))
            .option("jwks_file", jwks.to_str().unwrap()),
    );
    let (current, next) = (pyjwt("RS256", "token_with_kid"), pyjwt_rotated());
    let connected = login(&broker, "connected", &current).expect("current key");
    assert_refused(&broker, "too-early", &next);
    let durable = |token: &str| {
        let mut options = v5::login(broker.port, "durable", "alice", token);
        options.set_clean_start(false);
        options.set_session_expiry_interval(Some(300));
        Mqtt5::connect(options)
    };
    let offline = durable(&current).expect("current key");
    assert!(matches!(
        offline.subscribe("commands/alice/+"),
        v5::SubscribeReasonCode::Success(_)
    ));
    offline.disconnect();
    broker.log.wait_for_text("Client durable disconnected");

    std::fs::copy(fixture("keys/jwks-rotated.json"), &jwks).unwrap();
    broker.reload();
    broker
        .log
        .wait_for_text("jwt-auth: reloaded keys; 2 keys loaded");
    broker
        .log
        .wait_for_text("re-check of client 'connected': still admitted");
    broker
        .log
        .wait_for_text("re-check of client 'durable': still admitted");
    assert_refused(&broker, "rotated-out", &current);
    login(&broker, "rotated-in", &next).expect("next key");
    assert!(accepted(connected.publish("devices/alice/still-here", "x")));

    // Queued for the offline session under its own rights, delivered when it comes back
    // with a token from the new key.
    let secret = std::fs::read(fixture("keys/hmac.secret")).unwrap();
    let publisher_claims = claims("publisher", json!({"publish_acl": "commands/#"}));
    let publisher_token = tokens::raw(
        r#"{"alg":"HS256"}"#,
        &publisher_claims.to_string(),
        secret.trim_ascii_end(),
    );
    let publisher = Mqtt5::login(broker.port, "publisher", "publisher", &publisher_token)
        .expect("HS256 publisher");
    assert!(accepted(
        publisher.publish("commands/alice/queued", "while offline")
    ));
    let back = durable(&next).expect("next key");
    assert_eq!(
        back.next_message(),
        ("commands/alice/queued".into(), "while offline".into())
    );

    std::fs::write(&jwks, "{\"keys\": [").unwrap();
    broker.reload();
    broker.log.wait_for_text(
        "jwt-auth: reload failed, keeping the previous keys: plugin_opt_jwks_file: ",
    );
    login(&broker, "after-bad-reload", &next).expect("previous keys kept");
    assert_refused(&broker, "still-rotated-out", &current);

    std::fs::copy(fixture("keys/jwks.json"), &jwks).unwrap();
    broker.reload();
    broker
        .log
        .wait_for_nth("a second good reload", 2, |l| l.contains("reloaded keys"));
    login(&broker, "rotated-back", &current).expect("current key again");
    assert!(accepted(connected.publish("devices/alice/still-here", "y")));

    // Emptying the set revokes every key in it, with a warning; HS256 still works.
    std::fs::write(&jwks, "{\"keys\": []}").unwrap();
    broker.reload();
    broker.log.wait_for_text(
        "jwt-auth: after reload, plugin_opt_algorithm: RS256 needs an RSA key and none is configured",
    );
    assert_refused(&broker, "revoked", &current);
    login(&broker, "hmac-after-revocation", &pyjwt("HS256", "token")).expect("HS256");
}
