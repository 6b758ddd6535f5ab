//! The records of cluster state: each kind of key with the type of value
//! it holds (the key strings themselves are `throng_state::keys`).
//!
//! | key under `/throng/<cluster>` | record | written by |
//! |---|---|---|
//! | `/agents/<agent>` | [`AgentRecord`] | the agent, under its lease |
//! | `/leader` | `LeaderRecord` (coordinator) | the leader, under its lease |
//! | `/campaigns/<id>/spec` | a [`Workload`](crate::workload::Workload)'s canonical JSON | the leader, on create and update |
//! | `/campaigns/<id>/status` | `CampaignStatus` (coordinator) | the leader |
//! | `/assignments/<agent>/<shard>` | [`Assignment`] | the leader |
//! | `/checkpoints/<shard>` | [`Checkpoint`] | the shard's owner, fenced by its assignment |
//! | `/library/<kind>/<name>/<version>` | a library item's document | the leader |
//!
//! Every record is JSON through [`Record`], so a compare on a stored value
//! matches byte for byte what the same record encodes to.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A value kept in cluster state.
pub trait Record: Serialize + DeserializeOwned {
    /// The stored form (stable field order, so compares match byte for byte).
    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The record in a stored value; `None` if the value is not one.
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

impl Record for Assignment {}
impl Record for Checkpoint {}
impl Record for AgentRecord {}

/// A shard placed on an agent, under a fencing epoch. Stored at
/// `/assignments/<agent>/<shard>`; a shard's owner writes its checkpoints only
/// while this exact value is still there, so a replaced owner is fenced out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub campaign_id: String,
    pub shard_index: u32,
    pub shard_count: u32,
    pub epoch: u64,
    pub agent_id: String,
}

impl Assignment {
    pub fn shard_id(&self) -> String {
        throng_state::keys::shard_id(&self.campaign_id, self.shard_index)
    }
}

/// Durable progress of a shard. For a campaign, every local session below
/// `next_seq` has finished and its telemetry is stored; a new owner resumes
/// from `next_seq`. For a stream run, the same holds of `watermark_ms`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub epoch: u64,
    pub next_seq: u64,
    pub done: bool,
    pub sessions_failed: u64,
    /// Stream shards: every event before this simulated instant is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_ms: Option<i64>,
}

/// An agent's registration, stored (leased) at `/agents/<agent>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub agent_id: String,
    /// Where its `AgentService` listens, e.g. `http://127.0.0.1:7001`.
    pub address: String,
    /// Relative weight for placement (e.g. its cores).
    pub capacity: u32,
}
