//! Reads campaigns' numbers before anyone asks, so a campaign's page opens
//! from a kept answer ([`crate::answers`]) instead of waiting for the
//! telemetry store to be read: more than a second for a campaign of a
//! million sessions.
//!
//! - A running campaign is read at the resolution its page asks for now,
//!   when this coordinator first sees it and then every
//!   [`RUNNING_EVERY_MS`]: its page opens at once with numbers at most that
//!   much older than the store (and brings them up to date as it is
//!   watched); its live counters, from the agents' reports, are current.
//! - An ended campaign is read once, shortly after it ended.

use std::collections::HashMap;
use std::time::Duration;

use throng_engine::analytics::Query;
use throng_engine::clock::epoch_ms;
use tokio::sync::watch;

use crate::app::App;
use crate::campaign::Campaign;

/// How long after its end a campaign is read: the agents' telemetry
/// writers flush their last batches within a second or two.
const SETTLE_MS: u64 = 5_000;
/// Campaigns that ended longer ago than this when first seen (before this
/// coordinator started) are read when someone asks, not ahead.
const RECENT_MS: u64 = 10 * 60_000;
/// How often a running campaign is read ahead.
const RUNNING_EVERY_MS: u64 = 30_000;

/// What was last read ahead of a campaign.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    /// While it ran, at this instant.
    Running(u64),
    /// After it ended: not again.
    Ended,
}

/// Until `stop`: every 2 s, reads the campaigns that are due.
pub async fn run(app: App, mut stop: watch::Receiver<bool>) {
    if app.analytics.is_none() {
        return;
    }
    let mut read: HashMap<String, Read> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let Ok(view) = app.view.current().await else {
            continue;
        };
        read.retain(|id, _| view.campaigns.contains_key(id));
        let now = epoch_ms();
        for campaign in view.campaigns.values() {
            if campaign.spec().is_none() {
                continue;
            }
            let last = read.get(&campaign.id).copied();
            let span_ms = match campaign.status.ended_at_ms {
                Some(ended) => {
                    if last == Some(Read::Ended) || now < ended + SETTLE_MS {
                        continue;
                    }
                    read.insert(campaign.id.clone(), Read::Ended);
                    if now > ended + RECENT_MS {
                        continue;
                    }
                    ended.saturating_sub(campaign.status.created_at_ms)
                }
                None if campaign.status.state.is_active() => {
                    if let Some(Read::Running(at)) = last
                        && now < at + RUNNING_EVERY_MS
                    {
                        continue;
                    }
                    read.insert(campaign.id.clone(), Read::Running(now));
                    now.saturating_sub(campaign.status.created_at_ms)
                }
                None => continue,
            };
            read_ahead(&app, campaign, span_ms).await;
        }
    }
}

/// Reads a campaign's analytics as its page asks for them (about 150
/// points over `span_ms`) and its errors; a failure waits for the next
/// turn or for someone to ask.
async fn read_ahead(app: &App, campaign: &Campaign, span_ms: u64) {
    let query = Query {
        by: None,
        resolution_ms: crate::report::resolution_for(span_ms),
        target_labels: Vec::new(),
    };
    let ids = [campaign.id.clone()];
    let insight = app.insight();
    if let Err(error) = insight.analytics(&ids, &query).await {
        tracing::debug!(campaign = %campaign.id, %error, "could not read a campaign's analytics ahead");
    }
    if let Err(error) = insight.errors(&campaign.id).await {
        tracing::debug!(campaign = %campaign.id, %error, "could not read a campaign's errors ahead");
    }
}
