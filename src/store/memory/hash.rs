//! The hashes of the memory store's indexes.

use core::hash::{BuildHasherDefault, Hasher};

use crate::id::SessionId;

/// Session ids are uniformly random (drawn by the authority), and subject
/// hashes come from a keyed hash, so their bytes need no further hashing.
pub(super) type IdHash = BuildHasherDefault<IdHasher>;

#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The index hash of a session id: both halves folded, so that ids chosen
/// by a custom store user still spread.
pub(super) fn id_hash(id: &SessionId) -> u64 {
    let mut h = IdHasher::default();
    h.write(id.as_bytes());
    h.finish()
}
