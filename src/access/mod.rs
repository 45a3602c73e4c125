//! Access tokens: JWTs (RFC 7519) with `typ: at+jwt` (RFC 9068), signed
//! HS256, EdDSA or ES256 as the signing key's [`Algorithm`](crate::Algorithm) says.
//!
//! [`verify`] checks, in this order, and stops at the first failure: the
//! length, the shape (three segments of canonical base64url), the JOSE header
//! (`kid` must name a key that verifies now, `alg` must be that key's
//! algorithm, `typ` must be `at+jwt`, no `crit`, `jwk`, `jku`, `x5u` or
//! `x5c`), the signature (by the key, constant-time for HS256), then the
//! claims (`exp`, `nbf`, `iss`, `aud`). Nothing of the payload is parsed
//! before the signature has verified. [`Verifier`](crate::Verifier) runs the
//! very same function over its public keys.

use alloc::string::String;
use alloc::vec::Vec;

use serde::de::{Deserialize, DeserializeOwned};

use crate::encoding;
use crate::error::{Error, Malformed};
use crate::id::SessionId;
use crate::keys::{AccessKey, Keyring};
use crate::policy::Policy;
use crate::refresh;
use crate::session::Session;
use crate::time::{UnixMillis, duration_millis};

pub(crate) mod app_claims;
mod borrowed;
mod claims;
mod json;
mod split;

pub use borrowed::{Audiences, BorrowedClaims, ClaimsBuf};
use claims::RawClaims;
use json::JsonBuf;
use split::Split;

/// The claims of a verified access token.
///
/// `C` is the application's own claims, flattened into the JWT payload
/// beside the registered ones; use `()` for none, or
/// `serde_json::Map<String, serde_json::Value>` to take whatever is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims<C> {
    /// Subject (`sub`): whom the token speaks for.
    pub sub: String,
    /// Session id (`sid`).
    pub sid: SessionId,
    /// Issued at (`iat`), whole seconds.
    pub iat: UnixMillis,
    /// Expiry (`exp`), whole seconds; invalid from this instant on.
    pub exp: UnixMillis,
    /// Token id (`jti`), unique per token.
    pub jti: String,
    /// Issuer (`iss`), when the token has one.
    pub iss: Option<String>,
    /// Audiences (`aud`), empty when the token has none.
    pub aud: Vec<String>,
    /// The application's claims.
    pub extra: C,
}

/// A freshly signed access token. `Debug` redacts the token.
#[derive(Clone)]
pub struct SignedAccess {
    /// The compact JWT.
    pub token: String,
    /// Its `exp` as an instant.
    pub expires_at: UnixMillis,
}

/// Signs an access token for `session` at `now`.
///
/// It carries the session's subject, id and application claims (as stored
/// in [`Session::claims`]); `jti` is 16 random bytes. `exp` is `now +
/// access_ttl`, capped by the session's absolute expiry and rounded down to
/// a whole second, so the token never outlives either.
#[must_use]
pub fn sign(
    keyring: &Keyring,
    policy: &Policy,
    session: &Session,
    jti: [u8; 16],
    now: UnixMillis,
) -> SignedAccess {
    let entry = keyring.signing();
    let mut exp = now.saturating_add(policy.access_ttl());
    if let Some(cap) = session.absolute_expires_at {
        exp = exp.min(cap);
    }
    let exp_secs = exp.as_secs();
    // The payload JSON is built on the stack when it fits (it nearly always
    // does), then encoded straight after the header in the token's buffer.
    let mut json = JsonBuf::new();
    json.push(b"{\"sub\":");
    json.push_str(&session.subject);
    json.push(b",\"sid\":\"");
    json.push_b64(session.id.as_bytes());
    json.push(b"\",\"iat\":");
    json.push_u64(now.as_secs());
    json.push(b",\"exp\":");
    json.push_u64(exp_secs);
    json.push(b",\"jti\":\"");
    json.push_b64(&jti);
    json.push(b"\"");
    if let Some(iss) = policy.issuer() {
        json.push(b",\"iss\":");
        json.push_str(iss);
    }
    if let Some(aud) = policy.audience() {
        json.push(b",\"aud\":");
        json.push_str(aud);
    }
    if let Some(inner) = session.claims.as_deref().and_then(json::object_body) {
        json.push(b",");
        json.push(inner.as_bytes());
    }
    json.push(b"}");
    let json = json.as_bytes();
    let header = entry.access.jwt_header.as_str();
    let mut token = String::with_capacity(
        header.len() + 1 + encoding::encoded_len(json.len()) + 1 + entry.access.signature_b64_len(),
    );
    token.push_str(header);
    token.push('.');
    encoding::encode_into(json, &mut token);
    let sig = entry.signer.sign(token.as_bytes());
    token.push('.');
    encoding::encode_into(sig.as_bytes(), &mut token);
    SignedAccess {
        token,
        expires_at: UnixMillis::from_secs(exp_secs),
    }
}

/// Verifies `token` against `keyring` and `policy` at `now`, statelessly.
///
/// It is [`verify_in`] with a buffer of its own, the claims then copied out
/// of it ([`BorrowedClaims::into_owned`]): the same checks, the same errors.
///
/// # Errors
/// [`Error::TooLarge`], [`Error::WrongTokenType`] (a refresh token, or a
/// `typ` other than `at+jwt`), [`Error::Malformed`],
/// [`Error::UnsupportedAlgorithm`], [`Error::UnknownKey`],
/// [`Error::BadSignature`], [`Error::Expired`], [`Error::NotYetValid`],
/// [`Error::WrongIssuer`], [`Error::WrongAudience`].
pub fn verify<C: DeserializeOwned>(
    token: &str,
    keyring: &Keyring,
    policy: &Policy,
    now: UnixMillis,
) -> Result<AccessClaims<C>, Error> {
    verify_with(token, keyring, policy, now)
}

/// [`verify`] without allocating: the payload is decoded into `buf`, and
/// the claims returned borrow from it.
///
/// Nothing is allocated for a token whose payload fits `buf`'s inline
/// 1 KiB, whose strings have no JSON escapes (as [`sign`] writes them) and
/// whose `aud` is a single string, when `C` itself owns nothing (`()`, or
/// `&'a str` / `Cow<'a, str>` fields with `#[serde(borrow)]`). The checks
/// and errors are [`verify`]'s, which is this function followed by
/// [`BorrowedClaims::into_owned`].
///
/// ```
/// use std::borrow::Cow;
/// use tokenlife::access::{self, ClaimsBuf};
/// use tokenlife::{Keyring, Policy, UnixMillis};
///
/// #[derive(serde::Deserialize)]
/// struct App<'a> {
///     #[serde(borrow)]
///     role: Cow<'a, str>,
/// }
///
/// # let keys = Keyring::new("k1", &[7u8; 32])?;
/// # let policy = Policy::default();
/// # let now = UnixMillis(1_800_000_000_000);
/// # let token = "not.a.token";
/// let mut buf = ClaimsBuf::new(); // reuse it across requests
/// match access::verify_in::<App<'_>>(token, &keys, &policy, now, &mut buf) {
///     Ok(claims) => println!("{} is {}", claims.sub, claims.extra.role),
///     Err(e) => println!("refused: {e}"),
/// }
/// # Ok::<(), tokenlife::Error>(())
/// ```
///
/// # Errors
/// As [`verify`].
pub fn verify_in<'a, C: Deserialize<'a>>(
    token: &str,
    keyring: &Keyring,
    policy: &Policy,
    now: UnixMillis,
    buf: &'a mut ClaimsBuf,
) -> Result<BorrowedClaims<'a, C>, Error> {
    verify_in_with(token, keyring, policy, now, buf)
}

/// The keys a token may be verified with at an instant: a keyring's keys
/// whose state verifies then, or a [`Verifier`](crate::Verifier)'s public keys.
pub(crate) trait VerificationKeys {
    /// The keys that verify at `now`.
    fn verifying(&self, now: UnixMillis) -> impl Iterator<Item = &AccessKey>;
}

impl VerificationKeys for Keyring {
    fn verifying(&self, now: UnixMillis) -> impl Iterator<Item = &AccessKey> {
        self.entries()
            .filter(move |k| k.state.verifies_at(now))
            .map(|k| &k.access)
    }
}

/// [`verify`] over any [`VerificationKeys`]: [`verify_in_with`], owned.
pub(crate) fn verify_with<C: DeserializeOwned, K: VerificationKeys + ?Sized>(
    token: &str,
    keys: &K,
    policy: &Policy,
    now: UnixMillis,
) -> Result<AccessClaims<C>, Error> {
    let mut buf = ClaimsBuf::new();
    verify_in_with(token, keys, policy, now, &mut buf).map(BorrowedClaims::into_owned)
}

/// [`verify_in`] over any [`VerificationKeys`]: the one verification path.
pub(crate) fn verify_in_with<'a, C: Deserialize<'a>, K: VerificationKeys + ?Sized>(
    token: &str,
    keys: &K,
    policy: &Policy,
    now: UnixMillis,
    buf: &'a mut ClaimsBuf,
) -> Result<BorrowedClaims<'a, C>, Error> {
    let max = policy.max_token_bytes();
    if token.len() > max {
        return Err(Error::TooLarge {
            len: token.len(),
            max,
        });
    }
    if token.starts_with(refresh::PREFIX) {
        return Err(Error::WrongTokenType);
    }
    let bytes = token.as_bytes();
    let known = Split::known(keys, bytes, now);
    let parts = match known {
        Some(parts) => parts,
        None => Split::any(keys, bytes, now)?,
    };
    match verify_parts(&parts, policy, now, buf) {
        // `Split::known` leaves a dot in the payload for base64 decoding to
        // refuse, which it always does: the token has four segments, and
        // is refused as `Split::any` would have refused it.
        Err(_) if known.is_some() && parts.payload.contains(&b'.') => {
            Err(Malformed::Segments.into())
        }
        verified => verified,
    }
}

/// The rest of [`verify_in`], once the token is split and its key found.
fn verify_parts<'a, C: Deserialize<'a>>(
    parts: &Split<'_, '_>,
    policy: &Policy,
    now: UnixMillis,
    buf: &'a mut ClaimsBuf,
) -> Result<BorrowedClaims<'a, C>, Error> {
    let Split {
        key,
        signed,
        payload: payload_b64,
        signature: sig_b64,
    } = *parts;
    key.verify_signature(signed, sig_b64)?;
    let len = encoding::decoded_len(payload_b64.len()).ok_or(Malformed::Base64)?;
    let (payload, spare) = buf.regions(len);
    encoding::decode_into(payload_b64, payload)?;
    let raw = claims::fast::parse_fast::<C>(payload, || {
        // The fast path wrote over `payload` and then gave up (which only
        // a payload `sign` did not write makes it do): decode it again.
        let again = spare.take(len);
        encoding::decode_into(payload_b64, again)?;
        Ok(&*again)
    })?;
    check_claims(raw, policy, now)
}

impl core::fmt::Debug for SignedAccess {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedAccess")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

fn check_claims<'a, C>(
    raw: RawClaims<'a, C>,
    policy: &Policy,
    now: UnixMillis,
) -> Result<BorrowedClaims<'a, C>, Error> {
    let leeway = duration_millis(policy.leeway());
    let exp = UnixMillis::from_secs(raw.exp);
    if now.as_millis() >= exp.as_millis().saturating_add(leeway) {
        return Err(Error::Expired { at: exp, now });
    }
    if let Some(nbf) = raw.nbf.map(UnixMillis::from_secs)
        && now.as_millis().saturating_add(leeway) < nbf.as_millis()
    {
        return Err(Error::NotYetValid { at: nbf, now });
    }
    if let Some(want) = policy.issuer()
        && raw.iss.as_deref() != Some(want)
    {
        return Err(Error::WrongIssuer);
    }
    if let Some(want) = policy.audience()
        && !raw.aud.contains(want)
    {
        return Err(Error::WrongAudience);
    }
    Ok(BorrowedClaims {
        sub: raw.sub,
        sid: raw.sid,
        iat: UnixMillis::from_secs(raw.iat),
        exp,
        jti: raw.jti,
        iss: raw.iss,
        aud: raw.aud,
        extra: raw.extra,
    })
}
