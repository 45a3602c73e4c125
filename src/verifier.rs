//! [`Verifier`]: the verify half of an [`Authority`](crate::Authority),
//! holding public keys only.

use alloc::vec::Vec;
use core::fmt;

use serde::de::{Deserialize, DeserializeOwned};

use crate::access::{self, AccessClaims, BorrowedClaims, ClaimsBuf, VerificationKeys};
use crate::error::Error;
use crate::jwks::{self, JwksError};
use crate::keys::{AccessKey, KeyId};
use crate::policy::Policy;
use crate::time::UnixMillis;

/// Verifies access tokens with public keys, for resource servers that hold
/// no secret: it can check EdDSA and ES256 tokens but not mint them.
///
/// It runs the same verification as [`Authority::verify`](crate::Authority::verify)
/// and [`access::verify`] (one function, over either key set): the same
/// size limit, header and `typ at+jwt` checks, `exp`/`nbf` with leeway,
/// `iss` and `aud` from its [`Policy`], the same [`AccessClaims`] and the
/// same errors. It does no I/O and reads no clock: fetching the JWKS and
/// building a new `Verifier` when it changes is the application's job
/// (see `examples/jwks_refresh.rs`: re-fetch on an unknown `kid`,
/// rate-limited).
///
/// ```
/// # #[cfg(feature = "eddsa")] {
/// use tokenlife::{Algorithm, Keyring, Policy, UnixMillis, Verifier};
///
/// let keys = Keyring::with_algorithm(Algorithm::EdDSA, "2026-11", &[7u8; 32])?;
/// let now = UnixMillis(1_800_000_000_000);
/// let published = keys.jwks(now).to_json(); // served by the issuer
///
/// let verifier = Verifier::from_jwks(&published, Policy::default())?;
/// assert!(verifier.knows_key("2026-11"));
/// assert!(verifier.verify::<()>("not.a.token", now).is_err());
/// # }
/// # Ok::<(), tokenlife::Error>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<AccessKey>,
    policy: Policy,
}

impl Verifier {
    /// A verifier for the keys of JWKS document `jwks` (RFC 7517), checking
    /// claims by `policy`.
    ///
    /// The document is read strictly: any doubtful key refuses the whole
    /// document, rather than being skipped, so that a broken or tampered
    /// publisher is noticed at once.
    ///
    /// # Errors
    /// [`Error::InvalidJwks`] with the reason: the document is too large or
    /// not a JWKS, or a key carries private members (`d`, `k`, …), has no
    /// valid `kid` or shares one, has a `use` other than `sig` (or
    /// `key_ops` beyond `verify`), an unknown `kty` or `crv`, an `alg` that
    /// is not its curve's, or coordinates that are not a valid public key.
    pub fn from_jwks(jwks: &str, policy: Policy) -> Result<Self, Error> {
        let keys = jwks::parse(jwks.as_bytes()).map_err(Error::InvalidJwks)?;
        Ok(Self { keys, policy })
    }

    /// A verifier for `keys`, checking claims by `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidJwks`] with [`JwksError::DuplicateKeyId`] when two
    /// keys share a key id.
    pub fn from_public_keys(
        keys: impl IntoIterator<Item = PublicKey>,
        policy: Policy,
    ) -> Result<Self, Error> {
        let mut out: Vec<AccessKey> = Vec::new();
        for PublicKey(key) in keys {
            if out.iter().any(|k| k.id == key.id) {
                return Err(Error::InvalidJwks(JwksError::DuplicateKeyId));
            }
            out.push(key);
        }
        Ok(Self { keys: out, policy })
    }

    /// Verifies `token` at `now`, statelessly.
    ///
    /// # Errors
    /// As [`access::verify`]; [`Error::UnknownKey`] when its `kid` is none
    /// of this verifier's (perhaps a key published since: see the type docs).
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        now: UnixMillis,
    ) -> Result<AccessClaims<C>, Error> {
        access::verify_with(token, self, &self.policy, now)
    }

    /// [`verify`](Verifier::verify) without allocating: the claims borrow
    /// from `buf`. See [`access::verify_in`].
    ///
    /// # Errors
    /// As [`verify`](Verifier::verify).
    pub fn verify_in<'a, C: Deserialize<'a>>(
        &self,
        token: &str,
        now: UnixMillis,
        buf: &'a mut ClaimsBuf,
    ) -> Result<BorrowedClaims<'a, C>, Error> {
        access::verify_in_with(token, self, &self.policy, now, buf)
    }

    /// Whether a key named `key_id` is among this verifier's.
    #[must_use]
    pub fn knows_key(&self, key_id: &str) -> bool {
        self.keys.iter().any(|k| k.id.as_str() == key_id)
    }

    /// The key ids, in the document's order.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(|k| &k.id)
    }

    /// The policy claims are checked by.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl VerificationKeys for Verifier {
    fn verifying(&self, _now: UnixMillis) -> impl Iterator<Item = &AccessKey> {
        // A JWKS carries no validity period: what it holds verifies.
        self.keys.iter()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|k| (&k.id, k.algorithm()))
                    .collect::<Vec<_>>(),
            )
            .field("policy", &self.policy)
            .finish()
    }
}

/// A named public key for [`Verifier::from_public_keys`].
#[derive(Clone)]
pub struct PublicKey(AccessKey);

impl PublicKey {
    /// An Ed25519 public key (its 32 bytes, RFC 8032 §5.1.5) named `key_id`.
    ///
    /// # Errors
    /// [`Error::Malformed`] for an invalid key id; [`Error::InvalidKey`]
    /// when `key` is not a point of the curve or is of small order.
    #[cfg(feature = "eddsa")]
    pub fn ed25519(key_id: &str, key: &[u8; 32]) -> Result<Self, Error> {
        let id = KeyId::new(key_id)?;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(key)
            .map_err(|_| Error::InvalidKey("not an Ed25519 public key"))?;
        if vk.is_weak() {
            return Err(Error::InvalidKey("a small-order Ed25519 key"));
        }
        Ok(Self(AccessKey::new(id, crate::keys::VerifyKey::EdDSA(vk))))
    }

    /// A P-256 public key in SEC1 encoding (compressed or not) named `key_id`.
    ///
    /// # Errors
    /// [`Error::Malformed`] for an invalid key id; [`Error::InvalidKey`]
    /// when `sec1` is not a point of the curve.
    #[cfg(feature = "es256")]
    pub fn p256(key_id: &str, sec1: &[u8]) -> Result<Self, Error> {
        let id = KeyId::new(key_id)?;
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
            .map_err(|_| Error::InvalidKey("not a P-256 public key"))?;
        Ok(Self(AccessKey::new(id, crate::keys::VerifyKey::ES256(vk))))
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> &KeyId {
        &self.0.id
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_id", &self.0.id)
            .field("algorithm", &self.0.algorithm())
            .finish()
    }
}
