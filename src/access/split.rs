//! Splitting a compact JWT into its parts and finding its key from the
//! JOSE header.

use alloc::borrow::Cow;

use crate::encoding;
use crate::error::{Error, Malformed};
use crate::keys::{KeyEntry, Keyring};

/// A token split at its dots, with the key its header names.
#[derive(Clone, Copy)]
pub(super) struct Split<'t, 'k> {
    /// The key the header selects.
    pub(super) entry: &'k KeyEntry,
    /// The signing input: `<header>.<payload>`.
    pub(super) signed: &'t [u8],
    /// The payload, base64url.
    pub(super) payload: &'t [u8],
    /// The signature, base64url.
    pub(super) signature: &'t [u8],
}

impl<'t, 'k> Split<'t, 'k> {
    /// Splits a token whose header is exactly one we emit, without scanning it:
    /// `<known header>.<payload>.<43-character signature>`. `None` sends the
    /// token down [`Split::any`], which decides the same way for every token
    /// this accepts. The payload is not searched for a dot here: [`verify`]
    /// answers for a payload with one.
    pub(super) fn known(keyring: &'k Keyring, bytes: &'t [u8]) -> Option<Self> {
        let sig_len = encoding::encoded_len(32);
        let (signed, dot_sig) = bytes.split_at_checked(bytes.len().checked_sub(sig_len + 1)?)?;
        let (&dot, sig) = dot_sig.split_first()?;
        if dot != b'.' || sig.contains(&b'.') {
            return None;
        }
        let entry = keyring.entry_by_header_prefix(signed)?;
        let payload = signed.get(entry.jwt_header.len() + 1..)?;
        if payload.is_empty() {
            return None;
        }
        Some(Self {
            entry,
            signed,
            payload,
            signature: sig,
        })
    }

    /// Splits any token at its last two dots and finds its key from the header.
    pub(super) fn any(keyring: &'k Keyring, bytes: &'t [u8]) -> Result<Self, Error> {
        let (signed, sig_b64) = split_last_dot(bytes).ok_or(Malformed::Segments)?;
        let (header_b64, payload_b64) = split_last_dot(signed).ok_or(Malformed::Segments)?;
        if header_b64.is_empty() || payload_b64.is_empty() || header_b64.contains(&b'.') {
            return Err(Malformed::Segments.into());
        }
        let entry = match keyring.entry_by_header(header_b64) {
            Some(entry) => entry,
            None => key_from_header(keyring, header_b64)?,
        };
        Ok(Self {
            entry,
            signed,
            payload: payload_b64,
            signature: sig_b64,
        })
    }
}

/// The JOSE header fields we look at; unknown ones are ignored, except `crit`.
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
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// The slow path for headers other than the exact ones we emit.
fn key_from_header<'k>(keyring: &'k Keyring, header_b64: &[u8]) -> Result<&'k KeyEntry, Error> {
    let json = encoding::decode(header_b64)?;
    let header: Header<'_> = serde_json::from_slice(&json).map_err(|_| Malformed::Header)?;
    if header.crit.is_some() {
        // RFC 7515 §4.1.11: we understand no extensions, so must reject.
        return Err(Malformed::Header.into());
    }
    if header.alg != "HS256" {
        return Err(Error::UnsupportedAlgorithm);
    }
    let typ = header.typ.ok_or(Error::WrongTokenType)?;
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    if !typ.eq_ignore_ascii_case("at+jwt") {
        return Err(Error::WrongTokenType);
    }
    let kid = header.kid.ok_or(Error::UnknownKey)?;
    keyring.entry(kid.as_bytes()).ok_or(Error::UnknownKey)
}

fn split_last_dot(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().rposition(|&b| b == b'.')?;
    Some((&bytes[..i], &bytes[i + 1..]))
}
