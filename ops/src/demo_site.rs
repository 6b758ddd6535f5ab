//! The built-in demo target of `throng up` (and `throng demo-site`): a few
//! linked pages, a contact form and a tracking endpoint, on loopback,
//! counting what it serves and keeping its own request log at
//! `GET /_requests` (one `METHOD /path [form body]` line per request, the
//! latest 10,000), so what a campaign did can be checked from the site's side.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, Response};
use axum::routing::get;

/// How many requests the log keeps.
const LOG_LINES: usize = 10_000;

/// Requests the demo site has answered, and its request log.
#[derive(Clone, Default)]
pub struct DemoCounters {
    pub requests: Arc<AtomicU64>,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl DemoCounters {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn log(&self, line: String) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == LOG_LINES {
            log.pop_front();
        }
        log.push_back(line);
    }
}

/// Logs every request but the log's own, with the body of a form post.
async fn log_request(State(c): State<DemoCounters>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/_requests" {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let mut line = format!("{} {}", parts.method, parts.uri.path());
    if !body.is_empty() {
        line.push(' ');
        line.push_str(&String::from_utf8_lossy(&body));
    }
    c.log(line);
    next.run(Request::from_parts(parts, Body::from(body))).await
}

async fn request_log(State(c): State<DemoCounters>) -> String {
    let log = c.log.lock().unwrap_or_else(|p| p.into_inner());
    log.iter().map(|line| format!("{line}\n")).collect()
}

/// The paths the demo campaign visits.
pub const DEMO_PAGES: &[&str] = &[
    "/",
    "/products",
    "/products/1",
    "/products/2",
    "/products/3",
    "/about",
    "/contact",
];

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><title>{title} · Throng demo shop</title></head><body>\
         <nav><a href=\"/\">Home</a> <a href=\"/products\">Products</a> <a href=\"/about\">About</a> \
         <a href=\"/contact\">Contact</a></nav><h1>{title}</h1>{body}</body></html>"
    ))
}

async fn home(State(c): State<DemoCounters>) -> Html<String> {
    c.requests.fetch_add(1, Ordering::Relaxed);
    page(
        "Welcome",
        "<p>Three fine products.</p><a href=\"/products\">Browse</a>",
    )
}

async fn products(State(c): State<DemoCounters>) -> Html<String> {
    c.requests.fetch_add(1, Ordering::Relaxed);
    page(
        "Products",
        "<ul><li><a href=\"/products/1\">Lamp</a></li><li><a href=\"/products/2\">Chair</a></li>\
         <li><a href=\"/products/3\">Desk</a></li></ul>",
    )
}

async fn product(State(c): State<DemoCounters>, Path(id): Path<u32>) -> Result<Html<String>, StatusCode> {
    c.requests.fetch_add(1, Ordering::Relaxed);
    let name = match id {
        1 => "Lamp",
        2 => "Chair",
        3 => "Desk",
        _ => return Err(StatusCode::NOT_FOUND),
    };
    Ok(page(
        name,
        "<p>In stock.</p><form action=\"/contact\"><button>Ask</button></form>",
    ))
}

async fn about(State(c): State<DemoCounters>) -> Html<String> {
    c.requests.fetch_add(1, Ordering::Relaxed);
    page(
        "About",
        "<p>A shop that exists to be visited by simulated people.</p>",
    )
}

async fn contact(State(c): State<DemoCounters>) -> Html<String> {
    c.requests.fetch_add(1, Ordering::Relaxed);
    page(
        "Contact",
        "<form method=\"post\"><input name=\"email\"><button>Send</button></form>",
    )
}

async fn track(State(c): State<DemoCounters>) -> StatusCode {
    c.requests.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

/// Serves the demo site on `address` until the runtime ends; returns its bound address.
pub async fn start(address: SocketAddr, counters: DemoCounters) -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route("/", get(home))
        .route("/products", get(products))
        .route("/products/{id}", get(product))
        .route("/about", get(about))
        .route("/contact", get(contact).post(contact))
        .route("/track", get(track).post(track))
        .route("/_requests", get(request_log))
        .layer(axum::middleware::from_fn_with_state(
            counters.clone(),
            log_request,
        ))
        .with_state(counters);
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "demo site failed");
        }
    });
    Ok(bound)
}
