//! The agent node: registers itself with a lease, serves `AgentService` over
//! gRPC, and runs the shards the coordinator assigns in its actor tree.
//!
//! An agent that cannot renew its lease stops its shards (self-fencing), so a
//! partitioned or frozen agent never generates load beside its replacement.

mod error;
mod membership;
mod node;
mod service;

pub use error::{AgentError, Result};
pub use node::{Agent, AgentConfig, AgentMetrics};
