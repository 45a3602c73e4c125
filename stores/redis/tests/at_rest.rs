//! Nothing in Redis can be replayed as a token (DESIGN.md I6): every key
//! of the server, dumped and read, holds no refresh secret in any form.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use pollster::block_on;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use redis::Value;
use tokenlife::{Authority, Keyring, ManualClock, Policy, SharedRng, UnixMillis};

const START: UnixMillis = UnixMillis(1_764_000_000_000);

#[test]
#[ignore = "needs Redis: set TOKENLIFE_REDIS_URL, or run ./scripts/test.sh"]
fn redis_holds_no_refresh_secret_in_any_form() {
    let url = common::url();
    let store = common::fresh_store();
    let pattern = store.key_pattern();
    let keys = Keyring::new("k1", b"test secret: thirty-two bytes or more!!").unwrap();
    let auth = Authority::new(keys, Policy::default(), store)
        .with_clock(ManualClock::new(START))
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(1)));
    let mut issued = Vec::new();
    for subject in ["alice", "bob", "carol"] {
        let pair = block_on(auth.login(subject, &())).unwrap();
        let next = block_on(auth.refresh(&pair.refresh_token)).unwrap();
        issued.extend([pair, next]);
    }
    block_on(auth.logout(&issued[5].refresh_token)).unwrap();

    // Every key on the server (ours and any other test's), as DUMP
    // serialises it and as its type's read command returns it.
    let mut admin = common::admin(&url);
    let mut all_keys: Vec<Vec<u8>> = Vec::new();
    let mut cursor = 0u64;
    for _ in 0..100_000 {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query(&mut admin)
            .unwrap();
        all_keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(cursor, 0, "SCAN did not finish");
    let ours: Vec<&Vec<u8>> = all_keys
        .iter()
        .filter(|k| glob_prefix_matches(&pattern, k))
        .collect();
    // 3 sessions: a hash each, a subject set each, and the expiry index of
    // each bucket used.
    assert!(ours.len() > 3 + 3, "{} keys of ours", ours.len());

    let mut dump: Vec<u8> = Vec::new();
    for key in &all_keys {
        dump.extend_from_slice(key);
        let serialised: Value = redis::cmd("DUMP").arg(key).query(&mut admin).unwrap();
        flatten(&serialised, &mut dump);
        let kind: String = redis::cmd("TYPE").arg(key).query(&mut admin).unwrap();
        let read = match kind.as_str() {
            "string" => redis::cmd("GET").arg(key).clone(),
            "hash" => redis::cmd("HGETALL").arg(key).clone(),
            "set" => redis::cmd("SMEMBERS").arg(key).clone(),
            "zset" => redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .clone(),
            "list" => redis::cmd("LRANGE").arg(key).arg(0).arg(-1).clone(),
            "none" => continue, // expired between SCAN and now
            other => panic!("a key of type {other}"),
        };
        let value: Value = read.query(&mut admin).unwrap();
        flatten(&value, &mut dump);
    }
    let dump_text = String::from_utf8_lossy(&dump).into_owned();
    let dump = latin1(&dump);
    // What a dump does show: the sessions and their hashes.
    for pair in &issued {
        assert!(dump_text.contains(&pair.session_id.to_string()));
    }
    for pair in &issued {
        let secret = refresh_secret(&pair.refresh_token);
        let json_array = format!("{secret:?}").replace(' ', "");
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let forms: Vec<Vec<u8>> = vec![
            pair.refresh_token.clone().into_bytes(),
            secret.clone(),
            json_array.into_bytes(),
            hex.clone().into_bytes(),
            hex.to_uppercase().into_bytes(),
            URL_SAFE_NO_PAD.encode(&secret).into_bytes(),
            URL_SAFE.encode(&secret).into_bytes(),
            STANDARD.encode(&secret).into_bytes(),
            STANDARD_NO_PAD.encode(&secret).into_bytes(),
        ];
        for form in forms {
            assert!(
                !contains(&dump, &form),
                "a refresh secret is in Redis (a form {} bytes long)",
                form.len()
            );
        }
    }
}

/// Whether `key` matches `{prefix:?}:*`.
fn glob_prefix_matches(pattern: &str, key: &[u8]) -> bool {
    let (head, _) = pattern.split_once('?').unwrap();
    key.starts_with(head.as_bytes()) && key.get(head.len() + 1..head.len() + 3) == Some(b"}:")
}

/// Every byte string inside `value`, appended to `out`.
fn flatten(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::BulkString(bytes) => out.extend_from_slice(bytes),
        Value::SimpleString(s) => out.extend_from_slice(s.as_bytes()),
        Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                out.push(b'\n');
                flatten(item, out);
            }
        }
        Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out);
                flatten(v, out);
            }
        }
        _ => {}
    }
    out.push(b'\n');
}

/// Whether `needle` is in `haystack`, byte for byte.
fn contains(haystack: &str, needle: &[u8]) -> bool {
    haystack.contains(&latin1(needle))
}

/// Each byte as the char of the same number: a byte search done by `str`'s
/// (optimised) substring search.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The secret `s_g` of a refresh token: payload bytes 24..56 (see
/// `tokenlife::refresh`).
fn refresh_secret(token: &str) -> Vec<u8> {
    let payload = token
        .strip_prefix("tlr1.")
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    URL_SAFE_NO_PAD.decode(payload).unwrap()[24..56].to_vec()
}
