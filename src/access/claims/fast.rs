//! The fast path of claims parsing: the registered claims read without
//! serde when they come exactly as [`sign`](crate::access::sign) writes
//! them, the rest handed to serde_json as a continuation of the object.

use alloc::borrow::Cow;
use core::marker::PhantomData;

use serde::Deserializer;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, Deserialize, DeserializeSeed, MapAccess, Visitor};

use super::{Audience, ClaimsVisitor, Filtered, NoMembers, RawClaims, Slots, Text, parse};
use crate::access::borrowed::Audiences;
use crate::encoding;
use crate::error::Malformed;
use crate::id::SessionId;

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
    // What follows the registered claims: the end, members `C` can read in
    // place, or anything else, read by serde_json as the object's rest.
    let mut members = Members::new();
    let flat = flat_members(json.get(rest..).ok_or(None)?, &mut members);
    // Every byte read so far is ASCII but for the strings' contents: one
    // check validates them all (and the members, when read in place).
    let (head, after) = if flat || json.get(rest..) == Some(b"}") {
        let text = core::str::from_utf8(json).map_err(|_| None)?;
        let (head, tail) = text.split_at_checked(rest).ok_or(None)?;
        (head, if flat { Rest::Flat(tail) } else { Rest::End })
    } else {
        let (head, tail) = json.split_at_mut(rest);
        let head = core::str::from_utf8(head).map_err(|_| None)?;
        (head, Rest::Object(tail))
    };
    let field = |(start, end): (usize, usize)| head.get(start..end).ok_or(None);
    let sid = head.as_bytes().get(sid.0..sid.1).ok_or(None)?;
    let mut slots = Slots {
        sub: Some(Text(Cow::Borrowed(field(sub)?))),
        sid: Some(SessionId::from_bytes(
            encoding::decode_array(sid).map_err(|_| None)?,
        )),
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
    let extra = match after {
        // The object ends here, and the payload with it.
        Rest::End => C::deserialize(Filtered {
            map: &mut NoMembers,
            slots: &mut slots,
        })
        .map_err(|_| None)?,
        // Only `"name":"text"` members follow, as `sign` writes them when
        // the application's claims are strings: `C` reads them in place.
        Rest::Flat(text) => C::deserialize(Filtered {
            map: &mut FlatMembers {
                text,
                members: members.spans.get(..members.len).ok_or(None)?,
                next: 0,
            },
            slots: &mut slots,
        })
        .map_err(|_| None)?,
        Rest::Object(tail) => {
            // A member must follow the comma, as in the whole object.
            let [b',', after @ ..] = &*tail else {
                return Err(None);
            };
            if after.iter().find(|b| !b" \t\n\r".contains(b)) != Some(&b'"') {
                return Err(None);
            }
            tail[0] = b'{';
            continue_object(tail, &mut slots).ok_or(None)?
        }
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
    // Each name with the quote that opens its string: one 8-byte compare.
    let sub = at.string_after(b"{\"sub\":\"")?;
    let sid = at.string_after(b",\"sid\":\"")?;
    at.literal(b",\"iat\":")?;
    let iat = at.integer()?;
    at.literal(b",\"exp\":")?;
    let exp = at.integer()?;
    let jti = at.string_after(b",\"jti\":\"")?;
    let iss = at.string_after(b",\"iss\":\"");
    let aud = at.string_after(b",\"aud\":\"");
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

/// The most application members [`flat_members`] keeps track of.
const MAX_FLAT: usize = 8;

/// The application members after the registered claims, when there are at
/// most [`MAX_FLAT`] of them and each is `,"name":"text"` with no escape,
/// no control character and no whitespace, no name a registered claim's,
/// and `}` ends the payload: the spans of each name and text.
struct Members {
    spans: [Member; MAX_FLAT],
    len: usize,
}

/// The spans of one member's name and text, in the tail of the payload.
#[derive(Clone, Copy, Default)]
struct Member {
    name: (usize, usize),
    text: (usize, usize),
}

/// Whether `tail` holds only such members; if so they are in `members`.
fn flat_members(tail: &[u8], members: &mut Members) -> bool {
    let mut at = Cursor { json: tail, pos: 0 };
    let mut next = || -> Option<bool> {
        at.literal(b",")?;
        let name = at.plain_string()?;
        if super::Key::registered_bytes(tail.get(name.0..name.1)?) {
            return None;
        }
        at.literal(b":")?;
        let text = at.plain_string()?;
        *members.spans.get_mut(members.len)? = Member { name, text };
        members.len += 1;
        Some(tail.get(at.pos..)? == b"}")
    };
    loop {
        match next() {
            Some(true) => return true,
            Some(false) => {}
            None => return false,
        }
    }
}

impl Members {
    fn new() -> Self {
        Self {
            spans: [Member::default(); MAX_FLAT],
            len: 0,
        }
    }
}

/// What follows the registered claims, as [`parse_ours`] reads it.
enum Rest<'a> {
    /// `}`, the end of the payload.
    End,
    /// Members [`flat_members`] found, as text.
    Flat(&'a str),
    /// Anything else, for serde_json.
    Object(&'a mut [u8]),
}

/// The members [`flat_members`] found, as a map of borrowed strings.
struct FlatMembers<'a, 'm> {
    text: &'a str,
    members: &'m [Member],
    next: usize,
}

impl<'a> MapAccess<'a> for FlatMembers<'a, '_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some(member) = self.members.get(self.next) else {
            return Ok(None);
        };
        let name = self.text.get(member.name.0..member.name.1);
        let name = name.ok_or_else(|| de::Error::custom("span"))?;
        seed.deserialize(BorrowedStrDeserializer::new(name))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let member = self.members.get(self.next);
        let text = member.and_then(|m| self.text.get(m.text.0..m.text.1));
        let text = text.ok_or_else(|| de::Error::custom("no value"))?;
        self.next += 1;
        seed.deserialize(PlainText(text))
    }
}

/// A JSON string value without escapes, read as serde_json reads one.
struct PlainText<'de>(&'de str);

impl<'de> Deserializer<'de> for PlainText<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_borrowed_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_borrowed_bytes(self.0.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_borrowed_bytes(self.0.as_bytes())
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        BorrowedStrDeserializer::new(self.0).deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
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
    /// Consumes `lit` if the payload continues with it: a fixed-size
    /// comparison, not a call to `memcmp`.
    #[inline(always)]
    fn literal<const N: usize>(&mut self, lit: &[u8; N]) -> Option<()> {
        let end = self.pos.checked_add(N)?;
        let next: &[u8; N] = self.json.get(self.pos..end)?.try_into().ok()?;
        (next == lit).then(|| self.pos = end)
    }

    /// A string with no escape and no control character: the span of its
    /// contents (not yet checked to be UTF-8).
    fn plain_string(&mut self) -> Option<(usize, usize)> {
        self.string_after(b"\"")
    }

    /// [`plain_string`](Cursor::plain_string) after `lit`, which ends with
    /// the string's opening quote. Nothing is consumed unless both are there.
    #[inline(always)]
    fn string_after<const N: usize>(&mut self, lit: &[u8; N]) -> Option<(usize, usize)> {
        let before = self.pos;
        self.literal(lit)?;
        let string = self.string_rest();
        if string.is_none() {
            self.pos = before;
        }
        string
    }

    /// The rest of a string whose opening quote was just consumed.
    fn string_rest(&mut self) -> Option<(usize, usize)> {
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
        // One pass: up to 19 digits always fit; a 20th may overflow, and a
        // 21st always does.
        let (mut n, mut len) = (0u64, 0usize);
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = if len < 19 {
                n * 10 + u64::from(d)
            } else {
                n.checked_mul(10)?.checked_add(u64::from(d))?
            };
            len += 1;
        }
        if len == 0 || (len > 1 && digits[0] == b'0') {
            return None;
        }
        self.pos += len;
        Some(n)
    }
}
