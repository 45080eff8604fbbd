//! Tokens and key sets made by an independent implementation (PyJWT with `cryptography`,
//! see `tests/fixtures/generate.py`) cross-check the verifier, for all fifteen algorithm
//! names and every key source.

use mosquitto_jwt_auth::config::Config;
use mosquitto_jwt_auth::keys::{KeySet, Purpose};
use mosquitto_jwt_auth::token::{ClaimRules, Jwt, Refusal, VerifiedToken, Verifier};
use serde_json::Value;

const NOW: f64 = 1_800_000_000.0;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("tokens.json")).unwrap()).unwrap()
}

fn verifier(options: &[(&str, &str)]) -> Verifier {
    let config = Config::from_options(options.iter().copied()).unwrap();
    let keys = KeySet::load(&config, Purpose::Start)
        .unwrap_or_else(|e| panic!("{options:?}: {e}"))
        .keys;
    Verifier::new(config.algorithms, keys, ClaimRules::from_config(&config))
}

fn verify(verifier: &Verifier, token: &str) -> Result<VerifiedToken, Refusal> {
    let jwt = Jwt::recognise(token.as_bytes()).expect("shaped like a JWT");
    verifier.verify(&jwt, NOW)
}

fn str_of<'a>(entry: &'a Value, member: &str) -> &'a str {
    entry[member]
        .as_str()
        .unwrap_or_else(|| panic!("{member} in {entry}"))
}

/// The verifier for one fixture token, given its key the way its file holds it.
fn pem_verifier(alg: &str, key_file: &str) -> Verifier {
    if key_file == "hmac.secret" {
        verifier(&[
            ("algorithm", alg),
            ("secret_key_file", &fixture("keys/hmac.secret")),
        ])
    } else {
        verifier(&[
            ("algorithm", alg),
            ("public_key_file", &fixture(&format!("keys/{key_file}"))),
        ])
    }
}

fn jwks_verifier(algorithms: &str) -> Verifier {
    verifier(&[
        ("algorithm", algorithms),
        ("jwks_file", &fixture("keys/jwks.json")),
    ])
}

fn tokens() -> Vec<Value> {
    fixtures()["tokens"].as_array().unwrap().clone()
}

#[test]
fn the_fixtures_cover_all_fifteen_names() {
    let names: Vec<String> = tokens()
        .iter()
        .map(|t| str_of(t, "alg").to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
            "ES256", "ES256K", "ES384", "ES512", "ES521", "EdDSA"
        ]
    );
}

#[test]
fn every_token_verifies_with_its_pem_key_or_secret() {
    for entry in tokens() {
        let alg = str_of(&entry, "alg");
        let verifier = pem_verifier(alg, str_of(&entry, "key"));
        // A kid is nothing to a key that has none: both forms verify.
        for form in ["token", "token_with_kid"] {
            let verified = verify(&verifier, str_of(&entry, form))
                .unwrap_or_else(|e| panic!("{alg} {form}: {e}"));
            assert_eq!(verified.user, "alice", "{alg}");
            assert_eq!(verified.expires_at, Some(4_102_444_800.0), "{alg}");
            assert_eq!(
                verified.acl.publish,
                Some(vec!["devices/alice/#".to_owned()])
            );
        }
    }
}

#[test]
fn every_token_verifies_with_the_key_set() {
    for entry in tokens() {
        let alg = str_of(&entry, "alg");
        let verifier = jwks_verifier(alg);
        for form in ["token", "token_with_kid"] {
            verify(&verifier, str_of(&entry, form)).unwrap_or_else(|e| panic!("{alg} {form}: {e}"));
        }
    }
}

#[test]
fn es521_and_es512_are_one_algorithm_under_either_name() {
    let tokens = tokens();
    let by_name = |name: &str| {
        let entry = tokens.iter().find(|t| t["alg"] == name).unwrap();
        str_of(entry, "token").to_owned()
    };
    let (es512, es521) = (by_name("ES512"), by_name("ES521"));
    assert!(
        es521.starts_with("eyJhbGciOiJFUzUyMSIs"),
        "header says ES521"
    );
    for configured in ["ES512", "ES521"] {
        let verifier = pem_verifier(configured, "ec521.pub.pem");
        for token in [&es512, &es521] {
            assert!(verify(&verifier, token).is_ok(), "{configured}");
        }
    }
}

/// Every position of every token, each replaced by another base64url character: none of
/// the altered tokens verifies, with its own key or with the whole key set.
#[test]
fn every_token_altered_in_any_one_byte_is_refused() {
    let all = jwks_verifier(
        "HS256,HS384,HS512,RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES256K,ES384,ES512,EdDSA",
    );
    let mut altered_count = 0;
    for entry in tokens() {
        let alg = str_of(&entry, "alg");
        let own = pem_verifier(alg, str_of(&entry, "key"));
        let token = str_of(&entry, "token_with_kid");
        for position in 0..token.len() {
            if token.as_bytes()[position] == b'.' {
                continue;
            }
            let mut bytes = token.as_bytes().to_vec();
            bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            // An alteration that unmakes the JWT shape (a header that no longer parses)
            // is refused earlier still: the plugin leaves it to other checks.
            if let Some(jwt) = Jwt::recognise(altered.as_bytes()) {
                assert!(own.verify(&jwt, NOW).is_err(), "{alg} at {position}");
                assert!(all.verify(&jwt, NOW).is_err(), "{alg} at {position}");
                altered_count += 1;
            }
        }
    }
    assert!(
        altered_count > 5_000,
        "{altered_count} altered tokens checked"
    );
}

#[test]
fn high_s_ecdsa_signatures_verify_on_every_curve() {
    let fixtures = fixtures();
    for entry in fixtures["high_s"].as_array().unwrap() {
        let alg = str_of(entry, "alg");
        let verifier = pem_verifier(alg, str_of(entry, "key"));
        verify(&verifier, str_of(entry, "token")).unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}

#[test]
fn tokens_the_key_set_must_refuse() {
    let fixtures = fixtures();
    let cases = fixtures["refused_by_key_set"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for case in cases {
        let why = str_of(case, "why");
        let verifier = jwks_verifier(str_of(case, "algorithms"));
        assert_eq!(
            verify(&verifier, str_of(case, "token")).err(),
            Some(Refusal::BadSignature),
            "{why}"
        );
    }
}

#[test]
fn a_kid_unknown_to_the_set_is_refused() {
    let fixtures = fixtures();
    let rotated = &fixtures["rotated"];
    assert_eq!(str_of(rotated, "kid"), "rsa-2");
    let verifier = jwks_verifier("RS256");
    assert_eq!(
        verify(&verifier, str_of(rotated, "token")).err(),
        Some(Refusal::UnknownKid("rsa-2".into()))
    );
    let rotated_set = verifier_with_rotated_set();
    assert!(verify(&rotated_set, str_of(rotated, "token")).is_ok());
}

fn verifier_with_rotated_set() -> Verifier {
    verifier(&[
        ("algorithm", "RS256"),
        ("jwks_file", &fixture("keys/jwks-rotated.json")),
    ])
}

#[test]
fn every_key_container_verifies_the_same_token() {
    let tokens = tokens();
    let token_of = |alg: &str| {
        let entry = tokens.iter().find(|t| t["alg"] == alg).unwrap();
        str_of(entry, "token").to_owned()
    };
    for (alg, files) in [
        (
            "RS256",
            &["rsa.pub.pem", "rsa.pkcs1.pub.pem", "rsa.cert.pem"][..],
        ),
        ("ES256", &["ec256.pub.pem", "ec256.cert.pem"]),
        ("ES512", &["ec521.pub.pem", "ec521.cert.pem"]),
    ] {
        for file in files {
            assert!(
                verify(&pem_verifier(alg, file), &token_of(alg)).is_ok(),
                "{alg} {file}"
            );
        }
    }
}

#[test]
fn all_key_sources_combine_and_each_serves_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let mut pem = Vec::new();
    for file in ["rsa-other.pub.pem", "secp256k1.pub.pem", "ec521.cert.pem"] {
        pem.extend(std::fs::read(fixture(&format!("keys/{file}"))).unwrap());
    }
    std::fs::write(&bundle, pem).unwrap();
    let combined = verifier(&[
        ("algorithm", "HS256,RS256,ES256,ES256K,ES512"),
        ("secret_key_file", &fixture("keys/hmac.secret")),
        ("public_key_file", bundle.to_str().unwrap()),
        ("jwks_file", &fixture("keys/jwks.json")),
    ]);
    for entry in tokens() {
        let alg = str_of(&entry, "alg");
        let result = verify(&combined, str_of(&entry, "token_with_kid"));
        match alg {
            "HS256" | "RS256" | "ES256" | "ES256K" | "ES512" | "ES521" => {
                result.unwrap_or_else(|e| panic!("{alg}: {e}"));
            }
            _ => assert!(
                matches!(result, Err(Refusal::AlgorithmNotAllowed(_))),
                "{alg}"
            ),
        }
    }
    // rsa-other comes from the PEM bundle, which has no kid and so answers to any.
    let fixtures = fixtures();
    assert!(verify(&combined, str_of(&fixtures["rotated"], "token")).is_ok());
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 128 => out.push(n as u8),
        n => {
            out.push(0x82);
            out.extend((n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(content);
    out
}

/// The fixture RSA key, marked RSASSA-PSS in its SubjectPublicKeyInfo. jsonwebtoken
/// does not see that mark; only the plugin's own key rules keep it from RS256.
#[test]
fn an_rsa_key_marked_pss_verifies_ps_tokens_only() {
    let pkcs1 = pem::parse(std::fs::read(fixture("keys/rsa.pkcs1.pub.pem")).unwrap())
        .unwrap()
        .into_contents();
    const RSASSA_PSS: [u8; 11] = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
    ];
    let mut bits = vec![0u8];
    bits.extend(pkcs1);
    let spki = der(0x30, &[der(0x30, &RSASSA_PSS), der(0x03, &bits)].concat());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pss.pem");
    // Another RSA key serves RS256, so that RS256 is configured with a key.
    let mut bundle = pem::encode(&pem::Pem::new("PUBLIC KEY", spki)).into_bytes();
    bundle.extend(std::fs::read(fixture("keys/rsa-other.pub.pem")).unwrap());
    std::fs::write(&path, bundle).unwrap();
    let verifier = verifier(&[
        ("algorithm", "RS256,PS256"),
        ("public_key_file", path.to_str().unwrap()),
    ]);
    let tokens = tokens();
    let token_of = |alg: &str| {
        let entry = tokens.iter().find(|t| t["alg"] == alg).unwrap();
        str_of(entry, "token").to_owned()
    };
    assert!(verify(&verifier, &token_of("PS256")).is_ok());
    assert_eq!(
        verify(&verifier, &token_of("RS256")).err(),
        Some(Refusal::BadSignature)
    );
}
