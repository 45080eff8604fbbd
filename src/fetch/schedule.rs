//! When the key set is fetched: every `refresh` while fetches succeed, sooner after a
//! failure, and on request (a token naming an unknown `kid`, a reload), but never two
//! fetches closer than `min_refetch` unless the operator asks.

use std::time::{Duration, Instant};

/// Why a fetch is asked for out of turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A token names a `kid` that no key has: the provider may have rotated. Tokens choose
    /// this, so it is limited by `min_refetch`.
    UnknownKid,
    /// SIGHUP: the operator asks, so no limit applies.
    Reload,
}

/// The answer to a request for a fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// A fetch will start at once.
    Started,
    /// A fetch was already asked for or is under way.
    Pending,
    /// The last fetch was too recent; this long is left to wait.
    NotBefore(Duration),
}

/// How a finished fetch changes the failure streak, which is logged once per streak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streak {
    Unchanged,
    /// The first failure after a success (or of the first fetch).
    Began,
    /// The first success after failures.
    Ended,
}

#[derive(Debug)]
pub struct Schedule {
    refresh: Duration,
    min_refetch: Duration,
    last_start: Option<Instant>,
    running: bool,
    asked: bool,
    failing: bool,
}

impl Schedule {
    pub fn new(refresh: Duration, min_refetch: Duration) -> Schedule {
        Schedule {
            refresh,
            min_refetch,
            last_start: None,
            running: false,
            asked: false,
            failing: false,
        }
    }

    pub fn ask(&mut self, reason: Reason, now: Instant) -> Ask {
        if self.asked || self.running {
            return Ask::Pending;
        }
        if reason == Reason::UnknownKid
            && let Some(last) = self.last_start
        {
            let allowed = last + self.min_refetch;
            if now < allowed {
                return Ask::NotBefore(allowed - now);
            }
        }
        self.asked = true;
        Ask::Started
    }

    /// How long the fetching thread waits before its next fetch; zero means now.
    pub fn due_in(&self, now: Instant) -> Duration {
        let Some(last) = self.last_start else {
            return Duration::ZERO;
        };
        if self.asked {
            return Duration::ZERO;
        }
        let gap = if self.failing {
            // Retried sooner than a routine refresh, but no more often than the limit.
            self.refresh.min(self.min_refetch)
        } else {
            self.refresh
        };
        (last + gap).saturating_duration_since(now)
    }

    pub fn start(&mut self, now: Instant) {
        self.last_start = Some(now);
        self.running = true;
        self.asked = false;
    }

    pub fn finish(&mut self, succeeded: bool) -> Streak {
        self.running = false;
        let was_failing = std::mem::replace(&mut self.failing, !succeeded);
        match (was_failing, succeeded) {
            (false, false) => Streak::Began,
            (true, true) => Streak::Ended,
            _ => Streak::Unchanged,
        }
    }

    /// The first fetch was made before the schedule started (at start-up, when keys are
    /// required).
    pub fn started_with_success(&mut self, at: Instant) {
        self.start(at);
        self.finish(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFRESH: Duration = Duration::from_secs(300);
    const LIMIT: Duration = Duration::from_secs(30);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_first_fetch_is_at_once_then_every_refresh() {
        let t0 = Instant::now();
        let mut s = Schedule::new(REFRESH, LIMIT);
        assert_eq!(s.due_in(t0), Duration::ZERO);
        s.start(t0);
        assert_eq!(s.finish(true), Streak::Unchanged);
        assert_eq!(s.due_in(t0 + secs(1)), secs(299));
        assert_eq!(s.due_in(t0 + secs(400)), Duration::ZERO);
    }

    #[test]
    fn unknown_kids_get_at_most_one_fetch_per_limit() {
        let t0 = Instant::now();
        let mut s = Schedule::new(REFRESH, LIMIT);
        s.start(t0);
        s.finish(true);
        assert_eq!(
            s.ask(Reason::UnknownKid, t0 + secs(10)),
            Ask::NotBefore(secs(20))
        );
        assert_eq!(
            s.due_in(t0 + secs(10)),
            secs(290),
            "a refused ask changes nothing"
        );
        assert_eq!(s.ask(Reason::UnknownKid, t0 + secs(30)), Ask::Started);
        assert_eq!(s.due_in(t0 + secs(30)), Duration::ZERO);
        // A flood before the fetch starts, and while it runs, asks for nothing more.
        assert_eq!(s.ask(Reason::UnknownKid, t0 + secs(30)), Ask::Pending);
        s.start(t0 + secs(31));
        assert_eq!(s.ask(Reason::UnknownKid, t0 + secs(31)), Ask::Pending);
        s.finish(true);
        assert_eq!(
            s.ask(Reason::UnknownKid, t0 + secs(32)),
            Ask::NotBefore(secs(29))
        );
        assert_eq!(
            s.due_in(t0 + secs(32)),
            secs(299),
            "refresh counts from the last fetch"
        );
    }

    #[test]
    fn a_reload_is_not_limited() {
        let t0 = Instant::now();
        let mut s = Schedule::new(REFRESH, LIMIT);
        s.start(t0);
        s.finish(true);
        assert_eq!(s.ask(Reason::Reload, t0 + secs(1)), Ask::Started);
        assert_eq!(s.due_in(t0 + secs(1)), Duration::ZERO);
    }

    #[test]
    fn failures_are_retried_at_the_limit_and_reported_once_per_streak() {
        let t0 = Instant::now();
        let mut s = Schedule::new(REFRESH, LIMIT);
        s.start(t0);
        assert_eq!(s.finish(false), Streak::Began);
        assert_eq!(s.due_in(t0), LIMIT);
        s.start(t0 + LIMIT);
        assert_eq!(s.finish(false), Streak::Unchanged);
        s.start(t0 + LIMIT * 2);
        assert_eq!(s.finish(true), Streak::Ended);
        assert_eq!(s.due_in(t0 + LIMIT * 2), REFRESH);
        s.start(t0 + LIMIT * 3);
        assert_eq!(s.finish(false), Streak::Began);
    }

    #[test]
    fn a_refresh_shorter_than_the_limit_is_kept_after_failures() {
        let t0 = Instant::now();
        let mut s = Schedule::new(secs(5), LIMIT);
        s.start(t0);
        s.finish(false);
        assert_eq!(s.due_in(t0), secs(5));
    }
}
