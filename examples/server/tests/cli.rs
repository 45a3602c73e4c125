//! The server binary's flags and environment variables, as a user meets
//! them: every variable named in `--help`, a flag winning over its
//! variable, and a clear error (naming no secret) for a wrong one. The
//! flags alone are unit-tested in `src/config.rs`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::{FLAG_VARIABLES, server_binary};

/// The server binary with none of its variables inherited from this process.
fn server() -> Command {
    let mut command = Command::new(server_binary());
    for var in FLAG_VARIABLES
        .iter()
        .chain(&["TOKENLIFE_KEY", "TOKENLIFE_DEMO_PASSWORD"])
    {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("running the server binary")
}

#[test]
fn help_names_every_flag_and_variable() {
    let out = run(server().arg("--help"));
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    for var in FLAG_VARIABLES
        .iter()
        .chain(&["TOKENLIFE_KEY", "TOKENLIFE_DEMO_PASSWORD"])
    {
        assert!(help.contains(var), "{var} missing from:\n{help}");
    }
    for flag in [
        "--port",
        "--store",
        "--key-file",
        "--alg",
        "--reuse-grace-secs",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn a_wrong_variable_is_refused_by_name_without_echoing_a_password() {
    for (var, value, says) in [
        ("TOKENLIFE_ALG", "HS512", "HS512"),
        ("TOKENLIFE_PORT", "http", "--port"),
        ("TOKENLIFE_ACCESS_TTL_SECS", "0", "at least 1 s"),
        (
            "TOKENLIFE_STORE",
            "postgre://app:hunter2@db/auth",
            "postgre://app:***@db/auth",
        ),
    ] {
        let out = run(server().env(var, value));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value} was accepted");
        assert!(stderr.contains(says), "{var}={value}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    // Two sources of the signing key: refused, not one silently chosen.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, "00".repeat(32)).unwrap();
    let secret = "ab".repeat(32);
    let out = run(server()
        .args(["--port", "0"])
        .env("TOKENLIFE_KEY_FILE", &file)
        .env("TOKENLIFE_KEY", &secret));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not both"),
        "{stderr}"
    );
    assert!(!stderr.contains(&secret), "{stderr}");
}

#[test]
fn the_environment_configures_the_server_and_a_flag_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    // The variables alone, then the same with flags that override two of them.
    let env = [
        (
            "TOKENLIFE_STORE",
            format!("sqlite:{}", dir.path().join("env.db").display()),
        ),
        ("TOKENLIFE_ALG", "es256".to_owned()),
        ("TOKENLIFE_ACCESS_TTL_SECS", "42".to_owned()),
        ("TOKENLIFE_KEY_ID", "from-env".to_owned()),
    ];
    let from_env = startup(server().arg("--port=0").envs(env.clone()));
    assert!(from_env.contains("sessions: SQLite file"), "{from_env}");
    assert!(from_env.contains("signing key: ES256"), "{from_env}");
    assert!(from_env.contains("kid from-env"), "{from_env}");
    assert!(from_env.contains("access tokens live 42 s"), "{from_env}");

    let flags = startup(
        server()
            .args(["--port", "0", "--store", "memory", "--alg", "eddsa"])
            .envs(env),
    );
    assert!(flags.contains("sessions: in memory"), "{flags}");
    assert!(flags.contains("signing key: EdDSA"), "{flags}");
    assert!(flags.contains("access tokens live 42 s"), "{flags}");
}

/// The startup output of the server up to "listening on …"; the server is
/// then stopped.
fn startup(command: &mut Command) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the server binary");
    let stdout = child.stdout.take().unwrap();
    let (lines, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // argon2 hashing the demo password in a debug build, on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut output = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match got.recv_timeout(left) {
            Ok(line) => {
                output.push_str(&line);
                output.push('\n');
                if line.starts_with("listening on ") {
                    let _ = child.kill();
                    let _ = child.wait();
                    return output;
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    panic!("the server did not start: {:?}\n{output}", child.wait());
}
