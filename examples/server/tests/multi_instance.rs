//! Several processes of the HTTP server (`examples/server.rs`) sharing one
//! session store and one signing key, driven over real HTTP on loopback
//! ports: a session started on one instance is refreshed on another, a
//! race of refreshes spread across the instances has exactly one winner
//! (grace 0) or hands every caller the same successor (grace > 0), and a
//! logout on one instance is seen by `verify_live` on the other at once.
//! An instance signing with EdDSA publishes its public key, and a verifier
//! that holds nothing but that JWKS (in this process, and as a process of
//! its own: the `resource` binary) accepts its tokens and no others. The
//! authority's security events reach the log (stderr) through `tracing`.
//!
//! It runs on a SQLite file always. The PostgreSQL tests are ignored
//! unless asked for (`--include-ignored`), and then need `TOKENLIFE_PG_URL`
//! (they fail without it): one shares a database, the other also stops the
//! server mid-run (with `TOKENLIFE_PG_CTL`, a `pg_ctl` for it) and checks
//! that the instances answer 503, not 500, and carry on afterwards with no
//! session lost or duplicated.
//!
//! The server is this package's binary, which cargo builds for its tests.
//! Every child process is killed when its guard drops, also when a test
//! panics.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::json;
use tokenlife::{
    Algorithm, Authority, Clock, Error, Keyring, MemoryStore, Policy, SystemClock, Verifier,
};

use common::http::{Http, Reply};
use common::postgres::{Outage, Schema, pg_lock, pg_url};
use common::process::{Instance, env, random_key};

const EMAIL: &str = "admin@example.com";
const DEFAULT_KEY_ID: &str = tokenlife_example_server::config::DEFAULT_KEY_ID;
const PASSWORD: &str = common::DEMO_PASSWORD;
/// Concurrent refreshes of one token, spread over the instances.
const RACERS: usize = 12;
/// Races per grace setting.
const ROUNDS: usize = 3;
/// The longest the instances may take to answer again once PostgreSQL is back.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// The revocation lag of instances on a feed (PostgreSQL, Redis): the policy's default
/// `max_revocation_lag`.
const FEED_LAG: Duration = Duration::from_secs(1);
/// The time one request to `/users/me` may take, on top of a lag.
const REQUEST_SLACK: Duration = Duration::from_millis(500);
/// The most requests the looping client of the outage test sends.
const CHAIN_LIMIT: usize = 5_000;

// ---------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_holding_only_the_served_jwks_accepts_the_servers_tokens_and_no_others() {
    let key = random_key();
    let issuer = Instance::start_with("eddsa", "memory", &key, 10, &["--alg", "eddsa"]);

    // The resource server's whole configuration: the issuer's JWKS.
    let jwks = issuer
        .http
        .send(Method::GET, "/.well-known/jwks.json", &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(jwks.status, StatusCode::OK, "{jwks:?}");
    assert_eq!(
        jwks.headers["content-type"].to_str().unwrap(),
        "application/jwk-set+json"
    );
    assert_eq!(jwks.body["keys"][0]["alg"], "EdDSA");
    let verifier = Verifier::from_jwks(&jwks.body.to_string(), Policy::default()).unwrap();

    let pair = login(&issuer).await;
    let claims = verifier
        .verify::<serde_json::Value>(&pair.access, SystemClock.now())
        .unwrap();
    let own = me(&issuer, &pair.access).await.unwrap();
    assert_eq!(Some(claims.sub.as_str()), own.data("id"));

    // Another key under the same key id, and the issuer's own master
    // secret used for HS256 (algorithm confusion), are both refused.
    let secret = tokenlife_example_server::config::decode_secret(&key).unwrap();
    let other_secret = tokenlife_example_server::config::decode_secret(&random_key()).unwrap();
    for (keys, refusal) in [
        (
            Keyring::with_algorithm(Algorithm::EdDSA, DEFAULT_KEY_ID, &other_secret),
            "another EdDSA key",
        ),
        (
            Keyring::with_algorithm(Algorithm::HS256, DEFAULT_KEY_ID, &secret),
            "HS256 with the issuer's secret",
        ),
    ] {
        let other = Authority::new(keys.unwrap(), Policy::default(), MemoryStore::new());
        let forged = other.login(&claims.sub, &()).await.unwrap();
        let r = verifier.verify::<serde_json::Value>(&forged.access_token, SystemClock.now());
        assert!(
            matches!(r, Err(Error::BadSignature | Error::UnsupportedAlgorithm)),
            "{refusal}: {r:?}"
        );
        let answer = me(&issuer, &forged.access_token).await.unwrap();
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{refusal}");
    }
    issuer.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_server_process_holding_only_the_jwks_accepts_the_issuers_tokens_and_no_others()
{
    let key = random_key();
    let issuer = Instance::start_with("issuer", "memory", &key, 10, &["--alg", "eddsa"]);
    // Given nothing but the URL of the issuer's JWKS: no key, no secret.
    let resource =
        Instance::start_resource("resource", &issuer.http.url("/.well-known/jwks.json"), 10);

    let pair = login(&issuer).await;
    let own = me(&issuer, &pair.access).await.unwrap();
    let seen = resource
        .http
        .get_bearer("/whoami", &pair.access)
        .await
        .unwrap();
    assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    assert_eq!(seen.data("sub"), own.data("id"), "{seen:?}");

    // Forged: another EdDSA key under the issuer's key id, the issuer's
    // own master secret used for HS256 (algorithm confusion), a key id
    // the JWKS does not have, and no token at all.
    let secret = tokenlife_example_server::config::decode_secret(&key).unwrap();
    let other_secret = tokenlife_example_server::config::decode_secret(&random_key()).unwrap();
    let sub = own.data("id").unwrap().to_owned();
    for (keys, refusal) in [
        (
            Keyring::with_algorithm(Algorithm::EdDSA, DEFAULT_KEY_ID, &other_secret),
            "another EdDSA key",
        ),
        (
            Keyring::with_algorithm(Algorithm::HS256, DEFAULT_KEY_ID, &secret),
            "HS256 with the issuer's secret",
        ),
        (
            Keyring::with_algorithm(Algorithm::EdDSA, "not-published", &secret),
            "a key id the JWKS does not have",
        ),
    ] {
        let other = Authority::new(keys.unwrap(), Policy::default(), MemoryStore::new());
        let forged = other.login(&sub, &()).await.unwrap();
        let answer = resource
            .http
            .get_bearer("/whoami", &forged.access_token)
            .await
            .unwrap();
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")),
            "{refusal}: {answer:?}"
        );
        assert!(
            answer.headers.contains_key("www-authenticate"),
            "{refusal}: {answer:?}"
        );
    }
    let bare = resource
        .http
        .send(Method::GET, "/whoami", &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED, "{bare:?}");
    // The issuer's real token still passes after the refusals.
    let again = resource
        .http
        .get_bearer("/whoami", &pair.access)
        .await
        .unwrap();
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    resource.assert_running();
    issuer.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_logs_a_reuse_as_a_warning_naming_the_user_and_no_token() {
    // Grace 0: the spent token is reuse at once.
    let server = Instance::start("logs", "memory", &random_key(), 0);
    let first = login(&server).await;
    let second = refresh(&server, &first.refresh)
        .await
        .expect_ok("the first refresh");
    let user = me(&server, &second.access).await.unwrap();
    let id = user.data("id").unwrap().to_owned();
    let reuse = refresh(&server, &first.refresh).await.unwrap();
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);

    let deadline = Instant::now() + Duration::from_secs(10);
    let warning = loop {
        let log = server.log_text();
        if let Some(line) = log.lines().find(|l| l.contains("reuse_detected")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no reuse warning in:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(&format!("subject=\"{id}\"")), "{warning}");
    let user = me(&server, &second.access).await.unwrap();
    assert_eq!(
        user.status,
        StatusCode::UNAUTHORIZED,
        "the session is revoked"
    );
    let log = server.log_text();
    assert!(log.contains("INFO tokenlife: logged_in"), "{log}");
    for token in [
        &first.access,
        &first.refresh,
        &second.access,
        &second.refresh,
    ] {
        assert!(!log.contains(token.as_str()), "a token in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_shared_by_instances() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("sessions.db").display());
    instances_share_sessions(&store, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
async fn postgres_database_shared_by_instances() {
    let url = pg_url();
    let _serial = pg_lock().await;
    let schema = Schema::create(&url).await;
    // verify_fresh on the feed: within the policy's max_revocation_lag.
    instances_share_sessions(&format!("postgres:{}", schema.url), FEED_LAG).await;
    schema.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
async fn redis_server_shared_by_instances() {
    let url = env("TOKENLIFE_REDIS_URL").unwrap_or_else(|| {
        panic!(
            "TOKENLIFE_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/): this test needs \
             Redis; run ./scripts/test.sh, or set it"
        )
    });
    // Session ids are random, so instances of other runs on the same
    // server never meet this run's sessions. verify_fresh on the pub/sub
    // feed: within the policy's max_revocation_lag.
    instances_share_sessions(&url, FEED_LAG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TOKENLIFE_PG_URL, or run ./scripts/test.sh"]
async fn postgres_outage_answers_503_and_loses_nothing() {
    let url = pg_url();
    let pg_ctl = env("TOKENLIFE_PG_CTL").unwrap_or_else(|| {
        panic!(
            "TOKENLIFE_PG_CTL (a pg_ctl that stops and starts the server of \
             TOKENLIFE_PG_URL) is not set: run ./scripts/test.sh, or set it"
        )
    });
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

    let outage = Outage::begin(&pg_ctl);
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
    refused_within(&b, &second.access, Instant::now(), FEED_LAG).await;
    // The looping client got through the outage with its session intact.
    tokio::time::sleep(Duration::from_millis(500)).await;
    done.store(true, Ordering::Relaxed);
    let (token, ok, unavailable) = chain.await.unwrap();
    eprintln!("the looping client: {ok} refreshes, {unavailable} refused with 503");
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
    schema.remove().await;
}

// ---------------------------------------------------------------------------
// The scenario, on any shared store

/// `lag`: how long after a revocation on one instance the other may still
/// accept the session's access token (zero: not at all).
async fn instances_share_sessions(store: &str, lag: Duration) {
    let key = random_key();
    let strict = [
        Instance::start("a", store, &key, 0),
        Instance::start("b", store, &key, 0),
    ];
    let [a, b] = &strict;
    if !lag.is_zero() {
        for instance in &strict {
            let log = instance.log_text();
            assert!(log.contains("revocations: the store's feed"), "{log}");
        }
    }

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
    assert_eq!(reused.code(), Some("INVALID_CREDENTIALS"), "{reused:?}");
    refused_within(b, &next.access, Instant::now(), lag).await;

    // Grace 0: of concurrent refreshes of one token, exactly one wins.
    for round in 0..ROUNDS {
        let pair = login(&strict[round % 2]).await;
        let replies = race(&strict, &pair.refresh).await;
        let winners: Vec<&str> = replies
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .filter_map(|r| r.data("refresh_token"))
            .collect();
        // Two winners holding the same successor took the grace path in a
        // window of 0 s: a request whose clock reading precedes the
        // winner's `rotated_at` (read before the store, or on another
        // instance) passes `now < rotated_at + grace`.
        assert_eq!(
            winners.len(),
            1,
            "round {round}: grace 0 but {} winners, {} distinct successors: {:?}",
            winners.len(),
            winners
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            replies
                .iter()
                .map(|r| r.status.as_u16())
                .collect::<Vec<_>>()
        );
        for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS")),
                "round {round}"
            );
        }
    }

    // A logout on one instance is seen by the other at once (verify_live),
    // or within the feed's lag (verify_fresh).
    let pair = login(b).await;
    let seen = me(a, &pair.access).await.unwrap();
    assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    let out = logout(a, &pair.refresh).await.unwrap();
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{out:?}");
    refused_within(b, &pair.access, Instant::now(), lag).await;
    let after = refresh(b, &pair.refresh).await.unwrap();
    assert_eq!(after.code(), Some("INVALID_CREDENTIALS"), "{after:?}");

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

/// Polls `GET /users/me` with `access` until it is refused with
/// `INVALID_TOKEN`, which must happen within `lag` of `since`: with a zero
/// lag at the first request; before that, only 200 is acceptable.
async fn refused_within(instance: &Instance, access: &str, since: Instant, lag: Duration) {
    loop {
        let reply = me(instance, access).await.unwrap();
        if reply.status == StatusCode::UNAUTHORIZED && reply.code() == Some("INVALID_TOKEN") {
            return;
        }
        assert!(
            !lag.is_zero() && reply.status == StatusCode::OK,
            "{}: a revoked session's token: {reply:?}",
            instance.name
        );
        assert!(
            since.elapsed() <= lag + REQUEST_SLACK,
            "{} still accepts a revoked session's token {:?} later",
            instance.name,
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
