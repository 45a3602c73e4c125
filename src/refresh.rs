//! The refresh-token format: `tlr1.<payload>.<tag>`.
//!
//! The payload (canonical unpadded base64url) is, in order: the session id
//! (16 bytes), the generation `g` (8 bytes, big-endian), the secret `s_g`
//! (32 bytes) and the key id (1–64 bytes, the rest). The tag is
//! `HMAC-SHA256(refresh tag key, "tlr1" ‖ payload)`, base64url.
//!
//! Successor secrets are derived, not drawn:
//! `s_{g+1} = HMAC-SHA256(chain key, session id ‖ g+1 ‖ s_g)`. The store keeps
//! only `SHA-256(s_g)`; see [`SecretHash`].

use alloc::string::String;
use core::fmt;

use hmac::Mac;
use sha2::Digest;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::ct;
use crate::encoding;
use crate::error::{Error, Malformed};
use crate::id::SessionId;
use crate::keys::{KeyEntry, KeyId, Keyring, MAX_KEY_ID_LEN, is_valid_key_id};

/// What every refresh token starts with.
pub const PREFIX: &str = "tlr1.";

const TAG_LEN: usize = 32;
const FIXED_LEN: usize = 16 + 8 + 32;

/// A refresh token whose tag verified under a key of the keyring.
///
/// It can only be built by [`RefreshToken::parse`], so holding one proves the
/// token was issued by this authority (or by someone holding its keys).
/// Whether it is still *live* is for the session record to say
/// ([`crate::session::decide_refresh`]).
///
/// `Debug` omits the secret; the secret is zeroized on drop.
#[derive(Clone, ZeroizeOnDrop)]
pub struct RefreshToken {
    #[zeroize(skip)]
    session_id: SessionId,
    #[zeroize(skip)]
    generation: u64,
    #[zeroize(skip)]
    key_id: KeyId,
    secret: RefreshSecret,
}

/// A 256-bit refresh secret `s_g`. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RefreshSecret(pub(crate) [u8; 32]);

/// `SHA-256(s_g)`: what the store keeps instead of a refresh secret.
///
/// SHA-256 is preimage-resistant, so neither the store nor the store plus
/// the keys can recover a secret from it (DESIGN.md I6).
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretHash(pub [u8; 32]);

impl RefreshToken {
    /// Parses `token` and checks its tag, touching nothing but the keyring.
    ///
    /// # Errors
    /// - [`Error::TooLarge`] past `max_len` bytes;
    /// - [`Error::WrongTokenType`] for an access token (a three-part JWT);
    /// - [`Error::Malformed`] for anything else that is not `tlr1.<payload>.<tag>`
    ///   in canonical base64url with a valid key id;
    /// - [`Error::UnknownKey`] when the key id is not in the keyring;
    /// - [`Error::BadSignature`] when the tag does not verify.
    pub fn parse(token: &str, keyring: &Keyring, max_len: usize) -> Result<Self, Error> {
        if token.len() > max_len {
            return Err(Error::TooLarge {
                len: token.len(),
                max: max_len,
            });
        }
        let Some(rest) = token.strip_prefix(PREFIX) else {
            return Err(if looks_like_jwt(token) {
                Error::WrongTokenType
            } else {
                Malformed::RefreshToken.into()
            });
        };
        let (payload_b64, tag_b64) = rest.split_once('.').ok_or(Malformed::RefreshToken)?;
        if payload_b64.len() > encoding::encoded_len(FIXED_LEN + MAX_KEY_ID_LEN) {
            return Err(Malformed::RefreshToken.into());
        }
        // Decoded on the stack, and wiped on every way out: it holds the secret.
        let len = encoding::decoded_len(payload_b64.len()).ok_or(Malformed::Base64)?;
        let mut buf = zeroize::Zeroizing::new([0u8; FIXED_LEN + MAX_KEY_ID_LEN]);
        let payload = buf.get_mut(..len).ok_or(Malformed::RefreshToken)?;
        encoding::decode_into(payload_b64.as_bytes(), payload)?;
        let payload = &*payload;
        if payload.len() <= FIXED_LEN {
            return Err(Malformed::RefreshToken.into());
        }
        let kid = &payload[FIXED_LEN..];
        if !is_valid_key_id(kid) {
            return Err(Malformed::KeyId.into());
        }
        let tag: [u8; TAG_LEN] = encoding::decode_array(tag_b64.as_bytes())?;
        let entry = keyring.entry(kid).ok_or(Error::UnknownKey)?;
        let expected = tag_of(entry, payload);
        if !ct::eq32(&expected, &tag) {
            return Err(Error::BadSignature);
        }
        let mut sid = [0u8; 16];
        sid.copy_from_slice(&payload[..16]);
        let mut g = [0u8; 8];
        g.copy_from_slice(&payload[16..24]);
        let mut secret = RefreshSecret([0; 32]);
        secret.0.copy_from_slice(&payload[24..FIXED_LEN]);
        Ok(Self {
            session_id: SessionId::from_bytes(sid),
            generation: u64::from_be_bytes(g),
            key_id: entry.id.clone(),
            secret,
        })
    }

    /// The session this token belongs to.
    #[must_use]
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Its generation: 0 at login, one more at each rotation.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The id of the key whose tag it carries.
    #[must_use]
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// `SHA-256` of its secret, as the store keeps it.
    #[must_use]
    pub fn secret_hash(&self) -> SecretHash {
        self.secret.hash()
    }

    /// The token that succeeds this one as generation `generation` under
    /// `entry`, with the hash the store keeps of its secret: the secret is
    /// `s_{g+1} = HMAC(chain key, session id ‖ g+1 ‖ s_g)`, so the same
    /// token always has the same successor (the grace window never
    /// branches a session).
    pub(crate) fn successor(&self, entry: &KeyEntry, generation: u64) -> Minted {
        let secret = self.secret.successor(entry, &self.session_id, generation);
        Minted::new(entry, &self.session_id, generation, &secret)
    }
}

impl RefreshSecret {
    /// `SHA-256` of the secret.
    #[must_use]
    pub fn hash(&self) -> SecretHash {
        SecretHash(sha2::Sha256::digest(self.0).into())
    }

    /// The successor `s_{g+1} = HMAC(chain key, session id ‖ g+1 ‖ s_g)`.
    fn successor(&self, entry: &KeyEntry, sid: &SessionId, next_gen: u64) -> Self {
        let mut mac = entry.chain.clone();
        mac.update(sid.as_bytes());
        mac.update(&next_gen.to_be_bytes());
        mac.update(&self.0);
        Self(mac.finalize().into_bytes().into())
    }
}

impl SecretHash {
    /// Constant-time equality (DESIGN.md I7).
    #[must_use]
    pub fn ct_matches(&self, other: &SecretHash) -> bool {
        ct::eq32(&self.0, &other.0)
    }
}

/// A refresh token just made, and what the store keeps of it.
///
/// `Debug` redacts the token.
pub(crate) struct Minted {
    /// The token to hand out.
    pub(crate) token: String,
    /// `SHA-256` of its secret, for the session record.
    pub(crate) hash: SecretHash,
}

impl Minted {
    /// The first refresh token of session `sid`: generation 0 with a secret
    /// from a secure random source.
    pub(crate) fn first(entry: &KeyEntry, sid: &SessionId, secret: [u8; 32]) -> Self {
        Self::new(entry, sid, 0, &RefreshSecret(secret))
    }

    fn new(entry: &KeyEntry, sid: &SessionId, g: u64, secret: &RefreshSecret) -> Self {
        Self {
            token: mint(entry, sid, g, secret),
            hash: secret.hash(),
        }
    }
}

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minted")
            .field("token", &"<redacted>")
            .field("hash", &self.hash)
            .finish()
    }
}

/// Encodes the refresh token for generation `g` of `sid` under `entry`.
fn mint(entry: &KeyEntry, sid: &SessionId, g: u64, secret: &RefreshSecret) -> String {
    let kid = entry.id.as_str().as_bytes();
    let mut payload = [0u8; FIXED_LEN + MAX_KEY_ID_LEN];
    payload[..16].copy_from_slice(sid.as_bytes());
    payload[16..24].copy_from_slice(&g.to_be_bytes());
    payload[24..FIXED_LEN].copy_from_slice(&secret.0);
    payload[FIXED_LEN..FIXED_LEN + kid.len()].copy_from_slice(kid);
    let payload_len = FIXED_LEN + kid.len();
    let tag = tag_of(entry, &payload[..payload_len]);
    let mut out = String::with_capacity(
        PREFIX.len() + encoding::encoded_len(payload_len) + 1 + encoding::encoded_len(TAG_LEN),
    );
    out.push_str(PREFIX);
    encoding::encode_into(&payload[..payload_len], &mut out);
    out.push('.');
    encoding::encode_into(&tag, &mut out);
    payload.zeroize();
    out
}

fn tag_of(entry: &KeyEntry, payload: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = entry.refresh_tag.clone();
    mac.update(b"tlr1");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// A JWT has exactly three dot-separated segments, the first a base64url
/// JSON object (`{"` or `{ ` encodes as `ey…`).
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("ey") && token.bytes().filter(|&b| b == b'.').count() == 2
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("session_id", &self.session_id)
            .field("generation", &self.generation)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshSecret(<redacted>)")
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret, but nobody needs to read it in a log either.
        f.write_str("SecretHash(..)")
    }
}
