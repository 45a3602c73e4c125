//! `verify_in` allocates nothing: counted by a counting global allocator,
//! on a realistic token (a UUID `sub`, a role claim, `iss` and `aud`), for
//! claims types that own nothing, with every algorithm the build has.
//!
//! The allocator counts every thread, so each test holds [`LOCK`] for its
//! whole body (no other test's setup runs while one counts), and a count is
//! the least of three runs: the harness's own thread may allocate now and
//! then (reporting a test that just finished), but an allocation that
//! `verify_in` makes shows up in every run.

mod support;

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use support::{START, TestAuthority, block_on};
use tokenlife::access::{self, ClaimsBuf};
use tokenlife::{Keyring, MemoryStore, Policy};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

static LOCK: Mutex<()> = Mutex::new(());

/// Calls made in each counted run.
const CALLS: usize = 20;

#[derive(Deserialize)]
struct RoleStr<'a> {
    #[serde(borrow)]
    role: &'a str,
}

#[derive(Deserialize)]
struct RoleCow<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
}

fn policy() -> Policy {
    Policy::default()
        .with_issuer("https://auth.example.com")
        .with_audience("https://api.example.com")
}

/// An authority signing with `keys`, and a realistic token of it.
fn issued(keys: Keyring) -> (TestAuthority<MemoryStore>, String) {
    let (auth, _clock) = support::authority_with(keys, policy(), MemoryStore::new(), 5);
    let subject = tokenlife_model::uuid_subject(42);
    let pair = block_on(auth.login(&subject, &json!({"role": "editor"}))).unwrap();
    (auth, pair.access_token)
}

/// Allocations (and reallocations) made by `CALLS` calls of `f`: the
/// least of three runs.
fn allocations(mut f: impl FnMut()) -> usize {
    (0..3)
        .map(|_| {
            let region = Region::new(GLOBAL);
            for _ in 0..CALLS {
                f();
            }
            let change = region.change();
            change.allocations + change.reallocations
        })
        .min()
        .unwrap_or(usize::MAX)
}

/// Every claims type that owns nothing, through `Authority::verify_in`,
/// with one buffer reused and with a fresh one per call.
fn assert_verify_in_allocates_nothing(auth: &TestAuthority<MemoryStore>, token: &str) {
    let mut buf = ClaimsBuf::new();
    let n = allocations(|| {
        let c = auth.verify_in::<()>(black_box(token), &mut buf).unwrap();
        assert_eq!(c.sub.len(), 36);
        assert!(c.aud.contains("https://api.example.com"));
        black_box(c);
    });
    assert_eq!(n, 0, "verify_in::<()>");
    let n = allocations(|| {
        let c = auth
            .verify_in::<RoleStr<'_>>(black_box(token), &mut buf)
            .unwrap();
        assert_eq!(c.extra.role, "editor");
        assert_eq!(c.iss.as_deref(), Some("https://auth.example.com"));
        black_box(c);
    });
    assert_eq!(n, 0, "verify_in::<RoleStr>");
    let n = allocations(|| {
        let mut fresh = ClaimsBuf::new();
        let c = auth
            .verify_in::<RoleCow<'_>>(black_box(token), &mut fresh)
            .unwrap();
        assert!(matches!(c.extra.role, Cow::Borrowed("editor")));
        assert!(matches!(c.sub, Cow::Borrowed(_)) && matches!(c.jti, Cow::Borrowed(_)));
        black_box(c);
    });
    assert_eq!(n, 0, "verify_in::<RoleCow> with a fresh buffer");
}

#[test]
fn verify_in_allocates_nothing_for_hs256() {
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (auth, token) = issued(support::keys());
    assert_verify_in_allocates_nothing(&auth, &token);
    // The free function too, on the same keys.
    let (mut buf, policy) = (ClaimsBuf::new(), policy());
    let n = allocations(|| {
        let c = access::verify_in::<RoleStr<'_>>(
            black_box(&token),
            auth.keyring(),
            &policy,
            START,
            &mut buf,
        );
        black_box(c.unwrap());
    });
    assert_eq!(n, 0, "access::verify_in");
}

#[cfg(all(feature = "eddsa", feature = "es256"))]
#[test]
fn verify_in_allocates_nothing_for_eddsa_and_es256_with_the_authority_and_the_verifier() {
    use tokenlife::{Algorithm, Verifier};
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let keys = Keyring::with_algorithm(alg, "k1", support::SECRET).unwrap();
        let (auth, token) = issued(keys);
        assert_verify_in_allocates_nothing(&auth, &token);
        let jwks = auth.keyring().jwks(START).to_json();
        let verifier = Verifier::from_jwks(&jwks, policy()).unwrap();
        let mut buf = ClaimsBuf::new();
        let n = allocations(|| {
            let c = verifier.verify_in::<RoleStr<'_>>(black_box(&token), START, &mut buf);
            assert_eq!(c.unwrap().extra.role, "editor");
        });
        assert_eq!(n, 0, "Verifier::verify_in, {alg:?}");
    }
}

#[test]
fn the_counter_sees_what_the_owned_verify_allocates() {
    // Without this, a counter that saw nothing would pass every test above.
    #[derive(Deserialize)]
    struct Role {
        #[allow(dead_code)]
        role: String,
    }
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (auth, token) = issued(support::keys());
    let n = allocations(|| {
        black_box(auth.verify::<Role>(black_box(&token)).unwrap());
    });
    // sub, jti, iss, the audience list and its one string, the role.
    assert_eq!(n, 6 * CALLS);
}

#[test]
fn an_escaped_string_is_the_only_copy() {
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (auth, _clock) = support::authority_with(support::keys(), policy(), MemoryStore::new(), 5);
    // A quote in the subject is written escaped: that string alone is
    // copied (and the JSON reader takes a scratch buffer to unescape it).
    let pair = block_on(auth.login("ali\"ce", &json!({"role": "editor"}))).unwrap();
    let mut buf = ClaimsBuf::new();
    let n = allocations(|| {
        let c = auth
            .verify_in::<RoleStr<'_>>(&pair.access_token, &mut buf)
            .unwrap();
        assert!(matches!(&c.sub, Cow::Owned(s) if s == "ali\"ce"));
        assert!(matches!(c.jti, Cow::Borrowed(_)));
    });
    assert_eq!(n, 2 * CALLS);
}

#[test]
fn a_reused_buffer_allocates_only_for_a_payload_larger_than_any_before() {
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (auth, _clock) = support::authority_with(support::keys(), policy(), MemoryStore::new(), 5);
    let long = "x".repeat(2_000);
    let pair = block_on(auth.login("alice", &json!({"role": "editor", "note": long}))).unwrap();
    let mut buf = ClaimsBuf::new();
    let verify = |buf: &mut ClaimsBuf| {
        let c = auth
            .verify_in::<RoleStr<'_>>(&pair.access_token, buf)
            .unwrap();
        assert_eq!(c.extra.role, "editor");
    };
    let first = (0..3)
        .map(|_| {
            let mut fresh = ClaimsBuf::new();
            let region = Region::new(GLOBAL);
            verify(&mut fresh);
            region.change().allocations
        })
        .min();
    assert_eq!(first, Some(1), "the heap buffer, once");
    verify(&mut buf);
    assert_eq!(allocations(|| verify(&mut buf)), 0, "then never again");
}
