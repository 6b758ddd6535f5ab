//! The root of an agent's actor tree: starts, stops and pauses shard
//! supervisors as the coordinator asks, and fences everything at once when the
//! agent's lease is lost.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tracing::Instrument;

use super::{
    AgentServices, CampaignShardArgs, ShardArgs, ShardStatsEntry, ShardSupervisor, ShardSupervisorMsg,
    StatsRegistry, StreamShardArgs,
};
pub use crate::order::ShardOrder;
use crate::workload::Workload;

pub struct AgentRoot;

/// A shard this agent runs.
#[derive(Clone, Debug)]
pub struct RunningShard {
    pub order: ShardOrder,
}

pub enum AgentRootMsg {
    /// Starts a shard, traced as a child of the span of the call that asked
    /// for it; true if it was started, false if it already runs at this epoch.
    Assign(ShardOrder, tracing::Span, RpcReplyPort<Result<bool, String>>),
    /// Stops a shard; true if it was running.
    Revoke(String, RpcReplyPort<bool>),
    /// Pauses or resumes every shard of a campaign; answers how many.
    SetPaused(String, bool, RpcReplyPort<u32>),
    /// Stops every shard (lease lost); answers how many were stopped.
    FenceAll(RpcReplyPort<u32>),
    Describe(RpcReplyPort<Vec<RunningShard>>),
}

pub struct AgentRootState {
    services: AgentServices,
    stats: StatsRegistry,
    shards: BTreeMap<String, (RunningShard, ActorRef<ShardSupervisorMsg>)>,
}

impl Actor for AgentRoot {
    type Msg = AgentRootMsg;
    type State = AgentRootState;
    type Arguments = (AgentServices, StatsRegistry);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (services, stats): (AgentServices, StatsRegistry),
    ) -> Result<AgentRootState, ActorProcessingErr> {
        Ok(AgentRootState {
            services,
            stats,
            shards: BTreeMap::new(),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        _state: &mut AgentRootState,
    ) -> Result<(), ActorProcessingErr> {
        myself.stop_children(Some("agent stopping".into()));
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: AgentRootMsg,
        state: &mut AgentRootState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AgentRootMsg::Assign(order, span, reply) => {
                let answer = assign(&myself, state, order, span).await;
                let _ = reply.send(answer);
            }
            AgentRootMsg::Revoke(shard_id, reply) => {
                let running = state.shards.remove(&shard_id);
                if let Some((_, supervisor)) = &running {
                    supervisor.stop(Some("revoked".into()));
                }
                state.stats.remove(&shard_id);
                let _ = reply.send(running.is_some());
            }
            AgentRootMsg::SetPaused(campaign_id, paused, reply) => {
                let mut count = 0;
                for (running, supervisor) in state.shards.values_mut() {
                    if running.order.assignment.campaign_id == campaign_id {
                        running.order.paused = paused;
                        let _ = supervisor.send_message(ShardSupervisorMsg::SetPaused(paused));
                        count += 1;
                    }
                }
                let _ = reply.send(count);
            }
            AgentRootMsg::FenceAll(reply) => {
                let count = state.shards.len() as u32;
                for (shard_id, (_, supervisor)) in std::mem::take(&mut state.shards) {
                    supervisor.stop(Some("fenced: lease lost".into()));
                    state.stats.remove(&shard_id);
                }
                let _ = reply.send(count);
            }
            AgentRootMsg::Describe(reply) => {
                let _ = reply.send(state.shards.values().map(|(r, _)| r.clone()).collect());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut AgentRootState,
    ) -> Result<(), ActorProcessingErr> {
        // A shard supervisor ended (its shard completed, was fenced, or gave
        // up): forget it, so the coordinator's next Assign starts it afresh.
        // Its stats stay until the coordinator revokes the shard.
        let ended = match &event {
            SupervisionEvent::ActorTerminated(cell, _, _) | SupervisionEvent::ActorFailed(cell, _) => {
                Some(cell.get_id())
            }
            _ => None,
        };
        if let Some(id) = ended {
            state
                .shards
                .retain(|_, (_, supervisor)| supervisor.get_id() != id);
        }
        Ok(())
    }
}

async fn assign(
    myself: &ActorRef<AgentRootMsg>,
    state: &mut AgentRootState,
    order: ShardOrder,
    span: tracing::Span,
) -> Result<bool, String> {
    if !state.services.session.lease.is_valid() {
        return Err("agent lease is not valid; refusing new shards".into());
    }
    let shard_id = order.assignment.shard_id();
    if let Some((running, supervisor)) = state.shards.get_mut(&shard_id) {
        let current = running.order.assignment.epoch;
        if order.assignment.epoch < current {
            return Err(format!(
                "stale epoch {} (running {current})",
                order.assignment.epoch
            ));
        }
        if order.assignment.epoch == current {
            // Re-affirmed: only the paused flag may have changed.
            if running.order.paused != order.paused {
                running.order.paused = order.paused;
                let _ = supervisor.send_message(ShardSupervisorMsg::SetPaused(order.paused));
            }
            if running.order.rate_changes != order.rate_changes {
                running.order.rate_changes = order.rate_changes.clone();
                let _ = supervisor.send_message(ShardSupervisorMsg::Replan(order.rate_changes));
            }
            if running.order.scenario_runs != order.scenario_runs {
                running.order.scenario_runs = order.scenario_runs.clone();
                let _ = supervisor.send_message(ShardSupervisorMsg::SetTimeline(order.scenario_runs));
            }
            return Ok(false);
        }
        supervisor.stop(Some("superseded by a newer epoch".into()));
        state.shards.remove(&shard_id);
    }
    let counters = Arc::new(Mutex::new(Default::default()));
    state.stats.insert(
        shard_id.clone(),
        ShardStatsEntry {
            campaign_id: order.assignment.campaign_id.clone(),
            shard_index: order.assignment.shard_index,
            epoch: order.assignment.epoch,
            counters: counters.clone(),
        },
    );
    let args = match &order.workload {
        Workload::Campaign(spec) => ShardArgs::Campaign(CampaignShardArgs {
            assignment: order.assignment.clone(),
            spec: spec.clone(),
            paused: order.paused,
            started_at_ms: order.started_at_ms,
            rate_changes: order.rate_changes.clone(),
            services: state.services.clone(),
            counters,
        }),
        Workload::Streams(run) => ShardArgs::Streams(StreamShardArgs {
            assignment: order.assignment.clone(),
            run: run.clone(),
            scenario_runs: order.scenario_runs.clone(),
            paused: order.paused,
            started_at_ms: order.started_at_ms,
            services: state.services.clone(),
            counters,
        }),
    };
    let span = tracing::info_span!(
        parent: &span,
        "start shard",
        shard = %shard_id,
        epoch = order.assignment.epoch
    );
    let (supervisor, _) = Actor::spawn_linked(None, ShardSupervisor, args, myself.get_cell())
        .instrument(span)
        .await
        .map_err(|e| format!("cannot start shard {shard_id}: {e}"))?;
    state
        .shards
        .insert(shard_id, (RunningShard { order }, supervisor));
    Ok(true)
}
