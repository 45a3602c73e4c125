//! Every route over real HTTP on a loopback listener, with a manual clock:
//! the Directus walkthrough in json and cookie modes, own sessions, the
//! limits, CSRF, logout with two tokens, and the cache headers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use tokenlife::revocation::RevocationNotice;
use tokenlife::{RevokeReason, SessionId, SharedRevocations};
use tokenlife_axum::{Auth, CSRF_HEADER, Limit, REFRESH_COOKIE};

use common::*;

#[tokio::test]
async fn the_walkthrough_in_json_mode() {
    let server = start().await;
    let http = &server.http;

    let login = http.post("/auth/login", credentials()).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    assert_eq!(login.body["data"]["expires"], 30_000);
    let access = login.data("access_token").unwrap().to_owned();
    let refresh = login.data("refresh_token").unwrap().to_owned();

    let me = http.get_bearer("/users/me", &access).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.data("id"), Some("user-1"));
    assert_eq!(me.data("role"), Some("administrator"));

    server.clock.advance(Duration::from_secs(30));
    let me = http.get_bearer("/users/me", &access).await;
    assert_eq!(
        me.answer(),
        (StatusCode::UNAUTHORIZED, Some("TOKEN_EXPIRED"))
    );

    let next = refresh_with(http, &refresh).await;
    assert_eq!(next.status, StatusCode::OK);
    let next_access = next.data("access_token").unwrap().to_owned();
    let next_refresh = next.data("refresh_token").unwrap().to_owned();
    assert_ne!(next_refresh, refresh);
    assert_eq!(
        http.get_bearer("/users/me", &next_access).await.status,
        StatusCode::OK
    );

    // Past the 10 s grace window the spent token is reuse: it revokes the
    // session, and the new tokens die with it.
    server.clock.advance(Duration::from_secs(11));
    let spent = refresh_with(http, &refresh).await;
    assert_eq!(
        spent.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    let after = refresh_with(http, &next_refresh).await;
    assert_eq!(after.code(), Some("INVALID_CREDENTIALS"));
    let me = http.get_bearer("/users/me", &next_access).await;
    assert_eq!(
        me.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN"))
    );

    let login = http.post("/auth/login", credentials()).await;
    let access = login.data("access_token").unwrap().to_owned();
    let refresh = login.data("refresh_token").unwrap().to_owned();
    let out = http
        .post("/auth/logout", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.body.is_null());
    let again = refresh_with(http, &refresh).await;
    assert_eq!(
        again.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    let me = http.get_bearer("/users/me", &access).await;
    assert_eq!(
        me.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN"))
    );
    // The stateless extractor accepts it until `exp`, as documented.
    assert_eq!(
        http.get_bearer("/stateless", &access).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_walkthrough_in_cookie_mode() {
    let server = start().await;
    let http = &server.http;

    let mut body = credentials();
    body["mode"] = json!("cookie");
    let login = http.post("/auth/login", body.clone()).await;
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
    let next = post_with_cookie(http, "/auth/refresh", &first, "").await;
    assert_eq!(next.status, StatusCode::OK, "{next:?}");
    assert!(next.body["data"].get("refresh_token").is_none());
    let second = next.cookie(REFRESH_COOKIE).unwrap().to_owned();
    assert_ne!(second, first);
    let me = http
        .get_bearer("/users/me", next.data("access_token").unwrap())
        .await;
    assert_eq!(me.status, StatusCode::OK);

    let third = post_with_cookie(http, "/auth/refresh", &second, r#"{"mode":"cookie"}"#).await;
    assert_eq!(third.status, StatusCode::OK);
    assert!(third.cookie(REFRESH_COOKIE).is_some());

    server.clock.advance(Duration::from_secs(11));
    let spent = post_with_cookie(http, "/auth/refresh", &first, "").await;
    assert_eq!(
        spent.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );

    let login = http.post("/auth/login", body).await;
    let cookie = login.cookie(REFRESH_COOKIE).unwrap().to_owned();
    let out = post_with_cookie(http, "/auth/logout", &cookie, "").await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = out.set_cookie(REFRESH_COOKIE).unwrap();
    assert!(cleared.starts_with(&format!("{REFRESH_COOKIE}=;")) && cleared.contains("Max-Age=0"));
    let again = post_with_cookie(http, "/auth/refresh", &cookie, "").await;
    assert_eq!(again.code(), Some("INVALID_CREDENTIALS"));
    let me = http
        .get_bearer("/users/me", login.data("access_token").unwrap())
        .await;
    assert_eq!(me.code(), Some("INVALID_TOKEN"));
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_get_the_same_successor() {
    let server = start().await;
    let login = server.http.post("/auth/login", credentials()).await;
    let token = login.data("refresh_token").unwrap();
    let (a, b) = tokio::join!(
        refresh_with(&server.http, token),
        refresh_with(&server.http, token)
    );
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a.data("refresh_token"), b.data("refresh_token"));
}

#[tokio::test]
async fn a_second_factor_is_asked_for_and_checked() {
    let server = start().await;
    let http = &server.http;
    let without = http
        .post(
            "/auth/login",
            json!({ "email": OTP_EMAIL, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        without.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_OTP"))
    );
    let wrong = http
        .post(
            "/auth/login",
            json!({ "email": OTP_EMAIL, "password": PASSWORD, "otp": "000000" }),
        )
        .await;
    assert_eq!(
        wrong.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_OTP"))
    );
    let right = http
        .post(
            "/auth/login",
            json!({ "email": OTP_EMAIL, "password": PASSWORD, "otp": OTP }),
        )
        .await;
    assert_eq!(right.status, StatusCode::OK);
}

#[tokio::test]
async fn token_answers_are_never_cached() {
    let server = start().await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await;
    let refreshed = refresh_with(http, login.data("refresh_token").unwrap()).await;
    let refused = refresh_with(http, "tlr1.garbage.tag").await;
    for reply in [&login, &refreshed, &refused] {
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
        assert_eq!(reply.header("pragma"), Some("no-cache"), "{reply:?}");
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
            .await;
        assert_eq!(
            reply.answer(),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("CONTENT_TOO_LARGE"))
        );
    }
    assert_eq!(server.users.checks(), 0);
}

#[tokio::test]
async fn a_request_past_the_time_limit_is_unavailable() {
    let server = start_with(|r| r.time_limit(Duration::from_millis(100)), |a| a).await;
    // The password check hangs until the answer has come.
    server
        .users
        .hold
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let reply = server.http.post("/auth/login", credentials()).await;
    server
        .users
        .hold
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        reply.answer(),
        (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE"))
    );
    assert!(reply.header("retry-after").is_some());
    assert_eq!(server.users.checks(), 1);
}

/// A store that does not answer: every route of the crate answers 503 in
/// time, including those whose `LiveClaims` extractor reads the store
/// before the handler runs.
#[tokio::test]
async fn a_hung_store_answers_503_within_the_time_limit_on_every_route() {
    let server = start_with(|r| r.time_limit(Duration::from_millis(200)), |a| a).await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await;
    let access = login.data("access_token").unwrap();
    let refresh = login.data("refresh_token").unwrap();
    let listed = http.get_bearer("/auth/sessions", access).await;
    let session = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {access}");
    let delete = |path: String| {
        let bearer = bearer.clone();
        async move {
            http.send(
                Method::DELETE,
                &path,
                &[("authorization", &bearer)],
                Vec::new(),
            )
            .await
        }
    };

    server.store.set_hung(true);
    let started = std::time::Instant::now();
    let replies = [
        http.post("/auth/login", credentials()).await,
        refresh_with(http, refresh).await,
        http.post("/auth/logout", json!({ "refresh_token": refresh }))
            .await,
        http.get_bearer("/auth/sessions", access).await,
        delete("/auth/sessions".to_owned()).await,
        delete(format!("/auth/sessions/{session}")).await,
    ];
    server.store.set_hung(false);
    for reply in &replies {
        assert_eq!(
            reply.answer(),
            (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE")),
            "{reply:?}"
        );
        assert!(reply.header("retry-after").is_some(), "{reply:?}");
    }
    // Six requests, each cut at its limit rather than waiting for the store.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Nothing was lost: the session still refreshes.
    assert_eq!(refresh_with(http, refresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_failing_store_is_service_unavailable_and_leaks_nothing() {
    let server = start().await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await;
    let access = login.data("access_token").unwrap();
    let refresh = login.data("refresh_token").unwrap();

    server.store.set_down(true);
    let unavailable = (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE"));
    let replies = [
        http.post("/auth/login", credentials()).await,
        refresh_with(http, refresh).await,
        http.post("/auth/logout", json!({ "refresh_token": refresh }))
            .await,
        http.get_bearer("/users/me", access).await,
        http.get_bearer("/auth/sessions", access).await,
    ];
    for reply in &replies {
        assert_eq!(reply.answer(), unavailable, "{reply:?}");
        assert_eq!(reply.header("retry-after"), Some("5"));
        let text = reply.body.to_string();
        for secret in ["hunter2", "10.0.0.7", access, refresh] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    server.store.set_down(false);
    assert_eq!(
        http.get_bearer("/users/me", access).await.status,
        StatusCode::OK
    );
    assert_eq!(refresh_with(http, refresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn with_a_fresh_revocation_set_live_claims_need_no_store() {
    let policy = tokenlife::Policy::default();
    let set = Arc::new(SharedRevocations::new(&policy));
    set.mark_synced(START);
    let keys = tokenlife::Keyring::new("test", SECRET).unwrap();
    let with_set = Arc::clone(&set);
    let server = start_on(keys, move |a| Auth::new(a.with_revocations(with_set))).await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await;
    let access = login.data("access_token").unwrap().to_owned();
    let other = http.post("/auth/login", credentials()).await;
    let other = other.data("access_token").unwrap().to_owned();
    let listed = http.get_bearer("/auth/sessions", &access).await;
    let session: SessionId = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // The set is fresh: no store read (verify_live would be 503 now).
    server.store.set_down(true);
    let me = http.get_bearer("/users/me", &access).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");

    // A revocation another instance made, as a feed delivers it.
    let notice = RevocationNotice {
        session,
        at: START,
        reason: RevokeReason::Logout,
    };
    set.insert(notice, START);
    let me = http.get_bearer("/users/me", &access).await;
    assert_eq!(
        me.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN"))
    );

    let me = http.get_bearer("/users/me", &other).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");

    // Once the set is stale (no feed moved its watermark), it is not
    // trusted: the store is read, and it is down.
    server.clock.advance(policy.max_revocation_lag());
    let me = http.get_bearer("/users/me", &other).await;
    assert_eq!(me.status, StatusCode::OK, "fresh up to the lag itself");
    server.clock.advance(Duration::from_millis(1));
    let me = http.get_bearer("/users/me", &other).await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE, "{me:?}");
}

#[tokio::test]
async fn an_unavailable_user_database_is_503_and_not_a_failure() {
    let server = start_with(
        |r| r.account_failures(Limit::new(1, Duration::from_secs(60)).unwrap()),
        |a| a,
    )
    .await;
    server
        .users
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..3 {
        let reply = server.http.post("/auth/login", credentials()).await;
        assert_eq!(
            reply.answer(),
            (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE"))
        );
    }
    server
        .users
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        server.http.post("/auth/login", credentials()).await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------
// Own sessions

#[tokio::test]
async fn a_user_lists_their_sessions_with_user_agent_and_address() {
    let server = start().await;
    let http = &server.http;
    let mut tokens = Vec::new();
    for agent in ["Firefox", "Curl"] {
        let login = http
            .send(
                Method::POST,
                "/auth/login",
                &[("user-agent", agent)],
                credentials().to_string().into_bytes(),
            )
            .await;
        tokens.push(login.data("access_token").unwrap().to_owned());
        server.clock.advance(Duration::from_secs(1));
    }
    // Another user's session is not listed.
    http.post(
        "/auth/login",
        json!({ "email": OTP_EMAIL, "password": PASSWORD, "otp": OTP }),
    )
    .await;

    let list = http.get_bearer("/auth/sessions", &tokens[1]).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let sessions = list.body["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["user_agent"], "Firefox");
    assert_eq!(sessions[1]["user_agent"], "Curl");
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert_eq!(
        (
            sessions[0]["current"].as_bool(),
            sessions[1]["current"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert!(sessions[0]["id"].is_string());

    let anonymous = http
        .send(Method::GET, "/auth/sessions", &[], Vec::new())
        .await;
    assert_eq!(
        anonymous.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn a_user_revokes_one_session_but_not_someone_elses() {
    let server = start().await;
    let http = &server.http;
    let mine = http.post("/auth/login", credentials()).await;
    let other_device = http.post("/auth/login", credentials()).await;
    let theirs = http
        .post(
            "/auth/login",
            json!({ "email": OTP_EMAIL, "password": PASSWORD, "otp": OTP }),
        )
        .await;
    let access = mine.data("access_token").unwrap();
    let list = http
        .get_bearer("/auth/sessions", theirs.data("access_token").unwrap())
        .await;
    let their_id = list.body["data"][0]["id"].as_str().unwrap().to_owned();
    let list = http.get_bearer("/auth/sessions", access).await;
    let other_id = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let bearer = format!("Bearer {access}");
    let revoke = |id: String| {
        let bearer = bearer.clone();
        async move {
            http.send(
                Method::DELETE,
                &format!("/auth/sessions/{id}"),
                &[("authorization", &bearer)],
                Vec::new(),
            )
            .await
        }
    };
    // Someone else's session, and ids that name none, are forbidden alike.
    for id in [
        their_id,
        "AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "not-an-id".to_owned(),
    ] {
        assert_eq!(
            revoke(id).await.answer(),
            (StatusCode::FORBIDDEN, Some("FORBIDDEN"))
        );
    }
    assert_eq!(
        refresh_with(http, theirs.data("refresh_token").unwrap())
            .await
            .status,
        StatusCode::OK
    );

    assert_eq!(
        revoke(other_id.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    // Revoking it again is still 204.
    assert_eq!(revoke(other_id).await.status, StatusCode::NO_CONTENT);
    let dead = refresh_with(http, other_device.data("refresh_token").unwrap()).await;
    assert_eq!(dead.code(), Some("INVALID_CREDENTIALS"));
    assert_eq!(
        http.get_bearer("/users/me", other_device.data("access_token").unwrap())
            .await
            .code(),
        Some("INVALID_TOKEN")
    );
    assert_eq!(
        http.get_bearer("/users/me", access).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_user_logs_out_every_other_device() {
    let server = start().await;
    let http = &server.http;
    let logins = [
        http.post("/auth/login", credentials()).await,
        http.post("/auth/login", credentials()).await,
        http.post("/auth/login", credentials()).await,
    ];
    let keep = logins[0].data("access_token").unwrap();
    let out = http
        .send(
            Method::DELETE,
            "/auth/sessions",
            &[("authorization", &format!("Bearer {keep}"))],
            Vec::new(),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{out:?}");
    assert_eq!(out.body["data"]["revoked"], 2);
    assert_eq!(
        http.get_bearer("/users/me", keep).await.status,
        StatusCode::OK
    );
    for login in &logins[1..] {
        assert_eq!(
            refresh_with(http, login.data("refresh_token").unwrap())
                .await
                .code(),
            Some("INVALID_CREDENTIALS")
        );
    }
    let list = http.get_bearer("/auth/sessions", keep).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------
// Logout with two tokens (issue 12, finding 7)

#[tokio::test]
async fn logout_with_a_body_token_and_a_cookie_token_revokes_both() {
    let server = start().await;
    let http = &server.http;
    let in_body = http.post("/auth/login", credentials()).await;
    let mut cookie_login = credentials();
    cookie_login["mode"] = json!("cookie");
    let in_cookie = http.post("/auth/login", cookie_login).await;
    let cookie = in_cookie.cookie(REFRESH_COOKIE).unwrap();
    let body_token = in_body.data("refresh_token").unwrap();

    let body = json!({ "refresh_token": body_token }).to_string();
    let out = post_with_cookie(http, "/auth/logout", cookie, &body).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.set_cookie(REFRESH_COOKIE)
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        refresh_with(http, body_token).await.code(),
        Some("INVALID_CREDENTIALS")
    );
    let with_cookie = post_with_cookie(http, "/auth/refresh", cookie, "").await;
    assert_eq!(
        with_cookie.answer(),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
}

#[tokio::test]
async fn a_stale_cookie_does_not_spoil_the_logout_of_the_body_token() {
    let server = start().await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await;
    let token = login.data("refresh_token").unwrap();
    let body = json!({ "refresh_token": token }).to_string();
    let out = post_with_cookie(http, "/auth/logout", "tlr1.stale.cookie", &body).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        refresh_with(http, token).await.code(),
        Some("INVALID_CREDENTIALS")
    );
}

// ---------------------------------------------------------------------------
// Content types and cross-site requests (issue 12, finding 5)

#[tokio::test]
async fn bodies_that_are_not_json_are_unsupported_media_type() {
    let server = start().await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await;
    let token = login.data("refresh_token").unwrap();
    let checks_before = server.users.checks();
    let login_body = credentials().to_string();
    let refresh_body = json!({ "refresh_token": token, "mode": "cookie" }).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        for (path, body) in [
            ("/auth/login", &login_body),
            ("/auth/refresh", &refresh_body),
            ("/auth/logout", &refresh_body),
        ] {
            let reply = http
                .send(
                    Method::POST,
                    path,
                    &[("content-type", content_type)],
                    body.clone().into_bytes(),
                )
                .await;
            assert_eq!(
                reply.answer(),
                (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    Some("UNSUPPORTED_MEDIA_TYPE")
                ),
                "{path} as {content_type}"
            );
            assert!(reply.set_cookie(REFRESH_COOKIE).is_none());
        }
    }
    assert_eq!(
        server.users.checks(),
        checks_before,
        "no password was checked"
    );
    // The token was not spent by any of them.
    assert_eq!(refresh_with(http, token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cookie_requests_from_a_foreign_origin_are_forbidden() {
    let server = start_with(
        |r| r,
        |a| a.with_allowed_origins(["https://app.example.com"]),
    )
    .await;
    let http = &server.http;
    let host = server.addr.to_string();
    let own = format!("http://{host}");
    let mut cookie_login = credentials();
    cookie_login["mode"] = json!("cookie");
    let body = cookie_login.to_string();

    let foreign: [&[(&str, &str)]; 3] = [
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
    ];
    for headers in foreign {
        let reply = http
            .send(
                Method::POST,
                "/auth/login",
                headers,
                body.clone().into_bytes(),
            )
            .await;
        assert_eq!(
            reply.answer(),
            (StatusCode::FORBIDDEN, Some("FORBIDDEN")),
            "{headers:?}"
        );
        assert!(reply.set_cookie(REFRESH_COOKIE).is_none());
    }
    let allowed: [&[(&str, &str)]; 3] = [
        &[("origin", own.as_str())],
        &[("origin", "https://app.example.com")],
        &[("sec-fetch-site", "same-origin")],
    ];
    let mut cookie = String::new();
    for headers in allowed {
        let reply = http
            .send(
                Method::POST,
                "/auth/login",
                headers,
                body.clone().into_bytes(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{headers:?}");
        cookie = reply.cookie(REFRESH_COOKIE).unwrap().to_owned();
    }

    // Refresh with the cookie: a foreign origin is refused, and so is a
    // request that proves neither a JSON body nor the custom header.
    let jar = format!("{REFRESH_COOKIE}={cookie}");
    let cross = http
        .send(
            Method::POST,
            "/auth/refresh",
            &[
                ("cookie", &jar),
                ("origin", "https://evil.example"),
                (CSRF_HEADER, "1"),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(cross.answer(), (StatusCode::FORBIDDEN, Some("FORBIDDEN")));
    let bare = http
        .send(
            Method::POST,
            "/auth/refresh",
            &[("cookie", &jar)],
            Vec::new(),
        )
        .await;
    assert_eq!(
        bare.answer(),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("UNSUPPORTED_MEDIA_TYPE")
        )
    );
    // The attack of the finding: the attacker's own token in a JSON body
    // with mode cookie, planted cross-site.
    let plant = json!({ "refresh_token": cookie, "mode": "cookie" }).to_string();
    let planted = http
        .send(
            Method::POST,
            "/auth/refresh",
            &[("origin", "https://evil.example")],
            plant.into_bytes(),
        )
        .await;
    assert_eq!(planted.answer(), (StatusCode::FORBIDDEN, Some("FORBIDDEN")));
    assert!(planted.set_cookie(REFRESH_COOKIE).is_none());
    let fine = http
        .send(
            Method::POST,
            "/auth/refresh",
            &[("cookie", &jar), ("origin", &own), (CSRF_HEADER, "1")],
            Vec::new(),
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{fine:?}");
}

#[tokio::test]
async fn the_access_cookie_is_read_and_guarded_when_configured() {
    let server = start_with(|r| r, |a| a.with_access_cookie("directus_session_token")).await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await;
    let jar = format!(
        "directus_session_token={}",
        login.data("access_token").unwrap()
    );
    let read = http
        .send(Method::GET, "/users/me", &[("cookie", &jar)], Vec::new())
        .await;
    assert_eq!(read.status, StatusCode::OK);
    // A state-changing request authorised by the cookie passes the CSRF checks.
    let forged = http
        .send(
            Method::POST,
            "/users/me",
            &[
                ("cookie", &jar),
                ("origin", "https://evil.example"),
                (CSRF_HEADER, "1"),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(forged.answer(), (StatusCode::FORBIDDEN, Some("FORBIDDEN")));
    let bare = http
        .send(Method::POST, "/users/me", &[("cookie", &jar)], Vec::new())
        .await;
    assert_eq!(bare.code(), Some("UNSUPPORTED_MEDIA_TYPE"));
    let scripted = http
        .send(
            Method::POST,
            "/users/me",
            &[("cookie", &jar), (CSRF_HEADER, "1")],
            Vec::new(),
        )
        .await;
    assert_eq!(scripted.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------
// Throttling (issue 12, finding 6), on the manual clock

#[tokio::test]
async fn ten_failed_logins_throttle_the_account_without_running_the_hash() {
    let server = start().await;
    let http = &server.http;
    let wrong = json!({ "email": EMAIL, "password": "wrong" });
    for _ in 0..10 {
        assert_eq!(
            http.post("/auth/login", wrong.clone()).await.code(),
            Some("INVALID_CREDENTIALS")
        );
    }
    assert_eq!(server.users.checks(), 10);
    // The right password too: the account is out of failures.
    for body in [
        wrong.clone(),
        credentials(),
        json!({ "email": " ADMIN@example.com ", "password": PASSWORD }),
    ] {
        let throttled = http.post("/auth/login", body).await;
        assert_eq!(
            throttled.answer(),
            (StatusCode::TOO_MANY_REQUESTS, Some("REQUESTS_EXCEEDED"))
        );
        assert_eq!(throttled.header("retry-after"), Some("90"));
    }
    assert_eq!(
        server.users.checks(),
        10,
        "a throttled attempt runs no hash"
    );

    // One failure's worth comes back after 90 s.
    server.clock.advance(Duration::from_secs(89));
    assert_eq!(
        http.post("/auth/login", credentials())
            .await
            .header("retry-after"),
        Some("1")
    );
    server.clock.advance(Duration::from_secs(1));
    assert_eq!(
        http.post("/auth/login", credentials()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn successful_logins_spend_no_budget() {
    let server = start_with(
        |r| r.account_failures(Limit::new(2, Duration::from_secs(60)).unwrap()),
        |a| a,
    )
    .await;
    for _ in 0..20 {
        assert_eq!(
            server.http.post("/auth/login", credentials()).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn failures_spread_over_accounts_throttle_the_address() {
    let server = start_with(
        |r| r.address_failures(Limit::new(3, Duration::from_secs(60)).unwrap()),
        |a| a,
    )
    .await;
    let http = &server.http;
    for n in 0..3 {
        let spray = json!({ "email": format!("victim{n}@example.com"), "password": "Summer2026!" });
        assert_eq!(
            http.post("/auth/login", spray).await.code(),
            Some("INVALID_CREDENTIALS")
        );
    }
    let throttled = http.post("/auth/login", credentials()).await;
    assert_eq!(
        throttled.answer(),
        (StatusCode::TOO_MANY_REQUESTS, Some("REQUESTS_EXCEEDED"))
    );
    assert_eq!(throttled.header("retry-after"), Some("20"));
    assert_eq!(server.users.checks(), 3);
    server.clock.advance(Duration::from_secs(20));
    assert_eq!(
        http.post("/auth/login", credentials()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_session_cannot_be_refreshed_faster_than_its_budget() {
    let server = start_with(
        |r| r.session_refreshes(Limit::new(3, Duration::from_secs(30)).unwrap()),
        |a| a,
    )
    .await;
    let http = &server.http;
    let login = http.post("/auth/login", credentials()).await;
    let mut token = login.data("refresh_token").unwrap().to_owned();
    for _ in 0..3 {
        let next = refresh_with(http, &token).await;
        assert_eq!(next.status, StatusCode::OK);
        token = next.data("refresh_token").unwrap().to_owned();
    }
    let throttled = refresh_with(http, &token).await;
    assert_eq!(
        throttled.answer(),
        (StatusCode::TOO_MANY_REQUESTS, Some("REQUESTS_EXCEEDED"))
    );
    assert_eq!(throttled.header("retry-after"), Some("10"));
    // Another session is not affected.
    let other = http.post("/auth/login", credentials()).await;
    assert_eq!(
        refresh_with(http, other.data("refresh_token").unwrap())
            .await
            .status,
        StatusCode::OK
    );
    server.clock.advance(Duration::from_secs(10));
    assert_eq!(refresh_with(http, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn behind_a_proxy_each_forwarded_client_has_its_own_budget() {
    let server = start_with(
        |r| {
            r.address_failures(Limit::new(2, Duration::from_secs(60)).unwrap())
                .client_address_header(axum::http::HeaderName::from_static("x-forwarded-for"))
        },
        |a| a,
    )
    .await;
    let http = &server.http;
    let login_from = |client: &'static str, body: serde_json::Value| async move {
        // A spoofed first entry is ignored: the proxy appended the last.
        let forwarded = format!("6.6.6.6, {client}");
        http.send(
            Method::POST,
            "/auth/login",
            &[("x-forwarded-for", &forwarded)],
            body.to_string().into_bytes(),
        )
        .await
    };
    for n in 0..2 {
        let spray = json!({ "email": format!("victim{n}@example.com"), "password": "x" });
        assert_eq!(
            login_from("198.51.100.1", spray).await.code(),
            Some("INVALID_CREDENTIALS")
        );
    }
    let throttled = login_from("198.51.100.1", credentials()).await;
    assert_eq!(throttled.code(), Some("REQUESTS_EXCEEDED"));
    // Another client behind the same proxy is not throttled, and its
    // session records its own address.
    let other = login_from("198.51.100.2", credentials()).await;
    assert_eq!(other.status, StatusCode::OK);
    let list = http
        .get_bearer("/auth/sessions", other.data("access_token").unwrap())
        .await;
    assert_eq!(list.body["data"][0]["ip"], "198.51.100.2");
}
