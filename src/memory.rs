//! [`MemoryStore`]: the embedded, in-process [`SessionStore`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::sync::{PoisonError, RwLock};

use crate::session::{Session, SessionId};
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
/// ```
/// use tokenlife::{Authority, Keyring, MemoryStore, Policy};
///
/// let authority = Authority::new(Keyring::new("k1", &[7; 32])?, Policy::default(), MemoryStore::new());
/// # Ok::<(), tokenlife::Error>(())
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    sessions: Box<[RwLock<HashMap<SessionId, Session, IdHash>>]>,
    subjects: Box<[RwLock<SubjectIndex>]>,
    subject_hasher: RandomState,
}

type SubjectIndex = HashMap<String, Vec<SessionId>>;

/// Session ids are uniformly random (drawn by the authority), so their
/// first bytes are already a good hash and need no keyed hashing.
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
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether it holds no session.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, id: &SessionId) -> &RwLock<HashMap<SessionId, Session, IdHash>> {
        let b = id.as_bytes();
        &self.sessions[usize::from(b[15]) % SHARDS]
    }

    fn subject_shard(&self, subject: &str) -> &RwLock<SubjectIndex> {
        let h = self.subject_hasher.hash_one(subject);
        // The modulo keeps the index in range whatever the width of usize.
        &self.subjects[(h % SHARDS as u64) as usize]
    }

    fn insert_now(&self, session: Session) -> Result<(), StoreError> {
        let (id, subject) = (session.id, session.subject.clone());
        {
            let mut shard = self
                .shard(&id)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            match shard.entry(id) {
                Entry::Occupied(_) => return Err(StoreError::conflict()),
                Entry::Vacant(v) => {
                    v.insert(session);
                }
            }
        }
        self.subject_shard(&subject)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(subject)
            .or_default()
            .push(id);
        Ok(())
    }

    fn cas_now(&self, expected: u64, next: Session) -> Result<(), StoreError> {
        let mut shard = self
            .shard(&next.id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match shard.get_mut(&next.id) {
            Some(current) if current.version == expected && current.subject == next.subject => {
                *current = next;
                Ok(())
            }
            _ => Err(StoreError::conflict()),
        }
    }

    fn list_now(&self, subject: &str) -> Vec<Session> {
        let ids = self
            .subject_shard(subject)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(subject)
            .cloned()
            .unwrap_or_default();
        ids.iter()
            .filter_map(|id| {
                self.shard(id)
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(id)
                    .cloned()
            })
            .collect()
    }

    fn purge_now(&self, now: UnixMillis) -> u64 {
        let mut purged: Vec<(String, SessionId)> = Vec::new();
        for shard in self.sessions.iter() {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            shard.retain(|id, s| {
                let keep = s.expires_at() > now;
                if !keep {
                    purged.push((core::mem::take(&mut s.subject), *id));
                }
                keep
            });
        }
        for (subject, id) in &purged {
            let mut index = self
                .subject_shard(subject)
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(ids) = index.get_mut(subject) {
                ids.retain(|x| x != id);
                if ids.is_empty() {
                    index.remove(subject);
                }
            }
        }
        purged.len() as u64
    }
}

impl SessionStore for MemoryStore {
    async fn insert(&self, session: Session) -> Result<(), StoreError> {
        self.insert_now(session)
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned())
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
