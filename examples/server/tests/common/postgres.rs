//! The PostgreSQL side: the server named by `TOKENLIFE_PG_URL`, a schema
//! per test, and stopping and starting the server for the outage test.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::process::env;

/// `TOKENLIFE_PG_URL`. These tests are `#[ignore]`d; one that is run
/// without a server fails here instead of passing having checked nothing.
pub fn pg_url() -> String {
    env("TOKENLIFE_PG_URL").unwrap_or_else(|| {
        panic!(
            "TOKENLIFE_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/tokenlife_test): \
             this test needs PostgreSQL; run ./scripts/test.sh, or set it"
        )
    })
}

/// One PostgreSQL test at a time: the outage test stops the server.
pub async fn pg_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A schema of its own for one test, so that its table starts empty; the
/// servers reach it through the URL's `search_path`.
pub struct Schema {
    admin: String,
    name: String,
    /// The URL that reaches the schema.
    pub url: String,
}

impl Schema {
    pub async fn create(admin: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tl_multi_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        execute(
            admin,
            &format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"),
        )
        .await;
        let separator = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{separator}options=-c%20search_path%3D{name}");
        Self {
            admin: admin.to_owned(),
            name,
            url,
        }
    }

    /// How many sessions the table holds.
    pub async fn count_sessions(&self) -> u64 {
        let client = connect(&self.admin).await;
        let sql = format!(
            "SELECT count(*)::text FROM {}.{}",
            self.name,
            tokenlife_postgres::TABLE
        );
        let rows = client.simple_query(&sql).await.unwrap();
        rows.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
                _ => None,
            })
            .unwrap()
    }

    /// Drops the schema (a failed test leaves it to look at).
    pub async fn remove(self) {
        execute(
            &self.admin,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        )
        .await;
    }
}

pub async fn execute(url: &str, sql: &str) {
    connect(url)
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(url, tokio_postgres::NoTls),
    )
    .await
    .unwrap_or_else(|_| panic!("connecting to TOKENLIFE_PG_URL timed out"))
    .unwrap_or_else(|e| panic!("connecting to TOKENLIFE_PG_URL: {e}"));
    tokio::spawn(connection);
    client
}

/// The database stopped with `pg_ctl stop`; started again by
/// [`end`](Self::end) or, should the test panic first, on drop.
pub struct Outage {
    pg_ctl: String,
    ended: bool,
}

impl Outage {
    /// Stops the server with `pg_ctl` (`.ci/run`'s `TOKENLIFE_PG_CTL`, a
    /// `pg_ctl` that knows the data directory): fast shutdown, which
    /// disconnects every client and aborts what they were doing.
    pub fn begin(pg_ctl: &str) -> Self {
        run(pg_ctl, &["stop", "-m", "fast", "-w", "-t", "60"]);
        Self {
            pg_ctl: pg_ctl.to_owned(),
            ended: false,
        }
    }

    /// Starts the server again and waits until it accepts connections.
    pub fn end(mut self) {
        self.ended = true;
        run(&self.pg_ctl, &["start", "-w", "-t", "60"]);
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.ended {
            run(&self.pg_ctl, &["start", "-w", "-t", "60"]);
        }
    }
}

/// Runs `program args`, asserting that it succeeds.
fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?}: {status}");
}
