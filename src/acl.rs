//! A token's topic rights, compiled once at CONNECT.
//!
//! Publish and receive patterns become a level trie ([`TopicSet`]) that answers the
//! per-message checks without allocating, hashing or scanning every pattern. Subscribe
//! patterns stay a list: subscribing is rare and needs the coverage test of
//! [`topic::covers`].

use std::hash::{Hash, Hasher};

use crate::config::ClaimNames;
use crate::token::{AclPatterns, sanitize};
use crate::topic;

/// What a client asks to do with a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A message is delivered to the client.
    Read,
    /// The client publishes (or its will is published).
    Write,
    Subscribe,
    Unsubscribe,
}

/// The topic rights granted by one token. Two ACLs are equal when they grant the same
/// (their tries are canonical: patterns in any order, duplicates folded), which lets
/// clients with the same rights share one.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Acl {
    publish: TopicSet,
    subscribe: Vec<Box<str>>,
    receive: TopicSet,
}

impl Acl {
    /// Compiles the patterns of a token; an invalid pattern refuses the token. A claim that
    /// is absent grants nothing for its action.
    pub fn compile(patterns: &AclPatterns, names: &ClaimNames) -> Result<Acl, String> {
        Ok(Acl {
            publish: TopicSet::new(valid_patterns(&patterns.publish, &names.publish)?),
            subscribe: valid_patterns(&patterns.subscribe, &names.subscribe)?
                .map(Box::from)
                .collect(),
            receive: TopicSet::new(valid_patterns(&patterns.receive, &names.receive)?),
        })
    }

    /// READ (once per message and subscriber) and WRITE (once per message) are tested in
    /// turn: a `match` here became a jump table.
    #[inline(always)]
    pub fn allows(&self, access: Access, topic: &[u8]) -> bool {
        if access == Access::Read {
            self.receive.matches(topic)
        } else if access == Access::Write {
            self.publish.matches(topic)
        } else {
            self.allows_subscription_change(access, topic)
        }
    }

    #[inline(never)]
    fn allows_subscription_change(&self, access: Access, topic: &[u8]) -> bool {
        access == Access::Unsubscribe || self.allows_subscription(topic)
    }

    fn allows_subscription(&self, requested: &[u8]) -> bool {
        let Ok(requested) = std::str::from_utf8(requested) else {
            return false;
        };
        let Some(filter) = topic::subscription_filter(requested) else {
            return false;
        };
        topic::validate_filter(filter).is_ok()
            && topic::covers(self.subscribe.iter().map(|p| &**p), filter)
    }
}

fn valid_patterns<'p>(
    list: &'p Option<Vec<String>>,
    claim: &str,
) -> Result<impl Iterator<Item = &'p str>, String> {
    let list = list.as_deref().unwrap_or_default();
    for pattern in list {
        topic::validate_filter(pattern).map_err(|why| {
            format!(
                "claim '{claim}': pattern '{}' is not a valid topic filter: it {why}",
                sanitize(pattern)
            )
        })?;
    }
    Ok(list.iter().map(String::as_str))
}

const NONE: u32 = u32::MAX;
const ROOT: u32 = 0;
/// A node with at most this many literal children has them tried one by one; one with
/// more keeps them in a hash table, as thousands of device ids under one level would
/// otherwise cost a comparison each, or a dozen with a binary search.
const SCANNED: usize = 8;

/// 16 bytes: a device's ten patterns make some twenty nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node {
    parent: u32,
    /// This node's literal children are `edges[first_edge..first_edge + edge_count]`:
    /// sorted by label, or with TABLE, a hash table with empty slots. (A token fits in
    /// 65,535 bytes, so even a table has fewer slots.)
    first_edge: u32,
    /// The child reached by `+`, or NONE.
    plus: u32,
    edge_count: u16,
    flags: u8,
}

/// Reached from its parent through `+` rather than a literal.
const VIA_PLUS: u8 = 1;
/// A pattern ends here.
const ENDS: u8 = 2;
/// A pattern continues here with `#`.
const HASH: u8 = 4;
/// On the way from the root to here, some node was reached by a literal while its parent
/// also has a `+` child: when this node fails, that `+` branch is still to be tried.
/// Without it, a failure here decides the whole walk.
const RETRY: u8 = 8;
/// The literal children are a hash table.
const TABLE: u8 = 16;

impl Node {
    fn via_plus(&self) -> bool {
        self.flags & VIA_PLUS != 0
    }
    fn ends(&self) -> bool {
        self.flags & ENDS != 0
    }
    fn hash(&self) -> bool {
        self.flags & HASH != 0
    }
    fn retry(&self) -> bool {
        self.flags & RETRY != 0
    }
    fn table(&self) -> bool {
        self.flags & TABLE != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Edge {
    label_start: u32,
    /// A level is at most 65,535 bytes.
    label_len: u16,
    /// Bits of the label's hash, which rule out most slots of a table without comparing
    /// their labels.
    tag: u16,
    /// NONE for an empty slot of a table.
    child: u32,
}

const EMPTY_SLOT: Edge = Edge {
    label_start: 0,
    label_len: 0,
    tag: 0,
    child: NONE,
};

/// A set of topic filters, answering "does any of them match this topic?".
#[derive(Debug, PartialEq, Eq)]
pub struct TopicSet {
    nodes: Box<[Node]>,
    edges: Box<[Edge]>,
    labels: Box<[u8]>,
    /// The set's only filter, when it has no `+` and no `#` but after a literal level
    /// (`devices/d1/#`, `alerts`): matched by comparing bytes, without walking the trie.
    /// Most devices' rights to receive are one such filter.
    single: Option<Box<[u8]>>,
}

/// Hashes the parts that tell sets apart at little cost: equal sets have equal sizes and
/// labels, so this agrees with `Eq`, and sets that differ elsewhere are told apart by `Eq`
/// where they are shared. (Hashing every node and edge cost more than compiling.)
impl Hash for TopicSet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nodes.len().hash(state);
        self.edges.len().hash(state);
        self.labels.hash(state);
    }
}

#[derive(Default)]
struct BuildNode<'p> {
    /// In label order: the filters are added sorted level by level, so a node's literal
    /// children arrive in order and a repeated one is always the last.
    literal: Vec<(&'p str, usize)>,
    plus: Option<usize>,
    ends: bool,
    hash: bool,
}

impl TopicSet {
    /// Builds the set from valid filters.
    pub fn new<'p>(filters: impl IntoIterator<Item = &'p str>) -> TopicSet {
        // Sorted level by level (not as strings: `a-b` sorts before `a/x` as a string but
        // after `a` as a level), so that no node needs a map of its children.
        let mut sorted: Vec<Vec<&'p str>> = filters
            .into_iter()
            .map(|f| f.split('/').collect())
            .collect();
        if sorted.is_empty() {
            // An absent ACL claim, on most CONNECTs: the root alone, as `flatten` would
            // make it, without its bookkeeping.
            return TopicSet::empty();
        }
        sorted.sort_unstable();
        sorted.dedup();
        let single = match &sorted[..] {
            [levels] if is_literal_prefix(levels) => Some(levels.join("/").into_bytes().into()),
            _ => None,
        };
        let mut tree: Vec<BuildNode<'p>> = vec![BuildNode::default()];
        for levels in &sorted {
            let mut at = 0;
            let mut open = true;
            for &level in levels {
                if level == "#" {
                    tree[at].hash = true;
                    open = false;
                    break;
                }
                let existing = if level == "+" {
                    tree[at].plus
                } else {
                    tree[at]
                        .literal
                        .last()
                        .filter(|(label, _)| *label == level)
                        .map(|&(_, child)| child)
                };
                at = match existing {
                    Some(child) => child,
                    None => {
                        tree.push(BuildNode::default());
                        let child = tree.len() - 1;
                        if level == "+" {
                            tree[at].plus = Some(child);
                        } else {
                            tree[at].literal.push((level, child));
                        }
                        child
                    }
                };
            }
            if open {
                tree[at].ends = true;
            }
        }
        TopicSet {
            single,
            ..Self::flatten(&tree)
        }
    }

    fn empty() -> TopicSet {
        let root = Node {
            parent: NONE,
            first_edge: 0,
            plus: NONE,
            edge_count: 0,
            flags: 0,
        };
        TopicSet {
            nodes: Box::new([root]),
            edges: Box::new([]),
            labels: Box::new([]),
            single: None,
        }
    }

    fn flatten(tree: &[BuildNode<'_>]) -> TopicSet {
        let index = |i: usize| u32::try_from(i).expect("a token is far smaller than 4 GiB");
        // Nodes are numbered breadth first, literal children in label order and then `+`,
        // rather than in the order the patterns built them: the same patterns in any order
        // must give equal sets. Built node `order[i]` becomes node i.
        let mut order = vec![ROOT as usize];
        let mut i = 0;
        while let Some(&b) = order.get(i) {
            order.extend(tree[b].literal.iter().map(|&(_, child)| child));
            order.extend(tree[b].plus);
            i += 1;
        }
        let mut renumbered = vec![0; tree.len()];
        for (i, &b) in order.iter().enumerate() {
            renumbered[b] = index(i);
        }
        let mut nodes: Vec<Node> = order
            .iter()
            .map(|&b| &tree[b])
            .map(|b| Node {
                parent: NONE,
                first_edge: 0,
                edge_count: 0,
                plus: b.plus.map_or(NONE, |child| renumbered[child]),
                flags: if b.ends { ENDS } else { 0 } | if b.hash { HASH } else { 0 },
            })
            .collect();
        let mut edges = Vec::new();
        let mut labels = Vec::new();
        // A child is numbered after its parent, so each node's RETRY is known before its
        // children inherit it.
        for (i, b) in order.iter().map(|&b| &tree[b]).enumerate() {
            let inherited = nodes[i].flags & RETRY;
            let literal_retry = if b.plus.is_some() { RETRY } else { inherited };
            let first = edges.len();
            // A third of the slots stay empty, so that a probe soon meets one: a level
            // named by no child is the common case of a denied topic.
            let slots = b.literal.len() + b.literal.len() / 2 + 1;
            let table = b.literal.len() > SCANNED;
            if table {
                edges.resize(first + slots, EMPTY_SLOT);
                nodes[i].flags |= TABLE;
            }
            // Labels in sorted order, so that the same patterns in any order give the same
            // arrays (and the same table, as each label probes the slots the same way).
            for &(label, child) in &b.literal {
                let child = renumbered[child];
                let (_, hash) = level_hash(label.as_bytes());
                let edge = Edge {
                    label_start: index(labels.len()),
                    label_len: u16::try_from(label.len()).expect("a level is at most 65,535 bytes"),
                    tag: tag(hash),
                    child,
                };
                labels.extend_from_slice(label.as_bytes());
                if table {
                    let mut slot = first + home_slot(hash, slots);
                    while edges[slot].child != NONE {
                        slot = if slot + 1 == first + slots {
                            first
                        } else {
                            slot + 1
                        };
                    }
                    edges[slot] = edge;
                } else {
                    edges.push(edge);
                }
                nodes[child as usize].parent = index(i);
                nodes[child as usize].flags |= literal_retry;
            }
            nodes[i].first_edge = index(first);
            nodes[i].edge_count = u16::try_from(edges.len() - first)
                .expect("a token is far smaller than 65,535 levels");
            if let Some(child) = b.plus {
                let child = renumbered[child] as usize;
                nodes[child].parent = index(i);
                nodes[child].flags |= VIA_PLUS | inherited;
            }
        }
        TopicSet {
            nodes: nodes.into(),
            edges: edges.into(),
            labels: labels.into(),
            single: None,
        }
    }

    fn label(&self, edge: &Edge) -> &[u8] {
        let start = edge.label_start as usize;
        &self.labels[start..start + edge.label_len as usize]
    }

    /// True when `rest` starts with the edge's label: per message, so compared a word at a
    /// time by [`same_bytes`] rather than by calling `memcmp`.
    #[inline(always)]
    fn label_starts(&self, edge: &Edge, rest: &[u8]) -> bool {
        let (start, len) = (edge.label_start as usize, usize::from(edge.label_len));
        match (rest.get(..len), self.labels.get(start..start + len)) {
            (Some(level), Some(label)) => same_bytes(level, label),
            _ => false,
        }
    }

    /// The literal child naming the level at the start of `rest`, with that level's length.
    #[inline(always)]
    fn literal_child(&self, node: &Node, rest: &[u8]) -> Option<(u32, usize)> {
        let first = node.first_edge as usize;
        let edges = self
            .edges
            .get(first..first + usize::from(node.edge_count))?;
        if node.table() {
            return self.table_child(edges, rest);
        }
        // A label names the level when the topic goes on with the label and then ends or
        // starts its next level, so the level's end need not be searched for first. The
        // byte after the label rules out most labels without comparing them.
        for edge in edges {
            let len = usize::from(edge.label_len);
            if rest.len() >= len
                && rest.get(len).is_none_or(|&b| b == b'/')
                && self.label_starts(edge, rest)
            {
                return Some((edge.child, len));
            }
        }
        None
    }

    /// Linear probing from the level's home slot, until its label or an empty slot. Out of
    /// line: it would crowd the common walk's registers.
    #[inline(never)]
    fn table_child(&self, edges: &[Edge], rest: &[u8]) -> Option<(u32, usize)> {
        let (len, hash) = level_hash(rest);
        let level = &rest[..len];
        let tag = tag(hash);
        let mut slot = home_slot(hash, edges.len());
        loop {
            // `get` rather than indexing: `slot` is always in the table, but the compiler
            // cannot know it, and a miss is an answer where a panic is not.
            let edge = edges.get(slot)?;
            if edge.child == NONE {
                return None;
            }
            if edge.tag == tag && self.label(edge) == level {
                return Some((edge.child, len));
            }
            slot = if slot + 1 == edges.len() { 0 } else { slot + 1 };
        }
    }

    /// True when a filter of the set matches `topic`.
    ///
    /// Most walks never need to backtrack: they follow the literal child naming each level,
    /// or `+` where there is none, and a node without RETRY that cannot go on decides the
    /// answer. That descent is kept apart from the backtracking walk, and from topics
    /// starting with `$` (which root wildcards do not match): with all three in one loop,
    /// its state no longer fit in registers and a per-message walk took twice as many
    /// instructions.
    #[inline(always)]
    pub fn matches(&self, topic: &[u8]) -> bool {
        if let Some(filter) = &self.single {
            return matches_literal_prefix(filter, topic);
        }
        self.walk(topic)
    }

    /// The walk of [`Self::matches`] for a set of more than one filter. Out of line, so
    /// that a check against one filter, most devices' rights to receive, keeps fewer
    /// registers in the callback it is inlined into.
    #[inline(never)]
    fn walk(&self, topic: &[u8]) -> bool {
        let Some(mut here) = self.nodes.first() else {
            return false;
        };
        if topic.first() == Some(&b'$') {
            return self.matches_with_backtracking(topic);
        }
        let mut rest = topic;
        loop {
            if here.hash() {
                return true;
            }
            let (child, len) = match self.literal_child(here, rest) {
                Some(found) => found,
                None if here.plus != NONE => (here.plus, level_len(rest)),
                None => return here.retry() && self.matches_with_backtracking(topic),
            };
            let Some(next) = self.nodes.get(child as usize) else {
                return false;
            };
            here = next;
            // Past the level and its `/`; none left means the topic ended with that level.
            match rest.get(len + 1..) {
                Some(after) => rest = after,
                None => {
                    return here.ends()
                        || here.hash()
                        || (here.retry() && self.matches_with_backtracking(topic));
                }
            }
        }
    }

    /// [`Self::matches`] for a walk that failed where a `+` branch was left untried, and
    /// for topics starting with `$`.
    ///
    /// A depth-first walk of the trie that keeps no stack: a node knows its parent and how
    /// it was reached, and the level it consumed is found again by scanning back to the
    /// previous `/`. Each node is visited at most once, so the cost is bounded by the
    /// trie's size and the memory by nothing at all.
    #[cold]
    #[inline(never)]
    fn matches_with_backtracking(&self, topic: &[u8]) -> bool {
        // At the root, `+` and `#` do not match a topic that starts with `$`.
        let dollar = topic.first() == Some(&b'$');
        let wild_allowed = |node: u32| node != ROOT || !dollar;
        // Where the next level of the topic starts; past the end once the topic is used
        // up (at the end itself, an empty last level remains, as in `a/`).
        let mut cut = 0;
        let mut node = ROOT;
        loop {
            let here = &self.nodes[node as usize];
            if here.hash() && wild_allowed(node) {
                return true;
            }
            match topic.get(cut..) {
                None if here.ends() => return true,
                None => {}
                Some(rest) => {
                    let next = self.literal_child(here, rest).or_else(|| {
                        (here.plus != NONE && wild_allowed(node))
                            .then(|| (here.plus, level_len(rest)))
                    });
                    if let Some((child, level_len)) = next {
                        node = child;
                        cut += level_len + 1;
                        continue;
                    }
                }
            }
            // Backtrack: the nearest ancestor whose `+` branch is still untried.
            loop {
                let child = &self.nodes[node as usize];
                if !child.retry() {
                    return false;
                }
                let parent = child.parent;
                let plus = self.nodes[parent as usize].plus;
                if !child.via_plus() && plus != NONE && wild_allowed(parent) {
                    // The `+` sibling consumes the same level, so `cut` stays.
                    node = plus;
                    break;
                }
                let level_end = cut - 1;
                cut = topic[..level_end]
                    .iter()
                    .rposition(|&b| b == b'/')
                    .map_or(0, |i| i + 1);
                node = parent;
            }
        }
    }
}

/// A filter of literal levels, perhaps ending with `/#`.
fn is_literal_prefix(levels: &[&str]) -> bool {
    match levels.split_last() {
        Some((&"#", literal)) => !literal.is_empty() && !literal.contains(&"+"),
        _ => !levels.iter().any(|l| *l == "+" || *l == "#"),
    }
}

/// Whether `filter`, which [`is_literal_prefix`], matches `topic`: `a/b/#` matches `a/b`
/// and everything under `a/b/`, `a/b` only itself. (Such a filter ends with `#` only as
/// `/#`, so its last byte tells the two kinds apart.)
#[inline(always)]
fn matches_literal_prefix(filter: &[u8], topic: &[u8]) -> bool {
    match filter.split_last() {
        // `under` is `a/b/`.
        Some((b'#', under)) => match topic.get(..under.len()) {
            Some(start) if same_bytes(start, under) => true,
            // `a/b`, one byte shorter than `under`.
            _ => topic.len() + 1 == under.len() && same_bytes(topic, &under[..topic.len()]),
        },
        _ => same_bytes(topic, filter),
    }
}

/// `a == b`, a word at a time: most topics are a few words long, and calling `memcmp` costs
/// more than comparing them.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn chunk<const N: usize>(s: &[u8], at: usize) -> Option<[u8; N]> {
        s.get(at..at + N)?.try_into().ok()
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 4 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    if n < 8 {
        // Two overlapping halves.
        return chunk::<4>(a, 0) == chunk::<4>(b, 0)
            && chunk::<4>(a, n - 4) == chunk::<4>(b, n - 4);
    }
    let mut at = 0;
    while at + 8 < n {
        if chunk::<8>(a, at) != chunk::<8>(b, at) {
            return false;
        }
        at += 8;
    }
    // The last word, overlapping the one before when `n` is not a multiple of eight.
    chunk::<8>(a, n - 8) == chunk::<8>(b, n - 8)
}

/// The length of the level at the start of `rest`, and its hash (multiply-rotate, as in
/// rustc's FxHash: a few instructions a byte, and the table's labels are chosen by the
/// token's issuer, not by the clients whose topics are looked up).
fn level_hash(rest: &[u8]) -> (usize, u64) {
    let mut hash = 0u64;
    for (i, &byte) in rest.iter().enumerate() {
        if byte == b'/' {
            return (i, hash);
        }
        hash = (hash.rotate_left(5) ^ u64::from(byte)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    (rest.len(), hash)
}

/// Where a hash's probe starts in a table of `slots`: the multiplication's high bits, the
/// best mixed, scaled to the table without a division.
fn home_slot(hash: u64, slots: usize) -> usize {
    (((hash >> 32) * slots as u64) >> 32) as usize
}

fn tag(hash: u64) -> u16 {
    (hash >> 16) as u16
}

/// The length of the level at the start of `rest`.
fn level_len(rest: &[u8]) -> usize {
    rest.iter().position(|&b| b == b'/').unwrap_or(rest.len())
}

#[cfg(test)]
mod tests;
