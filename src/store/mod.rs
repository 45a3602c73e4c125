//! The one port to storage: the [`SessionStore`] trait, its error, and
//! the stores that come with the crate.
//!
//! - [`SessionStore`] — five operations with SQL-shaped promises;
//! - [`StoreError`] — how a store fails, its driver's error kept as `source()`;
//! - [`MemoryStore`] — the embedded default (feature `std`);
//! - [`SqlRow`] — a session as SQL columns, shared by the SQL stores (feature `std`);
//! - [`RevocationFeed`] — how a store pushes revocations to every instance (feature `std`).

#[cfg(feature = "std")]
mod feed;
#[cfg(feature = "std")]
mod memory;
#[cfg(feature = "std")]
mod row;
pub(crate) mod session_store;

pub use crate::error::{StoreError, StoreErrorKind};
#[cfg(feature = "std")]
pub use feed::RevocationFeed;
#[cfg(feature = "std")]
pub use memory::MemoryStore;
#[cfg(feature = "std")]
pub use row::SqlRow;
pub use session_store::SessionStore;
