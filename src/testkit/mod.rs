//! The conformance kit: the acceptance test for a [`SessionStore`].
//!
//! [`Authority`](crate::Authority) relies on the five promises written on
//! [`SessionStore`]; this module checks each of them against a real store,
//! so that an adapter for a new database can prove itself before it holds
//! anyone's sessions. It is behind the `testkit` feature: enable it in your
//! adapter's `[dev-dependencies]`.
//!
//! ```toml
//! [dev-dependencies]
//! tokenlife = { version = "0.1", features = ["testkit"] }
//! ```
//!
//! Then one test runs every check, each on a fresh store from your factory:
//!
//! ```
//! use tokenlife::{MemoryStore, testkit};
//!
//! // In your crate: `testkit::check_all(|| MyStore::open_fresh_test_database())`.
//! testkit::check_all(MemoryStore::new);
//! ```
//!
//! Or call the checks one by one (each takes an empty store), which makes a
//! failure point at the promise that broke:
//!
//! ```
//! use tokenlife::{MemoryStore, testkit};
//!
//! testkit::compare_and_swap_loses_on_a_stale_version(&MemoryStore::new());
//! testkit::concurrent_writers_have_one_winner(&MemoryStore::new());
//! ```
//!
//! # A revocation feed
//!
//! A store that also implements [`RevocationFeed`](crate::store::RevocationFeed)
//! proves its delivery with [`feed_delivers_every_logout`]: two handles on
//! one store, a logout through one reaching the revocation set of the
//! other, timed. It needs the system clock and, for a networked store, a
//! real server.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tokenlife::{MemoryStore, testkit};
//!
//! let store = Arc::new(MemoryStore::new());
//! let figures = testkit::feed_delivers_every_logout(store.clone(), store, 20, Duration::from_secs(5));
//! assert_eq!(figures.fallback_reads, 0);
//! println!("{figures}");
//! ```
//!
//! # How failures are reported
//!
//! Like `assert!`, every check **panics** on the first broken promise, with
//! a message that names the check, the operation and what was expected
//! instead; a test harness reports that as a failed test. The checks drive
//! the store's futures with a minimal executor (`pollster`) on the calling
//! thread, and on scoped helper threads for the concurrency check. A store
//! whose futures need a particular runtime (a reactor of its own) must enter
//! that runtime inside its futures, or be wrapped by one that does.
//!
//! The records are made up by the kit: they carry no real refresh-secret
//! hashes, and their ids are fixed, so a check can be re-run only against
//! an emptied store.

// A test kit reports a broken promise by panicking, as `assert!` does.
#![allow(clippy::panic, clippy::expect_used)]

mod feed;

pub use feed::{CountingReads, Propagation, feed_delivers_every_logout};

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use std::sync::Barrier;

use crate::authority::MAX_SUBJECT_LEN;
use crate::error::{RevokeReason, StoreError, StoreErrorKind};
use crate::id::SessionId;
use crate::keys::KeyId;
use crate::refresh::SecretHash;
use crate::session::{Revocation, Session};
use crate::store::session_store::SessionStore;
use crate::time::UnixMillis;

/// An instant the checks treat as "now": 2025-11-24, a whole second.
const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

/// How many threads race in [`concurrent_writers_have_one_winner`].
pub const CONTENDERS: usize = 8;

/// Runs every check of the kit, each on a new store made by `fresh`.
///
/// `fresh` must return an **empty** store each time (a new in-memory
/// store, a new temporary database, or a truncated table).
///
/// # Panics
/// When the store breaks one of the promises of [`SessionStore`]; the
/// message names the check and what went wrong.
pub fn check_all<S: SessionStore>(mut fresh: impl FnMut() -> S) {
    insert_then_get(&fresh());
    insert_rejects_a_taken_id(&fresh());
    compare_and_swap_wins_on_the_expected_version(&fresh());
    compare_and_swap_loses_on_a_stale_version(&fresh());
    concurrent_writers_have_one_winner(&fresh());
    list_by_subject_matches_exactly(&fresh());
    purge_expired_is_exact_to_the_millisecond(&fresh());
    large_values_round_trip(&fresh());
    extreme_numbers_round_trip(&fresh());
}

/// `get` returns what `insert` stored, field for field, and `None` for an
/// id never inserted.
///
/// # Panics
/// When a stored record reads back different, or an unknown id is found.
pub fn insert_then_get<S: SessionStore>(store: &S) {
    const CHECK: &str = "insert_then_get";
    assert_eq!(
        get(store, &id(1), CHECK),
        None,
        "{CHECK}: get on an empty store must return Ok(None)"
    );
    let a = session(1, "alice", NOW.saturating_add(HOUR));
    let mut b = session(2, "bob", NOW.saturating_add(HOUR));
    b.previous_hash = Some(SecretHash([0xAB; 32]));
    b.revoked = Some(Revocation {
        at: NOW,
        reason: RevokeReason::Logout,
    });
    b.absolute_expires_at = Some(NOW.saturating_add(MINUTE));
    b.claims = Some(String::from(r#"{"role":"editor"}"#));
    b.metadata = alloc::vec![(String::from("ip"), String::from("192.0.2.7"))];
    for s in [&a, &b] {
        ok(block_on(store.insert(s.clone())), CHECK, "insert");
    }
    assert_eq!(
        get(store, &a.id, CHECK).as_ref(),
        Some(&a),
        "{CHECK}: get must return the record exactly as inserted"
    );
    assert_eq!(
        get(store, &b.id, CHECK).as_ref(),
        Some(&b),
        "{CHECK}: get must return every field as inserted (revoked, hashes, claims, metadata)"
    );
    assert_eq!(
        get(store, &id(3), CHECK),
        None,
        "{CHECK}: get of an id never inserted must return Ok(None)"
    );
}

/// A second `insert` with a taken id fails with [`StoreError::conflict`] and
/// changes nothing: an insert never overwrites.
///
/// # Panics
/// When the second insert succeeds, fails otherwise, or alters the record.
pub fn insert_rejects_a_taken_id<S: SessionStore>(store: &S) {
    const CHECK: &str = "insert_rejects_a_taken_id";
    let first = session(1, "alice", NOW.saturating_add(HOUR));
    ok(block_on(store.insert(first.clone())), CHECK, "first insert");
    let mut intruder = session(1, "mallory", NOW.saturating_add(DAY));
    intruder.version = 7;
    conflict(
        block_on(store.insert(intruder)),
        CHECK,
        "insert of a taken id (another subject)",
    );
    conflict(
        block_on(store.insert(first.clone())),
        CHECK,
        "insert of an identical record twice",
    );
    assert_eq!(
        get(store, &first.id, CHECK).as_ref(),
        Some(&first),
        "{CHECK}: a refused insert must leave the stored record untouched"
    );
    assert!(
        list(store, "mallory", CHECK).is_empty(),
        "{CHECK}: a refused insert must not show up in list_by_subject"
    );
}

/// `compare_and_swap` with the stored version replaces the whole record,
/// and can be chained version after version.
///
/// # Panics
/// When a swap on the current version fails or does not store `next`.
pub fn compare_and_swap_wins_on_the_expected_version<S: SessionStore>(store: &S) {
    const CHECK: &str = "compare_and_swap_wins_on_the_expected_version";
    let mut current = session(1, "alice", NOW.saturating_add(HOUR));
    ok(block_on(store.insert(current.clone())), CHECK, "insert");
    for step in 1..=3u8 {
        let mut next = current.clone();
        next.version = current.version + 1;
        next.generation = current.generation + 1;
        next.previous_hash = Some(current.current_hash);
        next.current_hash = SecretHash([step; 32]);
        next.rotated_at = NOW.saturating_add(MINUTE * u32::from(step));
        next.idle_expires_at = next.rotated_at.saturating_add(HOUR);
        next.claims = Some(format!(r#"{{"step":{step}}}"#));
        ok(
            block_on(store.compare_and_swap(current.version, next.clone())),
            CHECK,
            "compare_and_swap on the stored version",
        );
        assert_eq!(
            get(store, &next.id, CHECK).as_ref(),
            Some(&next),
            "{CHECK}: after a successful compare_and_swap, get must return `next` exactly"
        );
        current = next;
    }
    assert_eq!(
        list(store, "alice", CHECK),
        alloc::vec![current],
        "{CHECK}: list_by_subject must show the swapped record, once"
    );
}

/// `compare_and_swap` fails with [`StoreError::conflict`] and changes
/// nothing when the stored version differs (older or newer), when the
/// session does not exist (it never inserts), and when `next` names another
/// subject than the stored record.
///
/// # Panics
/// When any of these swaps succeeds, fails otherwise, or alters a record.
pub fn compare_and_swap_loses_on_a_stale_version<S: SessionStore>(store: &S) {
    const CHECK: &str = "compare_and_swap_loses_on_a_stale_version";
    let base = session(1, "alice", NOW.saturating_add(HOUR));
    ok(block_on(store.insert(base.clone())), CHECK, "insert");
    let mut v1 = base.clone();
    v1.version = 1;
    v1.generation = 1;
    ok(
        block_on(store.compare_and_swap(0, v1.clone())),
        CHECK,
        "first compare_and_swap",
    );

    let mut stale = base.clone();
    stale.version = 1;
    stale.revoked = Some(Revocation {
        at: NOW,
        reason: RevokeReason::Reuse,
    });
    conflict(
        block_on(store.compare_and_swap(0, stale.clone())),
        CHECK,
        "compare_and_swap on a version that moved on",
    );
    stale.version = 3;
    conflict(
        block_on(store.compare_and_swap(2, stale)),
        CHECK,
        "compare_and_swap on a version ahead of the stored one",
    );
    let mut other_subject = v1.clone();
    other_subject.subject = String::from("mallory");
    other_subject.version = 2;
    conflict(
        block_on(store.compare_and_swap(1, other_subject)),
        CHECK,
        "compare_and_swap changing the subject",
    );
    assert_eq!(
        get(store, &base.id, CHECK).as_ref(),
        Some(&v1),
        "{CHECK}: a lost compare_and_swap must leave the stored record untouched"
    );

    let mut ghost = session(2, "alice", NOW.saturating_add(HOUR));
    ghost.version = 1;
    conflict(
        block_on(store.compare_and_swap(0, ghost.clone())),
        CHECK,
        "compare_and_swap on an id never inserted",
    );
    assert_eq!(
        get(store, &ghost.id, CHECK),
        None,
        "{CHECK}: compare_and_swap must never create a session"
    );
}

/// Of [`CONTENDERS`] threads that start together, exactly one wins: once
/// for `compare_and_swap` on the same version (on several sessions), once
/// for `insert` of the same id. Every loser sees a conflict, and the stored
/// record is the winner's.
///
/// This is what keeps a refresh token single-use (DESIGN.md I1).
///
/// # Panics
/// When zero or several writers win, a loser fails with anything but a
/// conflict, or the stored record is not the winner's.
pub fn concurrent_writers_have_one_winner<S: SessionStore>(store: &S) {
    const CHECK: &str = "concurrent_writers_have_one_winner";
    for round in 1..=8u32 {
        let base = session(round, "alice", NOW.saturating_add(HOUR));
        ok(block_on(store.insert(base.clone())), CHECK, "insert");
        let contenders: Vec<Session> = (0..CONTENDERS)
            .map(|writer| {
                let mut next = base.clone();
                next.version = 1;
                next.generation = 1;
                next.metadata = alloc::vec![(String::from("writer"), format!("{writer}"))];
                next
            })
            .collect();
        let outcomes = race(&contenders, |next| {
            block_on(store.compare_and_swap(0, next))
        });
        let winner = one_winner(&outcomes, CHECK, "compare_and_swap on version 0");
        assert_eq!(
            get(store, &base.id, CHECK).as_ref(),
            Some(&contenders[winner]),
            "{CHECK}: the stored record must be the one whose compare_and_swap won"
        );
    }

    let contenders: Vec<Session> = (0..CONTENDERS)
        .map(|writer| session(100, &format!("subject-{writer}"), NOW.saturating_add(HOUR)))
        .collect();
    let outcomes = race(&contenders, |s| block_on(store.insert(s)));
    let winner = one_winner(&outcomes, CHECK, "insert of one id");
    assert_eq!(
        get(store, &id(100), CHECK).as_ref(),
        Some(&contenders[winner]),
        "{CHECK}: the stored record must be the one whose insert won"
    );
}

/// `list_by_subject` returns every stored session of exactly that subject,
/// in any state (revoked ones too), as last written, and nothing else: no
/// prefix, case-insensitive or pattern matching.
///
/// # Panics
/// When a session is missing, listed twice, stale, or of another subject.
pub fn list_by_subject_matches_exactly<S: SessionStore>(store: &S) {
    const CHECK: &str = "list_by_subject_matches_exactly";
    assert!(
        list(store, "alice", CHECK).is_empty(),
        "{CHECK}: list_by_subject on an empty store must return an empty list"
    );
    let mut alices = Vec::new();
    for n in 1..=3 {
        let s = session(n, "alice", NOW.saturating_add(HOUR));
        ok(block_on(store.insert(s.clone())), CHECK, "insert");
        alices.push(s);
    }
    let lookalikes = [
        "Alice", "alic", "alice ", "alice%", "al_ce", "%", "alice\0x",
    ];
    for (n, subject) in (10..).zip(lookalikes) {
        let s = session(n, subject, NOW.saturating_add(HOUR));
        ok(block_on(store.insert(s)), CHECK, "insert");
    }
    let mut revoked = alices[1].clone();
    revoked.version = 1;
    revoked.revoked = Some(Revocation {
        at: NOW,
        reason: RevokeReason::LogoutAll,
    });
    ok(
        block_on(store.compare_and_swap(0, revoked.clone())),
        CHECK,
        "compare_and_swap",
    );
    alices[1] = revoked;

    assert_eq!(
        sorted(list(store, "alice", CHECK)),
        sorted(alices),
        "{CHECK}: list_by_subject(\"alice\") must return exactly alice's three sessions, \
         the revoked one as last written"
    );
    for (n, subject) in (10..).zip(lookalikes) {
        let listed = list(store, subject, CHECK);
        assert!(
            listed.len() == 1 && listed[0].id == id(n),
            "{CHECK}: list_by_subject({subject:?}) must return exactly its one session, \
             got {} sessions",
            listed.len()
        );
    }
    assert!(
        list(store, "nobody", CHECK).is_empty(),
        "{CHECK}: list_by_subject of an unknown subject must return an empty list"
    );
}

/// `purge_expired(now)` deletes exactly the sessions whose
/// [`Session::expires_at`] (the earlier of idle and absolute expiry) is at or
/// before `now` — revoked or not — keeps the rest, and returns how many it
/// deleted. A session whose expiry a swap extended is judged by its new
/// expiry.
///
/// # Panics
/// When a session is purged a millisecond early, kept a millisecond late,
/// the count is wrong, or a purged session is still readable.
pub fn purge_expired_is_exact_to_the_millisecond<S: SessionStore>(store: &S) {
    const CHECK: &str = "purge_expired_is_exact_to_the_millisecond";
    let t = NOW;
    let at_t = session(1, "alice", t);
    let after_t = session(2, "alice", t.saturating_add(MS));
    let mut absolute_at_t = session(3, "alice", t.saturating_add(DAY));
    absolute_at_t.absolute_expires_at = Some(t);
    let revoked = |n, expiry| {
        let mut s = session(n, "bob", expiry);
        s.revoked = Some(Revocation {
            at: NOW.saturating_sub(DAY),
            reason: RevokeReason::Logout,
        });
        s
    };
    let revoked_live = revoked(4, t.saturating_add(HOUR));
    let revoked_before_t = revoked(5, t.saturating_sub(MS));
    let extended = session(6, "alice", t);
    for s in [
        &at_t,
        &after_t,
        &absolute_at_t,
        &revoked_live,
        &revoked_before_t,
        &extended,
    ] {
        ok(block_on(store.insert(s.clone())), CHECK, "insert");
    }
    let mut extended_next = extended.clone();
    extended_next.version = 1;
    extended_next.rotated_at = t.saturating_sub(MS);
    extended_next.idle_expires_at = t.saturating_add(HOUR);
    ok(
        block_on(store.compare_and_swap(0, extended_next.clone())),
        CHECK,
        "compare_and_swap extending the expiry",
    );

    let purged = |now: UnixMillis| -> u64 {
        block_on(store.purge_expired(now))
            .unwrap_or_else(|e| panic!("{CHECK}: purge_expired({now}) failed: {}", describe(&e)))
    };
    assert_eq!(
        purged(t.saturating_sub(MS)),
        1,
        "{CHECK}: purge_expired(t - 1 ms) must delete only the session expiring at t - 1 ms \
         (those expiring at t are still valid at t - 1 ms)"
    );
    assert_eq!(
        get(store, &revoked_before_t.id, CHECK),
        None,
        "{CHECK}: an expired revoked session must be purged"
    );
    assert!(
        get(store, &at_t.id, CHECK).is_some(),
        "{CHECK}: a session expiring at t must survive purge_expired(t - 1 ms)"
    );
    assert_eq!(
        purged(t),
        2,
        "{CHECK}: purge_expired(t) must delete the sessions whose expiry (idle or absolute) is t"
    );
    assert_eq!(
        purged(t),
        0,
        "{CHECK}: a second purge_expired(t) must delete nothing"
    );
    for gone in [&at_t, &absolute_at_t] {
        assert_eq!(
            get(store, &gone.id, CHECK),
            None,
            "{CHECK}: a session expiring at t (expires_at() == now) must be purged at t"
        );
    }
    for (kept, what) in [
        (&after_t, "a session expiring at t + 1 ms"),
        (&revoked_live, "a revoked session that has not expired"),
        (
            &extended_next,
            "a session whose compare_and_swap moved its expiry past t",
        ),
    ] {
        assert_eq!(
            get(store, &kept.id, CHECK).as_ref(),
            Some(kept),
            "{CHECK}: {what} must survive purge_expired(t), unchanged"
        );
    }
    assert_eq!(
        sorted(list(store, "alice", CHECK)),
        sorted(alloc::vec![after_t, extended_next]),
        "{CHECK}: purged sessions must be gone from list_by_subject too"
    );
}

/// Large records round-trip exactly: 256 KiB of claims, 1000 metadata
/// entries with quotes, backslashes, NUL and non-ASCII text, and a subject of
/// [`MAX_SUBJECT_LEN`] bytes of multi-byte characters.
///
/// # Panics
/// When a large record fails to store, or reads back different.
pub fn large_values_round_trip<S: SessionStore>(store: &S) {
    const CHECK: &str = "large_values_round_trip";
    let subject: String = core::iter::repeat_n('ß', MAX_SUBJECT_LEN / 2).collect();
    let mut big = session(1, &subject, NOW.saturating_add(HOUR));
    big.claims = Some(format!(
        r#"{{"blob":"{}","quote":"\" \\ '; DROP TABLE sessions; --"}}"#,
        "x".repeat(256 * 1024)
    ));
    big.metadata = (0..1000)
        .map(|i| {
            (
                format!("key-{i} \"quoted\" \\ \u{0} ключ"),
                format!("value {i} 🦀 {}", "v".repeat(i)),
            )
        })
        .collect();
    ok(
        block_on(store.insert(big.clone())),
        CHECK,
        "insert of a large record",
    );
    assert!(
        get(store, &big.id, CHECK).as_ref() == Some(&big),
        "{CHECK}: a large record must read back exactly as inserted"
    );
    let mut next = big.clone();
    next.version = 1;
    next.claims = Some(format!(r#"{{"blob":"{}"}}"#, "y".repeat(512 * 1024)));
    ok(
        block_on(store.compare_and_swap(0, next.clone())),
        CHECK,
        "compare_and_swap to a larger record",
    );
    assert!(
        get(store, &big.id, CHECK).as_ref() == Some(&next),
        "{CHECK}: a large swapped record must read back exactly"
    );
    assert!(
        list(store, &subject, CHECK) == alloc::vec![next],
        "{CHECK}: list_by_subject with a {MAX_SUBJECT_LEN}-byte subject must find its session"
    );
}

/// The whole range of every number round-trips: versions up to `u64::MAX`
/// (compared and swapped), instants from the epoch to `UnixMillis(u64::MAX)`;
/// a session that never expires survives any realistic purge.
///
/// # Panics
/// When an extreme number is refused, altered, or mis-compared.
pub fn extreme_numbers_round_trip<S: SessionStore>(store: &S) {
    const CHECK: &str = "extreme_numbers_round_trip";
    let mut forever = session(1, "alice", UnixMillis(u64::MAX));
    forever.version = u64::MAX - 1;
    forever.generation = u64::MAX;
    forever.created_at = UnixMillis::EPOCH;
    forever.rotated_at = UnixMillis::EPOCH;
    forever.absolute_expires_at = Some(UnixMillis(u64::MAX));
    ok(block_on(store.insert(forever.clone())), CHECK, "insert");
    assert_eq!(
        get(store, &forever.id, CHECK).as_ref(),
        Some(&forever),
        "{CHECK}: u64::MAX and zero must read back exactly"
    );
    let mut next = forever.clone();
    next.version = u64::MAX;
    conflict(
        block_on(store.compare_and_swap(u64::MAX, next.clone())),
        CHECK,
        "compare_and_swap expecting u64::MAX while u64::MAX - 1 is stored",
    );
    ok(
        block_on(store.compare_and_swap(u64::MAX - 1, next.clone())),
        CHECK,
        "compare_and_swap expecting u64::MAX - 1",
    );
    let mut old = session(2, "alice", UnixMillis(1));
    old.created_at = UnixMillis::EPOCH;
    ok(block_on(store.insert(old.clone())), CHECK, "insert");
    let purged = block_on(store.purge_expired(NOW))
        .unwrap_or_else(|e| panic!("{CHECK}: purge_expired failed: {}", describe(&e)));
    assert_eq!(
        (purged, get(store, &old.id, CHECK)),
        (1, None),
        "{CHECK}: a session that expired at 1 ms after the epoch must be purged"
    );
    assert_eq!(
        get(store, &forever.id, CHECK).as_ref(),
        Some(&next),
        "{CHECK}: a session expiring at UnixMillis(u64::MAX) must survive purge_expired(now)"
    );
}

const MS: core::time::Duration = core::time::Duration::from_millis(1);
const MINUTE: core::time::Duration = core::time::Duration::from_secs(60);
const HOUR: core::time::Duration = core::time::Duration::from_secs(3600);
const DAY: core::time::Duration = core::time::Duration::from_secs(86_400);

/// The id the kit uses for its `n`th session: spread over all 16 bytes so
/// that stores sharding or indexing by any byte see distinct values.
fn id(n: u32) -> SessionId {
    let spread = u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    SessionId::from_bytes(spread.to_le_bytes())
}

/// A live session, version 0, expiring (idle) at `expires_at`.
fn session(n: u32, subject: &str, expires_at: UnixMillis) -> Session {
    Session {
        id: id(n),
        subject: String::from(subject),
        version: 0,
        generation: 0,
        key_id: KeyId::new("testkit-1").expect("a valid key id"),
        current_hash: SecretHash([n.to_le_bytes()[0]; 32]),
        previous_hash: None,
        created_at: NOW.saturating_sub(MINUTE),
        rotated_at: NOW.saturating_sub(MINUTE),
        idle_expires_at: expires_at,
        absolute_expires_at: None,
        revoked: None,
        claims: None,
        metadata: Vec::new(),
    }
}

fn block_on<F: core::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

/// Runs `write` once per contender, each on its own thread, all released
/// at once by a barrier.
fn race<W>(contenders: &[Session], write: W) -> Vec<Result<(), StoreError>>
where
    W: Fn(Session) -> Result<(), StoreError> + Sync,
{
    let barrier = Barrier::new(contenders.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = contenders
            .iter()
            .map(|next| {
                let (barrier, write) = (&barrier, &write);
                scope.spawn(move || {
                    barrier.wait();
                    write(next.clone())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a contending thread panicked"))
            .collect()
    })
}

/// The index of the only success; every other outcome must be a conflict.
#[track_caller]
fn one_winner(outcomes: &[Result<(), StoreError>], check: &str, what: &str) -> usize {
    let winners: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].is_ok())
        .collect();
    assert!(
        winners.len() == 1,
        "{check}: of {} concurrent writers ({what}), exactly one must win; {} won",
        outcomes.len(),
        winners.len()
    );
    for e in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert!(
            e.is_conflict(),
            "{check}: a losing concurrent writer ({what}) must get StoreError::conflict(), got {}",
            describe(e)
        );
    }
    winners[0]
}

#[track_caller]
fn get<S: SessionStore>(store: &S, id: &SessionId, check: &str) -> Option<Session> {
    match block_on(store.get(id)) {
        Ok(found) => found,
        Err(e) => panic!("{check}: get({id}) failed: {}", describe(&e)),
    }
}

#[track_caller]
fn list<S: SessionStore>(store: &S, subject: &str, check: &str) -> Vec<Session> {
    match block_on(store.list_by_subject(subject)) {
        Ok(listed) => listed,
        Err(e) => panic!(
            "{check}: list_by_subject({subject:?}) failed: {}",
            describe(&e)
        ),
    }
}

#[track_caller]
fn ok(result: Result<(), StoreError>, check: &str, what: &str) {
    if let Err(e) = result {
        panic!("{check}: {what} must succeed, but failed: {}", describe(&e));
    }
}

#[track_caller]
fn conflict(result: Result<(), StoreError>, check: &str, what: &str) {
    match result {
        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
        Err(e) => panic!(
            "{check}: {what} must fail with StoreError::conflict(), got {}",
            describe(&e)
        ),
        Ok(()) => panic!("{check}: {what} must fail with StoreError::conflict(), but succeeded"),
    }
}

/// The error with its source chain, which a failing check should show.
fn describe(e: &StoreError) -> String {
    let mut text = format!("{e} ({:?})", e.kind());
    let mut source = core::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn sorted(mut sessions: Vec<Session>) -> Vec<Session> {
    sessions.sort_by_key(|s| s.id);
    sessions
}
