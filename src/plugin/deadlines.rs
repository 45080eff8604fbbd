//! When each connected client's token expires, in order, so that TICK finds the clients
//! to disconnect without looking at the others.
//!
//! Entries are never removed early: a session that ends, or whose token is replaced by
//! re-authentication, leaves its entry to be skipped when it comes due (its generation no
//! longer matches). The heap is rebuilt when such entries outnumber the live ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::plugin::broker::Client;

/// One token's deadline: `generation` names the session state it was scheduled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    /// Milliseconds since the Unix epoch, rounded up.
    pub at_ms: u64,
    pub client: Client,
    pub generation: u64,
}

#[derive(Default)]
pub struct Deadlines {
    heap: BinaryHeap<Reverse<Deadline>>,
}

impl Deadlines {
    pub fn push(&mut self, deadline: Deadline) {
        self.heap.push(Reverse(deadline));
    }

    /// The next entry due at `now_ms`, taken out of the queue.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Deadline> {
        match self.heap.peek() {
            Some(Reverse(next)) if next.at_ms <= now_ms => self.heap.pop().map(|Reverse(d)| d),
            _ => None,
        }
    }

    /// Milliseconds from `now_ms` to the earliest entry.
    pub fn next_in(&self, now_ms: u64) -> Option<u64> {
        self.heap
            .peek()
            .map(|Reverse(next)| next.at_ms.saturating_sub(now_ms))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the entries `current` accepts.
    pub fn retain(&mut self, current: impl Fn(&Deadline) -> bool) {
        self.heap.retain(|Reverse(d)| current(d));
    }
}

/// Rounded up, without `f64::ceil`, which is a call into libm: this runs at every tick.
pub fn to_ms(unix_seconds: f64) -> u64 {
    let ms = unix_seconds * 1000.0;
    // Below 2^53 every whole number is a float, and a signed conversion is one instruction
    // where an unsigned one takes a dozen.
    if (0.0..9.0e15).contains(&ms) {
        let whole = ms as i64;
        let whole = if (whole as f64) < ms {
            whole + 1
        } else {
            whole
        };
        return whole as u64;
    }
    // Past 9e15 every float is a whole number, so there is nothing to round up; the
    // conversion saturates: negative and NaN give 0, and huge values u64::MAX.
    ms as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, client: usize) -> Deadline {
        Deadline {
            at_ms: ms,
            client: Client(client),
            generation: 0,
        }
    }

    #[test]
    fn entries_come_due_in_time_order_and_not_before() {
        let mut deadlines = Deadlines::default();
        for (ms, client) in [(300, 3), (100, 1), (200, 2)] {
            deadlines.push(at(ms, client));
        }
        assert_eq!(deadlines.next_in(50), Some(50));
        assert_eq!(deadlines.pop_due(99), None);
        assert_eq!(deadlines.pop_due(250).map(|d| d.client), Some(Client(1)));
        assert_eq!(deadlines.pop_due(250).map(|d| d.client), Some(Client(2)));
        assert_eq!(deadlines.pop_due(250), None);
        assert_eq!(deadlines.next_in(400), Some(0));
        deadlines.retain(|d| d.client != Client(3));
        assert_eq!(deadlines.len(), 0);
    }

    #[test]
    fn seconds_round_up_to_milliseconds() {
        assert_eq!(to_ms(1.0001), 1001);
        assert_eq!(to_ms(2.0), 2000);
        assert_eq!(to_ms(-5.0), 0);
        assert_eq!(to_ms(1_700_000_000.000_1), 1_700_000_000_001);
        assert_eq!(to_ms(0.0), 0);
        assert_eq!(to_ms(f64::NAN), 0);
        assert_eq!(to_ms(f64::INFINITY), u64::MAX);
        assert_eq!(to_ms(1e300), u64::MAX);
        assert_eq!(to_ms(1e13), 10_000_000_000_000_000);
    }
}
