//! [`JwksError`]: why a JWKS document was refused.
//!
//! It lives beside [`Error`](crate::Error), which carries it in
//! [`InvalidJwks`](crate::Error::InvalidJwks), and depends on nothing of the
//! crate: the `jwks` module, which reads documents into keys, re-exports it.

use core::fmt;

/// Why a JWKS document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is longer than [`MAX_JWKS_BYTES`](crate::MAX_JWKS_BYTES)
    /// or holds more than [`MAX_JWKS_KEYS`](crate::MAX_JWKS_KEYS) keys.
    TooLarge,
    /// Not a JSON object with a `keys` array of objects of string members.
    NotJwks,
    /// A key has a private member (`d`, `k`, or an RSA private member):
    /// the publisher leaked a secret, and the document is not trusted.
    PrivateMember,
    /// A key has no `kid`, or one that is not a valid key id.
    BadKeyId,
    /// Two keys share a `kid`.
    DuplicateKeyId,
    /// A key's `use` is not `sig`, or its `key_ops` allow more than `verify`.
    WrongUse,
    /// A key's `kty` is not `OKP` or `EC`.
    UnknownKeyType,
    /// A key's `crv` is not `Ed25519` (for `OKP`) or `P-256` (for `EC`), or
    /// its algorithm is not built in (features `eddsa`, `es256`).
    UnknownCurve,
    /// A key's `alg` is not the algorithm of its curve (`EdDSA` for
    /// Ed25519, `ES256` for P-256).
    AlgorithmMismatch,
    /// A key's coordinates are not 32 bytes of canonical base64url, not a
    /// point of the curve, or a small-order (weak) Ed25519 key.
    BadKey,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "the document is too large",
            Self::NotJwks => "not a JSON Web Key Set",
            Self::PrivateMember => "a key carries private key material",
            Self::BadKeyId => "a key has no valid kid",
            Self::DuplicateKeyId => "two keys share a kid",
            Self::WrongUse => "a key is not for signatures only",
            Self::UnknownKeyType => "a key type is not OKP or EC",
            Self::UnknownCurve => "a curve is unknown or not built in",
            Self::AlgorithmMismatch => "a key's alg does not match its curve",
            Self::BadKey => "a key is not a valid public key of its curve",
        })
    }
}
