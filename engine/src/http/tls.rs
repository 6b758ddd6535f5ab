//! TLS for `https` targets: which servers a target trusts, as rustls client
//! configurations.
//!
//! Public sites are checked against the Mozilla root store built into the
//! binary (the same on every agent, whatever its operating system trusts). A
//! staging site with a private CA or a self-signed certificate is trusted by
//! giving its certificate in the spec; checking can also be switched off for
//! throwaway test sites.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Which certificates a target's TLS connections accept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsTrust {
    /// Certificates issued under the public web's roots.
    #[default]
    PublicRoots,
    /// The public roots and these PEM certificates (a private CA, or the
    /// site's own self-signed certificate).
    WithCertificates(String),
    /// Any certificate at all.
    Unverified,
}

/// The certificates in a PEM text; an error says why there are none usable.
pub fn parse_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match certificates {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) => Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string()),
        Err(e) => Err(format!("is not valid PEM: {e}")),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration for `trust`, without ALPN protocols (callers set
/// the ones they speak).
pub fn client_config(trust: &TlsTrust) -> ClientConfig {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions");
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    match trust {
        TlsTrust::PublicRoots => builder.with_root_certificates(roots).with_no_client_auth(),
        TlsTrust::WithCertificates(pem) => {
            // The spec was validated, so every certificate parses; one that
            // the store refuses (not a CA, say) is left out.
            for certificate in parse_certificates(pem).unwrap_or_default() {
                let _ = roots.add(certificate);
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsTrust::Unverified => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    }
}

/// Accepts any certificate, but still checks that the server holds the key
/// of the certificate it showed (so the handshake itself is sound).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
