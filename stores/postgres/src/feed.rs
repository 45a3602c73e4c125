//! The revocation feed: `LISTEN`/`NOTIFY` on a connection of its own, a
//! heartbeat that proves the watermark, and a resync on every (re)connect.
//!
//! The revoking compare-and-swap notifies in its own statement
//! ([`COMPARE_AND_SWAP_REVOKING`](crate::schema)), so a notification is
//! sent exactly when a revocation commits. The listener:
//!
//! 1. connects (its own connection, not a pooled one: `LISTEN` is per
//!    session) and sends `LISTEN`;
//! 2. reads every revocation since the set's watermark (less a margin for
//!    slow writes and clock skew; from `now − retention` on the first
//!    sync) by the partial index on `revoked_at`, and only then marks the
//!    set synced up to the instant before it sent that query;
//! 3. inserts each notification as it arrives;
//! 4. every [`HEARTBEAT`] runs a query on the listening connection. The
//!    server sends a listener its pending notifications before it answers,
//!    and the connection task forwards them in order, so once the answer is
//!    in and the queue drained, every revocation committed before the
//!    *previous* heartbeat was sent has been delivered (one heartbeat of
//!    margin, not relying on the exact ordering): the watermark moves there;
//! 5. on any error or a closed connection, marks the set down at once and
//!    reconnects with back-off, going back to 1.
//!
//! `verify_fresh` trusts the set only while its watermark is recent, so a
//! dead listener, a hung heartbeat or a slow server all end in store reads.

use std::future::poll_fn;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokenlife::revocation::{RevocationNotice, Watermark};
use tokenlife::store::RevocationFeed;
use tokenlife::{
    Clock, RevokeReason, Session, SessionId, SharedRevocations, SqlRow, StoreError, SystemClock,
    UnixMillis,
};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{AsyncMessage, NoTls, Notification};

use crate::errors::{corrupt, pg_error};
use crate::schema;
use crate::store::PostgresStore;

/// How often the listener proves its connection (and moves the watermark).
pub const HEARTBEAT: Duration = Duration::from_millis(200);

/// How far before the watermark a resync reads: writes that took long to
/// commit, and revoking instances whose clocks run behind.
pub const RESYNC_MARGIN: Duration = Duration::from_secs(30);

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The `NOTIFY` payload of a revoked session: `<id> <at ms> <reason>`.
pub(crate) fn payload(session: &Session) -> Option<String> {
    let r = session.revoked?;
    let reason = serde_json::to_value(r.reason).ok()?;
    Some(format!(
        "{} {} {}",
        session.id,
        r.at.as_millis(),
        reason.as_str()?
    ))
}

/// The notice a payload names, if it is one.
fn parse(payload: &str) -> Option<RevocationNotice> {
    let mut parts = payload.split(' ');
    let session: SessionId = parts.next()?.parse().ok()?;
    let at = UnixMillis(parts.next()?.parse().ok()?);
    let reason: RevokeReason =
        serde_json::from_value(serde_json::Value::String(parts.next()?.into())).ok()?;
    Some(RevocationNotice {
        session,
        at,
        reason,
    })
}

/// `LISTEN`/`NOTIFY` on a connection of the feed's own, with a heartbeat
/// every [`HEARTBEAT`] and a resync on every reconnect from the set's
/// watermark (less [`RESYNC_MARGIN`]). The listener runs as a task on the store's
/// runtime until the set or the store is dropped. `now` is not used: the
/// listener stamps its watermark with the system clock, which the
/// verifying `Authority` should read too.
impl RevocationFeed for PostgresStore {
    async fn subscribe(
        &self,
        set: &Arc<SharedRevocations>,
        _now: UnixMillis,
    ) -> Result<(), StoreError> {
        let (ready, first) = oneshot::channel();
        let listener = Listener {
            config: self.config.clone(),
            set: Arc::downgrade(set),
            pool: self.pool().clone(),
            timeout: self.timeout(),
        };
        self.runtime().spawn(listener.run(ready));
        first.await.map_err(StoreError::unavailable)?
    }
}

struct Listener {
    config: tokio_postgres::Config,
    set: Weak<SharedRevocations>,
    pool: deadpool_postgres::Pool,
    timeout: Duration,
}

/// Why a listening session ended.
enum Ended {
    /// The set (or the store) is gone: stop.
    Unwanted,
    /// The connection failed: mark the set down and reconnect.
    Lost(StoreError),
}

impl Listener {
    async fn run(self, ready: oneshot::Sender<Result<(), StoreError>>) {
        let mut ready = Some(ready);
        let mut backoff = Duration::from_millis(20);
        loop {
            match self.session(&mut ready).await {
                Ended::Unwanted => return,
                Ended::Lost(e) => {
                    if let Some(set) = self.set.upgrade() {
                        set.mark_down();
                    }
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Err(e));
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if self.pool.is_closed() || self.set.strong_count() == 0 {
                return;
            }
        }
    }

    /// One connection: listen, resync, then deliver and beat until it fails.
    async fn session(&self, ready: &mut Option<oneshot::Sender<Result<(), StoreError>>>) -> Ended {
        let mut config = self.config.clone();
        let name = format!(
            "{}-feed",
            config.get_application_name().unwrap_or("tokenlife")
        );
        config.application_name(&name);
        let connected = tokio::time::timeout(self.timeout, config.connect(NoTls)).await;
        let (client, mut connection) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Ended::Lost(pg_error(e)),
            Err(e) => return Ended::Lost(StoreError::unavailable(e)),
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Notification>();
        let driver = tokio::spawn(async move {
            while let Some(Ok(message)) = poll_fn(|cx| connection.poll_message(cx)).await {
                if let AsyncMessage::Notification(n) = message
                    && tx.send(n).is_err()
                {
                    return;
                }
            }
        });
        let _abort = AbortOnDrop(driver);

        let sync_start = SystemClock.now();
        let synced = async {
            client
                .batch_execute(&format!("LISTEN {}", schema::CHANNEL))
                .await
                .map_err(pg_error)?;
            let since = self.resync_since(sync_start);
            let rows = client
                .query(schema::REVOKED_SINCE, &[&SqlRow::instant_column(since)])
                .await
                .map_err(pg_error)?;
            let now = SystemClock.now();
            let Some(set) = self.set.upgrade() else {
                return Ok(false);
            };
            for row in &rows {
                let record: &str = row.try_get(0).map_err(corrupt)?;
                let session = SqlRow::decode(record, |_| true)?;
                if let Some(notice) = RevocationNotice::of(&session) {
                    set.insert(notice, now);
                }
            }
            drain(&mut rx, &set);
            set.mark_synced(sync_start);
            Ok::<_, StoreError>(true)
        };
        match tokio::time::timeout(self.timeout, synced).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Ended::Unwanted,
            Ok(Err(e)) => return Ended::Lost(e),
            Err(e) => return Ended::Lost(StoreError::unavailable(e)),
        }
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }

        let mut previous_beat = sync_start;
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = rx.recv() => {
                    let Some(n) = n else {
                        return Ended::Lost(StoreError::unavailable(Closed));
                    };
                    let Some(set) = self.set.upgrade() else { return Ended::Unwanted };
                    deliver(&n, &set);
                }
                _ = beat.tick() => {
                    if self.pool.is_closed() {
                        return Ended::Unwanted;
                    }
                    let sent = SystemClock.now();
                    match tokio::time::timeout(self.timeout, client.simple_query("SELECT 1")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Ended::Lost(pg_error(e)),
                        Err(e) => return Ended::Lost(StoreError::unavailable(e)),
                    }
                    let Some(set) = self.set.upgrade() else { return Ended::Unwanted };
                    drain(&mut rx, &set);
                    set.write(|s| {
                        s.mark_synced(previous_beat);
                        s.prune(sent);
                    });
                    previous_beat = sent;
                }
            }
        }
    }

    /// Where a resync starting at `now` reads from: the watermark less the
    /// margin, but never more than one retention (less the margin) back.
    fn resync_since(&self, now: UnixMillis) -> UnixMillis {
        let Some(set) = self.set.upgrade() else {
            return now;
        };
        let (watermark, retention) = set.read(|s| (s.watermark(), s.retention()));
        let oldest = now.saturating_sub(retention + RESYNC_MARGIN);
        match watermark {
            Watermark::At(t) => t.saturating_sub(RESYNC_MARGIN).max(oldest),
            Watermark::Unknown | Watermark::Continuous => oldest,
        }
    }
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Notification>, set: &SharedRevocations) {
    while let Ok(n) = rx.try_recv() {
        deliver(&n, set);
    }
}

fn deliver(n: &Notification, set: &SharedRevocations) {
    if n.channel() == schema::CHANNEL
        && let Some(notice) = parse(n.payload())
    {
        set.insert(notice, SystemClock.now());
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The listening connection closed.
#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the revocation feed's connection closed")
    }
}

impl std::error::Error for Closed {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_names_its_revocation_and_nothing_else() {
        let notice = RevocationNotice {
            session: SessionId::from_bytes([3; 16]),
            at: UnixMillis(1_764_000_000_123),
            reason: RevokeReason::LogoutAll,
        };
        let text = format!("{} 1764000000123 logout_all", notice.session);
        assert_eq!(parse(&text), Some(notice));
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse(&format!("{} 12 nonsense", notice.session)), None);
    }
}
