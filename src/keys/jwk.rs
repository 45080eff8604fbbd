//! Keys from a JSON Web Key Set (RFC 7517), the form identity providers publish.
//!
//! A key the plugin cannot use for verifying signatures (`use: enc`, an encryption `alg`,
//! a curve it does not know) is passed over with a reason, since real sets mix such keys
//! in. A key it should be able to use but cannot read is an error: that is a broken file.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::algorithm::{Algorithm, KeyKind};

use super::material::{self, Material};
use super::pem::pkcs1_rsa_public_key;

/// A usable signing key from the set.
pub struct Jwk {
    pub material: Material,
    pub kid: Option<String>,
    /// The JWK's `alg`: when present, the only algorithm the key verifies.
    pub alg: Option<Algorithm>,
}

/// What became of one member of the set.
pub enum Entry {
    Usable(Jwk),
    /// Not a signature key this plugin verifies with; the text says why.
    PassedOver {
        label: String,
        why: String,
    },
}

/// Where a set comes from, which decides how strictly it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The operator's file: a broken key is an error to fix.
    File,
    /// Fetched from a URL anyone may read. A secret (`oct`) key there is known to all, so
    /// it is never used; and a key the provider got wrong is passed over, so that one odd
    /// key cannot stop every rotation from landing.
    Published,
}

/// Reads every key of a set. The error names the key at fault.
pub fn read_set(bytes: &[u8], origin: Origin) -> Result<Vec<Entry>, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(set) = value else {
        return Err("not a JSON object".into());
    };
    let Some(keys) = set.get("keys") else {
        return Err(if set.contains_key("kty") {
            "a single JWK, not a set: write it as {\"keys\": [ ... ]}".into()
        } else {
            "no 'keys' member".into()
        });
    };
    let Value::Array(keys) = keys else {
        return Err("'keys' is not an array".into());
    };
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let label = label(i, key);
            if origin == Origin::Published && key.get("kty").is_some_and(|kty| kty == "oct") {
                let why = "a secret (oct) key, which anyone can read from a published set; \
                           HMAC secrets come from secret_key only"
                    .to_owned();
                return Ok(Entry::PassedOver { label, why });
            }
            match (read_key(key), origin) {
                (Ok(Ok(jwk)), _) => Ok(Entry::Usable(jwk)),
                (Ok(Err(why)), _) => Ok(Entry::PassedOver { label, why }),
                (Err(why), Origin::Published) => Ok(Entry::PassedOver {
                    label,
                    why: format!("it is broken: {why}"),
                }),
                (Err(why), Origin::File) => Err(format!("{label}: {why}")),
            }
        })
        .collect()
}

/// How a key is named in messages: by its `kid` where it has one, by position otherwise.
fn label(index: usize, key: &Value) -> String {
    match key.get("kid").and_then(Value::as_str) {
        Some(kid) => format!("key '{}'", crate::token::sanitize(kid)),
        None => format!("key {}", index + 1),
    }
}

/// The outer error is a broken key; the inner one a key that is fine but not for us.
fn read_key(key: &Value) -> Result<Result<Jwk, String>, String> {
    let Value::Object(key) = key else {
        return Err("not a JSON object".into());
    };
    let kid = optional_string(key, "kid")?.map(str::to_owned);
    match optional_string(key, "use")? {
        None | Some("sig") => {}
        Some(other) => return Ok(Err(format!("its use is '{other}', not 'sig'"))),
    }
    if let Some(ops) = key.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Err("'key_ops' is not an array".into());
        };
        if !ops.iter().any(|op| op == "verify") {
            return Ok(Err("its key_ops do not include 'verify'".into()));
        }
    }
    let alg = match optional_string(key, "alg")? {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Ok(alg) => Some(alg),
            Err(_) => {
                let name = crate::token::sanitize(name);
                return Ok(Err(format!(
                    "its alg '{name}' is not a signature algorithm verified here"
                )));
            }
        },
    };
    let kty = optional_string(key, "kty")?.ok_or("no 'kty'")?;
    let material = match kty {
        "oct" => material::hmac(&bytes(key, "k")?)?,
        "RSA" => {
            refuse_private(key, &["d", "p", "q", "dp", "dq", "qi"])?;
            let pkcs1 = pkcs1_rsa_public_key(&bytes(key, "n")?, &bytes(key, "e")?)?;
            material::rsa(&pkcs1, KeyKind::Rsa)?
        }
        "EC" => {
            refuse_private(key, &["d"])?;
            let (kind, size) = match string(key, "crv")? {
                "P-256" => (KeyKind::EcP256, 32),
                "P-384" => (KeyKind::EcP384, 48),
                "P-521" => (KeyKind::EcP521, 66),
                "secp256k1" => (KeyKind::EcSecp256k1, 32),
                other => {
                    return Ok(Err(format!(
                        "curve '{}' is not supported",
                        crate::token::sanitize(other)
                    )));
                }
            };
            let mut point = vec![0x04];
            point.extend(coordinate(key, "x", size)?);
            point.extend(coordinate(key, "y", size)?);
            material::ec(kind, &point)?
        }
        "OKP" => {
            refuse_private(key, &["d"])?;
            match string(key, "crv")? {
                "Ed25519" => material::ed25519(&bytes(key, "x")?)?,
                other => {
                    return Ok(Err(format!(
                        "curve '{}' is not supported",
                        crate::token::sanitize(other)
                    )));
                }
            }
        }
        other => {
            return Ok(Err(format!(
                "key type '{}' is not supported",
                crate::token::sanitize(other)
            )));
        }
    };
    if let Some(alg) = alg
        && !alg.accepts(material.kind)
    {
        return Err(format!("its alg {alg} does not fit an {}", material.kind));
    }
    Ok(Ok(Jwk { material, kid, alg }))
}

fn optional_string<'a>(key: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match key.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("'{name}' is not a string")),
    }
}

fn string<'a>(key: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    optional_string(key, name)?.ok_or_else(|| format!("no '{name}'"))
}

/// A base64url member. Padding is tolerated: some tools write it although RFC 7515 does not.
fn bytes(key: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(string(key, name)?.trim_end_matches('='))
        .map_err(|_| format!("'{name}' is not base64url"))
}

/// An EC coordinate, which RFC 7518 6.2.1.2 fixes to the curve's field size.
fn coordinate(key: &Map<String, Value>, name: &str, size: usize) -> Result<Vec<u8>, String> {
    let value = bytes(key, name)?;
    if value.len() == size {
        Ok(value)
    } else {
        Err(format!(
            "'{name}' is {} bytes, the curve needs {size}",
            value.len()
        ))
    }
}

fn refuse_private(key: &Map<String, Value>, private_members: &[&str]) -> Result<(), String> {
    match private_members.iter().find(|m| key.contains_key(**m)) {
        Some(member) => Err(format!(
            "a private key (it has '{member}'): give the broker only public keys"
        )),
        None => Ok(()),
    }
}
