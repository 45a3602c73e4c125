//! The revocation set's memory is O(live revocations): 100 000 revocations
//! within one access-token lifetime, counted by a global allocator, and
//! what is left once they age out. Prints bytes per revocation.
//!
//! Alone in its file: the counting allocator is this test binary's.

use std::alloc::System;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tokenlife::revocation::RevocationNotice;
use tokenlife::{Policy, Revocations, RevokeReason, SessionId, UnixMillis};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The tests of this binary run one at a time: the allocator counts all threads.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const T0: UnixMillis = UnixMillis(1_764_000_000_000);
const N: u64 = 100_000;

fn notice(i: u64, at: UnixMillis) -> RevocationNotice {
    let mut id = [0u8; 16];
    // Spread like random ids: a multiplicative hash of the counter.
    id[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    id[8..].copy_from_slice(&(!i).wrapping_mul(0xC2B2_AE3D_27D4_EB4F).to_le_bytes());
    RevocationNotice {
        session: SessionId::from_bytes(id),
        at,
        reason: RevokeReason::Logout,
    }
}

fn net(region: &Region<'_, System>) -> i64 {
    let s = region.change();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

#[test]
fn the_set_holds_one_access_ttl_of_revocations_and_lets_them_go() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let policy = Policy::default(); // access_ttl 15 min, leeway 0
    let ttl = policy.access_ttl();
    let region = Region::new(GLOBAL);
    let mut set = Revocations::new(&policy);
    // 100 000 revocations spread over one access_ttl (9 ms apart).
    let step = ttl.as_millis() as u64 / N;
    let mut now = T0;
    for i in 0..N {
        now = UnixMillis(T0.0 + i * step);
        set.insert(notice(i, now), now);
    }
    assert_eq!(set.len() as u64, N, "all of them are live");
    let full = net(&region);
    println!(
        "revocation set: {N} live revocations, {full} heap bytes ({:.1} B/revocation; \
         estimate {} B)",
        full as f64 / N as f64,
        set.heap_bytes()
    );
    assert!(full as u64 / N <= 128, "{full} bytes for {N}");

    // Each ages out exactly one retention after it was learnt.
    set.prune(UnixMillis(T0.0 + ttl.as_millis() as u64 - 1));
    assert_eq!(set.len() as u64, N, "1 ms before the first one ends");
    set.prune(UnixMillis(T0.0 + ttl.as_millis() as u64));
    assert_eq!(set.len() as u64, N - 1, "only the first one is over");
    set.prune(now.saturating_add(ttl));
    assert!(set.is_empty());
    let after = net(&region);
    println!("revocation set after they aged out: {after} heap bytes");
    assert!(after < 16 * 1024, "{after} bytes kept for an empty set");
}

#[test]
fn in_steady_state_the_set_is_bounded_by_the_revocations_of_one_ttl() {
    // 100 000 revocations over ten access_ttls, at an even rate: the set
    // never holds more than one ttl's worth, however long it runs.
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let policy = Policy::default().with_access_ttl(Duration::from_secs(60));
    let mut set = Revocations::new(&policy);
    let step = 10 * 60_000 / N; // 6 ms
    let per_ttl = 60_000 / step;
    let mut most = 0;
    for i in 0..N {
        let now = UnixMillis(T0.0 + i * step);
        set.insert(notice(i, now), now);
        most = most.max(set.len() as u64);
    }
    assert!(
        most <= per_ttl,
        "{most} entries held, {per_ttl} live at most"
    );
    assert!(set.heap_bytes() as u64 <= per_ttl * 256);
}
