//! `refresh` and `verify_live` on Redis (`TOKENLIFE_REDIS_URL`), beside
//! PostgreSQL (`TOKENLIFE_PG_URL`) and `MemoryStore`, in one run: time per
//! call and throughput with 1 and with 8 concurrent clients.
//!
//! ```sh
//! TOKENLIFE_REDIS_URL=redis://127.0.0.1:6379 \
//! TOKENLIFE_PG_URL=postgres://postgres@127.0.0.1:5432/tokenlife_bench \
//!     cargo bench -p tokenlife-redis --bench redis
//! ```
//!
//! Each client is a tokio task on a two-worker multi-thread runtime (the
//! stores run on that runtime, as in a server), with a session of its own,
//! calling in a closed loop. With one client the reported time is the
//! latency of one call; with eight it is the wall time per call of the
//! eight together (1 / throughput). `refresh` is a read and a
//! compare-and-swap (two round trips: `HGET`, then the script's `EVALSHA`;
//! on PostgreSQL a `SELECT` and an `UPDATE`), `verify_live` one read. A
//! store whose variable is unset is not measured, and says so. Under
//! `cargo test` each case runs once, as a smoke check.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use tokenlife::{Authority, Keyring, MemoryStore, OsRandom, Policy, SessionStore, SystemClock};
use tokenlife_postgres::PostgresStore;
use tokenlife_redis::{Options, RedisStore};
use tokio::runtime::Runtime;

const CLIENTS: [usize; 2] = [1, 8];

/// The key prefix of the benchmark's sessions in Redis, removed at the end.
const PREFIX: &str = "tokenlife-bench";

/// The PostgreSQL schema the benchmark's table lives in, dropped at the end.
const SCHEMA: &str = "tokenlife_bench_redis";

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");

    bench_store(&mut c, &runtime, "memory", MemoryStore::new());
    match var("TOKENLIFE_REDIS_URL") {
        Some(url) => {
            let options = Options::default().with_prefix(PREFIX).expect("a prefix");
            let store = runtime
                .block_on(RedisStore::connect_with(&url, options))
                .expect("connecting to TOKENLIFE_REDIS_URL");
            let pattern = store.key_pattern();
            remove_keys(&url, &pattern);
            bench_store(&mut c, &runtime, "redis", store);
            remove_keys(&url, &pattern);
        }
        None => skipped("Redis", "TOKENLIFE_REDIS_URL"),
    }
    match var("TOKENLIFE_PG_URL") {
        Some(url) => {
            // A schema of the benchmark's own: the database's own tables
            // are not touched.
            admin(
                &runtime,
                &url,
                &format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}"),
            );
            let separator = if url.contains('?') { '&' } else { '?' };
            let in_schema = format!("{url}{separator}options=-c%20search_path%3D{SCHEMA}");
            let store = runtime
                .block_on(PostgresStore::connect(&in_schema))
                .expect("connecting to TOKENLIFE_PG_URL");
            bench_store(&mut c, &runtime, "postgres", store);
            admin(&runtime, &url, &format!("DROP SCHEMA {SCHEMA} CASCADE"));
        }
        None => skipped("PostgreSQL", "TOKENLIFE_PG_URL"),
    }
    c.final_summary();
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn skipped(what: &str, var: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED the {what} benchmarks: {var} is not set (a local server's URL)"
    );
}

type Auth<S> = Authority<S, SystemClock, OsRandom>;

fn bench_store<S: SessionStore + 'static>(
    c: &mut Criterion,
    runtime: &Runtime,
    name: &str,
    store: S,
) {
    let keys = Keyring::new("bench", b"a benchmark secret of at least 32 bytes").expect("keys");
    let auth = Arc::new(Authority::new(keys, Policy::default(), store));
    // One session per client.
    let pairs: Vec<_> = (0..CLIENTS[1])
        .map(|n| {
            runtime
                .block_on(auth.login(&format!("bench-{n}"), &()))
                .expect("login")
        })
        .collect();

    let mut group = c.benchmark_group("refresh");
    group.throughput(Throughput::Elements(1));
    let tokens: Arc<Vec<Mutex<String>>> = Arc::new(
        pairs
            .iter()
            .map(|p| Mutex::new(p.refresh_token.clone()))
            .collect(),
    );
    for clients in CLIENTS {
        group.bench_function(BenchmarkId::new(name, format!("{clients} clients")), |b| {
            b.iter_custom(|iters| {
                closed_loop(runtime, &auth, clients, iters, {
                    let tokens = Arc::clone(&tokens);
                    move |auth: Arc<Auth<S>>, client: usize, calls: u64| {
                        let tokens = Arc::clone(&tokens);
                        async move {
                            let mut token = tokens[client].lock().expect("token").clone();
                            for _ in 0..calls {
                                token = auth.refresh(&token).await.expect("refresh").refresh_token;
                            }
                            *tokens[client].lock().expect("token") = token;
                        }
                    }
                })
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("verify_live");
    group.throughput(Throughput::Elements(1));
    // The access tokens of the latest refresh are the live ones.
    let access: Arc<Vec<String>> = Arc::new(
        tokens
            .iter()
            .map(|t| {
                let token = t.lock().expect("token").clone();
                let next = runtime.block_on(auth.refresh(&token)).expect("refresh");
                *t.lock().expect("token") = next.refresh_token;
                next.access_token
            })
            .collect(),
    );
    for clients in CLIENTS {
        group.bench_function(BenchmarkId::new(name, format!("{clients} clients")), |b| {
            b.iter_custom(|iters| {
                closed_loop(runtime, &auth, clients, iters, {
                    let access = Arc::clone(&access);
                    move |auth: Arc<Auth<S>>, client: usize, calls: u64| {
                        let access = Arc::clone(&access);
                        async move {
                            for _ in 0..calls {
                                auth.verify_live::<()>(&access[client])
                                    .await
                                    .expect("verify_live");
                            }
                        }
                    }
                })
            });
        });
    }
    group.finish();
}

/// Runs `iters` calls split over `clients` concurrent tasks, each calling
/// `work(auth, client, calls)`, and returns the wall time they took.
fn closed_loop<S, W, F>(
    runtime: &Runtime,
    auth: &Arc<Auth<S>>,
    clients: usize,
    iters: u64,
    work: W,
) -> Duration
where
    S: SessionStore + 'static,
    W: Fn(Arc<Auth<S>>, usize, u64) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let n = clients as u64;
    let tasks: Vec<F> = (0..clients)
        .map(|client| {
            let calls = iters / n + u64::from((client as u64) < iters % n);
            work(Arc::clone(auth), client, calls)
        })
        .collect();
    runtime.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = tasks.into_iter().map(|t| tokio::spawn(t)).collect();
        for handle in handles {
            handle.await.expect("a client task panicked");
        }
        started.elapsed()
    })
}

/// Deletes every key matching `pattern` (the benchmark's own).
fn remove_keys(url: &str, pattern: &str) {
    let mut admin = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connecting to TOKENLIFE_REDIS_URL");
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg(pattern)
        .query(&mut admin)
        .expect("KEYS");
    for key in keys {
        let _: () = redis::cmd("DEL").arg(key).query(&mut admin).expect("DEL");
    }
}

/// Runs `sql` on `url` over a connection of its own.
fn admin(runtime: &Runtime, url: &str, sql: &str) {
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connecting to TOKENLIFE_PG_URL");
        let connection = tokio::spawn(connection);
        client.batch_execute(sql).await.expect(sql);
        drop(client);
        let _ = connection.await;
    });
}
