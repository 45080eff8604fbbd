//! Turning raw key material into a checked verification key. PEM and JWK both end here,
//! so a key is held to the same rules whichever way it was written.

use jsonwebtoken::DecodingKey;

#[cfg(feature = "rust-crypto")]
use crate::algorithm::Algorithm;
use crate::algorithm::KeyKind;
use crate::signature::VerifyingKey;

/// RFC 7518 section 3.3 asks for at least 2048 bits; the verifier accepts at most 8192.
const RSA_BITS: std::ops::RangeInclusive<u64> = 2048..=8192;

/// A key and the kind of algorithm it may verify, before any JWK restriction.
pub struct Material {
    pub kind: KeyKind,
    pub verifying: VerifyingKey,
}

pub fn hmac(secret: &[u8]) -> Result<Material, String> {
    if secret.is_empty() {
        return Err("the secret is empty".to_owned());
    }
    #[cfg(feature = "aws-lc")]
    let verifying = VerifyingKey::Hmac(Box::new(crate::signature::HmacKeys::new(secret)));
    #[cfg(not(feature = "aws-lc"))]
    let verifying = VerifyingKey::Jwt(
        DecodingKey::from_secret(secret).map_err(|_| "the secret is empty".to_owned())?,
    );
    Ok(Material {
        kind: KeyKind::Hmac,
        verifying,
    })
}

/// Loads an RSA key (PKCS#1 DER) with the same code that verifies with it, and holds it to
/// RFC 7518's minimum size.
pub fn rsa(pkcs1: &[u8], kind: KeyKind) -> Result<Material, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::PublicKey::from_pkcs1_der(pkcs1)
        .map_err(|e| format!("not a valid RSA public key ({e})"))?;
    let bits = u64::from(key.n().bit_width());
    if !RSA_BITS.contains(&bits) {
        return Err(format!(
            "RSA key of {bits} bits (from {} to {} bits are accepted)",
            RSA_BITS.start(),
            RSA_BITS.end()
        ));
    }
    probed(
        Material {
            kind,
            verifying: VerifyingKey::Jwt(DecodingKey::from_rsa_der(pkcs1)),
        },
        pkcs1,
    )
}

/// An elliptic-curve public key from its SEC1 point encoding.
pub fn ec(kind: KeyKind, point: &[u8]) -> Result<Material, String> {
    let invalid = |_| format!("not a valid {kind}");
    let verifying = match kind {
        KeyKind::EcP256 | KeyKind::EcP384 => VerifyingKey::Jwt(DecodingKey::from_ec_der(point)),
        KeyKind::EcSecp256k1 => VerifyingKey::Secp256k1(
            k256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(invalid)?,
        ),
        KeyKind::EcP521 => {
            VerifyingKey::P521(p521::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(invalid)?)
        }
        _ => return Err(format!("{kind} is not an elliptic-curve key")),
    };
    probed(Material { kind, verifying }, point)
}

pub fn ed25519(public: &[u8]) -> Result<Material, String> {
    if public.len() != 32 {
        return Err("an Ed25519 key must be 32 bytes".into());
    }
    probed(
        Material {
            kind: KeyKind::Ed25519,
            verifying: VerifyingKey::Jwt(DecodingKey::from_ed_der(public)),
        },
        public,
    )
}

/// Builds a verifier from the key, as every verification will: an invalid point fails here,
/// at start-up, rather than on every CONNECT. (The RustCrypto keys were checked when made;
/// RSA keys were loaded by the `rsa` crate, which verifies with them.)
#[cfg(feature = "rust-crypto")]
fn probed(material: Material, _public: &[u8]) -> Result<Material, String> {
    let VerifyingKey::Jwt(decoding) = &material.verifying else {
        return Ok(material);
    };
    if matches!(material.kind, KeyKind::Rsa | KeyKind::RsaPss) {
        return Ok(material);
    }
    let Some(alg) = Algorithm::ALL
        .into_iter()
        .filter(|a| a.accepts(material.kind))
        .find_map(Algorithm::to_jsonwebtoken)
    else {
        return Err(format!("no algorithm uses an {}", material.kind));
    };
    match jsonwebtoken::crypto::verify("", b"", decoding, alg) {
        Ok(_) => Ok(material),
        Err(_) => Err(format!("not a valid {}", material.kind)),
    }
}

/// Parses the key with aws-lc, which will verify with it. jsonwebtoken's aws-lc backend
/// reads a key only inside `verify`, where a broken key and a wrong signature look alike,
/// so a trial verification would not tell them apart.
#[cfg(all(feature = "aws-lc", not(feature = "rust-crypto")))]
fn probed(material: Material, public: &[u8]) -> Result<Material, String> {
    use aws_lc_rs::signature::{self as lc, UnparsedPublicKey, VerificationAlgorithm};
    let alg: &'static dyn VerificationAlgorithm = match material.kind {
        KeyKind::EcP256 => &lc::ECDSA_P256_SHA256_FIXED,
        KeyKind::EcP384 => &lc::ECDSA_P384_SHA384_FIXED,
        KeyKind::Ed25519 => &lc::ED25519,
        KeyKind::Rsa | KeyKind::RsaPss => &lc::RSA_PKCS1_2048_8192_SHA256,
        _ => return Ok(material),
    };
    match UnparsedPublicKey::new(alg, public).parse() {
        Ok(_) => Ok(material),
        Err(_) => Err(format!("not a valid {}", material.kind)),
    }
}
