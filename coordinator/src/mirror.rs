//! Mirrors what the coordinator decided into ClickHouse for SQL users: each
//! stream run's scenario timeline (`scenario_runs`) and external events
//! (`external_events`), and snapshots of every agent (`agent_metrics`); and
//! applies retention to the high-volume tables.
//!
//! etcd stays the source of truth, so nothing is lost when ClickHouse is
//! away: the leader writes whatever changed since its last good round, and a
//! failed round is simply repeated. Agent snapshots, which exist nowhere
//! else, wait in a bounded buffer meanwhile (the oldest go first once it is
//! full: samples, not records).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

use clickhouse::{Client, Row};
use serde::Serialize;
use throng_engine::clock::epoch_ms;
use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::scenario::EVENT_PREFIX;
use throng_engine::telemetry::retention::{EXPIRING_TABLES, drop_expired};
use throng_engine::telemetry::{ClickHouseConfig, epoch_day};
use throng_engine::workload::Workload;

use tokio::sync::watch;

use crate::campaign::Campaign;
use crate::leader::Leadership;
use crate::stats::StatsHub;
use crate::view::LiveView;

/// How often the leader mirrors.
const PERIOD: Duration = Duration::from_secs(10);
/// Agent snapshots kept while ClickHouse is away: an hour of 10 agents.
const MAX_PENDING_SNAPSHOTS: usize = 3_600;
/// How often the leader applies retention.
const RETENTION_PERIOD: Duration = Duration::from_secs(3_600);
/// External events are mirrored from this long before a run's simulated start.
const HISTORY_MS: i64 = 30 * 86_400_000;

#[derive(Row, Serialize, Clone, Debug, PartialEq, Eq, Hash)]
struct ScenarioRunRow {
    run_id: String,
    idx: u32,
    kind: String,
    name: String,
    started_ms: i64,
    stopped_ms: i64,
    reset_ms: i64,
    mirrored_ms: u64,
}

#[derive(Row, Serialize, Clone, Debug)]
struct ExternalEventRow {
    run_id: String,
    event_id: u64,
    template: String,
    at_ms: i64,
    real: u8,
    injected: u8,
    mirrored_ms: u64,
}

#[derive(Row, Serialize, Clone, Debug)]
struct AgentMetricsRow {
    event_date: u16,
    agent_id: String,
    at_ms: u64,
    shards: u32,
    sessions_completed: u64,
    sessions_failed: u64,
    requests: u64,
    request_errors: u64,
    stream_events: u64,
    queue_depth: u64,
    rows_written: u64,
    rows_spilled: u64,
    rows_replayed: u64,
    rows_rejected: u64,
}

/// A stream run's scenario timeline as rows (without the mirror time).
fn scenario_rows(run_id: &str, campaign: &Campaign) -> Vec<ScenarioRunRow> {
    campaign
        .status
        .scenario_runs
        .iter()
        .enumerate()
        .map(|(idx, entry)| {
            let (kind, name) = match entry.scenario.strip_prefix(EVENT_PREFIX) {
                Some(template) => ("event", template),
                None => ("scenario", entry.scenario.as_str()),
            };
            ScenarioRunRow {
                run_id: run_id.to_string(),
                idx: idx as u32,
                kind: kind.to_string(),
                name: name.to_string(),
                started_ms: entry.started_ms,
                stopped_ms: entry.stopped_ms.unwrap_or(0),
                reset_ms: entry.reset_ms.unwrap_or(0),
                mirrored_ms: 0,
            }
        })
        .collect()
}

/// A stream run's external events from 30 days before its simulated start
/// to its simulated now, injected ones included.
fn event_rows(run_id: &str, run: &StreamRunSpec, campaign: &Campaign, now_ms: u64) -> Vec<ExternalEventRow> {
    let catalog = &run.catalog;
    let started = campaign.status.origin_ms() as i64;
    let from = run.clock.start_ms(started) - HISTORY_MS;
    let until = crate::scenarios::sim_now_ms(run, &campaign.status, now_ms).unwrap_or(from + HISTORY_MS);
    let mut events = catalog.external_events.between(catalog.seed, from, until);
    let timeline = &campaign.status.scenario_runs;
    events.extend(crate::external_events::injected(catalog, timeline));
    let library = catalog.event_library(timeline);
    events
        .into_iter()
        .map(|e| ExternalEventRow {
            run_id: run_id.to_string(),
            event_id: e.id,
            template: library.get(e.template).map(|t| t.id.clone()).unwrap_or_default(),
            at_ms: e.at_ms,
            real: u8::from(e.real),
            injected: u8::from(e.injected),
            mirrored_ms: 0,
        })
        .collect()
}

/// The leader's mirror task.
pub struct Mirror {
    view: LiveView,
    leadership: Leadership,
    hub: StatsHub,
    client: Client,
    config: ClickHouseConfig,
    /// Days of sessions, requests and agent snapshots kept (0: all).
    retention_days: u32,
    last_retention: Option<std::time::Instant>,
    /// Scenario timelines as last written, by run.
    timelines: BTreeMap<String, Vec<ScenarioRunRow>>,
    /// External events written, by (run, id).
    events: HashSet<(String, u64)>,
    /// Agent snapshots not written yet, oldest first.
    pending: VecDeque<AgentMetricsRow>,
    /// When each agent's last queued snapshot was taken.
    sampled: BTreeMap<String, u64>,
}

impl Mirror {
    pub fn new(
        config: &ClickHouseConfig,
        retention_days: u32,
        view: LiveView,
        leadership: Leadership,
        hub: StatsHub,
    ) -> Self {
        let client = Client::default()
            .with_url(config.url.clone())
            .with_database(config.database.clone())
            .with_validation(false);
        Mirror {
            view,
            leadership,
            hub,
            client,
            config: config.clone(),
            retention_days,
            last_retention: None,
            timelines: BTreeMap::new(),
            events: HashSet::new(),
            pending: VecDeque::new(),
            sampled: BTreeMap::new(),
        }
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*stop.borrow() {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => continue,
            }
            if !self.leadership.is_leader() {
                // A new leader starts from nothing: it writes everything once.
                self.timelines.clear();
                self.events.clear();
                continue;
            }
            self.sample_agents();
            if let Err(error) = self.round().await {
                tracing::warn!(%error, pending = self.pending.len(), "mirroring into ClickHouse failed; retrying next round");
            }
            self.apply_retention().await;
        }
    }

    fn sample_agents(&mut self) {
        for (agent_id, a) in self.hub.agents() {
            if self.sampled.get(&agent_id) == Some(&a.at_ms) {
                continue;
            }
            self.sampled.insert(agent_id.clone(), a.at_ms);
            if self.pending.len() >= MAX_PENDING_SNAPSHOTS {
                self.pending.pop_front();
            }
            self.pending.push_back(AgentMetricsRow {
                event_date: epoch_day(a.at_ms),
                agent_id,
                at_ms: a.at_ms,
                shards: a.shards,
                sessions_completed: a.sessions_completed,
                sessions_failed: a.sessions_failed,
                requests: a.requests,
                request_errors: a.request_errors,
                stream_events: a.stream_events,
                queue_depth: a.telemetry.queue_depth,
                rows_written: a.telemetry.rows_written,
                rows_spilled: a.telemetry.rows_spilled,
                rows_replayed: a.telemetry.rows_replayed,
                rows_rejected: a.telemetry.rows_rejected,
            });
        }
    }

    /// Drops expired monthly partitions, about once an hour.
    async fn apply_retention(&mut self) {
        if self.retention_days == 0
            || self
                .last_retention
                .is_some_and(|t| t.elapsed() < RETENTION_PERIOD)
        {
            return;
        }
        let today = (epoch_ms() / 86_400_000) as i64;
        match drop_expired(&self.config, EXPIRING_TABLES, self.retention_days, today).await {
            Ok(dropped) => {
                self.last_retention = Some(std::time::Instant::now());
                if !dropped.is_empty() {
                    tracing::info!(?dropped, days = self.retention_days, "expired partitions dropped");
                }
            }
            Err(error) => tracing::warn!(%error, "retention failed; retrying next round"),
        }
    }

    /// Writes what changed; state moves forward only after its insert worked.
    async fn round(&mut self) -> Result<(), clickhouse::error::Error> {
        let now = epoch_ms();
        let Ok(cluster) = self.view.current().await else {
            return Ok(());
        };
        for (id, campaign) in &cluster.campaigns {
            let Workload::Streams(run) = &*campaign.workload else {
                continue;
            };
            let timeline = scenario_rows(id, campaign);
            if self.timelines.get(id) != Some(&timeline) {
                let rows: Vec<ScenarioRunRow> = timeline
                    .iter()
                    .map(|r| ScenarioRunRow {
                        mirrored_ms: now,
                        ..r.clone()
                    })
                    .collect();
                insert(&self.client, "scenario_runs", &rows).await?;
                self.timelines.insert(id.clone(), timeline);
            }
            let fresh: Vec<ExternalEventRow> = event_rows(id, run, campaign, now)
                .into_iter()
                .filter(|e| !self.events.contains(&(id.clone(), e.event_id)))
                .map(|e| ExternalEventRow {
                    mirrored_ms: now,
                    ..e
                })
                .collect();
            insert(&self.client, "external_events", &fresh).await?;
            self.events.extend(fresh.iter().map(|e| (id.clone(), e.event_id)));
        }
        let snapshots: Vec<AgentMetricsRow> = self.pending.iter().cloned().collect();
        insert(&self.client, "agent_metrics", &snapshots).await?;
        self.pending.clear();
        Ok(())
    }
}

async fn insert<T: clickhouse::RowOwned + clickhouse::RowWrite>(
    client: &Client,
    table: &str,
    rows: &[T],
) -> Result<(), clickhouse::error::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = client.insert::<T>(table).await?;
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}
