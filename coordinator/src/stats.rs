//! Stats fan-in: one stream per live agent, each delivering cumulative
//! per-shard counters about every second. The hub keeps the latest counters
//! per (shard, epoch) and merges them per campaign on demand, so the
//! coordinator's load grows with agents, not with traffic.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use throng_engine::generator::GeneratorLoad;
use throng_engine::stats::{LatencyHistogram, ShardCounters};
use throng_engine::telemetry::TelemetryHealth;
use tokio::sync::watch;

use crate::agents::AgentClients;
use crate::view::LiveView;

#[derive(Default)]
struct HubInner {
    /// Keyed by (campaign, shard, epoch): a shard re-run elsewhere after a
    /// failover keeps its earlier owner's counts next to the new ones.
    shards: BTreeMap<(String, u32, u64), ShardCounters>,
    /// Each agent as of its last report.
    agents: BTreeMap<String, AgentSnapshot>,
    /// What each agent's shards counted: its shards now, and the sums of
    /// those that have stopped.
    agent_totals: BTreeMap<String, AgentTotals>,
    streaming: HashSet<String>,
    /// How long reports took from their agents to this hub.
    delay: LatencyHistogram,
}

/// The counters an agent snapshot sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    sessions_completed: u64,
    sessions_failed: u64,
    requests: u64,
    request_errors: u64,
    stream_events: u64,
}

impl Totals {
    fn of(c: &ShardCounters) -> Totals {
        Totals {
            sessions_completed: c.sessions_completed,
            sessions_failed: c.sessions_failed,
            requests: c.requests,
            request_errors: c.request_errors,
            stream_events: c.stream_events,
        }
    }

    fn add(&mut self, other: &Totals) {
        self.sessions_completed += other.sessions_completed;
        self.sessions_failed += other.sessions_failed;
        self.requests += other.requests;
        self.request_errors += other.request_errors;
        self.stream_events += other.stream_events;
    }
}

/// An agent's counters since this coordinator first heard of it: a shard
/// that stops leaves its last counts in `stopped`, so the sums never go
/// down (a snapshot taken after a short run still shows it) and the memory
/// kept grows with the shards running now, not with every shard ever run.
#[derive(Default)]
struct AgentTotals {
    running: BTreeMap<(String, u32, u64), Totals>,
    stopped: Totals,
}

impl AgentTotals {
    /// Takes a report of the shards the agent holds now.
    fn update(&mut self, now: BTreeMap<(String, u32, u64), Totals>) -> Totals {
        for (key, last) in &self.running {
            if !now.contains_key(key) {
                self.stopped.add(last);
            }
        }
        self.running = now;
        let mut sum = self.stopped;
        for totals in self.running.values() {
            sum.add(totals);
        }
        sum
    }
}

/// One agent as its last stats report showed it: the shards it holds, the
/// counters of every shard it ran since this coordinator first heard of it,
/// its telemetry writer and whether it keeps up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentSnapshot {
    pub at_ms: u64,
    pub shards: u32,
    pub sessions_completed: u64,
    pub sessions_failed: u64,
    pub requests: u64,
    pub request_errors: u64,
    pub stream_events: u64,
    pub telemetry: TelemetryHealth,
    pub generator: GeneratorLoad,
    pub sinks: Vec<throng_engine::delivery::SinkHealth>,
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

    /// Forgets a deleted campaign's counters.
    pub fn forget(&self, campaign_id: &str) {
        self.lock()
            .shards
            .retain(|(campaign, _, _), _| campaign != campaign_id);
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

    /// The agents that hold one of `campaign_id`'s shards and are
    /// generator-limited as of their last reports (an agent silent for
    /// longer than a few reports is not judged on its last).
    pub fn limited_agents(&self, campaign_id: &str) -> Vec<String> {
        let inner = self.lock();
        let now = throng_engine::clock::epoch_ms();
        let limited = |agent: &String| {
            inner
                .agents
                .get(agent)
                .is_some_and(|a| a.generator.limited && a.age_seconds(now) < 10.0)
        };
        inner
            .agent_totals
            .iter()
            .filter(|(_, totals)| {
                totals
                    .running
                    .keys()
                    .any(|(campaign, _, _)| campaign == campaign_id)
            })
            .filter(|(agent, _)| limited(agent))
            .map(|(agent, _)| agent.clone())
            .collect()
    }

    /// Every agent as of its last report.
    pub fn agents(&self) -> BTreeMap<String, AgentSnapshot> {
        self.lock().agents.clone()
    }

    /// How long every report so far took from its agent's making it to its
    /// counts being merged here (to the millisecond; agents' clocks ahead of
    /// this one count as no delay).
    pub fn report_delay(&self) -> LatencyHistogram {
        self.lock().delay.clone()
    }

    fn update(&self, agent_id: &str, report: throng_agent_api::AgentStatsReport) {
        let mut inner = self.lock();
        let now = report
            .shards
            .iter()
            .map(|shard| {
                let key = (shard.campaign_id.clone(), shard.shard_index, shard.epoch);
                (key, Totals::of(&shard.counters))
            })
            .collect();
        let totals = inner
            .agent_totals
            .entry(agent_id.to_string())
            .or_default()
            .update(now);
        let snapshot = AgentSnapshot {
            at_ms: throng_engine::clock::epoch_ms(),
            shards: report.shards.len() as u32,
            sessions_completed: totals.sessions_completed,
            sessions_failed: totals.sessions_failed,
            requests: totals.requests,
            request_errors: totals.request_errors,
            stream_events: totals.stream_events,
            telemetry: report.telemetry,
            generator: report.generator,
            sinks: report.sinks,
        };
        inner.agents.insert(agent_id.to_string(), snapshot);
        for report in report.shards {
            inner.shards.insert(
                (report.campaign_id, report.shard_index, report.epoch),
                report.counters,
            );
        }
        let delay_ms = throng_engine::clock::epoch_ms().saturating_sub(report.sent_at_ms);
        inner.delay.record_us(delay_ms.saturating_mul(1_000));
    }

    /// Keeps a stats stream open to every live agent until `stop`.
    pub async fn run(self, view: LiveView, clients: AgentClients, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if let Ok(view) = view.current().await {
                for agent in view.agents.iter().cloned() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(stream_events: u64) -> Totals {
        Totals {
            stream_events,
            ..Totals::default()
        }
    }

    fn shard(index: u32) -> (String, u32, u64) {
        ("run".to_string(), index, 1)
    }

    #[test]
    fn an_agents_counts_keep_what_its_stopped_shards_counted() {
        let mut agent = AgentTotals::default();
        let sum = agent.update([(shard(0), totals(5)), (shard(1), totals(7))].into());
        assert_eq!(sum.stream_events, 12);
        let sum = agent.update([(shard(1), totals(9))].into());
        assert_eq!(sum.stream_events, 14, "shard 0 stopped at 5, shard 1 is at 9");
        let sum = agent.update(BTreeMap::new());
        assert_eq!(sum.stream_events, 14, "nothing running, nothing forgotten");
        assert!(agent.running.is_empty(), "stopped shards are not kept one by one");
        let sum = agent.update([(shard(2), totals(1))].into());
        assert_eq!(sum.stream_events, 15);
    }
}
