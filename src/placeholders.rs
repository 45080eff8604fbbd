//! `%u`, `%c`, `${username}` and `${clientid}` in topic patterns: a level that is exactly
//! one of them stands for the token's user or the client's id, filled in at CONNECT.
//!
//! A value that could change a pattern's shape rather than fill one level (empty, or
//! holding `+`, `#`, `/` or NUL) disables every pattern that uses it, and so does one
//! starting with `$`, which as a first level would reach `$SYS` or `$CONTROL`: a client
//! cannot widen its own rights by choosing its id.

use crate::token::AclPatterns;

/// What a placeholder level stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholder {
    User,
    ClientId,
}

impl Placeholder {
    fn of_level(level: &str) -> Option<Placeholder> {
        match level {
            "%u" | "${username}" => Some(Placeholder::User),
            "%c" | "${clientid}" => Some(Placeholder::ClientId),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Placeholder::User => "user",
            Placeholder::ClientId => "client id",
        }
    }
}

/// The values of one connection.
pub struct Values<'a> {
    pub user: &'a str,
    /// `None` when the client id is not UTF-8 (the broker should never allow that).
    pub client_id: Option<&'a str>,
}

impl Values<'_> {
    /// The value to put in, or `None` when it must not be used.
    fn usable(&self, placeholder: Placeholder) -> Option<&str> {
        let value = match placeholder {
            Placeholder::User => Some(self.user),
            Placeholder::ClientId => self.client_id,
        }?;
        let unsafe_value =
            value.is_empty() || value.starts_with('$') || value.contains(['+', '#', '/', '\0']);
        (!unsafe_value).then_some(value)
    }
}

/// True when any pattern of the token uses a placeholder; most tokens do not, and are
/// compiled as they are.
pub fn any_in(patterns: &AclPatterns) -> bool {
    lists(patterns).any(|pattern| {
        pattern
            .split('/')
            .any(|level| Placeholder::of_level(level).is_some())
    })
}

/// The patterns with placeholders filled in. A pattern whose placeholder value is unusable
/// is left out; each such value is named once in the returned notes.
pub fn substitute(patterns: &AclPatterns, values: &Values<'_>) -> (AclPatterns, Vec<String>) {
    let mut unusable: Vec<Placeholder> = Vec::new();
    let mut fill = |list: &Option<Vec<String>>| {
        list.as_ref().map(|list| {
            list.iter()
                .filter_map(|pattern| fill_one(pattern, values, &mut unusable))
                .collect()
        })
    };
    let filled = AclPatterns {
        publish: fill(&patterns.publish),
        subscribe: fill(&patterns.subscribe),
        receive: fill(&patterns.receive),
    };
    let notes = unusable
        .into_iter()
        .map(|p| {
            format!(
                "the {} is empty, starts with '$' or holds '+', '#', '/' or NUL; patterns using it match nothing",
                p.name()
            )
        })
        .collect();
    (filled, notes)
}

fn fill_one(pattern: &str, values: &Values<'_>, unusable: &mut Vec<Placeholder>) -> Option<String> {
    let mut out = String::with_capacity(pattern.len());
    for (i, level) in pattern.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match Placeholder::of_level(level) {
            None => out.push_str(level),
            Some(placeholder) => match values.usable(placeholder) {
                Some(value) => out.push_str(value),
                None => {
                    if !unusable.contains(&placeholder) {
                        unusable.push(placeholder);
                    }
                    return None;
                }
            },
        }
    }
    Some(out)
}

fn lists(patterns: &AclPatterns) -> impl Iterator<Item = &String> {
    [&patterns.publish, &patterns.subscribe, &patterns.receive]
        .into_iter()
        .flat_map(|list| list.iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> AclPatterns {
        let list: Vec<String> = list.iter().map(|p| p.to_string()).collect();
        AclPatterns {
            publish: Some(list.clone()),
            subscribe: Some(list),
            receive: None,
        }
    }

    fn fill(list: &[&str], user: &str, client_id: Option<&str>) -> (Vec<String>, Vec<String>) {
        let (filled, notes) = substitute(&patterns(list), &Values { user, client_id });
        assert_eq!(filled.publish, filled.subscribe);
        assert_eq!(filled.receive, None);
        (filled.publish.unwrap(), notes)
    }

    #[test]
    fn whole_levels_are_filled_in_every_spelling() {
        let (filled, notes) = fill(
            &[
                "d/%u/%c",
                "${username}/x/${clientid}",
                "%u",
                "a/%uu/b%c/${username}x",
                "plain/+/#",
            ],
            "alice",
            Some("dev-1"),
        );
        assert_eq!(
            filled,
            [
                "d/alice/dev-1",
                "alice/x/dev-1",
                "alice",
                "a/%uu/b%c/${username}x",
                "plain/+/#"
            ]
        );
        assert!(notes.is_empty());
        assert!(any_in(&patterns(&["a/%c"])));
        assert!(!any_in(&patterns(&["a/%cc", "x%u/y"])));
    }

    #[test]
    fn hostile_values_disable_the_patterns_that_use_them() {
        for hostile in [
            "a/+",
            "#",
            "x/y",
            "",
            "nul\0byte",
            "+",
            "$SYS",
            "$CONTROL",
            "$",
        ] {
            let (filled, notes) = fill(&["c/%c/in", "u/%u", "fixed"], "alice", Some(hostile));
            assert_eq!(filled, ["u/alice", "fixed"], "{hostile:?}");
            assert_eq!(notes.len(), 1, "{hostile:?}");
            assert!(notes[0].starts_with("the client id is empty, starts with '$' or holds"));

            let (filled, notes) = fill(&["c/%c", "u/${username}/x", "fixed"], hostile, Some("dev"));
            assert_eq!(filled, ["c/dev", "fixed"], "{hostile:?}");
            assert!(notes[0].starts_with("the user is empty, starts with '$'"));
        }
        let (filled, _) = fill(&["c/%c", "fixed"], "alice", None);
        assert_eq!(filled, ["fixed"]);
    }
}
