//! The database goes away mid-run and comes back: while it is down every
//! operation that needs it fails with `Error::Store` (unavailable), promptly
//! and without a panic; once it is back everything works again, and no
//! session was lost, duplicated or half-changed (DESIGN.md I8).
//!
//! This test stops and starts the server, so it needs a `pg_ctl` for it:
//! `TOKENLIFE_PG_CTL` names an executable that behaves as `pg_ctl -D
//! <data dir>` for the server at `TOKENLIFE_PG_URL` (`.ci/run` writes one).
//! Without it the test fails, saying what it needs: it never passes
//! having checked nothing. It is alone in this file (its own test
//! binary), so no other test sees the server go.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pollster::block_on;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tokenlife::{
    Authority, Error, Keyring, ManualClock, Policy, SessionStore, SharedRng, StoreErrorKind,
    UnixMillis,
};
use tokenlife_postgres::{Options, PostgresStore, TABLE};

const CTL_VAR: &str = "TOKENLIFE_PG_CTL";
const START: UnixMillis = UnixMillis(1_764_000_000_000);
/// The store's timeout in this test: an operation must fail within it.
const TIMEOUT: Duration = Duration::from_secs(2);

type PgAuthority = Authority<PostgresStore, ManualClock, SharedRng<ChaCha20Rng>>;

#[test]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
fn stopping_the_database_mid_run_gives_store_errors_and_loses_nothing() {
    const TEST: &str = "stopping_the_database_mid_run_gives_store_errors_and_loses_nothing";
    let db = common::database(TEST);
    let Some(mut server) = Server::from_env() else {
        panic!(
            "{TEST}: {CTL_VAR} is not set (a pg_ctl for the test server); run ./scripts/test.sh"
        );
    };
    let url = db.fresh_url();
    let clock = ManualClock::new(START);
    let keys = Keyring::new("k1", b"test secret: thirty-two bytes or more!!").unwrap();
    let auth: Arc<PgAuthority> = Arc::new(
        Authority::new(
            keys,
            Policy::default(),
            db.store(&url, Options::default().with_timeout(TIMEOUT)),
        )
        .with_clock(clock.clone())
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(7))),
    );

    // Before: three sessions of alice, one of bob.
    let alice: Vec<_> = (0..3)
        .map(|_| block_on(auth.login("alice", &())).unwrap())
        .collect();
    let bob = block_on(auth.login("bob", &())).unwrap();
    let stored_bob = block_on(auth.store().get(&bob.session_id))
        .unwrap()
        .unwrap();

    // A client that keeps refreshing alice's first session through the
    // outage: it keeps the last pair it was given, and after a failure
    // presents the same token again, as a real client would.
    let running = Arc::new(AtomicBool::new(true));
    let (succeeded, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let refresher = {
        let (auth, running) = (Arc::clone(&auth), Arc::clone(&running));
        let (succeeded, failed) = (Arc::clone(&succeeded), Arc::clone(&failed));
        let mut pair = alice[0].clone();
        std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match block_on(auth.refresh(&pair.refresh_token)) {
                    Ok(next) => {
                        pair = next;
                        succeeded.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(Error::Store(e)) => {
                        assert_eq!(
                            e.kind(),
                            StoreErrorKind::Unavailable,
                            "{}",
                            common::chain(&e)
                        );
                        failed.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(other) => panic!("refresh across the outage: {other:?}"),
                }
            }
            pair
        })
    };
    wait_for("the refresher to get going", || {
        succeeded.load(Ordering::SeqCst) >= 5
    });

    server.stop();

    // While it is down, every operation that needs the store fails with
    // Error::Store(Unavailable), each within the timeout.
    let unavailable = |what: &str, outcome: Result<(), Error>| match outcome {
        Err(Error::Store(e)) => {
            assert_eq!(
                e.kind(),
                StoreErrorKind::Unavailable,
                "{what}: {}",
                common::chain(&e)
            );
            assert_eq!(
                Error::Store(e).to_string(),
                "session store: store unavailable"
            );
        }
        other => panic!("{what} with the database down: expected Error::Store, got {other:?}"),
    };
    let timed = |what: &str, op: &dyn Fn() -> Result<(), Error>| {
        let started = Instant::now();
        unavailable(what, op());
        let took = started.elapsed();
        assert!(
            took <= TIMEOUT + Duration::from_secs(1),
            "{what} took {took:?}"
        );
    };
    timed("login", &|| block_on(auth.login("alice", &())).map(drop));
    timed("refresh", &|| {
        block_on(auth.refresh(&alice[1].refresh_token)).map(drop)
    });
    timed("verify_live", &|| {
        block_on(auth.verify_live::<()>(&alice[1].access_token)).map(drop)
    });
    timed("logout", &|| block_on(auth.logout(&alice[2].refresh_token)));
    timed("logout_all", &|| {
        block_on(auth.logout_all("bob", None)).map(drop)
    });
    timed("sessions", &|| block_on(auth.sessions("alice")).map(drop));
    timed("purge_expired", &|| {
        block_on(auth.purge_expired()).map(drop)
    });
    let mut revoked_bob = stored_bob.clone();
    revoked_bob.version += 1;
    timed("compare_and_swap", &|| {
        block_on(
            auth.store()
                .compare_and_swap(stored_bob.version, revoked_bob.clone()),
        )
        .map_err(Error::Store)
    });
    // The stateless check needs no store.
    auth.verify::<()>(&alice[1].access_token).unwrap();
    wait_for("the refresher to see the outage", || {
        failed.load(Ordering::SeqCst) >= 1
    });

    server.start();

    // Once it is back, the refresher goes on from the pair it last got.
    let after_restart = succeeded.load(Ordering::SeqCst);
    wait_for("the refresher to recover", || {
        succeeded.load(Ordering::SeqCst) >= after_restart + 5
    });
    running.store(false, Ordering::SeqCst);
    let last = refresher.join().unwrap();
    block_on(auth.verify_live::<()>(&last.access_token)).unwrap();
    block_on(auth.refresh(&last.refresh_token)).unwrap();

    // Nothing was lost or duplicated: the same four sessions, one row each;
    // the failed login left nothing behind.
    let listed: Vec<_> = block_on(auth.sessions("alice"))
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut expected: Vec<_> = alice.iter().map(|p| p.session_id).collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    expected.sort();
    assert_eq!(listed_sorted, expected);
    let rows = db.query_text(
        &url,
        &format!("SELECT count(*), count(DISTINCT id) FROM {TABLE}"),
    );
    assert_eq!(rows, [[Some("4".to_owned()), Some("4".to_owned())]]);

    // Nothing was half-changed: what failed during the outage did not happen.
    block_on(auth.refresh(&alice[1].refresh_token)).unwrap(); // not spent
    block_on(auth.verify_live::<()>(&alice[2].access_token)).unwrap(); // not logged out
    block_on(auth.verify_live::<()>(&bob.access_token)).unwrap(); // not revoked
    assert_eq!(
        block_on(auth.store().get(&bob.session_id)).unwrap(),
        Some(stored_bob)
    );
    // And everything works again.
    block_on(auth.logout(&alice[2].refresh_token)).unwrap();
    assert!(matches!(
        block_on(auth.verify_live::<()>(&alice[2].access_token)),
        Err(Error::SessionRevoked { .. })
    ));
    let fresh = block_on(auth.login("carol", &())).unwrap();
    block_on(auth.refresh(&fresh.refresh_token)).unwrap();
}

/// The test server, stopped and started with `TOKENLIFE_PG_CTL`. Dropping it
/// starts the server again if the test left it stopped (a failed assertion),
/// so that the tests after this one find it running.
struct Server {
    ctl: PathBuf,
    stopped: bool,
}

impl Server {
    fn from_env() -> Option<Self> {
        let ctl = std::env::var_os(CTL_VAR).filter(|v| !v.is_empty())?;
        Some(Self {
            ctl: ctl.into(),
            stopped: false,
        })
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
    }

    fn start(&mut self) {
        self.pg_ctl(&["start", "-w", "-t", "60"]);
        self.stopped = false;
    }

    fn pg_ctl(&self, args: &[&str]) {
        let output = Command::new(&self.ctl)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {CTL_VAR} {args:?}: {e}"));
        assert!(
            output.status.success(),
            "{CTL_VAR} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stopped {
            let _ = Command::new(&self.ctl)
                .args(["start", "-w", "-t", "60"])
                .output();
        }
    }
}

/// Waits (up to 30 s) until `done`.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
