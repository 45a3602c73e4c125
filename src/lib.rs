#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![warn(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod access;
mod authority;
pub mod client;
mod ct;
mod encoding;
mod error;
pub mod events;
mod id;
mod jwks;
mod keys;
mod policy;
mod random;
pub mod refresh;
#[cfg(feature = "std")]
pub mod revocation;
pub mod session;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
mod time;
mod verifier;

pub use access::AccessClaims;
pub use authority::{Authority, MAX_SUBJECT_LEN, TokenPair};
pub use error::{Error, JwksError, Malformed, RevokeReason};
pub use events::{Event, EventSink, NoEvents};
pub use id::SessionId;
pub use jwks::{Jwk, Jwks, MAX_JWKS_BYTES, MAX_JWKS_KEYS};
pub use keys::{Algorithm, KeyId, KeyMaterial, KeyState, Keyring, MAX_KEY_ID_LEN, MIN_SECRET_LEN};
pub use policy::Policy;
pub use random::RandomSource;
#[cfg(feature = "std")]
pub use random::{OsRandom, SharedRng};
#[cfg(feature = "std")]
pub use revocation::{Revocations, SharedRevocations};
pub use session::{Metadata, Revocation, Session, SessionInfo};
#[cfg(feature = "std")]
pub use store::{MemoryStore, SqlRow};
pub use store::{SessionStore, StoreError, StoreErrorKind};
#[cfg(feature = "std")]
pub use time::SystemClock;
pub use time::{Clock, ManualClock, UnixMillis};
pub use verifier::{PublicKey, Verifier};

// The long-form pages of docs/, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/security.md")]
pub struct SecurityMd;
#[cfg(doctest)]
#[doc = include_str!("../docs/stores.md")]
pub struct StoresMd;
#[cfg(doctest)]
#[doc = include_str!("../docs/compatibility.md")]
pub struct CompatibilityMd;
#[cfg(doctest)]
#[doc = include_str!("../docs/assurance.md")]
pub struct AssuranceMd;
#[cfg(doctest)]
#[doc = include_str!("../docs/performance.md")]
pub struct PerformanceMd;
