//! The attack catalogue: one named test per hostile token.
//!
//! Every row is rejected with the specific `Error` variant it deserves,
//! without panicking, and without touching the store: the fixture routes all
//! store calls through a `FaultyStore` and each row asserts that the call
//! count did not move and that the stored sessions are byte-for-byte what
//! they were (DESIGN.md I5, I9, I10). Access-token rows go through both
//! `verify` and `verify_live`; refresh-token rows through both `refresh`
//! and `logout`.
//!
//! Tokens are crafted by hand with the authority's own access key where a
//! row needs a valid MAC, so that the rejection is shown to come from the
//! property under test and not from the signature.

mod support;

use std::cell::Cell;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{KeyInit, Mac};
use serde_json::json;
use support::{FaultyStore, TestAuthority};
use tokenlife::{Error, Keyring, Malformed, MemoryStore, Policy, Session, TokenPair, UnixMillis};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;
type HmacSha384 = hmac::Hmac<sha2::Sha384>;
type Store = Arc<FaultyStore<Arc<MemoryStore>>>;

const OTHER_SECRET: &[u8] = b"another secret, also 32 bytes or longer";

struct Fx {
    auth: TestAuthority<Store>,
    store: Store,
    pair: TokenPair,
    before: Vec<Session>,
    calls: Cell<usize>,
    access_key: [u8; 32],
}

/// An authority with signing key `k1` and verify-only key `k0`, one live
/// session of `alice`, and the store state to compare against.
fn fixture() -> Fx {
    fixture_with(Policy::default())
}

fn fixture_with(policy: Policy) -> Fx {
    let mut keys = support::keys();
    keys.add_verify_only("k0", OTHER_SECRET).unwrap();
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let (auth, _clock) = support::authority_with(keys, policy, store.clone(), 11);
    let pair = support::block_on(auth.login("alice", &json!({"role": "editor"}))).unwrap();
    let access_key = *auth.keyring().access_token_secret("k1").unwrap();
    let before = support::snapshot(&store.inner, "alice");
    assert_eq!(before.len(), 1);
    let calls = Cell::new(store.calls());
    Fx {
        auth,
        store,
        pair,
        before,
        calls,
        access_key,
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hs256(key: &[u8], input: &str) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    b64(mac.finalize().into_bytes())
}

const HEADER: &str = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;

impl Fx {
    /// Claims that `verify` accepts, as a JSON text.
    fn claims(&self) -> String {
        let now = support::START.as_secs();
        json!({
            "sub": "alice",
            "sid": self.pair.session_id.to_string(),
            "iat": now,
            "exp": now + 60,
            "jti": "attack",
        })
        .to_string()
    }

    /// `header.payload` (both JSON texts, encoded canonically) with a valid MAC.
    fn jwt(&self, header: &str, payload: &str) -> String {
        self.signed(&b64(header), &b64(payload))
    }

    /// Already-encoded segments with a valid MAC over exactly them.
    fn signed(&self, header_b64: &str, payload_b64: &str) -> String {
        let input = format!("{header_b64}.{payload_b64}");
        let sig = hs256(&self.access_key, &input);
        format!("{input}.{sig}")
    }

    /// Verifies the store was not touched since the fixture was made.
    fn assert_store_untouched(&self) {
        assert_eq!(
            self.store.calls(),
            self.calls.get(),
            "a rejected token reached the store"
        );
        assert_eq!(support::snapshot(&self.store.inner, "alice"), self.before);
    }

    /// The legitimate access token still passes `verify_live` (one store
    /// read, which changes nothing): the session was not revoked.
    fn assert_session_still_live(&self) {
        support::block_on(self.auth.verify_live::<()>(&self.pair.access_token)).unwrap();
        self.calls.set(self.store.calls());
    }

    fn refresh_payload(&self) -> (Vec<u8>, String) {
        let rest = self.pair.refresh_token.strip_prefix("tlr1.").unwrap();
        let (payload, tag) = rest.split_once('.').unwrap();
        (URL_SAFE_NO_PAD.decode(payload).unwrap(), tag.to_owned())
    }

    /// The session's refresh token with its payload edited, tag kept.
    fn edited_refresh(&self, edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let (mut payload, tag) = self.refresh_payload();
        edit(&mut payload);
        format!("tlr1.{}.{tag}", b64(payload))
    }
}

/// Runs `$token` through `verify` and `verify_live`; both must fail with
/// `$pat`, the store must be untouched and the session still live.
macro_rules! rejects_access {
    ($fx:expr, $token:expr, $pat:pat) => {
        rejects_access!($fx, $token, $pat if true)
    };
    ($fx:expr, $token:expr, $pat:pat if $guard:expr) => {{
        let fx = &$fx;
        let token: String = $token;
        let r = fx.auth.verify::<()>(&token);
        assert!(matches!(r, Err($pat) if $guard), "verify: {r:?}");
        let shown = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(token.len() < 8 || !shown.contains(&token[..8]), "error echoes the token");
        let r = support::block_on(fx.auth.verify_live::<()>(&token));
        assert!(matches!(r, Err($pat) if $guard), "verify_live: {r:?}");
        fx.assert_store_untouched();
        fx.assert_session_still_live();
    }};
}

/// Runs `$token` through `refresh` and `logout`; both must fail with
/// `$pat`, the store must be untouched and the session still live.
macro_rules! rejects_refresh {
    ($fx:expr, $token:expr, $pat:pat) => {
        rejects_refresh!($fx, $token, $pat if true)
    };
    ($fx:expr, $token:expr, $pat:pat if $guard:expr) => {{
        let fx = &$fx;
        let token: String = $token;
        let r = support::block_on(fx.auth.refresh(&token));
        assert!(matches!(r, Err($pat) if $guard), "refresh: {r:?}");
        let r = support::block_on(fx.auth.logout(&token));
        assert!(matches!(r, Err($pat) if $guard), "logout: {r:?}");
        fx.assert_store_untouched();
        fx.assert_session_still_live();
    }};
}

// ---- controls: the crafting itself is right ------------------------------

#[test]
fn control_hand_crafted_token_is_accepted() {
    let fx = fixture();
    let token = fx.jwt(HEADER, &fx.claims());
    let claims = fx.auth.verify::<()>(&token).unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.sid, fx.pair.session_id);
}

#[test]
fn control_issued_header_is_what_we_craft() {
    let fx = fixture();
    let issued_header = fx.pair.access_token.split('.').next().unwrap();
    assert_eq!(issued_header, b64(HEADER));
}

// ---- alg ------------------------------------------------------------------

#[test]
fn alg_none_without_signature() {
    let fx = fixture();
    let h = b64(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
    // The header is judged before the (empty) signature.
    rejects_access!(
        fx,
        format!("{h}.{}.", b64(fx.claims())),
        Error::UnsupportedAlgorithm
    );
    rejects_access!(
        fx,
        format!("{h}.{}.AAAA", b64(fx.claims())),
        Error::UnsupportedAlgorithm
    );
}

#[test]
fn alg_none_with_valid_mac() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::UnsupportedAlgorithm);
}

#[test]
fn alg_none_upper_case() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"NONE","typ":"at+jwt","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::UnsupportedAlgorithm);
}

#[test]
fn alg_hs256_lower_case() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"hs256","typ":"at+jwt","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::UnsupportedAlgorithm);
}

#[test]
fn alg_hs384_signed_with_hs384() {
    let fx = fixture();
    let input = format!(
        "{}.{}",
        b64(r#"{"alg":"HS384","typ":"at+jwt","kid":"k1"}"#),
        b64(fx.claims())
    );
    let mut mac = <HmacSha384 as KeyInit>::new_from_slice(&fx.access_key).unwrap();
    mac.update(input.as_bytes());
    let t = format!("{input}.{}", b64(mac.finalize().into_bytes()));
    rejects_access!(fx, t, Error::UnsupportedAlgorithm);
}

#[test]
fn alg_rs256_with_hmac_key_as_public_key() {
    // The classic key-confusion attack: a verifier that picks the algorithm
    // from the header would check this "RSA" signature as an HMAC.
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::UnsupportedAlgorithm);
}

#[test]
fn alg_missing_or_not_a_string() {
    let fx = fixture();
    let t = fx.jwt(r#"{"typ":"at+jwt","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::Malformed(Malformed::Header));
    let t = fx.jwt(r#"{"alg":null,"typ":"at+jwt","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::Malformed(Malformed::Header));
}

#[test]
fn crit_header_is_refused() {
    let fx = fixture();
    let t = fx.jwt(
        r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":["exp"]}"#,
        &fx.claims(),
    );
    rejects_access!(fx, t, Error::Malformed(Malformed::Header));
}

// ---- typ ------------------------------------------------------------------

#[test]
fn typ_missing() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"HS256","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::WrongTokenType);
}

#[test]
fn typ_empty() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"HS256","typ":"","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::WrongTokenType);
}

#[test]
fn typ_plain_jwt() {
    // An ID token or any other JWT signed with the same key is not an access token.
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::WrongTokenType);
}

#[test]
fn typ_not_a_string() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"HS256","typ":7,"kid":"k1"}"#, &fx.claims());
    rejects_access!(fx, t, Error::Malformed(Malformed::Header));
}

// ---- kid ------------------------------------------------------------------

#[test]
fn kid_unknown() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"HS256","typ":"at+jwt","kid":"k9"}"#, &fx.claims());
    rejects_access!(fx, t, Error::UnknownKey);
}

#[test]
fn kid_missing() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"HS256","typ":"at+jwt"}"#, &fx.claims());
    rejects_access!(fx, t, Error::UnknownKey);
}

#[test]
fn kid_empty() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"HS256","typ":"at+jwt","kid":""}"#, &fx.claims());
    rejects_access!(fx, t, Error::UnknownKey);
}

#[test]
fn kid_huge() {
    let fx = fixture();
    let header = format!(
        r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#,
        "k".repeat(5000)
    );
    let t = fx.jwt(&header, &fx.claims());
    assert!(
        t.len() <= 8 * 1024,
        "must get past the length limit to test the kid"
    );
    rejects_access!(fx, t, Error::UnknownKey);
}

#[test]
fn kid_path_like() {
    let fx = fixture();
    for kid in [
        "../../../../etc/passwd",
        "/dev/null",
        "k1/../k1",
        "file:///k1",
    ] {
        let header = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#);
        rejects_access!(fx, fx.jwt(&header, &fx.claims()), Error::UnknownKey);
    }
    // JSON escapes are unescaped before the lookup, so `k1\u0000` is its
    // own (unknown) id and cannot alias `k1`.
    let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1\u0000"}"#;
    rejects_access!(fx, fx.jwt(header, &fx.claims()), Error::UnknownKey);
}

#[test]
fn escaped_header_strings_are_read_unescaped() {
    // PHP's json_encode writes `application\/at+jwt`: the same type.
    let fx = fixture();
    let header = r#"{"alg":"HS\u0032\u00356","typ":"application\/at+jwt","kid":"\u006b1"}"#;
    let claims = fx.auth.verify::<()>(&fx.jwt(header, &fx.claims())).unwrap();
    assert_eq!(claims.sub, "alice");
    let header = r#"{"alg":"HS256","typ":"at\/jwt","kid":"k1"}"#;
    rejects_access!(fx, fx.jwt(header, &fx.claims()), Error::WrongTokenType);
}

#[test]
fn kid_of_a_verify_only_key_with_the_signing_keys_mac() {
    let fx = fixture();
    let t = fx.jwt(r#"{"alg":"HS256","typ":"at+jwt","kid":"k0"}"#, &fx.claims());
    rejects_access!(fx, t, Error::BadSignature);
}

// ---- non-canonical base64 --------------------------------------------------

#[test]
fn base64_padding_in_header() {
    let fx = fixture();
    let t = fx.signed(&format!("{}=", b64(HEADER)), &b64(fx.claims()));
    rejects_access!(fx, t, Error::Malformed(Malformed::Base64));
}

#[test]
fn base64_padding_in_payload_with_valid_mac() {
    let fx = fixture();
    let mut claims = fx.claims();
    // Make the payload length not a multiple of 3, so padding is meaningful.
    while claims.len().is_multiple_of(3) {
        claims.insert(1, ' ');
    }
    let padded = base64::engine::general_purpose::URL_SAFE.encode(&claims);
    assert!(padded.ends_with('='));
    rejects_access!(
        fx,
        fx.signed(&b64(HEADER), &padded),
        Error::Malformed(Malformed::Base64)
    );
}

#[test]
fn base64_standard_alphabet_in_payload_with_valid_mac() {
    let fx = fixture();
    let now = support::START.as_secs();
    let claims = json!({
        "sub": "alice", "sid": fx.pair.session_id.to_string(),
        "iat": now, "exp": now + 60, "jti": "~~~???>>>",
    })
    .to_string();
    let std = STANDARD.encode(&claims).trim_end_matches('=').to_owned();
    assert!(std.contains('+') || std.contains('/'), "{std}");
    rejects_access!(
        fx,
        fx.signed(&b64(HEADER), &std),
        Error::Malformed(Malformed::Base64)
    );
}

#[test]
fn base64_plus_slash_in_signature() {
    let fx = fixture();
    let mut t = fx.jwt(HEADER, &fx.claims());
    let n = t.len();
    t.replace_range(n - 43..n - 42, "+");
    rejects_access!(fx, t, Error::Malformed(Malformed::Base64));
}

fn with_trailing_bits(sig: &str) -> String {
    // 32 bytes take 43 characters; the last carries 4 bits and 2 zero bits.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *sig.as_bytes().last().unwrap();
    let i = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(i & 3, 0, "canonical encoding has zero trailing bits");
    format!("{}{}", &sig[..sig.len() - 1], ALPHABET[i | 1] as char)
}

#[test]
fn base64_non_zero_trailing_bits_in_signature() {
    // Same MAC bytes, different text: the malleability canonical decoding prevents.
    let fx = fixture();
    let t = fx.jwt(HEADER, &fx.claims());
    let (signed, sig) = t.rsplit_once('.').unwrap();
    rejects_access!(
        fx,
        format!("{signed}.{}", with_trailing_bits(sig)),
        Error::Malformed(Malformed::Base64)
    );
}

#[test]
fn base64_whitespace_in_signature() {
    let fx = fixture();
    let t = fx.jwt(HEADER, &fx.claims());
    rejects_access!(fx, format!("{t}\n"), Error::Malformed(Malformed::Base64));
    let (signed, sig) = t.rsplit_once('.').unwrap();
    rejects_access!(
        fx,
        format!("{signed}. {}", &sig[1..]),
        Error::Malformed(Malformed::Base64)
    );
}

#[test]
fn base64_whitespace_in_header() {
    let fx = fixture();
    let h = b64(HEADER);
    let t = fx.signed(&format!("{} {}", &h[..8], &h[8..]), &b64(fx.claims()));
    rejects_access!(fx, t, Error::Malformed(Malformed::Base64));
}

// ---- signature ------------------------------------------------------------

#[test]
fn signature_truncated() {
    let fx = fixture();
    let t = fx.jwt(HEADER, &fx.claims());
    rejects_access!(fx, t[..t.len() - 4].to_owned(), Error::BadSignature);
}

#[test]
fn signature_extended() {
    let fx = fixture();
    let t = fx.jwt(HEADER, &fx.claims());
    rejects_access!(fx, format!("{t}AAAA"), Error::BadSignature);
}

#[test]
fn signature_empty() {
    let fx = fixture();
    let t = fx.jwt(HEADER, &fx.claims());
    let (signed, _) = t.rsplit_once('.').unwrap();
    rejects_access!(fx, format!("{signed}."), Error::BadSignature);
}

#[test]
fn signature_of_another_keyring() {
    let fx = fixture();
    let other = Keyring::new("k1", OTHER_SECRET).unwrap();
    let key = other.access_token_secret("k1").unwrap();
    let input = format!("{}.{}", b64(HEADER), b64(fx.claims()));
    let t = format!("{input}.{}", hs256(&*key, &input));
    rejects_access!(fx, t, Error::BadSignature);
}

#[test]
fn token_issued_by_another_authority() {
    let fx = fixture();
    let (other, _) = support::authority_with(
        Keyring::new("k1", OTHER_SECRET).unwrap(),
        Policy::default(),
        MemoryStore::new(),
        11,
    );
    let foreign = support::block_on(other.login("alice", &())).unwrap();
    rejects_access!(fx, foreign.access_token, Error::BadSignature);
    rejects_refresh!(fx, foreign.refresh_token, Error::BadSignature);
}

#[test]
fn payload_edited_after_signing() {
    let fx = fixture();
    let t = fx.pair.access_token.clone();
    let mut parts: Vec<&str> = t.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("admin");
    let edited = b64(claims.to_string());
    parts[1] = &edited;
    rejects_access!(fx, parts.join("."), Error::BadSignature);
}

// ---- segments -------------------------------------------------------------

#[test]
fn segments_empty_token() {
    let fx = fixture();
    rejects_access!(fx, String::new(), Error::Malformed(Malformed::Segments));
}

#[test]
fn segments_missing() {
    let fx = fixture();
    let t = fx.jwt(HEADER, &fx.claims());
    let (signed, _) = t.rsplit_once('.').unwrap();
    rejects_access!(fx, signed.to_owned(), Error::Malformed(Malformed::Segments));
    rejects_access!(fx, b64(HEADER), Error::Malformed(Malformed::Segments));
}

#[test]
fn segments_extra() {
    let fx = fixture();
    let t = fx.jwt(HEADER, &fx.claims());
    rejects_access!(
        fx,
        format!("{t}.{}", "AAAA"),
        Error::Malformed(Malformed::Segments)
    );
    // A JWE-shaped five-part token.
    rejects_access!(
        fx,
        format!("{t}.AA.AA"),
        Error::Malformed(Malformed::Segments)
    );
}

#[test]
fn segments_dot_inside_the_payload_of_our_own_header() {
    // Our exact header, a 43-character signature: the fast split. A dot
    // in the payload makes four segments, refused as such whether or not
    // the MAC covers the dotted text.
    let fx = fixture();
    let (header, rest) = fx.pair.access_token.split_once('.').unwrap();
    let (payload, sig) = rest.rsplit_once('.').unwrap();
    let (a, b) = payload.split_at(payload.len() / 2);
    rejects_access!(
        fx,
        format!("{header}.{a}.{b}.{sig}"),
        Error::Malformed(Malformed::Segments)
    );
    rejects_access!(
        fx,
        fx.signed(header, &format!("{a}.{b}")),
        Error::Malformed(Malformed::Segments)
    );
    rejects_access!(
        fx,
        fx.signed(header, &format!("{payload}.")),
        Error::Malformed(Malformed::Segments)
    );
}

#[test]
fn segments_empty_header_or_payload() {
    let fx = fixture();
    rejects_access!(
        fx,
        fx.signed("", &b64(fx.claims())),
        Error::Malformed(Malformed::Segments)
    );
    rejects_access!(
        fx,
        fx.signed(&b64(HEADER), ""),
        Error::Malformed(Malformed::Segments)
    );
    rejects_access!(fx, "..".to_owned(), Error::Malformed(Malformed::Segments));
}

// ---- header / payload not a JSON object -----------------------------------

#[test]
fn header_not_a_json_object() {
    let fx = fixture();
    for h in [
        "[]",
        "\"HS256\"",
        "null",
        "not json",
        "{",
        "{\"alg\":\"HS256\"}}",
    ] {
        rejects_access!(
            fx,
            fx.jwt(h, &fx.claims()),
            Error::Malformed(Malformed::Header)
        );
    }
}

#[test]
fn payload_not_a_json_object() {
    let fx = fixture();
    for p in ["[]", "42", "null", "not json", "{", "\u{feff}{}"] {
        rejects_access!(fx, fx.jwt(HEADER, p), Error::Malformed(Malformed::Claims));
    }
}

#[test]
fn payload_not_utf8() {
    let fx = fixture();
    let t = fx.signed(&b64(HEADER), &b64([0xff, 0xfe, b'{', b'}']));
    rejects_access!(fx, t, Error::Malformed(Malformed::Claims));
}

#[test]
fn header_duplicate_alg() {
    // Parsers that keep the first or the last key disagree; refuse both.
    let fx = fixture();
    let t = fx.jwt(
        r#"{"alg":"none","alg":"HS256","typ":"at+jwt","kid":"k1"}"#,
        &fx.claims(),
    );
    rejects_access!(fx, t, Error::Malformed(Malformed::Header));
}

#[test]
fn claims_duplicate_exp() {
    let fx = fixture();
    let now = support::START.as_secs();
    let sid = fx.pair.session_id;
    let p = format!(
        r#"{{"sub":"alice","sid":"{sid}","iat":{now},"exp":{},"exp":{},"jti":"x"}}"#,
        now - 10,
        now + 10_000
    );
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
}

// ---- claim types ----------------------------------------------------------

fn claims_with(fx: &Fx, field: &str, raw: &str) -> String {
    let mut v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&fx.claims()).unwrap();
    v.remove(field);
    let rest = serde_json::Value::Object(v).to_string();
    format!(r#"{{"{field}":{raw},{}"#, &rest[1..])
}

#[test]
fn exp_as_string() {
    let fx = fixture();
    let p = claims_with(&fx, "exp", "\"99999999999\"");
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
}

#[test]
fn exp_as_float() {
    let fx = fixture();
    let p = claims_with(&fx, "exp", "1.9e12");
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
}

#[test]
fn exp_negative() {
    let fx = fixture();
    let p = claims_with(&fx, "exp", "-1");
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
}

#[test]
fn exp_beyond_u64() {
    let fx = fixture();
    let p = claims_with(&fx, "exp", "18446744073709551616");
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
}

#[test]
fn exp_missing_or_null() {
    let fx = fixture();
    let mut v: serde_json::Value = serde_json::from_str(&fx.claims()).unwrap();
    v.as_object_mut().unwrap().remove("exp");
    rejects_access!(
        fx,
        fx.jwt(HEADER, &v.to_string()),
        Error::Malformed(Malformed::Claims)
    );
    let p = claims_with(&fx, "exp", "null");
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
}

#[test]
fn exp_in_the_past_with_valid_mac() {
    let fx = fixture();
    let p = claims_with(&fx, "exp", &support::START.as_secs().to_string());
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Expired { at, now } if at == support::START && now == support::START);
}

#[test]
fn iat_as_string_or_float() {
    let fx = fixture();
    let p = claims_with(&fx, "iat", "\"1764000000\"");
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
    let p = claims_with(&fx, "iat", "1764000000.5");
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
}

#[test]
fn nbf_as_string_negative_or_huge() {
    let fx = fixture();
    for raw in ["\"0\"", "-5", "1e400", "18446744073709551616"] {
        let p = claims_with(&fx, "nbf", raw);
        rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
    }
}

#[test]
fn nbf_in_the_future_with_valid_mac() {
    let fx = fixture();
    let at = support::START.as_secs() + 1;
    let p = claims_with(&fx, "nbf", &at.to_string());
    rejects_access!(fx, fx.jwt(HEADER, &p), Error::NotYetValid { at: a, .. } if a == UnixMillis::from_secs(at));
}

#[test]
fn sid_not_a_session_id() {
    let fx = fixture();
    for raw in ["\"\"", "\"../../x\"", "42", "\"AAAAAAAAAAAAAAAAAAAAAA==\""] {
        let p = claims_with(&fx, "sid", raw);
        rejects_access!(fx, fx.jwt(HEADER, &p), Error::Malformed(Malformed::Claims));
    }
}

fn nested_claims(fx: &Fx, depth: usize) -> String {
    let mut p = fx.claims();
    p.pop();
    p.push_str(",\"x\":");
    p.push_str(&"[".repeat(depth));
    p.push_str(&"]".repeat(depth));
    p.push('}');
    p
}

#[test]
fn deeply_nested_payload_without_valid_mac() {
    // The payload is not parsed at all before the MAC verifies.
    let fx = fixture();
    let p = nested_claims(&fx, 2000);
    let t = format!("{}.{}.{}", b64(HEADER), b64(p), b64([0u8; 32]));
    assert!(t.len() <= 8 * 1024);
    rejects_access!(fx, t, Error::BadSignature);
}

#[test]
fn deeply_nested_payload_with_valid_mac() {
    // Behind a valid MAC (only a key holder can get here), an application
    // claims type that reads the nested member hits serde_json's depth
    // limit: a typed error, no stack overflow.
    let fx = fixture();
    let t = fx.jwt(HEADER, &nested_claims(&fx, 2000));
    assert!(t.len() <= 8 * 1024);
    let calls = fx.store.calls();
    let r = fx
        .auth
        .verify::<serde_json::Map<String, serde_json::Value>>(&t);
    assert!(
        matches!(r, Err(Error::Malformed(Malformed::Claims))),
        "{r:?}"
    );
    let r = support::block_on(
        fx.auth
            .verify_live::<serde_json::Map<String, serde_json::Value>>(&t),
    );
    assert!(
        matches!(r, Err(Error::Malformed(Malformed::Claims))),
        "{r:?}"
    );
    assert_eq!(fx.store.calls(), calls);
    // A claims type that ignores unknown members must at least not panic or
    // overflow the stack, whatever it decides.
    let _ = fx.auth.verify::<()>(&t);
    fx.assert_store_untouched();
}

#[test]
fn deeply_nested_header_without_valid_mac() {
    // The header is parsed before the MAC is checked, so it must be safe to
    // parse when nested: ignored members are skipped without recursion.
    let fx = fixture();
    let depth = 2500;
    let h = format!(
        r#"{{"alg":"HS256","typ":"at+jwt","kid":"k1","x":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let t = format!("{}.{}.{}", b64(h), b64(fx.claims()), b64([0u8; 32]));
    assert!(t.len() <= 8 * 1024);
    rejects_access!(fx, t, Error::BadSignature);
}

// ---- size -----------------------------------------------------------------

#[test]
fn one_mebibyte_access_token() {
    let fx = fixture();
    let t = "A".repeat(1 << 20);
    rejects_access!(fx, t, Error::TooLarge { len, max } if len == 1 << 20 && max == 8 * 1024);
}

#[test]
fn one_mebibyte_refresh_token() {
    let fx = fixture();
    let t = format!("tlr1.{}", "A".repeat(1 << 20));
    rejects_refresh!(fx, t, Error::TooLarge { len, max } if len == 5 + (1 << 20) && max == 8 * 1024);
}

// ---- type confusion (I10) -------------------------------------------------

#[test]
fn refresh_token_as_access_token() {
    let fx = fixture();
    rejects_access!(fx, fx.pair.refresh_token.clone(), Error::WrongTokenType);
}

#[test]
fn access_token_as_refresh_token() {
    let fx = fixture();
    rejects_refresh!(fx, fx.pair.access_token.clone(), Error::WrongTokenType);
}

// ---- refresh tokens ---------------------------------------------------------

#[test]
fn control_edited_refresh_without_change_is_accepted() {
    let fx = fixture();
    let same = fx.edited_refresh(|_| {});
    assert_eq!(same, fx.pair.refresh_token);
}

#[test]
fn refresh_with_edited_session_id() {
    let fx = fixture();
    rejects_refresh!(fx, fx.edited_refresh(|p| p[0] ^= 1), Error::BadSignature);
}

#[test]
fn refresh_with_session_id_of_another_live_session() {
    // Bob cannot revoke Alice's session by pasting her session id into his token.
    let fx = fixture();
    let bob = support::block_on(fx.auth.login("bob", &())).unwrap();
    let bob_before = support::snapshot(&fx.store.inner, "bob");
    fx.calls.set(fx.store.calls());
    let alice_sid = *fx.pair.session_id.as_bytes();
    let rest = bob.refresh_token.strip_prefix("tlr1.").unwrap();
    let (payload, tag) = rest.split_once('.').unwrap();
    let mut payload = URL_SAFE_NO_PAD.decode(payload).unwrap();
    payload[..16].copy_from_slice(&alice_sid);
    rejects_refresh!(
        fx,
        format!("tlr1.{}.{tag}", b64(payload)),
        Error::BadSignature
    );
    assert_eq!(
        support::snapshot(&fx.store.inner, "bob")[0].revoked,
        bob_before[0].revoked
    );
}

#[test]
fn refresh_with_edited_generation() {
    let fx = fixture();
    for g in [1u64, 2, u64::MAX] {
        let t = fx.edited_refresh(|p| p[16..24].copy_from_slice(&g.to_be_bytes()));
        rejects_refresh!(fx, t, Error::BadSignature);
    }
}

#[test]
fn refresh_with_edited_secret() {
    let fx = fixture();
    rejects_refresh!(
        fx,
        fx.edited_refresh(|p| p[40] ^= 0x80),
        Error::BadSignature
    );
}

#[test]
fn refresh_with_edited_key_id_unknown() {
    let fx = fixture();
    let t = fx.edited_refresh(|p| {
        p.truncate(56);
        p.extend_from_slice(b"k9");
    });
    rejects_refresh!(fx, t, Error::UnknownKey);
}

#[test]
fn refresh_with_edited_key_id_of_a_verify_only_key() {
    let fx = fixture();
    let t = fx.edited_refresh(|p| {
        p.truncate(56);
        p.extend_from_slice(b"k0");
    });
    rejects_refresh!(fx, t, Error::BadSignature);
}

#[test]
fn refresh_with_path_like_key_id() {
    let fx = fixture();
    let t = fx.edited_refresh(|p| {
        p.truncate(56);
        p.extend_from_slice(b"../k1");
    });
    rejects_refresh!(fx, t, Error::Malformed(Malformed::KeyId));
}

#[test]
fn refresh_without_key_id() {
    let fx = fixture();
    let t = fx.edited_refresh(|p| p.truncate(56));
    rejects_refresh!(fx, t, Error::Malformed(Malformed::RefreshToken));
}

#[test]
fn refresh_with_truncated_or_extended_tag() {
    let fx = fixture();
    let t = fx.pair.refresh_token.clone();
    rejects_refresh!(
        fx,
        t[..t.len() - 4].to_owned(),
        Error::Malformed(Malformed::Base64)
    );
    rejects_refresh!(fx, format!("{t}AAAA"), Error::Malformed(Malformed::Base64));
    let (body, _) = t.rsplit_once('.').unwrap();
    rejects_refresh!(fx, format!("{body}."), Error::Malformed(Malformed::Base64));
}

#[test]
fn refresh_tag_with_non_zero_trailing_bits() {
    let fx = fixture();
    let (body, tag) = fx.pair.refresh_token.rsplit_once('.').unwrap();
    let t = format!("{body}.{}", with_trailing_bits(tag));
    rejects_refresh!(fx, t, Error::Malformed(Malformed::Base64));
}

#[test]
fn refresh_with_padded_payload() {
    let fx = fixture();
    let (payload, tag) = fx.refresh_payload();
    let padded = base64::engine::general_purpose::URL_SAFE.encode(&payload);
    assert!(padded.ends_with('='));
    rejects_refresh!(
        fx,
        format!("tlr1.{padded}.{tag}"),
        Error::Malformed(Malformed::Base64)
    );
}

#[test]
fn refresh_with_wrong_prefix_or_shape() {
    let fx = fixture();
    let t = fx.pair.refresh_token.clone();
    let rest = t.strip_prefix("tlr1.").unwrap().to_owned();
    rejects_refresh!(fx, String::new(), Error::Malformed(Malformed::RefreshToken));
    rejects_refresh!(
        fx,
        "tlr1.".to_owned(),
        Error::Malformed(Malformed::RefreshToken)
    );
    rejects_refresh!(
        fx,
        "tlr1..".to_owned(),
        Error::Malformed(Malformed::RefreshToken)
    );
    rejects_refresh!(fx, rest.clone(), Error::Malformed(Malformed::RefreshToken));
    // Without the exact prefix it is no refresh token; nor is it a JWT,
    // whose first segment would be a base64url JSON object (`ey…`).
    rejects_refresh!(
        fx,
        format!("TLR1.{rest}"),
        Error::Malformed(Malformed::RefreshToken)
    );
    rejects_refresh!(
        fx,
        format!("tlr2.{rest}"),
        Error::Malformed(Malformed::RefreshToken)
    );
    rejects_refresh!(
        fx,
        format!(" {t}"),
        Error::Malformed(Malformed::RefreshToken)
    );
}

#[test]
fn refresh_with_extra_segment() {
    let fx = fixture();
    let t = format!("{}.AAAA", fx.pair.refresh_token);
    rejects_refresh!(fx, t, Error::Malformed(Malformed::Base64));
}

#[test]
fn refresh_with_oversized_payload() {
    let fx = fixture();
    let t = fx.edited_refresh(|p| p.extend(std::iter::repeat_n(b'k', 200)));
    rejects_refresh!(fx, t, Error::Malformed(Malformed::RefreshToken));
}

#[test]
fn refresh_token_of_another_keyring_same_kid() {
    let fx = fixture();
    let (other, _) = support::authority_with(
        Keyring::new("k1", OTHER_SECRET).unwrap(),
        Policy::default(),
        MemoryStore::new(),
        11, // same seed: same session id and secret as the victim's
    );
    let foreign = support::block_on(other.login("alice", &())).unwrap();
    assert_eq!(
        foreign.session_id, fx.pair.session_id,
        "same seed, same session id"
    );
    rejects_refresh!(fx, foreign.refresh_token, Error::BadSignature);
}

// ---- limits ---------------------------------------------------------------

/// A valid token of exactly `len` bytes, padded with an application claim.
/// (Unpadded base64 never has length 4k+1, so not every `len` is reachable.)
fn token_of_len(fx: &Fx, len: usize) -> String {
    for pad in 0..len {
        let mut v: serde_json::Value = serde_json::from_str(&fx.claims()).unwrap();
        v["pad"] = json!("x".repeat(pad));
        let t = fx.jwt(HEADER, &v.to_string());
        if t.len() >= len {
            assert_eq!(t.len(), len, "length {len} is not reachable (pad {pad})");
            return t;
        }
    }
    unreachable!("the loop always reaches `len`")
}

#[test]
fn limit_max_token_bytes_is_inclusive() {
    let fx = fixture();
    let max = fx.auth.policy().max_token_bytes();
    assert_eq!(max, 8 * 1024);
    let at = token_of_len(&fx, max);
    assert_eq!(at.len(), max);
    fx.auth.verify::<()>(&at).unwrap();
    let over = format!("{at}A");
    let r = fx.auth.verify::<()>(&over);
    assert!(
        matches!(r, Err(Error::TooLarge { len, max: m }) if len == max + 1 && m == max),
        "{r:?}"
    );
}

#[test]
fn limit_max_token_bytes_is_configurable() {
    let fx = fixture_with(Policy::default().with_max_token_bytes(600));
    let at = token_of_len(&fx, 600);
    fx.auth.verify::<()>(&at).unwrap();
    rejects_access!(fx, format!("{at}A"), Error::TooLarge { len: 601, max: 600 });
    // Refresh tokens are held to the same limit.
    rejects_refresh!(
        fx,
        format!("tlr1.{}", "A".repeat(600)),
        Error::TooLarge { len: 605, max: 600 }
    );
}

#[test]
fn limit_max_claims_bytes_is_inclusive() {
    let fx = fixture();
    let max = fx.auth.policy().max_claims_bytes();
    assert_eq!(max, 4 * 1024);
    // {"p":"…"} is 8 bytes of overhead.
    let at = json!({ "p": "x".repeat(max - 8) });
    assert_eq!(at.to_string().len(), max);
    let pair = support::block_on(fx.auth.login("carol", &at)).unwrap();
    // The largest claims still make an access token under the token limit.
    assert!(pair.access_token.len() <= fx.auth.policy().max_token_bytes());
    let got = fx
        .auth
        .verify::<serde_json::Map<String, serde_json::Value>>(&pair.access_token)
        .unwrap();
    assert_eq!(got.extra["p"], at["p"]);
    let carol = support::snapshot(&fx.store.inner, "carol");
    assert_eq!(carol.len(), 1);

    let over = json!({ "p": "x".repeat(max - 7) });
    let calls = fx.store.calls();
    let r = support::block_on(fx.auth.login("carol", &over));
    assert!(matches!(r, Err(Error::InvalidClaims(_))), "{r:?}");
    let r = support::block_on(fx.auth.refresh_with_claims(&pair.refresh_token, &over));
    assert!(matches!(r, Err(Error::InvalidClaims(_))), "{r:?}");
    assert_eq!(fx.store.calls(), calls, "refused claims reached the store");
    assert_eq!(support::snapshot(&fx.store.inner, "carol"), carol);
}

// ---- asymmetric keys: algorithm confusion, header keys, malleability -------
//
// The fixture's keyring gains an EdDSA key `ed` (verify-only) and an ES256
// key `ec` (next), from private keys the rows hold, so that a row can sign
// whatever it likes with the real keys. `k1` (HS256) still signs the session.

#[cfg(all(feature = "eddsa", feature = "es256"))]
mod asymmetric {
    use super::*;
    use sha2::Digest as _;
    use tokenlife::{KeyMaterial, KeyState, Verifier};

    const ED_SEED: [u8; 32] = [0x5e; 32];
    const EC_SCALAR: [u8; 32] = [0x3c; 32];

    /// The order of the Ed25519 group, little-endian.
    const L: [u64; 4] = [
        0x5812631a5cf5d3ed,
        0x14def9dea2f79cd6,
        0,
        0x1000000000000000,
    ];
    /// The order of P-256, big-endian.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];

    fn fx() -> Fx {
        let fx = fixture();
        let mut keys = fx.auth.keyring().clone();
        keys.add(
            KeyMaterial::with_ed25519_key("ed", OTHER_SECRET, &ED_SEED).unwrap(),
            KeyState::VerifyOnly,
        )
        .unwrap();
        keys.add_next(KeyMaterial::with_p256_key("ec", OTHER_SECRET, &EC_SCALAR).unwrap())
            .unwrap();
        let (auth, _clock) =
            support::authority_with(keys, fx.auth.policy().clone(), fx.store.clone(), 11);
        Fx { auth, ..fx }
    }

    fn ed_key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&ED_SEED)
    }

    fn ec_key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&EC_SCALAR).unwrap()
    }

    fn ed_header() -> String {
        b64(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed"}"#)
    }

    fn ec_header() -> String {
        b64(r#"{"alg":"ES256","typ":"at+jwt","kid":"ec"}"#)
    }

    impl Fx {
        /// `header.payload` signed with the Ed25519 key, and the raw signature.
        fn ed_signed(&self, header_b64: &str) -> (String, [u8; 64]) {
            use ed25519_dalek::Signer as _;
            let input = format!("{header_b64}.{}", b64(self.claims()));
            let sig = ed_key().sign(input.as_bytes()).to_bytes();
            (input, sig)
        }

        /// `header.payload` signed with the P-256 key (low s), and `r ‖ s`.
        fn ec_signed(&self, header_b64: &str) -> (String, [u8; 64]) {
            use p256::ecdsa::signature::Signer as _;
            let input = format!("{header_b64}.{}", b64(self.claims()));
            let sig: p256::ecdsa::Signature = ec_key().sign(input.as_bytes());
            let sig = sig.normalize_s().unwrap_or(sig);
            (input, sig.to_bytes().into())
        }

        fn jwk_json(&self, kid: &str) -> String {
            let jwks = self.auth.keyring().jwks(support::START);
            serde_json::to_string(jwks.keys.iter().find(|k| k.kid == kid).unwrap()).unwrap()
        }
    }

    fn ed_public() -> [u8; 32] {
        ed_key().verifying_key().to_bytes()
    }

    fn ec_public() -> Vec<u8> {
        ec_key()
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    fn pem(spki_prefix: &[u8], key: &[u8]) -> String {
        let der = [spki_prefix, key].concat();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    fn ed_pem() -> String {
        pem(
            &[
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
            ],
            &ed_public(),
        )
    }

    fn ec_pem() -> String {
        let prefix = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        pem(&prefix, &ec_public())
    }

    /// An HS256 token naming key `kid`, its MAC keyed with `key`.
    fn hs256_naming(fx: &Fx, kid: &str, key: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            b64(format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#)),
            b64(fx.claims())
        );
        format!("{input}.{}", hs256(key, &input))
    }

    #[test]
    fn control_tokens_signed_with_the_asymmetric_keys_are_accepted() {
        let fx = fx();
        let (input, sig) = fx.ed_signed(&ed_header());
        assert!(
            fx.auth
                .verify::<()>(&format!("{input}.{}", b64(sig)))
                .is_ok()
        );
        let (input, sig) = fx.ec_signed(&ec_header());
        assert!(
            fx.auth
                .verify::<()>(&format!("{input}.{}", b64(sig)))
                .is_ok()
        );
    }

    #[test]
    fn hs256_keyed_with_the_public_key_bytes() {
        let fx = fx();
        rejects_access!(
            fx,
            hs256_naming(&fx, "ed", &ed_public()),
            Error::UnsupportedAlgorithm
        );
        rejects_access!(
            fx,
            hs256_naming(&fx, "ec", &ec_public()),
            Error::UnsupportedAlgorithm
        );
    }

    #[test]
    fn hs256_keyed_with_the_jwk_json() {
        let fx = fx();
        for kid in ["ed", "ec"] {
            let key = fx.jwk_json(kid);
            rejects_access!(
                fx,
                hs256_naming(&fx, kid, key.as_bytes()),
                Error::UnsupportedAlgorithm
            );
        }
    }

    #[test]
    fn hs256_keyed_with_the_pem() {
        let fx = fx();
        rejects_access!(
            fx,
            hs256_naming(&fx, "ed", ed_pem().as_bytes()),
            Error::UnsupportedAlgorithm
        );
        rejects_access!(
            fx,
            hs256_naming(&fx, "ec", ec_pem().as_bytes()),
            Error::UnsupportedAlgorithm
        );
    }

    #[test]
    fn alg_none_naming_an_asymmetric_key() {
        let fx = fx();
        for kid in ["ed", "ec"] {
            let h = b64(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#));
            let t = format!("{h}.{}.", b64(fx.claims()));
            rejects_access!(fx, t, Error::UnsupportedAlgorithm);
        }
    }

    #[test]
    fn alg_other_than_the_keys_algorithm() {
        let fx = fx();
        // EdDSA signatures under the HS256 key's and the ES256 key's kid.
        for kid in ["k1", "ec"] {
            let h = b64(format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#));
            let (input, sig) = fx.ed_signed(&h);
            rejects_access!(
                fx,
                format!("{input}.{}", b64(sig)),
                Error::UnsupportedAlgorithm
            );
        }
        // ES256 under the EdDSA key's.
        let h = b64(r#"{"alg":"ES256","typ":"at+jwt","kid":"ed"}"#);
        let (input, sig) = fx.ec_signed(&h);
        rejects_access!(
            fx,
            format!("{input}.{}", b64(sig)),
            Error::UnsupportedAlgorithm
        );
    }

    #[test]
    fn header_members_that_carry_or_point_at_a_key() {
        let fx = fx();
        let jwk = fx.jwk_json("ed");
        for member in [
            format!(r#""jwk":{jwk}"#),
            r#""jku":"https://evil.example/jwks.json""#.to_owned(),
            r#""x5u":"https://evil.example/cert.pem""#.to_owned(),
            r#""x5c":["MIIB"]"#.to_owned(),
            r#""jwk":null"#.to_owned(),
            r#""crit":["b64"]"#.to_owned(),
        ] {
            let h = b64(format!(
                r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"ed",{member}}}"#
            ));
            let (input, sig) = fx.ed_signed(&h);
            rejects_access!(
                fx,
                format!("{input}.{}", b64(sig)),
                Error::Malformed(Malformed::Header)
            );
            // And under the HMAC key.
            let t = fx.jwt(
                &format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"k1",{member}}}"#),
                &fx.claims(),
            );
            rejects_access!(fx, t, Error::Malformed(Malformed::Header));
        }
    }

    #[test]
    fn ed25519_signature_with_s_plus_l() {
        // S and S + L are the same scalar; only the canonical one (S < L) is
        // accepted (RFC 8032 §5.1.7), so a token has one signature.
        let fx = fx();
        let (input, sig) = fx.ed_signed(&ed_header());
        let mut s = limbs(&sig[32..]);
        s = add(s, L);
        let mut forged = sig;
        forged[32..].copy_from_slice(&bytes(s));
        assert_ne!(forged, sig);
        rejects_access!(fx, format!("{input}.{}", b64(forged)), Error::BadSignature);
    }

    #[test]
    fn ed25519_signature_with_a_small_order_r() {
        // R = the identity (order 1) and S = k·a: the cofactorless equation
        // [S]B = R + [k]A holds, so a plain `verify` accepts it;
        // `verify_strict` refuses small-order R, and so do we. Likewise the
        // identity's non-canonical encoding (x = −0), and S + L.
        use ed25519_dalek::Verifier as _;
        let fx = fx();
        let input = format!("{}.{}", ed_header(), b64(fx.claims()));
        let h = sha2::Sha512::digest(ED_SEED);
        let mut scalar = [0u8; 32];
        scalar.copy_from_slice(&h[..32]);
        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
        let a = reduce(&scalar);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut negative_zero = identity;
        negative_zero[31] = 0x80;
        for (r, canonical) in [(identity, true), (negative_zero, false)] {
            let k = reduce(
                &sha2::Sha512::new()
                    .chain_update(r)
                    .chain_update(ed_public())
                    .chain_update(input.as_bytes())
                    .finalize(),
            );
            let s = mul_mod(k, a);
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice(&bytes(s));
            let plain = ed_key().verifying_key().verify(
                input.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&sig),
            );
            assert_eq!(
                plain.is_ok(),
                canonical,
                "the control: a cofactorless verify accepts the canonical one"
            );
            let strict = ed_key().verifying_key().verify_strict(
                input.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&sig),
            );
            assert!(strict.is_err());
            rejects_access!(fx, format!("{input}.{}", b64(sig)), Error::BadSignature);
            let mut plus_l = sig;
            plus_l[32..].copy_from_slice(&bytes(add(s, L)));
            rejects_access!(fx, format!("{input}.{}", b64(plus_l)), Error::BadSignature);
        }
    }

    #[test]
    fn es256_signature_der_encoded() {
        let fx = fx();
        let (input, sig) = fx.ec_signed(&ec_header());
        let der = der(&sig);
        assert!(der.len() >= 8 && der.len() <= 72);
        rejects_access!(fx, format!("{input}.{}", b64(&der)), Error::BadSignature);
    }

    #[test]
    fn es256_signature_of_the_wrong_length() {
        let fx = fx();
        let (input, sig) = fx.ec_signed(&ec_header());
        rejects_access!(
            fx,
            format!("{input}.{}", b64(&sig[..63])),
            Error::BadSignature
        );
        rejects_access!(
            fx,
            format!("{input}.{}", b64([&sig[..], &[0]].concat())),
            Error::BadSignature
        );
        rejects_access!(
            fx,
            format!("{input}.{}", b64([&[0], &sig[..]].concat())),
            Error::BadSignature
        );
        // r or s zero, or not below the order.
        let mut zero_s = sig;
        zero_s[32..].fill(0);
        rejects_access!(fx, format!("{input}.{}", b64(zero_s)), Error::BadSignature);
        let mut big_r = sig;
        big_r[..32].copy_from_slice(&N);
        rejects_access!(fx, format!("{input}.{}", b64(big_r)), Error::BadSignature);
    }

    #[test]
    fn es256_signature_with_high_s() {
        // (r, n − s) is as valid as (r, s) to ECDSA. We only ever sign low s,
        // so refusing high s costs our tokens nothing and gives each of them
        // one signature; a foreign signer that does not normalise has half
        // its tokens refused (see tests/interop.rs).
        use p256::ecdsa::signature::Verifier as _;
        let fx = fx();
        let (input, sig) = fx.ec_signed(&ec_header());
        let mut high = sig;
        high[32..].copy_from_slice(&sub_be(&N, &sig[32..]));
        let twin = p256::ecdsa::Signature::from_slice(&high).unwrap();
        assert!(
            ec_key()
                .verifying_key()
                .verify(input.as_bytes(), &twin)
                .is_ok(),
            "the control: p256 accepts the high-s twin"
        );
        rejects_access!(fx, format!("{input}.{}", b64(high)), Error::BadSignature);
    }

    #[test]
    fn a_jwks_with_private_members_duplicate_kids_or_mixed_use() {
        use tokenlife::JwksError;
        let fx = fx();
        let doc = fx.auth.keyring().jwks(support::START).to_json();
        let read = |text: &str| match Verifier::from_jwks(text, Policy::default()) {
            Err(Error::InvalidJwks(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(Verifier::from_jwks(&doc, Policy::default()).is_ok());
        let with_d = doc.replacen(r#""kid":"ed""#, r#""kid":"ed","d":"AAAA""#, 1);
        assert_eq!(read(&with_d), JwksError::PrivateMember);
        let dup = doc.replacen(r#""kid":"ec""#, r#""kid":"ed""#, 1);
        assert_eq!(read(&dup), JwksError::DuplicateKeyId);
        let mixed = doc.replacen(r#""use":"sig""#, r#""use":"enc""#, 1);
        assert_eq!(read(&mixed), JwksError::WrongUse);
    }

    // A little arithmetic on 256-bit numbers (little-endian u64 limbs).

    fn limbs(le: &[u8]) -> [u64; 4] {
        core::array::from_fn(|i| u64::from_le_bytes(le[8 * i..8 * i + 8].try_into().unwrap()))
    }

    fn bytes(x: [u64; 4]) -> [u8; 32] {
        let mut out = [0; 32];
        for (i, limb) in x.iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    fn add(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
        let mut out = [0; 4];
        let mut carry = 0u128;
        for i in 0..4 {
            let s = u128::from(a[i]) + u128::from(b[i]) + carry;
            out[i] = s as u64;
            carry = s >> 64;
        }
        out
    }

    fn sub(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
        let mut out = [0; 4];
        let mut borrow = 0i128;
        for i in 0..4 {
            let d = i128::from(a[i]) - i128::from(b[i]) - borrow;
            out[i] = d as u64;
            borrow = i128::from(d < 0);
        }
        out
    }

    fn at_least(a: [u64; 4], b: [u64; 4]) -> bool {
        a.iter().rev().cmp(b.iter().rev()) != core::cmp::Ordering::Less
    }

    fn add_mod(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
        let s = add(a, b);
        if at_least(s, L) { sub(s, L) } else { s }
    }

    /// A little-endian number of any length, mod L (bit by bit: slow, plain).
    fn reduce(le: &[u8]) -> [u64; 4] {
        let mut r = [0; 4];
        for byte in le.iter().rev() {
            for bit in (0..8).rev() {
                r = add_mod(r, r);
                if byte >> bit & 1 == 1 {
                    r = add_mod(r, [1, 0, 0, 0]);
                }
            }
        }
        r
    }

    fn mul_mod(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
        let mut r = [0; 4];
        for limb in b.iter().rev() {
            for bit in (0..64).rev() {
                r = add_mod(r, r);
                if limb >> bit & 1 == 1 {
                    r = add_mod(r, a);
                }
            }
        }
        r
    }

    /// `a − b` for 32-byte big-endian numbers, `a ≥ b`.
    fn sub_be(a: &[u8], b: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
            out[i] = d.rem_euclid(256) as u8;
            borrow = i16::from(d < 0);
        }
        out
    }

    /// The DER `SEQUENCE { INTEGER r, INTEGER s }` of a raw `r ‖ s`.
    fn der(sig: &[u8; 64]) -> Vec<u8> {
        let int = |x: &[u8]| {
            let x = &x[x.iter().position(|&b| b != 0).unwrap_or(31)..];
            let mut v = vec![0x02];
            let pad = x[0] >= 0x80;
            v.push((x.len() + usize::from(pad)) as u8);
            if pad {
                v.push(0);
            }
            v.extend_from_slice(x);
            v
        };
        let body = [int(&sig[..32]), int(&sig[32..])].concat();
        [vec![0x30, body.len() as u8], body].concat()
    }
}

#[test]
fn a_null_crit_header_is_refused() {
    // RFC 7515 §4.1.11: `crit`, when present, is a non-empty array; we
    // understand no extension, so any `crit` member at all is refused —
    // `null` and `[]` included, not read as absent.
    let fx = fixture();
    for crit in ["null", "[]", "{}", "\"exp\""] {
        let t = fx.jwt(
            &format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":{crit}}}"#),
            &fx.claims(),
        );
        rejects_access!(fx, t, Error::Malformed(Malformed::Header));
    }
}
