//! JWS algorithm names and the kind of key each one needs.

use std::fmt;

/// A signature algorithm this plugin verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    /// ECDSA on secp256k1 with SHA-256 (RFC 8812).
    ES256K,
    ES384,
    /// ECDSA on P-521 with SHA-512; PyJWT also calls it ES521.
    ES512,
    EdDSA,
}

/// The kind of key an algorithm verifies with. A key of one kind never verifies a token
/// whose algorithm wants another, so an RSA public key can never be used as an HMAC secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Hmac,
    Rsa,
    /// An RSA key whose certificate or SubjectPublicKeyInfo restricts it to RSASSA-PSS.
    RsaPss,
    EcP256,
    EcP384,
    EcP521,
    EcSecp256k1,
    Ed25519,
}

impl Algorithm {
    pub const ALL: [Algorithm; 14] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES256K,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// PyJWT's name for ES512, after the curve's size rather than the hash's.
    pub const ES521_ALIAS: &'static str = "ES521";

    /// Parses a header or configuration name. Names are case-sensitive, as in RFC 7518.
    pub fn from_name(name: &str) -> Result<Algorithm, UnknownAlgorithm> {
        if name == Self::ES521_ALIAS {
            return Ok(Algorithm::ES512);
        }
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or(UnknownAlgorithm)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES256K => "ES256K",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    pub fn key_kind(self) -> KeyKind {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyKind::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyKind::Rsa,
            Algorithm::ES256 => KeyKind::EcP256,
            Algorithm::ES256K => KeyKind::EcSecp256k1,
            Algorithm::ES384 => KeyKind::EcP384,
            Algorithm::ES512 => KeyKind::EcP521,
            Algorithm::EdDSA => KeyKind::Ed25519,
        }
    }

    /// True when a key of this kind may verify this algorithm's signatures.
    pub fn accepts(self, kind: KeyKind) -> bool {
        let pss = matches!(self, Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512);
        kind == self.key_kind() || (pss && kind == KeyKind::RsaPss)
    }

    /// The same algorithm in jsonwebtoken, which has all but the two RustCrypto curves.
    pub(crate) fn to_jsonwebtoken(self) -> Option<jsonwebtoken::Algorithm> {
        use jsonwebtoken::Algorithm as J;
        Some(match self {
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
            Algorithm::ES256K | Algorithm::ES512 => return None,
        })
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Hmac => "HMAC secret",
            KeyKind::Rsa => "RSA key",
            KeyKind::RsaPss => "RSA-PSS key",
            KeyKind::EcP256 => "EC P-256 key",
            KeyKind::EcP384 => "EC P-384 key",
            KeyKind::EcP521 => "EC P-521 key",
            KeyKind::EcSecp256k1 => "EC secp256k1 key",
            KeyKind::Ed25519 => "Ed25519 key",
        })
    }
}

/// A name that is not one of the JWS signature algorithms verified here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownAlgorithm;

/// A set of algorithms, as configured by `plugin_opt_algorithm`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    pub fn insert(&mut self, alg: Algorithm) -> bool {
        let fresh = !self.contains(alg);
        self.0 |= alg.bit();
        fresh
    }

    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

impl fmt::Display for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alg) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(alg.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Ok(alg));
        }
    }

    #[test]
    fn names_are_case_sensitive_and_none_is_unknown() {
        for name in ["hs256", "es256k", "none", "", "ES256k", "ES522"] {
            assert_eq!(Algorithm::from_name(name), Err(UnknownAlgorithm), "{name}");
        }
    }

    #[test]
    fn es521_is_another_name_for_es512() {
        assert_eq!(Algorithm::from_name("ES521"), Ok(Algorithm::ES512));
        assert_eq!(Algorithm::ES512.name(), "ES512");
    }

    #[test]
    fn each_family_has_its_own_key_kind() {
        assert_eq!(Algorithm::HS384.key_kind(), KeyKind::Hmac);
        assert_eq!(Algorithm::PS512.key_kind(), KeyKind::Rsa);
        assert_eq!(Algorithm::ES256.key_kind(), KeyKind::EcP256);
        assert_eq!(Algorithm::ES384.key_kind(), KeyKind::EcP384);
        assert_eq!(Algorithm::ES512.key_kind(), KeyKind::EcP521);
        assert_eq!(Algorithm::ES256K.key_kind(), KeyKind::EcSecp256k1);
        assert_eq!(Algorithm::EdDSA.key_kind(), KeyKind::Ed25519);
    }

    #[test]
    fn pss_restricted_keys_verify_only_pss() {
        assert!(Algorithm::PS256.accepts(KeyKind::RsaPss));
        assert!(Algorithm::PS256.accepts(KeyKind::Rsa));
        assert!(!Algorithm::RS256.accepts(KeyKind::RsaPss));
        assert!(!Algorithm::HS256.accepts(KeyKind::Rsa));
        assert!(!Algorithm::ES256.accepts(KeyKind::EcP384));
        assert!(!Algorithm::ES256.accepts(KeyKind::EcSecp256k1));
        assert!(!Algorithm::ES256K.accepts(KeyKind::EcP256));
        assert!(!Algorithm::ES512.accepts(KeyKind::EcP384));
    }

    #[test]
    fn set_holds_what_was_inserted() {
        let mut set = AlgorithmSet::default();
        assert!(set.is_empty());
        assert!(set.insert(Algorithm::RS256));
        assert!(set.insert(Algorithm::ES256));
        assert!(!set.insert(Algorithm::RS256));
        assert!(set.contains(Algorithm::ES256));
        assert!(!set.contains(Algorithm::HS256));
        assert_eq!(set.to_string(), "RS256,ES256");
    }
}
