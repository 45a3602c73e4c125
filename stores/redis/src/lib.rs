#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod errors;
mod feed;
mod keys;
mod scripts;
mod store;

pub use errors::RedisFailure;
pub use feed::{DEFAULT_REVOCATION_HISTORY, HEARTBEAT, RESYNC_MARGIN};
pub use keys::{BUCKETS, BadPrefix, DEFAULT_PREFIX, MAX_PREFIX_LEN};
pub use store::{DEFAULT_TIMEOUT, Options, RedisStore};
