//! Supervises one shard (of a campaign or a stream run): restarts it from its
//! checkpoint with backoff when it fails, and gives up (escalates) after
//! repeated failures.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::{
    CampaignShard, CampaignShardArgs, CampaignShardMsg, StreamShard, StreamShardArgs, StreamShardMsg,
};
use crate::assignment::Assignment;
use crate::plan::RateChange;
use crate::streams::scenario::ScenarioRun;

/// Failures in a row before the supervisor gives up on its shard.
const MAX_RESTARTS: u32 = 5;

pub struct ShardSupervisor;

pub enum ShardSupervisorMsg {
    Restart,
    SetPaused(bool),
    Replan(Vec<RateChange>),
    /// A stream run's scenario timeline changed.
    SetTimeline(Vec<ScenarioRun>),
}

/// What the supervised shard runs.
#[derive(Clone)]
pub enum ShardArgs {
    Campaign(CampaignShardArgs),
    Streams(StreamShardArgs),
}

impl ShardArgs {
    fn assignment(&self) -> &Assignment {
        match self {
            ShardArgs::Campaign(args) => &args.assignment,
            ShardArgs::Streams(args) => &args.assignment,
        }
    }
}

enum Child {
    Campaign(ActorRef<CampaignShardMsg>),
    Streams(ActorRef<StreamShardMsg>),
}

pub struct SupervisorState {
    args: ShardArgs,
    child: Option<Child>,
    failures: u32,
}

async fn spawn_child(
    myself: &ActorRef<ShardSupervisorMsg>,
    state: &mut SupervisorState,
) -> Result<(), ActorProcessingErr> {
    let child = match &state.args {
        ShardArgs::Campaign(args) => {
            let (child, _) =
                Actor::spawn_linked(None, CampaignShard, args.clone(), myself.get_cell()).await?;
            Child::Campaign(child)
        }
        ShardArgs::Streams(args) => {
            let (child, _) = Actor::spawn_linked(None, StreamShard, args.clone(), myself.get_cell()).await?;
            Child::Streams(child)
        }
    };
    state.child = Some(child);
    Ok(())
}

impl Actor for ShardSupervisor {
    type Msg = ShardSupervisorMsg;
    type State = SupervisorState;
    type Arguments = ShardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ShardArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        myself.send_message(ShardSupervisorMsg::Restart)?;
        Ok(SupervisorState {
            args,
            child: None,
            failures: 0,
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        _state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        myself.stop_children(Some("supervisor stopped".into()));
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: ShardSupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ShardSupervisorMsg::Restart => {
                if state.child.is_none()
                    && let Err(error) = spawn_child(&myself, state).await
                {
                    // A shard that cannot even start (e.g. state store down)
                    // counts as a failure too.
                    restart_later(&myself, state, &error.to_string());
                }
            }
            ShardSupervisorMsg::Replan(changes) => {
                if let ShardArgs::Campaign(args) = &mut state.args {
                    args.rate_changes = changes.clone();
                }
                if let Some(Child::Campaign(child)) = &state.child {
                    let _ = child.send_message(CampaignShardMsg::Replan(changes));
                }
            }
            ShardSupervisorMsg::SetTimeline(runs) => {
                if let ShardArgs::Streams(args) = &mut state.args {
                    args.scenario_runs = runs.clone();
                }
                if let Some(Child::Streams(child)) = &state.child {
                    let _ = child.send_message(StreamShardMsg::SetTimeline(runs));
                }
            }
            ShardSupervisorMsg::SetPaused(paused) => {
                match &mut state.args {
                    ShardArgs::Campaign(args) => args.paused = paused,
                    ShardArgs::Streams(args) => args.paused = paused,
                }
                match &state.child {
                    Some(Child::Campaign(child)) => {
                        let _ = child.send_message(CampaignShardMsg::SetPaused(paused));
                    }
                    Some(Child::Streams(child)) => {
                        let _ = child.send_message(StreamShardMsg::SetPaused(paused));
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(_, _, reason) => {
                // The shard ended on its own: complete, fenced or revoked.
                tracing::info!(shard = %state.args.assignment().shard_id(), ?reason, "shard ended");
                state.child = None;
                myself.stop(reason);
            }
            SupervisionEvent::ActorFailed(_, error) => {
                state.child = None;
                restart_later(&myself, state, &error.to_string());
            }
            _ => {}
        }
        Ok(())
    }
}

fn restart_later(myself: &ActorRef<ShardSupervisorMsg>, state: &mut SupervisorState, error: &str) {
    state.failures += 1;
    let shard = state.args.assignment().shard_id();
    if state.failures > MAX_RESTARTS {
        tracing::error!(%shard, failures = state.failures, %error, "shard keeps failing; giving up");
        myself.stop(Some(format!(
            "escalated after {} failures: {error}",
            state.failures
        )));
        return;
    }
    let backoff = Duration::from_millis(200 * 2u64.pow(state.failures - 1));
    tracing::warn!(%shard, failures = state.failures, ?backoff, %error, "shard failed; restarting from checkpoint");
    myself.send_after(backoff, || ShardSupervisorMsg::Restart);
}
