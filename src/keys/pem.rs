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
    if !nesting_within(der, MAX_NESTING) {
        return Err(format!("malformed DER (nested deeper than {MAX_NESTING})"));
    }
    simple_asn1::from_der(der).map_err(|e| format!("malformed DER ({e})"))
}

/// simple_asn1 parses nested values recursively, and thousands of nested SEQUENCEs would
/// exhaust the stack: an abort, which no panic boundary catches, and the file is re-read
/// on every SIGHUP. Keys and certificates nest less than ten deep.
const MAX_NESTING: usize = 32;

/// Walks the TLV structure without recursion; false if constructed values nest deeper
/// than `limit`. Malformed lengths are left to the parser to refuse.
fn nesting_within(der: &[u8], limit: usize) -> bool {
    let mut open_ends: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < der.len() {
        while open_ends.last().is_some_and(|&end| end <= i) {
            open_ends.pop();
        }
        let tag = der[i];
        i += 1;
        if tag & 0x1f == 0x1f {
            while der.get(i).is_some_and(|b| b & 0x80 != 0) {
                i += 1;
            }
            i += 1;
        }
        let Some(&first) = der.get(i) else {
            return true;
        };
        i += 1;
        let length = if first & 0x80 == 0 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            let Some(bytes) = der.get(i..i + count).filter(|_| count <= 8) else {
                return true;
            };
            i += count;
            bytes
                .iter()
                .fold(0usize, |n, b| n.saturating_mul(256) | usize::from(*b))
        };
        if tag & 0x20 != 0 {
            open_ends.push(i.saturating_add(length));
            if open_ends.len() > limit {
                return false;
            }
        } else {
            i = i.saturating_add(length);
        }
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        // SEQUENCE { SEQUENCE { ... NULL } } with long-form lengths where needed.
        let mut der = vec![0x05, 0x00];
        for _ in 0..depth {
            let mut outer = vec![0x30];
            let len = der.len();
            if len < 128 {
                outer.push(len as u8);
            } else {
                outer.extend([0x84]);
                outer.extend((len as u32).to_be_bytes());
            }
            outer.extend(der);
            der = outer;
        }
        der
    }

    #[test]
    fn deep_nesting_is_refused_before_the_recursive_parser_sees_it() {
        assert!(nesting_within(&nested(MAX_NESTING), MAX_NESTING));
        assert!(!nesting_within(&nested(MAX_NESTING + 1), MAX_NESTING));
        let pem = ::pem::encode(&::pem::Pem::new("PUBLIC KEY", nested(1_000)));
        let err = public_keys(pem.as_bytes()).err().unwrap();
        assert!(err.contains("nested deeper than 32"), "{err}");
    }

    #[test]
    fn real_keys_and_certificates_nest_shallowly() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");
        for file in [
            "rsa.cert.pem",
            "ec521.cert.pem",
            "rsa-pss.pub.pem",
            "rsa.pkcs1.pub.pem",
        ] {
            let pem = std::fs::read(format!("{dir}/{file}")).unwrap();
            let block = ::pem::parse(pem).unwrap();
            assert!(nesting_within(block.contents(), 12), "{file}");
        }
    }
}
