//! A sandbox of real processes for end-to-end tests: etcd, ClickHouse, a
//! recording target site, and `throng coordinator` / `throng agent` processes
//! started from the built binary, each on its own free ports.

#![allow(dead_code)]

pub mod demo_site;
pub mod netns;
pub mod recorder;
pub mod up;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use throng_proto::v1;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_testkit::{ClickHouseServer, EtcdServer, free_port, poll_until, poll_until_explained};
use tonic::transport::Channel;

pub const LEASE_TTL: &str = "2s";

pub fn throng_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_throng"))
}

/// A node process of the cluster.
pub struct Node {
    pub id: String,
    pub grpc_port: u16,
    pub child: Child,
}

impl Node {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {} failed", self.id);
    }

    pub fn kill9(&mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }
}

/// Serves `app` on a loopback port of its own, in the background.
async fn serve_locally(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind target");
    let address = listener.local_addr().expect("target address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

/// A target that answers every GET with a small page and counts requests.
pub struct TargetSite {
    pub address: SocketAddr,
    pub requests: Arc<AtomicU64>,
}

impl TargetSite {
    pub async fn start() -> Self {
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        let app = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                "<html><body>ok</body></html>"
            }
        });
        let address = serve_locally(app).await;
        TargetSite { address, requests }
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// A target that fails every tenth request, with 500, 503 and 404 in turn,
/// and counts the failures it sent by status.
pub struct FailingSite {
    pub address: SocketAddr,
    failures: Arc<std::sync::Mutex<BTreeMap<u16, u64>>>,
    log: Arc<std::sync::Mutex<Vec<SiteRequest>>>,
}

/// One request as the failing site saw and answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteRequest {
    pub traceparent: String,
    pub path: String,
    pub status: u16,
    /// The size of the body it answered with.
    pub bytes: u64,
}

impl FailingSite {
    pub const STATUSES: [u16; 3] = [500, 503, 404];

    pub async fn start() -> Self {
        let served = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (sent, logged) = (failures.clone(), log.clone());
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (served, sent, logged) = (served.clone(), sent.clone(), logged.clone());
            async move {
                let n = served.fetch_add(1, Ordering::Relaxed);
                let status = if n % 10 != 9 {
                    200
                } else {
                    let status = Self::STATUSES[(n / 10 % 3) as usize];
                    *sent.lock().expect("failures").entry(status).or_default() += 1;
                    status
                };
                let body = if status == 200 {
                    "<html><body>ok</body></html>"
                } else {
                    "<html><body>not today</body></html>"
                };
                logged.lock().expect("log").push(SiteRequest {
                    traceparent: request
                        .headers()
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string(),
                    path: request.uri().path().to_string(),
                    status,
                    bytes: body.len() as u64,
                });
                let code = axum::http::StatusCode::from_u16(status).expect("a status");
                (code, body)
            }
        });
        let address = serve_locally(app).await;
        FailingSite {
            address,
            failures,
            log,
        }
    }

    /// Every request the site answered, in the order it answered them.
    pub fn requests(&self) -> Vec<SiteRequest> {
        self.log.lock().expect("log").clone()
    }

    /// The failed answers sent, by status.
    pub fn failures(&self) -> BTreeMap<u16, u64> {
        self.failures.lock().expect("failures").clone()
    }
}

pub struct Sandbox {
    pub etcd: EtcdServer,
    pub clickhouse: ClickHouseServer,
    pub target: TargetSite,
    pub cluster: String,
    pub nodes: BTreeMap<String, Node>,
    logs: tempfile::TempDir,
}

impl Sandbox {
    pub async fn start() -> Self {
        Sandbox::with(EtcdServer::start(), ClickHouseServer::start()).await
    }

    /// A sandbox whose etcd and ClickHouse also listen where `namespace`
    /// reaches them (etcd on its own address, so it can be cut off alone).
    pub async fn start_reachable_from(namespace: &netns::Namespace) -> Self {
        let etcd = EtcdServer::start_also_on(&[&namespace.store_ip]);
        let clickhouse = ClickHouseServer::start_also_on(&[&namespace.host_ip]);
        Sandbox::with(etcd, clickhouse).await
    }

    /// A sandbox whose etcd and ClickHouse listen where each of `hosts`
    /// reaches them too.
    pub async fn start_reachable_from_all(hosts: &[netns::Namespace]) -> Self {
        let store_ips: Vec<&str> = hosts.iter().map(|h| h.store_ip.as_str()).collect();
        let host_ips: Vec<&str> = hosts.iter().map(|h| h.host_ip.as_str()).collect();
        let etcd = EtcdServer::start_also_on(&store_ips);
        let clickhouse = ClickHouseServer::start_also_on(&host_ips);
        Sandbox::with(etcd, clickhouse).await
    }

    async fn with(etcd: EtcdServer, clickhouse: ClickHouseServer) -> Self {
        Sandbox {
            etcd,
            clickhouse,
            target: TargetSite::start().await,
            cluster: format!("test{}", free_port()),
            nodes: BTreeMap::new(),
            logs: tempfile::tempdir().expect("log dir"),
        }
    }

    pub fn spawn(&mut self, role: &str, id: &str, extra: &[&str]) -> u16 {
        let command = Command::new(throng_bin());
        let etcd = self.etcd.endpoint();
        let clickhouse = self.clickhouse.url();
        self.spawn_command(command, role, id, "127.0.0.1", &etcd, &clickhouse, extra)
    }

    /// A node inside `namespace`, reaching etcd and ClickHouse across its link.
    pub fn spawn_in(&mut self, namespace: &netns::Namespace, role: &str, id: &str, extra: &[&str]) -> u16 {
        let command = namespace.command(&throng_bin());
        let etcd = self.etcd.endpoint_on(&namespace.store_ip);
        let clickhouse = self.clickhouse.url_on(&namespace.host_ip);
        self.spawn_command(command, role, id, &namespace.inner_ip, &etcd, &clickhouse, extra)
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn_command(
        &mut self,
        mut command: Command,
        role: &str,
        id: &str,
        address: &str,
        etcd: &str,
        clickhouse: &str,
        extra: &[&str],
    ) -> u16 {
        let port = free_port();
        let log = std::fs::File::create(self.logs.path().join(format!("{id}.log"))).expect("log file");
        let child = command
            .arg(role)
            .args(["--etcd", etcd])
            .args(["--grpc", &format!("{address}:{port}")])
            .args(["--clickhouse", clickhouse])
            .args(["--cluster", &self.cluster, "--id", id, "--lease-ttl", LEASE_TTL])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn throng");
        self.nodes.insert(
            id.to_string(),
            Node {
                id: id.to_string(),
                grpc_port: port,
                child,
            },
        );
        port
    }

    pub fn spawn_coordinator(&mut self, id: &str) -> u16 {
        self.spawn("coordinator", id, &[])
    }

    /// A coordinator that also serves the HTTP API; returns its HTTP address.
    pub fn spawn_coordinator_with_http(&mut self, id: &str) -> String {
        let http = format!("127.0.0.1:{}", free_port());
        self.spawn("coordinator", id, &["--http", &http]);
        http
    }

    /// A coordinator with extra arguments that also serves the HTTP API;
    /// returns its HTTP address.
    pub fn spawn_coordinator_with(&mut self, id: &str, extra: &[&str]) -> String {
        let http = format!("127.0.0.1:{}", free_port());
        let mut args = vec!["--http", http.as_str()];
        args.extend_from_slice(extra);
        self.spawn("coordinator", id, &args);
        http
    }

    pub fn spawn_agent(&mut self, id: &str) -> u16 {
        self.spawn("agent", id, &[])
    }

    pub fn spawn_agent_with(&mut self, id: &str, extra: &[&str]) -> u16 {
        self.spawn("agent", id, extra)
    }

    pub fn node(&mut self, id: &str) -> &mut Node {
        self.nodes.get_mut(id).expect("known node")
    }

    /// The log a node wrote, for failure messages.
    pub fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{id}.log"))).unwrap_or_default()
    }

    /// A client of the current leader, once one is elected and sees `agents` agents.
    pub async fn leader_client(&self, agents: usize) -> (String, ControlServiceClient<Channel>) {
        let nodes: Vec<(String, String)> = self
            .nodes
            .values()
            .filter(|n| n.id.starts_with("coordinator"))
            .map(|n| (n.id.clone(), n.endpoint()))
            .collect();
        poll_until_explained(
            Duration::from_secs(30),
            "a leader that sees every agent",
            || {
                let nodes = nodes.clone();
                async move {
                    for (_, endpoint) in &nodes {
                        let Ok(mut client) = ControlServiceClient::connect(endpoint.clone()).await else {
                            continue;
                        };
                        let Ok(status) = client.get_cluster_status(v1::GetClusterStatusRequest {}).await
                        else {
                            continue;
                        };
                        let status = status.into_inner();
                        if status.leader.is_empty() || status.agents.len() != agents {
                            continue;
                        }
                        let leader = nodes.iter().find(|(id, _)| *id == status.leader)?;
                        let leader_client = ControlServiceClient::connect(leader.1.clone()).await.ok()?;
                        return Some((status.leader, leader_client));
                    }
                    None
                }
            },
            || format!("the nodes' logs end:\n{}", self.log_tails(20)),
        )
        .await
    }

    /// The last `lines` lines each node logged, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut tails = String::new();
        for id in self.nodes.keys() {
            let log = self.log(id);
            let all: Vec<&str> = log.lines().collect();
            let tail = all[all.len().saturating_sub(lines)..].join("\n");
            tails.push_str(&format!("--- {id}\n{tail}\n"));
        }
        tails
    }

    pub fn clickhouse_client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(self.clickhouse.url())
            .with_database("throng")
            .with_validation(false)
    }

    /// Distinct session ids recorded for a campaign.
    pub async fn distinct_sessions(&self, campaign_id: &str) -> u64 {
        self.clickhouse_client()
            .query("SELECT uniqExact(session_id) FROM sessions WHERE campaign_id = ?")
            .bind(campaign_id)
            .fetch_one::<u64>()
            .await
            .unwrap_or(0)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

/// A campaign spec against `target`.
pub fn spec(name: &str, target: SocketAddr, sessions: u64, rate: f64, shards: u32) -> String {
    format!(
        "name: {name}\nseed: 11\ntarget: {{ url: \"http://{target}\" }}\npages: [\"/\", \"/a\", \"/b\"]\n\
         session:\n  pages: {{ min: 1, max: 3 }}\n  think_time: {{ min: 20ms, max: 80ms }}\n\
         load: {{ rate: {rate}, sessions: {sessions}, shards: {shards} }}\n"
    )
}

/// Creates and starts a campaign; returns its id.
pub async fn start_campaign(client: &mut ControlServiceClient<Channel>, document: String) -> String {
    client
        .create_campaign(v1::CampaignSpecRequest {
            document,
            start: true,
        })
        .await
        .expect("create campaign")
        .into_inner()
        .id
}

pub async fn campaign(client: &mut ControlServiceClient<Channel>, id: &str) -> Option<v1::Campaign> {
    client
        .get_campaign(v1::CampaignRef { id: id.to_string() })
        .await
        .ok()
        .map(|r| r.into_inner())
}

/// Waits until the campaign has completed, for at most `timeout`.
pub async fn wait_completed(client: &ControlServiceClient<Channel>, id: &str, timeout: Duration) {
    poll_until(timeout, "the campaign to complete", || {
        let mut client = client.clone();
        async move {
            let c = campaign(&mut client, id).await?;
            (c.state == v1::CampaignState::Completed as i32).then_some(())
        }
    })
    .await;
}

/// Every session id the campaign's plan calls for.
pub fn expected_session_ids(document: &str) -> std::collections::BTreeSet<u64> {
    use throng_engine::campaign::plan::CampaignPlan;
    use throng_engine::spec::{CampaignSpec, ValidationContext};
    // The coordinator decided where traffic may go; here only the plan matters.
    let anywhere = ValidationContext {
        allowlist: throng_engine::spec::Allowlist::any(),
    };
    let spec = CampaignSpec::parse(document, &anywhere).expect("valid spec");
    let plan = CampaignPlan::of(&spec);
    (0..plan.shards)
        .flat_map(|i| {
            let shard = plan.shard(i);
            let name = spec.name.clone();
            let seed = spec.seed;
            (0..shard.sessions()).map(move |k| throng_engine::ids::session_id(seed, &name, i, k))
        })
        .collect()
}

/// Session ids recorded for a campaign.
pub async fn recorded_session_ids(sandbox: &Sandbox, campaign_id: &str) -> std::collections::BTreeSet<u64> {
    sandbox
        .clickhouse_client()
        .query("SELECT DISTINCT session_id FROM sessions WHERE campaign_id = ?")
        .bind(campaign_id)
        .fetch_all::<u64>()
        .await
        .expect("query session ids")
        .into_iter()
        .collect()
}

/// An HTTP answer's status code and JSON body.
pub fn json_answer(answer: Option<String>) -> (u16, serde_json::Value) {
    let answer = answer.expect("the HTTP API answers");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    (status, body)
}

/// One HTTP/1.0 request with `body`; the status and the whole answer.
pub fn http_request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the HTTP API");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    // Read as bytes: an image's body is not text, and only the head matters then.
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("answer");
    let answer = String::from_utf8_lossy(&bytes).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}
