//! A real Kafka-protocol broker: tansu (from crates.io; `bash .ci/run`
//! installs it), storing in an SQLite file in its own directory, so a
//! broker killed and started again keeps what it had.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{OwnedProcess, free_port, wait_for};

pub struct KafkaBroker {
    process: OwnedProcess,
    dir: tempfile::TempDir,
    port: u16,
}

impl KafkaBroker {
    /// Starts the broker and waits until it takes connections.
    pub fn start() -> Self {
        let found = Command::new("tansu")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "tansu is missing: `cargo install tansu --version 0.6.0 --locked --no-default-features --features libsql` (bash .ci/run does)"
        );
        let mut broker = KafkaBroker {
            process: OwnedProcess::default(),
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")),
            port: free_port(),
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .unwrap_or_else(|e| panic!("tansu log: {e}"));
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu: {e}"));
        self.process.set(child);
        let address = format!("127.0.0.1:{}", self.port);
        wait_for(Duration::from_secs(30), "the Kafka broker to listen", || {
            TcpStream::connect(&address).is_ok()
        });
    }

    /// `127.0.0.1:<port>`, as `bootstrap.servers` takes it.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker at once (SIGKILL); its data stays for `restart`.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The broker's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }
}
