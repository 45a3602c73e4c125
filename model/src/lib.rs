//! The reference model of tokenlife and the check functions built on it,
//! shared by the fuzz targets (nightly, `cargo fuzz`) and by the stable
//! tests that replay the corpus and drive the model (`tests/fuzz_corpus.rs`,
//! `tests/model.rs`). It depends on nothing but tokenlife and the crates
//! tokenlife itself or its tests already use.
//!
//! Every check panics when an invariant of DESIGN.md breaks; a rejection of
//! hostile input is not a failure, a panic inside tokenlife or a wrong
//! answer is.
//!
//! Test support, not an API: its items are named for what they model and
//! documented where that is not obvious, so `missing_docs` is relaxed here;
//! and every check panics by design (that is how a fuzz target reports a
//! broken invariant), so no `# Panics` section is asked of them.
#![allow(missing_docs, clippy::missing_panics_doc)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tokenlife::access::{AccessClaims, BorrowedClaims, ClaimsBuf};
use tokenlife::refresh::RefreshToken;
use tokenlife::store::RevocationFeed;
use tokenlife::{
    Authority, Clock, Error, Keyring, ManualClock, MemoryStore, Policy, RevokeReason, Session,
    SessionId, SessionStore, SharedRevocations, SharedRng, UnixMillis,
};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Where every run starts: a whole second, so access-token `exp` is exact.
pub const START: UnixMillis = UnixMillis(1_764_000_000_000);
pub const SECRET: &[u8] = b"fuzz secret: thirty-two bytes or more!!";
const FOREIGN_SECRET: &[u8] = b"a foreign secret, thirty-two bytes long";

/// A 36-byte UUID-shaped subject, distinct for each `i` (the benches and
/// the memory example fill stores with them).
pub fn uuid_subject(i: u64) -> String {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (i >> 12) & 0xfff,
        i & 0xffff_ffff_ffff
    )
}

/// The keyring every check runs with.
pub fn keyring() -> Keyring {
    Keyring::new("k1", SECRET).unwrap()
}

// ---------------------------------------------------------------------------
// verify_access
// ---------------------------------------------------------------------------

/// Feeds `data` to access-token verification.
///
/// Mode byte (first byte) even: the rest is the token as text. Odd: the rest
/// is `header JSON` `\n` `payload JSON`, which is encoded and signed with the
/// real access key, so the fuzzer reaches the claims parser behind the MAC.
pub fn check_verify_access(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keyring();
    let policy = Policy::default();
    let now = START;
    if mode & 1 == 0 {
        let token = String::from_utf8_lossy(rest);
        let r = tokenlife::access::verify::<serde_json::Value>(&token, &keys, &policy, now);
        let mut buf = ClaimsBuf::new();
        let borrowed = tokenlife::access::verify_in::<serde_json::Value>(
            &token, &keys, &policy, now, &mut buf,
        );
        check_same_outcome(&r, borrowed.map(BorrowedClaims::into_owned));
        check_verify_in_borrowing(&token, &keys, &policy, now);
        match r {
            // Forging an HS256 MAC by fuzzing is not going to happen; but
            // a seed may be a real token: it must then be our own shape.
            Ok(claims) => {
                assert!(
                    token.starts_with(&header_b64("k1")),
                    "accepted a foreign header"
                );
                assert!(claims.exp > now);
            }
            Err(e) => check_token_error(&e, token.len(), policy.max_token_bytes()),
        }
        check_type_separation(&token, &keys);
    } else {
        let (header, payload) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (&br#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#[..], rest),
        };
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let key = keys.access_token_secret("k1").unwrap();
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&*key).unwrap();
        mac.update(input.as_bytes());
        let token = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        type Map = serde_json::Map<String, serde_json::Value>;
        let r = tokenlife::access::verify::<Map>(&token, &keys, &policy, now);
        let mut buf = ClaimsBuf::new();
        let borrowed = tokenlife::access::verify_in::<Map>(&token, &keys, &policy, now, &mut buf);
        check_same_outcome(&r, borrowed.map(BorrowedClaims::into_owned));
        check_verify_in_borrowing(&token, &keys, &policy, now);
        match r {
            Ok(claims) => {
                // Whatever got through must really say what was accepted.
                let p: serde_json::Value = serde_json::from_slice(payload).unwrap();
                assert_eq!(p["sub"].as_str(), Some(claims.sub.as_str()));
                assert_eq!(
                    p["exp"].as_u64().map(UnixMillis::from_secs),
                    Some(claims.exp)
                );
                assert!(claims.exp > now, "accepted an expired token");
                if let Some(nbf) = p.get("nbf") {
                    assert!(nbf.as_u64().unwrap() * 1000 <= now.as_millis());
                }
                for registered in ["sub", "sid", "iat", "exp", "jti", "nbf", "iss", "aud"] {
                    assert!(!claims.extra.contains_key(registered));
                }
                // The rest agrees with serde_json's own reading of the
                // payload, whichever of verify's parsers read it.
                assert_eq!(p["sid"].as_str(), Some(claims.sid.to_string().as_str()));
                assert_eq!(
                    p["iat"].as_u64().map(UnixMillis::from_secs),
                    Some(claims.iat)
                );
                assert_eq!(p["jti"].as_str(), Some(claims.jti.as_str()));
                assert_eq!(p.get("iss").and_then(|v| v.as_str()), claims.iss.as_deref());
                let aud: Vec<&str> = match p.get("aud") {
                    Some(serde_json::Value::String(a)) => vec![a.as_str()],
                    Some(serde_json::Value::Array(all)) => {
                        all.iter().filter_map(|a| a.as_str()).collect()
                    }
                    _ => Vec::new(),
                };
                assert_eq!(aud, claims.aud);
                let object = p.as_object().unwrap();
                let extra: serde_json::Map<String, serde_json::Value> = object
                    .iter()
                    .filter(|(k, _)| {
                        !["sub", "sid", "iat", "exp", "jti", "nbf", "iss", "aud"]
                            .contains(&k.as_str())
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(extra, claims.extra);
            }
            Err(e) => check_token_error(&e, token.len(), policy.max_token_bytes()),
        }
    }
}

/// `verify_in` said what `verify` said: the same claims once owned, or
/// the same error.
fn check_same_outcome<C: PartialEq + std::fmt::Debug>(
    owned: &Result<AccessClaims<C>, Error>,
    borrowed: Result<AccessClaims<C>, Error>,
) {
    match (owned, &borrowed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "verify_in read other claims than verify"),
        (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        _ => panic!("verify {owned:?} but verify_in {borrowed:?}"),
    }
}

/// `verify_in` with claims that own nothing (`()`) read the registered
/// claims `verify` reads, or fails as it does.
fn check_verify_in_borrowing(token: &str, keys: &Keyring, policy: &Policy, now: UnixMillis) {
    let owned = tokenlife::access::verify::<()>(token, keys, policy, now);
    let mut buf = ClaimsBuf::new();
    let borrowed = tokenlife::access::verify_in::<()>(token, keys, policy, now, &mut buf);
    match (&owned, &borrowed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                (&*b.sub, b.sid, b.iat, b.exp, &*b.jti, b.iss.as_deref()),
                (
                    a.sub.as_str(),
                    a.sid,
                    a.iat,
                    a.exp,
                    a.jti.as_str(),
                    a.iss.as_deref()
                )
            );
            assert!(b.aud.iter().eq(a.aud.iter().map(String::as_str)));
        }
        (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        _ => panic!("verify {owned:?} but verify_in::<()> {borrowed:?}"),
    }
}

/// I10: no string is both an access token and a refresh token; whichever
/// one accepts it, the other says `WrongTokenType`.
fn check_type_separation(token: &str, keys: &Keyring) {
    let access = tokenlife::access::verify::<()>(token, keys, &Policy::default(), START);
    let refresh = RefreshToken::parse(token, keys, 8 * 1024);
    match (&access, &refresh) {
        (Ok(_), Ok(_)) => panic!("accepted as both an access and a refresh token"),
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
            assert!(matches!(e, Error::WrongTokenType), "{e:?}");
        }
        (Err(_), Err(_)) => {}
    }
}

/// The base64url JOSE header this crate emits for `kid`.
pub fn header_b64(kid: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#))
}

/// An error a bad token may produce: never a session or store error, and
/// `TooLarge` exactly when it is too large.
fn check_token_error(e: &Error, len: usize, max: usize) {
    match e {
        Error::TooLarge { len: l, max: m } => {
            assert_eq!((*l, *m), (len, max));
            assert!(len > max);
        }
        Error::Malformed(_)
        | Error::BadSignature
        | Error::UnknownKey
        | Error::UnsupportedAlgorithm
        | Error::WrongTokenType
        | Error::Expired { .. }
        | Error::NotYetValid { .. } => assert!(len <= max, "{e:?} for an over-long token"),
        other => panic!("unexpected error for a bad token: {other:?}"),
    }
    // Display must work and never be empty.
    assert!(!e.to_string().is_empty());
}

// ---------------------------------------------------------------------------
// parse_refresh
// ---------------------------------------------------------------------------

/// The refresh-tag key, derived as documented in `src/keys.rs`.
fn refresh_tag_key(master: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(master).unwrap();
    mac.update(b"tokenlife/v1 refresh-tag");
    mac.finalize().into_bytes().into()
}

/// A refresh token with `payload` and a valid tag under `master`.
pub fn tagged_refresh(master: &[u8], payload: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&refresh_tag_key(master)).unwrap();
    mac.update(b"tlr1");
    mac.update(payload);
    format!(
        "tlr1.{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// Feeds `data` to `RefreshToken::parse`.
///
/// Mode byte even: the rest is the token as text. Odd: the rest is a payload
/// that gets a valid tag, and the result is checked against an exact oracle.
pub fn check_parse_refresh(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keyring();
    let max = 8 * 1024;
    if mode & 1 == 0 {
        let token = String::from_utf8_lossy(rest);
        match RefreshToken::parse(&token, &keys, max) {
            Ok(t) => {
                // Only a token with our tag gets here: it must be ours.
                let reminted = {
                    let body = token.strip_prefix("tlr1.").unwrap();
                    let (p, _) = body.split_once('.').unwrap();
                    URL_SAFE_NO_PAD.decode(p).unwrap()
                };
                assert_eq!(
                    tagged_refresh(SECRET, &reminted),
                    token,
                    "accepted a non-canonical token"
                );
                check_parsed(&t, &reminted);
            }
            Err(e) => check_token_error(&e, token.len(), max),
        }
        check_type_separation(&token, &keys);
    } else {
        let payload = rest;
        let token = tagged_refresh(SECRET, payload);
        let r = RefreshToken::parse(&token, &keys, max);
        let kid = payload.get(56..).unwrap_or_default();
        let kid_ok = !kid.is_empty()
            && kid.len() <= 64
            && kid
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(b));
        match (r, token.len() > max) {
            (Err(Error::TooLarge { .. }), true) => {}
            (r, true) => panic!("over-long token: {r:?}"),
            (Ok(t), false) => {
                assert!(
                    payload.len() > 56 && kid == b"k1",
                    "accepted payload {payload:?}"
                );
                check_parsed(&t, payload);
            }
            (Err(Error::Malformed(tokenlife::Malformed::RefreshToken)), false) => {
                assert!(
                    payload.len() <= 56 || payload.len() > 56 + 64,
                    "{payload:?}"
                );
            }
            (Err(Error::Malformed(tokenlife::Malformed::KeyId)), false) => {
                assert!(payload.len() > 56 && payload.len() <= 120 && !kid_ok);
            }
            (Err(Error::UnknownKey), false) => {
                assert!(kid_ok && kid != b"k1");
            }
            (Err(e), false) => panic!("unexpected {e:?} for a validly tagged payload"),
        }
    }
}

fn check_parsed(t: &RefreshToken, payload: &[u8]) {
    assert_eq!(t.session_id().as_bytes()[..], payload[..16]);
    assert_eq!(t.generation().to_be_bytes()[..], payload[16..24]);
    assert_eq!(t.key_id().as_str().as_bytes(), &payload[56..]);
    // The secret never shows in Debug.
    let shown = format!("{t:?}");
    assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(&payload[24..56])));
}

// ---------------------------------------------------------------------------
// lifecycle: operation sequences against a reference model
// ---------------------------------------------------------------------------

/// The policy of a run; small spans so that random clock moves hit them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub grace_ms: u64,
    pub max_age_ms: Option<u64>,
}

pub const ACCESS_TTL_MS: u64 = 5_000;
pub const REFRESH_TTL_MS: u64 = 20_000;

impl Config {
    pub fn policy(&self) -> Policy {
        Policy::default()
            .with_access_ttl(Duration::from_millis(ACCESS_TTL_MS))
            .with_refresh_ttl(Duration::from_millis(REFRESH_TTL_MS))
            .with_reuse_grace(Duration::from_millis(self.grace_ms))
            .with_max_session_age(self.max_age_ms.map(Duration::from_millis))
    }
}

pub const SUBJECTS: [&str; 3] = ["alice", "bob", "carol"];

/// One step. Indices are taken modulo what exists, so any value is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Login {
        subject: u8,
    },
    Verify {
        session: u8,
        pick: AccessPick,
    },
    VerifyLive {
        session: u8,
        pick: AccessPick,
    },
    Refresh {
        session: u8,
        pick: RefreshPick,
    },
    Logout {
        session: u8,
        pick: RefreshPick,
    },
    LogoutAll {
        subject: u8,
        except: Option<u8>,
    },
    Sessions {
        subject: u8,
    },
    Purge,
    Advance {
        ms: u16,
    },
    /// Jump to exactly a window's end of a session, `offset` ms around it.
    AdvanceTo {
        session: u8,
        edge: Edge,
        offset: i8,
    },
    RotateKey,
    RemoveOldestKey,
}

/// Which access token to present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPick {
    Latest,
    Older(u8),
    /// The latest with one bit of one character flipped.
    Tampered {
        pos: u16,
        bit: u8,
    },
    /// The session's current refresh token (type confusion, I10).
    RefreshToken,
}

/// Which refresh token to present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshPick {
    Current,
    /// A spent one, `back` generations before the current one's predecessor… or it.
    Spent(u8),
    Tampered {
        pos: u16,
        bit: u8,
    },
    /// Issued by another authority with the same key id.
    Foreign,
    /// The session's latest access token (type confusion, I10).
    AccessToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    AccessExpiry,
    GraceEnd,
    IdleExpiry,
    AbsoluteExpiry,
}

/// Decodes arbitrary bytes into a config and an operation sequence.
pub fn decode_ops(data: &[u8]) -> (Config, Vec<Op>) {
    let mut d = Bytes(data);
    let c = d.byte();
    let config = Config {
        grace_ms: if c & 1 == 0 { 0 } else { 2_000 },
        max_age_ms: if c & 2 == 0 { None } else { Some(45_000) },
    };
    let mut ops = Vec::new();
    while !d.0.is_empty() && ops.len() < 64 {
        let op = match d.byte() % 16 {
            0 | 1 => Op::Login { subject: d.byte() },
            2 => Op::Verify {
                session: d.byte(),
                pick: d.access_pick(),
            },
            3 => Op::VerifyLive {
                session: d.byte(),
                pick: d.access_pick(),
            },
            4..=6 => Op::Refresh {
                session: d.byte(),
                pick: d.refresh_pick(),
            },
            7 => Op::Logout {
                session: d.byte(),
                pick: d.refresh_pick(),
            },
            8 => {
                let subject = d.byte();
                let e = d.byte();
                Op::LogoutAll {
                    subject,
                    except: (e & 1 == 1).then_some(e >> 1),
                }
            }
            9 => Op::Sessions { subject: d.byte() },
            10 => Op::Purge,
            11 | 12 => Op::Advance { ms: d.u16() },
            13 => {
                let session = d.byte();
                let e = d.byte();
                let edge = [
                    Edge::AccessExpiry,
                    Edge::GraceEnd,
                    Edge::IdleExpiry,
                    Edge::AbsoluteExpiry,
                ][usize::from(e & 3)];
                Op::AdvanceTo {
                    session,
                    edge,
                    offset: (((e >> 2) % 3) as i8) - 1,
                }
            }
            14 => Op::RotateKey,
            _ => Op::RemoveOldestKey,
        };
        ops.push(op);
    }
    (config, ops)
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn access_pick(&mut self) -> AccessPick {
        match self.byte() % 6 {
            0 | 1 => AccessPick::Latest,
            2 => AccessPick::Older(self.byte()),
            3 | 4 => AccessPick::Tampered {
                pos: self.u16(),
                bit: self.byte(),
            },
            _ => AccessPick::RefreshToken,
        }
    }
    fn refresh_pick(&mut self) -> RefreshPick {
        match self.byte() % 8 {
            0..=2 => RefreshPick::Current,
            3 | 4 => RefreshPick::Spent(self.byte()),
            5 => RefreshPick::Tampered {
                pos: self.u16(),
                bit: self.byte(),
            },
            6 => RefreshPick::Foreign,
            _ => RefreshPick::AccessToken,
        }
    }
}

/// Runs the sequence on a real `Authority` over `MemoryStore` and on the
/// model, asserting after every step that they agree and that I1–I10 hold.
pub fn check_lifecycle(data: &[u8]) {
    let (config, ops) = decode_ops(data);
    run_model(config, &ops);
}

type Auth = Authority<Arc<MemoryStore>, ManualClock, SharedRng<ChaCha20Rng>>;

/// A token the model knows, with the key it was issued under.
#[derive(Debug, Clone)]
struct Issued {
    token: String,
    kid: String,
}

#[derive(Debug, Clone)]
struct Access {
    token: String,
    kid: String,
    exp_ms: u64,
}

#[derive(Debug, Clone)]
struct MSession {
    id: SessionId,
    subject: usize,
    created: u64,
    rotated: u64,
    abs_exp: Option<u64>,
    /// `refresh[g]` is the token of generation `g`; the last is current.
    refresh: Vec<Issued>,
    access: Vec<Access>,
    revoked: Option<(u64, RevokeReason)>,
    purged: bool,
}

impl MSession {
    fn generation(&self) -> usize {
        self.refresh.len() - 1
    }
    fn idle_exp(&self) -> u64 {
        self.rotated + REFRESH_TTL_MS
    }
    fn expires_at(&self) -> u64 {
        self.abs_exp
            .map_or(self.idle_exp(), |a| a.min(self.idle_exp()))
    }
    fn active(&self, now: u64) -> bool {
        !self.purged && self.revoked.is_none() && now < self.expires_at()
    }
    /// The error a refresh or `verify_live` gets when the session is over.
    fn over(&self, now: u64) -> Option<Expect> {
        if self.purged {
            Some(Expect::UnknownSession)
        } else if let Some((at, reason)) = self.revoked {
            Some(Expect::SessionRevoked(at, reason))
        } else if now >= self.expires_at() {
            Some(Expect::SessionExpired(self.expires_at()))
        } else {
            None
        }
    }
}

/// An expected failure, comparable to an `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    UnknownKey,
    UnknownSession,
    SessionRevoked(u64, RevokeReason),
    SessionExpired(u64),
    Expired(u64, u64),
    WrongTokenType,
    BadSignature,
    /// Any rejection of a forged or altered token (`Malformed`, `BadSignature`, …).
    Forgery,
}

fn matches_expect(e: &Error, want: Expect) -> bool {
    match (e, want) {
        (Error::UnknownKey, Expect::UnknownKey)
        | (Error::UnknownSession, Expect::UnknownSession)
        | (Error::WrongTokenType, Expect::WrongTokenType)
        | (Error::BadSignature, Expect::BadSignature) => true,
        (Error::SessionRevoked { at, reason }, Expect::SessionRevoked(a, r)) => {
            at.as_millis() == a && *reason == r
        }
        (Error::SessionExpired { at }, Expect::SessionExpired(a)) => at.as_millis() == a,
        (Error::Expired { at, now }, Expect::Expired(a, n)) => {
            at.as_millis() == a && now.as_millis() == n
        }
        (
            Error::Malformed(_)
            | Error::BadSignature
            | Error::UnknownKey
            | Error::UnsupportedAlgorithm
            | Error::WrongTokenType,
            Expect::Forgery,
        ) => true,
        _ => false,
    }
}

struct World {
    config: Config,
    clock: ManualClock,
    store: Arc<MemoryStore>,
    auth: Auth,
    foreign: Auth,
    /// The revocation set `auth` checks in `verify_fresh`, fed by the
    /// store's in-process feed (and by `auth`'s own revocations).
    revocations: Arc<SharedRevocations>,
    /// Key ids in the keyring, signing key last.
    kids: Vec<String>,
    next_key: u32,
    sessions: Vec<MSession>,
    jtis: BTreeSet<String>,
    step: usize,
}

fn secret_for(n: u32) -> Vec<u8> {
    format!("model key number {n:04}, long enough to be a key").into_bytes()
}

impl World {
    fn new(config: Config) -> Self {
        let clock = ManualClock::new(START);
        let store = Arc::new(MemoryStore::new());
        let revocations = Arc::new(SharedRevocations::new(&config.policy()));
        pollster::block_on(store.subscribe(&revocations, START)).unwrap();
        let auth = Authority::new(keyring(), config.policy(), store.clone())
            .with_clock(clock.clone())
            .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(1)))
            .with_revocations(revocations.clone());
        let foreign = Authority::new(
            Keyring::new("k1", FOREIGN_SECRET).unwrap(),
            config.policy(),
            Arc::new(MemoryStore::new()),
        )
        .with_clock(clock.clone())
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(2)));
        Self {
            config,
            clock,
            store,
            auth,
            foreign,
            revocations,
            kids: vec!["k1".into()],
            next_key: 2,
            sessions: Vec::new(),
            jtis: BTreeSet::new(),
            step: 0,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now().as_millis()
    }

    fn has_key(&self, kid: &str) -> bool {
        self.kids.iter().any(|k| k == kid)
    }

    fn pick(&self, i: u8) -> Option<usize> {
        (!self.sessions.is_empty()).then(|| usize::from(i) % self.sessions.len())
    }

    fn access_exp(&self, s: &MSession, now: u64) -> u64 {
        let exp = now + ACCESS_TTL_MS;
        let exp = s.abs_exp.map_or(exp, |a| a.min(exp));
        exp / 1000 * 1000
    }

    /// Records a pair the authority returned for session `i`.
    fn record_pair(&mut self, i: usize, pair: &tokenlife::TokenPair, now: u64) {
        let exp = self.access_exp(&self.sessions[i], now);
        let ctx = self.ctx();
        assert_eq!(pair.session_id, self.sessions[i].id, "{ctx}");
        assert_eq!(pair.expires_at.as_millis(), exp, "{ctx}");
        assert_eq!(pair.expires, exp.saturating_sub(now), "{ctx}");
        let signing = self.kids.last().unwrap().clone();
        assert!(
            pair.access_token.starts_with(&header_b64(&signing)),
            "{ctx}"
        );
        let claims = self.auth.verify::<()>(&pair.access_token);
        if exp > now {
            let claims =
                claims.unwrap_or_else(|e| panic!("fresh access token refused: {e:?} {ctx}"));
            assert_eq!(claims.sid, self.sessions[i].id, "{ctx}");
            assert_eq!(claims.sub, SUBJECTS[self.sessions[i].subject], "{ctx}");
            assert!(self.jtis.insert(claims.jti), "jti repeated {ctx}");
        }
        self.sessions[i].access.push(Access {
            token: pair.access_token.clone(),
            kid: signing,
            exp_ms: exp,
        });
    }

    fn ctx(&self) -> String {
        format!("(step {}, now {})", self.step, self.now())
    }

    fn apply(&mut self, op: Op) {
        let now = self.now();
        match op {
            Op::Login { subject } => {
                let subject = usize::from(subject) % SUBJECTS.len();
                let pair = pollster::block_on(self.auth.login(SUBJECTS[subject], &()))
                    .unwrap_or_else(|e| panic!("login failed: {e:?}"));
                assert!(
                    self.sessions.iter().all(|s| s.id != pair.session_id),
                    "session id reused"
                );
                self.sessions.push(MSession {
                    id: pair.session_id,
                    subject,
                    created: now,
                    rotated: now,
                    abs_exp: self.config.max_age_ms.map(|a| now + a),
                    refresh: vec![Issued {
                        token: pair.refresh_token.clone(),
                        kid: self.kids.last().unwrap().clone(),
                    }],
                    access: Vec::new(),
                    revoked: None,
                    purged: false,
                });
                let i = self.sessions.len() - 1;
                self.record_pair(i, &pair, now);
            }
            Op::Verify { session, pick } | Op::VerifyLive { session, pick } => {
                let live = matches!(op, Op::VerifyLive { .. });
                let Some(i) = self.pick(session) else { return };
                let s = &self.sessions[i];
                let (token, want) = match pick {
                    AccessPick::Latest | AccessPick::Older(_) => {
                        let back = match pick {
                            AccessPick::Older(b) => usize::from(b) % s.access.len(),
                            _ => 0,
                        };
                        let a = &s.access[s.access.len() - 1 - back];
                        let want = if !self.has_key(&a.kid) {
                            Some(Expect::UnknownKey)
                        } else if now >= a.exp_ms {
                            Some(Expect::Expired(a.exp_ms, now))
                        } else if live {
                            s.over(now)
                        } else {
                            None
                        };
                        (a.token.clone(), want)
                    }
                    AccessPick::Tampered { pos, bit } => (
                        flip(&s.access.last().unwrap().token, pos, bit),
                        Some(Expect::Forgery),
                    ),
                    AccessPick::RefreshToken => (
                        s.refresh.last().unwrap().token.clone(),
                        Some(Expect::WrongTokenType),
                    ),
                };
                let r = if live {
                    pollster::block_on(self.auth.verify_live::<()>(&token))
                } else {
                    self.auth.verify::<()>(&token)
                };
                let ctx = self.ctx();
                match (r, want) {
                    (Ok(c), None) => {
                        assert_eq!(c.sid, s.id, "{ctx}");
                        assert_eq!(c.sub, SUBJECTS[s.subject], "{ctx}");
                    }
                    (Err(e), Some(w)) if matches_expect(&e, w) => {}
                    (r, w) => panic!(
                        "verify (live: {live}) of {pick:?}: got {r:?}, model says {w:?} {ctx}"
                    ),
                }
                if !live {
                    // The fresh verify, on a set its in-process feed keeps
                    // complete: verify's answer, and a revoked session refused.
                    let want = want.or(s.revoked.map(|(at, r)| Expect::SessionRevoked(at, r)));
                    match (
                        pollster::block_on(self.auth.verify_fresh::<()>(&token)),
                        want,
                    ) {
                        (Ok(c), None) => assert_eq!(c.sid, s.id, "{ctx}"),
                        (Err(e), Some(w)) if matches_expect(&e, w) => {}
                        (r, w) => {
                            panic!("verify_fresh of {pick:?}: got {r:?}, model says {w:?} {ctx}")
                        }
                    }
                }
            }
            Op::Refresh { session, pick } => self.refresh(session, pick, now),
            Op::Logout { session, pick } => self.logout(session, pick, now),
            Op::LogoutAll { subject, except } => {
                let subject = usize::from(subject) % SUBJECTS.len();
                let except = except
                    .and_then(|e| self.pick(e))
                    .map(|i| self.sessions[i].id);
                let mut want = 0;
                for s in &mut self.sessions {
                    // Expired-looking sessions too: a revocation is recorded
                    // whenever the session is not already revoked (issue 12, 3).
                    if s.subject == subject
                        && Some(s.id) != except
                        && !s.purged
                        && s.revoked.is_none()
                    {
                        s.revoked = Some((now, RevokeReason::LogoutAll));
                        want += 1;
                    }
                }
                let got =
                    pollster::block_on(self.auth.logout_all(SUBJECTS[subject], except.as_ref()))
                        .unwrap_or_else(|e| panic!("logout_all failed: {e:?}"));
                assert_eq!(got, want, "logout_all count {}", self.ctx());
            }
            Op::Sessions { subject } => {
                let subject = usize::from(subject) % SUBJECTS.len();
                let mut want: Vec<_> = self
                    .sessions
                    .iter()
                    .filter(|s| s.subject == subject && s.active(now))
                    .map(|s| (s.created, s.id, s.rotated, s.expires_at()))
                    .collect();
                want.sort_by_key(|w| (w.0, w.1));
                let got: Vec<_> = pollster::block_on(self.auth.sessions(SUBJECTS[subject]))
                    .unwrap()
                    .iter()
                    .map(|s| {
                        (
                            s.created_at.as_millis(),
                            s.id,
                            s.last_refreshed_at.as_millis(),
                            s.expires_at.as_millis(),
                        )
                    })
                    .collect();
                assert_eq!(got, want, "sessions {}", self.ctx());
            }
            Op::Purge => {
                let mut want = 0;
                for s in &mut self.sessions {
                    if !s.purged && s.expires_at() <= now {
                        s.purged = true;
                        want += 1;
                    }
                }
                let got = pollster::block_on(self.auth.purge_expired()).unwrap();
                assert_eq!(got, want, "purge count {}", self.ctx());
            }
            Op::Advance { ms } => self.clock.advance(Duration::from_millis(u64::from(ms))),
            Op::AdvanceTo {
                session,
                edge,
                offset,
            } => {
                let Some(i) = self.pick(session) else { return };
                let s = &self.sessions[i];
                let target = match edge {
                    Edge::AccessExpiry => s.access.last().map(|a| a.exp_ms),
                    Edge::GraceEnd => {
                        (s.generation() > 0).then(|| s.rotated + self.config.grace_ms)
                    }
                    Edge::IdleExpiry => Some(s.idle_exp()),
                    Edge::AbsoluteExpiry => s.abs_exp,
                };
                if let Some(t) = target.map(|t| t.saturating_add_signed(i64::from(offset)))
                    && t > now
                {
                    self.clock.set(UnixMillis(t));
                }
            }
            Op::RotateKey => {
                let n = self.next_key;
                self.next_key += 1;
                let kid = format!("k{n}");
                let mut keys = self.auth.keyring().clone();
                keys.rotate(&kid, &secret_for(n)).unwrap();
                self.rebuild(keys);
                self.kids.push(kid);
            }
            Op::RemoveOldestKey => {
                if self.kids.len() > 1 {
                    let kid = self.kids.remove(0);
                    let mut keys = self.auth.keyring().clone();
                    keys.remove(&kid).unwrap();
                    self.rebuild(keys);
                }
            }
        }
    }

    fn rebuild(&mut self, keys: Keyring) {
        self.auth = Authority::new(keys, self.config.policy(), self.store.clone())
            .with_clock(self.clock.clone())
            .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(
                1000 + self.step as u64,
            )))
            .with_revocations(self.revocations.clone());
    }

    /// The token to present for `pick`, what the model expects of it, and
    /// whether it is authentic (so may change the session).
    fn refresh_token_for(&self, i: usize, pick: RefreshPick) -> Option<(String, Option<usize>)> {
        let s = &self.sessions[i];
        Some(match pick {
            RefreshPick::Current => (s.refresh.last()?.token.clone(), Some(s.generation())),
            RefreshPick::Spent(back) => {
                let g = s.generation();
                if g == 0 {
                    return None;
                }
                let gt = g - 1 - usize::from(back) % g;
                (s.refresh[gt].token.clone(), Some(gt))
            }
            RefreshPick::Tampered { pos, bit } => (flip(&s.refresh.last()?.token, pos, bit), None),
            RefreshPick::Foreign => {
                let pair =
                    pollster::block_on(self.foreign.login(SUBJECTS[s.subject], &())).unwrap();
                (pair.refresh_token, None)
            }
            RefreshPick::AccessToken => (s.access.last()?.token.clone(), None),
        })
    }

    fn forgery_expect(&self, pick: RefreshPick) -> Expect {
        match pick {
            RefreshPick::Foreign if self.has_key("k1") => Expect::BadSignature,
            RefreshPick::Foreign => Expect::UnknownKey,
            RefreshPick::AccessToken => Expect::WrongTokenType,
            _ => Expect::Forgery,
        }
    }

    fn refresh(&mut self, session: u8, pick: RefreshPick, now: u64) {
        let Some(i) = self.pick(session) else { return };
        let Some((token, generation)) = self.refresh_token_for(i, pick) else {
            return;
        };
        let before = self.dump();
        let r = pollster::block_on(self.auth.refresh(&token));
        let ctx = self.ctx();
        let Some(gt) = generation else {
            let want = self.forgery_expect(pick);
            match r {
                Err(e) if matches_expect(&e, want) => {}
                r => panic!("refresh with {pick:?}: got {r:?}, want {want:?} {ctx}"),
            }
            assert_eq!(self.dump(), before, "a forgery changed the store {ctx}");
            return;
        };
        let s = &self.sessions[i];
        let g = s.generation();
        let successor = s.refresh[g].token.clone();
        // What the model decides, in the documented order.
        enum Want {
            Fail(Expect),
            Rotate,
            Grace,
            Reuse,
        }
        let want = if !self.has_key(&s.refresh[gt].kid) {
            Want::Fail(Expect::UnknownKey)
        } else if let Some(e) = s.over(now) {
            Want::Fail(e)
        } else if gt == g {
            Want::Rotate
        } else if gt + 1 == g && now < s.rotated + self.config.grace_ms {
            if self.has_key(&s.refresh[g].kid) {
                Want::Grace
            } else {
                Want::Fail(Expect::UnknownKey)
            }
        } else {
            Want::Reuse
        };
        match (r, want) {
            (Ok(pair), Want::Rotate) => {
                let kid = self.kids.last().unwrap().clone();
                assert!(pair.refresh_token != token, "{ctx}");
                let s = &mut self.sessions[i];
                s.refresh.push(Issued {
                    token: pair.refresh_token.clone(),
                    kid,
                });
                s.rotated = now;
                self.record_pair(i, &pair, now);
            }
            (Ok(pair), Want::Grace) => {
                // I1: inside the window the family never branches.
                assert_eq!(
                    pair.refresh_token, successor,
                    "grace successor differs {ctx}"
                );
                assert_eq!(self.dump(), before, "grace refresh wrote {ctx}");
                self.record_pair(i, &pair, now);
            }
            (Err(Error::RefreshReused), Want::Reuse) => {
                self.sessions[i].revoked = Some((now, RevokeReason::Reuse));
            }
            (Err(e), Want::Fail(w)) if matches_expect(&e, w) => {
                assert_eq!(
                    self.dump(),
                    before,
                    "a refused refresh changed the store {ctx}"
                );
            }
            (r, w) => {
                let w = match w {
                    Want::Fail(e) => format!("{e:?}"),
                    Want::Rotate => "rotate".into(),
                    Want::Grace => "grace".into(),
                    Want::Reuse => "reuse".into(),
                };
                panic!("refresh of generation {gt} (current {g}): got {r:?}, model says {w} {ctx}")
            }
        }
    }

    fn logout(&mut self, session: u8, pick: RefreshPick, now: u64) {
        let Some(i) = self.pick(session) else { return };
        let Some((token, generation)) = self.refresh_token_for(i, pick) else {
            return;
        };
        let before = self.dump();
        let r = pollster::block_on(self.auth.logout(&token));
        let ctx = self.ctx();
        let Some(gt) = generation else {
            let want = self.forgery_expect(pick);
            match r {
                Err(e) if matches_expect(&e, want) => {}
                r => panic!("logout with {pick:?}: got {r:?}, want {want:?} {ctx}"),
            }
            assert_eq!(self.dump(), before, "a forgery changed the store {ctx}");
            return;
        };
        let s = &mut self.sessions[i];
        if !self.kids.iter().any(|k| *k == s.refresh[gt].kid) {
            assert!(matches!(r, Err(Error::UnknownKey)), "logout: {r:?} {ctx}");
        } else {
            assert!(r.is_ok(), "logout with an authentic token: {r:?} {ctx}");
            if !s.purged && s.revoked.is_none() {
                s.revoked = Some((now, RevokeReason::Logout));
            }
        }
    }

    /// Every stored session, sorted by id.
    fn dump(&self) -> Vec<Session> {
        let mut all = Vec::new();
        for subject in SUBJECTS {
            all.extend(pollster::block_on(self.store.list_by_subject(subject)).unwrap());
        }
        all.sort_by_key(|s| s.id);
        all
    }

    /// The store agrees with the model, and holds no secret (I3, I6).
    fn check_store(&self) {
        let stored = self.dump();
        let ctx = self.ctx();
        let live: Vec<&MSession> = self.sessions.iter().filter(|s| !s.purged).collect();
        assert_eq!(
            stored.len(),
            live.len(),
            "store has {} sessions, model {} {ctx}",
            stored.len(),
            live.len()
        );
        for m in live {
            let s = stored
                .iter()
                .find(|s| s.id == m.id)
                .unwrap_or_else(|| panic!("session {:?} missing from the store {ctx}", m.id));
            assert_eq!(s.subject, SUBJECTS[m.subject], "{ctx}");
            assert_eq!(s.generation as usize, m.generation(), "{ctx}");
            assert_eq!(s.expires_at().as_millis(), m.expires_at(), "{ctx}");
            assert_eq!(s.rotated_at.as_millis(), m.rotated, "{ctx}");
            assert_eq!(s.created_at.as_millis(), m.created, "{ctx}");
            assert_eq!(
                s.revoked.map(|r| (r.at.as_millis(), r.reason)),
                m.revoked,
                "revocation state {ctx}"
            );
            assert_eq!(s.key_id.as_str(), m.refresh.last().unwrap().kid, "{ctx}");
            // I6: the record has the hash of the current secret, never the secret.
            let current = &m.refresh.last().unwrap().token;
            let body = current
                .strip_prefix("tlr1.")
                .unwrap()
                .split_once('.')
                .unwrap()
                .0;
            let payload = URL_SAFE_NO_PAD.decode(body).unwrap();
            let secret = &payload[24..56];
            let json = serde_json::to_string(s).unwrap();
            assert!(!json.contains(body), "store holds a refresh token {ctx}");
            let as_array = serde_json::to_string(secret).unwrap();
            assert!(
                !json.contains(&as_array[1..as_array.len() - 1]),
                "store holds a secret {ctx}"
            );
            let hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(secret).into();
            assert_eq!(s.current_hash.0, hash, "{ctx}");
        }
    }
}

/// `token` with bit `bit % 7` of the character at `pos % len` flipped,
/// staying ASCII so it is still a `&str`.
pub fn flip(token: &str, pos: u16, bit: u8) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = usize::from(pos) % bytes.len();
    bytes[i] ^= 1 << (bit % 7);
    String::from_utf8(bytes).unwrap()
}

/// Runs `ops` under `config` on the authority and the model.
pub fn run_model(config: Config, ops: &[Op]) {
    let mut w = World::new(config);
    for (step, &op) in ops.iter().enumerate() {
        w.step = step;
        w.apply(op);
        w.check_store();
    }
}

// ---------------------------------------------------------------------------
// jwks
// ---------------------------------------------------------------------------

/// The keyring whose JWKS the `jwks` seeds publish: an EdDSA signing key
/// `e1` and an ES256 next key `p1`.
pub fn jwks_keyring() -> Keyring {
    use tokenlife::{Algorithm, KeyMaterial};
    let mut keys = Keyring::with_algorithm(Algorithm::EdDSA, "e1", SECRET).unwrap();
    keys.add_next(KeyMaterial::derive(Algorithm::ES256, "p1", FOREIGN_SECRET).unwrap())
        .unwrap();
    keys
}

/// An access token of [`jwks_keyring`] at [`START`] whose payload carries
/// `claims` (a JSON object's text, taken as it is) beside the registered claims.
pub fn jwks_token(claims: Option<String>) -> String {
    let keys = jwks_keyring();
    let policy = Policy::default();
    let login = tokenlife::session::Login {
        id: SessionId::from_bytes([1; 16]),
        subject: "alice".into(),
        claims,
        metadata: Default::default(),
        secret: [2; 32].into(),
    };
    let (record, _) = tokenlife::session::start(&keys, &policy, login, START);
    tokenlife::access::sign(&keys, &policy, &record, [3; 16], START).token
}

/// Feeds `data` to `Verifier::from_jwks`, then to verification.
///
/// `data` is a JWKS document, optionally followed by a NUL and a token part.
/// Token part starting with byte 1: the rest is application claims, signed
/// into a real EdDSA token of [`jwks_keyring`]; otherwise the token as text.
///
/// Checked: a document is accepted only if it is a set of OKP/EC keys with
/// distinct valid kids, `use` `sig` if any, and no private member; a
/// refusal is an `InvalidJwks`; an accepted token names one of the set's
/// keys and has not expired; and a verifier of [`jwks_keyring`]'s own JWKS
/// answers every token exactly as the keyring does.
pub fn check_jwks(data: &[u8]) {
    use tokenlife::{MAX_JWKS_BYTES, Verifier};
    const PRIVATE: [&str; 8] = ["d", "k", "p", "q", "dp", "dq", "qi", "oth"];
    let (doc, token) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let doc = String::from_utf8_lossy(doc);
    let policy = Policy::default();
    let read = Verifier::from_jwks(&doc, policy.clone());
    let value: Option<serde_json::Value> = serde_json::from_str(&doc).ok();
    let listed = value
        .as_ref()
        .and_then(|v| v.get("keys"))
        .and_then(|k| k.as_array());
    if let Some(keys) = listed
        && keys
            .iter()
            .any(|k| PRIVATE.iter().any(|m| k.get(m).is_some()))
    {
        assert!(read.is_err(), "accepted a JWKS with a private member");
    }
    if doc.len() > MAX_JWKS_BYTES {
        assert!(read.is_err(), "accepted an over-long JWKS");
    }
    let verifier = match read {
        Err(e) => {
            assert!(matches!(e, Error::InvalidJwks(_)), "{e:?}");
            assert!(e.to_string().len() < 80);
            return;
        }
        Ok(v) => v,
    };
    // serde_json's `Value` refuses some JSON that a reader ignoring unknown
    // members accepts (a number beyond f64 in such a member): no oracle then.
    let Some(keys) = listed else {
        return;
    };
    let ids: Vec<String> = verifier.key_ids().map(|k| k.to_string()).collect();
    assert_eq!(keys.len(), ids.len());
    for (k, id) in keys.iter().zip(&ids) {
        assert_eq!(k["kid"].as_str(), Some(id.as_str()));
        assert!(matches!(k["kty"].as_str(), Some("OKP" | "EC")), "{k}");
        if let Some(u) = k.get("use") {
            assert_eq!(u.as_str(), Some("sig"));
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "accepted duplicate kids");
    let again = Verifier::from_jwks(&doc, policy.clone()).unwrap();
    assert!(
        again
            .key_ids()
            .map(|k| k.to_string())
            .eq(ids.iter().cloned())
    );

    let Some(token) = token else {
        return;
    };
    let token = match token.split_first() {
        Some((1, claims)) => jwks_token(Some(String::from_utf8_lossy(claims).into_owned())),
        _ => String::from_utf8_lossy(token).into_owned(),
    };
    let got = verifier.verify::<serde_json::Value>(&token, START);
    match &got {
        Ok(claims) => {
            assert!(claims.exp > START);
            let header = token.split('.').next().unwrap_or_default();
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
            let kid = header["kid"].as_str().unwrap();
            assert!(verifier.knows_key(kid));
        }
        Err(e) => check_token_error(e, token.len(), policy.max_token_bytes()),
    }
    let reference = jwks_keyring();
    if doc == reference.jwks(START).to_json() {
        let by_keyring =
            tokenlife::access::verify::<serde_json::Value>(&token, &reference, &policy, START);
        assert_eq!(
            got.as_ref().map_err(ToString::to_string),
            by_keyring.as_ref().map_err(ToString::to_string),
            "the verifier of a keyring's JWKS disagrees with the keyring"
        );
    }
}
