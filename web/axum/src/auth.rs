//! [`Auth`]: the handle on an [`Authority`] that extractors and routes share.
//!
//! An `Authority<S, C, R>` is generic over its store, clock and random
//! source; `Auth` erases the three, so that one extractor type works with
//! every authority and an application's state needs only `FromRef<_> for
//! Auth`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokenlife::events::EventSink;
use tokenlife::refresh::RefreshToken;
use tokenlife::{
    AccessClaims, Authority, Clock, Error, Keyring, Metadata, Policy, RandomSource, SessionId,
    SessionInfo, SessionStore, TokenPair, UnixMillis,
};

/// The authority behind the routes and extractors, with the settings they
/// share. Cheap to clone (two `Arc`s).
///
/// It takes any `Authority<S, C, R, E>`: any store, clock, random source
/// and [`EventSink`] (e.g. `TracingEvents`, with the
/// `tracing` feature).
///
/// ```
/// # use std::sync::Arc;
/// use tokenlife::{Authority, Keyring, MemoryStore, Policy};
/// use tokenlife_axum::Auth;
///
/// let keys = Keyring::new("k1", b"a secret of at least thirty-two bytes!").unwrap();
/// let auth = Auth::new(Authority::new(keys, Policy::default(), MemoryStore::new()))
///     .with_allowed_origins(["https://app.example.com"]);
/// ```
#[derive(Clone)]
pub struct Auth {
    engine: Arc<dyn Engine>,
    settings: Arc<Settings>,
}

struct Settings {
    clock: Arc<dyn Clock>,
    access_cookie: Option<String>,
    allowed_origins: Vec<String>,
}

impl Auth {
    /// A handle on `authority` (by value or already in an `Arc`).
    /// Throttling reads the authority's own clock
    /// ([`Authority::clock`]), as revocation and the JWKS do.
    pub fn new<S, C, R, E>(authority: impl Into<Arc<Authority<S, C, R, E>>>) -> Self
    where
        S: SessionStore + 'static,
        C: Clock + 'static,
        R: RandomSource + 'static,
        E: EventSink + 'static,
    {
        let engine: Arc<Authority<S, C, R, E>> = authority.into();
        let clock = Arc::new(EngineClock(Arc::clone(&engine) as Arc<dyn Engine>));
        Self {
            engine,
            settings: Arc::new(Settings {
                clock,
                access_cookie: None,
                allowed_origins: Vec::new(),
            }),
        }
    }

    /// Throttling reads `clock` instead of the authority's own, which it
    /// reads by default. (Handing in the authority's clock, as callers did
    /// before `Auth::new` read it, changes nothing.)
    #[must_use]
    pub fn with_clock(self, clock: impl Clock + 'static) -> Self {
        self.with_settings(|s| s.clock = Arc::new(clock))
    }

    /// The extractors also read the access token from cookie `name` when a
    /// request has no `Authorization` header. A state-changing request
    /// (not `GET`, `HEAD` or `OPTIONS`) authorised by that cookie must then
    /// pass the CSRF checks (see the crate docs).
    #[must_use]
    pub fn with_access_cookie(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with_settings(|s| s.access_cookie = Some(name))
    }

    /// Origins (`https://app.example.com`, no path) besides the server's own
    /// that may make cookie-mode requests.
    #[must_use]
    pub fn with_allowed_origins<I, O>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        let origins: Vec<String> = origins.into_iter().map(Into::into).collect();
        self.with_settings(|s| s.allowed_origins = origins)
    }

    fn with_settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        let current = &self.settings;
        let mut settings = Settings {
            clock: Arc::clone(&current.clock),
            access_cookie: current.access_cookie.clone(),
            allowed_origins: current.allowed_origins.clone(),
        };
        change(&mut settings);
        self.settings = Arc::new(settings);
        self
    }

    /// The authority's policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        self.engine.policy()
    }

    pub(crate) fn engine(&self) -> &dyn Engine {
        &*self.engine
    }

    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.settings.clock)
    }

    pub(crate) fn access_cookie(&self) -> Option<&str> {
        self.settings.access_cookie.as_deref()
    }

    pub(crate) fn allowed_origins(&self) -> &[String] {
        &self.settings.allowed_origins
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("access_cookie", &self.settings.access_cookie)
            .field("allowed_origins", &self.settings.allowed_origins)
            .finish_non_exhaustive()
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The application claims as the erased authority hands them out.
pub(crate) type Extra = Map<String, Value>;

/// The authority's clock, as the `Arc<dyn Clock>` throttling keeps.
struct EngineClock(Arc<dyn Engine>);

impl Clock for EngineClock {
    fn now(&self) -> UnixMillis {
        self.0.now()
    }
}

/// What the routes and extractors ask of an authority, with its type
/// parameters erased.
pub(crate) trait Engine: Send + Sync {
    fn policy(&self) -> &Policy;
    fn keyring(&self) -> &Keyring;
    /// The authority's clock.
    fn now(&self) -> UnixMillis;
    fn verify(&self, token: &str) -> Result<AccessClaims<Extra>, Error>;
    fn verify_live<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<AccessClaims<Extra>, Error>>;
    fn login<'a>(
        &'a self,
        subject: &'a str,
        claims: &'a Value,
        metadata: Metadata,
    ) -> BoxFuture<'a, Result<TokenPair, Error>>;
    fn refresh<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenPair, Error>>;
    fn logout<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), Error>>;
    fn logout_all<'a>(
        &'a self,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> BoxFuture<'a, Result<usize, Error>>;
    fn sessions<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, Error>>;
    fn revoke_session<'a>(
        &'a self,
        subject: &'a str,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<(), Error>>;
    /// The session an authentic refresh token belongs to (no store access).
    fn session_of(&self, refresh_token: &str) -> Option<SessionId>;
}

impl<S, C, R, E> Engine for Authority<S, C, R, E>
where
    S: SessionStore + 'static,
    C: Clock + 'static,
    R: RandomSource + 'static,
    E: EventSink + 'static,
{
    fn policy(&self) -> &Policy {
        Authority::policy(self)
    }

    fn keyring(&self) -> &Keyring {
        Authority::keyring(self)
    }

    fn now(&self) -> UnixMillis {
        Authority::clock(self).now()
    }

    fn verify(&self, token: &str) -> Result<AccessClaims<Extra>, Error> {
        Authority::verify(self, token)
    }

    fn verify_live<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<AccessClaims<Extra>, Error>> {
        // `verify_live` itself when the authority has no revocation set.
        Box::pin(Authority::verify_fresh(self, token))
    }

    fn login<'a>(
        &'a self,
        subject: &'a str,
        claims: &'a Value,
        metadata: Metadata,
    ) -> BoxFuture<'a, Result<TokenPair, Error>> {
        Box::pin(Authority::login_with(self, subject, claims, metadata))
    }

    fn refresh<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenPair, Error>> {
        Box::pin(Authority::refresh(self, token))
    }

    fn logout<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(Authority::logout(self, token))
    }

    fn logout_all<'a>(
        &'a self,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> BoxFuture<'a, Result<usize, Error>> {
        Box::pin(Authority::logout_all(self, subject, except))
    }

    fn sessions<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, Error>> {
        Box::pin(Authority::sessions(self, subject))
    }

    fn revoke_session<'a>(
        &'a self,
        subject: &'a str,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(Authority::revoke_session(self, subject, id))
    }

    fn session_of(&self, refresh_token: &str) -> Option<SessionId> {
        let max = Authority::policy(self).max_token_bytes();
        RefreshToken::parse(refresh_token, self.keyring(), max)
            .ok()
            .map(|token| *token.session_id())
    }
}
