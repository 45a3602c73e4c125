//! A Directus-compatible auth server on tokenlife-axum: `POST /auth/login`,
//! `/auth/refresh`, `/auth/logout`, the caller's own sessions and
//! `GET /users/me`, in json and cookie modes.
//!
//! ```sh
//! cargo run --release -p tokenlife-example-server -- --access-ttl-secs 30
//! # several instances sharing one SQLite file and one key:
//! head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > key.hex
//! cargo run --release -p tokenlife-example-server -- --port 8055 --store sqlite:sessions.db --key-file key.hex
//! cargo run --release -p tokenlife-example-server -- --port 8056 --store sqlite:sessions.db --key-file key.hex
//! ```
//!
//! Options (`--help` lists them with their variables; flags win over the
//! environment; `src/config.rs`): `--port`,
//! `--access-ttl-secs`, `--reuse-grace-secs`, `--store
//! memory|sqlite:PATH|postgres:URL|redis://…`, `--key-file` (or `TOKENLIFE_KEY`),
//! `--key-id`, `--alg hs256|eddsa|es256` (or `TOKENLIFE_ALG`; default
//! hs256), `--session-refreshes-per-minute`, and `TOKENLIFE_DEMO_PASSWORD`.
//! It listens on 127.0.0.1 only. With the memory store and a random key (the
//! defaults) a restart logs everybody out; instances that share a store and
//! a key serve the same sessions.
//!
//! On PostgreSQL and Redis each instance subscribes to the store's
//! revocation feed (`LISTEN`/`NOTIFY`, or pub/sub), and the routes that check the session
//! (`/users/me`, `/auth/sessions`) use `verify_fresh`: a logout on any
//! instance is refused on the others within `max_revocation_lag` (1 s), with
//! no store read per request while the feed is connected.
//!
//! With `--alg eddsa` or `es256`, `GET /.well-known/jwks.json` publishes the
//! public key, and a resource server verifies access tokens with it alone
//! (`tokenlife::Verifier::from_jwks`). The authority's security events
//! (logins, refreshes, revocations, reuse of a spent refresh token) are
//! logged to stderr through `tracing`; `RUST_LOG` filters them (default
//! `info`: `RUST_LOG=tokenlife=debug` adds every refresh).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use argon2::Params;
use clap::Parser as _;
use tokenlife::store::RevocationFeed;
use tokenlife::{
    Algorithm, Authority, Clock, Keyring, MemoryStore, Policy, SessionStore, SharedRevocations,
    SystemClock,
};
use tokenlife_axum::{Auth, Limit, TracingEvents};
use tokenlife_example_server::config::{self, Config, StoreChoice};
use tokenlife_example_server::{Users, random_hex, router, serve};
use tokenlife_postgres::PostgresStore;
use tokenlife_redis::RedisStore;
use tokenlife_sqlite::SqliteStore;

const DEMO_EMAIL: &str = "admin@example.com";
/// The demo user's id, the same on every instance so that its tokens are
/// understood by all of them.
const DEMO_ID: &str = "7d0c3f5e-1b2a-4c8d-9e6f-0a1b2c3d4e5f";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    install_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // `--help`, and a wrong flag or variable, end the process here.
    let config = Config::parse();
    let (keys, key_shown) = config.keyring(env)?;
    let mut policy = Policy::default().with_access_ttl(config.access_ttl);
    if let Some(grace) = config.reuse_grace {
        policy = policy.with_reuse_grace(grace);
    }

    let mut users = Users::new(Params::DEFAULT)?;
    let (password, shown) = match env("TOKENLIFE_DEMO_PASSWORD") {
        Some(p) => (p, "(from TOKENLIFE_DEMO_PASSWORD)".to_owned()),
        None => {
            let p = random_hex(12)?;
            let shown = format!("{p} (this instance's own; set TOKENLIFE_DEMO_PASSWORD to share)");
            (p, shown)
        }
    };
    users.add_with_id(
        DEMO_ID,
        DEMO_EMAIL,
        &password,
        ("Demo", "Admin"),
        "administrator",
    )?;

    println!("demo user: {DEMO_EMAIL}  password: {shown}");
    println!(
        "access tokens live {} s; a spent refresh token has a {} s grace window",
        policy.access_ttl().as_secs(),
        policy.reuse_grace().as_secs()
    );
    println!("sessions: {}", config.store);
    println!("signing key: {key_shown}");
    if config.alg != Algorithm::HS256 {
        println!("public keys: GET /.well-known/jwks.json");
    }
    let refreshes = config
        .session_refreshes
        .and_then(|n| Limit::new(n, Duration::from_secs(60)));
    let start = Start {
        port: config.port,
        keys,
        policy,
        users,
        refreshes,
        revocations: None,
    };
    match &config.store {
        StoreChoice::Memory => start.serve(MemoryStore::new()).await,
        StoreChoice::Sqlite(path) => {
            let store = SqliteStore::open(path)
                .map_err(|e| format!("cannot open the SQLite file {}: {e}", path.display()))?;
            start.serve(store).await
        }
        StoreChoice::Postgres(url) => {
            let store = PostgresStore::connect(url)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", config::redact(url)))?;
            let start = start.with_feed(&store).await;
            start.serve(store).await
        }
        StoreChoice::Redis(url) => {
            let store = RedisStore::connect(url)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", config::redact(url)))?;
            let start = start.with_feed(&store).await;
            start.serve(store).await
        }
    }
}

/// What the server needs besides its store.
struct Start {
    port: u16,
    keys: Keyring,
    policy: Policy,
    users: Users,
    refreshes: Option<Limit>,
    /// The set `/users/me` (and the other `LiveClaims` routes) check with
    /// `verify_fresh`, when the store has a feed.
    revocations: Option<Arc<SharedRevocations>>,
}

impl Start {
    /// Subscribes a revocation set to `feed`: a logout on any instance is
    /// then refused here within `max_revocation_lag`, with no store read
    /// per request while the feed is connected (and one whenever it is not).
    async fn with_feed(mut self, feed: &impl RevocationFeed) -> Self {
        let set = Arc::new(SharedRevocations::new(&self.policy));
        match feed.subscribe(&set, SystemClock.now()).await {
            Ok(()) => println!(
                "revocations: the store's feed; a logout anywhere is refused here within {} ms",
                self.policy.max_revocation_lag().as_millis()
            ),
            // The feed retries on its own; until it syncs, the set is
            // stale and every check reads the store.
            Err(e) => eprintln!("revocation feed: {e}; reading the store until it connects"),
        }
        self.revocations = Some(set);
        self
    }

    /// Serves on `store` until the process ends. "listening on …" is the
    /// last line of the startup output: once it is printed, requests are
    /// answered.
    async fn serve<S: SessionStore + 'static>(self, store: S) -> Result<(), BoxError> {
        let mut authority =
            Authority::new(self.keys, self.policy, store).with_events(TracingEvents);
        if let Some(set) = self.revocations {
            authority = authority.with_revocations(set);
        }
        let authority = Arc::new(authority);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        println!("listening on http://{}", listener.local_addr()?);

        // Every instance purges; a purge that finds nothing costs one DELETE.
        let purger = Arc::clone(&authority);
        tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                if let Err(e) = purger.purge_expired().await {
                    eprintln!("purge failed: {e}");
                }
            }
        });

        let router = router(Auth::new(authority), self.users, self.refreshes);
        serve(listener, router).await?;
        Ok(())
    }
}

/// Log lines (the security events of `TracingEvents`, store failures) go
/// to stderr, filtered by `RUST_LOG`, `info` when it is unset or unreadable.
fn install_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Fails only when a subscriber is already installed: keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
