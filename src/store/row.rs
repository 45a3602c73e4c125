//! A session as the columns of one SQL row, for store authors.

use alloc::string::{String, ToString};

use crate::error::{StoreError, StoreErrorKind};
use crate::session::Session;
use crate::time::UnixMillis;

/// A [`Session`] as the columns of one row: the layout the SQLite and
/// PostgreSQL stores use, and a good start for any SQL store.
///
/// `id`, `subject`, `version` and `expires_at` are the columns a store
/// looks rows up by, compare-and-swaps on and purges by; `record` is the
/// whole session as JSON (no secret in it: only hashes of refresh secrets).
///
/// ```
/// use tokenlife::SqlRow;
/// # use tokenlife::{Keyring, Metadata, Policy, SessionId, UnixMillis, session};
/// # let keys = Keyring::new("k", &[1; 32])?;
/// # let login = session::Login { id: SessionId::from_bytes([1; 16]), subject: "alice".into(),
/// #     claims: None, metadata: Metadata::new(), secret: [2; 32].into() };
/// # let (session, _token) = session::start(&keys, &Policy::default(), login, UnixMillis(1_000));
/// let row = SqlRow::of(&session)?;
/// // INSERT INTO sessions (id, subject, version, expires_at, record) VALUES (…row…)
/// let back = SqlRow::decode(&row.record, |s| s.id.to_string() == row.id)?;
/// assert_eq!(back, session);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlRow {
    /// [`Session::id`] as text (22 characters): the primary key.
    pub id: String,
    /// [`Session::subject`], to index.
    pub subject: String,
    /// [`Session::version`], see [`SqlRow::version_column`].
    pub version: i64,
    /// [`Session::expires_at`], see [`SqlRow::instant_column`]; to index for purging.
    pub expires_at: i64,
    /// The whole session as JSON.
    pub record: String,
}

impl SqlRow {
    /// The row of `session`.
    ///
    /// # Errors
    /// [`StoreErrorKind::Backend`] if the session cannot be serialised
    /// (it always can; the error is kept rather than assumed away).
    pub fn of(session: &Session) -> Result<Self, StoreError> {
        Ok(Self {
            id: session.id.to_string(),
            subject: session.subject.clone(),
            version: Self::version_column(session.version),
            expires_at: Self::instant_column(session.expires_at()),
            record: serde_json::to_string(session).map_err(StoreError::backend)?,
        })
    }

    /// Reads a `record` column back, checking with `belongs` that it is the
    /// session the row was found by (its id, or its subject).
    ///
    /// # Errors
    /// [`StoreErrorKind::Corrupt`] when the record does not decode, or
    /// decodes to a session that does not belong where it was found.
    pub fn decode(
        record: &str,
        belongs: impl FnOnce(&Session) -> bool,
    ) -> Result<Session, StoreError> {
        let session: Session = serde_json::from_str(record)
            .map_err(|e| StoreError::new(StoreErrorKind::Corrupt, e))?;
        if belongs(&session) {
            Ok(session)
        } else {
            // The record disagrees with the columns it was found by.
            Err(StoreError::from_kind(StoreErrorKind::Corrupt))
        }
    }

    /// A version as a signed 64-bit column. Versions are only compared for
    /// equality, so the bit pattern is kept: versions below 2^63 read as
    /// themselves, the rest as negatives.
    #[must_use]
    pub fn version_column(version: u64) -> i64 {
        i64::from_ne_bytes(version.to_ne_bytes())
    }

    /// An instant as a signed 64-bit column of milliseconds. Instants are
    /// compared for order, so they saturate at `i64::MAX` (the year 292 278 994).
    #[must_use]
    pub fn instant_column(at: UnixMillis) -> i64 {
        i64::try_from(at.as_millis()).unwrap_or(i64::MAX)
    }
}
