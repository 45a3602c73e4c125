//! [`RedisStore`]: the connection, the runtime its commands run on, and the
//! five operations.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Value};
use tokenlife::{Session, SessionId, SessionStore, SqlRow, StoreError, StoreErrorKind, UnixMillis};
use tokio::runtime::{Handle, Runtime};

use crate::errors::{Misuse, redis_error, task_failed, timed_out, unexpected};
use crate::feed::{self, DEFAULT_REVOCATION_HISTORY};
use crate::keys::{self, BUCKETS, DEFAULT_PREFIX, Layout, SessionKeys};
use crate::scripts::{
    COMPARE_AND_SWAP_REVOKING_SCRIPT, COMPARE_AND_SWAP_SCRIPT, INSERT_SCRIPT, PURGE_ONE,
    PURGE_ONE_SCRIPT,
};

/// How long an operation may take — (re)connecting and running its
/// commands — before it fails with
/// [`StoreErrorKind::Unavailable`](tokenlife::StoreErrorKind::Unavailable).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many expired sessions a purge asks each bucket for per round.
const PURGE_PAGE: usize = 500;

/// How a [`RedisStore`] connects: key prefix, timeout, and how long it
/// keeps its history of revocations for the revocation feed.
///
/// ```
/// use std::time::Duration;
/// use tokenlife_redis::Options;
///
/// let options = Options::default()
///     .with_prefix("myapp:sessions")?
///     .with_timeout(Duration::from_secs(2));
/// # let _ = options;
/// # Ok::<(), tokenlife_redis::BadPrefix>(())
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    layout: Layout,
    timeout: Duration,
    history: Duration,
}

impl Default for Options {
    /// Prefix [`DEFAULT_PREFIX`], [`DEFAULT_TIMEOUT`],
    /// [`DEFAULT_REVOCATION_HISTORY`].
    fn default() -> Self {
        Self {
            layout: Layout::new(DEFAULT_PREFIX).unwrap_or_else(|_| unreachable!()),
            timeout: DEFAULT_TIMEOUT,
            history: DEFAULT_REVOCATION_HISTORY,
        }
    }
}

impl Options {
    /// Keys start with `{prefix:` (see the crate's key layout): several
    /// applications, or tests, can share one Redis under different prefixes.
    ///
    /// # Errors
    /// [`BadPrefix`](crate::BadPrefix) unless `prefix` is 1 to
    /// [`MAX_PREFIX_LEN`](crate::MAX_PREFIX_LEN) characters of `A-Z a-z 0-9 - _ . :`
    /// (no brace: it sits inside the hash tag).
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, keys::BadPrefix> {
        self.layout = Layout::new(prefix)?;
        Ok(self)
    }

    /// Each operation fails as unavailable after `timeout`; it is also the
    /// connect and response timeout of the connection.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Each revocation stays in its bucket's index of recent revocations
    /// (which the [revocation feed](tokenlife::store::RevocationFeed)
    /// resynchronises from) for `history`, by the server's clock. It must
    /// cover the retention of every subscribed set (`access_ttl + leeway`)
    /// plus [`RESYNC_MARGIN`](crate::RESYNC_MARGIN), or
    /// [`subscribe`](tokenlife::store::RevocationFeed::subscribe) refuses;
    /// every instance writing to one Redis should use the same value.
    /// Capped at about 100 years.
    #[must_use]
    pub fn with_revocation_history(mut self, history: Duration) -> Self {
        self.history = history.min(feed::MAX_HISTORY);
        self
    }
}

/// A [`SessionStore`] on Redis (or Valkey), shared by every instance of a
/// service.
///
/// Each session is a hash holding its version, subject, exact expiry and
/// the whole [`Session`] as JSON; a set per subject and a sorted set by
/// expiry index it (see the crate's key layout). A record holds no refresh
/// secret, only SHA-256 hashes of them. `insert` and `compare_and_swap`
/// are Lua scripts: the version check, the write and the index updates
/// happen in one atomic step on the server, so single-use rotation holds
/// across any number of instances.
///
/// # Runtime
///
/// The client needs a tokio runtime for its socket and timers:
///
/// - [`connect`](Self::connect), awaited on a tokio runtime (a server's),
///   uses that runtime;
/// - [`connect_blocking`](Self::connect_blocking), called outside one,
///   starts a small runtime that the store owns (two worker threads named
///   `tokenlife-redis`) and shuts down when it is dropped.
///
/// An operation polled on a tokio runtime runs in place; polled by any
/// other executor (`pollster`, a test's thread) it is spawned as a task on
/// the store's runtime and its future awaits the task's `JoinHandle`.
///
/// One multiplexed connection carries every operation (commands of
/// concurrent callers are pipelined on it); when it breaks it is
/// re-established on the next operation.
///
/// It is also a [`RevocationFeed`](tokenlife::store::RevocationFeed): a
/// revoking compare-and-swap publishes the revocation in the same script,
/// and a subscribed set is kept filled over a pub/sub connection of its
/// own (see the crate's "Revocation feed").
///
/// # Errors
///
/// A server that cannot be reached, drops the connection, is loading or
/// read-only, or does not answer within the timeout gives
/// [`StoreErrorKind::Unavailable`](tokenlife::StoreErrorKind::Unavailable);
/// a record that does not decode is `Corrupt`; anything else (a script
/// error, a key of the wrong type) is `Backend`. No error's text includes
/// a key's name or contents. Nothing panics.
pub struct RedisStore {
    connection: ConnectionManager,
    /// For the revocation feed's connections of its own (it holds the URL,
    /// so it is never printed).
    client: Client,
    layout: Layout,
    runtime: Handle,
    /// The runtime behind `runtime` when the store started it.
    owned: Option<Runtime>,
    timeout: Duration,
    history: Duration,
    /// Held only by the store: a feed's listener stops once it is gone.
    alive: Arc<()>,
}

impl RedisStore {
    /// Connects to `url` on the current tokio runtime, with [`Options::default`].
    ///
    /// `url` is `redis://[[user]:password@]host[:port][/db]` or
    /// `redis+unix:///path/to/socket[?db=n]`.
    ///
    /// # Errors
    /// [`StoreErrorKind::Unavailable`](tokenlife::StoreErrorKind::Unavailable)
    /// when the server cannot be reached; `Backend` when `url` does not
    /// parse, the credentials are wrong, or this is not awaited on a tokio
    /// runtime.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Options::default()).await
    }

    /// Connects to `url` on the current tokio runtime.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: Options) -> Result<Self, StoreError> {
        let runtime = Handle::try_current().map_err(|_| StoreError::backend(Misuse::NoRuntime))?;
        let client = Client::open(url).map_err(|e| redis_error(&e))?;
        let connection = open(client.clone(), options.timeout).await?;
        Ok(Self {
            connection,
            client,
            layout: options.layout,
            runtime,
            owned: None,
            timeout: options.timeout,
            history: options.history,
            alive: Arc::new(()),
        })
    }

    /// Connects to `url` from synchronous code, on a runtime of the store's
    /// own, with [`Options::default`]. Blocks until connected.
    ///
    /// # Errors
    /// As [`connect`](Self::connect); `Backend` when called on a tokio
    /// runtime's thread (await [`connect`](Self::connect) there instead).
    pub fn connect_blocking(url: &str) -> Result<Self, StoreError> {
        Self::connect_blocking_with(url, Options::default())
    }

    /// Connects to `url` from synchronous code, on a runtime of the store's own.
    ///
    /// # Errors
    /// As [`connect_blocking`](Self::connect_blocking).
    pub fn connect_blocking_with(url: &str, options: Options) -> Result<Self, StoreError> {
        if Handle::try_current().is_ok() {
            return Err(StoreError::backend(Misuse::InsideRuntime));
        }
        let client = Client::open(url).map_err(|e| redis_error(&e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tokenlife-redis")
            .enable_all()
            .build()
            .map_err(StoreError::unavailable)?;
        let handle = runtime.handle().clone();
        let connection = handle.block_on(open(client.clone(), options.timeout))?;
        Ok(Self {
            connection,
            client,
            layout: options.layout,
            runtime: handle,
            owned: Some(runtime),
            timeout: options.timeout,
            history: options.history,
            alive: Arc::new(()),
        })
    }

    /// The key prefix this store uses.
    #[must_use]
    pub fn prefix(&self) -> &str {
        self.layout.prefix()
    }

    /// A `SCAN MATCH` pattern that matches every key of this store and no
    /// other store's: `{prefix:?}:*`.
    #[must_use]
    pub fn key_pattern(&self) -> String {
        self.layout.pattern()
    }

    /// What the revocation feed's listener needs of the store.
    pub(crate) fn feed_parts(&self) -> feed::Parts {
        feed::Parts {
            client: self.client.clone(),
            connection: self.connection.clone(),
            layout: self.layout.clone(),
            store: Arc::downgrade(&self.alive),
            timeout: self.timeout,
            history: self.history,
        }
    }

    /// The runtime the store's tasks run on.
    pub(crate) fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// Runs `job` with the connection within the timeout: in place when
    /// polled on a tokio runtime (a server's), else as a task on the
    /// store's runtime.
    ///
    /// In place is safe to cancel: a command once sent runs on the server
    /// whether or not its answer is awaited, and a script runs whole or
    /// not at all.
    async fn run<T, F, Job>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(ConnectionManager, Layout) -> Job + Send + 'static,
        Job: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (connection, layout, timeout) =
            (self.connection.clone(), self.layout.clone(), self.timeout);
        let work = async move {
            tokio::time::timeout(timeout, job(connection, layout))
                .await
                .map_err(|_| timed_out())?
        };
        if Handle::try_current().is_ok() {
            // No task, no hop to another thread and back: on a loaded
            // machine that is a good part of a call's cost.
            return work.await;
        }
        let task = self.runtime.spawn(work);
        task.await.map_err(|_| task_failed())?
    }
}

/// The connection manager, connected: it reconnects by itself after the
/// server went away (once per failed operation, within the timeout).
async fn open(client: Client, timeout: Duration) -> Result<ConnectionManager, StoreError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(100));
    let connecting = ConnectionManager::new_with_config(client, config);
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| redis_error(&e))
}

/// What a script writes for one session.
struct Write {
    keys: SessionKeys,
    row: SqlRow,
    version: u64,
    expires: String,
    ttl: u64,
    /// When the session is revoked: its instant (ms) and its notice.
    revoked: Option<(u64, String)>,
}

impl Write {
    fn of(layout: &Layout, session: &Session) -> Result<Self, StoreError> {
        Ok(Self {
            keys: layout.keys_of(session),
            row: SqlRow::of(session)?,
            version: session.version,
            expires: keys::instant(session.expires_at()),
            ttl: keys::safety_ttl(session),
            revoked: session
                .revoked
                .and_then(|r| Some((r.at.as_millis(), feed::payload(session)?))),
        })
    }
}

impl SessionStore for RedisStore {
    /// The insert script: nothing written when the id is taken.
    fn insert(&self, session: Session) -> impl Future<Output = Result<(), StoreError>> + Send {
        let write = Write::of(&self.layout, &session);
        async move {
            let w = write?;
            self.run(move |mut connection, _| async move {
                let reply: Value = INSERT_SCRIPT
                    .key(&w.keys.session)
                    .key(&w.keys.subject)
                    .key(&w.keys.expiry)
                    .arg(&w.row.id)
                    .arg(w.version)
                    .arg(&w.row.subject)
                    .arg(&w.expires)
                    .arg(&w.row.record)
                    .arg(w.ttl)
                    .arg(&w.keys.member)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| redis_error(&e))?;
                won(&reply, "the insert script")
            })
            .await
        }
    }

    /// `HGET <session> r`.
    fn get(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send {
        let wanted = *id;
        self.run(move |mut connection, layout| async move {
            let reply: Value = redis::cmd("HGET")
                .arg(layout.session(&wanted))
                .arg("r")
                .query_async(&mut connection)
                .await
                .map_err(|e| redis_error(&e))?;
            match bulk(reply, "HGET")? {
                None => Ok(None),
                Some(record) => decode(&record, |s| s.id == wanted).map(Some),
            }
        })
    }

    /// The compare-and-swap script: nothing written unless the stored
    /// version is `expected_version` and the subject is `next`'s. When
    /// `next` is revoked, the revoking variant, which also records the
    /// revocation for the feed's resync and publishes it, in the same
    /// atomic step and only if the swap wins.
    fn compare_and_swap(
        &self,
        expected_version: u64,
        next: Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let write = Write::of(&self.layout, &next);
        let (channel, history) = (self.layout.channel(), feed::millis(self.history));
        async move {
            let w = write?;
            self.run(move |mut connection, _| async move {
                let script = match w.revoked {
                    Some(_) => &*COMPARE_AND_SWAP_REVOKING_SCRIPT,
                    None => &*COMPARE_AND_SWAP_SCRIPT,
                };
                let mut invocation = script.prepare_invoke();
                invocation
                    .key(&w.keys.session)
                    .key(&w.keys.subject)
                    .key(&w.keys.expiry)
                    .arg(expected_version)
                    .arg(w.version)
                    .arg(&w.row.subject)
                    .arg(&w.expires)
                    .arg(&w.row.record)
                    .arg(w.ttl)
                    .arg(&w.keys.member);
                if let Some((at, notice)) = &w.revoked {
                    invocation
                        .key(&w.keys.revoked)
                        .arg(*at)
                        .arg(notice)
                        .arg(&channel)
                        .arg(history);
                }
                let reply: Value = invocation
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| redis_error(&e))?;
                won(&reply, "the compare-and-swap script")
            })
            .await
        }
    }

    /// `SMEMBERS` of the subject's set in every bucket, then `HGET r` of
    /// each id found: two pipelined round trips. Ordered by id.
    fn list_by_subject(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        let subject = subject.to_owned();
        self.run(move |mut connection, layout| async move {
            let mut pipe = redis::pipe();
            for b in 0..BUCKETS {
                pipe.cmd("SMEMBERS").arg(layout.subject(b, &subject));
            }
            let sets: Vec<Value> = pipe
                .query_async(&mut connection)
                .await
                .map_err(|e| redis_error(&e))?;
            let mut ids = Vec::new();
            for set in sets {
                for member in members(set, "SMEMBERS")? {
                    let id = std::str::from_utf8(&member)
                        .ok()
                        .and_then(|m| m.parse::<SessionId>().ok())
                        .ok_or_else(|| StoreError::from_kind(StoreErrorKind::Corrupt))?;
                    ids.push(id);
                }
            }
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            ids.sort_by_key(ToString::to_string);
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HGET").arg(layout.session(id)).arg("r");
            }
            let records: Vec<Value> = pipe
                .query_async(&mut connection)
                .await
                .map_err(|e| redis_error(&e))?;
            let mut sessions = Vec::with_capacity(ids.len());
            for (id, record) in ids.iter().zip(records) {
                // Gone between the two rounds (purged): not listed.
                if let Some(record) = bulk(record, "HGET")? {
                    sessions.push(decode(&record, |s| s.id == *id && s.subject == subject)?);
                }
            }
            Ok(sessions)
        })
    }

    /// `ZRANGEBYSCORE <expiry> -inf <now>` in every bucket, then the purge
    /// script for each candidate, which re-checks its exact expiry; in
    /// rounds of at most 500 candidates per bucket.
    fn purge_expired(
        &self,
        now: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.run(move |mut connection, layout| async move {
            let mut purged = 0;
            loop {
                let (deleted, more) = purge_round(&mut connection, &layout, now).await?;
                purged += deleted;
                if !more {
                    return Ok(purged);
                }
            }
        })
    }
}

/// One round of a purge: how many sessions it deleted, and whether another
/// round may find more.
async fn purge_round(
    connection: &mut ConnectionManager,
    layout: &Layout,
    now: UnixMillis,
) -> Result<(u64, bool), StoreError> {
    let mut pipe = redis::pipe();
    for b in 0..BUCKETS {
        pipe.cmd("ZRANGEBYSCORE")
            .arg(layout.expiry(b))
            .arg("-inf")
            .arg(now.as_millis())
            .arg("LIMIT")
            .arg(0)
            .arg(PURGE_PAGE);
    }
    let pages: Vec<Value> = pipe
        .query_async(connection)
        .await
        .map_err(|e| redis_error(&e))?;
    let mut full_page = false;
    let mut pipe = redis::pipe();
    // Loaded first, on the same connection, so that the EVALSHAs after it
    // find the script even on a server that just restarted.
    pipe.cmd("SCRIPT").arg("LOAD").arg(PURGE_ONE).ignore();
    let now = keys::instant(now);
    let mut candidates = 0;
    for (b, page) in (0..BUCKETS).zip(pages) {
        let page = members(page, "ZRANGEBYSCORE")?;
        full_page |= page.len() >= PURGE_PAGE;
        for member in page {
            let (id, digest) = keys::parse_member(&member)
                .ok_or_else(|| StoreError::from_kind(StoreErrorKind::Corrupt))?;
            pipe.cmd("EVALSHA")
                .arg(PURGE_ONE_SCRIPT.get_hash())
                .arg(3)
                .arg(layout.session(&id))
                .arg(layout.subject_by_digest(b, digest))
                .arg(layout.expiry(b))
                .arg(id.to_string())
                .arg(&member)
                .arg(&now);
            candidates += 1;
        }
    }
    if candidates == 0 {
        return Ok((0, false));
    }
    let outcomes: Vec<Value> = pipe
        .query_async(connection)
        .await
        .map_err(|e| redis_error(&e))?;
    let (mut deleted, mut changed) = (0, false);
    for outcome in outcomes {
        match outcome {
            Value::Int(1) => {
                deleted += 1;
                changed = true;
            }
            Value::Int(2) => changed = true,
            Value::Int(0) => {}
            _ => return Err(unexpected("the purge script")),
        }
    }
    // A round that changed nothing would find the same candidates again.
    Ok((deleted, full_page && changed))
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // In the background, because the store may be dropped on an async
        // thread, where blocking on a runtime's shutdown would panic.
        if let Some(runtime) = self.owned.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for RedisStore {
    /// The prefix, timeout and revocation history; never the URL, which
    /// may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.layout.prefix())
            .field("timeout", &self.timeout)
            .field("revocation_history", &self.history)
            .field("own_runtime", &self.owned.is_some())
            .finish_non_exhaustive()
    }
}

/// A script's 1 (it wrote) or 0 (it refused: a conflict).
fn won(reply: &Value, what: &'static str) -> Result<(), StoreError> {
    match reply {
        Value::Int(1) => Ok(()),
        Value::Int(0) => Err(StoreError::conflict()),
        _ => Err(unexpected(what)),
    }
}

/// A bulk string or nil.
fn bulk(reply: Value, what: &'static str) -> Result<Option<Vec<u8>>, StoreError> {
    match reply {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(bytes)),
        _ => Err(unexpected(what)),
    }
}

/// The members of an array or set reply.
pub(crate) fn members(reply: Value, what: &'static str) -> Result<Vec<Vec<u8>>, StoreError> {
    match reply {
        Value::Array(items) | Value::Set(items) => items
            .into_iter()
            .map(|item| match item {
                Value::BulkString(bytes) => Ok(bytes),
                _ => Err(unexpected(what)),
            })
            .collect(),
        _ => Err(unexpected(what)),
    }
}

/// A record read back, which must belong where it was found.
fn decode(record: &[u8], belongs: impl FnOnce(&Session) -> bool) -> Result<Session, StoreError> {
    let json =
        std::str::from_utf8(record).map_err(|e| StoreError::new(StoreErrorKind::Corrupt, e))?;
    SqlRow::decode(json, belongs)
}
