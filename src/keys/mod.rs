//! Verification keys from every configured source (the HMAC secret, a PEM file, a JWK
//! set), each tagged with the one kind of algorithm it may verify.

mod jwk;
mod material;
mod pem;

use std::fs;
use std::path::Path;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::algorithm::{Algorithm, AlgorithmSet, KeyKind};
use crate::config::{Config, ConfigError, SecretEncoding, SecretSource};
use crate::signature::VerifyingKey;

pub use jwk::Entry as JwkEntry;
use jwk::Origin;

pub struct Key {
    kind: KeyKind,
    verifying: VerifyingKey,
    /// A JWK's `kid`. Keys from other sources have none.
    kid: Option<String>,
    /// A JWK's `alg`: the one algorithm the key may verify.
    only: Option<Algorithm>,
    /// From a JWK set, where a token's `kid` selects keys.
    from_set: bool,
}

impl Key {
    fn plain(material: material::Material) -> Key {
        Key {
            kind: material.kind,
            verifying: material.verifying,
            kid: None,
            only: None,
            from_set: false,
        }
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// True when this key may verify `alg`'s signatures.
    pub fn fits(&self, alg: Algorithm) -> bool {
        alg.accepts(self.kind) && self.only.is_none_or(|only| only == alg)
    }

    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        self.fits(alg) && self.verifying.verify(alg, message, signature)
    }
}

/// Every key the plugin verifies with.
pub struct KeySet {
    keys: Vec<Key>,
}

/// A key set and what was noticed while reading it, for the log.
pub struct Loaded {
    pub keys: KeySet,
    /// Keys passed over, one line each.
    pub notes: Vec<String>,
    /// On reload: files that now hold no key for the configured algorithms, and
    /// algorithms left without a key. Errors at start-up; on reload they are how an
    /// operator revokes a key, so the new set applies and these are warned about.
    pub shortfalls: Vec<ConfigError>,
}

/// Why keys are being read, which decides how strict the reading is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// At start-up every configured algorithm needs a key.
    Start,
    /// On SIGHUP a file that cannot be read or parsed still keeps the previous keys, but
    /// one that was emptied on purpose takes effect.
    Reload,
}

impl KeySet {
    /// Reads the configured keys and checks that each configured algorithm has a key. A
    /// secret that serves no configured algorithm, or a key file none of whose keys does,
    /// is an error (it shows a mistake); other keys that serve none are passed over with
    /// a note, since bundles and sets mix families.
    pub fn load(config: &Config, purpose: Purpose) -> Result<Loaded, ConfigError> {
        let mut keys = Vec::new();
        let mut notes = Vec::new();
        let mut shortfalls = Vec::new();
        if let Some(secret) = &config.secret {
            let (option, bytes) = match secret {
                SecretSource::Text(text) => ("secret_key", text.clone()),
                SecretSource::File(path) => ("secret_key_file", read_secret_file(path)?),
            };
            let bytes = decode_secret(&bytes, config.secret_encoding)
                .map_err(|p| ConfigError::new("secret_key_encoding", format!("{option}: {p}")))?;
            let key = material::hmac(&bytes).map_err(|p| ConfigError::new(option, p))?;
            require_use(option, "an HMAC secret", key.kind, config.algorithms)?;
            keys.push(Key::plain(key));
        }
        if let Some(path) = &config.public_key_file {
            shortfalls.extend(load_pem(path, config.algorithms, &mut keys, &mut notes)?);
        }
        if let Some(path) = &config.jwks_file {
            shortfalls.extend(load_jwks(path, config.algorithms, &mut keys, &mut notes)?);
        }
        let set = KeySet { keys };
        // Keys to be fetched may serve any algorithm but HMAC (a published set holds no
        // secret); until they come, tokens are refused with that reason.
        let fetched_later =
            |alg: Algorithm| config.remote.is_some() && alg.key_kind() != KeyKind::Hmac;
        for alg in config.algorithms.iter() {
            if !fetched_later(alg) && set.for_algorithm(alg).next().is_none() {
                shortfalls.push(ConfigError::new("algorithm", missing_key_problem(alg)));
            }
        }
        match (purpose, shortfalls.first()) {
            (Purpose::Start, Some(first)) => Err(first.clone()),
            _ => Ok(Loaded {
                keys: set,
                notes,
                shortfalls,
            }),
        }
    }

    /// The keys that may verify a token signed with `alg`.
    pub fn for_algorithm(&self, alg: Algorithm) -> impl Iterator<Item = &Key> {
        self.keys.iter().filter(move |k| k.fits(alg))
    }

    /// The keys to try for a token with this `alg` and `kid` header. A token with a `kid`
    /// is tried with the set's keys of that `kid` only, and with the keys from outside a
    /// set (the secret, PEM keys), which have no `kid` to compare; a token without one,
    /// with every key that fits its algorithm.
    pub fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Key> {
        self.for_algorithm(alg).filter(move |k| match kid {
            Some(wanted) => !k.from_set || k.kid() == Some(wanted),
            None => true,
        })
    }

    /// True when a key of a JWK set has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.from_set && k.kid() == Some(kid))
    }

    /// The `kid`s of the set's keys, for the log.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(Key::kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The keys of a PEM file that fit a configured algorithm; the others are noted. A file
/// with none is a shortfall.
fn load_pem(
    path: &Path,
    algorithms: AlgorithmSet,
    keys: &mut Vec<Key>,
    notes: &mut Vec<String>,
) -> Result<Option<ConfigError>, ConfigError> {
    let option = "public_key_file";
    let found = pem::public_keys(&read_file(option, path)?)
        .map_err(|p| ConfigError::new(option, format!("{}: {p}", path.display())))?;
    let mut passed_over = Vec::new();
    let before = keys.len();
    for (i, key) in found.into_iter().enumerate() {
        if algorithms.iter().any(|a| a.accepts(key.kind)) {
            keys.push(Key::plain(key));
        } else {
            passed_over.push(format!("PEM block {}: an {}", i + 1, key.kind));
        }
    }
    if keys.len() == before {
        return Ok(Some(ConfigError::new(
            option,
            format!(
                "{} holds no key for the configured algorithms ({}): {}",
                path.display(),
                algorithms,
                passed_over.join("; ")
            ),
        )));
    }
    notes.extend(passed_over.into_iter().map(|what| {
        format!(
            "{option} {}: passed over {what}, which fits none of the configured algorithms ({})",
            path.display(),
            algorithms
        )
    }));
    Ok(None)
}

fn load_jwks(
    path: &Path,
    algorithms: AlgorithmSet,
    keys: &mut Vec<Key>,
    notes: &mut Vec<String>,
) -> Result<Option<ConfigError>, ConfigError> {
    let option = "jwks_file";
    let mut passed_over = Vec::new();
    let found = read_jwks(
        &read_file(option, path)?,
        Origin::File,
        algorithms,
        keys,
        &mut passed_over,
    )
    .map_err(|p| ConfigError::new(option, format!("{}: {p}", path.display())))?;
    if found == 0 {
        return Ok(Some(ConfigError::new(
            option,
            format!(
                "{} holds no usable signing key ({})",
                path.display(),
                no_key_reasons(&passed_over)
            ),
        )));
    }
    notes.extend(
        passed_over
            .into_iter()
            .map(|why| format!("{option} {}: passed over {why}", path.display())),
    );
    Ok(None)
}

/// A key set fetched from the network, with what was passed over in it.
pub struct Fetched {
    pub keys: KeySet,
    pub notes: Vec<String>,
}

impl KeySet {
    /// Reads a JWK set fetched from `source`. A set with no usable key is refused like one
    /// that does not parse: a provider or proxy answering `{"keys":[]}` by mistake must not
    /// lock every client out, so the last good set keeps serving.
    pub fn from_fetched_jwks(
        bytes: &[u8],
        algorithms: AlgorithmSet,
        source: &str,
    ) -> Result<Fetched, String> {
        let mut keys = Vec::new();
        let mut passed_over = Vec::new();
        if read_jwks(
            bytes,
            Origin::Published,
            algorithms,
            &mut keys,
            &mut passed_over,
        )? == 0
        {
            return Err(format!(
                "no usable signing key ({})",
                no_key_reasons(&passed_over)
            ));
        }
        Ok(Fetched {
            keys: KeySet { keys },
            notes: passed_over
                .into_iter()
                .map(|why| format!("{source}: passed over {why}"))
                .collect(),
        })
    }
}

/// Adds a JWK set's keys that fit a configured algorithm to `keys`, says why each other
/// one was passed over, and counts the keys added.
fn read_jwks(
    bytes: &[u8],
    origin: Origin,
    algorithms: AlgorithmSet,
    keys: &mut Vec<Key>,
    passed_over: &mut Vec<String>,
) -> Result<usize, String> {
    let before = keys.len();
    for entry in jwk::read_set(bytes, origin)? {
        match entry {
            JwkEntry::Usable(jwk) => {
                let label = match &jwk.kid {
                    Some(kid) => format!("key '{}'", crate::token::sanitize(kid)),
                    None => "a key without kid".to_owned(),
                };
                let key = Key {
                    kind: jwk.material.kind,
                    verifying: jwk.material.verifying,
                    kid: jwk.kid,
                    only: jwk.alg,
                    from_set: true,
                };
                if algorithms.iter().any(|a| key.fits(a)) {
                    keys.push(key);
                } else {
                    passed_over.push(format!(
                        "{label}: an {}{}, which fits none of the configured algorithms ({algorithms})",
                        key.kind,
                        key.only.map(|a| format!(" for {a}")).unwrap_or_default()
                    ));
                }
            }
            JwkEntry::PassedOver { label, why } => passed_over.push(format!("{label}: {why}")),
        }
    }
    Ok(keys.len() - before)
}

fn no_key_reasons(passed_over: &[String]) -> String {
    if passed_over.is_empty() {
        "the set is empty".to_owned()
    } else {
        passed_over.join("; ")
    }
}

fn read_file(option: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    fs::read(path)
        .map_err(|e| ConfigError::new(option, format!("cannot read {}: {e}", path.display())))
}

fn missing_key_problem(alg: Algorithm) -> String {
    let option = match alg.key_kind() {
        KeyKind::Hmac => {
            "plugin_opt_secret_key, plugin_opt_secret_key_file or plugin_opt_jwks_file"
        }
        _ => "plugin_opt_public_key_file or plugin_opt_jwks_file",
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
    let mut bytes = read_file("secret_key_file", path)?;
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    Ok(bytes)
}

/// Decodes an encoded secret. Padding may be present or not; the message never quotes
/// the secret.
fn decode_secret(bytes: &[u8], encoding: SecretEncoding) -> Result<Vec<u8>, String> {
    let alphabet = match encoding {
        SecretEncoding::Text => return Ok(bytes.to_vec()),
        SecretEncoding::Base64 => &base64::alphabet::STANDARD,
        SecretEncoding::Base64Url => &base64::alphabet::URL_SAFE,
    };
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let name = match encoding {
        SecretEncoding::Base64 => "base64",
        _ => "base64url",
    };
    // Tools such as base64(1) wrap lines; whitespace is never part of the encoding.
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    GeneralPurpose::new(alphabet, lenient)
        .decode(text)
        .map_err(|_| format!("the secret is not valid {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn load(options: &[(&str, &str)]) -> Result<KeySet, ConfigError> {
        load_with_notes(options).map(|loaded| loaded.keys)
    }

    fn load_with_notes(options: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        KeySet::load(
            &Config::from_options(options.iter().copied()).unwrap(),
            Purpose::Start,
        )
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
            ("ec521.pub.pem", "ES512", KeyKind::EcP521),
            ("ec521.cert.pem", "ES521", KeyKind::EcP521),
            ("secp256k1.pub.pem", "ES256K", KeyKind::EcSecp256k1),
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
            err.problem.contains(
                "holds no key for the configured algorithms (RS256): PEM block 1: an RSA-PSS key"
            ),
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

        // With only RS256 configured, the EC certificate is passed over, with a note.
        let loaded = load_with_notes(&[
            ("algorithm", "RS256"),
            ("public_key_file", bundle.to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(loaded.keys.len(), 2);
        assert_eq!(loaded.notes.len(), 1);
        assert!(
            loaded.notes[0].ends_with(
                "passed over PEM block 2: an EC P-256 key, which fits none of the configured algorithms (RS256)"
            ),
            "{:?}",
            loaded.notes
        );
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
                    ("public_key_file", fixture("ec224.pub.pem")),
                ],
                "public_key_file",
                "EC key on an unsupported curve",
            ),
            (
                vec![
                    ("algorithm", "ES256".into()),
                    ("public_key_file", fixture("ec384.pub.pem")),
                ],
                "public_key_file",
                "holds no key for the configured algorithms (ES256): PEM block 1: an EC P-384 key",
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
        let err = material::rsa(&der, KeyKind::Rsa).err().unwrap();
        assert!(err.contains("RSA key of 1024 bits"), "{err}");

        // An even modulus: structurally an RSA key, arithmetically not.
        let pem = fs::read_to_string(fixture("rsa.pkcs1.pub.pem")).unwrap();
        let mut der = ::pem::parse(pem).unwrap().into_contents();
        let last_modulus_byte = der.len() - 6; // the exponent 65537 takes the last 5 bytes
        der[last_modulus_byte] &= 0xfe;
        let err = material::rsa(&der, KeyKind::Rsa).err().unwrap();
        assert!(err.contains("not a valid RSA public key"), "{err}");

        for (file, kind) in [
            ("ec256.pub.pem", "EC P-256 key"),
            ("ec521.pub.pem", "EC P-521 key"),
            ("secp256k1.pub.pem", "EC secp256k1 key"),
        ] {
            // Flip a bit of the point's last coordinate byte so that it is off the curve.
            let mut der = ::pem::parse(fs::read(fixture(file)).unwrap())
                .unwrap()
                .into_contents();
            let last = der.len() - 1;
            der[last] ^= 0x01;
            let pem = ::pem::encode(&::pem::Pem::new("PUBLIC KEY", der));
            let err = pem::public_keys(pem.as_bytes()).err().unwrap();
            assert!(
                err.contains(&format!("not a valid {kind}")),
                "{file}: {err}"
            );
        }
    }

    fn write_jwks(dir: &tempfile::TempDir, json: &str) -> String {
        let path = dir.path().join("jwks.json");
        fs::write(&path, json).unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[test]
    fn the_fixture_key_set_gives_every_kind_and_notes_what_it_passes_over() {
        let loaded = load_with_notes(&[
            (
                "algorithm",
                "HS256,RS256,PS256,ES256,ES256K,ES384,ES512,EdDSA",
            ),
            ("jwks_file", &fixture("jwks.json")),
        ])
        .unwrap();
        let kinds: Vec<(Option<&str>, KeyKind)> = loaded
            .keys
            .keys
            .iter()
            .map(|k| (k.kid(), k.kind()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Some("hmac"), KeyKind::Hmac),
                (Some("rsa"), KeyKind::Rsa),
                (Some("rsa-pss-only"), KeyKind::Rsa),
                (Some("ec256"), KeyKind::EcP256),
                (Some("secp256k1"), KeyKind::EcSecp256k1),
                (Some("ec384"), KeyKind::EcP384),
                (Some("ec521"), KeyKind::EcP521),
                (Some("ed25519"), KeyKind::Ed25519),
            ]
        );
        assert_eq!(loaded.notes.len(), 2, "{:?}", loaded.notes);
        assert!(loaded.notes[0].contains("passed over key 'encryption': its use is 'enc'"));
        assert!(loaded.notes[1].contains("passed over key 'oaep': its alg 'RSA-OAEP-256'"));
    }

    #[test]
    fn a_jwk_alg_restricts_its_key_and_kid_selects_among_set_keys() {
        let set = load(&[
            ("algorithm", "RS256,PS256"),
            ("jwks_file", &fixture("jwks.json")),
        ])
        .unwrap();
        let kids =
            |alg, kid| -> Vec<Option<&str>> { set.candidates(alg, kid).map(Key::kid).collect() };
        assert_eq!(kids(Algorithm::RS256, None), [Some("rsa")]);
        assert_eq!(
            kids(Algorithm::PS256, None),
            [Some("rsa"), Some("rsa-pss-only")]
        );
        assert_eq!(
            kids(Algorithm::PS256, Some("rsa-pss-only")),
            [Some("rsa-pss-only")]
        );
        assert!(kids(Algorithm::RS256, Some("rsa-pss-only")).is_empty());
        assert!(kids(Algorithm::RS256, Some("unknown")).is_empty());
        assert!(kids(Algorithm::RS256, Some("ec256")).is_empty());
    }

    #[test]
    fn keys_from_outside_a_set_answer_to_any_kid() {
        let set = load(&[
            ("algorithm", "RS256"),
            ("public_key_file", &fixture("rsa-other.pub.pem")),
            ("jwks_file", &fixture("jwks.json")),
        ])
        .unwrap();
        let kids: Vec<Option<&str>> = set
            .candidates(Algorithm::RS256, Some("unknown"))
            .map(Key::kid)
            .collect();
        assert_eq!(kids, [None]);
        assert_eq!(set.candidates(Algorithm::RS256, Some("rsa")).count(), 2);

        // A JWK without kid answers only to tokens without one.
        let dir = tempfile::tempdir().unwrap();
        let path = write_jwks(&dir, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#);
        let set = load(&[("algorithm", "HS256"), ("jwks_file", &path)]).unwrap();
        assert_eq!(set.candidates(Algorithm::HS256, Some("any")).count(), 0);
        assert_eq!(set.candidates(Algorithm::HS256, None).count(), 1);
    }

    #[test]
    fn a_published_set_never_yields_a_secret_and_passes_over_broken_keys() {
        let mut algorithms = AlgorithmSet::default();
        for alg in [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256] {
            algorithms.insert(alg);
        }
        let set = std::fs::read(fixture("jwks.json")).unwrap();
        let fetched = KeySet::from_fetched_jwks(&set, algorithms, "https://idp").unwrap();
        let kids: Vec<&str> = fetched.keys.kids().collect();
        assert!(!kids.contains(&"hmac"), "{kids:?}");
        assert!(kids.contains(&"rsa") && kids.contains(&"ec256"), "{kids:?}");
        assert!(
            fetched
                .notes
                .iter()
                .any(|n| n.starts_with("https://idp: passed over key 'hmac': a secret (oct) key")),
            "{:?}",
            fetched.notes
        );

        // A key the provider got wrong is passed over; the rest of the set serves.
        let broken_and_good = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"bad","x":"AA","y":"AA"}},{}]}}"#,
            serde_json::to_string(
                &serde_json::from_slice::<serde_json::Value>(&set).unwrap()["keys"][1]
            )
            .unwrap()
        );
        let fetched =
            KeySet::from_fetched_jwks(broken_and_good.as_bytes(), algorithms, "https://idp")
                .unwrap();
        assert_eq!(fetched.keys.kids().collect::<Vec<_>>(), ["rsa"]);
        assert!(
            fetched.notes[0].starts_with("https://idp: passed over key 'bad': it is broken: "),
            "{:?}",
            fetched.notes
        );

        // Nothing usable is an error, so that the last good set stays.
        let only_secret = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s"}]}"#;
        let why = KeySet::from_fetched_jwks(only_secret, algorithms, "https://idp")
            .err()
            .unwrap();
        assert!(
            why.starts_with("no usable signing key (key 's': a secret"),
            "{why}"
        );
    }

    #[test]
    fn a_broken_key_set_is_an_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let x = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let cases = [
            ("[]", "not a JSON object"),
            ("{", "not valid JSON"),
            (r#"{"kty":"oct","k":"c2VjcmV0"}"#, "a single JWK, not a set"),
            (r#"{"keys":{}}"#, "'keys' is not an array"),
            (
                r#"{"keys":[]}"#,
                "holds no usable signing key (the set is empty)",
            ),
            (
                r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","use":"enc"}]}"#,
                "no usable signing key (key 1: its use is 'enc', not 'sig')",
            ),
            (
                r#"{"keys":[{"kty":"oct","k":"***","kid":"h"}]}"#,
                "key 'h': 'k' is not base64url",
            ),
            (r#"{"keys":[{"kty":"oct"}]}"#, "key 1: no 'k'"),
            (r#"{"keys":[{"k":"c2VjcmV0"}]}"#, "key 1: no 'kty'"),
            (
                r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":7}]}"#,
                "'kid' is not a string",
            ),
            (
                r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"RS256"}]}"#,
                "its alg RS256 does not fit an HMAC secret",
            ),
            (
                r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","key_ops":"verify"}]}"#,
                "'key_ops' is not an array",
            ),
            (
                &format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}]}}"#),
                "key 1: not a valid EC P-256 key",
            ),
            (
                &format!(r#"{{"keys":[{{"kty":"EC","crv":"P-384","x":"{x}","y":"{x}"}}]}}"#),
                "'x' is 32 bytes, the curve needs 48",
            ),
            (
                &format!(
                    r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}","d":"{x}"}}]}}"#
                ),
                "a private key (it has 'd')",
            ),
            (
                r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#,
                "key 1: not a valid RSA public key",
            ),
        ];
        for (json, problem) in cases {
            let path = write_jwks(&dir, json);
            let err = load_err(&[
                ("algorithm", "HS256,ES256,ES384,RS256"),
                ("jwks_file", &path),
            ]);
            assert_eq!(err.option, "jwks_file", "{json}");
            assert!(err.problem.contains(problem), "{json}: {err}");
        }
    }

    #[test]
    fn jwks_keys_of_other_algorithms_are_passed_over_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_jwks(
            &dir,
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"OKP","crv":"Ed448","x":"AA","kid":"e"},{"kty":"EC","crv":"P-192","kid":"p"},{"kty":"XYZ"}]}"#,
        );
        let loaded = load_with_notes(&[("algorithm", "HS256"), ("jwks_file", &path)]).unwrap();
        assert_eq!(loaded.keys.len(), 1);
        assert_eq!(loaded.notes.len(), 3, "{:?}", loaded.notes);
        assert!(loaded.notes[0].contains("key 'e': curve 'Ed448' is not supported"));
        assert!(loaded.notes[1].contains("key 'p': curve 'P-192' is not supported"));
        assert!(loaded.notes[2].contains("key 4: key type 'XYZ' is not supported"));

        let err = load_err(&[("algorithm", "RS256"), ("jwks_file", &path)]);
        assert_eq!(err.option, "jwks_file", "{err}");
        assert!(err.problem.contains("no usable signing key (key 'h': an HMAC secret, which fits none of the configured algorithms (RS256); key 'e'"), "{err}");
        let only = load_err(&[
            ("algorithm", "ES256"),
            ("jwks_file", &fixture("jwks-rotated.json")),
        ]);
        assert_eq!(only.option, "jwks_file");
        assert!(
            only.problem.contains(
                "key 'rsa-2': an RSA key, which fits none of the configured algorithms (ES256)"
            ),
            "{only}"
        );
    }

    #[test]
    fn encoded_secrets_are_decoded() {
        // 0xfb 0xff 0xbf: '+' and '/' in base64, '-' and '_' in base64url.
        let secret = [0xfbu8, 0xff, 0xbf, b'k'];
        for (encoding, text) in [
            ("base64", "+/+/aw=="),
            ("base64", "+/+/aw"),
            ("base64url", "-_-_aw"),
            ("base64url", " -_-_aw== "),
            ("base64", "+/+/\naw==\n"),
        ] {
            assert_eq!(
                decode_secret(text.as_bytes(), parse_encoding(encoding)).unwrap(),
                secret,
                "{encoding} {text}"
            );
        }
        assert_eq!(decode_secret(b" a ", SecretEncoding::Text).unwrap(), b" a ");

        let err = load_err(&[("secret_key", "-_-_aw"), ("secret_key_encoding", "base64")]);
        assert_eq!(err.option, "secret_key_encoding");
        assert_eq!(err.problem, "secret_key: the secret is not valid base64");
        let err = load_err(&[("secret_key", "===="), ("secret_key_encoding", "base64url")]);
        assert!(err.problem.contains("secret_key"), "{err}");
    }

    fn parse_encoding(name: &str) -> SecretEncoding {
        Config::from_options([("secret_key", "x"), ("secret_key_encoding", name)])
            .unwrap()
            .secret_encoding
    }
}
