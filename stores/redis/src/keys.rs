//! The key layout: which keys a session lives in, and the numbers written
//! beside it.
//!
//! Sessions are spread over [`BUCKETS`] buckets by the first byte of their
//! (random) id. Every key of a bucket carries the same hash tag,
//! `{<prefix>:<bucket>}`, so on Redis Cluster a bucket is one hash slot and
//! every script touches keys of one slot only. Per bucket:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{p:b}:s:<id>` | hash | `v` version, `u` subject, `e` expiry, `r` the record (JSON) |
//! | `{p:b}:u:<sha256(subject)>` | set | the ids of the subject's sessions in this bucket |
//! | `{p:b}:x` | sorted set | `<id>:<sha256(subject)>`, scored by expiry |
//! | `{p:b}:r` | sorted set | `<id> <revoked at> <reason>` of each recent revocation, scored by its instant |
//!
//! `get` finds a session from its id alone; `list_by_subject`,
//! `purge_expired` and the revocation feed's resync ask each bucket. The
//! feed publishes on the channel `<prefix>:revocations` (a channel, not a
//! key: it has no slot).

use std::fmt::Write as _;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokenlife::{Session, SessionId, UnixMillis};

/// How many buckets (hash slots) the sessions are spread over.
///
/// Enough to spread the load over the masters of a cluster, few enough that
/// `list_by_subject` and `purge_expired` (one pipelined round per bucket)
/// stay cheap. Changing it re-homes every session: it is part of the layout.
pub const BUCKETS: u8 = 16;

/// The key prefix unless [`Options::with_prefix`](crate::Options::with_prefix) says otherwise.
pub const DEFAULT_PREFIX: &str = "tokenlife";

/// The longest prefix accepted.
pub const MAX_PREFIX_LEN: usize = 64;

/// The safety-net TTL never exceeds this (about 100 years): Redis refuses
/// expiry times past `i64` milliseconds, and a session this long is forever.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Added to twice the session's remaining life to make its safety-net TTL.
const TTL_MARGIN: Duration = Duration::from_secs(86_400);

/// The keys of one store: a validated prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    prefix: String,
}

/// The three keys a write of one session touches, all in one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionKeys {
    /// The session's hash.
    pub(crate) session: String,
    /// Its subject's set in its bucket.
    pub(crate) subject: String,
    /// Its bucket's expiry index.
    pub(crate) expiry: String,
    /// Its member in the expiry index.
    pub(crate) member: String,
    /// Its bucket's index of recent revocations.
    pub(crate) revoked: String,
}

/// Why a prefix was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPrefix;

impl std::fmt::Display for BadPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a key prefix is 1 to {MAX_PREFIX_LEN} characters of A-Z, a-z, 0-9, '-', '_', '.' and ':'"
        )
    }
}

impl std::error::Error for BadPrefix {}

impl Layout {
    /// The layout under `prefix`, which must not contain a brace (it sits
    /// inside the hash tag) nor anything a human would misread in a key.
    pub(crate) fn new(prefix: &str) -> Result<Self, BadPrefix> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN || !prefix.chars().all(allowed) {
            return Err(BadPrefix);
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash tag of `bucket`: `{prefix:b}`, `b` one hex digit.
    pub(crate) fn tag(&self, bucket: u8) -> String {
        format!("{{{}:{:x}}}", self.prefix, bucket % BUCKETS)
    }

    /// The hash of session `id`.
    pub(crate) fn session(&self, id: &SessionId) -> String {
        format!("{}:s:{id}", self.tag(bucket(id)))
    }

    /// The set of `subject`'s ids in `bucket`.
    pub(crate) fn subject(&self, bucket: u8, subject: &str) -> String {
        self.subject_by_digest(bucket, &subject_digest(subject))
    }

    /// The set of the subject whose digest is `digest`, in `bucket`.
    pub(crate) fn subject_by_digest(&self, bucket: u8, digest: &str) -> String {
        format!("{}:u:{digest}", self.tag(bucket))
    }

    /// The expiry index of `bucket`.
    pub(crate) fn expiry(&self, bucket: u8) -> String {
        format!("{}:x", self.tag(bucket))
    }

    /// The index of recent revocations in `bucket`, which the revocation
    /// feed resynchronises from.
    pub(crate) fn revoked(&self, bucket: u8) -> String {
        format!("{}:r", self.tag(bucket))
    }

    /// The pub/sub channel the revoking compare-and-swap publishes on.
    pub(crate) fn channel(&self) -> String {
        format!("{}:revocations", self.prefix)
    }

    /// Every key a write of `session` touches.
    pub(crate) fn keys_of(&self, session: &Session) -> SessionKeys {
        let b = bucket(&session.id);
        SessionKeys {
            session: self.session(&session.id),
            subject: self.subject(b, &session.subject),
            expiry: self.expiry(b),
            member: expiry_member(&session.id, &session.subject),
            revoked: self.revoked(b),
        }
    }

    /// A `SCAN MATCH` pattern for every key of this layout.
    pub(crate) fn pattern(&self) -> String {
        format!("{{{}:?}}:*", self.prefix)
    }
}

/// The bucket of `id`: the low four bits of its first byte (the id is random).
pub(crate) fn bucket(id: &SessionId) -> u8 {
    id.as_bytes()[0] % BUCKETS
}

/// SHA-256 of `subject` in lowercase hex: a key name of fixed length that
/// shows no subject (they are often e-mail addresses).
pub(crate) fn subject_digest(subject: &str) -> String {
    hex(&Sha256::digest(subject.as_bytes()))
}

/// The member of the expiry index for a session: its id and its subject's
/// digest, from which a purge finds every key to delete.
pub(crate) fn expiry_member(id: &SessionId, subject: &str) -> String {
    format!("{id}:{}", subject_digest(subject))
}

/// The session id and subject digest of an expiry-index member.
pub(crate) fn parse_member(member: &[u8]) -> Option<(SessionId, &str)> {
    let member = std::str::from_utf8(member).ok()?;
    let (id, digest) = member.split_once(':')?;
    let digest_ok = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    Some((id.parse().ok()?, digest)).filter(|_| digest_ok)
}

/// An instant as 20 decimal digits. Scripts compare these exactly (as two
/// halves, see the scripts), whatever their size; as a sorted-set score the
/// same text is rounded to a double, which keeps order (rounding is
/// monotonic), so a purge's candidates by score are a superset of the
/// sessions truly expired.
pub(crate) fn instant(at: UnixMillis) -> String {
    format!("{:020}", at.as_millis())
}

/// The safety-net TTL of a written session, in milliseconds: twice what was
/// left of it when its token was last issued, plus a day.
///
/// The store is not told `now`, so it counts from [`Session::rotated_at`],
/// which is at or before the write: the TTL ends after the session does,
/// whatever the injected clock says, and only a session abandoned without
/// any purge is ever removed by it. Capped at about 100 years.
pub(crate) fn safety_ttl(session: &Session) -> u64 {
    let left = session.expires_at().since(session.rotated_at);
    let ttl = left
        .saturating_mul(2)
        .saturating_add(TTL_MARGIN)
        .min(MAX_TTL);
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(first: u8) -> SessionId {
        let mut bytes = [7; 16];
        bytes[0] = first;
        SessionId::from_bytes(bytes)
    }

    fn session(id: SessionId) -> Session {
        Session {
            id,
            subject: "alice".into(),
            version: 0,
            generation: 0,
            key_id: tokenlife::KeyId::new("k1").unwrap(),
            current_hash: tokenlife::refresh::SecretHash([1; 32]),
            previous_hash: None,
            created_at: UnixMillis(0),
            rotated_at: UnixMillis(0),
            idle_expires_at: UnixMillis(1),
            absolute_expires_at: None,
            revoked: None,
            claims: None,
            metadata: Vec::new(),
        }
    }

    /// The hash tag Redis Cluster would hash: between the first `{` and the
    /// first `}` after it.
    fn cluster_tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        &key[open + 1..close]
    }

    #[test]
    fn every_key_a_script_touches_has_one_hash_tag() {
        let layout = Layout::new("tokenlife").unwrap();
        for first in [0, 1, 15, 16, 0x9c, 255] {
            let mut session = session(id(first));
            session.subject = "}{ not a tag {x}".into();
            let keys = layout.keys_of(&session);
            let tag = cluster_tag(&keys.session);
            assert_eq!(tag, format!("tokenlife:{:x}", first % 16));
            assert_eq!(cluster_tag(&keys.subject), tag);
            assert_eq!(cluster_tag(&keys.expiry), tag);
            assert_eq!(cluster_tag(&keys.revoked), tag);
            assert_eq!(layout.expiry(bucket(&session.id)), keys.expiry);
        }
    }

    #[test]
    fn ids_spread_over_all_buckets() {
        let buckets: std::collections::BTreeSet<u8> = (0..=255).map(|b| bucket(&id(b))).collect();
        assert_eq!(buckets.len(), usize::from(BUCKETS));
    }

    #[test]
    fn keys_name_no_subject() {
        let layout = Layout::new("tl").unwrap();
        let key = layout.subject(3, "alice@example.com");
        assert!(!key.contains("alice"), "{key}");
        assert_eq!(
            key,
            format!("{{tl:3}}:u:{}", subject_digest("alice@example.com"))
        );
        assert_eq!(
            subject_digest(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_prefix_is_checked() {
        for good in [
            "tokenlife",
            "app-1:sessions",
            "a.b_c",
            &"x".repeat(MAX_PREFIX_LEN),
        ] {
            assert_eq!(Layout::new(good).unwrap().prefix(), good);
        }
        for bad in [
            "",
            "a{b",
            "a}b",
            "a b",
            "a*",
            "ä",
            &"x".repeat(MAX_PREFIX_LEN + 1),
        ] {
            assert_eq!(Layout::new(bad), Err(BadPrefix), "{bad:?}");
        }
    }

    #[test]
    fn the_scan_pattern_matches_this_prefix_only() {
        let layout = Layout::new("tl").unwrap();
        assert_eq!(layout.pattern(), "{tl:?}:*");
        assert!(layout.session(&id(0)).starts_with("{tl:0}:s:"));
        assert!(layout.revoked(15).starts_with("{tl:f}:"));
        assert!(!layout.channel().starts_with('{'), "a channel is not a key");
    }

    #[test]
    fn expiry_members_parse_back() {
        let member = expiry_member(&id(42), "bob");
        let (parsed, digest) = parse_member(member.as_bytes()).unwrap();
        assert_eq!((parsed, digest), (id(42), subject_digest("bob").as_str()));
        for bad in ["", "x", "AAAAAAAAAAAAAAAAAAAAAA:zz", "no-colon-here"] {
            assert_eq!(parse_member(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn instants_are_twenty_digits_and_sort_as_numbers() {
        assert_eq!(instant(UnixMillis(0)), "00000000000000000000");
        assert_eq!(instant(UnixMillis(u64::MAX)), "18446744073709551615");
        let (a, b) = (instant(UnixMillis(999)), instant(UnixMillis(1_000)));
        assert!(a < b);
    }

    #[test]
    fn the_safety_net_outlives_the_session() {
        let mut session = session(id(1));
        session.rotated_at = UnixMillis(1_000_000);
        session.idle_expires_at = UnixMillis(1_000_000 + 7 * 86_400_000);
        assert_eq!(safety_ttl(&session), (14 + 1) * 86_400_000);
        // Already over: a day.
        session.idle_expires_at = UnixMillis(1);
        assert_eq!(safety_ttl(&session), 86_400_000);
        // Never ends: capped.
        session.idle_expires_at = UnixMillis(u64::MAX);
        assert_eq!(
            safety_ttl(&session),
            u64::try_from(MAX_TTL.as_millis()).unwrap()
        );
    }
}
