//! Compiled ACLs shared between clients whose tokens grant the same patterns: a fleet of
//! devices with the same claims holds one compiled trie, not one per device.
//!
//! A token's patterns are compiled, then looked up by the compiled ACL itself: tries are
//! canonical, so equal ACLs mean equal rights, and nothing but the ACL is kept (no copy of
//! the patterns as a key). The table keeps weak references, so an ACL lives exactly as
//! long as a session uses it; entries whose ACL is gone are pruned when the table has
//! doubled since the last prune.

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
    hasher: RandomState,
    prune_at: usize,
}

impl SharedAcls {
    /// The compiled ACL for these patterns: the one already in use, or a new one.
    pub fn get_or_compile(
        &mut self,
        patterns: &AclPatterns,
        names: &ClaimNames,
    ) -> Result<Arc<Acl>, String> {
        let compiled = Acl::compile(patterns, names)?;
        let hash = self.hasher.hash_one(&compiled);
        let entered = self.by_hash.get(&hash).and_then(Weak::upgrade);
        if let Some(existing) = &entered
            && **existing == compiled
        {
            return Ok(existing.clone());
        }
        let acl = Arc::new(compiled);
        if entered.is_none() {
            if self.by_hash.len() >= self.prune_at.max(MIN_PRUNE) {
                self.by_hash.retain(|_, acl| acl.strong_count() > 0);
                self.prune_at = 2 * self.by_hash.len();
            }
            self.by_hash.insert(hash, Arc::downgrade(&acl));
        }
        Ok(acl)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

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
}
