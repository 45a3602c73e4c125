//! The conformance kit (`tokenlife::testkit`) run against `MemoryStore`.
//!
//! Every check gets a new, empty store; each is its own test so that a
//! failure names the promise that broke.
#![cfg(feature = "testkit")]

use std::sync::Arc;
use std::time::Duration;

use tokenlife::{MemoryStore, testkit};

#[test]
fn memory_store_passes_the_whole_kit() {
    testkit::check_all(MemoryStore::new);
}

#[test]
fn memory_store_insert_then_get() {
    testkit::insert_then_get(&MemoryStore::new());
}

#[test]
fn memory_store_insert_rejects_a_taken_id() {
    testkit::insert_rejects_a_taken_id(&MemoryStore::new());
}

#[test]
fn memory_store_compare_and_swap_wins_on_the_expected_version() {
    testkit::compare_and_swap_wins_on_the_expected_version(&MemoryStore::new());
}

#[test]
fn memory_store_compare_and_swap_loses_on_a_stale_version() {
    testkit::compare_and_swap_loses_on_a_stale_version(&MemoryStore::new());
}

#[test]
fn memory_store_concurrent_writers_have_one_winner() {
    testkit::concurrent_writers_have_one_winner(&MemoryStore::new());
}

#[test]
fn memory_store_list_by_subject_matches_exactly() {
    testkit::list_by_subject_matches_exactly(&MemoryStore::new());
}

#[test]
fn memory_store_purge_expired_is_exact_to_the_millisecond() {
    testkit::purge_expired_is_exact_to_the_millisecond(&MemoryStore::new());
}

#[test]
fn memory_store_large_values_round_trip() {
    testkit::large_values_round_trip(&MemoryStore::new());
}

#[test]
fn memory_store_extreme_numbers_round_trip() {
    testkit::extreme_numbers_round_trip(&MemoryStore::new());
}

#[test]
#[should_panic(expected = "insert_rejects_a_taken_id")]
fn the_kit_fails_a_store_that_overwrites_on_insert() {
    testkit::insert_rejects_a_taken_id(&broken::OverwritingStore::default());
}

/// A store that breaks one promise, to show that the kit catches it.
mod broken {
    use std::future::Future;

    use tokenlife::{MemoryStore, Session, SessionId, SessionStore, StoreError, UnixMillis};

    /// Inserts by overwriting: `insert` on a taken id replaces the record.
    #[derive(Default)]
    pub struct OverwritingStore(MemoryStore);

    impl SessionStore for OverwritingStore {
        async fn insert(&self, session: Session) -> Result<(), StoreError> {
            match self.0.get(&session.id).await? {
                Some(current) => self.0.compare_and_swap(current.version, session).await,
                None => self.0.insert(session).await,
            }
        }
        fn get(
            &self,
            id: &SessionId,
        ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send {
            self.0.get(id)
        }
        fn compare_and_swap(
            &self,
            expected_version: u64,
            next: Session,
        ) -> impl Future<Output = Result<(), StoreError>> + Send {
            self.0.compare_and_swap(expected_version, next)
        }
        fn list_by_subject(
            &self,
            subject: &str,
        ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
            self.0.list_by_subject(subject)
        }
        fn purge_expired(
            &self,
            now: UnixMillis,
        ) -> impl Future<Output = Result<u64, StoreError>> + Send {
            self.0.purge_expired(now)
        }
    }
}

#[test]
fn memory_store_feed_delivers_every_logout() {
    let store = Arc::new(MemoryStore::new());
    let figures =
        testkit::feed_delivers_every_logout(store.clone(), store, 50, Duration::from_secs(5));
    assert_eq!(figures.after_return.len(), 50);
    assert_eq!(figures.fallback_reads, 0);
    assert_eq!(figures.held, 50);
}

/// The feed check can fail: B on a store of its own hears none of A's
/// logouts.
#[test]
#[should_panic(expected = "a logout was not in B's set within")]
fn the_feed_check_fails_when_the_feed_delivers_nothing() {
    testkit::feed_delivers_every_logout(
        MemoryStore::new(),
        MemoryStore::new(),
        3,
        Duration::from_millis(50),
    );
}

#[test]
fn counting_reads_counts_get_and_list_by_subject_only() {
    use tokenlife::{SessionId, SessionStore, UnixMillis};
    let store = testkit::CountingReads::new(MemoryStore::new());
    pollster::block_on(store.get(&SessionId::from_bytes([1; 16]))).unwrap();
    pollster::block_on(store.list_by_subject("alice")).unwrap();
    pollster::block_on(store.purge_expired(UnixMillis(0))).unwrap();
    assert_eq!(store.reads(), 2);
}
