//! Business event streams: a catalog of interconnected streams (built in: 50
//! streams of a tutoring marketplace), their rhythms, and deterministic
//! generation sharded by root stream.
//!
//! - [`catalog`]: the catalog document, read and validated as a whole.
//! - [`history`]: counts per block, baseline statistics, the 0-100 score and its flag.
//! - [`pattern`]: stream patterns (`*`, `customer.*`, `high-frequency`, a name, `anomalies`).
//! - [`rhythm`]: rates by hour, weekday, season, holiday and growth.
//! - [`external`]: external events: the library, the events of a run's history, correlation.
//! - [`generate`]: events of one shard, a pure function of catalog, seed and time.
//! - [`run`]: a stream run: catalog, volume and simulated clock, submitted like a campaign.
//! - [`scenario`]: scenarios as data, their runs, and how they bend generation.
//! - [`shard`]: one shard's progress on the simulated clock.
//! - [`sinks`]: where a run's events are delivered (Kafka, webhooks, PostgreSQL, files).
//! - [`subscription`]: a consumer's ordered, resumable view of a run by pattern.

pub mod catalog;
pub mod definition;
pub mod external;
pub mod generate;
pub mod history;
pub mod movement;
pub mod pattern;
pub mod rhythm;
pub mod run;
pub mod scenario;
pub mod shard;
pub mod sinks;
pub mod subscription;

pub use catalog::Catalog;
pub use generate::{ShardGenerator, StreamEvent, generate_all};
pub use run::{Cadence, SimClock, StreamRunSpec};
