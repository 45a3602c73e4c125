//! JSON Web Key Sets (RFC 7517): the public half of a [`Keyring`], and the
//! strict reading of one that a [`Verifier`](crate::Verifier) is built from.
//!
//! [`Keyring::jwks`] is a pure function of the keyring and `now`: the
//! EdDSA and ES256 keys whose [`KeyState`](crate::KeyState) verifies at
//! `now`, with public members only (`kty`, `crv`, `x`, `y`, `kid`, `alg`,
//! `use: "sig"`). HS256 keys are never published: their key is a secret.
//! Serving the document is the application's I/O.

use alloc::string::String;
use alloc::vec::Vec;

use serde::Deserialize as _;

#[cfg(any(feature = "eddsa", feature = "es256"))]
use crate::encoding;
pub use crate::error::JwksError;
use crate::keys::{AccessKey, KeyId, Keyring, VerifyKey};
use crate::time::UnixMillis;

/// The longest JWKS document [`Verifier::from_jwks`](crate::Verifier::from_jwks) reads, in bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The most keys a JWKS document may hold.
pub const MAX_JWKS_KEYS: usize = 64;

/// A JWK Set document (RFC 7517 §5); serialise it with [`Jwks::to_json`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Jwks {
    /// The keys, the signing key first.
    pub keys: Vec<Jwk>,
}

/// A public key (RFC 7517 §4), as tokenlife publishes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Jwk {
    /// Key type: `OKP` (Ed25519, RFC 8037) or `EC` (P-256).
    pub kty: &'static str,
    /// Curve: `Ed25519` or `P-256`.
    pub crv: &'static str,
    /// The public key (Ed25519) or its x coordinate (P-256), base64url.
    pub x: String,
    /// The y coordinate (P-256 only), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The key id tokens name in their header.
    pub kid: String,
    /// The one algorithm the key verifies: `EdDSA` or `ES256`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: &'static str,
}

impl Jwks {
    /// The document as compact JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Strings and a list of flat objects always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Keyring {
    /// The JWKS to publish at `now`: every EdDSA and ES256 key whose state
    /// verifies at `now` ([`Next`](crate::KeyState::Next), current,
    /// [`Retired`](crate::KeyState::Retired) until its `until`,
    /// [`VerifyOnly`](crate::KeyState::VerifyOnly)), the signing key first.
    /// HS256 keys are never in it.
    #[must_use]
    pub fn jwks(&self, now: UnixMillis) -> Jwks {
        Jwks {
            keys: self
                .entries()
                .filter(|k| k.state.verifies_at(now))
                .filter_map(|k| public_jwk(&k.access))
                .collect(),
        }
    }
}

fn public_jwk(key: &AccessKey) -> Option<Jwk> {
    match &key.verify {
        VerifyKey::Hs256(_) => None,
        #[cfg(feature = "eddsa")]
        VerifyKey::EdDSA(vk) => Some(Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x: encoding::encode(vk.as_bytes()),
            y: None,
            kid: String::from(key.id.as_str()),
            alg: "EdDSA",
            key_use: "sig",
        }),
        #[cfg(feature = "es256")]
        VerifyKey::ES256(vk) => {
            let point = vk.to_encoded_point(false);
            let (x, y) = (point.x()?, point.y()?);
            Some(Jwk {
                kty: "EC",
                crv: "P-256",
                x: encoding::encode(x),
                y: Some(encoding::encode(y)),
                kid: String::from(key.id.as_str()),
                alg: "ES256",
                key_use: "sig",
            })
        }
    }
}

/// The members of a JWK we read. Unknown members are ignored; private
/// ones are detected with any value, `null` included.
#[derive(serde::Deserialize)]
#[cfg_attr(not(any(feature = "eddsa", feature = "es256")), allow(dead_code))]
struct RawKey {
    #[serde(default)]
    kty: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    key_use: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    d: bool,
    #[serde(default, deserialize_with = "present")]
    k: bool,
    #[serde(default, deserialize_with = "present")]
    p: bool,
    #[serde(default, deserialize_with = "present")]
    q: bool,
    #[serde(default, deserialize_with = "present")]
    dp: bool,
    #[serde(default, deserialize_with = "present")]
    dq: bool,
    #[serde(default, deserialize_with = "present")]
    qi: bool,
    #[serde(default, deserialize_with = "present")]
    oth: bool,
}

#[derive(serde::Deserialize)]
struct RawSet {
    keys: Vec<RawKey>,
}

fn present<'de, D: serde::Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(de).map(|_| true)
}

/// Reads a JWKS document into verification keys, refusing anything
/// doubtful about any key (see [`JwksError`]).
pub(crate) fn parse(json: &[u8]) -> Result<Vec<AccessKey>, JwksError> {
    if json.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge);
    }
    let set: RawSet = serde_json::from_slice(json).map_err(|_| JwksError::NotJwks)?;
    if set.keys.len() > MAX_JWKS_KEYS {
        return Err(JwksError::TooLarge);
    }
    let mut keys: Vec<AccessKey> = Vec::with_capacity(set.keys.len());
    for raw in &set.keys {
        let key = parse_key(raw)?;
        if keys.iter().any(|k| k.id == key.id) {
            return Err(JwksError::DuplicateKeyId);
        }
        keys.push(key);
    }
    Ok(keys)
}

fn parse_key(raw: &RawKey) -> Result<AccessKey, JwksError> {
    if raw.d || raw.k || raw.p || raw.q || raw.dp || raw.dq || raw.qi || raw.oth {
        return Err(JwksError::PrivateMember);
    }
    let id = raw
        .kid
        .as_deref()
        .and_then(|kid| KeyId::new(kid).ok())
        .ok_or(JwksError::BadKeyId)?;
    if raw.key_use.as_deref().is_some_and(|u| u != "sig") {
        return Err(JwksError::WrongUse);
    }
    if let Some(ops) = &raw.key_ops
        && (ops.is_empty() || ops.iter().any(|op| op != "verify"))
    {
        return Err(JwksError::WrongUse);
    }
    let verify = match (raw.kty.as_deref(), raw.crv.as_deref()) {
        (Some("OKP"), Some("Ed25519")) => ed25519(raw)?,
        (Some("EC"), Some("P-256")) => p256(raw)?,
        (Some("OKP" | "EC"), _) => return Err(JwksError::UnknownCurve),
        _ => return Err(JwksError::UnknownKeyType),
    };
    if raw
        .alg
        .as_deref()
        .is_some_and(|alg| alg != verify.algorithm().name())
    {
        return Err(JwksError::AlgorithmMismatch);
    }
    Ok(AccessKey::new(id, verify))
}

#[cfg(feature = "eddsa")]
fn ed25519(raw: &RawKey) -> Result<VerifyKey, JwksError> {
    if raw.y.is_some() {
        return Err(JwksError::BadKey);
    }
    let x = coordinate(raw.x.as_deref())?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| JwksError::BadKey)?;
    if vk.is_weak() {
        return Err(JwksError::BadKey);
    }
    Ok(VerifyKey::EdDSA(vk))
}

#[cfg(not(feature = "eddsa"))]
fn ed25519(_: &RawKey) -> Result<VerifyKey, JwksError> {
    Err(JwksError::UnknownCurve)
}

#[cfg(feature = "es256")]
fn p256(raw: &RawKey) -> Result<VerifyKey, JwksError> {
    let x = coordinate(raw.x.as_deref())?;
    let y = coordinate(raw.y.as_deref())?;
    let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
    let vk =
        p256::ecdsa::VerifyingKey::from_encoded_point(&point).map_err(|_| JwksError::BadKey)?;
    Ok(VerifyKey::ES256(vk))
}

#[cfg(not(feature = "es256"))]
fn p256(_: &RawKey) -> Result<VerifyKey, JwksError> {
    Err(JwksError::UnknownCurve)
}

/// 32 bytes of canonical base64url (RFC 7518 §6.2.1.2: full length).
#[cfg(any(feature = "eddsa", feature = "es256"))]
fn coordinate(b64: Option<&str>) -> Result<[u8; 32], JwksError> {
    let b64 = b64.ok_or(JwksError::BadKey)?;
    if b64.len() != encoding::encoded_len(32) {
        return Err(JwksError::BadKey);
    }
    encoding::decode_array(b64.as_bytes()).map_err(|_| JwksError::BadKey)
}
