//! Throng's simulation engine: the campaign model and its validation,
//! planning, deterministic ids, sessions over the HTTP engine, mergeable
//! stats, telemetry sinks, business event streams, and the ractor actors that
//! run it all on an agent.
//!
//! Logic lives in plain structs (tested without a runtime); the actors in
//! [`actors`] are thin shells that schedule it.

pub mod actors;
pub mod analytics;
pub mod behaviour;
pub mod campaign;
pub mod clock;
pub mod delivery;
pub mod failure_log;
pub mod generator;
pub mod http;
pub mod ids;
pub mod lease;
pub mod order;
pub mod records;
pub mod spec;
pub mod stats;
pub mod streams;
pub mod telemetry;
pub mod workload;
pub mod zone;
