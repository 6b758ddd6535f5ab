//! Stats fan-in: one stream per live agent, each delivering cumulative
//! per-shard counters about every second. The hub keeps the latest counters
//! per (shard, epoch) and merges them per campaign on demand, so the
//! coordinator's load grows with agents, not with traffic.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use throng_actors::stats::ShardCounters;
use throng_actors::telemetry::TelemetryHealth;
use throng_state::{Keys, StateStore};
use tokio::sync::watch;

use crate::reconcile::AgentClients;
use crate::view::ClusterView;

#[derive(Default)]
struct HubInner {
    /// Keyed by (campaign, shard, epoch): a shard re-run elsewhere after a
    /// failover keeps its earlier owner's counts next to the new ones.
    shards: BTreeMap<(String, u32, u64), ShardCounters>,
    /// Each agent as of its last report.
    agents: BTreeMap<String, AgentSnapshot>,
    streaming: HashSet<String>,
}

/// One agent as its last stats report showed it: its shards' cumulative
/// counters summed, and its telemetry writer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentSnapshot {
    pub at_ms: u64,
    pub shards: u32,
    pub sessions_completed: u64,
    pub sessions_failed: u64,
    pub requests: u64,
    pub request_errors: u64,
    pub stream_events: u64,
    pub telemetry: TelemetryHealth,
}

impl AgentSnapshot {
    /// Seconds from this report to `now_ms`.
    pub fn age_seconds(&self, now_ms: u64) -> f64 {
        now_ms.saturating_sub(self.at_ms) as f64 / 1000.0
    }
}

/// Latest stats of every shard this coordinator has heard of.
#[derive(Clone, Default)]
pub struct StatsHub {
    inner: Arc<Mutex<HubInner>>,
}

impl StatsHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything known about one campaign, merged.
    pub fn campaign_totals(&self, campaign_id: &str) -> ShardCounters {
        let inner = self.lock();
        let mut totals = ShardCounters::default();
        for ((campaign, _, _), counters) in inner.shards.iter() {
            if campaign == campaign_id {
                totals.merge(counters);
            }
        }
        totals
    }

    /// An agent's telemetry writer as it last reported.
    pub fn telemetry(&self, agent_id: &str) -> Option<TelemetryHealth> {
        self.lock().agents.get(agent_id).map(|a| a.telemetry.clone())
    }

    /// Every agent as of its last report.
    pub fn agents(&self) -> BTreeMap<String, AgentSnapshot> {
        self.lock().agents.clone()
    }

    fn update(&self, agent_id: &str, report: throng_agent::AgentStatsReport) {
        let mut inner = self.lock();
        let mut snapshot = AgentSnapshot {
            at_ms: throng_actors::clock::epoch_ms(),
            shards: report.shards.len() as u32,
            telemetry: report.telemetry,
            ..AgentSnapshot::default()
        };
        for shard in &report.shards {
            let c = &shard.counters;
            snapshot.sessions_completed += c.sessions_completed;
            snapshot.sessions_failed += c.sessions_failed;
            snapshot.requests += c.requests;
            snapshot.request_errors += c.request_errors;
            snapshot.stream_events += c.stream_events;
        }
        inner.agents.insert(agent_id.to_string(), snapshot);
        for report in report.shards {
            inner.shards.insert(
                (report.campaign_id, report.shard_index, report.epoch),
                report.counters,
            );
        }
    }

    /// Keeps a stats stream open to every live agent until `stop`.
    pub async fn run(
        self,
        store: Arc<dyn StateStore>,
        keys: Keys,
        clients: AgentClients,
        mut stop: watch::Receiver<bool>,
    ) {
        while !*stop.borrow() {
            if let Ok(view) = ClusterView::load(&*store, &keys).await {
                for agent in view.agents {
                    let id = agent.record.agent_id.clone();
                    if !self.lock().streaming.insert(id.clone()) {
                        continue;
                    }
                    let Some(client) = clients.get(&agent.record) else {
                        self.lock().streaming.remove(&id);
                        continue;
                    };
                    let hub = self.clone();
                    tokio::spawn(async move {
                        if let Ok(mut stream) = client.stream_stats().await {
                            // A frozen agent sends nothing: give up after a few
                            // silent seconds and reconnect on a later round.
                            while let Ok(Some(Ok(reports))) =
                                tokio::time::timeout(Duration::from_secs(5), stream.next()).await
                            {
                                hub.update(&id, reports);
                            }
                        }
                        hub.lock().streaming.remove(&id);
                    });
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
