//! The fast path of claims parsing: the registered claims read without
//! serde when they come exactly as [`sign`](crate::access::sign) writes
//! them, the rest handed to serde_json as a continuation of the object.

use alloc::borrow::Cow;
use core::marker::PhantomData;

use serde::Deserializer;
use serde::de::Deserialize;

use super::{Audience, ClaimsVisitor, Filtered, NoMembers, RawClaims, Slots, Text, parse};
use crate::access::borrowed::Audiences;
use crate::error::Malformed;

/// Parses a claims object as [`parse`] does, reading the registered claims
/// without serde when they come exactly as [`crate::access::sign`] writes
/// them: `{"sub":…,"sid":…,"iat":…,"exp":…,"jti":…[,"iss":…][,"aud":…]`,
/// no whitespace, strings without escapes, integers without leading zeros.
/// The application's members that follow are read by serde_json as a
/// continuation of the same object (its `,` made a `{`), with those
/// registered claims already in their slots, so a second `sub` is still a
/// duplicate and `C` still sees only its own members.
///
/// Whenever the payload leaves that shape, or anything fails, it is parsed
/// by [`parse`] from the start, so the result is always [`parse`]'s: the
/// fast path accepts only payloads on which both agree (the unit tests
/// compare the two on edited payloads; the `verify_access` fuzz target
/// checks every accepted claim against serde_json's own reading).
///
/// `json` is not restored: the claims returned may borrow from it, so it
/// cannot be written again. When the fast path fails after its write,
/// [`parse`] reads the pristine copy `again` gives instead (the payload
/// decoded a second time); when it fails before, `json` itself.
pub(crate) fn parse_fast<'a, C: Deserialize<'a>>(
    json: &'a mut [u8],
    again: impl FnOnce() -> Result<&'a [u8], Malformed>,
) -> Result<RawClaims<'a, C>, Malformed> {
    match parse_ours(json) {
        Ok(raw) => Ok(raw),
        Err(Some(intact)) => parse(intact),
        Err(None) => parse(again()?),
    }
}

/// The fast path proper. `Err(Some(json))` hands the payload back untouched
/// (it is not our shape); `Err(None)` means it was written to.
pub(super) fn parse_ours<'a, C: Deserialize<'a>>(
    json: &'a mut [u8],
) -> Result<RawClaims<'a, C>, Option<&'a [u8]>> {
    let Some(spans) = registered(json) else {
        return Err(Some(json));
    };
    let Spans {
        sub,
        sid,
        iat,
        exp,
        jti,
        iss,
        aud,
        rest,
    } = spans;
    let (head, tail) = json.split_at_mut(rest);
    // Every byte read so far is ASCII but for the strings' contents; one
    // check of the whole head validates them all.
    let head = core::str::from_utf8(head).map_err(|_| None)?;
    let field = |(start, end): (usize, usize)| head.get(start..end).ok_or(None);
    let mut slots = Slots {
        sub: Some(Text(Cow::Borrowed(field(sub)?))),
        sid: Some(field(sid)?.parse().map_err(|_| None)?),
        iat: Some(iat),
        exp: Some(exp),
        jti: Some(Text(Cow::Borrowed(field(jti)?))),
        nbf: None,
        iss: match iss {
            Some(iss) => Some(Some(Text(Cow::Borrowed(field(iss)?)))),
            None => None,
        },
        aud: match aud {
            Some(aud) => Some(Some(Audience(Audiences::one(Cow::Borrowed(field(aud)?))))),
            None => None,
        },
    };
    let extra = match tail {
        // The object ends here, and the payload with it.
        [b'}'] => C::deserialize(Filtered {
            map: &mut NoMembers,
            slots: &mut slots,
        })
        .map_err(|_| None)?,
        [comma @ b',', after @ ..] => {
            // A member must follow the comma, as in the whole object.
            if after.iter().find(|b| !b" \t\n\r".contains(b)) != Some(&b'"') {
                return Err(None);
            }
            *comma = b'{';
            continue_object(tail, &mut slots).ok_or(None)?
        }
        _ => return Err(None),
    };
    slots
        .finish::<C, serde_json::Error>(extra)
        .map_err(|_| None)
}

/// Where [`registered`] found the registered claims: the spans of the
/// strings' contents, the integers, and where the rest of the object begins.
struct Spans {
    sub: (usize, usize),
    sid: (usize, usize),
    iat: u64,
    exp: u64,
    jti: (usize, usize),
    iss: Option<(usize, usize)>,
    aud: Option<(usize, usize)>,
    rest: usize,
}

/// Reads the registered claims at the start of `json`, if they are laid
/// out as [`sign`](crate::access::sign) writes them.
fn registered(json: &[u8]) -> Option<Spans> {
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
    Some(Spans {
        sub,
        sid,
        iat,
        exp,
        jti,
        iss,
        aud,
        rest: at.pos,
    })
}

/// Reads the rest of the object (`{` + the members after the registered
/// ones) into `slots` and the application's claims.
fn continue_object<'a, C: Deserialize<'a>>(json: &'a [u8], slots: &mut Slots<'a>) -> Option<C> {
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

/// A position in a payload being read by [`registered`].
struct Cursor<'a> {
    json: &'a [u8],
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
