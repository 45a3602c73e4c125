//! Directus 11.17, code for code (issue 18): each request of the
//! compatibility table in the README, sent over HTTP, its status and code
//! asserted. The rows where we agree and the rows where we differ on purpose
//! are both here; the README gives each difference its reason.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use tokenlife::UnixMillis;

use common::*;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
enum Request {
    WrongPassword,
    UnknownEmail,
    MissingField,
    MalformedJson,
    MeWithoutToken,
    MeWithNonJwt,
    MeWithExpiredToken,
    RefreshUnknownSession,
    RefreshMalformed,
    RefreshGarbage,
    RefreshLoggedOut,
    Logout,
    LogoutAgain,
    LogoutWithoutToken,
    // Deliberate differences.
    RefreshSpentInsideGrace,
    MeAfterLogout,
    MeWithBadSignature,
    NotJson,
}

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;

/// Status and Directus error code.
type Answer = (StatusCode, Option<&'static str>);

/// `(request, Directus 11.17, ours)`; equal where we agree.
const TABLE: &[(Request, Answer, Answer)] = &[
    (
        Request::WrongPassword,
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
    ),
    (
        Request::UnknownEmail,
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
    ),
    (
        Request::MissingField,
        (StatusCode::BAD_REQUEST, Some("INVALID_PAYLOAD")),
        (StatusCode::BAD_REQUEST, Some("INVALID_PAYLOAD")),
    ),
    (
        Request::MalformedJson,
        (StatusCode::BAD_REQUEST, Some("INVALID_PAYLOAD")),
        (StatusCode::BAD_REQUEST, Some("INVALID_PAYLOAD")),
    ),
    (
        Request::MeWithoutToken,
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
    ),
    (
        Request::MeWithNonJwt,
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
    ),
    (
        Request::MeWithExpiredToken,
        (UNAUTHORIZED, Some("TOKEN_EXPIRED")),
        (UNAUTHORIZED, Some("TOKEN_EXPIRED")),
    ),
    (
        Request::RefreshUnknownSession,
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
    ),
    (
        Request::RefreshMalformed,
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
    ),
    (
        Request::RefreshGarbage,
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
    ),
    (
        Request::RefreshLoggedOut,
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
        (UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
    ),
    (
        Request::Logout,
        (StatusCode::NO_CONTENT, None),
        (StatusCode::NO_CONTENT, None),
    ),
    (
        Request::LogoutAgain,
        (StatusCode::NO_CONTENT, None),
        (StatusCode::NO_CONTENT, None),
    ),
    (
        Request::LogoutWithoutToken,
        (StatusCode::BAD_REQUEST, Some("INVALID_PAYLOAD")),
        (StatusCode::BAD_REQUEST, Some("INVALID_PAYLOAD")),
    ),
    (
        Request::RefreshSpentInsideGrace,
        (UNAUTHORIZED, None),
        (StatusCode::OK, None),
    ),
    (
        Request::MeAfterLogout,
        (StatusCode::OK, None),
        (UNAUTHORIZED, Some("INVALID_TOKEN")),
    ),
    (
        Request::MeWithBadSignature,
        (StatusCode::FORBIDDEN, Some("INVALID_TOKEN")),
        (UNAUTHORIZED, Some("INVALID_TOKEN")),
    ),
    (
        Request::NotJson,
        (StatusCode::OK, None),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("UNSUPPORTED_MEDIA_TYPE"),
        ),
    ),
];

#[tokio::test]
async fn every_row_of_the_compatibility_table_holds() {
    for &(request, _directus, ours) in TABLE {
        // A fresh server per row: no row depends on another's throttling.
        let server = start().await;
        let reply = send(&server, request).await;
        assert_eq!(reply.answer(), ours, "{request:?}: {reply:?}");
    }
}

#[tokio::test]
async fn the_table_says_where_we_agree_and_where_we_differ() {
    let differences: Vec<Request> = TABLE
        .iter()
        .filter(|(_, directus, ours)| directus != ours)
        .map(|(request, ..)| *request)
        .collect();
    // Exactly the four deliberate differences of issue 18, and the 415.
    assert_eq!(
        format!("{differences:?}"),
        "[RefreshSpentInsideGrace, MeAfterLogout, MeWithBadSignature, NotJson]"
    );
}

#[tokio::test]
async fn expires_counts_to_the_whole_second_exp_not_the_ttl() {
    let server = start().await;
    // 802 ms past a whole second: `exp` is rounded down, so the token lives
    // 29 198 ms, and `expires` says so.
    server.clock.set(UnixMillis(START.0 + 802));
    let login = server.http.post("/auth/login", credentials()).await;
    assert_eq!(login.body["data"]["expires"], 29_198);
}

#[tokio::test]
async fn inside_the_grace_window_both_refreshes_get_the_same_successor() {
    let server = start().await;
    let login = server.http.post("/auth/login", credentials()).await;
    let token = login.data("refresh_token").unwrap();
    let first = refresh_with(&server.http, token).await;
    server.clock.advance(Duration::from_secs(9));
    let second = refresh_with(&server.http, token).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(first.data("refresh_token"), second.data("refresh_token"));
}

async fn send(server: &Server, request: Request) -> Reply {
    let http = &server.http;
    let login = || http.post("/auth/login", credentials());
    match request {
        Request::WrongPassword => {
            http.post(
                "/auth/login",
                json!({ "email": EMAIL, "password": "wrong" }),
            )
            .await
        }
        Request::UnknownEmail => {
            http.post(
                "/auth/login",
                json!({ "email": "nobody@example.com", "password": PASSWORD }),
            )
            .await
        }
        Request::MissingField => http.post("/auth/login", json!({ "email": EMAIL })).await,
        Request::MalformedJson => {
            http.send(Method::POST, "/auth/login", &[], b"{\"email\":".to_vec())
                .await
        }
        Request::MeWithoutToken => http.send(Method::GET, "/users/me", &[], Vec::new()).await,
        Request::MeWithNonJwt => http.get_bearer("/users/me", "abc.def.ghi").await,
        Request::MeWithExpiredToken => {
            let access = login().await.data("access_token").unwrap().to_owned();
            server.clock.advance(Duration::from_secs(30));
            http.get_bearer("/users/me", &access).await
        }
        Request::RefreshUnknownSession => {
            // An authentic token (same key) of a session this store never saw.
            let elsewhere = start().await;
            let token = elsewhere.http.post("/auth/login", credentials()).await;
            refresh_with(http, token.data("refresh_token").unwrap()).await
        }
        Request::RefreshMalformed => refresh_with(http, "tlr1.not-base64!.tag").await,
        Request::RefreshGarbage => refresh_with(http, "garbage").await,
        Request::RefreshLoggedOut => {
            let token = login().await.data("refresh_token").unwrap().to_owned();
            http.post("/auth/logout", json!({ "refresh_token": token }))
                .await;
            refresh_with(http, &token).await
        }
        Request::Logout => {
            let token = login().await.data("refresh_token").unwrap().to_owned();
            http.post("/auth/logout", json!({ "refresh_token": token }))
                .await
        }
        Request::LogoutAgain => {
            let token = login().await.data("refresh_token").unwrap().to_owned();
            http.post("/auth/logout", json!({ "refresh_token": token }))
                .await;
            http.post("/auth/logout", json!({ "refresh_token": token }))
                .await
        }
        Request::LogoutWithoutToken => {
            http.send(Method::POST, "/auth/logout", &[], Vec::new())
                .await
        }
        Request::RefreshSpentInsideGrace => {
            let token = login().await.data("refresh_token").unwrap().to_owned();
            refresh_with(http, &token).await;
            server.clock.advance(Duration::from_secs(5));
            refresh_with(http, &token).await
        }
        Request::MeAfterLogout => {
            let pair = login().await;
            let token = pair.data("refresh_token").unwrap();
            http.post("/auth/logout", json!({ "refresh_token": token }))
                .await;
            http.get_bearer("/users/me", pair.data("access_token").unwrap())
                .await
        }
        Request::MeWithBadSignature => {
            let access = login().await.data("access_token").unwrap().to_owned();
            http.get_bearer("/users/me", &forge(&access)).await
        }
        Request::NotJson => {
            http.send(
                Method::POST,
                "/auth/login",
                &[("content-type", "text/plain")],
                credentials().to_string().into_bytes(),
            )
            .await
        }
    }
}
