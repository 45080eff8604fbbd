//! Strict reading of a token's JSON header and claims.
//!
//! RFC 7519 section 4 lets a parser either reject duplicate member names or keep the last
//! one; keeping one silently would let two parsers disagree about what a token says, so a
//! duplicate is an error here.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::token::sanitize;

pub type Object = Map<String, Value>;

/// Parses a JSON object whose top-level member names are all distinct.
pub fn strict_object(bytes: &[u8]) -> Result<Object, String> {
    strict(bytes, Object::new())
}

/// Parses as [`strict_object`] does, with each member handed to `members`, which may keep
/// less than every value. Errors read the same, word for word and position for position.
pub fn strict<'de, M: Members<'de>>(bytes: &'de [u8], members: M) -> Result<M, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let read = Strict(members)
        .deserialize(&mut deserializer)
        .and_then(|members| deserializer.end().map(|()| members));
    match read {
        Ok(members) => Ok(members),
        Err(e) if e.is_data() => Err(e.to_string()),
        Err(e) => Err(format!(
            "not valid JSON (line {} column {})",
            e.line(),
            e.column()
        )),
    }
}

/// Where a strict reading puts the members of the object.
pub trait Members<'de> {
    /// True when a member of this name has been read.
    fn has(&self, name: &str) -> bool;

    /// Reads the value of the member `name`, named for the first time.
    fn read<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        access: &mut A,
    ) -> Result<(), A::Error>;
}

impl<'de> Members<'de> for Object {
    fn has(&self, name: &str) -> bool {
        self.contains_key(name)
    }

    fn read<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        access: &mut A,
    ) -> Result<(), A::Error> {
        let value: Value = access.next_value()?;
        self.insert(name.into_owned(), value);
        Ok(())
    }
}

/// The member names of an object read so far. A few are compared one by one, which is
/// fastest for the handful a token has; past that they go into a tree, so that a header
/// or claims with thousands of members cost no more than a map would.
#[derive(Default)]
pub struct Names<'de> {
    few: Vec<Cow<'de, str>>,
    many: BTreeSet<Cow<'de, str>>,
}

const FEW: usize = 16;

impl<'de> Names<'de> {
    pub fn contains(&self, name: &str) -> bool {
        self.few.iter().any(|n| n == name) || self.many.contains(name)
    }

    /// Adds `name`; false when it was there already.
    pub fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if self.contains(&name) {
            return false;
        }
        if self.few.len() < FEW {
            self.few.push(name);
        } else {
            self.many.insert(name);
        }
        true
    }
}

struct Strict<M>(M);

impl<'de, M: Members<'de>> DeserializeSeed<'de> for Strict<M> {
    type Value = M;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<M, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, M: Members<'de>> Visitor<'de> for Strict<M> {
    type Value = M;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<M, A::Error> {
        let mut members = self.0;
        while let Some(Name(name)) = access.next_key()? {
            if members.has(&name) {
                return Err(de::Error::custom(format!(
                    "duplicate member '{}'",
                    sanitize(&name)
                )));
            }
            members.read(name, &mut access)?;
        }
        Ok(members)
    }

    // Everything that is not an object gets a short message that echoes nothing of the
    // token.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<M, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<M, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<M, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<M, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<M, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<M, E> {
        Err(E::custom("not a JSON object"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<M, A::Error> {
        Err(de::Error::custom("not a JSON object"))
    }
}

/// A member name, borrowed from the text unless it has escapes.
pub struct Name<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(name)))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(name.to_owned())))
    }
}

/// A value nobody reads, held to the rules a `serde_json::Value` is built by (numbers in
/// range, strings valid, nesting bounded) without building it. serde's `IgnoredAny` would
/// let serde_json skip it more loosely: a header or claims it passed would be refused
/// where reading them into values was not, or the other way round.
pub struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Checked, A::Error> {
        while access.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Checked, A::Error> {
        while access.next_key::<Checked>()?.is_some() {
            access.next_value::<Checked>()?;
        }
        Ok(Checked)
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
    fn names_past_the_first_few_are_still_found() {
        let mut names = Names::default();
        for i in 0..40 {
            assert!(names.insert(Cow::Owned(format!("n{i}"))));
        }
        for i in 0..40 {
            assert!(names.contains(&format!("n{i}")));
            assert!(!names.insert(Cow::Owned(format!("n{i}"))));
        }
        assert!(!names.contains("n40"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut deep = b"{\"a\":".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(strict_object(&deep).is_err());
    }
}
