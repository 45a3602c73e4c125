//! The walkthrough: login, verify, expiry, refresh, the spent token, logout.
//!
//! Run it with `cargo run --example lifecycle`. It uses a manual clock and a
//! seeded RNG, so every run prints the same tokens.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tokenlife::{
    Authority, Error, Keyring, ManualClock, MemoryStore, Policy, SharedRng, UnixMillis,
};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    role: String,
}

fn main() -> Result<(), Error> {
    pollster::block_on(walkthrough())
}

async fn walkthrough() -> Result<(), Error> {
    let clock = ManualClock::new(UnixMillis::from_secs(1_764_000_000));
    let policy = Policy::default().with_access_ttl(Duration::from_secs(30));
    let keys = Keyring::new("demo-key", b"an example secret of at least 32 bytes!")?;
    let auth = Authority::new(keys, policy, MemoryStore::new())
        .with_clock(clock.clone())
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(2026)));

    step("POST /auth/login  (alice, role=editor)");
    let pair = auth
        .login(
            "alice",
            &Claims {
                role: "editor".into(),
            },
        )
        .await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&pair).unwrap_or_default()
    );

    step("GET with the access token");
    let claims = auth.verify::<Claims>(&pair.access_token)?;
    println!(
        "verified: sub={} role={} session={}",
        claims.sub, claims.extra.role, claims.sid
    );

    step("30 seconds later, the same access token");
    clock.advance(Duration::from_secs(30));
    match auth.verify::<Claims>(&pair.access_token) {
        Err(e) => println!("refused: {e}"),
        Ok(_) => println!("UNEXPECTED: still accepted"),
    }

    step("POST /auth/refresh  with the refresh token");
    let fresh = auth.refresh(&pair.refresh_token).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&fresh).unwrap_or_default()
    );
    let claims = auth.verify_live::<Claims>(&fresh.access_token).await?;
    println!(
        "new access token verifies: sub={} role={}",
        claims.sub, claims.extra.role
    );

    step("the old refresh token is spent (tried 11 s later, past the 10 s grace window)");
    clock.advance(Duration::from_secs(11));
    match auth.refresh(&pair.refresh_token).await {
        Err(e) => println!("refused: {e}"),
        Ok(_) => println!("UNEXPECTED: spent token accepted"),
    }
    println!("reuse detection revoked the session; the new refresh token is dead too:");
    match auth.refresh(&fresh.refresh_token).await {
        Err(e) => println!("refused: {e}"),
        Ok(_) => println!("UNEXPECTED: accepted"),
    }

    step("log in again, then POST /auth/logout");
    let pair = auth
        .login(
            "alice",
            &Claims {
                role: "editor".into(),
            },
        )
        .await?;
    auth.logout(&pair.refresh_token).await?;
    println!("logged out (204)");
    match auth.refresh(&pair.refresh_token).await {
        Err(e) => println!("refresh after logout refused: {e}"),
        Ok(_) => println!("UNEXPECTED: accepted"),
    }
    match auth.verify_live::<Claims>(&pair.access_token).await {
        Err(e) => println!("verify_live after logout refused: {e}"),
        Ok(_) => println!("UNEXPECTED: accepted"),
    }
    match auth.verify::<Claims>(&pair.access_token) {
        Ok(_) => println!("stateless verify still accepts it until exp (by design; see README)"),
        Err(e) => println!("stateless verify refused: {e}"),
    }
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}
