//! Model-based property test: random operation sequences run on an
//! `Authority` over `MemoryStore` and on a small reference model
//! (the `tokenlife-model` crate, shared with the `lifecycle` fuzz target). After
//! every step the two must agree, and the store must match the model and
//! hold no secret. A failure shrinks to a short, readable `Vec<Op>`.
//!
//! The number of cases comes from `PROPTEST_CASES` (default 256 here, by
//! proptest's own default); each case is up to 40 operations.

use tokenlife_model as checks;

use checks::{AccessPick, Config, Edge, Op, RefreshPick};
use proptest::prelude::*;

fn access_pick() -> impl Strategy<Value = AccessPick> {
    prop_oneof![
        4 => Just(AccessPick::Latest),
        1 => any::<u8>().prop_map(AccessPick::Older),
        2 => (any::<u16>(), any::<u8>()).prop_map(|(pos, bit)| AccessPick::Tampered { pos, bit }),
        1 => Just(AccessPick::RefreshToken),
    ]
}

fn refresh_pick() -> impl Strategy<Value = RefreshPick> {
    prop_oneof![
        5 => Just(RefreshPick::Current),
        3 => any::<u8>().prop_map(RefreshPick::Spent),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(pos, bit)| RefreshPick::Tampered { pos, bit }),
        1 => Just(RefreshPick::Foreign),
        1 => Just(RefreshPick::AccessToken),
    ]
}

fn edge() -> impl Strategy<Value = Edge> {
    prop_oneof![
        Just(Edge::AccessExpiry),
        Just(Edge::GraceEnd),
        Just(Edge::IdleExpiry),
        Just(Edge::AbsoluteExpiry),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0u8..4;
    prop_oneof![
        3 => (0u8..3).prop_map(|subject| Op::Login { subject }),
        2 => (idx.clone(), access_pick()).prop_map(|(session, pick)| Op::Verify { session, pick }),
        2 => (idx.clone(), access_pick()).prop_map(|(session, pick)| Op::VerifyLive { session, pick }),
        6 => (idx.clone(), refresh_pick()).prop_map(|(session, pick)| Op::Refresh { session, pick }),
        1 => (idx.clone(), refresh_pick()).prop_map(|(session, pick)| Op::Logout { session, pick }),
        1 => (0u8..3, proptest::option::of(idx.clone()))
            .prop_map(|(subject, except)| Op::LogoutAll { subject, except }),
        1 => (0u8..3).prop_map(|subject| Op::Sessions { subject }),
        1 => Just(Op::Purge),
        3 => prop_oneof![0u16..3, 990u16..1010, 1_990u16..2_010, 4_990u16..5_010, Just(20_000u16)]
            .prop_map(|ms| Op::Advance { ms }),
        3 => (idx, edge(), -1i8..=1)
            .prop_map(|(session, edge, offset)| Op::AdvanceTo { session, edge, offset }),
        1 => Just(Op::RotateKey),
        1 => Just(Op::RemoveOldestKey),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        prop_oneof![Just(0u64), Just(2_000u64)],
        proptest::option::of(Just(45_000u64)),
    )
        .prop_map(|(grace_ms, max_age_ms)| Config {
            grace_ms,
            max_age_ms,
        })
}

proptest! {
    #[test]
    fn authority_agrees_with_the_model(config in config(), ops in proptest::collection::vec(op(), 1..40)) {
        checks::run_model(config, &ops);
    }
}

/// The scenarios the model must get right, spelled out, so a bug in the
/// generator cannot hide them.
#[test]
fn model_handles_the_named_scenarios() {
    use Op::*;
    use RefreshPick::*;
    let grace = Config {
        grace_ms: 2_000,
        max_age_ms: Some(45_000),
    };
    let no_grace = Config {
        grace_ms: 0,
        max_age_ms: None,
    };
    let login = Login { subject: 0 };
    let refresh = |pick| Refresh { session: 0, pick };
    // Spent token inside and outside the window, then everything dead.
    for config in [grace, no_grace] {
        checks::run_model(
            config,
            &[
                login,
                refresh(Current),
                refresh(Spent(0)),
                AdvanceTo {
                    session: 0,
                    edge: Edge::GraceEnd,
                    offset: 0,
                },
                refresh(Spent(0)),
                refresh(Current),
                VerifyLive {
                    session: 0,
                    pick: AccessPick::Latest,
                },
            ],
        );
    }
    // Every window at -1/0/+1 ms.
    for edge in [
        Edge::AccessExpiry,
        Edge::GraceEnd,
        Edge::IdleExpiry,
        Edge::AbsoluteExpiry,
    ] {
        for offset in -1..=1 {
            checks::run_model(
                grace,
                &[
                    login,
                    Advance { ms: 300 },
                    refresh(Current),
                    AdvanceTo {
                        session: 0,
                        edge,
                        offset,
                    },
                    Verify {
                        session: 0,
                        pick: AccessPick::Latest,
                    },
                    VerifyLive {
                        session: 0,
                        pick: AccessPick::Latest,
                    },
                    refresh(Spent(0)),
                    refresh(Current),
                    Sessions { subject: 0 },
                    Purge,
                ],
            );
        }
    }
    // Key rotation and removal in the middle of a family.
    checks::run_model(
        grace,
        &[
            login,
            RotateKey,
            refresh(Current),
            RemoveOldestKey,
            refresh(Spent(0)),
            Verify {
                session: 0,
                pick: AccessPick::Older(1),
            },
            refresh(Current),
            RotateKey,
            RemoveOldestKey,
            refresh(Spent(0)),
            Logout {
                session: 0,
                pick: Spent(1),
            },
        ],
    );
}
