#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod oneshot;
mod store;

pub use store::{BUSY_TIMEOUT, SqliteStore, TABLE};
