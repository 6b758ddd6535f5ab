//! A `throng up` process for tests, and helpers to run the client against it.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use throng_testkit::poll_until;

pub fn throng() -> Command {
    Command::new(env!("CARGO_BIN_EXE_throng"))
}

/// Everything a command printed.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub struct Up {
    child: Child,
    pub endpoint: String,
    pub http: String,
    pub demo: String,
    stderr: tempfile::NamedTempFile,
}

impl Up {
    /// Starts `throng up` on ports the OS picks, and learns them from the
    /// line it prints once it serves (so two tests can never talk to each
    /// other's cluster).
    pub fn start(extra: &[&str]) -> Up {
        let stderr = tempfile::NamedTempFile::new().expect("temp file");
        let mut child = throng()
            .arg("up")
            .args([
                "--grpc",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--demo",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr.reopen().expect("reopen"))
            .spawn()
            .expect("spawn throng up");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let line = loop {
            let text = std::fs::read_to_string(stderr.path()).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with("throng up: coordinator ")) {
                break line.to_string();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("throng up exited with {status}: {text}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "throng up did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // throng up: coordinator http://127.0.0.1:P (HTTP http://127.0.0.1:Q), 2 agents, demo site http://127.0.0.1:R
        let word_after = |marker: &str| {
            let rest =
                &line[line.find(marker).unwrap_or_else(|| panic!("{marker} in {line}")) + marker.len()..];
            rest.split([' ', ')', ',']).next().unwrap_or_default().to_string()
        };
        Up {
            child,
            endpoint: word_after("coordinator "),
            http: word_after("(HTTP http://"),
            demo: word_after("demo site http://"),
            stderr,
        }
    }

    pub fn client(&self, args: &[&str]) -> Output {
        throng()
            .args(["--endpoint", &self.endpoint])
            .args(args)
            .output()
            .expect("run throng client")
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    pub async fn wait_ready(&self) -> serde_json::Value {
        self.wait_ready_with(2).await
    }

    /// Waits until cluster status answers with `agents` agents.
    pub async fn wait_ready_with(&self, agents: usize) -> serde_json::Value {
        poll_until(
            Duration::from_secs(30),
            "throng up to answer cluster status",
            || async {
                let out = self.client(&["--output", "json", "cluster", "status"]);
                if !out.status.success() {
                    return None;
                }
                let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                (status["agents"].as_array()?.len() == agents).then_some(status)
            },
        )
        .await
    }

    /// Ctrl-C, then wait for a clean exit.
    pub async fn interrupt(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .expect("kill")
                .success()
        );
        let status = poll_until(Duration::from_secs(20), "throng up to exit", || {
            let done = self.child.try_wait().ok().flatten();
            async move { done }
        })
        .await;
        assert!(
            status.success(),
            "throng up exited with {status}: {}",
            self.stderr()
        );
        self.stderr()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
