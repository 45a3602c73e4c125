//! Security events: what the [`Authority`](crate::Authority) decided, as
//! values, handed to an injected [`EventSink`].
//!
//! The pure core ([`crate::session`]) says which event a decision is
//! ([`RefreshDecision::events`](crate::session::RefreshDecision::events),
//! [`Event::revocation_of`], …); the `Authority` reports it once the write
//! it stands for has succeeded — a lost compare-and-swap, a failed insert or
//! a store error reports nothing. Events carry no token, secret or key
//! material: ids, subjects, generations and instants only.
//!
//! The default sink, [`NoEvents`], does nothing and costs nothing: it is a
//! zero-sized type whose [`is_enabled`](EventSink::is_enabled) is `false`,
//! so the `Authority` never even builds an event.
//!
//! ```
//! use std::sync::Mutex;
//! use tokenlife::events::{Event, EventSink};
//! use tokenlife::{Authority, Keyring, MemoryStore, Policy};
//!
//! #[derive(Default)]
//! struct Alerts(Mutex<Vec<Event>>);
//! impl EventSink for Alerts {
//!     fn record(&self, event: Event) {
//!         if matches!(event, Event::ReuseDetected { .. }) {
//!             self.0.lock().unwrap().push(event);
//!         }
//!     }
//! }
//!
//! let auth = Authority::new(Keyring::new("k1", &[7; 32])?, Policy::default(), MemoryStore::new())
//!     .with_events(Alerts::default());
//! # Ok::<(), tokenlife::Error>(())
//! ```
//!
//! A web service logs them as structured lines, e.g. with `tracing`:
//!
//! ```text
//! impl EventSink for TracingEvents {
//!     fn record(&self, event: Event) {
//!         let (kind, subject, session) = (event.name(), event.subject(), event.session());
//!         if event.is_alert() {
//!             tracing::warn!(target: "tokenlife", kind, subject, session = ?session, %event);
//!         } else {
//!             tracing::info!(target: "tokenlife", kind, subject, session = ?session, %event);
//!         }
//!     }
//! }
//! ```

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;

use crate::error::RevokeReason;
use crate::id::SessionId;
use crate::time::UnixMillis;

/// Something the [`Authority`](crate::Authority) did, worth a log line or an alert.
///
/// `Debug` and `Display` show ids, subjects, generations and instants, never
/// a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A session was started (login).
    LoggedIn {
        /// Whose.
        subject: String,
        /// The new session.
        session: SessionId,
    },
    /// A refresh handed out a token pair.
    Refreshed {
        /// Whose.
        subject: String,
        /// Which session.
        session: SessionId,
        /// The generation of the refresh token handed out.
        generation: u64,
        /// The immediate predecessor was presented inside the grace window
        /// and given the successor already issued (a retry, or a race).
        grace_replay: bool,
    },
    /// A spent refresh token was presented outside the grace window: a
    /// stolen token, or a client that lost its successor. The session was
    /// revoked (a [`Revoked`](Event::Revoked) with
    /// [`RevokeReason::Reuse`] follows).
    ReuseDetected {
        /// Whose.
        subject: String,
        /// Which session.
        session: SessionId,
        /// The generation of the token presented.
        presented_generation: u64,
        /// The generation of the session's current token.
        current_generation: u64,
    },
    /// A session was revoked.
    Revoked {
        /// Whose.
        subject: String,
        /// Which session.
        session: SessionId,
        /// Why.
        reason: RevokeReason,
        /// When (the revoking instance's clock).
        at: UnixMillis,
    },
    /// Expired sessions were deleted.
    Purged {
        /// How many.
        count: u64,
    },
    /// A refresh was refused because the session had expired.
    RefreshRefusedExpired {
        /// Which session.
        session: SessionId,
        /// When it expired.
        expired_at: UnixMillis,
    },
}

/// Where the [`Authority`](crate::Authority) reports [`Event`]s, injected
/// like the [`Clock`](crate::Clock) and the [`RandomSource`](crate::RandomSource).
///
/// `record` runs on the request path, after the store write: keep it
/// cheap and non-blocking (log it, count it, or hand it to a channel).
pub trait EventSink: Send + Sync {
    /// Takes one event.
    fn record(&self, event: Event);

    /// Whether `record` does anything. When `false` the `Authority` builds
    /// no event at all (no allocation for the subject): [`NoEvents`] says so.
    fn is_enabled(&self) -> bool {
        true
    }
}

/// The default [`EventSink`]: records nothing, costs nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoEvents;

impl EventSink for NoEvents {
    #[inline]
    fn record(&self, _event: Event) {}

    #[inline]
    fn is_enabled(&self) -> bool {
        false
    }
}

impl<E: EventSink + ?Sized> EventSink for Arc<E> {
    fn record(&self, event: Event) {
        (**self).record(event);
    }
    fn is_enabled(&self) -> bool {
        (**self).is_enabled()
    }
}

impl<E: EventSink + ?Sized> EventSink for &E {
    fn record(&self, event: Event) {
        (**self).record(event);
    }
    fn is_enabled(&self) -> bool {
        (**self).is_enabled()
    }
}

impl Event {
    /// A short, stable name for the kind of event (`"reuse_detected"`, …),
    /// for a log field or a metric label.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::LoggedIn { .. } => "logged_in",
            Self::Refreshed { .. } => "refreshed",
            Self::ReuseDetected { .. } => "reuse_detected",
            Self::Revoked { .. } => "revoked",
            Self::Purged { .. } => "purged",
            Self::RefreshRefusedExpired { .. } => "refresh_refused_expired",
        }
    }

    /// Whether it calls for attention (reuse of a spent refresh token).
    #[must_use]
    pub fn is_alert(&self) -> bool {
        matches!(self, Self::ReuseDetected { .. })
    }

    /// Whose session it is about, if it names one.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        match self {
            Self::LoggedIn { subject, .. }
            | Self::Refreshed { subject, .. }
            | Self::ReuseDetected { subject, .. }
            | Self::Revoked { subject, .. } => Some(subject),
            Self::Purged { .. } | Self::RefreshRefusedExpired { .. } => None,
        }
    }

    /// The session it is about, if it names one.
    #[must_use]
    pub fn session(&self) -> Option<SessionId> {
        match self {
            Self::LoggedIn { session, .. }
            | Self::Refreshed { session, .. }
            | Self::ReuseDetected { session, .. }
            | Self::Revoked { session, .. }
            | Self::RefreshRefusedExpired { session, .. } => Some(*session),
            Self::Purged { .. } => None,
        }
    }
}

/// One line: the kind, then what it is about (`reuse_detected session=…
/// presented_generation=0 current_generation=2`). The subject is left to
/// [`Event::subject`], for the logger to place (or redact) as it likes.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Self::LoggedIn { session, .. } => write!(f, " session={session}"),
            Self::Refreshed {
                session,
                generation,
                grace_replay,
                ..
            } => write!(
                f,
                " session={session} generation={generation} grace_replay={grace_replay}"
            ),
            Self::ReuseDetected {
                session,
                presented_generation,
                current_generation,
                ..
            } => write!(
                f,
                " session={session} presented_generation={presented_generation} \
                 current_generation={current_generation}"
            ),
            Self::Revoked {
                session,
                reason,
                at,
                ..
            } => {
                let reason = match reason {
                    RevokeReason::Logout => "logout",
                    RevokeReason::LogoutAll => "logout_all",
                    RevokeReason::Reuse => "reuse",
                };
                write!(f, " session={session} reason={reason} at={at}")
            }
            Self::Purged { count } => write!(f, " count={count}"),
            Self::RefreshRefusedExpired {
                session,
                expired_at,
            } => write!(f, " session={session} expired_at={expired_at}"),
        }
    }
}
