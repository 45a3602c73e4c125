//! Driver and pool errors as [`StoreError`]s.
//!
//! What matters to a caller is whether to retry later: a server that is
//! down, restarting, out of connections or too slow is
//! [`StoreErrorKind::Unavailable`]; anything the server refused on its
//! merits (a missing table, bad credentials) is
//! [`StoreErrorKind::Backend`]. The driver's error is kept as the
//! `source()`.

use std::fmt;

use deadpool_postgres::PoolError;
use tokenlife::{StoreError, StoreErrorKind};

/// A `tokio-postgres` error.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    let unavailable = match e.code() {
        Some(state) => transient(state.code()),
        // No SQLSTATE: the server never answered — I/O, a closed
        // connection, a connect timeout. (Decoding errors, the other
        // kind without one, are mapped to `Corrupt` where they arise.)
        None => true,
    };
    if unavailable {
        StoreError::unavailable(e)
    } else {
        StoreError::backend(e)
    }
}

/// A failure to check a connection out of the pool.
pub(crate) fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg_error(e),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::unavailable(e),
        other => StoreError::backend(other),
    }
}

/// A value read back that is not what the store writes.
pub(crate) fn corrupt(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt, e)
}

/// SQLSTATEs that say "not now" rather than "not this".
fn transient(code: &str) -> bool {
    // 08: connection exception; 53: insufficient resources (too many
    // connections, disk full); 57P: admin/crash shutdown, cannot connect
    // now (starting up, shutting down); 57014: statement timeout.
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") || code == "57014"
}

/// Why a store could not be used the way it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Misuse {
    /// `connect` was awaited outside a tokio runtime.
    NoRuntime,
    /// `connect_blocking` was called on a tokio runtime's thread.
    InsideRuntime,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoRuntime => {
                "PostgresStore::connect must be awaited on a tokio runtime; \
                 use PostgresStore::connect_blocking elsewhere"
            }
            Self::InsideRuntime => {
                "PostgresStore::connect_blocking cannot block a tokio runtime's thread; \
                 await PostgresStore::connect there"
            }
        })
    }
}

impl std::error::Error for Misuse {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_and_connection_states_are_transient() {
        for code in ["08006", "08001", "53300", "57P01", "57P03", "57014"] {
            assert!(transient(code), "{code}");
        }
        for code in ["42P01", "28P01", "3D000", "23505", "22021"] {
            assert!(!transient(code), "{code}");
        }
    }
}
