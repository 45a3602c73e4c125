//! The revocation set and `verify_fresh`: a fresh set answers without the
//! store, a stale one falls back to it (fail closed), and — against a model
//! of any interleaving of login, refresh, logout, logout_all, feed
//! delivery, delay, outage and clock movement on two instances — the fresh
//! verify never accepts a token whose session was revoked before the set's
//! watermark, and accepts every live token that `verify` accepts.

mod support;

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use support::*;
use tokenlife::revocation::{RevocationNotice, Watermark};
use tokenlife::store::RevocationFeed;
use tokenlife::{
    Clock, Error, ManualClock, MemoryStore, Policy, Revocations, RevokeReason, Session, SessionId,
    SessionStore, SharedRevocations, StoreError, TokenPair, UnixMillis,
};

/// A store that keeps, in order, the revocations its compare-and-swaps
/// committed: the notices a feed would deliver.
#[derive(Debug, Default)]
struct Tap {
    inner: MemoryStore,
    committed: Mutex<Vec<RevocationNotice>>,
}

impl SessionStore for Tap {
    async fn insert(&self, session: Session) -> Result<(), StoreError> {
        self.inner.insert(session).await
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.inner.get(id).await
    }
    async fn compare_and_swap(&self, expected: u64, next: Session) -> Result<(), StoreError> {
        let notice = RevocationNotice::of(&next);
        let before = self.inner.get(&next.id).await?;
        self.inner.compare_and_swap(expected, next).await?;
        if before.is_some_and(|b| b.revoked.is_none())
            && let Some(n) = notice
        {
            self.committed.lock().unwrap().push(n);
        }
        Ok(())
    }
    async fn list_by_subject(&self, subject: &str) -> Result<Vec<Session>, StoreError> {
        self.inner.list_by_subject(subject).await
    }
    async fn purge_expired(&self, now: UnixMillis) -> Result<u64, StoreError> {
        self.inner.purge_expired(now).await
    }
}

fn synced_set(policy: &Policy, at: UnixMillis) -> Arc<SharedRevocations> {
    let set = Arc::new(SharedRevocations::new(policy));
    set.mark_synced(at);
    set
}

#[test]
fn a_fresh_set_answers_without_reading_the_store() {
    let policy = Policy::default();
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let (auth, _clock) = authority_on(policy.clone(), store.clone());
    let auth = auth.with_revocations(synced_set(&policy, START));
    let pair = block_on(auth.login("alice", &())).unwrap();
    let before = store.calls();
    for _ in 0..100 {
        block_on(auth.verify_fresh::<()>(&pair.access_token)).unwrap();
    }
    assert_eq!(store.calls(), before, "store reads in steady state");
}

#[test]
fn a_logout_on_this_instance_is_refused_at_once_without_the_store() {
    let policy = Policy::default();
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let (auth, _clock) = authority_on(policy.clone(), store.clone());
    let auth = auth.with_revocations(synced_set(&policy, START));
    let pair = block_on(auth.login("alice", &())).unwrap();
    block_on(auth.logout(&pair.refresh_token)).unwrap();
    let before = store.calls();
    let r = block_on(auth.verify_fresh::<()>(&pair.access_token));
    assert!(
        matches!(
            r,
            Err(Error::SessionRevoked {
                reason: RevokeReason::Logout,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(store.calls(), before);
}

#[test]
fn a_stale_set_reads_the_store_and_refuses_a_revocation_it_missed() {
    let policy = Policy::default();
    let (a, clock_a, store) = authority(policy.clone());
    let (b, clock_b) = authority_with(keys(), policy.clone(), store.clone(), 8);
    let set = synced_set(&policy, START);
    let b = b.with_revocations(set.clone());
    let pair = block_on(a.login("alice", &())).unwrap();
    block_on(a.logout(&pair.refresh_token)).unwrap();
    // Within the lag, the undelivered logout is the price of the fast path…
    block_on(b.verify_fresh::<()>(&pair.access_token)).unwrap();
    // …1 ms past it, the set is stale and the store is read.
    for clock in [&clock_a, &clock_b] {
        clock.advance(policy.max_revocation_lag() + ms(1));
    }
    let r = block_on(b.verify_fresh::<()>(&pair.access_token));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
    // A set whose feed is known to be down is not trusted either.
    set.mark_synced(clock_b.now());
    set.mark_down();
    let r = block_on(b.verify_fresh::<()>(&pair.access_token));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
}

#[test]
fn a_stale_set_and_an_unreadable_store_refuse() {
    let policy = Policy::default();
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let (auth, _clock) = authority_on(policy.clone(), store.clone());
    let auth = auth.with_revocations(Arc::new(SharedRevocations::new(&policy)));
    let pair = block_on(auth.login("alice", &())).unwrap();
    for fault in [Fault::Fail, Fault::Conflict, Fault::FailAfterWrite] {
        store.fault_next(fault);
        let r = block_on(auth.verify_fresh::<()>(&pair.access_token));
        assert!(matches!(r, Err(Error::Store(_))), "{fault:?}: {r:?}");
    }
}

#[test]
fn without_a_set_verify_fresh_is_verify_live() {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let (auth, _clock) = authority_on(Policy::default(), store.clone());
    let pair = block_on(auth.login("alice", &())).unwrap();
    let before = store.calls();
    block_on(auth.verify_fresh::<()>(&pair.access_token)).unwrap();
    assert_eq!(store.calls(), before + 1);
}

#[test]
fn the_memory_feed_delivers_a_logout_on_another_instance_at_once() {
    let policy = Policy::default();
    let (a, _clock_a, store) = authority(policy.clone());
    let (b, _clock_b) = authority_with(keys(), policy.clone(), store.clone(), 8);
    let set = Arc::new(SharedRevocations::new(&policy));
    block_on(store.subscribe(&set, START)).unwrap();
    assert_eq!(set.read(Revocations::watermark), Watermark::Continuous);
    let b = b.with_revocations(set.clone());
    let pairs: Vec<TokenPair> = (0..3)
        .map(|_| block_on(a.login("alice", &())).unwrap())
        .collect();
    block_on(a.logout(&pairs[0].refresh_token)).unwrap();
    let r = block_on(b.verify_fresh::<()>(&pairs[0].access_token));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
    block_on(b.verify_fresh::<()>(&pairs[1].access_token)).unwrap();
    block_on(a.logout_all("alice", None)).unwrap();
    for p in &pairs {
        let r = block_on(b.verify_fresh::<()>(&p.access_token));
        assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
    }
    assert_eq!(set.len(), 3);
}

#[test]
fn the_memory_feed_resynchronises_revocations_made_before_it_subscribed() {
    let policy = Policy::default();
    let (a, _clock, store) = authority(policy.clone());
    let pair = block_on(a.login("alice", &())).unwrap();
    block_on(a.logout(&pair.refresh_token)).unwrap();
    let set = Arc::new(SharedRevocations::new(&policy));
    block_on(store.subscribe(&set, START)).unwrap();
    let r = set.read(|s| s.check(&pair.session_id, "alice", START));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
}

// ---------------------------------------------------------------- the model

#[derive(Debug, Clone)]
enum Op {
    /// `by_b`: which instance does it.
    Login {
        by_b: bool,
        subject: u8,
    },
    Refresh {
        by_b: bool,
        session: u8,
        spent: bool,
    },
    Logout {
        by_b: bool,
        session: u8,
    },
    LogoutAll {
        by_b: bool,
        subject: u8,
        keep: Option<u8>,
    },
    /// The feed delivers the next `n` pending notices to B's set.
    Deliver {
        n: u8,
    },
    /// A heartbeat: everything pending is delivered, the watermark moves to now.
    Sync,
    /// B's feed connection drops: pending notices are lost with it.
    Outage,
    /// B's feed reconnects and resynchronises from the store.
    Reconnect,
    /// Both clocks move forward.
    Delay {
        ms: u16,
    },
    /// B's clock steps forward (NTP).
    StepB {
        ms: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 0..2u8).prop_map(|(by_b, subject)| Op::Login { by_b, subject }),
        3 => (any::<bool>(), any::<u8>(), any::<bool>())
            .prop_map(|(by_b, session, spent)| Op::Refresh { by_b, session, spent }),
        2 => (any::<bool>(), any::<u8>()).prop_map(|(by_b, session)| Op::Logout { by_b, session }),
        1 => (any::<bool>(), 0..2u8, proptest::option::of(any::<u8>()))
            .prop_map(|(by_b, subject, keep)| Op::LogoutAll { by_b, subject, keep }),
        2 => (0..4u8).prop_map(|n| Op::Deliver { n }),
        2 => Just(Op::Sync),
        1 => Just(Op::Outage),
        1 => Just(Op::Reconnect),
        2 => (0..1500u16).prop_map(|ms| Op::Delay { ms }),
        1 => (0..400u16).prop_map(|ms| Op::StepB { ms }),
    ]
}

const SUBJECTS: [&str; 2] = ["alice", "bob"];

struct World {
    policy: Policy,
    store: Arc<Tap>,
    a: TestAuthority<Arc<Tap>>,
    b: TestAuthority<Arc<Tap>>,
    clock_a: ManualClock,
    clock_b: ManualClock,
    set: Arc<SharedRevocations>,
    /// Per session: its latest pair, its first pair, and the step at which
    /// its revocation committed.
    sessions: Vec<(TokenPair, TokenPair, Option<usize>)>,
    /// Every access token handed out, with its session's index.
    tokens: Vec<(usize, String)>,
    /// Committed notices the feed has not delivered, with their step.
    pending: Vec<(usize, RevocationNotice)>,
    seen: usize,
    feed_up: bool,
    /// The step of the last heartbeat or resync: every revocation that
    /// committed before it is in the set.
    synced_step: Option<usize>,
    /// The model's watermark (B's clock), `None` while the feed is down.
    watermark: Option<UnixMillis>,
}

impl World {
    /// B's clock starts `offset_ms` away from A's.
    fn new(offset_ms: i16) -> Self {
        let policy = Policy::default()
            .with_access_ttl(secs(5))
            .with_refresh_ttl(secs(8))
            .with_reuse_grace(secs(1));
        let store = Arc::new(Tap::default());
        let (a, clock_a) = authority_with(keys(), policy.clone(), store.clone(), 1);
        let (b, clock_b) = authority_with(keys(), policy.clone(), store.clone(), 2);
        clock_b.set(UnixMillis(
            START
                .as_millis()
                .saturating_add_signed(i64::from(offset_ms)),
        ));
        let set = Arc::new(SharedRevocations::new(&policy));
        let b = b.with_revocations(set.clone());
        Self {
            policy,
            store,
            a,
            b,
            clock_a,
            clock_b,
            set,
            sessions: Vec::new(),
            tokens: Vec::new(),
            pending: Vec::new(),
            seen: 0,
            feed_up: true,
            synced_step: None,
            watermark: None,
        }
    }

    fn by(&self, by_b: bool) -> &TestAuthority<Arc<Tap>> {
        if by_b { &self.b } else { &self.a }
    }

    fn pick(&self, i: u8) -> Option<usize> {
        (!self.sessions.is_empty()).then(|| usize::from(i) % self.sessions.len())
    }

    fn apply(&mut self, step: usize, op: &Op) {
        match *op {
            Op::Login { by_b, subject } => {
                let subject = SUBJECTS[usize::from(subject)];
                let pair = block_on(self.by(by_b).login(subject, &())).unwrap();
                self.tokens
                    .push((self.sessions.len(), pair.access_token.clone()));
                self.sessions.push((pair.clone(), pair, None));
            }
            Op::Refresh {
                by_b,
                session,
                spent,
            } => {
                let Some(i) = self.pick(session) else { return };
                let token = if spent {
                    &self.sessions[i].1.refresh_token
                } else {
                    &self.sessions[i].0.refresh_token
                };
                if let Ok(pair) = block_on(self.by(by_b).refresh(token)) {
                    self.tokens.push((i, pair.access_token.clone()));
                    self.sessions[i].0 = pair;
                }
            }
            Op::Logout { by_b, session } => {
                let Some(i) = self.pick(session) else { return };
                let token = self.sessions[i].0.refresh_token.clone();
                block_on(self.by(by_b).logout(&token)).unwrap();
            }
            Op::LogoutAll {
                by_b,
                subject,
                keep,
            } => {
                let keep = keep
                    .and_then(|k| self.pick(k))
                    .map(|k| self.sessions[k].0.session_id);
                let subject = SUBJECTS[usize::from(subject)];
                block_on(self.by(by_b).logout_all(subject, keep.as_ref())).unwrap();
            }
            Op::Deliver { n } => {
                if self.feed_up {
                    let n = usize::from(n).min(self.pending.len());
                    for (_, notice) in self.pending.drain(..n) {
                        self.set.insert(notice, self.clock_b.now());
                    }
                }
            }
            Op::Sync => {
                if self.feed_up {
                    let now = self.clock_b.now();
                    for (_, notice) in self.pending.drain(..) {
                        self.set.insert(notice, now);
                    }
                    self.set.mark_synced(now);
                    self.synced_step = Some(step);
                    self.watermark = self.watermark.max(Some(now));
                }
            }
            Op::Outage => {
                self.feed_up = false;
                self.pending.clear();
                self.set.mark_down();
                self.watermark = None;
            }
            Op::Reconnect => {
                self.feed_up = true;
                self.pending.clear();
                let now = self.clock_b.now();
                for subject in SUBJECTS {
                    for s in block_on(self.store.list_by_subject(subject)).unwrap() {
                        if let Some(n) = RevocationNotice::of(&s) {
                            self.set.insert(n, now);
                        }
                    }
                }
                self.set.mark_synced(now);
                self.synced_step = Some(step);
                self.watermark = Some(now);
            }
            Op::Delay { ms: d } => {
                self.clock_a.advance(ms(u64::from(d)));
                self.clock_b.advance(ms(u64::from(d)));
            }
            Op::StepB { ms: d } => self.clock_b.advance(ms(u64::from(d))),
        }
        // What the store committed during this step, in order.
        let committed = self.store.committed.lock().unwrap();
        for notice in &committed[self.seen..] {
            let i = self
                .sessions
                .iter()
                .position(|s| s.0.session_id == notice.session)
                .unwrap();
            self.sessions[i].2.get_or_insert(step);
            if self.feed_up {
                self.pending.push((step, *notice));
            }
        }
        self.seen = committed.len();
    }

    fn check(&self, step: usize, op: &Op) {
        let now = self.clock_b.now();
        for (i, token) in &self.tokens {
            let (pair, _, revoked_at_step) = &self.sessions[*i];
            let stateless = self.b.verify::<()>(token);
            let fresh = block_on(self.b.verify_fresh::<()>(token));
            let ctx = format!("step {step} {op:?}, session {i}: {fresh:?}");
            if stateless.is_err() {
                assert!(fresh.is_err(), "accepted what verify refuses: {ctx}");
                continue;
            }
            if let (Some(r), Some(w)) = (revoked_at_step, self.synced_step)
                && *r < w
            {
                assert!(
                    matches!(fresh, Err(Error::SessionRevoked { .. })),
                    "accepted a session revoked before the watermark: {ctx}"
                );
            }
            let record = block_on(self.store.get(&pair.session_id)).unwrap();
            // Fail closed: a set that may not be trusted now is not
            // trusted — what the store says revoked is refused.
            let lag = self.policy.max_revocation_lag();
            let trusted = self.watermark.is_some_and(|t| now.since(t) <= lag);
            if !trusted && record.as_ref().is_some_and(|s| s.revoked.is_some()) {
                assert!(
                    matches!(fresh, Err(Error::SessionRevoked { .. })),
                    "a stale set accepted a revoked session: {ctx}"
                );
            }
            if record.is_some_and(|s| s.is_active(now)) {
                assert!(fresh.is_ok(), "refused a live token: {ctx}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fresh_verify_never_accepts_a_revocation_before_the_watermark_and_accepts_every_live_token(
        offset_ms in -400..400i16,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut world = World::new(offset_ms);
        for (step, op) in ops.iter().enumerate() {
            world.apply(step, op);
            world.check(step, op);
        }
    }
}
