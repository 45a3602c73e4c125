//! The caller's own sessions: list them, revoke one, revoke all the others.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use tokenlife::{Error, SessionId, UnixMillis};

use crate::body::json;
use crate::routes::{Routes, answered};
use crate::{ApiError, Credentials, LiveClaims};

/// A session as `GET /auth/sessions` lists it.
#[derive(Serialize)]
struct Listed {
    id: SessionId,
    created_at: UnixMillis,
    last_refreshed_at: UnixMillis,
    expires_at: UnixMillis,
    user_agent: Option<String>,
    ip: Option<String>,
    /// The session of the token that asks.
    current: bool,
}

#[derive(Serialize)]
struct Data<T> {
    data: T,
}

#[derive(Serialize)]
struct Count {
    revoked: usize,
}

/// `GET /auth/sessions`: the caller's live sessions, oldest first.
pub(crate) async fn list<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    claims: Result<LiveClaims, ApiError>,
) -> Response {
    answered(async {
        let claims = claims?;
        let sessions = routes
            .auth
            .engine()
            .sessions(&claims.sub)
            .await
            .map_err(|e| ApiError::from_environment(&e))?;
        let listed: Vec<Listed> = sessions
            .into_iter()
            .map(|s| {
                let field = |name: &str| {
                    s.metadata
                        .iter()
                        .find(|(key, _)| key == name)
                        .map(|(_, value)| value.clone())
                };
                Listed {
                    user_agent: field("user_agent"),
                    ip: field("ip"),
                    current: s.id == claims.sid,
                    id: s.id,
                    created_at: s.created_at,
                    last_refreshed_at: s.last_refreshed_at,
                    expires_at: s.expires_at,
                }
            })
            .collect();
        Ok(json(StatusCode::OK, &Data { data: listed }))
    })
    .await
}

/// `DELETE /auth/sessions/{id}`: revokes that session of the caller (204;
/// also when it was already revoked). A session of someone else, or none,
/// is 403 `FORBIDDEN`: the answer does not tell which.
pub(crate) async fn revoke_one<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    claims: Result<LiveClaims, ApiError>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    answered(async {
        let claims = claims?;
        let Ok(Path(id)) = id else {
            return Err(ApiError::forbidden());
        };
        let id: SessionId = id.parse().map_err(|_| ApiError::forbidden())?;
        match routes.auth.engine().revoke_session(&claims.sub, &id).await {
            Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
            Err(Error::UnknownSession) => Err(ApiError::forbidden()),
            Err(e) => Err(ApiError::from_environment(&e)),
        }
    })
    .await
}

/// `DELETE /auth/sessions`: revokes every session of the caller but the
/// one asking ("log out my other devices").
pub(crate) async fn revoke_others<Cr: Credentials>(
    State(routes): State<Arc<Routes<Cr>>>,
    claims: Result<LiveClaims, ApiError>,
) -> Response {
    answered(async {
        let claims = claims?;
        let revoked = routes
            .auth
            .engine()
            .logout_all(&claims.sub, Some(&claims.sid))
            .await
            .map_err(|e| ApiError::from_environment(&e))?;
        Ok(json(
            StatusCode::OK,
            &Data {
                data: Count { revoked },
            },
        ))
    })
    .await
}
