//! Compiled ACLs shared between clients whose tokens grant the same patterns: a fleet of
//! devices with the same claims holds one compiled trie, not one per device.
//!
//! A token's patterns are compiled, then looked up by the compiled ACL itself: tries are
//! canonical, so equal ACLs mean equal rights, and the same rights written differently
//! (in another order, with a pattern twice) share too. Once an ACL is known to be shared,
//! its patterns as written are kept as a second key, so that the next client of a fleet
//! finds it without compiling (a reconnecting fleet would otherwise compile and throw
//! away one trie per CONNECT). An ACL of one client only gets no such key: the copy would
//! add to every client's memory and save nothing.
//!
//! The table keeps weak references, so an ACL lives exactly as long as a session uses it;
//! entries whose ACL is gone are pruned when the table has doubled since the last prune,
//! and the written keys too when they outnumber the ACLs two to one.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Weak};

use crate::acl::Acl;
use crate::config::ClaimNames;
use crate::token::AclPatterns;

const MIN_PRUNE: usize = 64;

#[derive(Default)]
pub struct SharedAcls {
    /// By hash of the compiled ACL. Two live, different ACLs with one hash (which random
    /// keys make vanishingly rare) simply do not share: the second is not entered.
    by_hash: HashMap<u64, Weak<Acl>>,
    /// Shared ACLs by their patterns as written.
    by_patterns: HashMap<AclPatterns, Weak<Acl>>,
    hasher: RandomState,
    prune_at: usize,
    #[cfg(test)]
    compiled: usize,
}

impl SharedAcls {
    /// The compiled ACL for these patterns: the one already in use, or a new one.
    pub fn get_or_compile(
        &mut self,
        patterns: &AclPatterns,
        names: &ClaimNames,
    ) -> Result<Arc<Acl>, String> {
        if let Some(acl) = self.by_patterns.get(patterns).and_then(Weak::upgrade) {
            return Ok(acl);
        }
        let compiled = Acl::compile(patterns, names)?;
        #[cfg(test)]
        {
            self.compiled += 1;
        }
        let hash = self.hasher.hash_one(&compiled);
        let entered = self.by_hash.get(&hash).and_then(Weak::upgrade);
        if let Some(existing) = entered.as_ref().filter(|acl| ***acl == compiled) {
            self.by_patterns
                .insert(patterns.clone(), Arc::downgrade(existing));
            self.prune_if_grown();
            return Ok(existing.clone());
        }
        let acl = Arc::new(compiled);
        if entered.is_none() {
            self.by_hash.insert(hash, Arc::downgrade(&acl));
            self.prune_if_grown();
        }
        Ok(acl)
    }

    fn prune_if_grown(&mut self) {
        let entries = self.by_hash.len() + self.by_patterns.len();
        if entries > self.prune_at.max(MIN_PRUNE) {
            self.by_hash.retain(|_, acl| acl.strong_count() > 0);
            self.by_patterns.retain(|_, acl| acl.strong_count() > 0);
            // Keys are only a shortcut, and one live ACL can be written in ever new ways
            // (an issuer that builds its lists from a set orders them anew in each token):
            // more than two per live ACL, and they are dropped, to be learnt again.
            if self.by_patterns.len() > 2 * self.by_hash.len() {
                self.by_patterns.clear();
            }
            self.prune_at = 2 * (self.by_hash.len() + self.by_patterns.len());
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_hash.len() + self.by_patterns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use proptest::prelude::*;

    fn patterns(publish: &str) -> AclPatterns {
        AclPatterns {
            publish: Some(vec![publish.to_owned()]),
            ..AclPatterns::default()
        }
    }

    #[test]
    fn equal_patterns_share_one_acl_while_it_is_in_use() {
        let names = Config::default().claims;
        let mut shared = SharedAcls::default();
        let a = shared.get_or_compile(&patterns("a/#"), &names).unwrap();
        let again = shared.get_or_compile(&patterns("a/#"), &names).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let b = shared.get_or_compile(&patterns("b/#"), &names).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        // The same rights written differently are the same ACL.
        let listed = AclPatterns {
            publish: Some(vec!["a/#".into(), "a/#".into()]),
            ..AclPatterns::default()
        };
        assert!(Arc::ptr_eq(
            &a,
            &shared.get_or_compile(&listed, &names).unwrap()
        ));
        drop((a, again));
        // Gone with its last session: the next one compiles anew.
        let fresh = shared.get_or_compile(&patterns("a/#"), &names).unwrap();
        assert_eq!(Arc::strong_count(&fresh), 1);
        assert!(shared.get_or_compile(&patterns("a/#/b"), &names).is_err());
    }

    #[test]
    fn entries_of_unused_acls_are_pruned_as_the_table_grows() {
        let names = Config::default().claims;
        let mut shared = SharedAcls::default();
        for i in 0..10_000 {
            drop(
                shared
                    .get_or_compile(&patterns(&format!("t/{i}")), &names)
                    .unwrap(),
            );
        }
        assert!(shared.len() <= MIN_PRUNE + 1, "{}", shared.len());
    }

    #[test]
    fn a_fleet_with_the_same_patterns_compiles_them_at_most_twice() {
        let names = Config::default().claims;
        let mut shared = SharedAcls::default();
        let fleet: Vec<_> = (0..5)
            .map(|_| shared.get_or_compile(&patterns("d/#"), &names).unwrap())
            .collect();
        assert!(fleet.iter().all(|acl| Arc::ptr_eq(acl, &fleet[0])));
        // The first compiles; the second compiles to learn that it is shared.
        assert_eq!(shared.compiled, 2);
        // Other patterns are not given the fleet's ACL.
        let other = shared.get_or_compile(&patterns("e/#"), &names).unwrap();
        assert!(!Arc::ptr_eq(&other, &fleet[0]));
        assert_eq!(shared.compiled, 3);
        // Nor are patterns whose lookup key starts like the fleet's.
        let longer = AclPatterns {
            publish: Some(vec!["d/#".into(), "f".into()]),
            ..AclPatterns::default()
        };
        let longer = shared.get_or_compile(&longer, &names).unwrap();
        assert!(!Arc::ptr_eq(&longer, &fleet[0]));
        assert!(longer.allows(crate::acl::Access::Write, b"f"));
        // Once the fleet is gone, its key does not keep the ACL: it is compiled anew.
        drop(fleet);
        let fresh = shared.get_or_compile(&patterns("d/#"), &names).unwrap();
        assert_eq!(Arc::strong_count(&fresh), 1);
        assert_eq!(shared.compiled, 5);
    }

    /// One device holds the fleet's ACL while others come and go with tokens whose issuer
    /// writes the same patterns in a new order each time: the written keys must not grow
    /// with the tokens issued.
    #[test]
    fn written_keys_stay_few_when_one_acl_is_written_in_ever_new_orders() {
        let names = Config::default().claims;
        let mut shared = SharedAcls::default();
        let levels: Vec<String> = (0..7).map(|i| format!("fleet/p{i}")).collect();
        // The `n`th of the 5,040 orders of the seven patterns (its Lehmer code).
        let ordered = |mut n: usize| {
            let mut pool = levels.clone();
            let mut list = Vec::new();
            while !pool.is_empty() {
                list.push(pool.remove(n % pool.len()));
                n /= pool.len() + 1;
            }
            AclPatterns {
                publish: Some(list),
                ..AclPatterns::default()
            }
        };
        let resident = shared.get_or_compile(&ordered(0), &names).unwrap();
        for token in 1..5_000 {
            let visitor = shared.get_or_compile(&ordered(token), &names).unwrap();
            assert!(Arc::ptr_eq(&visitor, &resident));
        }
        assert!(shared.len() <= 2 * MIN_PRUNE, "{} entries", shared.len());
    }

    fn lists() -> impl Strategy<Value = AclPatterns> {
        let list = proptest::option::of(proptest::collection::vec("[ab/]{1,3}", 0..3));
        (list.clone(), list.clone(), list).prop_map(|(publish, subscribe, receive)| AclPatterns {
            publish,
            subscribe,
            receive,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Whatever the order of CONNECTs, and whether the ACL was found by its patterns as
        /// written, by the compiled ACL or not at all, each client gets the ACL its own
        /// patterns compile to: lists that differ only in where one pattern ends and the
        /// next begins, in which claim holds a pattern, or in an empty list against an
        /// absent one, get theirs.
        #[test]
        fn each_client_gets_the_acl_its_patterns_compile_to(
            tokens in proptest::collection::vec(lists(), 1..24),
        ) {
            let names = Config::default().claims;
            let mut shared = SharedAcls::default();
            let mut held = Vec::new();
            for patterns in &tokens {
                let acl = shared.get_or_compile(patterns, &names).unwrap();
                prop_assert_eq!(&*acl, &Acl::compile(patterns, &names).unwrap());
                // Held, as a session would, so that later clients find it.
                held.push(acl);
            }
        }
    }
}
