//! Sessions live in the file: they survive a restart, two connections on one
//! file agree, and nothing in the file can be replayed as a token.

use std::path::Path;
use std::sync::Barrier;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pollster::block_on;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use tokenlife::{Authority, Error, Keyring, ManualClock, Policy, SharedRng, TokenPair, UnixMillis};
use tokenlife_sqlite::SqliteStore;

type SqliteAuthority = Authority<SqliteStore, ManualClock, SharedRng<ChaCha20Rng>>;

const START: UnixMillis = UnixMillis(1_764_000_000_000);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    role: String,
}

/// An authority over the file at `path`, as a freshly started process
/// would build it: same keys, its own random source.
fn authority(path: &Path, policy: Policy, clock: &ManualClock, seed: u64) -> SqliteAuthority {
    let keys = Keyring::new("k1", b"test secret: thirty-two bytes or more!!").unwrap();
    Authority::new(keys, policy, SqliteStore::open(path).unwrap())
        .with_clock(clock.clone())
        .with_random(SharedRng::new(ChaCha20Rng::seed_from_u64(seed)))
}

fn editor() -> Claims {
    Claims {
        role: "editor".into(),
    }
}

#[test]
fn sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.sqlite");
    let clock = ManualClock::new(START);

    let before = authority(&path, Policy::default(), &clock, 1);
    let phone =
        block_on(before.login_with("alice", &editor(), vec![("device".into(), "phone".into())]))
            .unwrap();
    let laptop = block_on(before.login("alice", &editor())).unwrap();
    let laptop_next = block_on(before.refresh(&laptop.refresh_token)).unwrap();
    let bob = block_on(before.login("bob", &())).unwrap();
    block_on(before.logout(&bob.refresh_token)).unwrap();
    drop(before);

    clock.advance(Duration::from_secs(20)); // past the 10 s grace window
    let after = authority(&path, Policy::default(), &clock, 2);

    // The access token issued before the restart is still live …
    block_on(after.verify_live::<Claims>(&phone.access_token)).unwrap();
    // … and the refresh tokens issued before it still refresh.
    let phone_next = block_on(after.refresh(&phone.refresh_token)).unwrap();
    let claims = block_on(after.verify_live::<Claims>(&phone_next.access_token)).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.extra.role.as_str()),
        ("alice", "editor")
    );
    block_on(after.refresh(&laptop_next.refresh_token)).unwrap();

    let listed = block_on(after.sessions("alice")).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|s| s.id == phone.session_id && s.metadata == [("device".into(), "phone".into())])
    );

    // A logout before the restart still holds after it.
    assert!(matches!(
        block_on(after.refresh(&bob.refresh_token)),
        Err(Error::SessionRevoked { .. })
    ));
    assert!(matches!(
        block_on(after.verify_live::<()>(&bob.access_token)),
        Err(Error::SessionRevoked { .. })
    ));
}

#[test]
fn a_token_spent_before_a_restart_is_reuse_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.sqlite");
    let clock = ManualClock::new(START);

    let before = authority(&path, Policy::default(), &clock, 1);
    let first = block_on(before.login("alice", &())).unwrap();
    let second = block_on(before.refresh(&first.refresh_token)).unwrap();
    drop(before);

    clock.advance(Duration::from_secs(11));
    let after = authority(&path, Policy::default(), &clock, 2);
    assert!(matches!(
        block_on(after.refresh(&first.refresh_token)),
        Err(Error::RefreshReused)
    ));
    assert!(matches!(
        block_on(after.refresh(&second.refresh_token)),
        Err(Error::SessionRevoked { .. })
    ));
}

#[test]
fn expired_sessions_are_purged_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.sqlite");
    let clock = ManualClock::new(START);
    let policy = Policy::default().with_refresh_ttl(Duration::from_secs(60));

    let auth = authority(&path, policy.clone(), &clock, 1);
    block_on(auth.login("alice", &())).unwrap();
    clock.advance(Duration::from_secs(30));
    let later = block_on(auth.login("alice", &())).unwrap();
    clock.advance(Duration::from_millis(29_999));
    assert_eq!(block_on(auth.purge_expired()).unwrap(), 0);
    clock.advance(Duration::from_millis(1));
    assert_eq!(block_on(auth.purge_expired()).unwrap(), 1);
    drop(auth);

    let auth = authority(&path, policy, &clock, 2);
    let listed = block_on(auth.sessions("alice")).unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [later.session_id]
    );
}

#[test]
fn two_connections_on_one_file_hand_out_one_successor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.sqlite");
    let clock = ManualClock::new(START);
    let tabs = [
        authority(&path, Policy::default(), &clock, 1),
        authority(&path, Policy::default(), &clock, 2),
    ];
    let pair = block_on(tabs[0].login("alice", &())).unwrap();

    for _ in 0..5 {
        let barrier = Barrier::new(tabs.len());
        let pairs: Vec<TokenPair> = std::thread::scope(|scope| {
            let handles: Vec<_> = tabs
                .iter()
                .map(|tab| {
                    let (barrier, token) = (&barrier, &pair.refresh_token);
                    scope.spawn(move || {
                        barrier.wait();
                        block_on(tab.refresh(token)).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // Inside the grace window both get the same successor, never two.
        assert_eq!(pairs[0].refresh_token, pairs[1].refresh_token);
    }
}

#[test]
fn the_file_holds_no_refresh_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.sqlite");
    let clock = ManualClock::new(START);
    let auth = authority(&path, Policy::default(), &clock, 1);
    let mut issued = Vec::new();
    for subject in ["alice", "bob"] {
        let pair = block_on(auth.login(subject, &editor())).unwrap();
        let next = block_on(auth.refresh(&pair.refresh_token)).unwrap();
        issued.extend([pair, next]);
    }
    let file = || {
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(path.with_extension("sqlite-wal")) {
            bytes.extend(wal);
        }
        bytes
    };
    // While the connection is open (rows may sit in the WAL) and after it closed.
    for bytes in [file(), {
        drop(auth);
        file()
    }] {
        assert!(contains(
            &bytes,
            issued[0].session_id.to_string().as_bytes()
        ));
        for pair in &issued {
            let secret = refresh_secret(&pair.refresh_token);
            let json_array = format!("{secret:?}").replace(' ', "");
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            for form in [
                pair.refresh_token.as_bytes(),
                &secret,
                json_array.as_bytes(),
                hex.as_bytes(),
                URL_SAFE_NO_PAD.encode(&secret).as_bytes(),
            ] {
                assert!(!contains(&bytes, form), "a refresh secret is in the file");
            }
        }
    }
}

/// The secret `s_g` of a refresh token: payload bytes 24..56 (see
/// `tokenlife::refresh`).
fn refresh_secret(token: &str) -> Vec<u8> {
    let payload = token
        .strip_prefix("tlr1.")
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    URL_SAFE_NO_PAD.decode(payload).unwrap()[24..56].to_vec()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
