//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same check functions the fuzz targets call, on stable Rust, so CI runs
//! every corpus input without nightly or cargo-fuzz.
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus` rewrites
//! the hand-made seeds (files named `seed-*`); inputs the fuzzer found and
//! we kept are named `found-*` and are never touched by it.

use tokenlife_model as checks;

use std::fs;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    assert!(
        files.len() >= 5,
        "the {target} corpus has only {} files",
        files.len()
    );
    for file in files {
        let data = fs::read(&file).unwrap();
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "{} failed its check", file.display());
    }
}

#[test]
fn verify_access_corpus_passes() {
    replay("verify_access", checks::check_verify_access);
}

#[test]
fn parse_refresh_corpus_passes() {
    replay("parse_refresh", checks::check_parse_refresh);
}

#[test]
fn lifecycle_corpus_passes() {
    replay("lifecycle", checks::check_lifecycle);
}

/// The seeds are made here, from real tokens, so they stay valid when the
/// token format's keys or encoding change.
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, name, data) in seeds() {
        let dir = root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    }
}

fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use tokenlife::{Authority, ManualClock, MemoryStore, Policy};
    let clock = ManualClock::new(checks::START);
    let auth =
        Authority::new(checks::keyring(), Policy::default(), MemoryStore::new()).with_clock(clock);
    let pair =
        pollster::block_on(auth.login("alice", &serde_json::json!({"role": "editor"}))).unwrap();
    let next = pollster::block_on(auth.refresh(&pair.refresh_token)).unwrap();
    let mut out = Vec::new();
    let mut add = |t: &'static str, n: &str, d: Vec<u8>| out.push((t, n.to_owned(), d));
    let raw = |s: &str| [&[0u8][..], s.as_bytes()].concat();
    let signed = |h: &str, p: &str| [&[1u8][..], h.as_bytes(), b"\n", p.as_bytes()].concat();

    // verify_access: mode 0 (raw token text)
    add("verify_access", "valid", raw(&pair.access_token));
    add(
        "verify_access",
        "refresh-as-access",
        raw(&pair.refresh_token),
    );
    add("verify_access", "empty", raw(""));
    add(
        "verify_access",
        "two-segments",
        raw("eyJhbGciOiJub25lIn0.e30"),
    );
    add(
        "verify_access",
        "alg-none",
        raw("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0Iiwia2lkIjoiazEifQ.e30."),
    );
    let t = &pair.access_token;
    add("verify_access", "truncated-sig", raw(&t[..t.len() - 4]));
    add("verify_access", "padded-sig", raw(&format!("{t}=")));
    // mode 1 (header and claims, signed with the real key)
    let sid = pair.session_id.to_string();
    let now = checks::START.as_secs();
    let h = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;
    let claims = format!(
        r#"{{"sub":"alice","sid":"{sid}","iat":{now},"exp":{},"jti":"j"}}"#,
        now + 60
    );
    add("verify_access", "signed-valid", signed(h, &claims));
    add(
        "verify_access",
        "signed-dup-exp",
        signed(
            h,
            &format!(
                r#"{{"sub":"a","sid":"{sid}","iat":1,"exp":1,"exp":{},"jti":"j"}}"#,
                now + 60
            ),
        ),
    );
    add(
        "verify_access",
        "signed-exp-float",
        signed(
            h,
            &format!(r#"{{"sub":"a","sid":"{sid}","iat":1,"exp":1e12,"jti":"j"}}"#),
        ),
    );
    add(
        "verify_access",
        "signed-nbf",
        signed(
            h,
            &format!(
                r#"{{"sub":"a","sid":"{sid}","iat":1,"exp":{},"nbf":{},"jti":"j","aud":["x"],"iss":"i"}}"#,
                now + 60,
                now + 1
            ),
        ),
    );
    add(
        "verify_access",
        "signed-nested",
        signed(
            h,
            &format!(
                r#"{{"sub":"a","x":{}{}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
        ),
    );
    add(
        "verify_access",
        "signed-alg-none",
        signed(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#, &claims),
    );
    add(
        "verify_access",
        "signed-crit",
        signed(
            r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":["b64"]}"#,
            &claims,
        ),
    );
    add(
        "verify_access",
        "signed-typ-app",
        signed(
            r#"{"alg":"HS256","typ":"application/AT+JWT","kid":"k1"}"#,
            &claims,
        ),
    );

    // parse_refresh: mode 0 (raw), mode 1 (payload, tagged)
    add("parse_refresh", "valid", raw(&pair.refresh_token));
    add("parse_refresh", "rotated", raw(&next.refresh_token));
    add(
        "parse_refresh",
        "access-as-refresh",
        raw(&pair.access_token),
    );
    add("parse_refresh", "prefix-only", raw("tlr1."));
    add(
        "parse_refresh",
        "no-tag",
        raw(pair.refresh_token.rsplit_once('.').unwrap().0),
    );
    let mut payload = vec![7u8; 56];
    payload.extend_from_slice(b"k1");
    add(
        "parse_refresh",
        "tagged-valid",
        [&[1u8][..], &payload].concat(),
    );
    let mut bad_kid = vec![7u8; 56];
    bad_kid.extend_from_slice(b"../x");
    add(
        "parse_refresh",
        "tagged-bad-kid",
        [&[1u8][..], &bad_kid].concat(),
    );
    add(
        "parse_refresh",
        "tagged-short",
        [&[1u8][..], &[0u8; 56][..]].concat(),
    );
    add(
        "parse_refresh",
        "tagged-long-kid",
        [&[1u8][..], &[b'k'; 130][..]].concat(),
    );

    // lifecycle: config byte, then ops (see checks::decode_ops)
    add(
        "lifecycle",
        "login-verify-refresh",
        vec![1, 0, 0, 2, 0, 0, 4, 0, 0, 3, 0, 0],
    );
    add(
        "lifecycle",
        "reuse-outside-grace",
        vec![0, 0, 0, 4, 0, 0, 4, 0, 3, 0, 4, 0, 0],
    );
    add(
        "lifecycle",
        "grace-twice",
        vec![1, 0, 0, 4, 0, 0, 4, 0, 3, 0, 4, 0, 4, 0, 3, 0],
    );
    add(
        "lifecycle",
        "expiry-edges",
        vec![
            3, 0, 0, 13, 0, 2, 4, 0, 0, 13, 0, 0, 3, 0, 0, 13, 0, 7, 4, 0, 0,
        ],
    );
    add(
        "lifecycle",
        "logout-all-purge",
        vec![1, 0, 0, 0, 0, 1, 1, 8, 0, 3, 9, 0, 13, 0, 10, 10, 9, 0],
    );
    add(
        "lifecycle",
        "rotate-keys",
        vec![1, 0, 0, 14, 4, 0, 0, 15, 4, 0, 3, 0, 2, 0, 2, 0],
    );
    add(
        "lifecycle",
        "forgeries",
        vec![
            0, 0, 0, 4, 0, 5, 0, 9, 3, 4, 0, 6, 7, 0, 7, 2, 0, 5, 2, 0, 0, 1,
        ],
    );
    out
}

#[test]
fn jwks_corpus_passes() {
    replay("jwks", checks::check_jwks);
    // The control: the reference seed's token really verifies, so the
    // fuzzer starts behind the signature.
    let doc = checks::jwks_keyring().jwks(checks::START).to_json();
    let verifier = tokenlife::Verifier::from_jwks(&doc, tokenlife::Policy::default()).unwrap();
    let token = checks::jwks_token(Some(r#"{"role":"editor"}"#.into()));
    assert!(verifier.verify::<()>(&token, checks::START).is_ok());
}

/// The `jwks` seeds: the reference keyring's JWKS with real tokens, and the
/// documents `Verifier::from_jwks` must refuse.
#[test]
#[ignore = "writes fuzz/corpus/jwks; run by hand"]
fn write_jwks_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/jwks");
    fs::create_dir_all(&dir).unwrap();
    for (name, data) in jwks_seeds() {
        fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    }
}

fn jwks_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let doc = checks::jwks_keyring().jwks(checks::START).to_json();
    let token = checks::jwks_token(Some(r#"{"role":"editor"}"#.into()));
    let with = |d: &str, t: &[u8]| [d.as_bytes(), b"\0", t].concat();
    let edit = |from: &str, to: &str| doc.replacen(from, to, 1).into_bytes();
    let (h, p, _) = {
        let mut parts = token.split('.');
        (parts.next().unwrap(), parts.next().unwrap(), parts.next())
    };
    vec![
        ("reference", doc.clone().into_bytes()),
        ("reference-token", with(&doc, token.as_bytes())),
        ("reference-signed-claims", with(&doc, b"\x01{\"role\":\"editor\",\"n\":[1,2]}")),
        ("reference-signed-bad-claims", with(&doc, b"\x01{\"sub\":1}")),
        ("reference-alg-none", with(&doc, format!("{h}.{p}.").as_bytes())),
        ("private-d", edit(r#""kid":"e1""#, r#""kid":"e1","d":"AAAA""#)),
        ("private-null-d", edit(r#""kid":"e1""#, r#""kid":"e1","d":null"#)),
        ("duplicate-kid", edit(r#""kid":"p1""#, r#""kid":"e1""#)),
        ("mixed-use", edit(r#""use":"sig""#, r#""use":"enc""#)),
        ("alg-mismatch", edit(r#""alg":"EdDSA""#, r#""alg":"ES256""#)),
        ("weak-key", br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","kid":"w"}]}"#.to_vec()),
        ("oct", br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h","alg":"HS256"}]}"#.to_vec()),
        ("rsa", br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r"}]}"#.to_vec()),
        ("empty-set-token", with(r#"{"keys":[]}"#, token.as_bytes())),
        ("not-json", b"{\"keys\":[".to_vec()),
    ]
}
