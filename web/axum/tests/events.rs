//! `TracingEvents` behind the routes: the authority's security events
//! become `tracing` events at their severity, naming the subject and the
//! session, never a token.

#![cfg(feature = "tracing")]

mod common;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use tokenlife::Keyring;
use tokenlife_axum::{Auth, TracingEvents};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Metadata, Subscriber};

use common::*;

/// One `tracing` event as the capture saw it.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    fields: Vec<(String, String)>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every field, as one text to search.
    fn text(&self) -> String {
        self.fields
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A subscriber that keeps every event (no spans: the crate opens none).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl Capture {
    /// The events of target `tokenlife`.
    fn tokenlife(&self) -> Vec<Captured> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|e| e.target == "tokenlife")
            .cloned()
            .collect()
    }
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

// A current-thread runtime (`#[tokio::test]`'s default): the server runs
// on the test's thread, where the capture is the default subscriber.
#[tokio::test]
async fn reuse_of_a_spent_refresh_token_is_a_warning_naming_the_subject_and_no_token() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let keys = Keyring::new("test", SECRET).unwrap();
    let server = start_on(keys, |a| Auth::new(a.with_events(TracingEvents))).await;
    let http = &server.http;

    let login = http.post("/auth/login", credentials()).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    let access = login.data("access_token").unwrap().to_owned();
    let refresh = login.data("refresh_token").unwrap().to_owned();
    let next = refresh_with(http, &refresh).await;
    assert_eq!(next.status, StatusCode::OK);
    let next_access = next.data("access_token").unwrap().to_owned();
    let next_refresh = next.data("refresh_token").unwrap().to_owned();
    let listed = http.get_bearer("/auth/sessions", &next_access).await;
    let session = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    // Past the grace window the spent token is reuse.
    server.clock.advance(Duration::from_secs(11));
    let spent = refresh_with(http, &refresh).await;
    assert_eq!(spent.status, StatusCode::UNAUTHORIZED);

    let events = capture.tokenlife();
    let kinds: Vec<(Level, Option<&str>)> =
        events.iter().map(|e| (e.level, e.field("event"))).collect();
    assert_eq!(
        kinds,
        [
            (Level::INFO, Some("logged_in")),
            (Level::DEBUG, Some("refreshed")),
            (Level::WARN, Some("reuse_detected")),
            (Level::WARN, Some("revoked")),
        ]
    );
    let reuse = &events[2];
    assert_eq!(reuse.field("subject"), Some("user-1"));
    assert_eq!(reuse.field("session"), Some(session.as_str()));
    let message = reuse.field("message").unwrap();
    assert!(message.starts_with("reuse_detected"), "{message}");

    for event in &events {
        let text = event.text();
        for token in [&access, &refresh, &next_access, &next_refresh] {
            assert!(!text.contains(token.as_str()), "a token in {text}");
        }
        // Not even a piece of one: the refresh prefix, a JWT header.
        assert!(!text.contains("tlr1."), "{text}");
        assert!(!text.contains("eyJ"), "{text}");
    }
}
