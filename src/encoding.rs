//! Canonical unpadded base64url (RFC 4648 §5), the only encoding tokens use.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::Malformed;

/// Encodes without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Decodes canonical unpadded base64url: padding, `+`, `/`, whitespace and
/// non-zero trailing bits are all refused, so each value has exactly one
/// accepted encoding.
pub(crate) fn decode(text: &[u8]) -> Result<Vec<u8>, Malformed> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Malformed::Base64)
}

/// Decodes into a fixed-size array; any other decoded length is refused.
pub(crate) fn decode_array<const N: usize>(text: &[u8]) -> Result<[u8; N], Malformed> {
    // Exact length first: it also bounds the work done on hostile input.
    if text.len() != encoded_len(N) {
        return Err(Malformed::Base64);
    }
    let mut out = [0u8; N];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
        Ok(n) if n == N => Ok(out),
        _ => Err(Malformed::Base64),
    }
}

/// The unpadded encoded length of `n` bytes.
pub(crate) const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_form_decodes() {
        assert_eq!(decode(b"AQ").unwrap(), [1]);
        for bad in [&b"AQ=="[..], b"AR", b"A Q", b"+/8", b"AQ\n"] {
            assert_eq!(decode(bad), Err(Malformed::Base64), "{bad:?}");
        }
        assert_eq!(decode_array::<1>(b"AQ").unwrap(), [1]);
        assert!(decode_array::<2>(b"AQ").is_err());
        assert!(decode_array::<1>(b"AR").is_err());
    }
}
