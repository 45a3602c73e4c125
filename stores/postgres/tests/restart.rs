//! Sessions live in the database: they survive a restart of the service,
//! instances sharing the database agree (single use holds across them), and
//! nothing in the database can be replayed as a token.

mod common;

use std::sync::Barrier;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pollster::block_on;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tokenlife::{Authority, Error, Keyring, ManualClock, Policy, SharedRng, TokenPair, UnixMillis};
use tokenlife_postgres::{Options, PostgresStore, TABLE};

use common::TestDb;

type PgAuthority = Authority<PostgresStore, ManualClock, SharedRng<ChaCha20Rng>>;

const START: UnixMillis = UnixMillis(1_764_000_000_000);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    role: String,
}

/// An authority over the database at `url`, as a freshly started instance
/// would build it: same keys, its own connection pool and random source.
fn authority(
    db: &TestDb,
    url: &str,
    policy: Policy,
    clock: &ManualClock,
    seed: u64,
) -> PgAuthority {
    let keys = Keyring::new("k1", b"test secret: thirty-two bytes or more!!").unwrap();
    Authority::new(keys, policy, db.store(url, Options::default()))
        .with_clock(clock.clone())
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(seed)))
}

fn editor() -> Claims {
    Claims {
        role: "editor".into(),
    }
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn sessions_survive_a_restart() {
    let db = common::database("sessions_survive_a_restart");
    let url = db.fresh_url();
    let clock = ManualClock::new(START);

    let before = authority(&db, &url, Policy::default(), &clock, 1);
    let phone =
        block_on(before.login_with("alice", &editor(), vec![("device".into(), "phone".into())]))
            .unwrap();
    let laptop = block_on(before.login("alice", &editor())).unwrap();
    let laptop_next = block_on(before.refresh(&laptop.refresh_token)).unwrap();
    let bob = block_on(before.login("bob", &())).unwrap();
    block_on(before.logout(&bob.refresh_token)).unwrap();
    drop(before);

    clock.advance(Duration::from_secs(20)); // past the 10 s grace window
    let after = authority(&db, &url, Policy::default(), &clock, 2);

    // The access token issued before the restart is still live …
    block_on(after.verify_live::<Claims>(&phone.access_token)).unwrap();
    // … and the refresh tokens issued before it still refresh.
    let phone_next = block_on(after.refresh(&phone.refresh_token)).unwrap();
    let claims = block_on(after.verify_live::<Claims>(&phone_next.access_token)).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.extra.role.as_str()),
        ("alice", "editor")
    );
    block_on(after.refresh(&laptop_next.refresh_token)).unwrap();

    let listed = block_on(after.sessions("alice")).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|s| s.id == phone.session_id && s.metadata == [("device".into(), "phone".into())])
    );

    // A logout before the restart still holds after it.
    assert!(matches!(
        block_on(after.refresh(&bob.refresh_token)),
        Err(Error::SessionRevoked { .. })
    ));
    assert!(matches!(
        block_on(after.verify_live::<()>(&bob.access_token)),
        Err(Error::SessionRevoked { .. })
    ));
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn a_token_spent_before_a_restart_is_reuse_after_it() {
    let db = common::database("a_token_spent_before_a_restart_is_reuse_after_it");
    let url = db.fresh_url();
    let clock = ManualClock::new(START);

    let before = authority(&db, &url, Policy::default(), &clock, 1);
    let first = block_on(before.login("alice", &())).unwrap();
    let second = block_on(before.refresh(&first.refresh_token)).unwrap();
    drop(before);

    clock.advance(Duration::from_secs(11));
    let after = authority(&db, &url, Policy::default(), &clock, 2);
    assert!(matches!(
        block_on(after.refresh(&first.refresh_token)),
        Err(Error::RefreshReused)
    ));
    assert!(matches!(
        block_on(after.refresh(&second.refresh_token)),
        Err(Error::SessionRevoked { .. })
    ));
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn expired_sessions_are_purged_from_the_table() {
    let db = common::database("expired_sessions_are_purged_from_the_table");
    let url = db.fresh_url();
    let clock = ManualClock::new(START);
    let policy = Policy::default().with_refresh_ttl(Duration::from_secs(60));

    let auth = authority(&db, &url, policy.clone(), &clock, 1);
    block_on(auth.login("alice", &())).unwrap();
    clock.advance(Duration::from_secs(30));
    let later = block_on(auth.login("alice", &())).unwrap();
    clock.advance(Duration::from_millis(29_999));
    assert_eq!(block_on(auth.purge_expired()).unwrap(), 0);
    clock.advance(Duration::from_millis(1));
    assert_eq!(block_on(auth.purge_expired()).unwrap(), 1);
    drop(auth);

    let auth = authority(&db, &url, policy, &clock, 2);
    let listed = block_on(auth.sessions("alice")).unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [later.session_id]
    );
}

/// Refreshes `token` on every instance at once (four threads per
/// instance), and returns each outcome.
fn race(instances: &[PgAuthority], token: &str) -> Vec<Result<TokenPair, Error>> {
    const PER_INSTANCE: usize = 4;
    let barrier = Barrier::new(instances.len() * PER_INSTANCE);
    std::thread::scope(|scope| {
        let handles: Vec<_> = instances
            .iter()
            .flat_map(|instance| std::iter::repeat_n(instance, PER_INSTANCE))
            .map(|instance| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    block_on(instance.refresh(token))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn instances_sharing_the_database_hand_out_one_successor() {
    let db = common::database("instances_sharing_the_database_hand_out_one_successor");
    let url = db.fresh_url();
    let clock = ManualClock::new(START);
    let instances = [
        authority(&db, &url, Policy::default(), &clock, 1),
        authority(&db, &url, Policy::default(), &clock, 2),
    ];
    let mut pair = block_on(instances[0].login("alice", &())).unwrap();
    for _ in 0..5 {
        let outcomes = race(&instances, &pair.refresh_token);
        let successors: Vec<TokenPair> = outcomes.into_iter().map(Result::unwrap).collect();
        // Inside the grace window every racer gets the same successor, never two.
        assert!(
            successors
                .iter()
                .all(|p| p.refresh_token == successors[0].refresh_token)
        );
        pair = successors.into_iter().next().unwrap();
    }
    // … and the successor works on either instance.
    block_on(instances[1].verify_live::<()>(&pair.access_token)).unwrap();
    block_on(instances[1].refresh(&pair.refresh_token)).unwrap();
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn instances_sharing_the_database_let_one_racer_win_without_grace() {
    let db = common::database("instances_sharing_the_database_let_one_racer_win_without_grace");
    let url = db.fresh_url();
    let clock = ManualClock::new(START);
    let policy = Policy::default().with_reuse_grace(Duration::ZERO);
    let instances = [
        authority(&db, &url, policy.clone(), &clock, 1),
        authority(&db, &url, policy, &clock, 2),
    ];
    for _ in 0..5 {
        let pair = block_on(instances[0].login("alice", &())).unwrap();
        let outcomes = race(&instances, &pair.refresh_token);
        let winners = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(winners, 1, "{outcomes:?}");
        for lost in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert!(
                matches!(lost, Error::RefreshReused | Error::SessionRevoked { .. }),
                "{lost:?}"
            );
        }
    }
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn a_logout_on_one_instance_is_seen_by_verify_live_on_another() {
    let db = common::database("a_logout_on_one_instance_is_seen_by_verify_live_on_another");
    let url = db.fresh_url();
    let clock = ManualClock::new(START);
    let one = authority(&db, &url, Policy::default(), &clock, 1);
    let other = authority(&db, &url, Policy::default(), &clock, 2);
    let pair = block_on(one.login("alice", &())).unwrap();
    block_on(other.verify_live::<()>(&pair.access_token)).unwrap();
    block_on(one.logout(&pair.refresh_token)).unwrap();
    assert!(matches!(
        block_on(other.verify_live::<()>(&pair.access_token)),
        Err(Error::SessionRevoked { .. })
    ));
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn the_table_holds_no_refresh_secret() {
    let db = common::database("the_table_holds_no_refresh_secret");
    let url = db.fresh_url();
    let clock = ManualClock::new(START);
    let auth = authority(&db, &url, Policy::default(), &clock, 1);
    let mut issued = Vec::new();
    for subject in ["alice", "bob"] {
        let pair = block_on(auth.login(subject, &editor())).unwrap();
        let next = block_on(auth.refresh(&pair.refresh_token)).unwrap();
        issued.extend([pair, next]);
    }
    // Every column of every row, as text, is what a dump would show.
    let dump: String = db
        .query_text(
            &url,
            &format!("SELECT t::text, encode(subject, 'hex') FROM {TABLE} t"),
        )
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(dump.contains(&issued[0].session_id.to_string()));
    for pair in &issued {
        let secret = refresh_secret(&pair.refresh_token);
        let json_array = format!("{secret:?}").replace(' ', "");
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        for form in [
            pair.refresh_token.clone(),
            json_array,
            hex,
            URL_SAFE_NO_PAD.encode(&secret),
        ] {
            assert!(!dump.contains(&form), "a refresh secret is in the table");
        }
    }
}

/// The secret `s_g` of a refresh token: payload bytes 24..56 (see
/// `tokenlife::refresh`).
fn refresh_secret(token: &str) -> Vec<u8> {
    let payload = token
        .strip_prefix("tlr1.")
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    URL_SAFE_NO_PAD.decode(payload).unwrap()[24..56].to_vec()
}
