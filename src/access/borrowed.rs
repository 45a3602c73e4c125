//! Verifying without allocating: the claims of a token borrowed from a
//! buffer the caller holds ([`ClaimsBuf`]), as [`BorrowedClaims`].

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::AccessClaims;
use crate::id::SessionId;
use crate::time::UnixMillis;

/// Payloads up to this many bytes are decoded into a [`ClaimsBuf`]'s inline
/// array; larger ones into its heap buffer.
const INLINE: usize = 1024;

/// Scratch space for the decoded payload of an access token, held by the
/// caller of [`verify_in`](super::verify_in) so that the claims it returns
/// can borrow from it instead of being copied into allocations.
///
/// A payload of up to 1 KiB (every token this crate signs with a few
/// hundred bytes of application claims) is decoded into an inline array:
/// no allocation at all. A larger one goes to a heap buffer that is kept,
/// so a `ClaimsBuf` reused across requests allocates only when it meets a
/// larger payload than before. It holds about 1 KiB: keep one per worker or
/// per request on the stack.
///
/// Its contents are the payload of the last token verified in it, which is
/// not a secret, but `Debug` prints none of it all the same.
pub struct ClaimsBuf {
    inline: [u8; INLINE],
    heap: Vec<u8>,
}

impl ClaimsBuf {
    /// An empty buffer; allocates nothing.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            inline: [0; INLINE],
            heap: Vec::new(),
        }
    }

    /// Room for a payload of `len` bytes, and the spare room the general
    /// parser decodes it into again should the fast path have written over
    /// the first (see [`parse_fast`](super::claims::fast::parse_fast)).
    pub(super) fn regions(&mut self, len: usize) -> (&mut [u8], Spare<'_>) {
        if len <= INLINE {
            (&mut self.inline[..len], Spare::Heap(&mut self.heap))
        } else {
            // Both regions on the heap, side by side: the first can stay
            // borrowed while the second is written.
            self.heap.clear();
            self.heap.resize(len * 2, 0);
            let (first, second) = self.heap.split_at_mut(len);
            (first, Spare::Ready(second))
        }
    }
}

impl Default for ClaimsBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ClaimsBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimsBuf").finish_non_exhaustive()
    }
}

/// The spare region of a [`ClaimsBuf`], made ready only when needed.
pub(super) enum Spare<'a> {
    /// The heap buffer, not yet sized (allocates on first use).
    Heap(&'a mut Vec<u8>),
    /// Already sized.
    Ready(&'a mut [u8]),
}

impl<'a> Spare<'a> {
    /// `len` bytes of room.
    pub(super) fn take(self, len: usize) -> &'a mut [u8] {
        match self {
            Spare::Heap(v) => {
                v.clear();
                v.resize(len, 0);
                v.as_mut_slice()
            }
            Spare::Ready(s) => s,
        }
    }
}

/// The claims of a verified access token, borrowed from the [`ClaimsBuf`]
/// it was decoded into: what [`verify_in`](super::verify_in) returns.
///
/// A string without JSON escapes (as this crate always writes `sub`, `jti`,
/// `iss` and `aud`) is borrowed; only one with escapes is unescaped into an
/// owned `String`. `C` borrows as it likes: `()`, a struct with
/// `#[serde(borrow)] role: &'a str` or `Cow<'a, str>` fields, or any owned
/// type. [`into_owned`](BorrowedClaims::into_owned) gives the
/// [`AccessClaims`] that [`verify`](super::verify) returns, which is exactly
/// how `verify` makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BorrowedClaims<'a, C> {
    /// Subject (`sub`): whom the token speaks for.
    pub sub: Cow<'a, str>,
    /// Session id (`sid`).
    pub sid: SessionId,
    /// Issued at (`iat`), whole seconds.
    pub iat: UnixMillis,
    /// Expiry (`exp`), whole seconds; invalid from this instant on.
    pub exp: UnixMillis,
    /// Token id (`jti`), unique per token.
    pub jti: Cow<'a, str>,
    /// Issuer (`iss`), when the token has one.
    pub iss: Option<Cow<'a, str>>,
    /// Audiences (`aud`), empty when the token has none.
    pub aud: Audiences<'a>,
    /// The application's claims.
    pub extra: C,
}

impl<C> BorrowedClaims<'_, C> {
    /// The same claims with every string copied out of the buffer.
    #[must_use]
    pub fn into_owned(self) -> AccessClaims<C> {
        AccessClaims {
            sub: self.sub.into_owned(),
            sid: self.sid,
            iat: self.iat,
            exp: self.exp,
            jti: self.jti.into_owned(),
            iss: self.iss.map(Cow::into_owned),
            aud: self.aud.into_owned(),
            extra: self.extra,
        }
    }
}

/// The audiences (`aud`) of a token: none, one (a JSON string, as this
/// crate writes it: borrowed, no allocation) or several (a JSON array,
/// which takes one allocation for the list).
#[derive(Clone, Default)]
pub struct Audiences<'a>(Aud<'a>);

#[derive(Clone, Default)]
enum Aud<'a> {
    #[default]
    None,
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Audiences<'a> {
    pub(super) fn one(aud: Cow<'a, str>) -> Self {
        Self(Aud::One(aud))
    }

    pub(super) fn many(all: Vec<Cow<'a, str>>) -> Self {
        Self(Aud::Many(all))
    }

    /// The audiences in the token's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.as_slice().iter().map(|a| &**a)
    }

    /// Whether `aud` is one of them.
    #[must_use]
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }

    /// How many there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The audiences as owned strings, as [`AccessClaims::aud`] holds them.
    #[must_use]
    pub fn into_owned(self) -> Vec<String> {
        match self.0 {
            Aud::None => Vec::new(),
            Aud::One(a) => alloc::vec![a.into_owned()],
            Aud::Many(all) => all.into_iter().map(Cow::into_owned).collect(),
        }
    }

    fn as_slice(&self) -> &[Cow<'a, str>] {
        match &self.0 {
            Aud::None => &[],
            Aud::One(a) => core::slice::from_ref(a),
            Aud::Many(all) => all,
        }
    }
}

/// Equal when they list the same audiences in the same order, whether the
/// token wrote one as a string or as an array of one.
impl PartialEq for Audiences<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Audiences<'_> {}

impl fmt::Debug for Audiences<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
