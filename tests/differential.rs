//! The plugin's topic matching against libmosquitto's own `mosquitto_topic_matches_sub`
//! (linked into this test only; the plugin never links libmosquitto), and subscribe
//! coverage against topics that libmosquitto matches.
//!
//! Over a million filter/topic pairs per run: 60,000 generated filters, each against 20
//! topics, half of them made from the filter so that matches are common.

use std::ffi::{CString, c_char, c_int};
use std::sync::atomic::{AtomicUsize, Ordering};

use mosquitto_jwt_auth::acl::TopicSet;
use mosquitto_jwt_auth::topic;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

#[link(name = "mosquitto")]
unsafe extern "C" {
    fn mosquitto_topic_matches_sub(
        sub: *const c_char,
        topic: *const c_char,
        result: *mut bool,
    ) -> c_int;
    fn mosquitto_sub_topic_check(sub: *const c_char) -> c_int;
    fn mosquitto_pub_topic_check(topic: *const c_char) -> c_int;
}

const MOSQ_ERR_SUCCESS: c_int = 0;

fn c(text: &str) -> CString {
    CString::new(text).expect("no NUL in generated text")
}

/// libmosquitto's verdict, `None` when it refuses the filter or topic.
fn reference(filter: &str, topic: &str) -> Option<bool> {
    let (f, t) = (c(filter), c(topic));
    let mut result = false;
    // SAFETY: two NUL-terminated strings and a place for the answer.
    let rc = unsafe { mosquitto_topic_matches_sub(f.as_ptr(), t.as_ptr(), &mut result) };
    (rc == MOSQ_ERR_SUCCESS).then_some(result)
}

fn valid_filter(filter: &str) -> bool {
    // SAFETY: a NUL-terminated string.
    unsafe { mosquitto_sub_topic_check(c(filter).as_ptr()) == MOSQ_ERR_SUCCESS }
}

fn valid_topic(topic: &str) -> bool {
    // SAFETY: a NUL-terminated string.
    unsafe { mosquitto_pub_topic_check(c(topic).as_ptr()) == MOSQ_ERR_SUCCESS }
}

/// Topic levels worth mixing: empty, `$`-prefixed, unicode, look-alikes of wildcards, and
/// levels around eight bytes that differ only at the end (the trie and the single-filter
/// form compare bytes a word at a time).
const LEVELS: [&str; 17] = [
    "",
    "a",
    "b",
    "ab",
    "$SYS",
    "$x",
    "ü",
    "€",
    " ",
    "aa",
    "日本",
    "sensors",
    "abcdefgh",
    "abcdefgi",
    "abcdefghi",
    "temperature",
    "temperaturf",
];

fn literal_level() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(&LEVELS[..]).prop_map(str::to_owned),
        1 => "[a-z$]{1,3}",
    ]
}

fn filter_level() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => literal_level(),
        2 => Just("+".to_owned()),
    ]
}

/// Valid filters: `#` only as the last level; sometimes very deep.
fn filter() -> impl Strategy<Value = String> {
    let depth = prop_oneof![8 => 1usize..6, 1 => 20usize..60];
    (depth, any::<bool>())
        .prop_flat_map(|(depth, hash)| {
            (proptest::collection::vec(filter_level(), depth), Just(hash))
        })
        .prop_map(|(mut levels, hash)| {
            if hash {
                let last = levels.len() - 1;
                levels[last] = "#".to_owned();
            }
            levels.join("/")
        })
}

fn topic_from_levels(levels: Vec<String>) -> String {
    levels.join("/")
}

/// A topic built from the filter: each `+` a literal level, `#` zero or more levels;
/// `random` supplies the choices.
fn instance(filter: &str, random: &mut impl Iterator<Item = usize>) -> String {
    let mut pick = || LEVELS[random.next().unwrap_or(0) % LEVELS.len()].to_owned();
    let mut out = Vec::new();
    for level in filter.split('/') {
        match level {
            "+" => out.push(pick()),
            "#" => {
                let count = pick().len() % 4;
                out.extend((0..count).map(|_| pick()));
            }
            literal => out.push(literal.to_owned()),
        }
    }
    out.join("/")
}

const FILTERS: u32 = 60_000;
const TOPICS_PER_FILTER: usize = 20;
const AT_LEAST: usize = 1_000_000;

/// Compares one filter with libmosquitto on the given topics; returns how many pairs
/// were compared (pairs libmosquitto refuses to judge are left out).
fn compare(filter: &str, topics: &[String]) -> Result<(usize, usize), TestCaseError> {
    let valid = topic::validate_filter(filter).is_ok();
    // MQTT requires at least one character; libmosquitto's check leaves that to the
    // broker, which refuses an empty filter in SUBSCRIBE itself.
    if !filter.is_empty() {
        prop_assert_eq!(valid, valid_filter(filter), "validity of {:?}", filter);
    }
    if !valid {
        return Ok((0, 0));
    }
    let set = TopicSet::new([filter]);
    let (mut compared, mut matched) = (0, 0);
    for topic in topics {
        // MQTT forbids empty topic names; libmosquitto refuses to match them.
        if topic.is_empty() || !valid_topic(topic) {
            continue;
        }
        let Some(expected) = reference(filter, topic) else {
            return Err(TestCaseError::fail(format!(
                "libmosquitto refused {filter:?} / {topic:?}"
            )));
        };
        prop_assert_eq!(
            topic::matches(filter, topic),
            expected,
            "matches({:?}, {:?})",
            filter,
            topic
        );
        prop_assert_eq!(
            set.matches(topic.as_bytes()),
            expected,
            "trie({:?}, {:?})",
            filter,
            topic
        );
        compared += 1;
        matched += usize::from(expected);
    }
    Ok((compared, matched))
}

#[test]
fn a_million_pairs_agree_with_libmosquitto() {
    let strategy = (
        filter(),
        proptest::collection::vec(
            proptest::collection::vec(literal_level(), 1..8).prop_map(topic_from_levels),
            TOPICS_PER_FILTER / 2,
        ),
        proptest::collection::vec(any::<u16>(), 512),
    );
    let (compared, matched) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = TestRunner::new(Config {
        cases: FILTERS,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(filter, mut topics, pool)| {
        let mut random = pool.iter().map(|n| usize::from(*n)).cycle();
        topics.extend((0..TOPICS_PER_FILTER / 2).map(|_| instance(&filter, &mut random)));
        let (pairs, matches) = compare(&filter, &topics)?;
        compared.fetch_add(pairs, Ordering::Relaxed);
        matched.fetch_add(matches, Ordering::Relaxed);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (compared, matched) = (compared.into_inner(), matched.into_inner());
    eprintln!("{compared} filter/topic pairs agree with libmosquitto ({matched} of them match)");
    assert!(compared >= AT_LEAST, "only {compared} pairs compared");
}

/// Look-alikes of wildcards inside levels (`a+b`, `x#`) and empty levels: both sides
/// agree on which filters are valid.
#[test]
fn filter_validity_agrees_with_libmosquitto() {
    let level = prop_oneof![
        Just("a+b"),
        Just("x#"),
        Just("#"),
        Just("+"),
        Just(""),
        Just("a"),
        Just("++"),
        Just("$SYS")
    ];
    let mut runner = TestRunner::new(Config {
        cases: 20_000,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(level, 1..6), |levels| {
        compare(&levels.join("/"), &[]).map(drop)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Every topic `filter` can match, built from `alphabet` (levels that stand in for all
/// others), with at most `max_levels` levels.
fn instances(filter: &str, alphabet: &[&str], max_levels: usize) -> Vec<String> {
    let mut topics: Vec<Vec<String>> = vec![Vec::new()];
    for level in filter.split('/') {
        let mut next = Vec::new();
        for prefix in &topics {
            match level {
                "+" => next.extend(alphabet.iter().map(|l| extend(prefix, l))),
                "#" => {
                    // `#` matches the parent level too, then any number of levels.
                    let mut tails: Vec<Vec<String>> = vec![Vec::new()];
                    let mut all = vec![prefix.clone()];
                    while prefix.len() + tails[0].len() < max_levels {
                        tails = tails
                            .iter()
                            .flat_map(|t| alphabet.iter().map(move |l| extend(t, l)))
                            .collect();
                        all.extend(tails.iter().map(|t| [prefix.clone(), t.clone()].concat()));
                    }
                    next.extend(all);
                }
                literal => next.push(extend(prefix, literal)),
            }
        }
        topics = next;
    }
    topics
        .into_iter()
        .map(|levels| levels.join("/"))
        .filter(|t| !t.is_empty() && reference(filter, t) == Some(true))
        .collect()
}

fn extend(prefix: &[String], level: &str) -> Vec<String> {
    let mut out = prefix.to_vec();
    out.push(level.to_owned());
    out
}

fn small_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![Just("a"), Just("b"), Just("$x"), Just("+"), Just("")];
    (proptest::collection::vec(level, 1..4), any::<bool>()).prop_map(|(levels, hash)| {
        let mut levels: Vec<&str> = levels;
        if hash {
            levels.push("#");
        }
        levels.join("/")
    })
}

/// Judged covered: no topic the filter matches escapes the patterns (libmosquitto
/// decides each match). Judged not covered: a witness topic is found that the filter
/// matches and no pattern does.
#[test]
fn subscribe_coverage_holds_against_libmosquitto_matching() {
    let mut runner = TestRunner::new(Config {
        cases: 8_000,
        failure_persistence: None,
        ..Config::default()
    });
    let judged = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let result = runner.run(
        &(
            small_filter(),
            proptest::collection::vec(small_filter(), 1..3),
        ),
        |(filter, patterns)| {
            if topic::validate_filter(&filter).is_err() {
                return Ok(());
            }
            let covered = topic::covers(patterns.iter().map(String::as_str), &filter);
            // Literals of both sides and one level that is in neither stand for every
            // level; topics one level longer than the longest side stand for all longer.
            let alphabet = ["a", "b", "$x", "", "fresh"];
            let longest = std::iter::once(&filter)
                .chain(&patterns)
                .map(|f| f.split('/').count())
                .max()
                .unwrap_or(1);
            let escapes: Vec<String> = instances(&filter, &alphabet, longest + 1)
                .into_iter()
                .filter(|t| !patterns.iter().any(|p| reference(p, t) == Some(true)))
                .collect();
            if covered {
                prop_assert!(
                    escapes.is_empty(),
                    "{:?} covers {:?}, but not {:?}",
                    patterns,
                    filter,
                    escapes
                );
            } else {
                prop_assert!(
                    !escapes.is_empty(),
                    "{:?} does not cover {:?}, yet no witness",
                    patterns,
                    filter
                );
            }
            judged[usize::from(covered)].fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let [not_covered, covered] = judged.map(AtomicUsize::into_inner);
    eprintln!("{covered} pairs judged covered, {not_covered} not covered, all confirmed");
    assert!(
        covered > 500 && not_covered > 500,
        "{covered} / {not_covered}"
    );
}
