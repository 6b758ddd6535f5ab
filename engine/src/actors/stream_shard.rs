//! One stream shard: generates its root stream and everything that follows
//! from it on the run's simulated clock, hands the events to the telemetry
//! sink, and checkpoints its watermark, fenced by its assignment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::AgentServices;
use super::shard_shell::{CHECKPOINT_EVERY, ShardShell};
use crate::clock::epoch_ms;
use crate::delivery::RunDelivery;
use crate::records::{Assignment, Checkpoint};
use crate::stats::ShardCounters;
use crate::streams::StreamRunSpec;
use crate::streams::scenario::ScenarioRun;
use crate::streams::shard::StreamShardRunner;

/// How often a shard on pace generates: events leave in batches this far apart.
const TICK: Duration = Duration::from_millis(100);

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
    shell: ShardShell,
    runner: StreamShardRunner,
    /// Where the run's `sinks:` go; none when it has none.
    deliveries: Option<RunDelivery>,
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
        let deliveries = RunDelivery::open(
            &format!("stream run {}", args.run.name),
            args.run.sink_plan(),
            args.services.deliveries.as_ref(),
            &args.services.agent_id,
        )?;
        let shell = ShardShell::open("stream shard", args.assignment, args.services, args.counters).await?;
        let shard_id = shell.shard_id();
        let mut runner = StreamShardRunner::new(
            args.run.clone(),
            shell.assignment.shard_index,
            args.started_at_ms as i64,
            shell.saved.watermark_ms,
        )
        .ok_or_else(|| format!("stream run {} has no shard {shard_id}", args.run.name))?;
        runner.set_timeline(&args.scenario_runs);
        if args.paused {
            runner.pause(now());
        }
        tracing::info!(
            shard = %shard_id,
            epoch = shell.assignment.epoch,
            resume_from = runner.watermark_ms(),
            mode = args.run.clock.mode(),
            "stream shard starting"
        );
        shell.start(&myself, StreamShardMsg::Tick, || StreamShardMsg::Checkpoint)?;
        Ok(StreamShardState {
            shell,
            runner,
            deliveries,
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
                    shard = %state.shell.assignment.shard_id(),
                    runs = runs.len(),
                    watermark = state.runner.watermark_ms(),
                    "scenario timeline changed"
                );
                state.runner.set_timeline(&runs);
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
    if !state.shell.holds_lease(myself) {
        return Ok(());
    }
    if state.runner.is_paused() || state.runner.is_done() {
        state.ticking = false;
        if state.runner.is_done() {
            myself.send_message(StreamShardMsg::Checkpoint)?;
        }
        return Ok(());
    }
    let before = state.runner.last_batch();
    let events = state.runner.advance(now());
    let released = state.runner.last_batch();
    if released != before
        && let (Some((size, released_at)), Some(cadence)) = (released, state.runner.cadence())
    {
        // The fast-cadence mode is for watching a pipeline take batches:
        // each one is said in the node's log.
        tracing::info!(
            shard = %state.shell.assignment.shard_id(),
            events = size,
            released_at,
            min = cadence.batch_min,
            max = cadence.batch_max,
            "emulated batch released"
        );
    }
    if !events.is_empty() {
        let assignment = &state.shell.assignment;
        let records = state
            .runner
            .records(&assignment.campaign_id, assignment.epoch, &events);
        state.shell.counters().stream_events += records.len() as u64;
        if let Some(deliveries) = &state.deliveries {
            deliveries.deliver(&assignment.campaign_id, &records).await?;
        }
        state.shell.services.sink.record_stream_events(records).await?;
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

/// Makes the shard's progress durable: the simulated instant before which
/// every event is stored (in the telemetry store and every sink), and
/// whether the run's end is reached.
async fn checkpoint(myself: &ActorRef<StreamShardMsg>, state: &mut StreamShardState) {
    if let Some(deliveries) = &state.deliveries
        && !deliveries
            .ready_to_checkpoint(&state.shell.assignment, state.runner.is_done())
            .await
    {
        myself.send_after(CHECKPOINT_EVERY, || StreamShardMsg::Checkpoint);
        return;
    }
    let next = Checkpoint {
        epoch: state.shell.assignment.epoch,
        next_seq: 0,
        done: state.runner.is_done(),
        sessions_failed: 0,
        watermark_ms: Some(state.runner.watermark_ms()),
    };
    state
        .shell
        .checkpoint(myself, next, || StreamShardMsg::Checkpoint)
        .await;
}
