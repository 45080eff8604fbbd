use super::*;
use crate::config::Config;
use crate::keys::{KeySet, Purpose};
use crate::test_tokens::{SECRET, hs256, raw_token};
use base64::Engine;
use proptest::prelude::*;
use serde_json::json;

const NOW: f64 = 1_800_000_000.0;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn verifier(options: &[(&str, &str)]) -> Verifier {
    let config = Config::from_options(options.iter().copied()).unwrap();
    let keys = KeySet::load(&config, Purpose::Start).unwrap().keys;
    Verifier::new(config.algorithms, keys, ClaimRules::from_config(&config))
}

fn hs_verifier(extra: &[(&str, &str)]) -> Verifier {
    let mut options = vec![("secret_key", SECRET)];
    options.extend_from_slice(extra);
    verifier(&options)
}

fn verify(verifier: &Verifier, token: &str) -> Result<VerifiedToken, Refusal> {
    let jwt = Jwt::recognise(token.as_bytes()).expect("shaped like a JWT");
    verifier.verify(&jwt, NOW)
}

fn claim_refusal(verifier: &Verifier, claims: serde_json::Value) -> String {
    match verify(verifier, &hs256(&claims)) {
        Err(Refusal::Claim(why)) => why,
        other => panic!("expected a claim refusal, got {other:?}"),
    }
}

fn alice(extra: serde_json::Value) -> serde_json::Value {
    let mut claims = json!({"username": "alice", "exp": NOW + 60.0});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    claims
}

#[test]
fn recognises_only_jwt_shaped_passwords() {
    let good = hs256(&alice(json!({})));
    assert!(Jwt::recognise(good.as_bytes()).is_some());

    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
    let no_alg = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#);
    let array = URL_SAFE_NO_PAD.encode(r#"["alg"]"#);
    let not_shaped = [
        "hunter2".to_owned(),
        format!("{header}.e30"),
        format!("{header}.e30.sig.extra"),
        format!("{no_alg}.e30.sig"),
        format!("{array}.e30.sig"),
        format!("{header}=.e30.sig"),
        format!("{header}.e3+0.sig"),
        format!("{header}.e30.si/g"),
        ".e30.sig".to_owned(),
    ];
    for password in &not_shaped {
        assert!(Jwt::recognise(password.as_bytes()).is_none(), "{password}");
    }
    assert!(Jwt::recognise(b"\xff\xfe.\x00.\x80").is_none());
    assert!(Jwt::recognise(&[b'a'; 65_535]).is_none());
    // An empty signature is still a JWT (an unsigned one), to be refused, not passed on.
    assert!(Jwt::recognise(format!("{header}.e30.").as_bytes()).is_some());
}

#[test]
fn algorithms_outside_the_configured_list_are_refused() {
    let verifier = hs_verifier(&[]);
    let claims = alice(json!({})).to_string();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(&claims)
    );
    assert_eq!(
        verify(&verifier, &none),
        Err(Refusal::AlgorithmNotAllowed("none".into()))
    );
    let hs384 = raw_token(r#"{"alg":"HS384"}"#, &claims, SECRET.as_bytes());
    assert_eq!(
        verify(&verifier, &hs384),
        Err(Refusal::AlgorithmNotAllowed("HS384".into()))
    );
    let odd = raw_token(r#"{"alg":"HS256\n\u0000x"}"#, &claims, SECRET.as_bytes());
    assert_eq!(
        verify(&verifier, &odd),
        Err(Refusal::AlgorithmNotAllowed("HS256\\n\\u{0}x".into()))
    );
    let number = raw_token(r#"{"alg":256}"#, &claims, SECRET.as_bytes());
    assert!(matches!(
        verify(&verifier, &number),
        Err(Refusal::Header(_))
    ));
}

#[test]
fn a_public_key_used_as_hmac_secret_never_verifies() {
    // The classic confusion attack: sign HS256 with the server's public key as secret, as
    // PEM text or as the DER bytes a library holds.
    let pem = std::fs::read(fixture("keys/rsa.pub.pem")).unwrap();
    let der = ::pem::parse(&pem).unwrap().into_contents();
    let pkcs1 = ::pem::parse(std::fs::read(fixture("keys/rsa.pkcs1.pub.pem")).unwrap())
        .unwrap()
        .into_contents();
    let rs_only = verifier(&[
        ("algorithm", "RS256"),
        ("public_key_file", &fixture("keys/rsa.pub.pem")),
    ]);
    let both = verifier(&[
        ("algorithm", "RS256,HS256"),
        ("secret_key", "the-real-secret"),
        ("public_key_file", &fixture("keys/rsa.pub.pem")),
    ]);
    for secret in [&pem, &der, &pkcs1] {
        let token = raw_token(r#"{"alg":"HS256"}"#, &alice(json!({})).to_string(), secret);
        assert_eq!(
            verify(&rs_only, &token),
            Err(Refusal::AlgorithmNotAllowed("HS256".into()))
        );
        assert_eq!(verify(&both, &token), Err(Refusal::BadSignature));
    }
}

#[test]
fn critical_extensions_are_refused() {
    let token = raw_token(
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        &alice(json!({})).to_string(),
        SECRET.as_bytes(),
    );
    assert_eq!(
        verify(&hs_verifier(&[]), &token),
        Err(Refusal::CriticalExtension)
    );
}

#[test]
fn duplicate_members_are_refused() {
    let verifier = hs_verifier(&[]);
    let header = raw_token(
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"username":"a","exp":2e9}"#,
        SECRET.as_bytes(),
    );
    assert!(
        matches!(verify(&verifier, &header), Err(Refusal::Header(why)) if why.contains("duplicate"))
    );
    let claims = raw_token(
        r#"{"alg":"HS256"}"#,
        r#"{"username":"alice","username":"root","exp":2e9}"#,
        SECRET.as_bytes(),
    );
    assert!(
        matches!(verify(&verifier, &claims), Err(Refusal::Payload(why)) if why.contains("duplicate member 'username'"))
    );
}

#[test]
fn a_bad_signature_is_refused_before_claims_are_read() {
    let token = raw_token(r#"{"alg":"HS256"}"#, "not json", b"another secret");
    assert_eq!(
        verify(&hs_verifier(&[]), &token),
        Err(Refusal::BadSignature)
    );
    let unsigned = raw_token(r#"{"alg":"HS256"}"#, "not json", SECRET.as_bytes());
    assert!(matches!(
        verify(&hs_verifier(&[]), &unsigned),
        Err(Refusal::Payload(_))
    ));
}

#[test]
fn expiry_follows_exp_and_leeway() {
    let strict = hs_verifier(&[]);
    let lenient = hs_verifier(&[("leeway", "30")]);
    let at_exp = alice(json!({"exp": NOW}));
    assert_eq!(
        claim_refusal(&strict, at_exp.clone()),
        "token has expired (exp)"
    );
    assert!(verify(&lenient, &hs256(&at_exp)).is_ok());
    let past_leeway = alice(json!({"exp": NOW - 30.0}));
    assert_eq!(
        claim_refusal(&lenient, past_leeway),
        "token has expired (exp)"
    );
    let fractional = verify(&strict, &hs256(&alice(json!({"exp": NOW + 0.5})))).unwrap();
    assert_eq!(fractional.expires_at, Some(NOW + 0.5));
    let with_leeway = verify(&lenient, &hs256(&alice(json!({"exp": NOW + 1.0})))).unwrap();
    assert_eq!(with_leeway.expires_at, Some(NOW + 31.0));
}

#[test]
fn nbf_and_iat_in_the_future_are_refused() {
    let strict = hs_verifier(&[]);
    let lenient = hs_verifier(&[("leeway", "10")]);
    let nbf = alice(json!({"nbf": NOW + 5.0}));
    assert_eq!(
        claim_refusal(&strict, nbf.clone()),
        "token is not valid yet (nbf)"
    );
    assert!(verify(&lenient, &hs256(&nbf)).is_ok());
    assert!(verify(&strict, &hs256(&alice(json!({"nbf": NOW})))).is_ok());
    let iat = alice(json!({"iat": NOW + 5.5}));
    assert_eq!(
        claim_refusal(&strict, iat.clone()),
        "token is issued in the future (iat)"
    );
    assert!(verify(&lenient, &hs256(&iat)).is_ok());
}

#[test]
fn time_claims_must_be_numbers() {
    let verifier = hs_verifier(&[]);
    for (name, value) in [
        ("exp", json!("1900000000")),
        ("exp", json!(null)),
        ("nbf", json!(true)),
        ("iat", json!([1])),
    ] {
        let why = claim_refusal(&verifier, alice(json!({ name: value })));
        assert_eq!(why, format!("claim '{name}' is not a number (NumericDate)"));
    }
}

#[test]
fn required_claims_must_be_present() {
    let default = hs_verifier(&[]);
    let no_exp = json!({"username": "alice"});
    assert_eq!(
        claim_refusal(&default, no_exp.clone()),
        "required claim 'exp' is missing"
    );
    let none_required = hs_verifier(&[("required_claims", "none")]);
    assert_eq!(
        verify(&none_required, &hs256(&no_exp)).unwrap().expires_at,
        None
    );
    let more = hs_verifier(&[("required_claims", "exp,jti")]);
    assert_eq!(
        claim_refusal(&more, alice(json!({}))),
        "required claim 'jti' is missing"
    );
    assert_eq!(
        claim_refusal(&more, alice(json!({"jti": null}))),
        "required claim 'jti' is missing"
    );
    assert!(verify(&more, &hs256(&alice(json!({"jti": "x"})))).is_ok());
}

#[test]
fn audience_rules() {
    let none = hs_verifier(&[]);
    let mqtt = hs_verifier(&[("audience", "mqtt")]);
    assert!(
        claim_refusal(&none, alice(json!({"aud": "mqtt"})))
            .contains("plugin_opt_audience is not set")
    );
    assert_eq!(
        claim_refusal(&mqtt, alice(json!({}))),
        "token has no audience (aud)"
    );
    assert_eq!(
        claim_refusal(&mqtt, alice(json!({"aud": "web"}))),
        "audience (aud) does not match"
    );
    assert_eq!(
        claim_refusal(&mqtt, alice(json!({"aud": ["web", 1]}))),
        "audience (aud) does not match"
    );
    assert_eq!(
        claim_refusal(&mqtt, alice(json!({"aud": {"mqtt": 1}}))),
        "audience (aud) does not match"
    );
    assert!(verify(&mqtt, &hs256(&alice(json!({"aud": "mqtt"})))).is_ok());
    assert!(verify(&mqtt, &hs256(&alice(json!({"aud": ["web", "mqtt"]})))).is_ok());
}

#[test]
fn issuer_rules() {
    let issuer = hs_verifier(&[("issuer", "https://id.example")]);
    assert_eq!(
        claim_refusal(&issuer, alice(json!({}))),
        "token has no issuer (iss)"
    );
    assert_eq!(
        claim_refusal(&issuer, alice(json!({"iss": "https://evil.example"}))),
        "issuer (iss) does not match"
    );
    assert!(
        verify(
            &issuer,
            &hs256(&alice(json!({"iss": "https://id.example"})))
        )
        .is_ok()
    );
    assert!(verify(&hs_verifier(&[]), &hs256(&alice(json!({"iss": "anyone"})))).is_ok());
}

#[test]
fn user_claim_rules() {
    let verifier = hs_verifier(&[]);
    assert_eq!(
        claim_refusal(&verifier, json!({"exp": NOW + 9.0})),
        "user claim 'username' is missing"
    );
    assert_eq!(
        claim_refusal(&verifier, json!({"exp": NOW + 9.0, "username": ""})),
        "user claim 'username' is empty"
    );
    assert_eq!(
        claim_refusal(&verifier, json!({"exp": NOW + 9.0, "username": 7})),
        "user claim 'username' is not a string"
    );
    let by_sub = hs_verifier(&[("user_claim", "sub")]);
    assert_eq!(
        verify(&by_sub, &hs256(&json!({"exp": NOW + 9.0, "sub": "dev-1"})))
            .unwrap()
            .user,
        "dev-1"
    );
}

#[test]
fn acl_claims_are_lists_or_single_strings() {
    let verifier = hs_verifier(&[]);
    let token = verify(
        &verifier,
        &hs256(&alice(
            json!({"publish_acl": "a/b", "receive_acl": ["x", "y/#"]}),
        )),
    )
    .unwrap();
    assert_eq!(token.acl.publish, Some(vec!["a/b".to_owned()]));
    assert_eq!(token.acl.subscribe, None);
    assert_eq!(
        token.acl.receive,
        Some(vec!["x".to_owned(), "y/#".to_owned()])
    );
    assert!(!token.acl.is_absent());
    assert!(
        verify(&verifier, &hs256(&alice(json!({}))))
            .unwrap()
            .acl
            .is_absent()
    );
    for bad in [
        json!(1),
        json!(null),
        json!(["a", 2]),
        json!({"a": "b"}),
        json!([["a"]]),
    ] {
        let why = claim_refusal(&verifier, alice(json!({"subscribe_acl": bad})));
        assert_eq!(
            why,
            "claim 'subscribe_acl' must be a string or a list of strings"
        );
    }
}

#[test]
fn refusal_text_never_contains_the_token() {
    let verifier = hs_verifier(&[]);
    let token = raw_token(
        r#"{"alg":"HS256"}"#,
        &alice(json!({"exp": 1})).to_string(),
        b"wrong",
    );
    let why = verify(&verifier, &token).unwrap_err().to_string();
    for part in token.split('.') {
        assert!(!why.contains(part), "{why}");
    }
}

#[test]
fn sanitize_escapes_and_bounds() {
    assert_eq!(sanitize("a\nb\u{7}"), "a\\nb\\u{7}");
    assert_eq!(sanitize(&"x".repeat(100)).chars().count(), 65);
}

#[test]
fn sanitize_keeps_printable_ascii_up_to_the_limit() {
    assert_eq!(sanitize(""), "");
    assert_eq!(sanitize("sensor-12 ~"), "sensor-12 ~");
    assert_eq!(sanitize(&"x".repeat(64)), "x".repeat(64));
    assert_eq!(sanitize(&"x".repeat(65)), format!("{}…", "x".repeat(64)));
    assert_eq!(sanitize("a\x7fb\tc"), "a\\u{7f}b\\tc");
    assert_eq!(sanitize("é\u{85}"), "é\\u{85}");
    assert_eq!(sanitize(&"é".repeat(64)), "é".repeat(64));
    assert_eq!(sanitize_to("abcd", 3), "abc…");
}

fn segment() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| URL_SAFE_NO_PAD.encode(b))
}

fn header() -> impl Strategy<Value = String> {
    let alg = prop_oneof![
        Just(json!("HS256")),
        Just(json!("none")),
        Just(json!("RS256")),
        Just(json!(null)),
        Just(json!(["HS256"])),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    (alg, any::<bool>()).prop_map(|(alg, crit)| {
        let mut header = json!({ "alg": alg });
        if crit {
            header["crit"] = json!(["b64"]);
        }
        URL_SAFE_NO_PAD.encode(header.to_string())
    })
}

/// Three base64url segments, as `recognise` first read them: split at the last dot, then
/// at the first.
fn split_as_before(password: &[u8]) -> Option<(usize, usize)> {
    let text = std::str::from_utf8(password).ok()?;
    let (signing_input, signature) = text.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    let base64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    [header, payload, signature]
        .into_iter()
        .all(base64url)
        .then_some((header.len(), signing_input.len()))
}

proptest! {
    #[test]
    fn segments_are_found_as_before(
        password in proptest::collection::vec(
            prop_oneof![
                8 => prop::sample::select(b"aZ9-_.".to_vec()),
                1 => prop::sample::select(b"+/= \n\0\xc3\xa9\xff".to_vec()),
            ],
            0..12,
        ),
    ) {
        prop_assert_eq!(segment_dots(&password), split_as_before(&password));
    }

    #[test]
    fn arbitrary_bytes_never_panic(password in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Some(jwt) = Jwt::recognise(&password) {
            let _ = hs_verifier(&[]).verify(&jwt, NOW);
        }
    }

    #[test]
    fn forged_tokens_are_refused(header in header(), claims in segment(), signature in segment()) {
        let token = format!("{header}.{claims}.{signature}");
        let jwt = Jwt::recognise(token.as_bytes());
        prop_assert!(jwt.is_some(), "a JSON object with alg is JWT-shaped");
        prop_assert!(hs_verifier(&[]).verify(&jwt.unwrap(), NOW).is_err());
    }
}
