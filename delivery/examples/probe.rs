use throng_delivery::writer::Destination;
use throng_engine::telemetry::StreamRecord;

#[tokio::main]
async fn main() {
    let bootstrap = std::env::args().nth(1).expect("bootstrap");
    let mut d = throng_delivery::kafka::KafkaDestination::new(
        &[bootstrap],
        &std::env::args().nth(2).expect("topic"),
        &[],
    )
    .expect("producer");
    let records: Vec<StreamRecord> = (1..=20_000u64)
        .map(|i| StreamRecord {
            run_id: "r".into(),
            shard: 0,
            epoch: 1,
            event_id: i,
            stream: "s".into(),
            at_ms: 1,
            parent_id: 0,
            entities: "{}".into(),
            data: "{}".into(),
            key: format!("k:{i}"),
        })
        .collect();
    let started = std::time::Instant::now();
    for chunk in records.chunks(2000) {
        d.send(chunk).await.expect("sent");
    }
    println!("sent in {:?}", started.elapsed());
}
