//! The conformance kit (`tokenlife::testkit`) run against `PostgresStore`
//! on a real PostgreSQL server (`TOKENLIFE_PG_URL`): as a whole, check by
//! check, and with the store on a tokio runtime it did not start.

mod common;

use tokenlife::{SessionStore, StoreErrorKind, testkit};
use tokenlife_postgres::{Options, PostgresStore, TABLE};

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn store_passes_the_whole_kit() {
    let db = common::database("store_passes_the_whole_kit");
    testkit::check_all(|| db.fresh_store());
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn store_on_a_borrowed_tokio_runtime_passes_the_whole_kit() {
    let db = common::database("store_on_a_borrowed_tokio_runtime_passes_the_whole_kit");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Connected on the server's runtime; the kit polls its futures with
    // pollster on threads of its own.
    testkit::check_all(|| {
        runtime
            .block_on(PostgresStore::connect(&db.fresh_url()))
            .unwrap()
    });
}

macro_rules! each_check {
    ($($check:ident),* $(,)?) => {$(
        #[test]
        #[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
        fn $check() {
            let db = common::database(stringify!($check));
            testkit::$check(&db.fresh_store());
        }
    )*};
}

each_check!(
    insert_then_get,
    insert_rejects_a_taken_id,
    compare_and_swap_wins_on_the_expected_version,
    compare_and_swap_loses_on_a_stale_version,
    concurrent_writers_have_one_winner,
    list_by_subject_matches_exactly,
    purge_expired_is_exact_to_the_millisecond,
    large_values_round_trip,
    extreme_numbers_round_trip,
);

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn futures_are_send_and_run_in_tokio_tasks() {
    let db = common::database("futures_are_send_and_run_in_tokio_tasks");
    let url = db.fresh_url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = std::sync::Arc::new(PostgresStore::connect(&url).await.unwrap());
        let tasks: Vec<_> = (0..16)
            .map(|n| {
                let store = std::sync::Arc::clone(&store);
                tokio::spawn(async move { store.list_by_subject(&format!("user-{n}")).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().unwrap().is_empty());
        }
    });
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn the_migration_is_idempotent_and_creates_the_indexes() {
    let db = common::database("the_migration_is_idempotent_and_creates_the_indexes");
    let url = db.fresh_url();
    // Four instances starting at once each run the migration.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| drop(db.store(&url, Options::default())));
        }
    });
    let store = db.store(&url, Options::default());
    pollster::block_on(store.migrate()).unwrap();
    let indexes = db.query_text(
        &url,
        &format!(
            "SELECT indexdef FROM pg_indexes WHERE tablename = '{TABLE}' \
             AND schemaname = current_schema() ORDER BY indexname"
        ),
    );
    let indexes: Vec<String> = indexes
        .into_iter()
        .filter_map(|mut r| r.remove(0))
        .collect();
    assert_eq!(indexes.len(), 4, "{indexes:?}");
    for column in [
        "(expires_at)",
        "(id)",
        "(revoked_at) WHERE (revoked_at IS NOT NULL)",
        "(subject)",
    ] {
        assert!(indexes.iter().any(|d| d.ends_with(column)), "{indexes:?}");
    }
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn without_migration_a_missing_table_is_a_backend_error() {
    let db = common::database("without_migration_a_missing_table_is_a_backend_error");
    let store = db.store(&db.fresh_url(), Options::default().without_migration());
    let e = pollster::block_on(store.list_by_subject("alice")).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Backend);
    assert_eq!(e.to_string(), "store backend failed");
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn a_record_that_does_not_decode_is_corrupt() {
    let db = common::database("a_record_that_does_not_decode_is_corrupt");
    let url = db.fresh_url();
    let store = db.store(&url, Options::default());
    db.execute_on(
        &url,
        &format!(
            "INSERT INTO {TABLE} VALUES ('AAAAAAAAAAAAAAAAAAAAAA', 'alice', 0, 0, 'not json')"
        ),
    );
    let e = pollster::block_on(store.list_by_subject("alice")).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt);
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn connecting_inside_a_runtime_with_connect_blocking_is_an_error_not_a_panic() {
    let db = common::database(
        "connecting_inside_a_runtime_with_connect_blocking_is_an_error_not_a_panic",
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = runtime
        .block_on(async { PostgresStore::connect_blocking(db.url()) })
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Backend);
    let e = pollster::block_on(PostgresStore::connect(db.url())).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Backend);
}

#[test]
fn a_server_that_is_not_there_is_unavailable() {
    // Needs no database: nothing listens on port 1 of the loopback.
    let started = std::time::Instant::now();
    let e = PostgresStore::connect_blocking("postgres://nobody@127.0.0.1:1/none").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unavailable);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
