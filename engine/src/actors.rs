//! The actor tree of an agent (ractor):
//!
//! ```text
//! AgentRoot
//! └── ShardSupervisor (one per assigned shard; restarts its shard from its checkpoint)
//!     ├── CampaignShard (schedules sessions, checkpoints, fenced by its assignment)
//!     │   └── session tasks × live sessions (a failed session is recorded, not restarted)
//!     └── StreamShard (generates a root stream and its followers on the run's clock)
//! ```
//!
//! Sessions are tasks owned by their shard rather than actors: they never
//! receive messages, and an actor's mailboxes cost more memory (about 8.6 KB
//! per idle session, measured) than the session itself (about 5 KB).
//!
//! Each actor is a thin shell; the logic is in [`crate::campaign::shard`],
//! [`crate::campaign::session`], [`crate::streams::shard`] and [`crate::telemetry`].

mod agent_root;
mod campaign_shard;
mod shard_shell;
mod shard_supervisor;
mod stream_shard;

use crate::records::Record;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use throng_state::{Compare, Keys, Op, StateStore};

pub use agent_root::{AgentRoot, AgentRootMsg, RunningShard, ShardOrder};
pub use campaign_shard::{CampaignShard, CampaignShardArgs, CampaignShardMsg};
pub use shard_supervisor::{ShardArgs, ShardSupervisor, ShardSupervisorMsg};
pub use stream_shard::{StreamShard, StreamShardArgs, StreamShardMsg};

use crate::campaign::session::SessionContext;
use crate::delivery::EventDelivery;
use crate::records::{Assignment, Checkpoint};
use crate::stats::ShardCounters;
use crate::telemetry::TelemetrySink;

/// What every shard on an agent shares.
#[derive(Clone)]
pub struct AgentServices {
    pub agent_id: String,
    pub store: Arc<dyn StateStore>,
    pub keys: Keys,
    pub sink: Arc<dyn TelemetrySink>,
    /// Where stream runs' `sinks:` are delivered (none: a run with sinks
    /// cannot run here).
    pub deliveries: Option<Arc<dyn EventDelivery>>,
    pub session: SessionContext,
    /// Most sessions one shard runs at once.
    pub max_sessions_per_shard: u64,
}

impl AgentServices {
    /// A shard's last checkpoint (none yet: the default). A checkpoint from a
    /// newer epoch than `assignment` means this order is stale: an error.
    pub(crate) async fn load_checkpoint(&self, assignment: &Assignment) -> Result<Checkpoint, String> {
        let shard_id = assignment.shard_id();
        let checkpoint = self
            .store
            .get(&self.keys.checkpoint(&shard_id))
            .await
            .map_err(|e| format!("shard {shard_id}: {e}"))?
            .and_then(|kv| Checkpoint::from_bytes(&kv.value))
            .unwrap_or_default();
        if checkpoint.epoch > assignment.epoch {
            return Err(format!(
                "shard {shard_id}: checkpoint epoch {} is newer than assignment epoch {}",
                checkpoint.epoch, assignment.epoch
            ));
        }
        Ok(checkpoint)
    }

    /// Writes `checkpoint` only while `assignment` is still the shard's
    /// (fencing): `Ok(false)` means it moved and the shard must stop.
    pub(crate) async fn write_checkpoint(
        &self,
        assignment: &Assignment,
        checkpoint: &Checkpoint,
    ) -> Result<bool, throng_state::StateError> {
        let shard_id = assignment.shard_id();
        let fence = Compare::ValueEquals(
            self.keys.assignment(&assignment.agent_id, &shard_id),
            assignment.to_bytes(),
        );
        let write = Op::Put {
            key: self.keys.checkpoint(&shard_id),
            value: checkpoint.to_bytes(),
            lease: None,
        };
        Ok(self.store.txn(vec![fence], vec![write]).await?.is_some())
    }
}

/// Live stats of one shard on this agent.
#[derive(Clone, Debug)]
pub struct ShardStatsEntry {
    pub campaign_id: String,
    pub shard_index: u32,
    pub epoch: u64,
    pub counters: Arc<Mutex<ShardCounters>>,
}

/// How long a stopped shard's final stats keep being reported, so the
/// coordinator hears its last numbers even if it was revoked right away.
const STATS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stats of every shard this agent runs (or stopped less than a grace period
/// ago), keyed by shard id. Shards write their own entry; the stats stream reads.
#[derive(Clone, Default)]
pub struct StatsRegistry {
    entries: Arc<Mutex<BTreeMap<String, RegistryEntry>>>,
}

/// An entry and, once its shard stopped, when.
type RegistryEntry = (ShardStatsEntry, Option<std::time::Instant>);

impl StatsRegistry {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<String, (ShardStatsEntry, Option<std::time::Instant>)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, shard_id: String, entry: ShardStatsEntry) {
        self.lock().insert(shard_id, (entry, None));
    }

    /// Marks a shard stopped; its entry is reported for a grace period more.
    pub fn remove(&self, shard_id: &str) {
        if let Some((_, removed_at)) = self.lock().get_mut(shard_id) {
            removed_at.get_or_insert_with(std::time::Instant::now);
        }
    }

    /// A copy of every current entry's counters; forgets expired ones.
    pub fn snapshot(&self) -> Vec<(ShardStatsEntry, ShardCounters)> {
        let mut entries = self.lock();
        entries.retain(|_, (_, removed_at)| removed_at.is_none_or(|at| at.elapsed() < STATS_GRACE));
        entries
            .values()
            .map(|(entry, _)| {
                let counters = entry.counters.lock().unwrap_or_else(|p| p.into_inner()).clone();
                (entry.clone(), counters)
            })
            .collect()
    }
}
