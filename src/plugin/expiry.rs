//! TICK: disconnecting clients whose token has expired, from a deadline queue, so that a
//! tick costs nothing per connected client.

use super::{Broker, LOG_PREFIX, LogLevel, Plugin, deadlines};
use crate::token::sanitize;

/// The longest wait asked of the broker between ticks (Mosquitto 2.1 runs its loop only as
/// often as plugins and its own timers need); 2.0 ticks about every 100 ms regardless.
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
        if self.key_fetch.is_some() {
            self.take_fetch_news();
        }
        if !self.config.disconnect_on_expiry {
            return self.key_fetch.as_ref().map(|_| MAX_TICK_GAP_MS);
        }
        let now = self.broker.now_for_messages();
        // The broker ticks at least every 100 ms (2.0) or by the next deadline asked for
        // (2.1), so this clock is at most one pass of its loop behind: the message checks
        // of this pass use it instead of reading the clock once per delivery.
        self.pass_clock.set(Some(now));
        let now_ms = deadlines::to_ms(now);
        if self.sessions().deadline_due(now_ms) {
            self.kick_expired(now);
        }
        // Also with no deadline pending: on 2.1, the pass clock must not grow old.
        Some(
            self.sessions
                .borrow()
                .next_deadline_in(now_ms)
                .map_or(MAX_TICK_GAP_MS, |ms| ms.clamp(1, MAX_TICK_GAP_MS)),
        )
    }

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
