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
    ES384,
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
    Ed25519,
}

impl Algorithm {
    pub const ALL: [Algorithm; 12] = [
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
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// Names that are valid JWS algorithms but not verified yet: a configuration naming
    /// one gets a clear "not supported yet" rather than "unknown".
    const NOT_YET: [&'static str; 3] = ["ES256K", "ES512", "ES521"];

    /// Parses a header or configuration name. Names are case-sensitive, as in RFC 7518.
    pub fn from_name(name: &str) -> Result<Algorithm, UnknownAlgorithm> {
        if let Some(alg) = Self::ALL.into_iter().find(|a| a.name() == name) {
            return Ok(alg);
        }
        if Self::NOT_YET.contains(&name) {
            Err(UnknownAlgorithm::NotSupportedYet)
        } else {
            Err(UnknownAlgorithm::Unknown)
        }
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
            Algorithm::ES384 => "ES384",
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
            Algorithm::ES384 => KeyKind::EcP384,
            Algorithm::EdDSA => KeyKind::Ed25519,
        }
    }

    /// True when a key of this kind may verify this algorithm's signatures.
    pub fn accepts(self, kind: KeyKind) -> bool {
        let pss = matches!(self, Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512);
        kind == self.key_kind() || (pss && kind == KeyKind::RsaPss)
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
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
        }
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
            KeyKind::Ed25519 => "Ed25519 key",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownAlgorithm {
    NotSupportedYet,
    Unknown,
}

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
        assert_eq!(
            Algorithm::from_name("hs256"),
            Err(UnknownAlgorithm::Unknown)
        );
        assert_eq!(Algorithm::from_name("none"), Err(UnknownAlgorithm::Unknown));
        assert_eq!(Algorithm::from_name(""), Err(UnknownAlgorithm::Unknown));
    }

    #[test]
    fn later_curves_are_named_as_not_supported_yet() {
        for name in ["ES256K", "ES512", "ES521"] {
            assert_eq!(
                Algorithm::from_name(name),
                Err(UnknownAlgorithm::NotSupportedYet)
            );
        }
    }

    #[test]
    fn each_family_has_its_own_key_kind() {
        assert_eq!(Algorithm::HS384.key_kind(), KeyKind::Hmac);
        assert_eq!(Algorithm::PS512.key_kind(), KeyKind::Rsa);
        assert_eq!(Algorithm::ES256.key_kind(), KeyKind::EcP256);
        assert_eq!(Algorithm::ES384.key_kind(), KeyKind::EcP384);
        assert_eq!(Algorithm::EdDSA.key_kind(), KeyKind::Ed25519);
    }

    #[test]
    fn pss_restricted_keys_verify_only_pss() {
        assert!(Algorithm::PS256.accepts(KeyKind::RsaPss));
        assert!(Algorithm::PS256.accepts(KeyKind::Rsa));
        assert!(!Algorithm::RS256.accepts(KeyKind::RsaPss));
        assert!(!Algorithm::HS256.accepts(KeyKind::Rsa));
        assert!(!Algorithm::ES256.accepts(KeyKind::EcP384));
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
