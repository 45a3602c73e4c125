//! The sans-I/O refresher of `tokenlife::client` against the example
//! server, in-process on loopback, sharing a manual clock.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use serde_json::json;
use tokenlife::client::{Action, Config, RefreshFailure, RefreshTicket, Refresher, Report, Tokens};
use tokenlife::{Clock, ManualClock, UnixMillis};
use tokenlife_axum::{CSRF_HEADER, REFRESH_COOKIE};
use tokio::sync::Notify;

use common::cheap_users;
use common::http::{self, Http};

#[tokio::test]
async fn the_refresher_keeps_a_session_alive_against_the_server() {
    let server = start().await;
    let (http, clock) = (&server.http, &server.clock);

    // Log in; the request is sent at `sent`.
    let sent = clock.now();
    let login = http.post("/auth/login", credentials()).await.unwrap();
    let tokens: Tokens = serde_json::from_value(login.body["data"].clone()).unwrap();
    let mut client = Refresher::with_tokens(Config::default(), tokens, sent);
    let first = access_token(&mut client, clock.now());
    assert_eq!(me(http, &first).await, StatusCode::OK);

    // 30 s tokens: the refresh is due halfway, at 15 s.
    let due = client.poll_timeout().unwrap();
    assert_eq!(due.0 - sent.0, 15_000);
    clock.set(due);
    let Action::RefreshNow {
        refresh_token: Some(spent),
        ticket,
    } = client.token(clock.now())
    else {
        panic!("the refresh is due");
    };
    let spent = spent.to_owned();
    // A second caller meanwhile keeps using the valid token.
    assert_eq!(client.token(clock.now()), Action::UseToken(first.as_str()));
    assert_eq!(me(http, &first).await, StatusCode::OK);
    report(
        &mut client,
        ticket,
        refresh(http, Some(&spent), None).await,
        clock.now(),
    );
    let second = access_token(&mut client, clock.now());
    assert_ne!(second, first);
    assert_eq!(me(http, &second).await, StatusCode::OK);

    // The server goes away (a closed port): back off, then succeed.
    let dead = Http::new(closed_port().await);
    advance_to(clock, client.poll_timeout().unwrap());
    let Action::RefreshNow {
        refresh_token,
        ticket,
    } = client.token(clock.now())
    else {
        panic!("the refresh is due");
    };
    let token = refresh_token.map(str::to_owned);
    let outcome = refresh(&dead, token.as_deref(), None).await;
    assert_eq!(outcome.as_ref().err(), Some(&RefreshFailure::Transport));
    report(&mut client, ticket, outcome, clock.now());
    let retry = client.poll_timeout().unwrap();
    assert_eq!(retry.0 - clock.now().0, 1_000);
    clock.set(retry);
    let Action::RefreshNow {
        refresh_token,
        ticket,
    } = client.token(clock.now())
    else {
        panic!("the retry is due");
    };
    let token = refresh_token.map(str::to_owned);
    // The token expires while the refresh is in flight: callers wait, at
    // most until the refresh's deadline.
    let deadline = client.poll_timeout().unwrap();
    advance_to(clock, client.expires_at().unwrap());
    assert_eq!(client.token(clock.now()), Action::Wait { until: deadline });
    report(
        &mut client,
        ticket,
        refresh(http, token.as_deref(), None).await,
        clock.now(),
    );
    let third = access_token(&mut client, clock.now());
    assert_eq!(me(http, &third).await, StatusCode::OK);

    // The session is revoked elsewhere: the next refresh is rejected.
    let out = http
        .post("/auth/logout", json!({ "refresh_token": spent }))
        .await
        .unwrap();
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    advance_to(clock, client.poll_timeout().unwrap());
    let Action::RefreshNow {
        refresh_token,
        ticket,
    } = client.token(clock.now())
    else {
        panic!("the refresh is due");
    };
    let token = refresh_token.map(str::to_owned);
    let outcome = refresh(http, token.as_deref(), None).await;
    assert_eq!(outcome.as_ref().err(), Some(&RefreshFailure::Rejected));
    report(&mut client, ticket, outcome, clock.now());
    assert_eq!(client.token(clock.now()), Action::LoggedOut);
}

#[tokio::test]
async fn the_refresher_in_cookie_mode_against_the_server() {
    let server = start().await;
    let (http, clock) = (&server.http, &server.clock);
    let mut body = credentials();
    body["mode"] = json!("cookie");
    let sent = clock.now();
    let login = http.post("/auth/login", body).await.unwrap();
    let mut jar = login.cookie(REFRESH_COOKIE).map(str::to_owned);
    let tokens: Tokens = serde_json::from_value(login.body["data"].clone()).unwrap();
    let mut client = Refresher::with_tokens(Config::default(), tokens, sent);

    for _ in 0..3 {
        advance_to(clock, client.poll_timeout().unwrap());
        let Action::RefreshNow {
            refresh_token: None,
            ticket,
        } = client.token(clock.now())
        else {
            panic!("a cookie-mode refresh is due");
        };
        let outcome = refresh(http, None, Some(&mut jar)).await;
        report(&mut client, ticket, outcome, clock.now());
        let access = access_token(&mut client, clock.now());
        assert_eq!(me(http, &access).await, StatusCode::OK);
    }

    // Logging out with the cookie ends it.
    assert_eq!(client.logout(), None);
    let cookie = format!("{REFRESH_COOKIE}={}", jar.clone().unwrap());
    let out = http
        .send(
            Method::POST,
            "/auth/logout",
            &[("cookie", &cookie), (CSRF_HEADER, "XMLHttpRequest")],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let again = refresh(http, None, Some(&mut jar)).await;
    assert_eq!(again.err(), Some(RefreshFailure::Rejected));
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let server = start().await;
    let (http, clock) = (&server.http, &server.clock);
    let login = http.post("/auth/login", credentials()).await.unwrap();
    let tokens: Tokens = serde_json::from_value(login.body["data"].clone()).unwrap();
    let shared = Shared {
        client: Mutex::new(Refresher::with_tokens(
            Config::default(),
            tokens,
            clock.now(),
        )),
        done: Notify::new(),
        refreshes: AtomicUsize::new(0),
    };
    for round in 1..=3 {
        // Past expiry, so that every caller needs the refresh's result.
        let expiry = shared.client.lock().unwrap().expires_at().unwrap();
        advance_to(clock, expiry);
        let callers = (0..5).map(|_| authorised(&shared, http, clock));
        let tokens = futures_join_all(callers).await;
        assert_eq!(
            shared.refreshes.load(Ordering::SeqCst),
            round,
            "one refresh per round"
        );
        assert!(
            tokens.windows(2).all(|w| w[0] == w[1]),
            "all share its result"
        );
        assert_eq!(me(http, &tokens[0]).await, StatusCode::OK);
    }
}

// ---------------------------------------------------------------------------
// Driving the refresher over HTTP

struct Server {
    http: Http,
    clock: ManualClock,
}

async fn start() -> Server {
    let mut users = cheap_users();
    users
        .add(
            "demo@example.com",
            "demo password",
            ("Demo", "User"),
            "editor",
        )
        .unwrap();
    let server = common::start(users).await;
    Server {
        http: server.http,
        clock: server.clock,
    }
}

fn credentials() -> serde_json::Value {
    json!({ "email": "demo@example.com", "password": "demo password" })
}

/// A refresher shared by concurrent callers, as an application holds it.
struct Shared {
    client: Mutex<Refresher>,
    /// Wakes the callers waiting for the refresh in flight.
    done: Notify,
    refreshes: AtomicUsize,
}

/// A token for one request: the caller told to refresh does it and wakes
/// the others; those told to wait sleep until then. Bounded in rounds.
async fn authorised(shared: &Shared, http: &Http, clock: &ManualClock) -> String {
    enum Step {
        Use(String),
        Refresh(Option<String>, RefreshTicket),
        Wait,
    }
    for _ in 0..10 {
        // Created before asking, so a wake-up in between is not missed.
        let done = shared.done.notified();
        let step = match shared.client.lock().unwrap().token(clock.now()) {
            Action::UseToken(t) => Step::Use(t.to_owned()),
            Action::RefreshNow {
                refresh_token,
                ticket,
            } => Step::Refresh(refresh_token.map(str::to_owned), ticket),
            Action::Wait { .. } => Step::Wait,
            Action::LoggedOut => panic!("logged out"),
        };
        match step {
            Step::Use(token) => return token,
            Step::Refresh(token, ticket) => {
                shared.refreshes.fetch_add(1, Ordering::SeqCst);
                let outcome = refresh(http, token.as_deref(), None).await;
                report(
                    &mut shared.client.lock().unwrap(),
                    ticket,
                    outcome,
                    clock.now(),
                );
                shared.done.notify_waiters();
            }
            Step::Wait => {
                let _ = tokio::time::timeout(http::TIMEOUT, done).await;
            }
        }
    }
    panic!("no token after 10 rounds");
}

/// Runs the futures concurrently on this task and collects their outputs.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<_> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in handles.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Moves the shared clock forward to `t` (never back).
fn advance_to(clock: &ManualClock, t: UnixMillis) {
    clock.set(t.max(clock.now()));
}

/// A loopback address where nothing listens.
async fn closed_port() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// The token to use now; panics unless the refresher has one.
fn access_token(client: &mut Refresher, now: UnixMillis) -> String {
    match client.token(now) {
        Action::UseToken(t) => t.to_owned(),
        other => panic!("expected a token, got {other:?}"),
    }
}

async fn me(http: &Http, token: &str) -> StatusCode {
    http.get_bearer("/users/me", token).await.unwrap().status
}

/// `POST /auth/refresh` with the token, or with the cookie in `jar` (which
/// the answer updates), classified as the refresher needs it.
async fn refresh(
    http: &Http,
    token: Option<&str>,
    jar: Option<&mut Option<String>>,
) -> Result<Tokens, RefreshFailure> {
    let reply = match (token, &jar) {
        (Some(token), _) => {
            http.post("/auth/refresh", json!({ "refresh_token": token }))
                .await
        }
        (None, Some(Some(cookie))) => {
            let header = format!("{REFRESH_COOKIE}={cookie}");
            http.send(
                Method::POST,
                "/auth/refresh",
                &[("cookie", &header), (CSRF_HEADER, "XMLHttpRequest")],
                Vec::new(),
            )
            .await
        }
        (None, _) => return Err(RefreshFailure::Rejected),
    };
    let reply = reply.map_err(|_| RefreshFailure::Transport)?;
    match reply.status {
        StatusCode::OK => {
            if let (Some(jar), Some(next)) = (jar, reply.cookie(REFRESH_COOKIE)) {
                *jar = Some(next.to_owned());
            }
            serde_json::from_value(reply.body["data"].clone())
                .map_err(|_| RefreshFailure::Transport)
        }
        StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST => Err(RefreshFailure::Rejected),
        _ => Err(RefreshFailure::Transport),
    }
}

/// Reports the outcome of the refresh of `ticket`, which is still the one in
/// flight.
fn report(
    client: &mut Refresher,
    ticket: RefreshTicket,
    outcome: Result<Tokens, RefreshFailure>,
    now: UnixMillis,
) {
    let report = match outcome {
        Ok(tokens) => client.refreshed(ticket, tokens, now),
        Err(failure) => client.refresh_failed(ticket, failure, now),
    };
    assert_eq!(report, Report::Applied);
}
