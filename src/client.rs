//! The client side: a sans-I/O refresher that does what the Directus SDK does
//! for an application holding a token pair.
//!
//! [`Refresher`] holds the current pair and decides, from the `now` it is
//! given, which access token to send, when to refresh, and when to give up.
//! It performs no I/O and reads no clock, so it fits any HTTP client and any
//! executor (or none), and every timing can be tested without sleeping.
//!
//! - [`Refresher::token`] says what to do next: use a token, refresh now,
//!   wait, or log in again ([`Action`]).
//! - At most one refresh is ever in flight: the caller that is told
//!   [`Action::RefreshNow`] performs it; every caller asking meanwhile keeps
//!   using the still-valid access token, or is told to [`Wait`](Action::Wait)
//!   once it has expired, and then shares the result.
//! - The outcome is reported with [`Refresher::refreshed`] or
//!   [`Refresher::refresh_failed`]: a transport failure is retried with
//!   exponential back-off, a rejected refresh token logs out.
//! - [`Refresher::poll_timeout`] is the next instant at which something is
//!   due, so an async driver can sleep until then (as in `quinn-proto`).
//!
//! ```
//! use core::time::Duration;
//! use tokenlife::UnixMillis;
//! use tokenlife::client::{Action, Config, RefreshFailure, Refresher, Tokens};
//!
//! let sent = UnixMillis::from_secs(1_764_000_000);
//! // The body of a login response: `{"access_token", "refresh_token", "expires"}`.
//! let login = Tokens::new("access-1", Some("refresh-1".into()), 900_000);
//! let mut client = Refresher::with_tokens(Config::default(), login, sent);
//!
//! assert_eq!(client.token(sent), Action::UseToken("access-1"));
//! // The refresh is due 30 s before the 15 min access token expires.
//! let due = client.poll_timeout().unwrap();
//! assert_eq!(due, sent.saturating_add(Duration::from_secs(870)));
//!
//! // The first caller to ask is told to refresh; the next one keeps going.
//! assert_eq!(client.token(due), Action::RefreshNow { refresh_token: Some("refresh-1") });
//! assert_eq!(client.token(due), Action::UseToken("access-1"));
//!
//! // The network failed: try again after a back-off of one second.
//! client.refresh_failed(RefreshFailure::Transport, due);
//! let retry = client.poll_timeout().unwrap();
//! assert_eq!(retry, due.saturating_add(Duration::from_secs(1)));
//! assert!(matches!(client.token(retry), Action::RefreshNow { .. }));
//!
//! client.refreshed(Tokens::new("access-2", Some("refresh-2".into()), 900_000), retry);
//! assert_eq!(client.token(retry), Action::UseToken("access-2"));
//! ```

use alloc::string::String;
use core::fmt;
use core::time::Duration;

use serde::Deserialize;

use crate::authority::TokenPair;
use crate::time::UnixMillis;

/// How long before the access token expires the refresh is due, by default.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// The first retry delay after a transport failure, by default.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);

/// The longest retry delay, by default.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The refresher's timing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    refresh_margin: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl Config {
    /// Refresh `margin` before the access token expires (default 30 s).
    ///
    /// For access tokens that live less than twice the margin, the refresh
    /// is due halfway through their lifetime instead, so that a short-lived
    /// token is not refreshed the moment it arrives.
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Retry a refresh that failed in transport after `initial` (default 1 s),
    /// doubling on each further failure up to `max` (default 60 s).
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The refresh margin.
    #[must_use]
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// The retry delay after `failures` consecutive transport failures
    /// (`failures >= 1`): `initial · 2^(failures−1)`, capped at the maximum.
    #[must_use]
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial_backoff
            .checked_mul(1u32 << doublings)
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }
}

/// A token pair as a login or refresh response carries it (the `data` of
/// Directus's `{"data": {"access_token", "refresh_token", "expires"}}`).
///
/// `refresh_token` is `None` in cookie mode, where the server keeps it in an
/// `HttpOnly` cookie that the client never sees. `Debug` redacts both tokens.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Tokens {
    /// The access token, for `Authorization: Bearer`.
    pub access_token: String,
    /// The refresh token, unless the server keeps it in a cookie.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Milliseconds from issue until the access token expires.
    pub expires: u64,
}

impl Tokens {
    /// Tokens from their parts.
    pub fn new(
        access_token: impl Into<String>,
        refresh_token: Option<String>,
        expires: u64,
    ) -> Self {
        Self {
            access_token: access_token.into(),
            refresh_token,
            expires,
        }
    }
}

impl From<TokenPair> for Tokens {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: Some(pair.refresh_token),
            expires: pair.expires,
        }
    }
}

/// What the caller should do next, as decided by [`Refresher::token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Send this access token.
    UseToken(&'a str),
    /// Refresh now (`POST /auth/refresh` with this refresh token, or with
    /// the cookie when it is `None`), then report the outcome with
    /// [`Refresher::refreshed`] or [`Refresher::refresh_failed`]. Exactly
    /// one caller is told this per refresh.
    RefreshNow {
        /// The refresh token to present; `None` in cookie mode.
        refresh_token: Option<&'a str>,
    },
    /// There is no usable access token yet: ask again at `until`, or, when
    /// it is `None`, once the refresh in flight has been reported.
    Wait {
        /// When a retry is due; `None` while a refresh is in flight.
        until: Option<UnixMillis>,
    },
    /// The session is over (a refresh token was rejected, or
    /// [`Refresher::logout`] was called): log in again.
    LoggedOut,
}

/// Why a refresh failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The request got no answer, or a temporary one (a network error, a
    /// timeout, `503`): retried with back-off.
    Transport,
    /// The server refused the refresh token (`401`, or `400` for a missing
    /// cookie): the session is over.
    Rejected,
}

/// The client-side token state machine (see the [module docs](self)).
///
/// `Debug` redacts the tokens.
#[derive(Debug, Clone)]
pub struct Refresher {
    config: Config,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    LoggedOut,
    Active {
        tokens: Tokens,
        expires_at: UnixMillis,
        refresh_at: UnixMillis,
        refresh: Refresh,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Nothing in flight; due at `refresh_at`.
    Idle,
    /// One caller is refreshing; it was started at `started` after
    /// `failures` consecutive transport failures.
    InFlight { started: UnixMillis, failures: u32 },
    /// The last `failures` attempts failed in transport; retry at `until`.
    BackOff { until: UnixMillis, failures: u32 },
}

impl Refresher {
    /// A refresher with no session: [`token`](Self::token) says
    /// [`Action::LoggedOut`] until [`logged_in`](Self::logged_in).
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            state: State::LoggedOut,
        }
    }

    /// A refresher holding the `tokens` of a login whose request was sent at
    /// `sent_at`.
    #[must_use]
    pub fn with_tokens(config: Config, tokens: Tokens, sent_at: UnixMillis) -> Self {
        let mut refresher = Self::new(config);
        refresher.logged_in(tokens, sent_at);
        refresher
    }

    /// Starts over with the `tokens` of a login whose request was sent at
    /// `sent_at`, dropping any earlier session and any refresh in flight.
    ///
    /// `expires` counts from when the server issued the pair, which lies
    /// after the request was sent: counting from `sent_at` errs on the side
    /// of refreshing early.
    pub fn logged_in(&mut self, tokens: Tokens, sent_at: UnixMillis) {
        self.state = active(&self.config, tokens, sent_at);
    }

    /// What to do now: which access token to send, or whether to refresh,
    /// wait or log in again. Telling a caller [`Action::RefreshNow`] starts
    /// a refresh, so no later call is told so until its outcome is reported.
    pub fn token(&mut self, now: UnixMillis) -> Action<'_> {
        let State::Active {
            tokens,
            expires_at,
            refresh_at,
            refresh,
        } = &mut self.state
        else {
            return Action::LoggedOut;
        };
        let due = match *refresh {
            Refresh::Idle => now >= *refresh_at,
            Refresh::BackOff { until, .. } => now >= until,
            Refresh::InFlight { .. } => false,
        };
        if due {
            let failures = match *refresh {
                Refresh::BackOff { failures, .. } => failures,
                _ => 0,
            };
            *refresh = Refresh::InFlight {
                started: now,
                failures,
            };
            return Action::RefreshNow {
                refresh_token: tokens.refresh_token.as_deref(),
            };
        }
        if now < *expires_at {
            return Action::UseToken(&tokens.access_token);
        }
        match *refresh {
            Refresh::BackOff { until, .. } => Action::Wait { until: Some(until) },
            // Idle with an expired token cannot happen (refresh_at <= expires_at),
            // but waiting for the refresh in flight is the safe answer either way.
            Refresh::InFlight { .. } | Refresh::Idle => Action::Wait { until: None },
        }
    }

    /// The next instant at which [`token`](Self::token) would answer
    /// differently without any report: when the refresh is due, or when a
    /// retry is. `None` while a refresh is in flight or when logged out.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<UnixMillis> {
        match &self.state {
            State::LoggedOut => None,
            State::Active {
                refresh_at,
                refresh,
                ..
            } => match *refresh {
                Refresh::Idle => Some(*refresh_at),
                Refresh::BackOff { until, .. } => Some(until),
                Refresh::InFlight { .. } => None,
            },
        }
    }

    /// Reports that the refresh in flight returned `tokens`. The pair's
    /// lifetime counts from when the refresh was started.
    ///
    /// A report with no refresh in flight (after [`logout`](Self::logout) or
    /// [`logged_in`](Self::logged_in)) is ignored; so is `now`, which is
    /// accepted for symmetry with the other reports.
    pub fn refreshed(&mut self, tokens: Tokens, now: UnixMillis) {
        let _ = now;
        if let State::Active {
            refresh: Refresh::InFlight { started, .. },
            ..
        } = self.state
        {
            // Counting from the start of the request errs on the side of
            // refreshing early. A response without a refresh token (cookie
            // mode) leaves none held: the spent one must not be kept.
            self.state = active(&self.config, tokens, started);
        }
    }

    /// Reports that the refresh in flight failed at `now`. A transport
    /// failure schedules a retry with exponential back-off; a rejection
    /// ends the session. Ignored when no refresh is in flight.
    pub fn refresh_failed(&mut self, failure: RefreshFailure, now: UnixMillis) {
        let State::Active { refresh, .. } = &mut self.state else {
            return;
        };
        let Refresh::InFlight { failures, .. } = *refresh else {
            return;
        };
        match failure {
            RefreshFailure::Rejected => self.state = State::LoggedOut,
            RefreshFailure::Transport => {
                let failures = failures.saturating_add(1);
                *refresh = Refresh::BackOff {
                    until: now.saturating_add(self.config.backoff(failures)),
                    failures,
                };
            }
        }
    }

    /// Reports that the server refused the current access token as expired
    /// (say, `401 TOKEN_EXPIRED` because the clocks disagree): it is not used
    /// again, and a refresh is due at once unless one is in flight or backing
    /// off.
    pub fn access_rejected(&mut self, now: UnixMillis) {
        if let State::Active {
            expires_at,
            refresh_at,
            ..
        } = &mut self.state
        {
            *expires_at = (*expires_at).min(now);
            *refresh_at = (*refresh_at).min(now);
        }
    }

    /// Ends the session on this side and returns the refresh token to send
    /// to `POST /auth/logout` (`None` in cookie mode or when logged out).
    /// The outcome of a refresh still in flight is then ignored.
    pub fn logout(&mut self) -> Option<String> {
        match core::mem::replace(&mut self.state, State::LoggedOut) {
            State::LoggedOut => None,
            State::Active { tokens, .. } => tokens.refresh_token.clone(),
        }
    }

    /// Whether a session is held (it may still need a refresh).
    #[must_use]
    pub fn is_logged_in(&self) -> bool {
        matches!(self.state, State::Active { .. })
    }

    /// Whether a refresh is in flight.
    #[must_use]
    pub fn is_refreshing(&self) -> bool {
        matches!(
            self.state,
            State::Active {
                refresh: Refresh::InFlight { .. },
                ..
            }
        )
    }

    /// When the held access token expires, as estimated from the instant the
    /// request that obtained it was sent.
    #[must_use]
    pub fn expires_at(&self) -> Option<UnixMillis> {
        match &self.state {
            State::LoggedOut => None,
            State::Active { expires_at, .. } => Some(*expires_at),
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// The state holding `tokens` obtained by a request sent at `base`.
fn active(config: &Config, tokens: Tokens, base: UnixMillis) -> State {
    let lifetime = Duration::from_millis(tokens.expires);
    let expires_at = base.saturating_add(lifetime);
    let refresh_at = expires_at
        .saturating_sub(config.refresh_margin)
        .max(base.saturating_add(lifetime / 2));
    State::Active {
        tokens,
        expires_at,
        refresh_at,
        refresh: Refresh::Idle,
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .finish()
    }
}
