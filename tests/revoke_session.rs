//! `Authority::revoke_session`: revoking one session of a subject by its
//! id ("sign out that device"). It revokes that session only, is
//! idempotent, reports and records the revocation as logout does, and
//! refuses someone else's session without touching it.

mod support;

use std::sync::{Arc, Mutex};

use support::*;
use tokenlife::events::{Event, EventSink};
use tokenlife::{Error, Policy, RevokeReason, SessionId, SharedRevocations};

/// Keeps every event it is given.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Event>>);

impl EventSink for Recorder {
    fn record(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    /// The events so far, leaving none.
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn revoked(subject: &str, session: SessionId, at: u64) -> Event {
    Event::Revoked {
        subject: subject.into(),
        session,
        reason: RevokeReason::LogoutAll,
        at: tokenlife::UnixMillis(at),
    }
}

#[test]
fn revoke_session_revokes_that_session_and_no_other() {
    let (auth, _clock, _store) = authority(Policy::default());
    let phone = block_on(auth.login("alice", &())).unwrap();
    let laptop = block_on(auth.login("alice", &())).unwrap();
    let bobs = block_on(auth.login("bob", &())).unwrap();

    block_on(auth.revoke_session("alice", &phone.session_id)).unwrap();

    let r = block_on(auth.refresh(&phone.refresh_token));
    assert!(
        matches!(
            r,
            Err(Error::SessionRevoked {
                reason: RevokeReason::LogoutAll,
                ..
            })
        ),
        "{r:?}"
    );
    let r = block_on(auth.verify_live::<()>(&phone.access_token));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
    for other in [&laptop, &bobs] {
        block_on(auth.verify_live::<()>(&other.access_token)).unwrap();
    }
    block_on(auth.refresh(&laptop.refresh_token)).unwrap();
    block_on(auth.refresh(&bobs.refresh_token)).unwrap();
    let left: Vec<SessionId> = block_on(auth.sessions("alice"))
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [laptop.session_id]);
}

#[test]
fn revoking_a_session_twice_is_ok_and_changes_nothing_the_second_time() {
    let (auth, clock, store) = authority(Policy::default());
    let sink = Arc::new(Recorder::default());
    let auth = auth.with_events(sink.clone());
    let pair = block_on(auth.login("alice", &())).unwrap();
    sink.take();

    block_on(auth.revoke_session("alice", &pair.session_id)).unwrap();
    assert_eq!(sink.take(), [revoked("alice", pair.session_id, START.0)]);
    let before = snapshot(&store, "alice");

    clock.advance(secs(5));
    block_on(auth.revoke_session("alice", &pair.session_id)).unwrap();
    assert_eq!(
        snapshot(&store, "alice"),
        before,
        "the revocation stays as it was"
    );
    assert_eq!(sink.take(), [], "nothing new to report");
}

#[test]
fn revoking_a_session_that_looks_expired_is_ok_and_final() {
    let policy = Policy::default().with_refresh_ttl(secs(60));
    let (auth, clock, store) = authority(policy);
    let pair = block_on(auth.login("alice", &())).unwrap();
    clock.advance(secs(60));
    block_on(auth.revoke_session("alice", &pair.session_id)).unwrap();
    // Another instance's clock may run behind: only a recorded revocation
    // is final for every clock.
    let [session] = &snapshot(&store, "alice")[..] else {
        panic!("one session")
    };
    assert!(session.revoked.is_some());
}

#[test]
fn someone_elses_session_is_unknown_and_left_as_it_was() {
    let (auth, _clock, store) = authority(Policy::default());
    let sink = Arc::new(Recorder::default());
    let auth = auth.with_events(sink.clone());
    let bobs = block_on(auth.login("bob", &())).unwrap();
    sink.take();
    let before = snapshot(&store, "bob");

    let r = block_on(auth.revoke_session("alice", &bobs.session_id));
    assert!(matches!(r, Err(Error::UnknownSession)), "{r:?}");

    assert_eq!(snapshot(&store, "bob"), before);
    assert_eq!(sink.take(), []);
    block_on(auth.verify_live::<()>(&bobs.access_token)).unwrap();
    block_on(auth.refresh(&bobs.refresh_token)).unwrap();
}

#[test]
fn a_session_id_that_was_never_issued_is_unknown_like_someone_elses() {
    let (auth, _clock, _store) = authority(Policy::default());
    let never = SessionId::from_bytes([9; 16]);
    let r = block_on(auth.revoke_session("alice", &never));
    assert!(matches!(r, Err(Error::UnknownSession)), "{r:?}");
}

#[test]
fn a_revoked_session_is_refused_at_once_by_the_revocation_set() {
    let policy = Policy::default();
    let (auth, _clock, _store) = authority(policy.clone());
    let set = Arc::new(SharedRevocations::new(&policy));
    set.mark_synced(START);
    let auth = auth.with_revocations(set.clone());
    let pair = block_on(auth.login("alice", &())).unwrap();
    block_on(auth.verify_fresh::<()>(&pair.access_token)).unwrap();

    block_on(auth.revoke_session("alice", &pair.session_id)).unwrap();

    assert_eq!(set.len(), 1);
    let r = block_on(auth.verify_fresh::<()>(&pair.access_token));
    assert!(matches!(r, Err(Error::SessionRevoked { .. })), "{r:?}");
}
