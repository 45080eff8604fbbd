//! Keys fetched over HTTPS: picking up what the fetching thread found, and asking it for a
//! fetch when a token names a key nobody has.

use crate::config::{Config, ConfigError};
use crate::fetch::{Ask, KeyFetch, News, Reason};
use crate::keys::{Fetched, KeySet};
use crate::token::{FetchedKeys, Refusal, Verifier, sanitize};

use super::{Broker, LOG_PREFIX, LogLevel, Plugin, log_notes};

impl<B: Broker> Plugin<B> {
    /// Swaps in a newly fetched key set and logs what the thread has to say. Called at every
    /// TICK and before every token is verified; costs one atomic load when there is no news.
    pub(super) fn take_fetch_news(&self) {
        let (Some(fetch), Some(remote)) = (&self.key_fetch, &self.config.remote) else {
            return;
        };
        let source = remote.label();
        for news in fetch.news() {
            match news {
                News::Keys(fetched) => {
                    put_in_place(
                        &self.broker,
                        &mut self.verifier.borrow_mut(),
                        source,
                        fetched,
                    );
                    // A token verified with a key that is gone must be verified again.
                    self.token_cache.borrow_mut().clear();
                    self.fetch_failure.replace(None);
                }
                News::Failed(why) => {
                    let consequence = if self.verifier.borrow().has_fetched_keys() {
                        "the keys fetched before stay in use"
                    } else {
                        "tokens that need them are refused until a fetch succeeds"
                    };
                    let retry = remote.refresh.min(remote.min_refetch).as_secs();
                    self.broker.log(
                        LogLevel::Warning,
                        &format!(
                            "{LOG_PREFIX}: cannot fetch keys: {why}; {consequence}; retrying every {retry} s"
                        ),
                    );
                    self.fetch_failure.replace(Some(why));
                }
                News::Recovered => self.broker.log(
                    LogLevel::Notice,
                    &format!("{LOG_PREFIX}: fetching keys from {source} works again"),
                ),
            }
        }
    }

    /// What a refusal says, with what it did about fetched keys: a token naming an unknown
    /// `kid` asks for a fetch, since the provider may have rotated its keys.
    pub(super) fn explain(&self, refusal: Refusal) -> String {
        let (Some(fetch), Some(remote)) = (&self.key_fetch, &self.config.remote) else {
            return refusal.to_string();
        };
        let source = remote.label();
        match refusal {
            Refusal::UnknownKid(_) => {
                let done = match fetch.ask(Reason::UnknownKid) {
                    Ask::Started => format!("asked {source} for its current keys"),
                    Ask::Pending => format!("a fetch from {source} is under way"),
                    Ask::NotBefore(wait) => format!(
                        "next fetch from {source} allowed in {} s",
                        wait.as_secs().max(1)
                    ),
                };
                format!("{refusal}; {done}")
            }
            Refusal::KeysAwaited => match &*self.fetch_failure.borrow() {
                Some(why) => format!("no keys fetched from {source} yet: {why}"),
                None => format!("no keys fetched from {source} yet: the first fetch is under way"),
            },
            other => other.to_string(),
        }
    }

    /// SIGHUP: the operator asks for fresh keys, so the fetch limit does not apply.
    pub(super) fn refetch_on_reload(&self) {
        if let Some(fetch) = &self.key_fetch {
            fetch.ask(Reason::Reload);
        }
    }
}

/// The `kid`s of a set for one log line: each made safe, at most ten named.
fn kid_list(keys: &KeySet) -> String {
    const NAMED: usize = 10;
    let mut kids: Vec<String> = keys.kids().take(NAMED).map(sanitize).collect();
    let unnamed = keys.kids().count().saturating_sub(NAMED);
    if unnamed > 0 {
        kids.push(format!("and {unnamed} more"));
    }
    kids.join(", ")
}

/// Starts fetching keys when a URL is configured. A set fetched during start-up (with
/// `jwks_required_at_start`) goes in at once; otherwise keys are awaited.
pub(super) fn start_key_fetch(
    broker: &impl Broker,
    config: &Config,
    verifier: &mut Verifier,
) -> Result<Option<KeyFetch>, ConfigError> {
    let Some(remote) = &config.remote else {
        return Ok(None);
    };
    let (fetch, first) = KeyFetch::start(remote, config.algorithms)?;
    verifier.replace_fetched(FetchedKeys::Awaited);
    if let Some(first) = first {
        put_in_place(broker, verifier, remote.label(), first);
    }
    broker.log(
        LogLevel::Info,
        &format!(
            "{LOG_PREFIX}: fetching keys from {} every {} s, in the background",
            remote.label(),
            remote.refresh.as_secs()
        ),
    );
    Ok(Some(fetch))
}

/// Puts a fetched set in place and says so: what was passed over in it, its `kid`s, and
/// the configured algorithms that no key serves.
fn put_in_place(broker: &impl Broker, verifier: &mut Verifier, source: &str, fetched: Fetched) {
    log_notes(broker, &fetched.notes);
    let line = format!(
        "{LOG_PREFIX}: fetched {} keys from {source} (kid: {})",
        fetched.keys.len(),
        kid_list(&fetched.keys)
    );
    verifier.replace_fetched(FetchedKeys::Ready(fetched.keys));
    broker.log(LogLevel::Info, &line);
    warn_unserved_algorithms(broker, verifier);
}

/// One warning per configured algorithm that no key serves, each time fetched keys arrive:
/// an `RS256,ES256` broker whose provider publishes only RSA keys should say so.
fn warn_unserved_algorithms(broker: &impl Broker, verifier: &Verifier) {
    for alg in verifier.algorithms_without_key() {
        broker.log(
            LogLevel::Warning,
            &format!(
                "{LOG_PREFIX}: no configured or fetched key verifies {alg}; such tokens are refused"
            ),
        );
    }
}
