//! Keys fetched over HTTPS (`jwks_url`, `oidc_issuer`) through the real broker, from a
//! local provider with its own CA that rotates keys, goes down, is slow and serves garbage.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::clients::v5::{ConnectReturnCode, Mqtt5};
use support::idp::{Idp, Reply};
use support::tokens::{self, claims};
use support::{Broker, BrokerConfig, fixture};

const CERTS: &str = "/certs";

/// A JWK set holding the fixture keys with these `kid`s.
fn key_set(kids: &[&str]) -> String {
    let mut keys = Vec::new();
    for file in ["keys/jwks.json", "keys/jwks-rotated.json"] {
        let set: Value = serde_json::from_slice(&std::fs::read(fixture(file)).unwrap()).unwrap();
        keys.extend(
            set["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| kids.contains(&k["kid"].as_str().unwrap_or("")))
                .cloned(),
        );
    }
    assert_eq!(keys.len(), kids.len(), "fixture keys {kids:?}");
    json!({ "keys": keys }).to_string()
}

/// A fresh RS256 token for `alice` (never the same twice, so no cached verification can
/// stand in for the keys), signed by the fixture key that the set calls `kid`.
fn token(kid: &str, extra: Value) -> String {
    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let stem = match kid {
        "rsa" => "rsa",
        _ => "rsa-other",
    };
    let mut claims = claims("alice", extra);
    claims["jti"] = json!(SERIAL.fetch_add(1, Ordering::Relaxed));
    tokens::rs256_with_kid(stem, kid, &claims)
}

fn login(broker: &Broker, id: &str, token: &str) -> Result<Mqtt5, ConnectReturnCode> {
    Mqtt5::login(broker.port, id, "alice", token)
}

fn refused_because(broker: &Broker, id: &str, token: &str, reason: &str) -> String {
    assert_eq!(
        login(broker, id, token).err(),
        Some(ConnectReturnCode::NotAuthorized),
        "{id}"
    );
    broker.log.wait_for_text(&format!(
        "refused client '{id}' (username 'alice'): {reason}"
    ))
}

/// A broker fetching RS256 keys from `idp`'s `/certs`.
fn fetching(idp: &Idp, options: &[(&str, &str)]) -> BrokerConfig {
    fetching_for(idp, "RS256", options)
}

fn fetching_for(idp: &Idp, algorithms: &str, options: &[(&str, &str)]) -> BrokerConfig {
    let mut config = BrokerConfig::default()
        .option("algorithm", algorithms)
        .option("jwks_url", &idp.url(CERTS))
        .option("jwks_ca_file", idp.ca_file.to_str().unwrap());
    for (k, v) in options {
        config = config.option(k, v);
    }
    config
}

/// A provider serving the `rsa` key, and a broker with `options` that has fetched it.
fn serving_rsa(options: &[(&str, &str)]) -> (Idp, Broker) {
    let idp = Idp::start();
    idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
    let broker = Broker::start(&fetching(&idp, options));
    broker.log.wait_for_text(&fetched_line(&idp, "rsa"));
    (idp, broker)
}

/// A broker finding RS256 keys through `idp`'s OpenID discovery for `issuer`.
fn discovering(idp: &Idp, issuer: &str) -> BrokerConfig {
    BrokerConfig::default()
        .option("algorithm", "RS256")
        .option("oidc_issuer", issuer)
        .option("jwks_ca_file", idp.ca_file.to_str().unwrap())
}

fn fetched_line(idp: &Idp, kids: &str) -> String {
    format!("fetched 1 keys from {} (kid: {kids})", idp.url(CERTS))
}

#[test]
fn keys_come_from_the_url_and_a_refresh_brings_the_rotated_set() {
    let (idp, broker) = serving_rsa(&[("jwks_refresh", "1")]);
    let before = login(
        &broker,
        "before",
        &token("rsa", json!({"publish_acl": ["t/#"]})),
    )
    .expect("a token of the fetched key");
    let cached = token("rsa", json!({}));
    login(&broker, "cached", &cached).expect("verified and cached");

    idp.serve(CERTS, Reply::Json(key_set(&["rsa-2"])));
    broker.log.wait_for_text(&fetched_line(&idp, "rsa-2"));
    login(&broker, "after", &token("rsa-2", json!({}))).expect("a token of the new key");
    refused_because(
        &broker,
        "old-key",
        &token("rsa", json!({})),
        "no key has the token's kid 'rsa'",
    );
    // A token verified under the old set is verified again, not taken from the cache.
    refused_because(
        &broker,
        "cached-again",
        &cached,
        "no key has the token's kid 'rsa'",
    );
    // A client connected before the rotation keeps its session and rights.
    assert!(support::clients::v5::accepted(
        before.publish("t/1", "still here")
    ));
}

#[test]
fn an_unknown_kid_asks_for_one_fetch_per_min_refetch() {
    let (idp, broker) = serving_rsa(
        // The flood below must fit in the limit, with room for a loaded machine.
        &[("jwks_refresh", "3600"), ("jwks_min_refetch", "4")],
    );
    assert_eq!(idp.hits(CERTS), 1);

    // Right after a fetch, a token with a new kid may not ask for another.
    idp.serve(CERTS, Reply::Json(key_set(&["rsa", "rsa-2"])));
    refused_because(
        &broker,
        "too-soon",
        &token("rsa-2", json!({})),
        "no key has the token's kid 'rsa-2'; next fetch from",
    );
    // The limit is time itself: wait it out.
    std::thread::sleep(Duration::from_millis(4100));
    refused_because(
        &broker,
        "first",
        &token("rsa-2", json!({})),
        &format!(
            "no key has the token's kid 'rsa-2'; asked {} for its current keys",
            idp.url(CERTS)
        ),
    );
    // A flood of tokens naming kids nobody has asks for nothing more.
    for i in 0..20 {
        let id = format!("flood-{i}");
        let line = refused_because(
            &broker,
            &id,
            &token(&format!("nobody-{i}"), json!({})),
            &format!("no key has the token's kid 'nobody-{i}'"),
        );
        assert!(
            line.contains("is under way") || line.contains("next fetch from"),
            "{line}"
        );
    }
    broker
        .log
        .wait_for_text(&fetched_line(&idp, "rsa, rsa-2").replace("1 keys", "2 keys"));
    login(&broker, "rotated", &token("rsa-2", json!({}))).expect("the refetched key");
    assert_eq!(idp.hits(CERTS), 2, "one refetch for 21 unknown kids");
}

#[test]
fn an_outage_or_garbage_keeps_the_last_keys_and_is_logged_once_per_streak() {
    let (idp, broker) = serving_rsa(&[("jwks_refresh", "1"), ("jwks_min_refetch", "1")]);

    idp.serve(CERTS, Reply::Garbage);
    let line = broker.log.wait_for_text("cannot fetch keys");
    assert!(
        line.contains(&format!("{}: not valid JSON", idp.url(CERTS))),
        "{line}"
    );
    login(&broker, "garbage", &token("rsa", json!({}))).expect("the last good keys serve");

    idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
    broker.log.wait_for_text("works again");

    // Down: refused with a status, then closing connections, for several attempts.
    let base = idp.hits(CERTS);
    idp.serve(CERTS, Reply::Status(503));
    idp.wait_for_hits(CERTS, base + 2);
    idp.serve(CERTS, Reply::Close);
    idp.wait_for_hits(CERTS, base + 4);
    // Fetches up to the third have finished and their news is queued; a login takes it.
    login(&broker, "outage", &token("rsa", json!({}))).expect("the last good keys serve");
    broker
        .log
        .wait_for_text("client 'outage' authenticated as 'alice'");
    let failures: Vec<String> = broker
        .log
        .lines()
        .into_iter()
        .filter(|l| l.contains("cannot fetch keys"))
        .collect();
    assert_eq!(failures.len(), 2, "one line per streak: {failures:#?}");
    assert!(failures[1].contains("503"), "{}", failures[1]);
    assert!(
        failures[1].contains("the keys fetched before stay in use"),
        "{}",
        failures[1]
    );

    idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
    broker
        .log
        .wait_for_nth("the second recovery", 2, |l| l.contains("works again"));
    // The set did not change, so it was not handed over again.
    assert_eq!(broker.log.count("fetched 1 keys"), 1);
}

#[test]
fn a_slow_provider_holds_up_neither_connects_nor_shutdown() {
    let (idp, broker) = serving_rsa(&[
        ("jwks_refresh", "1"),
        ("jwks_min_refetch", "1"),
        // Long enough for both logins below to happen within it on a loaded machine.
        ("jwks_timeout", "4"),
    ]);

    idp.serve(CERTS, Reply::Hang);
    idp.wait_for_hanging(1);
    // Both answered while the fetch is held, so neither waited for it.
    login(&broker, "meanwhile", &token("rsa", json!({}))).expect("served from the keys held");
    refused_because(
        &broker,
        "unknown",
        &token("rsa-2", json!({})),
        "no key has the token's kid 'rsa-2'; a fetch from",
    );
    assert_eq!(idp.hanging(), 1, "the fetch was still held");
    let line = broker.log.wait_for_text("cannot fetch keys");
    assert!(line.contains("timeout"), "{line}");

    // Shutdown with a fetch in flight that would not time out for an hour: the broker
    // exits (within the support's patience, 10 s) without waiting for it.
    let held = Idp::start();
    held.serve(CERTS, Reply::Hang);
    let broker = Broker::start(&fetching(&held, &[("jwks_timeout", "3600")]));
    held.wait_for_hanging(1);
    assert!(broker.stop().success());
}

#[test]
fn unreachable_at_start_refuses_tokens_until_keys_arrive() {
    let idp = Idp::start();
    idp.serve(CERTS, Reply::Status(503));
    let broker = Broker::start(&fetching(
        &idp,
        &[("jwks_refresh", "1"), ("jwks_min_refetch", "1")],
    ));
    let line = broker.log.wait_for_text("cannot fetch keys");
    assert!(
        line.contains("tokens that need them are refused until a fetch succeeds"),
        "{line}"
    );
    refused_because(
        &broker,
        "early",
        &token("rsa", json!({})),
        &format!(
            "no keys fetched from {} yet: {}: http status: 503",
            idp.url(CERTS),
            idp.url(CERTS)
        ),
    );

    idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
    broker.log.wait_for_text(&fetched_line(&idp, "rsa"));
    login(&broker, "later", &token("rsa", json!({}))).expect("keys arrived");
}

#[test]
fn required_at_start_refuses_to_start_without_keys() {
    let idp = Idp::start();
    idp.serve(CERTS, Reply::Status(503));
    let (status, log) =
        Broker::start_expecting_failure(&fetching(&idp, &[("jwks_required_at_start", "true")]));
    assert!(!status.success());
    assert!(
        log.iter().any(|l| l.contains(
            "plugin_opt_jwks_url: the first fetch failed and jwks_required_at_start is true"
        ) && l.contains("503")),
        "{log:#?}"
    );

    idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
    let broker = Broker::start(&fetching(&idp, &[("jwks_required_at_start", "true")]));
    login(&broker, "at-once", &token("rsa", json!({}))).expect("keys fetched at start-up");
}

#[test]
fn an_oidc_issuer_names_the_set_and_is_required_as_iss() {
    let idp = Idp::start();
    let issuer = idp.url("/realms/devices");
    let discovery = "/realms/devices/.well-known/openid-configuration";
    let certs = "/realms/devices/protocol/openid-connect/certs";
    idp.serve(
        discovery,
        Reply::Json(json!({"issuer": issuer, "jwks_uri": idp.url(certs)}).to_string()),
    );
    idp.serve(certs, Reply::Json(key_set(&["rsa"])));
    let broker = Broker::start(&discovering(&idp, &issuer));
    broker
        .log
        .wait_for_text(&format!("fetched 1 keys from {issuer} (kid: rsa)"));
    login(&broker, "issued", &token("rsa", json!({"iss": issuer}))).expect("iss matches");
    refused_because(
        &broker,
        "no-iss",
        &token("rsa", json!({})),
        "token has no issuer (iss)",
    );
    refused_because(
        &broker,
        "other-iss",
        &token("rsa", json!({"iss": idp.url("/realms/other")})),
        "issuer (iss) does not match",
    );

    // A discovery document naming another issuer is not followed.
    idp.serve(
        discovery,
        Reply::Json(
            json!({"issuer": idp.url("/realms/other"), "jwks_uri": idp.url(certs)}).to_string(),
        ),
    );
    let broker = Broker::start(&discovering(&idp, &issuer));
    let line = broker.log.wait_for_text("cannot fetch keys");
    assert!(line.contains("not the configured one"), "{line}");
}

#[test]
fn fetched_keys_combine_with_the_secret_and_key_files() {
    let idp = Idp::start();
    idp.serve(CERTS, Reply::Status(503));
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, key_set(&["ed25519"])).unwrap();
    let broker = Broker::start(
        &fetching_for(
            &idp,
            // ES384: no key of any source serves it.
            "RS256,HS256,ES256,EdDSA,ES384",
            &[("jwks_refresh", "1"), ("jwks_min_refetch", "1")],
        )
        .option("secret_key", tokens::SECRET)
        .option("public_key_file", &fixture("keys/ec256.pub.pem"))
        .option("jwks_file", jwks_file.to_str().unwrap()),
    );
    // Before any key is fetched, the configured ones serve.
    let configured = |id: &str| {
        login(
            &broker,
            &format!("hs256-{id}"),
            &tokens::hs256(&claims("alice", json!({"n": id}))),
        )
        .expect("secret");
        let es256 = tokens::signed(
            jsonwebtoken::Algorithm::ES256,
            "ec256",
            &claims("alice", json!({"n": id})),
        );
        login(&broker, &format!("es256-{id}"), &es256).expect("PEM key");
        let eddsa = tokens::signed(
            jsonwebtoken::Algorithm::EdDSA,
            "ed25519",
            &claims("alice", json!({"n": id})),
        );
        login(&broker, &format!("eddsa-{id}"), &eddsa).expect("key set file");
    };
    configured("before");

    idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
    broker.log.wait_for_text(&fetched_line(&idp, "rsa"));
    login(&broker, "rs256", &token("rsa", json!({}))).expect("fetched key");
    configured("after");
    broker
        .log
        .wait_for_text("no configured or fetched key verifies ES384; such tokens are refused");
}

#[test]
fn the_system_roots_serve_when_no_ca_file_is_given() {
    let idp = Idp::start();
    idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
    let system = |roots: &str| {
        BrokerConfig::default()
            .option("algorithm", "RS256")
            .option("jwks_url", &idp.url(CERTS))
            .env("SSL_CERT_FILE", roots)
    };
    // The provider's CA stands in for the system bundle.
    let broker = Broker::start(&system(idp.ca_file.to_str().unwrap()));
    broker.log.wait_for_text(&fetched_line(&idp, "rsa"));

    // A bundle that does not hold the provider's CA (another provider's): the certificate
    // is not trusted.
    let other = Idp::start();
    let broker = Broker::start(&system(other.ca_file.to_str().unwrap()));
    let line = broker.log.wait_for_text("cannot fetch keys");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
}

#[test]
fn unusable_answers_keep_the_last_keys_and_say_why() {
    let idp = Idp::start();
    idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
    let broker = Broker::start(
        &fetching_for(
            &idp,
            "RS256,HS256",
            &[("jwks_refresh", "1"), ("jwks_min_refetch", "1")],
        )
        .option("secret_key", tokens::SECRET),
    );
    broker.log.wait_for_text(&fetched_line(&idp, "rsa"));
    let leaked = "a-secret-anyone-can-read-0123456789abcdef";
    let secret_jwk = json!({
        "kty": "oct",
        "kid": "leaked",
        "k": base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, leaked),
    });
    let cases = [
        (
            Reply::Json(r#"{"keys":[]}"#.into()),
            "no usable signing key (the set is empty)".to_owned(),
        ),
        (
            Reply::Json(json!({"keys": [secret_jwk]}).to_string()),
            "no usable signing key (key 'leaked': a secret (oct) key".to_owned(),
        ),
        (
            Reply::Json(format!(
                r#"{{"keys":[],"padding":"{}"}}"#,
                "x".repeat(2 << 20)
            )),
            idp.url(CERTS),
        ),
        (
            Reply::Redirect(format!("http://127.0.0.1:{}{CERTS}", idp.port)),
            idp.url(CERTS),
        ),
    ];
    for (n, (reply, reason)) in cases.into_iter().enumerate() {
        idp.serve(CERTS, reply);
        let line = broker
            .log
            .wait_for_nth("a failed fetch", n + 1, |l| l.contains("cannot fetch keys"));
        assert!(line.contains(&reason), "{line}");
        login(&broker, &format!("kept-{n}"), &token("rsa", json!({}))).expect("the last keys");
        idp.serve(CERTS, Reply::Json(key_set(&["rsa"])));
        broker
            .log
            .wait_for_nth("a recovery", n + 1, |l| l.contains("works again"));
    }

    // Beside a usable key, a secret is passed over and never verifies anything.
    let mut set: Value = serde_json::from_str(&key_set(&["rsa"])).unwrap();
    set["keys"].as_array_mut().unwrap().push(secret_jwk);
    idp.serve(CERTS, Reply::Json(set.to_string()));
    broker
        .log
        .wait_for_text("passed over key 'leaked': a secret (oct) key");
    let forged = tokens::raw(
        r#"{"alg":"HS256","kid":"leaked"}"#,
        &claims("alice", json!({})).to_string(),
        leaked.as_bytes(),
    );
    refused_because(
        &broker,
        "forged",
        &forged,
        "no key has the token's kid 'leaked'",
    );
}

#[test]
fn a_provider_cannot_forge_log_lines() {
    let idp = Idp::start();
    let issuer = idp.url("/realms/devices");
    idp.serve(
        "/realms/devices/.well-known/openid-configuration",
        Reply::Json(
            json!({
                "issuer": issuer,
                "jwks_uri": format!("{}\nINJECTED: client 'root' authenticated", idp.url("/x")),
            })
            .to_string(),
        ),
    );
    let broker = Broker::start(&discovering(&idp, &issuer));
    let line = broker.log.wait_for_text("cannot fetch keys");
    assert!(line.contains("\\nINJECTED"), "escaped: {line}");
    refused_because(
        &broker,
        "early",
        &token("rsa", json!({})),
        "no keys fetched from",
    );
    assert!(
        !broker.log.lines().iter().any(|l| l.starts_with("INJECTED")),
        "{:#?}",
        broker.log.lines()
    );
}

#[test]
fn sighup_fetches_at_once() {
    let (idp, broker) = serving_rsa(&[("jwks_refresh", "3600"), ("jwks_min_refetch", "3600")]);
    idp.serve(CERTS, Reply::Json(key_set(&["rsa-2"])));
    broker.reload();
    broker.log.wait_for_text(&fetched_line(&idp, "rsa-2"));
    login(&broker, "rotated", &token("rsa-2", json!({}))).expect("the new key");
    assert_eq!(idp.hits(CERTS), 2);
}
