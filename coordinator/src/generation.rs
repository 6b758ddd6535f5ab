//! How each stream run generates: its clock's mode and, for the emulated
//! (fast-cadence) mode, its batches. Shown where an operator looks: the
//! open health document, the cluster status, `/metrics` and the console.

use serde_json::{Value, json};
use throng_engine::workload::Workload;

use crate::view::ClusterView;

/// A stream run that has not finished, and how it generates.
#[derive(Clone, Debug, PartialEq)]
pub struct RunGeneration {
    pub id: String,
    pub name: String,
    /// `realtime`, `accelerated`, `backfill` or `emulated`.
    pub mode: &'static str,
    /// `created`, `running` or `paused`.
    pub state: String,
    pub scale: f64,
    pub cadence: Option<throng_engine::streams::Cadence>,
}

/// The stream runs of `view` that have not finished, by id.
pub fn of_view(view: &ClusterView) -> Vec<RunGeneration> {
    view.campaigns
        .values()
        .filter(|c| !c.status.state.is_terminal())
        .filter_map(|c| match &*c.workload {
            Workload::Streams(run) => Some(RunGeneration {
                id: c.id.clone(),
                name: run.name.clone(),
                mode: run.clock.mode(),
                state: format!("{:?}", c.status.state).to_lowercase(),
                scale: run.scale,
                cadence: run.clock.cadence(),
            }),
            Workload::Campaign(_) => None,
        })
        .collect()
}

/// What the open health document says of generation: how many runs are
/// running in each mode, and the cadence of each emulated one. It names no
/// run (anyone can read it).
pub fn health(runs: &[RunGeneration]) -> Value {
    let mut running = serde_json::Map::new();
    let mut emulated = Vec::new();
    for run in runs.iter().filter(|r| r.state == "running") {
        let count = running.entry(run.mode).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
        if let Some(cadence) = run.cadence {
            emulated.push(json!({
                "interval_seconds": cadence.interval_ms / 1000,
                "batch": {"min": cadence.batch_min, "max": cadence.batch_max},
            }));
        }
    }
    let mode = match running.len() {
        0 => "idle",
        1 => running.keys().next().map_or("idle", |m| m.as_str()),
        _ => "mixed",
    };
    json!({"mode": mode, "running": running, "emulated": emulated})
}
