//! The standard producer the Kafka sink is measured against: librdkafka
//! producing the same messages from a file, as `kcat -P` does (Debian's
//! kcat bundles librdkafka 2.0.2, which cannot read this broker's
//! ApiVersions answer), with the sink's own producer settings.
//!
//! Reads JSON lines (events as sinks write them) from the files given,
//! keeps them in memory, then produces each to TOPIC keyed by its stream
//! and id, with `stream` and `id` headers, and waits for every delivery.
//! Prints the messages, the seconds and this process's CPU seconds while
//! producing.
//!
//!     kafka_producer BOOTSTRAP TOPIC FILE...

use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use throng_delivery::kafka::{create_topics, producer_config};

/// This process's user and system CPU seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map_or(0.0, |f| f.iter().filter_map(|t| t.parse::<f64>().ok()).sum());
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, topic, files @ ..] = args.as_slice() else {
        eprintln!("usage: kafka_producer BOOTSTRAP TOPIC FILE...");
        std::process::exit(2);
    };
    let mut lines = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        lines.extend(text.lines().map(str::to_string));
    }
    let events: Vec<(String, String, String)> = lines
        .into_iter()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(&line).ok()?;
            let id = value.get("id")?.as_str()?.to_string();
            let stream = value.get("stream")?.as_str()?.to_string();
            Some((id, stream, line))
        })
        .collect();
    // The topic as the sink makes its own (the same partitions).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(create_topics(bootstrap, std::slice::from_ref(topic)))
        .expect("the topic");
    let producer: BaseProducer = producer_config(bootstrap).create().expect("a producer");
    let (started, cpu) = (Instant::now(), cpu_seconds());
    for (id, stream, line) in &events {
        let key = format!("{stream}:{id}");
        let mut record = BaseRecord::to(topic).key(&key).payload(line).headers(
            OwnedHeaders::new()
                .insert(Header {
                    key: "stream",
                    value: Some(stream.as_str()),
                })
                .insert(Header {
                    key: "id",
                    value: Some(id.as_str()),
                }),
        );
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(300))
        .expect("every message delivered");
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    println!(
        "{{\"messages\": {}, \"seconds\": {seconds:.3}, \"cpu_seconds\": {cpu:.3}}}",
        events.len()
    );
}
