//! EdDSA and ES256 access tokens: issued by an `Authority`, verified by it
//! and by a `Verifier` that holds only the published JWKS; the key
//! lifecycle (next → current → retired → removed) as both see it.
#![cfg(all(feature = "eddsa", feature = "es256"))]

mod support;

use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{START, block_on, ms, secs};
use tokenlife::{
    Algorithm, Error, KeyMaterial, KeyState, Keyring, MemoryStore, Policy, UnixMillis, Verifier,
};

const MASTER: &[u8] = b"asymmetric master secret, 32 bytes+";
const NEXT_MASTER: &[u8] = b"the next master secret, 32 bytes or more";

#[derive(Debug, Deserialize, PartialEq)]
struct Role {
    role: String,
}

fn policy() -> Policy {
    Policy::default()
        .with_issuer("https://auth.example")
        .with_audience("api")
}

fn keyring(alg: Algorithm) -> Keyring {
    Keyring::with_algorithm(alg, "k1", MASTER).unwrap()
}

fn both() -> [Algorithm; 2] {
    [Algorithm::EdDSA, Algorithm::ES256]
}

#[test]
fn asymmetric_tokens_verify_with_the_authority_and_with_the_published_jwks() {
    for alg in both() {
        let (auth, clock) = support::authority_with(keyring(alg), policy(), MemoryStore::new(), 3);
        let pair = block_on(auth.login("alice", &json!({"role": "editor"}))).unwrap();
        assert_eq!(
            header_of(&pair.access_token),
            json!({"alg": alg.name(), "typ": "at+jwt", "kid": "k1"})
        );

        let by_authority = auth.verify::<Role>(&pair.access_token).unwrap();
        let jwks = auth.keyring().jwks(clock.now_millis()).to_json();
        let verifier = Verifier::from_jwks(&jwks, policy()).unwrap();
        let by_verifier = verifier
            .verify::<Role>(&pair.access_token, clock.now_millis())
            .unwrap();
        assert_eq!(by_authority, by_verifier);
        assert_eq!(by_verifier.extra.role, "editor");
        assert_eq!(by_verifier.sid, pair.session_id);
    }
}

#[test]
fn the_verifier_refuses_what_the_authority_refuses_with_the_same_error() {
    for alg in both() {
        let (auth, clock) = support::authority_with(keyring(alg), policy(), MemoryStore::new(), 4);
        let pair = block_on(auth.login("alice", &())).unwrap();
        let jwks = auth.keyring().jwks(START).to_json();
        let strict = Verifier::from_jwks(&jwks, policy()).unwrap();
        let other_aud = Verifier::from_jwks(&jwks, policy().with_audience("other")).unwrap();
        let other_iss = Verifier::from_jwks(&jwks, policy().with_issuer("other")).unwrap();
        let tiny = Verifier::from_jwks(&jwks, policy().with_max_token_bytes(10)).unwrap();
        let leeway = Verifier::from_jwks(&jwks, policy().with_leeway(secs(5))).unwrap();
        let t = &pair.access_token;
        let exp = START.saturating_add(policy().access_ttl());

        assert!(strict.verify::<()>(t, exp.saturating_sub(ms(1))).is_ok());
        assert!(matches!(strict.verify::<()>(t, exp), Err(Error::Expired { at, .. }) if at == exp));
        clock.set(exp);
        assert!(matches!(auth.verify::<()>(t), Err(Error::Expired { .. })));
        assert!(
            leeway
                .verify::<()>(t, exp.saturating_add(ms(4_999)))
                .is_ok()
        );
        assert!(leeway.verify::<()>(t, exp.saturating_add(secs(5))).is_err());
        assert!(matches!(
            other_aud.verify::<()>(t, START),
            Err(Error::WrongAudience)
        ));
        assert!(matches!(
            other_iss.verify::<()>(t, START),
            Err(Error::WrongIssuer)
        ));
        assert!(matches!(
            tiny.verify::<()>(t, START),
            Err(Error::TooLarge { max: 10, .. })
        ));
        assert!(matches!(
            strict.verify::<()>(&pair.refresh_token, START),
            Err(Error::WrongTokenType)
        ));
        let mut bad = t.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'Q' } else { 'A' });
        assert!(matches!(
            strict.verify::<()>(&bad, START),
            Err(Error::BadSignature)
        ));
    }
}

#[test]
fn hs256_keys_are_never_published_and_have_no_public_half() {
    let mut keys = Keyring::new("h1", MASTER).unwrap();
    assert!(keys.jwks(START).keys.is_empty());
    keys.add_next(KeyMaterial::derive(Algorithm::EdDSA, "e1", NEXT_MASTER).unwrap())
        .unwrap();
    let jwks = keys.jwks(START);
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].kid, "e1");
    assert!(keys.access_token_secret("h1").is_some());
    assert!(keys.access_token_secret("e1").is_none());
}

#[test]
fn the_jwks_holds_public_members_only() {
    let mut keys = keyring(Algorithm::EdDSA);
    keys.add_next(KeyMaterial::derive(Algorithm::ES256, "k2", NEXT_MASTER).unwrap())
        .unwrap();
    let doc: Value = serde_json::from_str(&keys.jwks(START).to_json()).unwrap();
    assert_eq!(doc.as_object().unwrap().len(), 1);
    let list = doc["keys"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let members = |k: &Value| {
        let mut m: Vec<String> = k.as_object().unwrap().keys().cloned().collect();
        m.sort();
        m
    };
    assert_eq!(members(&list[0]), ["alg", "crv", "kid", "kty", "use", "x"]);
    assert_eq!(
        members(&list[1]),
        ["alg", "crv", "kid", "kty", "use", "x", "y"]
    );
    assert_eq!(
        (
            &list[0]["kty"],
            &list[0]["crv"],
            &list[0]["alg"],
            &list[0]["use"]
        ),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("EdDSA"),
            &json!("sig")
        )
    );
    assert_eq!(
        (
            &list[1]["kty"],
            &list[1]["crv"],
            &list[1]["alg"],
            &list[1]["use"]
        ),
        (
            &json!("EC"),
            &json!("P-256"),
            &json!("ES256"),
            &json!("sig")
        )
    );
    for k in list {
        for coordinate in ["x", "y"] {
            if let Some(c) = k.get(coordinate) {
                assert_eq!(base64_url(c.as_str().unwrap()).len(), 32);
            }
        }
    }
}

#[test]
fn the_ed25519_key_is_the_documented_derivation_of_the_master_secret() {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(MASTER).unwrap();
    mac.update(b"tokenlife/v1 eddsa-access-key");
    let seed: [u8; 32] = mac.finalize().into_bytes().into();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let jwk = keyring(Algorithm::EdDSA).jwks(START).keys.remove(0);
    assert_eq!(base64_url(&jwk.x), public.as_bytes());
    // And supplying the same private key makes the same entry.
    let supplied = Keyring::from_key(KeyMaterial::with_ed25519_key("k1", MASTER, &seed).unwrap());
    assert_eq!(supplied.jwks(START), keyring(Algorithm::EdDSA).jwks(START));
}

#[test]
fn a_supplied_p256_key_is_published_as_its_public_point() {
    let scalar = [0x11; 32];
    let keys = Keyring::from_key(KeyMaterial::with_p256_key("p1", MASTER, &scalar).unwrap());
    let sk = p256::ecdsa::SigningKey::from_slice(&scalar).unwrap();
    let point = sk.verifying_key().to_encoded_point(false);
    let jwk = keys.jwks(START).keys.remove(0);
    assert_eq!(base64_url(&jwk.x), &point.x().unwrap()[..]);
    assert_eq!(
        base64_url(jwk.y.as_deref().unwrap()),
        &point.y().unwrap()[..]
    );
    assert!(matches!(
        KeyMaterial::with_p256_key("p1", MASTER, &[0; 32]),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        KeyMaterial::with_p256_key("p1", MASTER, &[0xff; 32]),
        Err(Error::InvalidKey(_))
    ));
}

#[test]
fn refresh_tokens_do_not_depend_on_the_access_algorithm() {
    // Same master secret, same seed: the refresh tokens are byte for byte
    // those of an HS256 keyring, so an upgrade keeps every session.
    let mut refresh = Vec::new();
    for alg in [Algorithm::HS256, Algorithm::EdDSA, Algorithm::ES256] {
        let (auth, _clock) = support::authority_with(keyring(alg), policy(), MemoryStore::new(), 9);
        let pair = block_on(auth.login("alice", &())).unwrap();
        let next = block_on(auth.refresh(&pair.refresh_token)).unwrap();
        refresh.push((pair.refresh_token, next.refresh_token));
    }
    assert_eq!(refresh[0], refresh[1]);
    assert_eq!(refresh[0], refresh[2]);
}

#[test]
fn an_hs256_refresh_token_still_works_after_switching_to_eddsa() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let (old, _) = support::authority_with(keyring(Algorithm::HS256), policy(), store.clone(), 5);
    let pair = block_on(old.login("alice", &())).unwrap();
    // The upgrade: the same kid and master, now EdDSA.
    let (new, _) = support::authority_with(keyring(Algorithm::EdDSA), policy(), store, 6);
    let next = block_on(new.refresh(&pair.refresh_token)).unwrap();
    assert_eq!(header_of(&next.access_token)["alg"], "EdDSA");
    assert!(new.verify::<()>(&next.access_token).is_ok());
}

#[test]
fn a_next_key_is_published_and_verifies_before_it_signs() {
    let policy = policy();
    let mut keys = keyring(Algorithm::EdDSA);
    keys.add_next(KeyMaterial::derive(Algorithm::EdDSA, "k2", NEXT_MASTER).unwrap())
        .unwrap();
    assert_eq!(keys.state("k2"), Some(KeyState::Next));
    assert_eq!(keys.signing_key_id().as_str(), "k1");
    let kids: Vec<String> = keys.jwks(START).keys.into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, ["k1", "k2"]);

    // Another instance promoted k2 first: this one, with k2 still next,
    // accepts its tokens.
    let mut promoted = keys.clone();
    promoted.promote("k2", START, &policy).unwrap();
    let (ahead, _) = support::authority_with(promoted, policy.clone(), MemoryStore::new(), 1);
    let (behind, _) = support::authority_with(keys, policy, MemoryStore::new(), 2);
    let pair = block_on(ahead.login("alice", &())).unwrap();
    assert_eq!(header_of(&pair.access_token)["kid"], "k2");
    assert!(behind.verify::<()>(&pair.access_token).is_ok());
}

#[test]
fn a_retired_key_verifies_until_its_last_token_expires_then_is_unpublished() {
    let policy = policy().with_leeway(secs(2));
    let mut keys = keyring(Algorithm::ES256);
    let retired_at = START.saturating_add(secs(10));
    // A token k1 signed just before it was retired.
    let (auth, clock) =
        support::authority_with(keys.clone(), policy.clone(), MemoryStore::new(), 8);
    clock.set(retired_at.saturating_sub(ms(1)));
    let late = block_on(auth.login("alice", &())).unwrap().access_token;

    keys.add_next(KeyMaterial::derive(Algorithm::EdDSA, "k2", NEXT_MASTER).unwrap())
        .unwrap();
    keys.promote("k2", retired_at, &policy).unwrap();
    let until = retired_at
        .saturating_add(policy.access_ttl())
        .saturating_add(policy.leeway());
    assert_eq!(
        keys.state("k1"),
        Some(KeyState::Retired {
            at: retired_at,
            until
        })
    );
    assert!(
        keys.jwks(until.saturating_sub(ms(1)))
            .keys
            .iter()
            .any(|k| k.kid == "k1")
    );
    assert!(!keys.jwks(until).keys.iter().any(|k| k.kid == "k1"));

    // The keyring and a verifier of the JWKS published at the same instant agree.
    let check = |now: UnixMillis| {
        let by_keyring = tokenlife::access::verify::<()>(&late, &keys, &policy, now);
        let by_jwks = Verifier::from_jwks(&keys.jwks(now).to_json(), policy.clone())
            .unwrap()
            .verify::<()>(&late, now);
        (by_keyring, by_jwks)
    };
    let (a, b) = check(retired_at.saturating_add(secs(60)));
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    let (a, b) = check(until);
    assert!(matches!(a, Err(Error::UnknownKey)), "{a:?}");
    assert!(matches!(b, Err(Error::UnknownKey)), "{b:?}");
}

#[test]
fn prune_removes_a_retired_key_only_when_its_refresh_tokens_are_dead_too() {
    let policy = policy();
    let mut keys = keyring(Algorithm::EdDSA);
    keys.add_next(KeyMaterial::derive(Algorithm::EdDSA, "k2", NEXT_MASTER).unwrap())
        .unwrap();
    keys.promote("k2", START, &policy).unwrap();
    let dead = START
        .saturating_add(policy.refresh_ttl())
        .saturating_add(policy.reuse_grace())
        .saturating_add(policy.leeway());
    assert_eq!(
        keys.prune(START.saturating_add(policy.access_ttl()), &policy),
        0
    );
    assert_eq!(keys.prune(dead.saturating_sub(ms(1)), &policy), 0);
    assert_eq!(keys.state("k1").map(|s| s.verifies_at(dead)), Some(false));
    assert_eq!(keys.prune(dead, &policy), 1);
    assert_eq!(keys.state("k1"), None);
    assert_eq!(keys.key_ids().count(), 1);
}

#[test]
fn lifecycle_misuse_is_refused() {
    let policy = policy();
    let mut keys = keyring(Algorithm::EdDSA);
    assert!(matches!(
        keys.promote("k1", START, &policy),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        keys.promote("nope", START, &policy),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(keys.remove("k1"), Err(Error::InvalidKey(_))));
    let dup = KeyMaterial::derive(Algorithm::ES256, "k1", NEXT_MASTER).unwrap();
    assert!(matches!(keys.add_next(dup), Err(Error::InvalidKey(_))));
    let cur = KeyMaterial::derive(Algorithm::ES256, "k3", NEXT_MASTER).unwrap();
    assert!(matches!(
        keys.add(cur, KeyState::Current),
        Err(Error::InvalidKey(_))
    ));
    // The old API keeps its meaning: rotate and add_verify_only make keys
    // that verify until removed.
    keys.rotate("h2", NEXT_MASTER).unwrap();
    assert_eq!(keys.state("k1"), Some(KeyState::VerifyOnly));
    assert_eq!(keys.algorithm("h2"), Some(Algorithm::HS256));
    assert!(
        keys.jwks(UnixMillis(u64::MAX))
            .keys
            .iter()
            .any(|k| k.kid == "k1")
    );
}

#[test]
fn debug_output_names_keys_and_algorithms_but_no_material() {
    let keys = keyring(Algorithm::EdDSA);
    let shown = format!("{keys:?}");
    assert!(shown.contains("k1"));
    let m = KeyMaterial::derive(Algorithm::ES256, "k9", MASTER).unwrap();
    let shown = format!("{m:?}");
    assert!(shown.contains("k9") && shown.contains("ES256"));
    let v = Verifier::from_jwks(&keys.jwks(START).to_json(), policy()).unwrap();
    let shown = format!("{v:?}");
    assert!(shown.contains("EdDSA"));
    let x = &keys.jwks(START).keys[0].x;
    assert!(!shown.contains(x.as_str()));
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&base64_url(token.split('.').next().unwrap())).unwrap()
}

trait NowMillis {
    fn now_millis(&self) -> UnixMillis;
}

impl NowMillis for tokenlife::ManualClock {
    fn now_millis(&self) -> UnixMillis {
        use tokenlife::Clock as _;
        self.now()
    }
}

#[test]
fn a_verifier_is_shared_across_threads() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    let keys = keyring(Algorithm::ES256);
    let v = Verifier::from_jwks(&keys.jwks(START).to_json(), policy()).unwrap();
    send_sync(&v);
    send_sync(&keys);
    let v = std::sync::Arc::new(v);
    let t = {
        let v = v.clone();
        std::thread::spawn(move || v.key_ids().count())
    };
    assert_eq!(t.join().unwrap(), 1);
}
