//! Conversions between `AgentService` wire types and domain types. Used by
//! the service (here) and by the coordinator's client, so both ends agree.

use throng_actors::assignment::Assignment;
use throng_actors::stats::{LatencyHistogram, ShardCounters};
use throng_proto::v1;

/// A shard order as it travels: the assignment, the spec document, paused or not.
pub fn assignment_to_wire(assignment: &Assignment, spec_json: &str, paused: bool) -> v1::ShardAssignment {
    v1::ShardAssignment {
        campaign_id: assignment.campaign_id.clone(),
        shard_index: assignment.shard_index,
        shard_count: assignment.shard_count,
        epoch: assignment.epoch,
        spec_json: spec_json.to_string(),
        paused,
        agent_id: assignment.agent_id.clone(),
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
        requests: c.requests,
        request_errors: c.request_errors,
        latency_us: c
            .latency
            .buckets()
            .into_iter()
            .map(|(value, count)| v1::HistogramBucket { value, count })
            .collect(),
        done: c.done,
    }
}

pub fn counters_from_wire(wire: &v1::ShardStats) -> ShardCounters {
    ShardCounters {
        sessions_started: wire.sessions_started,
        sessions_completed: wire.sessions_completed,
        sessions_failed: wire.sessions_failed,
        requests: wire.requests,
        request_errors: wire.request_errors,
        latency: LatencyHistogram::from_buckets(wire.latency_us.iter().map(|b| (b.value, b.count))),
        done: wire.done,
    }
}
