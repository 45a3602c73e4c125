//! The walkthrough on a SQLite file: login, refresh, a restart, the spent
//! token, logout.
//!
//! Run it with `cargo run -p tokenlife-sqlite --example lifecycle_sqlite`
//! (optionally with a path: `-- sessions.sqlite`; by default a file in the
//! system's temporary directory, removed at the end). It uses a manual clock
//! and a seeded RNG, so every run prints the same tokens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tokenlife::{Authority, Keyring, ManualClock, Policy, SharedRng, UnixMillis};
use tokenlife_sqlite::{SqliteStore, TABLE};

type Failure = Box<dyn std::error::Error>;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    role: String,
}

fn main() -> Result<(), Failure> {
    let (path, temporary) = match std::env::args_os().nth(1) {
        Some(path) => (PathBuf::from(path), false),
        None => (
            std::env::temp_dir().join(format!("tokenlife-demo-{}.sqlite", std::process::id())),
            true,
        ),
    };
    let outcome = pollster::block_on(walkthrough(&path));
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
    outcome
}

/// An authority over the file, as a process would build it at start-up.
fn authority(
    path: &Path,
    clock: &ManualClock,
    seed: u64,
) -> Result<Authority<SqliteStore, ManualClock, SharedRng<ChaCha20Rng>>, Failure> {
    let policy = Policy::default().with_access_ttl(Duration::from_secs(30));
    let keys = Keyring::new("demo-key", b"an example secret of at least 32 bytes!")?;
    Ok(Authority::new(keys, policy, SqliteStore::open(path)?)
        .with_clock(clock.clone())
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(seed))))
}

async fn walkthrough(path: &Path) -> Result<(), Failure> {
    let clock = ManualClock::new(UnixMillis::from_secs(1_764_000_000));
    let auth = authority(path, &clock, 2026)?;
    let editor = Claims {
        role: "editor".into(),
    };

    step(&format!("open {} (table {TABLE})", path.display()));
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

    step("restart: the store is closed, the file reopened by a new authority");
    drop(auth);
    let auth = authority(path, &clock, 2027)?;
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

    step("a week later: purge expired sessions from the file");
    clock.advance(Duration::from_secs(7 * 24 * 3600));
    println!("purged {} sessions", auth.purge_expired().await?);
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}
