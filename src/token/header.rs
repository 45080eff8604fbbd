//! The JOSE header, read once when a password is recognised as a JWT.
//!
//! Recognising asks only whether the header is a JSON object with an `alg` member, and is
//! lenient about the rest: a member named twice still makes the password a JWT, to be
//! refused rather than left to other plugins. Verification wants the strict reading. One
//! pass serves both: it notes a repeated name, and only then is the header read strictly,
//! for the exact words of the refusal.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::json::{self, Checked, Name, Names};

/// What the verifier needs from a recognised token's header.
#[derive(Debug)]
pub struct Header {
    pub alg: Member,
    pub kid: Option<Member>,
    pub crit: bool,
    /// The strict reading's refusal: a member is named twice.
    pub refusal: Option<String>,
}

/// A member whose value matters only when it is a string.
#[derive(Debug)]
pub enum Member {
    Text(String),
    Other,
}

/// The header of a JWT, or `None` when `decoded` is not a JSON object with an `alg` member.
pub fn read(decoded: &[u8]) -> Option<Header> {
    let members: Members = serde_json::from_slice(decoded).ok()?;
    let refusal = if members.repeated {
        json::strict_object(decoded).err()
    } else {
        None
    };
    Some(Header {
        alg: members.alg?,
        kid: members.kid,
        crit: members.crit,
        refusal,
    })
}

#[derive(Default)]
struct Members {
    alg: Option<Member>,
    kid: Option<Member>,
    crit: bool,
    repeated: bool,
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // As `serde_json::Map` asks, so that exactly the same inputs are objects.
        deserializer.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Members, A::Error> {
        let mut members = Members::default();
        let mut names = Names::default();
        while let Some(Name(name)) = access.next_key()? {
            match &*name {
                "alg" => members.alg = Some(member(access.next_value()?)),
                "kid" => members.kid = Some(member(access.next_value()?)),
                _ => {
                    access.next_value::<Checked>()?;
                    members.crit |= name == "crit";
                }
            }
            members.repeated |= !names.insert(name);
        }
        Ok(members)
    }
}

fn member(value: Value) -> Member {
    match value {
        Value::String(text) => Member::Text(text),
        _ => Member::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Map;

    /// The two readings `read` stands for: the lenient one that recognised a JWT and the
    /// strict one that verification made of it.
    fn check_against_two_readings(decoded: &[u8]) -> Result<(), TestCaseError> {
        let lenient = serde_json::from_slice::<Map<String, Value>>(decoded);
        let recognised = lenient.is_ok_and(|object| object.contains_key("alg"));
        let header = read(decoded);
        prop_assert_eq!(header.is_some(), recognised);
        let Some(header) = header else {
            return Ok(());
        };
        let strict = json::strict_object(decoded);
        prop_assert_eq!(&header.refusal, &strict.as_ref().err().cloned());
        if let Ok(object) = strict {
            let text = |member: Option<&Member>| match member {
                Some(Member::Text(text)) => Some(Some(text.clone())),
                Some(Member::Other) => Some(None),
                None => None,
            };
            let value = |name| {
                object
                    .get(name)
                    .map(|v: &Value| v.as_str().map(str::to_owned))
            };
            prop_assert_eq!(text(Some(&header.alg)), value("alg"));
            prop_assert_eq!(text(header.kid.as_ref()), value("kid"));
            prop_assert_eq!(header.crit, object.contains_key("crit"));
        }
        Ok(())
    }

    fn fragment() -> impl Strategy<Value = Vec<u8>> {
        let names = [
            r#""alg""#,
            r#""kid""#,
            r#""crit""#,
            r#""typ""#,
            r#""a\u006cg""#,
            r#""k\"id""#,
            r#""\ud800""#,
        ];
        let values = [
            r#""HS256""#,
            r#""k-1""#,
            r#""a\nb\u00e9""#,
            r#""\ud800""#,
            "\"\u{e9}\"",
            "1",
            "-0",
            "1.5e3",
            "1e400",
            "18446744073709551616",
            "null",
            "true",
            r#"[1,{"a":1,"a":2},[]]"#,
            r#"{"k":{"k":"v"}}"#,
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
            "[",
            "01",
        ];
        let member = (
            prop::sample::select(names.to_vec()),
            prop::sample::select(values.to_vec()),
        )
            .prop_map(|(name, value)| format!("{name}:{value}"));
        let ending = prop::sample::select(&["}", " } ", "", "}}", "} x", ",}"][..]);
        let object = (prop::collection::vec(member, 0..5), ending)
            .prop_map(|(members, ending)| format!("{{{}{ending}", members.join(",")).into_bytes());
        let mangled = (object.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(mut bytes, at, byte)| {
                if !bytes.is_empty() {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
                bytes
            },
        );
        prop_oneof![
            4 => object,
            2 => mangled,
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ]
    }

    proptest! {
        #[test]
        fn reads_as_the_lenient_and_strict_readings_did(decoded in fragment()) {
            check_against_two_readings(&decoded)?;
        }
    }

    #[test]
    fn a_repeated_member_is_a_jwt_with_the_strict_refusal() {
        let header = read(br#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#).unwrap();
        let why = header.refusal.unwrap();
        assert!(why.contains("duplicate member 'typ'"), "{why}");
        assert!(read(br#"{"a\u006cg":1}"#).is_some());
    }

    #[test]
    fn values_are_held_to_the_rules_of_a_value() {
        for decoded in [
            &br#"{"alg":"HS256","x":1e400}"#[..],
            br#"{"alg":"HS256","x":"\ud800"}"#,
            br#"{"alg":"HS256","x":{"\ud800":1}}"#,
            b"{\"alg\":\"HS256\",\"x\":\"\xff\"}",
        ] {
            assert!(
                read(decoded).is_none(),
                "{}",
                String::from_utf8_lossy(decoded)
            );
            check_against_two_readings(decoded).unwrap();
        }
    }
}
