//! Supervises one shard (of a campaign or a stream run): restarts it from its
//! checkpoint with backoff when it fails, and gives up (escalates) after
//! repeated failures.

use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::{
    CampaignShard, CampaignShardArgs, CampaignShardMsg, StreamShard, StreamShardArgs, StreamShardMsg,
};
use crate::campaign::load::RateChange;
use crate::records::Assignment;
use crate::streams::scenario::ScenarioRun;

/// Failures in a row before the supervisor gives up on its shard.
const MAX_RESTARTS: u32 = 5;
/// A shard that ran this long before failing had recovered: its failure
/// starts a new streak instead of adding to the last one.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// The failures of a shard in a row: a failure after the shard had run for
/// [`HEALTHY_AFTER`] since its last start begins a new streak.
#[derive(Debug, Default)]
struct FailureStreak {
    in_a_row: u32,
    started: Option<Instant>,
}

/// What to do after a failure.
#[derive(Debug, PartialEq)]
enum AfterFailure {
    RestartIn(Duration),
    GiveUp,
}

impl FailureStreak {
    fn started(&mut self, at: Instant) {
        self.started = Some(at);
    }

    fn failed(&mut self, at: Instant) -> AfterFailure {
        let recovered = self
            .started
            .take()
            .is_some_and(|started| at.saturating_duration_since(started) >= HEALTHY_AFTER);
        if recovered {
            self.in_a_row = 0;
        }
        self.in_a_row += 1;
        if self.in_a_row > MAX_RESTARTS {
            AfterFailure::GiveUp
        } else {
            AfterFailure::RestartIn(Duration::from_millis(200 * 2u64.pow(self.in_a_row - 1)))
        }
    }
}

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
    failures: FailureStreak,
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
    state.failures.started(Instant::now());
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
            failures: FailureStreak::default(),
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
    let shard = state.args.assignment().shard_id();
    let verdict = state.failures.failed(Instant::now());
    let in_a_row = state.failures.in_a_row;
    match verdict {
        AfterFailure::GiveUp => {
            tracing::error!(%shard, failures = in_a_row, %error, "shard keeps failing; giving up");
            myself.stop(Some(format!(
                "escalated after {in_a_row} failures in a row: {error}"
            )));
        }
        AfterFailure::RestartIn(backoff) => {
            tracing::warn!(%shard, failures = in_a_row, ?backoff, %error, "shard failed; restarting from checkpoint");
            myself.send_after(backoff, || ShardSupervisorMsg::Restart);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_failures_back_off_then_give_up_after_five_in_a_row() {
        let mut streak = FailureStreak::default();
        let start = Instant::now();
        let mut backoffs = Vec::new();
        for i in 0..5 {
            let at = start + Duration::from_secs(i);
            streak.started(at);
            match streak.failed(at + Duration::from_secs(1)) {
                AfterFailure::RestartIn(backoff) => backoffs.push(backoff.as_millis()),
                AfterFailure::GiveUp => panic!("gave up after {} failures", i + 1),
            }
        }
        assert_eq!(backoffs, [200, 400, 800, 1600, 3200]);
        streak.started(start + Duration::from_secs(10));
        assert_eq!(
            streak.failed(start + Duration::from_secs(11)),
            AfterFailure::GiveUp
        );
    }

    #[test]
    fn a_shard_that_recovered_starts_a_new_streak() {
        let mut streak = FailureStreak::default();
        let mut now = Instant::now();
        // Four quick failures, then a long healthy run, forever: never gives up.
        for round in 0..10 {
            for _ in 0..4 {
                streak.started(now);
                now += Duration::from_secs(1);
                assert!(
                    matches!(streak.failed(now), AfterFailure::RestartIn(_)),
                    "round {round}"
                );
            }
            streak.started(now);
            now += HEALTHY_AFTER;
            assert_eq!(
                streak.failed(now),
                AfterFailure::RestartIn(Duration::from_millis(200)),
                "a failure after a healthy run is the first of a new streak"
            );
        }
    }

    #[test]
    fn a_shard_that_cannot_even_start_counts_each_attempt() {
        let mut streak = FailureStreak::default();
        let now = Instant::now();
        let verdicts: Vec<AfterFailure> = (0..6).map(|_| streak.failed(now)).collect();
        assert_eq!(verdicts.last(), Some(&AfterFailure::GiveUp));
        assert!(
            verdicts[..5]
                .iter()
                .all(|v| matches!(v, AfterFailure::RestartIn(_)))
        );
    }
}
