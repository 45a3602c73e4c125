//! `GET /.well-known/jwks.json` over real HTTP: the keyring's public keys,
//! cacheable for a short while, from which a secret-free `Verifier`
//! accepts the server's access tokens and nobody else's.

mod common;

use axum::http::{Method, StatusCode};
use tokenlife::{Algorithm, Authority, Error, Keyring, MemoryStore, Policy, Verifier};
use tokenlife_axum::{Auth, JWKS_CACHE_CONTROL};

use common::*;

const JWKS: &str = "/.well-known/jwks.json";

fn eddsa(secret: &[u8]) -> Keyring {
    Keyring::with_algorithm(Algorithm::EdDSA, "test", secret).unwrap()
}

async fn fetch_jwks(http: &Http) -> Reply {
    http.send(Method::GET, JWKS, &[], Vec::new()).await
}

async fn login_access(http: &Http) -> String {
    let login = http.post("/auth/login", credentials()).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    login.data("access_token").unwrap().to_owned()
}

#[tokio::test]
async fn the_jwks_route_publishes_the_eddsa_key_for_a_short_while() {
    let server = start_on(eddsa(SECRET), Auth::new).await;
    let jwks = fetch_jwks(&server.http).await;
    assert_eq!(jwks.status, StatusCode::OK, "{jwks:?}");
    assert_eq!(
        jwks.header("content-type"),
        Some("application/jwk-set+json")
    );
    assert_eq!(jwks.header("cache-control"), Some(JWKS_CACHE_CONTROL));
    assert_eq!(JWKS_CACHE_CONTROL, "public, max-age=300");
    assert_eq!(
        jwks.header("pragma"),
        None,
        "not the no-cache of token answers"
    );
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], "test");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["kty"], "OKP");
    assert!(keys[0].get("d").is_none(), "no private member: {jwks:?}");

    // The token routes keep their no-store.
    let login = server.http.post("/auth/login", credentials()).await;
    assert_eq!(login.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn a_verifier_from_the_served_jwks_accepts_the_servers_tokens_and_no_others() {
    let server = start_on(eddsa(SECRET), Auth::new).await;
    let jwks = fetch_jwks(&server.http).await;
    let verifier = Verifier::from_jwks(&jwks.body.to_string(), Policy::default()).unwrap();

    let access = login_access(&server.http).await;
    let claims = verifier.verify::<Role>(&access, START).unwrap();
    assert_eq!(claims.sub, "user-1");
    assert_eq!(claims.extra.role, "administrator");

    // An edited signature.
    let r = verifier.verify::<Role>(&forge(&access), START);
    assert!(matches!(r, Err(Error::BadSignature)), "{r:?}");

    // A token of another EdDSA key under the same key id.
    let other = Authority::new(
        eddsa(b"another secret of thirty-two bytes or more"),
        Policy::default(),
        MemoryStore::new(),
    );
    let foreign = other.login("user-1", &()).await.unwrap();
    let r = verifier.verify::<serde_json::Value>(&foreign.access_token, other_now());
    assert!(matches!(r, Err(Error::BadSignature)), "{r:?}");
}

#[tokio::test]
async fn an_hs256_server_publishes_an_empty_set_and_no_secret() {
    let server = start().await;
    let jwks = fetch_jwks(&server.http).await;
    assert_eq!(jwks.status, StatusCode::OK, "{jwks:?}");
    assert_eq!(jwks.body, serde_json::json!({ "keys": [] }));

    // A verifier from it knows no key: it fails closed.
    let verifier = Verifier::from_jwks(&jwks.body.to_string(), Policy::default()).unwrap();
    let access = login_access(&server.http).await;
    let r = verifier.verify::<Role>(&access, START);
    assert!(matches!(r, Err(Error::UnknownKey)), "{r:?}");
}

/// The system clock's now, at which the `other` authority signed.
fn other_now() -> tokenlife::UnixMillis {
    use tokenlife::Clock as _;
    tokenlife::SystemClock.now()
}
