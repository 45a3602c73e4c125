//! Properties of the pure core (`access`, `refresh`, `session`): no store,
//! no clock, every input generated. Case counts come from `PROPTEST_CASES`.

use proptest::prelude::*;
use serde_json::{Map, Value};
use tokenlife::access::{self, AccessClaims};
use tokenlife::refresh::RefreshToken;
use tokenlife::session::{self, RefreshDecision};
use tokenlife::{Error, Keyring, Policy, RevokeReason, Session, SessionId, UnixMillis};

const MAX: usize = 8 * 1024;
const REGISTERED: [&str; 8] = ["sub", "sid", "iat", "exp", "jti", "iss", "aud", "nbf"];

fn kid() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,64}"
}

fn keyring() -> impl Strategy<Value = Keyring> {
    (kid(), proptest::collection::vec(any::<u8>(), 32..80))
        .prop_map(|(kid, secret)| Keyring::new(&kid, &secret).unwrap())
}

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    let value = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        proptest::collection::vec(any::<u32>(), 0..4).prop_map(Value::from),
    ];
    proptest::collection::btree_map(any::<String>(), value, 0..5).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| !REGISTERED.contains(&k.as_str()))
            .collect()
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        1u64..10_000_000,
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(ttl, iss, aud)| {
            let mut p = Policy::default().with_access_ttl(std::time::Duration::from_millis(ttl));
            if let Some(iss) = iss {
                p = p.with_issuer(iss);
            }
            if let Some(aud) = aud {
                p = p.with_audience(aud);
            }
            p
        })
}

/// A single-bit change of one character that keeps the token ASCII.
fn flip(token: &str, pos: usize, bit: u8) -> String {
    let mut b = token.as_bytes().to_vec();
    let i = pos % b.len();
    b[i] ^= 1 << (bit % 7);
    String::from_utf8(b).unwrap()
}

proptest! {
    /// encode → verify gives back exactly what was signed, for any keys,
    /// subject, claims, issuer and audience, until `exp` and not at it.
    #[test]
    fn access_token_round_trips(
        keys in keyring(),
        policy in policy(),
        subject in any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        sid in any::<[u8; 16]>(),
        jti in any::<[u8; 16]>(),
        extra in claims(),
        now in 0u64..(1 << 42),
    ) {
        let sid = SessionId::from_bytes(sid);
        let json = (!extra.is_empty()).then(|| Value::Object(extra.clone()).to_string());
        let now = UnixMillis(now);
        let record = session_of(&keys, &policy, &subject, sid, json, now);
        let signed = access::sign(&keys, &policy, &record, jti, now);
        let exp = signed.expires_at;
        prop_assert_eq!(exp.as_millis() % 1000, 0);
        prop_assert!(exp <= now.saturating_add(policy.access_ttl()), "outlives access_ttl");
        let at = if exp > now { now } else { exp.saturating_sub(std::time::Duration::from_millis(1)) };
        if exp.as_millis() > 0 {
            let got: AccessClaims<Map<String, Value>> =
                access::verify(&signed.token, &keys, &policy, at).unwrap();
            prop_assert_eq!(&got.sub, &subject);
            prop_assert_eq!(got.sid, sid);
            prop_assert_eq!(got.exp, exp);
            prop_assert_eq!(got.iat, UnixMillis::from_secs(now.as_secs()));
            prop_assert_eq!(got.iss.as_deref(), policy.issuer());
            prop_assert_eq!(got.aud, policy.audience().map(String::from).into_iter().collect::<Vec<_>>());
            prop_assert_eq!(got.extra, extra);
            // The last valid millisecond, then the first invalid one (I4).
            let last = UnixMillis(exp.as_millis() - 1);
            prop_assert!(access::verify::<()>(&signed.token, &keys, &policy, last).is_ok());
        }
        let r = access::verify::<()>(&signed.token, &keys, &policy, exp);
        prop_assert!(matches!(r, Err(Error::Expired { at, now: n }) if at == exp && n == exp), "{r:?}");
    }

    /// Any single-bit change anywhere in an access token is rejected, with a
    /// token error (never a claims-level success).
    #[test]
    fn access_token_bit_flips_are_rejected(
        keys in keyring(),
        subject in "[a-z]{1,12}",
        sid in any::<[u8; 16]>(),
        jti in any::<[u8; 16]>(),
        extra in claims(),
        pos in any::<usize>(),
        bit in any::<u8>(),
    ) {
        let policy = Policy::default();
        let now = UnixMillis::from_secs(1_764_000_000);
        let json = (!extra.is_empty()).then(|| Value::Object(extra).to_string());
        let record = session_of(&keys, &policy, &subject, SessionId::from_bytes(sid), json, now);
        let signed = access::sign(&keys, &policy, &record, jti, now);
        let bad = flip(&signed.token, pos, bit);
        let r = access::verify::<Map<String, Value>>(&bad, &keys, &policy, now);
        prop_assert!(
            matches!(r, Err(Error::BadSignature | Error::Malformed(_) | Error::UnknownKey
                | Error::UnsupportedAlgorithm | Error::WrongTokenType)),
            "{r:?}"
        );
    }

    /// Any single-bit change of a refresh token — of its text, or of its
    /// decoded payload re-encoded canonically — is rejected by `parse`.
    #[test]
    fn refresh_token_bit_flips_are_rejected(
        keys in keyring(),
        sid in any::<[u8; 16]>(),
        secret in any::<[u8; 32]>(),
        pos in any::<usize>(),
        bit in any::<u8>(),
    ) {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        let (_, token) = start(&keys, &Policy::default(), sid, secret, 0);
        prop_assert!(RefreshToken::parse(&token, &keys, MAX).is_ok());
        let bad = flip(&token, pos, bit);
        let r = RefreshToken::parse(&bad, &keys, MAX);
        prop_assert!(matches!(r, Err(Error::BadSignature | Error::Malformed(_) | Error::UnknownKey | Error::WrongTokenType)), "{r:?}");

        let (payload, tag) = token["tlr1.".len()..].split_once('.').unwrap();
        let mut bytes = B64.decode(payload).unwrap();
        let i = pos % bytes.len();
        bytes[i] ^= 1 << (bit % 8);
        let edited = format!("tlr1.{}.{tag}", B64.encode(&bytes));
        let r = RefreshToken::parse(&edited, &keys, MAX);
        let want_kid_error = i >= 56;
        prop_assert!(
            matches!(r, Err(Error::BadSignature))
                || (want_kid_error && matches!(r, Err(Error::UnknownKey | Error::Malformed(tokenlife::Malformed::KeyId)))),
            "byte {i}: {r:?}"
        );
    }

    /// A rotation of generation g yields exactly g + 1: the next record
    /// differs only where a rotation must change it, the successor token
    /// parses as generation g + 1 of the same session, and it is the only
    /// token the next rotation accepts.
    #[test]
    fn rotation_yields_the_next_generation_and_nothing_else(
        keys in keyring(),
        sid in any::<[u8; 16]>(),
        secret in any::<[u8; 32]>(),
        steps in proptest::collection::vec(0u64..30_000, 1..12),
        grace in prop_oneof![Just(0u64), Just(10_000)],
    ) {
        let policy = Policy::default().with_reuse_grace(std::time::Duration::from_millis(grace));
        let mut now = 1_764_000_000_000;
        let (mut record, mut token) = start(&keys, &policy, sid, secret, now);
        let mut tokens = vec![token.clone()];
        for dt in steps {
            now += dt;
            let parsed = RefreshToken::parse(&token, &keys, MAX).unwrap();
            let g = record.generation;
            prop_assert_eq!(parsed.generation(), g);
            match session::decide_refresh(record.clone(), &parsed, &keys, &policy, UnixMillis(now), None).unwrap() {
                RefreshDecision::Rotate { next, refresh_token } => {
                    let succ = RefreshToken::parse(&refresh_token, &keys, MAX).unwrap();
                    prop_assert_eq!(succ.generation(), g + 1);
                    prop_assert_eq!(succ.session_id(), &record.id);
                    prop_assert_eq!(next.generation, g + 1);
                    prop_assert_eq!(next.version, record.version + 1);
                    prop_assert_eq!(next.previous_hash, Some(record.current_hash));
                    prop_assert_eq!(next.current_hash, succ.secret_hash());
                    prop_assert_eq!(next.rotated_at, UnixMillis(now));
                    prop_assert_eq!(next.idle_expires_at, UnixMillis(now).saturating_add(policy.refresh_ttl()));
                    let mut same = next.clone();
                    same.version = record.version;
                    same.generation = record.generation;
                    same.previous_hash = record.previous_hash;
                    same.current_hash = record.current_hash;
                    same.rotated_at = record.rotated_at;
                    same.idle_expires_at = record.idle_expires_at;
                    same.key_id = record.key_id.clone();
                    prop_assert_eq!(&same, &record, "a rotation changed something else");
                    // Re-deciding with the old record gives the same successor
                    // (it is derived, not drawn).
                    match session::decide_refresh(record.clone(), &parsed, &keys, &policy, UnixMillis(now), None).unwrap() {
                        RefreshDecision::Rotate { refresh_token: again, .. } => prop_assert_eq!(&again, &refresh_token),
                        other => prop_assert!(false, "{other:?}"),
                    }
                    record = next;
                    token = refresh_token;
                    tokens.push(token.clone());
                }
                other => prop_assert!(false, "current token did not rotate: {other:?}"),
            }
        }
        // Every older token: the predecessor gets the same successor inside
        // the window, anything else revokes.
        let g = record.generation as usize;
        for (old_g, old) in tokens.iter().enumerate().take(g) {
            let parsed = RefreshToken::parse(old, &keys, MAX).unwrap();
            let d = session::decide_refresh(record.clone(), &parsed, &keys, &policy, UnixMillis(now), None).unwrap();
            let in_grace = now < record.rotated_at.as_millis() + grace;
            match d {
                RefreshDecision::Grace { refresh_token, changed: false, .. } => {
                    prop_assert!(old_g + 1 == g && in_grace);
                    prop_assert_eq!(&refresh_token, &tokens[g]);
                }
                RefreshDecision::Revoke { next } => {
                    prop_assert!(old_g + 1 < g || !in_grace);
                    prop_assert_eq!(next.revoked.map(|r| r.reason), Some(RevokeReason::Reuse));
                }
                other => prop_assert!(false, "generation {old_g} of {g}: {other:?}"),
            }
        }
    }

    /// Once revoked, a session stays revoked — with the same time and
    /// reason — whatever is done to it later, and refuses every token.
    #[test]
    fn a_session_never_leaves_the_revoked_state(
        keys in keyring(),
        sid in any::<[u8; 16]>(),
        secret in any::<[u8; 32]>(),
        ops in proptest::collection::vec((0u8..4, any::<u8>(), 0u64..20_000), 1..30),
    ) {
        let policy = Policy::default().with_reuse_grace(std::time::Duration::from_secs(5));
        let mut now = 1_764_000_000_000;
        let (mut record, token) = start(&keys, &policy, sid, secret, now);
        let mut tokens = vec![token];
        let mut revoked_as = None;
        for (kind, pick, dt) in ops {
            now += dt;
            let t = &tokens[usize::from(pick) % tokens.len()];
            let parsed = RefreshToken::parse(t, &keys, MAX).unwrap();
            let at = UnixMillis(now);
            let next = match kind {
                0 | 1 => match session::decide_refresh(record.clone(), &parsed, &keys, &policy, at, None) {
                    Ok(RefreshDecision::Rotate { next, refresh_token }) => {
                        tokens.push(refresh_token);
                        Some(next)
                    }
                    Ok(RefreshDecision::Revoke { next }) => Some(next),
                    Ok(RefreshDecision::Grace { session, changed, .. }) => changed.then_some(session),
                    Err(e) => {
                        if revoked_as.is_some() {
                            prop_assert!(matches!(e, Error::SessionRevoked { .. }), "{e:?}");
                        }
                        None
                    }
                },
                2 => session::decide_logout(&record, &parsed, at).unwrap(),
                _ => session::revoke(&record, at, RevokeReason::LogoutAll),
            };
            if let Some(next) = next {
                prop_assert!(revoked_as.is_none(), "a revoked session was written: {next:?}");
                prop_assert_eq!(next.version, record.version + 1);
                record = next;
            }
            if let Some(r) = record.revoked {
                prop_assert!(revoked_as.is_none_or(|was| was == r));
                revoked_as = Some(r);
                prop_assert!(!record.is_active(at));
                let e = session::check_active(&record, at).unwrap_err();
                let same = matches!(e, Error::SessionRevoked { at, reason } if at == r.at && reason == r.reason);
                prop_assert!(same, "{:?}", e);
            }
        }
    }

    /// A tag made with our keys over an impossible generation or a wrong
    /// secret (only a key holder can make one) changes nothing.
    #[test]
    fn authentic_tag_over_a_wrong_secret_changes_nothing(
        sid in any::<[u8; 16]>(),
        secret in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        g in any::<u64>(),
    ) {
        let keys = Keyring::new("k1", &[3; 32]).unwrap();
        let policy = Policy::default();
        let now = 1_764_000_000_000;
        let (record, _) = start(&keys, &policy, sid, secret, now);
        prop_assume!(other != secret);
        let mut payload = sid.to_vec();
        payload.extend_from_slice(&g.to_be_bytes());
        payload.extend_from_slice(&other);
        payload.extend_from_slice(b"k1");
        let forged = tokenlife_model::tagged_refresh(&[3; 32], &payload);
        let parsed = RefreshToken::parse(&forged, &keys, MAX).unwrap();
        let r = session::decide_refresh(record.clone(), &parsed, &keys, &policy, UnixMillis(now), None);
        prop_assert!(matches!(r, Err(Error::BadSignature)), "{r:?}");
        let r = session::decide_logout(&record, &parsed, UnixMillis(now));
        // An authentic older generation may log out (it was once issued);
        // generation 0 is the current one here, so a wrong secret is refused.
        prop_assert!(matches!(r, Err(Error::BadSignature)), "{r:?}");
    }
}

fn start(
    keys: &Keyring,
    policy: &Policy,
    sid: [u8; 16],
    secret: [u8; 32],
    now: u64,
) -> (Session, String) {
    let login = session::Login {
        id: SessionId::from_bytes(sid),
        subject: "alice".into(),
        claims: None,
        metadata: Vec::new(),
        secret: secret.into(),
    };
    session::start(keys, policy, login, UnixMillis(now))
}

/// A session record of `subject` carrying `claims`, to sign access tokens from.
fn session_of(
    keys: &Keyring,
    policy: &Policy,
    subject: &str,
    id: SessionId,
    claims: Option<String>,
    now: UnixMillis,
) -> Session {
    let login = session::Login {
        id,
        subject: subject.into(),
        claims,
        metadata: Vec::new(),
        secret: [0; 32].into(),
    };
    session::start(keys, policy, login, now).0
}
