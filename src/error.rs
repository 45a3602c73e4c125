//! The one error type of the crate, and the details its variants carry.
//!
//! They import nothing of the crate but [`UnixMillis`], so that every other
//! module may use them without an import circle. [`StoreError`] and
//! [`JwksError`] are also re-exported by the modules they speak for
//! (`store`, `jwks`).

use core::fmt;

use crate::time::UnixMillis;

mod jwks;
mod store;

pub use jwks::JwksError;
pub use store::{StoreError, StoreErrorKind};

/// Everything that can go wrong in tokenlife.
///
/// Variants say *what* was wrong with an input, never the input itself: no
/// token, key or secret material ever appears in `Display` or `Debug` output.
///
/// The variants fall into three groups:
/// - the token itself is bad ([`Malformed`](Error::Malformed),
///   [`BadSignature`](Error::BadSignature), [`UnknownKey`](Error::UnknownKey),
///   [`WrongTokenType`](Error::WrongTokenType), [`UnsupportedAlgorithm`](Error::UnsupportedAlgorithm),
///   [`TooLarge`](Error::TooLarge));
/// - the token is authentic but not acceptable now ([`Expired`](Error::Expired),
///   [`NotYetValid`](Error::NotYetValid), [`WrongIssuer`](Error::WrongIssuer),
///   [`WrongAudience`](Error::WrongAudience), [`UnknownSession`](Error::UnknownSession),
///   [`SessionRevoked`](Error::SessionRevoked), [`SessionExpired`](Error::SessionExpired),
///   [`RefreshReused`](Error::RefreshReused));
/// - the caller or the environment is at fault ([`InvalidKey`](Error::InvalidKey),
///   [`InvalidClaims`](Error::InvalidClaims), [`InvalidSubject`](Error::InvalidSubject),
///   [`Random`](Error::Random), [`Store`](Error::Store),
///   [`LogoutIncomplete`](Error::LogoutIncomplete)).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The token is not well-formed: wrong number of segments, non-canonical
    /// base64, JSON that is not an object, a claim of the wrong type, …
    Malformed(Malformed),
    /// The token is longer than the configured maximum (see
    /// [`Policy::max_token_bytes`](crate::Policy::max_token_bytes)).
    TooLarge {
        /// The length of the presented token in bytes.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// The MAC does not match: the token was not issued by this authority, or
    /// it was altered.
    BadSignature,
    /// The token names a key id that the keyring does not hold.
    UnknownKey,
    /// The JOSE header names an algorithm other than the one of the key its
    /// `kid` selects, or one tokenlife does not implement (including `none`).
    UnsupportedAlgorithm,
    /// An access token was presented where a refresh token was expected, or
    /// the reverse, or the JWT `typ` is not `at+jwt`.
    WrongTokenType,
    /// The token (or refresh token) expired.
    Expired {
        /// When it expired.
        at: UnixMillis,
        /// The time of the check.
        now: UnixMillis,
    },
    /// The token's `nbf` lies in the future.
    NotYetValid {
        /// When it becomes valid.
        at: UnixMillis,
        /// The time of the check.
        now: UnixMillis,
    },
    /// The `iss` claim is missing or is not the configured issuer.
    WrongIssuer,
    /// The `aud` claim is missing or does not contain the configured audience.
    WrongAudience,
    /// The token belongs to a session the store does not know (never stored,
    /// or already purged).
    UnknownSession,
    /// The session was revoked (logout, logout-all, or reuse detection).
    SessionRevoked {
        /// When it was revoked.
        at: UnixMillis,
        /// Why.
        reason: RevokeReason,
    },
    /// The session ran past its idle (refresh) expiry or its absolute lifetime.
    SessionExpired {
        /// When it expired.
        at: UnixMillis,
    },
    /// A spent refresh token was presented outside the grace window: the
    /// whole session has been revoked (RFC 9700 §4.14.2).
    RefreshReused,
    /// A key given to the [`Keyring`](crate::Keyring) is unusable.
    InvalidKey(&'static str),
    /// The application claims given to `login` or `refresh` are unusable
    /// (not a JSON object, or naming a registered claim).
    InvalidClaims(&'static str),
    /// The subject is empty or longer than the maximum.
    InvalidSubject,
    /// The metadata given to `login_with` is larger than the policy's
    /// [`max_metadata_bytes`](crate::Policy::max_metadata_bytes).
    MetadataTooLarge {
        /// Its size: the bytes of every name and value.
        len: usize,
        /// The policy's limit.
        max: usize,
    },
    /// The session's refresh token is at the last generation a token can
    /// carry (`u64::MAX`): it cannot be rotated again; log in anew.
    GenerationExhausted,
    /// The random source failed.
    Random,
    /// The session store failed or kept conflicting.
    Store(StoreError),
    /// [`logout_all`](crate::Authority::logout_all) revoked `revoked`
    /// sessions but could not revoke `failed` others (their
    /// compare-and-swap kept losing, or the store failed on them). Calling
    /// it again finishes the job.
    LogoutIncomplete {
        /// How many sessions this call revoked.
        revoked: usize,
        /// How many it could not revoke.
        failed: usize,
        /// The store's error on the first one that failed.
        cause: StoreError,
    },
    /// A JWKS document given to [`Verifier::from_jwks`](crate::Verifier::from_jwks)
    /// was refused, for the reason given.
    InvalidJwks(JwksError),
}

/// What exactly was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not the expected number of `.`-separated segments, or an empty one.
    Segments,
    /// A segment is not canonical unpadded base64url.
    Base64,
    /// The JOSE header is not a JSON object of the expected shape.
    Header,
    /// The claims are not a JSON object of the expected shape.
    Claims,
    /// The refresh token does not have the `tlr1.` shape.
    RefreshToken,
    /// The key id is empty, too long, or contains characters outside `[A-Za-z0-9._-]`.
    KeyId,
    /// A session id is not 22 characters of base64url.
    SessionId,
}

/// Why a session was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevokeReason {
    /// The user logged out with this session's refresh token.
    Logout,
    /// `logout_all` revoked every session of the subject.
    LogoutAll,
    /// A spent refresh token was presented outside the grace window.
    Reuse,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed token: {what}"),
            Self::TooLarge { len, max } => {
                write!(f, "token of {len} bytes exceeds the maximum of {max}")
            }
            Self::BadSignature => f.write_str("token signature does not verify"),
            Self::UnknownKey => f.write_str("token names an unknown key id"),
            Self::UnsupportedAlgorithm => {
                f.write_str("token algorithm is not the algorithm of its key")
            }
            Self::WrongTokenType => f.write_str("wrong token type for this operation"),
            Self::Expired { at, now } => write!(f, "token expired at {at} (now {now})"),
            Self::NotYetValid { at, now } => {
                write!(f, "token not valid before {at} (now {now})")
            }
            Self::WrongIssuer => f.write_str("token issuer is not accepted"),
            Self::WrongAudience => f.write_str("token audience is not accepted"),
            Self::UnknownSession => f.write_str("session is unknown"),
            Self::SessionRevoked { at, reason } => {
                write!(f, "session was revoked at {at} ({reason})")
            }
            Self::SessionExpired { at } => write!(f, "session expired at {at}"),
            Self::RefreshReused => {
                f.write_str("refresh token was already used; the session has been revoked")
            }
            Self::InvalidKey(why) => write!(f, "invalid key: {why}"),
            Self::InvalidClaims(why) => write!(f, "invalid claims: {why}"),
            Self::InvalidSubject => f.write_str("subject must be 1 to 1024 bytes"),
            Self::MetadataTooLarge { len, max } => {
                write!(
                    f,
                    "session metadata is {len} bytes, more than the limit of {max}"
                )
            }
            Self::GenerationExhausted => f.write_str(
                "the session's refresh token cannot be rotated past its last generation",
            ),
            Self::Random => f.write_str("the random source failed"),
            Self::Store(e) => write!(f, "session store: {e}"),
            Self::LogoutIncomplete {
                revoked, failed, ..
            } => write!(
                f,
                "logout of all sessions incomplete: {revoked} revoked, {failed} could not be"
            ),
            Self::InvalidJwks(why) => write!(f, "invalid JWKS: {why}"),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Segments => "wrong number of segments",
            Self::Base64 => "segment is not canonical unpadded base64url",
            Self::Header => "header is not a valid JOSE header",
            Self::Claims => "claims are not a valid claims object",
            Self::RefreshToken => "not a refresh token of this crate",
            Self::KeyId => "key id must be 1-64 characters of [A-Za-z0-9._-]",
            Self::SessionId => "session id must be 22 characters of base64url",
        })
    }
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout of all sessions",
            Self::Reuse => "refresh token reuse",
        })
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Store(e) | Self::LogoutIncomplete { cause: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl From<Malformed> for Error {
    fn from(m: Malformed) -> Self {
        Self::Malformed(m)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
