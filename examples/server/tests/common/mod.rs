//! What the tests share: the loopback HTTP client, and the server started
//! in-process on a manual clock.

#![allow(dead_code)] // each test file uses a part

pub mod http;
pub mod postgres;
pub mod process;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use argon2::Params;
use tokenlife::{
    Authority, Keyring, ManualClock, MemoryStore, Policy, Session, SessionId, SessionStore,
    StoreError, UnixMillis,
};
use tokenlife_axum::Auth;
use tokenlife_example_server::{Users, router, serve};

use http::Http;

/// The demo user's password given to the server processes.
pub const DEMO_PASSWORD: &str = "correct horse battery staple";

/// A whole second, so that a 30 s access token reports `expires: 30000`.
pub const START: UnixMillis = UnixMillis(1_764_000_000_000);

/// A server on a loopback port chosen by the OS.
pub struct Server {
    pub http: Http,
    pub clock: ManualClock,
    pub store: Arc<Switchable>,
}

/// The server in-process on a port chosen by the OS, with a manual clock at
/// [`START`], 30 s access tokens and `users`.
pub async fn start(users: Users) -> Server {
    let clock = ManualClock::new(START);
    let store = Arc::new(Switchable::default());
    let keys = Keyring::new("test", b"a test secret of thirty-two bytes or more").unwrap();
    let policy = Policy::default().with_access_ttl(Duration::from_secs(30));
    let authority = Authority::new(keys, policy, Arc::clone(&store)).with_clock(clock.clone());
    let auth = Auth::new(authority).with_clock(clock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router(auth, users, None)));
    Server {
        http: Http::new(addr),
        clock,
        store,
    }
}

/// Users hashed with argon2id at its smallest cost, so that debug builds
/// stay fast.
pub fn cheap_users() -> Users {
    Users::new(Params::new(Params::MIN_M_COST, 1, 1, None).unwrap()).unwrap()
}

/// A `MemoryStore` that fails every call while `down` is set.
#[derive(Default)]
pub struct Switchable {
    inner: MemoryStore,
    pub down: AtomicBool,
}

impl Switchable {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable(std::io::Error::other(
                "store is down",
            )))
        } else {
            Ok(())
        }
    }
}

impl SessionStore for Switchable {
    async fn insert(&self, session: Session) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert(session).await
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn compare_and_swap(&self, expected: u64, next: Session) -> Result<(), StoreError> {
        self.check()?;
        self.inner.compare_and_swap(expected, next).await
    }
    async fn list_by_subject(&self, subject: &str) -> Result<Vec<Session>, StoreError> {
        self.check()?;
        self.inner.list_by_subject(subject).await
    }
    async fn purge_expired(&self, now: UnixMillis) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.purge_expired(now).await
    }
}
