//! The state kept for each client this plugin authenticated.
//!
//! Mosquitto gives plugins no per-client slot, so state is keyed by the client's address.
//! That address outlives the connection in two ways the table must respect:
//! - checks still come after DISCONNECT: the will (one WRITE) and, for a durable session,
//!   every message queued while it is offline (READ);
//! - the broker frees the client later without telling plugins and reuses the address for
//!   another client, which may never pass through this plugin (a TLS-certificate client,
//!   or one accepted by a plugin that runs first).
//!
//! So a session is marked offline at DISCONNECT and dropped when its end is certain: a new
//! authentication at the same address, a second DISCONNECT (the broker discarding a durable
//! session), the first callback after the DISCONNECT of a session that ends with its
//! connection that is not one of its own last checks, a check that an offline session
//! cannot make (a SUBSCRIBE, a second WRITE), a CONNECT this plugin did not authenticate
//! (Mosquitto 2.1), or a sweep of offline sessions whose token has expired. The plugin
//! also compares the client's id and username with the recorded ones on every check.

use std::sync::Arc;

use crate::acl::{Access, Acl};
use crate::plugin::address_map::AddressMap;
use crate::plugin::broker::Client;
use crate::plugin::deadlines::{self, Deadline, Deadlines};

/// Sweeping offline sessions runs when the table has doubled since the last sweep, so its
/// cost per connection stays constant.
const MIN_SWEEP: usize = 64;

/// Where a session stands in its connection's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Authenticated; a broker that reports CONNECT (2.1) has not confirmed it yet.
    Authenticated,
    Online,
    /// Disconnected. A durable session lives on; the will may still be published.
    Offline {
        will_checked: bool,
    },
}

/// What a token grants, replaced as a whole on re-authentication.
pub struct Rights {
    /// `None` when the token carries no ACL claim: authorization is left to others.
    pub acl: Option<Arc<Acl>>,
    /// Every topic action is allowed (the superuser claim).
    pub superuser: bool,
    pub expires_at: Option<f64>,
}

pub struct Session {
    /// `None` when the token carries no ACL claim: authorization is left to others.
    pub acl: Option<Arc<Acl>>,
    pub superuser: bool,
    pub expires_at: Option<f64>,
    pub client_id: Box<[u8]>,
    pub username: Box<[u8]>,
    /// A keyed hash of the password that carried the token, to recognise the broker asking
    /// again about this very connection (it re-checks every client on reload).
    /// `None` for a client that authenticated by MQTT 5 enhanced authentication, whose
    /// password the plugin never saw.
    pub token_fingerprint: Option<u64>,
    /// Disconnected at expiry with its will: that one will is still judged by the rights.
    pub will_after_expiry: bool,
    /// Armed at RELOAD: the broker's re-check of this session is still to come.
    pub recheck_due: bool,
    /// Admitted while the broker may have been re-checking the clients it holds (on
    /// reload): the client may be offline, and the broker frees an offline client without
    /// reporting it, so this session is compared with its client at every check.
    pub maybe_offline: bool,
    ends_with_connection: bool,
    stage: Stage,
    expiry_logged: bool,
    /// Which deadline entry belongs to this session's current token.
    generation: u64,
}

impl Session {
    /// `awaiting_connect`: the broker will confirm the connection with a CONNECT event.
    pub fn new(
        rights: Rights,
        client_id: &[u8],
        username: &[u8],
        ends_with_connection: bool,
        awaiting_connect: bool,
    ) -> Session {
        Session {
            acl: rights.acl,
            superuser: rights.superuser,
            expires_at: rights.expires_at,
            client_id: client_id.into(),
            username: username.into(),
            token_fingerprint: None,
            will_after_expiry: false,
            recheck_due: false,
            maybe_offline: false,
            generation: 0,
            ends_with_connection,
            stage: if awaiting_connect {
                Stage::Authenticated
            } else {
                Stage::Online
            },
            expiry_logged: false,
        }
    }

    /// True while the connection this session was admitted on is open.
    pub fn is_live(&self) -> bool {
        matches!(self.stage, Stage::Authenticated | Stage::Online)
    }

    /// Live, and known to be: admitted on a new connection, not on a re-check.
    pub fn is_known_live(&self) -> bool {
        self.is_live() && !self.maybe_offline
    }

    pub fn is_expired(&self, now: f64) -> bool {
        self.expires_at.is_some_and(|deadline| now >= deadline)
    }

    /// True the first time it is asked, so that an expired session is logged once.
    pub fn first_expiry_notice(&mut self) -> bool {
        !std::mem::replace(&mut self.expiry_logged, true)
    }

    /// Whether this session's own connection can be the source of a check of this kind.
    /// Offline, it only gets queued messages delivered and its will published, once; any
    /// other check comes from a new connection at a reused address.
    pub fn expects(&mut self, access: Option<Access>) -> bool {
        match (self.stage, access) {
            (Stage::Offline { .. }, Some(Access::Read)) => true,
            (
                Stage::Offline {
                    will_checked: false,
                },
                Some(Access::Write),
            ) => {
                self.stage = Stage::Offline { will_checked: true };
                true
            }
            (Stage::Offline { .. }, _) => false,
            (Stage::Authenticated | Stage::Online, _) => true,
        }
    }
}

#[derive(Default)]
pub struct Sessions {
    /// Boxed: the table keeps spare slots (at least half of them), and a spare slot then
    /// costs 16 bytes rather than a whole session.
    by_client: AddressMap<Box<Session>>,
    /// A session that ended with its connection: only its own last checks (the will) may
    /// still come.
    ending: Option<Client>,
    sweep_at: usize,
    /// Token deadlines of live sessions, kept only when clients are disconnected at expiry.
    deadlines: Option<Deadlines>,
    generations: u64,
}

impl Sessions {
    /// A table that also keeps each token's deadline, for disconnecting at expiry.
    pub fn with_deadlines() -> Sessions {
        Sessions {
            deadlines: Some(Deadlines::default()),
            ..Sessions::default()
        }
    }

    /// Every callback starts here. `current` is the client of an ACL check, whose checks
    /// may be the last ones of an ending session.
    ///
    /// Inline down to the test for an ending session: it runs at every message check, and
    /// there is rarely one.
    #[inline]
    pub fn settle(&mut self, current: Option<Client>) {
        if self.ending.is_some() {
            self.settle_ending(current);
        }
    }

    #[cold]
    #[inline(never)]
    fn settle_ending(&mut self, current: Option<Client>) {
        if let Some(ending) = self.ending
            && current != Some(ending)
        {
            self.ending = None;
            self.by_client.remove(&ending);
        }
    }

    /// A new connection at this address: whatever was known of the address is gone.
    pub fn begin_connection(&mut self, client: Client) {
        self.by_client.remove(&client);
    }

    pub fn insert(&mut self, client: Client, mut session: Session, now: f64) {
        if self.by_client.len() >= self.sweep_at.max(MIN_SWEEP) {
            self.by_client
                .retain(|_, s| !matches!(s.stage, Stage::Offline { .. }) || !s.is_expired(now));
            self.sweep_at = 2 * self.by_client.len();
        }
        self.compact_deadlines();
        session.generation = self.next_generation();
        self.schedule(client, session.generation, session.expires_at);
        self.by_client.insert(client, Box::new(session));
    }

    /// A re-authenticated client's new token: its rights and deadline replace the old.
    pub fn replace_rights(&mut self, client: Client, rights: Rights) {
        // Each re-authentication leaves an entry behind: a client re-authenticating in a
        // loop must not grow the queue.
        self.compact_deadlines();
        let generation = self.next_generation();
        let Some(session) = self.by_client.get_mut(&client) else {
            return;
        };
        session.acl = rights.acl;
        session.superuser = rights.superuser;
        session.expires_at = rights.expires_at;
        session.expiry_logged = false;
        session.generation = generation;
        self.schedule(client, generation, rights.expires_at);
    }

    /// The client ids of live sessions whose token has expired by `now`, each once; with
    /// `with_will`, the will each is about to publish is still judged by its rights.
    pub fn expired_live(&mut self, now: f64, with_will: bool) -> Vec<(Client, Box<[u8]>)> {
        let mut due = Vec::new();
        let Some(deadlines) = &mut self.deadlines else {
            return due;
        };
        while let Some(deadline) = deadlines.pop_due(deadlines::to_ms(now)) {
            if let Some(session) = self.by_client.get_mut(&deadline.client)
                && session.generation == deadline.generation
                && session.is_live()
            {
                session.will_after_expiry = with_will;
                due.push((deadline.client, session.client_id.clone()));
            }
        }
        due
    }

    /// At RELOAD: the broker is about to re-check every client it holds, each once.
    pub fn arm_rechecks(&mut self) {
        for session in self.by_client.values_mut() {
            session.recheck_due = true;
        }
    }

    /// Milliseconds until the next token deadline, if any.
    pub fn next_deadline_in(&self, now_ms: u64) -> Option<u64> {
        self.deadlines.as_ref().and_then(|d| d.next_in(now_ms))
    }

    fn next_generation(&mut self) -> u64 {
        self.generations += 1;
        self.generations
    }

    fn schedule(&mut self, client: Client, generation: u64, expires_at: Option<f64>) {
        if let (Some(deadlines), Some(expires_at)) = (&mut self.deadlines, expires_at) {
            deadlines.push(Deadline {
                at_ms: deadlines::to_ms(expires_at),
                client,
                generation,
            });
        }
    }

    /// Drops entries of sessions that are gone or were re-authenticated, once they
    /// outnumber the sessions, so that churn cannot grow the queue.
    fn compact_deadlines(&mut self) {
        let by_client = &self.by_client;
        if let Some(deadlines) = &mut self.deadlines
            && deadlines.len() >= MIN_SWEEP.max(2 * by_client.len())
        {
            deadlines.retain(|d| {
                by_client
                    .get(&d.client)
                    .is_some_and(|s| s.generation == d.generation && s.is_live())
            });
        }
    }

    #[cfg(test)]
    pub fn deadline_count(&self) -> usize {
        self.deadlines.as_ref().map_or(0, Deadlines::len)
    }

    pub fn get_mut(&mut self, client: Client) -> Option<&mut Session> {
        self.by_client
            .get_mut(&client)
            .map(|session| &mut **session)
    }

    pub fn remove(&mut self, client: Client) {
        self.by_client.remove(&client);
    }

    /// The broker confirms a connection (MOSQ_EVT_CONNECT, Mosquitto 2.1). A session that
    /// is not waiting for this is a former client's: the address now belongs to a
    /// connection this plugin did not authenticate.
    pub fn connected(&mut self, client: Client) {
        let Some(session) = self.by_client.get_mut(&client) else {
            return;
        };
        if session.stage == Stage::Authenticated {
            session.stage = Stage::Online;
        } else {
            self.by_client.remove(&client);
        }
    }

    /// The client's connection is gone; `session_ends` when the broker says the session
    /// ends with it.
    pub fn disconnected(&mut self, client: Client, session_ends: bool) {
        let Some(session) = self.by_client.get_mut(&client) else {
            return;
        };
        if let Stage::Offline { .. } = session.stage {
            self.by_client.remove(&client);
            return;
        }
        session.stage = Stage::Offline {
            will_checked: false,
        };
        if session_ends || session.ends_with_connection {
            self.ending = Some(client);
        }
    }

    pub fn count(&self) -> usize {
        self.by_client.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: Option<f64>, ends_with_connection: bool) -> Session {
        Session::new(
            Rights {
                acl: None,
                superuser: false,
                expires_at,
            },
            b"id",
            b"user",
            ends_with_connection,
            false,
        )
    }

    fn offline_sessions(count: usize, expires_at: f64) -> Sessions {
        let mut sessions = Sessions::default();
        for i in 0..count {
            sessions.insert(Client(i), session(Some(expires_at), false), 0.0);
            sessions.disconnected(Client(i), false);
        }
        sessions
    }

    #[test]
    fn a_new_connection_at_an_address_forgets_the_old_one() {
        let mut sessions = Sessions::default();
        sessions.insert(Client(1), session(None, false), 0.0);
        sessions.begin_connection(Client(1));
        assert!(sessions.get_mut(Client(1)).is_none());
    }

    #[test]
    fn an_offline_session_stays_until_a_second_disconnect() {
        let mut sessions = Sessions::default();
        sessions.insert(Client(1), session(None, false), 0.0);
        sessions.disconnected(Client(1), false);
        sessions.settle(None);
        assert!(
            sessions.get_mut(Client(1)).is_some(),
            "kept for queued messages and the will"
        );
        sessions.disconnected(Client(1), false);
        assert!(sessions.get_mut(Client(1)).is_none());
    }

    #[test]
    fn a_session_that_ends_with_its_connection_goes_after_its_own_last_checks() {
        for (ends_with_connection, broker_says_it_ends) in [(true, false), (false, true)] {
            let mut sessions = Sessions::default();
            sessions.insert(Client(1), session(None, ends_with_connection), 0.0);
            sessions.disconnected(Client(1), broker_says_it_ends);
            sessions.settle(Some(Client(1)));
            assert!(
                sessions.get_mut(Client(1)).is_some(),
                "the will check still needs it"
            );
            sessions.settle(Some(Client(2)));
            assert_eq!(sessions.count(), 0);
        }
    }

    #[test]
    fn an_offline_session_expects_deliveries_and_one_will() {
        let mut s = session(None, false);
        assert!(s.expects(Some(Access::Subscribe)), "online, anything goes");
        s.stage = Stage::Offline {
            will_checked: false,
        };
        assert!(s.expects(Some(Access::Read)));
        assert!(s.expects(Some(Access::Write)), "the will");
        assert!(s.expects(Some(Access::Read)));
        assert!(
            !s.expects(Some(Access::Write)),
            "a second WRITE is someone else's"
        );
        let mut s = session(None, false);
        s.stage = Stage::Offline {
            will_checked: false,
        };
        assert!(!s.expects(Some(Access::Subscribe)));
        assert!(!s.expects(Some(Access::Unsubscribe)));
        assert!(!s.expects(None));
    }

    #[test]
    fn connect_confirms_its_own_session_and_drops_a_former_one() {
        let mut sessions = Sessions::default();
        sessions.insert(
            Client(1),
            Session::new(
                Rights {
                    acl: None,
                    superuser: false,
                    expires_at: None,
                },
                b"id",
                b"u",
                false,
                true,
            ),
            0.0,
        );
        sessions.connected(Client(1));
        assert!(sessions.get_mut(Client(1)).is_some(), "confirmed");
        sessions.connected(Client(1));
        assert!(
            sessions.get_mut(Client(1)).is_none(),
            "a second CONNECT is another client's"
        );
        sessions.connected(Client(2));
        assert_eq!(sessions.count(), 0);
    }

    #[test]
    fn expired_offline_sessions_are_swept_as_the_table_grows() {
        let mut sessions = offline_sessions(MIN_SWEEP, 10.0);
        sessions.insert(Client(1_000), session(Some(10.0), false), 20.0);
        assert_eq!(sessions.count(), 1, "the offline expired ones are gone");

        let mut sessions = offline_sessions(MIN_SWEEP, 10.0);
        sessions.insert(Client(1_000), session(Some(10.0), false), 5.0);
        assert_eq!(
            sessions.count(),
            MIN_SWEEP + 1,
            "nothing had expired at t=5"
        );
    }

    #[test]
    fn online_expired_sessions_are_kept_to_deny_their_checks() {
        let mut sessions = Sessions::default();
        for i in 0..=MIN_SWEEP {
            sessions.insert(Client(i), session(Some(1.0), false), 100.0);
        }
        assert_eq!(sessions.count(), MIN_SWEEP + 1);
        assert!(sessions.get_mut(Client(0)).unwrap().is_expired(100.0));
    }

    #[test]
    fn expiry_is_logged_once() {
        let mut s = session(Some(1.0), false);
        assert!(s.first_expiry_notice());
        assert!(!s.first_expiry_notice());
    }
}
