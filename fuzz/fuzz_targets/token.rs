//! The token front end: JWT recognition, base64url, header and claims JSON, claim rules.
//!
//! The input is used twice: as a password, as a client would send it; and split into a
//! header and claims that are signed here, so that the parsing behind the signature
//! check is reached too.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use mosquitto_jwt_auth::config::Config;
use mosquitto_jwt_auth::keys::{KeySet, Purpose};
use mosquitto_jwt_auth::token::{ClaimRules, Jwt, Verifier};

const SECRET: &str = "fuzz-secret";

fn verifier() -> Verifier {
    let config = Config::from_options([
        ("secret_key", SECRET),
        ("algorithm", "HS256,HS512"),
        ("required_claims", "none"),
        ("audience", "mqtt"),
        ("superuser_claim", "admin"),
    ])
    .unwrap();
    let keys = KeySet::load(&config, Purpose::Start).unwrap().keys;
    Verifier::new(config.algorithms, keys, ClaimRules::from_config(&config))
}

fuzz_target!(|data: &[u8]| {
    let verifier = verifier();
    if let Some(jwt) = Jwt::recognise(data) {
        let _ = verifier.verify(&jwt, 1_800_000_000.0);
    }
    let split = data
        .iter()
        .position(|b| *b == 0xff)
        .unwrap_or(data.len() / 2);
    let (header, claims) = data.split_at(split);
    let claims = claims.get(1..).unwrap_or_default();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    let token = format!("{input}.{signature}");
    if let Some(jwt) = Jwt::recognise(token.as_bytes()) {
        let _ = verifier.verify(&jwt, 1_800_000_000.0);
    }
});
