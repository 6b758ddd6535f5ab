//! Whether the console stays responsive on a large cluster: a real etcd, a
//! real ClickHouse and a coordinator in this process, 50 campaigns, one of
//! them with SESSIONS sessions (5 requests each, one in ten failed, five
//! personas, two agents, spread over the quarter hour before) and the others with SMALL each,
//! all written through the ClickHouse writer the agents use. Then CALLS of
//! each HTTP call the console's views make, over the coordinator's HTTP
//! API as a browser makes them (a connection each, JSON answers read to the
//! end): the campaign list, the cluster, a campaign's page (analytics by
//! persona with its series, by request name, errors, the first sessions
//! page, a filtered page, a session), a comparison of four, the logs and a
//! report file.
//!
//! `console_api [SESSIONS] [CALLS] [SMALL] [running]`; prints, as JSON
//! lines, each call's first answer (the coordinator reads the store then)
//! and the p50/p99/max of the calls after it, then the same of every call
//! together. With `running`, the campaigns are started before their rows
//! are written (no agent runs them), as a page meets a campaign that runs:
//! the coordinator reads them ahead, and the page asks for the buckets it
//! would (`resolution_ms=auto`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_benches::synthetic::session;
use throng_coordinator::{Coordinator, CoordinatorConfig};
use throng_engine::analytics::ClickHouseAnalytics;
use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink, TelemetrySink};
use throng_proto::v1;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_state::{EtcdStore, StateStore};
use throng_testkit::{ClickHouseServer, EtcdServer, clickhouse_migrations};

/// How long before the bench starts the sessions were meant to start: a
/// large campaign's quarter of an hour (about 1,100 sessions a second for
/// a million).
const WINDOW_MS: u64 = 15 * 60 * 1000;

/// Each campaign's spec after its `name: console-N` line.
const SPEC: &str = "
target: { url: \"http://127.0.0.1:9\" }
pages: [\"/\"]
load: { rate: 1, duration: 1h }
";

/// One GET as a browser's fetch makes it; the status and the body's length.
fn get(http: &str, path: &str) -> (u16, usize) {
    let mut stream = TcpStream::connect(http).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.find("\r\n\r\n").map_or(0, |at| answer.len() - at - 4);
    (status, body)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Times `calls` GETs of `path` after a first one (timed apart: the first
/// view of data the coordinator has not read yet); prints its line,
/// answers the first's timing and those of the calls after it.
fn time(http: &str, name: &str, path: &str, calls: usize) -> (f64, Vec<f64>) {
    let started = Instant::now();
    let (status, _) = get(http, path);
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(status, 200, "{name}: {path}");
    let mut ms = Vec::with_capacity(calls);
    let mut bytes = 0;
    for _ in 0..calls {
        let started = Instant::now();
        let (status, body) = get(http, path);
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(status, 200, "{name}: {path}");
        bytes = body;
    }
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{{\"call\":\"{name}\",\"calls\":{calls},\"bytes\":{bytes},\"first_ms\":{first_ms:.1},\"p50_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1}}}",
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        percentile(&sorted, 1.0)
    );
    (first_ms, ms)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sessions: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let calls: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let small: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let running = args.get(4).is_some_and(|a| a == "running");

    let etcd = EtcdServer::start();
    let clickhouse = ClickHouseServer::start();
    let store: Arc<dyn StateStore> = Arc::new(EtcdStore::connect(&[etcd.endpoint()]).await.expect("etcd"));
    let telemetry = ClickHouseConfig::new(&clickhouse.url());
    let sink = ClickHouseSink::start(telemetry.clone(), &clickhouse_migrations())
        .await
        .expect("ClickHouse writer");
    let mut config = CoordinatorConfig::new("coordinator-1", SocketAddr::from(([127, 0, 0, 1], 0)));
    config.analytics = Some(Arc::new(ClickHouseAnalytics::new(telemetry)));
    config.http_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let coordinator = Coordinator::start(config, store).await.expect("coordinator");
    while !coordinator.is_leader() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let http = coordinator.http_address().expect("HTTP API");
    let http = http
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut control = ControlServiceClient::connect(coordinator.grpc_address().to_string())
        .await
        .expect("control client");
    let mut ids = Vec::new();
    for n in 0..50 {
        let id = control
            .create_campaign(v1::CampaignSpecRequest {
                document: format!("name: console-{n}{SPEC}"),
                start: running,
            })
            .await
            .expect("create campaign")
            .into_inner()
            .id;
        ids.push(id);
    }
    let big = ids[0].clone();

    let window_start = throng_engine::clock::epoch_ms() - WINDOW_MS;
    let started = Instant::now();
    for i in 0..sessions {
        sink.record(session(&big, i, sessions, window_start, WINDOW_MS))
            .await
            .expect("record");
        if i > 0 && i % 200_000 == 0 {
            eprintln!("{i} sessions written in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    for id in &ids[1..] {
        for i in 0..small {
            sink.record(session(id, i, small, window_start, WINDOW_MS))
                .await
                .expect("record");
        }
    }
    sink.flush().await.expect("flush");
    eprintln!(
        "{} sessions in 50 campaigns written in {:.0} s",
        sessions + 49 * small,
        started.elapsed().as_secs_f64()
    );

    // The bucket width the console asks for a campaign that has run as long
    // as the sessions' window (it asks for about 150 points over the run).
    let resolution = if running {
        "resolution_ms=auto".to_string()
    } else {
        format!(
            "resolution_ms={}",
            throng_coordinator::report::resolution_for(WINDOW_MS)
        )
    };
    let session_id = session(&big, sessions / 2, sessions, window_start, WINDOW_MS)
        .outcome
        .session_id;
    let four = ids[..4].join(",");
    let views: Vec<(&str, String)> = vec![
        ("campaign list", "/api/v1/campaigns".into()),
        ("cluster", "/api/v1/cluster".into()),
        (
            "campaign analytics by persona",
            format!("/api/v1/analytics?campaigns={big}&by=persona&{resolution}"),
        ),
        (
            "campaign requests by name",
            format!("/api/v1/analytics?campaigns={big}&by=request&{resolution}"),
        ),
        ("campaign errors", format!("/api/v1/campaigns/{big}/errors")),
        (
            "sessions, first page",
            format!("/api/v1/campaigns/{big}/sessions?limit=25"),
        ),
        (
            "sessions, failed",
            format!("/api/v1/campaigns/{big}/sessions?limit=25&outcome=failed"),
        ),
        (
            "one session",
            format!("/api/v1/campaigns/{big}/sessions/{session_id}"),
        ),
        (
            "compare four",
            format!("/api/v1/analytics?campaigns={four}&{resolution}"),
        ),
        ("logs", "/api/v1/logs?level=info&limit=200".into()),
        ("report", format!("/api/v1/report?campaigns={big}")),
    ];
    let http_for_calls = http.clone();
    let all = tokio::task::spawn_blocking(move || {
        let (mut firsts, mut all) = (Vec::new(), Vec::new());
        for (name, path) in &views {
            let (first, rest) = time(&http_for_calls, name, path, calls);
            firsts.push(first);
            all.extend(rest);
        }
        (firsts, all)
    })
    .await
    .expect("timing");
    let (firsts, all) = all;
    println!(
        "{{\"call\":\"every first answer\",\"calls\":{},\"max_ms\":{:.1}}}",
        firsts.len(),
        firsts.iter().copied().fold(0.0, f64::max)
    );
    let mut sorted = all;
    sorted.sort_by(f64::total_cmp);
    println!(
        "{{\"call\":\"every view call\",\"sessions\":{},\"campaigns\":50,\"calls\":{},\"p50_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1}}}",
        sessions + 49 * small,
        sorted.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        percentile(&sorted, 1.0)
    );
    drop(coordinator);
}
