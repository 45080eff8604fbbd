//! TICK: disconnecting clients whose token has expired, from a deadline queue, so that a
//! tick costs nothing per connected client.

use super::{Broker, LOG_PREFIX, LogLevel, Plugin};
use crate::token::sanitize;

/// Asked of the broker between ticks while a deadline is pending (Mosquitto 2.1 runs its
/// loop only as often as plugins need); 2.0 ticks about every 100 ms regardless.
const MAX_TICK_GAP_MS: u64 = 1_000;

impl<B: Broker> Plugin<B> {
    /// MOSQ_EVT_TICK, once per pass of the broker's main loop. Returns how many
    /// milliseconds may pass before the next tick is needed, if any is.
    pub fn tick(&self) -> Option<u64> {
        self.ticks_seen.set(true);
        self.recheck_pass.set(false);
        self.take_fetch_news();
        if !self.config.disconnect_on_expiry {
            return self.key_fetch.as_ref().map(|_| MAX_TICK_GAP_MS);
        }
        let now = self.broker.now();
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
        self.sessions
            .borrow()
            .next_deadline_in(now)
            .map(|ms| ms.clamp(1, MAX_TICK_GAP_MS))
            // Fetched keys are swapped in at ticks too, not only when a client connects.
            .or(self.key_fetch.as_ref().map(|_| MAX_TICK_GAP_MS))
    }
}
