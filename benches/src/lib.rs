//! Shared helpers for Throng's benches.

use std::net::SocketAddr;

/// Starts a tiny target on loopback answering every request with a short page.
pub async fn start_target() -> std::io::Result<SocketAddr> {
    let app = axum::Router::new().fallback(|| async { "<html><body>ok</body></html>" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(address)
}
