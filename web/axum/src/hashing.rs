//! The bound on password checks running at once, and on logins waiting for
//! one.
//!
//! The permit travels *into* the blocking task, so it is held for as long as
//! the hash runs: a client that disconnects drops its handler, not the hash,
//! and the slot stays taken until the hash ends. Logins that cannot start
//! within the wait, or find the queue full, get `503` with `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::ApiError;

/// Password checks: at most `permits` at once, at most `max_waiting` queued,
/// none queued longer than `wait`.
pub(crate) struct Hashing {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    wait: Duration,
}

impl Hashing {
    pub(crate) fn new(permits: usize, max_waiting: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            wait,
        }
    }

    /// Runs `check` on the blocking pool once a permit is free.
    ///
    /// # Errors
    /// 503 when the queue is full or no permit came within the wait; 500
    /// when the check panicked.
    pub(crate) async fn run<T, F>(&self, check: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = {
            let _queued = Queued::enter(&self.waiting, self.max_waiting)?;
            tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned())
                .await
                .map_err(|_| ApiError::unavailable())?
                // The semaphore is never closed.
                .map_err(|_| ApiError::internal())?
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            check()
        })
        .await
        .map_err(|_| ApiError::internal())
    }

    /// How many logins wait for a permit now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// A place in the queue, given back on drop (also when the login is dropped).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(waiting: &'a AtomicUsize, max: usize) -> Result<Self, ApiError> {
        let before = waiting.fetch_add(1, Ordering::SeqCst);
        let queued = Self(waiting);
        if before >= max {
            return Err(ApiError::unavailable());
        }
        Ok(queued)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
