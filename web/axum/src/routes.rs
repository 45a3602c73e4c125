//! [`AuthRoutes`]: the builder of the auth routes, their limits and their
//! shared state. The handlers are in `tokens` and `sessions`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use crate::hashing::Hashing;
use crate::throttle::{Limit, Throttle};
use crate::{ApiError, Auth, Credentials};

/// The cookie that carries the refresh token in cookie mode (Directus's name).
pub const REFRESH_COOKIE: &str = "directus_refresh_token";

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
/// | `GET /.well-known/jwks.json` | — | the keyring's public keys (RFC 7517), `application/jwk-set+json`; `{"keys":[]}` for HS256 |
///
/// In cookie mode (`"mode":"cookie"`) the refresh token travels in the
/// [`REFRESH_COOKIE`] cookie (`HttpOnly; Secure; SameSite=Lax`) and is left
/// out of the JSON body, as Directus does. Every answer but the JWKS carries
/// `Cache-Control: no-store` and `Pragma: no-cache`; the JWKS carries
/// [`JWKS_CACHE_CONTROL`](crate::JWKS_CACHE_CONTROL).
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
    address_header: Option<http::HeaderName>,
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
            address_header: None,
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
    /// minutes). The address is the peer's (or see
    /// [`client_address_header`](Self::client_address_header)), from
    /// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo): serve with
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

    /// The longest a request to these routes may take, extractors included
    /// (default 10 s); past it, 503 with `Retry-After`. Routes of your own
    /// that take [`LiveClaims`](crate::LiveClaims) read the store too: give
    /// them a time limit of their own (for example a tower timeout layer).
    #[must_use]
    pub fn time_limit(mut self, time: Duration) -> Self {
        self.limits.time = time;
        self
    }

    /// Behind a reverse proxy, read the client address from header `name`
    /// (e.g. `x-forwarded-for`): its last entry, the one the proxy next to
    /// this server appended. Without it every client would share the
    /// proxy's address, and ten failures of one would throttle all. Only set
    /// it when such a proxy always sets the header: a client reaching the
    /// server directly could choose its own address. A missing or
    /// unreadable header falls back to the peer address.
    #[must_use]
    pub fn client_address_header(mut self, name: http::HeaderName) -> Self {
        self.limits.address_header = Some(name);
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
            address_header: limits.address_header,
        })
    }
}

fn router_on<Cr: Credentials, St: Clone + Send + Sync + 'static>(
    state: Arc<Routes<Cr>>,
) -> Router<St> {
    let body_bytes = state.body_bytes;
    Router::new()
        .route("/auth/login", post(crate::tokens::login::<Cr>))
        .route("/auth/refresh", post(crate::tokens::refresh::<Cr>))
        .route("/auth/logout", post(crate::tokens::logout::<Cr>))
        .route("/auth/sessions", get(crate::sessions::list::<Cr>))
        .route(
            "/auth/sessions",
            delete(crate::sessions::revoke_others::<Cr>),
        )
        .route(
            "/auth/sessions/{id}",
            delete(crate::sessions::revoke_one::<Cr>),
        )
        .layer(axum::middleware::map_response(crate::body::no_store))
        // After `no_store`, which covers the routes above only: the JWKS
        // holds public keys, and caches may keep it briefly.
        .route("/.well-known/jwks.json", get(crate::jwks::jwks::<Cr>))
        // Around the extractors too: `LiveClaims` reads the store before a
        // handler runs.
        .layer(axum::middleware::from_fn_with_state(
            state.time,
            time_limited,
        ))
        .layer(DefaultBodyLimit::max(body_bytes))
        .with_state(state)
}

/// Answers `503` with `Retry-After` when a request takes longer than `time`.
async fn time_limited(
    axum::extract::State(time): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    tokio::time::timeout(time, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::unavailable().into_response())
}

/// The state of the routes.
pub(crate) struct Routes<Cr> {
    pub(crate) auth: Auth,
    pub(crate) credentials: Arc<Cr>,
    pub(crate) account: Throttle,
    pub(crate) address: Throttle,
    pub(crate) refreshes: Throttle,
    pub(crate) hashing: Hashing,
    pub(crate) body_bytes: usize,
    pub(crate) time: Duration,
    pub(crate) address_header: Option<http::HeaderName>,
}

impl<Cr> axum::extract::FromRef<Arc<Routes<Cr>>> for Auth {
    fn from_ref(routes: &Arc<Routes<Cr>>) -> Self {
        routes.auth.clone()
    }
}

/// The response of `answer`, or of its error.
pub(crate) async fn answered(answer: impl Future<Output = Result<Response, ApiError>>) -> Response {
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests;

impl<Cr> core::fmt::Debug for AuthRoutes<Cr> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthRoutes")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
