//! Tokens already verified, so that a fleet reconnecting with unchanged tokens (after a
//! broker restart or a network cut) skips the signature arithmetic: RS256 and ES256 cost
//! tens to hundreds of microseconds each on the broker's only thread.
//!
//! Keyed by the token's SHA-256 digest, kept in the entry itself instead of a copy of the
//! token: equal digests mean equal tokens (a collision would break SHA-256), and a few
//! hundred bytes of token per entry, each its own allocation held for as long as the
//! entry, are spared. (With them, the 50-subscriber benchmark's broker had glibc
//! consolidate its fast bins at each message, about 190 instructions per delivery; such
//! heap-layout effects come and go with the subscriber count, with or without the
//! plugin, as the README's sweep shows.) The digest is taken once per CONNECT, for both
//! the lookup and the insertion after a miss. An entry holds what verification concluded
//! from the token alone; every check that depends on the connection (username, client id
//! placeholders) still runs on a hit. Entries go at `exp`, all of them on reload (the
//! keys may have changed), and the oldest when the cache is full.

use std::cell::OnceCell;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::rc::Rc;
use std::sync::Arc;

use crate::acl::Acl;
use crate::digest::{SHA256_LEN, sha256};
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
    /// By a keyed hash of the token's digest, taken once for the lookup and the insertion.
    /// The digest is unkeyed, so the table's hash is not simply a part of it: tokens
    /// chosen to share its bits must not pile up in one place. Two digests with one hash
    /// (which random keys make vanishingly rare) simply do not share: the second is not
    /// cached.
    by_hash: HashMap<u64, Entry, BuildHasherDefault<Prehashed>>,
    hasher: RandomState,
    /// Insertion order, for evicting the oldest; may name tokens already gone.
    order: VecDeque<u64>,
}

struct Entry {
    digest: [u8; SHA256_LEN],
    verified: Rc<CachedToken>,
}

/// A token not found, with its digest and hash for [`TokenCache::insert`].
#[derive(Debug)]
pub struct Miss {
    digest: [u8; SHA256_LEN],
    hash: u64,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 turns it off.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            by_hash: HashMap::default(),
            hasher: RandomState::new(),
            order: VecDeque::new(),
        }
    }

    /// What verifying `token` concluded, if it is cached and has not expired by `now`.
    pub fn get(&mut self, token: &str, now: f64) -> Result<Rc<CachedToken>, Miss> {
        if self.capacity == 0 {
            return Err(Miss {
                digest: [0; SHA256_LEN],
                hash: 0,
            });
        }
        let digest = sha256(token.as_bytes());
        let hash = self.hasher.hash_one(digest);
        let miss = Miss { digest, hash };
        let Some(hit) = self.by_hash.get(&hash).filter(|e| e.digest == digest) else {
            return Err(miss);
        };
        if hit
            .verified
            .token
            .expires_at
            .is_some_and(|deadline| now >= deadline)
        {
            self.by_hash.remove(&hash);
            return Err(miss);
        }
        Ok(hit.verified.clone())
    }

    /// Caches what verifying the token of `miss` concluded.
    pub fn insert(&mut self, miss: Miss, verified: &Rc<CachedToken>) {
        if self.capacity == 0 || self.by_hash.contains_key(&miss.hash) {
            return;
        }
        while self.by_hash.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.by_hash.remove(&oldest);
        }
        // Keys of entries that expired or were replaced linger in `order` until they reach
        // its front; keep it from outgrowing the cache.
        if self.order.len() >= 2 * self.capacity {
            let by_hash = &self.by_hash;
            self.order.retain(|hash| by_hash.contains_key(hash));
        }
        self.order.push_back(miss.hash);
        let entry = Entry {
            digest: miss.digest,
            verified: verified.clone(),
        };
        self.by_hash.insert(miss.hash, entry);
    }

    pub fn clear(&mut self) {
        self.by_hash.clear();
        self.order.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }
}

/// The keys of `by_hash` are already SipHash values, taken with the cache's random keys.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    // Not reached: a `u64` key is written with `write_u64`.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::AclPatterns;

    /// Caches `verified` for `token` unless it is there already.
    fn put(cache: &mut TokenCache, token: &str, verified: &Rc<CachedToken>) {
        if let Err(miss) = cache.get(token, f64::NEG_INFINITY) {
            cache.insert(miss, verified);
        }
    }

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
        put(&mut cache, "t1", &verified(Some(100.0)));
        assert_eq!(
            cache.get("t1", 99.0).ok().map(|hit| hit.token.clone()),
            Some(verified(Some(100.0)).token.clone())
        );
        assert!(cache.get("t2", 99.0).is_err());
        assert!(cache.get("t1", 100.0).is_err());
        assert_eq!(cache.len(), 0, "an expired entry goes when it is found");
    }

    #[test]
    fn the_oldest_entry_goes_when_the_cache_is_full() {
        let mut cache = TokenCache::new(3);
        for token in ["a", "b", "c", "d"] {
            put(&mut cache, token, &verified(None));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get("a", 0.0).is_err());
        assert!(cache.get("d", 0.0).is_ok());
        // Churn through expiring tokens never grows the bookkeeping beyond bounds.
        for i in 0..10_000 {
            let token = format!("t{i}");
            put(&mut cache, &token, &verified(Some(1.0)));
            assert!(cache.get(&token, 2.0).is_err());
        }
        assert!(cache.order.len() <= 6, "{}", cache.order.len());
        cache.clear();
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_zero_capacity_cache_keeps_nothing() {
        let mut cache = TokenCache::new(0);
        put(&mut cache, "t", &verified(None));
        assert!(cache.get("t", 0.0).is_err());
    }

    #[test]
    fn a_token_with_the_hash_of_a_cached_one_is_not_taken_for_it() {
        let mut cache = TokenCache::new(10);
        put(&mut cache, "t1", &verified(None));
        let hash = cache.hasher.hash_one(sha256(b"t1"));
        // Another token with the same hash is not cached in its place...
        let digest = sha256(b"t2");
        cache.insert(Miss { digest, hash }, &verified(Some(1.0)));
        assert_eq!(cache.len(), 1);
        assert!(cache.get("t1", 5.0).is_ok());
        // ...and where another token holds the slot, this one finds nothing.
        cache.by_hash.get_mut(&hash).unwrap().digest = digest;
        assert!(cache.get("t1", 0.0).is_err());
    }
}
