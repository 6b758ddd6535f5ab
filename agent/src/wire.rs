//! Conversions between `AgentService` wire types and domain types. Used by
//! the service (here) and by the coordinator's client, so both ends agree.

use throng_actors::assignment::Assignment;
use throng_actors::stats::{LatencyHistogram, NamedCounters, ShardCounters};
use throng_proto::v1;

/// A shard order as it travels: the assignment, the spec document, paused or not.
pub fn assignment_to_wire(
    assignment: &Assignment,
    spec_json: &str,
    paused: bool,
    started_at_ms: u64,
) -> v1::ShardAssignment {
    v1::ShardAssignment {
        campaign_id: assignment.campaign_id.clone(),
        shard_index: assignment.shard_index,
        shard_count: assignment.shard_count,
        epoch: assignment.epoch,
        spec_json: spec_json.to_string(),
        paused,
        agent_id: assignment.agent_id.clone(),
        started_at_ms,
    }
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
        requests: c.requests,
        request_errors: c.request_errors,
        latency_us: c
            .latency
            .buckets()
            .into_iter()
            .map(|(value, count)| v1::HistogramBucket { value, count })
            .collect(),
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
        requests: wire.requests,
        request_errors: wire.request_errors,
        latency: LatencyHistogram::from_buckets(wire.latency_us.iter().map(|b| (b.value, b.count))),
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
