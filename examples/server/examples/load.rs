//! A bounded load test of the example server, end to end over loopback
//! HTTP/1.1: requests per second and p50/p99 latency of
//!
//! - `GET /users/me` checked statelessly (`Claims`, i.e. `Authority::verify`),
//! - `GET /users/me` checked live (`LiveClaims`, `verify_live`: one store read),
//! - `POST /auth/refresh` (each client rotating its own session's chain),
//! - `POST /auth/login` with argon2id at its default cost (reported, not
//!   optimised: argon2 is meant to be slow).
//!
//! ```sh
//! cargo run --release -p tokenlife-example-server --example load
//! cargo run --release -p tokenlife-example-server --example load -- --store postgres:postgres://user@127.0.0.1/db
//! ```
//!
//! Options: `--store memory|postgres:URL` (default memory), `--clients N`
//! (concurrent connections, default 16), `--requests N` per scenario
//! (default 20000; login gets a tenth of it, at most 400), `--seconds N`
//! (each scenario stops at this bound even if requests remain, default 20).
//!
//! The server is the example server's own router (`tokenlife_example_server
//! ::router`), plus one route for the stateless check, served in this
//! process on its own two-thread runtime on a port of 127.0.0.1 chosen by
//! the OS; the clients run on a second runtime. Both share the machine's
//! cores, as a load generator on the same host always does: the figures
//! are for comparing the scenarios with each other on one machine, not a
//! capacity claim. It is not part of CI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::Params;
use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokenlife::{Authority, Keyring, MemoryStore, Policy, SessionStore};
use tokenlife_axum::{Auth, Claims, Limit};
use tokenlife_example_server::{Role, Users, router, serve};
use tokenlife_postgres::PostgresStore;

const EMAIL: &str = "load@example.com";
const PASSWORD: &str = "a load-test password";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A bounded load test of the example server on loopback.
#[derive(clap::Parser)]
#[command(name = "load")]
struct Options {
    /// Where sessions live: memory or postgres:URL.
    #[arg(long, default_value = "memory")]
    store: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16, value_parser = positive())]
    clients: usize,
    /// Requests per scenario, at most.
    #[arg(long, default_value_t = 20_000, value_parser = positive())]
    requests: usize,
    /// Seconds per scenario, at most.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
}

fn positive() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

fn main() -> Result<(), BoxError> {
    let o: Options = clap::Parser::parse();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let addr = match o.store.as_str() {
        "memory" => server_rt.block_on(start(MemoryStore::new()))?,
        choice if choice.starts_with("postgres:") => {
            let url = &choice["postgres:".len()..];
            let store = server_rt.block_on(PostgresStore::connect(url))?;
            server_rt.block_on(start(store))?
        }
        other => return Err(format!("--store {other}: memory or postgres:URL").into()),
    };
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    client_rt.block_on(run(addr, &o))
}

/// The example server's router plus `GET /users/me/stateless`, on a
/// loopback port; per-session refresh limits lifted (every client here
/// rotates its one session as fast as it can).
async fn start<S: SessionStore + 'static>(store: S) -> Result<SocketAddr, BoxError> {
    let keys = Keyring::new("load", b"a load-test secret of thirty-two bytes")?;
    let authority = Authority::new(keys, Policy::default(), store);
    let auth = Auth::new(authority);
    let mut users = Users::new(Params::DEFAULT)?;
    users.add(EMAIL, PASSWORD, ("Load", "Test"), "user")?;
    // A budget of a million refreshes per session: no client here reaches it.
    let unlimited = Some(
        Limit::new(1_000_000, Duration::from_secs(60)).ok_or("a million per minute is a limit")?,
    );
    let stateless = Router::new()
        .route(
            "/users/me/stateless",
            get(|Claims(claims): Claims<Role>| async move {
                axum::Json(serde_json::json!({
                    "data": { "id": claims.sub, "role": claims.extra.role }
                }))
            }),
        )
        .with_state(auth.clone());
    let app = router(auth, users, unlimited).merge(stateless);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, app));
    Ok(addr)
}

struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    /// One request; the status and the JSON body (`Null` when empty).
    async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, serde_json::Value), BoxError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let response = self.client.request(request.body(Full::new(body))?).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((status, json))
    }

    async fn login(&self) -> Result<(String, String), BoxError> {
        let body = serde_json::json!({ "email": EMAIL, "password": PASSWORD });
        let (status, json) = self
            .send(Method::POST, "/auth/login", None, Some(body))
            .await?;
        pair(status, &json)
    }
}

/// The access and refresh tokens of a 200 answer.
fn pair(status: StatusCode, json: &serde_json::Value) -> Result<(String, String), BoxError> {
    let field = |name: &str| json["data"][name].as_str().map(str::to_owned);
    match (status, field("access_token"), field("refresh_token")) {
        (StatusCode::OK, Some(access), Some(refresh)) => Ok((access, refresh)),
        _ => Err(format!("login or refresh answered {status}: {json}").into()),
    }
}

/// What a scenario measured.
struct Outcome {
    name: &'static str,
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

async fn run(addr: SocketAddr, o: &Options) -> Result<(), BoxError> {
    let http = Arc::new(Http {
        client: Client::builder(TokioExecutor::new()).build_http(),
        base: format!("http://{addr}"),
    });
    let bound = Duration::from_secs(o.seconds);
    let (access, _) = http.login().await?;
    let access: Arc<str> = access.into();

    let mut outcomes = Vec::new();
    for (name, path) in [
        ("GET /users/me, verify", "/users/me/stateless"),
        ("GET /users/me, verify_live", "/users/me"),
    ] {
        let access = Arc::clone(&access);
        let one = move |http: Arc<Http>, _: ()| {
            let access = Arc::clone(&access);
            async move {
                let (status, _) = http.send(Method::GET, path, Some(&access), None).await?;
                Ok(((), status == StatusCode::OK))
            }
        };
        let starts = vec![(); o.clients];
        outcomes.push(scenario(name, &http, starts, o.requests, bound, one).await?);
    }

    // Each client rotates its own session: login once, then refresh with
    // the token the last refresh returned.
    let mut chains = Vec::new();
    for _ in 0..o.clients {
        chains.push(http.login().await?.1);
    }
    let refresh = |http: Arc<Http>, token: String| async move {
        let body = serde_json::json!({ "refresh_token": token, "mode": "json" });
        let (status, json) = http
            .send(Method::POST, "/auth/refresh", None, Some(body))
            .await?;
        let (_, next) = pair(status, &json)?;
        Ok((next, true))
    };
    outcomes.push(
        scenario(
            "POST /auth/refresh",
            &http,
            chains,
            o.requests,
            bound,
            refresh,
        )
        .await?,
    );

    let logins = (o.requests / 10).clamp(1, 400);
    let login = |http: Arc<Http>, _: ()| async move {
        let body = serde_json::json!({ "email": EMAIL, "password": PASSWORD });
        let (status, _) = http
            .send(Method::POST, "/auth/login", None, Some(body))
            .await?;
        Ok(((), status == StatusCode::OK))
    };
    let starts = vec![(); o.clients.min(4)];
    outcomes.push(
        scenario(
            "POST /auth/login (argon2id default)",
            &http,
            starts,
            logins,
            bound,
            login,
        )
        .await?,
    );

    println!(
        "store {}, {} clients (login: {}), keep-alive HTTP/1.1 on {addr}",
        tokenlife_example_server::config::redact(&o.store),
        o.clients,
        o.clients.min(4)
    );
    println!();
    println!(
        "{:<38} {:>9} {:>8} {:>10} {:>10} {:>10}",
        "scenario", "requests", "failed", "req/s", "p50", "p99"
    );
    for mut out in outcomes {
        out.latencies_us.sort_unstable();
        let at = |q: f64| {
            let n = out.latencies_us.len();
            let i = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
            format!("{:.2} ms", f64::from(out.latencies_us[i]) / 1000.0)
        };
        println!(
            "{:<38} {:>9} {:>8} {:>10.0} {:>10} {:>10}",
            out.name,
            out.ok + out.failed,
            out.failed,
            (out.ok + out.failed) as f64 / out.elapsed.as_secs_f64(),
            at(0.50),
            at(0.99),
        );
    }
    Ok(())
}

/// Runs `one` from each of `starts` (one concurrent client each, carrying
/// its state from request to request) until `requests` have been sent in
/// all or `bound` has passed. A transport error or an unexpected answer to
/// a refresh ends that client and the run reports it.
async fn scenario<T, F, Fut>(
    name: &'static str,
    http: &Arc<Http>,
    starts: Vec<T>,
    requests: usize,
    bound: Duration,
    one: F,
) -> Result<Outcome, BoxError>
where
    T: Send + 'static,
    F: Fn(Arc<Http>, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(T, bool), BoxError>> + Send,
{
    let issued = Arc::new(AtomicUsize::new(0));
    let begun = Instant::now();
    let deadline = begun + bound;
    let mut tasks = Vec::new();
    for state in starts {
        let (http, issued, one) = (Arc::clone(http), Arc::clone(&issued), one.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut latencies) = (0, 0, Vec::new());
            let mut state = state;
            while issued.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
                let sent = Instant::now();
                let (next, good) = one(Arc::clone(&http), state).await?;
                latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                if good {
                    ok += 1
                } else {
                    failed += 1
                }
                state = next;
            }
            Ok::<_, BoxError>((ok, failed, latencies))
        }));
    }
    let mut out = Outcome {
        name,
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let (ok, failed, latencies) = task.await??;
        out.ok += ok;
        out.failed += failed;
        out.latencies_us.extend(latencies);
    }
    out.elapsed = begun.elapsed();
    if out.latencies_us.is_empty() {
        return Err(format!("{name}: no request completed").into());
    }
    Ok(out)
}
