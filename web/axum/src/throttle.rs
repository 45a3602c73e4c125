//! Throttling: a GCRA limiter per key (governor's), on tokenlife's clock.
//!
//! Governor decides; this module gives it two things it lacks:
//! - a clock that is the application's [`tokenlife::Clock`], so that tests
//!   drive throttling and token expiry with one `ManualClock` and never sleep;
//! - a state store that can *peek*, and a count of attempts in flight: a
//!   login asks "is there room in this account's (and address's) budget
//!   for one more failure, beside every attempt already being checked?"
//!   before it runs the password hash, and spends a cell only when the
//!   attempt fails. Attempts sent at once can so never fail more often
//!   than the budget allows, however many race.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::Reference;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokenlife::Clock;

/// A budget: at most `burst` events at once, refilled evenly over `period`
/// (one every `period / burst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    burst: NonZeroU32,
    period: Duration,
}

impl Limit {
    /// The default for failed logins, per account and per client address:
    /// 10 per 15 minutes. A user who mistypes a few times is never stopped;
    /// an online guesser gets 10 tries, then one per 90 s — under 1,000 a
    /// day per account, where a password policy expects millions.
    pub const LOGIN_FAILURES: Self = Self {
        burst: NonZeroU32::new(10).unwrap(),
        period: Duration::from_secs(15 * 60),
    };

    /// The default for refreshes per session: 10 per minute. A client
    /// refreshes once per access-token lifetime (plus a tab or two at once);
    /// a stolen token cannot be hammered faster than one try per 6 s.
    pub const SESSION_REFRESHES: Self = Self {
        burst: NonZeroU32::new(10).unwrap(),
        period: Duration::from_secs(60),
    };

    /// `burst` events per `period`; `None` when either is zero or the
    /// period is too short to split.
    #[must_use]
    pub fn new(burst: u32, period: Duration) -> Option<Self> {
        let burst = NonZeroU32::new(burst)?;
        let limit = Self { burst, period };
        limit.quota().map(|_| limit)
    }

    /// How many events the budget holds.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// The time in which an empty budget is full again.
    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }

    fn quota(&self) -> Option<Quota> {
        let every = self.period / self.burst.get();
        Some(Quota::with_period(every)?.allow_burst(self.burst))
    }
}

/// One budget per key (an account, an address, a session).
pub(crate) struct Throttle {
    limiter: RateLimiter<Probe, Log, GovernorClock, NoOpMiddleware<Instant>>,
    clock: GovernorClock,
    /// Past this many keys, stale ones are dropped before a new one is kept.
    max_keys: usize,
    /// Attempts reserved and not yet settled, per key (absent when none).
    in_flight: Mutex<HashMap<String, u32>>,
    /// The time one cell takes to refill.
    interval: Duration,
}

/// The most keys a throttle keeps before it sweeps out those whose budget
/// is full again (indistinguishable from a key never seen).
const MAX_KEYS: usize = 100_000;

impl Throttle {
    /// A throttle spending `limit` per key, reading `clock`.
    pub(crate) fn new(limit: Limit, clock: Arc<dyn Clock>) -> Self {
        let clock = GovernorClock(clock);
        // `Limit::new` checked that the quota exists.
        let quota = limit
            .quota()
            .unwrap_or_else(|| Quota::per_hour(NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::new(quota, Log::default(), clock.clone()),
            clock,
            max_keys: MAX_KEYS,
            in_flight: Mutex::default(),
            interval: limit.period / limit.burst.get(),
        }
    }

    /// `Err(wait)` when `key` has no budget left now; spends nothing.
    #[cfg(test)]
    fn peek(&self, key: &str) -> Result<(), Duration> {
        self.check(key, true)
    }

    /// Room for one attempt of `key` whose outcome is not known yet: there
    /// only while the budget holds a cell for it *and* for every attempt of
    /// `key` already reserved and not settled. Spends nothing; the attempt
    /// spends a cell if it [fails](Attempt::failed). `Err(wait)` otherwise.
    pub(crate) fn reserve(&self, key: &str) -> Result<Attempt<'_>, Duration> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pending = in_flight.get(key).copied().unwrap_or(0);
        let cells = NonZeroU32::MIN.saturating_add(pending);
        let probe = Probe {
            key: key.to_owned(),
            dry: true,
        };
        match self.limiter.check_key_n(&probe, cells) {
            Ok(Ok(())) => {}
            Ok(Err(not_until)) => {
                return Err(not_until.wait_time_from(governor::clock::Clock::now(&self.clock)));
            }
            // More attempts in flight than the whole budget: wait for one.
            Err(_insufficient) => return Err(self.interval),
        }
        *in_flight.entry(key.to_owned()).or_default() += 1;
        Ok(Attempt {
            throttle: self,
            key: probe.key,
        })
    }

    /// Spends one event of `key`'s budget; `Err(wait)` when none was left.
    pub(crate) fn spend(&self, key: &str) -> Result<(), Duration> {
        if self.limiter.len() >= self.max_keys {
            self.limiter.retain_recent();
        }
        self.check(key, false)
    }

    fn check(&self, key: &str, dry: bool) -> Result<(), Duration> {
        let probe = Probe {
            key: key.to_owned(),
            dry,
        };
        self.limiter
            .check_key(&probe)
            .map_err(|not_until| not_until.wait_time_from(governor::clock::Clock::now(&self.clock)))
    }
}

/// An attempt [reserved](Throttle::reserve) and not settled yet: it counts
/// against its key's budget until it is dropped, and spends a cell of it
/// if it [failed](Attempt::failed).
pub(crate) struct Attempt<'t> {
    throttle: &'t Throttle,
    key: String,
}

impl Attempt<'_> {
    /// The attempt failed: one cell of its key's budget is spent (before the
    /// reservation is released, so that no check in between sees room that
    /// is not there).
    pub(crate) fn failed(self) {
        // Spending may find the budget already gone (it was refilled and
        // spent by attempts reserved later); the next one is refused either way.
        let _ = self.throttle.spend(&self.key);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .throttle
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = in_flight.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

/// A key, and whether the check may change its state.
#[derive(Clone)]
struct Probe {
    key: String,
    dry: bool,
}

impl PartialEq for Probe {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Probe {}

impl Hash for Probe {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

/// Governor's state per key (the theoretical arrival time), written only by
/// checks that are not dry.
#[derive(Default)]
struct Log(Mutex<HashMap<String, Nanos>>);

impl StateStore for Log {
    type Key = Probe;

    fn measure_and_replace<T, F, E>(&self, key: &Probe, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The map holds no invariant a panic elsewhere could break.
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (outcome, next) = f(map.get(&key.key).copied())?;
        if !key.dry {
            map.insert(key.key.clone(), next);
        }
        Ok(outcome)
    }
}

impl ShrinkableKeyedStateStore<Probe> for Log {
    fn retain_recent(&self, drop_below: Nanos) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, tat| *tat > drop_below);
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// tokenlife's clock as governor reads it.
#[derive(Clone)]
struct GovernorClock(Arc<dyn Clock>);

/// An instant of [`GovernorClock`]: nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Instant(u64);

impl governor::clock::Clock for GovernorClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        Instant(self.0.now().0.saturating_mul(1_000_000))
    }
}

impl Add<Nanos> for Instant {
    type Output = Self;

    fn add(self, span: Nanos) -> Self {
        Self(self.0.saturating_add(span.as_u64()))
    }
}

impl Reference for Instant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(Duration::from_nanos(self.0.saturating_sub(earlier.0)))
    }

    fn saturating_sub(&self, span: Nanos) -> Self {
        Self(self.0.checked_sub(span.as_u64()).unwrap_or(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlife::{ManualClock, UnixMillis};

    fn throttle(burst: u32, period: Duration) -> (Throttle, ManualClock) {
        let clock = ManualClock::new(UnixMillis(1_764_000_000_000));
        let limit = Limit::new(burst, period).unwrap();
        (Throttle::new(limit, Arc::new(clock.clone())), clock)
    }

    #[test]
    fn peeking_spends_nothing() {
        let (t, _) = throttle(2, Duration::from_secs(60));
        for _ in 0..10 {
            assert_eq!(t.peek("a"), Ok(()));
        }
        assert_eq!(t.spend("a"), Ok(()));
        assert_eq!(t.spend("a"), Ok(()));
        assert!(t.peek("a").is_err());
        assert!(t.spend("a").is_err());
        // Another key has its own budget.
        assert_eq!(t.peek("b"), Ok(()));
    }

    #[test]
    fn attempts_in_flight_can_never_fail_more_often_than_the_budget() {
        let (t, clock) = throttle(3, Duration::from_secs(60));
        // Three attempts at once fit the budget; a fourth does not, until
        // one of them is settled.
        let first = t.reserve("a").unwrap();
        let second = t.reserve("a").unwrap();
        let third = t.reserve("a").unwrap();
        assert!(t.reserve("a").is_err());
        // Another key has its own budget.
        drop(t.reserve("b").unwrap());
        // A success gives its room back; a failure spends it.
        drop(first);
        let fourth = t.reserve("a").unwrap();
        second.failed();
        third.failed();
        fourth.failed();
        assert_eq!(t.peek("a").unwrap_err(), Duration::from_secs(20));
        assert!(t.reserve("a").is_err());
        assert!(t.in_flight.lock().unwrap().is_empty());
        // One refill later there is room for exactly one.
        clock.advance(Duration::from_secs(20));
        let fifth = t.reserve("a").unwrap();
        assert!(t.reserve("a").is_err());
        fifth.failed();
        assert!(t.reserve("a").is_err());
    }

    #[test]
    fn an_attempt_dropped_unsettled_spends_nothing() {
        let (t, _) = throttle(1, Duration::from_secs(60));
        for _ in 0..5 {
            let attempt = t.reserve("a").unwrap();
            assert!(t.reserve("a").is_err());
            drop(attempt);
        }
        assert_eq!(t.peek("a"), Ok(()));
    }

    #[test]
    fn the_budget_refills_one_event_per_period_over_burst() {
        let (t, clock) = throttle(10, Duration::from_secs(15 * 60));
        for _ in 0..10 {
            t.spend("k").unwrap();
        }
        let wait = t.peek("k").unwrap_err();
        assert_eq!(wait, Duration::from_secs(90));
        clock.advance(Duration::from_millis(89_999));
        assert!(t.peek("k").is_err());
        clock.advance(Duration::from_millis(1));
        assert_eq!(t.peek("k"), Ok(()));
        t.spend("k").unwrap();
        assert!(t.peek("k").is_err());
        // After the whole period the budget is full again.
        clock.advance(Duration::from_secs(15 * 60));
        for _ in 0..10 {
            t.spend("k").unwrap();
        }
        assert!(t.spend("k").is_err());
    }

    #[test]
    fn stale_keys_are_swept_past_the_cap() {
        let (mut t, clock) = throttle(1, Duration::from_secs(60));
        t.max_keys = 3;
        for key in ["a", "b", "c"] {
            t.spend(key).unwrap();
        }
        // Governor sweeps a key one refill interval after its budget is
        // full again.
        clock.advance(Duration::from_secs(120));
        t.spend("d").unwrap();
        assert_eq!(t.limiter.len(), 1);
    }

    #[test]
    fn zero_limits_do_not_exist() {
        assert_eq!(Limit::new(0, Duration::from_secs(1)), None);
        assert_eq!(Limit::new(1, Duration::ZERO), None);
    }
}
