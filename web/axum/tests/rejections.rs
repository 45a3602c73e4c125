//! The rejection matrix, through `tower::ServiceExt::oneshot`: each
//! `tokenlife::Error` variant → status, Directus code and headers, as the
//! extractors and the refresh and logout routes answer it; then the real
//! extractors on real tokens.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt;
use tokenlife::{Error, JwksError, Malformed, ManualClock, RevokeReason, StoreError};
use tokenlife_axum::ApiError;
use tower::ServiceExt;

use common::*;

const INVALID_TOKEN: Option<&str> = Some("Bearer error=\"invalid_token\"");

/// Status, code and `WWW-Authenticate` of a bearer route.
type BearerAnswer = (StatusCode, &'static str, Option<&'static str>);
/// Status and code of the refresh route.
type RefreshAnswer = (StatusCode, &'static str);

/// Every variant, with the answer of a bearer route and of the refresh route.
fn matrix() -> Vec<(Error, BearerAnswer, RefreshAnswer)> {
    let at = START;
    let unauthorized = StatusCode::UNAUTHORIZED;
    let refused = (unauthorized, "INVALID_CREDENTIALS");
    let bad = (unauthorized, "INVALID_TOKEN", INVALID_TOKEN);
    let not_jwt = (unauthorized, "INVALID_CREDENTIALS", INVALID_TOKEN);
    let expired = (unauthorized, "TOKEN_EXPIRED", INVALID_TOKEN);
    let unavailable = (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    let internal = (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR");
    vec![
        (Error::Malformed(Malformed::Segments), not_jwt, refused),
        (Error::Malformed(Malformed::Claims), not_jwt, refused),
        (Error::TooLarge { len: 9, max: 8 }, not_jwt, refused),
        (Error::BadSignature, bad, refused),
        (Error::UnknownKey, bad, refused),
        (Error::UnsupportedAlgorithm, bad, refused),
        (Error::WrongTokenType, bad, refused),
        (Error::Expired { at, now: at }, expired, refused),
        (Error::NotYetValid { at, now: at }, bad, refused),
        (Error::WrongIssuer, bad, refused),
        (Error::WrongAudience, bad, refused),
        (Error::UnknownSession, bad, refused),
        (
            Error::SessionRevoked {
                at,
                reason: RevokeReason::Logout,
            },
            bad,
            refused,
        ),
        (Error::SessionExpired { at }, expired, refused),
        (Error::RefreshReused, bad, refused),
        (
            Error::Store(StoreError::unavailable(std::io::Error::other(
                "db at 10.0.0.7 down",
            ))),
            (unavailable.0, unavailable.1, None),
            unavailable,
        ),
        (
            Error::Store(StoreError::conflict()),
            (unavailable.0, unavailable.1, None),
            unavailable,
        ),
        (Error::Random, (internal.0, internal.1, None), internal),
        (
            Error::InvalidKey("short"),
            (internal.0, internal.1, None),
            internal,
        ),
        (
            Error::InvalidClaims("not an object"),
            (internal.0, internal.1, None),
            internal,
        ),
        (
            Error::InvalidSubject,
            (internal.0, internal.1, None),
            internal,
        ),
        (
            Error::MetadataTooLarge {
                len: 5000,
                max: 4096,
            },
            (internal.0, internal.1, None),
            internal,
        ),
        // The session can rotate no further: its holder logs in again.
        (
            Error::GenerationExhausted,
            (internal.0, internal.1, None),
            refused,
        ),
        // A store failure part-way through `logout_all`: retrying finishes it.
        (
            Error::LogoutIncomplete {
                revoked: 2,
                failed: 1,
                cause: StoreError::unavailable(std::io::Error::other("db at 10.0.0.7 down")),
            },
            (unavailable.0, unavailable.1, None),
            unavailable,
        ),
        (
            Error::InvalidJwks(JwksError::PrivateMember),
            (internal.0, internal.1, None),
            internal,
        ),
    ]
}

/// Serves `answer` at `/` and asks for it once.
async fn through_a_router(
    answer: ApiError,
) -> (StatusCode, serde_json::Value, axum::http::HeaderMap) {
    let router: Router = Router::new().route("/", get(move || async move { answer }));
    let response = router
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        serde_json::from_slice(&bytes).unwrap(),
        parts.headers,
    )
}

#[tokio::test]
async fn every_error_variant_maps_to_a_status_a_code_and_a_challenge() {
    for (error, access, refresh) in matrix() {
        let shown = error.to_string();
        let (status, body, headers) = through_a_router(ApiError::from_access(&error)).await;
        let code = body["errors"][0]["extensions"]["code"].as_str();
        let challenge = headers.get("www-authenticate").map(|v| v.to_str().unwrap());
        assert_eq!(
            (status, code, challenge),
            (access.0, Some(access.1), access.2),
            "{shown}"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(headers["retry-after"], "5", "{shown}");
        }
        // Nothing of the internal error reaches the answer.
        let text = body.to_string();
        assert!(
            !text.contains("10.0.0.7") && !text.contains(&shown),
            "{text}"
        );

        let (status, body, headers) = through_a_router(ApiError::from_refresh(&error)).await;
        let code = body["errors"][0]["extensions"]["code"].as_str();
        assert_eq!(
            (status, code),
            (refresh.0, Some(refresh.1)),
            "refresh: {shown}"
        );
        assert!(
            !headers.contains_key("www-authenticate"),
            "refresh: {shown}"
        );
    }
}

/// The test application in-process, for `oneshot`.
fn in_process() -> (Router, ManualClock, Arc<Switchable>) {
    let clock = ManualClock::new(START);
    let store = Arc::new(Switchable::default());
    let router = app(&clock, &store, &Users::demo(), |r| r, |a| a);
    (router, clock, store)
}

async fn call(
    router: &Router,
    request: Request<Body>,
) -> (
    StatusCode,
    Option<String>,
    Option<String>,
    serde_json::Value,
) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    // Error answers are JSON; the test handlers answer plain text.
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let code = body["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_owned);
    let challenge = parts
        .headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (parts.status, code, challenge, body)
}

fn bearer(path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(Body::empty()).unwrap()
}

fn json_post(path: &str, body: serde_json::Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn the_extractors_reject_real_tokens_as_the_matrix_says() {
    let (router, clock, store) = in_process();
    let (status, _, _, login) = call(&router, json_post("/auth/login", credentials())).await;
    assert_eq!(status, StatusCode::OK);
    let access = login["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh = login["data"]["refresh_token"].as_str().unwrap().to_owned();
    let forged = forge(&access);
    let other_key = {
        let keys = tokenlife::Keyring::new("test", b"another secret of thirty-two bytes, or more")
            .unwrap();
        let other = tokenlife::Authority::new(
            keys,
            tokenlife::Policy::default(),
            tokenlife::MemoryStore::new(),
        )
        .with_clock(clock.clone());
        other
            .login(
                "user-1",
                &Role {
                    role: "administrator".into(),
                },
            )
            .await
            .unwrap()
            .access_token
    };

    let missing = (
        StatusCode::UNAUTHORIZED,
        Some("INVALID_CREDENTIALS".to_owned()),
        Some("Bearer".to_owned()),
    );
    let not_jwt = (
        StatusCode::UNAUTHORIZED,
        Some("INVALID_CREDENTIALS".to_owned()),
        INVALID_TOKEN.map(str::to_owned),
    );
    let invalid = (
        StatusCode::UNAUTHORIZED,
        Some("INVALID_TOKEN".to_owned()),
        INVALID_TOKEN.map(str::to_owned),
    );
    for path in ["/users/me", "/stateless"] {
        let cases = [
            (None, missing.clone()),
            (Some("Basic YTpi".to_owned()), missing.clone()),
            (Some("Bearer ".to_owned()), missing.clone()),
            (Some("Bearer garbage".to_owned()), not_jwt.clone()),
            (Some("Bearer abc.def.ghi".to_owned()), not_jwt.clone()),
            // A refresh token is told apart from an access token (RFC 8725 §3.11).
            (Some(format!("Bearer {refresh}")), invalid.clone()),
            (Some(format!("Bearer {forged}")), invalid.clone()),
            (Some(format!("Bearer {other_key}")), invalid.clone()),
        ];
        for (authorization, expected) in cases {
            let (status, code, challenge, _) =
                call(&router, bearer(path, authorization.as_deref())).await;
            assert_eq!(
                (status, code, challenge),
                expected,
                "{path} with {authorization:?}"
            );
        }
        let (status, ..) = call(&router, bearer(path, Some(&format!("bearer {access}")))).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: the scheme is case-insensitive"
        );
    }

    // Live only: the store is down (503, no challenge), then the session
    // is logged out.
    store.set_down(true);
    let (status, code, challenge, _) = call(
        &router,
        bearer("/users/me", Some(&format!("Bearer {access}"))),
    )
    .await;
    assert_eq!(
        (status, code.as_deref(), challenge),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("SERVICE_UNAVAILABLE"),
            None
        )
    );
    store.set_down(false);
    let (status, ..) = call(
        &router,
        json_post(
            "/auth/logout",
            serde_json::json!({ "refresh_token": refresh }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, code, challenge, _) = call(
        &router,
        bearer("/users/me", Some(&format!("Bearer {access}"))),
    )
    .await;
    assert_eq!((status, code, challenge), invalid);
    let (status, ..) = call(
        &router,
        bearer("/stateless", Some(&format!("Bearer {access}"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Expired, on both.
    clock.advance(Duration::from_secs(30));
    for path in ["/users/me", "/stateless"] {
        let (status, code, challenge, _) =
            call(&router, bearer(path, Some(&format!("Bearer {access}")))).await;
        assert_eq!(
            (status, code.as_deref(), challenge.as_deref()),
            (
                StatusCode::UNAUTHORIZED,
                Some("TOKEN_EXPIRED"),
                INVALID_TOKEN
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn claims_that_do_not_fit_the_type_are_refused() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Wants {
        tenant: u64,
    }
    async fn wants(_: tokenlife_axum::Claims<Wants>) -> &'static str {
        "ok"
    }
    async fn nothing(_: tokenlife_axum::Claims<()>) -> &'static str {
        "ok"
    }
    let clock = ManualClock::new(START);
    let keys = tokenlife::Keyring::new("test", SECRET).unwrap();
    let authority = tokenlife::Authority::new(
        keys,
        tokenlife::Policy::default(),
        tokenlife::MemoryStore::new(),
    )
    .with_clock(clock.clone());
    let with_role = authority
        .login("u", &Role { role: "r".into() })
        .await
        .unwrap()
        .access_token;
    let without = authority.login("u", &()).await.unwrap().access_token;
    let auth = tokenlife_axum::Auth::new(authority);
    let router: Router = Router::new()
        .route("/wants", get(wants))
        .route("/nothing", get(nothing))
        .with_state(auth);
    let (status, code, ..) = call(
        &router,
        bearer("/wants", Some(&format!("Bearer {with_role}"))),
    )
    .await;
    assert_eq!(
        (status, code.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
    );
    let (status, ..) = call(
        &router,
        bearer("/nothing", Some(&format!("Bearer {without}"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
