//! The example server over real HTTP on a loopback port chosen by the OS,
//! with a manual clock: the Directus walkthrough in json and cookie modes,
//! the error codes, body limits, store failures and the login timing. The
//! web crate's own tests cover every route and rejection in detail; these
//! check the server assembled from it.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use argon2::Params;
use axum::http::{Method, StatusCode};
use serde_json::json;
use tokenlife_axum::{CSRF_HEADER, REFRESH_COOKIE};
use tokenlife_example_server::Users;

use common::http::{Http, Reply};
use common::{Server, cheap_users};

const EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn the_walkthrough_in_json_mode() {
    let server = start().await;
    let http = &server.http;

    // POST /auth/login
    let login = http.post("/auth/login", credentials()).await.unwrap();
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    assert_eq!(login.body["data"]["expires"], 30_000);
    let access = login.data("access_token").unwrap().to_owned();
    let refresh = login.data("refresh_token").unwrap().to_owned();

    // An authorised request.
    let me = http.get_bearer("/users/me", &access).await.unwrap();
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.data("email"), Some(EMAIL));
    assert_eq!(me.data("role"), Some("administrator"));

    // 30 s later the access token has expired.
    server.clock.advance(Duration::from_secs(30));
    let me = http.get_bearer("/users/me", &access).await.unwrap();
    assert_eq!(
        (me.status, me.code()),
        (StatusCode::UNAUTHORIZED, Some("TOKEN_EXPIRED"))
    );

    // POST /auth/refresh trades the refresh token for a new pair.
    let next = refresh_with(http, &refresh).await;
    assert_eq!(next.status, StatusCode::OK);
    let next_access = next.data("access_token").unwrap().to_owned();
    let next_refresh = next.data("refresh_token").unwrap().to_owned();
    assert_ne!(next_refresh, refresh);
    let me = http.get_bearer("/users/me", &next_access).await.unwrap();
    assert_eq!(me.status, StatusCode::OK);

    // The spent refresh token is refused (past the 10 s grace window), and
    // its reuse revokes the session: the new tokens die with it.
    server.clock.advance(Duration::from_secs(11));
    let spent = refresh_with(http, &refresh).await;
    assert_eq!(
        (spent.status, spent.code()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    let after = refresh_with(http, &next_refresh).await;
    assert_eq!(after.code(), Some("INVALID_CREDENTIALS"));
    let me = http.get_bearer("/users/me", &next_access).await.unwrap();
    assert_eq!(
        (me.status, me.code()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN"))
    );

    // Log in again, then POST /auth/logout: 204, and the tokens are refused.
    let login = http.post("/auth/login", credentials()).await.unwrap();
    let access = login.data("access_token").unwrap().to_owned();
    let refresh = login.data("refresh_token").unwrap().to_owned();
    let out = http
        .post("/auth/logout", json!({ "refresh_token": refresh }))
        .await
        .unwrap();
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.body.is_null());
    let again = refresh_with(http, &refresh).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    let me = http.get_bearer("/users/me", &access).await.unwrap();
    assert_eq!(
        (me.status, me.code()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN"))
    );
}

#[tokio::test]
async fn the_walkthrough_in_cookie_mode() {
    let server = start().await;
    let http = &server.http;

    let mut body = credentials();
    body["mode"] = json!("cookie");
    let login = http.post("/auth/login", body.clone()).await.unwrap();
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.data("access_token").is_some());
    assert_eq!(login.body["data"]["expires"], 30_000);
    assert!(
        login.body["data"].get("refresh_token").is_none(),
        "the cookie carries it"
    );
    let set_cookie = login.set_cookie(REFRESH_COOKIE).unwrap();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=604800",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    let first = login.cookie(REFRESH_COOKIE).unwrap().to_owned();

    server.clock.advance(Duration::from_secs(30));
    let me = http
        .get_bearer("/users/me", login.data("access_token").unwrap())
        .await
        .unwrap();
    assert_eq!(me.code(), Some("TOKEN_EXPIRED"));

    // Refresh with nothing but the cookie: the answer sets the next one.
    let next = post_with_cookie(http, "/auth/refresh", &first, "").await;
    assert_eq!(next.status, StatusCode::OK, "{next:?}");
    assert!(next.body["data"].get("refresh_token").is_none());
    let second = next.cookie(REFRESH_COOKIE).unwrap().to_owned();
    assert_ne!(second, first);
    let me = http
        .get_bearer("/users/me", next.data("access_token").unwrap())
        .await
        .unwrap();
    assert_eq!(me.status, StatusCode::OK);

    // An explicit cookie mode works the same.
    let third = post_with_cookie(http, "/auth/refresh", &second, r#"{"mode":"cookie"}"#).await;
    assert_eq!(third.status, StatusCode::OK);
    assert!(third.cookie(REFRESH_COOKIE).is_some());

    // The spent cookie is refused after the grace window.
    server.clock.advance(Duration::from_secs(11));
    let spent = post_with_cookie(http, "/auth/refresh", &first, "").await;
    assert_eq!(
        (spent.status, spent.code()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );

    // Log in again; logout reads the cookie and clears it.
    let login = http.post("/auth/login", body).await.unwrap();
    let cookie = login.cookie(REFRESH_COOKIE).unwrap().to_owned();
    let out = post_with_cookie(http, "/auth/logout", &cookie, "").await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = out.set_cookie(REFRESH_COOKIE).unwrap();
    assert!(cleared.starts_with(&format!("{REFRESH_COOKIE}=;")) && cleared.contains("Max-Age=0"));
    let again = post_with_cookie(http, "/auth/refresh", &cookie, "").await;
    assert_eq!(again.code(), Some("INVALID_CREDENTIALS"));
    let me = http
        .get_bearer("/users/me", login.data("access_token").unwrap())
        .await
        .unwrap();
    assert_eq!(me.code(), Some("INVALID_TOKEN"));
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_get_the_same_successor() {
    let server = start().await;
    let login = server
        .http
        .post("/auth/login", credentials())
        .await
        .unwrap();
    let token = login.data("refresh_token").unwrap();
    let (a, b) = tokio::join!(
        refresh_with(&server.http, token),
        refresh_with(&server.http, token)
    );
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a.data("refresh_token"), b.data("refresh_token"));
}

#[tokio::test]
async fn wrong_credentials_are_invalid_credentials_whoever_asks() {
    let server = start().await;
    let http = &server.http;
    for body in [
        json!({ "email": EMAIL, "password": "wrong" }),
        json!({ "email": "nobody@example.com", "password": PASSWORD }),
        json!({ "email": EMAIL, "password": "" }),
    ] {
        let reply = http.post("/auth/login", body).await.unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
        );
        assert_eq!(
            reply.body["errors"][0]["message"],
            "Invalid user credentials."
        );
    }
    // Emails are matched case-insensitively, as Directus does.
    let reply = http
        .post(
            "/auth/login",
            json!({ "email": "  Admin@Example.COM", "password": PASSWORD }),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_or_malformed_bodies_are_invalid_payload() {
    let server = start().await;
    let http = &server.http;
    let bodies: [&[u8]; 7] = [
        b"",
        b"not json",
        b"[1, 2]",
        br#"{"email": 5, "password": "x"}"#,
        br#"{"email": "admin@example.com"}"#,
        br#"{"password": "x"}"#,
        br#"{"email": "admin@example.com", "password": "x", "mode": "session"}"#,
    ];
    for body in bodies {
        let reply = http
            .send(Method::POST, "/auth/login", &[], body.to_vec())
            .await
            .unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, Some("INVALID_PAYLOAD")),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    for path in ["/auth/refresh", "/auth/logout"] {
        let reply = http
            .send(Method::POST, path, &[], Vec::new())
            .await
            .unwrap();
        assert_eq!(
            reply.code(),
            Some("INVALID_PAYLOAD"),
            "{path} without a token"
        );
        let reply = http
            .post(path, json!({ "refresh_token": 7 }))
            .await
            .unwrap();
        assert_eq!(
            reply.code(),
            Some("INVALID_PAYLOAD"),
            "{path} with a number"
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let server = start().await;
    let padding = "x".repeat(tokenlife_axum::DEFAULT_BODY_BYTES);
    let body = json!({ "email": EMAIL, "password": padding }).to_string();
    for path in ["/auth/login", "/auth/refresh", "/auth/logout"] {
        let reply = server
            .http
            .send(Method::POST, path, &[], body.clone().into_bytes())
            .await
            .unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("CONTENT_TOO_LARGE"))
        );
    }
}

#[tokio::test]
async fn bad_tokens_answer_directus_codes() {
    let server = start().await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await.unwrap();
    let access = login.data("access_token").unwrap();
    let refresh = login.data("refresh_token").unwrap();

    let mut forged = refresh.to_owned();
    forged.pop();
    forged.push(if refresh.ends_with('A') { 'B' } else { 'A' });
    for token in ["", "tlr1.garbage.tag", forged.as_str(), access] {
        let reply = refresh_with(http, token).await;
        let expected = if token.is_empty() {
            (StatusCode::BAD_REQUEST, Some("INVALID_PAYLOAD"))
        } else {
            (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
        };
        assert_eq!(
            (reply.status, reply.code()),
            expected,
            "refresh with {token:?}"
        );
    }
    // The forgeries changed nothing: the real token still works.
    assert_eq!(refresh_with(http, refresh).await.status, StatusCode::OK);

    // A bearer that is no JWT at all is Directus's INVALID_CREDENTIALS; a
    // refresh token is told apart as the wrong type of token.
    for (token, code) in [
        ("garbage", "INVALID_CREDENTIALS"),
        ("a.b.c", "INVALID_CREDENTIALS"),
        (refresh, "INVALID_TOKEN"),
    ] {
        let reply = http.get_bearer("/users/me", token).await.unwrap();
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, Some(code)),
            "{token}"
        );
    }
    let anonymous = http
        .send(Method::GET, "/users/me", &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    let basic = http
        .send(
            Method::GET,
            "/users/me",
            &[("authorization", "Basic YTpi")],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(basic.code(), Some("INVALID_CREDENTIALS"));

    let lost = http
        .send(Method::GET, "/nowhere", &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(
        (lost.status, lost.code()),
        (StatusCode::NOT_FOUND, Some("ROUTE_NOT_FOUND"))
    );
}

#[tokio::test]
async fn a_failing_store_is_service_unavailable() {
    let server = start().await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await.unwrap();
    let access = login.data("access_token").unwrap();
    let refresh = login.data("refresh_token").unwrap();

    server.store.down.store(true, Ordering::SeqCst);
    let unavailable = (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE"));
    let reply = http.post("/auth/login", credentials()).await.unwrap();
    assert_eq!((reply.status, reply.code()), unavailable);
    let reply = refresh_with(http, refresh).await;
    assert_eq!((reply.status, reply.code()), unavailable);
    let reply = http.get_bearer("/users/me", access).await.unwrap();
    assert_eq!((reply.status, reply.code()), unavailable);

    // Nothing was lost: once the store is back the same tokens work.
    server.store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        http.get_bearer("/users/me", access).await.unwrap().status,
        StatusCode::OK
    );
    assert_eq!(refresh_with(http, refresh).await.status, StatusCode::OK);
}

#[test]
fn an_unknown_email_costs_one_argon2_verification_like_a_wrong_password() {
    // Heavy enough that skipping the verification would stand out by far.
    let params = Params::new(4 * 1024, 1, 1, None).unwrap();
    let mut users = Users::new(params).unwrap();
    users.add(EMAIL, PASSWORD, ("A", "B"), "r").unwrap();
    let time = |email: &str| {
        let started = Instant::now();
        assert!(users.check(email, "wrong").is_none());
        started.elapsed()
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        known.push(time(EMAIL));
        unknown.push(time("nobody@example.com"));
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[2], unknown[2]);
    assert!(
        unknown * 3 >= known && known * 3 >= unknown,
        "median wrong password {known:?}, median unknown email {unknown:?}"
    );
}

// ---------------------------------------------------------------------------

async fn start() -> Server {
    common::start(users()).await
}

/// The demo user, hashed with argon2id at its smallest cost.
fn users() -> Users {
    let mut users = cheap_users();
    users
        .add(EMAIL, PASSWORD, ("Demo", "Admin"), "administrator")
        .unwrap();
    users
}

fn credentials() -> serde_json::Value {
    json!({ "email": EMAIL, "password": PASSWORD })
}

async fn refresh_with(http: &Http, token: &str) -> Reply {
    http.post("/auth/refresh", json!({ "refresh_token": token }))
        .await
        .unwrap()
}

/// A POST with the refresh cookie; without a JSON body it sends the custom
/// CSRF header, as a browser script would.
async fn post_with_cookie(http: &Http, path: &str, cookie: &str, body: &str) -> Reply {
    let header = format!("theme=dark; {REFRESH_COOKIE}={cookie}");
    let mut headers = vec![("cookie", header.as_str())];
    if body.is_empty() {
        headers.push((CSRF_HEADER, "XMLHttpRequest"));
    }
    http.send(Method::POST, path, &headers, body.as_bytes().to_vec())
        .await
        .unwrap()
}
