//! One campaign shard: launches its sessions on schedule (each a task it
//! owns and supervises), records them, and checkpoints its watermark, fenced
//! by its assignment.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinSet;

use super::AgentServices;
use super::shard_shell::{CHECKPOINT_EVERY, ShardShell};
use crate::campaign::load::RateChange;
use crate::campaign::plan::CampaignPlan;
use crate::campaign::session::{SessionContext, SessionOutcome, SessionPlan, run_session};
use crate::campaign::shard::ShardRunner;
use crate::delivery::RunDelivery;
use crate::failure_log::FailureLog;
use crate::records::{Assignment, Checkpoint};
use crate::spec::CampaignSpec;
use crate::stats::ShardCounters;
use crate::telemetry::SessionRecord;
use crate::telemetry::rows::sink_events;

/// How often due sessions are launched; each then waits for its exact start.
const TICK: Duration = Duration::from_millis(20);
/// How far ahead of their start sessions are spawned.
const LOOKAHEAD: Duration = Duration::from_millis(30);

pub struct CampaignShard;

#[derive(Clone)]
pub struct CampaignShardArgs {
    pub assignment: Assignment,
    pub spec: Arc<CampaignSpec>,
    pub paused: bool,
    /// When the campaign started (epoch ms): the schedule's common origin.
    pub started_at_ms: u64,
    /// Rate changes made while the campaign runs.
    pub rate_changes: Vec<RateChange>,
    pub services: AgentServices,
    pub counters: Arc<Mutex<ShardCounters>>,
}

pub enum CampaignShardMsg {
    Tick,
    Checkpoint,
    SessionDone(Box<SessionOutcome>),
    SetPaused(bool),
    /// The campaign's rate changed: follow the new schedule.
    Replan(Vec<RateChange>),
}

pub struct ShardState {
    shell: ShardShell,
    spec: Arc<CampaignSpec>,
    runner: ShardRunner,
    /// The running sessions. Dropping the set (when the shard stops) aborts them.
    sessions: JoinSet<()>,
    failures: FailureLog,
    /// Where the campaign's `sinks:` go; none when it has none.
    deliveries: Option<RunDelivery>,
    /// The pending tick's timer; a new tick replaces it.
    next_tick: Option<ractor::concurrency::JoinHandle<Result<(), ractor::MessagingErr<CampaignShardMsg>>>>,
}

impl Actor for CampaignShard {
    type Msg = CampaignShardMsg;
    type State = ShardState;
    type Arguments = CampaignShardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: CampaignShardArgs,
    ) -> Result<ShardState, ActorProcessingErr> {
        let deliveries = RunDelivery::open(
            &format!("campaign {}", args.spec.name),
            args.spec.sink_plan(),
            args.services.deliveries.as_ref(),
            &args.services.agent_id,
        )?;
        let shell = ShardShell::open("shard", args.assignment, args.services, args.counters).await?;
        let checkpoint = &shell.saved;
        let plan =
            CampaignPlan::with_changes(&args.spec, &args.rate_changes).shard(shell.assignment.shard_index);
        // A fresh shard follows the campaign's own clock, so all shards keep
        // one schedule; a resumed one restarts its schedule now rather than
        // bursting through the sessions its predecessor left.
        let now = Instant::now();
        let origin = if checkpoint.next_seq == 0 {
            let behind = crate::clock::epoch_ms().saturating_sub(args.started_at_ms);
            now.checked_sub(Duration::from_millis(behind)).unwrap_or(now)
        } else {
            now
        };
        let sessions = plan.sessions();
        let mut runner = ShardRunner::new(
            plan,
            checkpoint.next_seq,
            origin,
            shell.services.max_sessions_per_shard,
            args.started_at_ms,
        );
        if args.paused {
            runner.pause(Instant::now());
        }
        tracing::info!(
            shard = %shell.shard_id(),
            epoch = shell.assignment.epoch,
            resume_from = checkpoint.next_seq,
            sessions,
            "shard starting"
        );
        shell.start(&myself, CampaignShardMsg::Tick, || CampaignShardMsg::Checkpoint)?;
        Ok(ShardState {
            shell,
            spec: args.spec,
            runner,
            sessions: JoinSet::new(),
            failures: FailureLog::new(Instant::now()),
            deliveries,
            next_tick: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut ShardState,
    ) -> Result<(), ActorProcessingErr> {
        // Sessions may sit in long awaits; abort them rather than wait.
        state.sessions.abort_all();
        if let Some(pending) = state.next_tick.take() {
            pending.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: CampaignShardMsg,
        state: &mut ShardState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CampaignShardMsg::Tick => tick(&myself, state).await?,
            CampaignShardMsg::SessionDone(outcome) => session_done(&myself, state, *outcome).await?,
            CampaignShardMsg::Checkpoint => checkpoint(&myself, state).await,
            CampaignShardMsg::Replan(changes) => {
                let plan = CampaignPlan::with_changes(&state.spec, &changes);
                state
                    .runner
                    .replan(plan.shard(state.shell.assignment.shard_index));
                tracing::info!(shard = %state.shell.shard_id(), "schedule changed");
                // The pending tick was set by the old schedule.
                myself.send_message(CampaignShardMsg::Tick)?;
            }
            CampaignShardMsg::SetPaused(paused) => {
                let was_paused = state.runner.is_paused();
                if paused {
                    state.runner.pause(Instant::now());
                } else {
                    state.runner.resume(Instant::now());
                    if was_paused {
                        myself.send_message(CampaignShardMsg::Tick)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// One session as a task the shard owns. Policy: a session that fails (even
/// by panicking) is recorded as a failed session and never restarted.
async fn supervised_session(
    plan: SessionPlan,
    spec: Arc<CampaignSpec>,
    context: SessionContext,
    intended_start: Instant,
    shard: ActorRef<CampaignShardMsg>,
) {
    let run = std::panic::AssertUnwindSafe(run_session(&plan, &spec, &context, intended_start));
    let outcome = match run.catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            let now = context.clock.epoch_ms(Instant::now());
            SessionOutcome::failed_without_running(&plan, now, format!("session panicked: {reason}"))
        }
    };
    // The shard may have stopped meanwhile; then nobody needs the outcome.
    let _ = shard.send_message(CampaignShardMsg::SessionDone(Box::new(outcome)));
}

async fn tick(myself: &ActorRef<CampaignShardMsg>, state: &mut ShardState) -> Result<(), ActorProcessingErr> {
    if !state.shell.holds_lease(myself) {
        return Ok(());
    }
    if state.runner.is_paused() {
        return Ok(());
    }
    let due = state.runner.take_due(Instant::now() + LOOKAHEAD);
    let shard_index = state.shell.assignment.shard_index;
    for (seq, intended_start) in due {
        let plan = SessionPlan::new(&state.spec, shard_index, seq);
        let session = supervised_session(
            plan,
            state.spec.clone(),
            state.shell.services.session.clone(),
            intended_start,
            myself.clone(),
        );
        state.sessions.spawn(session);
        state.shell.counters().sessions_started += 1;
    }
    let capped = state.runner.take_capped();
    let thinned = state.runner.take_thinned();
    if capped + thinned > 0 {
        state.shell.counters().sessions_capped += capped;
        state.shell.counters().sessions_thinned += thinned;
        if state.runner.is_complete() {
            myself.send_message(CampaignShardMsg::Checkpoint)?;
        }
    }
    if !state.runner.all_launched() {
        schedule_tick(myself, state);
    } else if state.runner.is_complete() {
        // Nothing left to run (e.g. a closed-model shard with no users).
        myself.send_message(CampaignShardMsg::Checkpoint)?;
    }
    Ok(())
}

/// Sets the next tick for when the next session is due (less the
/// lookahead, and never sooner than a `TICK`), or a `TICK` from now while
/// launches wait on sessions ending: a shard with a session every minute
/// wakes once a minute, not fifty times a second, so an agent can hold
/// thousands of quiet shards. One tick is pending at a time.
fn schedule_tick(myself: &ActorRef<CampaignShardMsg>, state: &mut ShardState) {
    if let Some(pending) = state.next_tick.take() {
        pending.abort();
    }
    let wait = state.runner.next_start().map_or(TICK, |start| {
        start
            .saturating_duration_since(Instant::now() + LOOKAHEAD)
            .max(TICK)
    });
    state.next_tick = Some(myself.send_after(wait, || CampaignShardMsg::Tick));
}

async fn session_done(
    myself: &ActorRef<CampaignShardMsg>,
    state: &mut ShardState,
    outcome: SessionOutcome,
) -> Result<(), ActorProcessingErr> {
    // Forget finished tasks (their outcomes arrive as messages).
    while state.sessions.try_join_next().is_some() {}
    if outcome.aborted {
        state.runner.abandoned(outcome.seq);
        return Ok(());
    }
    state.shell.counters().record_session(&outcome);
    let seq = outcome.seq;
    let failed = outcome.failed;
    if failed {
        let shard = state.shell.assignment.shard_id();
        state
            .failures
            .failed(&shard, outcome.session_id, &outcome.persona, &outcome.error);
    }
    let record = SessionRecord {
        campaign_id: state.shell.assignment.campaign_id.clone(),
        agent_id: state.shell.services.agent_id.clone(),
        epoch: state.shell.assignment.epoch,
        outcome,
    };
    if let Some(deliveries) = &state.deliveries {
        deliveries
            .deliver(&record.campaign_id, &sink_events(&record))
            .await?;
    }
    state.shell.services.sink.record(record).await?;
    if failed {
        state.shell.saved.sessions_failed += 1;
    }
    state.runner.finished(seq);
    if state.runner.is_complete() {
        // Make the end durable at once rather than at the next periodic checkpoint.
        myself.send_message(CampaignShardMsg::Checkpoint)?;
    } else if state.runner.is_closed() {
        // A user is free again: it starts its next session now.
        myself.send_message(CampaignShardMsg::Tick)?;
    }
    Ok(())
}

/// Makes the shard's progress durable: the sessions below its watermark,
/// and whether it is complete.
async fn checkpoint(myself: &ActorRef<CampaignShardMsg>, state: &mut ShardState) {
    // The sinks hold every recorded session first (see the stream shard).
    if let Some(deliveries) = &state.deliveries
        && !deliveries
            .ready_to_checkpoint(&state.shell.assignment, state.runner.is_complete())
            .await
    {
        myself.send_after(CHECKPOINT_EVERY, || CampaignShardMsg::Checkpoint);
        return;
    }
    let next = Checkpoint {
        epoch: state.shell.assignment.epoch,
        next_seq: state.runner.watermark(),
        done: state.runner.is_complete(),
        sessions_failed: state.shell.saved.sessions_failed,
        watermark_ms: None,
    };
    state
        .shell
        .checkpoint(myself, next, || CampaignShardMsg::Checkpoint)
        .await;
}
