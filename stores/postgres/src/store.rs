//! [`PostgresStore`]: the pool, the runtime its statements run on, and the
//! five operations.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, Object, Pool};
use tokenlife::{Session, SessionId, SessionStore, SqlRow as Row, StoreError, UnixMillis};
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::NoTls;

use crate::errors::{Misuse, corrupt, pg_error, pool_error};
use crate::schema;

/// How long an operation may take — waiting for a pooled connection,
/// opening one, and running its statement — before it fails with
/// [`StoreErrorKind::Unavailable`](tokenlife::StoreErrorKind::Unavailable).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many connections the pool opens at most.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// How a [`PostgresStore`] connects: pool size, timeout, migration.
///
/// ```
/// use std::time::Duration;
/// use tokenlife_postgres::Options;
///
/// let options = Options::default()
///     .with_max_connections(32)
///     .with_timeout(Duration::from_secs(2));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    max_connections: usize,
    timeout: Duration,
    migrate: bool,
}

impl Default for Options {
    /// [`DEFAULT_MAX_CONNECTIONS`], [`DEFAULT_TIMEOUT`], and the migration
    /// run at connect.
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timeout: DEFAULT_TIMEOUT,
            migrate: true,
        }
    }
}

impl Options {
    /// At most `n` connections (at least one).
    #[must_use]
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Each operation (checkout, connect, statement) fails as unavailable
    /// after `timeout`; it is also the connect timeout unless the URL sets
    /// `connect_timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Does not run [`MIGRATION`](crate::MIGRATION) at connect: the table
    /// is created by the application's own migration tool.
    #[must_use]
    pub fn without_migration(mut self) -> Self {
        self.migrate = false;
        self
    }
}

/// A [`SessionStore`] on a PostgreSQL database, shared by every instance of
/// a service.
///
/// One table, [`TABLE`](crate::TABLE), holds one row per session: `id`
/// (primary key), `subject` and `expires_at` (indexed), `version`, and the
/// whole [`Session`] as JSON text in `record`. A record holds no refresh
/// secret, only SHA-256 hashes of them, so nothing in the database can be
/// replayed as a token. Compare-and-swap is one `UPDATE … WHERE id = $1 AND
/// version = $2` that must change one row, so single-use rotation holds
/// across any number of instances.
///
/// # Runtime
///
/// `tokio-postgres` needs a tokio runtime for its sockets, so every
/// operation is **spawned as a task on a tokio runtime** and its future
/// awaits that task's `JoinHandle`, which any executor can poll:
///
/// - [`connect`](Self::connect), awaited on a tokio runtime (a server's),
///   uses that runtime;
/// - [`connect_blocking`](Self::connect_blocking), called outside one
///   (synchronous code, `pollster`, tests), starts a small runtime that the
///   store owns (two worker threads named `tokenlife-postgres`) and shuts
///   down when it is dropped.
///
/// Either way the futures are `Send` and work on tokio's multi-thread
/// runtime, on other executors, and under `pollster::block_on`. A statement,
/// once started, runs to its end even if the caller stops waiting, so a
/// connection never returns to the pool mid-statement.
///
/// # Errors
///
/// A server that cannot be reached, is shutting down or starting up, has
/// no connection slot free, or does not answer within the timeout gives
/// [`StoreErrorKind::Unavailable`](tokenlife::StoreErrorKind::Unavailable)
/// (the [`Authority`](tokenlife::Authority) passes it on as
/// `Error::Store`; nothing is issued that the store did not record); a
/// record that does not decode is `Corrupt`; anything else is `Backend`.
/// The driver's error is the `source()`. Nothing panics.
pub struct PostgresStore {
    pool: Pool,
    /// For the revocation feed's own connection.
    pub(crate) config: tokio_postgres::Config,
    runtime: Handle,
    /// The runtime behind `runtime` when the store started it.
    owned: Option<Runtime>,
    timeout: Duration,
}

impl PostgresStore {
    /// Connects to `url` on the current tokio runtime, with [`Options::default`].
    ///
    /// `url` is a libpq connection string or URL
    /// (`postgres://user:password@host:port/database?options=…`).
    ///
    /// # Errors
    /// [`StoreErrorKind::Unavailable`](tokenlife::StoreErrorKind::Unavailable)
    /// when the server cannot be reached; `Backend` when `url` does not
    /// parse, the credentials or database are wrong, the migration fails,
    /// or this is not awaited on a tokio runtime.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Options::default()).await
    }

    /// Connects to `url` on the current tokio runtime.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: Options) -> Result<Self, StoreError> {
        let runtime = Handle::try_current().map_err(|_| StoreError::backend(Misuse::NoRuntime))?;
        let store = Self::new(url, &options, runtime, None)?;
        store.prepare(options.migrate).await?;
        Ok(store)
    }

    /// Connects to `url` from synchronous code, on a runtime of the store's
    /// own, with [`Options::default`]. Blocks until connected (and migrated).
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tokenlife-postgres")
            .enable_all()
            .build()
            .map_err(StoreError::unavailable)?;
        let handle = runtime.handle().clone();
        let store = Self::new(url, &options, handle.clone(), Some(runtime))?;
        handle.block_on(store.prepare(options.migrate))?;
        Ok(store)
    }

    /// Runs [`MIGRATION`](crate::MIGRATION) (idempotent; serialised between
    /// instances by an advisory lock). [`connect`](Self::connect) already
    /// does, unless told [`Options::without_migration`].
    ///
    /// # Errors
    /// `Unavailable` when the server cannot be reached, `Backend` when the
    /// DDL fails (no `CREATE` privilege, say).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let sql = schema::locked_migration();
        self.run(move |client| async move { client.batch_execute(&sql).await.map_err(pg_error) })
            .await
    }

    fn new(
        url: &str,
        options: &Options,
        runtime: Handle,
        owned: Option<Runtime>,
    ) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(StoreError::backend)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("tokenlife");
        }
        let timeout = Some(options.timeout);
        let pool = Pool::builder(Manager::new(config.clone(), NoTls))
            .max_size(options.max_connections)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout)
            .build()
            .map_err(StoreError::backend)?;
        Ok(Self {
            pool,
            config,
            runtime,
            owned,
            timeout: options.timeout,
        })
    }

    /// Migrates, or else opens one connection, so that a wrong URL fails
    /// at connect rather than at the first request.
    async fn prepare(&self, migrate: bool) -> Result<(), StoreError> {
        if migrate {
            self.migrate().await
        } else {
            self.run(|_client| async { Ok(()) }).await
        }
    }

    /// The runtime its tasks run on.
    pub(crate) fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// The pool (the feed stops when it is closed).
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The operation timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `job` with a pooled connection, as a task on the store's
    /// runtime, within the timeout.
    async fn run<T, F, Job>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Job + Send + 'static,
        Job: Future<Output = Result<T, StoreError>> + Send,
    {
        let (pool, timeout) = (self.pool.clone(), self.timeout);
        let task = self.runtime.spawn(async move {
            let work = async move {
                let client = pool.get().await.map_err(pool_error)?;
                job(client).await
            };
            tokio::time::timeout(timeout, work)
                .await
                .map_err(StoreError::unavailable)?
        });
        // A task that cannot finish (its runtime shut down) is unavailable.
        task.await.map_err(StoreError::unavailable)?
    }
}

impl SessionStore for PostgresStore {
    /// `INSERT … ON CONFLICT (id) DO NOTHING`; no row inserted is a conflict.
    fn insert(&self, session: Session) -> impl Future<Output = Result<(), StoreError>> + Send {
        let row = Row::of(&session);
        let revoked = revoked_at(&session);
        async move {
            let row = row?;
            self.run(move |client| async move {
                let statement = client.prepare_cached(schema::INSERT).await;
                let inserted = client
                    .execute(
                        &statement.map_err(pg_error)?,
                        &[
                            &row.id,
                            &row.subject.as_bytes(),
                            &row.version,
                            &row.expires_at,
                            &row.record,
                            &revoked,
                        ],
                    )
                    .await
                    .map_err(pg_error)?;
                one_row(inserted)
            })
            .await
        }
    }

    /// `SELECT record … WHERE id = $1`.
    fn get(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send {
        let (wanted, id) = (*id, id.to_string());
        self.run(move |client| async move {
            let statement = client.prepare_cached(schema::GET).await.map_err(pg_error)?;
            let row = client
                .query_opt(&statement, &[&id])
                .await
                .map_err(pg_error)?;
            row.map(|row| decode(&row, |s| s.id == wanted)).transpose()
        })
    }

    /// `UPDATE … WHERE id = $1 AND version = $2 AND subject = $6`; anything
    /// but exactly one changed row is a conflict. A swap that revokes the
    /// session also `NOTIFY`s the revocation feed, in the same statement.
    fn compare_and_swap(
        &self,
        expected_version: u64,
        next: Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let row = Row::of(&next);
        let expected = Row::version_column(expected_version);
        let revoked = revoked_at(&next);
        let notice = crate::feed::payload(&next);
        async move {
            let row = row?;
            self.run(move |client| async move {
                let sql = match notice {
                    Some(_) => schema::COMPARE_AND_SWAP_REVOKING,
                    None => schema::COMPARE_AND_SWAP,
                };
                let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
                let subject = row.subject.as_bytes();
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
                    &row.id,
                    &expected,
                    &row.version,
                    &row.expires_at,
                    &row.record,
                    &subject,
                    &revoked,
                ];
                let changed = match &notice {
                    Some(payload) => {
                        params.push(payload);
                        let counts = client
                            .query_one(&statement, &params)
                            .await
                            .map_err(pg_error)?;
                        let changed: i64 = counts.try_get(0).map_err(corrupt)?;
                        u64::try_from(changed).unwrap_or(0)
                    }
                    None => client
                        .execute(&statement, &params)
                        .await
                        .map_err(pg_error)?,
                };
                one_row(changed)
            })
            .await
        }
    }

    /// `SELECT record … WHERE subject = $1` (by the subject index).
    fn list_by_subject(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        let subject = subject.to_owned();
        self.run(move |client| async move {
            let statement = client.prepare_cached(schema::LIST_BY_SUBJECT).await;
            let rows = client
                .query(&statement.map_err(pg_error)?, &[&subject.as_bytes()])
                .await
                .map_err(pg_error)?;
            rows.iter()
                .map(|row| decode(row, |s| s.subject == subject))
                .collect()
        })
    }

    /// `DELETE … WHERE expires_at <= $1` (by the expiry index).
    fn purge_expired(
        &self,
        now: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let now = Row::instant_column(now);
        self.run(move |client| async move {
            let statement = client.prepare_cached(schema::PURGE_EXPIRED).await;
            client
                .execute(&statement.map_err(pg_error)?, &[&now])
                .await
                .map_err(pg_error)
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.pool.close();
        // In the background, because the store may be dropped on an async
        // thread, where blocking on a runtime's shutdown would panic.
        if let Some(runtime) = self.owned.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for PostgresStore {
    /// The pool's state; never the URL, which may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("connections", &status.size)
            .field("idle", &status.available)
            .field("max_connections", &status.max_size)
            .field("timeout", &self.timeout)
            .field("own_runtime", &self.owned.is_some())
            .finish()
    }
}

/// The `record` of `row`, which must belong where it was found.
fn decode(
    row: &tokio_postgres::Row,
    belongs: impl FnOnce(&Session) -> bool,
) -> Result<Session, StoreError> {
    let json: &str = row.try_get(0).map_err(corrupt)?;
    Row::decode(json, belongs)
}

/// The `revoked_at` column of `session`.
fn revoked_at(session: &Session) -> Option<i64> {
    session.revoked.map(|r| Row::instant_column(r.at))
}

fn one_row(changed: u64) -> Result<(), StoreError> {
    match changed {
        1 => Ok(()),
        _ => Err(StoreError::conflict()),
    }
}
