//! The application's side of a login: [`Credentials`] checks an email and
//! password (and a one-time password) and names the subject. The crate
//! never sees a password store.

use serde::Serialize;
use zeroize::Zeroizing;

/// Checks login credentials: the application's user table, its password
/// hashes, its second factor.
///
/// [`check`](Credentials::check) may block (argon2, bcrypt, a synchronous
/// database client): the routes run it on tokio's blocking pool, at most
/// [`concurrent_checks`](crate::AuthRoutes::concurrent_checks) at once, and
/// never for an attempt that throttling refuses.
pub trait Credentials: Send + Sync + 'static {
    /// The application claims carried in the access tokens of the session
    /// (a struct that serialises to a JSON object; `()` for none).
    type Claims: Serialize + Send + 'static;

    /// The identity behind `attempt`.
    ///
    /// Spend the same work whether or not the email exists (verify against
    /// a dummy hash), so that timing does not tell which accounts exist.
    ///
    /// # Errors
    /// [`Refused::InvalidCredentials`] for an unknown email or a wrong
    /// password, [`Refused::InvalidOtp`] for a missing or wrong one-time
    /// password, [`Refused::Unavailable`] when the check could not be made.
    fn check(&self, attempt: &LoginAttempt) -> Result<Identity<Self::Claims>, Refused>;
}

/// What a client presented at `POST /auth/login`. `Debug` leaves out the
/// password and the one-time password; both are zeroized on drop.
pub struct LoginAttempt {
    /// The email as sent (not normalised).
    pub email: String,
    /// The password as sent.
    pub password: Zeroizing<String>,
    /// Directus's `otp` field, if sent.
    pub otp: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Whom a successful check names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity<C> {
    /// The subject (`sub`) of the session's tokens: a stable user id.
    pub subject: String,
    /// The application claims of its access tokens.
    pub claims: C,
}

/// Why [`Credentials::check`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// Unknown email or wrong password: `401 INVALID_CREDENTIALS`, counted
    /// by login throttling.
    InvalidCredentials,
    /// Missing or wrong one-time password: `401 INVALID_OTP`, counted by
    /// login throttling.
    InvalidOtp,
    /// The check could not be made (the user database is down):
    /// `503 SERVICE_UNAVAILABLE`, not counted.
    Unavailable,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::InvalidCredentials => "invalid credentials",
            Self::InvalidOtp => "invalid one-time password",
            Self::Unavailable => "credentials could not be checked",
        })
    }
}

impl std::error::Error for Refused {}
