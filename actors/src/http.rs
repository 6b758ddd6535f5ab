//! The HTTP engine: one pooled, keep-alive hyper client per agent, shared by
//! every session it runs.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The answer to one request: status and body size (the body is drained, not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body_bytes: u64,
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
}

impl RequestError {
    /// A short class name for counting errors by kind.
    pub fn class(&self) -> &'static str {
        match self {
            RequestError::InvalidUrl(_) => "invalid_url",
            RequestError::Timeout => "timeout",
            RequestError::Connect(_) => "connect",
            RequestError::Protocol(_) => "protocol",
        }
    }
}

/// A shared HTTP/1.1 client with a keep-alive pool.
#[derive(Clone, Debug)]
pub struct HttpEngine {
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Default for HttpEngine {
    fn default() -> Self {
        HttpEngine::new()
    }
}

impl HttpEngine {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4096)
            .build(connector);
        HttpEngine { client }
    }

    /// GETs `url`, draining the body, within `timeout` for the whole exchange.
    pub async fn get(&self, url: &str, timeout: Duration) -> Result<HttpResponse, RequestError> {
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| RequestError::InvalidUrl(e.to_string()))?;
        let request = Request::get(uri)
            .header(header::USER_AGENT, concat!("throng/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| RequestError::InvalidUrl(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    RequestError::Connect(error_chain(&e))
                } else {
                    RequestError::Protocol(error_chain(&e))
                }
            })?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut body_bytes = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| RequestError::Protocol(e.to_string()))?;
                if let Some(data) = frame.data_ref() {
                    body_bytes += data.len() as u64;
                }
            }
            Ok(HttpResponse { status, body_bytes })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| RequestError::Timeout)?
    }
}

/// An error and all its causes on one line (hyper's top-level messages alone
/// are too vague to act on).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
