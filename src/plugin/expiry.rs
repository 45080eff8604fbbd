//! TICK: disconnecting clients whose token has expired, from a deadline queue, so that a
//! tick costs nothing per connected client.

use super::{Broker, LOG_PREFIX, LogLevel, Plugin, deadlines};
use crate::token::sanitize;

/// Asked of the broker between ticks while a deadline is pending (Mosquitto 2.1 runs its
/// loop only as often as plugins need); 2.0 ticks about every 100 ms regardless.
const MAX_TICK_GAP_MS: u64 = 1_000;

impl<B: Broker> Plugin<B> {
    /// MOSQ_EVT_TICK, once per pass of the broker's main loop. Returns how many
    /// milliseconds may pass before the next tick is needed, if any is.
    ///
    /// Runs about once per delivery under load, so a tick with nothing due reads the clock,
    /// compares it with the next deadline and returns.
    pub fn tick(&self) -> Option<u64> {
        self.ticks_seen.set(true);
        self.recheck_pass.set(false);
        // Kept out of the call when there is no fetching: a tick comes about once per
        // delivery under load.
        let fetching = self.key_fetch.is_some();
        if !self.config.disconnect_on_expiry {
            if fetching {
                self.take_fetch_news();
            }
            return self.key_fetch.as_ref().map(|_| MAX_TICK_GAP_MS);
        }
        let now = self.broker.now_for_messages();
        // Mosquitto 2.0 (a broker without CONNECT events) ticks at every pass of its loop
        // and waits at most 100 ms between passes, so this clock is at most one pass
        // behind, and the message checks of the pass use it instead of reading the clock
        // once per delivery. 2.1 may skip a plugin's tick until the time it asked for and
        // then wait seconds for its own timers: there, checks read the clock. Set before
        // anything that could fail, so that it is never left behind.
        self.pass_clock.set(if self.events.get().connect {
            f64::NAN
        } else {
            now
        });
        if fetching {
            self.take_fetch_news();
        }
        let now_ms = deadlines::to_ms(now);
        // One look at the queue's head answers both whether a deadline is due and, when
        // none is, how long until the next.
        let mut next = self.sessions().next_deadline_in(now_ms);
        if next == Some(0) {
            self.kick_expired(now);
            next = self.sessions.borrow().next_deadline_in(now_ms);
        }
        next.map(|ms| ms.clamp(1, MAX_TICK_GAP_MS))
            // Fetched keys are swapped in at ticks too, not only when a client connects.
            .or(self.key_fetch.as_ref().map(|_| MAX_TICK_GAP_MS))
    }

    #[cold]
    #[inline(never)]
    fn kick_expired(&self, now: f64) {
        // Collected first, then kicked with no borrow held: each kick runs this plugin's
        // DISCONNECT callback, and the will's ACL check, before it returns.
        let due = self.sessions().expired_live(now, self.config.expiry_will);
        for (client, client_id) in due {
            let id = sanitize(&String::from_utf8_lossy(&client_id));
            let line =
                format!("{LOG_PREFIX}: token of client '{id}' has expired; disconnecting it");
            self.broker.log(LogLevel::Notice, &line);
            // While the broker disconnects it, the client's checks are judged by its rights:
            // Mosquitto re-checks a durable session's subscriptions before it goes offline,
            // and denying them would delete them.
            self.kicking.set(Some(client));
            let kicked = self.broker.kick(&client_id, self.config.expiry_will);
            self.kicking.set(None);
            if let Err(e) = kicked {
                // Still connected: no will is coming, and every check stays denied.
                if let Some(session) = self.sessions().get_mut(client) {
                    session.will_after_expiry = false;
                }
                let line = format!("{LOG_PREFIX}: cannot disconnect client '{id}': {e}");
                self.broker.log(LogLevel::Warning, &line);
            }
        }
    }
}
