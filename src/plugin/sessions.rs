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

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::acl::{Access, Acl};
use crate::plugin::broker::Client;

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

pub struct Session {
    /// `None` when the token carries no ACL claim: authorization is left to others.
    pub acl: Option<Arc<Acl>>,
    pub expires_at: Option<f64>,
    pub client_id: Box<[u8]>,
    pub username: Box<[u8]>,
    /// A keyed hash of the password that carried the token, to recognise the broker asking
    /// again about this very connection (it re-checks every client on reload).
    pub token_fingerprint: u64,
    ends_with_connection: bool,
    stage: Stage,
    expiry_logged: bool,
}

impl Session {
    /// `awaiting_connect`: the broker will confirm the connection with a CONNECT event.
    pub fn new(
        acl: Option<Arc<Acl>>,
        expires_at: Option<f64>,
        client_id: &[u8],
        username: &[u8],
        ends_with_connection: bool,
        awaiting_connect: bool,
    ) -> Session {
        Session {
            acl,
            expires_at,
            client_id: client_id.into(),
            username: username.into(),
            token_fingerprint: 0,
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
    by_client: HashMap<Client, Session, BuildHasherDefault<AddressHasher>>,
    /// A session that ended with its connection: only its own last checks (the will) may
    /// still come.
    ending: Option<Client>,
    sweep_at: usize,
}

impl Sessions {
    /// Every callback starts here. `current` is the client of an ACL check, whose checks
    /// may be the last ones of an ending session.
    pub fn settle(&mut self, current: Option<Client>) {
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

    pub fn insert(&mut self, client: Client, session: Session, now: f64) {
        if self.by_client.len() >= self.sweep_at.max(MIN_SWEEP) {
            self.by_client
                .retain(|_, s| !matches!(s.stage, Stage::Offline { .. }) || !s.is_expired(now));
            self.sweep_at = 2 * self.by_client.len();
        }
        self.by_client.insert(client, session);
    }

    pub fn get_mut(&mut self, client: Client) -> Option<&mut Session> {
        self.by_client.get_mut(&client)
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

/// Client addresses are not chosen by clients, so a multiplicative hash is enough and
/// much cheaper than SipHash on the per-message path.
#[derive(Default)]
pub struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, address: usize) {
        // Allocations are 16-byte aligned: the low bits carry nothing.
        self.0 = ((address as u64) >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: Option<f64>, ends_with_connection: bool) -> Session {
        Session::new(
            None,
            expires_at,
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
            Session::new(None, None, b"id", b"u", false, true),
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
