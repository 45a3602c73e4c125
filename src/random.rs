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

/// Any rand_core 0.10 cryptographic RNG, shared between threads.
///
/// [`SharedRng::new`] puts one generator behind a mutex: deterministic,
/// for reproducible tests. On a multi-threaded server use
/// [`SharedRng::striped`]: several generators, each seeded from the one
/// given and each on its own cache line, and every thread keeps to one of
/// them, so threads neither wait for each other nor bounce a lock's cache
/// line between cores on every token issued.
///
/// # Fork safety
///
/// **A `SharedRng` must not cross a `fork()`.** A child process starts with
/// a copy of every generator's state, so parent and child (and every other
/// child forked from the same state) then draw *the same* session ids,
/// refresh secrets and token ids: one process's tokens become predictable
/// from another's. Nothing in a `SharedRng` notices the fork: the only safe
/// way to tell would be to ask the OS for the process id on every draw,
/// which costs a system call each time (about 0.25 µs on a shared VM, a
/// sixth of a login) and would take away what this type is for. So, in a
/// server that forks its workers (a pre-fork model, a daemon that forks
/// after set-up):
///
/// - create the `SharedRng`, and the [`Authority`](crate::Authority)
///   holding it, in each worker *after* the fork; or
/// - call [`reseed`](SharedRng::reseed) in the child first thing after the
///   fork, before anything draws; or
/// - use [`OsRandom`], which reads the OS on every call and is fork-safe.
///
/// (Forking a process whose other threads might hold one of these mutexes
/// can leave it locked in the child for good: in a multi-threaded parent,
/// create the generator after the fork.)
///
/// ```
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
/// use tokenlife::{RandomSource, SharedRng};
///
/// let rng = SharedRng::new(ChaCha20Rng::seed_from_u64(7));
/// let mut a = [0u8; 16];
/// rng.fill(&mut a)?;
///
/// // A server: a ChaCha per core, all seeded from one seeded by the OS.
/// let seed = ChaCha20Rng::try_from_rng(&mut getrandom::SysRng).expect("OS random");
/// let rng = SharedRng::striped(seed, 8)?;
/// rng.fill(&mut a)?;
///
/// // In a child process that inherited it through a fork, before any draw:
/// rng.reseed()?;
/// rng.fill(&mut a)?;
/// # Ok::<(), tokenlife::Error>(())
/// ```
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct SharedRng<R> {
    stripes: alloc::boxed::Box<[Stripe<R>]>,
}

/// One generator, alone on its cache lines (two, for the adjacent-line
/// prefetcher).
#[cfg(feature = "std")]
#[derive(Debug)]
#[repr(align(128))]
struct Stripe<R>(std::sync::Mutex<R>);

#[cfg(feature = "std")]
impl<R> Stripe<R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, R> {
        // A panic while holding the lock cannot leave an RNG in a state that
        // repeats output, so a poisoned lock is still safe to use.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(feature = "std")]
impl<R> SharedRng<R> {
    /// Wraps `rng`: one generator, one mutex.
    pub fn new(rng: R) -> Self {
        Self {
            stripes: alloc::vec![Stripe(std::sync::Mutex::new(rng))].into_boxed_slice(),
        }
    }

    /// The generator for the calling thread: threads are dealt stripes in
    /// turn as they first draw, so up to `stripes` threads never share one.
    fn stripe(&self) -> &Stripe<R> {
        use core::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        std::thread_local! {
            static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let n = self.stripes.len();
        let i = if n == 1 { 0 } else { MINE.with(|&i| i % n) };
        &self.stripes[i]
    }
}

#[cfg(feature = "std")]
impl<R: rand_core::TryCryptoRng + rand_core::SeedableRng> SharedRng<R> {
    /// `stripes` generators (at least one): `rng` itself and the others
    /// seeded from its output, as rand's own generators fork.
    ///
    /// # Errors
    /// [`Error::Random`] when `rng` fails to seed the others.
    pub fn striped(mut rng: R, stripes: usize) -> Result<Self, Error> {
        let mut all = alloc::vec::Vec::with_capacity(stripes.max(1));
        for _ in 1..stripes.max(1) {
            let forked = R::try_from_rng(&mut rng).map_err(|_| Error::Random)?;
            all.push(Stripe(std::sync::Mutex::new(forked)));
        }
        all.push(Stripe(std::sync::Mutex::new(rng)));
        Ok(Self {
            stripes: all.into_boxed_slice(),
        })
    }

    /// Replaces every generator with a new one seeded from the OS, so that
    /// nothing drawn from now on follows from the state it had: what a child
    /// process must do after a `fork()` if it inherited this `SharedRng`
    /// (see [Fork safety](SharedRng#fork-safety)). It also ends the
    /// reproducibility of a seeded generator, on purpose.
    ///
    /// # Errors
    /// [`Error::Random`] when the OS source fails; the generators reseeded
    /// until then keep their new state, the others their old one.
    pub fn reseed(&self) -> Result<(), Error> {
        for stripe in self.stripes.iter() {
            let fresh = R::try_from_rng(&mut getrandom::SysRng).map_err(|_| Error::Random)?;
            *stripe.lock() = fresh;
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
impl<R: rand_core::TryCryptoRng + Send> RandomSource for SharedRng<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        self.stripe()
            .lock()
            .try_fill_bytes(dest)
            .map_err(|_| Error::Random)
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{SeedableRng, TryRng};

    #[test]
    fn stripes_are_distinct_generators_and_threads_keep_to_one() {
        let rng = SharedRng::striped(ChaCha20Rng::seed_from_u64(1), 4).unwrap();
        assert_eq!(rng.stripes.len(), 4);
        // No two stripes start alike.
        let mut firsts = std::collections::HashSet::new();
        for stripe in rng.stripes.iter() {
            let mut b = [0u8; 32];
            stripe.0.lock().unwrap().try_fill_bytes(&mut b).unwrap();
            assert!(firsts.insert(b));
        }
        // Eight threads draw; all 8 × 50 draws are distinct.
        let rng = alloc::sync::Arc::new(rng);
        let draws: Vec<[u8; 16]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let rng = rng.clone();
                    s.spawn(move || {
                        (0..50)
                            .map(|_| {
                                let mut b = [0u8; 16];
                                rng.fill(&mut b).unwrap();
                                b
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert_eq!(distinct.len(), 400);
        assert!(SharedRng::striped(ChaCha20Rng::seed_from_u64(1), 0).is_ok());
    }

    /// The first 32 bytes each stripe draws next.
    fn next_of_each(rng: &SharedRng<ChaCha20Rng>) -> Vec<[u8; 32]> {
        rng.stripes
            .iter()
            .map(|stripe| {
                let mut b = [0u8; 32];
                stripe.lock().try_fill_bytes(&mut b).unwrap();
                b
            })
            .collect()
    }

    #[test]
    fn a_copy_of_its_state_repeats_its_draws_until_reseeded() {
        // What a fork does: the child holds the parent's state, byte for
        // byte. (A real fork needs `unsafe`; the copy is the same hazard.)
        let parent = SharedRng::striped(ChaCha20Rng::seed_from_u64(9), 4).unwrap();
        let child = SharedRng::striped(ChaCha20Rng::seed_from_u64(9), 4).unwrap();
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        parent.fill(&mut a).unwrap();
        child.fill(&mut b).unwrap();
        assert_eq!(a, b, "the hazard the docs warn of");
        assert_eq!(next_of_each(&parent), next_of_each(&child));

        // Reseeded, no stripe of the child follows the parent any more, nor
        // any other stripe of its own.
        child.reseed().unwrap();
        let (theirs, ours) = (next_of_each(&parent), next_of_each(&child));
        for mine in &ours {
            assert!(!theirs.contains(mine));
        }
        let distinct: std::collections::HashSet<_> = ours.iter().collect();
        assert_eq!(distinct.len(), ours.len());
        parent.fill(&mut a).unwrap();
        child.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}

impl<R: RandomSource + ?Sized> RandomSource for alloc::sync::Arc<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        (**self).fill(dest)
    }
}
