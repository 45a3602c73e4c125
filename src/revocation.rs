//! The revocation set: which sessions' access tokens to refuse although
//! they still pass [`verify`](crate::Authority::verify), and how fresh that
//! knowledge is.
//!
//! - [`Revocations`] is the pure data structure: session id → revoked-at,
//!   subject → not-before, and a freshness watermark. No I/O, no clock.
//! - [`SharedRevocations`] is the same behind a `RwLock`, shared by an
//!   [`Authority`](crate::Authority) (which reads it in
//!   [`verify_fresh`](crate::Authority::verify_fresh)) and a
//!   [`RevocationFeed`](crate::store::RevocationFeed) (which fills it).
//!
//! # Bounded
//!
//! An entry is needed only while an access token it covers can still pass
//! `verify`: at most [`access_ttl`](crate::Policy::access_ttl) +
//! [`leeway`](crate::Policy::leeway) after the revocation. It is dropped
//! then (counted from the later of its revocation instant and the instant
//! it was learnt, so that a revoking instance whose clock runs behind does
//! not shorten it), so the set holds the revocations of one access-token
//! lifetime, whatever has happened before.
//!
//! # Fail closed
//!
//! The set knows up to when it is complete: its watermark, moved by the
//! feed each time it has proved that every revocation committed before
//! that instant has been delivered. [`verify_fresh`](crate::Authority::verify_fresh)
//! trusts the set only while the watermark is no older than
//! [`Policy::max_revocation_lag`](crate::Policy::max_revocation_lag);
//! otherwise (feed down, lagging, never synced) it reads the store.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use core::hash::{BuildHasherDefault, Hasher};
use core::time::Duration;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::error::{Error, RevokeReason};
use crate::id::SessionId;
use crate::policy::Policy;
use crate::session::Session;
use crate::time::UnixMillis;

/// One revoked session, as a feed delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationNotice {
    /// The revoked session.
    pub session: SessionId,
    /// When it was revoked (the revoking instance's clock).
    pub at: UnixMillis,
    /// Why.
    pub reason: RevokeReason,
}

impl RevocationNotice {
    /// The notice of `session`'s revocation, if it is revoked.
    #[must_use]
    pub fn of(session: &Session) -> Option<Self> {
        session.revoked.map(|r| Self {
            session: session.id,
            at: r.at,
            reason: r.reason,
        })
    }
}

/// How complete a [`Revocations`] set is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    /// Never synchronised, or its feed is known to be down: trust nothing.
    Unknown,
    /// Holds every revocation committed before this instant.
    At(UnixMillis),
    /// Filled synchronously by the store's own writes (an in-process
    /// feed): complete at every instant.
    Continuous,
}

/// The pure revocation set: no I/O, no clock, no lock.
///
/// Lookups are one hash probe on the session id (ids are uniformly random
/// 128-bit values drawn by the authority, so their bytes are the hash) and,
/// only when some subject-wide entry exists, one ordered-map probe on the
/// subject.
#[derive(Debug, Clone)]
pub struct Revocations {
    sessions: HashMap<SessionId, Entry, BuildHasherDefault<IdHasher>>,
    /// Sessions in the order their entries end, to prune in O(removed).
    ends: VecDeque<(UnixMillis, SessionId)>,
    /// Subject → (not-before, entry end).
    subjects: BTreeMap<String, (UnixMillis, UnixMillis)>,
    retention: Duration,
    watermark: Watermark,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: UnixMillis,
    reason: RevokeReason,
}

impl Revocations {
    /// An empty, never-synchronised set for tokens of `policy`: entries
    /// are kept `access_ttl + leeway`.
    #[must_use]
    pub fn new(policy: &Policy) -> Self {
        Self::with_retention(policy.access_ttl().saturating_add(policy.leeway()))
    }

    /// An empty, never-synchronised set keeping entries for `retention`.
    #[must_use]
    pub fn with_retention(retention: Duration) -> Self {
        Self {
            sessions: HashMap::default(),
            ends: VecDeque::new(),
            subjects: BTreeMap::new(),
            retention,
            watermark: Watermark::Unknown,
        }
    }

    /// Records a revoked session, learnt at `now`, after dropping every
    /// entry that has ended by `now`. A session already in the set keeps
    /// its first entry (feeds may deliver a notice twice).
    pub fn insert(&mut self, notice: RevocationNotice, now: UnixMillis) {
        self.prune(now);
        let end = notice.at.max(now).saturating_add(self.retention);
        if end <= now {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(v) = self.sessions.entry(notice.session) {
            v.insert(Entry {
                at: notice.at,
                reason: notice.reason,
            });
            self.ends.push_back((end, notice.session));
        }
    }

    /// Refuses every access token of `subject` issued before `not_before`
    /// (a password change), in one entry.
    ///
    /// Access tokens carry their issue time in whole seconds, so a token
    /// issued in the same second as `not_before`, even just after it, is
    /// refused too: the entry errs on the side of refusing.
    pub fn revoke_subject(&mut self, subject: &str, not_before: UnixMillis, now: UnixMillis) {
        self.prune(now);
        let end = not_before.max(now).saturating_add(self.retention);
        let entry = self
            .subjects
            .entry(String::from(subject))
            .or_insert((not_before, end));
        *entry = (entry.0.max(not_before), entry.1.max(end));
    }

    /// Drops every entry that ended at or before `now`; releases memory
    /// once the set has shrunk to a quarter of what it holds room for.
    pub fn prune(&mut self, now: UnixMillis) {
        while let Some(&(end, id)) = self.ends.front() {
            if end > now {
                break;
            }
            self.ends.pop_front();
            self.sessions.remove(&id);
        }
        if !self.subjects.is_empty() {
            self.subjects.retain(|_, (_, end)| *end > now);
        }
        if self.sessions.capacity() > 64 && self.sessions.len() < self.sessions.capacity() / 4 {
            self.sessions.shrink_to(self.sessions.len() * 2);
            self.ends.shrink_to(self.ends.len() * 2);
        }
    }

    /// Checks an access token's session (`sid`), subject (`sub`) and issue
    /// time (`iat`) against the set.
    ///
    /// # Errors
    /// [`Error::SessionRevoked`] when the set holds the session, or a
    /// subject entry whose not-before is later than `iat` (the subject
    /// entry reports [`RevokeReason::LogoutAll`]).
    pub fn check(&self, sid: &SessionId, sub: &str, iat: UnixMillis) -> Result<(), Error> {
        if let Some(e) = self.sessions.get(sid) {
            return Err(Error::SessionRevoked {
                at: e.at,
                reason: e.reason,
            });
        }
        if !self.subjects.is_empty()
            && let Some(&(not_before, _)) = self.subjects.get(sub)
            // `iat` is rounded down to the second: refuse its whole second.
            && iat.as_millis() / 1000 <= not_before.as_millis() / 1000
        {
            return Err(Error::SessionRevoked {
                at: not_before,
                reason: RevokeReason::LogoutAll,
            });
        }
        Ok(())
    }

    /// The feed proved the set complete up to `at` (it never moves back).
    pub fn mark_synced(&mut self, at: UnixMillis) {
        self.watermark = match self.watermark {
            Watermark::Continuous => Watermark::Continuous,
            Watermark::At(t) => Watermark::At(t.max(at)),
            Watermark::Unknown => Watermark::At(at),
        };
    }

    /// The set is filled synchronously by every write (an in-process feed).
    pub fn mark_continuous(&mut self) {
        self.watermark = Watermark::Continuous;
    }

    /// The feed is down: trust nothing until it has resynchronised.
    pub fn mark_down(&mut self) {
        self.watermark = Watermark::Unknown;
    }

    /// How long an entry is kept (`access_ttl + leeway`): a feed
    /// resynchronising from scratch needs the revocations of this span.
    #[must_use]
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// How complete the set is known to be.
    #[must_use]
    pub fn watermark(&self) -> Watermark {
        self.watermark
    }

    /// Whether the set may be trusted at `now`: complete up to an instant
    /// no more than `max_lag` before `now`.
    #[must_use]
    pub fn is_fresh(&self, now: UnixMillis, max_lag: Duration) -> bool {
        match self.watermark {
            Watermark::Continuous => true,
            Watermark::At(t) => now.since(t) <= max_lag,
            Watermark::Unknown => false,
        }
    }

    /// How many entries it holds (sessions and subjects).
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len() + self.subjects.len()
    }

    /// Whether it holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An estimate of the heap it holds, in bytes (table and queue
    /// capacity; subject entries by their length).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let table = self.sessions.capacity() * (core::mem::size_of::<(SessionId, Entry)>() + 1);
        let queue = self.ends.capacity() * core::mem::size_of::<(UnixMillis, SessionId)>();
        let subjects: usize = self.subjects.keys().map(|s| s.len() + 64).sum();
        table + queue + subjects
    }
}

/// [`Revocations`] shared between the verifying [`Authority`](crate::Authority)
/// and the feed that fills it, behind a `RwLock` (a check takes the read
/// lock for one hash probe; a feed takes the write lock per notice).
#[derive(Debug)]
pub struct SharedRevocations {
    set: RwLock<Revocations>,
}

impl SharedRevocations {
    /// An empty, never-synchronised set for tokens of `policy`.
    #[must_use]
    pub fn new(policy: &Policy) -> Self {
        Self::from(Revocations::new(policy))
    }

    /// Runs `f` on the set under the read lock.
    pub fn read<T>(&self, f: impl FnOnce(&Revocations) -> T) -> T {
        f(&self.set.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `f` on the set under the write lock.
    pub fn write<T>(&self, f: impl FnOnce(&mut Revocations) -> T) -> T {
        f(&mut self.set.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// [`Revocations::insert`].
    pub fn insert(&self, notice: RevocationNotice, now: UnixMillis) {
        self.write(|s| s.insert(notice, now));
    }

    /// [`Revocations::mark_synced`].
    pub fn mark_synced(&self, at: UnixMillis) {
        self.write(|s| s.mark_synced(at));
    }

    /// [`Revocations::mark_down`].
    pub fn mark_down(&self) {
        self.write(Revocations::mark_down);
    }

    /// [`Revocations::len`].
    #[must_use]
    pub fn len(&self) -> usize {
        self.read(Revocations::len)
    }

    /// [`Revocations::is_empty`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.read(Revocations::is_empty)
    }
}

impl From<Revocations> for SharedRevocations {
    fn from(set: Revocations) -> Self {
        Self {
            set: RwLock::new(set),
        }
    }
}

/// Session ids are uniformly random, so their bytes need no further
/// mixing; both halves are folded so that ids chosen by a custom store
/// user still spread. Only ids of authentic tokens are ever looked up.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMillis = UnixMillis(1_764_000_000_000);

    fn notice(n: u8, at: UnixMillis) -> RevocationNotice {
        RevocationNotice {
            session: SessionId::from_bytes([n; 16]),
            at,
            reason: RevokeReason::Logout,
        }
    }

    #[test]
    fn an_entry_lives_exactly_its_retention() {
        let mut set = Revocations::with_retention(Duration::from_secs(60));
        set.insert(notice(1, T0), T0);
        let id = SessionId::from_bytes([1; 16]);
        let end = T0.saturating_add(Duration::from_secs(60));
        set.prune(UnixMillis(end.0 - 1));
        assert!(set.check(&id, "a", T0).is_err());
        set.prune(end);
        assert!(set.check(&id, "a", T0).is_ok());
        assert!(set.is_empty());
    }

    #[test]
    fn a_revoker_clock_behind_does_not_shorten_the_entry() {
        let mut set = Revocations::with_retention(Duration::from_secs(60));
        let learnt = T0.saturating_add(Duration::from_secs(30));
        set.insert(notice(1, T0), learnt);
        set.prune(learnt.saturating_add(Duration::from_secs(59)));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn a_duplicate_notice_keeps_one_entry() {
        let mut set = Revocations::with_retention(Duration::from_secs(60));
        set.insert(notice(1, T0), T0);
        set.insert(notice(1, T0), T0);
        assert_eq!((set.len(), set.ends.len()), (1, 1));
    }

    #[test]
    fn a_subject_entry_refuses_its_whole_second_and_nothing_after() {
        let mut set = Revocations::with_retention(Duration::from_secs(60));
        let nb = UnixMillis(T0.0 + 500);
        set.revoke_subject("alice", nb, nb);
        let other = SessionId::from_bytes([2; 16]);
        assert!(set.check(&other, "alice", T0).is_err());
        assert!(set.check(&other, "alice", UnixMillis(T0.0 + 1000)).is_ok());
        assert!(set.check(&other, "bob", T0).is_ok());
    }

    #[test]
    fn freshness_follows_the_watermark() {
        let lag = Duration::from_secs(1);
        let mut set = Revocations::with_retention(Duration::from_secs(60));
        assert!(!set.is_fresh(T0, lag));
        set.mark_synced(T0);
        assert!(set.is_fresh(UnixMillis(T0.0 + 1000), lag));
        assert!(!set.is_fresh(UnixMillis(T0.0 + 1001), lag));
        set.mark_synced(UnixMillis(T0.0 - 5));
        assert_eq!(set.watermark(), Watermark::At(T0), "never moves back");
        set.mark_down();
        assert!(!set.is_fresh(T0, lag));
        set.mark_continuous();
        assert!(set.is_fresh(UnixMillis(u64::MAX), lag));
    }
}
