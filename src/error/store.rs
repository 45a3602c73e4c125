//! [`StoreError`]: how a [`SessionStore`](crate::SessionStore) fails.
//!
//! It lives beside [`Error`](crate::Error), which carries it, and depends on
//! nothing else of the crate: the `store` module, which builds on sessions
//! and keys, re-exports it, so that the error types import nothing that
//! leads back to them.

use alloc::boxed::Box;
use core::fmt;

/// A failure of a [`SessionStore`](crate::SessionStore).
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
