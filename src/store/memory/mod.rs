//! [`MemoryStore`]: the embedded, in-process [`SessionStore`].

mod hash;
mod record;
mod subjects;

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::hash::BuildHasher;
use std::collections::hash_map::RandomState;
use std::sync::{PoisonError, RwLock};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::error::{StoreError, StoreErrorKind};
use crate::id::SessionId;
use crate::keys::KeyId;
use crate::revocation::{RevocationNotice, SharedRevocations};
use crate::session::Session;
use crate::store::feed::RevocationFeed;
use crate::store::session_store::SessionStore;
use crate::time::UnixMillis;
use hash::id_hash;
use record::Record;
use subjects::SubjectIndex;

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// A location (in the subject index) is a shard and a slot in 32 bits.
const SLOT_BITS: u32 = 32 - SHARD_BITS;
/// Records are allocated this many at a time per shard (40 KiB), so a
/// shard never holds more than one partly used chunk, and never copies its
/// records to grow.
const CHUNK: usize = 256;

/// An in-memory [`SessionStore`], sharded so that operations on different
/// sessions rarely share a lock.
///
/// Sessions are spread over 64 shards by their (random) id, each behind its
/// own `RwLock`; a second sharded map indexes sessions by subject. There is
/// no global lock: a refresh takes one shard's read lock to load and its
/// write lock to compare-and-swap. Contents are lost when the process exits.
///
/// # Memory
/// A session is kept compactly: a 192-byte record aligned to a cache line
/// (key ids interned, flags packed) in a slab that grows 256 records at a
/// time, its subject, claims and metadata inside the record when they fit
/// in 46 bytes (a UUID subject does) and in one allocation otherwise, and
/// two indexes of small entries (4 bytes by id, 8 by subject). With a
/// 36-byte subject and no claims or metadata, that is about 223 bytes of
/// heap per session at 1 million sessions (`cargo run --release --example
/// memory`), and a load touches three cache lines of the record and nothing
/// else of the session.
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
    /// The sets its [`RevocationFeed`] fills, inside each revoking write.
    feeds: RwLock<Vec<Weak<SharedRevocations>>>,
}

/// One shard of sessions: records in a slab, found by id through an index
/// of slot numbers whose hashes are recomputed from the records' ids.
///
/// Locks are taken in one order: a session shard, then a subject shard
/// (insert holds both, so that a purge never misses the entry it files);
/// nothing waits for a session shard while holding a subject shard.
#[derive(Debug, Default)]
struct Shard {
    index: HashTable<u32>,
    slab: Slab,
    /// Key ids, interned: a record names its key by position here.
    key_ids: Vec<KeyId>,
}

/// Records in chunks of [`CHUNK`], and the slots purges freed.
#[derive(Debug, Default)]
struct Slab {
    chunks: Vec<Vec<Record>>,
    free: Vec<u32>,
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
            feeds: RwLock::default(),
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

    fn shard_of(id: &SessionId) -> usize {
        usize::from(id.as_bytes()[15]) % SHARDS
    }

    fn subject_hash(&self, subject: &str) -> u64 {
        self.subject_hasher.hash_one(subject)
    }

    /// The subject shard takes the hash's top bits, the entry its low 32.
    fn subject_shard(&self, hash: u64) -> &RwLock<SubjectIndex> {
        &self.subjects[(hash >> (64 - SHARD_BITS)) as usize]
    }

    fn insert_now(&self, session: Session) -> Result<(), StoreError> {
        let id = session.id;
        let hash = self.subject_hash(&session.subject);
        let n = Self::shard_of(&id);
        let mut shard = self.sessions[n]
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let Shard {
            index,
            slab,
            key_ids,
        } = &mut *shard;
        let vacant = match index.entry(
            id_hash(&id),
            |&s| slab.get(s).is_some_and(|r| r.id == id),
            |&s| slab.get(s).map_or(0, |r| id_hash(&r.id)),
        ) {
            Entry::Occupied(_) => return Err(StoreError::conflict()),
            Entry::Vacant(v) => v,
        };
        let slot = slab
            .insert(Record::new(session, key_ids))
            // A shard of 2^26 sessions is out of memory long before.
            .ok_or_else(|| StoreError::from_kind(StoreErrorKind::Backend))?;
        vacant.insert(slot);
        self.subject_shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash as u32, location(n, slot));
        Ok(())
    }

    fn get_now(&self, id: &SessionId) -> Option<Session> {
        let shard = self.sessions[Self::shard_of(id)]
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = shard.find(id)?;
        let record = shard.slab.get(slot)?;
        Some(record.to_session(&shard.key_ids))
    }

    fn cas_now(&self, version: u64, next: Session) -> Result<(), StoreError> {
        let mut shard = self.sessions[Self::shard_of(&next.id)]
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let shard = &mut *shard;
        let current = shard
            .find(&next.id)
            .and_then(|slot| shard.slab.get_mut(slot))
            .ok_or_else(StoreError::conflict)?;
        if current.version != version || current.subject() != next.subject {
            return Err(StoreError::conflict());
        }
        let revokes = current.revocation().is_none();
        current.update(&next, &mut shard.key_ids);
        if revokes && let Some(notice) = RevocationNotice::of(&next) {
            // Still under the shard's write lock: no reader of this session
            // can see it revoked before every set knows.
            self.publish(notice);
        }
        Ok(())
    }

    /// Hands `notice` to every subscribed set (learnt at its own instant:
    /// the store has no clock), forgetting sets that were dropped.
    fn publish(&self, notice: RevocationNotice) {
        let mut gone = false;
        for feed in self
            .feeds
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            match feed.upgrade() {
                Some(set) => set.insert(notice, notice.at),
                None => gone = true,
            }
        }
        if gone {
            self.feeds
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|f| f.strong_count() > 0);
        }
    }

    fn subscribe_now(&self, set: &Arc<SharedRevocations>, now: UnixMillis) {
        // Subscribed first, then scanned: a revocation committed meanwhile
        // arrives twice, which the set ignores, and none is missed. No
        // shard lock is held while the list is locked (writers lock in
        // the other order).
        self.feeds
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(set));
        for shard in &self.sessions {
            let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
            for record in shard.slab.chunks.iter().flatten() {
                if let Some(r) = record.revocation() {
                    let notice = RevocationNotice {
                        session: record.id,
                        at: r.at,
                        reason: r.reason,
                    };
                    set.insert(notice, now);
                }
            }
        }
        set.write(crate::revocation::Revocations::mark_continuous);
    }

    fn list_now(&self, subject: &str) -> Vec<Session> {
        let hash = self.subject_hash(subject);
        let locations = self
            .subject_shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .locations(hash as u32);
        locations
            .into_iter()
            .filter_map(|at| {
                let shard = self.sessions[(at >> SLOT_BITS) as usize]
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                let record = shard.slab.get(at & ((1 << SLOT_BITS) - 1))?;
                (!record.is_vacant() && record.subject() == subject)
                    .then(|| record.to_session(&shard.key_ids))
            })
            .collect()
    }

    fn purge_now(&self, now: UnixMillis) -> u64 {
        let mut gone: Vec<(u64, u32)> = Vec::new();
        for (n, shard) in self.sessions.iter().enumerate() {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            let Shard { index, slab, .. } = &mut *shard;
            index.retain(|&mut slot| {
                let Some(record) = slab.get(slot) else {
                    return false;
                };
                if record.expires_at() > now.as_millis() {
                    return true;
                }
                gone.push((self.subject_hash(record.subject()), location(n, slot)));
                slab.vacate(slot);
                false
            });
        }
        // Sorted, a subject shard's entries and a subject's locations are
        // runs: one lock per shard, one pass per subject.
        gone.sort_unstable();
        for same_shard in gone.chunk_by(|a, b| a.0 >> (64 - SHARD_BITS) == b.0 >> (64 - SHARD_BITS))
        {
            let mut index = self
                .subject_shard(same_shard[0].0)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for same_subject in same_shard.chunk_by(|a, b| a.0 == b.0) {
                let locations: Vec<u32> = same_subject.iter().map(|g| g.1).collect();
                index.remove(same_subject[0].0 as u32, &locations);
            }
        }
        gone.len() as u64
    }
}

impl Shard {
    /// The slot of session `id`.
    fn find(&self, id: &SessionId) -> Option<u32> {
        self.index
            .find(id_hash(id), |&s| {
                self.slab.get(s).is_some_and(|r| r.id == *id)
            })
            .copied()
    }
}

impl Slab {
    fn get(&self, slot: u32) -> Option<&Record> {
        let slot = slot as usize;
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut Record> {
        let slot = slot as usize;
        self.chunks.get_mut(slot / CHUNK)?.get_mut(slot % CHUNK)
    }

    /// Stores `record` in a free slot, or in a new one unless the shard
    /// holds as many as a location can name.
    fn insert(&mut self, record: Record) -> Option<u32> {
        if let Some(slot) = self.free.pop()
            && let Some(vacant) = self.get_mut(slot)
        {
            *vacant = record;
            return Some(slot);
        }
        let full = self.chunks.last().is_none_or(|c| c.len() == CHUNK);
        let used = self.chunks.len().saturating_sub(usize::from(!full)) * CHUNK
            + self.chunks.last().map_or(0, |c| c.len() % CHUNK);
        let slot = u32::try_from(used).ok().filter(|&s| s < 1 << SLOT_BITS)?;
        if full {
            // The first chunk grows as a `Vec` does (a small store stays
            // small); later ones are allocated whole, once.
            let capacity = if self.chunks.is_empty() { 0 } else { CHUNK };
            self.chunks.push(Vec::with_capacity(capacity));
        }
        self.chunks.last_mut()?.push(record);
        Some(slot)
    }

    fn vacate(&mut self, slot: u32) {
        if let Some(record) = self.get_mut(slot) {
            record.vacate();
            self.free.push(slot);
        }
    }
}

/// A session's place, as the subject index files it.
fn location(shard: usize, slot: u32) -> u32 {
    (shard as u32) << SLOT_BITS | slot
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

/// In process and inside each revoking write: a set subscribed to a
/// `MemoryStore` is complete at every instant (its watermark is
/// [`Continuous`](crate::revocation::Watermark::Continuous)).
impl RevocationFeed for MemoryStore {
    async fn subscribe(
        &self,
        set: &Arc<SharedRevocations>,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        self.subscribe_now(set, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_every_shard_and_slot() {
        const { assert!(SHARDS <= 1 << SHARD_BITS) };
        let last = location(SHARDS - 1, (1 << SLOT_BITS) - 1);
        assert_eq!((last >> SLOT_BITS) as usize, SHARDS - 1);
        assert_eq!(last & ((1 << SLOT_BITS) - 1), (1 << SLOT_BITS) - 1);
    }
}
