//! The test servers: the shared one at `TOKENLIFE_REDIS_URL`, and servers
//! a test starts (and stops, and restarts) itself.
//!
//! Every test that needs a server is `#[ignore]`d with a reason that says
//! how to give it one; run with `--include-ignored` and no server, it
//! fails with a message saying what is missing — it never passes having
//! checked nothing. Each store gets a key prefix of its own, so tests run
//! in parallel on one server and each starts from an empty store.

#![allow(dead_code)] // each test file uses part of it

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokenlife_redis::{Options, RedisStore};

/// The variable naming the shared test server.
pub const URL_VAR: &str = "TOKENLIFE_REDIS_URL";
/// The variable naming a `redis-server` binary (else it is looked up on `PATH`).
pub const SERVER_VAR: &str = "TOKENLIFE_REDIS_SERVER";
/// The `#[ignore]` reason of every test that needs Redis.
pub const NEEDS_REDIS: &str = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh";

/// The shared server's URL; fails the test when it is not set.
pub fn url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: this test needs a Redis server \
             (e.g. redis://127.0.0.1:6379; ./scripts/test.sh or .ci/run start one). \
             It checked nothing."
        ),
    }
}

/// Options with a prefix no other store in this run uses.
pub fn fresh_options() -> Options {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let prefix = format!(
        "tltest-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Options::default().with_prefix(&prefix).unwrap()
}

/// A store on the shared server under a fresh prefix, on a runtime of its own.
pub fn fresh_store() -> RedisStore {
    store(&url(), fresh_options())
}

/// A store on `url`, on a runtime of its own.
pub fn store(url: &str, options: Options) -> RedisStore {
    RedisStore::connect_blocking_with(url, options)
        .unwrap_or_else(|e| panic!("connecting to {url}: {}", chain(&e)))
}

/// A plain synchronous connection, for looking at what the store wrote.
pub fn admin(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
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

/// A `redis-server` of the test's own, on a free loopback port, its files
/// in a directory of its own. Killed (and its files removed) on drop.
pub struct OwnServer {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl OwnServer {
    /// Starts one with `args` beyond the port, directory and log file
    /// (e.g. `["--appendonly", "yes"]`).
    pub fn start(name: &str, args: &[&str]) -> Self {
        let binary = server_binary();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tokenlife-redis-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut server = Self {
            binary,
            dir,
            port,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        server.restart();
        server
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it at once (SIGKILL): no final write, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (after [`kill`](Self::kill)),
    /// and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let log = self.dir.join("server.log");
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.to_string_lossy()])
            .args(["--logfile", &log.to_string_lossy()])
            .args(["--save", ""])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ping = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("redis-server exited ({status}): {log}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `TOKENLIFE_REDIS_SERVER`, or `redis-server` on `PATH`; fails the test
/// when there is neither.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(SERVER_VAR).filter(|v| !v.is_empty()) {
        return path.into();
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "no redis-server: this test starts its own Redis server; set {SERVER_VAR} \
             or put redis-server on PATH (apt-get install redis-server). It checked nothing."
        )
    })
}
