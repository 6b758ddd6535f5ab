//! Conversions between `AgentService` wire types and domain types. Used by
//! the service (here) and by the coordinator's client, so both ends agree.

use throng_engine::campaign::load::RateChange;
use throng_engine::delivery::SinkHealth;
use throng_engine::generator::GeneratorLoad;
use throng_engine::records::Assignment;
use throng_engine::stats::{LatencyHistogram, NamedCounters, ShardCounters};
use throng_engine::streams::scenario::ScenarioRun;
use throng_engine::telemetry::TelemetryHealth;
use throng_proto::v1;

use throng_engine::order::ShardOrder;
use throng_engine::spec::{Allowlist, ValidationContext};
use throng_engine::workload::Workload;

/// A shard order as it travels: the assignment, the spec document, paused
/// or not, the campaign's start and its rate changes.
pub fn order_to_wire(order: &ShardOrder) -> v1::ShardAssignment {
    let a = &order.assignment;
    v1::ShardAssignment {
        campaign_id: a.campaign_id.clone(),
        shard_index: a.shard_index,
        shard_count: a.shard_count,
        epoch: a.epoch,
        spec_json: order.workload.to_json(),
        paused: order.paused,
        agent_id: a.agent_id.clone(),
        started_at_ms: order.started_at_ms,
        rate_changes: order
            .rate_changes
            .iter()
            .map(|c| v1::RateChange {
                at_seconds: c.at_seconds,
                rate: c.rate,
            })
            .collect(),
        scenario_runs_json: if order.scenario_runs.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&order.scenario_runs).unwrap_or_default()
        },
    }
}

/// The order an assignment carries; its spec is only parsed back, not
/// checked against an allowlist (the coordinator validated it).
pub fn order_from_wire(wire: &v1::ShardAssignment) -> Result<ShardOrder, String> {
    Ok(order_with_workload(wire, workload_from_wire(&wire.spec_json)?))
}

/// The workload a spec document on the wire describes. The coordinator
/// checked it against the target allowlist already.
pub fn workload_from_wire(spec_json: &str) -> Result<Workload, String> {
    let context = ValidationContext {
        allowlist: Allowlist::any(),
    };
    Workload::parse(spec_json, &context).map_err(|e| format!("spec: {e}"))
}

/// An order whose workload has been read already (from `spec_json`).
pub fn order_with_workload(wire: &v1::ShardAssignment, workload: Workload) -> ShardOrder {
    ShardOrder {
        assignment: assignment_from_wire(wire),
        workload,
        paused: wire.paused,
        started_at_ms: wire.started_at_ms,
        rate_changes: rate_changes_from_wire(wire),
        scenario_runs: scenario_runs_from_wire(wire),
    }
}

/// The scenario timeline an assignment carries (empty when none or unreadable).
fn scenario_runs_from_wire(wire: &v1::ShardAssignment) -> Vec<ScenarioRun> {
    if wire.scenario_runs_json.is_empty() {
        return Vec::new();
    }
    serde_json::from_str(&wire.scenario_runs_json).unwrap_or_default()
}

fn rate_changes_from_wire(wire: &v1::ShardAssignment) -> Vec<RateChange> {
    wire.rate_changes
        .iter()
        .map(|c| RateChange {
            at_seconds: c.at_seconds,
            rate: c.rate,
        })
        .collect()
}

pub fn assignment_from_wire(wire: &v1::ShardAssignment) -> Assignment {
    Assignment {
        campaign_id: wire.campaign_id.clone(),
        shard_index: wire.shard_index,
        shard_count: wire.shard_count,
        epoch: wire.epoch,
        agent_id: wire.agent_id.clone(),
    }
}

pub fn counters_to_wire(
    campaign_id: &str,
    shard_index: u32,
    epoch: u64,
    c: &ShardCounters,
) -> v1::ShardStats {
    v1::ShardStats {
        campaign_id: campaign_id.to_string(),
        shard_index,
        epoch,
        sessions_started: c.sessions_started,
        sessions_completed: c.sessions_completed,
        sessions_failed: c.sessions_failed,
        sessions_capped: c.sessions_capped,
        sessions_thinned: c.sessions_thinned,
        stream_events: c.stream_events,
        requests: c.requests,
        request_errors: c.request_errors,
        latency_us: c
            .latency
            .buckets()
            .into_iter()
            .map(|(value, count)| v1::HistogramBucket { value, count })
            .collect(),
        start_lag_us: buckets(&c.start_lag),
        done: c.done,
        by_name: c
            .by_name
            .iter()
            .map(|(name, n)| v1::NamedStats {
                name: name.clone(),
                requests: n.requests,
                errors: n.errors,
                latency_us: buckets(&n.latency),
            })
            .collect(),
        errors_by_class: c.errors_by_class.clone().into_iter().collect(),
    }
}

fn buckets(latency: &LatencyHistogram) -> Vec<v1::HistogramBucket> {
    latency
        .buckets()
        .into_iter()
        .map(|(value, count)| v1::HistogramBucket { value, count })
        .collect()
}

fn histogram(buckets: &[v1::HistogramBucket]) -> LatencyHistogram {
    LatencyHistogram::from_buckets(buckets.iter().map(|b| (b.value, b.count)))
}

pub fn counters_from_wire(wire: &v1::ShardStats) -> ShardCounters {
    ShardCounters {
        sessions_started: wire.sessions_started,
        sessions_completed: wire.sessions_completed,
        sessions_failed: wire.sessions_failed,
        sessions_capped: wire.sessions_capped,
        sessions_thinned: wire.sessions_thinned,
        stream_events: wire.stream_events,
        requests: wire.requests,
        request_errors: wire.request_errors,
        latency: LatencyHistogram::from_buckets(wire.latency_us.iter().map(|b| (b.value, b.count))),
        start_lag: histogram(&wire.start_lag_us),
        done: wire.done,
        by_name: wire
            .by_name
            .iter()
            .map(|n| {
                let counters = NamedCounters {
                    requests: n.requests,
                    errors: n.errors,
                    latency: histogram(&n.latency_us),
                };
                (n.name.clone(), counters)
            })
            .collect(),
        errors_by_class: wire
            .errors_by_class
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
    }
}

pub fn health_to_wire(h: &TelemetryHealth) -> v1::TelemetryHealth {
    v1::TelemetryHealth {
        store: h.store.clone(),
        queue_depth: h.queue_depth,
        rows_written: h.rows_written,
        rows_spilled: h.rows_spilled,
        rows_replayed: h.rows_replayed,
        rows_rejected: h.rows_rejected,
        corrupt_files: h.corrupt_files,
        error: h.error.clone(),
    }
}

pub fn health_from_wire(h: &v1::TelemetryHealth) -> TelemetryHealth {
    TelemetryHealth {
        store: h.store.clone(),
        queue_depth: h.queue_depth,
        rows_written: h.rows_written,
        rows_spilled: h.rows_spilled,
        rows_replayed: h.rows_replayed,
        rows_rejected: h.rows_rejected,
        corrupt_files: h.corrupt_files,
        error: h.error.clone(),
    }
}

pub fn sink_to_wire(h: &SinkHealth) -> v1::SinkHealth {
    v1::SinkHealth {
        run_id: h.run_id.clone(),
        sink: h.sink.clone(),
        kind: h.kind.clone(),
        queued: h.queued,
        written: h.written,
        spilled: h.spilled,
        replayed: h.replayed,
        rejected: h.rejected,
        error: h.error.clone(),
    }
}

pub fn sink_from_wire(h: &v1::SinkHealth) -> SinkHealth {
    SinkHealth {
        run_id: h.run_id.clone(),
        sink: h.sink.clone(),
        kind: h.kind.clone(),
        queued: h.queued,
        written: h.written,
        spilled: h.spilled,
        replayed: h.replayed,
        rejected: h.rejected,
        error: h.error.clone(),
    }
}

pub fn generator_to_wire(g: &GeneratorLoad) -> v1::GeneratorLoad {
    v1::GeneratorLoad {
        limited: g.limited,
        sessions_started: g.sessions_started,
        sessions_late: g.sessions_late,
        max_start_lag_ms: g.max_start_lag_ms,
        runtime_lag_ms: g.runtime_lag_ms,
        reason: g.reason().unwrap_or_default(),
    }
}

pub fn generator_from_wire(g: &v1::GeneratorLoad) -> GeneratorLoad {
    GeneratorLoad {
        limited: g.limited,
        sessions_started: g.sessions_started,
        sessions_late: g.sessions_late,
        max_start_lag_ms: g.max_start_lag_ms,
        runtime_lag_ms: g.runtime_lag_ms,
    }
}

/// A logs request as a query: every problem at once, as a message.
pub fn log_query_from_wire(request: &v1::GetLogsRequest) -> Result<throng_node::log_ring::LogQuery, String> {
    let min_level = throng_node::log_ring::parse_level(&request.level)?;
    let limit = match request.limit {
        0 => throng_node::log_ring::LogQuery::default().limit,
        n if n as usize > throng_node::log_ring::MAX_LIMIT => {
            return Err(format!(
                "limit: at most {}, got {n}",
                throng_node::log_ring::MAX_LIMIT
            ));
        }
        n => n as usize,
    };
    Ok(throng_node::log_ring::LogQuery {
        min_level,
        grep: request.grep.clone(),
        after_seq: request.after_seq,
        limit,
    })
}

pub fn log_query_to_wire(node: &str, query: &throng_node::log_ring::LogQuery) -> v1::GetLogsRequest {
    v1::GetLogsRequest {
        node: node.to_string(),
        level: query.min_level.as_str().to_ascii_lowercase(),
        grep: query.grep.clone(),
        after_seq: query.after_seq,
        limit: query.limit as u32,
    }
}

pub fn log_line_to_wire(line: &throng_node::log_ring::LogLine) -> v1::LogLine {
    v1::LogLine {
        seq: line.seq,
        at_ms: line.at_ms,
        level: line.level.as_str().to_string(),
        target: line.target.clone(),
        text: line.text.clone(),
    }
}

/// A line another node sent; a level it does not name reads as `info`.
pub fn log_line_from_wire(line: &v1::LogLine) -> throng_node::log_ring::LogLine {
    throng_node::log_ring::LogLine {
        seq: line.seq,
        at_ms: line.at_ms,
        level: throng_node::log_ring::parse_level(&line.level).unwrap_or(tracing::Level::INFO),
        target: line.target.clone(),
        text: line.text.clone(),
    }
}
