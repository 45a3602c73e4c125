//! The lifecycle through the public API: the walkthrough, claims, metadata,
//! listing, logout-all and purge.

mod support;

use serde::{Deserialize, Serialize};
use support::*;
use tokenlife::{Error, Policy, RevokeReason};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Role {
    role: String,
}

fn role(r: &str) -> Role {
    Role { role: r.into() }
}

#[test]
fn walkthrough_login_expire_refresh_spend_logout() {
    let (auth, clock, _store) = authority(Policy::default().with_access_ttl(secs(30)));
    block_on(async {
        let pair = auth.login("alice", &role("editor")).await.unwrap();
        assert_eq!(pair.expires, 30_000);
        let claims = auth.verify::<Role>(&pair.access_token).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.extra, role("editor"));

        clock.advance(secs(30));
        assert!(matches!(
            auth.verify::<Role>(&pair.access_token),
            Err(Error::Expired { .. })
        ));

        let next = auth.refresh(&pair.refresh_token).await.unwrap();
        assert_ne!(next.refresh_token, pair.refresh_token);
        assert_eq!(
            auth.verify::<Role>(&next.access_token).unwrap().extra,
            role("editor")
        );
        auth.verify_live::<Role>(&next.access_token).await.unwrap();

        // Past the grace window the old refresh token is spent.
        clock.advance(secs(11));
        assert!(matches!(
            auth.refresh(&pair.refresh_token).await,
            Err(Error::RefreshReused)
        ));

        // A fresh login for the logout part (reuse revoked the first session).
        let pair = auth.login("alice", &role("editor")).await.unwrap();
        auth.logout(&pair.refresh_token).await.unwrap();
        assert!(matches!(
            auth.refresh(&pair.refresh_token).await,
            Err(Error::SessionRevoked {
                reason: RevokeReason::Logout,
                ..
            })
        ));
        assert!(matches!(
            auth.verify_live::<Role>(&pair.access_token).await,
            Err(Error::SessionRevoked { .. })
        ));
        // Stateless verify accepts it until exp: the documented trade-off.
        assert!(auth.verify::<Role>(&pair.access_token).is_ok());
    });
}

#[test]
fn token_pair_serialises_to_the_directus_shape() {
    let (auth, _clock, _store) = authority(Policy::default());
    let pair = block_on(auth.login("alice", &())).unwrap();
    let json = serde_json::to_value(&pair).unwrap();
    let obj = json.as_object().unwrap();
    assert_eq!(obj.len(), 3, "{obj:?}");
    assert_eq!(obj["access_token"], pair.access_token.as_str());
    assert_eq!(obj["refresh_token"], pair.refresh_token.as_str());
    assert_eq!(obj["expires"], 900_000);
}

#[test]
fn token_pair_debug_redacts_both_tokens() {
    let (auth, _clock, _store) = authority(Policy::default());
    let pair = block_on(auth.login("alice", &())).unwrap();
    let shown = format!("{pair:?}");
    assert!(!shown.contains(&pair.access_token[..20]));
    // Characters 40..70 encode the refresh secret (the session id before it is not secret).
    assert!(!shown.contains(&pair.refresh_token[40..70]));
    assert!(!shown.contains("tlr1."));
}

#[test]
fn defaults_are_directus_like() {
    let p = Policy::default();
    assert_eq!(p.access_ttl(), secs(15 * 60));
    assert_eq!(p.refresh_ttl(), secs(7 * 24 * 3600));
    assert_eq!(p.reuse_grace(), secs(10));
    assert_eq!(p.leeway(), secs(0));
    assert_eq!(p.max_session_age(), None);
}

#[test]
fn claims_are_carried_into_refreshed_tokens_and_can_be_replaced() {
    let (auth, clock, _store) = authority(Policy::default());
    block_on(async {
        let pair = auth.login("alice", &role("editor")).await.unwrap();
        clock.advance(secs(1));
        let next = auth.refresh(&pair.refresh_token).await.unwrap();
        assert_eq!(
            auth.verify::<Role>(&next.access_token).unwrap().extra,
            role("editor")
        );
        clock.advance(secs(1));
        let promoted = auth
            .refresh_with_claims(&next.refresh_token, &role("admin"))
            .await
            .unwrap();
        assert_eq!(
            auth.verify::<Role>(&promoted.access_token).unwrap().extra,
            role("admin")
        );
        clock.advance(secs(1));
        let later = auth.refresh(&promoted.refresh_token).await.unwrap();
        assert_eq!(
            auth.verify::<Role>(&later.access_token).unwrap().extra,
            role("admin")
        );
    });
}

/// Claims serialised as exactly these members, in this order.
struct Pairs(Vec<(&'static str, &'static str)>);

impl serde::Serialize for Pairs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Claims whose `Serialize` writes a name twice (here through `flatten`).
#[derive(serde::Serialize)]
struct Twice {
    role: &'static str,
    #[serde(flatten)]
    more: std::collections::BTreeMap<&'static str, &'static str>,
}

#[test]
fn claims_are_stored_as_written_and_odd_ones_settled_as_a_json_map_would() {
    let (auth, _clock, _store) = authority(Policy::default());
    type Map = serde_json::Map<String, serde_json::Value>;
    block_on(async {
        // A name written twice: the last one wins, as in any JSON map.
        let twice = Twice {
            role: "reader",
            more: [("role", "admin")].into(),
        };
        let pair = auth.login("a", &twice).await.unwrap();
        let extra = auth.verify::<Map>(&pair.access_token).unwrap().extra;
        assert_eq!(extra.len(), 1);
        assert_eq!(extra["role"], "admin");
        // More names than the fast check keeps track of, and escaped ones.
        let many: Map = (0..40).map(|i| (format!("c{i}"), i.into())).collect();
        let pair = auth.login("a", &many).await.unwrap();
        assert_eq!(auth.verify::<Map>(&pair.access_token).unwrap().extra, many);
        let quoted = serde_json::json!({ "a\"b": 1, "tab\t": 2 });
        let pair = auth.login("a", &quoted).await.unwrap();
        let extra = auth.verify::<Map>(&pair.access_token).unwrap().extra;
        assert_eq!(serde_json::Value::Object(extra), quoted);
        // Empty, or unit: no claims at all.
        for empty in [serde_json::json!({}), serde_json::Value::Null] {
            let pair = auth.login("a", &empty).await.unwrap();
            assert!(
                auth.verify::<Map>(&pair.access_token)
                    .unwrap()
                    .extra
                    .is_empty()
            );
        }
        // A registered name after others, or after a repeated name.
        for sneaky in [
            Pairs(vec![("role", "r"), ("iss", "me")]),
            Pairs(vec![("role", "r"), ("role", "s"), ("aud", "x")]),
        ] {
            assert!(matches!(
                auth.login("a", &sneaky).await,
                Err(Error::InvalidClaims(why)) if why.contains("registered claim")
            ));
        }
    });
}

#[test]
fn claims_that_are_not_an_object_or_name_registered_claims_are_refused() {
    let (auth, _clock, store) = authority(Policy::default());
    block_on(async {
        assert!(matches!(
            auth.login("a", &42).await,
            Err(Error::InvalidClaims(_))
        ));
        assert!(matches!(
            auth.login("a", &vec![1, 2]).await,
            Err(Error::InvalidClaims(_))
        ));
        let sneaky = serde_json::json!({ "exp": 9_999_999_999u64 });
        assert!(matches!(
            auth.login("a", &sneaky).await,
            Err(Error::InvalidClaims(_))
        ));
        let huge = serde_json::json!({ "blob": "x".repeat(5000) });
        assert!(matches!(
            auth.login("a", &huge).await,
            Err(Error::InvalidClaims(_))
        ));
        assert!(matches!(
            auth.login("", &()).await,
            Err(Error::InvalidSubject)
        ));
        assert!(matches!(
            auth.login(&"s".repeat(1025), &()).await,
            Err(Error::InvalidSubject)
        ));
    });
    assert!(snapshot(&*store, "a").is_empty());
}

#[test]
fn arbitrary_json_claims_round_trip() {
    let (auth, _clock, _store) = authority(Policy::default());
    let claims =
        serde_json::json!({ "role": "r", "n": 3, "tags": ["a", "b"], "q": "\"quoted\" \u{1F600}" });
    let pair = block_on(auth.login("bob \"the\" user", &claims)).unwrap();
    let got = auth
        .verify::<serde_json::Map<String, serde_json::Value>>(&pair.access_token)
        .unwrap();
    assert_eq!(got.sub, "bob \"the\" user");
    assert_eq!(serde_json::Value::Object(got.extra), claims);
}

#[test]
fn metadata_is_listed_with_sessions() {
    let (auth, clock, _store) = authority(Policy::default());
    block_on(async {
        let meta = vec![
            ("user_agent".to_string(), "curl/8".to_string()),
            ("ip".into(), "127.0.0.1".into()),
        ];
        let a = auth.login_with("alice", &(), meta.clone()).await.unwrap();
        clock.advance(secs(5));
        let b = auth.login("alice", &()).await.unwrap();
        auth.login("bob", &()).await.unwrap();
        clock.advance(secs(5));
        let b2 = auth.refresh(&b.refresh_token).await.unwrap();

        let list = auth.sessions("alice").await.unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, a.session_id);
        assert_eq!(list[0].metadata, meta);
        assert_eq!(list[0].created_at, START);
        assert_eq!(list[0].last_refreshed_at, START);
        assert_eq!(list[1].id, b2.session_id);
        assert_eq!(list[1].last_refreshed_at, START.saturating_add(secs(10)));
        assert_eq!(
            list[1].expires_at,
            START.saturating_add(secs(10) + secs(7 * 24 * 3600))
        );

        auth.logout(&a.refresh_token).await.unwrap();
        let list = auth.sessions("alice").await.unwrap();
        assert_eq!(
            list.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![b.session_id]
        );
    });
}

#[test]
fn logout_is_idempotent_and_accepts_a_spent_token() {
    let (auth, clock, _store) = authority(Policy::default());
    block_on(async {
        let pair = auth.login("alice", &()).await.unwrap();
        auth.logout(&pair.refresh_token).await.unwrap();
        auth.logout(&pair.refresh_token).await.unwrap();

        let pair = auth.login("alice", &()).await.unwrap();
        clock.advance(secs(1));
        let next = auth.refresh(&pair.refresh_token).await.unwrap();
        clock.advance(secs(60));
        // The spent token still proves possession of the session: it may end it.
        auth.logout(&pair.refresh_token).await.unwrap();
        assert!(matches!(
            auth.refresh(&next.refresh_token).await,
            Err(Error::SessionRevoked { .. })
        ));
    });
}

#[test]
fn logout_all_revokes_every_session_but_the_one_spared() {
    let (auth, _clock, _store) = authority(Policy::default());
    block_on(async {
        let keep = auth.login("alice", &()).await.unwrap();
        let other1 = auth.login("alice", &()).await.unwrap();
        let other2 = auth.login("alice", &()).await.unwrap();
        let bob = auth.login("bob", &()).await.unwrap();

        assert_eq!(
            auth.logout_all("alice", Some(&keep.session_id))
                .await
                .unwrap(),
            2
        );
        for gone in [&other1, &other2] {
            assert!(matches!(
                auth.refresh(&gone.refresh_token).await,
                Err(Error::SessionRevoked {
                    reason: RevokeReason::LogoutAll,
                    ..
                })
            ));
            assert!(auth.verify_live::<()>(&gone.access_token).await.is_err());
        }
        auth.verify_live::<()>(&keep.access_token).await.unwrap();
        auth.verify_live::<()>(&bob.access_token).await.unwrap();

        // Again, without exception: only the spared one is left to revoke.
        assert_eq!(auth.logout_all("alice", None).await.unwrap(), 1);
        assert!(auth.verify_live::<()>(&keep.access_token).await.is_err());
        assert!(auth.sessions("alice").await.unwrap().is_empty());
        assert_eq!(auth.sessions("bob").await.unwrap().len(), 1);
    });
}

#[test]
fn purge_deletes_expired_sessions_and_keeps_live_ones() {
    let (auth, clock, store) = authority(Policy::default().with_refresh_ttl(secs(100)));
    block_on(async {
        let old = auth.login("alice", &()).await.unwrap();
        let revoked = auth.login("alice", &()).await.unwrap();
        auth.logout(&revoked.refresh_token).await.unwrap();
        clock.advance(secs(50));
        let young = auth.login("alice", &()).await.unwrap();
        assert_eq!(auth.purge_expired().await.unwrap(), 0);

        clock.advance(secs(50));
        // `old` and `revoked` reach their idle expiry now; `young` lives on.
        assert_eq!(auth.purge_expired().await.unwrap(), 2);
        assert_eq!(store.len(), 1);
        assert!(matches!(
            auth.refresh(&old.refresh_token).await,
            Err(Error::UnknownSession)
        ));
        auth.refresh(&young.refresh_token).await.unwrap();
        assert_eq!(auth.purge_expired().await.unwrap(), 0);
    });
}

#[test]
fn refreshing_slides_the_idle_expiry() {
    let (auth, clock, _store) = authority(Policy::default().with_refresh_ttl(secs(100)));
    block_on(async {
        let mut pair = auth.login("alice", &()).await.unwrap();
        for _ in 0..5 {
            clock.advance(secs(99));
            pair = auth.refresh(&pair.refresh_token).await.unwrap();
        }
        // 495 s after login, far past one refresh_ttl, still alive.
        auth.verify_live::<()>(&pair.access_token).await.unwrap();
        clock.advance(secs(100));
        assert!(matches!(
            auth.refresh(&pair.refresh_token).await,
            Err(Error::SessionExpired { .. })
        ));
    });
}

#[test]
fn issuer_and_audience_are_set_and_demanded() {
    let policy = Policy::default()
        .with_issuer("https://auth.example")
        .with_audience("api");
    let (auth, _clock, _store) = authority(policy);
    let pair = block_on(auth.login("alice", &())).unwrap();
    let claims = auth.verify::<()>(&pair.access_token).unwrap();
    assert_eq!(claims.iss.as_deref(), Some("https://auth.example"));
    assert_eq!(claims.aud, vec!["api".to_string()]);

    let (other_iss, _, _) = authority(Policy::default().with_issuer("https://evil.example"));
    assert!(matches!(
        other_iss.verify::<()>(&pair.access_token),
        Err(Error::WrongIssuer)
    ));
    let (other_aud, _, _) = authority(Policy::default().with_audience("other"));
    assert!(matches!(
        other_aud.verify::<()>(&pair.access_token),
        Err(Error::WrongAudience)
    ));
    // No iss/aud demanded: accepted.
    let (lax, _, _) = authority(Policy::default());
    assert!(lax.verify::<()>(&pair.access_token).is_ok());
    // Demanded but absent: refused.
    let bare = block_on(lax.login("alice", &())).unwrap();
    assert!(matches!(
        auth.verify::<()>(&bare.access_token),
        Err(Error::WrongIssuer)
    ));
}

#[test]
fn key_rotation_keeps_old_tokens_valid_and_moves_refresh_to_the_new_key() {
    let store = std::sync::Arc::new(tokenlife::MemoryStore::new());
    let (old_auth, clock) = authority_with(keys(), Policy::default(), store.clone(), 1);
    let pair = block_on(old_auth.login("alice", &())).unwrap();

    let mut rotated = keys();
    rotated
        .rotate("k2", b"the next secret, also 32 bytes long..")
        .unwrap();
    let (new_auth, new_clock) =
        authority_with(rotated.clone(), Policy::default(), store.clone(), 2);
    new_clock.set(clock.now_for_test());
    // Old access token still verifies under the verify-only key.
    assert!(new_auth.verify::<()>(&pair.access_token).is_ok());
    let next = block_on(new_auth.refresh(&pair.refresh_token)).unwrap();
    assert_eq!(new_auth.refresh_key_id(&next.refresh_token), "k2");
    let header = new_auth.access_kid(&next.access_token);
    assert_eq!(header, "k2");

    // Once the old key is dropped, its tokens stop verifying.
    let mut only_new = rotated;
    only_new.remove("k1").unwrap();
    let (newest, _) = authority_with(only_new, Policy::default(), store, 3);
    assert!(matches!(
        newest.verify::<()>(&pair.access_token),
        Err(Error::UnknownKey)
    ));
    assert!(newest.verify::<()>(&next.access_token).is_ok());
}

trait TestExt {
    fn now_for_test(&self) -> tokenlife::UnixMillis;
}
impl TestExt for tokenlife::ManualClock {
    fn now_for_test(&self) -> tokenlife::UnixMillis {
        use tokenlife::Clock;
        self.now()
    }
}

trait Inspect {
    fn refresh_key_id(&self, token: &str) -> String;
    fn access_kid(&self, token: &str) -> String;
}
impl<S: tokenlife::SessionStore> Inspect for TestAuthority<S> {
    fn refresh_key_id(&self, token: &str) -> String {
        tokenlife::refresh::RefreshToken::parse(token, self.keyring(), 8192)
            .unwrap()
            .key_id()
            .to_string()
    }
    fn access_kid(&self, token: &str) -> String {
        use base64::Engine;
        let header = token.split('.').next().unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["kid"].as_str().unwrap().to_string()
    }
}

#[test]
fn authority_is_shareable_and_its_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_shared<T: Send + Sync + 'static>() {}
    assert_shared::<TestAuthority>();
    let (auth, _clock, _store) = authority(Policy::default());
    let claims = role("r");
    let login = auth.login("a", &claims);
    assert_send(&login);
    let pair = block_on(login).unwrap();
    let futures = (
        auth.refresh(&pair.refresh_token),
        auth.verify_live::<Role>(&pair.access_token),
        auth.logout(&pair.refresh_token),
        auth.logout_all("a", None),
        auth.sessions("a"),
        auth.purge_expired(),
    );
    assert_send(&futures);
    let (refreshed, live, ..) = block_on(async {
        (
            futures.0.await,
            futures.1.await,
            futures.2.await,
            futures.3.await,
            futures.4.await,
            futures.5.await,
        )
    });
    assert!(refreshed.is_ok() && live.is_ok());
}

/// Two authorities over one store, `behind`'s clock 1 ms behind `ahead`'s,
/// and a session that `ahead` sees expire (refresh_ttl 60 s) while
/// `behind` still sees it live.
fn skewed_at_expiry() -> (TestAuthority, TestAuthority, tokenlife::TokenPair) {
    let policy = Policy::default().with_refresh_ttl(secs(60));
    let (ahead, ahead_clock, store) = authority(policy.clone());
    let (behind, behind_clock) = authority_with(keys(), policy, store, 8);
    let pair = block_on(ahead.login("alice", &())).unwrap();
    ahead_clock.advance(secs(60));
    behind_clock.advance(secs(60) - ms(1));
    (ahead, behind, pair)
}

/// What `behind` must see of a session revoked by `ahead`.
fn assert_revoked_for_the_clock_behind(behind: &TestAuthority, pair: &tokenlife::TokenPair) {
    block_on(async {
        let refresh = behind.refresh(&pair.refresh_token).await;
        assert!(
            matches!(refresh, Err(Error::SessionRevoked { .. })),
            "{refresh:?}"
        );
        let live = behind.verify_live::<()>(&pair.access_token).await;
        assert!(
            matches!(live, Err(Error::SessionRevoked { .. })),
            "{live:?}"
        );
        assert_eq!(behind.sessions("alice").await.unwrap(), []);
    });
}

#[test]
fn logout_at_expiry_is_final_for_a_clock_one_ms_behind() {
    // Issue 12, finding 3: `ahead` logs out at the instant it sees the
    // session expire; before the fix it wrote nothing, and `behind`
    // refreshed the session back to life.
    let (ahead, behind, pair) = skewed_at_expiry();
    block_on(ahead.logout(&pair.refresh_token)).unwrap();
    assert_revoked_for_the_clock_behind(&behind, &pair);
}

#[test]
fn logout_all_at_expiry_is_final_for_a_clock_one_ms_behind() {
    let (ahead, behind, pair) = skewed_at_expiry();
    assert_eq!(block_on(ahead.logout_all("alice", None)).unwrap(), 1);
    assert_revoked_for_the_clock_behind(&behind, &pair);
}
