//! Our access tokens are standard JWTs: the `jsonwebtoken` crate, given the
//! access-token secret, decodes them; tokens it signs in ways we do not allow
//! are refused by us.

mod support;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use support::*;
use tokenlife::{Authority, Error, Keyring, MemoryStore, Policy};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Claims {
    sub: String,
    sid: String,
    iat: u64,
    exp: u64,
    jti: String,
    iss: String,
    aud: String,
    role: String,
}

#[derive(Serialize, Deserialize)]
struct Role {
    role: String,
}

fn system_authority() -> Authority<MemoryStore, tokenlife::SystemClock, tokenlife::OsRandom> {
    let policy = Policy::default()
        .with_issuer("https://auth.example")
        .with_audience("api");
    Authority::new(keys(), policy, MemoryStore::new())
}

fn access_secret() -> Vec<u8> {
    keys().access_token_secret("k1").unwrap().to_vec()
}

fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&["https://auth.example"]);
    v.set_audience(&["api"]);
    v
}

#[test]
fn jsonwebtoken_decodes_our_access_tokens_with_the_access_secret() {
    let auth = system_authority();
    let pair = block_on(auth.login(
        "5f0c7a4e-3c1b-4f4e-9d7e-2a9c3b1d0e8f",
        &Role {
            role: "editor".into(),
        },
    ))
    .unwrap();
    let data = jsonwebtoken::decode::<Claims>(
        &pair.access_token,
        &DecodingKey::from_secret(&access_secret()),
        &validation(),
    )
    .unwrap();
    assert_eq!(data.header.alg, Algorithm::HS256);
    assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(data.header.kid.as_deref(), Some("k1"));
    assert_eq!(data.claims.sub, "5f0c7a4e-3c1b-4f4e-9d7e-2a9c3b1d0e8f");
    assert_eq!(data.claims.sid, pair.session_id.to_string());
    assert_eq!(data.claims.role, "editor");
    assert_eq!(data.claims.exp - data.claims.iat, 900);

    // The master secret is not the access key: a verifier using it fails.
    let wrong = jsonwebtoken::decode::<Claims>(
        &pair.access_token,
        &DecodingKey::from_secret(SECRET),
        &validation(),
    );
    assert!(wrong.is_err());
}

fn our_claims_now() -> Claims {
    let auth = system_authority();
    let pair = block_on(auth.login(
        "alice",
        &Role {
            role: "admin".into(),
        },
    ))
    .unwrap();
    jsonwebtoken::decode::<Claims>(
        &pair.access_token,
        &DecodingKey::from_secret(&access_secret()),
        &validation(),
    )
    .unwrap()
    .claims
}

fn sign(header: &Header, claims: &Claims) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(&access_secret())).unwrap()
}

fn at_jwt(alg: Algorithm) -> Header {
    let mut h = Header::new(alg);
    h.typ = Some("at+jwt".into());
    h.kid = Some("k1".into());
    h
}

#[test]
fn a_token_jsonwebtoken_signs_like_ours_is_accepted() {
    // The control for the refusals below: same key, same claims, our header.
    let token = sign(&at_jwt(Algorithm::HS256), &our_claims_now());
    let claims = system_authority().verify::<Role>(&token).unwrap();
    assert_eq!(claims.extra.role, "admin");
}

#[test]
fn hs384_signed_by_jsonwebtoken_is_refused() {
    let token = sign(&at_jwt(Algorithm::HS384), &our_claims_now());
    assert!(matches!(
        system_authority().verify::<Role>(&token),
        Err(Error::UnsupportedAlgorithm)
    ));
}

#[test]
fn plain_jwt_typ_is_refused() {
    let mut header = at_jwt(Algorithm::HS256);
    header.typ = Some("JWT".into());
    let token = sign(&header, &our_claims_now());
    assert!(matches!(
        system_authority().verify::<Role>(&token),
        Err(Error::WrongTokenType)
    ));
    header.typ = None;
    let token = sign(&header, &our_claims_now());
    assert!(matches!(
        system_authority().verify::<Role>(&token),
        Err(Error::WrongTokenType)
    ));
}

#[test]
fn alg_none_is_refused() {
    // jsonwebtoken refuses to sign with `none`, so build it by hand from its output.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = sign(&at_jwt(Algorithm::HS256), &our_claims_now());
    let payload = token.split('.').nth(1).unwrap();
    for header in [
        r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#,
        r#"{"alg":"None","typ":"at+jwt","kid":"k1"}"#,
    ] {
        for sig in ["", "AAAA"] {
            let forged = format!("{}.{payload}.{sig}", b64.encode(header));
            assert!(
                matches!(
                    system_authority().verify::<Role>(&forged),
                    Err(Error::UnsupportedAlgorithm)
                ),
                "{header} sig={sig:?}"
            );
        }
    }
}

#[test]
fn unknown_kid_is_refused() {
    let mut header = at_jwt(Algorithm::HS256);
    header.kid = Some("k9".into());
    let token = sign(&header, &our_claims_now());
    assert!(matches!(
        system_authority().verify::<Role>(&token),
        Err(Error::UnknownKey)
    ));
    header.kid = None;
    let token = sign(&header, &our_claims_now());
    assert!(matches!(
        system_authority().verify::<Role>(&token),
        Err(Error::UnknownKey)
    ));
}

#[test]
fn a_token_from_another_keyring_is_refused() {
    let other = Keyring::new("k1", b"some other secret, thirty-two bytes+").unwrap();
    let token = jsonwebtoken::encode(
        &at_jwt(Algorithm::HS256),
        &our_claims_now(),
        &EncodingKey::from_secret(&other.access_token_secret("k1").unwrap()[..]),
    )
    .unwrap();
    assert!(matches!(
        system_authority().verify::<Role>(&token),
        Err(Error::BadSignature)
    ));
}
