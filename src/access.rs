//! Access tokens: HS256 JWTs (RFC 7519) with `typ: at+jwt` (RFC 9068).
//!
//! [`verify`] checks, in this order, and stops at the first failure: the
//! length, the shape (three segments of canonical base64url), the JOSE header
//! (`alg` must be `HS256`, `typ` must be `at+jwt`, `kid` must name a key),
//! the signature (constant-time), then the claims (`exp`, `nbf`, `iss`, `aud`).
//! Nothing of the payload is parsed before the signature has verified.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use hmac::Mac;
use serde::de::DeserializeOwned;

use crate::claims::{self, RawClaims};
use crate::encoding;
use crate::error::{Error, Malformed};
use crate::keys::{KeyEntry, Keyring};
use crate::policy::Policy;
use crate::refresh;
use crate::session::SessionId;
use crate::time::{UnixMillis, duration_millis};

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

/// Signs an access token for `subject` in session `sid` at `now`.
///
/// `claims` is the application's claims as a compact JSON object (as stored
/// in [`Session::claims`](crate::Session::claims)); `jti` 16 random bytes;
/// `not_after` caps `exp` (the session's absolute expiry). `exp` is rounded
/// down to a whole second, so the token never outlives `access_ttl`.
#[must_use]
#[allow(clippy::too_many_arguments)] // every part of the token is an input
pub fn sign(
    keyring: &Keyring,
    policy: &Policy,
    subject: &str,
    sid: &SessionId,
    claims: Option<&str>,
    jti: [u8; 16],
    now: UnixMillis,
    not_after: Option<UnixMillis>,
) -> SignedAccess {
    let entry = keyring.signing();
    let mut exp = now.saturating_add(policy.access_ttl());
    if let Some(cap) = not_after {
        exp = exp.min(cap);
    }
    let exp_secs = exp.as_secs();
    // The payload JSON is built on the stack when it fits (it nearly always
    // does), then encoded straight after the header in the token's buffer.
    let mut json = JsonBuf::new();
    json.push(b"{\"sub\":");
    json.push_str(subject);
    json.push(b",\"sid\":\"");
    json.push_b64(sid.as_bytes());
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
    if let Some(inner) = claims.and_then(object_body) {
        json.push(b",");
        json.push(inner.as_bytes());
    }
    json.push(b"}");
    let json = json.as_bytes();
    let header = entry.jwt_header.as_bytes();
    let mut token = Vec::with_capacity(
        header.len() + 1 + encoding::encoded_len(json.len()) + 1 + encoding::encoded_len(32),
    );
    token.extend_from_slice(header);
    token.push(b'.');
    encoding::encode_into_vec(json, &mut token);
    let sig = mac_of(entry, &token);
    token.push(b'.');
    encoding::encode_into_vec(&sig, &mut token);
    // Header, base64url and dots are ASCII, so this cannot fail.
    let token = String::from_utf8(token).unwrap_or_default();
    SignedAccess {
        token,
        expires_at: UnixMillis::from_secs(exp_secs),
    }
}

/// Verifies `token` against `keyring` and `policy` at `now`, statelessly.
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
    let known = split_known(keyring, bytes);
    let (entry, signed, payload_b64, sig_b64) = match known {
        Some(parts) => parts,
        None => split_any(keyring, bytes)?,
    };
    let verified = verify_parts(entry, signed, payload_b64, sig_b64, policy, now);
    match verified {
        // `split_known` leaves a dot in the payload for base64 decoding to
        // refuse, which it always does: the token has four segments, and
        // is refused as `split_any` would have refused it.
        Err(_) if known.is_some() && payload_b64.contains(&b'.') => Err(Malformed::Segments.into()),
        verified => verified,
    }
}

/// The rest of [`verify`], once the token is split and its key found.
fn verify_parts<C: DeserializeOwned>(
    entry: &KeyEntry,
    signed: &[u8],
    payload_b64: &[u8],
    sig_b64: &[u8],
    policy: &Policy,
    now: UnixMillis,
) -> Result<AccessClaims<C>, Error> {
    if sig_b64.len() != encoding::encoded_len(32) {
        // Decode anyway so that bad characters are reported as such.
        encoding::decode(sig_b64)?;
        return Err(Error::BadSignature);
    }
    let sig: [u8; 32] = encoding::decode_array(sig_b64)?;
    if !refresh::words_ct_eq(&mac_of(entry, signed), &sig) {
        return Err(Error::BadSignature);
    }
    // Decode onto the stack when the payload fits, as it nearly always does.
    let len = encoding::decoded_len(payload_b64.len()).ok_or(Malformed::Base64)?;
    let mut stack = [0u8; STACK_PAYLOAD];
    let mut heap = Vec::new();
    let payload: &mut [u8] = if len <= STACK_PAYLOAD {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    encoding::decode_into(payload_b64, payload)?;
    let raw = claims::parse_fast::<C>(payload)?;
    check_claims(raw, policy, now)
}

/// Payloads up to this many bytes are decoded on the stack.
const STACK_PAYLOAD: usize = 1024;

/// Splits a token whose header is exactly one we emit, without scanning it:
/// `<known header>.<payload>.<43-character signature>`. `None` sends the
/// token down [`split_any`], which decides the same way for every token
/// this accepts. The payload is not searched for a dot here: [`verify`]
/// answers for a payload with one.
#[allow(clippy::type_complexity)]
fn split_known<'t, 'k>(
    keyring: &'k Keyring,
    bytes: &'t [u8],
) -> Option<(&'k KeyEntry, &'t [u8], &'t [u8], &'t [u8])> {
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
    Some((entry, signed, payload, sig))
}

/// Splits any token at its last two dots and finds its key from the header.
#[allow(clippy::type_complexity)]
fn split_any<'t, 'k>(
    keyring: &'k Keyring,
    bytes: &'t [u8],
) -> Result<(&'k KeyEntry, &'t [u8], &'t [u8], &'t [u8]), Error> {
    let (signed, sig_b64) = split_last_dot(bytes).ok_or(Malformed::Segments)?;
    let (header_b64, payload_b64) = split_last_dot(signed).ok_or(Malformed::Segments)?;
    if header_b64.is_empty() || payload_b64.is_empty() || header_b64.contains(&b'.') {
        return Err(Malformed::Segments.into());
    }
    let entry = match keyring.entry_by_header(header_b64) {
        Some(entry) => entry,
        None => key_from_header(keyring, header_b64)?,
    };
    Ok((entry, signed, payload_b64, sig_b64))
}

/// The payload JSON of an access token being signed: on the stack up to
/// 512 bytes, on the heap beyond.
struct JsonBuf {
    stack: [u8; 512],
    len: usize,
    heap: Vec<u8>,
}

impl JsonBuf {
    fn new() -> Self {
        Self {
            stack: [0; 512],
            len: 0,
            heap: Vec::new(),
        }
    }

    // Inlined, so that the many short literals become fixed-size copies
    // rather than calls to `memcpy`.
    #[inline(always)]
    fn push(&mut self, bytes: &[u8]) {
        if self.heap.is_empty() {
            if let Some(dst) = self.stack.get_mut(self.len..self.len + bytes.len()) {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
                return;
            }
            self.heap.extend_from_slice(&self.stack[..self.len]);
        }
        self.heap.extend_from_slice(bytes);
    }

    /// Appends `s` as a JSON string.
    fn push_str(&mut self, s: &str) {
        // Exactly the strings that serde_json writes verbatim.
        let plain = claims::first_special(s.as_bytes()).is_none();
        if plain {
            self.push(b"\"");
            self.push(s.as_bytes());
            self.push(b"\"");
        } else {
            // Serialising a &str to JSON cannot fail.
            let quoted = serde_json::to_string(s).unwrap_or_default();
            self.push(quoted.as_bytes());
        }
    }

    fn push_b64(&mut self, bytes: &[u8; 16]) {
        let mut out = [0u8; encoding::encoded_len(16)];
        encoding::encode_to_slice(bytes, &mut out);
        self.push(&out);
    }

    fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.stack[..self.len]
        } else {
            &self.heap
        }
    }
}

impl core::fmt::Debug for SignedAccess {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedAccess")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
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

fn check_claims<C>(
    raw: RawClaims<C>,
    policy: &Policy,
    now: UnixMillis,
) -> Result<AccessClaims<C>, Error> {
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
    let aud = raw.aud;
    if let Some(want) = policy.audience()
        && !aud.iter().any(|a| a == want)
    {
        return Err(Error::WrongAudience);
    }
    Ok(AccessClaims {
        sub: raw.sub,
        sid: raw.sid,
        iat: UnixMillis::from_secs(raw.iat),
        exp,
        jti: raw.jti,
        iss: raw.iss,
        aud,
        extra: raw.extra,
    })
}

fn mac_of(entry: &KeyEntry, signing_input: &[u8]) -> [u8; 32] {
    let mut mac = entry.access.clone();
    mac.update(signing_input);
    mac.finalize().into_bytes().into()
}

fn split_last_dot(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().rposition(|&b| b == b'.')?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

/// The members of a compact JSON object without its braces, or `None` if empty.
fn object_body(object: &str) -> Option<&str> {
    let inner = object.strip_prefix('{')?.strip_suffix('}')?;
    (!inner.is_empty()).then_some(inner)
}
