//! Keys: one signing key and older verify-only keys, selected by key id.
//!
//! # Key derivation
//!
//! Each key you add is a master secret of at least 32 bytes (use 32 random
//! bytes). From it tokenlife derives three independent 256-bit keys with
//! HMAC-SHA256, so that no use of one can stand in for another:
//!
//! | key | derivation | used for |
//! |---|---|---|
//! | access key | `HMAC-SHA256(master, "tokenlife/v1 access-token")` | the HS256 signature of access tokens |
//! | refresh tag key | `HMAC-SHA256(master, "tokenlife/v1 refresh-tag")` | the tag of refresh tokens |
//! | chain key | `HMAC-SHA256(master, "tokenlife/v1 refresh-chain")` | deriving each successor refresh secret |
//!
//! A third-party JWT library verifies access tokens with the **access key**
//! ([`Keyring::access_token_secret`]) as its HS256 secret. Handing it out
//! lets the holder verify and mint *access* tokens, but gives no power over
//! refresh tokens: it can neither forge one nor trigger reuse detection.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use hmac::{KeyInit, Mac};
use zeroize::Zeroize;

use crate::encoding;
use crate::error::{Error, Malformed};

pub(crate) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The shortest master secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The longest key id accepted, in bytes.
pub const MAX_KEY_ID_LEN: usize = 64;

/// A key identifier (the JWT `kid`): 1 to 64 characters of `[A-Za-z0-9._-]`.
///
/// The alphabet keeps it safe to place in a JSON header, a URL or a log line
/// without escaping.
///
/// Held inline (no heap, no reference count): sessions and parsed refresh
/// tokens each carry one, and a shared count would be a cache line that
/// every thread writes on every refresh.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId {
    len: u8,
    /// The id's bytes, then zeros.
    bytes: [u8; MAX_KEY_ID_LEN],
}

impl KeyId {
    /// Parses a key id.
    ///
    /// # Errors
    /// [`Error::Malformed`] with [`Malformed::KeyId`] when `id` is empty,
    /// longer than [`MAX_KEY_ID_LEN`], or has a character outside `[A-Za-z0-9._-]`.
    pub fn new(id: &str) -> Result<Self, Error> {
        Self::from_bytes(id.as_bytes()).ok_or_else(|| Malformed::KeyId.into())
    }

    /// A key id from bytes already in hand (a token's, say), if valid.
    pub(crate) fn from_bytes(id: &[u8]) -> Option<Self> {
        if !is_valid_key_id(id) {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_ID_LEN];
        bytes[..id.len()].copy_from_slice(id);
        Some(Self {
            len: id.len() as u8,
            bytes,
        })
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored, so this cannot fail.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl PartialEq for KeyId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for KeyId {}

impl core::hash::Hash for KeyId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for KeyId {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyId {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

pub(crate) fn is_valid_key_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl TryFrom<String> for KeyId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(&s)
    }
}

impl From<KeyId> for String {
    fn from(k: KeyId) -> String {
        String::from(k.as_str())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:?})", self.as_str())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signing key and any number of verify-only keys, selected by key id.
///
/// New tokens are signed with the signing key; tokens naming a verify-only
/// key still verify, so rotating keys does not log anyone out. Refresh
/// tokens are re-issued under the signing key at their next rotation, so once
/// every refresh token has been rotated or has expired (the refresh lifetime
/// after the rotation) an old key can be dropped.
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
    /// `keys[0]` is the signing key.
    keys: Vec<KeyEntry>,
}

#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub(crate) id: KeyId,
    pub(crate) access: HmacSha256,
    pub(crate) refresh_tag: HmacSha256,
    pub(crate) chain: HmacSha256,
    /// The base64url JOSE header of access tokens signed with this key.
    pub(crate) jwt_header: String,
    access_secret: [u8; 32],
}

impl Drop for KeyEntry {
    fn drop(&mut self) {
        self.access_secret.zeroize();
    }
}

impl Keyring {
    /// A keyring whose signing key is `secret`, named `key_id`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when `secret` is shorter than [`MIN_SECRET_LEN`]
    /// bytes; [`Error::Malformed`] when `key_id` is not a valid [`KeyId`].
    pub fn new(key_id: &str, secret: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            keys: alloc::vec![KeyEntry::derive(KeyId::new(key_id)?, secret)?],
        })
    }

    /// Adds a verify-only key (an older key whose tokens are still accepted).
    ///
    /// # Errors
    /// As [`Keyring::new`], and [`Error::InvalidKey`] when the id is taken.
    pub fn add_verify_only(&mut self, key_id: &str, secret: &[u8]) -> Result<(), Error> {
        let entry = KeyEntry::derive(KeyId::new(key_id)?, secret)?;
        if self.entry(key_id.as_bytes()).is_some() {
            return Err(Error::InvalidKey("key id already in the keyring"));
        }
        self.keys.push(entry);
        Ok(())
    }

    /// Makes `secret` the new signing key; the previous one becomes verify-only.
    ///
    /// # Errors
    /// As [`Keyring::add_verify_only`].
    pub fn rotate(&mut self, key_id: &str, secret: &[u8]) -> Result<(), Error> {
        self.add_verify_only(key_id, secret)?;
        // The new entry was pushed last; move it to the front.
        self.keys.rotate_right(1);
        Ok(())
    }

    /// Drops a verify-only key: its tokens stop verifying.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when `key_id` is the signing key (a keyring
    /// always has one) or is not in the keyring.
    pub fn remove(&mut self, key_id: &str) -> Result<(), Error> {
        match self.keys.iter().position(|k| k.id.as_str() == key_id) {
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

    /// The HS256 secret with which a third-party JWT library can verify this
    /// keyring's access tokens signed under `key_id` (see the module docs).
    ///
    /// It lets its holder verify and mint access tokens, so share it only
    /// with services you trust that far; it gives no power over refresh tokens.
    #[must_use]
    pub fn access_token_secret(&self, key_id: &str) -> Option<zeroize::Zeroizing<[u8; 32]>> {
        self.entry(key_id.as_bytes())
            .map(|k| zeroize::Zeroizing::new(k.access_secret))
    }

    pub(crate) fn signing(&self) -> &KeyEntry {
        // A keyring is built with one key and `remove` refuses the signing key.
        &self.keys[0]
    }

    pub(crate) fn entry(&self, key_id: &[u8]) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .find(|k| k.id.as_str().as_bytes() == key_id)
    }

    /// The key whose exact JOSE header, followed by a dot, starts `signed`.
    pub(crate) fn entry_by_header_prefix(&self, signed: &[u8]) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| {
            let h = k.jwt_header.as_bytes();
            signed.len() > h.len() && signed.starts_with(h) && signed[h.len()] == b'.'
        })
    }

    pub(crate) fn entry_by_header(&self, header_b64: &[u8]) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .find(|k| k.jwt_header.as_bytes() == header_b64)
    }
}

impl KeyEntry {
    fn derive(id: KeyId, secret: &[u8]) -> Result<Self, Error> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::InvalidKey("secret must be at least 32 bytes"));
        }
        let mut access_secret = subkey(secret, b"tokenlife/v1 access-token");
        let mut tag_secret = subkey(secret, b"tokenlife/v1 refresh-tag");
        let mut chain_secret = subkey(secret, b"tokenlife/v1 refresh-chain");
        let entry = Self {
            access: hmac_key(&access_secret),
            refresh_tag: hmac_key(&tag_secret),
            chain: hmac_key(&chain_secret),
            jwt_header: encoding::encode(
                alloc::format!(
                    r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#,
                    id.as_str()
                )
                .as_bytes(),
            ),
            id,
            access_secret,
        };
        access_secret.zeroize();
        tag_secret.zeroize();
        chain_secret.zeroize();
        Ok(entry)
    }
}

fn subkey(master: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = hmac_key(master);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn hmac_key(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("signing", &self.signing().id)
            .field(
                "verify_only",
                &self.keys[1..].iter().map(|k| &k.id).collect::<Vec<_>>(),
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
    fn derived_keys_differ() {
        let k = KeyEntry::derive(KeyId::new("k").unwrap(), &[1; 32]).unwrap();
        let a = subkey(&[1; 32], b"tokenlife/v1 refresh-tag");
        assert_ne!(k.access_secret, a);
        assert_ne!(k.access_secret, [1; 32]);
    }
}
