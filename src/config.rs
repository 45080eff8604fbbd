//! The plugin's options (`plugin_opt_*` lines), parsed and checked once at start-up.
//!
//! Option names follow amqtt's JWT plugins so that a configuration carries over.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::algorithm::{Algorithm, AlgorithmSet, UnknownAlgorithm};

/// Where the HMAC secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Text(Vec<u8>),
    File(PathBuf),
}

/// How the HMAC secret is written down (`secret_key_encoding`): identity providers often
/// hand out secrets base64-encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecretEncoding {
    #[default]
    Text,
    Base64,
    Base64Url,
}

/// Which claims of a token carry what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimNames {
    pub user: String,
    pub publish: String,
    pub subscribe: String,
    pub receive: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub algorithms: AlgorithmSet,
    pub secret: Option<SecretSource>,
    pub secret_encoding: SecretEncoding,
    pub public_key_file: Option<PathBuf>,
    pub jwks_file: Option<PathBuf>,
    pub claims: ClaimNames,
    /// Seconds of clock skew forgiven for `exp`, `nbf` and `iat`.
    pub leeway: u32,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub required_claims: Vec<String>,
    /// Disconnect a client when its token expires (from TICK).
    pub disconnect_on_expiry: bool,
    /// Publish the will of a client disconnected at expiry.
    pub expiry_will: bool,
    /// MQTT 5 authentication methods that carry a JWT, upper-cased for comparison.
    pub auth_methods: Vec<String>,
    pub token_source: TokenSource,
    /// A claim that, when `true`, grants every topic action.
    pub superuser_claim: Option<String>,
    /// How many verified tokens are kept to skip verifying them again; 0 for none.
    pub token_cache: usize,
    /// Keys fetched over HTTPS (`jwks_url` or `oidc_issuer`).
    pub remote: Option<RemoteKeys>,
    /// Debug builds only (`plugin_opt_test_panic`): callbacks that panic for a client whose
    /// id starts with `panic-<callback>`, to show that a panic inside the plugin becomes a
    /// refusal or a denial. Release builds do not know the option.
    #[cfg(debug_assertions)]
    pub test_panic: Vec<String>,
}

/// Where the fetched key set is published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyUrl {
    /// `jwks_url`: the set itself.
    Jwks(String),
    /// `oidc_issuer`: an OpenID provider, whose discovery document names the set.
    Issuer(String),
}

/// A key set fetched over HTTPS and refreshed on a background thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteKeys {
    pub url: KeyUrl,
    /// Time between fetches while they succeed.
    pub refresh: Duration,
    /// Limit on each HTTPS request, connection to last byte.
    pub timeout: Duration,
    /// A PEM bundle trusted instead of the system's root certificates.
    pub ca_file: Option<PathBuf>,
    /// Least time between two fetches, whatever asks for them (an unknown `kid`, a failed
    /// fetch): the provider is never asked more often.
    pub min_refetch: Duration,
    /// Fail start-up unless the first fetch succeeds.
    pub required_at_start: bool,
}

impl RemoteKeys {
    /// The URL named in log lines.
    pub fn label(&self) -> &str {
        match &self.url {
            KeyUrl::Jwks(url) | KeyUrl::Issuer(url) => url,
        }
    }
}

/// Which CONNECT field carries the token on the basic-auth path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenSource {
    #[default]
    Password,
    /// For devices that can fill only the username: the username becomes the user claim.
    Username,
    /// The password if it holds a JWT, else the username.
    Either,
}

/// A configuration problem, reported as `plugin_opt_<option>: <problem>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub option: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(option: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            option: option.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin_opt_{}: {}", self.option, self.problem)
    }
}

impl std::error::Error for ConfigError {}

const OPTIONS: [&str; 27] = [
    "algorithm",
    "secret_key",
    "secret_key_file",
    "secret_key_encoding",
    "public_key_file",
    "jwks_file",
    "user_claim",
    "publish_claim",
    "subscribe_claim",
    "receive_claim",
    "leeway",
    "audience",
    "issuer",
    "required_claims",
    "disconnect_on_expiry",
    "expiry_will",
    "auth_methods",
    "token_source",
    "superuser_claim",
    "token_cache",
    "jwks_url",
    "oidc_issuer",
    "jwks_refresh",
    "jwks_timeout",
    "jwks_ca_file",
    "jwks_min_refetch",
    "jwks_required_at_start",
];

/// The `jwks_*` and `oidc_issuer` options as given, assembled after every option is read.
#[derive(Default)]
struct RemoteOptions {
    jwks_url: Option<String>,
    oidc_issuer: Option<String>,
    refresh: Option<Duration>,
    timeout: Option<Duration>,
    ca_file: Option<PathBuf>,
    min_refetch: Option<Duration>,
    required_at_start: Option<bool>,
}

impl RemoteOptions {
    fn assemble(self, issuer: &mut Option<String>) -> Result<Option<RemoteKeys>, ConfigError> {
        let url = match (self.jwks_url, self.oidc_issuer) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "oidc_issuer",
                    "cannot be combined with plugin_opt_jwks_url: the issuer's discovery document names its key set",
                ));
            }
            (Some(url), None) => KeyUrl::Jwks(url),
            (None, Some(url)) => {
                match issuer {
                    Some(other) if *other != url => {
                        return Err(ConfigError::new(
                            "issuer",
                            format!("'{other}' differs from plugin_opt_oidc_issuer '{url}'"),
                        ));
                    }
                    _ => *issuer = Some(url.clone()),
                }
                KeyUrl::Issuer(url)
            }
            (None, None) => {
                let given = [
                    ("jwks_refresh", self.refresh.is_some()),
                    ("jwks_timeout", self.timeout.is_some()),
                    ("jwks_ca_file", self.ca_file.is_some()),
                    ("jwks_min_refetch", self.min_refetch.is_some()),
                    ("jwks_required_at_start", self.required_at_start.is_some()),
                ];
                return match given.iter().find(|(_, set)| *set) {
                    Some((option, _)) => Err(ConfigError::new(
                        *option,
                        "is set but there is no plugin_opt_jwks_url or plugin_opt_oidc_issuer",
                    )),
                    None => Ok(None),
                };
            }
        };
        Ok(Some(RemoteKeys {
            url,
            refresh: self.refresh.unwrap_or(Duration::from_secs(300)),
            timeout: self.timeout.unwrap_or(Duration::from_secs(5)),
            ca_file: self.ca_file,
            min_refetch: self.min_refetch.unwrap_or(Duration::from_secs(30)),
            required_at_start: self.required_at_start.unwrap_or(false),
        }))
    }
}

impl Config {
    /// Parses the options of one `plugin` line. Every option may be given once; an unknown
    /// name is an error so that a typo cannot silently weaken the checks.
    pub fn from_options<'a, I>(options: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut seen: Vec<&str> = Vec::new();
        let mut config = Config::default();
        let mut secret_text = None;
        let mut secret_file = None;
        let mut remote = RemoteOptions::default();

        for (name, raw) in options {
            // Mosquitto keeps trailing blanks of a config line; they are never meant, except
            // possibly inside a secret, which is taken byte for byte.
            let value = raw.trim();
            match name {
                "algorithm" => config.algorithms = parse_algorithms(value)?,
                "secret_key" => secret_text = Some(raw.as_bytes().to_vec()),
                "secret_key_file" => secret_file = Some(PathBuf::from(non_empty(name, value)?)),
                "secret_key_encoding" => {
                    config.secret_encoding = choice(
                        name,
                        value,
                        &[
                            ("text", SecretEncoding::Text),
                            ("base64", SecretEncoding::Base64),
                            ("base64url", SecretEncoding::Base64Url),
                        ],
                    )?
                }
                "public_key_file" => {
                    config.public_key_file = Some(PathBuf::from(non_empty(name, value)?))
                }
                "jwks_file" => config.jwks_file = Some(PathBuf::from(non_empty(name, value)?)),
                "user_claim" => config.claims.user = claim_name(name, value)?,
                "publish_claim" => config.claims.publish = claim_name(name, value)?,
                "subscribe_claim" => config.claims.subscribe = claim_name(name, value)?,
                "receive_claim" => config.claims.receive = claim_name(name, value)?,
                "leeway" => {
                    config.leeway = value.parse().map_err(|_| {
                        ConfigError::new(
                            name,
                            format!("'{value}' is not a whole number of seconds"),
                        )
                    })?
                }
                "audience" => config.audience = Some(non_empty(name, value)?.to_owned()),
                "issuer" => config.issuer = Some(non_empty(name, value)?.to_owned()),
                "required_claims" => config.required_claims = parse_claim_list(value)?,
                "disconnect_on_expiry" => config.disconnect_on_expiry = parse_bool(name, value)?,
                "expiry_will" => config.expiry_will = parse_bool(name, value)?,
                "auth_methods" => config.auth_methods = parse_methods(value)?,
                "token_source" => {
                    config.token_source = choice(
                        name,
                        value,
                        &[
                            ("password", TokenSource::Password),
                            ("username", TokenSource::Username),
                            ("either", TokenSource::Either),
                        ],
                    )?
                }
                "superuser_claim" => config.superuser_claim = Some(claim_name(name, value)?),
                "token_cache" => {
                    config.token_cache = value.parse().map_err(|_| {
                        ConfigError::new(name, format!("'{value}' is not a whole number of tokens"))
                    })?
                }
                "jwks_url" => remote.jwks_url = Some(https_url(name, value)?),
                "oidc_issuer" => remote.oidc_issuer = Some(https_url(name, value)?),
                "jwks_refresh" => remote.refresh = Some(seconds(name, value)?),
                "jwks_timeout" => remote.timeout = Some(seconds(name, value)?),
                "jwks_ca_file" => remote.ca_file = Some(PathBuf::from(non_empty(name, value)?)),
                "jwks_min_refetch" => remote.min_refetch = Some(seconds(name, value)?),
                "jwks_required_at_start" => {
                    remote.required_at_start = Some(parse_bool(name, value)?)
                }
                #[cfg(debug_assertions)]
                "test_panic" => {
                    config.test_panic = value.split(',').map(|e| e.trim().to_owned()).collect()
                }
                _ => {
                    return Err(ConfigError::new(
                        name,
                        format!("unknown option (known: {})", OPTIONS.join(", ")),
                    ));
                }
            }
            if seen.contains(&name) {
                return Err(ConfigError::new(name, "given more than once"));
            }
            seen.push(name);
        }

        config.secret = match (secret_text, secret_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "secret_key_file",
                    "cannot be combined with plugin_opt_secret_key: give the secret once",
                ));
            }
            (Some(text), None) if text.is_empty() => {
                return Err(ConfigError::new("secret_key", "is empty"));
            }
            (Some(text), None) => Some(SecretSource::Text(text)),
            (None, Some(path)) => Some(SecretSource::File(path)),
            (None, None) => None,
        };
        if config.secret.is_none() && config.secret_encoding != SecretEncoding::default() {
            return Err(ConfigError::new(
                "secret_key_encoding",
                "is set but there is no plugin_opt_secret_key or plugin_opt_secret_key_file",
            ));
        }
        config.remote = remote.assemble(&mut config.issuer)?;
        Ok(config)
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut algorithms = AlgorithmSet::default();
        algorithms.insert(Algorithm::HS256);
        Config {
            algorithms,
            secret: None,
            secret_encoding: SecretEncoding::Text,
            public_key_file: None,
            jwks_file: None,
            claims: ClaimNames {
                user: "username".into(),
                publish: "publish_acl".into(),
                subscribe: "subscribe_acl".into(),
                receive: "receive_acl".into(),
            },
            leeway: 0,
            audience: None,
            issuer: None,
            required_claims: vec!["exp".into()],
            disconnect_on_expiry: true,
            expiry_will: true,
            auth_methods: vec!["JWT".into()],
            token_source: TokenSource::Password,
            superuser_claim: None,
            token_cache: 4096,
            remote: None,
            #[cfg(debug_assertions)]
            test_panic: Vec::new(),
        }
    }
}

fn parse_algorithms(value: &str) -> Result<AlgorithmSet, ConfigError> {
    let mut set = AlgorithmSet::default();
    for name in value.split(',').map(str::trim) {
        let alg = Algorithm::from_name(name).map_err(|UnknownAlgorithm| {
            let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            let problem = if name.is_empty() {
                format!("empty algorithm name in '{value}'")
            } else {
                format!(
                    "unknown algorithm '{name}' (known: {}, and {} for ES512)",
                    known.join(", "),
                    Algorithm::ES521_ALIAS
                )
            };
            ConfigError::new("algorithm", problem)
        })?;
        if !set.insert(alg) {
            let problem = if name == alg.name() {
                format!("{name} is listed twice")
            } else {
                format!("{name} is another name for {alg}, which is already listed")
            };
            return Err(ConfigError::new("algorithm", problem));
        }
    }
    Ok(set)
}

fn parse_bool(option: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(
            option,
            format!("'{value}' is neither true nor false"),
        )),
    }
}

/// Authentication methods are compared ASCII-case-insensitively, so they are kept in ASCII
/// upper case (Unicode upper-casing could change their length: `ß` becomes `SS`).
fn parse_methods(value: &str) -> Result<Vec<String>, ConfigError> {
    let mut methods: Vec<String> = Vec::new();
    for method in value.split(',').map(str::trim) {
        if method.is_empty() {
            return Err(ConfigError::new(
                "auth_methods",
                format!("empty method name in '{value}'"),
            ));
        }
        let method = method.to_ascii_uppercase();
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Ok(methods)
}

/// One of a fixed set of words; the error lists them.
fn choice<T: Copy>(option: &str, value: &str, words: &[(&str, T)]) -> Result<T, ConfigError> {
    match words.iter().find(|(word, _)| *word == value) {
        Some((_, chosen)) => Ok(*chosen),
        None => {
            let known: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
            Err(ConfigError::new(
                option,
                format!("'{value}' is not one of {}", known.join(", ")),
            ))
        }
    }
}

/// `none` stands for the empty list, because Mosquitto refuses an option with no value.
/// Nothing else empties it: a stray comma must not drop the `exp` requirement unnoticed.
fn parse_claim_list(value: &str) -> Result<Vec<String>, ConfigError> {
    if value == "none" {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(str::trim)
        .map(|claim| {
            if claim.is_empty() {
                Err(ConfigError::new(
                    "required_claims",
                    format!("empty claim name in '{value}' (write none for no required claims)"),
                ))
            } else {
                Ok(claim.to_owned())
            }
        })
        .collect()
}

/// An `https://` URL: keys fetched over plain HTTP could be swapped by anyone on the path.
/// The scheme is lower case, as providers write it: an issuer is compared exactly.
fn https_url(option: &str, value: &str) -> Result<String, ConfigError> {
    if !value.starts_with("https://") {
        return Err(ConfigError::new(
            option,
            format!("'{value}' is not an https:// URL"),
        ));
    }
    match value.parse::<ureq::http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(value.to_owned()),
        _ => Err(ConfigError::new(
            option,
            format!("'{value}' is not a valid URL"),
        )),
    }
}

/// A whole number of seconds, at least one.
fn seconds(option: &str, value: &str) -> Result<Duration, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(Duration::from_secs(n)),
        _ => Err(ConfigError::new(
            option,
            format!("'{value}' is not a whole number of seconds, at least 1"),
        )),
    }
}

fn claim_name(option: &str, value: &str) -> Result<String, ConfigError> {
    Ok(non_empty(option, value)?.to_owned())
}

fn non_empty<'v>(option: &str, value: &'v str) -> Result<&'v str, ConfigError> {
    if value.is_empty() {
        Err(ConfigError::new(option, "is empty"))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(options: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_options(options.iter().copied())
    }

    #[test]
    fn defaults_follow_amqtt() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.algorithms.to_string(), "HS256");
        assert_eq!(config.claims.user, "username");
        assert_eq!(config.claims.publish, "publish_acl");
        assert_eq!(config.claims.subscribe, "subscribe_acl");
        assert_eq!(config.claims.receive, "receive_acl");
        assert_eq!(config.leeway, 0);
        assert_eq!(config.required_claims, vec!["exp".to_owned()]);
        assert_eq!(config.audience, None);
        assert_eq!(config.issuer, None);
        assert_eq!(config.secret, None);
        assert_eq!(config.secret_encoding, SecretEncoding::Text);
        assert_eq!(config.jwks_file, None);
        assert!(config.disconnect_on_expiry);
        assert!(config.expiry_will);
        assert_eq!(config.auth_methods, vec!["JWT".to_owned()]);
        assert_eq!(config.token_source, TokenSource::Password);
        assert_eq!(config.superuser_claim, None);
        assert_eq!(config.token_cache, 4096);
    }

    #[test]
    fn every_option_is_read() {
        let config = parse(&[
            ("algorithm", "RS256, ES256"),
            ("public_key_file", "/etc/keys/pub.pem "),
            ("jwks_file", "/etc/keys/jwks.json"),
            ("secret_key", "s3cret"),
            ("secret_key_encoding", "base64url"),
            ("user_claim", "sub"),
            ("publish_claim", "pub"),
            ("subscribe_claim", "sub_acl"),
            ("receive_claim", "recv"),
            ("leeway", "30"),
            ("audience", "mqtt"),
            ("issuer", "https://issuer.example"),
            ("required_claims", "exp, iat ,sub"),
            ("disconnect_on_expiry", "false"),
            ("expiry_will", "false"),
            ("auth_methods", "jwt, Bearer,JWT"),
            ("token_source", "either"),
            ("superuser_claim", "admin"),
            ("token_cache", "0"),
        ])
        .unwrap();
        assert_eq!(config.algorithms.to_string(), "RS256,ES256");
        assert_eq!(
            config.public_key_file,
            Some(PathBuf::from("/etc/keys/pub.pem"))
        );
        assert_eq!(config.jwks_file, Some(PathBuf::from("/etc/keys/jwks.json")));
        assert_eq!(config.secret, Some(SecretSource::Text(b"s3cret".to_vec())));
        assert_eq!(config.secret_encoding, SecretEncoding::Base64Url);
        assert_eq!(config.claims.user, "sub");
        assert_eq!(config.claims.publish, "pub");
        assert_eq!(config.claims.subscribe, "sub_acl");
        assert_eq!(config.claims.receive, "recv");
        assert_eq!(config.leeway, 30);
        assert_eq!(config.audience.as_deref(), Some("mqtt"));
        assert_eq!(config.issuer.as_deref(), Some("https://issuer.example"));
        assert_eq!(config.required_claims, vec!["exp", "iat", "sub"]);
        assert!(!config.disconnect_on_expiry);
        assert!(!config.expiry_will);
        assert_eq!(config.auth_methods, vec!["JWT", "BEARER"]);
        assert_eq!(config.token_source, TokenSource::Either);
        assert_eq!(config.superuser_claim.as_deref(), Some("admin"));
        assert_eq!(config.token_cache, 0);
    }

    #[test]
    fn fetched_keys_have_defaults_and_every_option_is_read() {
        let defaults = parse(&[("jwks_url", "https://idp.example/certs")])
            .unwrap()
            .remote
            .unwrap();
        assert_eq!(
            defaults,
            RemoteKeys {
                url: KeyUrl::Jwks("https://idp.example/certs".into()),
                refresh: Duration::from_secs(300),
                timeout: Duration::from_secs(5),
                ca_file: None,
                min_refetch: Duration::from_secs(30),
                required_at_start: false,
            }
        );
        assert_eq!(parse(&[]).unwrap().remote, None);

        let config = parse(&[
            ("oidc_issuer", "https://idp.example/realms/devices "),
            ("issuer", "https://idp.example/realms/devices"),
            ("jwks_refresh", "60"),
            ("jwks_timeout", "2"),
            ("jwks_ca_file", "/etc/ca.pem"),
            ("jwks_min_refetch", "10"),
            ("jwks_required_at_start", "true"),
        ])
        .unwrap();
        let issuer = "https://idp.example/realms/devices";
        assert_eq!(
            config.remote.unwrap(),
            RemoteKeys {
                url: KeyUrl::Issuer(issuer.into()),
                refresh: Duration::from_secs(60),
                timeout: Duration::from_secs(2),
                ca_file: Some(PathBuf::from("/etc/ca.pem")),
                min_refetch: Duration::from_secs(10),
                required_at_start: true,
            }
        );
    }

    #[test]
    fn an_oidc_issuer_is_the_required_iss() {
        let config = parse(&[("oidc_issuer", "https://idp.example/realms/devices")]).unwrap();
        assert_eq!(
            config.issuer.as_deref(),
            Some("https://idp.example/realms/devices")
        );
    }

    #[test]
    fn secret_text_is_taken_byte_for_byte() {
        let config = parse(&[("secret_key", " two words ")]).unwrap();
        assert_eq!(
            config.secret,
            Some(SecretSource::Text(b" two words ".to_vec()))
        );
    }

    #[test]
    fn only_none_means_no_required_claims() {
        assert!(
            parse(&[("required_claims", "none")])
                .unwrap()
                .required_claims
                .is_empty()
        );
        for value in ["", ",", " , ", "exp,", "exp,,iat"] {
            let err = parse(&[("required_claims", value)]).unwrap_err();
            assert!(err.problem.contains("empty claim name"), "{value:?}: {err}");
        }
    }

    #[test]
    fn errors_name_the_option() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[("algoritm", "HS256")], "algoritm", "unknown option"),
            (
                &[("algorithm", "HS257")],
                "algorithm",
                "unknown algorithm 'HS257'",
            ),
            (
                &[("algorithm", "none")],
                "algorithm",
                "unknown algorithm 'none'",
            ),
            (
                &[("algorithm", "es256k")],
                "algorithm",
                "unknown algorithm 'es256k'",
            ),
            (&[("algorithm", "HS256,HS256")], "algorithm", "listed twice"),
            (
                &[("algorithm", "ES512,ES521")],
                "algorithm",
                "ES521 is another name for ES512, which is already listed",
            ),
            (
                &[("secret_key", "x"), ("secret_key_encoding", "hex")],
                "secret_key_encoding",
                "'hex' is not one of text, base64, base64url",
            ),
            (
                &[("secret_key_encoding", "base64")],
                "secret_key_encoding",
                "no plugin_opt_secret_key",
            ),
            (&[("jwks_file", " ")], "jwks_file", "is empty"),
            (
                &[("disconnect_on_expiry", "yes")],
                "disconnect_on_expiry",
                "'yes' is neither true nor false",
            ),
            (
                &[("expiry_will", "1")],
                "expiry_will",
                "neither true nor false",
            ),
            (
                &[("auth_methods", "JWT,")],
                "auth_methods",
                "empty method name",
            ),
            (
                &[("token_source", "header")],
                "token_source",
                "'header' is not one of password, username, either",
            ),
            (&[("superuser_claim", " ")], "superuser_claim", "is empty"),
            (
                &[("jwks_url", "http://idp.example/certs")],
                "jwks_url",
                "not an https:// URL",
            ),
            (
                &[("oidc_issuer", "HTTPS://idp.example/realms/x")],
                "oidc_issuer",
                "not an https:// URL",
            ),
            (
                &[("oidc_issuer", "https:///realms/x")],
                "oidc_issuer",
                "not a valid URL",
            ),
            (
                &[("jwks_url", "https://idp.example/with space")],
                "jwks_url",
                "not a valid URL",
            ),
            (
                &[
                    ("jwks_url", "https://idp.example/certs"),
                    ("oidc_issuer", "https://idp.example"),
                ],
                "oidc_issuer",
                "cannot be combined with plugin_opt_jwks_url",
            ),
            (
                &[
                    ("oidc_issuer", "https://idp.example/realms/a"),
                    ("issuer", "https://idp.example/realms/b"),
                ],
                "issuer",
                "differs from plugin_opt_oidc_issuer",
            ),
            (
                &[("jwks_refresh", "60")],
                "jwks_refresh",
                "no plugin_opt_jwks_url or plugin_opt_oidc_issuer",
            ),
            (
                &[("jwks_ca_file", "/etc/ca.pem")],
                "jwks_ca_file",
                "no plugin_opt_jwks_url",
            ),
            (
                &[
                    ("jwks_url", "https://idp.example/certs"),
                    ("jwks_timeout", "0"),
                ],
                "jwks_timeout",
                "at least 1",
            ),
            (
                &[
                    ("jwks_url", "https://idp.example/certs"),
                    ("jwks_min_refetch", "1.5"),
                ],
                "jwks_min_refetch",
                "not a whole number of seconds",
            ),
            (
                &[
                    ("jwks_url", "https://idp.example/certs"),
                    ("jwks_required_at_start", "yes"),
                ],
                "jwks_required_at_start",
                "neither true nor false",
            ),
            (
                &[("token_cache", "-1")],
                "token_cache",
                "not a whole number",
            ),
            (
                &[("algorithm", "HS256,")],
                "algorithm",
                "empty algorithm name",
            ),
            (&[("leeway", "-1")], "leeway", "not a whole number"),
            (&[("leeway", "ten")], "leeway", "not a whole number"),
            (&[("user_claim", "  ")], "user_claim", "is empty"),
            (&[("secret_key", "")], "secret_key", "is empty"),
            (
                &[("audience", "a"), ("audience", "b")],
                "audience",
                "more than once",
            ),
            (
                &[("secret_key", "x"), ("secret_key_file", "/k")],
                "secret_key_file",
                "cannot be combined",
            ),
        ];
        for (options, option, problem) in cases {
            let err = parse(options).unwrap_err();
            assert_eq!(err.option, *option, "{options:?}");
            assert!(err.problem.contains(problem), "{options:?}: {err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("plugin_opt_{option}: "))
            );
        }
    }

    fn option_name() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(OPTIONS.to_vec()).prop_map(str::to_owned),
            "[a-z_]{0,12}",
        ]
    }

    fn option_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9, ]{0,20}",
            proptest::sample::subsequence(
                vec!["HS256", "RS256", "ES512", "ES521", "none", "EdDSA", ""],
                0..4
            )
            .prop_map(|names| names.join(",")),
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn any_options_parse_or_name_the_option_at_fault(
            options in proptest::collection::vec((option_name(), option_value()), 0..6)
        ) {
            let parsed = Config::from_options(options.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if let Err(e) = parsed {
                prop_assert!(options.iter().any(|(k, _)| *k == e.option), "{e} names no given option");
                prop_assert!(!e.problem.is_empty());
            }
        }
    }
}
