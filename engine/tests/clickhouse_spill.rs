//! The ClickHouse writer against a real server that goes away: batches spill
//! to disk and come back in order, a corrupt spill file is set aside without
//! losing the others, a batch ClickHouse refuses is quarantined, and a full
//! spill disk is a loud error and backpressure that loses nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use throng_engine::telemetry::spill::SpillDir;
use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink, StreamRecord, TelemetrySink};
use throng_testkit::{ClickHouseServer, clickhouse_migrations, poll_until};

fn events(run: &str, from: u64, count: u64) -> Vec<StreamRecord> {
    (from..from + count)
        .map(|i| StreamRecord {
            run_id: run.to_string(),
            shard: 0,
            epoch: 1,
            event_id: i,
            stream: "a.b".to_string(),
            at_ms: 1_770_000_000_000 + i as i64,
            parent_id: 0,
            entities: "{}".to_string(),
            data: "{}".to_string(),
            key: String::new(),
        })
        .collect()
}

async fn stored(server: &ClickHouseServer, run: &str) -> Vec<u64> {
    clickhouse::Client::default()
        .with_url(server.url())
        .with_database("throng")
        .with_validation(false)
        .query("SELECT DISTINCT event_id FROM stream_events WHERE run_id = ? ORDER BY event_id")
        .bind(run)
        .fetch_all()
        .await
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_loses_nothing_and_a_corrupt_spill_file_loses_only_itself() {
    let mut server = ClickHouseServer::start();
    let spill_dir = tempfile::tempdir().expect("spill dir");
    let mut config = ClickHouseConfig::new(&server.url());
    config.spill_dir = Some(spill_dir.path().to_path_buf());
    config.batch_period = Duration::from_millis(100);
    let sink = ClickHouseSink::start(config, &clickhouse_migrations())
        .await
        .expect("sink");

    sink.record_stream_events(events("r", 0, 100))
        .await
        .expect("record");
    sink.flush().await.expect("flush while up");
    assert_eq!(stored(&server, "r").await.len(), 100);

    // ClickHouse goes away: flushes still succeed, the rows wait on disk.
    server.kill();
    for batch in 1..=3 {
        sink.record_stream_events(events("r", batch * 100, 100))
            .await
            .expect("record");
        sink.flush().await.expect("flush spills");
    }
    let spill = SpillDir::open(spill_dir.path()).expect("spill");
    let files = spill.pending().expect("pending");
    assert_eq!(files.len(), 3, "one file per batch");
    assert_eq!(sink.metrics().rows_spilled.load(Ordering::Relaxed), 300);
    // One of them is damaged on disk.
    let mut bytes = std::fs::read(&files[1]).expect("read");
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    std::fs::write(&files[1], bytes).expect("corrupt it");

    // Back: the good batches are replayed in order, the corrupt one is set aside.
    server.restart();
    poll_until(
        Duration::from_secs(30),
        "the spill directory to drain",
        || async { spill.pending().ok().filter(|p| p.is_empty()).map(|_| ()) },
    )
    .await;
    let ids = stored(&server, "r").await;
    let expected: Vec<u64> = (0..100).chain(100..200).chain(300..400).collect();
    assert_eq!(ids, expected, "everything but the corrupt batch");
    assert_eq!(sink.metrics().corrupt_files.load(Ordering::Relaxed), 1);
    assert_eq!(sink.metrics().rows_replayed.load(Ordering::Relaxed), 200);
    assert!(
        spill_dir
            .path()
            .join("corrupt")
            .read_dir()
            .expect("corrupt dir")
            .next()
            .is_some()
    );

    // A batch ClickHouse refuses (the table lost a column) is quarantined
    // with the table named, and later batches still flow.
    let db = clickhouse::Client::default()
        .with_url(server.url())
        .with_database("throng");
    db.query("ALTER TABLE stream_events DROP COLUMN data")
        .execute()
        .await
        .expect("drift");
    sink.record_stream_events(events("r", 500, 10))
        .await
        .expect("record");
    sink.flush().await.expect("flush quarantines");
    let quarantined = spill.quarantined();
    assert_eq!(quarantined.len(), 1);
    let reason = std::fs::read_to_string(quarantined[0].with_extension("reason")).expect("reason");
    assert!(reason.contains("stream_events"), "{reason}");
    assert_eq!(sink.metrics().rows_rejected.load(Ordering::Relaxed), 10);
    assert_eq!(sink.queue_depth(), 0);
}

/// A small tmpfs mounted for one test (the tests run as root, as CI does),
/// unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> SmallDisk {
        let dir = tempfile::tempdir().expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {bytes}-byte tmpfs failed: this test fills a real disk and needs root, as CI has"
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spill_disk_is_a_loud_error_and_backpressure_and_loses_nothing() {
    let mut server = ClickHouseServer::start();
    let disk = SmallDisk::mount(256 * 1024);
    let mut config = ClickHouseConfig::new(&server.url());
    config.spill_dir = Some(disk.dir.path().to_path_buf());
    config.batch_period = Duration::from_millis(50);
    config.batch_events = 500;
    config.queue_capacity = 8;
    let sink = ClickHouseSink::start(config, &clickhouse_migrations())
        .await
        .expect("sink");
    server.kill();

    // Rows keep coming while ClickHouse is down; once the disk is full the
    // writer holds its batch and stops taking more: a record call waits.
    let mut offered = 0;
    loop {
        let batch = events("full", offered, 500);
        match tokio::time::timeout(Duration::from_secs(3), sink.record_stream_events(batch)).await {
            Ok(result) => {
                result.expect("record");
                offered += 500;
                assert!(
                    offered < 100_000,
                    "no backpressure after {offered} events on a 256 KiB disk"
                );
            }
            Err(_) => break,
        }
    }
    let health = sink.health();
    assert!(
        health.error.contains("refuses the batch")
            && health.error.contains("No space left")
            && health.error.contains("backpressure"),
        "{health:?}"
    );
    assert!(health.rows_spilled > 0, "{health:?}");

    // ClickHouse is back: spilled batches replay (freeing the disk), the held
    // batch goes through, the waiting call returns, and every row is stored once.
    server.restart();
    sink.record_stream_events(events("full", offered, 500))
        .await
        .expect("record after recovery");
    offered += 500;
    sink.flush().await.expect("flush after recovery");
    let ids = stored(&server, "full").await;
    assert_eq!(ids, (0..offered).collect::<Vec<u64>>());
    let health = sink.health();
    assert_eq!(health.error, "", "{health:?}");
    assert_eq!(health.rows_replayed, health.rows_spilled, "{health:?}");
}
