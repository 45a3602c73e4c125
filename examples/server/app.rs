//! The Directus-compatible auth server: routes, users, the error mapping.
//!
//! `examples/server.rs` runs it on the system clock; the integration tests
//! include this file with `#[path]` and run it in-process on a port chosen by
//! the OS and a `ManualClock`, so that expiry is tested without sleeping.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /auth/login` | `{email, password, mode?}` | `{"data":{access_token, refresh_token, expires}}` |
//! | `POST /auth/refresh` | `{refresh_token?, mode?}` (or the cookie) | the same shape |
//! | `POST /auth/logout` | `{refresh_token?}` (or the cookie) | `204 No Content` |
//! | `GET /users/me` | `Authorization: Bearer <access token>` | `{"data":{id, email, …}}` |
//!
//! In cookie mode (`"mode":"cookie"`) the refresh token travels in the
//! `directus_refresh_token` cookie (`HttpOnly; Secure; SameSite=Lax`) and is
//! left out of the JSON body, as Directus does.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokenlife::{
    Authority, Clock, Error, Keyring, OsRandom, Policy, RandomSource, SessionStore, TokenPair,
};

/// The cookie that carries the refresh token in cookie mode (Directus's name).
pub const REFRESH_COOKIE: &str = "directus_refresh_token";

/// Request bodies larger than this are refused with `413`.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The server's state, shared by every request.
pub struct App<S> {
    auth: Authority<S, Arc<dyn Clock>, OsRandom>,
    users: Users,
    /// Bounds the argon2 verifications running at once, so that a flood of
    /// logins queues up instead of claiming 19 MiB and a thread apiece.
    hashing: tokio::sync::Semaphore,
}

/// How many password checks may run at once.
pub const CONCURRENT_PASSWORD_CHECKS: usize = 4;

impl<S: SessionStore + 'static> App<S> {
    /// The server over `store`, reading `clock`.
    pub fn new(
        keys: Keyring,
        policy: Policy,
        store: S,
        clock: Arc<dyn Clock>,
        users: Users,
    ) -> Arc<Self> {
        let auth = Authority::new(keys, policy, store).with_clock(clock);
        Arc::new(Self {
            auth,
            users,
            hashing: tokio::sync::Semaphore::new(CONCURRENT_PASSWORD_CHECKS),
        })
    }

    /// The authority, e.g. for a periodic `purge_expired`.
    pub fn authority(&self) -> &Authority<S, Arc<dyn Clock>, OsRandom> {
        &self.auth
    }
}

/// The routes of the table above.
pub fn router<S: SessionStore + 'static>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route("/auth/login", post(login::<S>))
        .route("/auth/refresh", post(refresh::<S>))
        .route("/auth/logout", post(logout::<S>))
        .route("/users/me", get(me::<S>))
        .fallback(not_found)
        .with_state(app)
}

/// Serves `app` on `listener` until the process ends.
///
/// # Errors
/// When accepting connections fails for good.
pub async fn serve<S: SessionStore + 'static>(
    listener: tokio::net::TcpListener,
    app: Arc<App<S>>,
) -> std::io::Result<()> {
    axum::serve(listener, router(app)).await
}

// ---------------------------------------------------------------------------
// Users

/// A user as `GET /users/me` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The user id: the `sub` of its access tokens.
    pub id: String,
    /// The login name, lower-cased.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// The role, carried as an application claim in access tokens.
    pub role: String,
    #[serde(skip)]
    password_hash: String,
}

/// The user table: argon2id password hashes, looked up by email or id.
pub struct Users {
    argon2: Argon2<'static>,
    by_email: HashMap<String, User>,
    email_by_id: HashMap<String, String>,
    /// The hash that a login with an unknown email is checked against, so
    /// that it costs what a wrong password costs.
    dummy_hash: String,
}

/// Why a user could not be added.
pub type UserError = Box<dyn std::error::Error + Send + Sync>;

impl Users {
    /// An empty table hashing with argon2id and `params` (use
    /// `Params::DEFAULT` in production; tests may pass cheaper ones).
    ///
    /// # Errors
    /// When the random source fails or argon2 refuses the parameters.
    pub fn new(params: Params) -> Result<Self, UserError> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash(&argon2, &random_hex(16)?)?;
        Ok(Self {
            argon2,
            by_email: HashMap::new(),
            email_by_id: HashMap::new(),
            dummy_hash,
        })
    }

    /// Adds a user with a fresh random id; returns it.
    ///
    /// # Errors
    /// When the email is taken, the random source fails or hashing fails.
    // The tests' way; the server gives its demo user a fixed id.
    #[allow(dead_code)]
    pub fn add(
        &mut self,
        email: &str,
        password: &str,
        first_name: &str,
        last_name: &str,
        role: &str,
    ) -> Result<User, UserError> {
        let id = random_hex(16)?;
        self.add_with_id(&id, email, password, first_name, last_name, role)
    }

    /// Adds a user with the given id; returns it. Instances that share a
    /// session store must give a user the same id, the `sub` of its tokens.
    ///
    /// # Errors
    /// When the id or email is taken, the random source fails or hashing fails.
    pub fn add_with_id(
        &mut self,
        id: &str,
        email: &str,
        password: &str,
        first_name: &str,
        last_name: &str,
        role: &str,
    ) -> Result<User, UserError> {
        let email = normalise_email(email);
        if self.by_email.contains_key(&email) {
            return Err(format!("a user with email {email} exists").into());
        }
        if self.email_by_id.contains_key(id) {
            return Err(format!("a user with id {id} exists").into());
        }
        let user = User {
            id: id.to_owned(),
            email: email.clone(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            role: role.to_owned(),
            password_hash: hash(&self.argon2, password)?,
        };
        self.email_by_id.insert(user.id.clone(), email.clone());
        self.by_email.insert(email, user.clone());
        Ok(user)
    }

    /// The user with this id.
    pub fn by_id(&self, id: &str) -> Option<&User> {
        self.by_email.get(self.email_by_id.get(id)?)
    }

    /// The user whose email and password these are. Blocking (argon2): call
    /// it off the async executor.
    ///
    /// Exactly one argon2id verification runs whether or not the email
    /// exists, so the time taken does not tell which emails have accounts.
    pub fn check(&self, email: &str, password: &str) -> Option<&User> {
        let user = self.by_email.get(&normalise_email(email));
        let hash = user.map_or(self.dummy_hash.as_str(), |u| u.password_hash.as_str());
        let verified = self
            .argon2
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        user.filter(|_| verified)
    }
}

fn hash(argon2: &Argon2<'_>, password: &str) -> Result<String, UserError> {
    let mut salt = [0u8; 16];
    OsRandom.fill(&mut salt)?;
    let hash = argon2
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| format!("argon2: {e}"))?;
    Ok(hash.to_string())
}

fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `bytes` random bytes from the OS, hex-encoded.
///
/// # Errors
/// When the OS random source fails.
pub fn random_hex(bytes: usize) -> Result<String, tokenlife::Error> {
    let mut raw = vec![0u8; bytes];
    OsRandom.fill(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

// ---------------------------------------------------------------------------
// Handlers

/// The application claims of our access tokens.
#[derive(Serialize, Deserialize)]
struct Claims {
    role: String,
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

async fn login<S: SessionStore + 'static>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: LoginRequest = read_json(&headers, body).await?;
    let (Some(email), Some(password)) = (request.email, request.password) else {
        return Err(ApiError::payload("\"email\" and \"password\" are required"));
    };
    // The semaphore is never closed, so acquiring fails only in theory.
    let _permit = app
        .hashing
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    let checker = Arc::clone(&app);
    let user = tokio::task::spawn_blocking(move || checker.users.check(&email, &password).cloned())
        .await
        .map_err(|_| ApiError::internal())?
        .ok_or_else(ApiError::invalid_credentials)?;
    let pair = app
        .auth
        .login(&user.id, &Claims { role: user.role })
        .await?;
    Ok(app.tokens(pair, request.mode.unwrap_or_default()))
}

async fn refresh<S: SessionStore + 'static>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut request: TokenRequest = read_json(&headers, body).await?;
    // Directus treats an empty token as none.
    request.refresh_token = request.refresh_token.filter(|t| !t.is_empty());
    // Directus: without a mode, a token in the body means json mode.
    let mode = request.mode.unwrap_or(if request.refresh_token.is_some() {
        Mode::Json
    } else {
        Mode::Cookie
    });
    let token = request
        .refresh_token
        .or_else(|| cookie(&headers, REFRESH_COOKIE))
        .ok_or_else(missing_refresh_token)?;
    let pair = app.auth.refresh(&token).await?;
    Ok(app.tokens(pair, mode))
}

async fn logout<S: SessionStore + 'static>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut request: TokenRequest = read_json(&headers, body).await?;
    request.refresh_token = request.refresh_token.filter(|t| !t.is_empty());
    let from_cookie = cookie(&headers, REFRESH_COOKIE);
    let clear_cookie = from_cookie.is_some() || request.mode == Some(Mode::Cookie);
    let token = request
        .refresh_token
        .or(from_cookie)
        .ok_or_else(missing_refresh_token)?;
    app.auth.logout(&token).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if clear_cookie {
        let expired = format!("{REFRESH_COOKIE}=; Max-Age=0; {COOKIE_ATTRIBUTES}");
        if let Ok(value) = HeaderValue::from_str(&expired) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

async fn me<S: SessionStore + 'static>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = bearer(&headers).ok_or_else(ApiError::invalid_credentials)?;
    let claims = app.auth.verify_live::<Claims>(token).await?;
    // A token of a user deleted since it was issued.
    let user = app
        .users
        .by_id(&claims.sub)
        .ok_or_else(ApiError::invalid_token)?;
    Ok(json(StatusCode::OK, &Data { data: user }))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ROUTE_NOT_FOUND",
        format!("Route {} doesn't exist.", uri.path()),
    )
}

/// The cookie's attributes after its value and lifetime.
const COOKIE_ATTRIBUTES: &str = "Path=/; HttpOnly; Secure; SameSite=Lax";

impl<S: SessionStore> App<S> {
    /// The answer to a login or refresh: the pair in the body (json mode),
    /// or the access token in the body and the refresh token in a cookie.
    fn tokens(&self, pair: TokenPair, mode: Mode) -> Response {
        match mode {
            Mode::Json => json(StatusCode::OK, &Data { data: &pair }),
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

/// Reads a JSON body of at most [`MAX_BODY_BYTES`]; an empty body is `T::default()`.
async fn read_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(ApiError::too_large());
    }
    // Fails past the limit (also for a chunked body that declared nothing),
    // or when the client went away, who then reads no answer anyway.
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::payload("the body is not valid JSON of the expected shape"))
}

/// The value of cookie `name` from the `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn missing_refresh_token() -> ApiError {
    ApiError::payload("The refresh token is required in either the payload or cookie")
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

// ---------------------------------------------------------------------------
// Errors

/// An error answer in Directus's shape:
/// `{"errors":[{"message":…,"extensions":{"code":…}}]}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Directus's error code, e.g. `TOKEN_EXPIRED`.
    pub code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn payload(reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PAYLOAD",
            format!("Invalid payload. {reason}."),
        )
    }

    fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "CONTENT_TOO_LARGE",
            format!("Request body is larger than {MAX_BODY_BYTES} bytes."),
        )
    }

    fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid user credentials.",
        )
    }

    fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "Invalid token.")
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "An unexpected error occurred.",
        )
    }
}

impl From<Error> for ApiError {
    /// Expired → `401 TOKEN_EXPIRED`; any other refusal of a token (bad,
    /// forged, revoked, reused, unknown) → `401 INVALID_TOKEN`; a store
    /// failure → `503 SERVICE_UNAVAILABLE`; the rest is ours → `500`.
    fn from(e: Error) -> Self {
        match e {
            Error::Expired { .. } | Error::SessionExpired { .. } => {
                Self::new(StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED", "Token expired.")
            }
            Error::Malformed(_)
            | Error::TooLarge { .. }
            | Error::BadSignature
            | Error::UnknownKey
            | Error::UnsupportedAlgorithm
            | Error::WrongTokenType
            | Error::NotYetValid { .. }
            | Error::WrongIssuer
            | Error::WrongAudience
            | Error::UnknownSession
            | Error::SessionRevoked { .. }
            | Error::RefreshReused => Self::invalid_token(),
            Error::Store(e) => {
                // Display never contains token or key material.
                eprintln!("session store failed: {e}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "Service \"sessions\" is unavailable. Try again later.",
                )
            }
            other => {
                eprintln!("internal error: {other}");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "message": self.message, "extensions": { "code": self.code } }]
        });
        json(self.status, &body)
    }
}
