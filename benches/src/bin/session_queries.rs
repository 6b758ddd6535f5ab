//! How fast one session is found and opened on a large campaign: a real
//! etcd, a real ClickHouse and a coordinator in this process (gRPC on
//! loopback), a traffic campaign whose SESSIONS sessions (5 requests each,
//! one in ten failed, five personas, two agents, spread over a day) are
//! written through the ClickHouse writer the agents use, then QUERIES calls
//! of each kind through `ControlService`:
//!
//! - `ListSessions` unfiltered, by persona, failed only, and a page deep in
//!   the list (the cursor of page 1,000 of the unfiltered list);
//! - `GetSession` of sessions drawn across the campaign.
//!
//! `session_queries [SESSIONS] [QUERIES]`; prints p50/p99/max in ms as JSON
//! lines, one per kind.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_benches::synthetic::{REQUESTS_PER_SESSION, session};
use throng_coordinator::{Coordinator, CoordinatorConfig};
use throng_engine::analytics::ClickHouseAnalytics;
use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink, TelemetrySink};
use throng_proto::v1;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_state::{EtcdStore, StateStore};
use throng_testkit::{ClickHouseServer, EtcdServer, clickhouse_migrations};

const DAY_START_MS: u64 = 1_780_000_000_000;
const DAY_MS: u64 = 86_400_000;

const SPEC: &str = "name: session-queries
target: { url: \"http://127.0.0.1:9\" }
pages: [\"/\"]
load: { rate: 1, duration: 1m }
";

struct Timings {
    name: &'static str,
    ms: Vec<f64>,
}

impl Timings {
    fn print(mut self, sessions: u64, rows: usize) {
        self.ms.sort_by(f64::total_cmp);
        let at = |q: f64| self.ms[((self.ms.len() - 1) as f64 * q).round() as usize];
        println!(
            "{{\"query\":\"{}\",\"sessions\":{sessions},\"calls\":{},\"rows_per_call\":{rows},\
             \"p50_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1}}}",
            self.name,
            self.ms.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}

async fn time_list(
    control: &mut ControlServiceClient<tonic::transport::Channel>,
    name: &'static str,
    request: v1::ListSessionsRequest,
    calls: usize,
    sessions: u64,
) {
    let mut timings = Timings { name, ms: Vec::new() };
    let mut rows = 0;
    for _ in 0..calls {
        let started = Instant::now();
        let page = control
            .list_sessions(request.clone())
            .await
            .expect("list")
            .into_inner();
        timings.ms.push(started.elapsed().as_secs_f64() * 1e3);
        rows = page.sessions.len();
        assert!(rows > 0, "{name}: an empty page");
    }
    timings.print(sessions, rows);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sessions: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let calls: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);

    let etcd = EtcdServer::start();
    let clickhouse = ClickHouseServer::start();
    let store: Arc<dyn StateStore> = Arc::new(EtcdStore::connect(&[etcd.endpoint()]).await.expect("etcd"));
    let telemetry = ClickHouseConfig::new(&clickhouse.url());
    let sink = ClickHouseSink::start(telemetry.clone(), &clickhouse_migrations())
        .await
        .expect("ClickHouse writer");
    let mut config = CoordinatorConfig::new("coordinator-1", SocketAddr::from(([127, 0, 0, 1], 0)));
    config.analytics = Some(Arc::new(ClickHouseAnalytics::new(telemetry)));
    let coordinator = Coordinator::start(config, store).await.expect("coordinator");
    while !coordinator.is_leader() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut control = ControlServiceClient::connect(coordinator.grpc_address().to_string())
        .await
        .expect("control client");
    let campaign_id = control
        .create_campaign(v1::CampaignSpecRequest {
            document: SPEC.to_string(),
            start: false,
        })
        .await
        .expect("create campaign")
        .into_inner()
        .id;

    let started = Instant::now();
    for i in 0..sessions {
        sink.record(session(&campaign_id, i, sessions, DAY_START_MS, DAY_MS))
            .await
            .expect("record");
        if i > 0 && i % 200_000 == 0 {
            eprintln!("{i} sessions written in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    sink.flush().await.expect("flush");
    eprintln!(
        "{sessions} sessions and {} requests written in {:.0} s",
        sessions * u64::from(REQUESTS_PER_SESSION),
        started.elapsed().as_secs_f64()
    );

    let list = |f: &dyn Fn(&mut v1::ListSessionsRequest)| {
        let mut request = v1::ListSessionsRequest {
            campaign_id: campaign_id.clone(),
            ..Default::default()
        };
        f(&mut request);
        request
    };
    // Warm ClickHouse's caches the way a user's first look does.
    control.list_sessions(list(&|_| {})).await.expect("first list");

    time_list(&mut control, "list", list(&|_| {}), calls, sessions).await;
    time_list(
        &mut control,
        "list persona=reader",
        list(&|r| r.persona = "reader".into()),
        calls,
        sessions,
    )
    .await;
    time_list(
        &mut control,
        "list outcome=failed",
        list(&|r| r.outcome = "failed".into()),
        calls,
        sessions,
    )
    .await;

    // Walk to page 1,000 of 50 once, then time that deep page.
    let mut deep = list(&|_| {});
    for _ in 0..1_000 {
        let page = control
            .list_sessions(deep.clone())
            .await
            .expect("walk")
            .into_inner();
        deep.cursor = page.next_cursor;
    }
    time_list(&mut control, "list page 1000", deep, calls, sessions).await;

    let mut timings = Timings {
        name: "get session",
        ms: Vec::new(),
    };
    let mut steps = 0;
    for call in 0..calls as u64 {
        let i = call * 7_777_777 % sessions;
        let id = session(&campaign_id, i, sessions, DAY_START_MS, DAY_MS)
            .outcome
            .session_id;
        let started = Instant::now();
        let detail = control
            .get_session(v1::GetSessionRequest {
                campaign_id: campaign_id.clone(),
                session_id: id,
            })
            .await
            .expect("get session")
            .into_inner();
        timings.ms.push(started.elapsed().as_secs_f64() * 1e3);
        steps = detail.steps.len();
        assert_eq!(
            steps, REQUESTS_PER_SESSION as usize,
            "session {id} opened with {steps} steps"
        );
    }
    timings.print(sessions, steps);
    drop(coordinator);
}
