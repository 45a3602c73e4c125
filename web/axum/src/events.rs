//! [`TracingEvents`]: the authority's security events as `tracing` events.

use tokenlife::RevokeReason;
use tokenlife::events::{Event, EventSink};
use tracing::field::display;

/// An [`EventSink`] that logs each [`Event`] of the authority through
/// `tracing`, target `tokenlife`, with the fields `event` (its
/// [`name`](Event::name), e.g. `reuse_detected`), `subject` and `session`
/// where the event names them, and the event's one-line `Display` as the
/// message.
///
/// Events carry no token, secret or key material (ids, subjects,
/// generations and instants only), so neither do these lines.
///
/// | event | level |
/// |---|---|
/// | reuse of a spent refresh token, and the revocation it causes | `WARN` |
/// | login, logout, revocation by the subject, purge, refresh refused for an expired session | `INFO` |
/// | refresh | `DEBUG` (one per client per access lifetime) |
///
/// A forged token is refused before the authority decides anything, so it
/// is no event; the routes answer it with 401 and log nothing.
///
/// ```
/// use tokenlife::{Authority, Keyring, MemoryStore, Policy};
/// use tokenlife_axum::{Auth, TracingEvents};
///
/// let keys = Keyring::new("k1", &[7; 32])?;
/// let authority = Authority::new(keys, Policy::default(), MemoryStore::new())
///     .with_events(TracingEvents);
/// let auth = Auth::new(authority);
/// # Ok::<(), tokenlife::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TracingEvents;

impl EventSink for TracingEvents {
    fn record(&self, event: Event) {
        let name = event.name();
        let subject = event.subject();
        let session = event.session().map(display);
        match severity(&event) {
            Severity::Alert => tracing::warn!(
                target: "tokenlife",
                event = name,
                subject,
                session,
                "{event}"
            ),
            Severity::Notice => tracing::info!(
                target: "tokenlife",
                event = name,
                subject,
                session,
                "{event}"
            ),
            Severity::Routine => tracing::debug!(
                target: "tokenlife",
                event = name,
                subject,
                session,
                "{event}"
            ),
        }
    }
}

/// How loudly an event is logged.
enum Severity {
    /// `WARN`: worth someone's attention.
    Alert,
    /// `INFO`: a step of a session's life.
    Notice,
    /// `DEBUG`: many per session.
    Routine,
}

fn severity(event: &Event) -> Severity {
    match event {
        Event::ReuseDetected { .. }
        | Event::Revoked {
            reason: RevokeReason::Reuse,
            ..
        } => Severity::Alert,
        Event::Refreshed { .. } => Severity::Routine,
        // Login, logout, purge, an expired session, and whatever events
        // a later tokenlife adds.
        _ => Severity::Notice,
    }
}
