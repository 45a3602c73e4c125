//! Criterion benches of each operation, with the peers beside them.
//!
//! `cargo bench --bench lifecycle`; for the one-run comparison with ratios
//! and targets, see `benches/compare.rs`.

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pollster::block_on;
use support::*;
use tokenlife::AccessClaims;

/// Short runs: the machine is shared, and `compare` is the precise report.
fn short<M: criterion::measurement::Measurement>(g: &mut criterion::BenchmarkGroup<'_, M>) {
    g.measurement_time(Duration::from_millis(800))
        .warm_up_time(Duration::from_millis(200))
        .sample_size(20);
}

fn per_request(c: &mut Criterion) {
    let (auth, pairs) = populated(1_000);
    let token = pairs[0].access_token.clone();
    let secret = access_secret(&auth);
    let peer = Peer::new(&secret);
    let floor = Floor::new(&secret);
    let claims: AccessClaims<Role> = auth.verify(&token).expect("verify");
    let input = signing_input(&token).to_owned();
    let mut g = c.benchmark_group("per_request");
    short(&mut g);
    g.bench_function("verify", |b| {
        b.iter(|| auth.verify::<Role>(black_box(&token)).expect("verify"))
    });
    g.bench_function("verify_live", |b| {
        b.iter(|| block_on(auth.verify_live::<Role>(black_box(&token))).expect("live"))
    });
    g.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| peer.decode(black_box(&token)))
    });
    g.bench_function("hmac_floor", |b| {
        b.iter(|| floor.mac(black_box(input.as_bytes())))
    });
    let peer_claims = jwt_claims(&claims);
    g.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| peer.encode(black_box(&peer_claims)))
    });
    g.finish();
}

fn lifecycle_at(c: &mut Criterion, n: u64, label: &str) {
    // Built once per group: a million logins take a few seconds.
    let (auth, pairs) = populated(n);
    let mut refresher = Refresher::new(&pairs);
    drop(pairs);
    let role = role();
    let mut g = c.benchmark_group(format!("sessions_{label}"));
    short(&mut g);
    let mut i = 0u64;
    g.bench_function("login", |b| {
        b.iter_batched(
            || {
                i += 1;
                subject(1 << 40 | i)
            },
            |s| block_on(auth.login(&s, &role)).expect("login"),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("refresh", |b| b.iter(|| block_on(refresher.refresh(&auth))));
    let mut j = 0u64;
    g.bench_function("logout", |b| {
        b.iter_batched(
            || {
                j += 1;
                block_on(auth.login(&subject(2 << 40 | j), &role)).expect("login")
            },
            |pair| block_on(auth.logout(&pair.refresh_token)).expect("logout"),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn sessions_1k(c: &mut Criterion) {
    lifecycle_at(c, 1_000, "1k");
}

fn sessions_1m(c: &mut Criterion) {
    lifecycle_at(c, 1_000_000, "1M");
}

fn login_os_random(c: &mut Criterion) {
    let auth = os_authority();
    let role = role();
    let mut i = 0u64;
    let mut g = c.benchmark_group("os_random");
    short(&mut g);
    g.bench_function("login", |b| {
        b.iter_batched(
            || {
                i += 1;
                subject(i)
            },
            |s| block_on(auth.login(&s, &role)).expect("login"),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    per_request,
    sessions_1k,
    sessions_1m,
    login_os_random
);
criterion_main!(benches);
