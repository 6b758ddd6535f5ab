//! Migrations against a real ClickHouse: each applied once, in order, and
//! recorded in `schema_migrations`, however often nodes start.

use throng_actors::telemetry::{ClickHouseConfig, ClickHouseSink};
use throng_testkit::ClickHouseServer;

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
    let db = clickhouse::Client::default()
        .with_url(server.url())
        .with_database("throng")
        .with_validation(false);
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
