//! Key identifiers.

use alloc::string::String;
use core::fmt;

use crate::error::{Error, Malformed};

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
