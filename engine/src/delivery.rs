//! Delivering a stream run's events to its `sinks:` (Kafka, webhooks,
//! PostgreSQL, files) from the agent that generates them.
//!
//! The engine knows only the [`EventDelivery`] trait; `throng-delivery`
//! implements it (its clients are heavy to build) and `throng agent` hands
//! it to the shards. A stream shard hands each batch of events to the
//! telemetry sink and to its run's deliveries, and flushes both before it
//! checkpoints: a checkpoint never claims an event a sink does not hold
//! (one waiting in an agent's spill directory would be lost with that
//! agent; generated again from the checkpoint, it is not). Events carry the
//! ids ClickHouse holds, so work done again after a failover repeats ids
//! a sink can drop (Kafka's idempotent producer, `ON CONFLICT DO NOTHING`,
//! hour files rewritten whole).

use std::sync::Arc;

use serde::Serialize;

use crate::records::Assignment;
use crate::streams::sinks::SinkSpec;
use crate::telemetry::{StreamRecord, TelemetryError};

/// The id as sinks and subscribers show it: 16 hex digits.
pub fn event_id_text(id: u64) -> String {
    format!("{id:016x}")
}

/// An event as sinks write it, one JSON object on one line:
/// `{"id","run","stream","at","at_ms","parent","entities","data"}`, the ids
/// as subscribers see them (16 hex digits).
pub fn event_json(record: &StreamRecord) -> String {
    let mut json = String::with_capacity(160 + record.entities.len() + record.data.len());
    write_event_json(&mut json, record);
    json
}

/// [`event_json`], appended to `out`: sinks reuse one buffer, so an event
/// costs no allocation of its own.
pub fn write_event_json(out: &mut String, record: &StreamRecord) {
    use std::fmt::Write;
    let _ = write!(out, "{{\"id\":\"{:016x}\",\"run\":", record.event_id);
    json_string(out, &record.run_id);
    out.push_str(",\"stream\":");
    json_string(out, &record.stream);
    out.push_str(",\"at\":\"");
    if let Ok(at) = jiff::Timestamp::from_millisecond(record.at_ms) {
        let _ = write!(out, "{at}");
    }
    let _ = write!(out, "\",\"at_ms\":{},\"parent\":", record.at_ms);
    if record.parent_id == 0 {
        out.push_str("null");
    } else {
        let _ = write!(out, "\"{:016x}\"", record.parent_id);
    }
    out.push_str(",\"entities\":");
    out.push_str(&record.entities);
    out.push_str(",\"data\":");
    out.push_str(&record.data);
    out.push('}');
}

/// `text` as a JSON string: as it is when nothing in it needs escaping
/// (names and ids never do), escaped by serde_json otherwise.
fn json_string(out: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::from(text).to_string());
    }
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

/// What a run's deliveries open: its sinks, and the streams they choose
/// from, by index (a stream run's catalog, or a campaign's `sessions` and
/// `requests`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SinkPlan {
    pub sinks: Vec<SinkSpec>,
    pub streams: Vec<String>,
}

/// Where a run's events go besides the telemetry store.
#[async_trait::async_trait]
pub trait EventDelivery: Send + Sync + std::fmt::Debug + 'static {
    /// Queues `events` (of run `run_id`) for each of the run's sinks that
    /// takes their stream; waits (backpressure) when a sink's queue is full.
    async fn deliver(
        &self,
        run_id: &str,
        plan: &Arc<SinkPlan>,
        events: &[StreamRecord],
    ) -> Result<(), TelemetryError>;
    /// Returns once every event queued for the run before the call is
    /// delivered; fails while a sink holds some back (down, its batches
    /// waiting in the agent's spill directory), so a checkpoint never
    /// passes an event only that agent's disk holds. `finished_shard`:
    /// that shard has generated its last event (a files sink closes its
    /// open hour).
    async fn flush(&self, run_id: &str, finished_shard: Option<u32>) -> Result<(), TelemetryError>;
    /// How each sink of each run is doing on this agent.
    fn health(&self) -> Vec<SinkHealth>;
}

/// A shard's handle on its run's deliveries: the agent's [`EventDelivery`]
/// and what the run's sinks are.
#[derive(Clone, Debug)]
pub struct RunDelivery {
    delivery: Arc<dyn EventDelivery>,
    plan: Arc<SinkPlan>,
}

impl RunDelivery {
    /// None when the run has no sinks; an error when it has some and the
    /// agent delivers to none.
    pub fn open(
        run: &str,
        plan: SinkPlan,
        delivery: Option<&Arc<dyn EventDelivery>>,
        agent_id: &str,
    ) -> Result<Option<RunDelivery>, String> {
        if plan.sinks.is_empty() {
            return Ok(None);
        }
        match delivery {
            Some(delivery) => Ok(Some(RunDelivery {
                delivery: delivery.clone(),
                plan: Arc::new(plan),
            })),
            None => Err(format!("{run} has sinks, and agent {agent_id} delivers to none")),
        }
    }

    pub async fn deliver(&self, run_id: &str, events: &[StreamRecord]) -> Result<(), TelemetryError> {
        self.delivery.deliver(run_id, &self.plan, events).await
    }

    /// Whether the shard of `assignment` may checkpoint: every sink holds
    /// what it was handed (`finished`: the shard's last event is out). The
    /// writers say why a sink is behind (warn, and in cluster status); this
    /// repeats every checkpoint while it is, so it only logs at debug.
    pub async fn ready_to_checkpoint(&self, assignment: &Assignment, finished: bool) -> bool {
        let finished = finished.then_some(assignment.shard_index);
        match self.delivery.flush(&assignment.campaign_id, finished).await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(shard = %assignment.shard_id(), %error, "sinks behind; checkpoint deferred");
                false
            }
        }
    }
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
