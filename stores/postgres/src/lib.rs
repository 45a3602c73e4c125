#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod errors;
mod feed;
mod schema;
mod store;

pub use feed::{HEARTBEAT, RESYNC_MARGIN};
pub use schema::{CHANNEL, MIGRATION, TABLE};
pub use store::{DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, Options, PostgresStore};
