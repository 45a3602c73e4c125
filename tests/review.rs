//! Regression tests for the findings of the outside security review that
//! the core answers (issue 12): claims nested deeper than `verify` reads,
//! unbounded session metadata, and the last generation of a session.

use std::time::Duration;

use pollster::block_on;
use serde_json::{Map, Value, json};
use tokenlife::refresh::RefreshToken;
use tokenlife::{
    AccessClaims, Authority, Error, Keyring, ManualClock, MemoryStore, Policy, SessionStore,
    UnixMillis,
};

const T0: UnixMillis = UnixMillis(1_764_000_000_000);
const SECRET: &[u8] = b"review secret: thirty-two bytes or more";

type Auth = Authority<MemoryStore, ManualClock, tokenlife::OsRandom>;

fn authority(policy: Policy) -> Auth {
    Authority::new(
        Keyring::new("k1", SECRET).unwrap(),
        policy,
        MemoryStore::new(),
    )
    .with_clock(ManualClock::new(T0))
}

/// Application claims whose object is nested `depth` levels deep (the
/// object itself is level 1).
fn nested(depth: usize) -> Value {
    let mut v = json!(1);
    for _ in 1..depth {
        v = Value::Array(vec![v]);
    }
    json!({ "n": v })
}

#[test]
fn login_refuses_claims_nested_deeper_than_verify_reads() {
    let auth = authority(Policy::default().with_max_claims_bytes(64 * 1024));
    // The deepest claims login accepts verify back in full…
    let pair = block_on(auth.login("alice", &nested(127))).unwrap();
    let claims: AccessClaims<Map<String, Value>> = auth.verify(&pair.access_token).unwrap();
    assert_eq!(Value::Object(claims.extra), nested(127));
    // …and one level more is refused at login, where it used to issue
    // tokens that failed every `verify` with `Malformed(Claims)`.
    let r = block_on(auth.login("alice", &nested(128)));
    assert!(matches!(r, Err(Error::InvalidClaims(_))), "{r:?}");
    assert_eq!(block_on(auth.sessions("alice")).unwrap().len(), 1);
    // The same holds for claims changed at a refresh.
    let r = block_on(auth.refresh_with_claims(&pair.refresh_token, &nested(128)));
    assert!(matches!(r, Err(Error::InvalidClaims(_))), "{r:?}");
    block_on(auth.refresh(&pair.refresh_token)).expect("the token was not spent by the refusal");
}

#[test]
fn login_refuses_metadata_past_the_policy_limit() {
    let auth = authority(Policy::default());
    assert_eq!(auth.policy().max_metadata_bytes(), 4096);
    let at_limit = vec![("user-agent".to_string(), "x".repeat(4096 - 10))];
    block_on(auth.login_with("alice", &(), at_limit)).unwrap();
    let over = vec![("user-agent".to_string(), "x".repeat(8 << 20))];
    let r = block_on(auth.login_with("alice", &(), over));
    assert!(
        matches!(r, Err(Error::MetadataTooLarge { len, max: 4096 }) if len == 10 + (8 << 20)),
        "{r:?}"
    );
    let one_over = vec![("user-agent".to_string(), "x".repeat(4096 - 9))];
    let r = block_on(auth.login_with("alice", &(), one_over));
    assert!(matches!(r, Err(Error::MetadataTooLarge { .. })), "{r:?}");
    // Nothing was stored for the refused logins.
    assert_eq!(block_on(auth.sessions("alice")).unwrap().len(), 1);
    let custom = authority(Policy::default().with_max_metadata_bytes(16));
    let r = block_on(custom.login_with("bob", &(), vec![("ip".into(), "x".repeat(15))]));
    assert!(
        matches!(r, Err(Error::MetadataTooLarge { len: 17, max: 16 })),
        "{r:?}"
    );
}

#[test]
fn a_session_at_the_last_generation_refuses_to_rotate_and_is_left_as_it_was() {
    let auth = authority(Policy::default().with_reuse_grace(Duration::ZERO));
    let pair = block_on(auth.login("alice", &())).unwrap();
    // Seed the store with the session at generation u64::MAX, and make the
    // token of that generation, as only a holder of the keys can.
    let token = RefreshToken::parse(&pair.refresh_token, auth.keyring(), 1024).unwrap();
    let mut record = block_on(auth.store().get(token.session_id()))
        .unwrap()
        .unwrap();
    let secret = refresh_secret(&pair.refresh_token);
    let last = tokenlife_model::tagged_refresh(SECRET, &payload(&record.id, u64::MAX, &secret));
    let version = record.version;
    record.generation = u64::MAX;
    record.version += 1;
    block_on(auth.store().compare_and_swap(version, record.clone())).unwrap();

    let r = block_on(auth.refresh(&last));
    assert!(matches!(r, Err(Error::GenerationExhausted)), "{r:?}");
    // Refused without a change: no rotation, no revocation.
    let after = block_on(auth.store().get(&record.id)).unwrap().unwrap();
    assert_eq!(after, record);
    // It still logs out.
    block_on(auth.logout(&last)).unwrap();
}

fn payload(sid: &tokenlife::SessionId, g: u64, secret: &[u8]) -> Vec<u8> {
    let mut p = sid.as_bytes().to_vec();
    p.extend_from_slice(&g.to_be_bytes());
    p.extend_from_slice(secret);
    p.extend_from_slice(b"k1");
    p
}

/// The 32-byte secret inside a refresh token (payload bytes 24..56).
fn refresh_secret(token: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = token
        .strip_prefix("tlr1.")
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .unwrap();
    bytes[24..56].to_vec()
}
