//! [`AuthRoutes`]: Directus's `POST /auth/login`, `/auth/refresh` and
//! `/auth/logout`, in json and cookie modes, and the caller's own sessions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use tokenlife::TokenPair;
use zeroize::Zeroizing;

use crate::body::{cookie, json, read_json};
use crate::csrf::check_cookie_request;
use crate::hashing::Hashing;
use crate::throttle::{Limit, Throttle};
use crate::{ApiError, Auth, Credentials, LoginAttempt, Refused};

/// The cookie that carries the refresh token in cookie mode (Directus's name).
pub const REFRESH_COOKIE: &str = "directus_refresh_token";

/// The cookie's attributes after its value and lifetime.
const COOKIE_ATTRIBUTES: &str = "Path=/; HttpOnly; Secure; SameSite=Lax";

/// The longest a metadata value (user agent) recorded at login may be; a
/// longer one is cut.
const MAX_METADATA_VALUE: usize = 512;

/// The routes of Directus's auth endpoints, on an [`Auth`] and the
/// application's [`Credentials`]:
///
/// | route | body | answer |
/// |---|---|---|
/// | `POST /auth/login` | `{email, password, otp?, mode?}` | `{"data":{access_token, refresh_token, expires}}` |
/// | `POST /auth/refresh` | `{refresh_token?, mode?}` (or the cookie) | the same shape |
/// | `POST /auth/logout` | `{refresh_token?, mode?}` (or the cookie) | `204 No Content` |
/// | `GET /auth/sessions` | bearer | `{"data":[{id, created_at, last_refreshed_at, expires_at, user_agent, ip, current}]}` |
/// | `DELETE /auth/sessions/{id}` | bearer | `204`: that session of the caller is revoked |
/// | `DELETE /auth/sessions` | bearer | `{"data":{"revoked":n}}`: every other session of the caller is revoked |
///
/// In cookie mode (`"mode":"cookie"`) the refresh token travels in the
/// [`REFRESH_COOKIE`] cookie (`HttpOnly; Secure; SameSite=Lax`) and is left
/// out of the JSON body, as Directus does. Every answer carries
/// `Cache-Control: no-store` and `Pragma: no-cache`.
///
/// Logout with a token in the body *and* one in the cookie revokes both
/// sessions and clears the cookie: a client that asks to log out means every
/// session it holds.
pub struct AuthRoutes<Cr> {
    auth: Auth,
    credentials: Cr,
    limits: Limits,
}

/// The limits of [`AuthRoutes`]; each has a setter there.
#[derive(Debug, Clone)]
struct Limits {
    account_failures: Limit,
    address_failures: Limit,
    session_refreshes: Limit,
    concurrent_checks: usize,
    queued_checks: usize,
    check_wait: Duration,
    body_bytes: usize,
    time: Duration,
}

/// Default body limit.
pub const DEFAULT_BODY_BYTES: usize = 16 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            account_failures: Limit::LOGIN_FAILURES,
            address_failures: Limit::LOGIN_FAILURES,
            session_refreshes: Limit::SESSION_REFRESHES,
            concurrent_checks: 4,
            queued_checks: 64,
            check_wait: Duration::from_secs(5),
            body_bytes: DEFAULT_BODY_BYTES,
            time: Duration::from_secs(10),
        }
    }
}

impl<Cr: Credentials> AuthRoutes<Cr> {
    /// The routes on `auth`, checking logins with `credentials`, with the
    /// default limits.
    pub fn new(auth: Auth, credentials: Cr) -> Self {
        Self {
            auth,
            credentials,
            limits: Limits::default(),
        }
    }

    /// Failed logins allowed per account (email, normalised) before login
    /// answers 429 (default 10 per 15 minutes).
    #[must_use]
    pub fn account_failures(mut self, limit: Limit) -> Self {
        self.limits.account_failures = limit;
        self
    }

    /// Failed logins allowed per client address (default 10 per 15
    /// minutes). The address is the peer's, from
    /// [`ConnectInfo<SocketAddr>`]: serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`, or there is no
    /// per-address limit.
    #[must_use]
    pub fn address_failures(mut self, limit: Limit) -> Self {
        self.limits.address_failures = limit;
        self
    }

    /// Refreshes allowed per session (default 10 per minute).
    #[must_use]
    pub fn session_refreshes(mut self, limit: Limit) -> Self {
        self.limits.session_refreshes = limit;
        self
    }

    /// Password checks running at once (default 4; at least 1).
    #[must_use]
    pub fn concurrent_checks(mut self, n: usize) -> Self {
        self.limits.concurrent_checks = n.max(1);
        self
    }

    /// Logins that may wait for a password check (default 64), and how long
    /// each may wait (default 5 s); past either, 503 with `Retry-After`.
    #[must_use]
    pub fn queued_checks(mut self, n: usize, wait: Duration) -> Self {
        self.limits.queued_checks = n;
        self.limits.check_wait = wait;
        self
    }

    /// The largest request body (default 16 KiB); past it, 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.limits.body_bytes = bytes;
        self
    }

    /// The longest a request may take (default 10 s); past it, 503.
    #[must_use]
    pub fn time_limit(mut self, time: Duration) -> Self {
        self.limits.time = time;
        self
    }

    /// The router, for any application state (merge it into yours).
    pub fn router<St: Clone + Send + Sync + 'static>(self) -> Router<St> {
        router_on(self.into_state())
    }

    fn into_state(self) -> Arc<Routes<Cr>> {
        let clock = self.auth.clock();
        let limits = self.limits;
        Arc::new(Routes {
            account: Throttle::new(limits.account_failures, Arc::clone(&clock)),
            address: Throttle::new(limits.address_failures, Arc::clone(&clock)),
            refreshes: Throttle::new(limits.session_refreshes, clock),
            hashing: Hashing::new(
                limits.concurrent_checks,
                limits.queued_checks,
                limits.check_wait,
            ),
            auth: self.auth,
            credentials: Arc::new(self.credentials),
            body_bytes: limits.body_bytes,
            time: limits.time,
        })
    }
}

fn router_on<Cr: Credentials, St: Clone + Send + Sync + 'static>(
    state: Arc<Routes<Cr>>,
) -> Router<St> {
    let body_bytes = state.body_bytes;
    Router::new()
        .route("/auth/login", post(login::<Cr>))
        .route("/auth/refresh", post(refresh::<Cr>))
        .route("/auth/logout", post(logout::<Cr>))
        .route("/auth/sessions", get(crate::sessions::list::<Cr>))
        .route(
            "/auth/sessions",
            delete(crate::sessions::revoke_others::<Cr>),
        )
        .route(
            "/auth/sessions/{id}",
            delete(crate::sessions::revoke_one::<Cr>),
        )
        // Extension point: `GET /.well-known/jwks.json` goes here once the
        // keyring publishes public keys.
        .layer(axum::middleware::map_response(crate::body::no_store))
        .layer(DefaultBodyLimit::max(body_bytes))
        .with_state(state)
}

/// The state of the routes.
pub(crate) struct Routes<Cr> {
    pub(crate) auth: Auth,
    credentials: Arc<Cr>,
    account: Throttle,
    address: Throttle,
    refreshes: Throttle,
    pub(crate) hashing: Hashing,
    body_bytes: usize,
    pub(crate) time: Duration,
}

impl<Cr> axum::extract::FromRef<Arc<Routes<Cr>>> for Auth {
    fn from_ref(routes: &Arc<Routes<Cr>>) -> Self {
        routes.auth.clone()
    }
}

/// Where the refresh token goes: Directus's `mode`.
#[derive(Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Json,
    Cookie,
}

#[derive(Default, Deserialize)]
struct LoginRequest {
    email: Option<String>,
    password: Option<String>,
    otp: Option<String>,
    mode: Option<Mode>,
}

#[derive(Default, Deserialize)]
struct TokenRequest {
    refresh_token: Option<String>,
    mode: Option<Mode>,
}

#[derive(Serialize)]
struct Data<T> {
    data: T,
}

/// The body of a cookie-mode answer: the pair without its refresh token.
#[derive(Serialize)]
struct CookiePair<'a> {
    access_token: &'a str,
    expires: u64,
}

/// Runs `answer` within the time limit.
pub(crate) async fn within(
    time: Duration,
    answer: impl Future<Output = Result<Response, ApiError>>,
) -> Response {
    match tokio::time::timeout(time, answer).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::unavailable().into_response(),
    }
}

async fn login<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    request: Request,
) -> Response {
    within(routes.time, routes.login(request)).await
}

async fn refresh<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    request: Request,
) -> Response {
    within(routes.time, routes.refresh(request)).await
}

async fn logout<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    request: Request,
) -> Response {
    within(routes.time, routes.logout(request)).await
}

impl<Cr: Credentials> Routes<Cr> {
    async fn login(&self, request: Request) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let headers = &parts.headers;
        let request: LoginRequest = read_json(headers, body, self.body_bytes).await?;
        let mode = request.mode.unwrap_or_default();
        if mode == Mode::Cookie {
            check_cookie_request(headers, self.auth.allowed_origins())?;
        }
        let (Some(email), Some(password)) = (request.email, request.password) else {
            return Err(ApiError::invalid_payload(
                "Invalid payload. \"email\" and \"password\" are required.",
            ));
        };
        let password = Zeroizing::new(password);
        let account = account_key(&email);
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip().to_string());

        // A throttled attempt never reaches the password hash.
        self.account
            .peek(&account)
            .map_err(ApiError::requests_exceeded)?;
        if let Some(address) = &address {
            self.address
                .peek(address)
                .map_err(ApiError::requests_exceeded)?;
        }

        let attempt = LoginAttempt {
            email,
            password,
            otp: request.otp.map(Zeroizing::new),
        };
        let credentials = Arc::clone(&self.credentials);
        let checked = self
            .hashing
            .run(move || credentials.check(&attempt))
            .await?;
        let identity = match checked {
            Ok(identity) => identity,
            Err(refused) => {
                if matches!(refused, Refused::InvalidCredentials | Refused::InvalidOtp) {
                    // Spending may find the budget already gone (a race of
                    // failures); the next attempt is refused either way.
                    let _ = self.account.spend(&account);
                    if let Some(address) = &address {
                        let _ = self.address.spend(address);
                    }
                }
                return Err(match refused {
                    Refused::InvalidOtp => ApiError::invalid_otp(),
                    Refused::Unavailable => ApiError::unavailable(),
                    _ => ApiError::invalid_credentials(),
                });
            }
        };
        let claims = serde_json::to_value(&identity.claims).map_err(|_| ApiError::internal())?;
        let mut metadata = Vec::new();
        if let Some(agent) = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            metadata.push(("user_agent".to_owned(), truncate(agent).to_owned()));
        }
        if let Some(address) = address {
            metadata.push(("ip".to_owned(), address));
        }
        let pair = self
            .auth
            .engine()
            .login(&identity.subject, &claims, metadata)
            .await
            .map_err(|e| ApiError::from_environment(&e))?;
        Ok(self.tokens(&pair, mode))
    }

    async fn refresh(&self, request: Request) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let headers = &parts.headers;
        let mut request: TokenRequest = read_json(headers, body, self.body_bytes).await?;
        // Directus treats an empty token as none.
        request.refresh_token = request.refresh_token.filter(|t| !t.is_empty());
        // Directus: without a mode, a token in the body means json mode.
        let mode = request.mode.unwrap_or(if request.refresh_token.is_some() {
            Mode::Json
        } else {
            Mode::Cookie
        });
        let from_body = request.refresh_token.is_some();
        let token = request
            .refresh_token
            .or_else(|| cookie(headers, REFRESH_COOKIE))
            .ok_or_else(missing_refresh_token)?;
        if mode == Mode::Cookie || !from_body {
            check_cookie_request(headers, self.auth.allowed_origins())?;
        }
        if let Some(session) = self.auth.engine().session_of(&token) {
            self.refreshes
                .spend(&session.to_string())
                .map_err(ApiError::requests_exceeded)?;
        }
        let pair = self
            .auth
            .engine()
            .refresh(&token)
            .await
            .map_err(|e| ApiError::from_refresh(&e))?;
        Ok(self.tokens(&pair, mode))
    }

    async fn logout(&self, request: Request) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let headers = &parts.headers;
        let mut request: TokenRequest = read_json(headers, body, self.body_bytes).await?;
        let from_body = request.refresh_token.take().filter(|t| !t.is_empty());
        let from_cookie = cookie(headers, REFRESH_COOKIE);
        let clear_cookie = from_cookie.is_some() || request.mode == Some(Mode::Cookie);
        if clear_cookie {
            check_cookie_request(headers, self.auth.allowed_origins())?;
        }
        if from_body.is_none() && from_cookie.is_none() {
            return Err(missing_refresh_token());
        }
        // Both tokens are revoked. The cookie's refusal does not decide the
        // answer (the cookie is cleared anyway); the body's does.
        if let Some(token) = &from_cookie
            && from_body.as_ref() != Some(token)
        {
            match self.auth.engine().logout(token).await {
                Err(e @ tokenlife::Error::Store(_)) => return Err(ApiError::from_environment(&e)),
                Err(_) if from_body.is_some() => {}
                Err(e) => return Err(ApiError::from_refresh(&e)),
                Ok(()) => {}
            }
        }
        if let Some(token) = &from_body {
            self.auth
                .engine()
                .logout(token)
                .await
                .map_err(|e| ApiError::from_refresh(&e))?;
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        if clear_cookie {
            let expired = format!("{REFRESH_COOKIE}=; Max-Age=0; {COOKIE_ATTRIBUTES}");
            if let Ok(value) = HeaderValue::from_str(&expired) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        Ok(response)
    }

    /// The answer to a login or refresh: the pair in the body (json mode),
    /// or the access token in the body and the refresh token in a cookie.
    fn tokens(&self, pair: &TokenPair, mode: Mode) -> Response {
        match mode {
            Mode::Json => json(StatusCode::OK, &Data { data: pair }),
            Mode::Cookie => {
                let body = CookiePair {
                    access_token: &pair.access_token,
                    expires: pair.expires,
                };
                let mut response = json(StatusCode::OK, &Data { data: body });
                let max_age = self.auth.policy().refresh_ttl().as_secs();
                let cookie = format!(
                    "{REFRESH_COOKIE}={}; Max-Age={max_age}; {COOKIE_ATTRIBUTES}",
                    pair.refresh_token
                );
                // Refresh tokens are base64url and dots: always a valid header.
                match HeaderValue::from_str(&cookie) {
                    Ok(value) => {
                        response.headers_mut().append(header::SET_COOKIE, value);
                        response
                    }
                    Err(_) => ApiError::internal().into_response(),
                }
            }
        }
    }
}

/// The throttling key of an email: trimmed, lower-cased, at most 256 bytes.
fn account_key(email: &str) -> String {
    let mut key = email.trim().to_lowercase();
    let mut end = key.len().min(256);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    key.truncate(end);
    key
}

fn truncate(value: &str) -> &str {
    let mut end = value.len().min(MAX_METADATA_VALUE);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

fn missing_refresh_token() -> ApiError {
    ApiError::invalid_payload(
        "Invalid payload. The refresh token is required in either the payload or cookie.",
    )
}

#[cfg(test)]
mod tests;
