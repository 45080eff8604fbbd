use super::*;
use proptest::prelude::*;

#[test]
fn valid_and_invalid_filters() {
    for ok in [
        "a", "/", "a//b", "+", "#", "a/+/b", "a/#", "+/+/#", "$SYS/#", "€/ü", " ",
    ] {
        assert_eq!(validate_filter(ok), Ok(()), "{ok}");
    }
    let bad = [
        ("", FilterError::Empty),
        ("a+", FilterError::WildcardInsideLevel),
        ("a/b#", FilterError::WildcardInsideLevel),
        ("++", FilterError::WildcardInsideLevel),
        ("#/a", FilterError::HashNotLast),
        ("a/#/", FilterError::HashNotLast),
        ("a\0b", FilterError::Nul),
    ];
    for (filter, err) in bad {
        assert_eq!(validate_filter(filter), Err(err), "{filter:?}");
    }
    assert_eq!(validate_filter(&"a".repeat(MAX_LEN)), Ok(()));
    assert_eq!(
        validate_filter(&"a".repeat(MAX_LEN + 1)),
        Err(FilterError::TooLong)
    );
}

#[test]
fn matching_is_mqtt_matching() {
    let cases = [
        ("a/b", "a/b", true),
        ("a/b", "a/c", false),
        ("a/+", "a/b", true),
        ("a/+", "a/", true),
        ("a/+", "a", false),
        ("a/+", "a/b/c", false),
        ("+", "", true),
        ("+/+", "/", true),
        ("a/#", "a", true),
        ("a/#", "a/b/c", true),
        ("a/#", "ab", false),
        ("#", "a/b", true),
        ("#", "/", true),
        ("+/#", "a", true),
        ("a/b", "a/b/", false),
        ("a//b", "a//b", true),
        ("a/+/b", "a//b", true),
    ];
    for (filter, topic, expected) in cases {
        assert_eq!(matches(filter, topic), expected, "{filter} vs {topic}");
    }
}

#[test]
fn leading_wildcards_never_match_dollar_topics() {
    assert!(!matches("#", "$SYS/broker/uptime"));
    assert!(!matches("+/broker/uptime", "$SYS/broker/uptime"));
    assert!(!matches("+", "$x"));
    assert!(matches("$SYS/#", "$SYS/broker/uptime"));
    assert!(matches("$SYS/+/uptime", "$SYS/broker/uptime"));
    assert!(matches("a/#", "a/$b"));
    assert!(matches("a/+", "a/$b"));
}

#[test]
fn shared_subscriptions_are_judged_by_their_filter() {
    assert_eq!(subscription_filter("a/b"), Some("a/b"));
    assert_eq!(subscription_filter("$share/g/a/#"), Some("a/#"));
    assert_eq!(subscription_filter("$share/g/#"), Some("#"));
    assert_eq!(subscription_filter("$share/g"), None);
    assert_eq!(subscription_filter("$share//a"), None);
    assert_eq!(subscription_filter("$share/g/"), None);
    assert_eq!(subscription_filter("$share/g+/a"), None);
    assert_eq!(subscription_filter("$shared/g/a"), Some("$shared/g/a"));
}

#[test]
fn coverage_examples_from_the_specification() {
    assert!(covers(["my/+/other"], "my/+/other"));
    assert!(covers(["my/+/other"], "my/x/other"));
    assert!(!covers(["my/+/other"], "my/#"));
    assert!(!covers(["a/+"], "a/#"));
    assert!(!covers(["a/+"], "+"));
    assert!(covers(["a/#"], "a"));
    assert!(covers(["a/#"], "a/+/c"));
    assert!(covers(["a/#"], "a/#"));
}

#[test]
fn coverage_respects_the_dollar_rule() {
    assert!(!covers(["#"], "$SYS/#"));
    assert!(!covers(["+/#"], "$SYS/broker"));
    assert!(covers(["$SYS/#"], "$SYS/broker/+"));
    // `#` yields no `$` topics, so it needs no `$` pattern.
    assert!(covers(["#"], "#"));
    assert!(covers(["+/#"], "#"));
    assert!(covers(["+", "+/+/#"], "#"));
    assert!(!covers(["+", "+/+"], "#"));
}

#[test]
fn coverage_by_several_patterns_together() {
    // `a/#` yields `a` and everything under it: `a` covers the first, `a/+/#` the rest.
    assert!(covers(["a", "a/+/#"], "a/#"));
    assert!(!covers(["a/+/#"], "a/#"));
    assert!(!covers(["a"], "a/#"));
    assert!(covers(["a/x", "a/+"], "a/+"));
    assert!(!covers(["a/x", "a/y"], "a/+"));
    assert!(covers(["x/+/z", "x/y/+"], "x/y/z"));
    assert!(!covers([], "a"));
}

#[test]
fn coverage_of_very_deep_filters_needs_no_stack() {
    let deep = vec!["x"; 40_000].join("/");
    assert!(covers(["#"], &deep));
    assert!(covers([deep.as_str()], &deep));
    assert!(!covers(["x/+"], &deep));
    let deep_hash = format!("{deep}/#");
    assert!(!covers([deep.as_str()], &deep_hash));
    assert!(covers(
        [format!("{}/#", vec!["+"; 40_000].join("/")).as_str()],
        &deep_hash
    ));
}

/// Levels drawn from a small alphabet; `fresh` in a topic stands for any text that no
/// pattern or filter names, so checking topics over this alphabet up to a depth one past
/// the longest filter or pattern checks every topic.
const LEVELS: [&str; 4] = ["a", "b", "", "$x"];
const TOPIC_LEVELS: [&str; 5] = ["a", "b", "", "$x", "fresh"];

fn filter_strategy() -> impl Strategy<Value = String> {
    let level = prop_oneof![
        4 => proptest::sample::select(LEVELS.to_vec()).prop_map(str::to_owned),
        2 => Just("+".to_owned()),
    ];
    (proptest::collection::vec(level, 1..4), any::<bool>())
        .prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#".to_owned());
            }
            levels.join("/")
        })
        .prop_filter("a filter is never empty", |f| !f.is_empty())
}

fn all_topics(max_depth: usize) -> Vec<String> {
    let mut topics: Vec<Vec<&str>> = TOPIC_LEVELS.iter().map(|l| vec![*l]).collect();
    let mut all = topics.clone();
    for _ in 1..max_depth {
        topics = topics
            .iter()
            .flat_map(|t| {
                TOPIC_LEVELS
                    .iter()
                    .map(move |l| [t.clone(), vec![*l]].concat())
            })
            .collect();
        all.extend(topics.iter().cloned());
    }
    // The empty topic (one empty level) is not a topic MQTT allows.
    all.into_iter()
        .map(|levels| levels.join("/"))
        .filter(|topic| !topic.is_empty())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn coverage_is_exact(
        filter in filter_strategy(),
        patterns in proptest::collection::vec(filter_strategy(), 0..4),
    ) {
        let depth = patterns.iter().chain([&filter]).map(|f| f.split('/').count()).max().unwrap() + 1;
        let escaping = all_topics(depth).into_iter().find(|topic| {
            matches(&filter, topic) && !patterns.iter().any(|p| matches(p, topic))
        });
        let judged = covers(patterns.iter().map(String::as_str), &filter);
        prop_assert_eq!(judged, escaping.is_none(), "filter {} patterns {:?} witness {:?}", filter, patterns, escaping);
    }

    #[test]
    fn a_filter_covers_itself(filter in filter_strategy()) {
        prop_assert!(covers([filter.as_str()], &filter));
    }

    #[test]
    fn generated_filters_are_valid(filter in filter_strategy()) {
        prop_assert_eq!(validate_filter(&filter), Ok(()));
    }
}
