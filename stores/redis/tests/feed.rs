//! The revocation feed on a real server, with two instances — each its own
//! `RedisStore` on its own runtime, both under one key prefix — sharing
//! one Redis:
//!
//! - a logout on A is refused by B's `verify_fresh` through B's feed; the
//!   propagation delay over 200 logouts is printed (p50/p99), not asserted;
//!   in steady state B makes no store read per request;
//! - when B's pub/sub connection is killed (and cannot come back for a
//!   while), B's set is marked down, B falls back to store reads and
//!   accepts no revoked token; a revocation made meanwhile is in B's set
//!   once the feed reconnects;
//! - a revoking swap that loses publishes nothing and indexes nothing;
//! - a set subscribed late holds the revocations made before; a set that
//!   would outlive the store's history is refused; dropping the set ends
//!   the subscription, dropping the store marks the set down.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pollster::block_on;
use tokenlife::revocation::Watermark;
use tokenlife::store::RevocationFeed;
use tokenlife::testkit::{self, CountingReads};
use tokenlife::{
    Authority, Clock, Error, Keyring, Policy, Revocations, SessionId, SessionStore,
    SharedRevocations, StoreErrorKind, SystemClock, TokenPair, UnixMillis,
};
use tokenlife_redis::RedisStore;

const LOGOUTS: usize = 200;
/// The longest any wait in these tests may take before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

fn keys() -> Keyring {
    Keyring::new("k1", b"test secret: thirty-two bytes or more!!").unwrap()
}

struct Pair {
    a: Authority<RedisStore, SystemClock, tokenlife::OsRandom>,
    b: Authority<Arc<CountingReads<Arc<RedisStore>>>, SystemClock, tokenlife::OsRandom>,
    b_store: Arc<CountingReads<Arc<RedisStore>>>,
    set: Arc<SharedRevocations>,
    prefix: String,
}

/// A on `url`, B on `b_url` (the same server), both under one fresh
/// prefix, B's set subscribed to B's store.
fn instances(url: &str, b_url: &str) -> Pair {
    let policy = Policy::default();
    let options = common::fresh_options();
    let a_store = common::store(url, options.clone());
    let prefix = a_store.prefix().to_owned();
    let a = Authority::new(keys(), policy.clone(), a_store);
    let b_redis = Arc::new(common::store(b_url, options));
    let set = Arc::new(SharedRevocations::new(&policy));
    block_on(b_redis.subscribe(&set, SystemClock.now())).unwrap();
    let b_store = Arc::new(CountingReads::new(b_redis));
    let b = Authority::new(keys(), policy, b_store.clone()).with_revocations(set.clone());
    Pair {
        a,
        b,
        b_store,
        set,
        prefix,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        // Fine enough to measure sub-millisecond propagation.
        std::thread::sleep(Duration::from_micros(50));
    }
}

fn in_set(set: &SharedRevocations, id: &SessionId) -> bool {
    set.read(|s| s.check(id, "alice", UnixMillis(0)).is_err())
}

/// How many connections are subscribed to the feed channel of `prefix`.
fn subscribers(prefix: &str) -> i64 {
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("{prefix}:revocations"))
        .query(&mut common::admin(&common::url()))
        .unwrap();
    count
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn a_logout_on_one_instance_is_refused_by_the_other_through_its_feed() {
    let url = common::url();
    // Two stores under one fresh prefix. The kit subscribes B's feed and
    // checks every logout through it.
    let options = common::fresh_options();
    let a = common::store(&url, options.clone());
    let b = common::store(&url, options);
    let figures = testkit::feed_delivers_every_logout(a, b, LOGOUTS, PATIENCE);
    println!("{figures}");
    assert!(
        matches!(figures.subscribed, Watermark::At(_)),
        "{:?}",
        figures.subscribed
    );
    // B's prefix is its own: its set holds these and nothing else.
    assert_eq!(figures.held, LOGOUTS);
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn while_the_feed_is_down_b_reads_the_store_and_catches_up_on_reconnect() {
    let url = common::url();
    let mut admin = common::admin(&url);
    // B connects as a user of its own, so that its feed can be kept from
    // reconnecting (`off`) while its store's connection, already
    // authenticated, stays up — and so that only its feed is killed.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let user = format!(
        "tl-feed-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let password = "feed-test-password";
    acl(&mut admin, &["SETUSER", &user, "reset", "on"]);
    acl(
        &mut admin,
        &[
            "SETUSER",
            &user,
            &format!(">{password}"),
            "allkeys",
            "allchannels",
            "+@all",
        ],
    );
    let p = instances(&url, &with_user(&url, &user, password));
    let s: Vec<TokenPair> = (0..3)
        .map(|_| block_on(p.a.login("alice", &())).unwrap())
        .collect();
    block_on(p.b.verify_live::<()>(&s[2].access_token)).unwrap();

    acl(&mut admin, &["SETUSER", &user, "off"]);
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub", "USER", &user])
        .query(&mut admin)
        .unwrap();
    assert_eq!(killed, 1, "B's pub/sub connection");
    wait_until("B's set knows its feed is down", || {
        p.set.read(Revocations::watermark) == Watermark::Unknown
    });

    // Down: every check reads the store, and a revocation is refused at once.
    let reads = p.b_store.reads();
    block_on(p.b.verify_fresh::<()>(&s[1].access_token)).unwrap();
    block_on(p.a.logout(&s[0].refresh_token)).unwrap();
    let r = block_on(p.b.verify_fresh::<()>(&s[0].access_token));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
    assert_eq!(p.b_store.reads() - reads, 2);
    assert!(
        !in_set(&p.set, &s[0].session_id),
        "a store read does not fill the set: only the feed does"
    );
    // Still down a moment later: the feed cannot come back yet.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(p.set.read(Revocations::watermark), Watermark::Unknown);
    assert_eq!(subscribers(&p.prefix), 0);

    // Back: the resync brings the revocation made during the outage.
    acl(&mut admin, &["SETUSER", &user, "on"]);
    wait_until("B's feed is back and resynchronised", || {
        matches!(p.set.read(Revocations::watermark), Watermark::At(_))
    });
    assert!(in_set(&p.set, &s[0].session_id), "resynchronised");
    let reads = p.b_store.reads();
    let r = block_on(p.b.verify_fresh::<()>(&s[0].access_token));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
    block_on(p.b.verify_fresh::<()>(&s[1].access_token)).unwrap();
    assert_eq!(p.b_store.reads(), reads, "fresh again: no store read");
    // And delivering again.
    block_on(p.a.logout(&s[1].refresh_token)).unwrap();
    wait_until("the next logout is delivered", || {
        in_set(&p.set, &s[1].session_id)
    });
    drop(p);
    acl(&mut admin, &["DELUSER", &user]);
}

fn acl(admin: &mut redis::Connection, args: &[&str]) {
    let _: redis::Value = redis::cmd("ACL").arg(args).query(admin).unwrap();
}

/// `url` (a `redis://` URL) connecting as `user` with `password`.
fn with_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a redis:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}")
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn a_revoking_swap_that_loses_publishes_nothing() {
    let url = common::url();
    let p = instances(&url, &url);
    let pair = block_on(p.a.login("alice", &())).unwrap();
    let stored = block_on(p.a.store().get(&pair.session_id))
        .unwrap()
        .unwrap();
    let now = SystemClock.now();
    let revoked =
        tokenlife::session::revoke(&stored, now, tokenlife::RevokeReason::Logout).unwrap();
    let lost = block_on(
        p.a.store()
            .compare_and_swap(stored.version + 7, revoked.clone()),
    );
    assert!(lost.is_err_and(|e| e.is_conflict()));
    let after = SystemClock.now();
    // Once the watermark has passed the lost swap, the set is complete up
    // to it: and it holds nothing.
    wait_until(
        "B's watermark passes the lost swap",
        || matches!(p.set.read(Revocations::watermark), Watermark::At(t) if t > after),
    );
    assert!(
        !in_set(&p.set, &pair.session_id),
        "a lost swap was published"
    );
    assert_eq!(indexed(&p.prefix), 0, "a lost swap was indexed");
    block_on(p.a.store().compare_and_swap(stored.version, revoked)).unwrap();
    wait_until("the winning swap is delivered", || {
        in_set(&p.set, &pair.session_id)
    });
    assert_eq!(indexed(&p.prefix), 1);
}

/// How many revocations the index of `prefix` holds, over every bucket.
fn indexed(prefix: &str) -> u64 {
    let mut admin = common::admin(&common::url());
    (0..16)
        .map(|b| {
            redis::cmd("ZCARD")
                .arg(format!("{{{prefix}:{b:x}}}:r"))
                .query::<u64>(&mut admin)
                .unwrap()
        })
        .sum()
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn a_set_subscribed_late_holds_the_revocations_made_before() {
    let url = common::url();
    let policy = Policy::default();
    let options = common::fresh_options();
    let a = Authority::new(keys(), policy.clone(), common::store(&url, options.clone()));
    let pairs: Vec<TokenPair> = (0..20)
        .map(|_| block_on(a.login("alice", &())).unwrap())
        .collect();
    for pair in &pairs[..10] {
        block_on(a.logout(&pair.refresh_token)).unwrap();
    }
    let b = common::store(&url, options);
    let set = Arc::new(SharedRevocations::new(&policy));
    block_on(b.subscribe(&set, SystemClock.now())).unwrap();
    assert!(matches!(set.read(Revocations::watermark), Watermark::At(_)));
    for (i, pair) in pairs.iter().enumerate() {
        assert_eq!(in_set(&set, &pair.session_id), i < 10, "session {i}");
    }
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn a_set_that_would_outlive_the_history_is_refused() {
    let options = common::fresh_options().with_revocation_history(Duration::from_secs(60));
    let store = common::store(&common::url(), options);
    // Default policy: entries live 15 minutes, more than 60 s of history.
    let set = Arc::new(SharedRevocations::new(&Policy::default()));
    let refused = block_on(store.subscribe(&set, SystemClock.now())).unwrap_err();
    assert_eq!(refused.kind(), StoreErrorKind::Backend);
    let text = common::chain(&refused);
    assert!(text.contains("with_revocation_history"), "{text}");
    assert_eq!(set.read(Revocations::watermark), Watermark::Unknown);
    assert_eq!(subscribers(store.prefix()), 0);
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn dropping_the_set_ends_the_subscription_and_dropping_the_store_marks_it_down() {
    let url = common::url();
    let policy = Policy::default();
    let store = common::store(&url, common::fresh_options());
    let prefix = store.prefix().to_owned();
    let set = Arc::new(SharedRevocations::new(&policy));
    block_on(store.subscribe(&set, SystemClock.now())).unwrap();
    assert_eq!(subscribers(&prefix), 1);
    drop(set);
    wait_until("the listener unsubscribes", || subscribers(&prefix) == 0);

    let set = Arc::new(SharedRevocations::new(&policy));
    block_on(store.subscribe(&set, SystemClock.now())).unwrap();
    assert!(matches!(set.read(Revocations::watermark), Watermark::At(_)));
    drop(store);
    wait_until("the set is marked down", || {
        set.read(Revocations::watermark) == Watermark::Unknown
    });
    wait_until("the listener's connection is closed", || {
        subscribers(&prefix) == 0
    });
}
