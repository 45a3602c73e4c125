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
//! - `RefreshNow` hands out a [`RefreshTicket`], and the outcome is reported
//!   with it, through [`Refresher::refreshed`] or
//!   [`Refresher::refresh_failed`]: a transport failure is retried with
//!   exponential back-off, a rejected refresh token logs out.
//! - A report whose ticket is not the refresh in flight is ignored and
//!   answered [`Report::Stale`]: a duplicate, the late outcome of an earlier
//!   refresh, and every outcome of a refresh started before
//!   [`logout`](Refresher::logout) or [`logged_in`](Refresher::logged_in).
//!   So a late answer for one session can never be applied to the next.
//! - A refresh that is not reported within
//!   [`Config::refresh_timeout`] (default 30 s) counts as a transport failure
//!   and is retried after the usual back-off; its ticket is stale from then
//!   on. Nobody waits forever on a report that was lost.
//! - [`Refresher::poll_timeout`] is the next instant at which something is
//!   due, so an async driver can sleep until then (as in `quinn-proto`).
//!
//! ```
//! use core::time::Duration;
//! use tokenlife::UnixMillis;
//! use tokenlife::client::{Action, Config, RefreshFailure, Refresher, Report, Tokens};
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
//! // The first caller to ask is told to refresh, and given the ticket to
//! // report with; the next caller keeps going.
//! let Action::RefreshNow { refresh_token, ticket } = client.token(due) else {
//!     panic!("the refresh is due");
//! };
//! assert_eq!(refresh_token, Some("refresh-1"));
//! assert_eq!(client.token(due), Action::UseToken("access-1"));
//!
//! // The network failed: try again after a back-off of one second.
//! assert_eq!(client.refresh_failed(ticket, RefreshFailure::Transport, due), Report::Applied);
//! let retry = client.poll_timeout().unwrap();
//! assert_eq!(retry, due.saturating_add(Duration::from_secs(1)));
//! let Action::RefreshNow { ticket: second, .. } = client.token(retry) else {
//!     panic!("the retry is due");
//! };
//!
//! let next = Tokens::new("access-2", Some("refresh-2".into()), 900_000);
//! assert_eq!(client.refreshed(second, next.clone(), retry), Report::Applied);
//! assert_eq!(client.token(retry), Action::UseToken("access-2"));
//! // The first attempt's ticket, or the second one presented again, is stale.
//! assert_eq!(client.refreshed(ticket, next.clone(), retry), Report::Stale);
//! assert_eq!(client.refreshed(second, next, retry), Report::Stale);
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

/// How long a refresh may stay in flight unreported, by default.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// The refresher's timing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    refresh_margin: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    refresh_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
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

    /// Give up on a refresh that has not been reported `timeout` after it
    /// started (default 30 s, at least 1 ms): from then on it counts as a
    /// transport failure, retried after the usual back-off, and its outcome
    /// is ignored if it is reported after all.
    ///
    /// Make it longer than the HTTP client's own request timeout, so that a
    /// slow request is reported as a transport failure before it times out
    /// here. A success that arrives after the deadline is lost with the
    /// refresh token it spent; the retry presents that spent token again,
    /// which the server answers with the same successor only inside its
    /// grace window (`reuse_grace`, 10 s by default).
    #[must_use]
    pub fn with_refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The refresh margin.
    #[must_use]
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// How long a refresh may stay in flight unreported.
    #[must_use]
    pub fn refresh_timeout(&self) -> Duration {
        self.refresh_timeout
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
    /// [`Refresher::refreshed`] or [`Refresher::refresh_failed`], presenting
    /// `ticket`. Exactly one caller is told this per refresh.
    RefreshNow {
        /// The refresh token to present; `None` in cookie mode.
        refresh_token: Option<&'a str>,
        /// What the outcome must be reported with.
        ticket: RefreshTicket,
    },
    /// There is no usable access token yet: ask again at `until`, or sooner
    /// once the refresh in flight has been reported. `until` is when a retry
    /// is due, or, while a refresh is in flight, its deadline
    /// ([`Config::refresh_timeout`]); it always lies after `now`.
    Wait {
        /// When to ask again at the latest.
        until: UnixMillis,
    },
    /// The session is over (a refresh token was rejected, or
    /// [`Refresher::logout`] was called): log in again.
    LoggedOut,
}

/// Names one refresh: handed out with [`Action::RefreshNow`], and presented
/// with its outcome to [`Refresher::refreshed`] or
/// [`Refresher::refresh_failed`].
///
/// Only the ticket of the refresh in flight is honoured; every other one is
/// stale ([`Report::Stale`]). Tickets cannot be made, only handed out, and
/// no two refreshers in a process hand out the same one (a [`Clone`] of a
/// refresher shares its numbering; on a target without atomic operations,
/// refreshers are not told apart, only the refreshes of each one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshTicket {
    /// The refresher that handed it out.
    origin: usize,
    /// Its place among that refresher's refreshes.
    seq: u64,
}

/// What became of a report to [`Refresher::refreshed`] or
/// [`Refresher::refresh_failed`].
#[must_use = "a stale report changed nothing"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The ticket was the refresh in flight, and its outcome was applied.
    Applied,
    /// The ticket was not the refresh in flight, and the report changed
    /// nothing: it was reported already, it timed out, a later refresh has
    /// started, or the session it belonged to ended ([`Refresher::logout`],
    /// a rejection) or was replaced ([`Refresher::logged_in`]).
    Stale,
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
    /// Tells this refresher's tickets from those of every other one.
    origin: usize,
    /// The number of the next ticket; never reused, across logins too.
    next_seq: u64,
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
    /// The refresh numbered `seq` was started at `started` after `failures`
    /// consecutive transport failures; it times out at `deadline`.
    InFlight {
        seq: u64,
        started: UnixMillis,
        deadline: UnixMillis,
        failures: u32,
    },
    /// The last `failures` attempts failed in transport; retry at `until`.
    BackOff { until: UnixMillis, failures: u32 },
}

impl Refresh {
    /// When something is next due: the refresh at `refresh_at` when idle,
    /// a retry, or the deadline of the refresh in flight.
    fn next(self, refresh_at: UnixMillis) -> UnixMillis {
        match self {
            Self::Idle => refresh_at,
            Self::BackOff { until, .. } => until,
            Self::InFlight { deadline, .. } => deadline,
        }
    }
}

impl Refresher {
    /// A refresher with no session: [`token`](Self::token) says
    /// [`Action::LoggedOut`] until [`logged_in`](Self::logged_in).
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            origin: next_origin(),
            next_seq: 0,
            state: State::LoggedOut,
        }
    }

    /// A refresher holding the `tokens` of a login whose request was sent at
    /// `sent_at`. No ticket of any other refresher is ever honoured by it.
    #[must_use]
    pub fn with_tokens(config: Config, tokens: Tokens, sent_at: UnixMillis) -> Self {
        let mut refresher = Self::new(config);
        refresher.logged_in(tokens, sent_at);
        refresher
    }

    /// Starts over with the `tokens` of a login whose request was sent at
    /// `sent_at`, dropping any earlier session. A refresh in flight is
    /// forgotten: its ticket is stale, so its outcome, however late, never
    /// touches the new session.
    ///
    /// `expires` counts from when the server issued the pair, which lies
    /// after the request was sent: counting from `sent_at` errs on the side
    /// of refreshing early.
    pub fn logged_in(&mut self, tokens: Tokens, sent_at: UnixMillis) {
        self.state = active(&self.config, tokens, sent_at);
    }

    /// What to do now: which access token to send, or whether to refresh,
    /// wait or log in again. Telling a caller [`Action::RefreshNow`] starts
    /// a refresh, so no later call is told so until its outcome is reported
    /// or it times out ([`Config::refresh_timeout`]), when it counts as a
    /// transport failure.
    pub fn token(&mut self, now: UnixMillis) -> Action<'_> {
        self.time_out(now);
        let State::Active {
            tokens,
            expires_at,
            refresh_at,
            refresh,
        } = &mut self.state
        else {
            return Action::LoggedOut;
        };
        // In flight, this is the deadline, which lies after `now`.
        let next = refresh.next(*refresh_at);
        let failures = match *refresh {
            Refresh::Idle => Some(0),
            Refresh::BackOff { failures, .. } => Some(failures),
            Refresh::InFlight { .. } => None,
        };
        if let Some(failures) = failures
            && now >= next
        {
            let seq = self.next_seq;
            self.next_seq = seq.wrapping_add(1);
            *refresh = Refresh::InFlight {
                seq,
                started: now,
                deadline: now.saturating_add(self.config.refresh_timeout),
                failures,
            };
            return Action::RefreshNow {
                refresh_token: tokens.refresh_token.as_deref(),
                ticket: RefreshTicket {
                    origin: self.origin,
                    seq,
                },
            };
        }
        if now < *expires_at {
            return Action::UseToken(&tokens.access_token);
        }
        // An idle refresher with an expired token cannot get here, as the
        // refresh is due by then (refresh_at <= expires_at).
        Action::Wait { until: next }
    }

    /// The next instant at which [`token`](Self::token) would answer
    /// differently without any report: when the refresh is due, when a
    /// retry is, or, while a refresh is in flight, its deadline. `None` only
    /// when logged out.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<UnixMillis> {
        match &self.state {
            State::LoggedOut => None,
            State::Active {
                refresh_at,
                refresh,
                ..
            } => Some(refresh.next(*refresh_at)),
        }
    }

    /// Reports that the refresh of `ticket` returned `tokens`, at `now`.
    /// The pair's lifetime counts from when the refresh was started.
    ///
    /// Applied only if `ticket` is the refresh in flight and `now` is before
    /// its deadline; otherwise nothing changes and the answer is
    /// [`Report::Stale`] (see [`Report`] for when).
    pub fn refreshed(&mut self, ticket: RefreshTicket, tokens: Tokens, now: UnixMillis) -> Report {
        self.time_out(now);
        let Some(Refresh::InFlight { started, .. }) = self.in_flight(ticket) else {
            return Report::Stale;
        };
        // Counting from the start of the request errs on the side of
        // refreshing early. A response without a refresh token (cookie
        // mode) leaves none held: the spent one must not be kept.
        self.state = active(&self.config, tokens, started);
        Report::Applied
    }

    /// Reports that the refresh of `ticket` failed at `now`. A transport
    /// failure schedules a retry with exponential back-off; a rejection
    /// ends the session.
    ///
    /// Applied only if `ticket` is the refresh in flight and `now` is before
    /// its deadline; otherwise nothing changes and the answer is
    /// [`Report::Stale`]: a late rejection never ends a later session.
    pub fn refresh_failed(
        &mut self,
        ticket: RefreshTicket,
        failure: RefreshFailure,
        now: UnixMillis,
    ) -> Report {
        self.time_out(now);
        let Some(Refresh::InFlight { failures, .. }) = self.in_flight(ticket) else {
            return Report::Stale;
        };
        match failure {
            RefreshFailure::Rejected => self.state = State::LoggedOut,
            RefreshFailure::Transport => self.back_off(failures, now),
        }
        Report::Applied
    }

    /// Reports that the server refused the current access token as expired
    /// (say, `401 TOKEN_EXPIRED` because the clocks disagree): it is not used
    /// again, and a refresh is due at once unless one is in flight or backing
    /// off.
    pub fn access_rejected(&mut self, now: UnixMillis) {
        self.time_out(now);
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
    /// The ticket of a refresh still in flight is stale from now on, so its
    /// outcome is ignored.
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

    /// Whether a refresh is in flight, as of the last call given a `now`
    /// (one past its deadline counts until then; see
    /// [`poll_timeout`](Self::poll_timeout)).
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

    /// The refresh in flight, if `ticket` is its own.
    fn in_flight(&self, ticket: RefreshTicket) -> Option<Refresh> {
        match self.state {
            State::Active {
                refresh: refresh @ Refresh::InFlight { seq, .. },
                ..
            } if ticket.origin == self.origin && ticket.seq == seq => Some(refresh),
            _ => None,
        }
    }

    /// Counts a refresh in flight that is past its deadline at `now` as a
    /// transport failure at that deadline, so that its back-off does not
    /// depend on when the refresher is next asked.
    fn time_out(&mut self, now: UnixMillis) {
        if let State::Active {
            refresh: Refresh::InFlight {
                deadline, failures, ..
            },
            ..
        } = self.state
            && now >= deadline
        {
            self.back_off(failures, deadline);
        }
    }

    /// A transport failure at `at`, after `failures` earlier ones.
    fn back_off(&mut self, failures: u32, at: UnixMillis) {
        if let State::Active { refresh, .. } = &mut self.state {
            let failures = failures.saturating_add(1);
            *refresh = Refresh::BackOff {
                until: at.saturating_add(self.config.backoff(failures)),
                failures,
            };
        }
    }
}

/// A number no other refresher in this process has, so that a ticket kept
/// past the refresher that handed it out (replaced by a new one for the next
/// login) is stale everywhere else.
fn next_origin() -> usize {
    #[cfg(target_has_atomic = "ptr")]
    {
        use core::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
    // No safe counter shared by all refreshers without atomics: tickets are
    // then told apart by their numbers within one refresher only.
    #[cfg(not(target_has_atomic = "ptr"))]
    {
        0
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
