//! How long `throng stream history` takes on the path a user runs: a real
//! etcd and a coordinator in this process, a stream run of the built-in
//! catalog at scale 1 (as `throng up`'s demo runs it), and `StreamHistory`
//! over gRPC for the default window (the 30 days before the run's start,
//! 12-hour blocks, every stream).
//!
//! Timed: the first call right after the run starts (it waits for the
//! run's baseline month, which the leader starts making at once); a run's
//! first call once its baseline is made; the same after a scenario is
//! applied (a new timeline: a new answer); a day after the start with that
//! scenario (regenerated from the scenario's start); and, beside them, the
//! month of generation itself and the window generated twice (baseline and
//! bent) as every call did before the baseline was kept.
//!
//! `stream_history [CALLS]`; prints JSON lines.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_coordinator::stream_history::RunBaseline;
use throng_coordinator::{Coordinator, CoordinatorConfig};
use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::history::History;
use throng_proto::v1;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_state::{EtcdStore, StateStore};
use throng_testkit::EtcdServer;
use tonic::transport::Channel;

const RUN: &str = "kind: streams\ncatalog: builtin\n\
    clock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n";

fn line(name: &str, ms: &[f64]) {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    println!(
        "{{\"what\":\"{name}\",\"calls\":{},\"p50_ms\":{:.1},\"max_ms\":{:.1}}}",
        sorted.len(),
        at(0.5),
        at(1.0)
    );
}

async fn create(control: &mut ControlServiceClient<Channel>, name: &str) -> String {
    control
        .create_campaign(v1::CampaignSpecRequest {
            document: format!("name: {name}\n{RUN}"),
            start: true,
        })
        .await
        .expect("create the run")
        .into_inner()
        .id
}

/// One `StreamHistory` call; its time in milliseconds.
async fn history(control: &mut ControlServiceClient<Channel>, id: &str, from: &str, until: &str) -> f64 {
    let started = Instant::now();
    let answer = control
        .stream_history(v1::StreamHistoryRequest {
            id: id.to_string(),
            from: from.to_string(),
            until: until.to_string(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    assert_eq!(answer.series.len(), 50);
    started.elapsed().as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let etcd = EtcdServer::start();
    let store: Arc<dyn StateStore> = Arc::new(EtcdStore::connect(&[etcd.endpoint()]).await.expect("etcd"));
    let config = CoordinatorConfig::new("coordinator-1", SocketAddr::from(([127, 0, 0, 1], 0)));
    let coordinator = Coordinator::start(config, store).await.expect("coordinator");
    while !coordinator.is_leader() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut control = ControlServiceClient::connect(coordinator.grpc_address().to_string())
        .await
        .expect("control client");

    // The month itself and the old way, in this process.
    let value: serde_json::Value = serde_yaml::from_str(&format!("name: x\n{RUN}")).expect("yaml");
    let run = StreamRunSpec::from_value(&value).expect("spec");
    let started = Instant::now();
    let month = RunBaseline::generate(&run, 0);
    line(
        "baseline month made (once per run, in the background)",
        &[started.elapsed().as_secs_f64() * 1e3],
    );
    let from = month.month.from_ms;
    let started = Instant::now();
    History::generate(&run.catalog, run.scale, from, 60, 43_200_000, &[]);
    History::generate(&run.catalog, run.scale, from, 60, 43_200_000, &[]);
    line(
        "window generated twice (every call before)",
        &[started.elapsed().as_secs_f64() * 1e3],
    );

    let first = create(&mut control, "history-first").await;
    let ms = history(&mut control, &first, "", "").await;
    line("first call right after the run starts", &[ms]);

    let id = create(&mut control, "history").await;
    // Long enough for the leader to have made this run's month too.
    tokio::time::sleep(Duration::from_secs(3) + Duration::from_secs_f64(ms / 1e3)).await;
    let ms = history(&mut control, &id, "", "").await;
    line("first call once the run's baseline is made", &[ms]);
    let mut again = Vec::new();
    for _ in 0..calls {
        again.push(history(&mut control, &id, "", "").await);
    }
    line("calls after it", &again);

    control
        .apply_scenario(v1::ApplyScenarioRequest {
            id: id.clone(),
            scenario: "exam-season-surge".into(),
            ..Default::default()
        })
        .await
        .expect("apply");
    let ms = history(&mut control, &id, "", "").await;
    line("first call after a scenario is applied", &[ms]);
    let ms = history(&mut control, &id, "2026-02-02T00:00:00Z", "2026-02-03T00:00:00Z").await;
    line(
        "the run's first day with the scenario (regenerated from its start)",
        &[ms],
    );
    coordinator.shutdown().await;
}
