//! Removing finished campaigns from the cluster state: on request
//! (`DeleteCampaign`) and, when the operator sets a retention
//! (`--archive-after`), by the leader once a campaign has been finished that
//! long. Telemetry stays where it went; only etcd forgets.

use std::time::Duration;

use throng_state::{Keys, StateStore};

use crate::writes::Writes;
use tokio::sync::watch;

use crate::campaign::Campaign;
use crate::error::{CoordinatorError, Result};
use crate::leader::Leadership;
use crate::stats::StatsHub;
use crate::view::LiveView;

/// Removes a campaign that is not running: its spec and status at once (if
/// it has not changed meanwhile and this coordinator still leads), then its
/// checkpoints. The keys removed.
pub async fn remove(
    store: &dyn StateStore,
    keys: &Keys,
    writes: &Writes<'_>,
    hub: &StatsHub,
    campaign: &Campaign,
) -> Result<u64> {
    let id = campaign.id.as_str();
    // Shards of a campaign that just stopped may still be stopping on
    // their agents; their assignments go once they have.
    let shard_prefix = throng_state::keys::shard_id(id, 0);
    let shard_prefix = &shard_prefix[..=id.len()];
    let assigned = store
        .list(&keys.assignments_prefix())
        .await?
        .iter()
        .filter(|kv| {
            keys.parse_assignment(&kv.key)
                .is_some_and(|(_, shard)| shard.starts_with(shard_prefix))
        })
        .count();
    if assigned > 0 {
        return Err(CoordinatorError::Conflict(format!(
            "campaign {id} still has {assigned} shard(s) stopping on agents; delete it again in a moment"
        )));
    }
    let removed = writes.remove_campaign(id, &campaign.status).await?;
    if !removed {
        return Err(CoordinatorError::Conflict(format!(
            "campaign {id} changed meanwhile; retry"
        )));
    }
    let checkpoints = store.delete_prefix(&keys.checkpoint(shard_prefix)).await?;
    hub.forget(id);
    tracing::info!(campaign = %id, checkpoints, "campaign deleted");
    Ok(2 + checkpoints)
}

/// The finished campaigns that ended at least `retention` before `now_ms`.
pub fn due(
    campaigns: &std::collections::BTreeMap<String, Campaign>,
    retention: Duration,
    now_ms: u64,
) -> Vec<&Campaign> {
    let retention_ms = retention.as_millis() as u64;
    campaigns
        .values()
        .filter(|c| c.status.state.is_terminal())
        .filter(|c| {
            c.status
                .ended_at_ms
                .is_some_and(|ended| ended.saturating_add(retention_ms) <= now_ms)
        })
        .collect()
}

/// While this coordinator leads, removes finished campaigns once `retention`
/// has passed since they ended; looks every tenth of the retention (between
/// one second and a minute).
pub async fn run(
    store: std::sync::Arc<dyn StateStore>,
    keys: Keys,
    view: LiveView,
    leadership: Leadership,
    hub: StatsHub,
    retention: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let period = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    while !*stop.borrow() {
        if leadership.is_leader() {
            match view.current().await {
                Ok(cluster) => {
                    let now = throng_engine::clock::epoch_ms();
                    let writes = Writes::new(&*store, &keys, &leadership).seen_by(&view);
                    for campaign in due(&cluster.campaigns, retention, now) {
                        match remove(&*store, &keys, &writes, &hub, campaign).await {
                            Ok(_) => tracing::info!(
                                campaign = %campaign.id,
                                retention_s = retention.as_secs(),
                                "finished campaign archived: removed from the cluster state, its telemetry kept"
                            ),
                            Err(error) => {
                                tracing::warn!(campaign = %campaign.id, %error, "archiving a finished campaign failed; will retry")
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot read campaigns to archive; will retry"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => {}
        }
    }
}
