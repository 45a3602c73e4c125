//! Real threads racing on one session (DESIGN.md I1–I3).
//!
//! Each trial logs in, then releases 2–8 threads at once (a `Barrier`) on
//! one `Arc<Authority>`, each driving its own `pollster::block_on`. Trials
//! cycle through the thread counts; `TOKENLIFE_RACE_TRIALS` sets how many
//! (default 300 per test, a few seconds in debug mode on 2 cores).

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use support::{TestAuthority, block_on, secs};
use tokenlife::{Error, Policy, RevokeReason, TokenPair};

fn trials() -> usize {
    std::env::var("TOKENLIFE_RACE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn threads_for(trial: usize) -> usize {
    2 + trial % 7
}

/// Runs `f(i)` on `n` threads released together; returns their results in order.
fn race<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, f) = (barrier.clone(), f.clone());
            thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn setup(
    policy: Policy,
    seed: u64,
) -> (Arc<TestAuthority>, Arc<tokenlife::MemoryStore>, TokenPair) {
    let store = Arc::new(tokenlife::MemoryStore::new());
    let (auth, _clock) = support::authority_with(support::keys(), policy, store.clone(), seed);
    let pair = block_on(auth.login("alice", &())).unwrap();
    (Arc::new(auth), store, pair)
}

fn stored(store: &tokenlife::MemoryStore) -> tokenlife::Session {
    let mut all = support::snapshot(store, "alice");
    assert_eq!(all.len(), 1);
    all.remove(0)
}

#[test]
fn without_grace_exactly_one_concurrent_refresh_wins() {
    let policy = Policy::default().with_reuse_grace(secs(0));
    for trial in 0..trials() {
        let n = threads_for(trial);
        let (auth, store, pair) = setup(policy.clone(), trial as u64);
        let token = pair.refresh_token.clone();
        let a = auth.clone();
        let results = race(n, move |_| block_on(a.refresh(&token)));

        let winners: Vec<&TokenPair> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "trial {trial}, {n} threads: {results:?}");
        // The first loser to decide sees the spent token and revokes the
        // family; every later loser finds the session already revoked.
        let reused = results
            .iter()
            .filter(|r| matches!(r, Err(Error::RefreshReused)))
            .count();
        let revoked = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(Error::SessionRevoked {
                        reason: RevokeReason::Reuse,
                        ..
                    })
                )
            })
            .count();
        assert_eq!((reused, revoked), (1, n - 2), "trial {trial}: {results:?}");
        // I2: the winner's successor is dead too.
        let r = block_on(auth.refresh(&winners[0].refresh_token));
        assert!(
            matches!(
                r,
                Err(Error::SessionRevoked {
                    reason: RevokeReason::Reuse,
                    ..
                })
            ),
            "{r:?}"
        );
        let s = stored(&store);
        assert_eq!(s.generation, 1, "the family branched");
        assert_eq!(s.revoked.map(|r| r.reason), Some(RevokeReason::Reuse));
    }
}

#[test]
fn with_grace_every_concurrent_refresh_gets_the_same_successor() {
    let policy = Policy::default().with_reuse_grace(secs(10));
    for trial in 0..trials() {
        let n = threads_for(trial);
        let (auth, store, pair) = setup(policy.clone(), 1000 + trial as u64);
        let token = pair.refresh_token.clone();
        let a = auth.clone();
        let results = race(n, move |_| block_on(a.refresh(&token)));

        let pairs: Vec<&TokenPair> = results
            .iter()
            .map(|r| {
                r.as_ref()
                    .unwrap_or_else(|e| panic!("trial {trial}: {e:?}"))
            })
            .collect();
        let successor = &pairs[0].refresh_token;
        assert!(
            pairs.iter().all(|p| &p.refresh_token == successor),
            "trial {trial}: the family branched"
        );
        // Every access token is distinct (fresh jti) and live.
        let mut jtis: Vec<String> = pairs
            .iter()
            .map(|p| {
                block_on(auth.verify_live::<()>(&p.access_token))
                    .unwrap()
                    .jti
            })
            .collect();
        jtis.sort();
        jtis.dedup();
        assert_eq!(jtis.len(), n);
        let s = stored(&store);
        assert_eq!((s.generation, s.revoked), (1, None));
        // The shared successor is the one live token: it rotates once.
        let next = block_on(auth.refresh(successor)).unwrap();
        assert_eq!(stored(&store).generation, 2);
        assert_ne!(&next.refresh_token, successor);
    }
}

#[test]
fn with_grace_racing_on_successive_generations_never_branches() {
    // Half the threads hold generation g, half g + 1 (both live inside the
    // window): g + 1 rotates once, g gets g + 1's token back or — once g + 2
    // exists — is reuse. In no case do two different tokens of one
    // generation exist.
    let policy = Policy::default().with_reuse_grace(secs(10));
    for trial in 0..trials() / 2 {
        let n = threads_for(trial).max(2);
        let (auth, store, pair) = setup(policy.clone(), 5000 + trial as u64);
        let g1 = block_on(auth.refresh(&pair.refresh_token)).unwrap();
        let (t0, t1) = (pair.refresh_token.clone(), g1.refresh_token.clone());
        let a = auth.clone();
        let results = race(n, move |i| {
            let t = if i % 2 == 0 { &t0 } else { &t1 };
            (i % 2, block_on(a.refresh(t)))
        });
        let mut gen2 = Vec::new();
        for (held, r) in &results {
            match (held, r) {
                (1, Ok(p)) => gen2.push(p.refresh_token.clone()),
                (_, Ok(p)) => assert_eq!(p.refresh_token, g1.refresh_token, "trial {trial}"),
                (_, Err(Error::RefreshReused | Error::SessionRevoked { .. })) => {}
                (_, Err(e)) => panic!("trial {trial}: {e:?}"),
            }
        }
        gen2.sort();
        gen2.dedup();
        assert!(gen2.len() <= 1, "trial {trial}: generation 2 branched");
        let s = stored(&store);
        assert!(s.generation <= 2);
        if s.revoked.is_some() {
            assert_eq!(s.revoked.map(|r| r.reason), Some(RevokeReason::Reuse));
        }
    }
}

#[test]
fn logout_racing_refresh_leaves_nothing_working() {
    for (k, grace) in [0, 10].into_iter().enumerate() {
        let policy = Policy::default().with_reuse_grace(secs(grace));
        for trial in 0..trials() {
            let n = threads_for(trial);
            let (auth, store, pair) = setup(policy.clone(), 9000 + (k * 10_000 + trial) as u64);
            let token = pair.refresh_token.clone();
            let a = auth.clone();
            // Thread 0 logs out; the others refresh with the same token.
            let results = race(n, move |i| {
                if i == 0 {
                    block_on(a.logout(&token)).map(|()| None)
                } else {
                    block_on(a.refresh(&token)).map(Some)
                }
            });
            assert!(results[0].is_ok(), "logout must succeed: {:?}", results[0]);
            let s = stored(&store);
            let reason = s.revoked.map(|r| r.reason);
            assert!(
                matches!(reason, Some(RevokeReason::Logout | RevokeReason::Reuse)),
                "trial {trial}: session not revoked ({reason:?})"
            );
            // Nothing of the session works any more: neither the original
            // tokens nor anything a racing refresh returned.
            let mut refresh_tokens = vec![pair.refresh_token.clone()];
            let mut access_tokens = vec![pair.access_token.clone()];
            for p in results.iter().flatten().flatten() {
                refresh_tokens.push(p.refresh_token.clone());
                access_tokens.push(p.access_token.clone());
            }
            for t in &refresh_tokens {
                let r = block_on(auth.refresh(t));
                assert!(
                    matches!(r, Err(Error::SessionRevoked { .. })),
                    "trial {trial}: {r:?}"
                );
            }
            for t in &access_tokens {
                let r = block_on(auth.verify_live::<()>(t));
                assert!(
                    matches!(r, Err(Error::SessionRevoked { .. })),
                    "trial {trial}: {r:?}"
                );
            }
        }
    }
}

#[test]
fn logout_all_racing_refresh_leaves_nothing_working() {
    let policy = Policy::default();
    for trial in 0..trials() / 2 {
        let n = threads_for(trial);
        let (auth, store, pair) = setup(policy.clone(), 20_000 + trial as u64);
        let token = pair.refresh_token.clone();
        let a = auth.clone();
        let results = race(n, move |i| {
            if i == 0 {
                block_on(a.logout_all("alice", None)).map(|_| None)
            } else {
                block_on(a.refresh(&token)).map(Some)
            }
        });
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(
            stored(&store).revoked.is_some(),
            "trial {trial}: a refresh outran logout_all"
        );
        for p in results.iter().flatten().flatten() {
            let r = block_on(auth.refresh(&p.refresh_token));
            assert!(
                matches!(r, Err(Error::SessionRevoked { .. })),
                "trial {trial}: {r:?}"
            );
        }
    }
}

#[test]
fn independent_sessions_rotate_in_parallel_without_interference() {
    let store = Arc::new(tokenlife::MemoryStore::new());
    let (auth, _clock) =
        support::authority_with(support::keys(), Policy::default(), store.clone(), 3);
    let auth = Arc::new(auth);
    let rounds = 40;
    let a = auth.clone();
    let finals = race(8, move |i| {
        let subject = format!("user{i}");
        let mut pair = block_on(a.login(&subject, &())).unwrap();
        for _ in 0..rounds {
            pair = block_on(a.refresh(&pair.refresh_token)).unwrap();
        }
        (subject, pair)
    });
    for (subject, pair) in finals {
        let sessions = support::snapshot(&*store, &subject);
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].generation, rounds);
        assert_eq!(sessions[0].id, pair.session_id);
        block_on(auth.verify_live::<()>(&pair.access_token)).unwrap();
    }
}
