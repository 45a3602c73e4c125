//! A resource server that holds only the issuer's JWKS and no secret.
//!
//! `Verifier` does no I/O: this cache fetches the document, and fetches it
//! again when a token names a key it does not know — at most once per
//! `min_interval`, so a flood of tokens with made-up `kid`s cannot turn into
//! a flood of fetches. Time comes from an injected clock.
//!
//! Run with `cargo run --example jwks_refresh`.

use std::cell::RefCell;
use std::time::Duration;

use tokenlife::{
    AccessClaims, Algorithm, Authority, Clock, Error, KeyMaterial, Keyring, ManualClock,
    MemoryStore, Policy, UnixMillis, Verifier,
};

/// A JWKS cache that re-fetches on an unknown `kid`, rate-limited.
struct JwksCache<F, C> {
    fetch: F,
    clock: C,
    policy: Policy,
    min_interval: Duration,
    verifier: Verifier,
    fetched_at: UnixMillis,
    fetches: usize,
}

impl<F: FnMut() -> String, C: Clock> JwksCache<F, C> {
    fn new(mut fetch: F, clock: C, policy: Policy, min_interval: Duration) -> Result<Self, Error> {
        let verifier = Verifier::from_jwks(&fetch(), policy.clone())?;
        let fetched_at = clock.now();
        Ok(Self {
            fetch,
            clock,
            policy,
            min_interval,
            verifier,
            fetched_at,
            fetches: 1,
        })
    }

    fn verify<T: serde::de::DeserializeOwned>(
        &mut self,
        token: &str,
    ) -> Result<AccessClaims<T>, Error> {
        let now = self.clock.now();
        match self.verifier.verify(token, now) {
            Err(Error::UnknownKey) if now >= self.fetched_at.saturating_add(self.min_interval) => {
                // A key published since the last fetch, perhaps. A document
                // that does not parse keeps the old verifier working.
                self.fetched_at = now;
                self.fetches += 1;
                if let Ok(fresh) = Verifier::from_jwks(&(self.fetch)(), self.policy.clone()) {
                    self.verifier = fresh;
                }
                self.verifier.verify(token, now)
            }
            other => other,
        }
    }
}

fn main() -> Result<(), Error> {
    let clock = ManualClock::new(UnixMillis(1_800_000_000_000));
    let policy = Policy::default().with_issuer("https://auth.example");

    // The issuer signs EdDSA and publishes its JWKS (here: into a cell
    // that the "HTTP fetch" below reads).
    let keys = Keyring::with_algorithm(Algorithm::EdDSA, "2026-11", &[7; 32])?;
    let published = RefCell::new(keys.jwks(clock.now()).to_json());
    let issuer = Authority::new(keys, policy.clone(), MemoryStore::new()).with_clock(clock.clone());

    let mut cache = JwksCache::new(
        || published.borrow().clone(),
        clock.clone(),
        policy.clone(),
        Duration::from_secs(30),
    )?;
    let first = pollster::block_on(issuer.login("alice", &()))?;
    println!("sub = {}", cache.verify::<()>(&first.access_token)?.sub);

    // The issuer rotates straight to a key the cache has never seen (it
    // should publish it as `next` first; this shows the fallback).
    let mut keys = issuer.keyring().clone();
    keys.add_next(KeyMaterial::derive(Algorithm::EdDSA, "2026-12", &[9; 32])?)?;
    keys.promote("2026-12", clock.now(), &policy)?;
    *published.borrow_mut() = keys.jwks(clock.now()).to_json();
    let issuer = Authority::new(keys, policy.clone(), MemoryStore::new()).with_clock(clock.clone());
    clock.advance(Duration::from_secs(31));
    let second = pollster::block_on(issuer.login("bob", &()))?;
    println!(
        "sub = {} (after a re-fetch)",
        cache.verify::<()>(&second.access_token)?.sub
    );

    // Tokens naming made-up keys: refused, and fetched for at most once per interval.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (_, rest) = second.access_token.split_once('.').unwrap_or_default();
    for i in 0..100 {
        let header = format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"made-up-{i}"}}"#);
        let forged = format!("{}.{rest}", b64.encode(header));
        assert!(matches!(
            cache.verify::<()>(&forged),
            Err(Error::UnknownKey)
        ));
        clock.advance(Duration::from_millis(100));
    }
    println!("{} fetches for 102 tokens", cache.fetches);
    assert!(cache.fetches <= 3);
    Ok(())
}
