//! The rules a verified token's claims must satisfy.

use std::borrow::Cow;

use serde::de::MapAccess;
use serde_json::Value;

use crate::config::{ClaimNames, Config};
use crate::token::json::{Checked, Members, Names};
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

/// A token's claims, read for `rules`: every name, so that one named twice is refused,
/// and the value of each claim the rules read. The others (a `jti`, an identity
/// provider's profile) are checked as a value would be, but not kept.
pub struct Claims<'de, 'r> {
    rules: &'r ClaimRules,
    names: Names<'de>,
    /// Those of the claims the rules read, at most one for each name they read.
    kept: Vec<(Cow<'de, str>, Value)>,
}

impl<'r> Claims<'_, 'r> {
    pub fn new(rules: &'r ClaimRules) -> Self {
        Claims {
            rules,
            names: Names::default(),
            kept: Vec::new(),
        }
    }

    /// Only for names the rules read, which are the only ones kept.
    fn get(&self, name: &str) -> Option<&Value> {
        let (_, value) = self.kept.iter().find(|(kept, _)| kept == name)?;
        Some(value)
    }
}

impl<'de> Members<'de> for Claims<'de, '_> {
    fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    fn read<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        access: &mut A,
    ) -> Result<(), A::Error> {
        if self.rules.reads(&name) {
            let value = access.next_value()?;
            self.kept.push((name.clone(), value));
        } else {
            access.next_value::<Checked>()?;
        }
        self.names.insert(name);
        Ok(())
    }
}

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

    /// True for the name of a claim that [`ClaimRules::check`] reads.
    fn reads(&self, name: &str) -> bool {
        TIME_CLAIMS.contains(&name)
            || name == "aud"
            || name == "iss"
            || name == self.names.user
            || name == self.names.publish
            || name == self.names.subscribe
            || name == self.names.receive
            || self.superuser.as_deref() == Some(name)
            || self.required.iter().any(|r| r == name)
    }

    pub fn check(&self, claims: &Claims<'_, '_>, now: f64) -> Result<VerifiedToken, String> {
        if let Some(name) = TIME_CLAIMS
            .into_iter()
            .find(|n| claims.get(n).is_some_and(|v| !v.is_number()))
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

    fn user(&self, claims: &Claims<'_, '_>) -> Result<String, String> {
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
fn patterns(claims: &Claims<'_, '_>, name: &str) -> Result<Option<Vec<String>>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::token::json;
    use proptest::prelude::*;

    const NOW: f64 = 1_800_000_000.0;

    fn rules(options: &[(&str, &str)]) -> ClaimRules {
        let mut all = vec![("secret_key", "s")];
        all.extend_from_slice(options);
        ClaimRules::from_config(&Config::from_options(all).unwrap())
    }

    const CONFIGS: [&[(&str, &str)]; 6] = [
        &[],
        &[("user_claim", "sub")],
        &[("superuser_claim", "su")],
        &[("superuser_claim", "sub"), ("required_claims", "jti,x")],
        &[
            ("audience", "a"),
            ("issuer", "i"),
            ("superuser_claim", "s\\u0075"),
        ],
        &[
            ("publish_claim", "p"),
            ("subscribe_claim", "sub"),
            ("receive_claim", "x"),
        ],
    ];

    /// Every claim kept, as when the claims were read into one map.
    fn keeping_all<'r>(rules: &'r ClaimRules, object: json::Object) -> Claims<'static, 'r> {
        Claims {
            rules,
            names: Names::default(),
            kept: object
                .into_iter()
                .map(|(name, value)| (Cow::Owned(name), value))
                .collect(),
        }
    }

    /// Claims that mostly pass, each with a value that passes its check (where it has
    /// one); now and then another value, a claim named twice or a mangled byte.
    fn claims_text() -> impl Strategy<Value = Vec<u8>> {
        let names = [
            ("username", r#""alice""#),
            ("sub", r#""alice""#),
            ("exp", "2e9"),
            ("nbf", "1e9"),
            ("iat", "1e9"),
            ("aud", r#"["x","a"]"#),
            ("iss", r#""i""#),
            ("publish_acl", r#"["a/#","b"]"#),
            ("subscribe_acl", r#""c/+""#),
            ("receive_acl", r#"["d"]"#),
            ("su", "true"),
            ("jti", r#""j""#),
            ("x", "[1]"),
            ("p", r#""e""#),
            ("s\\u0075", "false"),
        ];
        let others = [
            r#""alice""#,
            r#""""#,
            "1.8e9",
            "2e9",
            "true",
            "null",
            "[1]",
            r#""a""#,
            r#"{"k":[{}]}"#,
        ];
        // What a Value refuses and a lax skip might not.
        let refused = ["1e400", r#""\ud800""#];
        let value = prop_oneof![
            40 => Just(None),
            10 => prop::sample::select(others.to_vec()).prop_map(Some),
            1 => prop::sample::select(refused.to_vec()).prop_map(Some),
        ];
        let members = (
            prop::sample::subsequence(names.to_vec(), 0..=names.len()),
            prop::collection::vec(value, names.len()),
            prop::option::weighted(0.05, prop::sample::select(names.to_vec())),
        )
            .prop_map(|(chosen, values, again)| {
                let mut members: Vec<String> = chosen
                    .iter()
                    .chain(&again)
                    .zip(values)
                    .map(|((name, good), value)| format!("\"{name}\":{}", value.unwrap_or(good)))
                    .collect();
                members.rotate_right(usize::from(again.is_some()));
                members
            });
        let object = members.prop_map(|members| format!("{{{}}}", members.join(",")).into_bytes());
        let mangled = (object.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(mut bytes, at, byte)| {
                let at = at.index(bytes.len());
                bytes[at] = byte;
                bytes
            },
        );
        prop_oneof![20 => object, 1 => mangled]
    }

    proptest! {
        // Cheap cases, and a rule's claim must come up with a value that passes the
        // checks before it.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn claims_no_rule_reads_change_nothing(
            text in claims_text(),
            config in prop::sample::select(CONFIGS.to_vec()),
        ) {
            let rules = rules(config);
            let read = json::strict(&text, Claims::new(&rules));
            let whole = json::strict_object(&text);
            prop_assert_eq!(read.as_ref().err(), whole.as_ref().err());
            if let (Ok(read), Ok(whole)) = (read, whole) {
                prop_assert_eq!(
                    rules.check(&read, NOW),
                    rules.check(&keeping_all(&rules, whole), NOW)
                );
            }
        }
    }

    #[test]
    fn a_repeated_name_among_many_is_refused_as_before() {
        let rules = rules(&[]);
        let mut members: Vec<String> = (0..40).map(|i| format!("\"c{i}\":{i}")).collect();
        members.push("\"c3\":0".into());
        members.push("\"username\":\"a\"".into());
        let text = format!("{{{}}}", members.join(","));
        let refused = json::strict(text.as_bytes(), Claims::new(&rules)).err();
        assert!(
            refused
                .as_ref()
                .is_some_and(|why| why.contains("duplicate member 'c3'"))
        );
        assert_eq!(refused, json::strict_object(text.as_bytes()).err());
    }
}
