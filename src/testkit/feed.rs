//! The check of a [`RevocationFeed`]: two instances on one store, a logout
//! on one reaching the other's revocation set, timed.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::time::Instant;

use crate::authority::{Authority, TokenPair};
use crate::error::{Error, StoreError};
use crate::id::SessionId;
use crate::keys::Keyring;
use crate::policy::Policy;
use crate::revocation::{Revocations, SharedRevocations, Watermark};
use crate::session::Session;
use crate::store::RevocationFeed;
use crate::store::session_store::SessionStore;

use super::block_on;
use crate::time::{Clock, SystemClock, UnixMillis};

/// A store that counts the reads (`get`, `list_by_subject`) made through
/// it, and passes every call on to `inner`: how a test proves that an
/// instance answered from its revocation set, not from the store.
#[derive(Debug)]
pub struct CountingReads<S> {
    inner: S,
    reads: AtomicUsize,
}

impl<S> CountingReads<S> {
    /// `inner`, with no read counted yet.
    pub const fn new(inner: S) -> Self {
        Self {
            inner,
            reads: AtomicUsize::new(0),
        }
    }

    /// The reads made so far.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// The store it counts the reads of.
    pub const fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: SessionStore> SessionStore for CountingReads<S> {
    async fn insert(&self, session: Session) -> Result<(), StoreError> {
        self.inner.insert(session).await
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id).await
    }
    async fn compare_and_swap(&self, expected: u64, next: Session) -> Result<(), StoreError> {
        self.inner.compare_and_swap(expected, next).await
    }
    async fn list_by_subject(&self, subject: &str) -> Result<Vec<Session>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list_by_subject(subject).await
    }
    async fn purge_expired(&self, now: UnixMillis) -> Result<u64, StoreError> {
        self.inner.purge_expired(now).await
    }
}

/// What [`feed_delivers_every_logout`] measured.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// For each logout, from A's `logout` returning to the revocation being
    /// in B's set; sorted.
    pub after_return: Vec<Duration>,
    /// For each logout, from A's `logout` being called to the same; sorted.
    pub after_call: Vec<Duration>,
    /// The store reads B made while the logouts propagated: its fallback,
    /// were its set stale.
    pub fallback_reads: usize,
    /// B's set's watermark once subscribed (never `Unknown`: the check
    /// fails first): `At` for a feed over the network, `Continuous` for an
    /// in-process one.
    pub subscribed: Watermark,
    /// The revocations B's set held at the end (at least the logouts; more
    /// when other writers share the store's feed).
    pub held: usize,
}

impl Propagation {
    /// The `p`-th percentile (0–100) of `sorted`; zero when it is empty.
    #[must_use]
    pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
        match sorted.len() {
            0 => Duration::ZERO,
            n => sorted[(n * p / 100).min(n - 1)],
        }
    }
}

impl fmt::Display for Propagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (r, c) = (&self.after_return, &self.after_call);
        write!(
            f,
            "revocation propagation A -> B over {} logouts: in B's set after A's logout \
             returned: p50 {:?}, p99 {:?}, max {:?}; after A's logout was called: p50 {:?}, \
             p99 {:?}; B's store reads meanwhile: {}",
            r.len(),
            Self::percentile(r, 50),
            Self::percentile(r, 99),
            r.last().copied().unwrap_or_default(),
            Self::percentile(c, 50),
            Self::percentile(c, 99),
            self.fallback_reads,
        )
    }
}

/// The feed of `b` delivers every logout made through `a` into the
/// revocation set `b` subscribes, and `b` then answers from that set alone.
///
/// `a` and `b` must be two handles on **one** store (two connections to
/// one database, or clones of one in-process store), on the system clock.
/// The check subscribes a new set to `b`, logs in `logouts` sessions
/// through `a`, and then:
///
/// 1. B's `verify_fresh` accepts each of them without a store read;
/// 2. each logout on A reaches B's set within `patience` (polled every
///    50 µs, fine enough for sub-millisecond delivery) — the set itself is
///    looked at, since a refusal could also come from a store read;
/// 3. B's `verify_fresh` then refuses each with
///    [`Error::SessionRevoked`], again without a store read.
///
/// It returns the delays, to print: they are measured, not asserted.
///
/// # Panics
/// When the subscription fails or leaves the set untrusted, a login or
/// logout fails, B reads the store in steady state, a revocation is not in
/// B's set within `patience`, or B accepts a logged-out session.
pub fn feed_delivers_every_logout<A, B>(
    a: A,
    b: B,
    logouts: usize,
    patience: Duration,
) -> Propagation
where
    A: SessionStore,
    B: SessionStore + RevocationFeed,
{
    const CHECK: &str = "feed_delivers_every_logout";
    let policy = Policy::default();
    let keys = || Keyring::new("k1", b"testkit feed: thirty-two bytes or more").expect("key");
    let a = Authority::new(keys(), policy.clone(), a);
    let set = Arc::new(SharedRevocations::new(&policy));
    if let Err(e) = block_on(b.subscribe(&set, SystemClock.now())) {
        panic!("{CHECK}: subscribe failed: {e}");
    }
    let watermark = set.read(Revocations::watermark);
    assert!(
        watermark != Watermark::Unknown,
        "{CHECK}: the set is not trusted once subscribed ({watermark:?})"
    );
    let b_store = Arc::new(CountingReads::new(b));
    let b = Authority::new(keys(), policy, b_store.clone()).with_revocations(set.clone());
    let pairs: Vec<TokenPair> = (0..logouts)
        .map(|i| {
            block_on(a.login("alice", &()))
                .unwrap_or_else(|e| panic!("{CHECK}: login {i} failed: {e}"))
        })
        .collect();

    // Steady state: B checks every token, and reads nothing.
    let reads = b_store.reads();
    for pair in &pairs {
        if let Err(e) = block_on(b.verify_fresh::<()>(&pair.access_token)) {
            panic!("{CHECK}: B refused a live session: {e}");
        }
    }
    assert_eq!(
        b_store.reads() - reads,
        0,
        "{CHECK}: B read the store in steady state"
    );

    // A logs out; how long until B's set holds it.
    let reads = b_store.reads();
    let (mut after_return, mut after_call) =
        (Vec::with_capacity(logouts), Vec::with_capacity(logouts));
    for pair in &pairs {
        let claims = b
            .verify::<()>(&pair.access_token)
            .unwrap_or_else(|e| panic!("{CHECK}: verify failed: {e}"));
        let in_b_set = || set.read(|s| s.check(&claims.sid, &claims.sub, claims.iat).is_err());
        assert!(!in_b_set(), "{CHECK}: a live session is in B's set");
        let called = Instant::now();
        if let Err(e) = block_on(a.logout(&pair.refresh_token)) {
            panic!("{CHECK}: logout failed: {e}");
        }
        let returned = Instant::now();
        while !in_b_set() {
            assert!(
                returned.elapsed() < patience,
                "{CHECK}: a logout was not in B's set within {patience:?}"
            );
            std::thread::sleep(Duration::from_micros(50));
        }
        after_return.push(returned.elapsed());
        after_call.push(called.elapsed());
    }
    let fallback_reads = b_store.reads() - reads;
    after_return.sort_unstable();
    after_call.sort_unstable();

    // Every one of them is refused, through the set: no store read.
    let reads = b_store.reads();
    for pair in &pairs {
        let r = block_on(b.verify_fresh::<()>(&pair.access_token));
        assert!(
            matches!(r, Err(Error::SessionRevoked { .. })),
            "{CHECK}: B's verify_fresh of a logged-out session: {r:?}"
        );
    }
    assert_eq!(
        b_store.reads(),
        reads,
        "{CHECK}: B read the store to refuse a revocation its set holds"
    );
    Propagation {
        subscribed: watermark,
        after_return,
        after_call,
        fallback_reads,
        held: set.len(),
    }
}
