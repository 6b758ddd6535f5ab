//! `throng demo-site` in its own process: the shop browser campaigns walk.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use throng_testkit::{free_port, http_get, poll_until};

use super::throng_bin;

/// A `throng demo-site` process, stopped when dropped.
pub struct DemoSite {
    pub address: String,
    pub url: String,
    child: Child,
}

impl DemoSite {
    pub async fn start() -> DemoSite {
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(throng_bin())
            .args(["demo-site", "--listen", &address])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn throng demo-site");
        let url = format!("http://{address}");
        poll_until(Duration::from_secs(20), "the demo site to answer", || {
            let address = address.clone();
            async move { http_get(&address, "/_requests") }
        })
        .await;
        DemoSite { address, url, child }
    }

    pub fn requests(&self) -> Vec<String> {
        let answer = http_get(&self.address, "/_requests").expect("the demo site's request log");
        let (_, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        body.lines().map(String::from).collect()
    }
}

impl Drop for DemoSite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
