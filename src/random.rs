//! The random source, injected like the clock.

use crate::error::Error;

/// Where session ids, refresh secrets and token ids come from.
///
/// It takes `&self` so that one source can serve every thread of an
/// [`Authority`](crate::Authority). With the `std` feature two are provided:
/// [`OsRandom`] (the default) and [`SharedRng`], which wraps any rand_core 0.10
/// [`TryCryptoRng`](rand_core::TryCryptoRng) — a seeded ChaCha for
/// reproducible tests, or a fast userspace CSPRNG seeded from the OS.
///
/// Implementations must be cryptographically secure: every secret tokenlife
/// issues is only as unpredictable as this source.
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes.
    ///
    /// # Errors
    /// [`Error::Random`] when the source fails.
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's random source (getrandom), read on every call.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

#[cfg(feature = "std")]
impl RandomSource for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(dest).map_err(|_| Error::Random)
    }
}

/// Any rand_core 0.10 cryptographic RNG, shared between threads by a mutex.
///
/// ```
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
/// use tokenlife::{RandomSource, SharedRng};
///
/// let rng = SharedRng::new(ChaCha20Rng::seed_from_u64(7));
/// let mut a = [0u8; 16];
/// rng.fill(&mut a)?;
/// # Ok::<(), tokenlife::Error>(())
/// ```
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct SharedRng<R>(std::sync::Mutex<R>);

#[cfg(feature = "std")]
impl<R> SharedRng<R> {
    /// Wraps `rng`.
    pub fn new(rng: R) -> Self {
        Self(std::sync::Mutex::new(rng))
    }
}

#[cfg(feature = "std")]
impl<R: rand_core::TryCryptoRng + Send> RandomSource for SharedRng<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        // A panic while holding the lock cannot leave an RNG in a state that
        // repeats output, so a poisoned lock is still safe to use.
        let mut rng = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rng.try_fill_bytes(dest).map_err(|_| Error::Random)
    }
}

impl<R: RandomSource + ?Sized> RandomSource for alloc::sync::Arc<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        (**self).fill(dest)
    }
}
