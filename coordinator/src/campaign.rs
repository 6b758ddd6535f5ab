//! Campaigns as the coordinator keeps them: the workload (a traffic campaign
//! or a stream run, which are stored and placed alike) and a small status
//! record with an explicit state machine.

use serde::{Deserialize, Serialize};
use throng_engine::campaign::load::RateChange;
use throng_engine::campaign::plan::CampaignPlan;
use throng_engine::records::Record;
use throng_engine::spec::CampaignSpec;
use throng_engine::streams::scenario::ScenarioRun;
use throng_engine::workload::Workload;

/// Where a campaign is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Created,
    Running,
    Paused,
    Stopped,
    Completed,
}

/// What a client asks of a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    Stop,
}

impl CampaignState {
    pub fn is_terminal(self) -> bool {
        matches!(self, CampaignState::Stopped | CampaignState::Completed)
    }

    /// Whether shards of a campaign in this state should be placed on agents.
    pub fn is_active(self) -> bool {
        matches!(self, CampaignState::Running | CampaignState::Paused)
    }

    /// The state after `action`, or why it is not allowed.
    pub fn after(self, action: Action) -> Result<CampaignState, String> {
        use CampaignState::*;
        match (self, action) {
            (Created, Action::Start) => Ok(Running),
            (Running, Action::Pause) => Ok(Paused),
            (Paused, Action::Resume) => Ok(Running),
            (Created | Running | Paused, Action::Stop) => Ok(Stopped),
            (state, action) => Err(format!("cannot {action:?} a campaign that is {state:?}").to_lowercase()),
        }
    }
}

/// The status record stored at `/campaigns/<id>/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignStatus {
    pub state: CampaignState,
    pub created_at_ms: u64,
    #[serde(default)]
    pub started_at_ms: Option<u64>,
    #[serde(default)]
    pub ended_at_ms: Option<u64>,
    /// Why the campaign stopped, when it did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Rate changes made while it runs, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_changes: Vec<RateChange>,
    /// Time spent paused so far (ms), and since when it is paused now.
    #[serde(default)]
    pub paused_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at_ms: Option<u64>,
    /// Stream runs: scenarios applied, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenario_runs: Vec<ScenarioRun>,
    /// The trace of the call that started it (W3C `traceparent`), which
    /// placing its shards continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Accepted updates of the spec since it was created (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub edits: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl CampaignStatus {
    /// A campaign just created at `at_ms`, not started.
    pub fn created(at_ms: u64) -> Self {
        CampaignStatus {
            state: CampaignState::Created,
            created_at_ms: at_ms,
            started_at_ms: None,
            ended_at_ms: None,
            stop_reason: None,
            rate_changes: Vec::new(),
            paused_ms: 0,
            paused_at_ms: None,
            scenario_runs: Vec::new(),
            trace: None,
            edits: 0,
        }
    }

    /// Where its schedule starts (epoch ms): its start, or its creation
    /// while it has not started.
    pub fn origin_ms(&self) -> u64 {
        self.started_at_ms.unwrap_or(self.created_at_ms)
    }

    /// Plan time at `now_ms`: seconds since the start, not counting pauses
    /// (shards shift their schedule by each pause).
    pub fn plan_seconds(&self, now_ms: u64) -> f64 {
        let started = self.started_at_ms.unwrap_or(self.created_at_ms);
        let paused_now = self.paused_at_ms.map_or(0, |at| now_ms.saturating_sub(at));
        now_ms
            .saturating_sub(started)
            .saturating_sub(self.paused_ms + paused_now) as f64
            / 1000.0
    }
}

impl Record for CampaignStatus {}

/// A stored campaign or stream run.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub id: String,
    /// Parsed once per stored revision and shared by every view of it.
    pub workload: std::sync::Arc<Workload>,
    /// The canonical spec document, exactly as stored.
    pub spec_json: std::sync::Arc<str>,
    pub status: CampaignStatus,
}

impl Campaign {
    /// The traffic spec, unless this is a stream run.
    pub fn spec(&self) -> Option<&CampaignSpec> {
        self.workload.campaign().map(|spec| &**spec)
    }

    /// The traffic plan with its rate changes, unless this is a stream run.
    pub fn plan(&self) -> Option<CampaignPlan> {
        self.spec()
            .map(|spec| CampaignPlan::with_changes(spec, &self.status.rate_changes))
    }

    pub fn shard_count(&self) -> u32 {
        self.workload.shard_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_only_sensible_moves() {
        use CampaignState::*;
        assert_eq!(Created.after(Action::Start), Ok(Running));
        assert_eq!(Running.after(Action::Pause), Ok(Paused));
        assert_eq!(Paused.after(Action::Resume), Ok(Running));
        assert_eq!(Paused.after(Action::Stop), Ok(Stopped));
        assert!(Running.after(Action::Start).is_err());
        assert!(Completed.after(Action::Stop).is_err());
        assert!(Stopped.after(Action::Resume).is_err());
        assert_eq!(
            Completed.after(Action::Pause).unwrap_err(),
            "cannot pause a campaign that is completed"
        );
    }

    #[test]
    fn plan_time_leaves_out_pauses() {
        let status = CampaignStatus {
            state: CampaignState::Paused,
            started_at_ms: Some(10_000),
            paused_ms: 3_000,
            paused_at_ms: Some(40_000),
            ..CampaignStatus::created(0)
        };
        // 50 s after start, 3 s of an earlier pause and 20 s of the current one.
        assert_eq!(status.plan_seconds(60_000), 27.0);
    }
}
