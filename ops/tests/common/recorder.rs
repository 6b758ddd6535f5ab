//! A target that records every request it gets: method, path, query, body.
//! Tracking endpoints answer 204; anything else answers a small page of links.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{Html, IntoResponse, Response};

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    pub user_agent: String,
    /// When the request arrived.
    pub at: std::time::Instant,
    /// `HTTP/1.1`, `HTTP/2.0`…
    pub version: String,
    pub traceparent: Option<String>,
    /// The client's address: one per connection.
    pub peer: Option<SocketAddr>,
}

impl Recorded {
    /// Query parameters, decoded.
    pub fn params(&self) -> Vec<(String, String)> {
        parse_query(&self.query)
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.params().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%20y` → [("a","1"), ("b","x y")].
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub struct Recorder {
    pub address: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stall_until: Arc<Mutex<Option<tokio::time::Instant>>>,
    /// Requests being answered now, and the most at once.
    in_flight: Arc<(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64)>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let stall_until: Arc<Mutex<Option<tokio::time::Instant>>> = Arc::default();
        let log = requests.clone();
        let stall = stall_until.clone();
        let in_flight: Arc<(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64)> = Arc::default();
        let gauge = in_flight.clone();
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let log = log.clone();
            let stall = stall.clone();
            let gauge = gauge.clone();
            async move {
                use std::sync::atomic::Ordering;
                let now = gauge.0.fetch_add(1, Ordering::SeqCst) + 1;
                gauge.1.fetch_max(now, Ordering::SeqCst);
                let at = std::time::Instant::now();
                // `/slow…` takes 300 ms; during a stall, every answer waits for its end.
                if request.uri().path().starts_with("/slow") {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
                let until = *stall.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(until) = until.filter(|u| *u > tokio::time::Instant::now()) {
                    tokio::time::sleep_until(until).await;
                }
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                let path = parts.uri.path().to_string();
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    path: path.clone(),
                    query: parts.uri.query().unwrap_or("").to_string(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                    user_agent: parts
                        .headers
                        .get("user-agent")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string(),
                    at,
                    version: format!("{:?}", parts.version),
                    traceparent: parts
                        .headers
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from),
                    peer: parts
                        .extensions
                        .get::<axum::extract::ConnectInfo<SocketAddr>>()
                        .map(|info| info.0),
                };
                log.lock().unwrap_or_else(|p| p.into_inner()).push(recorded);
                gauge.0.fetch_sub(1, Ordering::SeqCst);
                let response: Response = if path.ends_with("/debug/mp/collect") {
                    // A validating GA4 collector with a complaint.
                    Html(r#"{"validationMessages":[{"fieldPath":"events","description":"Event name is reserved."}]}"#)
                        .into_response()
                } else if path.ends_with("matomo.php") || path.ends_with("/collect") {
                    StatusCode::NO_CONTENT.into_response()
                } else {
                    Html("<html><body><a href=\"/a\">A</a> <a href=\"/b\">B</a> <a href=\"/products/sku-lamp\">Lamp</a></body></html>")
                        .into_response()
                };
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind recorder");
        let address = listener.local_addr().expect("recorder address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        Recorder {
            address,
            requests,
            stall_until,
            in_flight,
        }
    }

    /// The most requests it was answering at once.
    pub fn peak_concurrency(&self) -> u64 {
        self.in_flight.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Holds every answer from now until `duration` has passed.
    pub fn stall_for(&self, duration: std::time::Duration) {
        *self.stall_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(tokio::time::Instant::now() + duration);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
