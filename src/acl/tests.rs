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

fn filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => level(), 1 => Just("+".to_owned())];
    (proptest::collection::vec(level, 1..5), any::<bool>())
        .prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#".to_owned());
            }
            levels.join("/")
        })
        .prop_filter("non-empty", |f| !f.is_empty())
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
    let level = prop_oneof![6 => wide_level(), 1 => Just("+".to_owned())];
    (proptest::collection::vec(level, 1..4), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash {
            levels.push("#".to_owned());
        }
        levels.join("/")
    })
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
