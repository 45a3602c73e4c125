//! Every expiry window is half-open and exact to the millisecond: valid at
//! `end - 1 ms`, invalid at `end` and `end + 1 ms`.

mod support;

use support::*;
use tokenlife::{Error, Policy, TokenPair};

/// For each offset from `end`, a fresh authority (so the checks do not
/// interfere), `setup` to get there, and the outcome at that instant.
fn around<T>(end_ms: u64, mut check: impl FnMut(u64) -> T) -> [T; 3] {
    [check(end_ms - 1), check(end_ms), check(end_ms + 1)]
}

fn login(auth: &TestAuthority) -> TokenPair {
    block_on(auth.login("alice", &())).unwrap()
}

#[test]
fn access_token_expires_exactly_at_exp() {
    let outcomes = around(30_000, |at| {
        let (auth, clock, _) = authority(Policy::default().with_access_ttl(secs(30)));
        let pair = login(&auth);
        clock.set(START.saturating_add(ms(at)));
        auth.verify::<()>(&pair.access_token)
    });
    assert!(outcomes[0].is_ok());
    for r in &outcomes[1..] {
        assert!(
            matches!(r, Err(Error::Expired { at, .. }) if *at == START.saturating_add(secs(30))),
            "{r:?}"
        );
    }
}

#[test]
fn access_exp_is_rounded_down_so_a_token_never_outlives_its_ttl() {
    let (auth, clock, _) = authority(Policy::default().with_access_ttl(secs(30)));
    clock.set(START.saturating_add(ms(400)));
    let pair = login(&auth);
    assert_eq!(pair.expires_at, START.saturating_add(secs(30)));
    assert_eq!(pair.expires, 29_600);
    clock.set(START.saturating_add(ms(29_999)));
    assert!(auth.verify::<()>(&pair.access_token).is_ok());
    clock.set(START.saturating_add(ms(30_000)));
    assert!(matches!(
        auth.verify::<()>(&pair.access_token),
        Err(Error::Expired { .. })
    ));
}

#[test]
fn leeway_extends_exp_exactly() {
    let outcomes = around(35_000, |at| {
        let policy = Policy::default()
            .with_access_ttl(secs(30))
            .with_leeway(secs(5));
        let (auth, clock, _) = authority(policy);
        let pair = login(&auth);
        clock.set(START.saturating_add(ms(at)));
        auth.verify::<()>(&pair.access_token).is_ok()
    });
    assert_eq!(outcomes, [true, false, false]);
}

#[test]
fn refresh_token_idle_expiry_is_exact() {
    let outcomes = around(100_000, |at| {
        let (auth, clock, _) = authority(Policy::default().with_refresh_ttl(secs(100)));
        let pair = login(&auth);
        clock.set(START.saturating_add(ms(at)));
        block_on(auth.refresh(&pair.refresh_token))
    });
    assert!(outcomes[0].is_ok());
    for r in &outcomes[1..] {
        assert!(
            matches!(r, Err(Error::SessionExpired { at }) if *at == START.saturating_add(secs(100))),
            "{r:?}"
        );
    }
}

#[test]
fn idle_expiry_restarts_at_each_refresh_exactly() {
    let outcomes = around(150_000, |at| {
        let (auth, clock, _) = authority(Policy::default().with_refresh_ttl(secs(100)));
        let pair = login(&auth);
        clock.set(START.saturating_add(secs(50)));
        let next = block_on(auth.refresh(&pair.refresh_token)).unwrap();
        clock.set(START.saturating_add(ms(at)));
        block_on(auth.refresh(&next.refresh_token)).is_ok()
    });
    assert_eq!(outcomes, [true, false, false]);
}

#[test]
fn absolute_session_lifetime_is_exact_however_often_refreshed() {
    let outcomes = around(60_000, |at| {
        let policy = Policy::default()
            .with_refresh_ttl(secs(100))
            .with_max_session_age(Some(secs(60)));
        let (auth, clock, _) = authority(policy);
        let mut pair = login(&auth);
        for step in 1..=5 {
            clock.set(START.saturating_add(secs(10 * step)));
            pair = block_on(auth.refresh(&pair.refresh_token)).unwrap();
        }
        clock.set(START.saturating_add(ms(at)));
        (
            block_on(auth.refresh(&pair.refresh_token)).map(|_| ()),
            block_on(auth.verify_live::<()>(&pair.access_token)).map(|_| ()),
        )
    });
    assert!(outcomes[0].0.is_ok() && outcomes[0].1.is_ok());
    for (refresh, live) in &outcomes[1..] {
        let end = START.saturating_add(secs(60));
        assert!(
            matches!(refresh, Err(Error::SessionExpired { at }) if *at == end),
            "{refresh:?}"
        );
        // The access token's exp is capped at the absolute expiry too.
        assert!(
            matches!(live, Err(Error::Expired { at, .. }) if *at == end),
            "{live:?}"
        );
    }
}

#[test]
fn grace_window_ends_exactly() {
    let outcomes = around(10_000, |at| {
        let (auth, clock, _) = authority(Policy::default().with_reuse_grace(secs(10)));
        let pair = login(&auth);
        clock.set(START.saturating_add(secs(1)));
        let next = block_on(auth.refresh(&pair.refresh_token)).unwrap();
        clock.set(START.saturating_add(secs(1) + ms(at)));
        block_on(auth.refresh(&pair.refresh_token))
            .map(|again| again.refresh_token == next.refresh_token)
    });
    assert!(matches!(outcomes[0], Ok(true)), "{:?}", outcomes[0]);
    for r in &outcomes[1..] {
        assert!(matches!(r, Err(Error::RefreshReused)), "{r:?}");
    }
}

#[test]
fn zero_grace_means_no_window_at_all() {
    let (auth, _clock, _) = authority(Policy::default().with_reuse_grace(secs(0)));
    let pair = login(&auth);
    block_on(auth.refresh(&pair.refresh_token)).unwrap();
    // Same millisecond, no window.
    assert!(matches!(
        block_on(auth.refresh(&pair.refresh_token)),
        Err(Error::RefreshReused)
    ));
}
