//! Tokens already verified, so that a fleet reconnecting with unchanged tokens (after a
//! broker restart or a network cut) skips the signature arithmetic: RS256 and ES256 cost
//! tens to hundreds of microseconds each on the broker's only thread.
//!
//! Keyed by the whole token, compared byte for byte. An entry holds what verification
//! concluded from the token alone; every check that depends on the connection (username,
//! client id placeholders) still runs on a hit. Entries go at `exp`, all of them on
//! reload (the keys may have changed), and the oldest when the cache is full.

use std::cell::OnceCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use crate::acl::Acl;
use crate::token::VerifiedToken;

/// What verifying a token concluded, and, once compiled, the ACL its patterns grant when
/// they hold no placeholder (such an ACL is the same for every client presenting the
/// token, so a reconnecting fleet does not compile it again).
pub struct CachedToken {
    pub token: VerifiedToken,
    pub acl: OnceCell<Arc<Acl>>,
}

impl CachedToken {
    pub fn new(token: VerifiedToken) -> Rc<CachedToken> {
        Rc::new(CachedToken {
            token,
            acl: OnceCell::new(),
        })
    }
}

pub struct TokenCache {
    capacity: usize,
    by_token: HashMap<Rc<str>, Rc<CachedToken>>,
    /// Insertion order, for evicting the oldest; may name tokens already gone.
    order: VecDeque<Rc<str>>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 turns it off.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            by_token: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// What verifying `token` concluded, if it is cached and has not expired by `now`.
    pub fn get(&mut self, token: &str, now: f64) -> Option<Rc<CachedToken>> {
        let hit = self.by_token.get(token)?;
        if hit.token.expires_at.is_some_and(|deadline| now >= deadline) {
            self.by_token.remove(token);
            return None;
        }
        Some(hit.clone())
    }

    pub fn insert(&mut self, token: &str, verified: &Rc<CachedToken>) {
        if self.capacity == 0 || self.by_token.contains_key(token) {
            return;
        }
        while self.by_token.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.by_token.remove(&oldest);
        }
        // Keys of entries that expired or were replaced linger in `order` until they reach
        // its front; keep it from outgrowing the cache.
        if self.order.len() >= 2 * self.capacity {
            let by_token = &self.by_token;
            self.order.retain(|key| by_token.contains_key(key));
        }
        let key: Rc<str> = Rc::from(token);
        self.order.push_back(key.clone());
        self.by_token.insert(key, verified.clone());
    }

    pub fn clear(&mut self) {
        self.by_token.clear();
        self.order.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_token.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::AclPatterns;

    fn verified(expires_at: Option<f64>) -> Rc<CachedToken> {
        CachedToken::new(VerifiedToken {
            user: "alice".into(),
            expires_at,
            acl: AclPatterns::default(),
            superuser: false,
        })
    }

    #[test]
    fn a_cached_token_is_returned_until_it_expires() {
        let mut cache = TokenCache::new(10);
        cache.insert("t1", &verified(Some(100.0)));
        assert_eq!(
            cache.get("t1", 99.0).map(|hit| hit.token.clone()),
            Some(verified(Some(100.0)).token.clone())
        );
        assert!(cache.get("t2", 99.0).is_none());
        assert!(cache.get("t1", 100.0).is_none());
        assert_eq!(cache.len(), 0, "an expired entry goes when it is found");
    }

    #[test]
    fn the_oldest_entry_goes_when_the_cache_is_full() {
        let mut cache = TokenCache::new(3);
        for token in ["a", "b", "c", "d"] {
            cache.insert(token, &verified(None));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get("a", 0.0).is_none());
        assert!(cache.get("d", 0.0).is_some());
        // Churn through expiring tokens never grows the bookkeeping beyond bounds.
        for i in 0..10_000 {
            let token = format!("t{i}");
            cache.insert(&token, &verified(Some(1.0)));
            assert!(cache.get(&token, 2.0).is_none());
        }
        assert!(cache.order.len() <= 6, "{}", cache.order.len());
        cache.clear();
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_zero_capacity_cache_keeps_nothing() {
        let mut cache = TokenCache::new(0);
        cache.insert("t", &verified(None));
        assert!(cache.get("t", 0.0).is_none());
    }
}
