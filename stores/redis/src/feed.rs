//! The revocation feed: Redis pub/sub on a connection of its own, a `PING`
//! on that connection that proves the watermark, and a resync from the
//! index of recent revocations on every (re)connect.
//!
//! The revoking compare-and-swap
//! ([`COMPARE_AND_SWAP_REVOKING`](crate::scripts)) records the revocation
//! in its bucket's index (`{p:b}:r`, scored by its instant) and
//! `PUBLISH`es it, inside the script that writes it: a script runs whole
//! or not at all, and a `PUBLISH` hands the message to every subscribed
//! connection before the server runs anything else, so a message is sent
//! exactly when a revocation is written. The listener:
//!
//! 1. opens a pub/sub connection of its own and `SUBSCRIBE`s, noting the
//!    instant `t0` before it connected;
//! 2. once the server has confirmed the subscription, reads every bucket's
//!    index from the set's watermark less [`RESYNC_MARGIN`] (from
//!    `t0 − retention − margin` on the first sync) on the store's
//!    connection. A revocation written before the `SUBSCRIBE` ran is in an
//!    index; one written after it is published to this connection. So the
//!    set then holds every revocation written before `t0`, and only now is
//!    it marked synced, up to `t0`;
//! 3. inserts each message as it arrives;
//! 4. every [`HEARTBEAT`] notes the instant `t` and sends `PING` on the
//!    subscribed connection. Redis answers a connection's commands and
//!    writes its messages in one ordered stream, and the `PING` runs after
//!    every script that finished before `t`; the client's connection task
//!    forwards each message to the listener's queue before it hands over
//!    the answer that came after it. So once the answer is in and the queue
//!    drained, every revocation written before `t` has been delivered: the
//!    watermark moves to `t`;
//! 5. when the connection closes (the server went away, or killed it) or
//!    a `PING` goes unanswered for the store's timeout, marks the set down
//!    at once and reconnects with back-off, going back to 1.
//!
//! `verify_fresh` trusts the set only while its watermark is recent, so a
//! dead listener, a hung `PING` or a slow server all end in store reads.
//!
//! **Why an index, not a scan.** A scan of every session hash for revoked
//! ones reads the whole store on every reconnect of every instance, and its
//! cost grows with the sessions, not with the revocations. The index costs
//! one `ZADD` per logout (trimmed in the same script), and a resync is one
//! `ZRANGEBYSCORE` per bucket over exactly the revocations that may still
//! matter. It is bounded by age, not by the sessions: entries older than
//! [`Options::with_revocation_history`](crate::Options::with_revocation_history)
//! (by the server's clock) are dropped by the next revocation in their
//! bucket, and a bucket's index expires after one history without one.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use redis::aio::{ConnectionManager, PubSubSink, PubSubStream};
use redis::{Client, Msg, Value};
use tokenlife::revocation::{RevocationNotice, Watermark};
use tokenlife::store::RevocationFeed;
use tokenlife::{
    Clock, RevokeReason, Session, SessionId, SharedRevocations, StoreError, StoreErrorKind,
    SystemClock, UnixMillis,
};
use tokio::sync::oneshot;

use crate::errors::{Misuse, feed_closed, redis_error, task_failed, timed_out};
use crate::keys::{BUCKETS, Layout};
use crate::store::{RedisStore, members};

/// How often the listener proves its connection (and moves the watermark).
pub const HEARTBEAT: Duration = Duration::from_millis(200);

/// How far before the watermark a resync reads: revoking instances whose
/// clocks run behind the listener's (an index is scored by the revoking
/// instance's instant).
pub const RESYNC_MARGIN: Duration = Duration::from_secs(30);

/// How long a revocation stays in the index a resync reads, unless
/// [`Options::with_revocation_history`](crate::Options::with_revocation_history)
/// says otherwise: enough for access tokens of up to about half an hour.
pub const DEFAULT_REVOCATION_HISTORY: Duration = Duration::from_secs(3600);

/// The longest history (about 100 years): Redis refuses expiry times past
/// `i64` milliseconds.
pub(crate) const MAX_HISTORY: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The first wait before a reconnection attempt.
const MIN_BACKOFF: Duration = Duration::from_millis(20);

/// What the listener needs of its store.
pub(crate) struct Parts {
    pub(crate) client: Client,
    pub(crate) connection: ConnectionManager,
    pub(crate) layout: Layout,
    /// Gone once the store is dropped.
    pub(crate) store: Weak<()>,
    pub(crate) timeout: Duration,
    pub(crate) history: Duration,
}

/// The message (and index member) of a revoked session:
/// `<id> <at ms> <reason>`. No secret, no subject.
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

/// A span in whole milliseconds, as Redis takes them.
pub(crate) fn millis(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}

/// The notice a payload names, if it is one.
fn parse(payload: &[u8]) -> Option<RevocationNotice> {
    let mut parts = std::str::from_utf8(payload).ok()?.split(' ');
    let session: SessionId = parts.next()?.parse().ok()?;
    let at = UnixMillis(parts.next()?.parse().ok()?);
    let reason: RevokeReason =
        serde_json::from_value(serde_json::Value::String(parts.next()?.into())).ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(RevocationNotice {
        session,
        at,
        reason,
    })
}

/// Pub/sub on a connection of the feed's own (`SUBSCRIBE <prefix>:revocations`),
/// a `PING` on it every [`HEARTBEAT`] and a resync on every reconnect from
/// the set's watermark (less [`RESYNC_MARGIN`]), read from the index of
/// recent revocations. The listener runs as a task on the store's runtime
/// until the set or the store is dropped (the set is then marked down).
///
/// `now` is not used: the listener stamps its watermark with the system
/// clock, which the verifying `Authority` should read too.
///
/// # Errors
/// `Backend` when the set keeps entries longer than the store keeps its
/// history ([`Options::with_revocation_history`](crate::Options::with_revocation_history)
/// less [`RESYNC_MARGIN`]): a resync could miss revocations that still
/// matter. Otherwise those of connecting, subscribing and the first resync
/// (the listener keeps trying in the background; the set stays marked
/// down until it succeeds).
impl RevocationFeed for RedisStore {
    async fn subscribe(
        &self,
        set: &Arc<SharedRevocations>,
        _now: UnixMillis,
    ) -> Result<(), StoreError> {
        let parts = self.feed_parts();
        let needed = set.read(|s| s.retention()).saturating_add(RESYNC_MARGIN);
        if needed > parts.history {
            return Err(StoreError::backend(Misuse::ShortHistory {
                needed,
                kept: parts.history,
            }));
        }
        let (ready, first) = oneshot::channel();
        let listener = Listener {
            channel: parts.layout.channel(),
            parts,
            set: Arc::downgrade(set),
        };
        self.runtime().spawn(listener.run(ready));
        first.await.map_err(|_| task_failed())?
    }
}

struct Listener {
    parts: Parts,
    channel: String,
    set: Weak<SharedRevocations>,
}

type Ready = Option<oneshot::Sender<Result<(), StoreError>>>;

/// Why a listening session ended.
enum Ended {
    /// The set (or the store) is gone: stop.
    Unwanted,
    /// The connection failed: mark the set down and reconnect.
    Lost(StoreError),
}

impl Listener {
    async fn run(self, ready: oneshot::Sender<Result<(), StoreError>>) {
        // However the task ends — the set or the store dropped, or the
        // store's runtime shut down under it — nobody fills the set then.
        let _down = DownOnDrop(self.set.clone());
        let mut ready = Some(ready);
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.session(&mut ready, &mut backoff).await {
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
            if self.unwanted() {
                return;
            }
        }
    }

    fn unwanted(&self) -> bool {
        self.parts.store.strong_count() == 0 || self.set.strong_count() == 0
    }

    /// One connection: subscribe, resync, then deliver and beat until it fails.
    async fn session(&self, ready: &mut Ready, backoff: &mut Duration) -> Ended {
        let timeout = self.parts.timeout;
        let sync_start = SystemClock.now();
        let (mut sink, mut stream) = match tokio::time::timeout(timeout, self.subscribed()).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Ended::Lost(e),
            Err(_) => return Ended::Lost(timed_out()),
        };
        match tokio::time::timeout(timeout, self.resync(sync_start)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Ended::Unwanted,
            Ok(Err(e)) => return Ended::Lost(e),
            Err(_) => return Ended::Lost(timed_out()),
        }
        *backoff = MIN_BACKOFF;
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }

        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        return Ended::Lost(feed_closed());
                    };
                    let Some(set) = self.set.upgrade() else { return Ended::Unwanted };
                    self.deliver(&message, &set);
                }
                _ = beat.tick() => {
                    if self.unwanted() {
                        return Ended::Unwanted;
                    }
                    let sent = SystemClock.now();
                    match tokio::time::timeout(timeout, sink.ping::<Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Ended::Lost(redis_error(&e)),
                        Err(_) => return Ended::Lost(timed_out()),
                    }
                    let Some(set) = self.set.upgrade() else { return Ended::Unwanted };
                    if !self.drain(&mut stream, &set).await {
                        return Ended::Lost(feed_closed());
                    }
                    set.write(|s| {
                        s.mark_synced(sent);
                        s.prune(sent);
                    });
                }
            }
        }
    }

    /// A pub/sub connection of the feed's own, its subscription confirmed
    /// by the server.
    async fn subscribed(&self) -> Result<(PubSubSink, PubSubStream), StoreError> {
        let pubsub = self
            .parts
            .client
            .get_async_pubsub()
            .await
            .map_err(|e| redis_error(&e))?;
        let (mut sink, stream) = pubsub.split();
        sink.subscribe(&self.channel)
            .await
            .map_err(|e| redis_error(&e))?;
        Ok((sink, stream))
    }

    /// Reads every bucket's index since the resync's start (see
    /// [`resync_since`](Self::resync_since)) into the set, then marks it
    /// synced up to `sync_start`. `false` when the set is gone.
    async fn resync(&self, sync_start: UnixMillis) -> Result<bool, StoreError> {
        let since = self.resync_since(sync_start).as_millis();
        let mut pipe = redis::pipe();
        for b in 0..BUCKETS {
            pipe.cmd("ZRANGEBYSCORE")
                .arg(self.parts.layout.revoked(b))
                .arg(since)
                .arg("+inf");
        }
        let mut connection = self.parts.connection.clone();
        let pages: Vec<Value> = pipe
            .query_async(&mut connection)
            .await
            .map_err(|e| redis_error(&e))?;
        let now = SystemClock.now();
        let Some(set) = self.set.upgrade() else {
            return Ok(false);
        };
        for page in pages {
            for member in members(page, "ZRANGEBYSCORE")? {
                // Only the revoking script writes there: an entry that does
                // not parse may be a revocation, so the set stays untrusted.
                let notice =
                    parse(&member).ok_or_else(|| StoreError::from_kind(StoreErrorKind::Corrupt))?;
                set.insert(notice, now);
            }
        }
        set.mark_synced(sync_start);
        Ok(true)
    }

    /// Where a resync starting at `now` reads from: the watermark less the
    /// margin, but never more than one retention (and the margin) back.
    fn resync_since(&self, now: UnixMillis) -> UnixMillis {
        let Some(set) = self.set.upgrade() else {
            return now;
        };
        let (watermark, retention) = set.read(|s| (s.watermark(), s.retention()));
        let oldest = now.saturating_sub(retention.saturating_add(RESYNC_MARGIN));
        match watermark {
            Watermark::At(t) => t.saturating_sub(RESYNC_MARGIN).max(oldest),
            Watermark::Unknown | Watermark::Continuous => oldest,
        }
    }

    /// Delivers every message already queued; `false` when the connection
    /// closed. Outside tokio's cooperative budget, so that "queued" means
    /// every message the connection task has forwarded.
    async fn drain(&self, stream: &mut PubSubStream, set: &SharedRevocations) -> bool {
        tokio::task::coop::unconstrained(poll_fn(|cx| {
            loop {
                match Pin::new(&mut *stream).poll_next(cx) {
                    Poll::Ready(Some(message)) => self.deliver(&message, set),
                    Poll::Ready(None) => return Poll::Ready(false),
                    Poll::Pending => return Poll::Ready(true),
                }
            }
        }))
        .await
    }

    fn deliver(&self, message: &Msg, set: &SharedRevocations) {
        // Anything else on the channel is not the script's: ignored.
        if message.get_channel_name() == self.channel
            && let Some(notice) = parse(message.get_payload_bytes())
        {
            set.insert(notice, SystemClock.now());
        }
    }
}

/// Marks the set down when the listener ends, however it ends.
struct DownOnDrop(Weak<SharedRevocations>);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        if let Some(set) = self.0.upgrade() {
            set.mark_down();
        }
    }
}

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
        assert_eq!(parse(text.as_bytes()), Some(notice));
        for bad in [
            "garbage".to_owned(),
            format!("{} 12 nonsense", notice.session),
            format!("{} 12 logout extra", notice.session),
            format!("{} -1 logout", notice.session),
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse(&[0xff, b' ', b'1']), None);
    }

    #[test]
    fn every_reason_goes_round_a_payload() {
        for reason in [
            RevokeReason::Logout,
            RevokeReason::LogoutAll,
            RevokeReason::Reuse,
        ] {
            let session = SessionId::from_bytes([9; 16]);
            let text = format!(
                "{session} 7 {}",
                serde_json::to_value(reason).unwrap().as_str().unwrap()
            );
            assert_eq!(parse(text.as_bytes()).map(|n| n.reason), Some(reason));
        }
    }

    #[test]
    fn spans_are_whole_milliseconds_and_saturate() {
        assert_eq!(millis(Duration::from_micros(2_999)), 2);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
