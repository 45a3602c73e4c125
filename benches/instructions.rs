//! Instruction counts, for judging an optimisation on a noisy machine:
//!
//! ```sh
//! cargo bench --bench instructions --no-run
//! valgrind --tool=callgrind target/release/deps/instructions-<hash> verify 10000
//! ```
//!
//! Runs one operation (`verify`, `verify_in`, `verify_live`, `decode`,
//! `floor`, `encode`, `login`, `refresh`, `logout`) the given number of times, after the setup.
//! Without arguments (as `cargo bench` runs it) it runs each once and exits.

mod support;

use std::hint::black_box;

use pollster::block_on;
use support::*;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let op = args.first().map_or("all", String::as_str);
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let sessions = std::env::var("INSTR_SESSIONS")
        .ok()
        .and_then(|s| s.parse().ok());
    let (auth, pairs) = populated(sessions.unwrap_or(1_000));
    let secret = access_secret(&auth);
    let peer = Peer::new(&secret);
    let floor = Floor::new(&secret);
    let token = pairs[0].access_token.clone();
    let claims = jwt_claims(&auth.verify(&token).expect("verify"));
    let input = signing_input(&token).to_owned();
    if op == "verify-ratios" {
        // A quick wall-clock check while optimising (not for callgrind):
        // batches of verify_in, verify and the floor alternate, `n` rounds.
        let mut buf = tokenlife::access::ClaimsBuf::new();
        let time = |f: &mut dyn FnMut()| {
            let start = std::time::Instant::now();
            for _ in 0..20_000 {
                f();
            }
            start.elapsed().as_nanos() as f64 / 20_000.0
        };
        let (mut vin, mut v, mut fl) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let f = time(&mut || {
                black_box(floor.mac(black_box(input.as_bytes())));
            });
            let a = time(&mut || {
                black_box(
                    auth.verify_in::<RoleRef<'_>>(black_box(&token), &mut buf)
                        .is_ok(),
                );
            });
            let b = time(&mut || {
                black_box(auth.verify::<Role>(black_box(&token)).is_ok());
            });
            vin.push(a / f);
            v.push(b / f);
            fl.push(f);
        }
        let med = |mut x: Vec<f64>| {
            x.sort_by(f64::total_cmp);
            x[x.len() / 2]
        };
        println!(
            "floor {:.0} ns; verify_in {:.2}× floor; verify {:.2}× floor",
            med(fl),
            med(vin),
            med(v)
        );
        return;
    }
    let mut refresher = Refresher::new(&pairs);
    let role = role();
    let fresh: Vec<_> = if matches!(op, "logout" | "all") {
        (0..n)
            .map(|i| block_on(auth.login(&subject(1 << 40 | i), &role)).expect("login"))
            .collect()
    } else {
        Vec::new()
    };
    let all = op == "all";
    let mut buf = tokenlife::access::ClaimsBuf::new();
    for i in 0..n {
        if all || op == "verify" {
            black_box(auth.verify::<Role>(black_box(&token)).expect("verify"));
        }
        if all || op == "verify_in" {
            let claims = auth.verify_in::<RoleRef<'_>>(black_box(&token), &mut buf);
            black_box(claims.expect("verify_in"));
        }
        if all || op == "verify_live" {
            black_box(block_on(auth.verify_live::<Role>(black_box(&token))).expect("live"));
        }
        if all || op == "decode" {
            black_box(peer.decode(black_box(&token)));
        }
        if all || op == "floor" {
            black_box(floor.mac(black_box(input.as_bytes())));
        }
        if all || op == "encode" {
            black_box(peer.encode(black_box(&claims)));
        }
        if all || op == "login" {
            black_box(block_on(auth.login(&subject(2 << 40 | i), &role)).expect("login"));
        }
        if all || op == "refresh" {
            // As in `compare`: the token is copied out of the pool first, as
            // a server holds one it has just read from a request.
            let (at, token) = refresher.take(1).pop().expect("one token");
            let pair = block_on(auth.refresh(black_box(&token))).expect("refresh");
            refresher.put_back(&mut vec![(at, pair.refresh_token)]);
        }
        if all || op == "logout" {
            block_on(auth.logout(&fresh[i as usize].refresh_token)).expect("logout");
        }
    }
}
