//! Stream generation speed on one core.
//!
//! `stream_blast memory HOURS`: generates HOURS of simulated time of the 50
//! built-in streams at full volume, every shard on this thread, and prints
//! events/s and events per CPU-second.
//!
//! `stream_blast clickhouse HOURS`: starts a ClickHouse server, then in one
//! sitting (a) generates the same events and writes them through Throng's
//! ClickHouse sink, step by step as a stream shard does (its writer inserting
//! earlier batches meanwhile), and (b) has `clickhouse-client` insert the
//! same rows from a RowBinary file; prints both rates, their ratio, and the
//! time Throng spent generating.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use throng_engine::streams::shard::StreamShardRunner;
use throng_engine::streams::{Catalog, ShardGenerator, StreamRunSpec};
use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink, StreamRecord, TelemetrySink};

/// 2026-02-02T00:00Z.
const FROM: i64 = 1_769_990_400_000;
const HOUR: i64 = 3_600_000;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn run_spec(hours: i64) -> Arc<StreamRunSpec> {
    let until = jiff::Timestamp::from_millisecond(FROM + hours * HOUR).expect("instant");
    let document = format!(
        "kind: streams\nname: blast\nclock: {{ mode: backfill, from: \"2026-02-02T00:00:00Z\", until: \"{until}\" }}\n"
    );
    let value: serde_json::Value = serde_yaml::from_str(&document).expect("yaml");
    Arc::new(StreamRunSpec::from_value(&value).expect("valid run"))
}

/// Every event of every shard, as the sink's rows, generated on this thread.
fn generate_records(run: &Arc<StreamRunSpec>, mut each_batch: impl FnMut(Vec<StreamRecord>)) -> u64 {
    let mut total = 0;
    for shard in 0..run.shard_count() {
        let mut runner = StreamShardRunner::new(run.clone(), shard, 0, None).expect("shard");
        while !runner.is_done() {
            let events = runner.advance(0);
            total += events.len() as u64;
            each_batch(runner.records("blast", 1, &events));
        }
    }
    total
}

fn memory(hours: i64) {
    let catalog = Arc::new(Catalog::builtin());
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let mut events = 0u64;
    let mut out = Vec::new();
    for root in catalog.roots() {
        let mut shard = ShardGenerator::new(catalog.clone(), root, 1.0, FROM);
        shard.advance(FROM + hours * HOUR, &mut out);
        events += out.len() as u64;
        out.clear();
    }
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "{{\"mode\":\"memory\",\"hours\":{hours},\"events\":{events},\"seconds\":{wall:.2},\"events_per_second\":{:.0},\"cpu_seconds\":{cpu:.2},\"events_per_cpu_second\":{:.0}}}",
        events as f64 / wall,
        events as f64 / cpu.max(0.01)
    );
}

/// Appends a RowBinary string: its length as LEB128, then its bytes.
fn put_string(out: &mut Vec<u8>, text: &str) {
    let mut len = text.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(text.as_bytes());
}

/// One `stream_events` row in RowBinary, columns in table order.
fn put_row(out: &mut Vec<u8>, r: &StreamRecord) {
    out.extend_from_slice(&((r.at_ms.max(0) / 86_400_000) as u16).to_le_bytes());
    put_string(out, "client");
    put_string(out, &r.stream);
    out.extend_from_slice(&r.event_id.to_le_bytes());
    out.extend_from_slice(&r.at_ms.to_le_bytes());
    out.extend_from_slice(&r.parent_id.to_le_bytes());
    put_string(out, &r.entities);
    put_string(out, &r.data);
    out.extend_from_slice(&r.shard.to_le_bytes());
    out.extend_from_slice(&r.epoch.to_le_bytes());
}

async fn clickhouse(hours: i64) {
    let server = throng_testkit::ClickHouseServer::start();
    let migrations = throng_testkit::clickhouse_migrations();
    let sink = ClickHouseSink::start(ClickHouseConfig::new(&server.url()), &migrations)
        .await
        .expect("clickhouse sink");
    let run = run_spec(hours);

    // (a) Throng: each step's events handed to the sink as a stream shard
    // does, while its writer inserts the batches before them.
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let mut events = 0;
    let mut generating = std::time::Duration::ZERO;
    for shard in 0..run.shard_count() {
        let mut runner = StreamShardRunner::new(run.clone(), shard, 0, None).expect("shard");
        while !runner.is_done() {
            let step = Instant::now();
            let made = runner.advance(0);
            events += made.len() as u64;
            let records = runner.records("blast", 1, &made);
            generating += step.elapsed();
            sink.record_stream_events(records).await.expect("record");
        }
    }
    sink.flush().await.expect("flush");
    let (throng_wall, throng_cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let generated = generating.as_secs_f64();

    // (b) The same rows, already encoded as RowBinary in a file, through clickhouse-client.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    {
        let mut writer = std::io::BufWriter::new(file.as_file());
        let mut row = Vec::new();
        generate_records(&run, |batch| {
            for r in batch {
                row.clear();
                put_row(&mut row, &r);
                let _ = writer.write_all(&row);
            }
        });
    }
    let started = Instant::now();
    let status = Command::new("clickhouse-client")
        .args(["--port", &server.tcp_port().to_string(), "--database", "throng"])
        .args(["--query", "INSERT INTO stream_events FORMAT RowBinary"])
        .stdin(Stdio::from(std::fs::File::open(file.path()).expect("open rows")))
        .status()
        .expect("run clickhouse-client");
    let client_wall = started.elapsed().as_secs_f64();
    assert!(status.success(), "clickhouse-client failed");
    println!(
        "{{\"mode\":\"clickhouse\",\"hours\":{hours},\"events\":{events},\"throng_seconds\":{throng_wall:.2},\"throng_events_per_second\":{:.0},\"throng_cpu_seconds\":{throng_cpu:.2},\"throng_generate_seconds\":{generated:.2},\"clickhouse_client_seconds\":{client_wall:.2},\"clickhouse_client_events_per_second\":{:.0},\"throng_over_client\":{:.2}}}",
        events as f64 / throng_wall,
        events as f64 / client_wall,
        client_wall / throng_wall
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hours: i64 = args.get(2).and_then(|h| h.parse().ok()).unwrap_or(24);
    match args.get(1).map(String::as_str) {
        Some("memory") => memory(hours),
        Some("clickhouse") => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(clickhouse(hours));
        }
        _ => {
            eprintln!("usage: stream_blast memory|clickhouse [HOURS]");
            std::process::exit(2);
        }
    }
}
