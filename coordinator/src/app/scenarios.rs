//! A stream run's scenarios: what its catalog defines, what has run, and
//! changes to its timeline at a simulated instant (`crate::scenarios` holds
//! the timeline's rules).

use std::sync::Arc;

use throng_engine::clock::epoch_ms;
use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::scenario::ScenarioRun;

use super::{App, stream_run};
use crate::error::{CoordinatorError, Result};
use crate::scenarios;

/// A change to a stream run's scenarios.
pub enum ScenarioChange {
    /// Starts a scenario; with `compose`, beside those already active.
    Apply { scenario: String, compose: bool },
    /// Ends the active scenarios.
    Stop,
    /// Ends every effect: scenarios and the events they brought.
    Reset,
}

/// A run's scenario timeline as it stands.
#[derive(Clone)]
pub struct ScenarioState {
    pub run_id: String,
    pub run: Arc<StreamRunSpec>,
    pub timeline: Vec<ScenarioRun>,
    /// The run's simulated now (`None`: a backfill has no live clock).
    pub sim_now_ms: Option<i64>,
    /// What a change did that one may not expect (a scenario replaced).
    pub warnings: Vec<String>,
}

pub struct Scenarios<'a> {
    pub(crate) app: &'a App,
}

impl Scenarios<'_> {
    pub async fn list(&self, id: &str) -> Result<ScenarioState> {
        let campaign = self.app.load(id).await?;
        let run = stream_run(&campaign)?;
        Ok(ScenarioState {
            run_id: id.to_string(),
            sim_now_ms: scenarios::sim_now_ms(&run, &campaign.status, epoch_ms()),
            timeline: campaign.status.scenario_runs,
            run,
            warnings: Vec::new(),
        })
    }

    /// Changes a running run's timeline at the simulated instant `at`
    /// (RFC 3339), or just ahead of the run's clock when empty.
    pub async fn change(&self, id: &str, at: &str, change: ScenarioChange) -> Result<ScenarioState> {
        let app = self.app;
        app.require_leader().await?;
        let mut campaign = app.load(id).await?;
        let run = stream_run(&campaign)?;
        if !campaign.status.state.is_active() {
            return Err(CoordinatorError::Conflict(
                format!(
                    "stream run {id} is {:?}; scenarios apply to running runs",
                    campaign.status.state
                )
                .to_lowercase(),
            ));
        }
        let now = epoch_ms();
        let at_ms = match super::instant("at", at)? {
            Some(at_ms) => at_ms,
            None => scenarios::effective_ms(&run, &campaign.status, now).ok_or_else(|| {
                CoordinatorError::Conflict(
                    "a backfill has no clock to follow: give the simulated instant (at)".into(),
                )
            })?,
        };
        let old = campaign.status.clone();
        let timeline = &mut campaign.status.scenario_runs;
        let warnings = match change {
            ScenarioChange::Apply { scenario, compose } => {
                scenarios::apply(&run, timeline, &scenario, at_ms, compose)
                    .map_err(CoordinatorError::Conflict)?
            }
            ScenarioChange::Stop => {
                if scenarios::stop(&run, timeline, at_ms) == 0 {
                    return Err(CoordinatorError::Conflict("no scenario is active".into()));
                }
                Vec::new()
            }
            ScenarioChange::Reset => {
                scenarios::reset(&run, timeline, at_ms);
                Vec::new()
            }
        };
        app.replace_status(id, &old, &campaign.status).await?;
        for warning in &warnings {
            tracing::warn!(run = %id, "{warning}");
        }
        tracing::info!(run = %id, at_ms, "scenario timeline changed");
        app.nudge.notify_one();
        Ok(ScenarioState {
            run_id: id.to_string(),
            sim_now_ms: scenarios::sim_now_ms(&run, &campaign.status, now),
            timeline: campaign.status.scenario_runs,
            run,
            warnings,
        })
    }
}
