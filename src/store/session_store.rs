//! The [`SessionStore`] trait.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;

use crate::error::StoreError;
use crate::id::SessionId;
use crate::session::Session;
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
