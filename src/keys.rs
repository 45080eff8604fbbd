//! Verification keys: the HMAC secret and public keys read from PEM, each tagged with the
//! one kind of algorithm it may verify.

use std::fs;
use std::path::Path;

use jsonwebtoken::DecodingKey;
use simple_asn1::{ASN1Block, ASN1Class, BigUint, OID};

use crate::algorithm::{Algorithm, AlgorithmSet, KeyKind};
use crate::config::{Config, ConfigError, SecretSource};

/// RFC 7518 section 3.3 asks for at least 2048 bits; the verifier accepts at most 8192.
const RSA_BITS: std::ops::RangeInclusive<u64> = 2048..=8192;

pub struct Key {
    kind: KeyKind,
    decoding: DecodingKey,
}

impl Key {
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// Every key the plugin verifies with.
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// Reads the configured keys and checks that each configured algorithm has a key and
    /// each key serves a configured algorithm.
    pub fn load(config: &Config) -> Result<KeySet, ConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = &config.secret {
            let (option, bytes) = match secret {
                SecretSource::Text(text) => ("secret_key", text.clone()),
                SecretSource::File(path) => ("secret_key_file", read_secret_file(path)?),
            };
            let key = hmac_key(&bytes).map_err(|p| ConfigError::new(option, p))?;
            require_use(option, "an HMAC secret", key.kind, config.algorithms)?;
            keys.push(key);
        }
        if let Some(path) = &config.public_key_file {
            let option = "public_key_file";
            let pem = fs::read(path).map_err(|e| {
                ConfigError::new(option, format!("cannot read {}: {e}", path.display()))
            })?;
            let found = public_keys_from_pem(&pem)
                .map_err(|p| ConfigError::new(option, format!("{}: {p}", path.display())))?;
            for key in found {
                let what = format!("{} holds an {}", path.display(), key.kind);
                require_use(option, &what, key.kind, config.algorithms)?;
                keys.push(key);
            }
        }
        let set = KeySet { keys };
        for alg in config.algorithms.iter() {
            if set.for_algorithm(alg).next().is_none() {
                return Err(ConfigError::new("algorithm", missing_key_problem(alg)));
            }
        }
        Ok(set)
    }

    /// The keys that may verify a token signed with `alg`.
    pub fn for_algorithm(&self, alg: Algorithm) -> impl Iterator<Item = &Key> {
        self.keys.iter().filter(move |k| alg.accepts(k.kind))
    }
}

fn missing_key_problem(alg: Algorithm) -> String {
    let option = match alg.key_kind() {
        KeyKind::Hmac => "plugin_opt_secret_key or plugin_opt_secret_key_file",
        _ => "plugin_opt_public_key_file",
    };
    format!(
        "{alg} needs an {} and none is configured: set {option}",
        alg.key_kind()
    )
}

fn require_use(
    option: &str,
    what: &str,
    kind: KeyKind,
    algorithms: AlgorithmSet,
) -> Result<(), ConfigError> {
    if algorithms.iter().any(|a| a.accepts(kind)) {
        Ok(())
    } else {
        Err(ConfigError::new(
            option,
            format!("{what}, which fits none of the configured algorithms ({algorithms})"),
        ))
    }
}

/// One trailing newline is dropped: editors add it, and nobody means it as part of a secret.
fn read_secret_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let mut bytes = fs::read(path).map_err(|e| {
        ConfigError::new(
            "secret_key_file",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    Ok(bytes)
}

pub fn hmac_key(secret: &[u8]) -> Result<Key, String> {
    let decoding =
        DecodingKey::from_secret(secret).map_err(|_| "the secret is empty".to_owned())?;
    Ok(Key {
        kind: KeyKind::Hmac,
        decoding,
    })
}

/// Every public key in a PEM file: SubjectPublicKeyInfo, PKCS#1 RSA public keys and X.509
/// certificates, in any mix.
pub fn public_keys_from_pem(pem_bytes: &[u8]) -> Result<Vec<Key>, String> {
    let blocks = pem::parse_many(pem_bytes).map_err(|e| format!("not valid PEM ({e})"))?;
    if blocks.is_empty() {
        return Err("no PEM block found".into());
    }
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            public_key_from_block(block.tag(), block.contents())
                .map_err(|p| format!("PEM block {} ({}): {p}", i + 1, block.tag()))
        })
        .collect()
}

fn public_key_from_block(tag: &str, der: &[u8]) -> Result<Key, String> {
    match tag {
        "PUBLIC KEY" => spki_key(outer_sequence(&parse_der(der)?)?),
        "RSA PUBLIC KEY" => rsa_key(der, KeyKind::Rsa),
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
const P256: [u64; 7] = [1, 2, 840, 10045, 3, 1, 7];
const P384: [u64; 5] = [1, 3, 132, 0, 34];
const P521: [u64; 5] = [1, 3, 132, 0, 35];
const SECP256K1: [u64; 5] = [1, 3, 132, 0, 10];

fn oid_is(oid: &OID, arcs: &[u64]) -> bool {
    let expected = OID::new(arcs.iter().map(|a| BigUint::from(*a)).collect());
    *oid == expected
}

fn spki_key(spki: &[ASN1Block]) -> Result<Key, String> {
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
        return rsa_key(key_bytes, KeyKind::Rsa);
    }
    if oid_is(oid, &RSASSA_PSS) {
        return rsa_key(key_bytes, KeyKind::RsaPss);
    }
    if oid_is(oid, &ED25519) {
        if key_bytes.len() != 32 {
            return Err("an Ed25519 key must be 32 bytes".into());
        }
        let key = Key {
            kind: KeyKind::Ed25519,
            decoding: DecodingKey::from_ed_der(key_bytes),
        };
        probe(&key)?;
        return Ok(key);
    }
    if oid_is(oid, &ED448) {
        return Err("Ed448 keys are not supported (EdDSA here means Ed25519)".into());
    }
    if oid_is(oid, &EC_PUBLIC_KEY) {
        let Some(ASN1Block::ObjectIdentifier(_, curve)) = algorithm.get(1) else {
            return Err("EC key without a named curve".into());
        };
        let kind = if oid_is(curve, &P256) {
            KeyKind::EcP256
        } else if oid_is(curve, &P384) {
            KeyKind::EcP384
        } else if oid_is(curve, &P521) {
            return Err("P-521 keys (ES512) are not supported yet".into());
        } else if oid_is(curve, &SECP256K1) {
            return Err("secp256k1 keys (ES256K) are not supported yet".into());
        } else {
            return Err("EC key on an unsupported curve".into());
        };
        let key = Key {
            kind,
            decoding: DecodingKey::from_ec_der(key_bytes),
        };
        probe(&key)?;
        return Ok(key);
    }
    Err("unsupported key algorithm".into())
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

/// Loads an RSA key with the same code that verifies with it, and holds it to RFC 7518's
/// minimum size.
fn rsa_key(pkcs1: &[u8], kind: KeyKind) -> Result<Key, String> {
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
    Ok(Key {
        kind,
        decoding: DecodingKey::from_rsa_der(pkcs1),
    })
}

/// Builds a verifier from the key, as every verification will: an invalid point fails here,
/// at start-up, rather than on every CONNECT.
fn probe(key: &Key) -> Result<(), String> {
    let Some(alg) = Algorithm::ALL.into_iter().find(|a| a.accepts(key.kind)) else {
        return Err(format!("no algorithm uses an {}", key.kind));
    };
    jsonwebtoken::crypto::verify("", b"", &key.decoding, alg.to_jsonwebtoken())
        .map(|_| ())
        .map_err(|_| format!("not a valid {}", key.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn load(options: &[(&str, &str)]) -> Result<KeySet, ConfigError> {
        KeySet::load(&Config::from_options(options.iter().copied()).unwrap())
    }

    fn load_err(options: &[(&str, &str)]) -> ConfigError {
        match load(options) {
            Ok(_) => panic!("{options:?} loaded"),
            Err(e) => e,
        }
    }

    #[test]
    fn each_public_key_file_gives_its_kind() {
        for (file, alg, kind) in [
            ("rsa.pub.pem", "RS256", KeyKind::Rsa),
            ("rsa.pkcs1.pub.pem", "PS384", KeyKind::Rsa),
            ("rsa.cert.pem", "RS512", KeyKind::Rsa),
            ("ec256.pub.pem", "ES256", KeyKind::EcP256),
            ("ec256.cert.pem", "ES256", KeyKind::EcP256),
            ("ec384.pub.pem", "ES384", KeyKind::EcP384),
            ("ed25519.pub.pem", "EdDSA", KeyKind::Ed25519),
        ] {
            let set = load(&[("algorithm", alg), ("public_key_file", &fixture(file))]).unwrap();
            let keys: Vec<&Key> = set
                .for_algorithm(Algorithm::from_name(alg).unwrap())
                .collect();
            assert_eq!(keys.len(), 1, "{file}");
            assert_eq!(keys[0].kind(), kind, "{file}");
        }
    }

    #[test]
    fn a_pss_restricted_key_verifies_only_pss() {
        let pss = fixture("rsa-pss.pub.pem");
        let set = load(&[("algorithm", "PS256"), ("public_key_file", &pss)]).unwrap();
        assert_eq!(
            set.for_algorithm(Algorithm::PS256).next().unwrap().kind(),
            KeyKind::RsaPss
        );
        let err = load_err(&[("algorithm", "RS256"), ("public_key_file", &pss)]);
        assert!(
            err.problem
                .contains("holds an RSA-PSS key, which fits none"),
            "{err}"
        );
    }

    #[test]
    fn several_pem_blocks_give_several_keys() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.pem");
        let mut pem = fs::read(fixture("rsa.pub.pem")).unwrap();
        pem.extend(fs::read(fixture("ec256.cert.pem")).unwrap());
        pem.extend(fs::read(fixture("rsa-other.pub.pem")).unwrap());
        fs::write(&bundle, pem).unwrap();
        let set = load(&[
            ("algorithm", "RS256,ES256"),
            ("public_key_file", bundle.to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(set.for_algorithm(Algorithm::RS256).count(), 2);
        assert_eq!(set.for_algorithm(Algorithm::ES256).count(), 1);
        assert_eq!(set.for_algorithm(Algorithm::ES384).count(), 0);
        assert_eq!(set.for_algorithm(Algorithm::HS256).count(), 0);
    }

    #[test]
    fn secret_file_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        for (content, expected) in [
            (&b"abc\n"[..], &b"abc"[..]),
            (b"abc\r\n", b"abc"),
            (b"abc\n\n", b"abc\n"),
            (b"abc", b"abc"),
        ] {
            fs::write(&path, content).unwrap();
            assert_eq!(read_secret_file(&path).unwrap(), expected);
        }
        fs::write(&path, "\n").unwrap();
        let err = load_err(&[("secret_key_file", path.to_str().unwrap())]);
        assert_eq!(err.option, "secret_key_file");
        assert!(err.problem.contains("empty"), "{err}");
    }

    #[test]
    fn start_up_errors_name_the_option_and_the_problem() {
        let missing = "/nonexistent/key.pem".to_owned();
        type Case<'a> = (Vec<(&'a str, String)>, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![],
                "algorithm",
                "HS256 needs an HMAC secret and none is configured",
            ),
            (
                vec![("algorithm", "RS256".into())],
                "algorithm",
                "RS256 needs an RSA key and none is configured: set plugin_opt_public_key_file",
            ),
            (
                vec![
                    ("public_key_file", missing.clone()),
                    ("algorithm", "RS256".into()),
                ],
                "public_key_file",
                "cannot read /nonexistent/key.pem",
            ),
            (
                vec![("secret_key_file", missing)],
                "secret_key_file",
                "cannot read /nonexistent/key.pem",
            ),
            (
                vec![
                    ("algorithm", "RS256".into()),
                    ("public_key_file", fixture("rsa.pem")),
                ],
                "public_key_file",
                "a private key",
            ),
            (
                vec![
                    ("algorithm", "ES256".into()),
                    ("public_key_file", fixture("ec521.pub.pem")),
                ],
                "public_key_file",
                "P-521 keys (ES512) are not supported yet",
            ),
            (
                vec![
                    ("algorithm", "ES256".into()),
                    ("public_key_file", fixture("ec384.pub.pem")),
                ],
                "public_key_file",
                "holds an EC P-384 key, which fits none of the configured algorithms (ES256)",
            ),
            (
                vec![
                    ("secret_key", "s".into()),
                    ("algorithm", "RS256".into()),
                    ("public_key_file", fixture("rsa.pub.pem")),
                ],
                "secret_key",
                "an HMAC secret, which fits none of the configured algorithms (RS256)",
            ),
            (
                vec![
                    ("algorithm", "RS256".into()),
                    ("public_key_file", fixture("hmac.secret")),
                ],
                "public_key_file",
                "no PEM block found",
            ),
        ];
        for (options, option, problem) in cases {
            let borrowed: Vec<(&str, &str)> =
                options.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let err = load_err(&borrowed);
            assert_eq!(err.option, option, "{options:?}: {err}");
            assert!(err.problem.contains(problem), "{options:?}: {err}");
        }
    }

    #[test]
    fn short_rsa_keys_and_broken_points_are_refused() {
        // A 1024-bit RSA public key (PKCS#1), too short for RFC 7518.
        let short = "MIGJAoGBAMn0sbbu+Yq1bbh4jU0IlWZ2nc7LDbmo8LWXgwj3sPGrS6BsvKBoVwDhxNNCWzD2XQSJ2wNYzC5Ztf3Efc0mM5uc7yAGdYpX9KZhTMBqiIo6lRrbFEaN7K1eTzbmGf/MQR0Zfq2p13TgxSXJUPv7nzFTdTfsJxxwQuaaq4cbJf3zAgMBAAE=";
        let der =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, short).unwrap();
        let err = rsa_key(&der, KeyKind::Rsa).err().unwrap();
        assert!(err.contains("RSA key of 1024 bits"), "{err}");

        // An even modulus: structurally an RSA key, arithmetically not.
        let pem = fs::read_to_string(fixture("rsa.pkcs1.pub.pem")).unwrap();
        let mut der = pem::parse(pem).unwrap().into_contents();
        let last_modulus_byte = der.len() - 6; // the exponent 65537 takes the last 5 bytes
        der[last_modulus_byte] &= 0xfe;
        let err = rsa_key(&der, KeyKind::Rsa).err().unwrap();
        assert!(err.contains("not a valid RSA public key"), "{err}");

        let mut pem = fs::read_to_string(fixture("ec256.pub.pem")).unwrap();
        // Flip a byte inside the point so that it is no longer on the curve.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        pem = pem::encode(&pem::Pem::new("PUBLIC KEY", der));
        let err = public_keys_from_pem(pem.as_bytes()).err().unwrap();
        assert!(err.contains("not a valid EC P-256 key"), "{err}");
    }
}
