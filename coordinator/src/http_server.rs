//! The HTTP server of the coordinator: every route of `crate::routes`
//! behind the token check its access needs, the browser policy
//! (`crate::http_policy`), plain HTTP or TLS. The handlers are in
//! `crate::http` and `crate::dashboard`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use tokio::sync::watch;

use throng_node::auth::{Guard, Refusal, Role};

use crate::app::App;
use crate::problem;

/// The prefix of the subprotocol that carries a token: browsers cannot set
/// an `Authorization` header on a WebSocket, so a page opens
/// `new WebSocket(url, ["throng.v1", "bearer." + base64url(token)])`.
const TOKEN_PROTOCOL_PREFIX: &str = "bearer.";

/// `Bearer TOKEN`, from a WebSocket subprotocol that carries the token.
fn websocket_token(headers: &axum::http::HeaderMap) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let offered = headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?;
    let encoded = offered
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .ok()?;
    let mut header = b"Bearer ".to_vec();
    header.extend(token);
    Some(header)
}

/// Checks a request against the guard for the role its routes need (set
/// where they are declared, in [`serve`]); refusals are 401 (with
/// `WWW-Authenticate: Bearer`), 403 or 429, and never echo the token.
async fn check_token(
    State((guard, needs)): State<(Arc<Guard>, Role)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let from_protocol = websocket_token(request.headers());
    let authorization = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .or(from_protocol.as_deref());
    match guard.check(authorization, Some(needs)) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let unauthenticated = matches!(refusal, Refusal::Unauthenticated(_));
            let mut response = problem::refusal(&refusal.to_status());
            if unauthenticated {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

/// Serves the API over TLS: each connection's handshake on its own task (a
/// client that stalls it delays only itself), then HTTP/1.1 or HTTP/2 with
/// upgrades (the WebSocket subscriptions).
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    config: Arc<rustls::ServerConfig>,
    mut stop: watch::Receiver<bool>,
) {
    use tower::Service;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "HTTPS accept failed");
                    continue;
                }
            },
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        // As on the gRPC servers (`throng_node::server::incoming`): no
        // Nagle's delay on a larger answer of a kept-alive connection.
        let _ = stream.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream));
            let Ok(Ok(tls)) = handshake.await else {
                return;
            };
            let service =
                hyper::service::service_fn(move |request: axum::extract::Request<hyper::body::Incoming>| {
                    app.clone().call(request)
                });
            let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    guard: Arc<Guard>,
    policy: Arc<crate::http_policy::BrowserPolicy>,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: watch::Receiver<bool>,
) {
    // Each route behind the token check of its access (crate::routes).
    let table = crate::routes::table();
    let openapi = crate::http::OpenApiDocument(crate::openapi::json(&table).into());
    let mut router = axum::Router::new();
    for route in table {
        let role = match route.access {
            crate::routes::Access::Open => None,
            crate::routes::Access::Read => Some(Role::Read),
            crate::routes::Access::Admin => Some(Role::Admin),
        };
        let handler = match role {
            Some(role) => route.handler.route_layer(axum::middleware::from_fn_with_state(
                (guard.clone(), role),
                check_token,
            )),
            None => route.handler,
        };
        router = router.route(route.path, handler);
    }
    let router =
        router
            .with_state(app)
            .layer(axum::Extension(openapi))
            .layer(axum::middleware::from_fn_with_state(
                policy,
                crate::http_policy::apply,
            ));
    if let Some(config) = tls {
        return serve_tls(listener, router, config, stop).await;
    }
    let shutdown = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    // No Nagle's delay: a browser keeps its connection alive, and a larger
    // answer's last segment would otherwise wait for its delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream: &mut tokio::net::TcpStream| {
        let _ = stream.set_nodelay(true);
    });
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "coordinator HTTP server failed");
    }
}
