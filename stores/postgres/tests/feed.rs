//! The revocation feed on a real server, with two instances — each its own
//! `PostgresStore` on its own tokio runtime — sharing one database:
//!
//! - a logout on A is refused by B's `verify_fresh` through B's feed; the
//!   propagation delay over 200 logouts is printed (p50/p99), not asserted;
//!   in steady state B makes no store read per request;
//! - when B's listening connection is killed (and cannot come back for a
//!   while), B falls back to store reads and accepts no revoked token; a
//!   revocation made meanwhile is in B's set once the feed reconnects.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pollster::block_on;
use tokenlife::revocation::Watermark;
use tokenlife::store::RevocationFeed;
use tokenlife::testkit::{self, CountingReads};
use tokenlife::{
    Authority, Clock, Error, Keyring, Policy, Revocations, SessionStore, SharedRevocations,
    SystemClock, TokenPair, UnixMillis,
};
use tokenlife_postgres::{Options, PostgresStore};

const LOGOUTS: usize = 200;
/// The longest any wait in these tests may take before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

fn keys() -> Keyring {
    Keyring::new("k1", b"test secret: thirty-two bytes or more!!").unwrap()
}

struct Pair {
    a: Authority<PostgresStore, SystemClock, tokenlife::OsRandom>,
    b: Authority<Arc<CountingReads<Arc<PostgresStore>>>, SystemClock, tokenlife::OsRandom>,
    b_store: Arc<CountingReads<Arc<PostgresStore>>>,
    set: Arc<SharedRevocations>,
}

/// A on `url`, B on `b_url` (the same database and schema), B's set
/// subscribed to B's store.
fn instances(db: &common::TestDb, url: &str, b_url: &str) -> Pair {
    let policy = Policy::default();
    let a = Authority::new(keys(), policy.clone(), db.store(url, Options::default()));
    let b_pg = Arc::new(db.store(b_url, Options::default().without_migration()));
    let set = Arc::new(SharedRevocations::new(&policy));
    block_on(b_pg.subscribe(&set, SystemClock.now())).unwrap();
    let b_store = Arc::new(CountingReads::new(b_pg));
    let b = Authority::new(keys(), policy, b_store.clone()).with_revocations(set.clone());
    Pair { a, b, b_store, set }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        // Fine enough to measure sub-millisecond propagation.
        std::thread::sleep(Duration::from_micros(50));
    }
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn a_logout_on_one_instance_is_refused_by_the_other_through_its_feed() {
    let db = common::database("a_logout_on_one_instance_is_refused_by_the_other_through_its_feed");
    let url = db.fresh_url();
    // A migrates the schema; B, a second store on it, does not. The kit
    // subscribes B's feed and checks every logout through it.
    let a = db.store(&url, Options::default());
    let b = db.store(&url, Options::default().without_migration());
    let figures = testkit::feed_delivers_every_logout(a, b, LOGOUTS, PATIENCE);
    println!("{figures}");
    assert!(
        matches!(figures.subscribed, Watermark::At(_)),
        "{:?}",
        figures.subscribed
    );
    // (Other tests on this database notify on the same channel.)
    assert!(figures.held >= LOGOUTS);
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn while_the_feed_is_down_b_reads_the_store_and_catches_up_on_reconnect() {
    let test = "while_the_feed_is_down_b_reads_the_store_and_catches_up_on_reconnect";
    let db = common::database(test);
    let url = db.fresh_url();
    // B connects as a role of its own, so that its feed can be kept from
    // reconnecting (NOLOGIN) while its pooled connection stays up.
    let role = format!("tl_feed_{}", std::process::id());
    db.execute_on(
        db.url(),
        &format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN SUPERUSER"),
    );
    let b_url = with_user_and_name(&url, &role);
    let p = instances(&db, &url, &b_url);
    let s: Vec<TokenPair> = (0..3)
        .map(|_| block_on(p.a.login("alice", &())).unwrap())
        .collect();
    // One read opens B's pooled connection (NOLOGIN only stops new ones).
    block_on(p.b.verify_live::<()>(&s[2].access_token)).unwrap();

    db.execute_on(db.url(), &format!("ALTER ROLE {role} NOLOGIN"));
    let killed = db.query_text(
        db.url(),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = '{role}-feed'"
        ),
    );
    assert_eq!(killed.len(), 1, "B's listening connection");
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
        p.set
            .read(|set| set.check(&s[0].session_id, "alice", UnixMillis(0)))
            .is_ok(),
        "a store read does not fill the set: only the feed does"
    );

    // Back: the resync brings the revocation made during the outage.
    db.execute_on(db.url(), &format!("ALTER ROLE {role} LOGIN"));
    wait_until("B's feed is back and resynchronised", || {
        matches!(p.set.read(Revocations::watermark), Watermark::At(_))
    });
    let reads = p.b_store.reads();
    let r = block_on(p.b.verify_fresh::<()>(&s[0].access_token));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
    block_on(p.b.verify_fresh::<()>(&s[1].access_token)).unwrap();
    assert_eq!(p.b_store.reads(), reads, "fresh again: no store read");
    drop(p);
    db.execute_on(
        db.url(),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'; \
             DROP ROLE IF EXISTS {role}"
        ),
    );
}

/// `url` (a `postgres://` URL with a query) connecting as `user`, with
/// `application_name` set to `user` too.
fn with_user_and_name(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let host = match rest.split_once('@') {
        Some((_, host)) if !rest[..rest.find('@').unwrap()].contains('/') => host,
        _ => rest,
    };
    format!("{scheme}://{user}@{host}&application_name={user}")
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn a_revoking_swap_that_loses_notifies_no_one() {
    let db = common::database("a_revoking_swap_that_loses_notifies_no_one");
    let url = db.fresh_url();
    let p = instances(&db, &url, &url);
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
        p.set
            .read(|s| s.check(&pair.session_id, "alice", UnixMillis(0)))
            .is_ok(),
        "a lost swap was notified"
    );
    block_on(p.a.store().compare_and_swap(stored.version, revoked)).unwrap();
    wait_until("the winning swap is delivered", || {
        p.set
            .read(|s| s.check(&pair.session_id, "alice", UnixMillis(0)))
            .is_err()
    });
}
