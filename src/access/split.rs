//! Splitting a compact JWT into its parts and finding its key from the
//! JOSE header.

use alloc::borrow::Cow;

use serde::Deserialize as _;

use crate::encoding;
use crate::error::{Error, Malformed};
use crate::keys::{AccessKey, Algorithm};
use crate::time::UnixMillis;

use super::VerificationKeys;

/// A token split at its dots, with the key its header names.
#[derive(Clone, Copy)]
pub(super) struct Split<'t, 'k> {
    /// The key the header selects; its algorithm is the header's `alg`.
    pub(super) key: &'k AccessKey,
    /// The signing input: `<header>.<payload>`.
    pub(super) signed: &'t [u8],
    /// The payload, base64url.
    pub(super) payload: &'t [u8],
    /// The signature, base64url.
    pub(super) signature: &'t [u8],
}

impl<'t, 'k> Split<'t, 'k> {
    /// Splits a token whose header is exactly one we emit, without scanning it:
    /// `<known header>.<payload>.<signature of the key's length>`. `None`
    /// sends the token down [`Split::any`], which decides the same way for
    /// every token this accepts. The payload is not searched for a dot here:
    /// [`verify`](super::verify) answers for a payload with one.
    pub(super) fn known<K: VerificationKeys + ?Sized>(
        keys: &'k K,
        bytes: &'t [u8],
        now: UnixMillis,
    ) -> Option<Self> {
        let key = keys.verifying(now).find(|k| {
            let h = k.jwt_header.as_bytes();
            bytes.len() > h.len() && bytes.starts_with(h) && bytes[h.len()] == b'.'
        })?;
        let sig_len = key.signature_b64_len();
        let (signed, dot_sig) = bytes.split_at_checked(bytes.len().checked_sub(sig_len + 1)?)?;
        let (&dot, sig) = dot_sig.split_first()?;
        if dot != b'.' || sig.contains(&b'.') {
            return None;
        }
        let payload = signed.get(key.jwt_header.len() + 1..)?;
        if payload.is_empty() {
            return None;
        }
        Some(Self {
            key,
            signed,
            payload,
            signature: sig,
        })
    }

    /// Splits any token at its last two dots and finds its key from the header.
    pub(super) fn any<K: VerificationKeys + ?Sized>(
        keys: &'k K,
        bytes: &'t [u8],
        now: UnixMillis,
    ) -> Result<Self, Error> {
        let (signed, sig_b64) = split_last_dot(bytes).ok_or(Malformed::Segments)?;
        let (header_b64, payload_b64) = split_last_dot(signed).ok_or(Malformed::Segments)?;
        if header_b64.is_empty() || payload_b64.is_empty() || header_b64.contains(&b'.') {
            return Err(Malformed::Segments.into());
        }
        let exact = keys
            .verifying(now)
            .find(|k| k.jwt_header.as_bytes() == header_b64);
        let key = match exact {
            Some(key) => key,
            None => key_from_header(keys, header_b64, now)?,
        };
        Ok(Self {
            key,
            signed,
            payload: payload_b64,
            signature: sig_b64,
        })
    }
}

/// The JOSE header fields we look at; unknown ones are ignored, except
/// those that carry or point at a key, and `crit`.
/// Strings are borrowed unless they contain JSON escapes (as PHP writes
/// `application\/at+jwt`), which are then unescaped before comparison.
#[derive(serde::Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    // Present with any value, `null` included: an `Option` would read
    // `"crit": null` as absent.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

/// The slow path for headers other than the exact ones we emit.
///
/// The header's `alg` must be the algorithm of the key its `kid` selects;
/// the signature is then checked by that key, whose algorithm it is by
/// construction, so a header can never choose how its token is checked.
fn key_from_header<'k, K: VerificationKeys + ?Sized>(
    keys: &'k K,
    header_b64: &[u8],
    now: UnixMillis,
) -> Result<&'k AccessKey, Error> {
    let json = encoding::decode(header_b64)?;
    let header: Header<'_> = serde_json::from_slice(&json).map_err(|_| Malformed::Header)?;
    if header.crit {
        // RFC 7515 §4.1.11: we understand no extensions, so must reject.
        return Err(Malformed::Header.into());
    }
    if header.jwk || header.jku || header.x5u || header.x5c {
        // Keys come from the keyring or the JWKS we were given, never from
        // the token: refuse rather than ignore, so that a token relying on
        // them fails loudly (RFC 8725 §3.10).
        return Err(Malformed::Header.into());
    }
    let alg = Algorithm::from_name(&header.alg).ok_or(Error::UnsupportedAlgorithm)?;
    let typ = header.typ.ok_or(Error::WrongTokenType)?;
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    if !typ.eq_ignore_ascii_case("at+jwt") {
        return Err(Error::WrongTokenType);
    }
    let kid = header.kid.ok_or(Error::UnknownKey)?;
    let key = keys
        .verifying(now)
        .find(|k| k.id.as_str() == kid)
        .ok_or(Error::UnknownKey)?;
    if key.algorithm() != alg {
        return Err(Error::UnsupportedAlgorithm);
    }
    Ok(key)
}

fn present<'de, D: serde::Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(de).map(|_| true)
}

fn split_last_dot(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().rposition(|&b| b == b'.')?;
    Some((&bytes[..i], &bytes[i + 1..]))
}
