//! Token building for unit tests: raw JSON in, signed compact JWS out, so tests can send
//! what no JWT library would produce.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;

pub const SECRET: &str = "unit-test-secret";

pub fn raw_token(header: &str, claims: &str, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(secret).expect("a non-empty secret");
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .expect("HS256 signs");
    format!("{input}.{signature}")
}

pub fn hs256(claims: &serde_json::Value) -> String {
    raw_token(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims.to_string(),
        SECRET.as_bytes(),
    )
}
