//! The test database: `TOKENLIFE_PG_URL`, and a fresh schema per store.
//!
//! Every test runs against a real PostgreSQL server, so each is
//! `#[ignore]`d with the reason: a plain `cargo test` reports them as not
//! run. `./scripts/test.sh` (and `.ci/run`) start a server, set
//! `TOKENLIFE_PG_URL` and run them with `--include-ignored`; run that way
//! without the variable, a test fails rather than pass having checked nothing. Each store gets a
//! schema of its own (through the connection's `search_path`), so tests run
//! in parallel on one database and each starts from an empty table; the
//! schemas are dropped when the [`TestDb`] is.

#![allow(dead_code)] // each test file uses part of it

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use tokenlife_postgres::{Options, PostgresStore};

/// The variable naming the test database.
pub const URL_VAR: &str = "TOKENLIFE_PG_URL";

/// A handle on the test database.
pub struct TestDb {
    url: String,
    schemas: Mutex<Vec<String>>,
}

/// The test database.
///
/// # Panics
/// When `TOKENLIFE_PG_URL` is unset: the test was asked to run (it is
/// ignored otherwise) and cannot check anything without a server.
pub fn database(test: &str) -> TestDb {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => TestDb {
            url,
            schemas: Mutex::new(Vec::new()),
        },
        _ => panic!(
            "{test}: {URL_VAR} is not set (e.g. postgres://postgres@127.0.0.1:5432/tokenlife_test); \
             run ./scripts/test.sh, which starts a server"
        ),
    }
}

impl TestDb {
    /// The server's URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A URL whose `search_path` is a new, empty schema.
    pub fn fresh_url(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let schema = format!(
            "tl_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ));
        self.schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(schema.clone());
        with_search_path(&self.url, &schema)
    }

    /// A store on a fresh schema, on a runtime of its own.
    pub fn fresh_store(&self) -> PostgresStore {
        self.store(&self.fresh_url(), Options::default())
    }

    /// A store on `url`, on a runtime of its own.
    pub fn store(&self, url: &str, options: Options) -> PostgresStore {
        PostgresStore::connect_blocking_with(url, options)
            .unwrap_or_else(|e| panic!("connecting to {URL_VAR}: {}", chain(&e)))
    }

    /// Runs `sql` (one or more statements) on `url`.
    pub fn execute_on(&self, url: &str, sql: &str) {
        let (client, runtime) = self.client(url);
        runtime
            .block_on(client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {}", chain(&e)));
    }

    /// The rows of `sql` on `url`, each column read as text.
    pub fn query_text(&self, url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        let (client, runtime) = self.client(url);
        let messages = runtime
            .block_on(client.simple_query(sql))
            .unwrap_or_else(|e| panic!("{sql}: {}", chain(&e)));
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    fn execute(&self, sql: &str) {
        self.execute_on(&self.url, sql);
    }

    fn client(&self, url: &str) -> (tokio_postgres::Client, tokio::runtime::Runtime) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connecting to {URL_VAR}: {}", chain(&e)));
            tokio::spawn(connection);
            client
        });
        (client, runtime)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schemas = std::mem::take(
            self.schemas
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if schemas.is_empty() || std::thread::panicking() {
            return; // a failed test leaves its schema to look at
        }
        let sql: String = schemas
            .iter()
            .map(|s| format!("DROP SCHEMA IF EXISTS {s} CASCADE;"))
            .collect();
        self.execute(&sql);
    }
}

/// `url` with `search_path` set to `schema` (libpq's `options` parameter).
pub fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// An error with its `source()` chain, for a failure message.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
