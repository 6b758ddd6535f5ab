//! The cluster as the API shows it: who leads, the live agents with their
//! shards, telemetry writers and whether they keep up; and checks that a spec's targets answer.

use throng_engine::clock::epoch_ms;
use throng_engine::generator::GeneratorLoad;
use throng_engine::telemetry::TelemetryHealth;

use super::App;
use crate::error::{CoordinatorError, Result};
use crate::target_check::TargetCheck;

pub struct ClusterStatus {
    pub cluster: String,
    /// The leading coordinator's id (empty: none elected).
    pub leader: String,
    pub agents: Vec<AgentStatus>,
    pub campaigns: u32,
    pub shards: u32,
    /// Stream runs that have not finished, and how each generates.
    pub stream_runs: Vec<crate::generation::RunGeneration>,
}

pub struct AgentStatus {
    pub id: String,
    pub address: String,
    pub capacity: u32,
    pub shards: u32,
    /// Its telemetry writer, from its last stats report (none yet: `None`).
    pub telemetry: Option<TelemetryHealth>,
    /// Seconds since that report.
    pub report_age_seconds: Option<f64>,
    /// Whether it keeps up with what it is asked, as of that report.
    pub generator: Option<GeneratorLoad>,
    /// The stream runs' sinks it delivers to, as of that report.
    pub sinks: Vec<throng_engine::delivery::SinkHealth>,
}

pub struct Cluster<'a> {
    pub(crate) app: &'a App,
}

impl Cluster<'_> {
    pub async fn status(&self) -> Result<ClusterStatus> {
        let app = self.app;
        let view = app.cluster_view().await?;
        let leader = app
            .leadership
            .current(&*app.store)
            .await?
            .map(|l| l.coordinator_id)
            .unwrap_or_default();
        let reports = app.hub.agents();
        let now = epoch_ms();
        let mut shards_of: std::collections::HashMap<&str, u32> = Default::default();
        for assignment in view.assignments.values() {
            *shards_of.entry(assignment.agent_id.as_str()).or_default() += 1;
        }
        let agents = view
            .agents
            .iter()
            .map(|a| {
                let id = &a.record.agent_id;
                AgentStatus {
                    id: id.clone(),
                    address: a.record.address.clone(),
                    capacity: a.record.capacity,
                    shards: shards_of.get(id.as_str()).copied().unwrap_or(0),
                    telemetry: reports.get(id).map(|r| r.telemetry.clone()),
                    report_age_seconds: reports.get(id).map(|r| r.age_seconds(now)),
                    generator: reports.get(id).map(|r| r.generator.clone()),
                    sinks: reports.get(id).map(|r| r.sinks.clone()).unwrap_or_default(),
                }
            })
            .collect();
        Ok(ClusterStatus {
            cluster: app.cluster.clone(),
            leader,
            agents,
            campaigns: view.campaigns.len() as u32,
            shards: view.assignments.len() as u32,
            stream_runs: crate::generation::of_view(&view),
        })
    }

    /// Probes each target of a spec the way its sessions would speak to it,
    /// without recording a visit (`crate::target_check`).
    pub async fn test_targets(&self, document: &str) -> Result<Vec<TargetCheck>> {
        let workload = self.app.parse_workload(document).await?;
        let Some(spec) = workload.campaign() else {
            return Err(CoordinatorError::Conflict(
                "a stream run has no targets to test; its sinks are the stores".into(),
            ));
        };
        let mut checks = Vec::new();
        for target in &spec.targets {
            checks.push(crate::target_check::check(target).await);
        }
        Ok(checks)
    }
}
