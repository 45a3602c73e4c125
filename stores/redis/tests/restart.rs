//! Sessions live in Redis: with the append-only file on they survive a
//! crash of the server; and when the server loses a write (no persistence,
//! or a crash inside the fsync window), a client left holding a newer
//! token than the store knows is refused, and nothing is revoked for it.
//!
//! Two instances on one server see each other's writes at once.
//!
//! The crash tests start a `redis-server` of their own (`TOKENLIFE_REDIS_SERVER`,
//! or `redis-server` on `PATH`) on a free loopback port, and kills it.

mod common;

use std::time::Duration;

use common::OwnServer;
use pollster::block_on;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tokenlife::{
    Authority, Error, Keyring, ManualClock, Policy, SessionStore, SharedRng, UnixMillis,
};
use tokenlife_redis::{Options, RedisStore};

type RedisAuthority = Authority<RedisStore, ManualClock, SharedRng<ChaCha20Rng>>;

const START: UnixMillis = UnixMillis(1_764_000_000_000);

/// An authority over the server at `url`, as a freshly started instance
/// would build it: same keys, its own connection and random source.
fn authority(url: &str, clock: &ManualClock, seed: u64) -> RedisAuthority {
    authority_with(url, Options::default(), clock, seed)
}

fn authority_with(url: &str, options: Options, clock: &ManualClock, seed: u64) -> RedisAuthority {
    let keys = Keyring::new("k1", b"test secret: thirty-two bytes or more!!").unwrap();
    Authority::new(keys, Policy::default(), common::store(url, options))
        .with_clock(clock.clone())
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(seed)))
}

/// Two running instances on one server: what one writes, the other's
/// `verify_live` sees on its next call — a logout, a `logout_all`, a
/// rotation (and its grace replay) — with no feed involved.
#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn another_instances_verify_live_sees_each_write_at_once() {
    let (url, options) = (common::url(), common::fresh_options());
    let clock = ManualClock::new(START);
    let a = authority_with(&url, options.clone(), &clock, 1);
    let b = authority_with(&url, options, &clock, 2);

    let phone = block_on(a.login("alice", &())).unwrap();
    let laptop = block_on(a.login("alice", &())).unwrap();
    let bob = block_on(a.login("bob", &())).unwrap();
    for pair in [&phone, &laptop, &bob] {
        block_on(b.verify_live::<()>(&pair.access_token)).unwrap();
    }

    // A rotation on A: B's next check accepts the successor at once, and
    // B answers the grace replay of the spent token with the same one.
    let phone_next = block_on(a.refresh(&phone.refresh_token)).unwrap();
    block_on(b.verify_live::<()>(&phone_next.access_token)).unwrap();
    let replay = block_on(b.refresh(&phone.refresh_token)).unwrap();
    assert_eq!(replay.refresh_token, phone_next.refresh_token);

    // A logout on A: B refuses the session on its very next check.
    block_on(a.logout(&laptop.refresh_token)).unwrap();
    assert!(matches!(
        block_on(b.verify_live::<()>(&laptop.access_token)),
        Err(Error::SessionRevoked { .. })
    ));
    block_on(b.verify_live::<()>(&phone_next.access_token)).unwrap();

    // `logout_all` on B: A refuses every session of alice, and only hers.
    block_on(b.logout_all("alice", None)).unwrap();
    for token in [&phone.access_token, &phone_next.access_token] {
        assert!(matches!(
            block_on(a.verify_live::<()>(token)),
            Err(Error::SessionRevoked { .. })
        ));
    }
    block_on(a.verify_live::<()>(&bob.access_token)).unwrap();
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn sessions_survive_a_crash_with_the_append_only_file_on() {
    let mut server = OwnServer::start("aof", &["--appendonly", "yes", "--appendfsync", "always"]);
    let clock = ManualClock::new(START);

    let before = authority(&server.url(), &clock, 1);
    let phone =
        block_on(before.login_with("alice", &(), vec![("device".into(), "phone".into())])).unwrap();
    let laptop = block_on(before.login("alice", &())).unwrap();
    let laptop_next = block_on(before.refresh(&laptop.refresh_token)).unwrap();
    let bob = block_on(before.logout(&block_on(before.login("bob", &())).unwrap().refresh_token));
    bob.unwrap();
    let bob_sessions = block_on(before.store().list_by_subject("bob")).unwrap();
    drop(before);

    // A crash: no shutdown, no final write. With `appendfsync always` every
    // write was on disk before Redis answered it.
    server.kill();
    server.restart();
    clock.advance(Duration::from_secs(20)); // past the 10 s grace window
    let after = authority(&server.url(), &clock, 2);

    // The access token issued before the crash is still live …
    block_on(after.verify_live::<()>(&phone.access_token)).unwrap();
    // … and the refresh tokens issued before it still refresh.
    let phone_next = block_on(after.refresh(&phone.refresh_token)).unwrap();
    block_on(after.verify_live::<()>(&phone_next.access_token)).unwrap();
    block_on(after.refresh(&laptop_next.refresh_token)).unwrap();

    let listed = block_on(after.sessions("alice")).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|s| s.id == phone.session_id && s.metadata == [("device".into(), "phone".into())])
    );
    // A logout before the crash still holds after it.
    assert_eq!(
        block_on(after.store().list_by_subject("bob")).unwrap(),
        bob_sessions
    );
    assert!(bob_sessions[0].revoked.is_some());
    // And a token spent before the crash is reuse after it.
    assert!(matches!(
        block_on(after.refresh(&laptop.refresh_token)),
        Err(Error::RefreshReused)
    ));
}

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn a_lost_rotation_refuses_the_newer_token_and_revokes_nothing() {
    // No persistence but an explicit snapshot: the server comes back with
    // exactly the state of the snapshot, so the rotation after it is lost.
    let mut server = OwnServer::start("lost", &["--appendonly", "no"]);
    let clock = ManualClock::new(START);
    let before = authority(&server.url(), &clock, 1);
    let first = block_on(before.login("alice", &())).unwrap();
    let held_by_store = block_on(before.refresh(&first.refresh_token)).unwrap(); // g = 1
    let _: () = redis::cmd("SAVE")
        .query(&mut common::admin(&server.url()))
        .unwrap();
    clock.advance(Duration::from_secs(20));
    let held_by_client = block_on(before.refresh(&held_by_store.refresh_token)).unwrap(); // g = 2
    drop(before);

    server.kill();
    server.restart();
    let after = authority(&server.url(), &clock, 2);
    let id = held_by_client.session_id;
    let stored = block_on(after.store().get(&id)).unwrap().unwrap();
    assert_eq!(
        stored.generation, 1,
        "the test meant to lose the rotation to g = 2"
    );

    // The client holds g = 2; the store says g = 1. Its refresh token
    // cannot be checked against anything stored: refused, as a forgery
    // would be, and nothing is written — above all, no revocation.
    assert!(matches!(
        block_on(after.refresh(&held_by_client.refresh_token)),
        Err(Error::BadSignature)
    ));
    assert!(matches!(
        block_on(after.logout(&held_by_client.refresh_token)),
        Err(Error::BadSignature)
    ));
    assert_eq!(
        block_on(after.store().get(&id)).unwrap(),
        Some(stored.clone())
    );
    // Its access token is authentic and the session is live: it passes
    // until it expires (at most the access TTL), as before the loss.
    block_on(after.verify_live::<()>(&held_by_client.access_token)).unwrap();
    // The user logs in again; the other sessions are untouched.
    let again = block_on(after.login("alice", &())).unwrap();
    block_on(after.refresh(&again.refresh_token)).unwrap();
    assert_eq!(block_on(after.sessions("alice")).unwrap().len(), 2);

    // The token the store still holds as current rotates — to the very
    // successor the client already has (successors are derived, not
    // drawn): the family never branches, even across a lost write.
    let replayed = block_on(after.refresh(&held_by_store.refresh_token)).unwrap();
    assert_eq!(replayed.refresh_token, held_by_client.refresh_token);
    block_on(after.refresh(&held_by_client.refresh_token)).unwrap();
}
