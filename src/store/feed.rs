//! The [`RevocationFeed`] trait: how a store tells every instance that a
//! session was revoked, beside (not inside) [`SessionStore`](crate::SessionStore).

use alloc::sync::Arc;
use core::future::Future;

use crate::error::StoreError;
use crate::revocation::SharedRevocations;
use crate::time::UnixMillis;

/// A store that can push the revocations it commits to a
/// [`SharedRevocations`] set, so that
/// [`Authority::verify_fresh`](crate::Authority::verify_fresh) refuses a
/// session logged out on any instance without a store read per request.
///
/// A feed promises, for each set it was given:
///
/// - **resynchronisation**: on subscribing, and again on every reconnect,
///   the set receives every revocation the store holds that may still
///   matter (at least those since the set's watermark);
/// - **delivery**: every later revoking compare-and-swap reaches the set —
///   in SQL, a notification sent in the same transaction as the `UPDATE`,
///   so that a rolled-back write sends nothing and a committed one cannot
///   be missed by a connected listener;
/// - **an honest watermark**: the set's watermark is moved to an instant
///   only once every revocation committed before it has been delivered,
///   and the set is marked down as soon as the feed knows it is not
///   connected. The verifier does the rest: a set whose watermark is older
///   than [`Policy::max_revocation_lag`](crate::Policy::max_revocation_lag)
///   is not trusted (fail closed).
///
/// | store | feed |
/// |---|---|
/// | [`MemoryStore`](crate::MemoryStore) | in process, inside the write: always complete |
/// | `tokenlife-postgres` | `LISTEN`/`NOTIFY` in the revoking transaction; heartbeat; resync on reconnect |
/// | `tokenlife-redis` | `PUBLISH` in the revoking script; `PING` on the subscribed connection as heartbeat; resync from a per-bucket index on reconnect |
///
/// A feed holds the set weakly: dropping every other `Arc` to it ends the
/// subscription.
pub trait RevocationFeed: Send + Sync {
    /// Fills `set` with the stored revocations that may still matter at
    /// `now`, then keeps it filled.
    ///
    /// # Errors
    /// The store's, when it cannot be read for the initial resync (the set
    /// is then left marked down, which is safe: it is not trusted).
    fn subscribe(
        &self,
        set: &Arc<SharedRevocations>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<F: RevocationFeed + ?Sized> RevocationFeed for Arc<F> {
    fn subscribe(
        &self,
        set: &Arc<SharedRevocations>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).subscribe(set, now)
    }
}
