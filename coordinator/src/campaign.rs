//! Campaigns as the coordinator keeps them: the spec and a small status
//! record with an explicit state machine.

use serde::{Deserialize, Serialize};
use throng_actors::plan::CampaignPlan;
use throng_actors::spec::CampaignSpec;

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl CampaignStatus {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// A stored campaign.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub id: String,
    pub spec: CampaignSpec,
    /// The canonical spec document, exactly as stored and sent to agents.
    pub spec_json: String,
    pub status: CampaignStatus,
}

impl Campaign {
    pub fn plan(&self) -> CampaignPlan {
        CampaignPlan::of(&self.spec)
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
}
