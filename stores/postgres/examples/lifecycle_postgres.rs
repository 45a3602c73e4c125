//! The walkthrough on PostgreSQL: login, refresh, a restart, the spent
//! token, logout — on a tokio runtime, as a server would run it.
//!
//! Run it with a database URL, as an argument or in `TOKENLIFE_PG_URL`:
//! `cargo run -p tokenlife-postgres --example lifecycle_postgres -- postgres://user@127.0.0.1/db`.
//! It creates the table `tokenlife_sessions` if needed (in the first schema
//! of the `search_path`) and adds a few sessions to it. It uses a manual
//! clock and a seeded RNG, so every run prints the same tokens (a second
//! run on the same database is refused as a taken session id: use a fresh
//! database or schema).

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tokenlife::{Authority, Keyring, ManualClock, Policy, SharedRng, UnixMillis};
use tokenlife_postgres::{PostgresStore, TABLE};

type Failure = Box<dyn std::error::Error>;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    role: String,
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("TOKENLIFE_PG_URL").ok())
    else {
        eprintln!(
            "usage: lifecycle_postgres postgres://user@127.0.0.1:5432/database (or TOKENLIFE_PG_URL)"
        );
        std::process::exit(2);
    };
    walkthrough(&url).await
}

/// An authority over the database, as an instance would build it at start-up.
async fn authority(
    url: &str,
    clock: &ManualClock,
    seed: u64,
) -> Result<Authority<PostgresStore, ManualClock, SharedRng<ChaCha20Rng>>, Failure> {
    let policy = Policy::default().with_access_ttl(Duration::from_secs(30));
    let keys = Keyring::new("demo-key", b"an example secret of at least 32 bytes!")?;
    Ok(
        Authority::new(keys, policy, PostgresStore::connect(url).await?)
            .with_clock(clock.clone())
            .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(seed))),
    )
}

async fn walkthrough(url: &str) -> Result<(), Failure> {
    let clock = ManualClock::new(UnixMillis::from_secs(1_764_000_000));
    let auth = authority(url, &clock, 2026).await?;
    let editor = Claims {
        role: "editor".into(),
    };

    step(&format!("connected (table {TABLE}): {:?}", auth.store()));
    step("POST /auth/login  (alice, role=editor)");
    let pair = auth
        .login_with("alice", &editor, vec![("device".into(), "laptop".into())])
        .await?;
    println!("{}", serde_json::to_string_pretty(&pair)?);
    let claims = auth.verify_live::<Claims>(&pair.access_token).await?;
    println!(
        "verify_live: sub={} role={} session={}",
        claims.sub, claims.extra.role, claims.sid
    );

    step("30 seconds later: the access token has expired; POST /auth/refresh");
    clock.advance(Duration::from_secs(30));
    if let Err(e) = auth.verify::<Claims>(&pair.access_token) {
        println!("old access token refused: {e}");
    }
    let fresh = auth.refresh(&pair.refresh_token).await?;
    println!("{}", serde_json::to_string_pretty(&fresh)?);

    step("restart: the pool is closed, a new instance connects to the same database");
    drop(auth);
    let auth = authority(url, &clock, 2027).await?;
    for session in auth.sessions("alice").await? {
        println!(
            "alice's session {} (created {}, last refreshed {}, {:?})",
            session.id, session.created_at, session.last_refreshed_at, session.metadata
        );
    }
    let claims = auth.verify_live::<Claims>(&fresh.access_token).await?;
    println!(
        "the access token from before the restart is live: sub={}",
        claims.sub
    );

    step("the old refresh token is spent (tried 11 s later, past the 10 s grace window)");
    clock.advance(Duration::from_secs(11));
    match auth.refresh(&pair.refresh_token).await {
        Err(e) => println!("refused: {e}"),
        Ok(_) => println!("UNEXPECTED: spent token accepted"),
    }
    match auth.refresh(&fresh.refresh_token).await {
        Err(e) => println!("reuse detection revoked the session; the new one is dead too: {e}"),
        Ok(_) => println!("UNEXPECTED: accepted"),
    }

    step("log in again, then POST /auth/logout");
    let pair = auth.login("alice", &editor).await?;
    auth.logout(&pair.refresh_token).await?;
    println!("logged out (204)");
    match auth.verify_live::<Claims>(&pair.access_token).await {
        Err(e) => println!("verify_live after logout refused: {e}"),
        Ok(_) => println!("UNEXPECTED: accepted"),
    }

    step("a week later: purge expired sessions");
    clock.advance(Duration::from_secs(7 * 24 * 3600));
    println!("purged {} sessions", auth.purge_expired().await?);
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}
