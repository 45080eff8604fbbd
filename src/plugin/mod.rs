//! The plugin's decisions, one method per broker event, free of FFI: the broker is reached
//! only through the [`Broker`] trait.

mod address_map;
mod admitted;
mod auth;
pub mod broker;
mod deadlines;
mod expiry;
mod fetched;
mod sessions;
mod shared_acls;
mod token_cache;

use std::cell::{Cell, RefCell, RefMut};
use std::hash::RandomState;

use crate::acl::Access;
use crate::config::{Config, ConfigError};
use crate::fetch::KeyFetch;
use crate::keys::{KeySet, Purpose};
use crate::token::{ClaimRules, Verifier, sanitize};

pub use broker::{Broker, Client, LogLevel};
use sessions::{Session, Sessions};

/// The answer to an authentication event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthDecision {
    Accept,
    Refuse,
    /// Not ours to judge: other plugins, the password file or `allow_anonymous` decide.
    Defer,
}

/// The answer to an ACL check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclDecision {
    Allow,
    Deny,
    Defer,
}

/// Events that only some brokers send (Mosquitto 2.1); the FFI layer says which ones it
/// could register.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionalEvents {
    /// MOSQ_EVT_CONNECT: every accepted connection, however it authenticated.
    pub connect: bool,
    /// MOSQ_EVT_CLIENT_OFFLINE for durable sessions, which makes DISCONNECT the end of a
    /// session.
    pub client_offline: bool,
}

pub struct Plugin<B: Broker> {
    broker: B,
    /// Kept to re-read the key files on reload.
    config: Config,
    verifier: RefCell<Verifier>,
    events: Cell<OptionalEvents>,
    sessions: RefCell<Sessions>,
    shared_acls: RefCell<shared_acls::SharedAcls>,
    token_cache: RefCell<token_cache::TokenCache>,
    /// Keys for token fingerprints, random per instance.
    fingerprints: RandomState,
    /// Between a RELOAD and the next TICK the broker re-checks every client it holds,
    /// offline durable sessions included, through BASIC_AUTH.
    recheck_pass: Cell<bool>,
    /// TICK arrives (not with `per_listener_settings` on 2.0.11 to 2.0.14), so it can
    /// close a re-check pass.
    ticks_seen: Cell<bool>,
    /// A RELOAD has come. Without ticks, the broker's re-checks cannot be told from new
    /// connections from then on.
    reloaded: Cell<bool>,
    /// The clock read at the last TICK, when ticks keep it fresh (see `tick`): the time by
    /// which message checks judge expiry. NaN when there is none, so that the check's
    /// common case is one comparison: NaN is before no deadline.
    pass_clock: Cell<f64>,
    /// The client being disconnected at expiry, while the broker does it.
    kicking: Cell<Option<Client>>,
    /// Every DISCONNECT and CLIENT_OFFLINE so far was handled to the end (none panicked),
    /// and the broker reports every disconnection, so the table knows which sessions are
    /// live.
    disconnects_handled: Cell<bool>,
    /// The thread fetching keys over HTTPS, when configured.
    key_fetch: Option<KeyFetch>,
    /// Why the fetch failed, while no fetched key set has arrived: the reason given to
    /// clients refused meanwhile.
    fetch_failure: RefCell<Option<String>>,
}

const LOG_PREFIX: &str = "jwt-auth";

impl<B: Broker> Plugin<B> {
    /// Builds an instance from its `plugin_opt_*` options; the error names the option.
    pub fn new<'a>(
        broker: B,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Plugin<B>, ConfigError> {
        let config = Config::from_options(options)?;
        let sessions = if config.disconnect_on_expiry {
            Sessions::with_deadlines()
        } else {
            Sessions::default()
        };
        let token_cache = token_cache::TokenCache::new(config.token_cache);
        let loaded = KeySet::load(&config, Purpose::Start)?;
        log_notes(&broker, &loaded.notes);
        broker.log(
            LogLevel::Info,
            &format!(
                "{LOG_PREFIX}: accepting {} tokens; {} keys loaded",
                config.algorithms,
                loaded.keys.len()
            ),
        );
        let mut verifier = Verifier::new(
            config.algorithms,
            loaded.keys,
            ClaimRules::from_config(&config),
        );
        let key_fetch = fetched::start_key_fetch(&broker, &config, &mut verifier)?;
        Ok(Plugin {
            broker,
            config,
            verifier: RefCell::new(verifier),
            events: Cell::default(),
            sessions: RefCell::new(sessions),
            shared_acls: RefCell::default(),
            token_cache: RefCell::new(token_cache),
            fingerprints: RandomState::new(),
            recheck_pass: Cell::new(false),
            ticks_seen: Cell::new(false),
            reloaded: Cell::new(false),
            pass_clock: Cell::new(f64::NAN),
            kicking: Cell::new(None),
            disconnects_handled: Cell::new(true),
            key_fetch,
            fetch_failure: RefCell::new(None),
        })
    }

    pub fn set_optional_events(&self, events: OptionalEvents) {
        self.events.set(events);
        // A broker with CONNECT events reports a durable session's disconnection only as
        // CLIENT_OFFLINE; without that event, the plugin would not see it.
        if events.connect && !events.client_offline {
            self.disconnects_handled.set(false);
        }
    }

    /// The test hook of debug builds: panics in `callback` for a client whose id starts
    /// with `panic-<callback>`. Compiled out of release builds.
    #[cfg(debug_assertions)]
    fn injected_panic(&self, callback: &str, client: Client) {
        if self.config.test_panic.iter().any(|c| c == callback) {
            let prefix = format!("panic-{callback}");
            if self.broker.with_client_id(client, |id| {
                id.is_some_and(|id| id.starts_with(prefix.as_bytes()))
            }) {
                panic!("injected panic in {callback}");
            }
        }
    }

    #[cfg(not(debug_assertions))]
    fn injected_panic(&self, _: &str, _: Client) {}

    /// The client's id, safe for a log line.
    fn client_label(&self, client: Client) -> String {
        self.broker.with_client_id(client, |id| {
            sanitize(&String::from_utf8_lossy(id.unwrap_or_default()))
        })
    }

    /// MOSQ_EVT_ACL_CHECK: per message and subscriber for READ, so this path allocates
    /// nothing and does no JSON or crypto, and is inlined into its callback; out of line
    /// are a client to compare with its record, an expiry the pass's clock does not rule
    /// out, and the trie walk of a set of more than one filter. `access` is `None` for an
    /// access kind this plugin does not know, which is denied for its own clients.
    #[inline]
    pub fn acl_check(
        &self,
        client: Client,
        access: Option<Access>,
        topic: Option<&[u8]>,
    ) -> AclDecision {
        self.acl_check_with(client, access, || topic)
    }

    /// [`Self::acl_check`] with the topic found only when a filter needs it: its length is
    /// a `strlen` that most denials and every superuser can do without, and a call made
    /// last leaves fewer values to keep across it.
    #[inline(always)]
    pub fn acl_check_with<'t>(
        &self,
        client: Client,
        access: Option<Access>,
        topic: impl FnOnce() -> Option<&'t [u8]>,
    ) -> AclDecision {
        let Ok(mut sessions) = self.sessions.try_borrow_mut() else {
            return AclDecision::Deny;
        };
        sessions.settle(Some(client));
        // With the table borrowed, to show that a panic here leaves it usable.
        self.injected_panic("acl_check", client);
        let Some(session) = sessions.get_mut(client) else {
            return AclDecision::Defer;
        };
        // The broker frees a connected client, and may give its address to another, only
        // after reporting its disconnection: a session seen to connect and not to
        // disconnect is still the client at this address. That holds only while every
        // disconnection was handled to the end, and not for a session admitted on the
        // broker's re-check of a client that may be offline (which it frees without a
        // word); those, and offline sessions, are compared with the record.
        let known_live = session.is_known_live() && self.disconnects_handled.get();
        if !known_live && !self.is_still_the_client(client, session, access) {
            sessions.remove(client);
            return AclDecision::Defer;
        }
        // Time matters only for tokens that expire. A client being disconnected at expiry,
        // and its will, are still judged by its rights.
        // Only the pass's clock is tested here: on Mosquitto 2.0 with disconnect_on_expiry
        // it is kept and almost always before the deadline. The rest is out of line, which
        // spares that check some registers; where no pass clock is kept (2.1, or without
        // disconnect_on_expiry), it reads the clock there, at the cost of one call more.
        if let Some(deadline) = session.expires_at
            && !is_before(self.pass_clock.get(), deadline)
            && self.is_past_deadline(client, session, access, deadline)
        {
            return AclDecision::Deny;
        }
        if session.superuser {
            return AclDecision::Allow;
        }
        let Some(acl) = &session.acl else {
            return AclDecision::Defer;
        };
        match (access, topic()) {
            (Some(access), Some(topic)) if acl.allows(access, topic) => AclDecision::Allow,
            _ => AclDecision::Deny,
        }
    }

    /// Whether a session whose deadline the pass's clock does not show ahead has expired
    /// for this check; logs it the first time. Not cold: where no pass clock is kept,
    /// every check of an expiring token comes here.
    #[inline(never)]
    fn is_past_deadline(
        &self,
        client: Client,
        session: &mut Session,
        access: Option<Access>,
        deadline: f64,
    ) -> bool {
        let expired = self.kicking.get() != Some(client)
            && self.clock_for_messages() >= deadline
            && !(access == Some(Access::Write) && std::mem::take(&mut session.will_after_expiry));
        if expired {
            self.log_expiry_once(session);
        }
        expired
    }

    /// The pass's clock, or the broker's where ticks do not keep one.
    fn clock_for_messages(&self) -> f64 {
        let pass = self.pass_clock.get();
        if pass.is_nan() {
            self.broker.now_for_messages()
        } else {
            pass
        }
    }

    /// For a session not known to be live: whether the client at its address is still
    /// its own (two broker calls and two string comparisons) and can make this check.
    #[cold]
    #[inline(never)]
    fn is_still_the_client(
        &self,
        client: Client,
        session: &mut Session,
        access: Option<Access>,
    ) -> bool {
        self.is_same_client(client, session) && session.expects(access)
    }

    #[cold]
    #[inline(never)]
    fn log_expiry_once(&self, session: &mut Session) {
        if session.first_expiry_notice() {
            self.broker.log(
                LogLevel::Notice,
                &format!(
                    "{LOG_PREFIX}: token of client '{}' has expired; denying all its topic access",
                    sanitize(&String::from_utf8_lossy(&session.client_id))
                ),
            );
        }
    }

    /// A client at a reused address that never passed through this plugin has another id
    /// or username, or can be told apart by [`Session::expects`].
    pub(super) fn is_same_client(&self, client: Client, session: &Session) -> bool {
        self.broker
            .with_client_id(client, |id| id == Some(&session.client_id[..]))
            && self
                .broker
                .with_client_username(client, |name| name == Some(&session.username[..]))
    }

    /// MOSQ_EVT_RELOAD (SIGHUP): re-reads every key file. New keys verify the next CONNECT;
    /// connected clients keep their sessions. A file that cannot be read or parsed keeps
    /// the previous keys, so a half-written file cannot lock every device out; a file
    /// emptied of a family's keys takes effect, since that is how a key is revoked.
    pub fn reload(&self) {
        match KeySet::load(&self.config, Purpose::Reload) {
            Ok(loaded) => {
                log_notes(&self.broker, &loaded.notes);
                let line = format!(
                    "{LOG_PREFIX}: reloaded keys; {} keys loaded",
                    loaded.keys.len()
                );
                self.verifier.borrow_mut().replace_keys(loaded.keys);
                // A token cached under the old keys may not verify under the new ones.
                self.token_cache.borrow_mut().clear();
                self.broker.log(LogLevel::Info, &line);
                for shortfall in loaded.shortfalls {
                    self.broker.log(
                        LogLevel::Warning,
                        &format!(
                            "{LOG_PREFIX}: after reload, {shortfall}; such tokens are refused"
                        ),
                    );
                }
            }
            Err(e) => self.broker.log(
                LogLevel::Warning,
                &format!("{LOG_PREFIX}: reload failed, keeping the previous keys: {e}"),
            ),
        }
        self.refetch_on_reload();
        self.reloaded.set(true);
        // Without ticks there is no telling when the broker's re-check ends; live sessions
        // are recognised all the same, and an offline session the broker asks about is
        // verified again with today's keys.
        if self.ticks_seen.get() {
            self.sessions().arm_rechecks();
            self.recheck_pass.set(true);
        }
    }

    /// MOSQ_EVT_CONNECT (Mosquitto 2.1): a connection was accepted, by whichever check.
    pub fn connected(&self, client: Client) {
        self.sessions().connected(client);
    }

    /// MOSQ_EVT_DISCONNECT. Where the broker also reports CLIENT_OFFLINE (2.1),
    /// DISCONNECT means the session ends with the connection.
    pub fn disconnect(&self, client: Client) {
        self.record_disconnection(|| {
            self.injected_panic("disconnect", client);
            self.sessions()
                .disconnected(client, self.events.get().client_offline);
        });
    }

    /// MOSQ_EVT_CLIENT_OFFLINE (Mosquitto 2.1): a durable session lost its connection.
    pub fn client_offline(&self, client: Client) {
        self.record_disconnection(|| self.sessions().disconnected(client, false));
    }

    /// Runs the handling of a disconnection. If it does not finish (a panic, caught at the
    /// FFI boundary), a session may be recorded as live whose client is gone, so from
    /// then on every check compares the client with its record.
    fn record_disconnection(&self, handle: impl FnOnce()) {
        let handled = self.disconnects_handled.replace(false);
        handle();
        self.disconnects_handled.set(handled);
    }

    /// The session table, once what an earlier callback left to settle is settled. Every
    /// callback but an ACL check (which may be an ending session's own last one) starts
    /// here.
    fn sessions(&self) -> RefMut<'_, Sessions> {
        let mut sessions = self.sessions.borrow_mut();
        sessions.settle(None);
        sessions
    }

    /// How many clients' states are held, for memory accounting.
    pub fn client_states(&self) -> usize {
        self.sessions.borrow().count()
    }
}

fn log_notes(broker: &impl Broker, notes: &[String]) {
    for note in notes {
        broker.log(LogLevel::Info, &format!("{LOG_PREFIX}: {note}"));
    }
}

/// `now < deadline`: false for a NaN clock, which stands for none.
#[inline(always)]
fn is_before(now: f64, deadline: f64) -> bool {
    now < deadline
}

#[cfg(test)]
mod tests;
