//! Strict reading of a token's JSON header and claims.
//!
//! RFC 7519 section 4 lets a parser either reject duplicate member names or keep the last
//! one; keeping one silently would let two parsers disagree about what a token says, so a
//! duplicate is an error here.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::token::sanitize;

pub type Object = Map<String, Value>;

/// Parses a JSON object whose top-level member names are all distinct.
pub fn strict_object(bytes: &[u8]) -> Result<Object, String> {
    match serde_json::from_slice::<StrictObject>(bytes) {
        Ok(StrictObject(object)) => Ok(object),
        Err(e) if e.is_data() => Err(e.to_string()),
        Err(e) => Err(format!(
            "not valid JSON (line {} column {})",
            e.line(),
            e.column()
        )),
    }
}

struct StrictObject(Object);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictObject;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
        let mut object = Object::new();
        while let Some(name) = access.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "duplicate member '{}'",
                    sanitize(&name)
                )));
            }
            let value: Value = access.next_value()?;
            object.insert(name, value);
        }
        Ok(StrictObject(object))
    }

    // Everything that is not an object gets a short message that echoes nothing of the
    // token.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<StrictObject, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<StrictObject, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<StrictObject, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<StrictObject, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<StrictObject, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<StrictObject, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<StrictObject, A::Error> {
        Err(de::Error::custom("not a JSON object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_object() {
        let object = strict_object(br#"{"a": 1, "b": [true, {"c": null}]}"#).unwrap();
        assert_eq!(object.len(), 2);
    }

    #[test]
    fn refuses_duplicate_names() {
        let err = strict_object(br#"{"sub": "alice", "sub": "root"}"#).unwrap_err();
        assert!(err.contains("duplicate member 'sub'"), "{err}");
    }

    #[test]
    fn nested_duplicates_are_not_top_level_concerns() {
        assert!(strict_object(br#"{"x": {"a": 1, "a": 2}}"#).is_ok());
    }

    #[test]
    fn refuses_non_objects_without_echoing_them() {
        for input in [&b"[1,2]"[..], b"\"secret\"", b"42", b"true", b"null"] {
            let err = strict_object(input).unwrap_err();
            assert!(err.contains("not a JSON object"), "{err}");
            assert!(!err.contains("secret"));
        }
    }

    #[test]
    fn refuses_invalid_json_and_trailing_data() {
        assert!(strict_object(b"{").unwrap_err().contains("not valid JSON"));
        assert!(strict_object(b"{} {}").is_err());
        assert!(strict_object(b"\xff").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut deep = b"{\"a\":".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(strict_object(&deep).is_err());
    }
}
