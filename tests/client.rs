//! The sans-I/O refresher: its timing rules, and property tests over random
//! timings and outcomes. Its runs against the HTTP server are in the example
//! server's package (`examples/server/tests/client_against_server.rs`).

use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use tokenlife::UnixMillis;
use tokenlife::client::{Action, Config, RefreshFailure, Refresher, Tokens};

const START: UnixMillis = UnixMillis(1_764_000_000_000);

fn at(ms: u64) -> UnixMillis {
    UnixMillis(START.0 + ms)
}

fn tokens(n: u32, expires: u64) -> Tokens {
    Tokens::new(format!("access-{n}"), Some(format!("refresh-{n}")), expires)
}

// ---------------------------------------------------------------------------
// The rules, one by one

#[test]
fn the_refresh_is_due_thirty_seconds_before_expiry_by_default() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 900_000), START);
    assert_eq!(client.poll_timeout(), Some(at(870_000)));
    assert_eq!(client.token(at(869_999)), Action::UseToken("access-1"));
    assert_eq!(
        client.token(at(870_000)),
        Action::RefreshNow {
            refresh_token: Some("refresh-1")
        }
    );
}

#[test]
fn the_margin_is_configurable_and_short_tokens_refresh_halfway() {
    let config = Config::default().with_refresh_margin(Duration::from_secs(5));
    let client = Refresher::with_tokens(config, tokens(1, 60_000), START);
    assert_eq!(client.poll_timeout(), Some(at(55_000)));
    // 30 s tokens with the 30 s default margin would be refreshed on arrival.
    let client = Refresher::with_tokens(Config::default(), tokens(1, 30_000), START);
    assert_eq!(client.poll_timeout(), Some(at(15_000)));
}

#[test]
fn only_one_refresh_is_in_flight_and_others_keep_the_valid_token() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    assert!(matches!(
        client.token(at(30_000)),
        Action::RefreshNow { .. }
    ));
    assert!(client.is_refreshing());
    assert_eq!(client.poll_timeout(), None);
    for t in [30_000, 45_000, 59_999] {
        assert_eq!(client.token(at(t)), Action::UseToken("access-1"));
    }
}

#[test]
fn once_the_token_expires_callers_wait_for_the_refresh_and_share_its_result() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    assert!(matches!(
        client.token(at(30_000)),
        Action::RefreshNow { .. }
    ));
    assert_eq!(client.token(at(60_000)), Action::Wait { until: None });
    assert_eq!(client.token(at(61_000)), Action::Wait { until: None });
    client.refreshed(tokens(2, 120_000), at(61_000));
    // Every caller now gets the new token; its lifetime counts from the
    // start of the refresh.
    assert_eq!(client.token(at(61_000)), Action::UseToken("access-2"));
    assert_eq!(client.token(at(61_000)), Action::UseToken("access-2"));
    assert_eq!(client.expires_at(), Some(at(150_000)));
}

#[test]
fn transport_failures_back_off_exponentially_up_to_the_cap() {
    let config = Config::default().with_backoff(Duration::from_secs(1), Duration::from_secs(8));
    let mut client = Refresher::with_tokens(config, tokens(1, 60_000), START);
    let mut now = at(30_000);
    let mut delays = Vec::new();
    for _ in 0..6 {
        assert!(matches!(client.token(now), Action::RefreshNow { .. }));
        client.refresh_failed(RefreshFailure::Transport, now);
        let retry = client.poll_timeout().unwrap();
        delays.push(retry.0 - now.0);
        // Before the retry is due: the old token while it lasts, then a wait.
        let before = UnixMillis(retry.0 - 1);
        match client.token(before) {
            Action::UseToken(t) => assert!(before < at(60_000) && t == "access-1"),
            Action::Wait { until } => assert_eq!(until, Some(retry)),
            other => panic!("unexpected {other:?}"),
        }
        now = retry;
    }
    assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    // A success resets the back-off.
    assert!(matches!(client.token(now), Action::RefreshNow { .. }));
    client.refreshed(tokens(2, 60_000), now);
    assert!(matches!(
        client.token(client.poll_timeout().unwrap()),
        Action::RefreshNow { .. }
    ));
    client.refresh_failed(RefreshFailure::Transport, now);
    assert_eq!(client.poll_timeout(), Some(UnixMillis(now.0 + 1_000)));
}

#[test]
fn a_rejected_refresh_token_logs_out_for_good() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    assert!(matches!(
        client.token(at(30_000)),
        Action::RefreshNow { .. }
    ));
    client.refresh_failed(RefreshFailure::Rejected, at(30_001));
    assert!(!client.is_logged_in());
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.token(at(30_002)), Action::LoggedOut);
    // Late or stray reports change nothing.
    client.refreshed(tokens(2, 60_000), at(30_003));
    client.refresh_failed(RefreshFailure::Transport, at(30_004));
    assert_eq!(client.token(at(30_005)), Action::LoggedOut);
    // A new login starts over.
    client.logged_in(tokens(3, 60_000), at(40_000));
    assert_eq!(client.token(at(40_000)), Action::UseToken("access-3"));
}

#[test]
fn logout_hands_back_the_refresh_token_and_ignores_the_refresh_in_flight() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    assert!(matches!(
        client.token(at(30_000)),
        Action::RefreshNow { .. }
    ));
    assert_eq!(client.logout().as_deref(), Some("refresh-1"));
    client.refreshed(tokens(2, 60_000), at(30_100));
    assert_eq!(client.token(at(30_200)), Action::LoggedOut);
    assert_eq!(client.logout(), None);
}

#[test]
fn an_access_token_the_server_calls_expired_is_refreshed_at_once() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    client.access_rejected(at(1_000));
    assert_eq!(client.poll_timeout(), Some(at(1_000)));
    assert!(matches!(client.token(at(1_000)), Action::RefreshNow { .. }));
    assert_eq!(client.token(at(1_000)), Action::Wait { until: None });
}

#[test]
fn cookie_mode_refreshes_without_a_token_in_hand() {
    let login: Tokens =
        serde_json::from_value(json!({ "access_token": "a1", "expires": 60_000 })).unwrap();
    let mut client = Refresher::with_tokens(Config::default(), login, START);
    assert_eq!(
        client.token(at(30_000)),
        Action::RefreshNow {
            refresh_token: None
        }
    );
    assert_eq!(client.logout(), None);
}

#[test]
fn tokens_read_the_directus_shape_and_redact_themselves() {
    let t: Tokens = serde_json::from_value(json!({
        "access_token": "secret-access", "refresh_token": "secret-refresh", "expires": 900_000
    }))
    .unwrap();
    assert_eq!(t, tokens_named("secret-access", "secret-refresh", 900_000));
    let client = Refresher::with_tokens(Config::default(), t.clone(), START);
    for shown in [format!("{t:?}"), format!("{client:?}")] {
        assert!(!shown.contains("secret"), "{shown}");
    }
}

fn tokens_named(access: &str, refresh: &str, expires: u64) -> Tokens {
    Tokens::new(access, Some(refresh.to_owned()), expires)
}

// ---------------------------------------------------------------------------
// Properties over random timings and outcomes

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Ask,
    Succeed(u64),
    FailTransport,
    Reject,
    AccessRejected,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..40_000).prop_map(Op::Advance),
        6 => Just(Op::Ask),
        3 => (0u64..120_000).prop_map(Op::Succeed),
        2 => Just(Op::FailTransport),
        1 => Just(Op::AccessRejected),
        // Rare, so that most runs go on long enough to matter.
        1 => (0u8..10).prop_map(|n| if n == 0 { Op::Reject } else { Op::Ask }),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (0u64..60_000, 1u64..5_000, 0u64..120_000).prop_map(|(margin, initial, max)| {
        Config::default()
            .with_refresh_margin(Duration::from_millis(margin))
            .with_backoff(Duration::from_millis(initial), Duration::from_millis(max))
    })
}

/// What the test knows independently of the refresher.
struct Model {
    logged_in: bool,
    generation: u32,
    expires_at: UnixMillis,
    in_flight: Option<UnixMillis>,
    failures: u32,
    last_delay: u64,
}

fn expected_backoff(initial: u64, max: u64, failures: u32) -> u64 {
    let max = max.max(initial);
    let doubled = u128::from(initial) << failures.saturating_sub(1).min(40);
    u64::try_from(doubled.min(u128::from(max))).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_refresher_keeps_its_promises_under_random_timings(
        (margin, initial, max) in (0u64..60_000, 1u64..5_000, 0u64..120_000),
        first_expires in 0u64..120_000,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let config = Config::default()
            .with_refresh_margin(Duration::from_millis(margin))
            .with_backoff(Duration::from_millis(initial), Duration::from_millis(max));
        let mut client = Refresher::with_tokens(config, tokens(0, first_expires), START);
        let mut model = Model {
            logged_in: true,
            generation: 0,
            expires_at: at(first_expires),
            in_flight: None,
            failures: 0,
            last_delay: 0,
        };
        let mut now = START;
        for op in ops {
            let deadline = client.poll_timeout();
            match op {
                Op::Advance(ms) => now = UnixMillis(now.0 + ms),
                Op::Ask => {
                    let action = client.token(now);
                    match action {
                        Action::RefreshNow { refresh_token } => {
                            // Never two in flight, and only when due.
                            prop_assert!(model.in_flight.is_none());
                            prop_assert!(deadline.is_some_and(|d| d <= now));
                            let expected = format!("refresh-{}", model.generation);
                            prop_assert_eq!(refresh_token, Some(expected.as_str()));
                            model.in_flight = Some(now);
                        }
                        Action::UseToken(token) => {
                            // Only the newest token, and never an expired one.
                            let expected = format!("access-{}", model.generation);
                            prop_assert_eq!(token, expected.as_str());
                            prop_assert!(now < model.expires_at);
                            // Nothing was due.
                            prop_assert!(model.in_flight.is_some() || deadline.is_some_and(|d| now < d));
                        }
                        Action::Wait { until } => {
                            prop_assert!(model.logged_in && now >= model.expires_at);
                            match until {
                                None => prop_assert!(model.in_flight.is_some()),
                                Some(u) => {
                                    prop_assert!(model.in_flight.is_none() && u > now);
                                    prop_assert_eq!(Some(u), deadline);
                                }
                            }
                        }
                        Action::LoggedOut => prop_assert!(!model.logged_in),
                    }
                }
                Op::Succeed(expires) => {
                    let before = (client.poll_timeout(), client.expires_at());
                    client.refreshed(tokens(model.generation + 1, expires), now);
                    match model.in_flight.take() {
                        Some(started) => {
                            model.generation += 1;
                            model.failures = 0;
                            model.expires_at = UnixMillis(started.0 + expires);
                            prop_assert_eq!(client.expires_at(), Some(model.expires_at));
                            let due = client.poll_timeout().unwrap();
                            prop_assert!(due <= model.expires_at);
                            prop_assert!(due.0 >= started.0 + expires / 2);
                            prop_assert!(due.0 + margin >= model.expires_at.0);
                        }
                        None => prop_assert_eq!(before, (client.poll_timeout(), client.expires_at())),
                    }
                }
                Op::FailTransport => {
                    let before = client.poll_timeout();
                    client.refresh_failed(RefreshFailure::Transport, now);
                    match model.in_flight.take() {
                        Some(_) => {
                            model.failures += 1;
                            let delay = expected_backoff(initial, max, model.failures);
                            prop_assert_eq!(client.poll_timeout(), Some(UnixMillis(now.0 + delay)));
                            if model.failures > 1 {
                                prop_assert!(delay >= model.last_delay);
                            }
                            model.last_delay = delay;
                        }
                        None => prop_assert_eq!(before, client.poll_timeout()),
                    }
                }
                Op::Reject => {
                    client.refresh_failed(RefreshFailure::Rejected, now);
                    if model.in_flight.take().is_some() {
                        model.logged_in = false;
                    }
                }
                Op::AccessRejected => {
                    client.access_rejected(now);
                    if model.logged_in {
                        model.expires_at = model.expires_at.min(now);
                    }
                }
            }
            prop_assert_eq!(client.is_logged_in(), model.logged_in);
            prop_assert_eq!(client.is_refreshing(), model.in_flight.is_some());
            if !model.logged_in {
                prop_assert_eq!(client.poll_timeout(), None);
                prop_assert_eq!(client.token(now), Action::LoggedOut);
            }
        }
    }

    #[test]
    fn asking_at_the_deadline_is_what_starts_the_refresh(
        config in config(),
        expires in 0u64..1_000_000,
        early in 1u64..1_000_000,
    ) {
        let mut client = Refresher::with_tokens(config, tokens(1, expires), START);
        let due = client.poll_timeout().unwrap();
        let before = UnixMillis(due.0.saturating_sub(early));
        if before < due {
            prop_assert_eq!(client.token(before), Action::UseToken("access-1"));
        }
        let refresh_now = matches!(client.token(due), Action::RefreshNow { .. });
        prop_assert!(refresh_now);
        prop_assert_eq!(client.token(due), if due < at(expires) {
            Action::UseToken("access-1")
        } else {
            Action::Wait { until: None }
        });
    }
}
