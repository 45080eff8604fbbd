//! MQTT topic semantics: valid filters, matching a topic against a filter, and whether a
//! set of patterns covers every topic a subscription filter can match.
//!
//! Rules (MQTT 3.1.1 section 4.7, MQTT 5 section 4.7):
//! - levels are separated by `/`; a level may be empty;
//! - `+` matches exactly one level, an empty one too;
//! - `#` matches the remaining levels, none included (`a/#` matches `a`);
//! - a filter whose first level is `+` or `#` never matches a topic starting with `$`.

/// The longest topic or filter MQTT can carry.
pub const MAX_LEN: usize = 65_535;

/// Why a string is not a valid topic filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterError {
    Empty,
    TooLong,
    Nul,
    WildcardInsideLevel,
    HashNotLast,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FilterError::Empty => "is empty",
            FilterError::TooLong => "is longer than 65535 bytes",
            FilterError::Nul => "contains a NUL character",
            FilterError::WildcardInsideLevel => "uses '+' or '#' inside a level",
            FilterError::HashNotLast => "has '#' before its last level",
        })
    }
}

pub fn validate_filter(filter: &str) -> Result<(), FilterError> {
    if filter.is_empty() {
        return Err(FilterError::Empty);
    }
    if filter.len() > MAX_LEN {
        return Err(FilterError::TooLong);
    }
    if filter.contains('\0') {
        return Err(FilterError::Nul);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.len() > 1 && (level.contains('+') || level.contains('#')) {
            return Err(FilterError::WildcardInsideLevel);
        }
        if level == "#" && levels.peek().is_some() {
            return Err(FilterError::HashNotLast);
        }
    }
    Ok(())
}

/// True when `filter` (a valid filter) matches `topic` (a topic name, no wildcards).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match (level, topic_levels.next()) {
            ("#", _) => return true,
            (_, None) => return false,
            ("+", Some(_)) => {}
            (literal, Some(t)) if literal == t => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

/// The filter a SUBSCRIBE asks for: `$share/GROUP/filter` is judged by `filter`.
/// `None` for a malformed shared subscription.
pub fn subscription_filter(requested: &str) -> Option<&str> {
    match requested.strip_prefix("$share/") {
        None => Some(requested),
        Some(rest) => {
            let (group, filter) = rest.split_once('/')?;
            let valid_group = !group.is_empty() && !group.contains(['+', '#']);
            (valid_group && !filter.is_empty()).then_some(filter)
        }
    }
}

/// True when every topic `filter` can match is matched by at least one of `patterns`.
///
/// A wildcard level of `filter` stands for any level text at all, so it is covered only by
/// patterns that accept any text there (`+` or `#`); a literal level is covered by the
/// patterns that name it or accept anything. This is exact: a filter judged covered can
/// yield no topic outside the patterns, and one judged not covered can.
pub fn covers<'p>(patterns: impl IntoIterator<Item = &'p str>, filter: &str) -> bool {
    let filter: Vec<&str> = filter.split('/').collect();
    let dollar = filter[0].starts_with('$');
    let alive: Vec<Vec<&str>> = patterns
        .into_iter()
        .map(|p| p.split('/').collect::<Vec<_>>())
        // A pattern starting with a wildcard matches no `$` topic, and a filter starting with
        // a wildcard can yield no `$` topic; so only the filter's first level decides.
        .filter(|p| !(dollar && (p[0] == "+" || p[0] == "#")))
        .collect();
    let mut alive: Vec<&[&str]> = alive.iter().map(Vec::as_slice).collect();
    // MQTT forbids the empty topic (one empty level), so it needs no cover: a pattern
    // matching just that topic stands in for it. Without it, `/#` would seem to reach
    // beyond `+/+/#` through a topic no client can publish.
    const EMPTY_TOPIC: &[&str] = &[""];
    alive.push(EMPTY_TOPIC);

    // Walks the filter level by level, keeping the unmatched rest of each pattern still in
    // play; a loop, not recursion, as a filter may have thousands of levels.
    let mut rest = filter.as_slice();
    let mut depth = 0;
    loop {
        if alive.iter().any(|p| p.first() == Some(&"#")) {
            return true;
        }
        // A topic ending after the levels matched so far must be matched by a pattern that
        // ends there too. A topic has at least one level, so at depth 0 there is no such
        // topic.
        let ending_covered = depth == 0 || alive.iter().any(|p| p.is_empty());
        alive = match rest.first() {
            None => return ending_covered,
            // `#` yields the topic ending here and topics with any number of further
            // levels; with no `#` pattern in play, each further level must be accepted by
            // a pattern that accepts any text there. `rest` stays at `#`.
            Some(&"#") if !ending_covered => return false,
            Some(&"#") => advance(&alive, None),
            Some(&"+") => {
                rest = &rest[1..];
                advance(&alive, None)
            }
            Some(literal) => {
                rest = &rest[1..];
                advance(&alive, Some(literal))
            }
        };
        if alive.is_empty() {
            return false;
        }
        depth += 1;
    }
}

/// The patterns that accept the next level: any text (`None`) or this literal.
fn advance<'a, 'p>(alive: &[&'a [&'p str]], level: Option<&str>) -> Vec<&'a [&'p str]> {
    alive
        .iter()
        .filter_map(|p| match (p.first(), level) {
            (Some(&"+"), _) => Some(&p[1..]),
            (Some(pattern), Some(literal)) if *pattern == literal => Some(&p[1..]),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
