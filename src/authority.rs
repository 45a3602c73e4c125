//! [`Authority`]: keys + policy + store + clock + random source.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};

use crate::access::{self, AccessClaims, BorrowedClaims, ClaimsBuf, app_claims};
use crate::error::{Error, RevokeReason, StoreError};
use crate::events::{Event, EventSink, NoEvents};
use crate::id::SessionId;
use crate::keys::Keyring;
use crate::policy::Policy;
use crate::random::RandomSource;
use crate::refresh::RefreshToken;
#[cfg(feature = "std")]
use crate::revocation::{RevocationNotice, SharedRevocations};
use crate::session::{self, Login, Metadata, RefreshDecision, Revocation, Session, SessionInfo};
use crate::store::session_store::SessionStore;
use crate::time::{Clock, UnixMillis};

/// How often a lost compare-and-swap is re-read and re-decided before the
/// conflict is reported. Each retry means another writer made progress.
const MAX_ATTEMPTS: usize = 16;

/// The longest subject accepted, in bytes.
pub const MAX_SUBJECT_LEN: usize = 1024;

/// The whole token lifecycle over a [`SessionStore`].
///
/// It reads the clock, draws randomness, loads a session, asks the pure
/// core ([`crate::session`], [`crate::access`]) what to do, and
/// compare-and-swaps the result, re-reading and re-deciding when another
/// writer got there first. It is `Send + Sync`: share it behind an `Arc`.
///
/// # `verify` or `verify_live`?
///
/// [`verify`](Authority::verify) is synchronous, takes no lock and touches no
/// store: it proves the access token was signed by a key of the keyring and
/// has not expired. A logged-out session's access tokens therefore still
/// pass `verify` until their `exp` — at most
/// [`access_ttl`](Policy::access_ttl) later. [`verify_live`](Authority::verify_live)
/// also loads the session, so logout, logout-all and reuse revocation take
/// effect at once, at the cost of one store read per request.
/// [`verify_fresh`](Authority::verify_fresh) checks a revocation set that
/// a [`RevocationFeed`](crate::store::RevocationFeed) keeps filled on every
/// instance: revocation within the feed's delay, at about the cost of
/// `verify`, and the store read again whenever the set is stale.
///
/// # Events
///
/// What it decides (login, refresh, reuse, revocation, purge, refusal of
/// an expired session) it reports to an [`EventSink`] once the write
/// succeeded; see [`with_events`](Authority::with_events). The default,
/// [`NoEvents`], costs nothing.
pub struct Authority<S, C, R, E = NoEvents> {
    keys: Keyring,
    policy: Policy,
    store: S,
    clock: C,
    rng: R,
    events: E,
    /// The set [`verify_fresh`](Authority::verify_fresh) consults.
    #[cfg(feature = "std")]
    revocations: Option<alloc::sync::Arc<SharedRevocations>>,
}

/// What login and refresh return, serialising to Directus's shape
/// `{"access_token", "refresh_token", "expires"}`.
///
/// `Debug` redacts both tokens.
#[derive(Clone, Serialize)]
pub struct TokenPair {
    /// The access token (a JWT) for `Authorization: Bearer`.
    pub access_token: String,
    /// The refresh token, for [`Authority::refresh`] and [`Authority::logout`].
    pub refresh_token: String,
    /// Milliseconds from issue until the access token expires.
    pub expires: u64,
    /// When the access token expires.
    #[serde(skip)]
    pub expires_at: UnixMillis,
    /// The session the pair belongs to.
    #[serde(skip)]
    pub session_id: SessionId,
}

#[cfg(feature = "std")]
impl<S: SessionStore> Authority<S, crate::time::SystemClock, crate::random::OsRandom> {
    /// An authority on the system clock and the OS random source.
    #[must_use]
    pub fn new(keys: Keyring, policy: Policy, store: S) -> Self {
        Self::from_parts(
            keys,
            policy,
            store,
            crate::time::SystemClock,
            crate::random::OsRandom,
        )
    }
}

impl<S: SessionStore, C: Clock, R: RandomSource> Authority<S, C, R> {
    /// An authority from all its parts (the constructor without `std`),
    /// reporting no events.
    #[must_use]
    pub fn from_parts(keys: Keyring, policy: Policy, store: S, clock: C, rng: R) -> Self {
        Self {
            keys,
            policy,
            store,
            clock,
            rng,
            events: NoEvents,
            #[cfg(feature = "std")]
            revocations: None,
        }
    }
}

impl<S: SessionStore, C: Clock, R: RandomSource, E: EventSink> Authority<S, C, R, E> {
    /// The same authority reading `clock` instead.
    #[must_use]
    pub fn with_clock<C2: Clock>(self, clock: C2) -> Authority<S, C2, R, E> {
        Authority {
            keys: self.keys,
            policy: self.policy,
            store: self.store,
            clock,
            rng: self.rng,
            events: self.events,
            #[cfg(feature = "std")]
            revocations: self.revocations,
        }
    }

    /// The same authority drawing from `rng` instead (e.g. a [`SharedRng`](crate::SharedRng)).
    #[must_use]
    pub fn with_random<R2: RandomSource>(self, rng: R2) -> Authority<S, C, R2, E> {
        Authority {
            keys: self.keys,
            policy: self.policy,
            store: self.store,
            clock: self.clock,
            rng,
            events: self.events,
            #[cfg(feature = "std")]
            revocations: self.revocations,
        }
    }

    /// The same authority reporting its [`Event`]s to `sink` (e.g. a
    /// `tracing` logger, or an alert on [`Event::ReuseDetected`]).
    #[must_use]
    pub fn with_events<E2: EventSink>(self, sink: E2) -> Authority<S, C, R, E2> {
        Authority {
            keys: self.keys,
            policy: self.policy,
            store: self.store,
            clock: self.clock,
            rng: self.rng,
            events: sink,
            #[cfg(feature = "std")]
            revocations: self.revocations,
        }
    }

    /// The same authority checking `revocations` in
    /// [`verify_fresh`](Authority::verify_fresh), and recording there every
    /// revocation it makes itself (so that its own logouts take effect at
    /// once, before any feed delivers them). Fill it from the store with a
    /// [`RevocationFeed`](crate::store::RevocationFeed).
    #[cfg(feature = "std")]
    #[must_use]
    pub fn with_revocations(mut self, revocations: alloc::sync::Arc<SharedRevocations>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// The revocation set, if one was given.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn revocations(&self) -> Option<&alloc::sync::Arc<SharedRevocations>> {
        self.revocations.as_ref()
    }

    /// The event sink.
    #[must_use]
    pub fn events(&self) -> &E {
        &self.events
    }

    /// The keyring.
    #[must_use]
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock it reads, for the layers around it (throttling, the JWKS
    /// of a web crate) to read the same time.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Starts a session for `subject` carrying the application's `claims`
    /// (any `Serialize` that makes a JSON object; `()` for none).
    ///
    /// # Errors
    /// [`Error::InvalidSubject`], [`Error::InvalidClaims`], [`Error::Random`],
    /// [`Error::Store`].
    pub async fn login<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        claims: &T,
    ) -> Result<TokenPair, Error> {
        self.login_with(subject, claims, Metadata::new()).await
    }

    /// [`login`](Authority::login), recording `metadata` (user agent, IP, …)
    /// with the session for [`sessions`](Authority::sessions) to list.
    ///
    /// # Errors
    /// As [`login`](Authority::login), and [`Error::MetadataTooLarge`].
    pub async fn login_with<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        claims: &T,
        metadata: Metadata,
    ) -> Result<TokenPair, Error> {
        if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
            return Err(Error::InvalidSubject);
        }
        let len = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if len > self.policy.max_metadata_bytes() {
            return Err(Error::MetadataTooLarge {
                len,
                max: self.policy.max_metadata_bytes(),
            });
        }
        let claims = app_claims::to_json(claims, &self.policy)?;
        let now = self.clock.now();
        let mut attempt = 0;
        loop {
            let mut random = [0u8; 64];
            self.rng.fill(&mut random)?;
            let (id, rest) = random.split_at(16);
            let (secret, jti) = rest.split_at(32);
            let id = SessionId::from_bytes(array(id));
            let login = Login {
                id,
                subject: String::from(subject),
                claims: claims.clone(),
                metadata: metadata.clone(),
                secret: array(secret).into(),
            };
            let (record, refresh_token) = session::start(&self.keys, &self.policy, login, now);
            let pair = self.pair(&record, refresh_token, array(jti), now);
            zeroize::Zeroize::zeroize(&mut random);
            let event = self.events.is_enabled().then(|| Event::login_of(&record));
            match self.store.insert(record).await {
                Ok(()) => {
                    self.emit(event);
                    return Ok(pair);
                }
                // A colliding 128-bit random id means a broken RNG or store;
                // a few fresh draws tell the two apart.
                Err(e) if e.is_conflict() && attempt < 3 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Verifies an access token statelessly: signature, type and claims.
    /// Synchronous, lock-free, no store access. See the type docs for what
    /// it does not catch.
    ///
    /// # Errors
    /// See [`access::verify`].
    pub fn verify<Cl: DeserializeOwned>(
        &self,
        access_token: &str,
    ) -> Result<AccessClaims<Cl>, Error> {
        access::verify(access_token, &self.keys, &self.policy, self.clock.now())
    }

    /// [`verify`](Authority::verify) without allocating: the claims borrow
    /// from `buf`. See [`access::verify_in`].
    ///
    /// # Errors
    /// As [`verify`](Authority::verify).
    pub fn verify_in<'a, Cl: Deserialize<'a>>(
        &self,
        access_token: &str,
        buf: &'a mut ClaimsBuf,
    ) -> Result<BorrowedClaims<'a, Cl>, Error> {
        access::verify_in(
            access_token,
            &self.keys,
            &self.policy,
            self.clock.now(),
            buf,
        )
    }

    /// [`verify`](Authority::verify), then checks that the session is still
    /// active, so that logout takes effect at once.
    ///
    /// # Errors
    /// As `verify`, and [`Error::UnknownSession`], [`Error::SessionRevoked`],
    /// [`Error::SessionExpired`], [`Error::Store`].
    pub async fn verify_live<Cl: DeserializeOwned>(
        &self,
        access_token: &str,
    ) -> Result<AccessClaims<Cl>, Error> {
        let now = self.clock.now();
        let claims = access::verify::<Cl>(access_token, &self.keys, &self.policy, now)?;
        self.check_live(claims, now).await
    }

    /// [`verify`](Authority::verify), then checks the token's session
    /// against the revocation set (see
    /// [`with_revocations`](Authority::with_revocations)): logout anywhere
    /// takes effect within the feed's delay, at about the cost of `verify`
    /// (one hash probe under a read lock; no store access).
    ///
    /// **Fail closed.** The set is trusted only while its watermark is no
    /// older than [`Policy::max_revocation_lag`]. When it is stale — the
    /// feed is down or lagging, or never synchronised, or no set was given
    /// — this does what [`verify_live`](Authority::verify_live) does: one
    /// store read, and a store that cannot be read refuses with
    /// [`Error::Store`]. An outage costs speed, never a revoked session's
    /// acceptance.
    ///
    /// On the fresh path, a session that ran past its refresh window
    /// without being revoked still passes until its access token's `exp`,
    /// as with `verify`; the store path refuses it as `verify_live` does.
    ///
    /// # Errors
    /// As `verify`; [`Error::SessionRevoked`] for a revoked session; on the
    /// store path also those of `verify_live`.
    #[cfg(feature = "std")]
    pub async fn verify_fresh<Cl: DeserializeOwned>(
        &self,
        access_token: &str,
    ) -> Result<AccessClaims<Cl>, Error> {
        let now = self.clock.now();
        let claims = access::verify::<Cl>(access_token, &self.keys, &self.policy, now)?;
        if let Some(set) = &self.revocations {
            let lag = self.policy.max_revocation_lag();
            let fresh = set.read(|s| {
                s.check(&claims.sid, &claims.sub, claims.iat)
                    .map(|()| s.is_fresh(now, lag))
            })?;
            if fresh {
                return Ok(claims);
            }
        }
        self.check_live(claims, now).await
    }

    /// The store half of `verify_live`: the session of `claims` is active.
    async fn check_live<Cl>(
        &self,
        claims: AccessClaims<Cl>,
        now: UnixMillis,
    ) -> Result<AccessClaims<Cl>, Error> {
        let record = self
            .store
            .get(&claims.sid)
            .await?
            .ok_or(Error::UnknownSession)?;
        if record.subject != claims.sub {
            return Err(Error::UnknownSession);
        }
        session::check_active(&record, now)?;
        Ok(claims)
    }

    /// Trades a refresh token for a new pair; the presented token is spent.
    ///
    /// Presenting a spent token outside the grace window revokes the whole
    /// session and fails with [`Error::RefreshReused`]. Inside the window the
    /// immediate predecessor gets the successor already issued.
    ///
    /// # Errors
    /// Those of [`RefreshToken::parse`] (a forgery never reaches the store),
    /// [`Error::UnknownSession`], [`Error::SessionRevoked`],
    /// [`Error::SessionExpired`], [`Error::RefreshReused`], [`Error::Random`],
    /// [`Error::Store`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, Error> {
        self.refresh_inner(refresh_token, None).await
    }

    /// [`refresh`](Authority::refresh), replacing the session's application
    /// claims (e.g. a changed role) for this and every later access token.
    ///
    /// # Errors
    /// As [`refresh`](Authority::refresh), and [`Error::InvalidClaims`].
    pub async fn refresh_with_claims<T: Serialize + ?Sized>(
        &self,
        refresh_token: &str,
        claims: &T,
    ) -> Result<TokenPair, Error> {
        let claims = app_claims::to_json(claims, &self.policy)?.unwrap_or_default();
        self.refresh_inner(refresh_token, Some(claims)).await
    }

    async fn refresh_inner(&self, token: &str, claims: Option<String>) -> Result<TokenPair, Error> {
        let token = RefreshToken::parse(token, &self.keys, self.policy.max_token_bytes())?;
        let mut jti = [0u8; 16];
        self.rng.fill(&mut jti)?;
        for _ in 0..MAX_ATTEMPTS {
            let current = self.load(token.session_id()).await?;
            let version = current.version;
            // Read after loading, so that a retry after a lost race decides
            // with a clock no older than the winner's write.
            let now = self.clock.now();
            let decision = match session::decide_refresh(
                current,
                &token,
                &self.keys,
                &self.policy,
                now,
                claims.clone(),
            ) {
                Ok(decision) => decision,
                Err(e) => {
                    if self.events.is_enabled()
                        && let Some(event) = session::refusal_event(&token, &e)
                    {
                        self.events.record(event);
                    }
                    return Err(e);
                }
            };
            let events = self.events.is_enabled().then(|| decision.events(&token));
            let result = match decision {
                RefreshDecision::Rotate {
                    next,
                    refresh_token,
                } => {
                    let pair = self.pair(&next, refresh_token, jti, now);
                    self.store
                        .compare_and_swap(version, next)
                        .await
                        .map(|()| Ok(pair))
                }
                RefreshDecision::Grace {
                    session,
                    refresh_token,
                    changed: false,
                } => Ok(Ok(self.pair(&session, refresh_token, jti, now))),
                RefreshDecision::Grace {
                    session,
                    refresh_token,
                    changed: true,
                } => {
                    let pair = self.pair(&session, refresh_token, jti, now);
                    self.store
                        .compare_and_swap(version, session)
                        .await
                        .map(|()| Ok(pair))
                }
                RefreshDecision::Revoke { next } => {
                    let (id, revoked) = (next.id, next.revoked);
                    self.store.compare_and_swap(version, next).await.map(|()| {
                        self.learn(id, revoked, now);
                        Err(Error::RefreshReused)
                    })
                }
            };
            match result {
                Ok(outcome) => {
                    for event in events.into_iter().flatten() {
                        self.events.record(event);
                    }
                    return outcome;
                }
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::conflict().into())
    }

    /// Revokes the session of `refresh_token` (any authentic token of it,
    /// spent ones included). Logging out twice, or out of an expired or
    /// purged session, is `Ok`.
    ///
    /// # Errors
    /// Those of [`RefreshToken::parse`] (forgeries change nothing),
    /// [`Error::BadSignature`] for a secret that does not match, [`Error::Store`].
    pub async fn logout(&self, refresh_token: &str) -> Result<(), Error> {
        let now = self.clock.now();
        let token = RefreshToken::parse(refresh_token, &self.keys, self.policy.max_token_bytes())?;
        for _ in 0..MAX_ATTEMPTS {
            let Some(current) = self.store.get(token.session_id()).await? else {
                return Ok(());
            };
            let Some(next) = session::decide_logout(&current, &token, now)? else {
                return Ok(());
            };
            let event = self
                .events
                .is_enabled()
                .then(|| Event::revocation_of(&next));
            let (id, revoked) = (next.id, next.revoked);
            match self.store.compare_and_swap(current.version, next).await {
                Ok(()) => {
                    self.learn(id, revoked, now);
                    self.emit(event.flatten());
                    return Ok(());
                }
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::conflict().into())
    }

    /// Revokes every session of `subject` that is not revoked yet, except
    /// `except` ("log out my other devices"; `None` on password change),
    /// expired-looking ones included (another instance's clock may run
    /// behind). Returns how many it revoked.
    ///
    /// A session it cannot revoke (its compare-and-swap keeps losing, or
    /// the store fails on it) does not stop it: it goes on with the others
    /// and reports the failures at the end.
    ///
    /// # Errors
    /// [`Error::Store`] when the sessions cannot be listed (nothing was
    /// changed); [`Error::LogoutIncomplete`] when some sessions could not be
    /// revoked — the others are, and calling it again finishes the job.
    pub async fn logout_all(
        &self,
        subject: &str,
        except: Option<&SessionId>,
    ) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut revoked = 0;
        let mut failed = 0;
        let mut cause = None;
        for listed in self.store.list_by_subject(subject).await? {
            if Some(&listed.id) == except || listed.subject != subject {
                continue;
            }
            match self.revoke_listed(listed, now).await {
                Ok(true) => revoked += 1,
                Ok(false) => {}
                Err(e) => {
                    failed += 1;
                    cause.get_or_insert(e);
                }
            }
        }
        match cause {
            None => Ok(revoked),
            Some(cause) => Err(Error::LogoutIncomplete {
                revoked,
                failed,
                cause,
            }),
        }
    }

    /// Revokes session `id` of `subject` by its id, not by a refresh token:
    /// "sign out that device" from a list of [`sessions`](Authority::sessions).
    /// The session is revoked for [`RevokeReason::LogoutAll`], the reason of
    /// a revocation by the subject rather than by the session's own token,
    /// and reported and recorded in the revocation set as `logout` does.
    ///
    /// Revoking a session that is already revoked, or that looks expired,
    /// is `Ok` (and records nothing new): once the call returns, the session
    /// is revoked or has expired.
    ///
    /// ```
    /// # pollster::block_on(async {
    /// use tokenlife::{Authority, Error, Keyring, MemoryStore, Policy};
    ///
    /// let auth = Authority::new(Keyring::new("k1", &[7; 32])?, Policy::default(), MemoryStore::new());
    /// let phone = auth.login("alice", &()).await?;
    /// let laptop = auth.login("alice", &()).await?;
    /// auth.revoke_session("alice", &phone.session_id).await?;
    /// assert!(auth.refresh(&phone.refresh_token).await.is_err());
    /// assert!(auth.verify_live::<()>(&laptop.access_token).await.is_ok());
    /// // Someone else's session is not found, and stays as it was.
    /// let refused = auth.revoke_session("mallory", &laptop.session_id).await;
    /// assert!(matches!(refused, Err(Error::UnknownSession)));
    /// assert!(auth.verify_live::<()>(&laptop.access_token).await.is_ok());
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSession`] when no session `id` of `subject` exists:
    /// none by that id (never one, or purged), or one of another subject,
    /// which is left untouched — the answer does not tell the two apart, so
    /// nobody learns the ids of others' sessions. [`Error::Store`] when the
    /// store fails, or keeps reporting conflicts.
    pub async fn revoke_session(&self, subject: &str, id: &SessionId) -> Result<(), Error> {
        let now = self.clock.now();
        let current = self.store.get(id).await?.ok_or(Error::UnknownSession)?;
        if current.subject != subject {
            return Err(Error::UnknownSession);
        }
        self.revoke_listed(current, now).await?;
        Ok(())
    }

    /// Revokes one listed session for `logout_all` and `revoke_session`, re-reading it after a
    /// lost compare-and-swap: `Ok(true)` if this call revoked it, `Ok(false)`
    /// if it was revoked or deleted meanwhile.
    async fn revoke_listed(&self, listed: Session, now: UnixMillis) -> Result<bool, StoreError> {
        let mut current = listed;
        let mut attempts = 0;
        while let Some(next) = session::revoke(&current, now, RevokeReason::LogoutAll) {
            let event = self
                .events
                .is_enabled()
                .then(|| Event::revocation_of(&next));
            let (id, revoked) = (next.id, next.revoked);
            match self.store.compare_and_swap(current.version, next).await {
                Ok(()) => {
                    self.learn(id, revoked, now);
                    self.emit(event.flatten());
                    return Ok(true);
                }
                Err(e) if e.is_conflict() && attempts < MAX_ATTEMPTS => {
                    attempts += 1;
                    match self.store.get(&current.id).await? {
                        Some(fresh) => current = fresh,
                        None => return Ok(false),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// The active sessions of `subject`, oldest first.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn sessions(&self, subject: &str) -> Result<Vec<SessionInfo>, Error> {
        let now = self.clock.now();
        let mut list: Vec<SessionInfo> = self
            .store
            .list_by_subject(subject)
            .await?
            .iter()
            .filter(|s| s.subject == subject && s.is_active(now))
            .map(Session::info)
            .collect();
        list.sort_by_key(|s| (s.created_at, s.id));
        Ok(list)
    }

    /// Deletes every session that has expired; returns how many.
    /// Revoked sessions are kept until they would have expired, so that a
    /// stolen token of theirs still reports [`Error::SessionRevoked`].
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let count = self.store.purge_expired(self.clock.now()).await?;
        if count > 0 && self.events.is_enabled() {
            self.events.record(Event::Purged { count });
        }
        Ok(count)
    }

    /// Records a revocation this authority wrote in its own set (read your
    /// own writes: the feed may deliver it later).
    fn learn(&self, id: SessionId, revoked: Option<Revocation>, now: UnixMillis) {
        #[cfg(feature = "std")]
        if let (Some(set), Some(r)) = (&self.revocations, revoked) {
            let notice = RevocationNotice {
                session: id,
                at: r.at,
                reason: r.reason,
            };
            set.insert(notice, now);
        }
        #[cfg(not(feature = "std"))]
        let _ = (id, revoked, now);
    }

    /// Reports `event`, if any (built only when the sink is enabled).
    fn emit(&self, event: Option<Event>) {
        if let Some(event) = event {
            self.events.record(event);
        }
    }

    async fn load(&self, id: &SessionId) -> Result<Session, Error> {
        self.store.get(id).await?.ok_or(Error::UnknownSession)
    }

    fn pair(
        &self,
        record: &Session,
        refresh_token: String,
        jti: [u8; 16],
        now: UnixMillis,
    ) -> TokenPair {
        let access = access::sign(&self.keys, &self.policy, record, jti, now);
        TokenPair {
            access_token: access.token,
            refresh_token,
            expires: access
                .expires_at
                .as_millis()
                .saturating_sub(now.as_millis()),
            expires_at: access.expires_at,
            session_id: record.id,
        }
    }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires", &self.expires)
            .field("expires_at", &self.expires_at)
            .field("session_id", &self.session_id)
            .finish()
    }
}

impl<S: fmt::Debug, C: fmt::Debug, R, E> fmt::Debug for Authority<S, C, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("keys", &self.keys)
            .field("policy", &self.policy)
            .field("store", &self.store)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
