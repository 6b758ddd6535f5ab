//! One stream shard: generates its root stream and everything that follows
//! from it on the run's simulated clock, hands the events to the telemetry
//! sink, and checkpoints its watermark, fenced by its assignment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::AgentServices;
use crate::clock::epoch_ms;
use crate::records::{Assignment, Checkpoint};
use crate::stats::ShardCounters;
use crate::streams::StreamRunSpec;
use crate::streams::scenario::ScenarioRun;
use crate::streams::shard::StreamShardRunner;

/// How often a shard on pace generates: events leave in batches this far apart.
const TICK: Duration = Duration::from_millis(100);
/// How often progress is made durable.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

pub struct StreamShard;

#[derive(Clone)]
pub struct StreamShardArgs {
    pub assignment: Assignment,
    pub run: Arc<StreamRunSpec>,
    /// The scenario timeline to follow.
    pub scenario_runs: Vec<ScenarioRun>,
    pub paused: bool,
    /// When the run started (epoch ms): every shard's clock origin.
    pub started_at_ms: u64,
    pub services: AgentServices,
    pub counters: Arc<Mutex<ShardCounters>>,
}

pub enum StreamShardMsg {
    Tick,
    Checkpoint,
    SetPaused(bool),
    SetTimeline(Vec<ScenarioRun>),
}

pub struct StreamShardState {
    args: StreamShardArgs,
    runner: StreamShardRunner,
    checkpoint: Checkpoint,
    /// A tick is already scheduled (so a resume does not start a second loop).
    ticking: bool,
}

fn now() -> i64 {
    epoch_ms() as i64
}

impl Actor for StreamShard {
    type Msg = StreamShardMsg;
    type State = StreamShardState;
    type Arguments = StreamShardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: StreamShardArgs,
    ) -> Result<StreamShardState, ActorProcessingErr> {
        let shard_id = args.assignment.shard_id();
        let checkpoint = args.services.load_checkpoint(&args.assignment).await?;
        let mut runner = StreamShardRunner::new(
            args.run.clone(),
            args.assignment.shard_index,
            args.started_at_ms as i64,
            checkpoint.watermark_ms,
        )
        .ok_or_else(|| format!("stream run {} has no shard {shard_id}", args.run.name))?;
        runner.set_timeline(&args.scenario_runs);
        if args.paused {
            runner.pause(now());
        }
        tracing::info!(
            shard = %shard_id,
            epoch = args.assignment.epoch,
            resume_from = runner.watermark_ms(),
            "stream shard starting"
        );
        myself.send_message(StreamShardMsg::Tick)?;
        myself.send_after(CHECKPOINT_EVERY, || StreamShardMsg::Checkpoint);
        Ok(StreamShardState {
            args,
            runner,
            checkpoint,
            ticking: true,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: StreamShardMsg,
        state: &mut StreamShardState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StreamShardMsg::Tick => tick(&myself, state).await?,
            StreamShardMsg::Checkpoint => checkpoint(&myself, state).await,
            StreamShardMsg::SetTimeline(runs) => {
                tracing::info!(
                    shard = %state.args.assignment.shard_id(),
                    runs = runs.len(),
                    watermark = state.runner.watermark_ms(),
                    "scenario timeline changed"
                );
                state.runner.set_timeline(&runs);
                state.args.scenario_runs = runs;
            }
            StreamShardMsg::SetPaused(paused) => {
                if paused {
                    state.runner.pause(now());
                } else {
                    state.runner.resume(now());
                    if !state.ticking {
                        state.ticking = true;
                        myself.send_message(StreamShardMsg::Tick)?;
                    }
                }
            }
        }
        Ok(())
    }
}

async fn tick(
    myself: &ActorRef<StreamShardMsg>,
    state: &mut StreamShardState,
) -> Result<(), ActorProcessingErr> {
    if !state.args.services.session.lease.is_valid() {
        tracing::warn!(shard = %state.args.assignment.shard_id(), "lease not valid; shard fences itself");
        myself.stop(Some("fenced: lease lost".into()));
        return Ok(());
    }
    if state.runner.is_paused() || state.runner.is_done() {
        state.ticking = false;
        if state.runner.is_done() {
            myself.send_message(StreamShardMsg::Checkpoint)?;
        }
        return Ok(());
    }
    let events = state.runner.advance(now());
    if !events.is_empty() {
        let assignment = &state.args.assignment;
        let records = state
            .runner
            .records(&assignment.campaign_id, assignment.epoch, &events);
        state
            .args
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stream_events += records.len() as u64;
        state.args.services.sink.record_stream_events(records).await?;
    }
    if state.runner.is_behind(now()) {
        // The next step follows at once, but after whatever else waits for
        // this worker (a message to itself would be taken without yielding).
        tokio::task::yield_now().await;
        myself.send_message(StreamShardMsg::Tick)?;
    } else {
        myself.send_after(TICK, || StreamShardMsg::Tick);
    }
    Ok(())
}

/// Makes progress durable: flush telemetry first, then record the watermark,
/// but only while this shard still holds its assignment (fencing).
async fn checkpoint(myself: &ActorRef<StreamShardMsg>, state: &mut StreamShardState) {
    let watermark = state.runner.watermark_ms();
    let done = state.runner.is_done();
    let shard_id = state.args.assignment.shard_id();
    if Some(watermark) != state.checkpoint.watermark_ms || done != state.checkpoint.done {
        let services = &state.args.services;
        if let Err(error) = services.sink.flush().await {
            tracing::warn!(shard = %shard_id, %error, "telemetry not flushed; checkpoint deferred");
            myself.send_after(CHECKPOINT_EVERY, || StreamShardMsg::Checkpoint);
            return;
        }
        let next = Checkpoint {
            epoch: state.args.assignment.epoch,
            next_seq: 0,
            done,
            sessions_failed: 0,
            watermark_ms: Some(watermark),
        };
        match services.write_checkpoint(&state.args.assignment, &next).await {
            Ok(true) => state.checkpoint = next,
            Ok(false) => {
                tracing::warn!(shard = %shard_id, "assignment moved; shard fences itself");
                myself.stop(Some("fenced: assignment moved".into()));
                return;
            }
            Err(error) => tracing::warn!(shard = %shard_id, %error, "checkpoint not written; will retry"),
        }
    }
    if state.checkpoint.done {
        state.args.counters.lock().unwrap_or_else(|p| p.into_inner()).done = true;
        tracing::info!(shard = %shard_id, "stream shard complete");
        myself.stop(None);
    } else {
        myself.send_after(CHECKPOINT_EVERY, || StreamShardMsg::Checkpoint);
    }
}
