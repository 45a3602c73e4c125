//! Reading requests and writing answers: JSON bodies with a size limit,
//! cookies, the bearer token, and the cache headers of token answers.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Reads a JSON body of at most `limit` bytes; an empty body is
/// `T::default()`.
///
/// # Errors
/// 415 when a `Content-Type` other than `application/json` is declared;
/// 413 past the limit; 400 `INVALID_PAYLOAD` for anything that is not JSON
/// of the shape of `T`.
pub(crate) async fn read_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    check_content_type(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::too_large());
    }
    // Fails past the limit (also for a chunked body that declared nothing),
    // or when the client went away, who then reads no answer anyway.
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !is_json(headers) {
        // A body without a declared type: what an HTML form or a "simple"
        // cross-site fetch can send without a CORS preflight.
        return Err(ApiError::unsupported_media_type());
    }
    serde_json::from_slice(&bytes).map_err(|_| {
        ApiError::invalid_payload("Invalid payload. The body is not JSON of the expected shape.")
    })
}

/// Refuses a declared `Content-Type` that is not `application/json`.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key(header::CONTENT_TYPE) && !is_json(headers) {
        return Err(ApiError::unsupported_media_type());
    }
    Ok(())
}

/// Whether the request declares `Content-Type: application/json` (any
/// parameters, any case).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The value of cookie `name` from the `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A JSON answer.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
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

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1): no
/// cache keeps a token answer, nor any other answer of the auth routes.
pub(crate) async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
