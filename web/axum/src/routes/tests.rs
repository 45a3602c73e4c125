//! Login's bound on password checks, seen from inside the routes.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use tokenlife::{Authority, Keyring, MemoryStore, Policy};
use tower::ServiceExt;

use super::router_on;
use crate::{Auth, AuthRoutes, Credentials, Identity, LoginAttempt, Refused};

/// Password checks that block until the gate opens, counting how many run
/// at once.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<Count>, Condvar)>);

#[derive(Default)]
struct Count {
    open: bool,
    running: usize,
    max: usize,
    total: usize,
}

impl Gate {
    fn count<T>(&self, read: impl FnOnce(&Count) -> T) -> T {
        read(&self.0.0.lock().unwrap())
    }

    fn open(&self) {
        self.0.0.lock().unwrap().open = true;
        self.0.1.notify_all();
    }
}

impl Credentials for Gate {
    type Claims = ();

    fn check(&self, _: &LoginAttempt) -> Result<Identity<()>, Refused> {
        let (lock, opened) = &*self.0;
        let mut count = lock.lock().unwrap();
        count.running += 1;
        count.total += 1;
        count.max = count.max.max(count.running);
        // Bounded: a broken test fails instead of hanging.
        let (mut count, _) = opened
            .wait_timeout_while(count, Duration::from_secs(20), |c| !c.open)
            .unwrap();
        count.running -= 1;
        Err(Refused::InvalidCredentials)
    }
}

fn login(n: usize) -> Request<Body> {
    let body = format!(r#"{{"email":"user{n}@example.com","password":"x"}}"#);
    Request::post("/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// Waits (bounded) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition not reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_logins_never_run_more_hashes_than_the_bound() {
    const BOUND: usize = 2;
    const N: usize = 6;
    let gate = Gate::default();
    let keys = Keyring::new("k", b"a test secret of thirty-two bytes or more").unwrap();
    let auth = Auth::new(Authority::new(keys, Policy::default(), MemoryStore::new()));
    let state = AuthRoutes::new(auth, gate.clone())
        .concurrent_checks(BOUND)
        .queued_checks(100, Duration::from_secs(60))
        .into_state();
    let router: Router = router_on(Arc::clone(&state));
    let spawn = |from: usize| -> Vec<_> {
        (from..from + N)
            .map(|n| tokio::spawn(router.clone().oneshot(login(n))))
            .collect()
    };

    // N logins: BOUND hash, the rest queue. Then every client goes away.
    let first = spawn(0);
    until(|| gate.count(|c| c.running) == BOUND && state.hashing.waiting() == N - BOUND).await;
    for login in &first {
        login.abort();
    }
    until(|| state.hashing.waiting() == 0).await;

    // The hashes of the aborted logins still hold their permits: N new
    // logins queue behind them instead of hashing at once.
    let second = spawn(N);
    until(|| state.hashing.waiting() == N || gate.count(|c| c.max) > BOUND).await;
    assert_eq!(gate.count(|c| c.running), BOUND);
    gate.open();
    for login in second {
        let answer = login.await.unwrap().unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(
        gate.count(|c| c.max) <= BOUND,
        "at most {BOUND} hashes at once"
    );
    // The aborted logins that were still queued never hashed.
    assert_eq!(gate.count(|c| c.total), BOUND + N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after() {
    let gate = Gate::default();
    let keys = Keyring::new("k", b"a test secret of thirty-two bytes or more").unwrap();
    let auth = Auth::new(Authority::new(keys, Policy::default(), MemoryStore::new()));
    let state = AuthRoutes::new(auth, gate.clone())
        .concurrent_checks(1)
        .queued_checks(1, Duration::from_secs(60))
        .into_state();
    let router: Router = router_on(Arc::clone(&state));
    let hashing = tokio::spawn(router.clone().oneshot(login(0)));
    until(|| gate.count(|c| c.running) == 1).await;
    let queued = tokio::spawn(router.clone().oneshot(login(1)));
    until(|| state.hashing.waiting() == 1).await;

    let refused = router.clone().oneshot(login(2)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "5");
    gate.open();
    for login in [hashing, queued] {
        assert_eq!(
            login.await.unwrap().unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(gate.count(|c| c.total), 2);
}

#[tokio::test]
async fn a_login_that_waits_too_long_for_a_check_answers_503() {
    let gate = Gate::default();
    let keys = Keyring::new("k", b"a test secret of thirty-two bytes or more").unwrap();
    let auth = Auth::new(Authority::new(keys, Policy::default(), MemoryStore::new()));
    let state = AuthRoutes::new(auth, gate.clone())
        .concurrent_checks(1)
        .queued_checks(8, Duration::ZERO)
        .into_state();
    let router: Router = router_on(Arc::clone(&state));
    let hashing = tokio::spawn(router.clone().oneshot(login(0)));
    until(|| gate.count(|c| c.running) == 1).await;
    let refused = router.clone().oneshot(login(1)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    gate.open();
    assert_eq!(
        hashing.await.unwrap().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

fn login_from(email: &str, from: Option<[u8; 4]>) -> Request<Body> {
    let body = format!(r#"{{"email":"{email}","password":"a guess"}}"#);
    let mut request = Request::post("/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    if let Some(ip) = from {
        let peer = std::net::SocketAddr::from((ip, 40_000));
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
    }
    request
}

/// Wrong passwords sent all at once, while every check is still running:
/// the failure budget (10 per account, 10 per address) bounds how many
/// reach the password check, not just how many are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_sent_at_once_never_outrun_the_failure_budget() {
    const AT_ONCE: usize = 30;
    const BUDGET: usize = 10;
    for by_address in [false, true] {
        let gate = Gate::default();
        let keys = Keyring::new("k", b"a test secret of thirty-two bytes or more").unwrap();
        let auth = Auth::new(Authority::new(keys, Policy::default(), MemoryStore::new()));
        let state = AuthRoutes::new(auth, gate.clone())
            .concurrent_checks(4)
            .queued_checks(64, Duration::from_secs(60))
            .into_state();
        let router: Router = router_on(Arc::clone(&state));
        // One account from nowhere in particular, or many accounts from one address.
        let request = |n: usize| {
            if by_address {
                login_from(&format!("user{n}@example.com"), Some([203, 0, 113, 7]))
            } else {
                login_from("alice@example.com", None)
            }
        };
        let logins: Vec<_> = (0..AT_ONCE)
            .map(|n| tokio::spawn(router.clone().oneshot(request(n))))
            .collect();
        // Those past the budget are answered at once, checks still running.
        until(|| logins.iter().filter(|l| l.is_finished()).count() == AT_ONCE - BUDGET).await;
        until(|| gate.count(|c| c.running) + state.hashing.waiting() == BUDGET).await;
        gate.open();
        let mut statuses = Vec::new();
        for login in logins {
            statuses.push(login.await.unwrap().unwrap().status());
        }
        let count = |s: StatusCode| statuses.iter().filter(|&&t| t == s).count();
        assert_eq!(count(StatusCode::UNAUTHORIZED), BUDGET, "{statuses:?}");
        assert_eq!(count(StatusCode::TOO_MANY_REQUESTS), AT_ONCE - BUDGET);
        assert_eq!(gate.count(|c| c.total), BUDGET, "checks run");
        // The budget is spent: the next guess is refused without a check.
        let next = router.clone().oneshot(request(AT_ONCE)).await.unwrap();
        assert_eq!(next.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(gate.count(|c| c.total), BUDGET);
    }
}
