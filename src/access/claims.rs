//! Single-pass deserialisation of access-token claims.
//!
//! The registered claims (`sub`, `sid`, `iat`, `exp`, `jti`, `nbf`, `iss`,
//! `aud`) and the application's claims `C` share one JSON object. serde's
//! `#[serde(flatten)]` would buffer every unknown member before handing them
//! to `C`; instead `C` is given a view of the object from which the
//! registered members are filtered out as they stream past, so the payload
//! is read once and nothing is buffered. A registered member that appears
//! twice is refused, as serde's derive would. Strings are borrowed from the
//! payload unless they hold escapes.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use super::borrowed::Audiences;
use crate::error::Malformed;
use crate::id::SessionId;

pub(super) mod fast;

/// The claims as they appear in the token, before any check.
pub(crate) struct RawClaims<'a, C> {
    pub(crate) sub: Cow<'a, str>,
    pub(crate) sid: SessionId,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) jti: Cow<'a, str>,
    pub(crate) nbf: Option<u64>,
    pub(crate) iss: Option<Cow<'a, str>>,
    pub(crate) aud: Audiences<'a>,
    pub(crate) extra: C,
}

/// Parses a claims object (the decoded JWT payload).
pub(crate) fn parse<'a, C: Deserialize<'a>>(json: &'a [u8]) -> Result<RawClaims<'a, C>, Malformed> {
    let mut slots = Slots::default();
    let mut de = serde_json::Deserializer::from_slice(json);
    let extra = de
        .deserialize_map(ClaimsVisitor {
            slots: &mut slots,
            claims: PhantomData,
        })
        .map_err(|_| Malformed::Claims)?;
    de.end().map_err(|_| Malformed::Claims)?;
    slots
        .finish::<C, serde_json::Error>(extra)
        .map_err(|_| Malformed::Claims)
}

/// An object with no members left, for `C` when the payload has none of its.
struct NoMembers;

impl<'de> MapAccess<'de> for NoMembers {
    type Error = serde_json::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        _: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        Ok(None)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("no value"))
    }
}

/// Registered claims seen so far. Optional claims are `Option<Option<_>>`
/// so that an explicit `null` counts as present (for the duplicate check)
/// but absent in value, exactly as serde's derive treats `Option` fields.
#[derive(Default)]
struct Slots<'de> {
    sub: Option<Text<'de>>,
    sid: Option<SessionId>,
    iat: Option<u64>,
    exp: Option<u64>,
    jti: Option<Text<'de>>,
    nbf: Option<Option<u64>>,
    iss: Option<Option<Text<'de>>>,
    aud: Option<Option<Audience<'de>>>,
}

pub(super) enum Key<'de> {
    Sub,
    Sid,
    Iat,
    Exp,
    Jti,
    Nbf,
    Iss,
    Aud,
    Other(Cow<'de, str>),
}

impl<'de> Slots<'de> {
    /// Reads the value of registered `key` from `map` into its slot.
    fn fill<A: MapAccess<'de>>(&mut self, key: Key<'de>, map: &mut A) -> Result<(), A::Error> {
        fn put<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
            slot: &mut Option<T>,
            name: &'static str,
            map: &mut A,
        ) -> Result<(), A::Error> {
            if slot.is_some() {
                return Err(de::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }
        match key {
            Key::Sub => put(&mut self.sub, "sub", map),
            Key::Sid => put(&mut self.sid, "sid", map),
            Key::Iat => put(&mut self.iat, "iat", map),
            Key::Exp => put(&mut self.exp, "exp", map),
            Key::Jti => put(&mut self.jti, "jti", map),
            Key::Nbf => put(&mut self.nbf, "nbf", map),
            Key::Iss => put(&mut self.iss, "iss", map),
            Key::Aud => put(&mut self.aud, "aud", map),
            Key::Other(_) => map.next_value::<IgnoredAny>().map(|_| ()),
        }
    }

    fn finish<C, E: de::Error>(self, extra: C) -> Result<RawClaims<'de, C>, E> {
        let aud = match self.aud.flatten() {
            None => Audiences::default(),
            Some(Audience(aud)) => aud,
        };
        Ok(RawClaims {
            sub: self.sub.ok_or_else(|| E::missing_field("sub"))?.0,
            sid: self.sid.ok_or_else(|| E::missing_field("sid"))?,
            iat: self.iat.ok_or_else(|| E::missing_field("iat"))?,
            exp: self.exp.ok_or_else(|| E::missing_field("exp"))?,
            jti: self.jti.ok_or_else(|| E::missing_field("jti"))?.0,
            nbf: self.nbf.flatten(),
            iss: self.iss.flatten().map(|t| t.0),
            aud,
            extra,
        })
    }
}

/// Reads a claims object into `slots` (empty, or holding what
/// [`parse_ours`](fast::parse_ours) read before the object's application
/// members).
struct ClaimsVisitor<'s, 'de, C> {
    slots: &'s mut Slots<'de>,
    claims: PhantomData<C>,
}

impl<'de, C: Deserialize<'de>> Visitor<'de> for ClaimsVisitor<'_, 'de, C> {
    /// The application's claims; the registered ones are left in the slots.
    type Value = C;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<C, A::Error> {
        let extra = C::deserialize(Filtered {
            map: &mut map,
            slots: self.slots,
        })?;
        // `C` may have stopped early (a unit, or a visitor that returns
        // before the end): read what is left, still filling the slots.
        while let Some(key) = map.next_key::<Key<'de>>()? {
            self.slots.fill(key, &mut map)?;
        }
        Ok(extra)
    }
}

/// The claims object as `C` sees it: registered members filtered out.
struct Filtered<'a, 'de, A> {
    map: &'a mut A,
    slots: &'a mut Slots<'de>,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Filtered<'_, 'de, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        // `()`: no application claims; the caller reads the rest.
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf seq tuple tuple_struct map struct enum identifier
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Filtered<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<Key<'de>>()? {
            match key {
                Key::Other(Cow::Borrowed(name)) => {
                    return seed
                        .deserialize(BorrowedStrDeserializer::new(name))
                        .map(Some);
                }
                Key::Other(Cow::Owned(name)) => {
                    return seed.deserialize(StringDeserializer::new(name)).map(Some);
                }
                registered => self.slots.fill(registered, self.map)?,
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::registered(v).unwrap_or(Key::Other(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::registered(v).unwrap_or_else(|| Key::Other(Cow::Owned(String::from(v)))))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl Key<'_> {
    /// Whether `name` is a registered claim's.
    fn registered_bytes(name: &[u8]) -> bool {
        core::str::from_utf8(name).is_ok_and(|n| Key::registered(n).is_some())
    }

    fn registered(name: &str) -> Option<Self> {
        // Every registered name is three bytes: the length test sends other
        // keys away at once; the rest compares a 3-byte array.
        let &[a, b, c] = name.as_bytes() else {
            return None;
        };
        Some(match &[a, b, c] {
            b"sub" => Key::Sub,
            b"sid" => Key::Sid,
            b"iat" => Key::Iat,
            b"exp" => Key::Exp,
            b"jti" => Key::Jti,
            b"nbf" => Key::Nbf,
            b"iss" => Key::Iss,
            b"aud" => Key::Aud,
            _ => return None,
        })
    }
}

/// A JSON string, borrowed from the payload when it has no escapes (serde's
/// own `Cow<str>` always copies).
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor).map(Text)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(String::from(v)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
struct Audience<'de>(Audiences<'de>);

impl<'de> Deserialize<'de> for Audience<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AudVisitor;
        impl<'de> Visitor<'de> for AudVisitor {
            type Value = Audience<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                TextVisitor
                    .visit_borrowed_str(v)
                    .map(|a| Audience(Audiences::one(a)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                TextVisitor
                    .visit_str(v)
                    .map(|a| Audience(Audiences::one(a)))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut all = Vec::new();
                while let Some(Text(a)) = seq.next_element::<Text<'de>>()? {
                    all.push(a);
                }
                Ok(Audience(Audiences::many(all)))
            }
        }
        d.deserialize_any(AudVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::fast::{first_special, parse_fast, parse_ours};
    use super::*;
    use serde::Deserialize;

    const BASE: &str = r#""sub":"a","sid":"AAAAAAAAAAAAAAAAAAAAAA","iat":1,"exp":2,"jti":"j""#;

    fn obj(extra: &str) -> alloc::string::String {
        alloc::format!("{{{BASE}{extra}}}")
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Role {
        role: String,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        role: String,
    }

    #[test]
    fn registered_and_application_claims_are_separated() {
        let json = obj(r#","role":"r","iss":"i","aud":["x","y"]"#);
        let raw = parse::<Role>(json.as_bytes()).unwrap();
        assert_eq!((&*raw.sub, raw.iat, raw.exp, &*raw.jti), ("a", 1, 2, "j"));
        assert_eq!(raw.extra, Role { role: "r".into() });
        assert_eq!(raw.iss.as_deref(), Some("i"));
        assert_eq!(raw.aud.iter().collect::<Vec<_>>(), ["x", "y"]);
        // The application type never sees registered claims.
        let json = obj(r#","role":"r","nbf":1"#);
        let strict = parse::<Strict>(json.as_bytes()).unwrap();
        assert_eq!(strict.extra.role, "r");
        assert_eq!(strict.nbf, Some(1));
    }

    #[test]
    fn unit_and_maps_take_what_is_there() {
        let json = obj(r#","role":"r","aud":"x","nbf":null"#);
        let raw = parse::<()>(json.as_bytes()).unwrap();
        assert_eq!(raw.aud.iter().collect::<Vec<_>>(), ["x"]);
        assert_eq!(raw.nbf, None);
        let json = obj(r#","r\u00f6le":"r","n":{"deep":[1]}"#);
        let map = parse::<serde_json::Map<String, serde_json::Value>>(json.as_bytes()).unwrap();
        assert_eq!(map.extra.len(), 2);
        assert!(map.extra.contains_key("röle"));
    }

    /// Everything `RawClaims` holds, comparable.
    fn seen<C: core::fmt::Debug>(r: &Result<RawClaims<'_, C>, Malformed>) -> String {
        match r {
            Ok(r) => alloc::format!(
                "{:?} {:?} {} {} {:?} {:?} {:?} {:?} {:?}",
                r.sub,
                r.sid.as_bytes(),
                r.iat,
                r.exp,
                r.jti,
                r.nbf,
                r.iss,
                r.aud,
                r.extra
            ),
            Err(e) => alloc::format!("error {e:?}"),
        }
    }

    /// The fast path agrees with the general one on `json` for three
    /// application claim types, whether it gives up before writing to the
    /// payload (and the general parser reads it as it is) or after (and the
    /// general parser reads a fresh copy). Returns whether the fast path
    /// itself accepted it.
    fn agree(json: &[u8]) -> bool {
        type Map = serde_json::Map<String, serde_json::Value>;
        fn check<'a, C: Deserialize<'a> + core::fmt::Debug>(json: &'a [u8], copy: &'a mut [u8]) {
            let fast = seen(&parse_fast::<C>(copy, || Ok(json)));
            assert_eq!(
                fast,
                seen(&parse::<C>(json)),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        check::<Role>(json, &mut json.to_vec());
        check::<()>(json, &mut json.to_vec());
        check::<Map>(json, &mut json.to_vec());
        check::<Borrows<'_>>(json, &mut json.to_vec());
        check::<Rich<'_>>(json, &mut json.to_vec());
        // Given back untouched whenever it was not written to.
        let mut copy = json.to_vec();
        match parse_ours::<Map>(&mut copy) {
            Ok(_) => true,
            Err(Some(intact)) => {
                assert_eq!(intact, json);
                false
            }
            Err(None) => false,
        }
    }

    /// Application claims read through options, enums and bytes, as
    /// serde_json would hand them over.
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Rich<'a> {
        #[serde(borrow)]
        role: Option<Cow<'a, str>>,
        #[serde(default)]
        kind: Option<Kind>,
        #[serde(default, borrow)]
        raw: Option<&'a [u8]>,
        #[serde(default)]
        n: Option<u8>,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    enum Kind {
        A,
        B(u8),
    }

    /// Application claims that borrow where they can.
    #[derive(Deserialize, Debug)]
    struct Borrows<'a> {
        #[serde(borrow)]
        role: Cow<'a, str>,
    }

    const OURS: &str = r#"{"sub":"4f1c2e9a-7d3b-4c8e-9a1f-2b3c4d5e6f70","sid":"AAAAAAAAAAAAAAAAAAAAAA","iat":1764000000,"exp":1764000900,"jti":"BBBBBBBBBBBBBBBBBBBBBB","iss":"https://auth.example.com","aud":"https://api.example.com","role":"editor"}"#;

    #[test]
    fn strings_without_escapes_are_borrowed_and_escaped_ones_owned() {
        #[allow(clippy::ptr_arg)] // whether it borrows is the question
        fn borrowed(s: &Cow<'_, str>) -> bool {
            matches!(s, Cow::Borrowed(_))
        }
        let mut copy = OURS.as_bytes().to_vec();
        let raw = parse_ours::<Borrows<'_>>(&mut copy).ok().unwrap();
        assert!(borrowed(&raw.sub) && borrowed(&raw.jti) && borrowed(&raw.extra.role));
        assert!(raw.iss.as_ref().is_some_and(borrowed));
        assert_eq!(
            raw.aud.iter().collect::<Vec<_>>(),
            ["https://api.example.com"]
        );
        assert_eq!(raw.extra.role, "editor");
        // The general parser borrows the same way, and unescapes into a copy.
        let escaped = OURS
            .replace(r#""sub":"4f"#, r#""sub":"\u0034f"#)
            .replace("editor", "edi\\tor");
        let raw = parse::<Borrows<'_>>(escaped.as_bytes()).unwrap();
        assert!(!borrowed(&raw.sub) && !borrowed(&raw.extra.role));
        assert!(borrowed(&raw.jti) && raw.iss.as_ref().is_some_and(borrowed));
        assert!(raw.sub.starts_with("4f1c") && raw.extra.role == "edi\tor");
    }

    #[test]
    fn special_bytes_are_found_in_every_position() {
        for len in 0..20 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    for filler in [b'a', 0x20, 0x7f, 0x80, 0xff, b'!', b'#', b']'] {
                        let mut bytes = alloc::vec![filler; len];
                        if at < len {
                            bytes[at] = special;
                            // A second special later never hides the first.
                            if at + 1 < len {
                                bytes[at + 1] = b'"';
                            }
                        }
                        let want = bytes
                            .iter()
                            .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
                        assert_eq!(first_special(&bytes), want, "{bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn our_own_payloads_take_the_fast_path_and_agree() {
        assert!(agree(OURS.as_bytes()));
        let minimal = r#"{"sub":"a","sid":"AAAAAAAAAAAAAAAAAAAAAA","iat":0,"exp":18446744073709551615,"jti":"j"}"#;
        assert!(agree(minimal.as_bytes()));
        let no_iss = OURS.replace(r#""iss":"https://auth.example.com","#, "");
        assert!(agree(no_iss.as_bytes()));
        let unicode = OURS.replace("4f1c2e9a", "bj\u{f6}rk \u{1F600}");
        assert!(agree(unicode.as_bytes()));
        for members in [
            r#","role":"editor","kind":"A","raw":"xyz","team":"t\u{f6}"}"#,
            r#","kind":"B","role":"r"}"#,
            r#","n":"7","role":"r"}"#,
            r#","role":"a","role":"b"}"#,
            r#","role":"r","sub":"again"}"#,
            r#","role":"r","a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7"}"#,
            r#","role":"r","a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8"}"#,
            r#","role":"r","kind":7}"#,
            r#","role":"r","kind":"C"}"#,
            r#","role":"r",}"#,
            r#","role":"r"} "#,
            r#","role":"r""#,
            r#","role":"r}"#,
            r#","role"#,
        ] {
            agree(OURS.replace(r#","role":"editor"}"#, members).as_bytes());
        }
    }

    #[test]
    fn payloads_off_the_fast_path_agree_with_the_general_one() {
        let cases = [
            // Not the fast path's shape: the general parser decides.
            OURS.replace(r#""sub":"4f"#, r#""sub":"\u0034f"#),
            OURS.replace(r#"{"sub""#, r#"{ "sub""#),
            OURS.replace(r#""iat":1764000000"#, r#""iat":01764000000"#),
            OURS.replace(r#""iat":1764000000"#, r#""iat":1764000000.0"#),
            OURS.replace(r#""iat":1764000000"#, r#""iat":1e9"#),
            OURS.replace(r#""iat":1764000000"#, r#""iat":18446744073709551616"#),
            OURS.replace(r#""iat":1764000000"#, r#""iat":-1"#),
            OURS.replace(r#""aud":"https://api.example.com""#, r#""aud":["a","b"]"#),
            OURS.replace(r#","role":"editor"}"#, ",}"),
            OURS.replace(r#","role":"editor"}"#, ", }"),
            OURS.replace(r#","role":"editor"}"#, "}"),
            OURS.replace(r#","role":"editor"}"#, "} "),
            OURS.replace(r#","role":"editor"}"#, "}x"),
            OURS.replace(r#","role":"editor"}"#, r#","role":"editor"} "#),
            OURS.replace(r#","role":"editor"}"#, r#","role":"editor"}}"#),
            OURS.replace(r#","role":"editor"}"#, r#", "role" : "editor" }"#),
            OURS.replace(r#","role":"editor"}"#, r#","role":"editor","sub":"b"}"#),
            OURS.replace(r#","role":"editor"}"#, r#","role":"editor","iss":"x"}"#),
            OURS.replace(r#","role":"editor"}"#, r#","role":"editor","nbf":5}"#),
            OURS.replace(r#","role":"editor"}"#, r#","role":"editor","role":"x"}"#),
            OURS.replace(r#","role":"editor"}"#, r#","role":7}"#),
            OURS.replace(
                r#","role":"editor"}"#,
                r#","n":{"deep":[1,{"x":null}]},"role":"r"}"#,
            ),
            OURS.replace(r#""iss":"https://auth.example.com","#, ""),
            OURS.replace(
                r#""iss":"https://auth.example.com","aud":"https://api.example.com","#,
                r#""aud":"x","iss":"y","#,
            ),
            OURS.replace(r#""sid":"AAAAAAAAAAAAAAAAAAAAAA""#, r#""sid":"AAAA""#),
            OURS.replace("editor", "ed\u{7}itor"),
            OURS.replace("4f1c", "4f\u{1}c"),
            OURS.replace("4f1c", "4f\\c"),
            OURS.replace(r#""exp":1764000900,"#, ""),
            OURS.replace(r#""jti":"BBBBBBBBBBBBBBBBBBBBBB""#, r#""jti":null"#),
            String::from("{}"),
            String::from(""),
            String::from("{"),
        ];
        for case in &cases {
            agree(case.as_bytes());
        }
        // Bytes that are not UTF-8 inside a string.
        let mut bad = OURS.as_bytes().to_vec();
        bad[10] = 0xff;
        assert!(!agree(&bad));
    }

    proptest::proptest! {
        /// Random edits of our own payload: the two parsers always agree.
        #[test]
        fn edits_of_our_payload_agree(
            edits in proptest::collection::vec(
                (0usize..400, proptest::sample::select(alloc::vec![
                    b'"', b'\\', b',', b'{', b'}', b' ', b'0', b'1', b'-', b'.', b'e',
                    b':', b'[', b']', b'a', 0x01, 0xc3, 0xff,
                ]), 0u8..3),
                1..4,
            )
        ) {
            let mut json = OURS.as_bytes().to_vec();
            for (at, byte, how) in edits {
                let at = at % (json.len() + 1);
                match how {
                    0 => json.insert(at, byte),
                    1 if at < json.len() => json[at] = byte,
                    _ if at < json.len() => { json.remove(at); }
                    _ => {}
                }
            }
            agree(&json);
        }
    }

    #[test]
    fn duplicates_missing_and_wrong_types_are_refused() {
        for bad in [
            obj(r#","exp":3"#),
            obj(r#","role":"r","sub":"b""#),
            obj(r#","nbf":null,"nbf":1"#),
            obj(r#","iat2":1,"e\u0078p":5"#),
            String::from(r#"{"sub":"a","iat":1,"exp":2,"jti":"j"}"#),
            obj(r#","aud":7"#),
            String::from(
                r#"{"sub":"a","sid":"AAAAAAAAAAAAAAAAAAAAAA","iat":1,"exp":2.5,"jti":"j"}"#,
            ),
            String::from(
                r#"{"sub":"a","sid":"AAAAAAAAAAAAAAAAAAAAAA","iat":1,"exp":-2,"jti":"j"}"#,
            ),
            String::from(
                r#"{"sub":"a","sid":"AAAAAAAAAAAAAAAAAAAAAA","iat":1,"exp":"2","jti":"j"}"#,
            ),
            obj("} "),
            String::from("[]"),
        ] {
            assert!(
                parse::<Role>(bad.as_bytes()).is_err() || parse::<()>(bad.as_bytes()).is_err(),
                "{bad}"
            );
            assert!(parse::<()>(bad.as_bytes()).is_err(), "{bad}");
        }
        // An application claim missing is the application type's error.
        assert!(parse::<Role>(obj("").as_bytes()).is_err());
    }
}
