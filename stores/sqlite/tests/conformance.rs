//! The conformance kit (`tokenlife::testkit`) run against `SqliteStore`:
//! on files (WAL, as deployed) check by check, and in memory as a whole.

use tempfile::TempDir;
use tokenlife::testkit;
use tokenlife_sqlite::SqliteStore;

/// A store on a new file in its own temporary directory (kept alive with it).
fn on_file() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("sessions.sqlite")).unwrap();
    (store, dir)
}

#[test]
fn in_memory_store_passes_the_whole_kit() {
    testkit::check_all(|| SqliteStore::open_in_memory().unwrap());
}

#[test]
fn file_store_passes_the_whole_kit() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    testkit::check_all(|| {
        n += 1;
        SqliteStore::open(dir.path().join(format!("kit-{n}.sqlite"))).unwrap()
    });
}

#[test]
fn insert_then_get() {
    testkit::insert_then_get(&on_file().0);
}

#[test]
fn insert_rejects_a_taken_id() {
    testkit::insert_rejects_a_taken_id(&on_file().0);
}

#[test]
fn compare_and_swap_wins_on_the_expected_version() {
    testkit::compare_and_swap_wins_on_the_expected_version(&on_file().0);
}

#[test]
fn compare_and_swap_loses_on_a_stale_version() {
    testkit::compare_and_swap_loses_on_a_stale_version(&on_file().0);
}

#[test]
fn concurrent_writers_have_one_winner() {
    testkit::concurrent_writers_have_one_winner(&on_file().0);
}

#[test]
fn list_by_subject_matches_exactly() {
    testkit::list_by_subject_matches_exactly(&on_file().0);
}

#[test]
fn purge_expired_is_exact_to_the_millisecond() {
    testkit::purge_expired_is_exact_to_the_millisecond(&on_file().0);
}

#[test]
fn large_values_round_trip() {
    testkit::large_values_round_trip(&on_file().0);
}

#[test]
fn extreme_numbers_round_trip() {
    testkit::extreme_numbers_round_trip(&on_file().0);
}
