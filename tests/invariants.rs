//! One test (or a few) per invariant I1–I10 of DESIGN.md.

mod support;

use std::sync::{Arc, Barrier};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{KeyInit, Mac};
use proptest::prelude::*;
use sha2::Digest;
use support::*;
use tokenlife::{Error, Keyring, MemoryStore, Policy, RevokeReason, SessionStore};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

// ---------------------------------------------------------------- I1

#[test]
fn i1_a_refresh_token_is_accepted_once() {
    let (auth, clock, _store) = authority(Policy::default().with_reuse_grace(secs(0)));
    block_on(async {
        let pair = auth.login("alice", &()).await.unwrap();
        auth.refresh(&pair.refresh_token).await.unwrap();
        clock.advance(ms(1));
        assert!(matches!(
            auth.refresh(&pair.refresh_token).await,
            Err(Error::RefreshReused)
        ));
    });
}

/// Races `threads` refreshes of one token; returns each thread's outcome.
fn race(policy: Policy, threads: usize, seed: u64) -> Vec<Result<String, Error>> {
    let store = Arc::new(MemoryStore::new());
    let (auth, _clock) = authority_with(keys(), policy, store, seed);
    let auth = Arc::new(auth);
    let pair = block_on(auth.login("alice", &())).unwrap();
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (auth, barrier, token) =
                (auth.clone(), barrier.clone(), pair.refresh_token.clone());
            std::thread::spawn(move || {
                barrier.wait();
                block_on(auth.refresh(&token)).map(|p| p.refresh_token)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn i1_concurrent_refreshes_without_grace_have_exactly_one_winner() {
    for trial in 0..200 {
        let threads = 2 + trial % 7;
        let outcomes = race(
            Policy::default().with_reuse_grace(secs(0)),
            threads,
            trial as u64,
        );
        let winners = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "trial {trial}: {outcomes:?}");
        for r in &outcomes {
            assert!(
                matches!(
                    r,
                    Ok(_) | Err(Error::RefreshReused | Error::SessionRevoked { .. })
                ),
                "trial {trial}: {r:?}"
            );
        }
    }
}

#[test]
fn i1_concurrent_refreshes_inside_grace_all_get_the_same_successor() {
    for trial in 0..200 {
        let threads = 2 + trial % 7;
        let outcomes = race(Policy::default(), threads, trial as u64);
        let tokens: Vec<&String> = outcomes
            .iter()
            .map(|r| {
                r.as_ref()
                    .unwrap_or_else(|e| panic!("trial {trial}: {e:?}"))
            })
            .collect();
        assert!(
            tokens.windows(2).all(|w| w[0] == w[1]),
            "trial {trial}: family branched"
        );
    }
}

// ---------------------------------------------------------------- I2

#[test]
fn i2_reuse_outside_the_window_revokes_the_whole_session() {
    let (auth, clock, _store) = authority(Policy::default());
    block_on(async {
        let first = auth.login("alice", &()).await.unwrap();
        let second = auth.refresh(&first.refresh_token).await.unwrap();
        clock.advance(secs(10));
        assert!(matches!(
            auth.refresh(&first.refresh_token).await,
            Err(Error::RefreshReused)
        ));
        let revoked = |r: Result<_, Error>| {
            matches!(
                r,
                Err(Error::SessionRevoked {
                    reason: RevokeReason::Reuse,
                    ..
                })
            )
        };
        assert!(revoked(
            auth.refresh(&second.refresh_token).await.map(|_| ())
        ));
        assert!(revoked(
            auth.refresh(&first.refresh_token).await.map(|_| ())
        ));
        assert!(revoked(
            auth.verify_live::<()>(&second.access_token)
                .await
                .map(|_| ())
        ));
        assert!(revoked(
            auth.verify_live::<()>(&first.access_token)
                .await
                .map(|_| ())
        ));
    });
}

#[test]
fn i2_only_the_immediate_predecessor_gets_grace() {
    let (auth, clock, _store) = authority(Policy::default().with_reuse_grace(secs(60)));
    block_on(async {
        let g0 = auth.login("alice", &()).await.unwrap();
        let g1 = auth.refresh(&g0.refresh_token).await.unwrap();
        clock.advance(secs(1));
        let g2 = auth.refresh(&g1.refresh_token).await.unwrap();
        // g1 is the immediate predecessor: same successor.
        assert_eq!(
            auth.refresh(&g1.refresh_token).await.unwrap().refresh_token,
            g2.refresh_token
        );
        // g0 is two behind: reuse, even inside the window.
        assert!(matches!(
            auth.refresh(&g0.refresh_token).await,
            Err(Error::RefreshReused)
        ));
        assert!(matches!(
            auth.refresh(&g2.refresh_token).await,
            Err(Error::SessionRevoked { .. })
        ));
    });
}

// ---------------------------------------------------------------- I3

#[test]
fn i3_a_revoked_session_never_comes_back() {
    let (auth, clock, store) = authority(Policy::default());
    block_on(async {
        let pair = auth.login("alice", &()).await.unwrap();
        let next = auth.refresh(&pair.refresh_token).await.unwrap();
        auth.logout(&next.refresh_token).await.unwrap();
        let before = snapshot(&*store, "alice");
        // Everything one might try afterwards.
        for token in [&pair.refresh_token, &next.refresh_token] {
            assert!(matches!(
                auth.refresh(token).await,
                Err(Error::SessionRevoked { .. })
            ));
            auth.logout(token).await.unwrap();
        }
        assert!(matches!(
            auth.refresh_with_claims(&next.refresh_token, &serde_json::json!({"r": 1}))
                .await,
            Err(Error::SessionRevoked { .. })
        ));
        assert_eq!(auth.logout_all("alice", None).await.unwrap(), 0);
        clock.advance(secs(5));
        assert_eq!(auth.purge_expired().await.unwrap(), 0);
        assert!(matches!(
            auth.verify_live::<()>(&next.access_token).await,
            Err(Error::SessionRevoked { .. })
        ));
        assert_eq!(snapshot(&*store, "alice"), before);
    });
}

#[test]
fn i3_an_expired_session_never_comes_back() {
    let (auth, clock, _store) = authority(Policy::default().with_refresh_ttl(secs(60)));
    block_on(async {
        let pair = auth.login("alice", &()).await.unwrap();
        clock.advance(secs(60));
        for _ in 0..3 {
            assert!(matches!(
                auth.refresh(&pair.refresh_token).await,
                Err(Error::SessionExpired { .. })
            ));
        }
        // The access token itself is still within its 15 minutes; the session is not.
        assert!(matches!(
            auth.verify_live::<()>(&pair.access_token).await,
            Err(Error::SessionExpired { .. })
        ));
        assert_eq!(auth.purge_expired().await.unwrap(), 1);
        assert!(matches!(
            auth.refresh(&pair.refresh_token).await,
            Err(Error::UnknownSession)
        ));
    });
}

// ---------------------------------------------------------------- I4 (exact boundaries in boundaries.rs)

#[test]
fn i4_nothing_is_accepted_after_its_expiry() {
    let policy = Policy::default()
        .with_access_ttl(secs(30))
        .with_refresh_ttl(secs(90));
    let (auth, clock, _store) = authority(policy);
    block_on(async {
        let pair = auth.login("alice", &()).await.unwrap();
        clock.advance(secs(30));
        assert!(matches!(
            auth.verify::<()>(&pair.access_token),
            Err(Error::Expired { .. })
        ));
        assert!(matches!(
            auth.verify_live::<()>(&pair.access_token).await,
            Err(Error::Expired { .. })
        ));
        clock.advance(secs(60));
        assert!(matches!(
            auth.refresh(&pair.refresh_token).await,
            Err(Error::SessionExpired { .. })
        ));
    });
}

// ---------------------------------------------------------------- I5

/// Decodes a refresh token into (payload, tag).
fn refresh_parts(token: &str) -> (Vec<u8>, Vec<u8>) {
    let rest = token.strip_prefix("tlr1.").unwrap();
    let (p, t) = rest.split_once('.').unwrap();
    (B64.decode(p).unwrap(), B64.decode(t).unwrap())
}

fn refresh_from(payload: &[u8], tag: &[u8]) -> String {
    format!("tlr1.{}.{}", B64.encode(payload), B64.encode(tag))
}

#[test]
fn i5_forgeries_are_rejected_without_touching_the_store() {
    let store = FaultyStore::new(MemoryStore::new());
    let (auth, clock) = authority_on(Policy::default(), store);
    let (victim, other) = block_on(async {
        (
            auth.login("victim", &()).await.unwrap(),
            auth.login("mallory", &()).await.unwrap(),
        )
    });
    clock.advance(secs(20));
    let (payload, tag) = refresh_parts(&victim.refresh_token);
    let (other_payload, _) = refresh_parts(&other.refresh_token);

    let mut forgeries: Vec<(&str, String)> = Vec::new();
    let mut bad_tag = tag.clone();
    bad_tag[0] ^= 1;
    forgeries.push(("wrong MAC", refresh_from(&payload, &bad_tag)));
    let mut edited_sid = payload.clone();
    edited_sid[..16].copy_from_slice(&other_payload[..16]);
    forgeries.push((
        "session id of another session",
        refresh_from(&edited_sid, &tag),
    ));
    let mut edited_gen = payload.clone();
    edited_gen[23] = edited_gen[23].wrapping_add(1);
    forgeries.push(("generation + 1", refresh_from(&edited_gen, &tag)));
    let mut older_gen = payload.clone();
    older_gen[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
    forgeries.push(("generation u64::MAX", refresh_from(&older_gen, &tag)));
    // A token minted by another keyring under the same key id.
    let (foreign, _) = authority_with(
        Keyring::new("k1", b"a completely different secret key!!!!!").unwrap(),
        Policy::default(),
        MemoryStore::new(),
        99,
    );
    let foreign_pair = block_on(foreign.login("victim", &())).unwrap();
    let (fp, ft) = refresh_parts(&foreign_pair.refresh_token);
    let mut foreign_for_victim = fp.clone();
    foreign_for_victim[..16].copy_from_slice(&payload[..16]);
    forgeries.push((
        "another keyring's token",
        foreign_pair.refresh_token.clone(),
    ));
    forgeries.push((
        "another keyring's tag on our session",
        refresh_from(&foreign_for_victim, &ft),
    ));

    let calls_before = auth.store().calls();
    for (what, forged) in &forgeries {
        let r = block_on(auth.refresh(forged));
        assert!(matches!(r, Err(Error::BadSignature)), "{what}: {r:?}");
        let r = block_on(auth.logout(forged));
        assert!(matches!(r, Err(Error::BadSignature)), "{what}: {r:?}");
    }
    assert_eq!(
        auth.store().calls(),
        calls_before,
        "a forgery reached the store"
    );
    // The victim is unharmed.
    block_on(auth.refresh(&victim.refresh_token)).unwrap();
}

#[test]
fn i5_forged_access_tokens_are_rejected() {
    let (auth, _clock, _store) = authority(Policy::default());
    let pair = block_on(auth.login("alice", &())).unwrap();
    let mut parts: Vec<String> = pair.access_token.split('.').map(String::from).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
    claims["sub"] = "admin".into();
    parts[1] = B64.encode(serde_json::to_vec(&claims).unwrap());
    assert!(matches!(
        auth.verify::<()>(&parts.join(".")),
        Err(Error::BadSignature)
    ));
}

// ---------------------------------------------------------------- I6

#[test]
fn i6_the_store_holds_only_hashes_and_keys_plus_store_cannot_make_a_live_token() {
    let (auth, clock, store) = authority(Policy::default());
    let pair = block_on(auth.login("alice", &())).unwrap();
    clock.advance(secs(20));
    let (payload, _) = refresh_parts(&pair.refresh_token);
    let secret = &payload[24..56];
    let record = snapshot(&*store, "alice").remove(0);
    let dump = serde_json::to_string(&record).unwrap();

    // No encoding of the secret appears at rest; its SHA-256 does.
    assert!(!dump.contains(&B64.encode(secret)));
    let dump_bytes = serde_json::to_vec(&record).unwrap();
    assert!(!dump_bytes.windows(32).any(|w| w == secret));
    let as_numbers = format!("{:?}", secret);
    assert!(!dump.contains(&as_numbers[1..as_numbers.len() - 1].replace(' ', "")));
    assert_eq!(
        record.current_hash.0,
        <[u8; 32]>::from(sha2::Sha256::digest(secret))
    );

    // An attacker with the master secret (so every derived key, per the
    // documented scheme) and the full record builds the best token they can:
    // the stored hash in place of the secret, with a valid tag.
    let tag_key = {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(SECRET).unwrap();
        m.update(b"tokenlife/v1 refresh-tag");
        m.finalize().into_bytes()
    };
    let mut forged = payload.clone();
    forged[24..56].copy_from_slice(&record.current_hash.0);
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(&tag_key).unwrap();
    m.update(b"tlr1");
    m.update(&forged);
    let forged = refresh_from(&forged, &m.finalize().into_bytes());
    assert!(matches!(
        block_on(auth.refresh(&forged)),
        Err(Error::BadSignature)
    ));
    // … and it changed nothing.
    assert_eq!(snapshot(&*store, "alice"), vec![record]);
    block_on(auth.refresh(&pair.refresh_token)).unwrap();
}

// ---------------------------------------------------------------- I7

/// Timing cannot be measured reliably in a test on a shared machine, so this
/// checks the code's structure instead: every MAC and secret-hash comparison
/// in the crate goes through `subtle::ConstantTimeEq`, and none uses `==`.
#[test]
fn i7_mac_and_secret_comparisons_are_constant_time() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses_ct_eq = 0;
    let files = support::rust_files(&src);
    assert!(files.len() > 20, "only {} files under src/", files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        // Only files that handle MACs or secret hashes.
        if !(text.contains("finalize()") || text.contains("SecretHash")) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            // `subtle` directly, or through the crate's one helper over it.
            uses_ct_eq += code.matches("ct_eq(").count() + code.matches("ct::eq32(").count();
            for secret in [
                "tag",
                "sig",
                "mac",
                "hash",
                "secret",
                "expected",
                "presented",
            ] {
                for op in ["==", "!="] {
                    let bad = [
                        format!("{secret} {op}"),
                        format!("{op} {secret}"),
                        format!("{op} &{secret}"),
                    ];
                    assert!(
                        !bad.iter().any(|b| code.contains(b.as_str())),
                        "{}:{}: non-constant-time comparison: {line}",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
    }
    // The access MAC, the refresh tag and the secret hashes.
    assert!(
        uses_ct_eq >= 3,
        "expected ct_eq at every comparison site, found {uses_ct_eq}"
    );
    // The helper is `subtle` on words.
    let helper = std::fs::read_to_string(src.join("ct.rs")).unwrap();
    assert!(helper.contains("use subtle::ConstantTimeEq;") && helper.contains(".ct_eq("));
    // And the hash comparison behaves.
    let a = tokenlife::refresh::SecretHash([1; 32]);
    let mut b = a;
    assert!(a.ct_matches(&b));
    b.0[31] ^= 0x80;
    assert!(!a.ct_matches(&b));
}

// ---------------------------------------------------------------- I8

#[test]
fn i8_a_failed_write_returns_no_tokens_and_leaves_the_old_state() {
    let (auth, clock) = authority_on(Policy::default(), FaultyStore::new(MemoryStore::new()));
    let pair = block_on(auth.login("alice", &())).unwrap();
    clock.advance(secs(1));
    let before = snapshot(&auth.store().inner, "alice");
    // Fail the get, then the compare-and-swap.
    for fault_on in [0, 1] {
        auth.store()
            .fault_at(auth.store().calls() + fault_on, Fault::Fail);
        let r = block_on(auth.refresh(&pair.refresh_token));
        assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
        assert_eq!(snapshot(&auth.store().inner, "alice"), before);
    }
    // The retry after the faults works.
    let next = block_on(auth.refresh(&pair.refresh_token)).unwrap();
    block_on(auth.verify_live::<()>(&next.access_token)).unwrap();
}

#[test]
fn i8_a_write_that_lands_but_reports_failure_is_recoverable_inside_the_grace_window() {
    let (auth, clock) = authority_on(Policy::default(), FaultyStore::new(MemoryStore::new()));
    let pair = block_on(auth.login("alice", &())).unwrap();
    clock.advance(secs(1));
    auth.store()
        .fault_at(auth.store().calls() + 1, Fault::FailAfterWrite);
    assert!(matches!(
        block_on(auth.refresh(&pair.refresh_token)),
        Err(Error::Store(_))
    ));
    // The store holds the new state; the client never saw its token, and a
    // retry (inside the window) gets exactly the successor the store recorded.
    let after = snapshot(&auth.store().inner, "alice").remove(0);
    assert_eq!(after.generation, 1);
    let retried = block_on(auth.refresh(&pair.refresh_token)).unwrap();
    let (payload, _) = refresh_parts(&retried.refresh_token);
    assert_eq!(
        after.current_hash.0,
        <[u8; 32]>::from(sha2::Sha256::digest(&payload[24..56]))
    );
    block_on(auth.refresh(&retried.refresh_token)).unwrap();
}

#[test]
fn i8_conflicts_are_retried_by_re_reading() {
    let (auth, clock) = authority_on(Policy::default(), FaultyStore::new(MemoryStore::new()));
    let pair = block_on(auth.login("alice", &())).unwrap();
    clock.advance(secs(1));
    let base = auth.store().calls();
    auth.store().fault_at(base + 1, Fault::Conflict);
    auth.store().fault_at(base + 3, Fault::Conflict);
    let next = block_on(auth.refresh(&pair.refresh_token)).unwrap();
    let record = snapshot(&auth.store().inner, "alice").remove(0);
    assert_eq!((record.generation, record.version), (1, 1));
    block_on(auth.refresh(&next.refresh_token)).unwrap();
}

#[test]
fn i8_a_failed_login_stores_nothing_and_returns_nothing() {
    let (auth, _clock) = authority_on(Policy::default(), FaultyStore::new(MemoryStore::new()));
    auth.store().fault_next(Fault::Fail);
    assert!(matches!(
        block_on(auth.login("alice", &())),
        Err(Error::Store(_))
    ));
    assert!(snapshot(&auth.store().inner, "alice").is_empty());
    block_on(auth.login("alice", &())).unwrap();
}

#[test]
fn i8_endless_conflicts_end_in_a_store_error_with_the_old_state() {
    let (auth, clock) = authority_on(Policy::default(), FaultyStore::new(MemoryStore::new()));
    let pair = block_on(auth.login("alice", &())).unwrap();
    clock.advance(secs(1));
    let base = auth.store().calls();
    for i in 0..100 {
        auth.store().fault_at(base + 2 * i + 1, Fault::Conflict);
    }
    let before = snapshot(&auth.store().inner, "alice");
    match block_on(auth.refresh(&pair.refresh_token)) {
        Err(Error::Store(e)) => assert!(e.is_conflict()),
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&auth.store().inner, "alice"), before);
}

// ---------------------------------------------------------------- I9

proptest! {
    #[test]
    fn i9_no_input_panics(input in ".{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (auth, _clock, _store) = authority(Policy::default());
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        for token in [&input, &lossy, &format!("tlr1.{input}"), &format!("eyJ{input}.{input}.{input}")] {
            prop_assert!(auth.verify::<()>(token).is_err());
            prop_assert!(block_on(auth.refresh(token)).is_err());
            prop_assert!(block_on(auth.logout(token)).is_err());
        }
    }
}

#[test]
fn i9_huge_and_hostile_inputs_get_typed_errors() {
    let (auth, _clock, _store) = authority(Policy::default());
    let huge = "a".repeat(1 << 20);
    assert!(matches!(
        auth.verify::<()>(&huge),
        Err(Error::TooLarge {
            len: 1_048_576,
            max: 8192
        })
    ));
    assert!(matches!(
        block_on(auth.refresh(&huge)),
        Err(Error::TooLarge { .. })
    ));
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let header = B64.encode(br#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#);
    let deep = format!(
        "{header}.{}.{}",
        B64.encode(nested.as_bytes()),
        B64.encode([0u8; 32])
    );
    let policy = Policy::default().with_max_token_bytes(1 << 20);
    let (roomy, _, _) = authority(policy);
    assert!(matches!(
        roomy.verify::<()>(&deep),
        Err(Error::BadSignature)
    ));
    for junk in [
        "",
        ".",
        "..",
        "...",
        "tlr1.",
        "tlr1..",
        "tlr1.a.b.c",
        "\u{0}",
        "é.é.é",
    ] {
        assert!(auth.verify::<()>(junk).is_err(), "{junk:?}");
        assert!(block_on(auth.refresh(junk)).is_err(), "{junk:?}");
    }
}

// ---------------------------------------------------------------- I10

#[test]
fn i10_access_and_refresh_tokens_are_not_interchangeable() {
    let (auth, _clock, store) = authority(Policy::default());
    let pair = block_on(auth.login("alice", &())).unwrap();
    let before = snapshot(&*store, "alice");
    assert!(matches!(
        auth.verify::<()>(&pair.refresh_token),
        Err(Error::WrongTokenType)
    ));
    assert!(matches!(
        block_on(auth.verify_live::<()>(&pair.refresh_token)),
        Err(Error::WrongTokenType)
    ));
    assert!(matches!(
        block_on(auth.refresh(&pair.access_token)),
        Err(Error::WrongTokenType)
    ));
    assert!(matches!(
        block_on(auth.logout(&pair.access_token)),
        Err(Error::WrongTokenType)
    ));
    assert_eq!(snapshot(&*store, "alice"), before);
}

#[test]
fn errors_never_print_token_or_key_material() {
    let (auth, clock, _store) = authority(Policy::default());
    let pair = block_on(auth.login("alice", &())).unwrap();
    clock.advance(secs(3600));
    let mut errors = vec![
        auth.verify::<()>(&pair.access_token).unwrap_err(),
        auth.verify::<()>(&pair.refresh_token).unwrap_err(),
        auth.verify::<()>(&format!("{}x", pair.access_token))
            .unwrap_err(),
    ];
    errors.push(block_on(auth.refresh(&format!("{}x", pair.refresh_token))).unwrap_err());
    for e in errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(&pair.access_token[40..60]), "{text}");
            assert!(!text.contains(&pair.refresh_token[40..70]), "{text}");
            assert!(!text.contains("test secret"), "{text}");
        }
    }
    let _ = store_is_send_sync::<MemoryStore>;
}

fn store_is_send_sync<S: SessionStore + Send + Sync + 'static>() {}

/// Two instances sharing a store, the second's clock 500 ms behind: without
/// a grace window the second use of a token is reuse, whatever the clocks say.
#[test]
fn i1_single_use_holds_across_instances_with_skewed_clocks() {
    for (grace, expect_same_successor) in [(secs(0), false), (secs(10), true)] {
        let store = Arc::new(MemoryStore::new());
        let policy = Policy::default().with_reuse_grace(grace);
        let (ahead, _) = authority_with(keys(), policy.clone(), store.clone(), 1);
        let (behind, behind_clock) = authority_with(keys(), policy, store, 2);
        let pair = block_on(ahead.login("alice", &())).unwrap();
        behind_clock.set(START.saturating_sub(ms(500)));
        let first = block_on(ahead.refresh(&pair.refresh_token)).unwrap();
        let second = block_on(behind.refresh(&pair.refresh_token));
        if expect_same_successor {
            assert_eq!(second.unwrap().refresh_token, first.refresh_token);
        } else {
            assert!(matches!(second, Err(Error::RefreshReused)), "{second:?}");
        }
    }
}
