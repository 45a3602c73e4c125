//! The fast path of claims parsing: the registered claims read without
//! serde when they come exactly as [`sign`](crate::access::sign) writes
//! them, the rest handed to serde_json as a continuation of the object.

use alloc::string::String;
use core::marker::PhantomData;

use serde::Deserializer;
use serde::de::DeserializeOwned;

use super::{Audience, ClaimsVisitor, Filtered, NoMembers, RawClaims, Slots, parse};
use crate::error::Malformed;

/// Parses a claims object as [`parse`] does, reading the registered claims
/// without serde when they come exactly as [`crate::access::sign`] writes
/// them: `{"sub":…,"sid":…,"iat":…,"exp":…,"jti":…[,"iss":…][,"aud":…]`,
/// no whitespace, strings without escapes, integers without leading zeros.
/// The application's members that follow are read by serde_json as a
/// continuation of the same object (its `,` briefly made a `{`), with those
/// registered claims already in their slots, so a second `sub` is still a
/// duplicate and `C` still sees only its own members.
///
/// Whenever the payload leaves that shape, or anything fails, it is parsed
/// again by [`parse`] from the start, so the result is always [`parse`]'s:
/// the fast path accepts only payloads on which both agree (the unit tests
/// compare the two on edited payloads; the `verify_access` fuzz target
/// checks every accepted claim against serde_json's own reading). `json`
/// is as it was on return.
pub(crate) fn parse_fast<C: DeserializeOwned>(json: &mut [u8]) -> Result<RawClaims<C>, Malformed> {
    match parse_ours(json) {
        Some(raw) => Ok(raw),
        None => parse(json),
    }
}

pub(super) fn parse_ours<C: DeserializeOwned>(json: &mut [u8]) -> Option<RawClaims<C>> {
    let mut at = Cursor { json, pos: 0 };
    at.literal(b"{\"sub\":")?;
    let sub = at.plain_string()?;
    at.literal(b",\"sid\":")?;
    let sid = at.plain_string()?;
    at.literal(b",\"iat\":")?;
    let iat = at.integer()?;
    at.literal(b",\"exp\":")?;
    let exp = at.integer()?;
    at.literal(b",\"jti\":")?;
    let jti = at.plain_string()?;
    let iss = match at.literal(b",\"iss\":") {
        Some(()) => Some(at.plain_string()?),
        None => None,
    };
    let aud = match at.literal(b",\"aud\":") {
        Some(()) => Some(at.plain_string()?),
        None => None,
    };
    let rest = at.pos;
    let json = at.json;
    // Every byte read so far is ASCII but for the strings' contents; one
    // check of the whole payload validates them all.
    let text = core::str::from_utf8(json).ok()?;
    let field = |(start, end): (usize, usize)| text.get(start..end);
    let mut slots = Slots {
        sub: Some(String::from(field(sub)?)),
        sid: Some(field(sid)?.parse().ok()?),
        iat: Some(iat),
        exp: Some(exp),
        jti: Some(String::from(field(jti)?)),
        nbf: None,
        iss: match iss {
            Some(iss) => Some(Some(String::from(field(iss)?))),
            None => None,
        },
        aud: match aud {
            Some(aud) => Some(Some(Audience::One(String::from(field(aud)?)))),
            None => None,
        },
    };
    let extra = match json.get(rest..)? {
        // The object ends here, and the payload with it.
        b"}" => C::deserialize(Filtered {
            map: &mut NoMembers,
            slots: &mut slots,
        })
        .ok()?,
        [b',', after @ ..] => {
            // A member must follow the comma, as in the whole object.
            if after.iter().find(|b| !b" \t\n\r".contains(b)) != Some(&b'"') {
                return None;
            }
            json[rest] = b'{';
            let extra = continue_object(&json[rest..], &mut slots);
            json[rest] = b',';
            extra?
        }
        _ => return None,
    };
    slots.finish::<C, serde_json::Error>(extra).ok()
}

/// Reads the rest of the object (`{` + the members after the registered
/// ones) into `slots` and the application's claims.
fn continue_object<C: DeserializeOwned>(json: &[u8], slots: &mut Slots) -> Option<C> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let extra = de
        .deserialize_map(ClaimsVisitor {
            slots,
            claims: PhantomData,
        })
        .ok()?;
    de.end().ok()?;
    Some(extra)
}

/// The position of the first `"`, `\\` or control character in `bytes`,
/// eight bytes at a time: a byte-at-a-time scan was a sixth of `verify`.
pub(crate) fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Flags the bytes of `w` that are below `n` (n <= 0x80); the lowest
    // flag is exact, which is the only one used.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let (words, tail) = bytes.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let w = u64::from_le_bytes(*word);
        let special = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if special != 0 {
            return Some(i * 8 + (special.trailing_zeros() / 8) as usize);
        }
    }
    let at = tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(words.len() * 8 + at)
}

/// A position in a payload being read by [`parse_ours`].
struct Cursor<'a> {
    json: &'a mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// Consumes `lit` if the payload continues with it.
    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(lit.len())?;
        (self.json.get(self.pos..end)? == lit).then(|| self.pos = end)
    }

    /// A string with no escape and no control character: the span of its
    /// contents (not yet checked to be UTF-8).
    fn plain_string(&mut self) -> Option<(usize, usize)> {
        self.literal(b"\"")?;
        let start = self.pos;
        let end = start + first_special(self.json.get(start..)?)?;
        if self.json.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        Some((start, end))
    }

    /// A non-negative integer as JSON writes it (no sign, no leading zero,
    /// no fraction or exponent) that fits a `u64`.
    fn integer(&mut self) -> Option<u64> {
        let digits = self.json.get(self.pos..)?;
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 20 || (len > 1 && digits[0] == b'0') {
            return None;
        }
        let value = |digits: &[u8]| {
            digits
                .iter()
                .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'))
        };
        // Up to 19 digits always fit; a 20th may overflow.
        let n = if len < 20 {
            value(&digits[..len])
        } else {
            value(&digits[..19])
                .checked_mul(10)?
                .checked_add(u64::from(digits[19] - b'0'))?
        };
        self.pos += len;
        Some(n)
    }
}
