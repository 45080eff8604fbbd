//! HMAC secrets for the aws-lc backend, keyed once when the secret is loaded.
//!
//! jsonwebtoken's `crypto::verify` takes the raw secret and builds aws-lc's HMAC key for
//! every token: hashing the padded secret into the inner and outer states costs about as
//! much as the HMAC of a short token itself. Here the three keyed states are made once and
//! each verification starts from a copy.

use aws_lc_rs::constant_time;
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::algorithm::Algorithm;

/// HS512's tag, the longest.
const MAX_TAG: usize = 64;

pub struct HmacKeys {
    hs256: hmac::Key,
    hs384: hmac::Key,
    hs512: hmac::Key,
}

impl HmacKeys {
    /// All three, since one secret may serve any HMAC algorithm configured; keying is a
    /// few microseconds, once per secret.
    pub fn new(secret: &[u8]) -> HmacKeys {
        HmacKeys {
            hs256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            hs384: hmac::Key::new(hmac::HMAC_SHA384, secret),
            hs512: hmac::Key::new(hmac::HMAC_SHA512, secret),
        }
    }

    /// True when `signature` (base64url, as in the token) is `alg`'s tag of `message`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        let key = match alg {
            Algorithm::HS256 => &self.hs256,
            Algorithm::HS384 => &self.hs384,
            Algorithm::HS512 => &self.hs512,
            _ => return false,
        };
        // A signature too long for the buffer cannot be a tag of any length: refused, as a
        // tag of the wrong length is.
        let mut tag = [0u8; MAX_TAG];
        let Ok(tag_len) = URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) else {
            return false;
        };
        let mut computed = [0u8; MAX_TAG];
        // `hmac::verify` would do the same but panics should aws-lc fail; this fails closed.
        match hmac::sign_to_buffer(key, message, &mut computed) {
            Ok(computed) => {
                constant_time::verify_slices_are_equal(computed, &tag[..tag_len]).is_ok()
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a secret of some length";
    const MESSAGE: &[u8] = b"eyJhbGciOiJIUzI1NiJ9.e30";

    fn signed(alg: jsonwebtoken::Algorithm) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap();
        jsonwebtoken::crypto::sign(MESSAGE, &key, alg).unwrap()
    }

    #[test]
    fn verifies_what_jsonwebtoken_signs_with_the_same_algorithm_only() {
        let keys = HmacKeys::new(SECRET);
        let cases = [
            (Algorithm::HS256, jsonwebtoken::Algorithm::HS256),
            (Algorithm::HS384, jsonwebtoken::Algorithm::HS384),
            (Algorithm::HS512, jsonwebtoken::Algorithm::HS512),
        ];
        for (alg, jwt_alg) in cases {
            let signature = signed(jwt_alg);
            assert!(keys.verify(alg, MESSAGE, &signature), "{alg:?}");
            assert!(!keys.verify(alg, b"eyJhbGciOiJIUzI1NiJ9.e31", &signature));
            for other in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                assert_eq!(keys.verify(other, MESSAGE, &signature), other == alg);
            }
            assert!(!keys.verify(Algorithm::RS256, MESSAGE, &signature));
            assert!(!HmacKeys::new(b"another secret").verify(alg, MESSAGE, &signature));
        }
    }

    #[test]
    fn refuses_malformed_signatures() {
        let keys = HmacKeys::new(SECRET);
        let good = signed(jsonwebtoken::Algorithm::HS256);
        let truncated = &good[..good.len() - 1];
        let padded = format!("{good}=");
        let doubled = good.repeat(2);
        let long = "A".repeat(200);
        let cases = ["", truncated, &padded, &doubled, &long, "!!!!"];
        for signature in cases {
            assert!(
                !keys.verify(Algorithm::HS256, MESSAGE, signature),
                "{signature}"
            );
        }
    }
}
