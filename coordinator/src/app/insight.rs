//! What happened, read back: analytics reports, a campaign's errors grouped
//! by class and message, the recent log lines of any node, and the
//! behaviour detector's verdict on data a caller sends.

use throng_engine::analytics::errors::ErrorReport;
use throng_engine::analytics::{CampaignAnalytics, Live, Query};
use throng_node::log_ring::{LogLine, LogQuery, LogRing};

use super::App;
use crate::error::{CoordinatorError, Result};

/// Log lines of one node.
pub struct NodeLogs {
    pub node: String,
    pub lines: Vec<LogLine>,
}

pub struct Insight<'a> {
    pub(crate) app: &'a App,
}

impl Insight<'_> {
    /// Analytics reports of campaigns, in the order asked; a running
    /// campaign's report carries its live counters too.
    pub async fn analytics(&self, campaign_ids: &[String], query: &Query) -> Result<Vec<CampaignAnalytics>> {
        let source = self.app.analytics_source()?;
        let mut reports = Vec::with_capacity(campaign_ids.len());
        for id in campaign_ids {
            let campaign = self.app.load(id).await?;
            let mut report = crate::analytics::report(source, &campaign, query).await?;
            if campaign.status.state.is_active() {
                let totals = self.app.hub.campaign_totals(id);
                report.live = Some(Live {
                    sessions_started: totals.sessions_started,
                    sessions_completed: totals.sessions_completed,
                    sessions_failed: totals.sessions_failed,
                    requests: totals.requests,
                    request_errors: totals.request_errors,
                    p50_ms: totals.latency.quantile_ms(0.5),
                    p99_ms: totals.latency.quantile_ms(0.99),
                });
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// A traffic campaign's failed requests, grouped by class and message.
    pub async fn errors(&self, id: &str) -> Result<ErrorReport> {
        let source = self.app.analytics_source()?;
        let campaign = self.app.load(id).await?;
        crate::analytics::errors(source, &campaign).await
    }

    /// Recent log lines of this coordinator (`node` empty or its id) or of
    /// a live agent.
    pub async fn logs(&self, node: &str, query: &LogQuery) -> Result<NodeLogs> {
        let app = self.app;
        if node.is_empty() || node == app.coordinator_id {
            return Ok(NodeLogs {
                node: app.coordinator_id.clone(),
                lines: LogRing::global().query(query),
            });
        }
        let view = app.cluster_view().await?;
        let Some(agent) = view.agent(node) else {
            let mut known: Vec<&str> = view.agents.iter().map(|a| a.record.agent_id.as_str()).collect();
            known.insert(0, &app.coordinator_id);
            return Err(CoordinatorError::Missing(format!(
                "node: no live node `{node}` here; ask one of {}",
                known.join(", ")
            )));
        };
        let client = app
            .agents
            .get(&agent.record)
            .ok_or_else(|| CoordinatorError::Unavailable(format!("cannot reach agent {node}")))?;
        let lines = client
            .logs(query)
            .await
            .map_err(|e| CoordinatorError::Unavailable(format!("agent {node}: {e}")))?;
        Ok(NodeLogs {
            node: node.to_string(),
            lines,
        })
    }
}

/// The detector's verdict on behaviour data given as JSON, as JSON; or what
/// is wrong with the data, with where.
pub fn score_behaviour_json(json: &str) -> std::result::Result<String, String> {
    let data: throng_engine::behaviour::signals::BehaviourData =
        serde_json::from_str(json).map_err(|e| format!("behaviour data: {e}"))?;
    let verdict = throng_engine::behaviour::score::score(&data);
    serde_json::to_string(&verdict).map_err(|e| e.to_string())
}
