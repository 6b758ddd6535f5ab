//! Reads each campaign's numbers once it has ended, so its page opens from a
//! kept answer ([`crate::answers`]) instead of waiting for the telemetry
//! store to be read: seconds for a campaign of a million sessions.

use std::collections::HashSet;
use std::time::Duration;

use throng_engine::analytics::Query;
use throng_engine::clock::epoch_ms;
use tokio::sync::watch;

use crate::app::App;

/// How long after its end a campaign is read: the agents' telemetry
/// writers flush their last batches within a second or two.
const SETTLE_MS: u64 = 5_000;
/// Campaigns that ended longer ago than this when first seen (before this
/// coordinator started) are read when someone asks, not ahead.
const RECENT_MS: u64 = 10 * 60_000;

/// Until `stop`: every 2 s, reads the campaigns that ended since, at the
/// resolution their page asks for (about 150 points over the run).
pub async fn run(app: App, mut stop: watch::Receiver<bool>) {
    if app.analytics.is_none() {
        return;
    }
    let mut read: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let Ok(view) = app.view.current().await else {
            continue;
        };
        read.retain(|id| view.campaigns.contains_key(id));
        let now = epoch_ms();
        for campaign in view.campaigns.values() {
            let Some(ended) = campaign.status.ended_at_ms else {
                continue;
            };
            if campaign.spec().is_none() || read.contains(&campaign.id) || now < ended + SETTLE_MS {
                continue;
            }
            read.insert(campaign.id.clone());
            if now > ended + RECENT_MS {
                continue;
            }
            let query = Query {
                by: None,
                resolution_ms: crate::report::resolution_for(
                    ended.saturating_sub(campaign.status.created_at_ms),
                ),
                target_labels: Vec::new(),
            };
            let ids = [campaign.id.clone()];
            let insight = app.insight();
            if let Err(error) = insight.analytics(&ids, &query).await {
                tracing::debug!(campaign = %campaign.id, %error, "could not read an ended campaign's analytics ahead");
            }
            if let Err(error) = insight.errors(&campaign.id).await {
                tracing::debug!(campaign = %campaign.id, %error, "could not read an ended campaign's errors ahead");
            }
        }
    }
}
