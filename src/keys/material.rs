//! [`KeyMaterial`]: what a keyring entry is made of, derived from a master
//! secret (see the derivation table in the module docs of `keys`).

use core::fmt;

use hmac::{KeyInit, Mac};
use zeroize::{Zeroize, Zeroizing};

use super::{AccessKey, Algorithm, KeyEntry, KeyId, KeyState, Signer};
use crate::error::Error;

pub(crate) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The shortest master secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// A named key of one [`Algorithm`], with its refresh keys, ready to enter
/// a [`Keyring`](crate::Keyring) ([`Keyring::from_key`](crate::Keyring::from_key),
/// [`add_next`](crate::Keyring::add_next), [`add`](crate::Keyring::add)).
///
/// `Debug` prints the id and algorithm only; the material is zeroized on drop.
#[derive(Clone)]
pub struct KeyMaterial(KeyEntry);

impl KeyMaterial {
    /// Derives every key of entry `key_id` from the master secret `secret`:
    /// the access-token key for `algorithm` and the refresh keys.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when `secret` is shorter than [`MIN_SECRET_LEN`]
    /// bytes; [`Error::Malformed`] when `key_id` is not a valid [`KeyId`].
    pub fn derive(algorithm: Algorithm, key_id: &str, secret: &[u8]) -> Result<Self, Error> {
        let id = KeyId::new(key_id)?;
        check_master(secret)?;
        let (signer, access_secret) = match algorithm {
            Algorithm::HS256 => {
                let access = Zeroizing::new(subkey(secret, b"tokenlife/v1 access-token"));
                (Signer::Hs256(hmac_key(&*access)), Some(access))
            }
            #[cfg(feature = "eddsa")]
            Algorithm::EdDSA => {
                let seed = Zeroizing::new(subkey(secret, b"tokenlife/v1 eddsa-access-key"));
                (ed25519_signer(&seed), None)
            }
            #[cfg(feature = "es256")]
            Algorithm::ES256 => (p256_signer_derived(secret)?, None),
        };
        Ok(Self::assemble(id, secret, signer, access_secret))
    }

    /// Entry `key_id` signing EdDSA access tokens with the Ed25519 private
    /// key `seed` (its 32 bytes, RFC 8032 §5.1.5); the refresh keys are
    /// derived from `secret` as by [`derive`](KeyMaterial::derive).
    ///
    /// # Errors
    /// As [`derive`](KeyMaterial::derive).
    #[cfg(feature = "eddsa")]
    pub fn with_ed25519_key(key_id: &str, secret: &[u8], seed: &[u8; 32]) -> Result<Self, Error> {
        let id = KeyId::new(key_id)?;
        check_master(secret)?;
        Ok(Self::assemble(id, secret, ed25519_signer(seed), None))
    }

    /// Entry `key_id` signing ES256 access tokens with the P-256 private
    /// key `scalar` (32 bytes, big-endian); the refresh keys are derived
    /// from `secret` as by [`derive`](KeyMaterial::derive).
    ///
    /// # Errors
    /// As [`derive`](KeyMaterial::derive), and [`Error::InvalidKey`] when
    /// `scalar` is zero or not below the group order.
    #[cfg(feature = "es256")]
    pub fn with_p256_key(key_id: &str, secret: &[u8], scalar: &[u8; 32]) -> Result<Self, Error> {
        let id = KeyId::new(key_id)?;
        check_master(secret)?;
        let sk = p256::ecdsa::SigningKey::from_slice(scalar)
            .map_err(|_| Error::InvalidKey("not a P-256 private key"))?;
        Ok(Self::assemble(id, secret, Signer::ES256(sk), None))
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> &KeyId {
        &self.0.id
    }

    /// The access-token algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.0.access.algorithm()
    }

    pub(crate) fn into_entry(self, state: KeyState) -> KeyEntry {
        let mut entry = self.0;
        entry.state = state;
        entry
    }

    fn assemble(
        id: KeyId,
        secret: &[u8],
        signer: Signer,
        access_secret: Option<Zeroizing<[u8; 32]>>,
    ) -> Self {
        let mut tag_secret = subkey(secret, b"tokenlife/v1 refresh-tag");
        let mut chain_secret = subkey(secret, b"tokenlife/v1 refresh-chain");
        let entry = KeyEntry {
            access: AccessKey::new(id.clone(), signer.verify_key()),
            id,
            signer,
            refresh_tag: hmac_key(&tag_secret),
            chain: hmac_key(&chain_secret),
            state: KeyState::Next,
            access_secret,
        };
        tag_secret.zeroize();
        chain_secret.zeroize();
        Self(entry)
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("key_id", &self.0.id)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

fn check_master(secret: &[u8]) -> Result<(), Error> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(Error::InvalidKey("secret must be at least 32 bytes"));
    }
    Ok(())
}

#[cfg(feature = "eddsa")]
fn ed25519_signer(seed: &[u8; 32]) -> Signer {
    Signer::EdDSA(ed25519_dalek::SigningKey::from_bytes(seed))
}

/// The first of `HMAC(master, label ‖ c)` for `c = 0, 1, …` that is a valid
/// P-256 scalar. Each draw fails with probability below 2⁻³², so a second
/// is already all but never needed; the bound only keeps the loop finite.
#[cfg(feature = "es256")]
fn p256_signer_derived(master: &[u8]) -> Result<Signer, Error> {
    for counter in 0..=u8::MAX {
        let mut mac = hmac_key(master);
        mac.update(b"tokenlife/v1 es256-access-key");
        mac.update(&[counter]);
        let bytes = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        if let Ok(sk) = p256::ecdsa::SigningKey::from_slice(&*bytes) {
            return Ok(Signer::ES256(sk));
        }
    }
    Err(Error::InvalidKey("no P-256 key derives from this secret"))
}

pub(crate) fn subkey(master: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = hmac_key(master);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn hmac_key(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ() {
        let k = KeyMaterial::derive(Algorithm::HS256, "k", &[1; 32]).unwrap();
        let a = subkey(&[1; 32], b"tokenlife/v1 refresh-tag");
        let access = k.0.access_secret.clone().unwrap();
        assert_ne!(*access, a);
        assert_ne!(*access, [1; 32]);
    }

    #[test]
    fn an_asymmetric_key_has_no_shared_access_secret() {
        #[cfg(feature = "eddsa")]
        assert!(
            KeyMaterial::derive(Algorithm::EdDSA, "k", &[1; 32])
                .unwrap()
                .0
                .access_secret
                .is_none()
        );
        #[cfg(feature = "es256")]
        assert!(
            KeyMaterial::derive(Algorithm::ES256, "k", &[1; 32])
                .unwrap()
                .0
                .access_secret
                .is_none()
        );
    }
}
