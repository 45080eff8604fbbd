//! Authentication through the real broker: every row of the README's authentication
//! table, with MQTT 5 and 3.1.1 clients, and configuration errors stopping the broker.

mod support;

use jsonwebtoken::Algorithm;
use serde_json::json;
use support::clients::v3::{self, Mqtt3};
use support::clients::v5::{self, ConnectReturnCode, Mqtt5};
use support::tokens::{self, SECRET, claims, hs256};
use support::{Broker, BrokerConfig, fixture, raw};

fn hs_broker() -> Broker {
    Broker::start(&BrokerConfig::with_secret(SECRET))
}

#[test]
fn a_valid_token_is_accepted_over_mqtt5_and_mqtt311() {
    let broker = hs_broker();
    let token = hs256(&claims("alice", json!({})));
    Mqtt5::login(broker.port, "v5-client", "alice", &token).expect("MQTT 5 accepted");
    Mqtt3::login(broker.port, "v3-client", "alice", &token).expect("MQTT 3.1.1 accepted");
    // The plugin's lines come before the broker's CONNACK line: wait for the last one.
    broker.log.wait_for_text("Sending CONNACK to v3-client");
    assert_eq!(broker.log.count("jwt-auth: refused"), 0);
}

/// The debug line of an admitted client is left to the broker's printf when its names
/// need no escaping, and made by the plugin otherwise; it must read the same either way.
#[test]
fn the_admitted_line_reads_alike_whoever_formats_it() {
    let broker =
        Broker::start(&BrokerConfig::with_secret(SECRET).option("required_claims", "none"));
    let expiring = hs256(&claims("alice", json!({})));
    let forever = hs256(&json!({"username": "alice"}));
    let _plain = Mqtt5::login(broker.port, "plain", "alice", &expiring).unwrap();
    let _lasting = Mqtt5::login(broker.port, "lasting", "alice", &forever).unwrap();
    let _wide = Mqtt5::login(broker.port, "wide-é", "alice", &expiring).unwrap();
    // What follows the broker's timestamp.
    let line = |id: &str| -> String {
        let text = format!("jwt-auth: client '{id}' authenticated as 'alice' ");
        let line = broker.log.wait_for_text(&text);
        line[line.find(&text).unwrap()..].to_owned()
    };
    let until = |line: &str, id: &str| -> (u64, usize) {
        let prefix = format!("jwt-auth: client '{id}' authenticated as 'alice' until ");
        let rest = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line}"));
        let (seconds, rest) = rest.split_once(" s from now; ").expect(line);
        let held = rest.strip_suffix(" client states held").expect(line);
        (seconds.parse().expect(line), held.parse().expect(line))
    };
    let (seconds, held) = until(&line("plain"), "plain");
    assert!(
        (590..=600).contains(&seconds) && held == 1,
        "{seconds} {held}"
    );
    assert_eq!(
        line("lasting"),
        "jwt-auth: client 'lasting' authenticated as 'alice' without expiry; 2 client states held"
    );
    let (seconds, held) = until(&line("wide-é"), "wide-é");
    assert!(
        (590..=600).contains(&seconds) && held == 3,
        "{seconds} {held}"
    );
}

/// A token minted this very second carries `iat` of this second. The kernel's coarse
/// clock lags the precise one by some milliseconds, so just after a second begins it still
/// reads the second before: a check made with it would find the token issued in the
/// future. Each login here starts right after a second begins.
#[test]
fn a_token_minted_this_second_is_accepted_at_once() {
    let broker = hs_broker();
    for attempt in 0..3 {
        let start = tokens::now();
        // Wait for the next second to begin (this is waiting for the clock itself).
        while tokens::now() == start {
            std::hint::spin_loop();
        }
        let token = hs256(&claims("alice", json!({})));
        Mqtt5::login(broker.port, &format!("fresh-{attempt}"), "alice", &token)
            .expect("accepted just after the second began");
    }
}

#[test]
fn a_username_other_than_the_token_user_is_refused() {
    let broker = hs_broker();
    let token = hs256(&claims("alice", json!({})));
    let refused = Mqtt5::login(broker.port, "mallory-5", "mallory", &token).err();
    assert_eq!(refused, Some(ConnectReturnCode::NotAuthorized));
    let refused = Mqtt3::login(broker.port, "mallory-3", "mallory", &token).err();
    assert_eq!(refused, Some(v3::ConnectReturnCode::NotAuthorized));
    broker.log.wait_for_text(
        "refused client 'mallory-5' (username 'mallory'): username 'mallory' is not the token's user 'alice'",
    );
}

#[test]
fn without_a_username_the_token_user_becomes_the_username() {
    let broker = hs_broker();
    let token = hs256(&claims("alice", json!({})));
    let session = raw::connect(broker.port, 5, "nameless", None, Some(token.as_bytes()));
    assert_eq!(session.code, Some(raw::ACCEPTED));
    // Mosquitto's own connection line shows the username it now holds.
    broker
        .log
        .wait_for_text("as nameless (p5, c1, k60, u'alice')");
}

#[test]
fn every_bad_token_is_refused_with_one_line_naming_the_reason() {
    let broker = hs_broker();
    let ok = || claims("alice", json!({}));
    let with = |extra| claims("alice", extra);
    let now = tokens::now();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "bad-signature",
            tokens::raw(r#"{"alg":"HS256"}"#, &ok().to_string(), b"not the secret"),
            "signature does not verify",
        ),
        (
            "alg-none",
            format!(
                "{}.",
                tokens::raw(r#"{"alg":"none"}"#, &ok().to_string(), b"x")
                    .rsplit_once('.')
                    .unwrap()
                    .0
            ),
            "algorithm 'none' is not accepted",
        ),
        (
            "alg-hs384",
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::HS384),
                &ok(),
                &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
            )
            .unwrap(),
            "algorithm 'HS384' is not accepted",
        ),
        (
            "expired",
            hs256(&with(json!({"exp": now - 5}))),
            "token has expired (exp)",
        ),
        (
            "not-yet",
            hs256(&with(json!({"nbf": now + 300}))),
            "token is not valid yet (nbf)",
        ),
        (
            "future-iat",
            hs256(&with(json!({"iat": now + 300}))),
            "token is issued in the future (iat)",
        ),
        (
            "unexpected-aud",
            hs256(&with(json!({"aud": "mqtt"}))),
            "plugin_opt_audience is not set",
        ),
        (
            "no-exp",
            hs256(&json!({"username": "alice"})),
            "required claim 'exp' is missing",
        ),
        (
            "exp-string",
            hs256(&with(json!({"exp": (now + 60).to_string()}))),
            "claim 'exp' is not a number",
        ),
        (
            "no-user",
            hs256(&json!({"exp": now + 60})),
            "user claim 'username' is missing",
        ),
        (
            "user-number",
            hs256(&json!({"exp": now + 60, "username": 42})),
            "user claim 'username' is not a string",
        ),
        (
            "user-empty",
            hs256(&json!({"exp": now + 60, "username": ""})),
            "user claim 'username' is empty",
        ),
        (
            "acl-number",
            hs256(&with(json!({"publish_acl": 7}))),
            "claim 'publish_acl' must be a string or a list of strings",
        ),
        (
            "acl-bad-filter",
            hs256(&with(json!({"subscribe_acl": ["a/#/b"]}))),
            "pattern 'a/#/b' is not a valid topic filter",
        ),
        (
            "crit",
            tokens::raw(
                r#"{"alg":"HS256","crit":["x"],"x":1}"#,
                &ok().to_string(),
                SECRET.as_bytes(),
            ),
            "critical extensions",
        ),
        (
            "duplicate",
            tokens::raw(
                r#"{"alg":"HS256"}"#,
                &format!(
                    r#"{{"username":"alice","username":"root","exp":{}}}"#,
                    now + 60
                ),
                SECRET.as_bytes(),
            ),
            "duplicate member 'username'",
        ),
    ];
    for (id, token, reason) in &cases {
        let refused = Mqtt5::login(broker.port, id, "alice", token).err();
        assert_eq!(refused, Some(ConnectReturnCode::NotAuthorized), "{id}");
        let line = broker
            .log
            .wait_for_text(&format!("jwt-auth: refused client '{id}'"));
        assert!(line.contains(reason), "{id}: {line}");
    }
    for (id, token, _) in &cases {
        assert_eq!(
            broker.log.count(&format!("refused client '{id}'")),
            1,
            "{id}"
        );
        let signature = token.rsplit('.').next().unwrap();
        if signature.len() > 8 {
            assert_eq!(
                broker.log.count(signature),
                0,
                "{id}: the token reached the log"
            );
        }
    }
}

#[test]
fn audience_and_issuer_are_enforced_when_configured() {
    let broker = Broker::start(
        &BrokerConfig::with_secret(SECRET)
            .option("audience", "mqtt")
            .option("issuer", "https://id.example"),
    );
    let good = hs256(&claims(
        "alice",
        json!({"aud": ["web", "mqtt"], "iss": "https://id.example"}),
    ));
    Mqtt5::login(broker.port, "good", "alice", &good).expect("accepted");
    for (id, extra, reason) in [
        (
            "wrong-aud",
            json!({"aud": "web", "iss": "https://id.example"}),
            "audience (aud) does not match",
        ),
        (
            "no-aud",
            json!({"iss": "https://id.example"}),
            "token has no audience (aud)",
        ),
        (
            "wrong-iss",
            json!({"aud": "mqtt", "iss": "https://evil.example"}),
            "issuer (iss) does not match",
        ),
    ] {
        let token = hs256(&claims("alice", extra));
        assert_eq!(
            Mqtt5::login(broker.port, id, "alice", &token).err(),
            Some(ConnectReturnCode::NotAuthorized)
        );
        assert!(
            broker
                .log
                .wait_for_text(&format!("refused client '{id}'"))
                .contains(reason)
        );
    }
}

#[test]
fn leeway_forgives_clock_skew() {
    let broker = Broker::start(&BrokerConfig::with_secret(SECRET).option("leeway", "60"));
    let skewed = hs256(&claims(
        "alice",
        json!({"exp": tokens::now() - 30, "nbf": tokens::now() + 30}),
    ));
    Mqtt5::login(broker.port, "skewed", "alice", &skewed).expect("inside the leeway");
}

#[test]
fn no_password_is_left_to_allow_anonymous() {
    let mut config = BrokerConfig::with_secret(SECRET);
    config.allow_anonymous = true;
    let broker = Broker::start(&config);
    Mqtt5::connect(v5::options(broker.port, "anonymous")).expect("allow_anonymous decides");
    let closed = hs_broker();
    assert_eq!(
        Mqtt5::connect(v5::options(closed.port, "anonymous")).err(),
        Some(ConnectReturnCode::NotAuthorized)
    );
    closed.log.wait_for_text("Sending CONNACK to");
    assert_eq!(
        closed.log.count("jwt-auth: refused"),
        0,
        "deferred, not refused by the plugin"
    );
}

#[test]
fn a_password_that_is_not_a_token_is_left_to_the_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = support::password_file(dir.path(), "legacy", "plain-secret");
    let broker = Broker::start(
        &BrokerConfig::with_secret(SECRET).line(format!("password_file {}", passwords.display())),
    );
    Mqtt5::login(broker.port, "legacy-1", "legacy", "plain-secret").expect("password file accepts");
    Mqtt3::login(broker.port, "legacy-2", "legacy", "plain-secret").expect("over 3.1.1 too");
    let token = hs256(&claims("alice", json!({})));
    Mqtt5::login(broker.port, "jwt-1", "alice", &token).expect("the token beside it");
    let wrong = Mqtt5::login(broker.port, "legacy-3", "legacy", "wrong").err();
    assert!(matches!(
        wrong,
        Some(ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword)
    ));
    broker.log.wait_for("the refusal of legacy-3", |l| {
        l.contains("Sending CONNACK") && l.ends_with(", 135)")
    });
    assert_eq!(broker.log.count("jwt-auth: refused"), 0);
}

#[test]
fn hostile_passwords_are_refused_and_the_broker_lives_on() {
    let mut broker = hs_broker();
    let token = hs256(&claims("alice", json!({})));
    let junk: Vec<u8> = (0..65_535u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 1)
        .collect();
    let truncated = &token[..token.len() - 10];
    let mut nul_laden = b"eyJhbGciOiJIUzI1NiJ9.\0\0".to_vec();
    nul_laden.extend_from_slice(&junk[..1000]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not-utf8", vec![0xff, 0xfe, 0x80, 0xc0]),
        ("nul-laden", nul_laden),
        ("junk-65535", junk),
        ("truncated", truncated.as_bytes().to_vec()),
    ];
    for (id, password) in &cases {
        for version in [4u8, 5] {
            let client_id = format!("{id}-v{version}");
            let session = raw::connect(
                broker.port,
                version,
                &client_id,
                Some(b"alice"),
                Some(password),
            );
            let refused = if version == 5 {
                raw::V5_NOT_AUTHORIZED
            } else {
                raw::V3_NOT_AUTHORIZED
            };
            assert_eq!(session.code, Some(refused), "{client_id}");
        }
    }
    assert!(broker.is_running());
    // Those that are not shaped like a token were left to the broker, which refused them.
    for id in ["not-utf8", "nul-laden", "junk-65535"] {
        for version in [4, 5] {
            broker.log.wait_for_text(&format!(
                "client '{id}-v{version}' sent a password that is not a JWT; left to other checks"
            ));
            assert_eq!(
                broker
                    .log
                    .count(&format!("refused client '{id}-v{version}'")),
                0
            );
        }
    }
    // The truncated token is still shaped like one, so the plugin says why it refused it.
    broker.log.wait_for_text(
        "refused client 'truncated-v5' (username 'alice'): signature does not verify",
    );
    Mqtt5::login(broker.port, "after", "alice", &token).expect("still serving");
}

#[test]
fn public_key_algorithms_verify_through_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    let pem: Vec<u8> = ["rsa.pub.pem", "ec256.pub.pem", "ed25519.pub.pem"]
        .iter()
        .flat_map(|f| std::fs::read(fixture(&format!("keys/{f}"))).unwrap())
        .collect();
    std::fs::write(&bundle, pem).unwrap();
    let broker = Broker::start(
        &BrokerConfig::default()
            .option("algorithm", "RS256,PS256,ES256,EdDSA")
            .option("public_key_file", bundle.to_str().unwrap()),
    );
    for (alg, stem) in [
        (Algorithm::RS256, "rsa"),
        (Algorithm::PS256, "rsa"),
        (Algorithm::ES256, "ec256"),
        (Algorithm::EdDSA, "ed25519"),
    ] {
        let token = tokens::signed(alg, stem, &claims("alice", json!({})));
        Mqtt5::login(broker.port, &format!("{alg:?}"), "alice", &token)
            .unwrap_or_else(|c| panic!("{alg:?}: {c:?}"));
    }
    // A token made by PyJWT, an independent implementation.
    let fixtures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tokens.json")).unwrap()).unwrap();
    for entry in fixtures["tokens"].as_array().unwrap() {
        let alg = entry["alg"].as_str().unwrap();
        if ["RS256", "PS256", "ES256", "EdDSA"].contains(&alg) && entry.get("signed_by").is_none() {
            let id = format!("pyjwt-{alg}");
            Mqtt5::login(broker.port, &id, "alice", entry["token"].as_str().unwrap()).expect(&id);
        }
    }
    // HS256 is not configured here: a token signed with the public key as HMAC secret
    // is refused for its algorithm, never checked with that key.
    let pem = std::fs::read(fixture("keys/rsa.pub.pem")).unwrap();
    let confused = tokens::raw(
        r#"{"alg":"HS256"}"#,
        &claims("alice", json!({})).to_string(),
        &pem,
    );
    assert_eq!(
        Mqtt5::login(broker.port, "confused", "alice", &confused).err(),
        Some(ConnectReturnCode::NotAuthorized)
    );
    broker.log.wait_for_text(
        "refused client 'confused' (username 'alice'): algorithm 'HS256' is not accepted",
    );
}

#[test]
fn a_misconfigured_plugin_stops_the_broker_naming_the_option() {
    let missing = "/nonexistent/key.pem";
    let cases = [
        (
            BrokerConfig::with_secret(SECRET).option("algoritm", "HS256"),
            "plugin_opt_algoritm: unknown option",
        ),
        (
            BrokerConfig::with_secret(SECRET).option("algorithm", "HS999"),
            "plugin_opt_algorithm: unknown algorithm 'HS999'",
        ),
        (
            BrokerConfig::default().option("algorithm", "ES512"),
            "plugin_opt_algorithm: ES512 needs an EC P-521 key and none is configured",
        ),
        (
            BrokerConfig::default(),
            "plugin_opt_algorithm: HS256 needs an HMAC secret",
        ),
        (
            BrokerConfig::default()
                .option("algorithm", "RS256")
                .option("public_key_file", missing),
            "plugin_opt_public_key_file: cannot read /nonexistent/key.pem",
        ),
        (
            BrokerConfig::default()
                .option("algorithm", "RS256")
                .option("public_key_file", &fixture("keys/ec256.pub.pem")),
            "plugin_opt_public_key_file:",
        ),
        (
            BrokerConfig::default()
                .option("algorithm", "RS256")
                .option("jwks_file", &fixture("keys/rsa.pub.pem")),
            "plugin_opt_jwks_file:",
        ),
        (
            BrokerConfig::with_secret(SECRET).option("secret_key_encoding", "base64"),
            "plugin_opt_secret_key_encoding: secret_key: the secret is not valid base64",
        ),
        (
            BrokerConfig::with_secret(SECRET).option("leeway", "soon"),
            "plugin_opt_leeway: 'soon' is not a whole number",
        ),
        (
            BrokerConfig::with_secret(SECRET)
                .line(format!("plugin {}", support::plugin_path().display()))
                .line("plugin_opt_secret_key another"),
            "this plugin is already loaded for this listener",
        ),
    ];
    for (config, expected) in cases {
        let (status, log) = Broker::start_expecting_failure(&config);
        assert!(!status.success(), "{expected}: the broker started");
        assert!(
            log.iter().any(|l| l.contains(expected)),
            "{expected} not in:\n{}",
            log.join("\n")
        );
    }
}

#[test]
fn the_broker_shuts_down_cleanly_with_the_plugin_loaded() {
    let broker = hs_broker();
    let token = hs256(&claims("alice", json!({"publish_acl": "a/#"})));
    let client = Mqtt5::login(broker.port, "connected", "alice", &token).unwrap();
    let log = broker.log.clone();
    // Cleanup unregisters the callbacks and frees the instance while a client is still
    // connected: a fault there would show as a signal instead of a clean exit.
    let status = broker.stop();
    assert!(status.success(), "{status:?}");
    log.wait_for_text("terminating");
    drop(client);
}
