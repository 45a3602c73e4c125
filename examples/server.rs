//! A Directus-compatible auth server on tokenlife: `POST /auth/login`,
//! `/auth/refresh`, `/auth/logout` and `GET /users/me`, in json and cookie
//! modes (see `server/app.rs` and the README's walkthrough).
//!
//! ```sh
//! cargo run --release --example server -- --access-ttl-secs 30
//! ```
//!
//! Options (flags win over the environment):
//! - `--port N` / `TOKENLIFE_PORT` (default 8055; 0 lets the OS choose);
//! - `--access-ttl-secs N` / `TOKENLIFE_ACCESS_TTL_SECS` (default 900);
//! - `TOKENLIFE_DEMO_PASSWORD`: the demo user's password (generated if unset).
//!
//! It listens on 127.0.0.1 only, keeps sessions in memory and draws a fresh
//! signing key at every start, so a restart logs everybody out.

#[path = "server/app.rs"]
mod app;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use argon2::Params;
use tokenlife::{Keyring, MemoryStore, OsRandom, Policy, RandomSource, SystemClock};

use app::{App, Users};

const DEMO_EMAIL: &str = "admin@example.com";
const USAGE: &str = "usage: server [--port N] [--access-ttl-secs N]
  env: TOKENLIFE_PORT, TOKENLIFE_ACCESS_TTL_SECS, TOKENLIFE_DEMO_PASSWORD";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    port: u16,
    access_ttl: Duration,
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(options) = options(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };

    let mut secret = [0u8; 32];
    OsRandom.fill(&mut secret)?;
    let keys = Keyring::new("server-1", &secret)?;
    let policy = Policy::default().with_access_ttl(options.access_ttl);

    let mut users = Users::new(Params::DEFAULT)?;
    let (password, shown) = match std::env::var("TOKENLIFE_DEMO_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, "(from TOKENLIFE_DEMO_PASSWORD)".to_owned()),
        _ => {
            let p = app::random_hex(12)?;
            (p.clone(), p)
        }
    };
    users.add(DEMO_EMAIL, &password, "Demo", "Admin", "administrator")?;

    let app = App::new(
        keys,
        policy,
        MemoryStore::new(),
        Arc::new(SystemClock),
        users,
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    println!("demo user: {DEMO_EMAIL}  password: {shown}");
    println!("access tokens live {} s", options.access_ttl.as_secs());

    let purger = Arc::clone(&app);
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            if let Err(e) = purger.authority().purge_expired().await {
                eprintln!("purge failed: {e}");
            }
        }
    });

    app::serve(listener, app).await?;
    Ok(())
}

/// The options from the environment and `args`; `None` for `--help`.
fn options(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut port = env_number("TOKENLIFE_PORT")?.unwrap_or(8055);
    let mut ttl = env_number("TOKENLIFE_ACCESS_TTL_SECS")?.unwrap_or(900);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = number(&arg, args.next())?,
            "--access-ttl-secs" => ttl = number(&arg, args.next())?,
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    let port = u16::try_from(port).map_err(|_| format!("port {port} is out of range"))?;
    if ttl == 0 {
        return Err("the access token lifetime must be at least 1 s".into());
    }
    Ok(Some(Options {
        port,
        access_ttl: Duration::from_secs(ttl),
    }))
}

fn env_number(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => number(name, Some(v)).map(Some),
        Err(_) => Ok(None),
    }
}

fn number(name: &str, value: Option<String>) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{name} needs a value"))?;
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: {value:?} is not a whole number"))
}
