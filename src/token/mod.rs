//! JWT front end: recognise a token in a password, check its signature with the configured
//! keys, then check its claims.
//!
//! Only the signature arithmetic comes from `jsonwebtoken` (`crypto::verify`). Parsing the
//! header and the claims is done here, so that every rule (which algorithms, which key,
//! which claims, how numbers are read) is stated in one place.

mod claims;
mod header;
mod json;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::algorithm::{Algorithm, AlgorithmSet};
use crate::keys::KeySet;
use claims::Claims;
use header::{Header, Member};

pub use claims::{AclPatterns, ClaimRules, VerifiedToken};

/// A password shaped like a JWS compact serialization: three base64url segments, the first
/// decoding to a JSON object with an `alg` member. Anything else is not ours to judge.
#[derive(Debug)]
pub struct Jwt<'a> {
    /// The whole token.
    text: &'a str,
    /// `header.payload`: the bytes the signature covers.
    signing_input: &'a str,
    header: Header,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> Jwt<'a> {
    pub fn recognise(password: &'a [u8]) -> Option<Jwt<'a>> {
        let (first, second) = segment_dots(password)?;
        // Every byte is ASCII by now: neither this nor the slicing can fail.
        let text = std::str::from_utf8(password).ok()?;
        let signing_input = text.get(..second)?;
        let header = text.get(..first)?;
        let payload = text.get(first + 1..second)?;
        let signature = text.get(second + 1..)?;
        let decoded = URL_SAFE_NO_PAD.decode(header).ok()?;
        Some(Jwt {
            text,
            signing_input,
            header: header::read(&decoded)?,
            payload,
            signature,
        })
    }
}

impl Jwt<'_> {
    /// The token as the client sent it.
    pub fn as_str(&self) -> &str {
        self.text
    }
}

/// Where the two dots of `password` are, when it is three base64url segments. A password
/// is most often a token, read whole: a table lookup per byte, the dots found on the way.
fn segment_dots(password: &[u8]) -> Option<(usize, usize)> {
    let segment_end = |from: usize| {
        let rest = password.get(from..)?;
        let len = rest.iter().position(|&b| !BASE64URL[usize::from(b)]);
        Some(from + len.unwrap_or(rest.len()))
    };
    let first = segment_end(0)?;
    let second = segment_end(first + 1)?;
    let end = segment_end(second + 1)?;
    let dot = |at: usize| password.get(at) == Some(&b'.');
    (dot(first) && dot(second) && end == password.len()).then_some((first, second))
}

const BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        byte += 1;
    }
    table
};

/// Why a token was refused. Its text goes into the broker's log, so it never quotes the
/// token and quotes other client-supplied text only through [`sanitize`].
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    Header(String),
    AlgorithmNotAllowed(String),
    CriticalExtension,
    BadSignature,
    Payload(String),
    Claim(String),
    /// The token names a `kid` that no key of a set has; the text is sanitized.
    UnknownKid(String),
    /// Keys are to be fetched and none has arrived yet.
    KeysAwaited,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Header(why) => write!(f, "malformed token header: {why}"),
            Refusal::AlgorithmNotAllowed(alg) => write!(f, "algorithm '{alg}' is not accepted"),
            Refusal::CriticalExtension => {
                f.write_str("token header lists critical extensions (crit), none are supported")
            }
            Refusal::BadSignature => {
                f.write_str("signature does not verify with any configured key")
            }
            Refusal::Payload(why) => write!(f, "malformed token claims: {why}"),
            Refusal::Claim(why) => f.write_str(why),
            Refusal::UnknownKid(kid) => write!(f, "no key has the token's kid '{kid}'"),
            Refusal::KeysAwaited => f.write_str("no keys have been fetched yet"),
        }
    }
}

/// Checks tokens against the configured algorithms, keys and claim rules.
pub struct Verifier {
    algorithms: AlgorithmSet,
    /// From the options: secret, PEM file, JWK set file.
    keys: KeySet,
    fetched: FetchedKeys,
    rules: ClaimRules,
}

/// The keys fetched over HTTPS, which are replaced apart from the configured ones.
pub enum FetchedKeys {
    NotConfigured,
    Awaited,
    Ready(KeySet),
}

impl Verifier {
    pub fn new(algorithms: AlgorithmSet, keys: KeySet, rules: ClaimRules) -> Verifier {
        Verifier {
            algorithms,
            keys,
            fetched: FetchedKeys::NotConfigured,
            rules,
        }
    }

    /// The configured algorithms that no key, configured or fetched, can verify.
    pub fn algorithms_without_key(&self) -> Vec<Algorithm> {
        let fetched = self.fetched_keys();
        self.algorithms
            .iter()
            .filter(|&alg| {
                self.keys.for_algorithm(alg).next().is_none()
                    && fetched.is_none_or(|f| f.for_algorithm(alg).next().is_none())
            })
            .collect()
    }

    pub fn has_fetched_keys(&self) -> bool {
        self.fetched_keys().is_some()
    }

    fn fetched_keys(&self) -> Option<&KeySet> {
        match &self.fetched {
            FetchedKeys::Ready(keys) => Some(keys),
            _ => None,
        }
    }

    /// Puts in the fetched keys, or says they are awaited.
    pub fn replace_fetched(&mut self, fetched: FetchedKeys) {
        self.fetched = fetched;
    }

    /// Verifies signature and claims; `now` is Unix time in seconds.
    pub fn verify(&self, jwt: &Jwt<'_>, now: f64) -> Result<VerifiedToken, Refusal> {
        let header = self.check_header(jwt)?;
        self.check_signature(jwt, &header)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(jwt.payload)
            .map_err(|_| Refusal::Payload("not base64url".into()))?;
        let claims = json::strict(&bytes, Claims::new(&self.rules)).map_err(Refusal::Payload)?;
        self.rules.check(&claims, now).map_err(Refusal::Claim)
    }

    /// Puts in new configured keys (after a reload); tokens from then on are checked with
    /// them.
    pub fn replace_keys(&mut self, keys: KeySet) {
        self.keys = keys;
    }

    fn check_header<'j>(&self, jwt: &'j Jwt<'_>) -> Result<KeyChoice<'j>, Refusal> {
        let header = &jwt.header;
        if let Some(why) = &header.refusal {
            return Err(Refusal::Header(why.clone()));
        }
        let Member::Text(name) = &header.alg else {
            return Err(Refusal::Header("'alg' is not a string".into()));
        };
        let alg = Algorithm::from_name(name)
            .ok()
            .filter(|a| self.algorithms.contains(*a))
            .ok_or_else(|| Refusal::AlgorithmNotAllowed(sanitize(name)))?;
        if header.crit {
            return Err(Refusal::CriticalExtension);
        }
        let kid = match &header.kid {
            None => None,
            Some(Member::Text(kid)) => Some(kid.as_str()),
            Some(Member::Other) => return Err(Refusal::Header("'kid' is not a string".into())),
        };
        Ok(KeyChoice { alg, kid })
    }

    fn check_signature(&self, jwt: &Jwt<'_>, header: &KeyChoice<'_>) -> Result<(), Refusal> {
        let message = jwt.signing_input.as_bytes();
        let kid = header.kid;
        let fetched = self.fetched_keys();
        let verified = self
            .keys
            .candidates(header.alg, kid)
            .chain(
                fetched
                    .into_iter()
                    .flat_map(|f| f.candidates(header.alg, kid)),
            )
            .any(|key| key.verify(header.alg, message, jwt.signature));
        if verified {
            return Ok(());
        }
        if matches!(self.fetched, FetchedKeys::Awaited)
            && self.keys.for_algorithm(header.alg).next().is_none()
        {
            return Err(Refusal::KeysAwaited);
        }
        match kid {
            Some(kid) if !self.keys.has_kid(kid) && !fetched.is_some_and(|f| f.has_kid(kid)) => {
                Err(Refusal::UnknownKid(sanitize(kid)))
            }
            _ => Err(Refusal::BadSignature),
        }
    }
}

/// The header members that choose the key.
struct KeyChoice<'a> {
    alg: Algorithm,
    kid: Option<&'a str>,
}

/// Characters [`sanitize`] keeps of a name.
const SANITIZE_LIMIT: usize = 64;

/// Makes client-supplied text safe for one log line: control characters escaped, length
/// bounded.
pub fn sanitize(text: &str) -> String {
    sanitize_to(text, SANITIZE_LIMIT)
}

/// True for text that [`sanitize`] returns unchanged: short printable ASCII, as most
/// client ids and user names are.
pub fn is_log_safe(text: &[u8]) -> bool {
    is_log_safe_to(text, SANITIZE_LIMIT)
}

fn is_log_safe_to(text: &[u8], limit: usize) -> bool {
    text.len() <= limit && text.iter().all(|b| (b' '..=b'~').contains(b))
}

/// As [`sanitize`], for longer text (a network error that quotes a URL and a server's
/// words), bounded at `limit` characters.
pub fn sanitize_to(text: &str, limit: usize) -> String {
    // The loop below costs far more per character, on every CONNECT's log line.
    if is_log_safe_to(text.as_bytes(), limit) {
        return text.to_owned();
    }
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == limit {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
