//! Test support shared by the workspace's integration tests: real etcd and
//! ClickHouse servers started per test on free loopback ports, an HTTPS site
//! with a self-signed certificate, and polling helpers so tests wait for
//! conditions instead of sleeping.

mod https;
mod kafka;
mod pki;
mod postgres;
pub use https::{HTTPS_PAGE, HttpsSite};
pub use kafka::KafkaBroker;
pub use pki::TestPki;
pub use postgres::PostgresServer;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (the OS picks it; the listener is closed
/// again), never one this process was given before: a port handed to a
/// node that has not bound it yet is free to the OS, which may offer it
/// again to the next node.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"));
        if given.insert(port) {
            return port;
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn poll_until<T, F, Fut>(timeout: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll_until_explained(timeout, what, check, String::new).await
}

/// [`poll_until`], with what `explain` says (where things stood, a
/// process's log) in the panic when time runs out.
pub async fn poll_until_explained<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut check: F,
    explain: impl FnOnce() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", explain());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a bare HTTP/1.0 GET and returns the whole answer, if the server answered.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// One HTTP/1.1 request with a JSON (or YAML) body; the status line,
/// headers and body. A whole stream history takes seconds in a debug build,
/// more on a busy machine, hence the patient timeout.
pub fn http_request(addr: &str, method: &str, path: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

fn wait_for(timeout: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn require_binary(path: &str, package: &str) {
    if !Path::new(path).exists() {
        panic!("{path} is missing: install the Debian package `{package}` (bash .ci/run does)");
    }
}

/// A server process this test owns: killed when dropped.
#[derive(Default)]
struct OwnedProcess {
    child: Option<Child>,
}

impl OwnedProcess {
    fn set(&mut self, child: Child) {
        self.kill();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real etcd server (Debian's `etcd-server`) with its own data dir and ports.
pub struct EtcdServer {
    process: OwnedProcess,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    /// Addresses besides 127.0.0.1 clients may reach it on.
    also_on: Vec<String>,
}

impl EtcdServer {
    /// Starts etcd and waits until `/health` says it is healthy.
    pub fn start() -> Self {
        EtcdServer::start_also_on(&[])
    }

    /// Starts etcd listening for clients on `addresses` too (e.g. the host's
    /// end of a test's network namespace), on the same port.
    pub fn start_also_on(addresses: &[&str]) -> Self {
        require_binary("/usr/bin/etcd", "etcd-server");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut server = EtcdServer {
            process: OwnedProcess::default(),
            dir,
            client_port: free_port(),
            peer_port: free_port(),
            also_on: addresses.iter().map(|a| a.to_string()).collect(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let client = std::iter::once("127.0.0.1")
            .chain(self.also_on.iter().map(String::as_str))
            .map(|host| format!("http://{host}:{}", self.client_port))
            .collect::<Vec<_>>()
            .join(",");
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.dir.path().join("etcd.log"))
            .unwrap_or_else(|e| panic!("etcd log: {e}"));
        let child = Command::new("/usr/bin/etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &self.endpoint(),
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("t={peer}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
        self.process.set(child);
        let addr = format!("127.0.0.1:{}", self.client_port);
        wait_for(Duration::from_secs(20), "etcd health", || {
            http_get(&addr, "/health").is_some_and(|a| a.contains("\"health\":\"true\""))
        });
    }

    /// The client URL, e.g. `http://127.0.0.1:23790`.
    pub fn endpoint(&self) -> String {
        self.endpoint_on("127.0.0.1")
    }

    /// The client URL on one of the addresses it listens on.
    pub fn endpoint_on(&self, address: &str) -> String {
        format!("http://{address}:{}", self.client_port)
    }

    /// Kills the server (SIGKILL); its data dir stays, so `restart` resumes it.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the server again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

/// A real ClickHouse server (Debian's `clickhouse-server`) with its own config, data and ports.
pub struct ClickHouseServer {
    process: OwnedProcess,
    dir: tempfile::TempDir,
    http_port: u16,
    tcp_port: u16,
}

impl ClickHouseServer {
    /// Starts ClickHouse from a rewritten copy of the packaged config and waits for `/ping`.
    pub fn start() -> Self {
        ClickHouseServer::start_also_on(&[])
    }

    /// Starts ClickHouse listening on `addresses` too, besides loopback.
    pub fn start_also_on(addresses: &[&str]) -> Self {
        require_binary("/usr/sbin/clickhouse-server", "clickhouse-server");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let http_port = free_port();
        let tcp_port = free_port();
        let interserver_port = free_port();
        let root = dir.path().to_string_lossy().to_string();
        // The packaged config listens on localhost by default (its
        // listen_host lines are commented out); naming addresses replaces
        // that default, so loopback is named too.
        let listen: String = if addresses.is_empty() {
            String::new()
        } else {
            std::iter::once("127.0.0.1")
                .chain(addresses.iter().copied())
                .map(|host| format!("<listen_host>{host}</listen_host>"))
                .collect()
        };
        let config = std::fs::read_to_string("/etc/clickhouse-server/config.xml")
            .unwrap_or_else(|e| panic!("read /etc/clickhouse-server/config.xml: {e}"))
            .replace(
                "<http_port>8123</http_port>",
                &format!("<http_port>{http_port}</http_port>{listen}"),
            )
            .replace(
                "<tcp_port>9000</tcp_port>",
                &format!("<tcp_port>{tcp_port}</tcp_port>"),
            )
            .replace(
                "<interserver_http_port>9009</interserver_http_port>",
                &format!("<interserver_http_port>{interserver_port}</interserver_http_port>"),
            )
            .replace("/var/lib/clickhouse/", &format!("{root}/data/"))
            .replace("/var/log/clickhouse-server/", &format!("{root}/log/"));
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        };
        assert!(
            addresses.is_empty() || config.contains(&listen),
            "the packaged ClickHouse config has no <http_port>8123</http_port> to put listen_host beside"
        );
        write("config.xml", &config);
        let users = std::fs::read_to_string("/etc/clickhouse-server/users.xml")
            .unwrap_or_else(|e| panic!("read /etc/clickhouse-server/users.xml: {e}"));
        write("users.xml", &users);
        let mut server = ClickHouseServer {
            process: OwnedProcess::default(),
            dir,
            http_port,
            tcp_port,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let config: PathBuf = self.dir.path().join("config.xml");
        let child = Command::new("/usr/sbin/clickhouse-server")
            .arg(format!("--config-file={}", config.display()))
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start clickhouse: {e}"));
        self.process.set(child);
        let addr = format!("127.0.0.1:{}", self.http_port);
        wait_for(Duration::from_secs(30), "clickhouse /ping", || {
            http_get(&addr, "/ping").is_some_and(|a| a.contains("Ok."))
        });
    }

    /// The native protocol port (what `clickhouse-client --port` takes).
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }

    /// The HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub fn url(&self) -> String {
        self.url_on("127.0.0.1")
    }

    /// The HTTP URL on one of the addresses it listens on.
    pub fn url_on(&self, address: &str) -> String {
        format!("http://{address}:{}", self.http_port)
    }

    /// Stops the server (SIGKILL); data stays for `restart`.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the server again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

/// The project's ClickHouse migrations (`ops/clickhouse/NNNN_*.sql`), in
/// order, as `ClickHouseSink::start` takes them.
pub fn clickhouse_migrations() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/clickhouse");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("ops/clickhouse")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("migration"))
        .collect()
}
