//! The application layer's answers in their `throng.v1` wire form, for the
//! gRPC door and for the JSON shapes (`crate::json`) the HTTP door and the
//! CLI's `--output json` share.

use throng_engine::campaign::plan::CampaignPlan;
use throng_engine::spec::{CampaignSpec, SpecErrors};
use throng_proto::v1;

use crate::app::{CampaignView, ClusterStatus, LiveStats, NodeLogs, ScenarioState};
use crate::campaign::CampaignState;

pub fn plan_preview(spec: &CampaignSpec) -> v1::PlanPreview {
    let plan = CampaignPlan::of(spec);
    let peak = plan.schedule.peak_rate();
    v1::PlanPreview {
        shards: plan.shards,
        // 0: bounded by time, not by a count (closed model).
        sessions: if plan.sessions == u64::MAX {
            0
        } else {
            plan.sessions
        },
        sessions_per_second: peak,
        expected_duration_seconds: plan.expected_duration().as_secs_f64(),
        requests_per_second_at_peak: plan.requests_per_second(spec),
        sessions_per_hour_at_peak: peak * 3600.0,
        personas: spec
            .personas
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let share = spec.persona_shares.share(i);
                v1::PersonaPreview {
                    name: p.name.clone(),
                    share,
                    sessions: share * plan.sessions as f64,
                    sessions_per_hour_at_peak: share * peak * 3600.0,
                    journeys: p.journeys.items().iter().map(|(j, _)| j.clone()).collect(),
                }
            })
            .collect(),
        daily_cap: spec.load.daily_cap.as_ref().map_or(0, |c| c.sessions),
    }
}

/// A validation's outcome: the plan of a valid campaign (a stream run has
/// none), or every problem with its path. Other errors stay errors.
pub fn validation(
    answer: crate::error::Result<throng_engine::workload::Workload>,
) -> crate::error::Result<v1::ValidateCampaignResponse> {
    match answer {
        Ok(workload) => Ok(v1::ValidateCampaignResponse {
            valid: true,
            errors: Vec::new(),
            plan: workload.campaign().map(|spec| plan_preview(spec)),
        }),
        Err(crate::error::CoordinatorError::InvalidSpec(errors)) => Ok(v1::ValidateCampaignResponse {
            valid: false,
            errors: field_errors(&errors),
            plan: None,
        }),
        Err(other) => Err(other),
    }
}

pub fn state(state: CampaignState) -> v1::CampaignState {
    match state {
        CampaignState::Created => v1::CampaignState::Created,
        CampaignState::Running => v1::CampaignState::Running,
        CampaignState::Paused => v1::CampaignState::Paused,
        CampaignState::Stopped => v1::CampaignState::Stopped,
        CampaignState::Completed => v1::CampaignState::Completed,
    }
}

pub fn field_errors(errors: &SpecErrors) -> Vec<v1::FieldError> {
    errors
        .0
        .iter()
        .map(|e| v1::FieldError {
            path: e.path.clone(),
            message: e.message.clone(),
        })
        .collect()
}

pub fn campaign(view: &CampaignView) -> v1::Campaign {
    let campaign = &view.campaign;
    v1::Campaign {
        id: campaign.id.clone(),
        name: campaign.workload.name().to_string(),
        state: state(campaign.status.state).into(),
        // Shown to clients: secrets (token_auth, api_secret) redacted.
        spec_json: campaign.workload.to_redacted_json(),
        created_at_ms: campaign.status.created_at_ms,
        plan: campaign.spec().map(plan_preview),
        shards_done: view.shards_done,
        sessions_checkpointed: view.sessions_checkpointed,
        stop_reason: campaign.status.stop_reason.clone().unwrap_or_default(),
        revision: campaign.status.edits + 1,
        ended_at_ms: campaign.status.ended_at_ms.unwrap_or(0),
        rate: current_rate(campaign),
        daily_cap: daily_cap(campaign, throng_engine::clock::epoch_ms()),
    }
}

/// Where a campaign's daily cap stands at `now_ms`: the current day and the
/// instant the next begins (found from a moment well inside it, so a day
/// made 23 or 25 hours long by a clock change still ends where it should).
fn daily_cap(campaign: &crate::campaign::Campaign, now_ms: u64) -> Option<v1::DailyCapStatus> {
    let cap = campaign.spec()?.load.daily_cap.as_ref()?;
    let window_start_ms = cap.window_start_ms(now_ms);
    Some(v1::DailyCapStatus {
        sessions: cap.sessions,
        window_start_ms,
        resets_at_ms: cap.window_start_ms(window_start_ms + 26 * 3_600_000),
    })
}

/// The peak rate a campaign starts sessions at now: the last rate change,
/// else its spec's (none for stream runs and closed-model campaigns).
fn current_rate(campaign: &crate::campaign::Campaign) -> f64 {
    let Some(spec) = campaign.spec() else {
        return 0.0;
    };
    if spec.load.closed.is_some() {
        return 0.0;
    }
    campaign
        .status
        .rate_changes
        .last()
        .map_or(spec.load.rate, |change| change.rate)
}

pub fn campaign_stats(stats: &LiveStats) -> v1::CampaignStats {
    let totals = &stats.totals;
    let load = throng_engine::generator::RunLoad::of(totals);
    v1::CampaignStats {
        campaign_id: stats.campaign_id.clone(),
        at_ms: stats.at_ms,
        state: state(stats.state).into(),
        sessions_planned: stats.sessions_planned.unwrap_or(0),
        sessions_started: totals.sessions_started,
        sessions_completed: totals.sessions_completed,
        sessions_failed: totals.sessions_failed,
        sessions_capped: totals.sessions_capped,
        sessions_thinned: totals.sessions_thinned,
        stream_events: totals.stream_events,
        stream_events_per_second: stats.events_per_second,
        sim_watermark_ms: stats.sim_watermark_ms,
        sim_until_ms: stats.sim_until_ms,
        sim_from_ms: stats.sim_from_ms,
        requests: totals.requests,
        request_errors: totals.request_errors,
        sessions_per_second: stats.sessions_per_second,
        requests_per_second: stats.requests_per_second,
        p50_ms: totals.latency.quantile_ms(0.5),
        p90_ms: totals.latency.quantile_ms(0.9),
        p99_ms: totals.latency.quantile_ms(0.99),
        p999_ms: totals.latency.quantile_ms(0.999),
        max_ms: totals.latency.max_ms(),
        shards_done: stats.shards_done,
        shards: stats.shards,
        by_name: totals
            .by_name
            .iter()
            .map(|(name, n)| v1::RequestStats {
                name: name.clone(),
                requests: n.requests,
                errors: n.errors,
                p50_ms: n.latency.quantile_ms(0.5),
                p90_ms: n.latency.quantile_ms(0.9),
                p99_ms: n.latency.quantile_ms(0.99),
                p999_ms: n.latency.quantile_ms(0.999),
            })
            .collect(),
        errors_by_class: totals.errors_by_class.clone().into_iter().collect(),
        thresholds_passed: stats.thresholds.iter().all(|t| t.passed),
        thresholds: stats
            .thresholds
            .iter()
            .map(|t| v1::ThresholdResult {
                rule: t.rule.clone(),
                value: t.value,
                passed: t.passed,
                samples: t.samples,
            })
            .collect(),
        stop_reason: stats.stop_reason.clone().unwrap_or_default(),
        generator_errors: load.generator_errors,
        start_lag_p99_ms: load.start_lag_p99_ms,
        ran_generator_limited: load.ran_limited,
        limited_agents: stats.limited_agents.clone(),
    }
}

pub fn cluster_status(status: &ClusterStatus) -> v1::ClusterStatus {
    v1::ClusterStatus {
        cluster: status.cluster.clone(),
        leader: status.leader.clone(),
        agents: status
            .agents
            .iter()
            .map(|a| v1::AgentInfo {
                id: a.id.clone(),
                address: a.address.clone(),
                capacity: a.capacity,
                shards: a.shards,
                telemetry: a.telemetry.as_ref().map(throng_agent_api::wire::health_to_wire),
                report_age_seconds: a.report_age_seconds,
                generator: a
                    .generator
                    .as_ref()
                    .map(throng_agent_api::wire::generator_to_wire),
                sinks: a.sinks.iter().map(throng_agent_api::wire::sink_to_wire).collect(),
            })
            .collect(),
        campaigns: status.campaigns,
        shards: status.shards,
        stream_runs: status
            .stream_runs
            .iter()
            .map(|r| {
                let cadence = r.cadence.unwrap_or(throng_engine::streams::Cadence {
                    interval_ms: 0,
                    batch_min: 0,
                    batch_max: 0,
                });
                v1::StreamRunGeneration {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    mode: r.mode.to_string(),
                    state: r.state.clone(),
                    scale: r.scale,
                    interval_seconds: (cadence.interval_ms / 1000) as u32,
                    batch_min: cadence.batch_min,
                    batch_max: cadence.batch_max,
                }
            })
            .collect(),
    }
}

pub fn scenario_state(state: &ScenarioState) -> v1::ScenarioState {
    crate::scenarios::state_to_wire(
        &state.run_id,
        &state.run,
        &state.timeline,
        state.sim_now_ms,
        state.warnings.clone(),
    )
}

pub fn log_lines(logs: &NodeLogs) -> v1::LogLines {
    v1::LogLines {
        node: logs.node.clone(),
        lines: logs
            .lines
            .iter()
            .map(throng_agent_api::wire::log_line_to_wire)
            .collect(),
    }
}
