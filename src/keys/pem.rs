//! Public keys from PEM: SubjectPublicKeyInfo, PKCS#1 RSA public keys and X.509
//! certificates, in any mix, read with a small DER reader rather than a full X.509 stack.

use simple_asn1::{ASN1Block, ASN1Class, BigUint, OID};

use crate::algorithm::KeyKind;

use super::material::{self, Material};

/// Every public key in a PEM file, in file order.
pub fn public_keys(pem_bytes: &[u8]) -> Result<Vec<Material>, String> {
    let blocks = pem::parse_many(pem_bytes).map_err(|e| format!("not valid PEM ({e})"))?;
    if blocks.is_empty() {
        return Err("no PEM block found".into());
    }
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            public_key(block.tag(), block.contents())
                .map_err(|p| format!("PEM block {} ({}): {p}", i + 1, block.tag()))
        })
        .collect()
}

fn public_key(tag: &str, der: &[u8]) -> Result<Material, String> {
    match tag {
        "PUBLIC KEY" => spki_key(outer_sequence(&parse_der(der)?)?),
        "RSA PUBLIC KEY" => material::rsa(der, KeyKind::Rsa),
        "CERTIFICATE" => spki_key(certificate_spki(outer_sequence(&parse_der(der)?)?)?),
        t if t.contains("PRIVATE KEY") => {
            Err("a private key: give the broker only the public key or a certificate".into())
        }
        _ => Err("not a public key or certificate".into()),
    }
}

fn parse_der(der: &[u8]) -> Result<Vec<ASN1Block>, String> {
    simple_asn1::from_der(der).map_err(|e| format!("malformed DER ({e})"))
}

fn outer_sequence(blocks: &[ASN1Block]) -> Result<&[ASN1Block], String> {
    match blocks {
        [ASN1Block::Sequence(_, items)] => Ok(items),
        _ => Err("malformed DER: expected one SEQUENCE".into()),
    }
}

const RSA_ENCRYPTION: [u64; 7] = [1, 2, 840, 113549, 1, 1, 1];
const RSASSA_PSS: [u64; 7] = [1, 2, 840, 113549, 1, 1, 10];
const EC_PUBLIC_KEY: [u64; 6] = [1, 2, 840, 10045, 2, 1];
const ED25519: [u64; 4] = [1, 3, 101, 112];
const ED448: [u64; 4] = [1, 3, 101, 113];
const CURVES: [(&[u64], KeyKind); 4] = [
    (&[1, 2, 840, 10045, 3, 1, 7], KeyKind::EcP256),
    (&[1, 3, 132, 0, 34], KeyKind::EcP384),
    (&[1, 3, 132, 0, 35], KeyKind::EcP521),
    (&[1, 3, 132, 0, 10], KeyKind::EcSecp256k1),
];

fn oid_is(oid: &OID, arcs: &[u64]) -> bool {
    let expected = OID::new(arcs.iter().map(|a| BigUint::from(*a)).collect());
    *oid == expected
}

fn spki_key(spki: &[ASN1Block]) -> Result<Material, String> {
    let (algorithm, key_bytes) = match spki {
        [
            ASN1Block::Sequence(_, algorithm),
            ASN1Block::BitString(_, bits, bytes),
        ] if bits % 8 == 0 => (algorithm.as_slice(), bytes.as_slice()),
        _ => return Err("malformed SubjectPublicKeyInfo".into()),
    };
    let Some(ASN1Block::ObjectIdentifier(_, oid)) = algorithm.first() else {
        return Err("malformed SubjectPublicKeyInfo algorithm".into());
    };
    if oid_is(oid, &RSA_ENCRYPTION) {
        material::rsa(key_bytes, KeyKind::Rsa)
    } else if oid_is(oid, &RSASSA_PSS) {
        material::rsa(key_bytes, KeyKind::RsaPss)
    } else if oid_is(oid, &ED25519) {
        material::ed25519(key_bytes)
    } else if oid_is(oid, &ED448) {
        Err("Ed448 keys are not supported (EdDSA here means Ed25519)".into())
    } else if oid_is(oid, &EC_PUBLIC_KEY) {
        let Some(ASN1Block::ObjectIdentifier(_, curve)) = algorithm.get(1) else {
            return Err("EC key without a named curve".into());
        };
        let Some((_, kind)) = CURVES.iter().find(|(arcs, _)| oid_is(curve, arcs)) else {
            return Err("EC key on an unsupported curve".into());
        };
        material::ec(*kind, key_bytes)
    } else {
        Err("unsupported key algorithm".into())
    }
}

/// Extracts the SubjectPublicKeyInfo of an X.509 certificate. Its validity dates and
/// issuer are not checked: the certificate is only a container for the key.
fn certificate_spki(certificate: &[ASN1Block]) -> Result<&[ASN1Block], String> {
    let Some(ASN1Block::Sequence(_, tbs)) = certificate.first() else {
        return Err("malformed certificate".into());
    };
    let skip_version = matches!(tbs.first(), Some(ASN1Block::Explicit(ASN1Class::ContextSpecific, _, tag, _)) if *tag == BigUint::from(0u8));
    let index = if skip_version { 6 } else { 5 };
    match tbs.get(index) {
        Some(ASN1Block::Sequence(_, spki)) => Ok(spki),
        _ => Err("malformed certificate: no subject public key".into()),
    }
}

/// The PKCS#1 encoding of an RSA public key given as its modulus and exponent (big-endian,
/// as in a JWK), so that a JWK's RSA key is loaded by the same path as a PEM one.
pub fn pkcs1_rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Result<Vec<u8>, String> {
    let integer = |bytes: &[u8]| {
        ASN1Block::Integer(0, simple_asn1::BigInt::from(BigUint::from_bytes_be(bytes)))
    };
    simple_asn1::to_der(&ASN1Block::Sequence(
        0,
        vec![integer(modulus), integer(exponent)],
    ))
    .map_err(|e| format!("cannot encode the RSA key ({e})"))
}
