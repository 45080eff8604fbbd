//! Live sessions: disconnect at expiry, enhanced authentication and re-authentication,
//! the token in the username, placeholders and the superuser claim.

use super::*;

fn kicks(h: &Harness) -> Vec<(String, bool)> {
    h.broker.kicks.borrow().clone()
}

/// The broker's side of a kick: it disconnects the client, which runs DISCONNECT.
fn kick_done(h: &Harness, address: usize) {
    h.plugin.disconnect(Client(address));
}

#[test]
fn expired_clients_are_kicked_in_deadline_order_and_not_before() {
    let h = Harness::new(&[("required_claims", "none")]);
    for (address, id, life) in [(1, "late", 30.0), (2, "early", 10.0), (3, "never", 0.0)] {
        let t = if life == 0.0 {
            hs256(&json!({"username": "alice"}))
        } else {
            token(json!({"exp": NOW + life}))
        };
        assert_eq!(
            h.connect(address, id, None, &t),
            AuthDecision::Accept,
            "{id}"
        );
    }
    assert_eq!(
        h.plugin.tick(),
        Some(1_000),
        "the next deadline is 10 s away"
    );
    assert!(kicks(&h).is_empty());
    h.broker.now.set(NOW + 9.999);
    assert_eq!(h.plugin.tick(), Some(1));
    assert!(kicks(&h).is_empty());
    h.broker.now.set(NOW + 10.0);
    h.plugin.tick();
    assert_eq!(kicks(&h), [("early".to_owned(), true)]);
    kick_done(&h, 2);
    h.broker.now.set(NOW + 31.0);
    assert_eq!(h.plugin.tick(), None, "no deadline left");
    assert_eq!(
        kicks(&h),
        [("early".to_owned(), true), ("late".to_owned(), true)]
    );
    assert!(
        h.notices().contains(
            &"jwt-auth: token of client 'early' has expired; disconnecting it".to_owned()
        )
    );
}

#[test]
fn message_checks_judge_expiry_by_the_clock_of_the_last_tick() {
    let t = token(json!({"exp": NOW + 10.0, "receive_acl": "#"}));
    // Without ticks, by the clock itself.
    let h = Harness::new(&[]);
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.broker.now.set(NOW + 10.0);
    assert_eq!(h.check(1, Access::Read, "a"), AclDecision::Deny);

    // With ticks, by the time of the broker's current pass: a token that expires during a
    // pass is denied from the next tick on, which is also when its client is kicked.
    let h = Harness::new(&[]);
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.broker.now.set(NOW + 9.99);
    h.plugin.tick();
    h.broker.now.set(NOW + 10.02);
    assert_eq!(h.check(1, Access::Read, "a"), AclDecision::Allow);
    h.plugin.tick();
    assert_eq!(kicks(&h), [("c".to_owned(), true)]);
    assert_eq!(h.check(1, Access::Read, "a"), AclDecision::Deny);

    // `exp` is the first instant a token is refused: a pass whose clock reads exactly
    // that denies.
    let h = Harness::new(&[]);
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.broker.now.set(NOW + 10.0);
    h.plugin.tick();
    assert_eq!(h.check(1, Access::Read, "a"), AclDecision::Deny);

    // Without kicks at expiry, or on a broker that may skip ticks (2.1, known by its
    // CONNECT events), ticks do not bound what a check would allow: the clock.
    let no_kicks = Harness::new(&[("disconnect_on_expiry", "false")]);
    let skipping = Harness::new(&[]);
    skipping.plugin.set_optional_events(OptionalEvents {
        connect: true,
        client_offline: true,
    });
    for h in [no_kicks, skipping] {
        assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
        h.broker.now.set(NOW + 9.99);
        h.plugin.tick();
        h.broker.now.set(NOW + 10.0);
        assert_eq!(h.check(1, Access::Read, "a"), AclDecision::Deny);
    }
}

#[test]
fn a_client_gone_before_its_deadline_is_not_kicked_and_its_entry_is_dropped() {
    let h = Harness::new(&[]);
    let t = token(json!({"exp": NOW + 10.0}));
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.plugin.disconnect(Client(1));
    // Another client at the same address, with its own later deadline.
    assert_eq!(
        h.connect(1, "c", None, &token(json!({"exp": NOW + 100.0}))),
        AuthDecision::Accept
    );
    h.broker.now.set(NOW + 50.0);
    h.plugin.tick();
    assert!(
        kicks(&h).is_empty(),
        "the first token's deadline belongs to a gone session"
    );

    // Churn cannot grow the queue: entries of gone sessions are dropped as it grows.
    let t = token(json!({"exp": NOW + 3600.0}));
    for i in 0..10_000 {
        let address = 100 + i;
        assert_eq!(
            h.connect(address, &format!("c{i}"), None, &t),
            AuthDecision::Accept
        );
        h.plugin.disconnect(Client(address));
    }
    let sessions = h.plugin.sessions.borrow();
    assert!(
        sessions.deadline_count() <= 2 * sessions.count() + 64,
        "{}",
        sessions.deadline_count()
    );
}

#[test]
fn the_will_of_a_client_kicked_at_expiry_is_judged_by_its_rights_once() {
    let h = Harness::new(&[]);
    let t = token(json!({"exp": NOW + 10.0, "publish_acl": "wills/alice", "receive_acl": "#"}));
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.broker.now.set(NOW + 10.5);
    h.plugin.tick();
    kick_done(&h, 1);
    // A delivery to the offline session does not use up the will's allowance.
    assert_eq!(h.check(1, Access::Read, "wills/alice"), AclDecision::Deny);
    assert_eq!(h.check(1, Access::Write, "wills/alice"), AclDecision::Allow);
    assert_eq!(h.check(1, Access::Read, "wills/alice"), AclDecision::Deny);
}

#[test]
fn a_kick_the_broker_refuses_leaves_every_check_denied() {
    let h = Harness::new(&[]);
    let t = token(json!({"exp": NOW + 10.0, "publish_acl": "w"}));
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.broker.kick_fails.set(true);
    h.broker.now.set(NOW + 10.5);
    h.plugin.tick();
    assert!(
        h.notices()
            .iter()
            .any(|l| l == "jwt-auth: cannot disconnect client 'c': not found")
    );
    // Still connected, so no will is coming: its allowance must not let a publish through.
    assert_eq!(h.check(1, Access::Write, "w"), AclDecision::Deny);
}

#[test]
fn after_a_takeover_the_old_deadline_kicks_nobody() {
    let h = Harness::new(&[]);
    let short = token(json!({"exp": NOW + 10.0}));
    assert_eq!(h.connect(1, "dev", None, &short), AuthDecision::Accept);
    // The same client id connects elsewhere; the broker disconnects the old connection.
    let long = token(json!({"exp": NOW + 100.0}));
    assert_eq!(h.connect(2, "dev", None, &long), AuthDecision::Accept);
    h.plugin.disconnect(Client(1));
    h.broker.now.set(NOW + 11.0);
    h.plugin.tick();
    assert!(
        kicks(&h).is_empty(),
        "the new connection of 'dev' must not be kicked"
    );
}

#[test]
fn a_new_enhanced_connection_at_a_freed_address_is_not_a_reauthentication() {
    let h = Harness::new(&[]);
    let t = token(json!({"subscribe_acl": "a/#", "receive_acl": "a/#"}));
    assert_eq!(
        enhanced(&h, 1, "dev", None, b"JWT", Some(&t)),
        AuthDecision::Accept
    );
    h.plugin.disconnect(Client(1));
    // The same device again, its new client at the old client's address.
    assert_eq!(
        enhanced(&h, 1, "dev", None, b"JWT", Some(&t)),
        AuthDecision::Accept
    );
    assert!(h.logs().iter().all(|l| !l.contains("re-authenticated")));
    // A fresh, online session: it may subscribe (an offline one could not).
    assert_eq!(h.check(1, Access::Subscribe, "a/b"), AclDecision::Allow);
}

#[test]
fn checks_made_while_the_broker_kicks_are_judged_by_the_rights() {
    let h = Harness::new(&[]);
    let t = token(json!({"exp": NOW + 10.0, "subscribe_acl": "a/#", "publish_acl": "w"}));
    assert_eq!(h.connect(1, "dev", None, &t), AuthDecision::Accept);
    h.broker.now.set(NOW + 10.5);
    // What Mosquitto does inside the kick: re-check the durable session's subscriptions.
    h.plugin.kicking.set(Some(Client(1)));
    assert_eq!(h.check(1, Access::Subscribe, "a/b"), AclDecision::Allow);
    assert_eq!(h.check(1, Access::Subscribe, "b"), AclDecision::Deny);
    h.plugin.kicking.set(None);
    assert_eq!(h.check(1, Access::Subscribe, "a/b"), AclDecision::Deny);
}

#[test]
fn reauthentication_in_a_loop_does_not_grow_the_deadline_queue() {
    let h = Harness::new(&[]);
    let t = token(json!({"exp": NOW + 100.0}));
    assert_eq!(
        enhanced(&h, 1, "dev", None, b"JWT", Some(&t)),
        AuthDecision::Accept
    );
    for _ in 0..10_000 {
        assert_eq!(
            h.plugin
                .ext_auth_start(Client(1), Some(b"JWT"), Some(t.as_bytes())),
            AuthDecision::Accept
        );
    }
    assert!(h.plugin.sessions.borrow().deadline_count() <= 64);
}

#[test]
fn expiry_will_false_kicks_without_the_will_and_disconnect_false_does_not_kick() {
    let h = Harness::new(&[("expiry_will", "false")]);
    let t = token(json!({"exp": NOW + 10.0, "publish_acl": "wills/alice"}));
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.broker.now.set(NOW + 11.0);
    h.plugin.tick();
    assert_eq!(kicks(&h), [("c".to_owned(), false)]);
    kick_done(&h, 1);
    assert_eq!(h.check(1, Access::Write, "wills/alice"), AclDecision::Deny);

    let h = Harness::new(&[("disconnect_on_expiry", "false")]);
    assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
    h.broker.now.set(NOW + 11.0);
    assert_eq!(h.plugin.tick(), None);
    assert!(kicks(&h).is_empty());
    assert_eq!(h.check(1, Access::Write, "wills/alice"), AclDecision::Deny);
    // On reload the broker's re-check keeps it connected too.
    h.plugin.reload();
    let t_again = recheck_password(&h, 1, &t);
    assert_eq!(t_again, AuthDecision::Accept);
}

fn recheck_password(h: &Harness, address: usize, token: &str) -> AuthDecision {
    let username = h.broker.username(Client(address));
    h.plugin
        .basic_auth(Client(address), username.as_deref(), Some(token.as_bytes()))
}

fn enhanced(
    h: &Harness,
    address: usize,
    id: &str,
    username: Option<&str>,
    method: &[u8],
    data: Option<&str>,
) -> AuthDecision {
    let client = h.arrive(address, id, username, false);
    h.plugin
        .ext_auth_start(client, Some(method), data.map(str::as_bytes))
}

#[test]
fn enhanced_authentication_takes_the_token_from_the_authentication_data() {
    let h = Harness::new(&[("auth_methods", "JWT,bearer")]);
    let t = acl_token();
    assert_eq!(
        enhanced(&h, 1, "a", None, b"jwt", Some(&t)),
        AuthDecision::Accept
    );
    assert_eq!(h.broker.username(Client(1)), Some(b"alice".to_vec()));
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/x"),
        AclDecision::Allow
    );
    assert_eq!(
        enhanced(&h, 2, "b", Some("alice"), b"BEARER", Some(&t)),
        AuthDecision::Accept
    );
    // The username rule of the password path.
    assert_eq!(
        enhanced(&h, 3, "c", Some("mallory"), b"JWT", Some(&t)),
        AuthDecision::Refuse
    );
    // Our method without a token is a refusal, not someone else's business.
    assert_eq!(
        enhanced(&h, 4, "d", None, b"JWT", None),
        AuthDecision::Refuse
    );
    assert_eq!(
        enhanced(&h, 5, "e", None, b"JWT", Some("not a token")),
        AuthDecision::Refuse
    );
    let expired = token(json!({"exp": NOW - 1.0}));
    assert_eq!(
        enhanced(&h, 6, "f", None, b"JWT", Some(&expired)),
        AuthDecision::Refuse
    );
    // Another method is deferred: the broker answers "bad authentication method".
    assert_eq!(
        enhanced(&h, 7, "g", None, b"SCRAM-SHA-256", Some(&t)),
        AuthDecision::Defer
    );
    let refusals = h.notices();
    assert_eq!(refusals.len(), 4, "{refusals:?}");
    assert!(refusals[0].contains("username 'mallory' is not the token's user 'alice'"));
    assert!(refusals[1].contains("the authentication data is not a JWT"));
}

#[test]
fn reauthentication_replaces_rights_and_moves_the_deadline() {
    let h = Harness::new(&[]);
    let first = token(json!({"exp": NOW + 10.0, "publish_acl": "old/#"}));
    assert_eq!(
        enhanced(&h, 1, "dev", None, b"JWT", Some(&first)),
        AuthDecision::Accept
    );
    assert_eq!(h.check(1, Access::Write, "old/x"), AclDecision::Allow);
    assert_eq!(h.check(1, Access::Write, "new/x"), AclDecision::Deny);

    let second = token(json!({"exp": NOW + 100.0, "publish_acl": "new/#"}));
    assert_eq!(
        h.plugin
            .ext_auth_start(Client(1), Some(b"JWT"), Some(second.as_bytes())),
        AuthDecision::Accept
    );
    assert_eq!(h.check(1, Access::Write, "old/x"), AclDecision::Deny);
    assert_eq!(h.check(1, Access::Write, "new/x"), AclDecision::Allow);
    // The first token's deadline no longer applies; the second's does.
    h.broker.now.set(NOW + 50.0);
    h.plugin.tick();
    assert!(kicks(&h).is_empty());
    assert_eq!(h.check(1, Access::Write, "new/x"), AclDecision::Allow);
    h.broker.now.set(NOW + 100.0);
    h.plugin.tick();
    assert_eq!(kicks(&h), [("dev".to_owned(), true)]);
}

#[test]
fn a_bad_reauthentication_is_refused_and_leaves_the_rights_alone() {
    let h = Harness::new(&[]);
    let t = acl_token();
    assert_eq!(
        enhanced(&h, 1, "dev", None, b"JWT", Some(&t)),
        AuthDecision::Accept
    );
    let bob = hs256(&json!({"username": "bob", "exp": NOW + 60.0, "publish_acl": "#"}));
    let expired = token(json!({"exp": NOW - 1.0, "publish_acl": "#"}));
    for (data, why) in [
        (
            Some(bob.as_str()),
            "the new token's user 'bob' is not the client's user 'alice'",
        ),
        (Some(expired.as_str()), "token has expired (exp)"),
        (Some("garbage"), "the authentication data is not a JWT"),
        (None, "the authentication data is not a JWT"),
    ] {
        assert_eq!(
            h.plugin
                .ext_auth_start(Client(1), Some(b"JWT"), data.map(str::as_bytes)),
            AuthDecision::Refuse,
            "{why}"
        );
        let last = h.notices().pop().unwrap();
        assert_eq!(
            last,
            format!("jwt-auth: re-authentication of client 'dev' refused: {why}")
        );
    }
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/x"),
        AclDecision::Allow
    );
    assert_eq!(h.check(1, Access::Write, "other"), AclDecision::Deny);
}

#[test]
fn a_token_in_the_username_becomes_the_user_claim() {
    let h = Harness::new(&[("token_source", "username")]);
    let t = acl_token();
    let client = h.arrive(1, "dev", Some(&t), false);
    assert_eq!(
        h.plugin.basic_auth(client, Some(t.as_bytes()), None),
        AuthDecision::Accept
    );
    assert_eq!(h.broker.username(Client(1)), Some(b"alice".to_vec()));
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/x"),
        AclDecision::Allow
    );
    // A password token is not looked at with token_source username.
    let client = h.arrive(2, "dev2", Some("alice"), false);
    assert_eq!(
        h.plugin
            .basic_auth(client, Some(b"alice"), Some(t.as_bytes())),
        AuthDecision::Defer
    );

    let h = Harness::new(&[("token_source", "either")]);
    let client = h.arrive(1, "dev", Some(&t), false);
    assert_eq!(
        h.plugin
            .basic_auth(client, Some(t.as_bytes()), Some(b"whatever")),
        AuthDecision::Accept
    );
    assert_eq!(h.broker.username(Client(1)), Some(b"alice".to_vec()));
    assert_eq!(
        h.check(1, Access::Write, "devices/alice/x"),
        AclDecision::Allow
    );
    // With either, a password token takes precedence and keeps the username rule.
    let client = h.arrive(2, "dev2", Some("mallory"), false);
    assert_eq!(
        h.plugin
            .basic_auth(client, Some(b"mallory"), Some(t.as_bytes())),
        AuthDecision::Refuse
    );
}

#[test]
fn placeholders_are_filled_and_hostile_values_match_nothing() {
    let h = Harness::new(&[]);
    let t = token(json!({
        "publish_acl": ["devices/%c/up", "users/${username}/#"],
        "subscribe_acl": "devices/${clientid}/down/+",
        "receive_acl": "devices/%c/down/+",
    }));
    assert_eq!(h.connect(1, "dev-7", None, &t), AuthDecision::Accept);
    assert_eq!(
        h.check(1, Access::Write, "devices/dev-7/up"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(1, Access::Write, "devices/dev-8/up"),
        AclDecision::Deny
    );
    assert_eq!(
        h.check(1, Access::Write, "devices/%c/up"),
        AclDecision::Deny
    );
    assert_eq!(
        h.check(1, Access::Write, "users/alice/x"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(1, Access::Subscribe, "devices/dev-7/down/+"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(1, Access::Read, "devices/dev-7/down/1"),
        AclDecision::Allow
    );

    let t_rooted =
        token(json!({"publish_acl": "%c/#", "subscribe_acl": "%c/#", "receive_acl": "%c/#"}));
    for (address, id) in [(20, "$CONTROL"), (21, "$SYS")] {
        assert_eq!(
            h.connect(address, id, None, &t_rooted),
            AuthDecision::Accept
        );
        for access in [Access::Write, Access::Subscribe, Access::Read] {
            assert_eq!(
                h.check(address, access, &format!("{id}/dynamic-security/v1")),
                AclDecision::Deny,
                "{id} {access:?}"
            );
        }
    }
    for (address, hostile) in [(2, "a/+"), (3, "#"), (4, "x/y"), (5, ""), (6, "+")] {
        assert_eq!(
            h.connect(address, hostile, None, &t),
            AuthDecision::Accept,
            "{hostile:?}"
        );
        for topic in [
            "devices/a/up",
            "devices/x/y/up",
            "devices//up",
            "devices/+/up",
            "devices/#",
        ] {
            assert_eq!(
                h.check(address, Access::Write, topic),
                AclDecision::Deny,
                "{hostile:?} {topic}"
            );
        }
        assert_eq!(
            h.check(address, Access::Subscribe, "devices/#"),
            AclDecision::Deny
        );
        // Patterns without the client id still work.
        assert_eq!(
            h.check(address, Access::Write, "users/alice/1"),
            AclDecision::Allow
        );
    }
    assert!(
        h.notices().iter().any(|l| l.starts_with(
            "jwt-auth: client 'a/+': the client id is empty, starts with '$' or holds"
        )),
        "{:?}",
        h.notices()
    );
}

#[test]
fn a_hostile_user_claim_cannot_widen_its_patterns() {
    let h = Harness::new(&[]);
    for user in ["#", "a/b", "+", "$SYS"] {
        let t = hs256(
            &json!({"username": user, "exp": NOW + 60.0, "publish_acl": ["users/%u", "%u/#"]}),
        );
        assert_eq!(h.connect(1, "c", None, &t), AuthDecision::Accept);
        for topic in [
            "users/a/b",
            "users/x",
            "users/#",
            "users/+",
            "$SYS/broker/version",
        ] {
            assert_eq!(
                h.check(1, Access::Write, topic),
                AclDecision::Deny,
                "{user} {topic}"
            );
        }
        h.plugin.disconnect(Client(1));
    }
}

#[test]
fn a_superuser_may_do_everything_until_its_token_expires() {
    let h = Harness::new(&[("superuser_claim", "admin")]);
    let admin = token(json!({"admin": true, "exp": NOW + 10.0}));
    assert_eq!(h.connect(1, "root", None, &admin), AuthDecision::Accept);
    for access in [Access::Write, Access::Read, Access::Subscribe] {
        assert_eq!(h.check(1, access, "$SYS/#"), AclDecision::Allow);
    }
    // Only JSON true counts.
    for value in [json!("true"), json!(1), json!([true]), json!(false)] {
        let t = token(json!({"admin": value, "publish_acl": "a"}));
        assert_eq!(h.connect(2, "user", None, &t), AuthDecision::Accept);
        assert_eq!(h.check(2, Access::Write, "b"), AclDecision::Deny, "{value}");
        h.plugin.disconnect(Client(2));
    }
    h.broker.now.set(NOW + 10.0);
    assert_eq!(h.check(1, Access::Write, "anything"), AclDecision::Deny);
}

#[test]
fn a_cached_token_still_meets_the_checks_of_each_connection() {
    let h = Harness::new(&[]);
    let t = token(json!({"publish_acl": "devices/%c/up"}));
    assert_eq!(h.connect(1, "dev-1", None, &t), AuthDecision::Accept);
    // The same token again: from the cache, but judged for this connection.
    assert_eq!(
        h.connect(2, "dev-2", Some("mallory"), &t),
        AuthDecision::Refuse
    );
    assert_eq!(
        h.connect(3, "dev-3", Some("alice"), &t),
        AuthDecision::Accept
    );
    assert_eq!(
        h.check(3, Access::Write, "devices/dev-3/up"),
        AclDecision::Allow
    );
    assert_eq!(
        h.check(3, Access::Write, "devices/dev-1/up"),
        AclDecision::Deny
    );
    assert_eq!(h.plugin.token_cache.borrow().len(), 1);
    // An ACL with placeholders differs per client, so none is kept with the token.
    let cached = |t: &str| h.plugin.token_cache.borrow_mut().get(t, NOW).unwrap();
    assert!(cached(&t).acl.get().is_none());
    // Without placeholders the compiled ACL is kept, and the next client gets that one.
    let fleet = token(json!({"publish_acl": "fleet/up"}));
    assert_eq!(h.connect(6, "dev-6", None, &fleet), AuthDecision::Accept);
    let kept = cached(&fleet)
        .acl
        .get()
        .cloned()
        .expect("kept with the token");
    assert_eq!(h.connect(7, "dev-7", None, &fleet), AuthDecision::Accept);
    let used = h
        .plugin
        .sessions
        .borrow_mut()
        .get_mut(Client(7))
        .and_then(|s| s.acl.clone());
    assert!(std::sync::Arc::ptr_eq(&kept, &used.unwrap()));
    // Expired: the cached entry is not used.
    let short = token(json!({"exp": NOW + 5.0}));
    assert_eq!(h.connect(4, "dev-4", None, &short), AuthDecision::Accept);
    h.broker.now.set(NOW + 5.0);
    assert_eq!(h.connect(5, "dev-5", None, &short), AuthDecision::Refuse);
}

#[test]
fn a_token_differing_from_a_cached_one_anywhere_is_verified_not_served_from_the_cache() {
    let h = Harness::new(&[]);
    let t = token(json!({"publish_acl": "a"}));
    assert_eq!(h.connect(1, "c1", None, &t), AuthDecision::Accept);
    assert_eq!(h.plugin.token_cache.borrow().len(), 1);
    let (signed, signature) = t.rsplit_once('.').unwrap();
    // The same header and claims under another signature (its first character changed:
    // all six of its bits count), other claims under the genuine signature, and the
    // token with more after it: a cache keyed by less than the whole token would admit
    // each.
    let first = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{signed}.{first}{}", &signature[1..]);
    let other = token(json!({"publish_acl": "#"}));
    let (other_signed, _) = other.rsplit_once('.').unwrap();
    let moved = format!("{other_signed}.{signature}");
    let longer = format!("{t}A");
    for (i, altered) in [forged, moved, longer].iter().enumerate() {
        let client = 2 + i;
        assert_eq!(
            h.connect(client, &format!("c{client}"), None, altered),
            AuthDecision::Refuse,
            "{altered}"
        );
    }
    assert_eq!(h.plugin.token_cache.borrow().len(), 1);
}

#[test]
fn token_cache_zero_verifies_every_time() {
    let h = Harness::new(&[("token_cache", "0")]);
    let t = token(json!({}));
    assert_eq!(h.connect(1, "a", None, &t), AuthDecision::Accept);
    assert_eq!(h.plugin.token_cache.borrow().len(), 0);
}
