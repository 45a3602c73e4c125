//! Extractors: [`Claims`] verifies an access token statelessly,
//! [`LiveClaims`] also checks that its session is still live.

use std::ops::Deref;

use axum::extract::{FromRef, FromRequestParts};
use http::Method;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokenlife::{AccessClaims, Error, Malformed};

use crate::auth::Extra;
use crate::{ApiError, Auth};

/// The verified claims of the request's access token, checked statelessly
/// ([`Authority::verify`](tokenlife::Authority::verify)): signature, type,
/// expiry, issuer, audience. A logged-out session's tokens still pass until
/// their `exp`; use [`LiveClaims`] where that matters.
///
/// `T` is the application's claims; the default takes whatever is there.
/// A refusal answers with [`ApiError::from_access`].
#[derive(Debug, Clone)]
pub struct Claims<T = Extra>(pub AccessClaims<T>);

/// The verified claims of the request's access token whose session is still
/// live ([`Authority::verify_live`](tokenlife::Authority::verify_live)):
/// logout takes effect at once, at the cost of a store read per request.
///
/// When the authority has a revocation set
/// ([`Authority::with_revocations`](tokenlife::Authority::with_revocations),
/// kept filled by a `RevocationFeed`), it checks that instead
/// ([`Authority::verify_fresh`](tokenlife::Authority::verify_fresh)): a
/// logout on any instance takes effect within the feed's delay, with no
/// store read while the set is fresh, and the store read again whenever it
/// is not.
#[derive(Debug, Clone)]
pub struct LiveClaims<T = Extra>(pub AccessClaims<T>);

impl<T> Deref for Claims<T> {
    type Target = AccessClaims<T>;
    fn deref(&self) -> &AccessClaims<T> {
        &self.0
    }
}

impl<T> Deref for LiveClaims<T> {
    type Target = AccessClaims<T>;
    fn deref(&self) -> &AccessClaims<T> {
        &self.0
    }
}

impl<T, St> FromRequestParts<St> for Claims<T>
where
    T: DeserializeOwned + Send,
    Auth: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let auth = Auth::from_ref(state);
        let token = access_token(parts, &auth)?;
        let claims = auth
            .engine()
            .verify(&token)
            .and_then(typed)
            .map_err(|e| ApiError::from_access(&e))?;
        Ok(Self(claims))
    }
}

impl<T, St> FromRequestParts<St> for LiveClaims<T>
where
    T: DeserializeOwned + Send,
    Auth: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let auth = Auth::from_ref(state);
        let token = access_token(parts, &auth)?;
        let claims = auth
            .engine()
            .verify_live(&token)
            .await
            .and_then(typed)
            .map_err(|e| ApiError::from_access(&e))?;
        Ok(Self(claims))
    }
}

/// The bearer token, else the access cookie when one is configured (after
/// the CSRF checks for a state-changing request).
fn access_token(parts: &Parts, auth: &Auth) -> Result<String, ApiError> {
    if parts.headers.contains_key(http::header::AUTHORIZATION) {
        return crate::body::bearer(&parts.headers)
            .map(str::to_owned)
            .ok_or_else(ApiError::missing_token);
    }
    let from_cookie = auth
        .access_cookie()
        .and_then(|name| crate::body::cookie(&parts.headers, name))
        .ok_or_else(ApiError::missing_token)?;
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        crate::csrf::check_cookie_request(&parts.headers, auth.allowed_origins())?;
    }
    Ok(from_cookie)
}

/// The application claims as `T`. A token whose claims do not fit `T` is
/// refused as malformed claims, as a typed `verify::<T>` would.
fn typed<T: DeserializeOwned>(claims: AccessClaims<Extra>) -> Result<AccessClaims<T>, Error> {
    let empty = claims.extra.is_empty();
    let extra = serde_json::from_value(Value::Object(claims.extra))
        // No claims at all also fits `()`.
        .or_else(|e| {
            if empty {
                serde_json::from_value(Value::Null)
            } else {
                Err(e)
            }
        })
        .map_err(|_| Error::Malformed(Malformed::Claims))?;
    Ok(AccessClaims {
        sub: claims.sub,
        sid: claims.sid,
        iat: claims.iat,
        exp: claims.exp,
        jti: claims.jti,
        iss: claims.iss,
        aud: claims.aud,
        extra,
    })
}
