//! The sans-I/O refresher: its timing rules, property tests over random
//! timings and outcomes, and a run against the HTTP server of
//! `examples/server.rs` (in-process, on loopback, sharing a manual clock).

#[allow(dead_code)]
#[path = "../examples/server/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "../examples/server/http.rs"]
mod http;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Params;
use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::json;
use tokenlife::client::{Action, Config, RefreshFailure, Refresher, Tokens};
use tokenlife::{Clock, Keyring, ManualClock, MemoryStore, Policy, UnixMillis};
use tokio::sync::Notify;

use app::{App, REFRESH_COOKIE, Users};
use http::Http;

const START: UnixMillis = UnixMillis(1_764_000_000_000);

fn at(ms: u64) -> UnixMillis {
    UnixMillis(START.0 + ms)
}

fn tokens(n: u32, expires: u64) -> Tokens {
    Tokens::new(format!("access-{n}"), Some(format!("refresh-{n}")), expires)
}
// A `use` of its own, so that the imports above can move with the server
// tests without touching this one.
use tokenlife::client::{RefreshTicket, Report};

/// Asks at `now`, expecting to be told to refresh: the ticket to report with.
fn start_refresh(client: &mut Refresher, now: UnixMillis) -> RefreshTicket {
    match client.token(now) {
        Action::RefreshNow { ticket, .. } => ticket,
        other => panic!("expected a refresh to start at {now:?}, got {other:?}"),
    }
}

/// The tokens of `who`'s `n`th pair.
fn tokens_of(who: &str, n: u32, expires: u64) -> Tokens {
    Tokens::new(
        format!("{who}-access-{n}"),
        Some(format!("{who}-refresh-{n}")),
        expires,
    )
}

// ---------------------------------------------------------------------------
// The rules, one by one

#[test]
fn the_refresh_is_due_thirty_seconds_before_expiry_by_default() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 900_000), START);
    assert_eq!(client.poll_timeout(), Some(at(870_000)));
    assert_eq!(client.token(at(869_999)), Action::UseToken("access-1"));
    assert!(matches!(
        client.token(at(870_000)),
        Action::RefreshNow {
            refresh_token: Some("refresh-1"),
            ..
        }
    ));
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
    start_refresh(&mut client, at(30_000));
    assert!(client.is_refreshing());
    // The next thing due is the refresh's deadline, 30 s after it started.
    assert_eq!(client.poll_timeout(), Some(at(60_000)));
    for t in [30_000, 45_000, 59_999] {
        assert_eq!(client.token(at(t)), Action::UseToken("access-1"));
    }
}

#[test]
fn once_the_token_expires_callers_wait_for_the_refresh_and_share_its_result() {
    let config = Config::default().with_refresh_timeout(Duration::from_secs(40));
    let mut client = Refresher::with_tokens(config, tokens(1, 60_000), START);
    let ticket = start_refresh(&mut client, at(30_000));
    // They wait at most until the refresh's deadline.
    assert_eq!(client.token(at(60_000)), Action::Wait { until: at(70_000) });
    assert_eq!(client.token(at(61_000)), Action::Wait { until: at(70_000) });
    assert_eq!(
        client.refreshed(ticket, tokens(2, 120_000), at(61_000)),
        Report::Applied
    );
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
        let ticket = start_refresh(&mut client, now);
        assert_eq!(
            client.refresh_failed(ticket, RefreshFailure::Transport, now),
            Report::Applied
        );
        let retry = client.poll_timeout().unwrap();
        delays.push(retry.0 - now.0);
        // Before the retry is due: the old token while it lasts, then a wait.
        let before = UnixMillis(retry.0 - 1);
        match client.token(before) {
            Action::UseToken(t) => assert!(before < at(60_000) && t == "access-1"),
            Action::Wait { until } => assert_eq!(until, retry),
            other => panic!("unexpected {other:?}"),
        }
        now = retry;
    }
    assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    // A success resets the back-off.
    let ticket = start_refresh(&mut client, now);
    assert_eq!(
        client.refreshed(ticket, tokens(2, 60_000), now),
        Report::Applied
    );
    let due = client.poll_timeout().unwrap();
    let ticket = start_refresh(&mut client, due);
    assert_eq!(
        client.refresh_failed(ticket, RefreshFailure::Transport, now),
        Report::Applied
    );
    assert_eq!(client.poll_timeout(), Some(UnixMillis(now.0 + 1_000)));
}

#[test]
fn a_rejected_refresh_token_logs_out_for_good() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    let ticket = start_refresh(&mut client, at(30_000));
    assert_eq!(
        client.refresh_failed(ticket, RefreshFailure::Rejected, at(30_001)),
        Report::Applied
    );
    assert!(!client.is_logged_in());
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.token(at(30_002)), Action::LoggedOut);
    // Late or stray reports change nothing.
    assert_eq!(
        client.refreshed(ticket, tokens(2, 60_000), at(30_003)),
        Report::Stale
    );
    assert_eq!(
        client.refresh_failed(ticket, RefreshFailure::Transport, at(30_004)),
        Report::Stale
    );
    assert_eq!(client.token(at(30_005)), Action::LoggedOut);
    // A new login starts over.
    client.logged_in(tokens(3, 60_000), at(40_000));
    assert_eq!(client.token(at(40_000)), Action::UseToken("access-3"));
}

#[test]
fn logout_hands_back_the_refresh_token_and_ignores_the_refresh_in_flight() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    let ticket = start_refresh(&mut client, at(30_000));
    assert_eq!(client.logout().as_deref(), Some("refresh-1"));
    assert_eq!(
        client.refreshed(ticket, tokens(2, 60_000), at(30_100)),
        Report::Stale
    );
    assert_eq!(client.token(at(30_200)), Action::LoggedOut);
    assert_eq!(client.logout(), None);
}

#[test]
fn a_late_refresh_of_the_previous_login_never_reaches_the_next_one() {
    // Alice's refresh starts; she logs out, and Bob logs in on the same
    // refresher; his refresh starts.
    let mut client =
        Refresher::with_tokens(Config::default(), tokens_of("alice", 1, 60_000), START);
    let alice = start_refresh(&mut client, at(30_000));
    assert_eq!(client.logout().as_deref(), Some("alice-refresh-1"));
    client.logged_in(tokens_of("bob", 1, 60_000), at(31_000));
    let bob = start_refresh(&mut client, at(61_000));
    assert_ne!(alice, bob);

    // Alice's late answer arrives: ignored, Bob keeps his token and his
    // refresh in flight.
    assert_eq!(
        client.refreshed(alice, tokens_of("alice", 2, 60_000), at(61_100)),
        Report::Stale
    );
    assert_eq!(client.token(at(61_100)), Action::UseToken("bob-access-1"));
    assert!(client.is_refreshing());
    // So is a late failure of hers, of either kind: Bob is not logged out.
    for failure in [RefreshFailure::Rejected, RefreshFailure::Transport] {
        assert_eq!(
            client.refresh_failed(alice, failure, at(61_200)),
            Report::Stale
        );
    }
    assert!(client.is_logged_in() && client.is_refreshing());
    assert_eq!(client.poll_timeout(), Some(at(91_000)));

    // Bob's own answer applies, and his successor is the one refreshed next.
    assert_eq!(
        client.refreshed(bob, tokens_of("bob", 2, 60_000), at(61_300)),
        Report::Applied
    );
    assert_eq!(client.token(at(61_300)), Action::UseToken("bob-access-2"));
    assert!(matches!(
        client.token(client.poll_timeout().unwrap()),
        Action::RefreshNow {
            refresh_token: Some("bob-refresh-2"),
            ..
        }
    ));
    // Alice's rejection, later still, changes nothing either.
    assert_eq!(
        client.refresh_failed(alice, RefreshFailure::Rejected, at(95_000)),
        Report::Stale
    );
    assert!(client.is_logged_in());
}

#[test]
fn a_ticket_of_a_replaced_refresher_is_stale_in_the_new_one() {
    // The application drops Alice's refresher and makes a new one for Bob:
    // both number their first refresh alike, yet hers is not his.
    let mut old = Refresher::with_tokens(Config::default(), tokens_of("alice", 1, 60_000), START);
    let alice = start_refresh(&mut old, at(30_000));
    drop(old);
    let mut client = Refresher::with_tokens(Config::default(), tokens_of("bob", 1, 60_000), START);
    let bob = start_refresh(&mut client, at(30_000));
    assert_ne!(alice, bob);
    assert_eq!(
        client.refreshed(alice, tokens_of("alice", 2, 60_000), at(30_100)),
        Report::Stale
    );
    assert_eq!(
        client.refresh_failed(alice, RefreshFailure::Rejected, at(30_100)),
        Report::Stale
    );
    assert_eq!(client.token(at(30_100)), Action::UseToken("bob-access-1"));
    assert_eq!(
        client.refreshed(bob, tokens_of("bob", 2, 60_000), at(30_200)),
        Report::Applied
    );
    assert_eq!(client.token(at(30_200)), Action::UseToken("bob-access-2"));
}

#[test]
fn a_duplicate_or_earlier_report_is_stale() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    let first = start_refresh(&mut client, at(30_000));
    assert_eq!(
        client.refresh_failed(first, RefreshFailure::Transport, at(30_100)),
        Report::Applied
    );
    // The same failure reported twice does not double the back-off.
    assert_eq!(
        client.refresh_failed(first, RefreshFailure::Transport, at(30_200)),
        Report::Stale
    );
    assert_eq!(client.poll_timeout(), Some(at(31_100)));
    let second = start_refresh(&mut client, at(31_100));
    assert_ne!(first, second);
    // The first attempt answers after all, late: the retry is the one in flight.
    assert_eq!(
        client.refreshed(first, tokens(9, 60_000), at(31_200)),
        Report::Stale
    );
    assert!(client.is_refreshing());
    assert_eq!(
        client.refreshed(second, tokens(2, 60_000), at(31_300)),
        Report::Applied
    );
    // Reported again, with other tokens: the first report stands.
    assert_eq!(
        client.refreshed(second, tokens(3, 60_000), at(31_400)),
        Report::Stale
    );
    assert_eq!(
        client.refresh_failed(second, RefreshFailure::Rejected, at(31_500)),
        Report::Stale
    );
    assert_eq!(client.token(at(31_500)), Action::UseToken("access-2"));
    assert_eq!(client.expires_at(), Some(at(91_100)));
}

#[test]
fn a_refresh_never_reported_times_out_and_is_retried_after_the_back_off() {
    let config = Config::default().with_refresh_timeout(Duration::from_secs(40));
    let mut client = Refresher::with_tokens(config, tokens(1, 60_000), START);
    // The caller told to refresh never reports (its task was dropped).
    let lost = start_refresh(&mut client, at(30_000));
    assert_eq!(client.poll_timeout(), Some(at(70_000)));
    assert_eq!(client.token(at(69_999)), Action::Wait { until: at(70_000) });
    // At the deadline it counts as a transport failure: the usual first
    // back-off, counted from the deadline.
    assert_eq!(client.token(at(70_000)), Action::Wait { until: at(71_000) });
    assert!(!client.is_refreshing());
    assert_eq!(client.poll_timeout(), Some(at(71_000)));
    // Then a new refresh starts, with a new ticket.
    let retry = start_refresh(&mut client, at(71_000));
    assert_ne!(retry, lost);
    // The lost report, arriving now, is stale.
    assert_eq!(
        client.refreshed(lost, tokens(9, 60_000), at(71_100)),
        Report::Stale
    );
    // The back-off goes on doubling from there.
    assert_eq!(
        client.refresh_failed(retry, RefreshFailure::Transport, at(71_200)),
        Report::Applied
    );
    assert_eq!(client.poll_timeout(), Some(at(73_200)));
    let ticket = start_refresh(&mut client, at(73_200));
    assert_eq!(
        client.refreshed(ticket, tokens(2, 60_000), at(73_300)),
        Report::Applied
    );
    assert_eq!(client.token(at(73_300)), Action::UseToken("access-2"));
}

#[test]
fn the_refresh_deadline_is_exact_to_the_millisecond() {
    assert_eq!(Config::default().refresh_timeout(), Duration::from_secs(30));
    let zero = Config::default().with_refresh_timeout(Duration::ZERO);
    assert_eq!(zero.refresh_timeout(), Duration::from_millis(1));

    // Reported 1 ms before the deadline: applied.
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    let ticket = start_refresh(&mut client, at(30_000));
    assert_eq!(
        client.refreshed(ticket, tokens(2, 60_000), at(59_999)),
        Report::Applied
    );
    // At the deadline, without anyone asking in between: stale, and the
    // back-off runs from the deadline.
    for failure in [None, Some(RefreshFailure::Rejected)] {
        let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
        let ticket = start_refresh(&mut client, at(30_000));
        let report = match failure {
            None => client.refreshed(ticket, tokens(2, 60_000), at(60_000)),
            Some(failure) => client.refresh_failed(ticket, failure, at(60_000)),
        };
        assert_eq!(report, Report::Stale);
        assert!(client.is_logged_in() && !client.is_refreshing());
        assert_eq!(client.poll_timeout(), Some(at(61_000)));
    }
}

#[test]
fn an_access_token_the_server_calls_expired_is_refreshed_at_once() {
    let mut client = Refresher::with_tokens(Config::default(), tokens(1, 60_000), START);
    client.access_rejected(at(1_000));
    assert_eq!(client.poll_timeout(), Some(at(1_000)));
    start_refresh(&mut client, at(1_000));
    assert_eq!(client.token(at(1_000)), Action::Wait { until: at(31_000) });
}

#[test]
fn cookie_mode_refreshes_without_a_token_in_hand() {
    let login: Tokens =
        serde_json::from_value(json!({ "access_token": "a1", "expires": 60_000 })).unwrap();
    let mut client = Refresher::with_tokens(Config::default(), login, START);
    assert!(matches!(
        client.token(at(30_000)),
        Action::RefreshNow {
            refresh_token: None,
            ..
        }
    ));
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
    /// An outcome reported for the refresh in flight (`None`), or for any
    /// ticket handed out so far (`Some`): a late, duplicate or foreign
    /// report, unless it happens to pick the one in flight.
    Report(Option<prop::sample::Index>, Outcome),
    /// The caller told to refresh never reports.
    Drop,
    AccessRejected,
    Logout,
    /// A new login, whose pair lives this long.
    Login(u64),
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Succeed(u64),
    Transport,
    Reject,
}

fn op() -> impl Strategy<Value = Op> {
    let which = prop_oneof![3 => Just(None), 1 => any::<prop::sample::Index>().prop_map(Some)];
    let outcome = prop_oneof![
        6 => (0u64..120_000).prop_map(Outcome::Succeed),
        4 => Just(Outcome::Transport),
        // Rare, so that most sessions go on long enough to matter.
        1 => Just(Outcome::Reject),
    ];
    prop_oneof![
        8 => (0u64..40_000).prop_map(Op::Advance),
        12 => Just(Op::Ask),
        10 => (which, outcome).prop_map(|(which, outcome)| Op::Report(which, outcome)),
        1 => Just(Op::Drop),
        2 => Just(Op::AccessRejected),
        1 => Just(Op::Logout),
        1 => (0u64..120_000).prop_map(Op::Login),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (0u64..60_000, 1u64..5_000, 0u64..120_000, 0u64..90_000).prop_map(
        |(margin, initial, max, timeout)| {
            Config::default()
                .with_refresh_margin(Duration::from_millis(margin))
                .with_backoff(Duration::from_millis(initial), Duration::from_millis(max))
                .with_refresh_timeout(Duration::from_millis(timeout))
        },
    )
}

/// The pair number `generation` of login number `login`.
fn pair(login: u32, generation: u32, expires: u64) -> Tokens {
    Tokens::new(
        format!("access-{login}-{generation}"),
        Some(format!("refresh-{login}-{generation}")),
        expires,
    )
}

/// A refresh as the test saw it start.
#[derive(Debug, Clone, Copy)]
struct Flight {
    ticket: RefreshTicket,
    started: UnixMillis,
    login: u32,
    generation: u32,
}

/// What the test knows independently of the refresher.
struct Model {
    margin: u64,
    initial: u64,
    max: u64,
    timeout: u64,
    logged_in: bool,
    login: u32,
    generation: u32,
    expires_at: UnixMillis,
    /// When the refresh is due while nothing is in flight or backing off.
    due: UnixMillis,
    in_flight: Option<Flight>,
    /// Whether the caller of the refresh in flight has gone away.
    dropped: bool,
    retry_at: Option<UnixMillis>,
    failures: u32,
    last_delay: u64,
    /// Every refresh started, of every login.
    started: Vec<Flight>,
}

impl Model {
    /// The next deadline, which the refresher must report while logged in.
    fn next(&self) -> Option<UnixMillis> {
        if !self.logged_in {
            return None;
        }
        Some(match (self.in_flight, self.retry_at) {
            (Some(flight), _) => UnixMillis(flight.started.0 + self.timeout),
            (None, Some(retry)) => retry,
            (None, None) => self.due,
        })
    }

    /// A refresh in flight past its deadline failed in transport then.
    fn time_out(&mut self, now: UnixMillis) {
        if let Some(flight) = self.in_flight {
            let deadline = UnixMillis(flight.started.0 + self.timeout);
            if now >= deadline {
                self.in_flight = None;
                self.failed(deadline);
            }
        }
    }

    fn failed(&mut self, at: UnixMillis) {
        self.failures += 1;
        let delay = expected_backoff(self.initial, self.max, self.failures);
        assert!(self.failures == 1 || delay >= self.last_delay);
        self.last_delay = delay;
        self.retry_at = Some(UnixMillis(at.0 + delay));
    }

    /// A new pair, obtained by a request sent at `base`, with the refresh it
    /// is due at as the refresher reports it, checked against the rule.
    fn holds(&mut self, base: UnixMillis, expires: u64, due: Option<UnixMillis>) {
        self.in_flight = None;
        self.retry_at = None;
        self.failures = 0;
        self.expires_at = UnixMillis(base.0 + expires);
        let due = due.expect("a session has a next deadline");
        assert!(due <= self.expires_at);
        assert!(due.0 >= base.0 + expires / 2);
        assert!(due.0 + self.margin >= self.expires_at.0);
        self.due = due;
    }
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
        (margin, initial, max, timeout) in (0u64..60_000, 1u64..5_000, 0u64..120_000, 1u64..90_000),
        first_expires in 0u64..120_000,
        ops in prop::collection::vec(op(), 1..160),
    ) {
        let config = Config::default()
            .with_refresh_margin(Duration::from_millis(margin))
            .with_backoff(Duration::from_millis(initial), Duration::from_millis(max))
            .with_refresh_timeout(Duration::from_millis(timeout));
        let mut client = Refresher::with_tokens(config, pair(0, 0, first_expires), START);
        let mut model = Model {
            margin, initial, max, timeout,
            logged_in: true,
            login: 0,
            generation: 0,
            expires_at: START,
            due: START,
            in_flight: None,
            dropped: false,
            retry_at: None,
            failures: 0,
            last_delay: 0,
            started: Vec::new(),
        };
        model.holds(START, first_expires, client.poll_timeout());
        let mut now = START;
        for op in ops {
            match op {
                Op::Advance(ms) => now = UnixMillis(now.0 + ms),
                Op::Ask => {
                    model.time_out(now);
                    let next = model.next();
                    match client.token(now) {
                        Action::RefreshNow { refresh_token, ticket } => {
                            // At most one in flight, only when due, with the
                            // newest refresh token, and a ticket never seen.
                            prop_assert!(model.logged_in && model.in_flight.is_none());
                            prop_assert!(next.is_some_and(|d| d <= now));
                            let expected = format!("refresh-{}-{}", model.login, model.generation);
                            prop_assert_eq!(refresh_token, Some(expected.as_str()));
                            prop_assert!(model.started.iter().all(|f| f.ticket != ticket));
                            let flight = Flight {
                                ticket,
                                started: now,
                                login: model.login,
                                generation: model.generation,
                            };
                            model.in_flight = Some(flight);
                            model.dropped = false;
                            model.started.push(flight);
                        }
                        Action::UseToken(token) => {
                            // Only the newest token of this login, never an
                            // expired one, and only when nothing is due.
                            let expected = format!("access-{}-{}", model.login, model.generation);
                            prop_assert_eq!(token, expected.as_str());
                            prop_assert!(now < model.expires_at);
                            prop_assert!(model.in_flight.is_some() || next.is_some_and(|d| now < d));
                        }
                        Action::Wait { until } => {
                            // Never without a deadline, and never one past.
                            prop_assert!(model.logged_in && now >= model.expires_at);
                            prop_assert!(until > now);
                            prop_assert_eq!(Some(until), next);
                        }
                        Action::LoggedOut => prop_assert!(!model.logged_in),
                    }
                }
                Op::Report(which, outcome) => {
                    let flight = match which {
                        None => model.in_flight.filter(|_| !model.dropped),
                        Some(i) if !model.started.is_empty() => {
                            Some(model.started[i.index(model.started.len())])
                        }
                        Some(_) => None,
                    };
                    if let Some(flight) = flight {
                        model.time_out(now);
                        let live = model.in_flight.is_some_and(|f| f.ticket == flight.ticket);
                        let report = match outcome {
                            // A flight's answer is its own login's next pair,
                            // which would show if it reached another.
                            Outcome::Succeed(expires) => client.refreshed(
                                flight.ticket,
                                pair(flight.login, flight.generation + 1, expires),
                                now,
                            ),
                            Outcome::Transport => {
                                client.refresh_failed(flight.ticket, RefreshFailure::Transport, now)
                            }
                            Outcome::Reject => {
                                client.refresh_failed(flight.ticket, RefreshFailure::Rejected, now)
                            }
                        };
                        prop_assert_eq!(report, if live { Report::Applied } else { Report::Stale });
                        if live {
                            model.in_flight = None;
                            match outcome {
                                Outcome::Succeed(expires) => {
                                    model.generation += 1;
                                    model.holds(flight.started, expires, client.poll_timeout());
                                }
                                Outcome::Transport => model.failed(now),
                                Outcome::Reject => model.logged_in = false,
                            }
                        }
                    }
                }
                Op::Drop => model.dropped = true,
                Op::AccessRejected => {
                    model.time_out(now);
                    client.access_rejected(now);
                    model.expires_at = model.expires_at.min(now);
                    model.due = model.due.min(now);
                }
                Op::Logout => {
                    let expected = model
                        .logged_in
                        .then(|| format!("refresh-{}-{}", model.login, model.generation));
                    prop_assert_eq!(client.logout(), expected);
                    model.logged_in = false;
                    model.in_flight = None;
                }
                Op::Login(expires) => {
                    model.login += 1;
                    model.generation = 0;
                    model.logged_in = true;
                    client.logged_in(pair(model.login, 0, expires), now);
                    model.holds(now, expires, client.poll_timeout());
                }
            }
            prop_assert_eq!(client.is_logged_in(), model.logged_in);
            prop_assert_eq!(client.is_refreshing(), model.in_flight.is_some());
            prop_assert_eq!(client.poll_timeout(), model.next());
            prop_assert_eq!(client.expires_at(), model.logged_in.then_some(model.expires_at));
            if !model.logged_in {
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
            Action::Wait { until: due.saturating_add(config.refresh_timeout()) }
        });
    }
}
// ---------------------------------------------------------------------------
// Against the server

#[tokio::test]
async fn the_refresher_keeps_a_session_alive_against_the_server() {
    let server = start().await;
    let (http, clock) = (&server.http, &server.clock);

    // Log in; the request is sent at `sent`.
    let sent = clock.now();
    let login = http.post("/auth/login", credentials()).await.unwrap();
    let tokens: Tokens = serde_json::from_value(login.body["data"].clone()).unwrap();
    let mut client = Refresher::with_tokens(Config::default(), tokens, sent);
    let first = access_token(&mut client, clock.now());
    assert_eq!(me(http, &first).await, StatusCode::OK);

    // 30 s tokens: the refresh is due halfway, at 15 s.
    let due = client.poll_timeout().unwrap();
    assert_eq!(due.0 - sent.0, 15_000);
    clock.set(due);
    let Action::RefreshNow {
        refresh_token: Some(spent),
        ticket,
    } = client.token(clock.now())
    else {
        panic!("the refresh is due");
    };
    let spent = spent.to_owned();
    // A second caller meanwhile keeps using the valid token.
    assert_eq!(client.token(clock.now()), Action::UseToken(first.as_str()));
    assert_eq!(me(http, &first).await, StatusCode::OK);
    report(
        &mut client,
        ticket,
        refresh(http, Some(&spent), None).await,
        clock.now(),
    );
    let second = access_token(&mut client, clock.now());
    assert_ne!(second, first);
    assert_eq!(me(http, &second).await, StatusCode::OK);

    // The server goes away (a closed port): back off, then succeed.
    let dead = Http::new(closed_port().await);
    advance_to(clock, client.poll_timeout().unwrap());
    let Action::RefreshNow {
        refresh_token,
        ticket,
    } = client.token(clock.now())
    else {
        panic!("the refresh is due");
    };
    let token = refresh_token.map(str::to_owned);
    let outcome = refresh(&dead, token.as_deref(), None).await;
    assert_eq!(outcome.as_ref().err(), Some(&RefreshFailure::Transport));
    report(&mut client, ticket, outcome, clock.now());
    let retry = client.poll_timeout().unwrap();
    assert_eq!(retry.0 - clock.now().0, 1_000);
    clock.set(retry);
    let Action::RefreshNow {
        refresh_token,
        ticket,
    } = client.token(clock.now())
    else {
        panic!("the retry is due");
    };
    let token = refresh_token.map(str::to_owned);
    // The token expires while the refresh is in flight: callers wait, at
    // most until the refresh's deadline.
    let deadline = client.poll_timeout().unwrap();
    advance_to(clock, client.expires_at().unwrap());
    assert_eq!(client.token(clock.now()), Action::Wait { until: deadline });
    report(
        &mut client,
        ticket,
        refresh(http, token.as_deref(), None).await,
        clock.now(),
    );
    let third = access_token(&mut client, clock.now());
    assert_eq!(me(http, &third).await, StatusCode::OK);

    // The session is revoked elsewhere: the next refresh is rejected.
    let out = http
        .post("/auth/logout", json!({ "refresh_token": spent }))
        .await
        .unwrap();
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    advance_to(clock, client.poll_timeout().unwrap());
    let Action::RefreshNow {
        refresh_token,
        ticket,
    } = client.token(clock.now())
    else {
        panic!("the refresh is due");
    };
    let token = refresh_token.map(str::to_owned);
    let outcome = refresh(http, token.as_deref(), None).await;
    assert_eq!(outcome.as_ref().err(), Some(&RefreshFailure::Rejected));
    report(&mut client, ticket, outcome, clock.now());
    assert_eq!(client.token(clock.now()), Action::LoggedOut);
}

#[tokio::test]
async fn the_refresher_in_cookie_mode_against_the_server() {
    let server = start().await;
    let (http, clock) = (&server.http, &server.clock);
    let mut body = credentials();
    body["mode"] = json!("cookie");
    let sent = clock.now();
    let login = http.post("/auth/login", body).await.unwrap();
    let mut jar = login.cookie(REFRESH_COOKIE).map(str::to_owned);
    let tokens: Tokens = serde_json::from_value(login.body["data"].clone()).unwrap();
    let mut client = Refresher::with_tokens(Config::default(), tokens, sent);

    for _ in 0..3 {
        advance_to(clock, client.poll_timeout().unwrap());
        let Action::RefreshNow {
            refresh_token: None,
            ticket,
        } = client.token(clock.now())
        else {
            panic!("a cookie-mode refresh is due");
        };
        let outcome = refresh(http, None, Some(&mut jar)).await;
        report(&mut client, ticket, outcome, clock.now());
        let access = access_token(&mut client, clock.now());
        assert_eq!(me(http, &access).await, StatusCode::OK);
    }

    // Logging out with the cookie ends it.
    assert_eq!(client.logout(), None);
    let cookie = format!("{REFRESH_COOKIE}={}", jar.clone().unwrap());
    let out = http
        .send(
            Method::POST,
            "/auth/logout",
            &[("cookie", &cookie)],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let again = refresh(http, None, Some(&mut jar)).await;
    assert_eq!(again.err(), Some(RefreshFailure::Rejected));
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let server = start().await;
    let (http, clock) = (&server.http, &server.clock);
    let login = http.post("/auth/login", credentials()).await.unwrap();
    let tokens: Tokens = serde_json::from_value(login.body["data"].clone()).unwrap();
    let shared = Shared {
        client: Mutex::new(Refresher::with_tokens(
            Config::default(),
            tokens,
            clock.now(),
        )),
        done: Notify::new(),
        refreshes: AtomicUsize::new(0),
    };
    for round in 1..=3 {
        // Past expiry, so that every caller needs the refresh's result.
        let expiry = shared.client.lock().unwrap().expires_at().unwrap();
        advance_to(clock, expiry);
        let callers = (0..5).map(|_| authorised(&shared, http, clock));
        let tokens = futures_join_all(callers).await;
        assert_eq!(
            shared.refreshes.load(Ordering::SeqCst),
            round,
            "one refresh per round"
        );
        assert!(
            tokens.windows(2).all(|w| w[0] == w[1]),
            "all share its result"
        );
        assert_eq!(me(http, &tokens[0]).await, StatusCode::OK);
    }
}

// ---------------------------------------------------------------------------
// Driving the refresher over HTTP

struct Server {
    http: Http,
    clock: ManualClock,
}

async fn start() -> Server {
    let clock = ManualClock::new(START);
    let keys = Keyring::new("test", b"a test secret of thirty-two bytes or more").unwrap();
    let policy = Policy::default().with_access_ttl(Duration::from_secs(30));
    let mut users = Users::new(Params::new(Params::MIN_M_COST, 1, 1, None).unwrap()).unwrap();
    users
        .add(
            "demo@example.com",
            "demo password",
            "Demo",
            "User",
            "editor",
        )
        .unwrap();
    let app = App::new(
        keys,
        policy,
        MemoryStore::new(),
        Arc::new(clock.clone()),
        users,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(app::serve(listener, app));
    Server {
        http: Http::new(addr),
        clock,
    }
}

fn credentials() -> serde_json::Value {
    json!({ "email": "demo@example.com", "password": "demo password" })
}

/// A refresher shared by concurrent callers, as an application holds it.
struct Shared {
    client: Mutex<Refresher>,
    /// Wakes the callers waiting for the refresh in flight.
    done: Notify,
    refreshes: AtomicUsize,
}

/// A token for one request: the caller told to refresh does it and wakes
/// the others; those told to wait sleep until then. Bounded in rounds.
async fn authorised(shared: &Shared, http: &Http, clock: &ManualClock) -> String {
    enum Step {
        Use(String),
        Refresh(Option<String>, RefreshTicket),
        Wait,
    }
    for _ in 0..10 {
        // Created before asking, so a wake-up in between is not missed.
        let done = shared.done.notified();
        let step = match shared.client.lock().unwrap().token(clock.now()) {
            Action::UseToken(t) => Step::Use(t.to_owned()),
            Action::RefreshNow {
                refresh_token,
                ticket,
            } => Step::Refresh(refresh_token.map(str::to_owned), ticket),
            Action::Wait { .. } => Step::Wait,
            Action::LoggedOut => panic!("logged out"),
        };
        match step {
            Step::Use(token) => return token,
            Step::Refresh(token, ticket) => {
                shared.refreshes.fetch_add(1, Ordering::SeqCst);
                let outcome = refresh(http, token.as_deref(), None).await;
                report(
                    &mut shared.client.lock().unwrap(),
                    ticket,
                    outcome,
                    clock.now(),
                );
                shared.done.notify_waiters();
            }
            Step::Wait => {
                let _ = tokio::time::timeout(http::TIMEOUT, done).await;
            }
        }
    }
    panic!("no token after 10 rounds");
}

/// Runs the futures concurrently on this task and collects their outputs.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<_> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in handles.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Moves the shared clock forward to `t` (never back).
fn advance_to(clock: &ManualClock, t: UnixMillis) {
    clock.set(t.max(clock.now()));
}

/// A loopback address where nothing listens.
async fn closed_port() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// The token to use now; panics unless the refresher has one.
fn access_token(client: &mut Refresher, now: UnixMillis) -> String {
    match client.token(now) {
        Action::UseToken(t) => t.to_owned(),
        other => panic!("expected a token, got {other:?}"),
    }
}

async fn me(http: &Http, token: &str) -> StatusCode {
    http.get_bearer("/users/me", token).await.unwrap().status
}

/// `POST /auth/refresh` with the token, or with the cookie in `jar` (which
/// the answer updates), classified as the refresher needs it.
async fn refresh(
    http: &Http,
    token: Option<&str>,
    jar: Option<&mut Option<String>>,
) -> Result<Tokens, RefreshFailure> {
    let reply = match (token, &jar) {
        (Some(token), _) => {
            http.post("/auth/refresh", json!({ "refresh_token": token }))
                .await
        }
        (None, Some(Some(cookie))) => {
            let header = format!("{REFRESH_COOKIE}={cookie}");
            http.send(
                Method::POST,
                "/auth/refresh",
                &[("cookie", &header)],
                Vec::new(),
            )
            .await
        }
        (None, _) => return Err(RefreshFailure::Rejected),
    };
    let reply = reply.map_err(|_| RefreshFailure::Transport)?;
    match reply.status {
        StatusCode::OK => {
            if let (Some(jar), Some(next)) = (jar, reply.cookie(REFRESH_COOKIE)) {
                *jar = Some(next.to_owned());
            }
            serde_json::from_value(reply.body["data"].clone())
                .map_err(|_| RefreshFailure::Transport)
        }
        StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST => Err(RefreshFailure::Rejected),
        _ => Err(RefreshFailure::Transport),
    }
}

/// Reports the outcome of the refresh of `ticket`, which is still the one in
/// flight.
fn report(
    client: &mut Refresher,
    ticket: RefreshTicket,
    outcome: Result<Tokens, RefreshFailure>,
    now: UnixMillis,
) {
    let report = match outcome {
        Ok(tokens) => client.refreshed(ticket, tokens, now),
        Err(failure) => client.refresh_failed(ticket, failure, now),
    };
    assert_eq!(report, Report::Applied);
}
