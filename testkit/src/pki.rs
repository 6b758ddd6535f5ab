//! A private certificate authority for TLS tests: a CA, a server
//! certificate for `127.0.0.1`/`localhost`, and a client certificate, all
//! signed by the CA, written as PEM files in a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

pub struct TestPki {
    dir: tempfile::TempDir,
}

fn made<T>(what: &str) -> impl FnOnce(rcgen::Error) -> T + '_ {
    move |e| panic!("making {what}: {e}")
}

impl TestPki {
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().expect("pki dir");
        let ca_key = KeyPair::generate().unwrap_or_else(made("the CA key"));
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(made("the CA"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap_or_else(made("the CA"));
        let issuer = Issuer::new(ca_params, ca_key);
        let write =
            |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect("write PEM");
        write("ca.pem", ca.pem());
        for (name, names) in [
            ("server", vec!["127.0.0.1".to_string(), "localhost".to_string()]),
            ("client", vec!["throng-client".to_string()]),
            ("stranger", vec!["127.0.0.1".to_string()]),
        ] {
            let key = KeyPair::generate().unwrap_or_else(made("a key"));
            let params = CertificateParams::new(names).unwrap_or_else(made("a certificate"));
            // The stranger's certificate signs itself: no CA vouches for it.
            let cert = if name == "stranger" {
                params.self_signed(&key)
            } else {
                params.signed_by(&key, &issuer)
            }
            .unwrap_or_else(made("a certificate"));
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        }
        TestPki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `path` as a string, for command lines.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}
