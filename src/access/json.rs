//! The payload JSON of an access token being signed.

use alloc::vec::Vec;

use crate::encoding;

/// The payload JSON of an access token being signed: on the stack up to
/// 512 bytes, on the heap beyond.
pub(super) struct JsonBuf {
    stack: [u8; 512],
    len: usize,
    heap: Vec<u8>,
}

impl JsonBuf {
    pub(super) fn new() -> Self {
        Self {
            stack: [0; 512],
            len: 0,
            heap: Vec::new(),
        }
    }

    // Inlined, so that the many short literals become fixed-size copies
    // rather than calls to `memcpy`.
    #[inline(always)]
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.heap.is_empty() {
            if let Some(dst) = self.stack.get_mut(self.len..self.len + bytes.len()) {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
                return;
            }
            self.heap.extend_from_slice(&self.stack[..self.len]);
        }
        self.heap.extend_from_slice(bytes);
    }

    /// Appends `s` as a JSON string.
    pub(super) fn push_str(&mut self, s: &str) {
        // Exactly the strings that serde_json writes verbatim.
        let plain = super::claims::fast::first_special(s.as_bytes()).is_none();
        if plain {
            self.push(b"\"");
            self.push(s.as_bytes());
            self.push(b"\"");
        } else {
            // Serialising a &str to JSON cannot fail.
            let quoted = serde_json::to_string(s).unwrap_or_default();
            self.push(quoted.as_bytes());
        }
    }

    pub(super) fn push_b64(&mut self, bytes: &[u8; 16]) {
        let mut out = [0u8; encoding::encoded_len(16)];
        encoding::encode_to_slice(bytes, &mut out);
        self.push(&out);
    }

    pub(super) fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.stack[..self.len]
        } else {
            &self.heap
        }
    }
}

/// The members of a compact JSON object without its braces, or `None` if empty.
pub(super) fn object_body(object: &str) -> Option<&str> {
    let inner = object.strip_prefix('{')?.strip_suffix('}')?;
    (!inner.is_empty()).then_some(inner)
}
