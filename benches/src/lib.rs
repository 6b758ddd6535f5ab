//! Shared helpers for Throng's benches: a local target site and a sink actor
//! that stands in for a campaign shard.

use std::net::SocketAddr;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use throng_actors::actors::CampaignShardMsg;
use throng_actors::session::SessionOutcome;
use tokio::sync::mpsc;

/// Starts a tiny target on loopback answering every request with a short page.
pub async fn start_target() -> std::io::Result<SocketAddr> {
    let app = axum::Router::new().fallback(|| async { "<html><body>ok</body></html>" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(address)
}

/// Receives what session actors report, in place of a campaign shard.
pub struct OutcomeCollector;

impl Actor for OutcomeCollector {
    type Msg = CampaignShardMsg;
    type State = mpsc::UnboundedSender<SessionOutcome>;
    type Arguments = mpsc::UnboundedSender<SessionOutcome>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        sender: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(sender)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: CampaignShardMsg,
        sender: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let CampaignShardMsg::SessionDone(outcome) = message {
            let _ = sender.send(*outcome);
        }
        Ok(())
    }

    /// Sessions ending is normal here (ractor's default would stop the parent).
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        _event: ractor::SupervisionEvent,
        _sender: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}
