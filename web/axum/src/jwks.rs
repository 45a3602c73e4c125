//! `GET /.well-known/jwks.json`: the public keys of the authority's
//! keyring, for resource servers that verify access tokens with a
//! [`Verifier`](tokenlife::Verifier) and hold no secret.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;

use crate::routes::Routes;

/// The `Cache-Control` of the JWKS answer: `public, max-age=300`.
///
/// The token answers of the other routes are `no-store`; the JWKS holds
/// public keys only and is fetched by every resource server, so caches may
/// keep it — briefly. Five minutes is the longest a verifier (or a cache
/// in front of it) may go on using an old copy, which sets the one rule of
/// key rotation: publish a key with [`Keyring::add_next`](tokenlife::Keyring::add_next)
/// at least five minutes before [`Keyring::promote`](tokenlife::Keyring::promote)
/// makes it sign, so that every verifier knows it before its first token
/// arrives. A retired key stays published for an access lifetime after
/// promotion (15 minutes by default), longer than any cached copy lives.
/// Shorter would only add fetches; much longer would make rotation wait.
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// The media type of a JWK Set (RFC 7517 §8.5.1).
const JWK_SET: &str = "application/jwk-set+json";

/// `GET /.well-known/jwks.json`: [`Keyring::jwks`](tokenlife::Keyring::jwks)
/// at the authority's clock.
///
/// An HS256 keyring has nothing to publish (its key is a secret): the
/// answer is then `{"keys":[]}`, 200 like any other. The route exists
/// whatever the keyring, the document is the keyring's own truth, and a
/// verifier built from it refuses every token as signed by an unknown key
/// — failing closed — rather than the route vanishing (404) while a
/// keyring migrates from HS256 to EdDSA with `add_next`.
pub(crate) async fn jwks<Cr>(State(routes): State<Arc<Routes<Cr>>>) -> Response {
    let engine = routes.auth.engine();
    let body = engine.keyring().jwks(engine.now()).to_json();
    (
        [
            (header::CONTENT_TYPE, JWK_SET),
            (header::CACHE_CONTROL, JWKS_CACHE_CONTROL),
        ],
        body,
    )
        .into_response()
}
