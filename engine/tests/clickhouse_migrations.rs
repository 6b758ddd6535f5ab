//! Migrations against a real ClickHouse: each applied once, in order, and
//! recorded in `schema_migrations`, however often nodes start.

use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink};
use throng_testkit::ClickHouseServer;

/// A client of the database the sinks write to.
fn throng_database(server: &ClickHouseServer) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(server.url())
        .with_database("throng")
        .with_validation(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_migration_runs_once_and_is_recorded() {
    let server = ClickHouseServer::start();
    let config = ClickHouseConfig::new(&server.url());
    // Not idempotent on purpose: a second run would add a second row.
    let first = "CREATE TABLE IF NOT EXISTS probe (n UInt8) ENGINE = MergeTree() ORDER BY n; INSERT INTO probe VALUES (1)";
    let second = "INSERT INTO probe VALUES (2)";
    ClickHouseSink::start(config.clone(), &[first])
        .await
        .expect("first start");
    ClickHouseSink::start(config.clone(), &[first])
        .await
        .expect("second start");
    ClickHouseSink::start(config.clone(), &[first, second])
        .await
        .expect("a new migration");
    let db = throng_database(&server);
    let rows: Vec<u8> = db
        .query("SELECT n FROM probe ORDER BY n")
        .fetch_all()
        .await
        .expect("probe");
    assert_eq!(rows, vec![1, 2], "each migration ran exactly once");
    let versions: Vec<u32> = db
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .expect("versions");
    assert_eq!(versions, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_all_start_and_apply_each_migration() {
    let server = ClickHouseServer::start();
    let config = ClickHouseConfig::new(&server.url());
    let migrations = throng_testkit::clickhouse_migrations();
    let starts = (0..8).map(|_| {
        let config = config.clone();
        let migrations = migrations.clone();
        tokio::spawn(async move { ClickHouseSink::start(config, &migrations).await.map(|_| ()) })
    });
    for (node, started) in futures::future::join_all(starts).await.into_iter().enumerate() {
        started
            .expect("task")
            .unwrap_or_else(|e| panic!("node {node} did not start: {e}"));
    }
    let db = throng_database(&server);
    let versions: Vec<u32> = db
        .query("SELECT DISTINCT version FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .expect("versions");
    assert_eq!(versions, (1..=migrations.len() as u32).collect::<Vec<_>>());
    let added: u64 = db
        .query("SELECT count() FROM system.columns WHERE database = 'throng' AND table = 'sessions' AND name = 'page_views'")
        .fetch_one()
        .await
        .expect("columns");
    assert_eq!(added, 1, "the analytics migration's columns are there");
}

fn session(id: u64, intended_ms: u64) -> throng_engine::telemetry::SessionRecord {
    use throng_engine::campaign::session::{RequestOutcome, SessionOutcome};
    throng_engine::telemetry::SessionRecord {
        campaign_id: "kept".to_string(),
        agent_id: "agent-1".to_string(),
        epoch: 1,
        outcome: SessionOutcome {
            session_id: id,
            shard: 0,
            seq: id,
            persona: "p".to_string(),
            journey: "j".to_string(),
            target: 0,
            intended_ms,
            started_ms: intended_ms,
            ended_ms: intended_ms + 10,
            visit: Default::default(),
            requests: vec![RequestOutcome {
                index: 0,
                name: "j.home".to_string(),
                action: "page_view".to_string(),
                path: "/".to_string(),
                status: 200,
                latency_us: 900,
                intended_ms,
                error: String::new(),
                bytes: 512,
                excerpt: String::new(),
            }],
            steps: Vec::new(),
            summary: Default::default(),
            failed: false,
            error: String::new(),
            aborted: false,
            browser: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_whole_months_past_the_period_and_keeps_the_rest() {
    use throng_engine::telemetry::TelemetrySink;
    use throng_engine::telemetry::retention::{EXPIRING_TABLES, drop_expired};

    let server = ClickHouseServer::start();
    let config = ClickHouseConfig::new(&server.url());
    let sink = ClickHouseSink::start(config.clone(), &throng_testkit::clickhouse_migrations())
        .await
        .expect("sink");
    const DAY: u64 = 86_400_000;
    // 2026-03-15: January is over 30 days past, February is not all past.
    let today = 20_527u64;
    for (id, day) in [(1, today - 70), (2, today - 35), (3, today - 2)] {
        sink.record(session(id, day * DAY)).await.expect("record");
    }
    sink.flush().await.expect("flush");

    let dropped = drop_expired(&config, EXPIRING_TABLES, 30, today as i64)
        .await
        .expect("retention");
    assert_eq!(dropped, ["sessions/202601", "requests/202601"]);
    let db = throng_database(&server);
    let kept: Vec<u64> = db
        .query("SELECT session_id FROM sessions ORDER BY session_id")
        .fetch_all()
        .await
        .expect("sessions");
    assert_eq!(kept, [2, 3]);
    let again = drop_expired(&config, EXPIRING_TABLES, 30, today as i64)
        .await
        .expect("retention again");
    assert!(again.is_empty(), "{again:?}");
}
