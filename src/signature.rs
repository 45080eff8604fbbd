//! Signature arithmetic: which library checks which algorithm.
//!
//! jsonwebtoken's `crypto::verify` covers twelve algorithms. ES256K and ES512 go to
//! RustCrypto's `k256` and `p521`, which jsonwebtoken has no way to plug in. With aws-lc,
//! HMAC secrets are keyed here once rather than by jsonwebtoken per token.

#[cfg(feature = "aws-lc")]
mod hmac;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;

use crate::algorithm::Algorithm;
#[cfg(feature = "aws-lc")]
pub use hmac::HmacKeys;

/// A public key (or HMAC secret) ready to check signatures.
pub enum VerifyingKey {
    Jwt(DecodingKey),
    #[cfg(feature = "aws-lc")]
    Hmac(Box<HmacKeys>),
    Secp256k1(k256::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

impl VerifyingKey {
    /// True when `signature` (base64url, as in the token) is `alg`'s signature of `message`
    /// by this key. A key of the wrong kind for `alg` never verifies.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        match (self, alg.to_jsonwebtoken()) {
            (VerifyingKey::Jwt(key), Some(alg)) => {
                jsonwebtoken::crypto::verify(signature, message, key, alg).unwrap_or(false)
            }
            #[cfg(feature = "aws-lc")]
            (VerifyingKey::Hmac(keys), _) => keys.verify(alg, message, signature),
            (VerifyingKey::Secp256k1(key), None) if alg == Algorithm::ES256K => {
                use k256::ecdsa::signature::Verifier;
                match k256_signature(signature) {
                    Some(sig) => key.verify(message, &sig).is_ok(),
                    None => false,
                }
            }
            (VerifyingKey::P521(key), None) if alg == Algorithm::ES512 => {
                use p521::ecdsa::signature::Verifier;
                match p521_signature(signature) {
                    Some(sig) => key.verify(message, &sig).is_ok(),
                    None => false,
                }
            }
            _ => false,
        }
    }
}

/// JWS carries ECDSA signatures as the fixed-width concatenation R ‖ S (RFC 7518 3.4).
/// k256 accepts only the low-S form that Bitcoin insists on; other JWT implementations
/// (OpenSSL, PyJWT, Go) sign and accept either, so S is brought into the low half first.
/// This does not weaken anything: (R, S) and (R, n - S) are equally valid signatures.
fn k256_signature(signature: &str) -> Option<k256::ecdsa::Signature> {
    let bytes = decode_fixed::<64>(signature)?;
    let sig = k256::ecdsa::Signature::from_slice(&bytes).ok()?;
    Some(sig.normalize_s())
}

fn p521_signature(signature: &str) -> Option<p521::ecdsa::Signature> {
    let bytes = decode_fixed::<132>(signature)?;
    let sig = p521::ecdsa::Signature::from_slice(&bytes).ok()?;
    Some(sig.normalize_s())
}

fn decode_fixed<const N: usize>(signature: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    match URL_SAFE_NO_PAD.decode_slice(signature, &mut out) {
        Ok(n) if n == N => Some(out),
        _ => None,
    }
}
