//! Tokens for the broker tests, signed with the fixture keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const SECRET: &str = "broker-test-secret-0123456789abcdef0123456789abcdef";

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims for `user`, valid for ten minutes, plus `extra`.
pub fn claims(user: &str, extra: Value) -> Value {
    let mut claims = json!({"username": user, "exp": now() + 600, "iat": now()});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().expect("an object").clone());
    claims
}

pub fn hs256(claims: &Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

/// Signs with the private key of a fixture (`keys/<stem>.pem`).
pub fn signed(alg: Algorithm, stem: &str, claims: &Value) -> String {
    let pem = std::fs::read(super::fixture(&format!("keys/{stem}.pem"))).unwrap();
    let key = match alg {
        Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => unimplemented!("no fixture for {alg:?}"),
    }
    .unwrap();
    jsonwebtoken::encode(&Header::new(alg), claims, &key).unwrap()
}

/// RS256 with a `kid` header, signed with the private key of a fixture (`keys/<stem>.pem`).
pub fn rs256_with_kid(stem: &str, kid: &str, claims: &Value) -> String {
    let pem = std::fs::read(super::fixture(&format!("keys/{stem}.pem"))).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

/// A token from raw JSON text, HS256 with `secret`: for what no JWT library would make.
pub fn raw(header: &str, claims: &str, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(secret).unwrap();
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{input}.{signature}")
}

/// A token PyJWT made (`tests/fixtures/tokens.json`), for user `alice`, valid until 2100;
/// `form` is `token` or `token_with_kid`.
pub fn pyjwt(alg: &str, form: &str) -> String {
    let entry = pyjwt_fixtures()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["alg"] == alg)
        .unwrap_or_else(|| panic!("no fixture token for {alg}"))
        .clone();
    entry[form].as_str().unwrap().to_owned()
}

/// PyJWT's RS256 token signed by the next key, `rsa-2` of `keys/jwks-rotated.json`.
pub fn pyjwt_rotated() -> String {
    pyjwt_fixtures()["rotated"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn pyjwt_fixtures() -> Value {
    serde_json::from_slice(&std::fs::read(super::fixture("tokens.json")).unwrap()).unwrap()
}
