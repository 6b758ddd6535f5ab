//! A `throng up` process for tests, and helpers to run the client against it.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use throng_testkit::{free_port, poll_until};

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
    pub fn start(extra: &[&str]) -> Up {
        let (grpc, http, demo) = (free_port(), free_port(), free_port());
        let stderr = tempfile::NamedTempFile::new().expect("temp file");
        let child = throng()
            .arg("up")
            .args(["--grpc", &format!("127.0.0.1:{grpc}")])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .args(["--demo", &format!("127.0.0.1:{demo}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr.reopen().expect("reopen"))
            .spawn()
            .expect("spawn throng up");
        Up {
            child,
            endpoint: format!("http://127.0.0.1:{grpc}"),
            http: format!("127.0.0.1:{http}"),
            demo: format!("127.0.0.1:{demo}"),
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
