//! Telemetry: what sessions and stream runs leave behind, and the sinks that
//! keep it.
//!
//! A shard hands every finished session (or batch of stream events) to a
//! [`TelemetrySink`] and, before it checkpoints, calls
//! [`TelemetrySink::flush`]: a checkpoint never claims a row that is not
//! stored yet. Rows carry deterministic ids, so work done again after a
//! failover replaces its earlier rows instead of adding to them.

pub(crate) mod clickhouse;
pub mod data_files;
mod memory;
pub mod retention;
pub(crate) mod rows;
pub mod spill;

use crate::campaign::session::SessionOutcome;

pub use self::clickhouse::{ClickHouseConfig, ClickHouseSink};
pub use self::memory::{CampaignTotals, MemorySink, RECENT_LIMIT};

/// A generated stream event, ready to store.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamRecord {
    pub run_id: String,
    pub shard: u32,
    pub epoch: u64,
    pub event_id: u64,
    pub stream: String,
    pub at_ms: i64,
    /// 0 when the event follows none.
    pub parent_id: u64,
    /// JSON object of entity kind to id.
    pub entities: String,
    /// JSON object of field to value.
    pub data: String,
    /// The event's main entity (`student:42`: its stream's first entity
    /// kind), empty when it has none.
    pub key: String,
}

/// A finished session with where it ran.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub campaign_id: String,
    pub agent_id: String,
    pub epoch: u64,
    pub outcome: SessionOutcome,
}

/// Errors of telemetry sinks.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry store at {endpoint} is unavailable: {reason}")]
    Unavailable { endpoint: String, reason: String },
    #[error("telemetry store rejected a batch for table {table}: {reason}")]
    Rejected { table: String, reason: String },
    #[error("telemetry writer has stopped")]
    Closed,
}

/// How a node's telemetry writer is doing: shown per agent by `cluster
/// status`, so an outage or a full spill disk is visible where users look.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TelemetryHealth {
    /// `clickhouse` or `memory`.
    pub store: String,
    /// Records waiting between shards and the writer.
    pub queue_depth: u64,
    pub rows_written: u64,
    pub rows_spilled: u64,
    pub rows_replayed: u64,
    /// Rows of batches the store refused, quarantined on disk.
    pub rows_rejected: u64,
    /// Spill files that failed their checksum and were set aside.
    pub corrupt_files: u64,
    /// The problem the writer has now (empty when it writes fine).
    pub error: String,
}

/// Where finished sessions go.
#[async_trait::async_trait]
pub trait TelemetrySink: Send + Sync + 'static {
    /// Queues a session's rows; waits (backpressure) when the queue is full.
    async fn record(&self, record: SessionRecord) -> Result<(), TelemetryError>;
    /// Queues a batch of stream events; waits (backpressure) when the queue is full.
    async fn record_stream_events(&self, events: Vec<StreamRecord>) -> Result<(), TelemetryError>;
    /// Returns once everything recorded before the call is stored.
    async fn flush(&self) -> Result<(), TelemetryError>;
    /// How the writer is doing now.
    fn health(&self) -> TelemetryHealth;
}

/// Today's day number since 1970-01-01 (ClickHouse `Date`) for epoch millis.
pub fn epoch_day(epoch_ms: u64) -> u16 {
    (epoch_ms / 86_400_000).min(u64::from(u16::MAX)) as u16
}
