//! Keys fetched over HTTPS (`jwks_url`, `oidc_issuer`) by a thread of their own, so that
//! no broker callback ever waits on the network.
//!
//! The thread fetches, parses and hands over finished key sets and news for the log; it
//! never calls the broker. The broker's thread picks them up ([`KeyFetch::news`]) and
//! swaps the keys in. The two share one mutex, held only to read or write the schedule and
//! the news, never across a fetch.

mod http;
mod schedule;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::algorithm::AlgorithmSet;
use crate::config::{ConfigError, KeyUrl, RemoteKeys};
use crate::keys::{Fetched, KeySet};
use crate::token::sanitize_to;

pub use http::Fetcher;
pub use schedule::{Ask, Reason};
use schedule::{Schedule, Streak};

/// What the fetching thread has to tell the broker's thread.
pub enum News {
    /// A key set that differs from the one before.
    Keys(Fetched),
    /// A fetch failed after a success, or the first fetch failed.
    Failed(String),
    /// A fetch succeeded after failures.
    Recovered,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Set with news waiting, so the broker's thread looks without locking.
    has_news: AtomicBool,
}

impl Shared {
    /// Waits on `wake` for at most `timeout`, with the state unlocked meanwhile.
    fn wait<'a>(&self, state: MutexGuard<'a, State>, timeout: Duration) -> MutexGuard<'a, State> {
        self.wake
            .wait_timeout(state, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

struct State {
    schedule: Schedule,
    news: Vec<News>,
    stop: bool,
    finished: bool,
}

/// The broker thread's handle on the fetching thread; dropping it stops the thread.
pub struct KeyFetch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How long cleanup waits for the thread to see the stop. A fetch in flight is not waited
/// for (it may take `jwks_timeout`); the thread is left to end on its own, touching only
/// what it shares, and the library stays mapped for it (see `ffi::entry`).
const STOP_WAIT: Duration = Duration::from_millis(200);

impl KeyFetch {
    /// Starts the thread. With `jwks_required_at_start`, the first fetch is made here and
    /// its failure is a configuration error, since the broker must not start without keys.
    /// Returns the first key set when it was fetched here.
    pub fn start(
        remote: &RemoteKeys,
        algorithms: AlgorithmSet,
    ) -> Result<(KeyFetch, Option<Fetched>), ConfigError> {
        let fetcher = Fetcher::new(remote)?;
        let mut schedule = Schedule::new(remote.refresh, remote.min_refetch);
        let source = remote.label().to_owned();
        let mut first = None;
        let mut last_digest = None;
        let option = match remote.url {
            KeyUrl::Jwks(_) => "jwks_url",
            KeyUrl::Issuer(_) => "oidc_issuer",
        };
        if remote.required_at_start {
            let started = Instant::now();
            let (digest, keys) = fetch_and_read(&fetcher, algorithms, &source).map_err(|why| {
                ConfigError::new(
                    option,
                    format!("the first fetch failed and jwks_required_at_start is true: {why}"),
                )
            })?;
            schedule.started_with_success(started);
            last_digest = Some(digest);
            first = Some(keys);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                schedule,
                news: Vec::new(),
                stop: false,
                finished: false,
            }),
            wake: Condvar::new(),
            has_news: AtomicBool::new(false),
        });
        let worker = Worker {
            shared: Arc::clone(&shared),
            fetcher,
            algorithms,
            source,
            last_digest,
        };
        let thread = spawn_without_signals(move || worker.run()).map_err(|e| {
            ConfigError::new(option, format!("cannot start the key fetching thread: {e}"))
        })?;
        Ok((
            KeyFetch {
                shared,
                thread: Some(thread),
            },
            first,
        ))
    }

    /// What the thread has found since the last call. The lock is only ever held to read
    /// or write the state, never across a fetch, so this waits for nothing slow.
    pub fn news(&self) -> Vec<News> {
        if !self.shared.has_news.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut state = lock(&self.shared.state);
        self.shared.has_news.store(false, Ordering::Release);
        std::mem::take(&mut state.news)
    }

    /// Asks for a fetch out of turn; as [`KeyFetch::news`], waits for nothing slow.
    pub fn ask(&self, reason: Reason) -> Ask {
        let mut state = lock(&self.shared.state);
        let answer = state.schedule.ask(reason, Instant::now());
        if answer == Ask::Started {
            self.shared.wake.notify_one();
        }
        answer
    }
}

impl Drop for KeyFetch {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        state.stop = true;
        self.shared.wake.notify_all();
        let deadline = Instant::now() + STOP_WAIT;
        while !state.finished {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self.shared.wait(state, left);
        }
        let finished = state.finished;
        drop(state);
        if let Some(thread) = self.thread.take()
            && finished
        {
            let _ = thread.join();
        }
    }
}

/// The fetching thread's side.
struct Worker {
    shared: Arc<Shared>,
    fetcher: Fetcher,
    algorithms: AlgorithmSet,
    source: String,
    /// The last set handed over, so an unchanged set is not handed over again (each
    /// hand-over clears the token cache).
    last_digest: Option<u64>,
}

impl Worker {
    fn run(mut self) {
        while self.wait_until_due() {
            // A panic would end the thread, and with it every later fetch, in silence.
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                fetch_and_read(&self.fetcher, self.algorithms, &self.source)
            }))
            .unwrap_or_else(|_| Err(format!("{}: internal error while fetching", self.source)));
            let mut state = lock(&self.shared.state);
            let streak = state.schedule.finish(outcome.is_ok());
            match outcome {
                Ok((digest, keys)) => {
                    if self.last_digest != Some(digest) {
                        self.last_digest = Some(digest);
                        // Without ticks or connections news waits; only the newest set
                        // matters.
                        state.news.retain(|n| !matches!(n, News::Keys(_)));
                        state.news.push(News::Keys(keys));
                    }
                    if streak == Streak::Ended {
                        state.news.push(News::Recovered);
                    }
                }
                Err(why) => {
                    if streak == Streak::Began {
                        state.news.push(News::Failed(why));
                    }
                }
            }
            if !state.news.is_empty() {
                self.shared.has_news.store(true, Ordering::Release);
            }
        }
        lock(&self.shared.state).finished = true;
        self.shared.wake.notify_all();
    }

    /// Sleeps until the next fetch is due and marks it started; false once stopped.
    fn wait_until_due(&self) -> bool {
        let mut state = lock(&self.shared.state);
        loop {
            if state.stop {
                return false;
            }
            let wait = state.schedule.due_in(Instant::now());
            if wait.is_zero() {
                state.schedule.start(Instant::now());
                return true;
            }
            state = self.shared.wait(state, wait);
        }
    }
}

/// A digest of the set's bytes and the keys read from them.
fn fetch_and_read(
    fetcher: &Fetcher,
    algorithms: AlgorithmSet,
    source: &str,
) -> Result<(u64, Fetched), String> {
    // Server-chosen text (a jwks_uri, a certificate's names, an HTTP error) goes into log
    // lines: control characters must not let it forge lines of its own.
    let bytes = fetcher.fetch().map_err(|why| sanitize_to(&why, 400))?;
    let keys = KeySet::from_fetched_jwks(&bytes, algorithms, source)
        .map_err(|why| sanitize_to(&format!("{source}: {why}"), 400))?;
    Ok((digest(&bytes), keys))
}

/// A digest of the set's keys that ignores their order and the JSON's layout, so that a
/// provider that reorders or reformats an unchanged set does not make it look new.
fn digest(bytes: &[u8]) -> u64 {
    let mut keys: Vec<String> = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(set) => set["keys"]
            .as_array()
            .map(|keys| keys.iter().map(|k| k.to_string()).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    keys.sort_unstable();
    let mut digest = DefaultHasher::new();
    keys.hash(&mut digest);
    digest.finish()
}

/// A panic on either side must not leave the other unable to lock; the state stays
/// consistent, since no update spans a panic point.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Signals sent to the broker (SIGHUP to reload, SIGINT to stop) must reach its own
/// thread, whose handlers wake its loop; a thread of ours that took them would delay
/// them. A new thread inherits the creating thread's signal mask, so every signal is
/// blocked while it is created.
fn spawn_without_signals(run: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    // SAFETY: sigfillset and pthread_sigmask only write the sets passed, which live on
    // this stack frame; the previous mask is restored before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let spawned = std::thread::Builder::new()
            .name("jwt-auth-jwks".into())
            .spawn(run);
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        spawned
    }
}
