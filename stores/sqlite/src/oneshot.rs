//! A one-value channel from the connection thread back to the awaiting task.
//!
//! Hand-rolled from a `Mutex` and a `Waker` because that is all it takes:
//! the connection thread sends at most once, the future is polled by
//! whatever executor the caller runs. It needs no runtime of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Creates a connected sender and receiver.
pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        value: None,
        waker: None,
        sender_gone: false,
    }));
    (Sender(Arc::clone(&shared)), Receiver(shared))
}

/// Sends the one value. Dropping it unsent (the job panicked) completes
/// the receiver with [`Canceled`].
pub(crate) struct Sender<T>(Arc<Mutex<State<T>>>);

/// A future of the sent value.
pub(crate) struct Receiver<T>(Arc<Mutex<State<T>>>);

/// The sender was dropped without sending.
#[derive(Debug)]
pub(crate) struct Canceled;

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

impl<T> Sender<T> {
    /// Hands `value` to the receiver (dropped if the receiver is gone).
    pub(crate) fn send(self, value: T) {
        let waker = {
            let mut state = lock(&self.0);
            state.value = Some(value);
            state.waker.take()
        };
        // Wake outside the lock: the woken task may poll at once.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.0);
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.0);
        if let Some(value) = state.value.take() {
            return Poll::Ready(Ok(value));
        }
        if state.sender_gone {
            return Poll::Ready(Err(Canceled));
        }
        match &mut state.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            None => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The state is a plain value that no panic can leave half-updated, so a
/// poisoned lock is still good to use.
fn lock<T>(state: &Mutex<State<T>>) -> MutexGuard<'_, State<T>> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_sent_from_another_thread_arrives() {
        let (tx, rx) = channel();
        let sender = std::thread::spawn(move || tx.send(42));
        assert_eq!(pollster::block_on(rx).ok(), Some(42));
        sender.join().ok();
    }

    #[test]
    fn a_sender_dropped_unsent_cancels() {
        let (tx, rx) = channel::<u8>();
        std::thread::spawn(move || drop(tx)).join().ok();
        assert!(pollster::block_on(rx).is_err());
    }
}
