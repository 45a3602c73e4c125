//! The conformance kit (`tokenlife::testkit`) run against `RedisStore` on
//! a real Redis server (`TOKENLIFE_REDIS_URL`): as a whole, check by check,
//! and with the store on a tokio runtime it did not start; and the errors
//! it gives. The script-reload test flushes the scripts of a server of its
//! own (`TOKENLIFE_REDIS_SERVER`), not of the shared one.

mod common;

use redis::Commands as _;
use tokenlife::{SessionId, SessionStore, StoreErrorKind, testkit};
use tokenlife_redis::{Options, RedisStore};

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn store_passes_the_whole_kit() {
    testkit::check_all(common::fresh_store);
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn store_on_a_borrowed_tokio_runtime_passes_the_whole_kit() {
    let url = common::url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Connected on the server's runtime; the kit polls its futures with
    // pollster on threads of its own.
    testkit::check_all(|| {
        runtime
            .block_on(RedisStore::connect_with(&url, common::fresh_options()))
            .unwrap()
    });
}

macro_rules! each_check {
    ($($check:ident),* $(,)?) => {$(
        #[test]
        #[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
        fn $check() {
            testkit::$check(&common::fresh_store());
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
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn futures_are_send_and_run_in_tokio_tasks() {
    let url = common::url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = std::sync::Arc::new(
            RedisStore::connect_with(&url, common::fresh_options())
                .await
                .unwrap(),
        );
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
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn the_scripts_are_reloaded_after_the_server_forgets_them() {
    // On a server of its own: a `SCRIPT FLUSH` on the shared one could
    // land between another test's reload and its retry.
    let server = common::OwnServer::start("scripts", &[]);
    let url = server.url();
    let store = common::store(&url, Options::default());
    let forget = || {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query(&mut common::admin(&url))
            .unwrap();
    };
    let id = SessionId::from_bytes([3; 16]);
    forget();
    pollster::block_on(store.insert(record(id, 0))).unwrap();
    forget();
    // EVALSHA fails with NOSCRIPT; the store loads the script and goes on.
    pollster::block_on(store.compare_and_swap(0, record(id, 1))).unwrap();
    assert_eq!(
        pollster::block_on(store.get(&id)).unwrap(),
        Some(record(id, 1))
    );
    forget();
    // The revoking swap is a script of its own.
    let mut revoked = record(id, 2);
    revoked.revoked = Some(tokenlife::Revocation {
        at: tokenlife::UnixMillis(0),
        reason: tokenlife::RevokeReason::Logout,
    });
    pollster::block_on(store.compare_and_swap(1, revoked.clone())).unwrap();
    assert_eq!(pollster::block_on(store.get(&id)).unwrap(), Some(revoked));
    forget();
    let purged = pollster::block_on(store.purge_expired(tokenlife::UnixMillis(1)));
    assert_eq!(purged.unwrap(), 1);
    assert_eq!(pollster::block_on(store.get(&id)).unwrap(), None);
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn a_record_that_does_not_decode_is_corrupt_and_not_quoted() {
    let url = common::url();
    let store = common::fresh_store();
    let id = SessionId::from_bytes([9; 16]);
    let key = format!("{{{}:9}}:s:{id}", store.prefix());
    let marker = "not json: private-marker-4f1d";
    let _: () = common::admin(&url).hset(&key, "r", marker).unwrap();
    let e = pollster::block_on(store.get(&id)).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt);
    let text = common::chain(&e);
    assert!(!text.contains("private-marker"), "{text}");
    assert!(!text.contains(&id.to_string()), "{text}");
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn a_key_of_the_wrong_type_is_a_backend_error_that_quotes_nothing() {
    let url = common::url();
    let store = common::fresh_store();
    let id = SessionId::from_bytes([9; 16]);
    let key = format!("{{{}:9}}:s:{id}", store.prefix());
    let _: () = common::admin(&url)
        .set(&key, "private-marker-77ab")
        .unwrap();
    for outcome in [
        pollster::block_on(store.get(&id)).map(drop),
        pollster::block_on(store.compare_and_swap(0, record(id, 1))),
    ] {
        let e = outcome.unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Backend);
        assert_eq!(e.to_string(), "store backend failed");
        let text = common::chain(&e);
        assert!(text.contains("WRONGTYPE") || text.contains("ERR"), "{text}");
        assert!(!text.contains("private-marker"), "{text}");
        assert!(!text.contains(&key), "{text}");
    }
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn purge_is_exact_past_the_precision_of_a_double() {
    // 2^53 + 1 has no double of its own: as a score it reads as 2^53.
    let edge = 1u64 << 53;
    let store = common::fresh_store();
    let id = SessionId::from_bytes([5; 16]);
    let mut session = record(id, 0);
    session.idle_expires_at = tokenlife::UnixMillis(edge + 1);
    pollster::block_on(store.insert(session.clone())).unwrap();
    let purge = |now: u64| pollster::block_on(store.purge_expired(tokenlife::UnixMillis(now)));
    assert_eq!(purge(edge).unwrap(), 0, "purged 1 ms early");
    assert_eq!(pollster::block_on(store.get(&id)).unwrap(), Some(session));
    assert_eq!(purge(edge + 1).unwrap(), 1);
    assert_eq!(pollster::block_on(store.get(&id)).unwrap(), None);
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn writes_set_a_safety_net_ttl_well_past_the_session_end() {
    const HOUR: u64 = 3_600_000;
    const DAY: u64 = 24 * HOUR;
    let url = common::url();
    let store = common::fresh_store();
    let id = SessionId::from_bytes([6; 16]);
    let mut session = record(id, 0);
    session.rotated_at = tokenlife::UnixMillis(10 * DAY);
    session.idle_expires_at = tokenlife::UnixMillis(10 * DAY + HOUR);
    pollster::block_on(store.insert(session.clone())).unwrap();
    let ttls = || -> Vec<i64> {
        let mut admin = common::admin(&url);
        let prefix = store.prefix();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{prefix}:6}}:*"))
            .query(&mut admin)
            .unwrap();
        assert_eq!(keys.len(), 3, "{keys:?}");
        keys.iter()
            .map(|k| redis::cmd("PTTL").arg(k).query(&mut admin).unwrap())
            .collect()
    };
    // Twice the hour left, plus a day: far past the session's end by any
    // clock, and not forever.
    for ttl in ttls() {
        assert!(
            ttl > (2 * HOUR + DAY - 60_000) as i64 && ttl <= (2 * HOUR + DAY) as i64,
            "{ttl}"
        );
    }
    let mut next = session.clone();
    next.version = 1;
    next.idle_expires_at = tokenlife::UnixMillis(10 * DAY + 7 * DAY);
    pollster::block_on(store.compare_and_swap(0, next)).unwrap();
    for ttl in ttls() {
        assert!(
            ttl > (15 * DAY - 60_000) as i64 && ttl <= (15 * DAY) as i64,
            "{ttl}"
        );
    }
}

#[test]
fn connecting_inside_a_runtime_with_connect_blocking_is_an_error_not_a_panic() {
    // Needs no server: both are refused before connecting.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = runtime
        .block_on(async { RedisStore::connect_blocking("redis://127.0.0.1:1") })
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Backend);
    let e = pollster::block_on(RedisStore::connect("redis://127.0.0.1:1")).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Backend);
}

#[test]
fn a_server_that_is_not_there_is_unavailable() {
    // Needs no server: nothing listens on port 1 of the loopback.
    let started = std::time::Instant::now();
    let options = Options::default().with_timeout(std::time::Duration::from_secs(2));
    let e = RedisStore::connect_blocking_with("redis://127.0.0.1:1", options).unwrap_err();
    assert_eq!(
        e.kind(),
        StoreErrorKind::Unavailable,
        "{}",
        common::chain(&e)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_url_that_does_not_parse_is_a_backend_error_that_does_not_quote_it() {
    let e = RedisStore::connect_blocking("http://user:hunter2@example.invalid").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Backend);
    assert!(!common::chain(&e).contains("hunter2"));
}

/// A record for `id` at `version`, expiring 1 ms after the epoch.
fn record(id: SessionId, version: u64) -> tokenlife::Session {
    tokenlife::Session {
        id,
        subject: "alice".into(),
        version,
        generation: 0,
        key_id: tokenlife::KeyId::new("k1").unwrap(),
        current_hash: tokenlife::refresh::SecretHash([1; 32]),
        previous_hash: None,
        created_at: tokenlife::UnixMillis(0),
        rotated_at: tokenlife::UnixMillis(0),
        idle_expires_at: tokenlife::UnixMillis(1),
        absolute_expires_at: None,
        revoked: None,
        claims: None,
        metadata: Vec::new(),
    }
}
