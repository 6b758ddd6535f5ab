//! The coordinator node: the public `ControlService`, leader election, the
//! agent registry, placement, the reconcile loop that assigns shards under
//! fencing epochs, and stats fan-in from agents.
//!
//! The coordinator is never in the per-request path: agents generate and
//! record traffic on their own and send one small stats report per second.

pub mod agents;
pub mod analytics;
pub mod answers;
pub mod app;
pub mod archive;
pub mod campaign;
pub mod campaign_update;
mod dashboard;
mod error;
pub mod external_events;
pub mod generation;
pub mod grpc;
mod http;
pub mod http_policy;
mod http_server;
pub mod json;
pub mod leader;
pub mod library;
pub mod metrics;
mod mirror;
mod node;
pub mod openapi;
pub mod placement;
mod problem;
pub mod reconcile;
pub mod report;
pub mod round;
pub mod routes;
pub mod scenarios;
pub mod sessions;
pub mod stats;
pub mod stream_history;
pub mod subscribe;
pub mod target_check;
pub mod view;
mod warm;
pub mod wire;
pub mod writes;

pub use error::{CoordinatorError, Result};
pub use node::{Coordinator, CoordinatorConfig};
