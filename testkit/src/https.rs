//! A small HTTPS site on 127.0.0.1 with a freshly made self-signed
//! certificate: real TLS handshakes, keep-alive HTTP/1.1, and counts of the
//! connections and requests it served.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The page every path answers, with one same-site link.
pub const HTTPS_PAGE: &str = r#"<html><body><a href="/next">next</a></body></html>"#;

pub struct HttpsSite {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// The site's certificate, PEM: trusting it makes the site verifiable.
    pub certificate_pem: String,
    connections: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpsSite {
    pub async fn start() -> Self {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap_or_else(|e| panic!("making a certificate: {e}"));
        let certificate_pem = key.cert.pem();
        let chain = vec![CertificateDer::from(key.cert.der().to_vec())];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
                .unwrap_or_else(|e| panic!("TLS server config: {e}"));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the https site: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let connections = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let (counted_connections, counted_requests) = (connections.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, connections, requests) = (
                    acceptor.clone(),
                    counted_connections.clone(),
                    counted_requests.clone(),
                );
                tokio::spawn(async move {
                    // A handshake the client refused ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    connections.fetch_add(1, Ordering::Relaxed);
                    let mut pending = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            pending.drain(..end + 4);
                            requests.fetch_add(1, Ordering::Relaxed);
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{HTTPS_PAGE}",
                                HTTPS_PAGE.len()
                            );
                            if tls.write_all(answer.as_bytes()).await.is_err() || tls.flush().await.is_err() {
                                return;
                            }
                        }
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        HttpsSite {
            url: format!("https://127.0.0.1:{port}"),
            certificate_pem,
            connections,
            requests,
            task,
        }
    }

    /// TLS connections that completed a handshake.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Requests answered.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for HttpsSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}
