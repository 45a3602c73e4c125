//! Access-token algorithms and the keys that sign and verify with them.
//!
//! A key carries its algorithm: [`AccessKey`] holds the precomputed JOSE
//! header (with that algorithm's `alg`) and the verification key of that
//! algorithm, and signature checks dispatch on the key, never on the
//! token's header. A token whose header names another algorithm is refused
//! before any signature work (see `access::split`).

use alloc::string::String;
use core::fmt;

use hmac::Mac;

use super::{HmacSha256, KeyId};
use crate::ct;
use crate::encoding;
use crate::error::Error;

/// The signature algorithm of access tokens signed by a key (the JOSE `alg`).
///
/// Refresh tokens are always HMAC-SHA256 under the keyring's refresh keys,
/// whatever the access-token algorithm: they never leave the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA256 (RFC 7518 §3.2), the default: verifying needs the secret
    /// that also signs ([`Keyring::access_token_secret`](crate::Keyring::access_token_secret)).
    HS256,
    /// Ed25519 signatures (RFC 8037), verified strictly: non-canonical `S`
    /// and small-order points are refused.
    #[cfg(feature = "eddsa")]
    EdDSA,
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4), signatures as the raw
    /// 64-byte `r ‖ s`, `s` always in the lower half of the group order.
    #[cfg(feature = "es256")]
    ES256,
}

impl Algorithm {
    /// The JOSE name (`"HS256"`, `"EdDSA"`, `"ES256"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            #[cfg(feature = "eddsa")]
            Self::EdDSA => "EdDSA",
            #[cfg(feature = "es256")]
            Self::ES256 => "ES256",
        }
    }

    /// The algorithm of JOSE name `name` (exact, case-sensitive), if built in.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Self::HS256),
            #[cfg(feature = "eddsa")]
            "EdDSA" => Some(Self::EdDSA),
            #[cfg(feature = "es256")]
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }

    /// The length of a signature in bytes.
    pub(crate) const fn signature_len(self) -> usize {
        match self {
            Self::HS256 => 32,
            #[cfg(feature = "eddsa")]
            Self::EdDSA => 64,
            #[cfg(feature = "es256")]
            Self::ES256 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The verification half of a key, named and with its JOSE header: all that
/// a verifier needs, and, for the asymmetric algorithms, all it may hold.
#[derive(Clone)]
pub(crate) struct AccessKey {
    pub(crate) id: KeyId,
    /// The base64url JOSE header of access tokens signed with this key.
    pub(crate) jwt_header: String,
    pub(crate) verify: VerifyKey,
}

/// A verification key of one algorithm.
#[derive(Clone)]
pub(crate) enum VerifyKey {
    /// HS256 verifies with the secret that signs.
    Hs256(HmacSha256),
    /// Never of small order: every place that builds one refuses weak keys
    /// (a key derived from a seed is in the prime-order subgroup).
    #[cfg(feature = "eddsa")]
    EdDSA(ed25519_dalek::VerifyingKey),
    #[cfg(feature = "es256")]
    ES256(p256::ecdsa::VerifyingKey),
}

impl VerifyKey {
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Hs256(_) => Algorithm::HS256,
            #[cfg(feature = "eddsa")]
            Self::EdDSA(_) => Algorithm::EdDSA,
            #[cfg(feature = "es256")]
            Self::ES256(_) => Algorithm::ES256,
        }
    }
}

impl AccessKey {
    pub(crate) fn new(id: KeyId, verify: VerifyKey) -> Self {
        let jwt_header = encoding::encode(
            alloc::format!(
                r#"{{"alg":"{}","typ":"at+jwt","kid":"{}"}}"#,
                verify.algorithm().name(),
                id.as_str()
            )
            .as_bytes(),
        );
        Self {
            id,
            jwt_header,
            verify,
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.verify.algorithm()
    }

    /// The length of this key's signatures in base64url.
    pub(crate) fn signature_b64_len(&self) -> usize {
        encoding::encoded_len(self.algorithm().signature_len())
    }

    /// Checks `sig_b64` over `signed` with this key's algorithm.
    ///
    /// Every signature has exactly one accepted encoding: canonical
    /// base64url of the algorithm's fixed length (DER-encoded ECDSA is
    /// refused by its length), Ed25519 verified with `verify_strict`, ECDSA
    /// with `s` in the lower half.
    pub(crate) fn verify_signature(&self, signed: &[u8], sig_b64: &[u8]) -> Result<(), Error> {
        if sig_b64.len() != self.signature_b64_len() {
            // Decode anyway so that bad characters are reported as such.
            encoding::decode(sig_b64)?;
            return Err(Error::BadSignature);
        }
        match &self.verify {
            VerifyKey::Hs256(key) => {
                let sig: [u8; 32] = encoding::decode_array(sig_b64)?;
                if ct::eq32(&hs256(key, signed), &sig) {
                    Ok(())
                } else {
                    Err(Error::BadSignature)
                }
            }
            #[cfg(feature = "eddsa")]
            VerifyKey::EdDSA(key) => {
                use ed25519_dalek::Verifier as _;
                let sig: [u8; 64] = encoding::decode_array(sig_b64)?;
                let (r, s) = sig.split_at(32);
                // `verify_strict`'s checks, without its decompression of R:
                // S < L (also whatever features the graph unifies onto
                // ed25519-dalek), R none of the eight small-order points
                // (a non-canonical R never equals the recomputed one, which
                // `verify` compares bytewise), and the key not of small
                // order (refused wherever a key is built).
                if !ed25519_scalar_is_canonical(s) || ED25519_SMALL_ORDER.iter().any(|p| p == r) {
                    return Err(Error::BadSignature);
                }
                key.verify(signed, &ed25519_dalek::Signature::from_bytes(&sig))
                    .map_err(|_| Error::BadSignature)
            }
            #[cfg(feature = "es256")]
            VerifyKey::ES256(key) => {
                use p256::ecdsa::signature::Verifier as _;
                let sig: [u8; 64] = encoding::decode_array(sig_b64)?;
                // `from_slice` refuses r or s of zero or not below the order.
                let sig =
                    p256::ecdsa::Signature::from_slice(&sig).map_err(|_| Error::BadSignature)?;
                if sig.normalize_s().is_some() {
                    // High s: the other of the two valid encodings, which we never produce.
                    return Err(Error::BadSignature);
                }
                key.verify(signed, &sig).map_err(|_| Error::BadSignature)
            }
        }
    }
}

/// The signing half of a key, beside its [`AccessKey`].
#[derive(Clone)]
pub(crate) enum Signer {
    /// HS256 signs with the same key that verifies.
    Hs256(HmacSha256),
    #[cfg(feature = "eddsa")]
    EdDSA(ed25519_dalek::SigningKey),
    #[cfg(feature = "es256")]
    ES256(p256::ecdsa::SigningKey),
}

impl Signer {
    /// The verification half.
    pub(crate) fn verify_key(&self) -> VerifyKey {
        match self {
            Self::Hs256(mac) => VerifyKey::Hs256(mac.clone()),
            #[cfg(feature = "eddsa")]
            Self::EdDSA(sk) => VerifyKey::EdDSA(sk.verifying_key()),
            #[cfg(feature = "es256")]
            Self::ES256(sk) => VerifyKey::ES256(*sk.verifying_key()),
        }
    }

    /// The signature of `signed`.
    pub(crate) fn sign(&self, signed: &[u8]) -> SignatureBytes {
        match self {
            Self::Hs256(mac) => SignatureBytes::new(&hs256(mac, signed)),
            #[cfg(feature = "eddsa")]
            Self::EdDSA(sk) => {
                use ed25519_dalek::Signer as _;
                SignatureBytes::new(&sk.sign(signed).to_bytes())
            }
            #[cfg(feature = "es256")]
            Self::ES256(sk) => {
                use p256::ecdsa::signature::Signer as _;
                let sig: p256::ecdsa::Signature = sk.sign(signed);
                // p256 does not normalise; we do, so that verifiers can
                // refuse the high-s twin of every signature.
                let sig = sig.normalize_s().unwrap_or(sig);
                SignatureBytes::new(&sig.to_bytes())
            }
        }
    }
}

/// A signature of any of our algorithms, on the stack.
pub(crate) struct SignatureBytes {
    bytes: [u8; 64],
    len: usize,
}

impl SignatureBytes {
    fn new(sig: &[u8]) -> Self {
        let mut bytes = [0; 64];
        bytes[..sig.len()].copy_from_slice(sig);
        Self {
            bytes,
            len: sig.len(),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The canonical encodings of the eight points of small order of
/// edwards25519 (the torsion subgroup): the identity, the point of order 2,
/// the two of order 4 and the four of order 8.
#[cfg(feature = "eddsa")]
const ED25519_SMALL_ORDER: [[u8; 32]; 8] = {
    let mut order8_a = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    let mut order8_b = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    let (a, b) = (order8_a, order8_b);
    order8_a[31] |= 0x80;
    order8_b[31] |= 0x80;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut order2 = [0xff; 32];
    order2[0] = 0xec;
    order2[31] = 0x7f;
    let order4 = [0u8; 32];
    let mut order4_neg = [0u8; 32];
    order4_neg[31] = 0x80;
    [
        identity, order2, order4, order4_neg, a, order8_a, b, order8_b,
    ]
};

/// Whether the little-endian `s` is below the group order L (RFC 8032 §5.1.7).
#[cfg(feature = "eddsa")]
fn ed25519_scalar_is_canonical(s: &[u8]) -> bool {
    // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    // Compare from the most significant byte down; not secret, so not constant-time.
    s.iter().rev().cmp(L.iter().rev()) == core::cmp::Ordering::Less
}

pub(crate) fn hs256(key: &HmacSha256, signing_input: &[u8]) -> [u8; 32] {
    let mut mac = key.clone();
    mac.update(signing_input);
    mac.finalize().into_bytes().into()
}

#[cfg(all(test, feature = "eddsa"))]
mod tests {
    use super::*;

    #[test]
    fn the_small_order_list_is_the_whole_torsion_subgroup() {
        // Eight distinct encodings, each of a point of small order: as the
        // subgroup has exactly eight points, the list is complete.
        for (i, p) in ED25519_SMALL_ORDER.iter().enumerate() {
            let key = ed25519_dalek::VerifyingKey::from_bytes(p).unwrap();
            assert!(key.is_weak(), "{i}");
            assert!(ED25519_SMALL_ORDER[..i].iter().all(|q| q != p), "{i}");
        }
    }

    #[test]
    fn only_scalars_below_the_order_are_canonical() {
        let mut l = [0u8; 32];
        l[..16].copy_from_slice(&[
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14,
        ]);
        l[31] = 0x10;
        assert!(!ed25519_scalar_is_canonical(&l));
        let mut below = l;
        below[0] -= 1;
        assert!(ed25519_scalar_is_canonical(&below));
        assert!(ed25519_scalar_is_canonical(&[0; 32]));
        assert!(!ed25519_scalar_is_canonical(&[0xff; 32]));
        let mut high = [0u8; 32];
        high[31] = 0x10;
        high[16] = 1;
        assert!(!ed25519_scalar_is_canonical(&high));
    }
}
