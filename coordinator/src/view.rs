//! A consistent-enough snapshot of the cluster read from the state store:
//! live agents, campaigns, assignments and checkpoints.

use std::collections::BTreeMap;

use throng_engine::assignment::{AgentRecord, Assignment, Checkpoint};
use throng_engine::spec::{Allowlist, ValidationContext};
use throng_engine::workload::Workload;
use throng_state::{Keys, LeaseId, StateStore};

use crate::campaign::{Campaign, CampaignStatus};
use crate::error::Result;

/// A registered agent and the lease that keeps it registered. A new lease
/// means a new incarnation: it runs nothing until told again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveAgent {
    pub record: AgentRecord,
    pub lease: LeaseId,
}

#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    pub agents: Vec<LiveAgent>,
    pub campaigns: BTreeMap<String, Campaign>,
    /// By shard id.
    pub assignments: BTreeMap<String, Assignment>,
    /// By shard id.
    pub checkpoints: BTreeMap<String, Checkpoint>,
}

impl ClusterView {
    pub async fn load(store: &dyn StateStore, keys: &Keys) -> Result<Self> {
        let agents = store
            .list(&keys.agents_prefix())
            .await?
            .into_iter()
            .filter_map(|kv| {
                AgentRecord::from_bytes(&kv.value).map(|record| LiveAgent {
                    record,
                    lease: kv.lease,
                })
            })
            .collect();
        let campaigns = load_campaigns(store, keys).await?;
        let assignments = store
            .list(&keys.assignments_prefix())
            .await?
            .into_iter()
            .filter_map(|kv| Assignment::from_bytes(&kv.value))
            .map(|a| (a.shard_id(), a))
            .collect();
        let checkpoints = store
            .list(&keys.checkpoints_prefix())
            .await?
            .into_iter()
            .filter_map(|kv| {
                let shard_id = kv.key.strip_prefix(&keys.checkpoints_prefix())?.to_string();
                Checkpoint::from_bytes(&kv.value).map(|c| (shard_id, c))
            })
            .collect();
        Ok(ClusterView {
            agents,
            campaigns,
            assignments,
            checkpoints,
        })
    }

    pub fn agent(&self, agent_id: &str) -> Option<&LiveAgent> {
        self.agents.iter().find(|a| a.record.agent_id == agent_id)
    }

    /// Shards of `campaign_id` whose checkpoints say done.
    pub fn shards_done(&self, campaign_id: &str, shards: u32) -> u32 {
        (0..shards)
            .filter(|i| {
                let id = throng_state::keys::shard_id(campaign_id, *i);
                self.checkpoints.get(&id).is_some_and(|c| c.done)
            })
            .count() as u32
    }

    /// Sessions claimed by checkpoints (finished and stored) of a campaign.
    pub fn sessions_checkpointed(&self, campaign_id: &str, shards: u32) -> u64 {
        (0..shards)
            .filter_map(|i| {
                self.checkpoints
                    .get(&throng_state::keys::shard_id(campaign_id, i))
            })
            .map(|c| c.next_seq)
            .sum()
    }
}

/// Reads every campaign (spec and status) from the store.
pub async fn load_campaigns(store: &dyn StateStore, keys: &Keys) -> Result<BTreeMap<String, Campaign>> {
    let mut specs: BTreeMap<String, String> = BTreeMap::new();
    let mut statuses: BTreeMap<String, CampaignStatus> = BTreeMap::new();
    for kv in store.list(&keys.campaigns_prefix()).await? {
        let Some(id) = keys.parse_campaign(&kv.key).map(str::to_string) else {
            continue;
        };
        if kv.key.ends_with("/spec") {
            specs.insert(id, String::from_utf8_lossy(&kv.value).into_owned());
        } else if kv.key.ends_with("/status")
            && let Some(status) = CampaignStatus::from_bytes(&kv.value)
        {
            statuses.insert(id, status);
        }
    }
    // Stored specs were validated on the way in; the allowlist was applied then.
    let context = ValidationContext {
        allowlist: Allowlist::any(),
    };
    let mut campaigns = BTreeMap::new();
    for (id, spec_json) in specs {
        let (Some(status), Ok(workload)) = (statuses.remove(&id), Workload::parse(&spec_json, &context))
        else {
            tracing::warn!(campaign = %id, "skipping unreadable campaign record");
            continue;
        };
        campaigns.insert(
            id.clone(),
            Campaign {
                id,
                workload,
                spec_json,
                status,
            },
        );
    }
    Ok(campaigns)
}
