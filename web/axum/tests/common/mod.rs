//! What the integration tests share: a loopback HTTP client, test users, a
//! store that can be switched off, and a server on a manual clock.

#![allow(dead_code)] // each test file uses a part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::routing::{get, post};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokenlife::{
    Authority, Keyring, ManualClock, MemoryStore, OsRandom, Policy, Session, SessionId,
    SessionStore, StoreError, UnixMillis,
};
use tokenlife_axum::{
    ApiError, Auth, AuthRoutes, Claims, Credentials, Identity, LiveClaims, LoginAttempt, Refused,
};

pub const EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
/// A user whose login needs a one-time password.
pub const OTP_EMAIL: &str = "otp@example.com";
pub const OTP: &str = "123456";
/// A whole second, so that a 30 s access token reports `expires: 30000`.
pub const START: UnixMillis = UnixMillis(1_764_000_000_000);
pub const SECRET: &[u8] = b"a test secret of thirty-two bytes or more";
/// The longest a request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Users

/// The application claims of the test users' tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Role {
    pub role: String,
}

/// A test user: password, one-time password if any, subject.
struct Account {
    password: &'static str,
    otp: Option<&'static str>,
    subject: &'static str,
}

/// Users in a map, counting how often a password was checked.
#[derive(Clone, Default)]
pub struct Users {
    users: Arc<HashMap<String, Account>>,
    pub checks: Arc<AtomicUsize>,
    pub down: Arc<AtomicBool>,
    /// While set, every check blocks (at most 20 s) until it is cleared.
    pub hold: Arc<AtomicBool>,
}

impl Users {
    pub fn demo() -> Self {
        let mut users = HashMap::new();
        let account = |otp, subject| Account {
            password: PASSWORD,
            otp,
            subject,
        };
        users.insert(EMAIL.to_owned(), account(None, "user-1"));
        users.insert(OTP_EMAIL.to_owned(), account(Some(OTP), "user-2"));
        Self {
            users: Arc::new(users),
            ..Self::default()
        }
    }

    pub fn checks(&self) -> usize {
        self.checks.load(Ordering::SeqCst)
    }
}

impl Credentials for Users {
    type Claims = Role;

    fn check(&self, attempt: &LoginAttempt) -> Result<Identity<Role>, Refused> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        for _ in 0..2_000 {
            if !self.hold.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(Refused::Unavailable);
        }
        let email = attempt.email.trim().to_lowercase();
        let Some(account) = self.users.get(&email) else {
            return Err(Refused::InvalidCredentials);
        };
        if attempt.password.as_str() != account.password {
            return Err(Refused::InvalidCredentials);
        }
        if let Some(otp) = account.otp
            && attempt.otp.as_deref().map(String::as_str) != Some(otp)
        {
            return Err(Refused::InvalidOtp);
        }
        Ok(Identity {
            subject: account.subject.to_owned(),
            claims: Role {
                role: "administrator".to_owned(),
            },
        })
    }
}

// ---------------------------------------------------------------------------
// The server

pub type TestAuthority = Authority<Arc<Switchable>, ManualClock, OsRandom>;

pub struct Server {
    pub http: Http,
    pub clock: ManualClock,
    pub store: Arc<Switchable>,
    pub users: Users,
    pub addr: SocketAddr,
}

/// The application of the tests: the auth routes, `GET /users/me` (live
/// check) and `GET /stateless` (stateless check), 30 s access tokens.
pub fn app(
    clock: &ManualClock,
    store: &Arc<Switchable>,
    users: &Users,
    configure: impl FnOnce(AuthRoutes<Users>) -> AuthRoutes<Users>,
    auth_settings: impl FnOnce(Auth) -> Auth,
) -> Router {
    let keys = Keyring::new("test", SECRET).unwrap();
    let auth = auth_settings(Auth::new(authority(keys, clock, store)).with_clock(clock.clone()));
    app_on(auth, users, configure)
}

/// The test authority: `keys`, 30 s access tokens, `store`, `clock`.
pub fn authority(keys: Keyring, clock: &ManualClock, store: &Arc<Switchable>) -> TestAuthority {
    let policy = Policy::default().with_access_ttl(Duration::from_secs(30));
    Authority::new(keys, policy, Arc::clone(store)).with_clock(clock.clone())
}

/// The application of the tests on `auth`.
pub fn app_on(
    auth: Auth,
    users: &Users,
    configure: impl FnOnce(AuthRoutes<Users>) -> AuthRoutes<Users>,
) -> Router {
    let routes = configure(AuthRoutes::new(auth.clone(), users.clone()));
    Router::new()
        .route("/users/me", get(me))
        .route("/users/me", post(me))
        .route("/stateless", get(stateless))
        .merge(routes.router())
        .fallback(|| async { ApiError::route_not_found() })
        .with_state(auth)
}

async fn me(claims: LiveClaims<Role>) -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "data": { "id": claims.sub, "role": claims.extra.role } }))
}

async fn stateless(claims: Claims<Role>) -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "data": { "id": claims.sub, "role": claims.extra.role } }))
}

/// The test application on a loopback port chosen by the OS, serving the
/// peer address for per-address throttling.
pub async fn start() -> Server {
    start_with(|r| r, |a| a).await
}

/// [`start`] with changed limits or settings.
pub async fn start_with(
    configure: impl FnOnce(AuthRoutes<Users>) -> AuthRoutes<Users>,
    auth_settings: impl FnOnce(Auth) -> Auth,
) -> Server {
    let clock = ManualClock::new(START);
    let store = Arc::new(Switchable::default());
    let users = Users::demo();
    let router = app(&clock, &store, &users, configure, auth_settings);
    listen(router, clock, store, users).await
}

/// [`start`] on keyring `keys`, `wrap` making the [`Auth`] of the test
/// authority (e.g. `|a| Auth::new(a.with_events(sink))`).
pub async fn start_on(keys: Keyring, wrap: impl FnOnce(TestAuthority) -> Auth) -> Server {
    let clock = ManualClock::new(START);
    let store = Arc::new(Switchable::default());
    let users = Users::demo();
    let auth = wrap(authority(keys, &clock, &store));
    let router = app_on(auth, &users, |r| r);
    listen(router, clock, store, users).await
}

/// Serves `router` on a loopback port chosen by the OS.
async fn listen(
    router: Router,
    clock: ManualClock,
    store: Arc<Switchable>,
    users: Users,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Server {
        http: Http::new(addr),
        clock,
        store,
        users,
        addr,
    }
}

pub fn credentials() -> serde_json::Value {
    json!({ "email": EMAIL, "password": PASSWORD })
}

/// A `MemoryStore` that fails every call while `down` is set, and does not
/// answer while `hung` is.
#[derive(Default)]
pub struct Switchable {
    pub inner: MemoryStore,
    pub down: AtomicBool,
    pub hung: AtomicBool,
}

impl Switchable {
    async fn check(&self) -> Result<(), StoreError> {
        while self.hung.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable(std::io::Error::other(
                "store is down at 10.0.0.7 with password hunter2",
            )))
        } else {
            Ok(())
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn set_hung(&self, hung: bool) {
        self.hung.store(hung, Ordering::SeqCst);
    }
}

impl SessionStore for Switchable {
    async fn insert(&self, session: Session) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.insert(session).await
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.check().await?;
        self.inner.get(id).await
    }
    async fn compare_and_swap(&self, expected: u64, next: Session) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.compare_and_swap(expected, next).await
    }
    async fn list_by_subject(&self, subject: &str) -> Result<Vec<Session>, StoreError> {
        self.check().await?;
        self.inner.list_by_subject(subject).await
    }
    async fn purge_expired(&self, now: UnixMillis) -> Result<u64, StoreError> {
        self.check().await?;
        self.inner.purge_expired(now).await
    }
}

// ---------------------------------------------------------------------------
// The client

/// A client for one server (hyper-util's); loopback only.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

/// An answer: status, headers and the body as JSON (`null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

impl Reply {
    /// Directus's error code: `errors[0].extensions.code`.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// `(status, code)`, for comparing with one `assert_eq!`.
    pub fn answer(&self) -> (StatusCode, Option<&str>) {
        (self.status, self.code())
    }

    /// A string field of `data`.
    pub fn data(&self, field: &str) -> Option<&str> {
        self.body["data"][field].as_str()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The full `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The value that `Set-Cookie` gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        let header = self.set_cookie(name)?;
        let (_, rest) = header.split_once('=')?;
        Some(rest.split(';').next().unwrap_or(""))
    }
}

impl Http {
    /// A client for the server at `addr`, which must be a loopback address.
    pub fn new(addr: SocketAddr) -> Self {
        assert!(addr.ip().is_loopback(), "tests only talk to loopback");
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
        }
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> Reply {
        self.send(Method::POST, path, &[], body.to_string().into_bytes())
            .await
    }

    /// `GET path` with `Authorization: Bearer token`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.send(Method::GET, path, &[("authorization", &auth)], Vec::new())
            .await
    }

    /// Any request, with raw body bytes; a non-empty body is declared
    /// `application/json` unless `headers` give a `content-type`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        self.try_send(method, path, headers, body).await.unwrap()
    }

    /// [`send`](Http::send), with transport failures as `Err`.
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        let typed = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if !body.is_empty() && !typed {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            let body = if bytes.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?
            };
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| "timed out".to_owned())?
    }
}

/// `token` with one character of its signature changed: still canonical
/// base64url (the last character, which carries padding bits, is left
/// alone), so that it fails on its MAC, not on its encoding.
pub fn forge(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let at = chars.len() - 5;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// `POST /auth/refresh` with the token in the body.
pub async fn refresh_with(http: &Http, token: &str) -> Reply {
    http.post("/auth/refresh", json!({ "refresh_token": token }))
        .await
}

/// A POST with the refresh cookie and a JSON body (`""` for none, then with
/// the custom CSRF header).
pub async fn post_with_cookie(http: &Http, path: &str, cookie: &str, body: &str) -> Reply {
    let header = format!("theme=dark; {}={cookie}", tokenlife_axum::REFRESH_COOKIE);
    let mut headers = vec![("cookie", header.as_str())];
    if body.is_empty() {
        headers.push((tokenlife_axum::CSRF_HEADER, "XMLHttpRequest"));
    }
    http.send(Method::POST, path, &headers, body.as_bytes().to_vec())
        .await
}
