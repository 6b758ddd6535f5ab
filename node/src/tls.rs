//! TLS between nodes and for clients, with rustls through tonic. A node
//! serves gRPC with its certificate; given a CA it trusts that CA for its
//! own calls to other nodes, and with client auth it also requires every
//! caller to present a certificate the CA signed (mutual TLS).

use std::path::Path;
use std::sync::Arc;

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A node's TLS material, read once at start.
#[derive(Clone)]
pub struct NodeTls {
    identity: Identity,
    /// The same certificate and key as the HTTP API's rustls server.
    https: Arc<rustls::ServerConfig>,
    ca: Option<Certificate>,
    client_auth: bool,
    /// The name other nodes' certificates are checked against, when it is
    /// not the host in their address (pods reached by IP).
    server_name: Option<String>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls")
            .field("ca", &self.ca.is_some())
            .field("client_auth", &self.client_auth)
            .field("server_name", &self.server_name)
            .finish()
    }
}

fn read(what: &str, path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?;
    if !text.contains("-----BEGIN") {
        return Err(format!("the {what} {} is not PEM", path.display()));
    }
    Ok(text)
}

fn https_config(cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate is not valid PEM: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("the key is not a valid PEM private key: {e}"))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl NodeTls {
    pub fn load(
        cert: &Path,
        key: &Path,
        ca: Option<&Path>,
        client_auth: bool,
        server_name: Option<String>,
    ) -> Result<NodeTls, String> {
        if client_auth && ca.is_none() {
            return Err("client certificates need a CA to check them against (--tls-ca)".into());
        }
        let (cert_pem, key_pem) = (read("certificate", cert)?, read("key", key)?);
        let ca = ca.map(|path| read("CA certificate", path)).transpose()?;
        Ok(NodeTls {
            identity: Identity::from_pem(&cert_pem, &key_pem),
            // Built now, so a bad certificate or key stops the node at start.
            https: Arc::new(https_config(&cert_pem, &key_pem)?),
            ca: ca.map(Certificate::from_pem),
            client_auth,
            server_name,
        })
    }

    /// The rustls configuration an HTTPS server (the coordinator's HTTP API)
    /// serves with: the node's certificate, HTTP/2 and HTTP/1.1. Callers
    /// there prove who they are with tokens, not certificates.
    pub fn https(&self) -> Arc<rustls::ServerConfig> {
        self.https.clone()
    }

    /// How this node serves.
    pub fn server(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity.clone());
        match (&self.ca, self.client_auth) {
            (Some(ca), true) => config.client_ca_root(ca.clone()),
            _ => config,
        }
    }

    /// How this node calls other nodes: trusting the CA (or the public
    /// roots without one) and presenting its own certificate.
    pub fn client(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().identity(self.identity.clone());
        let config = match &self.ca {
            Some(ca) => config.ca_certificate(ca.clone()),
            None => config.with_webpki_roots(),
        };
        match &self.server_name {
            Some(name) => config.domain_name(name.clone()),
            None => config,
        }
    }
}
