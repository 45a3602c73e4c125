//! A [`Session`] as [`MemoryStore`](super::MemoryStore) keeps it: fixed
//! fields packed into three cache lines (192 bytes, aligned), the variable
//! ones (subject, claims, metadata) inline when they fit in the 46 bytes
//! left, in one allocation otherwise.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::RevokeReason;
use crate::id::SessionId;
use crate::keys::KeyId;
use crate::refresh::SecretHash;
use crate::session::{Metadata, Revocation, Session};
use crate::time::UnixMillis;

/// The bits of [`Record::flags`].
const HAS_PREVIOUS: u8 = 1;
const HAS_ABSOLUTE: u8 = 1 << 1;
const REVOKED: u8 = 1 << 2;
/// `Some` claims (possibly empty) follow the subject in `text`.
const HAS_CLAIMS: u8 = 1 << 3;
/// The slot holds no session (purged, waiting for reuse).
const VACANT: u8 = 1 << 4;
/// [`Record::subject_len`] of a subject this long or longer, which `text`
/// then starts with as a netstring.
const LONG: u16 = u16::MAX;

/// Aligned to a cache line, so that loading a record touches exactly three
/// lines, and (with its text inline) nothing else: at a million sessions
/// every line of a load is a cache miss.
#[derive(Debug)]
#[repr(align(64))]
pub(super) struct Record {
    /// Kept here so that the id index holds only a slot number.
    pub(super) id: SessionId,
    pub(super) version: u64,
    generation: u64,
    current_hash: [u8; 32],
    previous_hash: [u8; 32],
    created_at: u64,
    rotated_at: u64,
    idle_expires_at: u64,
    absolute_expires_at: u64,
    revoked_at: u64,
    /// The subject, then the claims (if any) and the metadata keys and
    /// values, each of these as a netstring (`<len>:<bytes>`).
    text: Text,
    /// The subject's length, so that reaching it parses nothing; [`LONG`]
    /// for a subject that is a netstring too.
    subject_len: u16,
    /// The key id's position in the shard's interned list.
    key: u32,
    flags: u8,
    reason: u8,
}

impl Record {
    pub(super) fn new(session: Session, key_ids: &mut Vec<KeyId>) -> Self {
        let mut record = Self {
            id: session.id,
            version: 0,
            generation: 0,
            current_hash: [0; 32],
            previous_hash: [0; 32],
            created_at: 0,
            rotated_at: 0,
            idle_expires_at: 0,
            absolute_expires_at: 0,
            revoked_at: 0,
            text: Text::default(),
            subject_len: 0,
            key: 0,
            flags: 0,
            reason: 0,
        };
        record.subject_len = u16::try_from(session.subject.len()).unwrap_or(LONG);
        record.text = encode(
            &session.subject,
            record.subject_len,
            session.claims.as_deref(),
            &session.metadata,
        );
        record.set(&session, key_ids);
        record
    }

    /// Takes every field of `next` but the id and the subject (which never
    /// change). The text is rewritten only when claims or metadata changed,
    /// so a plain refresh allocates nothing here.
    pub(super) fn update(&mut self, next: &Session, key_ids: &mut Vec<KeyId>) {
        if !self.extras_are(next.claims.as_deref(), &next.metadata) {
            let text = encode(
                self.subject(),
                self.subject_len,
                next.claims.as_deref(),
                &next.metadata,
            );
            self.text = text;
        }
        self.set(next, key_ids);
    }

    /// The scalar fields, and the flags describing `text`.
    fn set(&mut self, next: &Session, key_ids: &mut Vec<KeyId>) {
        self.key = intern(key_ids, &next.key_id);
        self.version = next.version;
        self.generation = next.generation;
        self.current_hash = next.current_hash.0;
        self.previous_hash = next.previous_hash.map_or([0; 32], |h| h.0);
        self.created_at = next.created_at.as_millis();
        self.rotated_at = next.rotated_at.as_millis();
        self.idle_expires_at = next.idle_expires_at.as_millis();
        self.absolute_expires_at = next.absolute_expires_at.map_or(0, UnixMillis::as_millis);
        self.revoked_at = next.revoked.map_or(0, |r| r.at.as_millis());
        self.reason = next.revoked.map_or(0, |r| reason_code(r.reason));
        self.flags = flag(next.previous_hash.is_some(), HAS_PREVIOUS)
            | flag(next.absolute_expires_at.is_some(), HAS_ABSOLUTE)
            | flag(next.revoked.is_some(), REVOKED)
            | flag(next.claims.is_some(), HAS_CLAIMS);
    }

    pub(super) fn to_session(&self, key_ids: &[KeyId]) -> Session {
        let mut fields = Fields::of(self);
        let subject = String::from(fields.subject);
        let claims = fields.claims.map(String::from);
        let mut metadata = Metadata::new();
        while let Some(key) = fields.next() {
            let value = fields.next().unwrap_or_default();
            metadata.push((key.into(), value.into()));
        }
        Session {
            id: self.id,
            subject,
            version: self.version,
            generation: self.generation,
            key_id: key_ids[self.key as usize].clone(),
            current_hash: SecretHash(self.current_hash),
            previous_hash: self
                .has(HAS_PREVIOUS)
                .then_some(SecretHash(self.previous_hash)),
            created_at: UnixMillis(self.created_at),
            rotated_at: UnixMillis(self.rotated_at),
            idle_expires_at: UnixMillis(self.idle_expires_at),
            absolute_expires_at: self
                .has(HAS_ABSOLUTE)
                .then_some(UnixMillis(self.absolute_expires_at)),
            revoked: self.has(REVOKED).then_some(Revocation {
                at: UnixMillis(self.revoked_at),
                reason: reason_of(self.reason),
            }),
            claims,
            metadata,
        }
    }

    pub(super) fn subject(&self) -> &str {
        Fields::of(self).subject
    }

    /// As [`Session::expires_at`], in milliseconds.
    pub(super) fn expires_at(&self) -> u64 {
        if self.has(HAS_ABSOLUTE) {
            self.absolute_expires_at.min(self.idle_expires_at)
        } else {
            self.idle_expires_at
        }
    }

    /// Its revocation, unless it is vacant or not revoked.
    pub(super) fn revocation(&self) -> Option<Revocation> {
        (self.has(REVOKED) && !self.has(VACANT)).then(|| Revocation {
            at: UnixMillis(self.revoked_at),
            reason: reason_of(self.reason),
        })
    }

    pub(super) fn is_vacant(&self) -> bool {
        self.has(VACANT)
    }

    /// Frees its text and marks the slot free.
    pub(super) fn vacate(&mut self) {
        self.text = Text::default();
        self.flags = VACANT;
    }

    fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// Whether the stored claims and metadata are these.
    fn extras_are(&self, claims: Option<&str>, metadata: &Metadata) -> bool {
        let mut fields = Fields::of(self);
        if fields.claims != claims {
            return false;
        }
        for (key, value) in metadata {
            if fields.next() != Some(key.as_str()) || fields.next() != Some(value.as_str()) {
                return false;
            }
        }
        fields.next().is_none()
    }
}

/// The fields of a record's text: the subject, the claims, then metadata
/// keys and values in turn from [`Iterator::next`].
struct Fields<'a> {
    subject: &'a str,
    claims: Option<&'a str>,
    rest: &'a str,
}

impl<'a> Fields<'a> {
    fn of(record: &'a Record) -> Self {
        let text = record.text.as_str();
        let (subject, mut rest) = if record.subject_len < LONG {
            text.split_at_checked(usize::from(record.subject_len))
                .unwrap_or((text, ""))
        } else {
            let mut rest = text;
            (take(&mut rest), rest)
        };
        let claims = record.has(HAS_CLAIMS).then(|| take(&mut rest));
        Self {
            subject,
            claims,
            rest,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        (!self.rest.is_empty()).then(|| take(&mut self.rest))
    }
}

/// The text of a record: the subject (a netstring too if [`LONG`]), then
/// the claims and metadata as netstrings.
fn encode(subject: &str, subject_len: u16, claims: Option<&str>, metadata: &Metadata) -> Text {
    if claims.is_none() && metadata.is_empty() && subject_len < LONG {
        return Text::new(subject);
    }
    let netstrings = || {
        (subject_len == LONG)
            .then_some(subject)
            .into_iter()
            .chain(claims)
            .chain(metadata.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
    };
    let raw = if subject_len < LONG { subject } else { "" };
    let len = raw.len()
        + netstrings()
            .map(|f| digits(f.len()) + 1 + f.len())
            .sum::<usize>();
    let mut text = String::with_capacity(len);
    text.push_str(raw);
    for field in netstrings() {
        push_len(&mut text, field.len());
        text.push(':');
        text.push_str(field);
    }
    Text::from_string(text)
}

/// How many bytes of text a record holds without an allocation: what the
/// fixed fields leave of three cache lines (a 36-byte UUID subject fits).
const INLINE: usize = 46;

/// A record's text: inline when short (the common case), boxed otherwise.
enum Text {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Default for Text {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl Text {
    fn new(text: &str) -> Self {
        match text.len() {
            len @ 0..=INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..len].copy_from_slice(text.as_bytes());
                Self::Inline {
                    len: len as u8,
                    bytes,
                }
            }
            _ => Self::Heap(text.into()),
        }
    }

    fn from_string(text: String) -> Self {
        if text.len() <= INLINE {
            Self::new(&text)
        } else {
            Self::Heap(text.into_boxed_str())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `str` whole, so this cannot fail.
            Self::Inline { len, bytes } => {
                core::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Heap(text) => text,
        }
    }
}

impl core::fmt::Debug for Text {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Splits the netstring at the front of `rest` off it. A hand-rolled loop:
/// this runs on every load, and `split_once` with `parse` costs five times
/// as much for a two-digit length.
fn take<'a>(rest: &mut &'a str) -> &'a str {
    let mut len = 0usize;
    let mut digits = 0usize;
    for &b in rest.as_bytes() {
        if b == b':' {
            break;
        }
        len = len
            .wrapping_mul(10)
            .wrapping_add(usize::from(b.wrapping_sub(b'0')));
        digits += 1;
    }
    let start = digits + 1;
    let end = start.saturating_add(len);
    // `encode` wrote the text, so it parses; were it cut short, the fields
    // would end there rather than panic.
    let (field, tail) = rest
        .get(start..end)
        .zip(rest.get(end..))
        .unwrap_or(("", ""));
    *rest = tail;
    field
}

fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

fn push_len(text: &mut String, n: usize) {
    let mut div = 10usize.pow(digits(n) as u32 - 1);
    while div > 0 {
        text.push(char::from(b'0' + (n / div % 10) as u8));
        div /= 10;
    }
}

fn flag(set: bool, bit: u8) -> u8 {
    if set { bit } else { 0 }
}

fn reason_code(reason: RevokeReason) -> u8 {
    match reason {
        RevokeReason::Logout => 0,
        RevokeReason::LogoutAll => 1,
        RevokeReason::Reuse => 2,
    }
}

fn reason_of(code: u8) -> RevokeReason {
    match code {
        0 => RevokeReason::Logout,
        1 => RevokeReason::LogoutAll,
        _ => RevokeReason::Reuse,
    }
}

/// The position of `id` in `key_ids`, added if new. Keyrings hold a handful
/// of keys, so a scan is the fastest lookup.
fn intern(key_ids: &mut Vec<KeyId>, id: &KeyId) -> u32 {
    if let Some(i) = key_ids.iter().position(|k| k == id) {
        return i as u32;
    }
    key_ids.push(id.clone());
    (key_ids.len() - 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stay_compact() {
        assert_eq!(core::mem::size_of::<Record>(), 192);
        assert_eq!(core::mem::align_of::<Record>(), 64);
    }

    #[test]
    fn lengths_are_written_in_decimal() {
        for n in [0, 1, 9, 10, 99, 100, 1024, 262_144, usize::MAX] {
            let mut text = String::new();
            push_len(&mut text, n);
            assert_eq!(text, alloc::format!("{n}"));
            assert_eq!(digits(n), text.len());
        }
    }

    #[test]
    fn text_round_trips_fields_with_colons_and_digits() {
        let metadata = alloc::vec![
            (String::from("1:2"), String::new()),
            (String::new(), String::from("::9")),
        ];
        let mut s = session("a:1");
        s.claims = Some(String::from("12:{}"));
        s.metadata = metadata;
        let mut keys = Vec::new();
        let record = Record::new(s.clone(), &mut keys);
        assert_eq!(record.to_session(&keys), s);
        assert!(record.extras_are(s.claims.as_deref(), &s.metadata));
        assert!(!record.extras_are(None, &s.metadata));
        assert!(!record.extras_are(s.claims.as_deref(), &Metadata::new()));
        s.claims = Some(String::new());
        s.metadata.clear();
        let record = Record::new(s.clone(), &mut keys);
        assert_eq!(record.to_session(&keys), s);
        assert_eq!(record.subject(), "a:1");
    }

    #[test]
    fn short_texts_are_inline_and_long_ones_boxed() {
        let mut keys = Vec::new();
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 300] {
            let s = session(&"é".repeat(len / 2));
            let record = Record::new(s.clone(), &mut keys);
            assert_eq!(record.to_session(&keys), s);
            let inline = matches!(record.text, Text::Inline { .. });
            assert_eq!(inline, s.subject.len() <= INLINE, "{len}");
            // Claims and metadata that push the text past the inline space.
            let mut s = session(&"x".repeat(len));
            s.claims = Some(String::from("{\"role\":\"editor\"}"));
            s.metadata = alloc::vec![(String::from("ip"), String::from("192.0.2.1"))];
            let mut record = Record::new(session(&s.subject), &mut keys);
            record.update(&s, &mut keys);
            assert_eq!(record.to_session(&keys), s);
            assert_eq!(record.subject(), s.subject);
        }
    }

    #[test]
    fn subjects_of_64_kib_and_more_round_trip() {
        let mut keys = Vec::new();
        for len in [usize::from(LONG) - 1, usize::from(LONG), 70_000] {
            for claims in [None, Some(String::from("{}"))] {
                let mut s = session(&"s".repeat(len));
                s.claims = claims;
                let record = Record::new(s.clone(), &mut keys);
                assert_eq!(record.subject().len(), len);
                assert_eq!(record.to_session(&keys), s);
            }
        }
    }

    fn session(subject: &str) -> Session {
        Session {
            id: SessionId::from_bytes([1; 16]),
            subject: subject.into(),
            version: 0,
            generation: 0,
            key_id: KeyId::new("k").expect("a valid key id"),
            current_hash: SecretHash([2; 32]),
            previous_hash: None,
            created_at: UnixMillis(0),
            rotated_at: UnixMillis(0),
            idle_expires_at: UnixMillis(1),
            absolute_expires_at: None,
            revoked: None,
            claims: None,
            metadata: Metadata::new(),
        }
    }
}
