//! The one port to storage.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

use crate::session::{Session, SessionId};
use crate::time::UnixMillis;

/// Where sessions live: a SQL table, a Redis hash, [`MemoryStore`](crate::MemoryStore).
///
/// Five operations, each of which one SQL statement or one Redis
/// transaction can honour. The [`Authority`](crate::Authority) relies on
/// exactly these promises:
///
/// - [`insert`](SessionStore::insert) stores a new session, and fails with
///   [`StoreError::conflict`] if the id exists (never overwrites);
/// - [`get`](SessionStore::get) returns the stored record as last written;
/// - [`compare_and_swap`](SessionStore::compare_and_swap) replaces the record
///   only if its stored `version` equals `expected_version`, atomically, and
///   fails with [`StoreError::conflict`] otherwise (or if it is gone) —
///   in SQL, `UPDATE … WHERE id = ? AND version = ?` and a check that one
///   row changed;
/// - [`list_by_subject`](SessionStore::list_by_subject) returns every stored
///   session of a subject (any state);
/// - [`purge_expired`](SessionStore::purge_expired) deletes every session
///   whose [`Session::expires_at`] is at or before `now`, revoked or not.
///
/// The `subject` of a session never changes, so an index on it never needs
/// updating by `compare_and_swap`. Errors other than conflicts should be
/// [`StoreError::backend`] carrying the driver's error as their source.
///
/// The methods return `impl Future + Send` so that a store can be used from
/// a multi-threaded executor; a synchronous store simply returns
/// `core::future::ready(..)` or writes `async fn`.
///
/// # Security & performance
/// The record holds no secret (only `SHA-256` of refresh secrets), but it
/// does hold subjects and metadata: protect it as you would user data.
/// `get` and `compare_and_swap` are on the refresh path; `get` is on the
/// `verify_live` path, so it should be a primary-key lookup.
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    fn insert(&self, session: Session) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Loads a session.
    fn get(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Replaces the session `next.id` with `next` if its stored version is `expected_version`.
    fn compare_and_swap(
        &self,
        expected_version: u64,
        next: Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every stored session of `subject`.
    fn list_by_subject(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// Deletes sessions that expired at or before `now`; returns how many.
    fn purge_expired(
        &self,
        now: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn insert(&self, session: Session) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).insert(session)
    }
    fn get(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send {
        (**self).get(id)
    }
    fn compare_and_swap(
        &self,
        expected_version: u64,
        next: Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).compare_and_swap(expected_version, next)
    }
    fn list_by_subject(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        (**self).list_by_subject(subject)
    }
    fn purge_expired(
        &self,
        now: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        (**self).purge_expired(now)
    }
}

/// A failure of a [`SessionStore`].
///
/// Its `Display` names the kind only; the driver's error, which may quote
/// queries or data, is reachable through `source()`.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    source: Option<Box<dyn core::error::Error + Send + Sync + 'static>>,
}

/// The kind of a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The id is taken (insert) or the version moved on (compare-and-swap).
    /// The [`Authority`](crate::Authority) retries these.
    Conflict,
    /// The store could not be reached or did not answer in time.
    Unavailable,
    /// The store answered with something it should not have (bad data).
    Corrupt,
    /// Any other failure of the backend.
    Backend,
}

impl StoreError {
    /// The id is taken, or the version moved on.
    #[must_use]
    pub fn conflict() -> Self {
        Self {
            kind: StoreErrorKind::Conflict,
            source: None,
        }
    }

    /// The backend failed with `source`.
    #[must_use]
    pub fn backend(source: impl core::error::Error + Send + Sync + 'static) -> Self {
        Self::new(StoreErrorKind::Backend, source)
    }

    /// The backend could not be reached or timed out.
    #[must_use]
    pub fn unavailable(source: impl core::error::Error + Send + Sync + 'static) -> Self {
        Self::new(StoreErrorKind::Unavailable, source)
    }

    /// An error of `kind` caused by `source`.
    #[must_use]
    pub fn new(
        kind: StoreErrorKind,
        source: impl core::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            source: Some(Box::new(source)),
        }
    }

    /// An error of `kind` with no further cause.
    #[must_use]
    pub fn from_kind(kind: StoreErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// What kind of failure it is.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Whether it is a [`StoreErrorKind::Conflict`].
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        self.kind == StoreErrorKind::Conflict
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            StoreErrorKind::Conflict => "conflicting concurrent update",
            StoreErrorKind::Unavailable => "store unavailable",
            StoreErrorKind::Corrupt => "store returned invalid data",
            StoreErrorKind::Backend => "store backend failed",
        })
    }
}

impl core::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn core::error::Error + 'static))
    }
}
