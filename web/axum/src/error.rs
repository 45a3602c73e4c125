//! Error answers in Directus's shape, and how each [`tokenlife::Error`] maps
//! to one.
//!
//! The body is `{"errors":[{"message":…,"extensions":{"code":…}}]}`. The
//! message is one of a fixed set of sentences: it never carries a token, a
//! key or the text of an internal error.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokenlife::Error;

/// An error answer: status, Directus error code, message and the headers
/// that go with it (`WWW-Authenticate`, `Retry-After`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    challenge: Option<Challenge>,
    retry_after: Option<u64>,
}

/// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Challenge {
    /// No token was presented: just `Bearer`.
    Bearer,
    /// A token was presented and refused: `Bearer error="invalid_token"`.
    InvalidToken,
}

/// The seconds a client is told to wait after a 503 of ours.
const RETRY_UNAVAILABLE_SECS: u64 = 5;

impl ApiError {
    const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
            challenge: None,
            retry_after: None,
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Directus's error code, e.g. `TOKEN_EXPIRED`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable message (a fixed sentence).
    #[must_use]
    pub fn message(&self) -> &'static str {
        self.message
    }

    /// `400 INVALID_PAYLOAD`: a body that is not JSON of the expected shape,
    /// or a required field missing.
    #[must_use]
    pub fn invalid_payload(message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PAYLOAD", message)
    }

    /// `401 INVALID_CREDENTIALS` (wrong email or password, no token, or a
    /// refresh token that names no live session).
    #[must_use]
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid user credentials.",
        )
    }

    /// `401 INVALID_OTP`: the one-time password is missing or wrong.
    #[must_use]
    pub fn invalid_otp() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "INVALID_OTP", "Invalid user OTP.")
    }

    /// `401 INVALID_TOKEN` with `WWW-Authenticate: Bearer error="invalid_token"`.
    #[must_use]
    pub fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "Invalid token.")
            .with_challenge(Challenge::InvalidToken)
    }

    /// `401 INVALID_CREDENTIALS` with `WWW-Authenticate: Bearer`: a route
    /// that needs an access token got none.
    #[must_use]
    pub fn missing_token() -> Self {
        Self::invalid_credentials().with_challenge(Challenge::Bearer)
    }

    /// `403 FORBIDDEN`: a cross-site request in cookie mode, or a session
    /// that is not the caller's.
    #[must_use]
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "You don't have permission to access this.",
        )
    }

    /// `404 ROUTE_NOT_FOUND`, for an application's fallback route.
    #[must_use]
    pub fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ROUTE_NOT_FOUND",
            "Route doesn't exist.",
        )
    }

    /// `413 CONTENT_TOO_LARGE`.
    #[must_use]
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "CONTENT_TOO_LARGE",
            "Request body is too large.",
        )
    }

    /// `415 UNSUPPORTED_MEDIA_TYPE`: a body that is not `application/json`.
    #[must_use]
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Unsupported media type: send application/json.",
        )
    }

    /// `429 REQUESTS_EXCEEDED` with `Retry-After` (whole seconds, at least 1).
    #[must_use]
    pub fn requests_exceeded(retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "REQUESTS_EXCEEDED",
            "Too many requests, retry later.",
        );
        e.retry_after = Some(whole_seconds(retry_after));
        e
    }

    /// `503 SERVICE_UNAVAILABLE` with `Retry-After`: the session store
    /// failed, the password checks are saturated, or the time limit passed.
    #[must_use]
    pub fn unavailable() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Service is unavailable. Try again later.",
        );
        e.retry_after = Some(RETRY_UNAVAILABLE_SECS);
        e
    }

    /// `500 INTERNAL_SERVER_ERROR`: our fault (a broken random source, claims
    /// the application cannot serialise, …).
    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "An unexpected error occurred.",
        )
    }

    fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// The answer to an access token that [`verify`](tokenlife::Authority::verify)
    /// or [`verify_live`](tokenlife::Authority::verify_live) refused:
    ///
    /// | error | status | code |
    /// |---|---|---|
    /// | `Expired`, `SessionExpired` | 401 | `TOKEN_EXPIRED` |
    /// | `Malformed`, `TooLarge` (not a JWT at all) | 401 | `INVALID_CREDENTIALS` |
    /// | any other refusal of the token | 401 | `INVALID_TOKEN` |
    /// | `Store`, `LogoutIncomplete` | 503 | `SERVICE_UNAVAILABLE` |
    /// | the rest (ours) | 500 | `INTERNAL_SERVER_ERROR` |
    ///
    /// Every 401 carries `WWW-Authenticate: Bearer error="invalid_token"`.
    #[must_use]
    pub fn from_access(e: &Error) -> Self {
        match e {
            Error::Expired { .. } | Error::SessionExpired { .. } => {
                Self::new(StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED", "Token expired.")
                    .with_challenge(Challenge::InvalidToken)
            }
            // Directus takes a bearer that is no JWT for a static token,
            // finds no user with it, and says so.
            Error::Malformed(_) | Error::TooLarge { .. } => {
                Self::invalid_credentials().with_challenge(Challenge::InvalidToken)
            }
            e if is_token_refusal(e) => Self::invalid_token(),
            e => Self::from_environment(e),
        }
    }

    /// The answer to a refresh token that [`refresh`](tokenlife::Authority::refresh)
    /// or [`logout`](tokenlife::Authority::logout) refused: every refusal of
    /// the token (garbage, forged, unknown, logged out, reused, expired) is
    /// `401 INVALID_CREDENTIALS`, which Directus clients read as "log in
    /// again", and so is a session at its last generation
    /// (`GenerationExhausted`); `Store` and `LogoutIncomplete` are 503 and
    /// the rest 500.
    #[must_use]
    pub fn from_refresh(e: &Error) -> Self {
        if is_token_refusal(e) || matches!(e, Error::GenerationExhausted) {
            Self::invalid_credentials()
        } else {
            Self::from_environment(e)
        }
    }

    /// A failure that is not the client's: `Store`, and `LogoutIncomplete`
    /// (a store failure part-way through `logout_all`, which a retry
    /// finishes) → 503; the rest → 500.
    #[must_use]
    pub fn from_environment(e: &Error) -> Self {
        match e {
            Error::Store(_) | Error::LogoutIncomplete { .. } => {
                #[cfg(feature = "tracing")]
                tracing::warn!(error = %e, "session store failed");
                Self::unavailable()
            }
            _ => {
                #[cfg(feature = "tracing")]
                tracing::error!(error = %e, "internal error");
                Self::internal()
            }
        }
    }
}

/// Whether `e` refuses the presented token (as opposed to failing around it).
fn is_token_refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::Malformed(_)
            | Error::TooLarge { .. }
            | Error::BadSignature
            | Error::UnknownKey
            | Error::UnsupportedAlgorithm
            | Error::WrongTokenType
            | Error::Expired { .. }
            | Error::NotYetValid { .. }
            | Error::WrongIssuer
            | Error::WrongAudience
            | Error::UnknownSession
            | Error::SessionRevoked { .. }
            | Error::SessionExpired { .. }
            | Error::RefreshReused
    )
}

fn whole_seconds(span: Duration) -> u64 {
    let secs = span.as_secs() + u64::from(span.subsec_nanos() > 0);
    secs.max(1)
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "message": self.message, "extensions": { "code": self.code } }]
        });
        let mut response = crate::body::json(self.status, &body);
        let headers = response.headers_mut();
        match self.challenge {
            Some(Challenge::Bearer) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Some(Challenge::InvalidToken) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            None => {}
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
