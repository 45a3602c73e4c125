//! The session record and its pure transitions.
//!
//! Everything here decides from its arguments alone: the current record, the
//! presented (already tag-verified) token, the keys, the policy and `now`.
//! The [`Authority`](crate::Authority) only loads the record, calls these
//! functions and compare-and-swaps what they return.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, RevokeReason};
use crate::events::Event;
pub use crate::id::SessionId;
use crate::keys::{KeyId, Keyring};
use crate::policy::Policy;
use crate::refresh::{Minted, RefreshToken, SecretHash};
use crate::time::UnixMillis;

/// Application metadata recorded at login (user agent, IP address, …).
pub type Metadata = Vec<(String, String)>;

/// One login: the record a [`SessionStore`](crate::SessionStore) keeps.
///
/// Stores persist it as they like (it is `Serialize`); they must index it by
/// [`id`](Session::id), by [`subject`](Session::subject) and by
/// [`expires_at`](Session::expires_at) for purging, and compare-and-swap on
/// [`version`](Session::version). It holds no secret: only hashes of refresh
/// secrets (DESIGN.md I6).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// The session id.
    pub id: SessionId,
    /// Whom it belongs to. Never changes.
    pub subject: String,
    /// Incremented by every write; the compare-and-swap key.
    pub version: u64,
    /// Generation of the current refresh token.
    pub generation: u64,
    /// Key under which the current refresh token was issued.
    pub key_id: KeyId,
    /// `SHA-256` of the current refresh secret.
    pub current_hash: SecretHash,
    /// `SHA-256` of the previous refresh secret (for the grace window).
    pub previous_hash: Option<SecretHash>,
    /// When the session was created (login).
    pub created_at: UnixMillis,
    /// When the current refresh token was issued (login or last rotation).
    pub rotated_at: UnixMillis,
    /// Idle expiry: `rotated_at + refresh_ttl`.
    pub idle_expires_at: UnixMillis,
    /// Absolute expiry: `created_at + max_session_age`, if set.
    pub absolute_expires_at: Option<UnixMillis>,
    /// Set once the session is revoked; never unset (DESIGN.md I3).
    pub revoked: Option<Revocation>,
    /// The application's claims as a compact JSON object, if any.
    pub claims: Option<String>,
    /// Metadata recorded at login.
    pub metadata: Metadata,
}

/// When and why a session was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Revocation {
    /// When.
    pub at: UnixMillis,
    /// Why.
    pub reason: RevokeReason,
}

/// What [`Authority::sessions`](crate::Authority::sessions) lists: a session
/// as a user would see it on a "your devices" page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    /// The session id.
    pub id: SessionId,
    /// When it was created (login).
    pub created_at: UnixMillis,
    /// When it was last refreshed (equal to `created_at` before the first refresh).
    pub last_refreshed_at: UnixMillis,
    /// When it expires unless refreshed again (or its absolute expiry).
    pub expires_at: UnixMillis,
    /// Metadata recorded at login.
    pub metadata: Metadata,
}

/// What a login brings to a new session (see [`start`]).
///
/// `Debug` redacts the secret, which is zeroized on drop.
pub struct Login {
    /// The new session's id, from a secure random source.
    pub id: SessionId,
    /// Whom the session belongs to.
    pub subject: String,
    /// The application's claims as a compact JSON object, if any.
    pub claims: Option<String>,
    /// Metadata to record with the session.
    pub metadata: Metadata,
    /// The first refresh secret: 32 bytes from a secure random source.
    pub secret: zeroize::Zeroizing<[u8; 32]>,
}

/// The outcome of [`decide_refresh`]. Each variant carries the record it was
/// given, changed as needed, so that nothing is copied on the hot path.
#[derive(Debug)]
#[must_use]
pub enum RefreshDecision {
    /// The current token: store `next` (compare-and-swap against the
    /// version of the record given) and hand out `refresh_token`.
    Rotate {
        /// The record to store.
        next: Session,
        /// The successor refresh token.
        refresh_token: String,
    },
    /// The immediate predecessor inside the grace window: hand out the
    /// successor that was already issued. Nothing to store unless `changed`
    /// (new claims were given).
    Grace {
        /// The record to issue the access token from (and to store if `changed`).
        session: Session,
        /// The successor refresh token, identical to the one first issued.
        refresh_token: String,
        /// Whether `session` differs from the stored record.
        changed: bool,
    },
    /// Reuse of a spent token: store `next` (the revoked record), then
    /// report [`Error::RefreshReused`].
    Revoke {
        /// The revoked record.
        next: Session,
    },
}

/// Creates the record and the first refresh token of a new session.
#[must_use]
pub fn start(
    keyring: &Keyring,
    policy: &Policy,
    login: Login,
    now: UnixMillis,
) -> (Session, String) {
    let entry = keyring.signing();
    let minted = Minted::first(entry, &login.id, *login.secret);
    let session = Session {
        id: login.id,
        subject: login.subject,
        version: 0,
        generation: 0,
        key_id: entry.id.clone(),
        current_hash: minted.hash,
        previous_hash: None,
        created_at: now,
        rotated_at: now,
        idle_expires_at: now.saturating_add(policy.refresh_ttl()),
        absolute_expires_at: policy.max_session_age().map(|age| now.saturating_add(age)),
        revoked: None,
        claims: login.claims,
        metadata: login.metadata,
    };
    (session, minted.token)
}

/// Decides what a refresh with `token` does to `session` at `now`: the one
/// decision that [`Authority::refresh`](crate::Authority::refresh), the
/// property tests and the fuzzers all run.
///
/// `new_claims` replaces the stored application claims when given (an
/// empty string clears them).
///
/// # Errors
/// - [`Error::SessionRevoked`] / [`Error::SessionExpired`] when the session is over;
/// - [`Error::BadSignature`] when the token's tag verified but its secret
///   does not match the record (only a holder of the keys can make one):
///   refused without any change, like every forgery;
/// - [`Error::UnknownKey`] when a grace-window successor's key was removed;
/// - [`Error::UnknownSession`] when `token` names another session;
/// - [`Error::GenerationExhausted`] when the current token is at generation
///   `u64::MAX` (nothing is changed).
pub fn decide_refresh(
    mut session: Session,
    token: &RefreshToken,
    keyring: &Keyring,
    policy: &Policy,
    now: UnixMillis,
    new_claims: Option<String>,
) -> Result<RefreshDecision, Error> {
    check_live(&session, token, now)?;
    let presented = token.secret_hash();
    let g = token.generation();
    if g == session.generation {
        if !presented.ct_matches(&session.current_hash) {
            return Err(Error::BadSignature);
        }
        // Two tokens must never share a generation: at the last one, the
        // session cannot rotate again.
        let next_gen = session
            .generation
            .checked_add(1)
            .ok_or(Error::GenerationExhausted)?;
        let entry = keyring.signing();
        let minted = token.successor(entry, next_gen);
        let next = &mut session;
        next.version = next.version.saturating_add(1);
        next.generation = next_gen;
        next.key_id = entry.id.clone();
        next.previous_hash = Some(next.current_hash);
        next.current_hash = minted.hash;
        next.rotated_at = now;
        next.idle_expires_at = now.saturating_add(policy.refresh_ttl());
        if let Some(claims) = new_claims {
            next.claims = Some(claims).filter(|c| !c.is_empty());
        }
        return Ok(RefreshDecision::Rotate {
            next: session,
            refresh_token: minted.token,
        });
    }
    if g > session.generation {
        // Authentic tag, impossible generation: made with our keys, not by us.
        return Err(Error::BadSignature);
    }
    let is_predecessor = g.saturating_add(1) == session.generation;
    if is_predecessor {
        let Some(previous) = &session.previous_hash else {
            return Err(Error::BadSignature);
        };
        if !presented.ct_matches(previous) {
            return Err(Error::BadSignature);
        }
        // The window is [rotated_at, rotated_at + grace). A `now` before the
        // rotation (a clock read before another writer rotated, or another
        // instance's clock running behind) counts as its start: inside any
        // window of positive length, and never inside a window of zero.
        if now.since(session.rotated_at) < policy.reuse_grace() {
            let entry = keyring
                .entry(session.key_id.as_str().as_bytes())
                .ok_or(Error::UnknownKey)?;
            let minted = token.successor(entry, session.generation);
            if minted.hash.ct_matches(&session.current_hash) {
                let changed = new_claims.is_some();
                if let Some(claims) = new_claims {
                    session.version = session.version.saturating_add(1);
                    session.claims = Some(claims).filter(|c| !c.is_empty());
                }
                return Ok(RefreshDecision::Grace {
                    session,
                    refresh_token: minted.token,
                    changed,
                });
            }
        }
    }
    Ok(RefreshDecision::Revoke {
        next: revoked(session, now, RevokeReason::Reuse),
    })
}

/// Decides what a logout with `token` does: `Some(record)` to store, or
/// `None` when there is nothing to change (already revoked), which makes
/// logout idempotent.
///
/// An expired session is revoked too: an instance whose clock runs behind
/// would otherwise still find it live and refresh it (DESIGN.md I3).
///
/// Any authentic token of the session may log it out, spent ones included.
///
/// # Errors
/// [`Error::BadSignature`] when the token's secret does not match the record
/// for its generation; [`Error::UnknownSession`] when it names another session.
pub fn decide_logout(
    session: &Session,
    token: &RefreshToken,
    now: UnixMillis,
) -> Result<Option<Session>, Error> {
    if token.session_id() != &session.id {
        return Err(Error::UnknownSession);
    }
    let presented = token.secret_hash();
    let g = token.generation();
    let matches = if g == session.generation {
        presented.ct_matches(&session.current_hash)
    } else if g.saturating_add(1) == session.generation {
        session
            .previous_hash
            .is_some_and(|p| presented.ct_matches(&p))
    } else {
        g < session.generation
    };
    if !matches {
        return Err(Error::BadSignature);
    }
    Ok(revoke(session, now, RevokeReason::Logout))
}

/// The revoked record to store, or `None` when `session` is already revoked
/// (nothing to change).
///
/// A session that looks expired at `now` is revoked all the same: another
/// instance's clock may run behind this one and still see it live, and
/// only a recorded revocation is final for every clock (DESIGN.md I3).
#[must_use]
pub fn revoke(session: &Session, now: UnixMillis, reason: RevokeReason) -> Option<Session> {
    if session.revoked.is_some() {
        return None;
    }
    Some(revoked(session.clone(), now, reason))
}

/// The event of a refresh refused by [`decide_refresh`] with `error`, if
/// that refusal is one worth reporting (an expired session).
#[must_use]
pub fn refusal_event(token: &RefreshToken, error: &Error) -> Option<Event> {
    match error {
        Error::SessionExpired { at } => Some(Event::RefreshRefusedExpired {
            session: *token.session_id(),
            expired_at: *at,
        }),
        _ => None,
    }
}

/// Checks that `session` is live at `now`.
///
/// # Errors
/// [`Error::SessionRevoked`] or [`Error::SessionExpired`].
pub fn check_active(session: &Session, now: UnixMillis) -> Result<(), Error> {
    if let Some(r) = session.revoked {
        return Err(Error::SessionRevoked {
            at: r.at,
            reason: r.reason,
        });
    }
    let expiry = session.expires_at();
    if now >= expiry {
        return Err(Error::SessionExpired { at: expiry });
    }
    Ok(())
}

fn check_live(session: &Session, token: &RefreshToken, now: UnixMillis) -> Result<(), Error> {
    if token.session_id() != &session.id {
        return Err(Error::UnknownSession);
    }
    check_active(session, now)
}

fn revoked(mut session: Session, now: UnixMillis, reason: RevokeReason) -> Session {
    session.version = session.version.saturating_add(1);
    session.revoked = Some(Revocation { at: now, reason });
    session
}

impl RefreshDecision {
    /// What this decision is, as the events to report once its write (if
    /// any) succeeded: a [`Event::Refreshed`], or a [`Event::ReuseDetected`]
    /// followed by its [`Event::Revoked`]. `presented` is the token the
    /// decision was made on.
    pub fn events(&self, presented: &RefreshToken) -> impl Iterator<Item = Event> + use<> {
        let (first, second) = match self {
            Self::Rotate { next, .. } => (refreshed(next, false), None),
            Self::Grace { session, .. } => (refreshed(session, true), None),
            Self::Revoke { next } => (
                Event::ReuseDetected {
                    subject: next.subject.clone(),
                    session: next.id,
                    presented_generation: presented.generation(),
                    current_generation: next.generation,
                },
                Event::revocation_of(next),
            ),
        };
        core::iter::once(first).chain(second)
    }
}

fn refreshed(session: &Session, grace_replay: bool) -> Event {
    Event::Refreshed {
        subject: session.subject.clone(),
        session: session.id,
        generation: session.generation,
        grace_replay,
    }
}

// The events that a record stands for are built here, beside the record,
// and not in `events`: that module holds the event values alone and needs
// nothing of the session.
impl Event {
    /// The login of `session`.
    #[must_use]
    pub fn login_of(session: &Session) -> Self {
        Self::LoggedIn {
            subject: session.subject.clone(),
            session: session.id,
        }
    }

    /// The revocation recorded in `session`, if it is revoked.
    #[must_use]
    pub fn revocation_of(session: &Session) -> Option<Self> {
        session.revoked.map(|r| Self::Revoked {
            subject: session.subject.clone(),
            session: session.id,
            reason: r.reason,
            at: r.at,
        })
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("id", &self.id)
            .field("subject", &self.subject)
            .field("claims", &self.claims)
            .field("metadata", &self.metadata)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Session {
    /// When the session ends unless refreshed: the earlier of the idle and
    /// the absolute expiry. Valid strictly before this instant.
    #[must_use]
    pub fn expires_at(&self) -> UnixMillis {
        match self.absolute_expires_at {
            Some(abs) => abs.min(self.idle_expires_at),
            None => self.idle_expires_at,
        }
    }

    /// Whether it is neither revoked nor expired at `now`.
    #[must_use]
    pub fn is_active(&self, now: UnixMillis) -> bool {
        check_active(self, now).is_ok()
    }

    /// The user-facing view of it.
    #[must_use]
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id,
            created_at: self.created_at,
            last_refreshed_at: self.rotated_at,
            expires_at: self.expires_at(),
            metadata: self.metadata.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    const T0: UnixMillis = UnixMillis(1_764_000_000_000);

    /// A session rotated once at `T0 + 1 s`, and its first (now spent) token.
    fn rotated_once(keys: &Keyring, policy: &Policy) -> (Session, RefreshToken) {
        let id = SessionId::from_bytes([7; 16]);
        let login = Login {
            id,
            subject: "alice".into(),
            claims: None,
            metadata: Metadata::new(),
            secret: [9; 32].into(),
        };
        let (s0, t0) = start(keys, policy, login, T0);
        let t0 = RefreshToken::parse(&t0, keys, 1024).unwrap();
        let at = T0.saturating_add(Duration::from_secs(1));
        match decide_refresh(s0, &t0, keys, policy, at, None).unwrap() {
            RefreshDecision::Rotate { next, .. } => (next, t0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_clock_behind_the_rotation_never_opens_a_zero_grace_window() {
        let keys = Keyring::new("k", &[1; 32]).unwrap();
        let policy = Policy::default().with_reuse_grace(Duration::ZERO);
        let (s1, spent) = rotated_once(&keys, &policy);
        for behind in [1, 500, 1000] {
            let now = s1.rotated_at.saturating_sub(Duration::from_millis(behind));
            let d = decide_refresh(s1.clone(), &spent, &keys, &policy, now, None).unwrap();
            assert!(
                matches!(d, RefreshDecision::Revoke { .. }),
                "{behind} ms: {d:?}"
            );
        }
    }

    #[test]
    fn a_clock_behind_the_rotation_is_inside_a_positive_grace_window() {
        let keys = Keyring::new("k", &[1; 32]).unwrap();
        let policy = Policy::default().with_reuse_grace(Duration::from_secs(10));
        let (s1, spent) = rotated_once(&keys, &policy);
        let now = s1.rotated_at.saturating_sub(Duration::from_millis(300));
        let d = decide_refresh(s1.clone(), &spent, &keys, &policy, now, None).unwrap();
        assert!(
            matches!(d, RefreshDecision::Grace { changed: false, .. }),
            "{d:?}"
        );
    }
}
