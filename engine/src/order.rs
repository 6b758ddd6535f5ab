//! The one order a shard runs by: which shard under which fencing epoch,
//! the workload, and what changed since it started (pause, rate changes, a
//! stream run's scenario timeline). The coordinator makes it, the agent API
//! carries it, the agent's actor tree runs it.

use crate::campaign::load::RateChange;
use crate::records::Assignment;
use crate::streams::scenario::ScenarioRun;
use crate::workload::Workload;

/// A shard the coordinator wants running on an agent.
#[derive(Clone, Debug)]
pub struct ShardOrder {
    pub assignment: Assignment,
    pub workload: Workload,
    pub paused: bool,
    /// When the campaign or run started (epoch ms): the schedule's origin.
    pub started_at_ms: u64,
    /// Rate changes made while the campaign runs.
    pub rate_changes: Vec<RateChange>,
    /// Stream runs: the scenario timeline.
    pub scenario_runs: Vec<ScenarioRun>,
}
