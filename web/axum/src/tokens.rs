//! The token routes: `POST /auth/login`, `/auth/refresh` and `/auth/logout`,
//! in json and cookie modes, with the exact shapes of Directus.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use tokenlife::TokenPair;
use zeroize::Zeroizing;

use crate::body::{cookie, json, read_json};
use crate::csrf::check_cookie_request;
use crate::routes::{REFRESH_COOKIE, Routes, answered};
use crate::{ApiError, Credentials, LoginAttempt, Refused};

/// The longest a metadata value (user agent) recorded at login may be; a
/// longer one is cut.
const MAX_METADATA_VALUE: usize = 512;

/// The cookie's attributes after its value and lifetime.
const COOKIE_ATTRIBUTES: &str = "Path=/; HttpOnly; Secure; SameSite=Lax";

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

pub(crate) async fn login<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    request: Request,
) -> Response {
    answered(routes.login(request)).await
}

pub(crate) async fn refresh<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    request: Request,
) -> Response {
    answered(routes.refresh(request)).await
}

pub(crate) async fn logout<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    request: Request,
) -> Response {
    answered(routes.logout(request)).await
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
        let forwarded = self.address_header.as_ref().and_then(|name| {
            let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
            value.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
        });
        let peer = forwarded.or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip())
        });
        let address = peer.map(address_key);

        // A throttled attempt never reaches the password hash; and the
        // attempts being checked count against the budget until settled, so
        // that guesses sent at once cannot outrun it.
        let account_attempt = self
            .account
            .reserve(&account)
            .map_err(ApiError::requests_exceeded)?;
        let address_attempt = address
            .as_deref()
            .map(|address| self.address.reserve(address))
            .transpose()
            .map_err(ApiError::requests_exceeded)?;

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
                    account_attempt.failed();
                    if let Some(attempt) = address_attempt {
                        attempt.failed();
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
        if let Some(ip) = peer {
            metadata.push(("ip".to_owned(), ip.to_string()));
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

/// The throttling key of a client address: the IPv4 address, or the /64
/// network of an IPv6 address (one subscriber's usual allocation, which it
/// can rotate through at will).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
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
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_subscriber_is_throttled_as_its_64_network() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), key("2001:db8:1:2:aaaa::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }

    #[test]
    fn long_user_agents_are_cut_on_a_char_boundary() {
        let agent = "é".repeat(MAX_METADATA_VALUE);
        let cut = truncate(&agent);
        assert!(cut.len() <= MAX_METADATA_VALUE && cut.len() >= MAX_METADATA_VALUE - 1);
        assert_eq!(
            account_key(&format!("  {}@Example.COM ", "A".repeat(300))).len(),
            256
        );
    }
}
