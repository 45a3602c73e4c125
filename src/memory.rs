//! [`MemoryStore`]: the embedded, in-process [`SessionStore`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::sync::{PoisonError, RwLock};

use crate::keys::KeyId;
use crate::refresh::SecretHash;
use crate::session::{Metadata, Revocation, Session, SessionId};
use crate::store::{SessionStore, StoreError};
use crate::time::UnixMillis;

const SHARDS: usize = 64;

/// An in-memory [`SessionStore`], sharded so that operations on different
/// sessions rarely share a lock.
///
/// Sessions are spread over 64 shards by their (random) id, each behind its
/// own `RwLock`; a second sharded map indexes sessions by subject. There is
/// no global lock: a refresh takes one shard's read lock to load and its
/// write lock to compare-and-swap. Contents are lost when the process exits.
///
/// # Memory
/// A session is kept compactly (its subject once, key ids interned, claims
/// and metadata out of line only when present): about 300 bytes of heap per
/// session with a 36-byte subject, including both indexes
/// (`cargo run --release --example memory`).
///
/// ```
/// use tokenlife::{Authority, Keyring, MemoryStore, Policy};
///
/// let authority = Authority::new(Keyring::new("k1", &[7; 32])?, Policy::default(), MemoryStore::new());
/// # Ok::<(), tokenlife::Error>(())
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    sessions: Box<[RwLock<Shard>]>,
    subjects: Box<[RwLock<SubjectIndex>]>,
    subject_hasher: RandomState,
}

/// One shard of sessions: an id index into a dense slab of records, so
/// that a growing index moves 20-byte entries, not whole records.
#[derive(Debug, Default)]
struct Shard {
    index: HashMap<SessionId, u32, IdHash>,
    slots: Vec<Record>,
    free: Vec<u32>,
    /// Key ids, interned: a record names its key by position here.
    key_ids: Vec<KeyId>,
}

/// A [`Session`] as kept in memory.
#[derive(Debug)]
struct Record {
    subject: Box<str>,
    /// Claims and metadata, boxed together, absent when both are empty.
    extra: Option<Box<Extra>>,
    version: u64,
    generation: u64,
    current_hash: [u8; 32],
    previous_hash: [u8; 32],
    created_at: u64,
    rotated_at: u64,
    idle_expires_at: u64,
    absolute_expires_at: u64,
    revoked: Option<Revocation>,
    key: u32,
    has_previous: bool,
    has_absolute: bool,
}

#[derive(Debug)]
struct Extra {
    claims: Option<String>,
    metadata: Metadata,
}

/// Subjects are indexed by a keyed hash, not by their text: the session
/// records hold each subject once, and a listing compares them. A subject's
/// first session sits in `first`; any further ones (and other subjects
/// whose hash collides) in `more`.
#[derive(Debug, Default)]
struct SubjectIndex {
    first: HashMap<u64, SessionId, IdHash>,
    more: HashMap<u64, Vec<SessionId>, IdHash>,
}

/// Session ids are uniformly random (drawn by the authority), and subject
/// hashes come from a keyed hash, so their bytes need no further hashing.
type IdHash = BuildHasherDefault<IdHasher>;

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // SessionId hashes as its 16 bytes; fold them all so that ids chosen
        // by a custom store user still spread.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self {
            sessions: (0..SHARDS).map(|_| RwLock::default()).collect(),
            subjects: (0..SHARDS).map(|_| RwLock::default()).collect(),
            subject_hasher: RandomState::new(),
        }
    }

    /// How many sessions it holds, in any state.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).index.len())
            .sum()
    }

    /// Whether it holds no session.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, id: &SessionId) -> &RwLock<Shard> {
        let b = id.as_bytes();
        &self.sessions[usize::from(b[15]) % SHARDS]
    }

    fn subject_hash(&self, subject: &str) -> u64 {
        self.subject_hasher.hash_one(subject)
    }

    fn subject_shard(&self, hash: u64) -> &RwLock<SubjectIndex> {
        // The modulo keeps the index in range whatever the width of usize.
        &self.subjects[(hash % SHARDS as u64) as usize]
    }

    fn insert_now(&self, session: Session) -> Result<(), StoreError> {
        let id = session.id;
        let hash = self.subject_hash(&session.subject);
        {
            let mut shard = self
                .shard(&id)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let shard = &mut *shard;
            match shard.index.entry(id) {
                Entry::Occupied(_) => return Err(StoreError::conflict()),
                Entry::Vacant(v) => {
                    let record = Record::new(session, &mut shard.key_ids);
                    let slot = match shard.free.pop() {
                        Some(slot) => {
                            shard.slots[slot as usize] = record;
                            slot
                        }
                        None => {
                            // A shard past 4 billion sessions is out of memory first.
                            let slot = u32::try_from(shard.slots.len()).map_err(|_| {
                                StoreError::from_kind(crate::StoreErrorKind::Backend)
                            })?;
                            shard.slots.push(record);
                            slot
                        }
                    };
                    v.insert(slot);
                }
            }
        }
        let mut index = self
            .subject_shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match index.first.entry(hash) {
            Entry::Vacant(v) => {
                v.insert(id);
            }
            Entry::Occupied(_) => index.more.entry(hash).or_default().push(id),
        }
        Ok(())
    }

    fn get_now(&self, id: &SessionId) -> Option<Session> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = *shard.index.get(id)?;
        Some(shard.slots[slot as usize].to_session(*id, &shard.key_ids))
    }

    fn cas_now(&self, version: u64, next: Session) -> Result<(), StoreError> {
        let mut shard = self
            .shard(&next.id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let shard = &mut *shard;
        let Some(&slot) = shard.index.get(&next.id) else {
            return Err(StoreError::conflict());
        };
        let current = &mut shard.slots[slot as usize];
        if current.version != version || *current.subject != *next.subject {
            return Err(StoreError::conflict());
        }
        current.update(next, &mut shard.key_ids);
        Ok(())
    }

    fn list_now(&self, subject: &str) -> Vec<Session> {
        let hash = self.subject_hash(subject);
        let ids: Vec<SessionId> = {
            let index = self
                .subject_shard(hash)
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            index
                .first
                .get(&hash)
                .into_iter()
                .chain(index.more.get(&hash).into_iter().flatten())
                .copied()
                .collect()
        };
        ids.iter()
            .filter_map(|id| self.get_now(id))
            .filter(|s| s.subject == subject)
            .collect()
    }

    fn purge_now(&self, now: UnixMillis) -> u64 {
        let mut purged: Vec<(u64, SessionId)> = Vec::new();
        for shard in self.sessions.iter() {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            let Shard {
                index, slots, free, ..
            } = &mut *shard;
            index.retain(|id, slot| {
                let record = &mut slots[*slot as usize];
                let keep = record.expires_at() > now.as_millis();
                if !keep {
                    let subject = core::mem::take(&mut record.subject);
                    record.extra = None;
                    purged.push((self.subject_hash(&subject), *id));
                    free.push(*slot);
                }
                keep
            });
        }
        for (hash, id) in &purged {
            let mut index = self
                .subject_shard(*hash)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let index = &mut *index;
            let more = index.more.get_mut(hash);
            if index.first.get(hash) == Some(id) {
                // Promote a further session of the subject, if there is one.
                match more.and_then(Vec::pop) {
                    Some(next) => {
                        index.first.insert(*hash, next);
                    }
                    None => {
                        index.first.remove(hash);
                    }
                }
            } else if let Some(ids) = more {
                ids.retain(|x| x != id);
            }
            if index.more.get(hash).is_some_and(Vec::is_empty) {
                index.more.remove(hash);
            }
        }
        purged.len() as u64
    }
}

impl Record {
    fn new(session: Session, key_ids: &mut Vec<KeyId>) -> Self {
        let mut record = Self {
            subject: Box::default(),
            extra: None,
            version: 0,
            generation: 0,
            current_hash: [0; 32],
            previous_hash: [0; 32],
            created_at: 0,
            rotated_at: 0,
            idle_expires_at: 0,
            absolute_expires_at: 0,
            revoked: None,
            key: 0,
            has_previous: false,
            has_absolute: false,
        };
        record.subject = session.subject.as_str().into();
        record.update(session, key_ids);
        record
    }

    /// Takes every field of `next` but the id and the subject (which never change).
    fn update(&mut self, next: Session, key_ids: &mut Vec<KeyId>) {
        self.key = intern(key_ids, next.key_id);
        self.version = next.version;
        self.generation = next.generation;
        self.current_hash = next.current_hash.0;
        self.has_previous = next.previous_hash.is_some();
        self.previous_hash = next.previous_hash.map_or([0; 32], |h| h.0);
        self.created_at = next.created_at.as_millis();
        self.rotated_at = next.rotated_at.as_millis();
        self.idle_expires_at = next.idle_expires_at.as_millis();
        self.has_absolute = next.absolute_expires_at.is_some();
        self.absolute_expires_at = next.absolute_expires_at.map_or(0, UnixMillis::as_millis);
        self.revoked = next.revoked;
        self.extra = if next.claims.is_none() && next.metadata.is_empty() {
            None
        } else {
            Some(Box::new(Extra {
                claims: next.claims,
                metadata: next.metadata,
            }))
        };
    }

    fn to_session(&self, id: SessionId, key_ids: &[KeyId]) -> Session {
        Session {
            id,
            subject: String::from(&*self.subject),
            version: self.version,
            generation: self.generation,
            key_id: key_ids[self.key as usize].clone(),
            current_hash: SecretHash(self.current_hash),
            previous_hash: self.has_previous.then_some(SecretHash(self.previous_hash)),
            created_at: UnixMillis(self.created_at),
            rotated_at: UnixMillis(self.rotated_at),
            idle_expires_at: UnixMillis(self.idle_expires_at),
            absolute_expires_at: self
                .has_absolute
                .then_some(UnixMillis(self.absolute_expires_at)),
            revoked: self.revoked,
            claims: self.extra.as_ref().and_then(|e| e.claims.clone()),
            metadata: self
                .extra
                .as_ref()
                .map(|e| e.metadata.clone())
                .unwrap_or_default(),
        }
    }

    /// As [`Session::expires_at`], in milliseconds.
    fn expires_at(&self) -> u64 {
        if self.has_absolute {
            self.absolute_expires_at.min(self.idle_expires_at)
        } else {
            self.idle_expires_at
        }
    }
}

/// The position of `id` in `key_ids`, added if new. Keyrings hold a handful
/// of keys, so a scan is the fastest lookup.
fn intern(key_ids: &mut Vec<KeyId>, id: KeyId) -> u32 {
    if let Some(i) = key_ids.iter().position(|k| *k == id) {
        return i as u32;
    }
    key_ids.push(id);
    (key_ids.len() - 1) as u32
}

impl SessionStore for MemoryStore {
    async fn insert(&self, session: Session) -> Result<(), StoreError> {
        self.insert_now(session)
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.get_now(id))
    }

    async fn compare_and_swap(
        &self,
        expected_version: u64,
        next: Session,
    ) -> Result<(), StoreError> {
        self.cas_now(expected_version, next)
    }

    async fn list_by_subject(&self, subject: &str) -> Result<Vec<Session>, StoreError> {
        Ok(self.list_now(subject))
    }

    async fn purge_expired(&self, now: UnixMillis) -> Result<u64, StoreError> {
        Ok(self.purge_now(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stay_compact() {
        assert!(
            core::mem::size_of::<Record>() <= 160,
            "{}",
            core::mem::size_of::<Record>()
        );
    }
}
