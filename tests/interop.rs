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

// ---- EdDSA and ES256: keys taken from our JWKS, both directions -----------

/// The Ed25519 private key both sides sign with in the tests below.
const ED25519_SEED: [u8; 32] = [0x42; 32];
/// The P-256 private key (a scalar below the group order).
const P256_SCALAR: [u8; 32] = [0x24; 32];

/// An issuer with an EdDSA key `ed` (signing) and an ES256 key `ec` (next).
fn asymmetric_keys(signing: &str) -> Keyring {
    let ed = tokenlife::KeyMaterial::with_ed25519_key("ed", SECRET, &ED25519_SEED).unwrap();
    let ec = tokenlife::KeyMaterial::with_p256_key("ec", SECRET, &P256_SCALAR).unwrap();
    let (first, second) = if signing == "ed" { (ed, ec) } else { (ec, ed) };
    let mut keys = Keyring::from_key(first);
    keys.add_next(second).unwrap();
    keys
}

fn system_now() -> tokenlife::UnixMillis {
    use tokenlife::Clock as _;
    tokenlife::SystemClock.now()
}

fn our_verifier() -> tokenlife::Verifier {
    let jwks = asymmetric_keys("ed").jwks(system_now()).to_json();
    let policy = Policy::default()
        .with_issuer("https://auth.example")
        .with_audience("api");
    tokenlife::Verifier::from_jwks(&jwks, policy).unwrap()
}

/// PKCS#8 v1 DER (RFC 8410) of an Ed25519 seed, as jsonwebtoken reads it.
fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

/// PKCS#8 DER (RFC 5915 inside RFC 5208) of a P-256 scalar, without the
/// optional public key.
fn p256_pkcs8(scalar: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
        0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25,
        0x02, 0x01, 0x01, 0x04, 0x20,
    ];
    der.extend_from_slice(scalar);
    der
}

fn jwt_with(alg: Algorithm, kid: &str) -> Header {
    let mut h = Header::new(alg);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.into());
    h
}

#[test]
fn jsonwebtoken_verifies_our_eddsa_and_es256_tokens_with_keys_from_our_jwks() {
    for (kid, alg) in [("ed", Algorithm::EdDSA), ("ec", Algorithm::ES256)] {
        let keys = asymmetric_keys(kid);
        let jwks = keys.jwks(system_now()).to_json();
        let policy = Policy::default()
            .with_issuer("https://auth.example")
            .with_audience("api");
        let auth = Authority::new(keys, policy, MemoryStore::new());
        let pair = block_on(auth.login(
            "alice",
            &Role {
                role: "editor".into(),
            },
        ))
        .unwrap();

        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks).unwrap();
        assert_eq!(set.keys.len(), 2);
        let jwk = set.find(kid).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_issuer(&["https://auth.example"]);
        validation.set_audience(&["api"]);
        let data = jsonwebtoken::decode::<Claims>(
            &pair.access_token,
            &DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(data.header.alg, alg);
        assert_eq!(data.header.kid.as_deref(), Some(kid));
        assert_eq!(data.claims.role, "editor");
        assert_eq!(data.claims.sid, pair.session_id.to_string());

        // The other key of the set does not verify it.
        let other = set
            .keys
            .iter()
            .find(|k| k.common.key_id.as_deref() != Some(kid));
        let wrong = DecodingKey::from_jwk(other.unwrap()).unwrap();
        assert!(jsonwebtoken::decode::<Claims>(&pair.access_token, &wrong, &validation).is_err());
    }
}

#[test]
fn our_verifier_accepts_an_eddsa_token_jsonwebtoken_signs_with_the_same_key() {
    let token = jsonwebtoken::encode(
        &jwt_with(Algorithm::EdDSA, "ed"),
        &our_claims_now(),
        &EncodingKey::from_ed_der(&ed25519_pkcs8(&ED25519_SEED)),
    )
    .unwrap();
    let claims = our_verifier().verify::<Role>(&token, system_now()).unwrap();
    assert_eq!(claims.extra.role, "admin");
}

#[test]
fn our_verifier_refuses_the_alg_variants_of_a_jsonwebtoken_token() {
    let verifier = our_verifier();
    let claims = our_claims_now();
    let now = system_now();
    let ed = EncodingKey::from_ed_der(&ed25519_pkcs8(&ED25519_SEED));
    let ec = EncodingKey::from_ec_der(&p256_pkcs8(&P256_SCALAR));
    let public = verifier_public_x("ed");

    // ES256 under the EdDSA key's kid, and EdDSA under the ES256 key's.
    let t = jsonwebtoken::encode(&jwt_with(Algorithm::ES256, "ed"), &claims, &ec).unwrap();
    assert!(matches!(
        verifier.verify::<Role>(&t, now),
        Err(Error::UnsupportedAlgorithm)
    ));
    let t = jsonwebtoken::encode(&jwt_with(Algorithm::EdDSA, "ec"), &claims, &ed).unwrap();
    assert!(matches!(
        verifier.verify::<Role>(&t, now),
        Err(Error::UnsupportedAlgorithm)
    ));
    // HS256 keyed with the public key: the classic confusion.
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let t = jsonwebtoken::encode(
            &jwt_with(alg, "ed"),
            &claims,
            &EncodingKey::from_secret(&public),
        )
        .unwrap();
        assert!(matches!(
            verifier.verify::<Role>(&t, now),
            Err(Error::UnsupportedAlgorithm)
        ));
    }
    // Right algorithm, wrong type.
    let mut header = jwt_with(Algorithm::EdDSA, "ed");
    header.typ = Some("JWT".into());
    let t = jsonwebtoken::encode(&header, &claims, &ed).unwrap();
    assert!(matches!(
        verifier.verify::<Role>(&t, now),
        Err(Error::WrongTokenType)
    ));
    // Right algorithm, another key under our kid.
    let other = EncodingKey::from_ed_der(&ed25519_pkcs8(&[0x43; 32]));
    let t = jsonwebtoken::encode(&jwt_with(Algorithm::EdDSA, "ed"), &claims, &other).unwrap();
    assert!(matches!(
        verifier.verify::<Role>(&t, now),
        Err(Error::BadSignature)
    ));
}

#[test]
fn an_es256_token_from_jsonwebtoken_is_accepted_when_low_s_and_refused_when_high_s() {
    // jsonwebtoken (p256) does not normalise s, so about half its ES256
    // signatures are high-s; we sign low-s only and refuse the high-s twin.
    let verifier = our_verifier();
    let now = system_now();
    let ec = EncodingKey::from_ec_der(&p256_pkcs8(&P256_SCALAR));
    let (mut low, mut high) = (0, 0);
    for i in 0..64 {
        let mut claims = our_claims_now();
        claims.jti = format!("jti-{i}");
        let t = jsonwebtoken::encode(&jwt_with(Algorithm::ES256, "ec"), &claims, &ec).unwrap();
        let sig = URL_SAFE_NO_PAD
            .decode(t.rsplit('.').next().unwrap())
            .unwrap();
        let s_is_high = p256::ecdsa::Signature::from_slice(&sig)
            .unwrap()
            .normalize_s()
            .is_some();
        let r = verifier.verify::<Role>(&t, now).map(|_| ());
        if s_is_high {
            high += 1;
            assert!(matches!(r, Err(Error::BadSignature)), "{r:?}");
        } else {
            low += 1;
            assert!(r.is_ok(), "{r:?}");
        }
    }
    assert!(low > 0 && high > 0, "low {low}, high {high}");
}

fn verifier_public_x(kid: &str) -> Vec<u8> {
    let jwks = asymmetric_keys("ed").jwks(system_now());
    let jwk = jwks.keys.iter().find(|k| k.kid == kid).unwrap();
    URL_SAFE_NO_PAD.decode(&jwk.x).unwrap()
}

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
