//! One actor per live session: runs the session, reports, stops.

use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::CampaignShardMsg;
use crate::session::{SessionContext, SessionPlan, run_session};
use crate::spec::CampaignSpec;

pub struct SessionActor;

pub struct SessionArgs {
    pub plan: SessionPlan,
    pub spec: Arc<CampaignSpec>,
    pub context: SessionContext,
    pub intended_start: Instant,
    pub shard: ActorRef<CampaignShardMsg>,
}

pub enum SessionMsg {
    Run,
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionArgs;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<SessionArgs, ActorProcessingErr> {
        myself.send_message(SessionMsg::Run)?;
        Ok(args)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SessionMsg,
        state: &mut SessionArgs,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Run => {
                let outcome =
                    run_session(&state.plan, &state.spec, &state.context, state.intended_start).await;
                // The shard may have stopped meanwhile; then nobody needs the outcome.
                let _ = state
                    .shard
                    .send_message(CampaignShardMsg::SessionDone(Box::new(outcome)));
                myself.stop(None);
            }
        }
        Ok(())
    }
}
