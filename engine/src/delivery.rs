//! Delivering a stream run's events to its `sinks:` (Kafka, webhooks,
//! PostgreSQL, files) from the agent that generates them.
//!
//! The engine knows only the [`EventDelivery`] trait; `throng-delivery`
//! implements it (its clients are heavy to build) and `throng agent` hands
//! it to the shards. A stream shard hands each batch of events to the
//! telemetry sink and to its run's deliveries, and flushes both before it
//! checkpoints: a checkpoint never claims an event a sink has not taken
//! (delivered, or safe in the sink's spill directory). Events carry the
//! ids ClickHouse holds, so work done again after a failover repeats ids
//! a sink can drop (Kafka's idempotent producer, `ON CONFLICT DO NOTHING`,
//! hour files rewritten whole).

use std::sync::Arc;

use serde::Serialize;

use crate::streams::StreamRunSpec;
use crate::telemetry::{StreamRecord, TelemetryError};

/// The id as sinks and subscribers show it: 16 hex digits.
pub fn event_id_text(id: u64) -> String {
    format!("{id:016x}")
}

/// An event as sinks write it, one JSON object on one line:
/// `{"id","run","stream","at","at_ms","parent","entities","data"}`, the ids
/// as subscribers see them (16 hex digits).
pub fn event_json(record: &StreamRecord) -> String {
    let at = jiff::Timestamp::from_millisecond(record.at_ms)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut json = String::with_capacity(160 + record.entities.len() + record.data.len());
    json.push_str("{\"id\":\"");
    json.push_str(&event_id_text(record.event_id));
    json.push_str("\",\"run\":");
    json.push_str(&serde_json::Value::from(record.run_id.as_str()).to_string());
    json.push_str(",\"stream\":");
    json.push_str(&serde_json::Value::from(record.stream.as_str()).to_string());
    json.push_str(",\"at\":\"");
    json.push_str(&at);
    json.push_str("\",\"at_ms\":");
    json.push_str(&record.at_ms.to_string());
    json.push_str(",\"parent\":");
    if record.parent_id == 0 {
        json.push_str("null");
    } else {
        json.push('"');
        json.push_str(&event_id_text(record.parent_id));
        json.push('"');
    }
    json.push_str(",\"entities\":");
    json.push_str(&record.entities);
    json.push_str(",\"data\":");
    json.push_str(&record.data);
    json.push('}');
    json
}

/// How one sink of one run is doing on this agent: shown by `cluster
/// status`, `/metrics` and the console.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SinkHealth {
    pub run_id: String,
    pub sink: String,
    /// `kafka`, `webhook`, `postgres` or `files`.
    pub kind: String,
    /// Events waiting between the shards and the sink.
    pub queued: u64,
    pub written: u64,
    pub spilled: u64,
    pub replayed: u64,
    /// Events of batches the sink refused, quarantined on disk.
    pub rejected: u64,
    /// The problem the sink has now (empty when it writes fine).
    pub error: String,
}

/// Where a run's events go besides the telemetry store.
#[async_trait::async_trait]
pub trait EventDelivery: Send + Sync + std::fmt::Debug + 'static {
    /// Queues `events` (of run `run_id`) for each of the run's sinks that
    /// takes their stream; waits (backpressure) when a sink's queue is full.
    async fn deliver(
        &self,
        run_id: &str,
        run: &Arc<StreamRunSpec>,
        events: &[StreamRecord],
    ) -> Result<(), TelemetryError>;
    /// Returns once every event queued for the run before the call is
    /// delivered or spilled. `finished_shard`: that shard has generated its
    /// last event (a files sink closes its open hour).
    async fn flush(&self, run_id: &str, finished_shard: Option<u32>) -> Result<(), TelemetryError>;
    /// How each sink of each run is doing on this agent.
    fn health(&self) -> Vec<SinkHealth>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_json_object_with_the_ids_subscribers_see() {
        let record = StreamRecord {
            run_id: "run-\"1\"".into(),
            shard: 3,
            epoch: 1,
            event_id: 0xab,
            stream: "order.placed".into(),
            at_ms: 1_770_000_000_123,
            parent_id: 0x1f,
            entities: r#"{"customer":7}"#.into(),
            data: r#"{"total":12.5}"#.into(),
            key: "customer:7".into(),
        };
        let value: serde_json::Value = serde_json::from_str(&event_json(&record)).expect("JSON");
        assert_eq!(
            value,
            serde_json::json!({
                "id": "00000000000000ab", "run": "run-\"1\"", "stream": "order.placed",
                "at": "2026-02-02T02:40:00.123Z", "at_ms": 1_770_000_000_123i64,
                "parent": "000000000000001f", "entities": { "customer": 7 }, "data": { "total": 12.5 }
            })
        );
        let root = event_json(&StreamRecord {
            parent_id: 0,
            ..record
        });
        assert!(root.contains("\"parent\":null"), "{root}");
    }
}
