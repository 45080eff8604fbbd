//! Authentication events: a token in the password or the username (BASIC_AUTH), in MQTT 5
//! enhanced authentication (EXT_AUTH_START), re-authentication, and the broker's re-check
//! of every client on reload.

use crate::config::TokenSource;
use crate::placeholders::{self, Values};
use crate::token::{AclPatterns, Jwt, VerifiedToken, sanitize};
use std::hash::BuildHasher;
use std::rc::Rc;

use super::admitted::{Admitted, Lifetime};
use super::sessions::{Rights, Session};
use super::token_cache::CachedToken;
use super::{AuthDecision, Broker, Client, LOG_PREFIX, LogLevel, Plugin};

/// Where the token came from, which decides the username rule.
#[derive(Clone, Copy)]
enum Carrier<'a> {
    /// The password, with the username the client sent: when present, it must be the
    /// token's user.
    Password { username: Option<&'a [u8]> },
    /// MQTT 5 authentication data, with the username rule of the password.
    AuthData { username: Option<&'a [u8]> },
    /// The username itself: it is replaced by the token's user.
    Username,
}

impl<'a> Carrier<'a> {
    /// The username the client sent, when it is not the token.
    fn sent_username(self) -> Option<&'a [u8]> {
        match self {
            Carrier::Password { username } | Carrier::AuthData { username } => username,
            Carrier::Username => None,
        }
    }
}

/// The credentials of a BASIC_AUTH, which the broker presents again when it re-checks the
/// client.
#[derive(Clone, Copy)]
struct Sent<'a> {
    password: Option<&'a [u8]>,
    /// Of the username and password as sent.
    fingerprint: u64,
}

impl<B: Broker> Plugin<B> {
    /// MOSQ_EVT_BASIC_AUTH. `password` is the client's password up to its first NUL byte.
    pub fn basic_auth(
        &self,
        client: Client,
        username: Option<&[u8]>,
        password: Option<&[u8]>,
    ) -> AuthDecision {
        self.injected_panic("basic_auth", client);
        let fingerprint = self.fingerprint(username, password);
        if let Some(decision) = self.recheck(client, fingerprint) {
            return decision;
        }
        self.sessions().begin_connection(client);
        let source = self.config.token_source;
        let in_password = match source {
            TokenSource::Password | TokenSource::Either => password.and_then(Jwt::recognise),
            TokenSource::Username => None,
        };
        let (jwt, carrier) = match in_password {
            Some(jwt) => (jwt, Carrier::Password { username }),
            None => {
                let in_username = match source {
                    TokenSource::Username | TokenSource::Either => {
                        username.and_then(Jwt::recognise)
                    }
                    TokenSource::Password => None,
                };
                let Some(jwt) = in_username else {
                    let sent = match (source, password, username) {
                        (TokenSource::Password, None, _) => return AuthDecision::Defer,
                        (TokenSource::Password, Some(_), _) => "a password that is not a JWT",
                        (TokenSource::Username, _, _) => "a username that is not a JWT",
                        (TokenSource::Either, _, _) => "no JWT as password or username",
                    };
                    // Worth a line for the operator whose token arrives with a stray
                    // newline.
                    let line = format!(
                        "{LOG_PREFIX}: client '{}' sent {sent}; left to other checks",
                        self.client_label(client)
                    );
                    self.broker.log(LogLevel::Debug, &line);
                    return AuthDecision::Defer;
                };
                (jwt, Carrier::Username)
            }
        };
        let sent = Sent {
            password,
            fingerprint,
        };
        match self.admit(client, &jwt, carrier, Some(sent)) {
            Ok(()) => AuthDecision::Accept,
            Err(why) => {
                self.log_refusal(client, carrier.sent_username(), &why);
                AuthDecision::Refuse
            }
        }
    }

    /// MOSQ_EVT_EXT_AUTH_START: an MQTT 5 CONNECT with an authentication method, or a
    /// re-authentication (AUTH 0x19) by a connected client. Only the configured methods are
    /// ours; the authentication data is the token.
    pub fn ext_auth_start(
        &self,
        client: Client,
        method: Option<&[u8]>,
        data: Option<&[u8]>,
    ) -> AuthDecision {
        self.injected_panic("ext_auth", client);
        let ours = method.is_some_and(|m| {
            self.config
                .auth_methods
                .iter()
                .any(|ours| m.eq_ignore_ascii_case(ours.as_bytes()))
        });
        if ours && self.is_reauthentication(client) {
            return self.reauthenticate(client, data);
        }
        self.sessions().begin_connection(client);
        if !ours {
            return AuthDecision::Defer;
        }
        let username = self
            .broker
            .with_client_username(client, |name| name.map(<[u8]>::to_vec));
        let outcome = match data.and_then(Jwt::recognise) {
            None => Err("the authentication data is not a JWT".to_owned()),
            // Enhanced authentication never shows the plugin the password the broker will
            // present on a re-check; such a session is recognised by address, id and user.
            Some(jwt) => self.admit(
                client,
                &jwt,
                Carrier::AuthData {
                    username: username.as_deref(),
                },
                None,
            ),
        };
        match outcome {
            Ok(()) => AuthDecision::Accept,
            Err(why) => {
                self.log_refusal(client, username.as_deref(), &why);
                AuthDecision::Refuse
            }
        }
    }

    /// A connected client of this plugin asking again: the broker only lets a client that
    /// connected with an authentication method re-authenticate, with that same method.
    fn is_reauthentication(&self, client: Client) -> bool {
        let mut sessions = self.sessions();
        sessions
            .get_mut(client)
            .is_some_and(|session| session.is_live() && self.is_same_client(client, session))
    }

    /// AUTH 0x19 with a fresh token: for the same user, its rights and expiry replace the
    /// old ones at once; anything else is refused, and the broker disconnects the client.
    fn reauthenticate(&self, client: Client, data: Option<&[u8]>) -> AuthDecision {
        let outcome = self.renew(client, data);
        let id = self.client_label(client);
        match outcome {
            Ok(verified) => {
                let line = format!(
                    "{LOG_PREFIX}: client '{id}' re-authenticated {}",
                    Lifetime::until(verified.token.expires_at, self.broker.now())
                );
                self.broker.log(LogLevel::Debug, &line);
                AuthDecision::Accept
            }
            Err(why) => {
                let line =
                    format!("{LOG_PREFIX}: re-authentication of client '{id}' refused: {why}");
                self.broker.log(LogLevel::Notice, &line);
                AuthDecision::Refuse
            }
        }
    }

    /// Checks a re-authentication token and, if it names the client's user, puts its
    /// rights and deadline in place of the old ones.
    fn renew(&self, client: Client, data: Option<&[u8]>) -> Result<Rc<CachedToken>, String> {
        let jwt = data
            .and_then(Jwt::recognise)
            .ok_or("the authentication data is not a JWT")?;
        let verified = self.verify(&jwt, self.broker.now())?;
        let token = &verified.token;
        let username: Box<[u8]> = match self.sessions().get_mut(client) {
            Some(session) => session.username.clone(),
            None => return Err("the client's session is gone".to_owned()),
        };
        if token.user.as_bytes() != &*username {
            return Err(format!(
                "the new token's user '{}' is not the client's user '{}'",
                sanitize(&token.user),
                sanitize(&String::from_utf8_lossy(&username))
            ));
        }
        let rights = self.rights(client, &verified)?;
        self.sessions().replace_rights(client, rights);
        Ok(verified)
    }

    /// The broker asking again about a client this plugin admitted, with the same
    /// credentials: on reload Mosquitto re-checks every client, connected or offline, and
    /// disconnects the ones refused. The answer comes from the session, not from the keys
    /// now loaded, so a key rotation leaves connected clients connected.
    ///
    /// A live session's address cannot hold a new connection, so a BASIC_AUTH there is
    /// always such a re-check. An offline session's address can (its client may have been
    /// freed), so an offline session is answered from its record only once per reload,
    /// between RELOAD and the next TICK; a new connection at that address is verified
    /// with today's keys.
    fn recheck(&self, client: Client, fingerprint: u64) -> Option<AuthDecision> {
        let now = self.broker.now();
        let mut sessions = self.sessions();
        let session = sessions.get_mut(client)?;
        let asked_again = session.token_fingerprint.is_none_or(|f| f == fingerprint)
            && (session.is_live() || (self.recheck_pass.get() && session.recheck_due))
            && self.is_same_client(client, session);
        if !asked_again {
            return None;
        }
        session.recheck_due = false;
        let id = sanitize(&String::from_utf8_lossy(&session.client_id));
        let expired = session.is_expired(now);
        drop(sessions);
        if expired && self.config.disconnect_on_expiry {
            self.broker.log(
                LogLevel::Notice,
                &format!("{LOG_PREFIX}: re-check of client '{id}': its token has expired"),
            );
            return Some(AuthDecision::Refuse);
        }
        self.broker.log(
            LogLevel::Debug,
            &format!("{LOG_PREFIX}: re-check of client '{id}': still admitted"),
        );
        Some(AuthDecision::Accept)
    }

    /// A keyed hash of what the broker will present again when it re-checks this client:
    /// its username (after the plugin set it) and password.
    fn fingerprint(&self, username: Option<&[u8]>, password: Option<&[u8]>) -> u64 {
        self.fingerprints.hash_one((username, password))
    }

    /// Verifies a token and records the client's session. Nothing is changed unless every
    /// check passes.
    fn admit(
        &self,
        client: Client,
        jwt: &Jwt<'_>,
        carrier: Carrier<'_>,
        sent: Option<Sent<'_>>,
    ) -> Result<(), String> {
        let now = self.broker.now();
        let verified = self.verify(jwt, now)?;
        let token = &verified.token;
        let set_username = match (carrier, carrier.sent_username()) {
            (Carrier::Username, _) => true,
            (_, None) => true,
            (_, Some(name)) if name == token.user.as_bytes() => false,
            (_, Some(name)) => {
                return Err(format!(
                    "username '{}' is not the token's user '{}'",
                    sanitize(&String::from_utf8_lossy(name)),
                    sanitize(&token.user)
                ));
            }
        };
        let rights = self.rights(client, &verified)?;
        // Last, once nothing else can refuse the token.
        if set_username {
            self.broker
                .set_username(client, &token.user)
                .map_err(|e| format!("cannot take the token's user as username: {e}"))?;
        }
        let client_id: Box<[u8]> = self
            .broker
            .with_client_id(client, |id| id.unwrap_or_default().into());
        let mut session = Session::new(
            rights,
            &client_id,
            token.user.as_bytes(),
            self.broker.session_ends_with_connection(client),
            self.events.get().connect,
        );
        // On reload Mosquitto 2.0 re-checks every client it holds through BASIC_AUTH,
        // offline ones included; one not answered from its record is admitted here.
        session.maybe_offline =
            self.recheck_pass.get() || (self.reloaded.get() && !self.ticks_seen.get());
        // What the broker will present on a re-check: the username as sent, when it was
        // the token's user already, so the fingerprint taken on arrival serves.
        session.token_fingerprint = sent.map(|sent| {
            if set_username {
                self.fingerprint(Some(token.user.as_bytes()), sent.password)
            } else {
                sent.fingerprint
            }
        });
        let held = {
            let mut sessions = self.sessions();
            sessions.insert(client, session, now);
            sessions.count()
        };
        self.broker.log_admitted(&Admitted {
            client_id: &client_id,
            user: &token.user,
            expires_in: token.expires_at.map(|deadline| deadline - now),
            held,
        });
        Ok(())
    }

    /// Verifies a token, or finds it in the cache of tokens verified before.
    fn verify(&self, jwt: &Jwt<'_>, now: f64) -> Result<Rc<CachedToken>, String> {
        self.take_fetch_news();
        let miss = match self.token_cache.borrow_mut().get(jwt.as_str(), now) {
            Ok(cached) => return Ok(cached),
            Err(miss) => miss,
        };
        let verified = self
            .verifier
            .borrow()
            .verify(jwt, now)
            .map_err(|r| self.explain(r))?;
        let verified = CachedToken::new(verified);
        self.token_cache.borrow_mut().insert(miss, &verified);
        Ok(verified)
    }

    /// Compiles what a token grants this client, placeholders filled in with its user and
    /// client id.
    fn rights(&self, client: Client, verified: &CachedToken) -> Result<Rights, String> {
        let token = &verified.token;
        let acl = if token.acl.is_absent() {
            None
        } else if placeholders::any_in(&token.acl) {
            let patterns = self.fill_placeholders(client, token);
            let mut shared = self.shared_acls.borrow_mut();
            Some(shared.get_or_compile(&patterns, &self.config.claims)?)
        } else if let Some(acl) = verified.acl.get() {
            Some(acl.clone())
        } else {
            let mut shared = self.shared_acls.borrow_mut();
            let acl = shared.get_or_compile(&token.acl, &self.config.claims)?;
            let _ = verified.acl.set(acl.clone());
            Some(acl)
        };
        Ok(Rights {
            acl,
            superuser: token.superuser,
            expires_at: token.expires_at,
        })
    }

    /// The token's patterns with this client's user and id put in, each unusable value
    /// logged once.
    fn fill_placeholders(&self, client: Client, token: &VerifiedToken) -> AclPatterns {
        let (patterns, notes) = self.broker.with_client_id(client, |id| {
            let client_id = std::str::from_utf8(id.unwrap_or_default()).ok();
            placeholders::substitute(
                &token.acl,
                &Values {
                    user: &token.user,
                    client_id,
                },
            )
        });
        for note in notes {
            let line = format!(
                "{LOG_PREFIX}: client '{}': {note}",
                self.client_label(client)
            );
            self.broker.log(LogLevel::Notice, &line);
        }
        patterns
    }

    fn log_refusal(&self, client: Client, username: Option<&[u8]>, why: &str) {
        let user = match username {
            Some(name) => format!("username '{}'", sanitize(&String::from_utf8_lossy(name))),
            None => "no username".to_owned(),
        };
        let id = self.client_label(client);
        self.broker.log(
            LogLevel::Notice,
            &format!("{LOG_PREFIX}: refused client '{id}' ({user}): {why}"),
        );
    }
}
