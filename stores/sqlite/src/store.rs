//! [`SqliteStore`]: the connection thread and the five statements.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use tokenlife::{Session, SessionId, SessionStore, SqlRow as Row, StoreError, UnixMillis};

use crate::oneshot;

/// How long a statement waits for another connection's lock (another
/// process on the same file) before it fails with
/// [`StoreErrorKind::Unavailable`](tokenlife::StoreErrorKind::Unavailable).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The table the store keeps its sessions in; it may share a database file
/// with the application's own tables.
pub const TABLE: &str = "tokenlife_sessions";

/// A [`SessionStore`] on a SQLite database file.
///
/// One table, [`TABLE`], holds one row per session: the indexed columns
/// `id` (the session id as its 22-character text, primary key), `subject`,
/// `version` and `expires_at` (Unix milliseconds), and `record`, the whole
/// [`Session`] as JSON. A record holds no refresh secret, only SHA-256
/// hashes of them, so nothing in the file can be replayed as a token.
///
/// # Threading
///
/// SQLite calls block, so none of them runs on the caller's executor: the
/// store owns one **dedicated connection thread**, which owns the
/// `rusqlite::Connection`, takes jobs from a channel and answers each over a
/// one-shot channel whose future any executor can await (tokio, smol,
/// `pollster`; no runtime is required). Statements therefore run one at a
/// time, which is also how SQLite runs writers; each is a primary-key or
/// index lookup of microseconds. Dropping the store lets queued jobs finish,
/// then closes the connection and joins the thread.
///
/// The database is opened in WAL mode with `synchronous = FULL` (a
/// committed rotation or revocation survives a power cut) and a
/// [`BUSY_TIMEOUT`], so several processes may share the file.
///
/// ```
/// use tokenlife::{Authority, Keyring, Policy};
/// use tokenlife_sqlite::SqliteStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("sessions.sqlite");
/// let store = SqliteStore::open(&path)?;
/// let auth = Authority::new(Keyring::new("k1", &[7; 32])?, Policy::default(), store);
/// let pair = pollster::block_on(auth.login("alice", &()))?;
/// pollster::block_on(auth.refresh(&pair.refresh_token))?;
/// # Ok(()) }
/// ```
pub struct SqliteStore {
    jobs: Option<mpsc::Sender<Job>>,
    worker: Option<JoinHandle<()>>,
    path: Option<PathBuf>,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its table.
    ///
    /// Opening blocks the calling thread for as long as SQLite takes to
    /// open the file and create the schema: call it at start-up.
    ///
    /// # Errors
    /// [`StoreErrorKind::Backend`](tokenlife::StoreErrorKind::Backend) when the file cannot be opened or is not
    /// a SQLite database, [`StoreErrorKind::Unavailable`](tokenlife::StoreErrorKind::Unavailable) when another
    /// connection holds it locked past [`BUSY_TIMEOUT`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(sql_error)?;
        Self::start(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory database, gone when the store is dropped (tests).
    ///
    /// # Errors
    /// [`StoreErrorKind::Backend`](tokenlife::StoreErrorKind::Backend) when SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(sql_error)?;
        Self::start(conn, None)
    }

    /// The database file, or `None` for an in-memory database.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn start(conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        configure(&conn).map_err(sql_error)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let worker = std::thread::Builder::new()
            .name(String::from("tokenlife-sqlite"))
            .spawn(move || serve(conn, &queue))
            .map_err(StoreError::unavailable)?;
        Ok(Self {
            jobs: Some(jobs),
            worker: Some(worker),
            path,
        })
    }

    /// Runs `job` on the connection thread and awaits its answer.
    async fn call<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| answer.send(job(conn)));
        self.jobs
            .as_ref()
            .ok_or_else(closed)?
            .send(job)
            .map_err(|_| closed())?;
        answered.await.map_err(|_| closed())?
    }
}

impl SessionStore for SqliteStore {
    /// `INSERT … ON CONFLICT (id) DO NOTHING`; no row inserted is a conflict.
    async fn insert(&self, session: Session) -> Result<(), StoreError> {
        let row = Row::of(&session)?;
        self.call(move |conn| {
            let inserted = conn
                .prepare_cached(&format!(
                    "INSERT INTO {TABLE} (id, subject, version, expires_at, record) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING"
                ))
                .and_then(|mut s| {
                    s.execute(params![
                        row.id,
                        row.subject,
                        row.version,
                        row.expires_at,
                        row.record
                    ])
                })
                .map_err(sql_error)?;
            one_row(inserted)
        })
        .await
    }

    /// `SELECT record … WHERE id = ?1`.
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let (wanted, id) = (*id, id.to_string());
        self.call(move |conn| {
            let record: Option<String> = conn
                .prepare_cached(&format!("SELECT record FROM {TABLE} WHERE id = ?1"))
                .and_then(|mut s| s.query_row([&id], |r| r.get(0)).optional())
                .map_err(sql_error)?;
            record
                .map(|json| Row::decode(&json, |s| s.id == wanted))
                .transpose()
        })
        .await
    }

    /// `UPDATE … WHERE id = ?1 AND version = ?2 AND subject = ?6`; anything
    /// but exactly one changed row is a conflict.
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        next: Session,
    ) -> Result<(), StoreError> {
        let row = Row::of(&next)?;
        let expected = Row::version_column(expected_version);
        self.call(move |conn| {
            let changed = conn
                .prepare_cached(&format!(
                    "UPDATE {TABLE} SET version = ?3, expires_at = ?4, record = ?5 \
                     WHERE id = ?1 AND version = ?2 AND subject = ?6"
                ))
                .and_then(|mut s| {
                    s.execute(params![
                        row.id,
                        expected,
                        row.version,
                        row.expires_at,
                        row.record,
                        row.subject
                    ])
                })
                .map_err(sql_error)?;
            one_row(changed)
        })
        .await
    }

    /// `SELECT record … WHERE subject = ?1` (by the subject index).
    async fn list_by_subject(&self, subject: &str) -> Result<Vec<Session>, StoreError> {
        let subject = subject.to_owned();
        self.call(move |conn| {
            let mut statement = conn
                .prepare_cached(&format!(
                    "SELECT record FROM {TABLE} WHERE subject = ?1 ORDER BY id"
                ))
                .map_err(sql_error)?;
            let records = statement
                .query_map([&subject], |r| r.get::<_, String>(0))
                .map_err(sql_error)?;
            records
                .map(|json| Row::decode(&json.map_err(sql_error)?, |s| s.subject == subject))
                .collect()
        })
        .await
    }

    /// `DELETE … WHERE expires_at <= ?1` (by the expiry index).
    async fn purge_expired(&self, now: UnixMillis) -> Result<u64, StoreError> {
        let now = Row::instant_column(now);
        self.call(move |conn| {
            let deleted = conn
                .prepare_cached(&format!("DELETE FROM {TABLE} WHERE expires_at <= ?1"))
                .and_then(|mut s| s.execute([now]))
                .map_err(sql_error)?;
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
        .await
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel ends the thread once the queued jobs are done;
        // joining it closes the connection (and checkpoints the WAL) before
        // anyone reopens the file.
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("open", &self.jobs.is_some())
            .finish()
    }
}

/// The schema, created on first open. WAL lets readers of other processes
/// go on while a writer commits.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Answers "memory" for an in-memory database, which is as good.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS {TABLE} (
             id         TEXT    NOT NULL PRIMARY KEY,
             subject    TEXT    NOT NULL,
             version    INTEGER NOT NULL,
             expires_at INTEGER NOT NULL,
             record     TEXT    NOT NULL
         ) STRICT;
         CREATE INDEX IF NOT EXISTS {TABLE}_subject ON {TABLE} (subject);
         CREATE INDEX IF NOT EXISTS {TABLE}_expires_at ON {TABLE} (expires_at);"
    ))
}

/// The connection thread: runs jobs until every sender is gone.
fn serve(mut conn: Connection, queue: &mpsc::Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        // A panicking job drops its answer unsent, which its caller sees as
        // `Unavailable`; the thread and the connection live on. Every job
        // is one statement, so no transaction is left open.
        let _ = catch_unwind(AssertUnwindSafe(|| job(&mut conn)));
    }
}

fn one_row(changed: usize) -> Result<(), StoreError> {
    match changed {
        1 => Ok(()),
        _ => Err(StoreError::conflict()),
    }
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::unavailable(e),
        _ => StoreError::backend(e),
    }
}

fn closed() -> StoreError {
    StoreError::unavailable(Closed)
}

/// The connection thread is gone (the store is being dropped, or a job
/// panicked before answering).
#[derive(Debug)]
struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the SQLite connection thread did not answer")
    }
}

impl std::error::Error for Closed {}
