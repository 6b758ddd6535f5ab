//! How long a scenario change takes to reach every stream shard on every
//! agent: a coordinator and AGENTS agents in this process (real gRPC on
//! loopback, in-memory state), a stream run of the 50 built-in streams, then
//! CHANGES scenario applications, each timed from the `ApplyScenario` reply
//! until every agent's every shard reports the new timeline.
//! `scenario_latency [AGENTS] [CHANGES]`; prints p50/p99/max in ms as JSON.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_agent::{Agent, AgentConfig};
use throng_coordinator::{Coordinator, CoordinatorConfig};
use throng_engine::telemetry::MemorySink;
use throng_proto::v1;
use throng_proto::v1::agent_service_client::AgentServiceClient;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_state::{MemoryStore, StateStore};

/// Timeline entries every shard of every agent holds (minimum over shards).
/// The agents are asked at once, so a round of asking costs the slowest
/// answer rather than the sum of them (the asking is the measurement's own
/// error: a change is seen at most one round after it arrived).
async fn entries_everywhere(
    agents: &[AgentServiceClient<tonic::transport::Channel>],
    shards: usize,
) -> usize {
    let answers = futures::future::join_all(agents.iter().map(|agent| {
        let mut agent = agent.clone();
        async move { agent.describe(v1::DescribeRequest {}).await }
    }))
    .await;
    let mut least = usize::MAX;
    let mut seen = 0;
    for answer in answers {
        let Ok(answer) = answer else {
            return 0;
        };
        for shard in answer.into_inner().shards {
            seen += 1;
            let runs: Vec<serde_json::Value> =
                serde_json::from_str(&shard.scenario_runs_json).unwrap_or_default();
            least = least.min(runs.len());
        }
    }
    if seen < shards { 0 } else { least }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let agent_count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let changes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let sink = Arc::new(MemorySink::default());
    let coordinator = Coordinator::start(
        CoordinatorConfig::new("coordinator-1", SocketAddr::from(([127, 0, 0, 1], 0))),
        store.clone(),
    )
    .await
    .expect("coordinator");
    let mut agents = Vec::new();
    for i in 1..=agent_count {
        let config = AgentConfig::new(&format!("agent-{i}"), SocketAddr::from(([127, 0, 0, 1], 0)));
        agents.push(
            Agent::start(config, store.clone(), sink.clone())
                .await
                .expect("agent"),
        );
    }
    while !coordinator.is_leader() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = |address: &str| {
        if address.starts_with("http") {
            address.to_string()
        } else {
            format!("http://{address}")
        }
    };
    let mut control = ControlServiceClient::connect(url(coordinator.grpc_address()))
        .await
        .expect("control client");
    let run = control
        .create_campaign(v1::CampaignSpecRequest {
            document: "kind: streams\nname: latency\nscale: 0.01\nclock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n".into(),
            start: true,
        })
        .await
        .expect("stream run")
        .into_inner();
    let shards = throng_engine::streams::Catalog::builtin().roots().len();
    let mut clients = Vec::new();
    for agent in &agents {
        clients.push(
            AgentServiceClient::connect(url(agent.address()))
                .await
                .expect("agent client"),
        );
    }
    // Every shard placed before measuring.
    loop {
        let mut placed = 0;
        for client in clients.iter_mut() {
            placed += client
                .describe(v1::DescribeRequest {})
                .await
                .map(|a| a.into_inner().shards.len())
                .unwrap_or(0);
        }
        if placed >= shards {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut latencies = Vec::new();
    for change in 1..=changes {
        let applied = Instant::now();
        control
            .apply_scenario(v1::ApplyScenarioRequest {
                id: run.id.clone(),
                scenario: "normal-operations".into(),
                at: String::new(),
                compose: true,
            })
            .await
            .expect("apply");
        let deadline = applied + Duration::from_secs(10);
        while entries_everywhere(&clients, shards).await < change {
            assert!(
                Instant::now() < deadline,
                "change {change} did not reach every shard in 10 s"
            );
        }
        latencies.push(applied.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "{{\"agents\":{agent_count},\"shards\":{shards},\"changes\":{changes},\"p50_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1}}}",
        at(0.5),
        at(0.99),
        latencies[latencies.len() - 1]
    );
    for agent in agents {
        agent.shutdown().await;
    }
    coordinator.shutdown().await;
}
