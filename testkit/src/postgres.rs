//! A real PostgreSQL server (Debian's `postgresql`) with its own data
//! directory and port, trusting local connections.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{OwnedProcess, free_port, require_binary, wait_for};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// PostgreSQL refuses to run as root: as root, the server runs as the
/// package's `postgres` user (`setpriv` execs it, so killing the child
/// kills the server).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

fn command(program: &str) -> Command {
    let path = format!("{BIN}/{program}");
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
            &path,
        ]);
        command
    } else {
        Command::new(path)
    }
}

pub struct PostgresServer {
    process: OwnedProcess,
    _dir: tempfile::TempDir,
    data: PathBuf,
    port: u16,
}

impl PostgresServer {
    /// Creates a cluster and starts it; waits until it takes connections.
    pub fn start() -> Self {
        require_binary(&format!("{BIN}/postgres"), "postgresql");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap_or_else(|e| panic!("chown: {e}"));
            assert!(status.success(), "chown of the PostgreSQL directory");
        }
        let data = dir.path().join("data");
        let init = command("initdb")
            .args(["--auth=trust", "--username=throng", "--encoding=UTF8", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb: {e}"));
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut server = PostgresServer {
            process: OwnedProcess::default(),
            data,
            _dir: dir,
            port: free_port(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.data.with_file_name("postgres.log"))
            .unwrap_or_else(|e| panic!("postgres log: {e}"));
        let socket_dir = self.data.parent().map(Path::to_path_buf).unwrap_or_default();
        let child = command("postgres")
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", socket_dir.display()))
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start postgres: {e}"));
        self.process.set(child);
        let port = self.port;
        wait_for(Duration::from_secs(30), "postgres to take connections", || {
            Command::new(format!("{BIN}/pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-U",
                    "throng",
                    "-d",
                    "postgres",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// `postgres://throng@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://throng@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (SIGKILL); its data stays for `restart`.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs `sql` with `psql` and returns its unaligned, tuples-only output.
    pub fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .unwrap_or_else(|error| panic!("psql {sql}: {error}"))
    }

    /// [`PostgresServer::query`], or what psql said when it failed.
    pub fn try_query(&self, sql: &str) -> Result<String, String> {
        let output = Command::new("/usr/bin/psql")
            .args([
                "-X",
                "-A",
                "-t",
                "-F",
                "\t",
                "-v",
                "ON_ERROR_STOP=1",
                &self.url(),
                "-c",
                sql,
            ])
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).to_string());
        }
        Ok(String::from_utf8_lossy(&output.stdout).to_string())
    }
}
