//! The rules a verified token's claims must satisfy.

use serde_json::Value;

use crate::config::{ClaimNames, Config};
use crate::token::json::Object;
use crate::token::sanitize;

/// The claim checks configured for this plugin instance.
#[derive(Clone, Debug)]
pub struct ClaimRules {
    names: ClaimNames,
    leeway: f64,
    audience: Option<String>,
    issuer: Option<String>,
    required: Vec<String>,
    superuser: Option<String>,
}

/// What a token that passed every check grants.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedToken {
    pub user: String,
    /// Unix time from which the token counts as expired (`exp` + leeway); `None` when the
    /// token has no `exp`.
    pub expires_at: Option<f64>,
    pub acl: AclPatterns,
    /// The configured superuser claim is `true`: every topic action is allowed.
    pub superuser: bool,
}

/// The topic patterns of the three ACL claims; `None` where the claim is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AclPatterns {
    pub publish: Option<Vec<String>>,
    pub subscribe: Option<Vec<String>>,
    pub receive: Option<Vec<String>>,
}

impl AclPatterns {
    /// True when the token carries none of the ACL claims: authorization is left to others.
    pub fn is_absent(&self) -> bool {
        self.publish.is_none() && self.subscribe.is_none() && self.receive.is_none()
    }
}

const TIME_CLAIMS: [&str; 3] = ["exp", "nbf", "iat"];

impl ClaimRules {
    pub fn from_config(config: &Config) -> ClaimRules {
        ClaimRules {
            names: config.claims.clone(),
            leeway: f64::from(config.leeway),
            audience: config.audience.clone(),
            issuer: config.issuer.clone(),
            required: config.required_claims.clone(),
            superuser: config.superuser_claim.clone(),
        }
    }

    pub fn check(&self, claims: &Object, now: f64) -> Result<VerifiedToken, String> {
        if let Some(name) = TIME_CLAIMS
            .into_iter()
            .find(|n| claims.get(*n).is_some_and(|v| !v.is_number()))
        {
            return Err(format!("claim '{name}' is not a number (NumericDate)"));
        }
        let time = |name| claims.get(name).and_then(Value::as_f64);
        let expires_at = time("exp").map(|exp| exp + self.leeway);
        if expires_at.is_some_and(|deadline| now >= deadline) {
            return Err("token has expired (exp)".into());
        }
        if time("nbf").is_some_and(|nbf| now + self.leeway < nbf) {
            return Err("token is not valid yet (nbf)".into());
        }
        if time("iat").is_some_and(|iat| iat > now + self.leeway) {
            return Err("token is issued in the future (iat)".into());
        }
        for name in &self.required {
            if claims.get(name).is_none_or(Value::is_null) {
                return Err(format!("required claim '{name}' is missing"));
            }
        }
        self.check_audience(claims.get("aud"))?;
        self.check_issuer(claims.get("iss"))?;
        let user = self.user(claims)?;
        let acl = AclPatterns {
            publish: patterns(claims, &self.names.publish)?,
            subscribe: patterns(claims, &self.names.subscribe)?,
            receive: patterns(claims, &self.names.receive)?,
        };
        // Only the JSON value true: "true", 1 or a list do not make a superuser.
        let superuser = self
            .superuser
            .as_ref()
            .is_some_and(|name| claims.get(name) == Some(&Value::Bool(true)));
        Ok(VerifiedToken {
            user,
            expires_at,
            acl,
            superuser,
        })
    }

    fn check_audience(&self, aud: Option<&Value>) -> Result<(), String> {
        match (&self.audience, aud) {
            (None, None) => Ok(()),
            (None, Some(_)) => {
                Err("token names an audience (aud) but plugin_opt_audience is not set".into())
            }
            (Some(_), None) => Err("token has no audience (aud)".into()),
            (Some(wanted), Some(aud)) => {
                let matches = match aud {
                    Value::String(one) => one == wanted,
                    Value::Array(many) => many.iter().any(|a| a.as_str() == Some(wanted)),
                    _ => false,
                };
                if matches {
                    Ok(())
                } else {
                    Err("audience (aud) does not match".into())
                }
            }
        }
    }

    fn check_issuer(&self, iss: Option<&Value>) -> Result<(), String> {
        match (&self.issuer, iss) {
            (None, _) => Ok(()),
            (Some(_), None) => Err("token has no issuer (iss)".into()),
            (Some(wanted), Some(iss)) if iss.as_str() == Some(wanted) => Ok(()),
            (Some(_), Some(_)) => Err("issuer (iss) does not match".into()),
        }
    }

    fn user(&self, claims: &Object) -> Result<String, String> {
        let name = &self.names.user;
        match claims.get(name) {
            None => Err(format!("user claim '{name}' is missing")),
            Some(Value::String(user)) if user.is_empty() => {
                Err(format!("user claim '{name}' is empty"))
            }
            Some(Value::String(user)) => Ok(user.clone()),
            Some(_) => Err(format!("user claim '{name}' is not a string")),
        }
    }
}

/// A list of strings, or one string counting as a list of one.
fn patterns(claims: &Object, name: &str) -> Result<Option<Vec<String>>, String> {
    let malformed = || {
        format!(
            "claim '{}' must be a string or a list of strings",
            sanitize(name)
        )
    };
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(one)) => Ok(Some(vec![one.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(malformed))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(malformed()),
    }
}
