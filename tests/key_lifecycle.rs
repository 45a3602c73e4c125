//! For any sequence of key-lifecycle steps (add next → promote → retire →
//! prune/remove) and any clock, a token verifies — through the keyring and
//! through a `Verifier` of the JWKS published at that instant — if and only
//! if its key is published and not removed, and the token has not expired.
//! The clock moves forward and, as an NTP step or a skewed instance's would,
//! back: a key's state and a token's verdict depend on the instant asked
//! about, never on the order in which instants were seen.
#![cfg(all(feature = "eddsa", feature = "es256"))]

use std::time::Duration;

use proptest::prelude::*;
use tokenlife::session::{self, Login};
use tokenlife::{
    Algorithm, Error, KeyMaterial, KeyState, Keyring, Policy, Session, SessionId, UnixMillis,
    Verifier,
};

const START: UnixMillis = UnixMillis(1_764_000_000_000);
/// Tokens checked after each step: the most recent ones.
const CHECKED: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    AddNext {
        es256: bool,
    },
    Promote(usize),
    Remove(usize),
    Prune,
    Advance(u64),
    /// The clock steps back (never before `START`).
    StepBack(u64),
    Issue,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => prop::bool::weighted(0.1).prop_map(|es256| Op::AddNext { es256 }),
        2 => (0usize..6).prop_map(Op::Promote),
        1 => (0usize..6).prop_map(Op::Remove),
        1 => Just(Op::Prune),
        3 => (0u64..150_000).prop_map(Op::Advance),
        1 => (0u64..90_000).prop_map(Op::StepBack),
        3 => Just(Op::Issue),
    ]
}

fn policy() -> Policy {
    Policy::default()
        .with_access_ttl(Duration::from_secs(60))
        .with_refresh_ttl(Duration::from_secs(300))
        .with_reuse_grace(Duration::from_secs(5))
        .with_leeway(Duration::from_secs(1))
}

/// What the model says of one key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    Next,
    Current,
    Retired { at: u64, until: u64 },
}

impl Model {
    fn published(self, now: u64) -> bool {
        match self {
            Self::Next | Self::Current => true,
            Self::Retired { until, .. } => now < until,
        }
    }
}

struct Issued {
    token: String,
    kid: String,
    exp: u64,
}

fn material(n: usize, es256: bool) -> KeyMaterial {
    let alg = if es256 {
        Algorithm::ES256
    } else {
        Algorithm::EdDSA
    };
    let master = [n as u8 + 1; 32];
    KeyMaterial::derive(alg, &format!("k{n}"), &master).unwrap()
}

fn session(keys: &Keyring) -> Session {
    let login = Login {
        id: SessionId::from_bytes([7; 16]),
        subject: "alice".into(),
        claims: None,
        metadata: Default::default(),
        secret: [8; 32].into(),
    };
    session::start(keys, &policy(), login, START).0
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let policy = policy();
    let ttl = policy.access_ttl().as_millis() as u64;
    let leeway = policy.leeway().as_millis() as u64;
    let refresh_span =
        (policy.refresh_ttl() + policy.reuse_grace() + policy.leeway()).as_millis() as u64;
    let mut keys = Keyring::from_key(material(0, false));
    let record = session(&keys);
    let mut model: Vec<(String, Model)> = vec![("k0".into(), Model::Current)];
    let mut added = 1;
    let mut now = START.as_millis();
    let mut issued: Vec<Issued> = Vec::new();

    for op in ops {
        let at = UnixMillis(now);
        match *op {
            Op::AddNext { es256 } => {
                keys.add_next(material(added, es256)).unwrap();
                model.push((format!("k{added}"), Model::Next));
                added += 1;
            }
            Op::Promote(i) => {
                let (kid, state) = model[i % model.len()].clone();
                let r = keys.promote(&kid, at, &policy);
                if state == Model::Next {
                    prop_assert!(r.is_ok());
                    for (_, s) in &mut model {
                        if *s == Model::Current {
                            *s = Model::Retired {
                                at: now,
                                until: now + ttl + leeway,
                            };
                        }
                    }
                    model.iter_mut().find(|(k, _)| *k == kid).unwrap().1 = Model::Current;
                } else {
                    prop_assert!(matches!(r, Err(Error::InvalidKey(_))));
                }
            }
            Op::Remove(i) => {
                let (kid, state) = model[i % model.len()].clone();
                let r = keys.remove(&kid);
                if state == Model::Current {
                    prop_assert!(r.is_err());
                } else {
                    prop_assert!(r.is_ok());
                    model.retain(|(k, _)| *k != kid);
                }
            }
            Op::Prune => {
                let before = model.len();
                model.retain(|(_, s)| match *s {
                    Model::Retired { at, until } => now < until || now < at + refresh_span,
                    _ => true,
                });
                prop_assert_eq!(keys.prune(at, &policy), before - model.len());
            }
            Op::Advance(ms) => now += ms,
            Op::StepBack(ms) => now = now.saturating_sub(ms).max(START.as_millis()),
            Op::Issue => {
                let signed = tokenlife::access::sign(&keys, &policy, &record, [9; 16], at);
                issued.push(Issued {
                    token: signed.token,
                    kid: keys.signing_key_id().to_string(),
                    exp: signed.expires_at.as_millis(),
                });
            }
        }

        // The keyring's states are the model's.
        let at = UnixMillis(now);
        for (kid, state) in &model {
            let expect = match *state {
                Model::Next => KeyState::Next,
                Model::Current => KeyState::Current,
                Model::Retired { at, until } => KeyState::Retired {
                    at: UnixMillis(at),
                    until: UnixMillis(until),
                },
            };
            prop_assert_eq!(keys.state(kid), Some(expect));
        }
        prop_assert_eq!(keys.key_ids().count(), model.len());
        let jwks = keys.jwks(at);
        let mut published: Vec<&str> = jwks.keys.iter().map(|k| k.kid.as_str()).collect();
        let mut expected: Vec<&str> = model
            .iter()
            .filter(|(_, s)| s.published(now))
            .map(|(k, _)| k.as_str())
            .collect();
        published.sort_unstable();
        expected.sort_unstable();
        prop_assert_eq!(&published, &expected);

        // Each recent token verifies iff its key is published and it has not expired.
        let verifier = Verifier::from_jwks(&jwks.to_json(), policy.clone()).unwrap();
        for t in issued.iter().rev().take(CHECKED) {
            let live_key = model.iter().any(|(k, s)| *k == t.kid && s.published(now));
            let fresh = now < t.exp + leeway;
            let by_keyring = tokenlife::access::verify::<()>(&t.token, &keys, &policy, at);
            let by_jwks = verifier.verify::<()>(&t.token, at);
            for r in [&by_keyring, &by_jwks] {
                match (live_key, fresh) {
                    (true, true) => prop_assert!(r.is_ok(), "{:?}", r),
                    (false, _) => prop_assert!(matches!(r, Err(Error::UnknownKey)), "{:?}", r),
                    (true, false) => {
                        prop_assert!(matches!(r, Err(Error::Expired { .. })), "{:?}", r)
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_token_verifies_iff_its_key_is_published_and_it_has_not_expired(
        ops in proptest::collection::vec(op(), 1..24)
    ) {
        run(&ops)?;
    }
}

#[test]
fn a_whole_rotation_in_order() {
    use Op::*;
    run(&[
        Issue,
        AddNext { es256: true },
        Advance(30_000),
        Promote(1),
        Issue,
        Advance(60_999),
        Advance(1),
        Issue,
        Prune,
        Advance(300_000),
        Prune,
        Remove(0),
    ])
    .unwrap();
}
