#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod errors;
mod schema;
mod store;

pub use schema::{MIGRATION, TABLE};
pub use store::{DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, Options, PostgresStore};
