//! Canonical unpadded base64url (RFC 4648 §5), the only encoding tokens use.
//!
//! Hand-written rather than the `base64` crate's general engine: every token
//! passes through here several times per operation, and a table lookup per
//! character with one error check per call is about twice as fast. The
//! tests hold it to the `base64` crate's `URL_SAFE_NO_PAD` on every length.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Malformed;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte outside the alphabet; any value with the top bit set does.
const INVALID: u8 = 0x80;

/// Character to 6-bit value, [`INVALID`] for everything else.
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Encodes without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(encoded_len(bytes.len()));
    encode_into(bytes, &mut out);
    out
}

/// Appends the encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(encoded_len(bytes.len()));
    // 48 bytes become 64 characters: encode a stack chunk at a time and
    // append it as one `str`.
    let mut chunk = [0u8; 64];
    for block in bytes.chunks(48) {
        let n = encode_block(block, &mut chunk);
        // Only alphabet characters were written, which are ASCII.
        out.push_str(core::str::from_utf8(&chunk[..n]).unwrap_or_default());
    }
}

/// Appends the encoding of `bytes` to `out`, as ASCII bytes.
pub(crate) fn encode_into_vec(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + encoded_len(bytes.len()), 0);
    encode_block(bytes, &mut out[start..]);
}

/// Encodes `bytes` into the front of `out` (which must be long enough);
/// returns the number of characters written.
pub(crate) fn encode_to_slice(bytes: &[u8], out: &mut [u8]) -> usize {
    encode_block(bytes, out)
}

fn encode_block(bytes: &[u8], out: &mut [u8]) -> usize {
    let groups = bytes.chunks_exact(3);
    let rest = groups.remainder();
    let mut written = 0;
    for (group, dst) in groups.zip(out.chunks_exact_mut(4)) {
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        dst[0] = ALPHABET[(n >> 18) as usize & 63];
        dst[1] = ALPHABET[(n >> 12) as usize & 63];
        dst[2] = ALPHABET[(n >> 6) as usize & 63];
        dst[3] = ALPHABET[n as usize & 63];
        written += 4;
    }
    match *rest {
        [a] => {
            let n = u32::from(a) << 16;
            out[written] = ALPHABET[(n >> 18) as usize & 63];
            out[written + 1] = ALPHABET[(n >> 12) as usize & 63];
            written += 2;
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out[written] = ALPHABET[(n >> 18) as usize & 63];
            out[written + 1] = ALPHABET[(n >> 12) as usize & 63];
            out[written + 2] = ALPHABET[(n >> 6) as usize & 63];
            written += 3;
        }
        _ => {}
    }
    written
}

/// Decodes canonical unpadded base64url: padding, `+`, `/`, whitespace and
/// non-zero trailing bits are all refused, so each value has exactly one
/// accepted encoding.
pub(crate) fn decode(text: &[u8]) -> Result<Vec<u8>, Malformed> {
    let mut out = alloc::vec![0u8; decoded_len(text.len()).ok_or(Malformed::Base64)?];
    decode_into(text, &mut out)?;
    Ok(out)
}

/// Decodes into a fixed-size array; any other decoded length is refused.
pub(crate) fn decode_array<const N: usize>(text: &[u8]) -> Result<[u8; N], Malformed> {
    // Exact length first: it also bounds the work done on hostile input.
    if text.len() != encoded_len(N) {
        return Err(Malformed::Base64);
    }
    let mut out = [0u8; N];
    decode_into(text, &mut out)?;
    Ok(out)
}

/// Decodes `text` into `out`, whose length must be exactly
/// `decoded_len(text.len())`; otherwise, or if `text` is not canonical,
/// it fails. `out` is left partly written on failure.
pub(crate) fn decode_into(text: &[u8], out: &mut [u8]) -> Result<(), Malformed> {
    if decoded_len(text.len()) != Some(out.len()) {
        return Err(Malformed::Base64);
    }
    let quads = text.chunks_exact(4);
    let rest = quads.remainder();
    // Errors are collected as a flag and checked once, off the hot loop.
    let mut bad = 0u8;
    let mut triples = out.chunks_exact_mut(3);
    for (quad, dst) in quads.zip(&mut triples) {
        let (a, b, c, d) = (
            DECODE[usize::from(quad[0])],
            DECODE[usize::from(quad[1])],
            DECODE[usize::from(quad[2])],
            DECODE[usize::from(quad[3])],
        );
        bad |= a | b | c | d;
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        dst[0] = (n >> 16) as u8;
        dst[1] = (n >> 8) as u8;
        dst[2] = n as u8;
    }
    let tail = triples.into_remainder();
    match (rest, tail) {
        ([], []) => {}
        ([a, b], [x]) => {
            let (a, b) = (DECODE[usize::from(*a)], DECODE[usize::from(*b)]);
            // The 4 low bits of the last character must be zero.
            bad |= a | b | u8::from(b & 0x0f != 0) << 7;
            *x = a << 2 | b >> 4;
        }
        ([a, b, c], [x, y]) => {
            let (a, b, c) = (
                DECODE[usize::from(*a)],
                DECODE[usize::from(*b)],
                DECODE[usize::from(*c)],
            );
            // The 2 low bits of the last character must be zero.
            bad |= a | b | c | u8::from(c & 0x03 != 0) << 7;
            *x = a << 2 | b >> 4;
            *y = b << 4 | c >> 2;
        }
        _ => return Err(Malformed::Base64),
    }
    if bad & INVALID != 0 {
        return Err(Malformed::Base64);
    }
    Ok(())
}

/// The unpadded encoded length of `n` bytes.
pub(crate) const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// The decoded length of `n` characters, `None` when no encoding is that long.
pub(crate) const fn decoded_len(n: usize) -> Option<usize> {
    match n % 4 {
        1 => None,
        r => Some(n / 4 * 3 + r.saturating_sub(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn only_the_canonical_form_decodes() {
        assert_eq!(decode(b"AQ").unwrap(), [1]);
        for bad in [
            &b"AQ=="[..],
            b"AR",
            b"A Q",
            b"+/8",
            b"AQ\n",
            b"A",
            b"AAAAA",
            b"AB.C",
        ] {
            assert_eq!(decode(bad), Err(Malformed::Base64), "{bad:?}");
        }
        assert_eq!(decode_array::<1>(b"AQ").unwrap(), [1]);
        assert!(decode_array::<2>(b"AQ").is_err());
        assert!(decode_array::<1>(b"AR").is_err());
    }

    #[test]
    fn agrees_with_the_base64_crate() {
        // Every length up to 100 bytes, varied contents.
        let mut seed = 0x1234_5678_9abc_def0u64;
        for len in 0..100 {
            for _ in 0..6 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                let text = encode(&bytes);
                assert_eq!(text, URL_SAFE_NO_PAD.encode(&bytes));
                let mut v = Vec::new();
                encode_into_vec(&bytes, &mut v);
                assert_eq!(v, text.as_bytes());
                assert_eq!(decode(text.as_bytes()).unwrap(), bytes);
                // Every single-character change decodes exactly as the crate says.
                let mut edited = text.clone().into_bytes();
                for i in 0..edited.len() {
                    let keep = edited[i];
                    for c in [
                        b'A', b'B', b'P', b'Q', b'-', b'_', b'+', b'/', b'=', b'.', 0xC3,
                    ] {
                        edited[i] = c;
                        let ours = decode(&edited).ok();
                        let theirs = URL_SAFE_NO_PAD.decode(&edited).ok();
                        assert_eq!(ours, theirs, "{edited:?}");
                    }
                    edited[i] = keep;
                }
            }
        }
    }
}
