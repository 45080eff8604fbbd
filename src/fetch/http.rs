//! One fetch of the key set over HTTPS: the JWKS URL itself, or an OpenID provider's
//! discovery document and then the set it names.

use std::path::Path;
use std::sync::Arc;

use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::config::{ConfigError, KeyUrl, RemoteKeys};

/// Far above any real key set (a few kilobytes), low enough that a broken or hostile
/// server cannot make the broker hold much memory.
const MAX_BODY: u64 = 1 << 20;

const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

pub struct Fetcher {
    agent: Agent,
    url: KeyUrl,
}

/// The TLS provider of the crypto backend the plugin was built with.
#[cfg(feature = "aws-lc")]
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(not(feature = "aws-lc"))]
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

impl Fetcher {
    /// Reads the trusted roots (the CA file, or the system's) once, at start-up.
    pub fn new(remote: &RemoteKeys) -> Result<Fetcher, ConfigError> {
        let roots = match &remote.ca_file {
            Some(path) => ca_file(path)?,
            None => system_roots()?,
        };
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(Arc::new(crypto_provider()))
            .build();
        let agent = Agent::config_builder()
            .timeout_global(Some(remote.timeout))
            // Redirects included: keys must never travel in clear.
            .https_only(true)
            .tls_config(tls)
            .user_agent(concat!("mosquitto-jwt-auth/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            .build()
            .into();
        Ok(Fetcher {
            agent,
            url: remote.url.clone(),
        })
    }

    /// The key set's bytes, or why they could not be had.
    pub fn fetch(&self) -> Result<Vec<u8>, String> {
        match &self.url {
            KeyUrl::Jwks(url) => self.get(url),
            KeyUrl::Issuer(issuer) => {
                let jwks_uri = self.discover(issuer)?;
                self.get(&jwks_uri)
            }
        }
    }

    /// The `jwks_uri` of the provider's discovery document, which must name the configured
    /// issuer (OpenID Connect Discovery 1.0, section 4.3).
    fn discover(&self, issuer: &str) -> Result<String, String> {
        let url = format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'));
        let document: serde_json::Value = serde_json::from_slice(&self.get(&url)?)
            .map_err(|e| format!("{url}: not a JSON document: {e}"))?;
        match document.get("issuer").and_then(|v| v.as_str()) {
            Some(named) if named == issuer => {}
            Some(named) => {
                return Err(format!(
                    "{url} names issuer '{}', not the configured one",
                    crate::token::sanitize(named)
                ));
            }
            None => return Err(format!("{url} has no issuer")),
        }
        match document.get("jwks_uri").and_then(|v| v.as_str()) {
            Some(uri) if uri.len() > 8 && uri[..8].eq_ignore_ascii_case("https://") => {
                Ok(uri.to_owned())
            }
            Some(uri) => Err(format!(
                "{url} names jwks_uri '{}', which is not an https:// URL",
                crate::token::sanitize(uri)
            )),
            None => Err(format!("{url} has no jwks_uri")),
        }
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| format!("{url}: {e}"))
    }
}

fn ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, ConfigError> {
    let option = "jwks_ca_file";
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(option, format!("cannot read {}: {e}", path.display())))?;
    let mut roots = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(PemItem::Certificate(cert)) => roots.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(ConfigError::new(option, format!("{}: {e}", path.display())));
            }
        }
    }
    if roots.is_empty() {
        return Err(ConfigError::new(
            option,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(roots)
}

fn system_roots() -> Result<Vec<Certificate<'static>>, ConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let roots: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(ConfigError::new(
            "jwks_ca_file",
            format!(
                "is not set and no system root certificate was found{why}: install ca-certificates or set it"
            ),
        ));
    }
    Ok(roots)
}
