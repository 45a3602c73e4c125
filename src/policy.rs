//! Lifetimes and validation rules.

use alloc::string::String;
use core::time::Duration;

/// How long tokens live and what `verify` demands of them.
///
/// | setting | default |
/// |---|---|
/// | [`access_ttl`](Policy::access_ttl) | 15 minutes |
/// | [`refresh_ttl`](Policy::refresh_ttl) (idle; each refresh restarts it) | 7 days |
/// | [`reuse_grace`](Policy::reuse_grace) | 10 seconds (zero disables) |
/// | [`leeway`](Policy::leeway) | 0 |
/// | [`max_session_age`](Policy::max_session_age) | none |
/// | [`issuer`](Policy::issuer) / [`audience`](Policy::audience) | none |
/// | [`max_token_bytes`](Policy::max_token_bytes) | 8 KiB |
/// | [`max_claims_bytes`](Policy::max_claims_bytes) | 4 KiB |
/// | [`max_metadata_bytes`](Policy::max_metadata_bytes) | 4 KiB |
///
/// ```
/// use core::time::Duration;
/// use tokenlife::Policy;
///
/// let policy = Policy::default()
///     .with_access_ttl(Duration::from_secs(30))
///     .with_reuse_grace(Duration::ZERO)
///     .with_max_session_age(Some(Duration::from_secs(30 * 24 * 3600)))
///     .with_issuer("https://auth.example.com");
/// assert_eq!(policy.access_ttl(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    access_ttl: Duration,
    refresh_ttl: Duration,
    reuse_grace: Duration,
    leeway: Duration,
    max_session_age: Option<Duration>,
    issuer: Option<String>,
    audience: Option<String>,
    max_token_bytes: usize,
    max_claims_bytes: usize,
    max_metadata_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            reuse_grace: Duration::from_secs(10),
            leeway: Duration::ZERO,
            max_session_age: None,
            issuer: None,
            audience: None,
            max_token_bytes: 8 * 1024,
            max_claims_bytes: 4 * 1024,
            max_metadata_bytes: 4 * 1024,
        }
    }
}

impl Policy {
    /// Lifetime of an access token. Its `exp` is a whole second (JWT
    /// `NumericDate`), rounded down, so a token never outlives this span.
    #[must_use]
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }
    /// Idle lifetime of a refresh token: a session that is not refreshed
    /// within this span expires. Each refresh restarts it.
    #[must_use]
    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }
    /// How long after a rotation the immediate predecessor refresh token is
    /// still accepted, returning the *same* successor. Zero disables it.
    #[must_use]
    pub fn reuse_grace(&self) -> Duration {
        self.reuse_grace
    }
    /// Clock skew tolerated when checking access-token `exp` and `nbf`.
    #[must_use]
    pub fn leeway(&self) -> Duration {
        self.leeway
    }
    /// Absolute session lifetime from login, however often it is refreshed.
    #[must_use]
    pub fn max_session_age(&self) -> Option<Duration> {
        self.max_session_age
    }
    /// The `iss` put in and demanded of access tokens.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
    /// The `aud` put in and demanded of access tokens.
    #[must_use]
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }
    /// Longest token (access or refresh) looked at; longer ones are refused
    /// with [`Error::TooLarge`](crate::Error::TooLarge) before any decoding.
    #[must_use]
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
    /// Longest serialised application claims accepted at login or refresh.
    #[must_use]
    pub fn max_claims_bytes(&self) -> usize {
        self.max_claims_bytes
    }

    /// Sets [`access_ttl`](Policy::access_ttl).
    #[must_use]
    pub fn with_access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }
    /// Sets [`refresh_ttl`](Policy::refresh_ttl).
    #[must_use]
    pub fn with_refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }
    /// Sets [`reuse_grace`](Policy::reuse_grace).
    #[must_use]
    pub fn with_reuse_grace(mut self, grace: Duration) -> Self {
        self.reuse_grace = grace;
        self
    }
    /// Sets [`leeway`](Policy::leeway).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
    /// Sets [`max_session_age`](Policy::max_session_age).
    #[must_use]
    pub fn with_max_session_age(mut self, age: Option<Duration>) -> Self {
        self.max_session_age = age;
        self
    }
    /// Sets [`issuer`](Policy::issuer).
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// Sets [`audience`](Policy::audience).
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
    /// Sets [`max_token_bytes`](Policy::max_token_bytes).
    #[must_use]
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }
    /// Sets [`max_claims_bytes`](Policy::max_claims_bytes).
    #[must_use]
    pub fn with_max_claims_bytes(mut self, max: usize) -> Self {
        self.max_claims_bytes = max;
        self
    }

    /// The most session metadata (user agent, client address, …) that
    /// [`Authority::login_with`](crate::Authority::login_with) records: the
    /// bytes of every name and value together. Larger metadata is refused
    /// with [`Error::MetadataTooLarge`](crate::Error::MetadataTooLarge), so
    /// that a client cannot make the store keep (and list) megabytes.
    #[must_use]
    pub fn max_metadata_bytes(&self) -> usize {
        self.max_metadata_bytes
    }

    /// Sets [`max_metadata_bytes`](Policy::max_metadata_bytes).
    #[must_use]
    pub fn with_max_metadata_bytes(mut self, max: usize) -> Self {
        self.max_metadata_bytes = max;
        self
    }
}
