//! The HTTP engine: pooled, keep-alive hyper clients shared by every session
//! an agent runs (one per protocol and TLS trust), and the lean connection a
//! visitor keeps for itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub mod tls;
mod visitor_connection;
pub use tls::TlsTrust;
pub use visitor_connection::VisitorConnection;

/// The answer to one request: status and body size (the body is drained,
/// and kept only when asked for).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body_bytes: u64,
    pub body: Option<Bytes>,
    /// The `Location` header, for redirects.
    pub location: Option<String>,
    /// `name=value` of every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
}

/// One request to send.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(header::HeaderName, String)>,
    pub body: Bytes,
    /// Keep the body (up to 1 MiB) in the response, e.g. to follow its links.
    pub keep_body: bool,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            keep_body: false,
        }
    }

    pub fn post(url: impl Into<String>, content_type: &str, body: impl Into<Bytes>) -> Self {
        HttpRequest {
            method: Method::POST,
            url: url.into(),
            headers: vec![(header::CONTENT_TYPE, content_type.to_string())],
            body: body.into(),
            keep_body: false,
        }
    }

    pub fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// The most of a body kept for link extraction.
const MAX_KEPT_BODY: usize = 1 << 20;

/// How much of an error answer's body is kept when the body was not asked
/// for: enough for the excerpt error groups and sessions show.
const MAX_ERROR_BODY: usize = 1024;

/// How much of an answer's body to keep: all of it (up to a bound) when
/// asked, the start of an error answer's, else none.
fn body_to_keep(keep_body: bool, status: u16) -> usize {
    if keep_body {
        MAX_KEPT_BODY
    } else if status >= 400 {
        MAX_ERROR_BODY
    } else {
        0
    }
}

/// Why a request got no HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("invalid url: {0}")]
    InvalidUrl(String),
    #[error("timed out")]
    Timeout,
    #[error("connect failed: {0}")]
    Connect(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The request waited in the agent for a connection that never came
    /// free: the requests already in flight to its origin took the whole
    /// timeout. Not an answer of the target's.
    #[error("no connection to {origin} came free within the timeout ({limit} in flight)")]
    Queued { origin: String, limit: usize },
}

impl RequestError {
    /// A short class name for counting errors by kind.
    pub fn class(&self) -> &'static str {
        match self {
            RequestError::InvalidUrl(_) => "invalid_url",
            RequestError::Timeout => "timeout",
            RequestError::Connect(_) => "connect",
            RequestError::Protocol(_) => "protocol",
            RequestError::Queued { .. } => "queued",
        }
    }
}

/// The most requests a shared client has in flight to one origin, so the
/// most connections it keeps open to it. Beyond it a request waits in the
/// agent for one to come free (its latency, counted from its intended
/// start, shows the wait). Without a bound, a campaign asked for more than
/// its target answers opens a connection for every waiting request: tens of
/// thousands, until the target refuses them, and the agent's CPU goes to
/// finding free ports instead of sending requests.
pub const MAX_IN_FLIGHT_PER_ORIGIN: usize = 1024;

/// A shared client with a keep-alive pool, for `http` and `https` URLs.
#[derive(Clone, Debug)]
pub struct HttpEngine {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Slots for requests in flight, by origin (`scheme://host:port`).
    in_flight: Arc<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
    in_flight_limit: usize,
}

impl Default for HttpEngine {
    fn default() -> Self {
        HttpEngine::new()
    }
}

impl HttpEngine {
    /// An HTTP/1.1 client trusting the public web's certificates.
    pub fn new() -> Self {
        HttpEngine::with_trust(&TlsTrust::PublicRoots, false)
    }

    /// An HTTP/2 client, multiplexing requests over few connections: h2 by
    /// ALPN over TLS, cleartext h2 with prior knowledge (h2c) otherwise.
    pub fn http2() -> Self {
        HttpEngine::with_trust(&TlsTrust::PublicRoots, true)
    }

    /// A client whose `https` connections accept what `trust` says.
    pub fn with_trust(trust: &TlsTrust, http2: bool) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        // Plain `http` URLs go through the inner connector untouched.
        connector.enforce_http(false);
        let schemes = HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(trust))
            .https_or_http();
        let connector = if http2 {
            schemes.enable_http2().wrap_connector(connector)
        } else {
            schemes.enable_http1().wrap_connector(connector)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4096)
            .http2_only(http2)
            .build(connector);
        HttpEngine {
            client,
            in_flight: Arc::default(),
            in_flight_limit: MAX_IN_FLIGHT_PER_ORIGIN,
        }
    }

    /// The same client with at most `limit` requests in flight to one
    /// origin (instead of [`MAX_IN_FLIGHT_PER_ORIGIN`]).
    pub fn with_in_flight_limit(mut self, limit: usize) -> Self {
        self.in_flight_limit = limit;
        self.in_flight = Arc::default();
        self
    }

    /// The slots of requests in flight to `origin`.
    fn slots(&self, origin: &str) -> Arc<tokio::sync::Semaphore> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        match in_flight.get(origin) {
            Some(slots) => slots.clone(),
            None => {
                let slots = Arc::new(tokio::sync::Semaphore::new(self.in_flight_limit));
                in_flight.insert(origin.to_string(), slots.clone());
                slots
            }
        }
    }

    /// GETs `url`, draining the body, within `timeout` for the whole exchange.
    pub async fn get(&self, url: &str, timeout: Duration) -> Result<HttpResponse, RequestError> {
        self.send(HttpRequest::get(url), timeout).await
    }

    /// Sends `request` within `timeout` for the whole exchange.
    pub async fn send(&self, request: HttpRequest, timeout: Duration) -> Result<HttpResponse, RequestError> {
        let uri: Uri = request
            .url
            .parse()
            .map_err(|e: http::uri::InvalidUri| RequestError::InvalidUrl(e.to_string()))?;
        let keep_body = request.keep_body;
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", |a| a.as_str())
        );
        let slots = self.slots(&origin);
        let http_request = build_request(Request::builder().uri(uri), request)?;
        // Held until the answer is read: one slot, one connection in use.
        // Waiting for it is the agent's time, bounded by the timeout too;
        // the target then has the whole timeout to answer, so a request
        // the agent held back is never counted as the target's timeout.
        let Ok(Ok(_slot)) = tokio::time::timeout(timeout, slots.acquire()).await else {
            return Err(RequestError::Queued {
                origin,
                limit: self.in_flight_limit,
            });
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let exchange = async {
            let response = self.client.request(http_request).await.map_err(|e| {
                if e.is_connect() {
                    RequestError::Connect(error_chain(&e))
                } else {
                    RequestError::Protocol(error_chain(&e))
                }
            })?;
            read_response(response, keep_body).await
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| RequestError::Timeout)?
    }
}

/// The clients an agent's sessions share: one per protocol and TLS trust,
/// made on first use, so visitors of every campaign with the same needs share
/// one keep-alive pool.
#[derive(Clone, Debug)]
pub struct HttpEngines {
    http1: HttpEngine,
    http2: HttpEngine,
    custom: Arc<Mutex<HashMap<(TlsTrust, bool), HttpEngine>>>,
    visitor_tls: Arc<Mutex<HashMap<TlsTrust, Arc<rustls::ClientConfig>>>>,
}

impl Default for HttpEngines {
    fn default() -> Self {
        HttpEngines::new()
    }
}

impl HttpEngines {
    pub fn new() -> Self {
        HttpEngines {
            http1: HttpEngine::new(),
            http2: HttpEngine::http2(),
            custom: Arc::default(),
            visitor_tls: Arc::default(),
        }
    }

    /// The shared client for targets with this trust and protocol.
    pub fn engine(&self, trust: &TlsTrust, http2: bool) -> HttpEngine {
        match (trust, http2) {
            (TlsTrust::PublicRoots, false) => self.http1.clone(),
            (TlsTrust::PublicRoots, true) => self.http2.clone(),
            _ => {
                let mut custom = self.custom.lock().unwrap_or_else(|e| e.into_inner());
                custom
                    .entry((trust.clone(), http2))
                    .or_insert_with(|| HttpEngine::with_trust(trust, http2))
                    .clone()
            }
        }
    }

    /// The TLS configuration of visitors' own HTTP/1.1 connections.
    pub fn visitor_tls(&self, trust: &TlsTrust) -> Arc<rustls::ClientConfig> {
        let mut configs = self.visitor_tls.lock().unwrap_or_else(|e| e.into_inner());
        configs
            .entry(trust.clone())
            .or_insert_with(|| {
                let mut config = tls::client_config(trust);
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Arc::new(config)
            })
            .clone()
    }
}

/// Finishes a request: method, headers (with Throng's user agent unless one
/// is given) and body.
fn build_request(
    builder: http::request::Builder,
    request: HttpRequest,
) -> Result<Request<Full<Bytes>>, RequestError> {
    let mut builder = builder.method(request.method);
    let mut has_agent = false;
    for (name, value) in &request.headers {
        has_agent |= *name == header::USER_AGENT;
        let value = HeaderValue::from_str(value).map_err(|e| RequestError::InvalidUrl(e.to_string()))?;
        builder = builder.header(name, value);
    }
    if !has_agent {
        builder = builder.header(header::USER_AGENT, user_agent());
    }
    builder
        .body(Full::new(request.body))
        .map_err(|e| RequestError::InvalidUrl(e.to_string()))
}

/// The user agent of requests that do not set one.
fn user_agent() -> &'static str {
    concat!("throng/", env!("CARGO_PKG_VERSION"))
}

/// Drains a response, keeping its body when asked.
async fn read_response(
    response: http::Response<hyper::body::Incoming>,
    keep_body: bool,
) -> Result<HttpResponse, RequestError> {
    let status = response.status().as_u16();
    let headers = response.headers();
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let set_cookies = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(|v| v.trim().to_string())
        .collect();
    let mut body = response.into_body();
    let mut body_bytes = 0u64;
    let limit = body_to_keep(keep_body, status);
    let mut kept = (limit > 0).then(BytesMut::new);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RequestError::Protocol(e.to_string()))?;
        if let Some(data) = frame.data_ref() {
            body_bytes += data.len() as u64;
            if let Some(kept) = kept.as_mut()
                && kept.len() < limit
            {
                kept.extend_from_slice(data);
            }
        }
    }
    Ok(HttpResponse {
        status,
        body_bytes,
        body: kept.map(BytesMut::freeze),
        location,
        set_cookies,
    })
}

/// Same-site links (`href="/…"`) of an HTML page, in page order.
pub fn same_site_links(html: &[u8]) -> Vec<String> {
    const HREF: &[u8] = b"href=\"";
    let mut links = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.windows(HREF.len()).position(|w| w == HREF) {
        rest = &rest[at + HREF.len()..];
        let end = rest.iter().position(|b| *b == b'"').unwrap_or(rest.len());
        let link = &rest[..end];
        if link.first() == Some(&b'/')
            && link.get(1) != Some(&b'/')
            && let Ok(link) = std::str::from_utf8(link)
        {
            links.push(link.to_string());
        }
        rest = &rest[end..];
    }
    links
}

/// An error and all its causes on one line (hyper's top-level messages alone
/// are too vague to act on).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Layers often repeat their cause's message; say it once.
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_same_site_only() {
        let html = br#"<a href="/a">A</a><a href="https://x.test/">X</a><a href="//cdn/">C</a><a href="/b?c=1">B</a>"#;
        assert_eq!(
            same_site_links(html),
            vec!["/a".to_string(), "/b?c=1".to_string()]
        );
    }

    #[tokio::test]
    async fn requests_beyond_the_in_flight_limit_wait_in_the_agent_not_on_new_connections() {
        // A target that accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        let engine = HttpEngine::new().with_in_flight_limit(4);
        // Four take the slots for 500 ms; three more wait at most 200 ms.
        let timeouts = [500, 500, 500, 500, 200, 200, 200];
        let sends = timeouts.map(|ms| engine.get(&url, Duration::from_millis(ms)));
        let results = futures::future::join_all(sends).await;
        let classes: Vec<&str> = results
            .iter()
            .map(|r| r.as_ref().err().map_or("answered", RequestError::class))
            .collect();
        assert_eq!(
            classes.iter().filter(|c| **c == "timeout").count(),
            4,
            "{classes:?}"
        );
        assert_eq!(
            classes.iter().filter(|c| **c == "queued").count(),
            3,
            "{classes:?}"
        );
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 4);
        let queued = results
            .iter()
            .find_map(|r| r.as_ref().err().filter(|e| e.class() == "queued"));
        assert_eq!(
            queued.map(ToString::to_string).as_deref(),
            Some(
                format!(
                    "no connection to {} came free within the timeout (4 in flight)",
                    url.trim_end_matches('/')
                )
                .as_str()
            )
        );
    }

    #[tokio::test]
    async fn a_request_held_back_in_the_agent_still_gives_the_target_its_whole_timeout() {
        // A target that answers each request after 300 ms, one at a time.
        let app = axum::Router::new().fallback(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "ok"
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let engine = HttpEngine::new().with_in_flight_limit(1);
        // The second waits about 300 ms for the one slot, then is answered
        // 300 ms later: 600 ms in all, within its 450 ms to answer.
        let started = tokio::time::Instant::now();
        let sends = (0..2).map(|_| engine.get(&url, Duration::from_millis(450)));
        let results = futures::future::join_all(sends).await;
        for result in &results {
            assert_eq!(result.as_ref().map(|r| r.status).ok(), Some(200), "{results:?}");
        }
        assert!(started.elapsed() >= Duration::from_millis(600));
    }
}
