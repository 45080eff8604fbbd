use super::*;
use crate::topic::matches;
use proptest::prelude::*;

fn names() -> ClaimNames {
    ClaimNames {
        user: "username".into(),
        publish: "publish_acl".into(),
        subscribe: "subscribe_acl".into(),
        receive: "receive_acl".into(),
    }
}

fn list(patterns: &[&str]) -> Option<Vec<String>> {
    Some(patterns.iter().map(|p| p.to_string()).collect())
}

fn acl(publish: &[&str], subscribe: &[&str], receive: &[&str]) -> Acl {
    let patterns = AclPatterns {
        publish: list(publish),
        subscribe: list(subscribe),
        receive: list(receive),
    };
    Acl::compile(&patterns, &names()).unwrap()
}

#[test]
fn topic_set_examples() {
    let set = TopicSet::new(["a/b", "a/+/c", "x/#", "+/only", "$SYS/broker/#", "e//f"]);
    for (topic, expected) in [
        ("a/b", true),
        ("a/b/c", true),
        ("a//c", true),
        ("a/b/d", false),
        ("a", false),
        ("x", true),
        ("x/y/z", true),
        ("xy", false),
        ("q/only", true),
        ("$q/only", false),
        ("$SYS/broker", true),
        ("$SYS/broker/load/1min", true),
        ("$SYS/other", false),
        ("e//f", true),
        ("e/f", false),
    ] {
        assert_eq!(set.matches(topic.as_bytes()), expected, "{topic}");
    }
}

#[test]
fn root_wildcards_skip_dollar_topics() {
    let set = TopicSet::new(["#"]);
    assert!(set.matches(b"a"));
    assert!(!set.matches(b"$SYS/broker/uptime"));
    let plus = TopicSet::new(["+/#", "+"]);
    assert!(plus.matches(b"a/b"));
    assert!(!plus.matches(b"$SYS"));
    assert!(!plus.matches(b"$SYS/x"));
}

#[test]
fn backtracks_from_a_literal_into_plus() {
    // The literal branch `a/b/...` fails deeper; the `+` branch must still be tried.
    let set = TopicSet::new(["a/b/c", "a/+/d", "+/b/e"]);
    assert!(set.matches(b"a/b/d"));
    assert!(set.matches(b"a/b/e"));
    assert!(!set.matches(b"a/b/f"));
}

#[test]
fn an_empty_set_matches_nothing() {
    let set = TopicSet::new([]);
    assert!(!set.matches(b"a"));
    assert!(!set.matches(b""));
}

#[test]
fn deep_topics_and_filters_need_no_stack() {
    let deep_filter = vec!["+"; 30_000].join("/");
    let set = TopicSet::new([deep_filter.as_str()]);
    let deep_topic = vec!["x"; 30_000].join("/");
    assert!(set.matches(deep_topic.as_bytes()));
    assert!(!set.matches(format!("{deep_topic}/x").as_bytes()));
}

#[test]
fn acl_decides_each_access() {
    let acl = acl(
        &["devices/alice/#"],
        &["commands/alice/+"],
        &["commands/alice/+", "broadcast"],
    );
    assert!(acl.allows(Access::Write, b"devices/alice/temp"));
    assert!(!acl.allows(Access::Write, b"devices/bob/temp"));
    assert!(acl.allows(Access::Read, b"commands/alice/reboot"));
    assert!(acl.allows(Access::Read, b"broadcast"));
    assert!(!acl.allows(Access::Read, b"commands/bob/reboot"));
    assert!(acl.allows(Access::Subscribe, b"commands/alice/+"));
    assert!(acl.allows(Access::Subscribe, b"commands/alice/reboot"));
    assert!(acl.allows(Access::Subscribe, b"$share/workers/commands/alice/+"));
    assert!(!acl.allows(Access::Subscribe, b"commands/alice/#"));
    assert!(!acl.allows(Access::Subscribe, b"$share/workers/#"));
    assert!(!acl.allows(Access::Subscribe, b"$share/workers"));
    assert!(!acl.allows(Access::Subscribe, b"commands/\xff"));
    assert!(acl.allows(Access::Unsubscribe, b"anything/#"));
}

#[test]
fn a_missing_claim_grants_nothing_for_its_action() {
    let patterns = AclPatterns {
        publish: list(&["#"]),
        subscribe: None,
        receive: None,
    };
    let acl = Acl::compile(&patterns, &names()).unwrap();
    assert!(acl.allows(Access::Write, b"a"));
    assert!(!acl.allows(Access::Subscribe, b"a"));
    assert!(!acl.allows(Access::Read, b"a"));
}

#[test]
fn an_invalid_pattern_is_named_in_the_refusal() {
    let patterns = AclPatterns {
        publish: None,
        subscribe: list(&["ok/+", "bad/#/x"]),
        receive: None,
    };
    let err = Acl::compile(&patterns, &names()).unwrap_err();
    assert_eq!(
        err,
        "claim 'subscribe_acl': pattern 'bad/#/x' is not a valid topic filter: it has '#' before its last level"
    );
    for bad in ["", "a+", "x\0y"] {
        let patterns = AclPatterns {
            publish: list(&[bad]),
            subscribe: None,
            receive: None,
        };
        assert!(Acl::compile(&patterns, &names()).is_err(), "{bad:?}");
    }
}

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("".to_owned()),
        Just("$s".to_owned()),
        Just("ü".to_owned()),
        // Around eight bytes, where labels are compared as one word, and sharing prefixes.
        Just("sensor".to_owned()),
        Just("sensors".to_owned()),
        Just("abcdefgh".to_owned()),
        Just("abcdefgi".to_owned()),
        Just("abcdefghi".to_owned()),
    ]
}

/// Valid topic filters of `levels` levels drawn from `level`, about one in `odds + 1` of
/// them `+`, half of them ending in `#`.
fn filter_from(
    level: impl Strategy<Value = String> + 'static,
    odds: u32,
    levels: std::ops::Range<usize>,
) -> impl Strategy<Value = String> {
    let level = prop_oneof![odds => level, 1 => Just("+".to_owned())];
    (proptest::collection::vec(level, levels), any::<bool>())
        .prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#".to_owned());
            }
            levels.join("/")
        })
        .prop_filter("non-empty", |f| !f.is_empty())
}

fn filter() -> impl Strategy<Value = String> {
    filter_from(level(), 3, 1..5)
}

fn topic() -> impl Strategy<Value = String> {
    proptest::collection::vec(level(), 1..6).prop_map(|levels| levels.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn topic_set_agrees_with_matching_each_filter(
        filters in proptest::collection::vec(filter(), 0..8),
        topics in proptest::collection::vec(topic(), 1..8),
    ) {
        let set = TopicSet::new(filters.iter().map(String::as_str));
        for topic in &topics {
            let expected = filters.iter().any(|f| matches(f, topic));
            prop_assert_eq!(set.matches(topic.as_bytes()), expected, "{:?} vs {}", filters, topic);
        }
    }
}

/// Levels from an alphabet wide enough that a node gets more children than it scans, so
/// that they go in a hash table.
fn wide_level() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0..40u8).prop_map(|n| n.to_string()),
        1 => Just("".to_owned()),
        1 => Just("$s".to_owned()),
    ]
}

fn wide_filter() -> impl Strategy<Value = String> {
    filter_from(wide_level(), 6, 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn wide_topic_sets_agree_with_matching_each_filter(
        filters in proptest::collection::vec(wide_filter(), 0..120),
        topics in proptest::collection::vec(
            proptest::collection::vec(wide_level(), 1..5).prop_map(|l| l.join("/")),
            1..16,
        ),
    ) {
        let set = TopicSet::new(filters.iter().map(String::as_str));
        for topic in &topics {
            let expected = filters.iter().any(|f| matches(f, topic));
            prop_assert_eq!(set.matches(topic.as_bytes()), expected, "{:?} vs {}", filters, topic);
        }
    }

    #[test]
    fn the_same_filters_in_any_order_give_equal_sets(
        filters in proptest::collection::vec(wide_filter(), 0..120),
    ) {
        let set = TopicSet::new(filters.iter().map(String::as_str));
        let reversed = TopicSet::new(filters.iter().rev().map(String::as_str));
        prop_assert_eq!(set, reversed);
    }
}

/// Levels around the sizes the matcher treats differently: up to 3, 4 to 7 and 8 bytes and
/// more, `$` levels and multi-byte UTF-8.
fn sized_level() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ab]{0,3}",
        4 => "[ab]{6,10}",
        2 => "[ab]{15,17}",
        1 => "\\$[ab]{0,8}",
        1 => "[aü€]{1,5}",
    ]
}

fn sized_filter() -> impl Strategy<Value = String> {
    filter_from(sized_level(), 5, 1..5)
}

/// A topic that `filter` matches, its wildcards filled from `fill`, then perhaps changed
/// by one byte (flipped, removed, inserted, or a `/` inserted): near misses, the topics a
/// word-at-a-time comparison or a skipped retry would get wrong.
fn near(filter: &str, fill: &[String], change: u8, at: usize) -> String {
    let mut fill = fill.iter().cycle();
    let mut levels: Vec<String> = Vec::new();
    for level in filter.split('/') {
        match level {
            "+" => levels.push(fill.next().unwrap().clone()),
            "#" => {
                for _ in 0..fill.next().unwrap().len() % 3 {
                    levels.push(fill.next().unwrap().clone());
                }
            }
            literal => levels.push(literal.to_owned()),
        }
    }
    let mut topic = levels.join("/").into_bytes();
    let len = topic.len();
    match change % 6 {
        2 if len > 0 => {
            let byte = &mut topic[at % len];
            *byte = match *byte {
                b'a' => b'b',
                b'b' => b'a',
                other => other,
            };
        }
        3 if len > 0 => {
            topic.remove(at % len);
        }
        4 => topic.insert(at % (len + 1), b'a'),
        5 => topic.insert(at % (len + 1), b'/'),
        _ => {}
    }
    String::from_utf8(topic).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn sets_and_single_filters_agree_on_near_misses(
        filters in proptest::collection::vec(sized_filter(), 1..5),
        fill in proptest::collection::vec(sized_level(), 1..6),
        changes in proptest::collection::vec((any::<u8>(), any::<usize>()), 1..8),
        others in proptest::collection::vec(proptest::collection::vec(sized_level(), 1..5), 0..3),
    ) {
        let set = TopicSet::new(filters.iter().map(String::as_str));
        let single = TopicSet::new([filters[0].as_str()]);
        let mut topics: Vec<String> = others.iter().map(|levels| levels.join("/")).collect();
        for (i, (change, at)) in changes.iter().enumerate() {
            topics.push(near(&filters[i % filters.len()], &fill, *change, *at));
        }
        for topic in topics.iter().filter(|t| !t.is_empty()) {
            let expected = filters.iter().any(|f| matches(f, topic));
            prop_assert_eq!(set.matches(topic.as_bytes()), expected, "{:?} vs {}", filters, topic);
            prop_assert_eq!(
                single.matches(topic.as_bytes()),
                matches(&filters[0], topic),
                "{} vs {}", filters[0], topic
            );
        }
    }
}

#[test]
fn filters_at_word_boundaries_alone_and_in_pairs() {
    let levels = [
        "",
        "a",
        "$a",
        "abc",
        "abcd",
        "abcdefg",
        "abcdefgh",
        "abcdefgi",
        "abcdefghi",
        "abcdefghabcdefgh",
        "abcdefghabcdefgi",
        "abcdefghabcdefghi",
        "ü",
        "€x",
        "+",
        "#",
    ];
    let mut filters: Vec<String> = ["#", "+", "/#", "a//#", "+/#"].map(String::from).into();
    let mut topics = Vec::new();
    for a in levels {
        for b in levels {
            filters.push(format!("{a}/{b}"));
            filters.push(a.to_owned());
            if !["+", "#"].contains(&a) && !["+", "#"].contains(&b) {
                topics.extend([
                    format!("{a}/{b}"),
                    a.to_owned(),
                    format!("{a}/{b}/"),
                    format!("{a}{b}"),
                ]);
                for c in ["", "a", "abcdefgh", "x"] {
                    topics.push(format!("{a}/{b}/{c}"));
                }
            }
        }
    }
    filters.retain(|f| crate::topic::validate_filter(f).is_ok());
    topics.retain(|t| !t.is_empty());
    for f in &filters {
        let set = TopicSet::new([f.as_str()]);
        for t in &topics {
            assert_eq!(set.matches(t.as_bytes()), matches(f, t), "{f} vs {t}");
        }
        // With a second filter, the set is a trie rather than the single-filter form.
        for g in ["abcdefgh/+", "a/#", "+/abcdefgh", "abcdefgh"] {
            let pair = TopicSet::new([f.as_str(), g]);
            for t in &topics {
                let expected = matches(f, t) || matches(g, t);
                assert_eq!(pair.matches(t.as_bytes()), expected, "{f} + {g} vs {t}");
            }
        }
    }
}

#[test]
fn same_bytes_tells_every_one_byte_difference() {
    for n in 0..40u8 {
        let a: Vec<u8> = (0..n).map(|i| b'a' + i % 26).collect();
        assert!(same_bytes(&a, &a.clone()));
        for i in 0..usize::from(n) {
            let mut b = a.clone();
            b[i] ^= 1;
            assert!(!same_bytes(&a, &b), "length {n}, byte {i}");
        }
        let mut longer = a.clone();
        longer.push(b'a');
        assert!(!same_bytes(&a, &longer));
    }
}

#[test]
fn an_empty_set_is_the_one_the_builder_would_make() {
    let empty = TopicSet::new(std::iter::empty());
    let built = TopicSet::flatten(&[BuildNode::default()]);
    assert_eq!(empty, built);
    use std::hash::BuildHasher;
    let hasher = std::hash::RandomState::new();
    assert_eq!(hasher.hash_one(&empty), hasher.hash_one(&built));
}
