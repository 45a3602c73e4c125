//! Fixtures shared by the benches: a realistic access token (UUID `sub`, a
//! role claim, `iss` and `aud`), authorities over stores of a given size, and
//! the peers (`jsonwebtoken`, and one bare HMAC-SHA256 as the floor).
#![allow(dead_code)] // each bench uses a different part

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hmac::{KeyInit, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tokenlife::{
    AccessClaims, Authority, Clock, Keyring, ManualClock, MemoryStore, OsRandom, Policy, SharedRng,
    SystemClock, TokenPair,
};

pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "https://api.example.com";
pub const KEY_ID: &str = "2026-11";
pub const MASTER: &[u8; 32] = b"bench master secret, 32 bytes!!!";

/// The application claims of the realistic token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub role: String,
}

/// The application claims of the realistic token, borrowed from the
/// buffer `verify_in` decodes into: a claims type that owns nothing.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleRef<'a> {
    #[serde(borrow)]
    pub role: &'a str,
}

/// The same token as `jsonwebtoken` sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwtClaims {
    pub sub: String,
    pub sid: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    pub role: String,
}

pub type FastRng = SharedRng<ChaCha20Rng>;
pub type Auth<R = FastRng> = Authority<MemoryStore, ManualClock, R>;

pub use tokenlife_model::uuid_subject as subject;

pub fn role() -> Role {
    Role {
        role: "editor".into(),
    }
}

pub fn policy() -> Policy {
    Policy::default()
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
}

/// A userspace CSPRNG seeded from the OS, as a server would run it.
pub fn fast_rng() -> FastRng {
    let seed = ChaCha20Rng::try_from_rng(&mut getrandom::SysRng).expect("OS random source");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    SharedRng::striped(seed, cores).expect("seeding")
}

/// The wall clock, frozen: `jsonwebtoken` reads the real clock, so the
/// tokens must be valid now, and they must stay valid for the whole run.
pub fn clock() -> ManualClock {
    ManualClock::new(SystemClock.now())
}

pub fn authority() -> Auth {
    Authority::new(
        Keyring::new(KEY_ID, MASTER).expect("valid key"),
        policy(),
        MemoryStore::new(),
    )
    .with_clock(clock())
    .with_random(fast_rng())
}

pub fn os_authority() -> Auth<OsRandom> {
    Authority::new(
        Keyring::new(KEY_ID, MASTER).expect("valid key"),
        policy(),
        MemoryStore::new(),
    )
    .with_clock(clock())
}

/// Whether [`populated`] logs sessions in without the role claim.
pub static NO_CLAIMS: AtomicBool = AtomicBool::new(false);

/// An authority holding `n` sessions (one per subject), and their pairs.
pub fn populated(n: u64) -> (Arc<Auth>, Vec<TokenPair>) {
    let auth = authority();
    let role = role();
    let pairs = (0..n)
        .map(|i| {
            if NO_CLAIMS.load(Ordering::Relaxed) {
                pollster::block_on(auth.login(&subject(i), &())).expect("login")
            } else {
                pollster::block_on(auth.login(&subject(i), &role)).expect("login")
            }
        })
        .collect();
    (Arc::new(auth), pairs)
}

/// The HS256 secret for peers.
pub fn access_secret(auth: &Auth) -> [u8; 32] {
    *auth
        .keyring()
        .access_token_secret(KEY_ID)
        .expect("signing key")
}

/// `jsonwebtoken` set up for the same validation `verify` does.
pub struct Peer {
    pub encoding: jsonwebtoken::EncodingKey,
    pub decoding: jsonwebtoken::DecodingKey,
    pub header: jsonwebtoken::Header,
    pub validation: jsonwebtoken::Validation,
}

impl Peer {
    pub fn new(secret: &[u8; 32]) -> Self {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(KEY_ID.into());
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 0;
        Self {
            encoding: jsonwebtoken::EncodingKey::from_secret(secret),
            decoding: jsonwebtoken::DecodingKey::from_secret(secret),
            header,
            validation,
        }
    }

    pub fn decode(&self, token: &str) -> JwtClaims {
        jsonwebtoken::decode::<JwtClaims>(token, &self.decoding, &self.validation)
            .expect("jsonwebtoken accepts our token")
            .claims
    }

    pub fn encode(&self, claims: &JwtClaims) -> String {
        jsonwebtoken::encode(&self.header, claims, &self.encoding).expect("encode")
    }
}

/// The claims of `token` in the peer's shape (so both sign the same thing).
pub fn jwt_claims(claims: &AccessClaims<Role>) -> JwtClaims {
    JwtClaims {
        sub: claims.sub.clone(),
        sid: claims.sid.to_string(),
        iat: claims.iat.as_secs(),
        exp: claims.exp.as_secs(),
        jti: claims.jti.clone(),
        iss: claims.iss.clone().unwrap_or_default(),
        aud: claims.aud.first().cloned().unwrap_or_default(),
        role: claims.extra.role.clone(),
    }
}

/// The floor: one HMAC-SHA256 over the token's signing input with the key
/// schedule precomputed, with the same hmac/sha2 the crate uses.
pub struct Floor {
    key: hmac::Hmac<sha2::Sha256>,
}

impl Floor {
    pub fn new(secret: &[u8; 32]) -> Self {
        Self {
            key: <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("any length"),
        }
    }

    pub fn mac(&self, signing_input: &[u8]) -> [u8; 32] {
        let mut mac = self.key.clone();
        mac.update(signing_input);
        mac.finalize().into_bytes().into()
    }
}

/// The part of a JWT that its signature covers.
pub fn signing_input(token: &str) -> &str {
    &token[..token.rfind('.').expect("a JWT")]
}

/// Refresh tokens of the sessions of one store, refreshed round-robin.
pub struct Refresher {
    pub tokens: Vec<String>,
    next: usize,
    stride: usize,
}

impl Refresher {
    /// Walks `tokens` with a stride coprime to their count, so consecutive
    /// refreshes touch unrelated sessions (and, at 1M, cold cache lines).
    pub fn new(pairs: &[TokenPair]) -> Self {
        let tokens: Vec<String> = pairs.iter().map(|p| p.refresh_token.clone()).collect();
        let n = tokens.len().max(1);
        let mut stride = (n / 2 + 7919) % n;
        while gcd(stride, n) != 1 {
            stride += 1;
        }
        Self {
            tokens,
            next: 0,
            stride: stride.max(1),
        }
    }

    pub async fn refresh<R: tokenlife::RandomSource>(&mut self, auth: &Auth<R>) -> TokenPair {
        let i = self.step();
        let pair = auth.refresh(&self.tokens[i]).await.expect("refresh");
        self.tokens[i].clone_from(&pair.refresh_token);
        pair
    }

    fn step(&mut self) -> usize {
        let i = self.next;
        self.next = (self.next + self.stride) % self.tokens.len();
        i
    }

    /// The next `k` tokens, copied into fresh buffers (as a server holds a
    /// token it has just read from a request), paired with their places.
    /// The last one is first to pop.
    pub fn take(&mut self, k: usize) -> Vec<(usize, String)> {
        let mut batch: Vec<(usize, String)> = (0..k)
            .map(|_| {
                let i = self.step();
                (i, self.tokens[i].clone())
            })
            .collect();
        batch.reverse();
        batch
    }

    /// Files the successors of tokens given out by [`Refresher::take`].
    pub fn put_back(&mut self, done: &mut Vec<(usize, String)>) {
        for (i, token) in done.drain(..) {
            self.tokens[i] = token;
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

pub const SHORT: Duration = Duration::from_millis(300);

// ---- EdDSA and ES256 --------------------------------------------------------

/// The Ed25519 private key of the asymmetric benches.
pub const ED25519_SEED: [u8; 32] = [0x42; 32];
/// The P-256 private key of the asymmetric benches.
pub const P256_SCALAR: [u8; 32] = [0x24; 32];

/// A keyring signing `alg` (EdDSA or ES256) under [`KEY_ID`], from the
/// bench private keys.
pub fn asymmetric_keyring(alg: tokenlife::Algorithm) -> Keyring {
    let key = match alg {
        tokenlife::Algorithm::EdDSA => {
            tokenlife::KeyMaterial::with_ed25519_key(KEY_ID, MASTER, &ED25519_SEED)
        }
        _ => tokenlife::KeyMaterial::with_p256_key(KEY_ID, MASTER, &P256_SCALAR),
    };
    Keyring::from_key(key.expect("valid key"))
}

/// An authority over an empty store signing `alg`.
pub fn asymmetric_authority(alg: tokenlife::Algorithm) -> Auth {
    Authority::new(asymmetric_keyring(alg), policy(), MemoryStore::new())
        .with_clock(clock())
        .with_random(fast_rng())
}

/// A JWKS of three keys: two Ed25519, one P-256.
pub fn three_key_jwks() -> String {
    use tokenlife::{Algorithm, KeyMaterial};
    let mut keys = asymmetric_keyring(Algorithm::EdDSA);
    keys.add_next(KeyMaterial::derive(Algorithm::EdDSA, "next", &[3; 32]).expect("key"))
        .expect("new id");
    keys.add_next(KeyMaterial::derive(Algorithm::ES256, "ec", &[4; 32]).expect("key"))
        .expect("new id");
    keys.jwks(SystemClock.now()).to_json()
}

/// PKCS#8 DER of the bench Ed25519 key (RFC 8410), as jsonwebtoken reads it.
fn ed25519_pkcs8() -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&ED25519_SEED);
    der
}

/// PKCS#8 DER of the bench P-256 key (RFC 5915 in RFC 5208).
fn p256_pkcs8() -> Vec<u8> {
    let mut der = vec![
        0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
        0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25,
        0x02, 0x01, 0x01, 0x04, 0x20,
    ];
    der.extend_from_slice(&P256_SCALAR);
    der
}

impl Peer {
    /// `jsonwebtoken` for `alg`, its decoding key taken from our JWKS.
    pub fn asymmetric(alg: tokenlife::Algorithm, keys: &Keyring) -> Self {
        let (jwt_alg, encoding) = match alg {
            tokenlife::Algorithm::EdDSA => (
                jsonwebtoken::Algorithm::EdDSA,
                jsonwebtoken::EncodingKey::from_ed_der(&ed25519_pkcs8()),
            ),
            _ => (
                jsonwebtoken::Algorithm::ES256,
                jsonwebtoken::EncodingKey::from_ec_der(&p256_pkcs8()),
            ),
        };
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(&keys.jwks(SystemClock.now()).to_json()).expect("a JWKS");
        let decoding =
            jsonwebtoken::DecodingKey::from_jwk(set.find(KEY_ID).expect("our key")).expect("jwk");
        let mut peer = Self::new(&[0; 32]);
        peer.header.alg = jwt_alg;
        peer.validation.algorithms = vec![jwt_alg];
        peer.encoding = encoding;
        peer.decoding = decoding;
        peer
    }
}

/// The floor of EdDSA: ed25519-dalek's own sign and `verify_strict`.
pub struct Ed25519Floor {
    key: ed25519_dalek::SigningKey,
    public: ed25519_dalek::VerifyingKey,
}

impl Ed25519Floor {
    pub fn new() -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED);
        let public = key.verifying_key();
        Self { key, public }
    }

    pub fn sign(&self, input: &[u8]) -> ed25519_dalek::Signature {
        use ed25519_dalek::Signer as _;
        self.key.sign(input)
    }

    pub fn verify(&self, input: &[u8], sig: &ed25519_dalek::Signature) -> bool {
        self.public.verify_strict(input, sig).is_ok()
    }
}

/// The floor of ES256: p256's own sign and verify.
pub struct P256Floor {
    key: p256::ecdsa::SigningKey,
    public: p256::ecdsa::VerifyingKey,
}

impl P256Floor {
    pub fn new() -> Self {
        let key = p256::ecdsa::SigningKey::from_slice(&P256_SCALAR).expect("a scalar");
        let public = *key.verifying_key();
        Self { key, public }
    }

    pub fn sign(&self, input: &[u8]) -> p256::ecdsa::Signature {
        use p256::ecdsa::signature::Signer as _;
        self.key.sign(input)
    }

    pub fn verify(&self, input: &[u8], sig: &p256::ecdsa::Signature) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        self.public.verify(input, sig).is_ok()
    }
}

/// The raw signature of a JWT (its third segment, decoded).
pub fn signature_bytes(token: &str) -> [u8; 64] {
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&token[token.rfind('.').expect("a JWT") + 1..])
        .expect("base64url");
    sig.try_into().expect("64 bytes")
}
