//! What happened, read back: analytics reports, a campaign's errors grouped
//! by class and message, the recent log lines of any node, and the
//! behaviour detector's verdict on data a caller sends.

use throng_engine::analytics::errors::ErrorReport;
use throng_engine::analytics::{CampaignAnalytics, Live, Query};
use throng_node::log_ring::{LogLine, LogQuery, LogRing};

use super::App;
use crate::analytics::Currency;
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
        self.analytics_now(campaign_ids, query, Currency::AtOnce).await
    }

    async fn analytics_now(
        &self,
        campaign_ids: &[String],
        query: &Query,
        currency: Currency,
    ) -> Result<Vec<CampaignAnalytics>> {
        let source = self.app.analytics_source()?;
        let mut reports = Vec::with_capacity(campaign_ids.len());
        for id in campaign_ids {
            let campaign = self.app.load(id).await?;
            let mut report =
                crate::analytics::report(source, &self.app.answers, &campaign, query, currency).await?;
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

    /// One to eight campaigns in one self-contained HTML report
    /// (`crate::report`): numbers, charts over their runs, breakdown by
    /// persona and errors.
    pub async fn report(&self, campaign_ids: &[String]) -> Result<String> {
        if campaign_ids.is_empty() || campaign_ids.len() > 8 {
            return Err(CoordinatorError::Invalid(format!(
                "campaigns: name 1 to 8 campaigns for a report, not {}",
                campaign_ids.len()
            )));
        }
        let now = throng_engine::clock::epoch_ms();
        let mut campaigns = Vec::with_capacity(campaign_ids.len());
        let mut runs = Vec::with_capacity(campaign_ids.len());
        for id in campaign_ids {
            let view = self.app.campaigns().get(id).await?;
            runs.push((
                view.campaign.status.created_at_ms,
                view.campaign.status.ended_at_ms,
            ));
            campaigns.push(crate::json::campaign(&crate::wire::campaign(&view)));
        }
        let resolution_ms = resolution_over_runs(&runs, now);
        let query = crate::analytics::parse(&throng_proto::v1::AnalyticsRequest {
            campaign_ids: campaign_ids.to_vec(),
            by: "persona".into(),
            resolution_ms,
        })?;
        // A report is a file people keep: its numbers are the rows as they
        // are now, not a running campaign's last answer.
        let analytics = self
            .analytics_now(campaign_ids, &query, Currency::AsOfNow)
            .await?;
        let by_request = Query {
            by: Some(throng_engine::analytics::Dimension::Request),
            ..query
        };
        let requests = self
            .analytics_now(campaign_ids, &by_request, Currency::AsOfNow)
            .await?
            .into_iter()
            .map(|report| serde_json::to_value(&report.groups).unwrap_or_default())
            .collect();
        let mut errors = Vec::with_capacity(campaign_ids.len());
        for id in campaign_ids {
            let report = self.errors_now(id, Currency::AsOfNow).await?;
            errors.push(crate::json::campaign_errors(&crate::analytics::errors_to_wire(
                id, &report,
            )));
        }
        let analytics =
            serde_json::to_value(&analytics).map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        Ok(crate::report::render(&crate::report::ReportData {
            generated_at_ms: now,
            resolution_ms,
            campaigns,
            analytics,
            requests,
            errors,
        }))
    }

    /// The bucket width that shows the campaigns' runs in about 150
    /// points: what the console's charts and a report ask for.
    pub async fn resolution_over(&self, campaign_ids: &[String]) -> Result<u64> {
        let mut runs = Vec::with_capacity(campaign_ids.len());
        for id in campaign_ids {
            let campaign = self.app.load(id).await?;
            runs.push((campaign.status.created_at_ms, campaign.status.ended_at_ms));
        }
        Ok(resolution_over_runs(&runs, throng_engine::clock::epoch_ms()))
    }

    /// A traffic campaign's failed requests, grouped by class and message.
    pub async fn errors(&self, id: &str) -> Result<ErrorReport> {
        self.errors_now(id, Currency::AtOnce).await
    }

    async fn errors_now(&self, id: &str, currency: Currency) -> Result<ErrorReport> {
        let source = self.app.analytics_source()?;
        let campaign = self.app.load(id).await?;
        crate::analytics::errors(source, &self.app.answers, &campaign, currency).await
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
pub fn score_behaviour_json(
    json: &str,
    rules: &throng_engine::behaviour::rules::Rules,
) -> std::result::Result<String, String> {
    let data: throng_engine::behaviour::signals::BehaviourData =
        serde_json::from_str(json).map_err(|e| format!("behaviour data: {e}"))?;
    let verdict = throng_engine::behaviour::score::score_with(&data, rules);
    serde_json::to_string(&verdict).map_err(|e| e.to_string())
}

/// The bucket width for runs `(created, ended)` from the first one's
/// creation to the last one's end (or `now` while one runs).
fn resolution_over_runs(runs: &[(u64, Option<u64>)], now: u64) -> u64 {
    let first = runs.iter().map(|(created, _)| *created).min().unwrap_or(now);
    let last = runs
        .iter()
        .map(|(_, ended)| ended.unwrap_or(now))
        .max()
        .unwrap_or(now);
    crate::report::resolution_for(last.saturating_sub(first))
}
