//! Canonical unpadded base64url (RFC 4648 §5), the only encoding tokens use.
//!
//! Hand-written rather than the `base64` crate's general engine: every token
//! passes through here several times per operation. Decoding takes 8
//! characters to 6 bytes per step through four pre-shifted lookup tables
//! (one OR per character, one error check per call), and hands inputs of
//! 40 characters or more (an access token's payload and signature) to
//! `base64-simd`, which decodes them several times faster with SIMD
//! (and its set-up costs more than it saves below); encoding takes 6
//! bytes to 8 characters per step through a table of character pairs (one
//! lookup per 12 bits), and hands 30 bytes or more to `base64-simd` too,
//! whose output needs no UTF-8 check. The tests hold both decoders and
//! both encoders to the `base64` crate's `URL_SAFE_NO_PAD` on every length.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Malformed;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Two characters per entry: the encoding of a 12-bit value, first character
/// in the low byte. 8 KiB, built at compile time.
static PAIRS: [u16; 4096] = {
    let mut table = [0u16; 4096];
    let mut i = 0;
    while i < 4096 {
        table[i] = ALPHABET[i >> 6] as u16 | (ALPHABET[i & 63] as u16) << 8;
        i += 1;
    }
    table
};

/// Set in every [`DECODE`] entry for a byte outside the alphabet. It lies
/// above the 24 data bits of a 4-character group, so OR-ing the entries of
/// a whole input together and testing this one bit checks every character.
const INVALID: u32 = 1 << 31;

/// Character to 6-bit value, shifted into place for each of the 4 positions
/// of a group: `DECODE[k][c]` is `v << (18 - 6 * k)`, or [`INVALID`] (and no
/// data bits) when `c` is not in the alphabet. A group's 24 bits are then
/// the OR of its 4 entries. 4 KiB, built at compile time.
static DECODE: [[u32; 256]; 4] = {
    let mut tables = [[INVALID; 256]; 4];
    let mut k = 0;
    while k < 4 {
        let mut i = 0;
        while i < 64 {
            tables[k][ALPHABET[i] as usize] = (i as u32) << (18 - 6 * k);
            i += 1;
        }
        k += 1;
    }
    tables
};

/// The 24 bits of a 4-character group (plus [`INVALID`] if any is bad).
#[inline(always)]
fn group(c: [u8; 4]) -> u32 {
    let [d0, d1, d2, d3] = &DECODE;
    d0[usize::from(c[0])] | d1[usize::from(c[1])] | d2[usize::from(c[2])] | d3[usize::from(c[3])]
}

/// Encodes without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(encoded_len(bytes.len()));
    encode_into(bytes, &mut out);
    out
}

/// Appends the encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(encoded_len(bytes.len()));
    // Encoded a stack chunk at a time and appended as one `str`: 360
    // bytes (a multiple of both encoders' steps) become 480 characters,
    // which covers an access token's payload and every refresh token's.
    let mut chunk = [0u8; 480];
    for block in bytes.chunks(360) {
        if block.len() >= SIMD_ENCODE_FROM {
            // base64-simd writes only alphabet characters, and says so by
            // returning a `str`: nothing to check again.
            let text = base64_simd::URL_SAFE_NO_PAD
                .encode_as_str(block, base64_simd::Out::from_slice(&mut chunk));
            out.push_str(text);
        } else {
            let n = encode_block(block, &mut chunk);
            // Only alphabet characters were written, which are ASCII.
            out.push_str(core::str::from_utf8(&chunk[..n]).unwrap_or_default());
        }
    }
}

/// Inputs from this many bytes on are encoded by `base64-simd`.
const SIMD_ENCODE_FROM: usize = 30;

/// Encodes `bytes` into the front of `out` (which must be long enough);
/// returns the number of characters written.
pub(crate) fn encode_to_slice(bytes: &[u8], out: &mut [u8]) -> usize {
    encode_block(bytes, out)
}

/// Encodes `bytes` into the front of `out`, 6 bytes to 8 characters per
/// step; returns the number of characters written. Every caller passes an
/// `out` of at least `encoded_len(bytes.len())`; a shorter one is a bug in
/// the caller, and stops the steps early or panics on the tail.
fn encode_block(bytes: &[u8], out: &mut [u8]) -> usize {
    let pair = |n: u64| u64::from(PAIRS[(n & 0xfff) as usize]);
    let (groups, rest) = bytes.as_chunks::<6>();
    let mut written = 0;
    for (g, dst) in groups.iter().zip(out.as_chunks_mut::<8>().0) {
        let n = u64::from_be_bytes([0, 0, g[0], g[1], g[2], g[3], g[4], g[5]]);
        let chars = pair(n >> 36) | pair(n >> 24) << 16 | pair(n >> 12) << 32 | pair(n) << 48;
        *dst = chars.to_le_bytes();
        written += 8;
    }
    // At most 5 bytes are left: 3 become 4 characters, then 1 or 2 become
    // 2 or 3.
    let rest = match rest.split_first_chunk::<3>() {
        Some((&[a, b, c], tail)) => {
            let n = u64::from_be_bytes([0, 0, 0, 0, 0, a, b, c]);
            let chars = pair(n >> 12) | pair(n) << 16;
            out[written..written + 4].copy_from_slice(&chars.to_le_bytes()[..4]);
            written += 4;
            tail
        }
        None => rest,
    };
    match *rest {
        [a] => {
            // `a` then 4 zero bits: one pair.
            let chars = pair(u64::from(a) << 4).to_le_bytes();
            out[written..written + 2].copy_from_slice(&chars[..2]);
            written += 2;
        }
        [a, b] => {
            // `a`, `b` then 2 zero bits: the first 3 characters of two pairs.
            let n = u64::from(a) << 16 | u64::from(b) << 8;
            let chars = (pair(n >> 12) | pair(n) << 16).to_le_bytes();
            out[written..written + 3].copy_from_slice(&chars[..3]);
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
/// it fails. `out` is left partly written, possibly with garbage, on failure.
///
/// From [`SIMD_FROM`] characters on (a token's payload and signature), `base64-simd`
/// decodes, as strictly (the tests hold both to the `base64` crate on
/// every length and edit); below, where its set-up costs more than it
/// saves, the tables here do.
pub(crate) fn decode_into(text: &[u8], out: &mut [u8]) -> Result<(), Malformed> {
    if decoded_len(text.len()) != Some(out.len()) {
        return Err(Malformed::Base64);
    }
    if text.len() >= SIMD_FROM {
        return base64_simd::URL_SAFE_NO_PAD
            .decode(text, base64_simd::Out::from_slice(out))
            .map(|_| ())
            .map_err(|_| Malformed::Base64);
    }
    decode_tables(text, out)
}

/// Inputs from this many characters on are decoded by `base64-simd`.
const SIMD_FROM: usize = 40;

/// [`decode_into`] by the lookup tables, for an `out` of the right length.
fn decode_tables(text: &[u8], out: &mut [u8]) -> Result<(), Malformed> {
    // 8 characters to 6 bytes per step. `text.len() / 8 == out.len() / 6`
    // for every length `decoded_len` accepts, so the zip covers both.
    let (steps, rest) = text.as_chunks::<8>();
    let (out_steps, out_rest) = out.as_chunks_mut::<6>();
    // Errors are collected as a flag and checked once, off the hot loop.
    let mut bad = 0u32;
    for (s, dst) in steps.iter().zip(out_steps) {
        let hi = group([s[0], s[1], s[2], s[3]]);
        let lo = group([s[4], s[5], s[6], s[7]]);
        bad |= hi | lo;
        // A bad `lo` spills into `hi`'s bits, but then the output is
        // refused anyway.
        let n = u64::from(hi) << 24 | u64::from(lo);
        dst.copy_from_slice(&n.to_be_bytes()[2..]);
    }
    // At most 7 characters are left (never 1 or 5): one more whole group,
    // then 0, 2 or 3 characters.
    let (rest, out_rest) = match (
        rest.split_first_chunk::<4>(),
        out_rest.split_first_chunk_mut::<3>(),
    ) {
        (Some((&g, rest)), Some((dst, out_rest))) => {
            let n = group(g);
            bad |= n;
            dst.copy_from_slice(&n.to_be_bytes()[1..]);
            (rest, out_rest)
        }
        (None, None) => (rest, out_rest),
        _ => return Err(Malformed::Base64),
    };
    let [d0, d1, d2, _] = &DECODE;
    match (rest, out_rest) {
        ([], []) => {}
        ([a, b], [x]) => {
            let n = d0[usize::from(*a)] | d1[usize::from(*b)];
            // The 4 low bits of the last character must be zero.
            bad |= n | if n & 0xf000 != 0 { INVALID } else { 0 };
            *x = (n >> 16) as u8;
        }
        ([a, b, c], [x, y]) => {
            let n = d0[usize::from(*a)] | d1[usize::from(*b)] | d2[usize::from(*c)];
            // The 2 low bits of the last character must be zero.
            bad |= n | if n & 0xc0 != 0 { INVALID } else { 0 };
            *x = (n >> 16) as u8;
            *y = (n >> 8) as u8;
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

    #[test]
    fn both_decoders_refuse_and_accept_exactly_what_the_base64_crate_does() {
        // Every length either side of the hand-over to base64-simd and of
        // its 32-character step, every byte value at the first, a middle
        // and the last position, each decoder against the crate.
        for chars in (0..=140).chain(250..=290) {
            let bytes: Vec<u8> = (0..chars * 3 / 4).map(|i| (i * 151 + 3) as u8).collect();
            let mut text = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
            text.resize(chars, b'w');
            let positions = [0, chars / 2, chars.saturating_sub(1)];
            for &i in positions.iter().filter(|&&i| i < chars) {
                let keep = text[i];
                for c in 0..=255 {
                    text[i] = c;
                    let theirs = URL_SAFE_NO_PAD.decode(&text).ok();
                    let tables = decoded_len(chars).and_then(|n| {
                        let mut out = alloc::vec![0u8; n];
                        decode_tables(&text, &mut out).ok().map(|()| out)
                    });
                    let simd = decoded_len(chars).and_then(|n| {
                        let mut out = alloc::vec![0u8; n];
                        base64_simd::URL_SAFE_NO_PAD
                            .decode(&text, base64_simd::Out::from_slice(&mut out))
                            .ok()?;
                        Some(out)
                    });
                    assert_eq!(tables, theirs, "tables {text:?}");
                    assert_eq!(simd, theirs, "simd {text:?}");
                    assert_eq!(decode(&text).ok(), theirs, "{text:?}");
                }
                text[i] = keep;
            }
        }
    }

    #[test]
    fn every_step_and_tail_shape() {
        // Encoding: lengths on both sides of the 6-byte step and of
        // `encode_into`'s 120-byte chunk, every path against the crate.
        for len in (0..=40).chain(114..=126).chain(234..=246).chain(354..=366) {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 97 + 13) as u8).collect();
            let expected = URL_SAFE_NO_PAD.encode(&bytes);
            let mut s = String::from("x.");
            encode_into(&bytes, &mut s);
            assert_eq!(s[2..], expected);
            let mut buf = [b'#'; 600];
            assert_eq!(encode_to_slice(&bytes, &mut buf), expected.len());
            assert_eq!(buf[..expected.len()], *expected.as_bytes());
            assert!(buf[expected.len()..].iter().all(|&b| b == b'#'));
        }
        // Decoding: every character length on both sides of the 8-character
        // step (including the impossible ones), every byte value in every
        // position, against the crate; plus a wrong-sized output either side.
        for chars in 0..=27 {
            let bytes: Vec<u8> = (0..chars * 3 / 4).map(|i| (i * 89 + 7) as u8).collect();
            let mut text = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
            text.resize(chars, b'g');
            let expected = URL_SAFE_NO_PAD.decode(&text).ok();
            assert_eq!(decode(&text).ok(), expected, "{text:?}");
            if let Some(len) = decoded_len(chars) {
                let mut out = alloc::vec![0u8; len + 1];
                assert_eq!(decode_into(&text, &mut out), Err(Malformed::Base64));
                if len > 0 {
                    assert_eq!(
                        decode_into(&text, &mut out[..len - 1]),
                        Err(Malformed::Base64)
                    );
                }
            }
            for i in 0..chars {
                let keep = text[i];
                for c in 0..=255 {
                    text[i] = c;
                    let theirs = URL_SAFE_NO_PAD.decode(&text).ok();
                    assert_eq!(decode(&text).ok(), theirs, "{text:?}");
                }
                text[i] = keep;
            }
        }
    }
}
