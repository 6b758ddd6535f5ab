//! A million stream events through the ClickHouse writer come back exactly:
//! every id once, and the same sums over their times and payloads.

use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink, StreamRecord, TelemetrySink};
use throng_testkit::{ClickHouseServer, clickhouse_migrations};

const ROWS: u64 = 1_000_000;
const BATCH: u64 = 10_000;

fn event(i: u64) -> StreamRecord {
    StreamRecord {
        run_id: "volume".to_string(),
        shard: (i % 7) as u32,
        epoch: 1,
        event_id: i * 2 + 1,
        stream: format!("domain.stream-{}", i % 50),
        at_ms: 1_770_000_000_000 + (i * 13) as i64,
        parent_id: i / 3,
        entities: format!("{{\"student\":\"s{}\"}}", i % 1_000),
        data: format!("{{\"amount\":{}}}", i % 997),
        key: format!("customer:{}", i % 1000),
    }
}

#[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq)]
struct Totals {
    rows: u64,
    ids: u64,
    id_sum: u64,
    at_sum: i64,
    data_bytes: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_are_written_and_read_back_exactly() {
    let server = ClickHouseServer::start();
    let sink = ClickHouseSink::start(ClickHouseConfig::new(&server.url()), &clickhouse_migrations())
        .await
        .expect("sink");
    let mut expected = Totals {
        rows: ROWS,
        ids: ROWS,
        id_sum: 0,
        at_sum: 0,
        data_bytes: 0,
    };
    for start in (0..ROWS).step_by(BATCH as usize) {
        let batch: Vec<StreamRecord> = (start..start + BATCH).map(event).collect();
        for e in &batch {
            expected.id_sum += e.event_id;
            expected.at_sum += e.at_ms;
            expected.data_bytes += (e.data.len() + e.entities.len()) as u64;
        }
        sink.record_stream_events(batch).await.expect("record");
    }
    sink.flush().await.expect("flush");
    assert_eq!(
        sink.metrics()
            .rows_written
            .load(std::sync::atomic::Ordering::Relaxed),
        ROWS
    );

    let stored: Totals = clickhouse::Client::default()
        .with_url(server.url())
        .with_database("throng")
        .with_validation(false)
        .query(
            "SELECT count(), uniqExact(event_id), sum(event_id), sum(at_ms), \
             sum(length(data) + length(entities)) FROM stream_events WHERE run_id = 'volume'",
        )
        .fetch_one()
        .await
        .expect("read back");
    assert_eq!(stored, expected);
}
