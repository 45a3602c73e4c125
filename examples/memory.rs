//! Heap bytes per session in `MemoryStore`, counted by a global allocator.
//!
//! `cargo run --release --example memory [sessions…]` (default: 1000,
//! 100000 and 1000000). Each session has its own 36-byte subject (the worst
//! case for the subject index), no claims and no metadata. Only the store's
//! growth is counted: the tokens of each login are dropped at once.

use std::alloc::System;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tokenlife::{Authority, Keyring, ManualClock, MemoryStore, Policy, SharedRng, UnixMillis};
use tokenlife_model::uuid_subject;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() -> Result<(), tokenlife::Error> {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    println!(
        "{:>10}  {:>14}  {:>12}",
        "sessions", "heap bytes", "per session"
    );
    for n in sizes {
        let auth = Authority::new(
            Keyring::new("k1", &[7; 32])?,
            Policy::default(),
            MemoryStore::new(),
        )
        .with_clock(ManualClock::new(UnixMillis::from_secs(1_764_000_000)))
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(n)));
        let region = Region::new(GLOBAL);
        for i in 0..n {
            pollster::block_on(auth.login(&uuid_subject(i), &()))?;
        }
        let stats = region.change();
        let bytes = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
        assert_eq!(auth.store().len() as u64, n);
        println!("{n:>10}  {bytes:>14}  {:>12.1}", bytes as f64 / n as f64);
    }
    Ok(())
}
