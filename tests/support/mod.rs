//! Shared test harness: a seeded authority on a manual clock, and a store
//! wrapper that injects faults on chosen calls.
//!
//! Each test file uses a different part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tokenlife::{
    Authority, Keyring, ManualClock, MemoryStore, Policy, Session, SessionId, SessionStore,
    SharedRng, StoreError, StoreErrorKind, UnixMillis,
};

/// The instant every test starts at: a whole second, so `exp` is exact.
pub const START: UnixMillis = UnixMillis(1_764_000_000_000);

pub const SECRET: &[u8] = b"test secret: thirty-two bytes or more!!";

pub type TestAuthority<S = Arc<MemoryStore>> = Authority<S, ManualClock, SharedRng<ChaCha20Rng>>;

pub fn keys() -> Keyring {
    Keyring::new("k1", SECRET).unwrap()
}

/// An authority over a fresh `MemoryStore`, with its clock and store.
pub fn authority(policy: Policy) -> (TestAuthority, ManualClock, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let (auth, clock) = authority_on(policy, store.clone());
    (auth, clock, store)
}

/// An authority over `store`, seeded, with its clock at [`START`].
pub fn authority_on<S: SessionStore>(policy: Policy, store: S) -> (TestAuthority<S>, ManualClock) {
    authority_with(keys(), policy, store, 7)
}

pub fn authority_with<S: SessionStore>(
    keys: Keyring,
    policy: Policy,
    store: S,
    seed: u64,
) -> (TestAuthority<S>, ManualClock) {
    let clock = ManualClock::new(START);
    let auth = Authority::new(keys, policy, store)
        .with_clock(clock.clone())
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(seed)));
    (auth, clock)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// Which store call a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Get,
    Cas,
    List,
    Purge,
}

/// What happens on a faulted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails before reaching the inner store.
    Fail,
    /// The call reports a conflict without reaching the inner store.
    Conflict,
    /// The inner store performs the call, then an error is reported (a
    /// timeout after commit: the caller cannot know it succeeded).
    FailAfterWrite,
}

/// Wraps a store; the n-th call overall (counting from 0) gets `fault`.
#[derive(Debug)]
pub struct FaultyStore<S> {
    pub inner: S,
    calls: AtomicUsize,
    plan: Mutex<Vec<(usize, Fault)>>,
    pub log: Mutex<Vec<Op>>,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
            plan: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        }
    }

    /// The call with overall index `call` (from now on counting continues) gets `fault`.
    pub fn fault_at(&self, call: usize, fault: Fault) {
        self.plan.lock().unwrap().push((call, fault));
    }

    /// Faults the next call.
    pub fn fault_next(&self, fault: Fault) {
        let n = self.calls.load(Ordering::SeqCst);
        self.fault_at(n, fault);
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn take(&self, op: Op) -> Option<Fault> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap().push(op);
        let mut plan = self.plan.lock().unwrap();
        let i = plan.iter().position(|(c, _)| *c == n)?;
        Some(plan.remove(i).1)
    }
}

fn injected(kind: StoreErrorKind) -> StoreError {
    #[derive(Debug)]
    struct Injected;
    impl std::fmt::Display for Injected {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("injected fault")
        }
    }
    impl std::error::Error for Injected {}
    StoreError::new(kind, Injected)
}

fn early(fault: Option<Fault>) -> Option<StoreError> {
    match fault {
        Some(Fault::Fail) => Some(injected(StoreErrorKind::Unavailable)),
        Some(Fault::Conflict) => Some(StoreError::conflict()),
        _ => None,
    }
}

fn late<T>(fault: Option<Fault>, result: Result<T, StoreError>) -> Result<T, StoreError> {
    match (fault, result) {
        (Some(Fault::FailAfterWrite), Ok(_)) => Err(injected(StoreErrorKind::Unavailable)),
        (_, r) => r,
    }
}

impl<S: SessionStore> SessionStore for FaultyStore<S> {
    async fn insert(&self, session: Session) -> Result<(), StoreError> {
        let f = self.take(Op::Insert);
        if let Some(e) = early(f) {
            return Err(e);
        }
        late(f, self.inner.insert(session).await)
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let f = self.take(Op::Get);
        if let Some(e) = early(f) {
            return Err(e);
        }
        late(f, self.inner.get(id).await)
    }
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        next: Session,
    ) -> Result<(), StoreError> {
        let f = self.take(Op::Cas);
        if let Some(e) = early(f) {
            return Err(e);
        }
        late(f, self.inner.compare_and_swap(expected_version, next).await)
    }
    async fn list_by_subject(&self, subject: &str) -> Result<Vec<Session>, StoreError> {
        let f = self.take(Op::List);
        if let Some(e) = early(f) {
            return Err(e);
        }
        late(f, self.inner.list_by_subject(subject).await)
    }
    async fn purge_expired(&self, now: UnixMillis) -> Result<u64, StoreError> {
        let f = self.take(Op::Purge);
        if let Some(e) = early(f) {
            return Err(e);
        }
        late(f, self.inner.purge_expired(now).await)
    }
}

/// Every session the store holds for `subject`, sorted by id, for comparing
/// store contents before and after an operation.
pub fn snapshot<S: SessionStore>(store: &S, subject: &str) -> Vec<Session> {
    let mut all = block_on(store.list_by_subject(subject)).unwrap();
    all.sort_by_key(|s| s.id);
    all
}

/// Every `.rs` file under `dir`, subfolders included, in a stable order.
pub fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}
