//! Security events: the exact sequence each lifecycle path reports, nothing
//! for a write that did not happen, and no token or secret in any event.

mod support;

use std::sync::{Arc, Mutex};

use support::*;
use tokenlife::events::{Event, EventSink, NoEvents};
use tokenlife::refresh::RefreshToken;
use tokenlife::{
    Authority, ManualClock, MemoryStore, Policy, RevokeReason, SessionId, SessionStore, SharedRng,
};

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

type Recorded<S = Arc<MemoryStore>> =
    Authority<S, ManualClock, SharedRng<rand_chacha::ChaCha20Rng>, Arc<Recorder>>;

fn recorded(policy: Policy) -> (Recorded, ManualClock, Arc<Recorder>) {
    let (auth, clock, _store) = authority(policy);
    let sink = Arc::new(Recorder::default());
    (auth.with_events(sink.clone()), clock, sink)
}

fn logged_in(subject: &str, session: SessionId) -> Event {
    Event::LoggedIn {
        subject: subject.into(),
        session,
    }
}

fn refreshed(session: SessionId, generation: u64, grace_replay: bool) -> Event {
    Event::Refreshed {
        subject: "alice".into(),
        session,
        generation,
        grace_replay,
    }
}

fn revoked(subject: &str, session: SessionId, reason: RevokeReason, at: u64) -> Event {
    Event::Revoked {
        subject: subject.into(),
        session,
        reason,
        at: tokenlife::UnixMillis(at),
    }
}

#[test]
fn login_reports_logged_in() {
    let (auth, _clock, sink) = recorded(Policy::default());
    let pair = block_on(auth.login("alice", &())).unwrap();
    assert_eq!(sink.take(), [logged_in("alice", pair.session_id)]);
}

#[test]
fn refresh_reports_the_generation_handed_out() {
    let (auth, _clock, sink) = recorded(Policy::default());
    let p0 = block_on(auth.login("alice", &())).unwrap();
    let p1 = block_on(auth.refresh(&p0.refresh_token)).unwrap();
    block_on(auth.refresh(&p1.refresh_token)).unwrap();
    let s = p0.session_id;
    assert_eq!(
        sink.take(),
        [
            logged_in("alice", s),
            refreshed(s, 1, false),
            refreshed(s, 2, false)
        ]
    );
}

#[test]
fn grace_replay_is_marked_as_such() {
    let (auth, clock, sink) = recorded(Policy::default());
    let p0 = block_on(auth.login("alice", &())).unwrap();
    block_on(auth.refresh(&p0.refresh_token)).unwrap();
    clock.advance(ms(9_999));
    block_on(auth.refresh(&p0.refresh_token)).unwrap();
    let s = p0.session_id;
    assert_eq!(
        sink.take(),
        [
            logged_in("alice", s),
            refreshed(s, 1, false),
            refreshed(s, 1, true)
        ]
    );
}

#[test]
fn reuse_reports_detection_with_both_generations_then_the_revocation() {
    let (auth, clock, sink) = recorded(Policy::default());
    let p0 = block_on(auth.login("alice", &())).unwrap();
    let p1 = block_on(auth.refresh(&p0.refresh_token)).unwrap();
    block_on(auth.refresh(&p1.refresh_token)).unwrap();
    clock.advance(secs(10));
    let at = clock.now_millis();
    assert!(block_on(auth.refresh(&p0.refresh_token)).is_err());
    // Refusals of the revoked session afterwards report nothing new.
    assert!(block_on(auth.refresh(&p1.refresh_token)).is_err());
    let s = p0.session_id;
    assert_eq!(
        sink.take(),
        [
            logged_in("alice", s),
            refreshed(s, 1, false),
            refreshed(s, 2, false),
            Event::ReuseDetected {
                subject: "alice".into(),
                session: s,
                presented_generation: 0,
                current_generation: 2,
            },
            revoked("alice", s, RevokeReason::Reuse, at),
        ]
    );
}

#[test]
fn logout_reports_one_revocation_and_a_second_logout_none() {
    let (auth, clock, sink) = recorded(Policy::default());
    let p = block_on(auth.login("alice", &())).unwrap();
    clock.advance(secs(1));
    block_on(auth.logout(&p.refresh_token)).unwrap();
    block_on(auth.logout(&p.refresh_token)).unwrap();
    assert_eq!(
        sink.take(),
        [
            logged_in("alice", p.session_id),
            revoked(
                "alice",
                p.session_id,
                RevokeReason::Logout,
                START.as_millis() + 1000
            ),
        ]
    );
}

#[test]
fn logout_all_reports_each_session_it_revoked() {
    let (auth, _clock, sink) = recorded(Policy::default());
    let keep = block_on(auth.login("alice", &())).unwrap();
    let a = block_on(auth.login("alice", &())).unwrap();
    let b = block_on(auth.login("alice", &())).unwrap();
    block_on(auth.login("bob", &())).unwrap();
    sink.take();
    assert_eq!(
        block_on(auth.logout_all("alice", Some(&keep.session_id))).unwrap(),
        2
    );
    let mut got = sink.take();
    got.sort_by_key(|e| match e {
        Event::Revoked { session, .. } => *session,
        _ => SessionId::from_bytes([0; 16]),
    });
    let mut want = vec![
        revoked("alice", a.session_id, RevokeReason::LogoutAll, START.0),
        revoked("alice", b.session_id, RevokeReason::LogoutAll, START.0),
    ];
    want.sort_by_key(|e| match e {
        Event::Revoked { session, .. } => *session,
        _ => SessionId::from_bytes([0; 16]),
    });
    assert_eq!(got, want);
}

#[test]
fn refresh_of_an_expired_session_reports_the_refusal_and_purge_the_count() {
    let (auth, clock, sink) = recorded(Policy::default().with_refresh_ttl(secs(60)));
    let p = block_on(auth.login("alice", &())).unwrap();
    block_on(auth.login("bob", &())).unwrap();
    clock.advance(secs(60));
    assert!(block_on(auth.refresh(&p.refresh_token)).is_err());
    assert_eq!(block_on(auth.purge_expired()).unwrap(), 2);
    // A purge that deletes nothing says nothing.
    assert_eq!(block_on(auth.purge_expired()).unwrap(), 0);
    let got = sink.take();
    assert_eq!(
        got[2..],
        [
            Event::RefreshRefusedExpired {
                session: p.session_id,
                expired_at: tokenlife::UnixMillis(START.0 + 60_000),
            },
            Event::Purged { count: 2 },
        ]
    );
}

#[test]
fn forgeries_and_failed_writes_report_nothing() {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let (auth, _clock) = authority_on(Policy::default(), store.clone());
    let sink = Arc::new(Recorder::default());
    let auth = auth.with_events(sink.clone());
    let p = block_on(auth.login("alice", &())).unwrap();
    sink.take();
    // A forged refresh token never reaches the store, and says nothing.
    let mut forged = p.refresh_token.clone();
    forged.pop();
    forged.push('A');
    assert!(block_on(auth.refresh(&forged)).is_err());
    // A refresh whose compare-and-swap fails, a logout whose write fails,
    // a login whose insert fails: no event.
    let base = store.calls();
    store.fault_at(base + 1, Fault::Fail);
    assert!(block_on(auth.refresh(&p.refresh_token)).is_err());
    store.fault_next(Fault::Fail);
    assert!(block_on(auth.login("alice", &())).is_err());
    let base = store.calls();
    store.fault_at(base + 1, Fault::Fail);
    assert!(block_on(auth.logout(&p.refresh_token)).is_err());
    assert_eq!(sink.take(), []);
}

#[test]
fn a_lost_compare_and_swap_reports_only_the_retry_that_won() {
    let store = Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())));
    let (auth, _clock) = authority_on(Policy::default(), store.clone());
    let sink = Arc::new(Recorder::default());
    let auth = auth.with_events(sink.clone());
    let p = block_on(auth.login("alice", &())).unwrap();
    sink.take();
    let base = store.calls();
    store.fault_at(base + 1, Fault::Conflict);
    block_on(auth.refresh(&p.refresh_token)).unwrap();
    assert_eq!(sink.take(), [refreshed(p.session_id, 1, false)]);
}

#[test]
fn no_event_carries_a_token_or_a_secret() {
    let (auth, clock, sink) = recorded(Policy::default().with_refresh_ttl(secs(60)));
    let mut secrets: Vec<String> = vec![String::from_utf8_lossy(SECRET).into_owned()];
    let p0 = block_on(auth.login("alice", &())).unwrap();
    let p1 = block_on(auth.refresh(&p0.refresh_token)).unwrap();
    block_on(auth.refresh(&p0.refresh_token)).unwrap();
    clock.advance(secs(11));
    let _ = block_on(auth.refresh(&p0.refresh_token));
    let p2 = block_on(auth.login("alice", &())).unwrap();
    block_on(auth.logout(&p2.refresh_token)).unwrap();
    let p3 = block_on(auth.login("alice", &())).unwrap();
    block_on(auth.logout_all("alice", None)).unwrap();
    let p4 = block_on(auth.login("bob", &())).unwrap();
    clock.advance(secs(60));
    let _ = block_on(auth.refresh(&p4.refresh_token));
    block_on(auth.purge_expired()).unwrap();
    for pair in [&p0, &p1, &p2, &p3, &p4] {
        for token in [&pair.access_token, &pair.refresh_token] {
            secrets.push(token.clone());
            // Every segment of either token: the MAC, the secret, the claims.
            secrets.extend(
                token
                    .split(['.', '~'])
                    .filter(|s| s.len() >= 16)
                    .map(String::from),
            );
        }
        let parsed = RefreshToken::parse(&pair.refresh_token, auth.keyring(), 8192).unwrap();
        secrets.push(format!("{:?}", parsed.secret_hash().0));
    }
    let events = sink.take();
    let kinds: std::collections::BTreeSet<_> = events.iter().map(Event::name).collect();
    assert_eq!(
        kinds.len(),
        6,
        "every kind of event was produced: {kinds:?}"
    );
    for event in &events {
        let shown = format!("{event:?} {event}");
        for secret in &secrets {
            assert!(!shown.contains(secret.as_str()), "{shown} shows {secret}");
        }
    }
}

#[test]
fn an_event_prints_as_one_line_of_fields() {
    let session = SessionId::from_bytes([1; 16]);
    let e = Event::ReuseDetected {
        subject: "alice".into(),
        session,
        presented_generation: 0,
        current_generation: 2,
    };
    assert_eq!(
        e.to_string(),
        format!("reuse_detected session={session} presented_generation=0 current_generation=2")
    );
    assert_eq!((e.subject(), e.session()), (Some("alice"), Some(session)));
    assert!(e.is_alert());
    let e = revoked("bob", session, RevokeReason::LogoutAll, 1_500);
    assert_eq!(
        e.to_string(),
        format!("revoked session={session} reason=logout_all at=1.500s")
    );
    assert!(!e.is_alert());
    assert_eq!(Event::Purged { count: 3 }.session(), None);
}

#[test]
fn the_default_sink_is_zero_sized_and_disabled() {
    assert_eq!(std::mem::size_of::<NoEvents>(), 0);
    assert!(!NoEvents.is_enabled());
    let (auth, _clock, _store) = authority(Policy::default());
    let _: &NoEvents = auth.events();
    // Only the store a sink-less authority holds is visible to it.
    let _ = block_on(auth.store().list_by_subject("alice")).unwrap();
}

trait NowMillis {
    fn now_millis(&self) -> u64;
}

impl NowMillis for ManualClock {
    fn now_millis(&self) -> u64 {
        tokenlife::Clock::now(self).as_millis()
    }
}
