//! The server processes: started from the example's binary on a loopback
//! port chosen by the OS, killed when their guard drops (also when a test
//! panics), their output kept to show when a test fails.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use tokenlife::{OsRandom, RandomSource};

use crate::http::Http;

/// The longest an instance may take to start (argon2 hashing in a debug
/// build, on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

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
            .env("TOKENLIFE_DEMO_PASSWORD", crate::PASSWORD)
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

/// The server example's binary: `TOKENLIFE_SERVER_BIN`, or else built by
/// cargo with this test's profile and features (a no-op when it is fresh).
pub fn server_binary() -> &'static Path {
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
pub fn random_key() -> String {
    let mut secret = [0u8; 32];
    OsRandom.fill(&mut secret).unwrap();
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
