//! Client and server errors as [`StoreError`]s.
//!
//! What matters to a caller is whether to retry later: a server that
//! cannot be reached, drops the connection, is loading its data, is a
//! read-only replica (mid-failover) or does not answer in time is
//! [`StoreErrorKind::Unavailable`]; anything else it refused (a script
//! error, a key of the wrong type, bad credentials) is
//! [`StoreErrorKind::Backend`].
//!
//! The driver's error is not kept as it is: some of its messages quote the
//! reply they could not convert, which may be a record. The `source()` is a
//! [`RedisFailure`] instead, which keeps the error's category, its server
//! code and its I/O kind — never a key's name or contents.

use std::fmt;
use std::io;

use redis::{ErrorKind, RedisError, ServerErrorKind};
use tokenlife::StoreError;

/// A Redis error with everything that could quote data taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisFailure {
    what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    /// An error of the client or server: its category and server code.
    Driver {
        category: String,
        code: Option<String>,
        io: Option<io::ErrorKind>,
    },
    /// A reply of a shape the store does not send for.
    Reply(&'static str),
    /// The operation did not finish within the store's timeout.
    Timeout,
    /// The operation's task could not finish (its runtime shut down).
    Task,
    /// The revocation feed's connection closed (or was closed by the server).
    Closed,
}

impl fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            What::Driver { category, code, io } => {
                write!(f, "redis: {category}")?;
                if let Some(code) = code {
                    write!(f, " ({code})")?;
                }
                if let Some(io) = io {
                    write!(f, ": {io}")?;
                }
                Ok(())
            }
            What::Reply(what) => write!(f, "redis: unexpected reply to {what}"),
            What::Timeout => f.write_str("redis: no answer within the store's timeout"),
            What::Task => f.write_str("redis: the store's runtime is shut down"),
            What::Closed => f.write_str("redis: the revocation feed's connection closed"),
        }
    }
}

impl std::error::Error for RedisFailure {}

/// A driver error.
pub(crate) fn redis_error(e: &RedisError) -> StoreError {
    let failure = RedisFailure {
        what: What::Driver {
            category: e.category().to_owned(),
            // A server's error code is one upper-case word ("ERR", "WRONGTYPE").
            code: e
                .code()
                .filter(|c| c.len() <= 32 && c.bytes().all(|b| b.is_ascii_uppercase()))
                .map(str::to_owned),
            io: io_kind(e),
        },
    };
    if unavailable(e) {
        StoreError::unavailable(failure)
    } else {
        StoreError::backend(failure)
    }
}

/// A reply of the wrong shape to `what`.
pub(crate) fn unexpected(what: &'static str) -> StoreError {
    StoreError::backend(RedisFailure {
        what: What::Reply(what),
    })
}

/// The store's timeout elapsed.
pub(crate) fn timed_out() -> StoreError {
    StoreError::unavailable(RedisFailure {
        what: What::Timeout,
    })
}

/// The task running the operation was cancelled.
pub(crate) fn task_failed() -> StoreError {
    StoreError::unavailable(RedisFailure { what: What::Task })
}

fn unavailable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                )
        )
}

fn io_kind(e: &RedisError) -> Option<io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = cause.source();
    }
    None
}

/// The revocation feed's connection closed.
pub(crate) fn feed_closed() -> StoreError {
    StoreError::unavailable(RedisFailure { what: What::Closed })
}

/// Why a store could not be used the way it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Misuse {
    /// `connect` was awaited outside a tokio runtime.
    NoRuntime,
    /// `connect_blocking` was called on a tokio runtime's thread.
    InsideRuntime,
    /// A set subscribed to the revocation feed keeps its entries longer
    /// than the store keeps its history of revocations: a resync could
    /// miss some that still matter.
    ShortHistory {
        /// What the set needs: its retention and the resync margin.
        needed: std::time::Duration,
        /// What the store keeps ([`Options::with_revocation_history`](crate::Options::with_revocation_history)).
        kept: std::time::Duration,
    },
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRuntime => f.write_str(
                "RedisStore::connect must be awaited on a tokio runtime; \
                 use RedisStore::connect_blocking elsewhere",
            ),
            Self::InsideRuntime => f.write_str(
                "RedisStore::connect_blocking cannot block a tokio runtime's thread; \
                 await RedisStore::connect there",
            ),
            Self::ShortHistory { needed, kept } => write!(
                f,
                "the revocation set needs {needed:?} of history (its retention and the \
                 resync margin) but the store keeps {kept:?}: raise \
                 Options::with_revocation_history"
            ),
        }
    }
}

impl std::error::Error for Misuse {}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlife::StoreErrorKind;

    #[test]
    fn a_refused_connection_is_unavailable() {
        let e = RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        let store = redis_error(&e);
        assert_eq!(store.kind(), StoreErrorKind::Unavailable);
        let source = std::error::Error::source(&store).unwrap().to_string();
        assert!(source.starts_with("redis: "), "{source}");
    }

    #[test]
    fn a_server_refusal_is_backend_and_quotes_nothing() {
        let e = RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "Response was of incompatible type",
            "(response was bulk-string('{\"subject\":\"alice\"}'))".to_owned(),
        ));
        let store = redis_error(&e);
        assert_eq!(store.kind(), StoreErrorKind::Backend);
        let source = std::error::Error::source(&store).unwrap().to_string();
        assert!(!source.contains("alice"), "{source}");
        assert_eq!(source, "redis: type error");
    }

    #[test]
    fn timeouts_are_unavailable_and_odd_replies_backend() {
        assert_eq!(timed_out().kind(), StoreErrorKind::Unavailable);
        assert_eq!(task_failed().kind(), StoreErrorKind::Unavailable);
        assert_eq!(feed_closed().kind(), StoreErrorKind::Unavailable);
        let odd = unexpected("HGET");
        assert_eq!(odd.kind(), StoreErrorKind::Backend);
        assert_eq!(
            std::error::Error::source(&odd).unwrap().to_string(),
            "redis: unexpected reply to HGET"
        );
    }
}
