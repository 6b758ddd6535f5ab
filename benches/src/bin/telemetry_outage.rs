//! The ClickHouse writer while ClickHouse is down, and after it is back.
//!
//! `telemetry_outage spill SESSIONS`: starts ClickHouse, kills it, offers
//! SESSIONS sessions (5 requests each) as fast as the writer takes them, so
//! every batch spills to disk; restarts ClickHouse and waits until every
//! spilled row is replayed. Prints spill and replay rows/s.
//!
//! `telemetry_outage memory SECONDS RATE`: the same outage held for SECONDS
//! while RATE sessions/s arrive (a campaign that keeps running), sampling
//! the process's resident memory every 30 s: a writer that spills holds
//! nothing in memory that grows with the outage.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use throng_engine::campaign::session::{RequestOutcome, SessionOutcome};
use throng_engine::campaign::traffic::visit::VisitSummary;
use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink, SessionRecord, TelemetrySink};
use throng_testkit::{ClickHouseServer, clickhouse_migrations};

const REQUESTS_PER_SESSION: u32 = 5;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn session(i: u64) -> SessionRecord {
    let at = 1_770_000_000_000 + i * 50;
    SessionRecord {
        campaign_id: "outage".to_string(),
        agent_id: "agent-1".to_string(),
        epoch: 1,
        outcome: SessionOutcome {
            session_id: i,
            shard: (i % 8) as u32,
            seq: i / 8,
            persona: "shopper".to_string(),
            journey: "buyer".to_string(),
            target: 0,
            intended_ms: at,
            started_ms: at,
            ended_ms: at + 4_000,
            visit: Default::default(),
            requests: (0..REQUESTS_PER_SESSION)
                .map(|index| RequestOutcome {
                    index,
                    name: "buyer.product".to_string(),
                    action: "product_view".to_string(),
                    path: format!("/products/sku-{}", i % 40),
                    status: 200,
                    latency_us: 1_000 + i % 9_000,
                    intended_ms: at + u64::from(index) * 800,
                    error: String::new(),
                    bytes: 4_096,
                    excerpt: String::new(),
                })
                .collect(),
            steps: Vec::new(),
            summary: VisitSummary {
                page_views: REQUESTS_PER_SESSION,
                actions: REQUESTS_PER_SESSION,
                conversions: 0,
                revenue_cents: 0,
            },
            failed: false,
            error: String::new(),
            aborted: false,
            browser: None,
        },
    }
}

async fn start(spill: &std::path::Path) -> (ClickHouseServer, ClickHouseSink) {
    let server = ClickHouseServer::start();
    let mut config = ClickHouseConfig::new(&server.url());
    config.spill_dir = Some(spill.to_path_buf());
    let sink = ClickHouseSink::start(config, &clickhouse_migrations())
        .await
        .expect("sink");
    (server, sink)
}

/// Restarts ClickHouse and waits until the writer has replayed every spilled
/// row; the seconds it took.
async fn recover(server: &mut ClickHouseServer, sink: &ClickHouseSink) -> f64 {
    server.restart();
    let started = Instant::now();
    let metrics = sink.metrics();
    while metrics.rows_replayed.load(Ordering::Relaxed) < metrics.rows_spilled.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed().as_secs_f64()
}

async fn spill(sessions: u64) {
    let dir = tempfile::tempdir().expect("spill dir");
    let (mut server, sink) = start(dir.path()).await;
    server.kill();
    let started = Instant::now();
    for i in 0..sessions {
        sink.record(session(i)).await.expect("record");
    }
    sink.flush().await.expect("flush");
    let spill_seconds = started.elapsed().as_secs_f64();
    let rows = sink.metrics().rows_spilled.load(Ordering::Relaxed);
    let bytes = dir_bytes(dir.path());
    let replay_seconds = recover(&mut server, &sink).await;
    println!(
        "{{\"mode\":\"spill\",\"sessions\":{sessions},\"rows\":{rows},\"spill_bytes\":{bytes},\
         \"spill_rows_per_second\":{:.0},\"replay_rows_per_second\":{:.0}}}",
        rows as f64 / spill_seconds,
        rows as f64 / replay_seconds
    );
}

async fn memory(seconds: u64, rate: u64) {
    let dir = tempfile::tempdir().expect("spill dir");
    let (mut server, sink) = start(dir.path()).await;
    let sink = Arc::new(sink);
    server.kill();
    let rss_start = rss_bytes();
    let started = Instant::now();
    let mut next_sample = Duration::from_secs(30);
    let mut rss_max = rss_start;
    let mut offered = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while offered < due {
            sink.record(session(offered)).await.expect("record");
            offered += 1;
        }
        if started.elapsed() >= next_sample {
            let rss = rss_bytes();
            rss_max = rss_max.max(rss);
            eprintln!(
                "{:>4} s  sessions {offered:>8}  spilled rows {:>9}  spill {:>6.1} MiB  rss {:>6.1} MiB  queue {}",
                started.elapsed().as_secs(),
                sink.metrics().rows_spilled.load(Ordering::Relaxed),
                dir_bytes(dir.path()) as f64 / 1_048_576.0,
                rss as f64 / 1_048_576.0,
                sink.queue_depth(),
            );
            next_sample += Duration::from_secs(30);
        }
    }
    sink.flush().await.expect("flush");
    let rss_end = rss_bytes();
    let rows = sink.metrics().rows_spilled.load(Ordering::Relaxed);
    let replay_seconds = recover(&mut server, &sink).await;
    println!(
        "{{\"mode\":\"memory\",\"outage_seconds\":{seconds},\"sessions_per_second\":{rate},\"rows_spilled\":{rows},\
         \"rss_start_mib\":{:.1},\"rss_max_mib\":{:.1},\"rss_end_mib\":{:.1},\"replay_seconds\":{replay_seconds:.1}}}",
        rss_start as f64 / 1_048_576.0,
        rss_max.max(rss_end) as f64 / 1_048_576.0,
        rss_end as f64 / 1_048_576.0,
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize, default: u64| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    match args.get(1).map(String::as_str) {
        Some("spill") => spill(number(2, 200_000)).await,
        Some("memory") => memory(number(2, 600), number(3, 200)).await,
        _ => eprintln!("usage: telemetry_outage spill SESSIONS | memory SECONDS RATE"),
    }
}
