//! One shard of the subject index: where each subject's sessions are.

use alloc::vec::Vec;
use std::collections::HashMap;

use hashbrown::HashTable;

use super::hash::IdHash;

/// Sessions by subject, as 8-byte entries: 32 bits of the subject's keyed
/// hash and the session's location (its shard and slot). The hash is kept
/// in the entry so that growing the table needs nothing from the session
/// shards (no lock on them); the records hold the subjects themselves, and
/// a listing compares them, so 32 bits suffice to find the candidates.
///
/// A hash's first session sits in `first`; any further ones (and those of
/// other subjects with the same 32 bits) in `more`, so that a subject with
/// many sessions never lengthens the probe sequences of others.
#[derive(Debug, Default)]
pub(super) struct SubjectIndex {
    first: HashTable<Entry>,
    more: HashMap<u32, Vec<u32>, IdHash>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u32,
    location: u32,
}

impl SubjectIndex {
    pub(super) fn insert(&mut self, hash: u32, location: u32) {
        match self
            .first
            .entry(spread(hash), |e| e.hash == hash, |e| spread(e.hash))
        {
            hashbrown::hash_table::Entry::Occupied(_) => {
                self.more.entry(hash).or_default().push(location);
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Entry { hash, location });
            }
        }
    }

    /// The locations filed under `hash`, each once.
    pub(super) fn locations(&self, hash: u32) -> Vec<u32> {
        let mut found: Vec<u32> = self
            .first
            .find(spread(hash), |e| e.hash == hash)
            .map(|e| e.location)
            .into_iter()
            .chain(self.more.get(&hash).into_iter().flatten().copied())
            .collect();
        // A slot freed by a purge and reused by the same subject is filed
        // twice until the purge removes the old entry.
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Removes one entry of `hash` for each of `gone` (sorted, distinct).
    pub(super) fn remove(&mut self, hash: u32, gone: &[u32]) {
        let mut taken = alloc::vec![false; gone.len()];
        let mut take = |location: u32| match gone.binary_search(&location) {
            Ok(i) if !taken[i] => {
                taken[i] = true;
                true
            }
            _ => false,
        };
        let mut more = self.more.remove(&hash).unwrap_or_default();
        let Ok(first) = self.first.find_entry(spread(hash), |e| e.hash == hash) else {
            return;
        };
        let first_gone = take(first.get().location);
        more.retain(|&location| !take(location));
        if first_gone {
            match more.pop() {
                Some(next) => first.into_mut().location = next,
                None => {
                    first.remove();
                }
            }
        }
        if !more.is_empty() {
            self.more.insert(hash, more);
        }
    }
}

/// The table's hash of a 32-bit subject hash: spread over 64 bits, as the
/// table takes its control byte from the top bits.
fn spread(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
