//! The JSON shape of each resource the API returns, in one place: the HTTP
//! API answers with these and the CLI's `--output json` prints them, so a
//! script reads the same fields whichever it calls.

use serde_json::{Value, json};
use throng_proto::v1;

/// A campaign state's name as users write it (`running`).
pub fn state_name(state: i32) -> String {
    v1::CampaignState::try_from(state)
        .unwrap_or(v1::CampaignState::Unspecified)
        .as_str_name()
        .trim_start_matches("CAMPAIGN_STATE_")
        .to_lowercase()
}

pub fn campaign(c: &v1::Campaign) -> Value {
    let plan = c.plan.clone().unwrap_or_default();
    json!({
        "id": c.id,
        "name": c.name,
        "state": state_name(c.state),
        "created_at_ms": c.created_at_ms,
        "ended_at_ms": c.ended_at_ms,
        "rate": c.rate,
        "revision": c.revision,
        "shards": plan.shards,
        "shards_done": c.shards_done,
        "sessions_planned": plan.sessions,
        "sessions_checkpointed": c.sessions_checkpointed,
        "spec": serde_json::from_str::<Value>(&c.spec_json).unwrap_or(Value::Null),
        "daily_cap": c.daily_cap.as_ref().map(|cap| json!({
            "sessions": cap.sessions,
            "window_start_ms": cap.window_start_ms,
            "resets_at_ms": cap.resets_at_ms,
        })),
    })
}

/// The cluster: leader, agents with their shards, telemetry writers, the
/// stream runs' sinks they deliver to, whether they keep up and the age of
/// their last stats report (`GetClusterStatus`).
pub fn cluster_status(status: &v1::ClusterStatus) -> Value {
    let agents: Vec<Value> = status
        .agents
        .iter()
        .map(|a| {
            let telemetry = a.telemetry.as_ref().map(|t| {
                json!({"store": t.store, "queue_depth": t.queue_depth,
                    "rows_written": t.rows_written, "rows_spilled": t.rows_spilled,
                    "rows_replayed": t.rows_replayed, "rows_rejected": t.rows_rejected,
                    "corrupt_files": t.corrupt_files, "error": t.error})
            });
            let generator = a.generator.as_ref().map(|g| {
                json!({"limited": g.limited, "reason": g.reason,
                    "sessions_started": g.sessions_started, "sessions_late": g.sessions_late,
                    "max_start_lag_ms": g.max_start_lag_ms, "runtime_lag_ms": g.runtime_lag_ms})
            });
            let sinks: Vec<Value> = a
                .sinks
                .iter()
                .map(|s| {
                    json!({"run_id": s.run_id, "sink": s.sink, "kind": s.kind, "queued": s.queued,
                        "written": s.written, "spilled": s.spilled, "replayed": s.replayed,
                        "rejected": s.rejected, "error": s.error})
                })
                .collect();
            json!({"id": a.id, "address": a.address, "capacity": a.capacity, "shards": a.shards,
                "report_age_seconds": a.report_age_seconds, "telemetry": telemetry,
                "generator": generator, "sinks": sinks})
        })
        .collect();
    let stream_runs: Vec<Value> = status
        .stream_runs
        .iter()
        .map(|r| {
            let emulated = (r.mode == "emulated").then(|| {
                json!({"interval_seconds": r.interval_seconds,
                    "batch": {"min": r.batch_min, "max": r.batch_max}})
            });
            json!({"id": r.id, "name": r.name, "mode": r.mode, "state": r.state,
                "scale": r.scale, "emulated": emulated})
        })
        .collect();
    json!({"cluster": status.cluster, "leader": status.leader, "agents": agents,
        "campaigns": status.campaigns, "shards": status.shards, "stream_runs": stream_runs})
}

/// What a campaign's plan makes: shards, sessions, rates, each persona's share.
pub fn plan_preview(p: &v1::PlanPreview) -> Value {
    json!({
        "shards": p.shards,
        "sessions": p.sessions,
        "sessions_per_second": p.sessions_per_second,
        "expected_duration_seconds": p.expected_duration_seconds,
        "requests_per_second_at_peak": p.requests_per_second_at_peak,
        "sessions_per_hour_at_peak": p.sessions_per_hour_at_peak,
        "daily_cap": p.daily_cap,
        "personas": p.personas.iter().map(|x| json!({
            "name": x.name, "share": x.share, "sessions": x.sessions,
            "sessions_per_hour_at_peak": x.sessions_per_hour_at_peak, "journeys": x.journeys,
        })).collect::<Vec<_>>(),
    })
}

/// A spec's validation: every problem with its path, or the plan it makes
/// (`ValidateCampaign`).
pub fn validation(answer: &v1::ValidateCampaignResponse) -> Value {
    json!({
        "valid": answer.valid,
        "errors": answer.errors.iter().map(|e| json!({"path": e.path, "message": e.message})).collect::<Vec<_>>(),
        "plan": answer.plan.as_ref().map(plan_preview),
    })
}

/// Live stats of a campaign (`WatchCampaign`).
pub fn campaign_stats(s: &v1::CampaignStats) -> Value {
    json!({
        "campaign_id": s.campaign_id,
        "at_ms": s.at_ms,
        "state": state_name(s.state),
        "sessions_planned": s.sessions_planned,
        "sessions_started": s.sessions_started,
        "sessions_completed": s.sessions_completed,
        "sessions_failed": s.sessions_failed,
        "sessions_capped": s.sessions_capped,
        "sessions_thinned": s.sessions_thinned,
        "requests": s.requests,
        "request_errors": s.request_errors,
        "generator_errors": s.generator_errors,
        "start_lag_p99_ms": s.start_lag_p99_ms,
        "ran_generator_limited": s.ran_generator_limited,
        "limited_agents": s.limited_agents,
        "sessions_per_second": s.sessions_per_second,
        "requests_per_second": s.requests_per_second,
        "p50_ms": s.p50_ms, "p90_ms": s.p90_ms, "p99_ms": s.p99_ms, "p999_ms": s.p999_ms, "max_ms": s.max_ms,
        "shards": s.shards,
        "shards_done": s.shards_done,
        "by_name": s.by_name.iter().map(|n| json!({
            "name": n.name, "requests": n.requests, "errors": n.errors,
            "p50_ms": n.p50_ms, "p90_ms": n.p90_ms, "p99_ms": n.p99_ms, "p999_ms": n.p999_ms,
        })).collect::<Vec<_>>(),
        "errors_by_class": s.errors_by_class,
        "thresholds": s.thresholds.iter().map(|t| json!({
            "rule": t.rule, "value": t.value, "passed": t.passed, "samples": t.samples,
        })).collect::<Vec<_>>(),
        "thresholds_passed": s.thresholds_passed,
        "stop_reason": s.stop_reason,
        "stream_events": s.stream_events,
        "stream_events_per_second": s.stream_events_per_second,
        "sim_watermark_ms": s.sim_watermark_ms,
        "sim_until_ms": s.sim_until_ms,
        "sim_from_ms": s.sim_from_ms,
    })
}

/// A library item: the document as a campaign would hold it inline.
pub fn library_item(item: &v1::LibraryItem) -> Value {
    json!({
        "kind": item.kind,
        "name": item.name,
        "version": item.version,
        "versions": item.versions,
        "updated_ms": item.updated_ms,
        "used_by": item.used_by,
        "document": serde_json::from_str::<Value>(&item.document_json).unwrap_or(Value::Null),
    })
}

pub fn error_group(g: &v1::ErrorGroup) -> Value {
    json!({
        "class": g.class, "message": g.message, "requests": g.requests,
        "first_ms": g.first_ms, "last_ms": g.last_ms,
        "example_path": g.example_path, "example_status": g.example_status,
        "example_excerpt": g.example_excerpt,
    })
}

pub fn campaign_errors(report: &v1::CampaignErrors) -> Value {
    json!({
        "campaign_id": report.campaign_id,
        "groups": report.groups.iter().map(error_group).collect::<Vec<_>>(),
        "other_requests": report.other_requests,
        "failed_requests": report.failed_requests,
    })
}

pub fn log_line(node: &str, line: &v1::LogLine) -> Value {
    json!({"node": node, "seq": line.seq, "at_ms": line.at_ms, "level": line.level,
        "target": line.target, "text": line.text})
}

pub fn log_lines(lines: &v1::LogLines) -> Value {
    json!({
        "node": lines.node,
        "lines": lines.lines.iter().map(|l| log_line(&lines.node, l)).collect::<Vec<_>>(),
    })
}

pub fn target_checks(answer: &v1::TestTargetResponse) -> Value {
    json!({
        "ok": answer.ok,
        "targets": answer.targets.iter().map(|t| json!({
            "url": t.url, "kind": t.kind, "ok": t.ok, "diagnosis": t.diagnosis,
            "status": t.status, "latency_ms": t.latency_ms,
        })).collect::<Vec<_>>(),
    })
}

pub fn scenario_state(state: &v1::ScenarioState) -> Value {
    let scenarios: Vec<Value> = state
        .scenarios
        .iter()
        .map(|s| {
            json!({"id": s.id, "name": s.name, "description": s.description,
                "duration_seconds": s.duration_seconds, "curve": s.curve,
                "settle_seconds": s.settle_seconds, "streams": s.streams})
        })
        .collect();
    let runs: Vec<Value> = state
        .runs
        .iter()
        .map(|r| {
            json!({"scenario": r.scenario, "phase": r.phase, "started_ms": r.started_ms,
                "stopped_ms": r.stopped_ms, "reset_ms": r.reset_ms, "ends_ms": r.ends_ms,
                "settled_ms": r.settled_ms})
        })
        .collect();
    json!({"run_id": state.run_id, "sim_now_ms": state.sim_now_ms,
        "scenarios": scenarios, "runs": runs, "warnings": state.warnings})
}

fn movement(m: &v1::StreamMovement) -> Value {
    json!({"stream": m.stream, "count": m.count, "usual": m.usual, "z": m.z, "moved": m.moved})
}

pub fn external_event(e: &v1::ExternalEventMessage) -> Value {
    json!({"id": e.id, "template": e.template, "category": e.category, "title": e.title,
        "severity": e.severity, "icon": e.icon, "at_ms": e.at_ms, "real": e.real,
        "expected_streams": e.expected_streams, "injected": e.injected,
        "movements": e.movements.iter().map(movement).collect::<Vec<_>>()})
}

pub fn external_events(answer: &v1::ExternalEventsResponse) -> Value {
    json!({"run_id": answer.run_id, "events": answer.events.iter().map(external_event).collect::<Vec<_>>()})
}

pub fn baseline_stats(stats: &v1::BaselineStats) -> Value {
    json!({"mean": stats.mean, "median": stats.median, "std_dev": stats.std_dev, "min": stats.min,
        "max": stats.max, "p25": stats.p25, "p75": stats.p75, "p90": stats.p90, "p95": stats.p95,
        "weekday_mean": stats.weekday_mean, "weekend_mean": stats.weekend_mean,
        "trend_per_day": stats.trend_per_day, "seasonality": stats.seasonality})
}

pub fn stream_history(answer: &v1::StreamHistoryResponse) -> Value {
    let series: Vec<Value> = answer
        .series
        .iter()
        .map(|s| {
            json!({"stream": s.stream, "domain": s.domain, "cadence": s.cadence,
                "baseline": s.baseline, "counts": s.counts, "scores": s.scores,
                "flags": s.flags, "stats": s.stats.as_ref().map(baseline_stats)})
        })
        .collect();
    json!({"run_id": answer.run_id, "from_ms": answer.from_ms, "block_ms": answer.block_ms, "series": series})
}

pub fn stream_stats(answer: &v1::StreamHistoryResponse) -> Value {
    let streams: Vec<Value> = answer
        .series
        .iter()
        .map(|s| json!({"stream": s.stream, "stats": s.stats.as_ref().map(baseline_stats)}))
        .collect();
    json!({"run_id": answer.run_id, "block_ms": answer.block_ms, "streams": streams})
}
