//! Several processes of the HTTP server (`examples/server.rs`) sharing one
//! session store and one signing key, driven over real HTTP on loopback
//! ports: a session started on one instance is refreshed on another, a
//! race of refreshes spread across the instances has exactly one winner
//! (grace 0) or hands every caller the same successor (grace > 0), and a
//! logout on one instance is seen by `verify_live` on the other at once.
//!
//! It runs on a SQLite file always, and on PostgreSQL when
//! `TOKENLIFE_PG_URL` names a server (`.ci/run` does); then it also stops
//! the server mid-run (`TOKENLIFE_PG_STOP` / `TOKENLIFE_PG_START`, shell
//! commands) and checks that the instances answer 503, not 500, and carry
//! on afterwards with no session lost or duplicated.
//!
//! The server binary is built with `cargo build --example server` (a no-op
//! when `cargo test --all-targets` has already built it), or taken from
//! `TOKENLIFE_SERVER_BIN`. Every child process is killed when its guard
//! drops, also when a test panics.

#[allow(dead_code)]
#[path = "../examples/server/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../examples/server/http.rs"]
mod http;

use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use tokenlife::{OsRandom, RandomSource};

use config::{Config, KeySource, StoreChoice};
use http::{Http, Reply};

const EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery staple";
/// Concurrent refreshes of one token, spread over the instances.
const RACERS: usize = 12;
/// Races per grace setting.
const ROUNDS: usize = 3;
/// The longest an instance may take to start (argon2 hashing in a debug
/// build, on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// The longest PostgreSQL may take to come back after `TOKENLIFE_PG_START`.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// The most requests the looping client of the outage test sends.
const CHAIN_LIMIT: usize = 5_000;

// ---------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_shared_by_instances() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("sessions.db").display());
    instances_share_sessions(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_shared_by_instances() {
    let Some(url) = pg_url("postgres_database_shared_by_instances") else {
        return;
    };
    let _serial = pg_lock().await;
    let schema = Schema::create(&url).await;
    instances_share_sessions(&format!("postgres:{}", schema.url)).await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_loses_nothing() {
    let test = "postgres_outage_answers_503_and_loses_nothing";
    let Some(url) = pg_url(test) else {
        return;
    };
    let (Some(stop), Some(start)) = (env("TOKENLIFE_PG_STOP"), env("TOKENLIFE_PG_START")) else {
        skip(
            test,
            "TOKENLIFE_PG_STOP and TOKENLIFE_PG_START (shell commands that stop and start \
             the server) are not both set",
        );
        return;
    };
    let _serial = pg_lock().await;
    let schema = Schema::create(&url).await;
    let store = format!("postgres:{}", schema.url);
    let key = random_key();
    let a = Instance::start("a", &store, &key, 10);
    let b = Instance::start("b", &store, &key, 10);

    // Two sessions before the outage; one of them refreshed once.
    let first = login(&a).await;
    let second = login(&b).await;
    let first = refresh(&b, &first.refresh)
        .await
        .expect_ok("refresh before");
    assert_eq!(schema.count_sessions().await, 2);

    // A client refreshing in a loop across the outage, alternating
    // instances and retrying a refused refresh with the same token.
    let third = login(&a).await;
    let done = Arc::new(AtomicBool::new(false));
    let chain = tokio::spawn(refresh_chain(
        [a.http.clone(), b.http.clone()],
        third.refresh,
        Arc::clone(&done),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let outage = Outage::begin(&stop, &start);
    for (name, reply) in [
        ("login", a.http.post("/auth/login", credentials()).await),
        ("refresh", refresh(&b, &first.refresh).await),
        ("verify_live", me(&a, &second.access).await),
        ("logout", logout(&b, &second.refresh).await),
    ] {
        let reply = reply.unwrap_or_else(|e| panic!("{name} during the outage: {e}"));
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE")),
            "{name} during the outage: {reply:?}"
        );
    }
    a.assert_running();
    b.assert_running();
    outage.end();

    // Back: the first request that gets through, then everything as before.
    wait_until_answering(&a, &first.access).await;
    wait_until_answering(&b, &first.access).await;
    let me_second = me(&b, &second.access).await.unwrap();
    assert_eq!(me_second.status, StatusCode::OK, "{me_second:?}");
    // The refresh refused during the outage had not rotated anything: the
    // token still works, once.
    let next = refresh(&a, &first.refresh).await.expect_ok("refresh after");
    let me_next = me(&b, &next.access).await.unwrap();
    assert_eq!(me_next.status, StatusCode::OK, "{me_next:?}");
    // The logout refused during the outage did nothing; now it works.
    let out = logout(&a, &second.refresh).await.unwrap();
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{out:?}");
    let gone = me(&b, &second.access).await.unwrap();
    assert_eq!(gone.code(), Some("INVALID_TOKEN"), "{gone:?}");
    // The looping client got through the outage with its session intact.
    tokio::time::sleep(Duration::from_millis(500)).await;
    done.store(true, Ordering::Relaxed);
    let (token, ok, unavailable) = chain.await.unwrap();
    assert!(
        ok > 2 && unavailable > 0,
        "{ok} refreshes, {unavailable} refused"
    );
    let last = refresh(&b, &token)
        .await
        .expect_ok("the looping client's token");
    let seen = me(&a, &last.access).await.unwrap();
    assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    // The login refused during the outage left no session behind, and
    // nothing was duplicated.
    assert_eq!(schema.count_sessions().await, 3);
    a.assert_running();
    b.assert_running();
    drop((a, b));
    schema.drop().await;
}

// ---------------------------------------------------------------------------
// The scenario, on any shared store

async fn instances_share_sessions(store: &str) {
    let key = random_key();
    let strict = [
        Instance::start("a", store, &key, 0),
        Instance::start("b", store, &key, 0),
    ];
    let [a, b] = &strict;

    // Log in on one instance, use and refresh on the other.
    let pair = login(a).await;
    let seen = me(b, &pair.access).await.unwrap();
    assert_eq!(
        (seen.status, seen.data("email")),
        (StatusCode::OK, Some(EMAIL))
    );
    let next = refresh(b, &pair.refresh).await.expect_ok("refresh on b");
    let seen = me(a, &next.access).await.unwrap();
    assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    // The spent token on the first instance is reuse (grace 0): it revokes
    // the session, on every instance.
    let reused = refresh(a, &pair.refresh).await.unwrap();
    assert_eq!(reused.code(), Some("INVALID_TOKEN"), "{reused:?}");
    let seen = me(b, &next.access).await.unwrap();
    assert_eq!(seen.code(), Some("INVALID_TOKEN"), "{seen:?}");

    // Grace 0: of concurrent refreshes of one token, exactly one wins.
    for round in 0..ROUNDS {
        let pair = login(&strict[round % 2]).await;
        let replies = race(&strict, &pair.refresh).await;
        let winners = replies
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!(winners, 1, "round {round}: {replies:#?}");
        for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")),
                "round {round}"
            );
        }
    }

    // A logout on one instance is seen by verify_live on the other at once.
    let pair = login(b).await;
    let seen = me(a, &pair.access).await.unwrap();
    assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    let out = logout(a, &pair.refresh).await.unwrap();
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{out:?}");
    let seen = me(b, &pair.access).await.unwrap();
    assert_eq!(
        (seen.status, seen.code()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")),
        "{seen:?}"
    );
    let after = refresh(b, &pair.refresh).await.unwrap();
    assert_eq!(after.code(), Some("INVALID_TOKEN"), "{after:?}");

    // Grace > 0: every caller of the race gets the same successor.
    let lenient = [
        Instance::start("c", store, &key, 30),
        Instance::start("d", store, &key, 30),
    ];
    for round in 0..ROUNDS {
        let pair = login(&lenient[round % 2]).await;
        let replies = race(&lenient, &pair.refresh).await;
        for reply in &replies {
            assert_eq!(reply.status, StatusCode::OK, "round {round}: {reply:?}");
        }
        let successor = replies[0].data("refresh_token").unwrap();
        assert!(
            replies
                .iter()
                .all(|r| r.data("refresh_token") == Some(successor)),
            "round {round}: the family branched: {replies:#?}"
        );
        // The successor is live everywhere, strict instances included.
        let next = refresh(&strict[round % 2], successor)
            .await
            .expect_ok("the successor");
        let seen = me(&lenient[(round + 1) % 2], &next.access).await.unwrap();
        assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    }

    for instance in strict.iter().chain(&lenient) {
        instance.assert_running();
    }
}

/// [`RACERS`] refreshes of `token` at once, dealt round-robin to `instances`.
async fn race(instances: &[Instance], token: &str) -> Vec<Reply> {
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let http = instances[i % instances.len()].http.clone();
            let body = json!({ "refresh_token": token });
            tokio::spawn(async move { http.post("/auth/refresh", body).await })
        })
        .collect();
    let mut replies = Vec::with_capacity(RACERS);
    for task in tasks {
        replies.push(task.await.unwrap().unwrap());
    }
    replies
}

/// Refreshes `token` over and over, alternating `instances`, until `done`
/// (at most [`CHAIN_LIMIT`] requests): a 200 moves on to the new token, a
/// 503 retries the same one a little later, anything else panics. Returns
/// the last token and how many refreshes succeeded and were refused.
async fn refresh_chain(
    instances: [Http; 2],
    mut token: String,
    done: Arc<AtomicBool>,
) -> (String, usize, usize) {
    let (mut ok, mut unavailable) = (0, 0);
    for i in 0..CHAIN_LIMIT {
        if done.load(Ordering::Relaxed) {
            break;
        }
        let reply = instances[i % 2]
            .post("/auth/refresh", json!({ "refresh_token": token }))
            .await
            .unwrap_or_else(|e| panic!("refresh {i}: {e}"));
        match reply.status {
            StatusCode::OK => {
                token = reply.data("refresh_token").unwrap().to_owned();
                ok += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"));
                unavailable += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => panic!("refresh {i}: {reply:?}"),
        }
    }
    (token, ok, unavailable)
}

// ---------------------------------------------------------------------------
// Requests

/// The tokens of a login or refresh answer.
struct Pair {
    access: String,
    refresh: String,
}

trait ExpectOk {
    fn expect_ok(self, what: &str) -> Pair;
}

impl ExpectOk for Result<Reply, String> {
    fn expect_ok(self, what: &str) -> Pair {
        let reply = self.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(reply.status, StatusCode::OK, "{what}: {reply:?}");
        Pair {
            access: reply.data("access_token").unwrap().to_owned(),
            refresh: reply.data("refresh_token").unwrap().to_owned(),
        }
    }
}

fn credentials() -> serde_json::Value {
    json!({ "email": EMAIL, "password": PASSWORD })
}

async fn login(instance: &Instance) -> Pair {
    instance
        .http
        .post("/auth/login", credentials())
        .await
        .expect_ok(&format!("login on {}", instance.name))
}

async fn refresh(instance: &Instance, token: &str) -> Result<Reply, String> {
    instance
        .http
        .post("/auth/refresh", json!({ "refresh_token": token }))
        .await
}

async fn logout(instance: &Instance, token: &str) -> Result<Reply, String> {
    instance
        .http
        .post("/auth/logout", json!({ "refresh_token": token }))
        .await
}

/// `GET /users/me`: `verify_live`.
async fn me(instance: &Instance, access: &str) -> Result<Reply, String> {
    instance.http.get_bearer("/users/me", access).await
}

/// Polls `GET /users/me` until it answers 200, within [`RECOVERY_TIMEOUT`];
/// every answer before must be a 503.
async fn wait_until_answering(instance: &Instance, access: &str) {
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    loop {
        let reply = me(instance, access).await;
        match &reply {
            Ok(r) if r.status == StatusCode::OK => return,
            Ok(r) if r.status == StatusCode::SERVICE_UNAVAILABLE => {}
            _ => panic!("{} while recovering: {reply:?}", instance.name),
        }
        assert!(
            Instant::now() < deadline,
            "{} still answers 503 {RECOVERY_TIMEOUT:?} after the database came back",
            instance.name
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------
// Server processes

/// A running server process and a client for it.
struct Instance {
    name: &'static str,
    http: Http,
    process: Process,
}

/// A child process, killed when dropped (also when a test panics), and
/// what it wrote.
struct Process {
    name: &'static str,
    child: Mutex<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    /// Starts the server on a port chosen by the OS, on `store`, signing
    /// with `key` (hex), with a grace window of `grace_secs`; returns once
    /// it listens.
    fn start(name: &'static str, store: &str, key: &str, grace_secs: u64) -> Self {
        let mut command = Command::new(server_binary());
        for var in [
            "TOKENLIFE_PORT",
            "TOKENLIFE_ACCESS_TTL_SECS",
            "TOKENLIFE_REUSE_GRACE_SECS",
            "TOKENLIFE_STORE",
            "TOKENLIFE_KEY_FILE",
            "TOKENLIFE_KEY_ID",
        ] {
            command.env_remove(var);
        }
        command
            .args(["--port", "0", "--access-ttl-secs", "300", "--store", store])
            .args(["--reuse-grace-secs", &grace_secs.to_string()])
            .env("TOKENLIFE_KEY", key)
            .env("TOKENLIFE_DEMO_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", server_binary().display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (listening, address) = mpsc::channel();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let process = Process {
            name,
            child: Mutex::new(child),
            log: Arc::clone(&log),
        };
        let out_log = Arc::clone(&log);
        std::thread::spawn(move || {
            // Read to the end, so that the child never blocks on a full pipe.
            let Some(stdout) = stdout else { return };
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = listening.send(addr.to_owned());
                }
                push(&out_log, line);
            }
        });
        std::thread::spawn(move || {
            if let Some(stderr) = stderr {
                drain(stderr, &log);
            }
        });

        let addr = match address.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(e) => panic!(
                "instance {name} did not start ({e}, exit: {:?}):\n{}",
                process.lock().try_wait(),
                process.log_text()
            ),
        };
        let addr: SocketAddr = addr.parse().unwrap();
        Self {
            name,
            http: Http::new(addr),
            process,
        }
    }

    /// Panics, with the log, when the process has exited.
    fn assert_running(&self) {
        if let Ok(Some(status)) = self.process.lock().try_wait() {
            panic!(
                "instance {} exited ({status}):\n{}",
                self.name,
                self.process.log_text()
            );
        }
    }
}

impl Process {
    fn lock(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking() {
            eprintln!("--- instance {} ---\n{}", self.name, self.log_text());
        }
    }
}

fn push(log: &Mutex<Vec<String>>, line: String) {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(line);
}

fn drain(pipe: impl Read, log: &Mutex<Vec<String>>) {
    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
        push(log, line);
    }
}

/// The server example's binary: `TOKENLIFE_SERVER_BIN`, or else built by
/// cargo with this test's profile and features (a no-op when it is fresh).
fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = env("TOKENLIFE_SERVER_BIN") {
            return PathBuf::from(path);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--package", "tokenlife", "--example", "server"])
            .arg("--message-format=json-render-diagnostics")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // The same profile and target directory as this test binary
        // (`<target>/<profile dir>/deps/multi_instance-…`).
        let exe = std::env::current_exe().unwrap();
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => "dev",
                Some(other) => other,
            };
            command.args(["--profile", profile]);
            if let Some(target_dir) = profile_dir.parent() {
                command.arg("--target-dir").arg(target_dir);
            }
        }
        // The same features, so that nothing is rebuilt for this.
        if !cfg!(feature = "default") {
            command.arg("--no-default-features");
        }
        let features: Vec<&str> = [
            ("std", cfg!(feature = "std")),
            ("testkit", cfg!(feature = "testkit")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if !features.is_empty() {
            command.arg("--features").arg(features.join(","));
        }
        let output = command.output().expect("running cargo build");
        assert!(
            output.status.success(),
            "cargo build --example server failed"
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "server")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo build named no executable for the server example")
    })
}

/// A fresh 32-byte signing secret, hex-encoded.
fn random_key() -> String {
    let mut secret = [0u8; 32];
    OsRandom.fill(&mut secret).unwrap();
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// `TOKENLIFE_PG_URL`, or `None` after saying on the terminal why `test`
/// checks nothing.
fn pg_url(test: &str) -> Option<String> {
    let url = env("TOKENLIFE_PG_URL");
    if url.is_none() {
        skip(
            test,
            "TOKENLIFE_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/tokenlife_test)",
        );
    }
    url
}

/// Says that `test` checked nothing, past the harness's output capture.
fn skip(test: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {why}; this PostgreSQL test checked nothing"
    );
}

/// One PostgreSQL test at a time: the outage test stops the server.
async fn pg_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A schema of its own for one test, so that its table starts empty; the
/// servers reach it through the URL's `search_path`.
struct Schema {
    admin: String,
    name: String,
    url: String,
}

impl Schema {
    async fn create(admin: &str) -> Self {
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
    async fn count_sessions(&self) -> u64 {
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
    async fn drop(self) {
        execute(
            &self.admin,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        )
        .await;
    }
}

async fn execute(url: &str, sql: &str) {
    connect(url)
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn connect(url: &str) -> tokio_postgres::Client {
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

/// The database stopped by `stop`; started again by [`end`](Self::end) or,
/// should the test panic first, on drop.
struct Outage {
    start: String,
    ended: bool,
}

impl Outage {
    fn begin(stop: &str, start: &str) -> Self {
        shell(stop);
        Self {
            start: start.to_owned(),
            ended: false,
        }
    }

    fn end(mut self) {
        self.ended = true;
        shell(&self.start);
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.ended {
            shell(&self.start);
        }
    }
}

/// Runs `command` with `sh -c`, asserting that it succeeds.
fn shell(command: &str) {
    let status = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{command}: {e}"));
    assert!(status.success(), "{command}: {status}");
}

// ---------------------------------------------------------------------------
// The server's configuration

#[test]
fn store_choices_parse() {
    let parse = |s: &str| StoreChoice::parse(s);
    assert_eq!(parse("memory"), Ok(StoreChoice::Memory));
    assert_eq!(
        parse("sqlite:/tmp/s.db"),
        Ok(StoreChoice::Sqlite("/tmp/s.db".into()))
    );
    for url in [
        "postgres:postgres://u:p@127.0.0.1/db",
        "postgres://u:p@127.0.0.1/db",
    ] {
        assert_eq!(
            parse(url),
            Ok(StoreChoice::Postgres("postgres://u:p@127.0.0.1/db".into()))
        );
    }
    for wrong in ["", "sqlite:", "postgres:", "redis://x", "Memory"] {
        assert!(parse(wrong).is_err(), "{wrong:?}");
    }
    // A wrong choice does not echo a password back.
    let e = parse("postgre://u:hunter2@h/db").unwrap_err();
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn postgres_passwords_are_not_shown() {
    for (url, shown) in [
        (
            "postgres://app:hunter2@db:5432/auth?sslmode=disable",
            "postgres://app:***@db:5432/auth?sslmode=disable",
        ),
        ("postgres://app@db/auth", "postgres://app@db/auth"),
        (
            "postgres://db/auth?user=app&password=hunter2",
            "postgres://db/auth?user=app&password=***",
        ),
        (
            "host=db user=app password=hunter2 dbname=auth",
            "host=db user=app password=*** dbname=auth",
        ),
    ] {
        assert_eq!(config::redact(url), shown);
        let choice = StoreChoice::Postgres(url.into()).to_string();
        assert!(!choice.contains("hunter2"), "{choice}");
    }
}

#[test]
fn a_key_in_hex_or_base64_gives_the_same_keyring() {
    let secret: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let encodings = [
        hex.clone(),
        hex.to_uppercase(),
        format!("  {hex}\n"),
        base64_of(&secret, base64::engine::general_purpose::STANDARD),
        base64_of(&secret, base64::engine::general_purpose::URL_SAFE_NO_PAD),
    ];
    for text in &encodings {
        assert_eq!(*config::decode_secret(text).unwrap(), secret, "{text:?}");
    }
    for wrong in ["", "   ", "not a key!", "a"] {
        assert!(config::decode_secret(wrong).is_err(), "{wrong:?}");
    }

    // Two instances given the key, one in a file and one in the
    // environment, sign with the same key under the same id.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, &encodings[3]).unwrap();
    let no_env = |_: &str| None;
    let from_file = Config::parse(
        ["--key-file".to_owned(), file.display().to_string()].into_iter(),
        no_env,
    )
    .unwrap()
    .unwrap();
    assert_eq!(from_file.key, KeySource::File(file.clone()));
    let env_key = |name: &str| (name == "TOKENLIFE_KEY").then(|| hex.clone());
    let from_env = Config::parse(std::iter::empty(), env_key).unwrap().unwrap();
    assert_eq!(from_env.key, KeySource::Env);
    let (file_keys, shown) = from_file.keyring(no_env).unwrap();
    assert!(!shown.contains(&hex[..8]), "{shown}");
    let (env_keys, _) = from_env.keyring(env_key).unwrap();
    assert_eq!(file_keys.signing_key_id().as_str(), config::DEFAULT_KEY_ID);
    assert_eq!(
        *file_keys
            .access_token_secret(config::DEFAULT_KEY_ID)
            .unwrap(),
        *env_keys
            .access_token_secret(config::DEFAULT_KEY_ID)
            .unwrap()
    );

    // Without a key, each instance draws its own.
    let random = Config::parse(std::iter::empty(), no_env).unwrap().unwrap();
    assert_eq!(random.key, KeySource::Random);
    let (one, shown) = random.keyring(no_env).unwrap();
    let (two, _) = random.keyring(no_env).unwrap();
    assert!(shown.contains("random"), "{shown}");
    assert_ne!(
        *one.access_token_secret(config::DEFAULT_KEY_ID).unwrap(),
        *two.access_token_secret(config::DEFAULT_KEY_ID).unwrap()
    );

    // Too short a secret is refused.
    let short = |name: &str| (name == "TOKENLIFE_KEY").then(|| "00".repeat(16));
    let config = Config::parse(std::iter::empty(), short).unwrap().unwrap();
    assert!(config.keyring(short).is_err());
}

#[test]
fn flags_win_over_the_environment() {
    let env = |name: &str| match name {
        "TOKENLIFE_PORT" => Some("9000".to_owned()),
        "TOKENLIFE_STORE" => Some("sqlite:/tmp/env.db".to_owned()),
        "TOKENLIFE_REUSE_GRACE_SECS" => Some("5".to_owned()),
        _ => None,
    };
    let from_env = Config::parse(std::iter::empty(), env).unwrap().unwrap();
    assert_eq!(from_env.port, 9000);
    assert_eq!(from_env.store, StoreChoice::Sqlite("/tmp/env.db".into()));
    assert_eq!(from_env.reuse_grace, Some(Duration::from_secs(5)));
    let args = [
        "--port",
        "0",
        "--store",
        "memory",
        "--reuse-grace-secs",
        "0",
    ];
    let flags = Config::parse(args.iter().map(|s| (*s).to_owned()), env)
        .unwrap()
        .unwrap();
    assert_eq!(flags.port, 0);
    assert_eq!(flags.store, StoreChoice::Memory);
    assert_eq!(flags.reuse_grace, Some(Duration::ZERO));
    for wrong in [
        &["--store"][..],
        &["--store", "mysql:x"],
        &["--reuse-grace-secs", "-1"],
        &["--key-file"],
        &["--frobnicate"],
    ] {
        let args = wrong.iter().map(|s| (*s).to_owned());
        assert!(Config::parse(args, env).is_err(), "{wrong:?}");
    }
    let both =
        |name: &str| matches!(name, "TOKENLIFE_KEY" | "TOKENLIFE_KEY_FILE").then(|| "x".to_owned());
    assert!(Config::parse(std::iter::empty(), both).is_err());
}

fn base64_of(bytes: &[u8], engine: impl base64::Engine) -> String {
    engine.encode(bytes)
}
