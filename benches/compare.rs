//! `cargo bench --bench compare`: tokenlife against its peers, in one run.
//!
//! Every measured function runs in short batches, and the batches of all
//! functions alternate round after round (in a rotating order), so that the
//! drift of a shared, loaded machine hits them alike. Each ratio is the
//! median over rounds of the ratio *within* a round. The last line says
//! whether each target of the performance issue is met.
//!
//! Set `COMPARE_ROUNDS` (default 31) and `COMPARE_BATCH_MS` (default 2) to
//! trade time for precision; `COMPARE_SESSIONS` (default 1000000) sizes the
//! large store. `COMPARE_NO_CLAIMS=1` logs the stores of the second phase
//! in without the role claim, so that a session's text fits inside its
//! record: how much of the 1M refresh is that one more cache miss.

mod support;

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pollster::block_on;
use support::*;
use tokenlife::access::ClaimsBuf;
use tokenlife::session::{self, Login};
use tokenlife::store::RevocationFeed;
use tokenlife::{
    AccessClaims, Clock, Metadata, SessionId, SessionStore, SharedRevocations, TokenPair,
};

/// One measured function; `prepare` (untimed) readies `n` calls of `run`.
struct Op {
    name: &'static str,
    prepare: Box<dyn FnMut(usize)>,
    run: Box<dyn FnMut()>,
    iters: usize,
    samples: Vec<f64>,
}

impl Op {
    fn new(name: &'static str, run: impl FnMut() + 'static) -> Self {
        Self::prepared(name, |_| {}, run)
    }

    fn prepared(
        name: &'static str,
        prepare: impl FnMut(usize) + 'static,
        run: impl FnMut() + 'static,
    ) -> Self {
        Self {
            name,
            prepare: Box::new(prepare),
            run: Box::new(run),
            iters: 1,
            samples: Vec::new(),
        }
    }

    /// Nanoseconds per call over one batch.
    fn batch(&mut self) -> f64 {
        (self.prepare)(self.iters);
        let start = Instant::now();
        for _ in 0..self.iters {
            (self.run)();
        }
        start.elapsed().as_nanos() as f64 / self.iters as f64
    }

    fn calibrate(&mut self, target: Duration) {
        // Warm up (caches, lazily built state), then double the batch until
        // it takes about `target`.
        self.iters = 1;
        let mut warm = Duration::ZERO;
        while warm < target * 4 {
            let ns = self.batch();
            warm += Duration::from_nanos((ns * self.iters as f64) as u64);
            self.iters = (self.iters * 2).min(1 << 20);
        }
        let ns = self.batch().max(1.0);
        self.iters = ((target.as_nanos() as f64 / ns) as usize).clamp(8, 1 << 20);
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The test-mode run: each operation and each peer once, on ten sessions.
fn smoke() {
    let (auth, pairs) = populated(10);
    let secret = access_secret(&auth);
    let peer = Peer::new(&secret);
    let token = &pairs[0].access_token;
    let claims: AccessClaims<Role> = auth.verify(token).expect("verify");
    assert_eq!(
        peer.decode(token).sub,
        claims.sub,
        "the peer reads our token"
    );
    let mut buf = ClaimsBuf::new();
    let borrowed = auth
        .verify_in::<RoleRef<'_>>(token, &mut buf)
        .expect("verify_in");
    assert_eq!(borrowed.extra.role, claims.extra.role);
    block_on(auth.verify_live::<Role>(token)).expect("verify_live");
    let (fresh, fresh_token) = fresh_authority(10);
    poll_once(fresh.verify_fresh::<Role>(&fresh_token)).expect("verify_fresh");
    let next = block_on(auth.refresh(&pairs[1].refresh_token)).expect("refresh");
    assert_ne!(next.refresh_token, pairs[1].refresh_token);
    block_on(auth.logout(&next.refresh_token)).expect("logout");
    let mut ops = Vec::new();
    push_asymmetric_ops(&mut ops);
    for op in &mut ops {
        op.batch();
    }
    println!("compare: smoke run passed (run `cargo bench --bench compare` to measure)");
}

/// An authority whose `verify_fresh` consults a set fed by its
/// `MemoryStore` (always fresh) holding `revoked` revocations, and the
/// access token of a live session.
fn fresh_authority(revoked: usize) -> (Arc<Auth>, String) {
    let set = Arc::new(SharedRevocations::new(&policy()));
    let auth = authority().with_revocations(set.clone());
    block_on(auth.store().subscribe(&set, clock().now())).expect("subscribe");
    for i in 0..revoked {
        let pair = block_on(auth.login(&subject(1 << 50 | i as u64), &role())).expect("login");
        block_on(auth.logout(&pair.refresh_token)).expect("logout");
    }
    assert_eq!(set.len(), revoked);
    let live = block_on(auth.login(&subject(1 << 51), &role())).expect("login");
    (Arc::new(auth), live.access_token)
}

/// Polls `f` once, as a server's executor would a future that is ready at
/// once (the fast path of `verify_fresh` never waits), and blocks only if
/// it is not.
fn poll_once<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => block_on(f),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // `cargo bench` passes `--bench`. Anything else (`cargo test
    // --all-targets`, `--list`) is a test run of a debug build, in which
    // timings mean nothing: check that every operation and peer still runs
    // on a small store, and stop.
    if !std::env::args().any(|a| a == "--bench") {
        smoke();
        return;
    }
    let rounds: usize = env_or("COMPARE_ROUNDS", 31);
    let batch = Duration::from_millis(env_or("COMPARE_BATCH_MS", 2));
    let big: u64 = env_or("COMPARE_SESSIONS", 1_000_000);

    // Phase 1, on a young heap: every comparison with the peers. Building a
    // million sessions first would leave glibc's heap large and fragmented,
    // which slows allocation-heavy code (jsonwebtoken's most of all) and
    // would flatter the ratios.
    eprintln!("compare: building a store of 1000 sessions …");
    let (small, small_pairs) = populated(1_000);
    let secret = access_secret(&small);
    let peer = Rc::new(Peer::new(&secret));
    let floor = Floor::new(&secret);

    let token = small_pairs[0].access_token.clone();
    let claims: AccessClaims<Role> = small.verify(&token).expect("verify");
    let peer_claims = jwt_claims(&claims);
    assert_eq!(
        peer.decode(&token).sub,
        claims.sub,
        "the peer reads our token"
    );
    let input = signing_input(&token).to_owned();

    let os_auth = Rc::new(os_authority());
    let mut ops: Vec<Op> = Vec::new();
    {
        let (a, t) = (small.clone(), token.clone());
        ops.push(Op::new("verify", move || {
            black_box(a.verify::<Role>(black_box(&t)).expect("verify"));
        }));
        // 1000 revocations in the set, the token's session not among them.
        let (a, t) = fresh_authority(1_000);
        ops.push(Op::new("verify_fresh", move || {
            black_box(poll_once(a.verify_fresh::<Role>(black_box(&t))).expect("fresh"));
        }));
        let (a, t) = (small.clone(), token.clone());
        ops.push(Op::new("verify_live", move || {
            black_box(block_on(a.verify_live::<Role>(black_box(&t))).expect("live"));
        }));
        let (p, t) = (peer.clone(), token.clone());
        ops.push(Op::new("jsonwebtoken::decode", move || {
            black_box(p.decode(black_box(&t)));
        }));
        ops.push(Op::new("HMAC-SHA256 floor", move || {
            black_box(floor.mac(black_box(input.as_bytes())));
        }));
        let p = peer.clone();
        ops.push(Op::new("jsonwebtoken::encode", move || {
            black_box(p.encode(black_box(&peer_claims)));
        }));
    }
    for (name, tag, os) in [
        ("login (ChaCha20)", 1u64, false),
        ("login (OS random)", 2, true),
    ] {
        // Subjects are made (untimed) before each batch.
        let subjects: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut n = 0u64;
        let s = subjects.clone();
        let prepare = move |k: usize| {
            let mut s = s.borrow_mut();
            s.clear();
            s.extend((0..k).map(|_| {
                n += 1;
                subject(tag << 40 | n)
            }));
        };
        let (a, o) = (small.clone(), os_auth.clone());
        let role = role();
        ops.push(Op::prepared(name, prepare, move || {
            let s = subjects.borrow_mut().pop().expect("prepared");
            if os {
                black_box(block_on(o.login(&s, &role)).expect("login"));
            } else {
                black_box(block_on(a.login(&s, &role)).expect("login"));
            }
        }));
    }
    push_store_ops(&mut ops, "", &small, &small_pairs, 3);
    push_asymmetric_ops(&mut ops);
    push_verify_in_op(&mut ops, &small, &token);
    push_floor_ops(&mut ops);
    let mut phase1 = measure(ops, rounds, batch);

    // Phase 2: the 1M-session store beside a 1k one, for how refresh and
    // logout scale with the store (and refresh against encode in that state).
    eprintln!("compare: measuring a store of {big} sessions (36-byte subjects, no claims) …");
    let rss_per = store_rss_per_session(big);
    let miss_ns = dependent_load_ns(256 << 20);
    eprintln!("compare: building a store of {big} sessions …");
    if std::env::var_os("COMPARE_NO_CLAIMS").is_some() {
        NO_CLAIMS.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let (large, large_pairs) = populated(big);
    // A fresh 1k store: phase 1 spent the first one's tokens.
    let (small, small_pairs) = populated(1_000);
    let mut ops: Vec<Op> = Vec::new();
    push_store_ops(&mut ops, " (1M resident)", &small, &small_pairs, 5);
    push_store_ops(&mut ops, "", &large, &large_pairs, 4);
    {
        let p = peer.clone();
        let peer_claims = jwt_claims(&claims);
        ops.push(Op::new("jsonwebtoken::encode (1M resident)", move || {
            black_box(p.encode(black_box(&peer_claims)));
        }));
    }
    drop(large_pairs);
    let phase2 = measure(ops, rounds, batch);
    phase1.extend(phase2);
    let ops = phase1;

    let by =
        |name: &str| -> &Vec<f64> { &ops.iter().find(|o| o.name == name).expect("an op").samples };
    let ratio =
        |a: &str, b: &str| -> f64 { median(by(a).iter().zip(by(b)).map(|(x, y)| x / y).collect()) };
    let med = |name: &str| median(by(name).clone());

    println!();
    println!(
        "{:<36} {:>12}  {:>28}  {:>10}",
        "operation", "median", "vs jsonwebtoken (same run)", "vs floor"
    );
    let rows = [
        ("HMAC-SHA256 floor", None, false),
        ("verify", Some(("jsonwebtoken::decode", "decode")), true),
        (VERIFY_IN, Some(("jsonwebtoken::decode", "decode")), true),
        (
            "verify_fresh",
            Some(("jsonwebtoken::decode", "decode")),
            true,
        ),
        (
            "verify_live",
            Some(("jsonwebtoken::decode", "decode")),
            true,
        ),
        ("jsonwebtoken::decode", None, true),
        (
            "login (ChaCha20)",
            Some(("jsonwebtoken::encode", "encode")),
            false,
        ),
        (
            "login (OS random)",
            Some(("jsonwebtoken::encode", "encode")),
            false,
        ),
        (
            "refresh, 1k sessions",
            Some(("jsonwebtoken::encode", "encode")),
            false,
        ),
        (
            "logout, 1k sessions",
            Some(("jsonwebtoken::encode", "encode")),
            false,
        ),
        ("jsonwebtoken::encode", None, true),
        (
            "refresh, 1k sessions (1M resident)",
            Some(("jsonwebtoken::encode (1M resident)", "encode")),
            false,
        ),
        (
            "refresh, 1M sessions",
            Some(("jsonwebtoken::encode (1M resident)", "encode")),
            false,
        ),
        (
            "logout, 1k sessions (1M resident)",
            Some(("jsonwebtoken::encode (1M resident)", "encode")),
            false,
        ),
        (
            "logout, 1M sessions",
            Some(("jsonwebtoken::encode (1M resident)", "encode")),
            false,
        ),
        ("jsonwebtoken::encode (1M resident)", None, false),
    ];
    for (name, peer, vs_floor) in rows {
        let peer_col = match peer {
            Some((p, short)) => format!("{:.2}× {short}", ratio(name, p)),
            None => String::from("—"),
        };
        let floor_col = if vs_floor {
            format!("{:.2}×", ratio(name, "HMAC-SHA256 floor"))
        } else {
            String::from("—")
        };
        println!(
            "{:<36} {:>9.0} ns  {:>28}  {:>10}",
            name,
            med(name),
            peer_col,
            floor_col
        );
    }

    println!();
    println!(
        "{:<36} {:>12}  {:>28}  {:>10}",
        "asymmetric", "median", "vs jsonwebtoken (same run)", "vs floor"
    );
    for alg in ["EdDSA", "ES256"] {
        let n = |what: &str| format!("{alg} {what}");
        let rows = [
            (
                n("sign"),
                Some((n("jsonwebtoken::encode"), "encode")),
                Some(n("sign floor")),
            ),
            (
                n("verify"),
                Some((n("jsonwebtoken::decode"), "decode")),
                Some(n("verify floor")),
            ),
            (
                n("Verifier::verify"),
                Some((n("jsonwebtoken::decode"), "decode")),
                Some(n("verify floor")),
            ),
            (n("jsonwebtoken::encode"), None, Some(n("sign floor"))),
            (n("jsonwebtoken::decode"), None, Some(n("verify floor"))),
            (n("sign floor"), None, None),
            (n("verify floor"), None, None),
        ];
        for (name, peer, floor) in rows {
            let peer_col = match peer {
                Some((p, short)) => format!("{:.2}× {short}", ratio(&name, &p)),
                None => String::from("—"),
            };
            let floor_col =
                floor.map_or(String::from("—"), |f| format!("{:.2}×", ratio(&name, &f)));
            println!(
                "{:<36} {:>9.0} ns  {:>28}  {:>10}",
                name,
                med(&name),
                peer_col,
                floor_col
            );
        }
    }
    println!(
        "{:<36} {:>9.0} ns",
        "Verifier::from_jwks, 3 keys",
        med("Verifier::from_jwks, 3 keys")
    );

    let (one, two, scaling) = refresh_scaling(rounds.min(15));
    println!();
    println!(
        "refresh throughput, distinct sessions: 1 thread {one:.0}/s, 2 threads {two:.0}/s: {scaling:.2}× \
         (median of per-round ratios; machine has {} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "one cache-missing load on this machine (each depending on the last, \
         anywhere in 256 MiB): {miss_ns:.0} ns"
    );
    println!(
        "memory of a {big}-session MemoryStore (one 36-byte subject each, no claims or metadata), \
         resident: {rss_per:.0} B/session (heap bytes alone: cargo run --release --example memory)"
    );

    let floors = Floors::report(&ops, &small_pairs[0], miss_ns);

    let speedup = 1.0 / ratio(VERIFY_IN, "jsonwebtoken::decode");
    let owned_speedup = 1.0 / ratio("verify", "jsonwebtoken::decode");
    let mut checks = vec![
        (
            format!("verify_in {speedup:.1}× faster than decode (≥5; verify {owned_speedup:.1}×)"),
            speedup >= 5.0,
        ),
        {
            let r = ratio(VERIFY_IN, "HMAC-SHA256 floor");
            let owned = ratio("verify", "HMAC-SHA256 floor");
            (
                format!("verify_in {r:.2}× floor (≤2.0; verify {owned:.2}×)"),
                r <= 2.0,
            )
        },
        {
            let r = ratio("verify", VERIFY_IN);
            (format!("verify {r:.2}× verify_in (≤1.15)"), r <= 1.15)
        },
        (
            format!("login {:.2}× its floor (≤1.3)", floors.login),
            floors.login <= 1.3,
        ),
        (
            format!("refresh {:.2}× its floor (≤1.3)", floors.refresh),
            floors.refresh <= 1.3,
        ),
        (
            format!(
                "refresh 1M {:.1} loads above 1k (≤3)",
                floors.refresh_1m_loads
            ),
            floors.refresh_1m_loads <= 3.0,
        ),
        {
            let r = ratio("verify_live", "verify");
            (format!("verify_live {r:.2}× verify (≤1.5)"), r <= 1.5)
        },
        {
            let r = ratio("verify_fresh", "verify");
            (format!("verify_fresh {r:.2}× verify (≤1.1)"), r <= 1.1)
        },
        (
            format!("memory {rss_per:.0} B/session by RSS (≤256)"),
            rss_per <= 256.0,
        ),
        (
            format!("2 threads {scaling:.2}× 1 thread (≥1.7)"),
            scaling >= 1.7,
        ),
    ];
    for alg in ["EdDSA", "ES256"] {
        let r = ratio(&format!("{alg} verify"), &format!("{alg} verify floor"));
        checks.push((format!("{alg} verify {r:.2}× floor (≤1.1)"), r <= 1.1));
        let r = ratio(
            &format!("{alg} verify"),
            &format!("{alg} jsonwebtoken::decode"),
        );
        checks.push((format!("{alg} verify {r:.2}× decode (<1)"), r < 1.0));
        let r = ratio(
            &format!("{alg} sign"),
            &format!("{alg} jsonwebtoken::encode"),
        );
        checks.push((format!("{alg} sign {r:.2}× encode (<1)"), r < 1.0));
    }
    let met = checks.iter().filter(|c| c.1).count();
    let line: Vec<String> = checks
        .iter()
        .map(|(what, ok)| format!("{what}: {}", if *ok { "met" } else { "NOT met" }))
        .collect();
    println!();
    println!("targets {met}/{} met — {}", checks.len(), line.join("; "));
}

/// The refresh and logout measurements on one store; `suffix` names them.
fn push_store_ops(
    ops: &mut Vec<Op>,
    suffix: &str,
    auth: &Arc<Auth>,
    pairs: &[TokenPair],
    tag: u64,
) {
    // The large store is named "1M" even when COMPARE_SESSIONS makes it
    // smaller for a short run, so that every row and check is found.
    let size = if pairs.len() > 1_000 { "1M" } else { "1k" };
    let name = |what: &str| -> &'static str {
        Box::leak(format!("{what}, {size} sessions{suffix}").into_boxed_str())
    };
    // Each batch takes its tokens out of the pool first (untimed): a server
    // refreshes a token it has just read from a request, which is in cache
    // whatever the size of the store. What scales with the store is the
    // store's own memory, and that stays in the measurement.
    let pool = Rc::new(RefCell::new(Refresher::new(pairs)));
    let batch: Rc<RefCell<Vec<(usize, String)>>> = Rc::default();
    let done: Rc<RefCell<Vec<(usize, String)>>> = Rc::default();
    let (p, b, d) = (pool.clone(), batch.clone(), done.clone());
    let prepare = move |k: usize| {
        let mut p = p.borrow_mut();
        let mut d = d.borrow_mut();
        p.put_back(&mut d);
        d.reserve(k);
        *b.borrow_mut() = p.take(k);
    };
    let a = auth.clone();
    ops.push(Op::prepared(name("refresh"), prepare, move || {
        let (i, token) = batch.borrow_mut().pop().expect("prepared");
        let pair = block_on(a.refresh(&token)).expect("refresh");
        black_box(&pair);
        done.borrow_mut().push((i, pair.refresh_token));
    }));
    // Logout spends a session, so each batch logs fresh ones in first.
    let ready: Rc<RefCell<Vec<TokenPair>>> = Rc::default();
    let (a, r) = (auth.clone(), ready.clone());
    let mut n = 0u64;
    let role = role();
    let prepare = move |k: usize| {
        let mut r = r.borrow_mut();
        r.clear();
        for _ in 0..k {
            n += 1;
            r.push(block_on(a.login(&subject(tag << 40 | n), &role)).expect("login"));
        }
        r.reverse();
    };
    let a = auth.clone();
    ops.push(Op::prepared(name("logout"), prepare, move || {
        let pair = ready.borrow_mut().pop().expect("prepared");
        block_on(a.logout(&pair.refresh_token)).expect("logout");
    }));
}

/// EdDSA and ES256: our sign and verify (through `Authority` and through a
/// `Verifier` of the published JWKS) beside jsonwebtoken's encode and
/// decode of the same token and beside the signature crates' own sign and
/// strict verify over the same signing input; and `Verifier::from_jwks`.
fn push_asymmetric_ops(ops: &mut Vec<Op>) {
    use tokenlife::{Algorithm, Clock as _, SystemClock, Verifier};
    let name = |alg: Algorithm, what: &str| -> &'static str {
        Box::leak(format!("{alg} {what}").into_boxed_str())
    };
    let now = SystemClock.now();
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let auth = Arc::new(asymmetric_authority(alg));
        let pair = block_on(auth.login(&subject(1), &role())).expect("login");
        let token = pair.access_token.clone();
        let claims: AccessClaims<Role> = auth.verify(&token).expect("verify");
        let keys = auth.keyring().clone();
        let peer = Rc::new(Peer::asymmetric(alg, &keys));
        assert_eq!(
            peer.decode(&token).sub,
            claims.sub,
            "the peer reads our token"
        );
        let peer_claims = jwt_claims(&claims);
        let session = block_on(tokenlife::SessionStore::get(auth.store(), &pair.session_id))
            .expect("store")
            .expect("the session");
        let verifier = Verifier::from_jwks(&keys.jwks(now).to_json(), policy()).expect("jwks");
        let input = signing_input(&token).as_bytes().to_vec();
        let sig = signature_bytes(&token);

        let (a, t) = (auth.clone(), token.clone());
        let (signer, p) = (auth.clone(), policy());
        ops.push(Op::new(name(alg, "sign"), move || {
            let k = signer.keyring();
            black_box(tokenlife::access::sign(
                k,
                &p,
                black_box(&session),
                [7; 16],
                now,
            ));
        }));
        ops.push(Op::new(name(alg, "verify"), move || {
            black_box(a.verify::<Role>(black_box(&t)).expect("verify"));
        }));
        let t = token.clone();
        ops.push(Op::new(name(alg, "Verifier::verify"), move || {
            black_box(verifier.verify::<Role>(black_box(&t), now).expect("verify"));
        }));
        let p = peer.clone();
        ops.push(Op::new(name(alg, "jsonwebtoken::encode"), move || {
            black_box(p.encode(black_box(&peer_claims)));
        }));
        let (p, t) = (peer.clone(), token.clone());
        ops.push(Op::new(name(alg, "jsonwebtoken::decode"), move || {
            black_box(p.decode(black_box(&t)));
        }));
        if alg == Algorithm::EdDSA {
            let floor = Rc::new(Ed25519Floor::new());
            let sig = ed25519_dalek::Signature::from_bytes(&sig);
            assert!(floor.verify(&input, &sig));
            let (f, i) = (floor.clone(), input.clone());
            ops.push(Op::new(name(alg, "sign floor"), move || {
                black_box(f.sign(black_box(&i)));
            }));
            ops.push(Op::new(name(alg, "verify floor"), move || {
                assert!(floor.verify(black_box(&input), black_box(&sig)));
            }));
        } else {
            let floor = Rc::new(P256Floor::new());
            let sig = p256::ecdsa::Signature::from_slice(&sig).expect("r ‖ s");
            assert!(floor.verify(&input, &sig));
            let (f, i) = (floor.clone(), input.clone());
            ops.push(Op::new(name(alg, "sign floor"), move || {
                black_box(f.sign(black_box(&i)));
            }));
            ops.push(Op::new(name(alg, "verify floor"), move || {
                assert!(floor.verify(black_box(&input), black_box(&sig)));
            }));
        }
    }
    let jwks = three_key_jwks();
    ops.push(Op::new("Verifier::from_jwks, 3 keys", move || {
        black_box(Verifier::from_jwks(black_box(&jwks), policy()).expect("jwks"));
    }));
}

/// Calibrates `ops`, then runs `rounds` rounds, each op once per round in
/// a rotating order, so that drift on a shared machine hits them alike.
fn measure(mut ops: Vec<Op>, rounds: usize, batch: Duration) -> Vec<Op> {
    eprintln!("compare: calibrating …");
    for op in &mut ops {
        op.calibrate(batch);
        // Logout batches log in as many sessions first; keep them short.
        op.iters = op.iters.min(20_000);
    }
    eprintln!("compare: {rounds} rounds of {} functions …", ops.len());
    for round in 0..rounds {
        let n = ops.len();
        for k in 0..n {
            let op = &mut ops[(round + k) % n];
            let ns = op.batch();
            op.samples.push(ns);
        }
    }
    ops
}

/// Refreshes of distinct sessions per second with 1 and with 2 threads,
/// alternated; returns the medians and the median per-round ratio.
fn refresh_scaling(rounds: usize) -> (f64, f64, f64) {
    const PER_THREAD: u64 = 2_000;
    let (auth, pairs) = populated(2 * PER_THREAD);
    let pools: Vec<Arc<std::sync::Mutex<Refresher>>> = pairs
        .chunks(PER_THREAD as usize)
        .map(|c| Arc::new(std::sync::Mutex::new(Refresher::new(c))))
        .collect();
    let run = |threads: usize| -> f64 {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let span = Duration::from_millis(100);
        std::thread::scope(|s| {
            for pool in pools.iter().take(threads) {
                let (auth, stop, done) = (auth.clone(), stop.clone(), done.clone());
                s.spawn(move || {
                    let mut pool = pool.lock().expect("one user");
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        black_box(pollster::block_on(pool.refresh(&auth)));
                        n += 1;
                    }
                    done.fetch_add(n, Ordering::Relaxed);
                });
            }
            std::thread::sleep(span);
            stop.store(true, Ordering::Relaxed);
        });
        done.load(Ordering::Relaxed) as f64 / span.as_secs_f64()
    };
    run(2);
    let (mut ones, mut twos, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = run(1);
            (a, run(2))
        } else {
            let b = run(2);
            (run(1), b)
        };
        ones.push(a);
        twos.push(b);
        ratios.push(b / a);
    }
    (median(ones), median(twos), median(ratios))
}

/// Nanoseconds per load when each load's address comes from the previous
/// one, at random over `bytes` of memory: what a cold access to a large
/// store costs here (cache and TLB misses), for judging the 1M refresh.
fn dependent_load_ns(bytes: usize) -> f64 {
    let n = bytes / 4;
    // One random cycle through every slot (Sattolo's shuffle).
    let mut next: Vec<u32> = (0..n as u32).collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        next.swap(i, (x % i as u64) as usize);
    }
    let steps = 2_000_000;
    let mut at = 0u32;
    let start = Instant::now();
    for _ in 0..steps {
        at = next[at as usize];
    }
    black_box(at);
    start.elapsed().as_nanos() as f64 / steps as f64
}

/// Resident bytes per session of a store of `n` sessions, one per subject,
/// built by logins whose tokens are dropped at once. Resident memory counts
/// the allocator's own overhead too, so it is an upper bound of heap bytes.
fn store_rss_per_session(n: u64) -> f64 {
    let auth = authority();
    let before = rss_bytes();
    for i in 0..n {
        block_on(auth.login(&subject(i), &())).expect("login");
    }
    let after = rss_bytes();
    assert_eq!(auth.store().len() as u64, n);
    after.saturating_sub(before) as f64 / n as f64
}

/// Resident set size of this process, from `/proc/self/statm` (0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

// ---------------------------------------------------------------------------
// verify_in, and the floors of login and refresh (issue 17)
// ---------------------------------------------------------------------------

/// The row of [`push_verify_in_op`].
const VERIFY_IN: &str = "verify_in (no alloc)";

/// `verify_in` of the same token into one reused buffer, with claims that
/// borrow from it: the zero-allocation verify.
fn push_verify_in_op(ops: &mut Vec<Op>, auth: &Arc<Auth>, token: &str) {
    let (a, t) = (auth.clone(), token.to_owned());
    let mut buf = Box::new(ClaimsBuf::new());
    ops.push(Op::new(VERIFY_IN, move || {
        let claims = a.verify_in::<RoleRef<'_>>(black_box(&t), &mut buf);
        black_box(claims.expect("verify_in"));
    }));
}

/// Blocks per call of the compression row (its figures are per block).
const BLOCKS: usize = 8;

/// One SHA-256 compression, and the `MemoryStore` operations of login
/// (`insert`) and refresh (`get`, then `compare_and_swap`) measured alone,
/// on a store of their own of 1k sessions.
fn push_floor_ops(ops: &mut Vec<Op>) {
    let mut state = [0x6a09_e667u32; 8];
    let blocks = [[0x5au8; 64]; BLOCKS];
    ops.push(Op::new("SHA-256 compression", move || {
        sha2::block_api::compress256(&mut state, black_box(&blocks));
        black_box(&state);
    }));

    let (auth, pairs) = populated(1_000);
    let ids: Vec<SessionId> = pairs.iter().map(|p| p.session_id).collect();
    // A record as login makes one, inserted: its subject is made before
    // the batch (as the login rows' subjects are); the record is put
    // together from it and a template in the timed call, as login puts
    // its record together just before inserting it, so that it is in cache.
    let claims = serde_json::to_string(&role()).ok();
    let now = tokenlife::Clock::now(&tokenlife::SystemClock);
    let login = Login {
        id: SessionId::from_bytes([0x5e; 16]),
        subject: subject(6 << 40),
        claims: claims.clone(),
        metadata: Metadata::new(),
        secret: [7u8; 32].into(),
    };
    let template = session::start(auth.keyring(), auth.policy(), login, now).0;
    let subjects: Rc<RefCell<Vec<String>>> = Rc::default();
    let s = subjects.clone();
    let mut n = 0u64;
    let prepare = move |k: usize| {
        let mut s = s.borrow_mut();
        s.clear();
        s.extend((0..k).map(|_| {
            n += 1;
            subject(6 << 40 | n)
        }));
    };
    let a = auth.clone();
    let mut id = 0u128;
    ops.push(Op::prepared(STORE_INSERT, prepare, move || {
        id += 1;
        let t = &template;
        let record = tokenlife::Session {
            id: SessionId::from_bytes((id | 0x5eed << 64).to_le_bytes()),
            subject: subjects.borrow_mut().pop().expect("prepared"),
            version: 0,
            generation: 0,
            key_id: t.key_id.clone(),
            current_hash: t.current_hash,
            previous_hash: None,
            created_at: t.created_at,
            rotated_at: t.rotated_at,
            idle_expires_at: t.idle_expires_at,
            absolute_expires_at: t.absolute_expires_at,
            revoked: None,
            claims: claims.clone(),
            metadata: Metadata::new(),
        };
        block_on(a.store().insert(record)).expect("insert");
    }));

    // What refresh does to the store: load the record, store its successor.
    let a = auth.clone();
    let mut at = 0usize;
    ops.push(Op::new(STORE_SWAP, move || {
        at = (at + 7919) % ids.len();
        let store = a.store();
        let mut record = block_on(store.get(&ids[at]))
            .expect("get")
            .expect("a session");
        let version = record.version;
        record.version += 1;
        record.generation += 1;
        block_on(store.compare_and_swap(version, record)).expect("compare_and_swap");
    }));
}

const STORE_INSERT: &str = "MemoryStore insert";
const STORE_SWAP: &str = "MemoryStore get + compare_and_swap";

/// Each operation against the floor its design sets: the SHA-256
/// compressions it must do (counted from the code, for this run's tokens)
/// times one compression, plus its `MemoryStore` operation measured alone.
struct Floors {
    /// login (ChaCha20) over its floor, median of per-round ratios.
    login: f64,
    /// refresh at 1k sessions over its floor.
    refresh: f64,
    /// How many cache-missing loads the 1M refresh costs above the 1k one.
    refresh_1m_loads: f64,
}

impl Floors {
    fn report(ops: &[Op], pair: &TokenPair, miss_ns: f64) -> Self {
        let by = |name: &str| -> &Vec<f64> {
            &ops.iter().find(|o| o.name == name).expect("an op").samples
        };
        let med = |name: &str| median(by(name).clone());
        let c = Compressions::of(pair);
        let per =
            |name: &str| -> Vec<f64> { by(name).iter().map(|ns| ns / BLOCKS as f64).collect() };
        let comp = per("SHA-256 compression");
        // Per round: the operation over (compressions × that round's
        // compression + that round's store operation); the median of those.
        let vs_floor = |op: &str, n: u32, store: &str| -> (f64, f64) {
            let floors: Vec<f64> = comp
                .iter()
                .zip(by(store))
                .map(|(c, s)| f64::from(n) * c + s)
                .collect();
            let r = median(by(op).iter().zip(&floors).map(|(x, f)| x / f).collect());
            (median(floors), r)
        };
        let (login_floor, login) = vs_floor("login (ChaCha20)", c.login(), STORE_INSERT);
        let (refresh_floor, refresh) = vs_floor("refresh, 1k sessions", c.refresh(), STORE_SWAP);
        let above = median(
            by("refresh, 1M sessions")
                .iter()
                .zip(by("refresh, 1k sessions (1M resident)"))
                .map(|(big, small)| big - small)
                .collect(),
        );
        let refresh_1m_loads = above / miss_ns;
        println!();
        println!(
            "floors: one SHA-256 compression {:.1} ns (median, one 64-byte block); {} {:.0} ns; {} {:.0} ns",
            median(comp.clone()),
            STORE_INSERT,
            med(STORE_INSERT),
            STORE_SWAP,
            med(STORE_SWAP),
        );
        println!(
            "  login:   {:>2} compressions (access token {}, refresh tag {}, SHA-256 of its secret 1) + insert \
             = floor {login_floor:.0} ns; login (ChaCha20) {:.0} ns = {login:.2}× floor",
            c.login(),
            c.access,
            c.tag,
            med("login (ChaCha20)"),
        );
        println!(
            "  refresh: {:>2} compressions (tag {}, SHA-256 of the secret 1, successor {}, its SHA-256 1, its tag {}, \
             access token {}) + get + compare_and_swap = floor {refresh_floor:.0} ns; refresh, 1k sessions {:.0} ns \
             = {refresh:.2}× floor",
            c.refresh(),
            c.tag,
            c.successor,
            c.tag,
            c.access,
            med("refresh, 1k sessions"),
        );
        println!(
            "  refresh, 1M sessions: {above:.0} ns above refresh, 1k sessions (1M resident) \
             = {refresh_1m_loads:.1} cache-missing loads of {miss_ns:.0} ns"
        );
        Self {
            login,
            refresh,
            refresh_1m_loads,
        }
    }
}

/// SHA-256 compressions of each part of login and refresh, counted from
/// the tokens' lengths as the code computes them. Every HMAC key's inner
/// and outer states are precomputed once per key, so an HMAC over `n`
/// bytes costs the blocks of `n` bytes after the key's block (with SHA-256
/// padding: 9 bytes at least) plus one outer block.
struct Compressions {
    /// The access token's MAC, over its signing input.
    access: u32,
    /// A refresh token's tag: HMAC over `"tlr1"` and its payload.
    tag: u32,
    /// The successor secret: HMAC over session id (16), generation (8)
    /// and the secret (32).
    successor: u32,
}

impl Compressions {
    fn of(pair: &TokenPair) -> Self {
        let hmac = |n: usize| (n + 9).div_ceil(64) as u32 + 1;
        let signing_input = signing_input(&pair.access_token).len();
        let payload_b64 = pair
            .refresh_token
            .strip_prefix("tlr1.")
            .and_then(|r| r.split('.').next())
            .expect("a refresh token")
            .len();
        let payload = payload_b64 / 4 * 3 + (payload_b64 % 4).saturating_sub(1);
        Self {
            access: hmac(signing_input),
            tag: hmac(4 + payload),
            successor: hmac(16 + 8 + 32),
        }
    }

    /// Access token, first refresh tag, SHA-256 of the first secret.
    fn login(&self) -> u32 {
        self.access + self.tag + 1
    }

    /// The presented token's tag and its secret's SHA-256; the successor
    /// secret, its SHA-256 and its tag; the access token.
    fn refresh(&self) -> u32 {
        self.tag + 1 + self.successor + 1 + self.tag + self.access
    }
}
