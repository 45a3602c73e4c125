//! Constant-time comparison of MACs and secret hashes (DESIGN.md I7).

use subtle::ConstantTimeEq;

/// Compares two MACs or hashes in constant time, eight bytes at a step:
/// `subtle` on bytes runs an optimisation barrier per byte, 32 of them per
/// comparison; on `u64` words it runs four, and is as branch-free.
pub(crate) fn eq32(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let words = |x: &[u8; 32]| -> [u64; 4] {
        let (chunks, _) = x.as_chunks::<8>();
        core::array::from_fn(|i| u64::from_le_bytes(chunks[i]))
    };
    words(a).ct_eq(&words(b)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_comparison_sees_a_difference_in_any_bit() {
        let a = [0x5a; 32];
        assert!(eq32(&a, &a));
        for byte in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[byte] ^= 1 << bit;
                assert!(!eq32(&a, &b));
                assert!(!eq32(&b, &a));
            }
        }
    }
}
