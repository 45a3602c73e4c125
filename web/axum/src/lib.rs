#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod auth;
mod body;
mod credentials;
mod csrf;
mod error;
#[cfg(feature = "tracing")]
mod events;
mod extract;
mod hashing;
mod jwks;
mod routes;
mod sessions;
mod throttle;
mod tokens;

pub use auth::Auth;
pub use credentials::{Credentials, Identity, LoginAttempt, Refused};
pub use csrf::CSRF_HEADER;
pub use error::ApiError;
#[cfg(feature = "tracing")]
pub use events::TracingEvents;
pub use extract::{Claims, LiveClaims};
pub use jwks::JWKS_CACHE_CONTROL;
pub use routes::{AuthRoutes, DEFAULT_BODY_BYTES, REFRESH_COOKIE};
pub use throttle::Limit;
