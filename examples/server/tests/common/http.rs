//! A small JSON-over-HTTP client for the tests (hyper-util's client): every
//! request is bounded by [`TIMEOUT`], and only loopback addresses are used.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The longest a request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A client for one server.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

/// An answer: status, headers and the body as JSON (`null` when empty).
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body parsed as JSON, `null` when empty.
    pub body: serde_json::Value,
}

impl Reply {
    /// Directus's error code: `errors[0].extensions.code`.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// A string field of `data`.
    pub fn data(&self, field: &str) -> Option<&str> {
        self.body["data"][field].as_str()
    }

    /// The full `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The value that `Set-Cookie` gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        let header = self.set_cookie(name)?;
        let (_, rest) = header.split_once('=')?;
        Some(rest.split(';').next().unwrap_or(""))
    }
}

impl Http {
    /// A client for the server at `addr`, which must be a loopback address.
    ///
    /// # Panics
    /// When `addr` is not a loopback address.
    pub fn new(addr: SocketAddr) -> Self {
        assert!(addr.ip().is_loopback(), "tests only talk to loopback");
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST path` with a JSON body.
    ///
    /// # Errors
    /// On a transport failure or time-out.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> Result<Reply, String> {
        self.send(Method::POST, path, &[], body.to_string().into_bytes())
            .await
    }

    /// `GET path` with `Authorization: Bearer token`.
    ///
    /// # Errors
    /// On a transport failure or time-out.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Result<Reply, String> {
        let auth = format!("Bearer {token}");
        self.send(Method::GET, path, &[("authorization", &auth)], Vec::new())
            .await
    }

    /// Any request, with raw body bytes.
    ///
    /// # Errors
    /// On a transport failure or time-out.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            let body = if bytes.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?
            };
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| "timed out".to_owned())?
    }
}
