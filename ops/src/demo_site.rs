//! The built-in demo target of `throng up`: a few linked pages and a
//! tracking endpoint, on loopback, counting what it serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;

/// Requests the demo site has answered.
#[derive(Clone, Default)]
pub struct DemoCounters {
    pub requests: Arc<AtomicU64>,
}

impl DemoCounters {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
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
