//! The contract between the coordinator and its agents: [`AgentApi`], what
//! the coordinator may ask of an agent (assign and revoke shards with their
//! fencing epochs, change rates and scenarios, pause, read logs, stream
//! stats), its gRPC client, the stats-report types, and the
//! conversions between them and `throng.v1` that both ends use (`wire`).

mod client;
mod error;
pub mod wire;

pub use client::{AgentApi, AgentStatsReport, GrpcAgentClient, ShardStatsReport, StatsStream};
pub use error::{CallError, Result};
