//! Keys: the signing key, the keys published ahead of it and the retired
//! ones still verifying, selected by key id.
//!
//! # Key derivation
//!
//! Each key you add is a master secret of at least 32 bytes (use 32 random
//! bytes). From it tokenlife derives independent keys with HMAC-SHA256, so
//! that no use of one can stand in for another:
//!
//! | key | derivation | used for |
//! |---|---|---|
//! | HS256 access key | `HMAC-SHA256(master, "tokenlife/v1 access-token")` | the HS256 signature of access tokens |
//! | Ed25519 signing key | `HMAC-SHA256(master, "tokenlife/v1 eddsa-access-key")` as the 32-byte seed | EdDSA access tokens |
//! | P-256 signing key | `HMAC-SHA256(master, "tokenlife/v1 es256-access-key" ‖ c)`, the first `c = 0, 1, …` that is a valid scalar | ES256 access tokens |
//! | refresh tag key | `HMAC-SHA256(master, "tokenlife/v1 refresh-tag")` | the tag of refresh tokens |
//! | chain key | `HMAC-SHA256(master, "tokenlife/v1 refresh-chain")` | deriving each successor refresh secret |
//!
//! An entry derives only the access key of its own [`Algorithm`]. Instead of
//! deriving it, an asymmetric private key can be supplied
//! ([`KeyMaterial::with_ed25519_key`], [`KeyMaterial::with_p256_key`]), e.g.
//! one kept in an HSM-backed secret store; the refresh keys still come from
//! the master secret, and refresh tokens are unchanged whatever the algorithm.
//!
//! A third-party JWT library verifies HS256 access tokens with the **access
//! key** ([`Keyring::access_token_secret`]) as its HS256 secret. Handing it
//! out lets the holder verify and mint *access* tokens, but gives no power
//! over refresh tokens. EdDSA and ES256 keys are verified with the public
//! half alone, published by [`Keyring::jwks`].
//!
//! # Key lifecycle
//!
//! A key is [`Next`](KeyState::Next) (published, verifying, not signing yet),
//! then [`Current`](KeyState::Current) (signing), then
//! [`Retired`](KeyState::Retired) (published and verifying until every
//! access token it signed has expired), then removed:
//!
//! ```
//! # #[cfg(feature = "eddsa")] {
//! use tokenlife::{Algorithm, KeyMaterial, KeyState, Keyring, Policy, UnixMillis};
//!
//! let policy = Policy::default();
//! let mut keys = Keyring::with_algorithm(Algorithm::EdDSA, "2026-11", &[7u8; 32])?;
//! let t0 = UnixMillis(1_800_000_000_000);
//! keys.add_next(KeyMaterial::derive(Algorithm::EdDSA, "2026-12", &[9u8; 32])?)?;
//! // Once verifiers have fetched the JWKS with "2026-12" in it:
//! keys.promote("2026-12", t0, &policy)?;
//! assert_eq!(keys.signing_key_id().as_str(), "2026-12");
//! assert!(matches!(keys.state("2026-11"), Some(KeyState::Retired { .. })));
//! // Its access tokens have all expired an access lifetime later; its
//! // refresh tokens a refresh lifetime (and the reuse grace) later, and
//! // then `prune` drops it.
//! let later = t0
//!     .saturating_add(policy.refresh_ttl())
//!     .saturating_add(policy.reuse_grace())
//!     .saturating_add(policy.leeway());
//! assert_eq!(keys.prune(later, &policy), 1);
//! assert_eq!(keys.key_ids().count(), 1);
//! # }
//! # Ok::<(), tokenlife::Error>(())
//! ```

use alloc::vec::Vec;
use core::fmt;

use crate::error::Error;
use crate::policy::Policy;
use crate::time::{UnixMillis, duration_millis};

mod algorithm;
mod id;
mod material;

pub use algorithm::Algorithm;
pub(crate) use algorithm::{AccessKey, Signer, VerifyKey};
pub(crate) use id::is_valid_key_id;
pub use id::{KeyId, MAX_KEY_ID_LEN};
pub(crate) use material::HmacSha256;
pub use material::{KeyMaterial, MIN_SECRET_LEN};

/// Keys selected by key id: the one that signs, the ones published ahead of
/// it, and older ones that still verify.
///
/// New tokens are signed with the signing key; tokens naming another key of
/// the keyring still verify while its [`KeyState`] says so, so rotating keys
/// does not log anyone out. Refresh tokens are re-issued under the signing
/// key at their next rotation, so once every refresh token has been rotated
/// or has expired (the refresh lifetime after the rotation) an old key can
/// be dropped.
///
/// `Debug` prints key ids only; all key material is zeroized on drop.
///
/// ```
/// use tokenlife::Keyring;
///
/// let mut keys = Keyring::new("2026-11", &[7u8; 32])?;
/// // Later: a new signing key; the old one keeps verifying.
/// keys.rotate("2026-12", &[9u8; 32])?;
/// assert_eq!(keys.signing_key_id().as_str(), "2026-12");
/// assert_eq!(keys.key_ids().count(), 2);
/// # Ok::<(), tokenlife::Error>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    /// `keys[0]` is the signing key, the only one in state `Current`.
    keys: Vec<KeyEntry>,
}

/// Where a key is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyState {
    /// Published and verifying, not signing yet: added with
    /// [`Keyring::add_next`] so that verifiers fetch it before it signs
    /// (and so that instances of a cluster that promote it later still
    /// accept the tokens of those that promoted it first).
    Next,
    /// Signs new access and refresh tokens.
    Current,
    /// Replaced by [`Keyring::promote`] at `at`. Its access tokens verify,
    /// and it is published, while `now < until` (`at` + access lifetime +
    /// leeway: every token it signed has expired by then). Its refresh
    /// tokens keep working until [`Keyring::prune`] removes it.
    Retired {
        /// When it stopped signing.
        at: UnixMillis,
        /// When its last access token stops verifying.
        until: UnixMillis,
    },
    /// Verifying with no deadline, until [`Keyring::remove`]d: a key added
    /// with [`Keyring::add_verify_only`] or replaced by [`Keyring::rotate`].
    VerifyOnly,
}

impl KeyState {
    /// Whether access tokens signed with a key in this state verify at `now`
    /// (and, for the asymmetric algorithms, whether it is published).
    #[must_use]
    pub fn verifies_at(self, now: UnixMillis) -> bool {
        match self {
            Self::Next | Self::Current | Self::VerifyOnly => true,
            Self::Retired { until, .. } => now < until,
        }
    }
}

#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub(crate) id: KeyId,
    /// The verification half of the access-token key, with its header.
    pub(crate) access: AccessKey,
    pub(crate) signer: Signer,
    pub(crate) refresh_tag: HmacSha256,
    pub(crate) chain: HmacSha256,
    pub(crate) state: KeyState,
    /// The HS256 access secret, for HS256 keys only.
    pub(crate) access_secret: Option<zeroize::Zeroizing<[u8; 32]>>,
}

impl Keyring {
    /// A keyring whose signing key is `secret`, named `key_id`, signing
    /// HS256 access tokens.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when `secret` is shorter than [`MIN_SECRET_LEN`]
    /// bytes; [`Error::Malformed`] when `key_id` is not a valid [`KeyId`].
    pub fn new(key_id: &str, secret: &[u8]) -> Result<Self, Error> {
        Self::with_algorithm(Algorithm::HS256, key_id, secret)
    }

    /// A keyring whose signing key, named `key_id`, is derived from the
    /// master secret `secret` for `algorithm` (see the module docs).
    ///
    /// # Errors
    /// As [`Keyring::new`].
    pub fn with_algorithm(
        algorithm: Algorithm,
        key_id: &str,
        secret: &[u8],
    ) -> Result<Self, Error> {
        Ok(Self::from_key(KeyMaterial::derive(
            algorithm, key_id, secret,
        )?))
    }

    /// A keyring whose signing key is `key`.
    #[must_use]
    pub fn from_key(key: KeyMaterial) -> Self {
        Self {
            keys: alloc::vec![key.into_entry(KeyState::Current)],
        }
    }

    /// Adds an HS256 verify-only key (an older key whose tokens are still
    /// accepted) in state [`KeyState::VerifyOnly`].
    ///
    /// # Errors
    /// As [`Keyring::new`], and [`Error::InvalidKey`] when the id is taken.
    pub fn add_verify_only(&mut self, key_id: &str, secret: &[u8]) -> Result<(), Error> {
        let key = KeyMaterial::derive(Algorithm::HS256, key_id, secret)?;
        self.add(key, KeyState::VerifyOnly)
    }

    /// Adds `key` in state [`KeyState::Next`]: published and verifying, to
    /// be [`promote`](Keyring::promote)d once verifiers have fetched it.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when its id is taken.
    pub fn add_next(&mut self, key: KeyMaterial) -> Result<(), Error> {
        self.add(key, KeyState::Next)
    }

    /// Adds `key` in `state`: [`Next`](KeyState::Next),
    /// [`Retired`](KeyState::Retired) or [`VerifyOnly`](KeyState::VerifyOnly),
    /// as when a keyring is rebuilt from configuration.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when its id is taken, or `state` is
    /// [`Current`](KeyState::Current) (a keyring has one signing key: use
    /// [`promote`](Keyring::promote) or [`from_key`](Keyring::from_key)).
    pub fn add(&mut self, key: KeyMaterial, state: KeyState) -> Result<(), Error> {
        if state == KeyState::Current {
            return Err(Error::InvalidKey("a keyring has one current key"));
        }
        if self.entry(key.key_id().as_str().as_bytes()).is_some() {
            return Err(Error::InvalidKey("key id already in the keyring"));
        }
        self.keys.push(key.into_entry(state));
        Ok(())
    }

    /// Makes `secret` the new HS256 signing key at once; the previous one
    /// becomes [`VerifyOnly`](KeyState::VerifyOnly). Prefer
    /// [`add_next`](Keyring::add_next) then [`promote`](Keyring::promote) for
    /// keys that others verify from a JWKS.
    ///
    /// # Errors
    /// As [`Keyring::add_verify_only`].
    pub fn rotate(&mut self, key_id: &str, secret: &[u8]) -> Result<(), Error> {
        let key = KeyMaterial::derive(Algorithm::HS256, key_id, secret)?;
        self.add(key, KeyState::Next)?;
        self.keys[0].state = KeyState::VerifyOnly;
        // The new entry was pushed last; move it to the front.
        self.keys.rotate_right(1);
        self.keys[0].state = KeyState::Current;
        Ok(())
    }

    /// Makes the [`Next`](KeyState::Next) key `key_id` the signing key at
    /// `now`. The previous signing key becomes
    /// [`Retired`](KeyState::Retired) at `now`, verifying until `now` +
    /// `policy`'s access lifetime + leeway.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when `key_id` is not in the keyring or is not
    /// in state `Next`.
    pub fn promote(&mut self, key_id: &str, now: UnixMillis, policy: &Policy) -> Result<(), Error> {
        let i = self
            .position(key_id)
            .ok_or(Error::InvalidKey("no such key id"))?;
        if self.keys[i].state != KeyState::Next {
            return Err(Error::InvalidKey("only a next key can be promoted"));
        }
        let until = now
            .saturating_add(policy.access_ttl())
            .saturating_add(policy.leeway());
        self.keys[0].state = KeyState::Retired { at: now, until };
        self.keys.swap(0, i);
        self.keys[0].state = KeyState::Current;
        Ok(())
    }

    /// Removes every [`Retired`](KeyState::Retired) key none of whose
    /// tokens can be live at `now`: its access tokens have expired (`until`)
    /// and so have its refresh tokens (`at` + refresh lifetime + reuse
    /// grace + leeway, by `policy`). Returns how many were removed.
    pub fn prune(&mut self, now: UnixMillis, policy: &Policy) -> usize {
        let refresh_span = duration_millis(policy.refresh_ttl())
            .saturating_add(duration_millis(policy.reuse_grace()))
            .saturating_add(duration_millis(policy.leeway()));
        let before = self.keys.len();
        self.keys.retain(|k| match k.state {
            KeyState::Retired { at, until } => {
                now < until || now.as_millis() < at.as_millis().saturating_add(refresh_span)
            }
            _ => true,
        });
        before - self.keys.len()
    }

    /// Drops a key that is not the signing key: its tokens stop verifying.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when `key_id` is the signing key (a keyring
    /// always has one) or is not in the keyring.
    pub fn remove(&mut self, key_id: &str) -> Result<(), Error> {
        match self.position(key_id) {
            Some(0) => Err(Error::InvalidKey("cannot remove the signing key")),
            Some(i) => {
                self.keys.remove(i);
                Ok(())
            }
            None => Err(Error::InvalidKey("no such key id")),
        }
    }

    /// The id of the signing key.
    #[must_use]
    pub fn signing_key_id(&self) -> &KeyId {
        &self.signing().id
    }

    /// Every key id, the signing key first.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(|k| &k.id)
    }

    /// The state of key `key_id`, if it is in the keyring.
    #[must_use]
    pub fn state(&self, key_id: &str) -> Option<KeyState> {
        self.entry(key_id.as_bytes()).map(|k| k.state)
    }

    /// The access-token algorithm of key `key_id`, if it is in the keyring.
    #[must_use]
    pub fn algorithm(&self, key_id: &str) -> Option<Algorithm> {
        self.entry(key_id.as_bytes()).map(|k| k.access.algorithm())
    }

    /// The HS256 secret with which a third-party JWT library can verify this
    /// keyring's access tokens signed under `key_id` (see the module docs);
    /// `None` for an unknown key and for EdDSA and ES256 keys, which have
    /// no shared secret.
    ///
    /// It lets its holder verify and mint access tokens, so share it only
    /// with services you trust that far; it gives no power over refresh tokens.
    #[must_use]
    pub fn access_token_secret(&self, key_id: &str) -> Option<zeroize::Zeroizing<[u8; 32]>> {
        self.entry(key_id.as_bytes())
            .and_then(|k| k.access_secret.clone())
    }

    pub(crate) fn signing(&self) -> &KeyEntry {
        // A keyring is built with one key and `remove` refuses the signing key.
        &self.keys[0]
    }

    /// The entry named `key_id`, whatever its state: refresh tokens are
    /// checked with it for as long as it is in the keyring.
    pub(crate) fn entry(&self, key_id: &[u8]) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .find(|k| k.id.as_str().as_bytes() == key_id)
    }

    /// Every entry, the signing key first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &KeyEntry> {
        self.keys.iter()
    }

    fn position(&self, key_id: &str) -> Option<usize> {
        self.keys.iter().position(|k| k.id.as_str() == key_id)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("signing", &self.signing().id)
            .field(
                "others",
                &self.keys[1..]
                    .iter()
                    .map(|k| (&k.id, k.access.algorithm(), k.state))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            Keyring::new("k", &[0; 31]),
            Err(Error::InvalidKey(_))
        ));
        assert!(Keyring::new("k", &[0; 32]).is_ok());
    }

    #[test]
    fn debug_shows_ids_not_material() {
        let keys = Keyring::new("k1", &[0x41; 32]).unwrap();
        let shown = alloc::format!("{keys:?}");
        assert!(shown.contains("k1"));
        assert!(!shown.contains("AAAA") && !shown.contains("65, 65"));
    }

    #[test]
    fn key_ids_are_restricted() {
        for bad in ["", "a/b", "a\"b", "ä", &"x".repeat(65)] {
            assert!(KeyId::new(bad).is_err(), "{bad:?}");
        }
        assert!(KeyId::new("2026-11_a.b").is_ok());
    }

    #[test]
    fn only_a_next_key_is_promoted_and_the_signing_key_stays_first() {
        let policy = Policy::default();
        let now = UnixMillis(1_000_000);
        let mut keys = Keyring::new("a", &[1; 32]).unwrap();
        keys.add_verify_only("b", &[2; 32]).unwrap();
        assert!(keys.promote("b", now, &policy).is_err());
        keys.add_next(KeyMaterial::derive(Algorithm::HS256, "c", &[3; 32]).unwrap())
            .unwrap();
        keys.promote("c", now, &policy).unwrap();
        assert_eq!(keys.signing_key_id().as_str(), "c");
        assert_eq!(keys.state("c"), Some(KeyState::Current));
        assert!(matches!(keys.state("a"), Some(KeyState::Retired { at, .. }) if at == now));
        assert!(
            keys.add(
                KeyMaterial::derive(Algorithm::HS256, "d", &[4; 32]).unwrap(),
                KeyState::Current
            )
            .is_err()
        );
    }
}
