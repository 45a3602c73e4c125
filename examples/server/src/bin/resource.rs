//! A resource server that holds no secret: it fetches the issuer's JWKS
//! over HTTP and verifies access tokens with a [`Verifier`] built from it.
//! It can check every token the issuer signs and mint none.
//!
//! ```sh
//! cargo run -p tokenlife-example-server -- --alg eddsa            # the issuer, on 8055
//! cargo run -p tokenlife-example-server --bin resource -- \
//!     --jwks-url http://127.0.0.1:8055/.well-known/jwks.json --port 8060
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8060/whoami
//! ```
//!
//! `GET /whoami` answers the token's subject, session and expiry, or the
//! issuer's own 401 for a refused token. A token naming a key the verifier
//! does not know makes it fetch the JWKS again, at most once per
//! `--refetch-secs` (10 by default), so a flood of made-up `kid`s is not a
//! flood of fetches; a fetch that fails or a document that does not parse
//! keeps the keys it has. It listens on 127.0.0.1 only, and fetches
//! `http://` URLs only (put TLS in front of both in production).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Request, Uri, header};
use axum::routing::get;
use axum::{Json, response::IntoResponse};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokenlife::{Clock, Error, Policy, SystemClock, UnixMillis, Verifier};
use tokenlife_axum::ApiError;
use tokio::sync::RwLock;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The largest JWKS document fetched.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The longest a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A resource server verifying the issuer's access tokens with its JWKS alone.
#[derive(clap::Parser)]
#[command(name = "resource")]
struct Args {
    /// The issuer's JWKS, e.g. http://127.0.0.1:8055/.well-known/jwks.json (http:// only).
    #[arg(long = "jwks-url", value_name = "URL")]
    jwks_url: Uri,
    /// The loopback port; 0 lets the OS choose.
    #[arg(long, default_value_t = 8060)]
    port: u16,
    /// The least time between two fetches of the JWKS on unknown kids, in seconds.
    #[arg(long = "refetch-secs", value_name = "SECS", default_value_t = 10)]
    refetch_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("resource: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    // `--help`, and a wrong or missing flag, end the process here.
    let Args {
        jwks_url: url,
        port,
        refetch_secs,
    } = clap::Parser::parse();
    if url.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// URLs are fetched").into());
    }
    let source = url.to_string();
    let keys = Keys::fetch(url, Duration::from_secs(refetch_secs)).await?;
    let app = Router::new()
        .route("/whoami", get(whoami))
        .with_state(Arc::new(keys));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("verifying with the JWKS of {source}");
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The issuer's keys, fetched again on an unknown `kid` at most once per
/// `refetch`.
struct Keys {
    url: Uri,
    refetch: Duration,
    policy: Policy,
    current: RwLock<(Verifier, UnixMillis)>,
}

impl Keys {
    async fn fetch(url: Uri, refetch: Duration) -> Result<Self, BoxError> {
        let policy = Policy::default();
        let verifier = Verifier::from_jwks(&get_text(&url).await?, policy.clone())?;
        Ok(Self {
            url,
            refetch,
            policy,
            current: RwLock::new((verifier, SystemClock.now())),
        })
    }

    async fn verify(&self, token: &str) -> Result<tokenlife::AccessClaims<Value>, Error> {
        let now = SystemClock.now();
        let first = self.current.read().await.0.verify(token, now);
        if !matches!(first, Err(Error::UnknownKey)) {
            return first;
        }
        let mut current = self.current.write().await;
        if now < current.1.saturating_add(self.refetch) {
            // Fetched lately (perhaps by a request racing this one).
            return current.0.verify(token, now);
        }
        current.1 = now;
        match get_text(&self.url).await {
            Ok(text) => match Verifier::from_jwks(&text, self.policy.clone()) {
                Ok(fresh) => current.0 = fresh,
                Err(e) => eprintln!("resource: the fetched JWKS is refused: {e}"),
            },
            Err(e) => eprintln!("resource: fetching the JWKS failed: {e}"),
        }
        current.0.verify(token, now)
    }
}

/// `GET /whoami`: the verified token's subject, session and expiry.
async fn whoami(State(keys): State<Arc<Keys>>, headers: HeaderMap) -> impl IntoResponse {
    let Some(token) = bearer(&headers) else {
        return Err(ApiError::missing_token());
    };
    let claims = keys
        .verify(token)
        .await
        .map_err(|e| ApiError::from_access(&e))?;
    Ok(Json(json!({ "data": {
        "sub": claims.sub,
        "sid": claims.sid.to_string(),
        "exp": claims.exp.as_millis(),
    }})))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The body of a `200` answer to `GET url`, bounded in size and time.
async fn get_text(url: &Uri) -> Result<String, BoxError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = Request::get(url.clone()).body(Empty::new())?;
    let reply = tokio::time::timeout(FETCH_TIMEOUT, client.request(request)).await??;
    if !reply.status().is_success() {
        return Err(format!("GET {url} answered {}", reply.status()).into());
    }
    let body = Limited::new(reply.into_body(), MAX_JWKS_BYTES);
    let bytes = tokio::time::timeout(FETCH_TIMEOUT, body.collect())
        .await?
        .map_err(|e| format!("GET {url}: {e}"))?
        .to_bytes();
    Ok(String::from_utf8(bytes.to_vec())?)
}
