//! The server processes: started from the example's binary on a loopback
//! port chosen by the OS, killed when their guard drops (also when a test
//! panics), their output kept to show when a test fails.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tokenlife::{OsRandom, RandomSource};

use super::http::Http;

/// The longest an instance may take to start (argon2 hashing in a debug
/// build, on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The variables the server reads for its flags: removed from a started
/// instance's environment, so that the test's own never leak in.
pub const FLAG_VARIABLES: [&str; 8] = [
    "TOKENLIFE_PORT",
    "TOKENLIFE_ACCESS_TTL_SECS",
    "TOKENLIFE_REUSE_GRACE_SECS",
    "TOKENLIFE_STORE",
    "TOKENLIFE_KEY_FILE",
    "TOKENLIFE_KEY_ID",
    "TOKENLIFE_ALG",
    "TOKENLIFE_SESSION_REFRESHES_PER_MINUTE",
];

/// A running server process and a client for it.
pub struct Instance {
    pub name: &'static str,
    pub http: Http,
    process: Process,
}

/// A child process, killed when dropped (also when a test panics), and
/// what it wrote.
pub struct Process {
    name: &'static str,
    child: Mutex<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    /// Starts the server on a port chosen by the OS, on `store`, signing
    /// with `key` (hex), with a grace window of `grace_secs`; returns once
    /// it listens.
    pub fn start(name: &'static str, store: &str, key: &str, grace_secs: u64) -> Self {
        Self::start_with(name, store, key, grace_secs, &[])
    }

    /// [`start`](Instance::start) with more arguments (e.g. `--alg eddsa`).
    pub fn start_with(
        name: &'static str,
        store: &str,
        key: &str,
        grace_secs: u64,
        more: &[&str],
    ) -> Self {
        let mut command = Command::new(server_binary());
        for var in FLAG_VARIABLES {
            command.env_remove(var);
        }
        command
            .args(["--port", "0", "--access-ttl-secs", "300", "--store", store])
            .args(["--reuse-grace-secs", &grace_secs.to_string()])
            // The races and the looping client refresh one session far
            // faster than a real client would.
            .args(["--session-refreshes-per-minute", "100000"])
            .args(more)
            .env("TOKENLIFE_KEY", key)
            .env("TOKENLIFE_DEMO_PASSWORD", super::DEMO_PASSWORD);
        Self::spawn(name, command)
    }

    /// The resource server (`src/bin/resource.rs`) verifying with the JWKS
    /// at `jwks_url`, on a port chosen by the OS; returns once it listens.
    pub fn start_resource(name: &'static str, jwks_url: &str, refetch_secs: u64) -> Self {
        let mut command = Command::new(Path::new(env!("CARGO_BIN_EXE_resource")));
        command
            .args(["--port", "0", "--jwks-url", jwks_url])
            .args(["--refetch-secs", &refetch_secs.to_string()]);
        Self::spawn(name, command)
    }

    /// Starts `command`, keeps its output, and waits for its
    /// `listening on http://…` line.
    fn spawn(name: &'static str, mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", command.get_program()));
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

    /// What the process wrote so far, stdout and stderr, line by line.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// Panics, with the log, when the process has exited.
    pub fn assert_running(&self) {
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
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn log_text(&self) -> String {
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

pub fn push(log: &Mutex<Vec<String>>, line: String) {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(line);
}

pub fn drain(pipe: impl Read, log: &Mutex<Vec<String>>) {
    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
        push(log, line);
    }
}

/// The server binary, which cargo builds for this package's tests.
pub fn server_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_server"))
}

/// A fresh 32-byte signing secret, hex-encoded.
pub fn random_key() -> String {
    let mut secret = [0u8; 32];
    OsRandom.fill(&mut secret).unwrap();
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
