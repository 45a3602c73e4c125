//! A Directus-compatible auth server on tokenlife-axum: the crate's auth
//! routes, argon2 demo users, and `GET /users/me`. `src/main.rs` runs it on
//! the system clock; the tests run it in-process on a `ManualClock`.

pub mod config;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokenlife_axum::{
    ApiError, Auth, AuthRoutes, Credentials, Identity, Limit, LiveClaims, LoginAttempt, Refused,
};

pub use users::{User, UserError, Users, random_hex};

/// The application claims of our access tokens.
#[derive(Debug, Serialize, Deserialize)]
pub struct Role {
    /// The user's role.
    pub role: String,
}

#[derive(Clone)]
struct App {
    auth: Auth,
    users: Directory,
}

impl FromRef<App> for Auth {
    fn from_ref(app: &App) -> Auth {
        app.auth.clone()
    }
}

/// The users, shared by the login route and `/users/me`.
#[derive(Clone)]
struct Directory(Arc<Users>);

impl Credentials for Directory {
    type Claims = Role;

    fn check(&self, attempt: &LoginAttempt) -> Result<Identity<Role>, Refused> {
        let user = self
            .0
            .check(&attempt.email, &attempt.password)
            .ok_or(Refused::InvalidCredentials)?;
        Ok(Identity {
            subject: user.id.clone(),
            claims: Role {
                role: user.role.clone(),
            },
        })
    }
}

/// The server's routes: the auth routes of tokenlife-axum (with
/// `session_refreshes` per session, else the crate's default), `GET
/// /users/me` (live check), and `404 ROUTE_NOT_FOUND` for the rest.
pub fn router(auth: Auth, users: Users, session_refreshes: Option<Limit>) -> Router {
    let users = Directory(Arc::new(users));
    let mut routes = AuthRoutes::new(auth.clone(), users.clone());
    if let Some(limit) = session_refreshes {
        routes = routes.session_refreshes(limit);
    }
    Router::new()
        .route("/users/me", get(me))
        .merge(routes.router())
        .fallback(|| async { ApiError::route_not_found() })
        .with_state(App { auth, users })
}

/// Serves `router` on `listener` (with the peer address, for per-address
/// login throttling) until the process ends.
///
/// # Errors
/// When accepting connections fails for good.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn me(State(app): State<App>, claims: LiveClaims<Role>) -> Result<Response, ApiError> {
    // A token of a user deleted since it was issued.
    let user = app
        .users
        .0
        .by_id(&claims.sub)
        .ok_or_else(ApiError::invalid_token)?;
    Ok(axum::Json(serde_json::json!({ "data": user })).into_response())
}
