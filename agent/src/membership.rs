//! Cluster membership of an agent: a leased registration kept alive, and
//! self-fencing when the lease cannot be trusted any more.

use std::sync::Arc;
use std::time::{Duration, Instant};
use throng_engine::records::Record;

use ractor::ActorRef;
use throng_engine::actors::AgentRootMsg;
use throng_engine::lease::LeaseGuard;
use throng_engine::records::AgentRecord;
use throng_state::{Keys, LeaseId, StateError, StateStore};
use tokio::sync::watch;

pub(crate) struct Membership {
    pub store: Arc<dyn StateStore>,
    pub keys: Keys,
    pub record: AgentRecord,
    pub ttl: Duration,
    pub guard: LeaseGuard,
    pub root: ActorRef<AgentRootMsg>,
}

impl Membership {
    /// Grants a lease and writes the leased registration.
    pub(crate) async fn register(&self) -> Result<LeaseId, StateError> {
        let started = Instant::now();
        let lease = self.store.grant_lease(self.ttl).await?;
        self.store
            .put(
                &self.keys.agent(&self.record.agent_id),
                self.record.to_bytes(),
                Some(lease),
            )
            .await?;
        self.guard.renewed(started, self.ttl);
        tracing::info!(agent = %self.record.agent_id, lease = format!("{lease:x}"), "registered");
        Ok(lease)
    }

    /// Keeps the lease alive until `stop` turns true; then deregisters.
    pub(crate) async fn run(self, mut lease: Option<LeaseId>, mut stop: watch::Receiver<bool>) {
        let period = (self.ttl / 3).max(Duration::from_millis(200));
        loop {
            if *stop.borrow() {
                break;
            }
            let attempt = Instant::now();
            match lease {
                Some(id) if !self.guard.is_valid() => {
                    // Too long since the last renewal (a partition, or this
                    // process was frozen): others may have taken our shards.
                    self.fence(id, "lease may have expired").await;
                    lease = None;
                    continue;
                }
                Some(id) => match self.store.keep_alive(id).await {
                    Ok(()) if self.guard.renewed_unless_lapsed(attempt, self.ttl) => {}
                    Ok(()) => {
                        // Renewed, but too late: shards that looked at the
                        // guard meanwhile have stopped, and the coordinator
                        // would not know. Start over under a new lease, so
                        // it sends them again.
                        self.fence(id, "lease renewed only after it had lapsed").await;
                        lease = None;
                        continue;
                    }
                    Err(StateError::LeaseLost(_)) => {
                        self.fence(id, "lease lost").await;
                        lease = None;
                        continue;
                    }
                    Err(error) => tracing::warn!(%error, "lease renewal failed; will retry"),
                },
                None => match self.register().await {
                    Ok(id) => lease = Some(id),
                    Err(error) => tracing::warn!(%error, "registration failed; will retry"),
                },
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.changed() => {}
            }
        }
        if let Some(id) = lease {
            let _ = self.store.revoke_lease(id).await;
        }
    }

    /// Stops every shard, then drops the lease so the coordinator sees this
    /// agent leave; it registers again as a fresh member with no shards.
    async fn fence(&self, lease: LeaseId, why: &str) {
        self.guard.invalidate();
        let stopped = self
            .root
            .call(AgentRootMsg::FenceAll, Some(Duration::from_secs(5)))
            .await
            .ok()
            .and_then(|r| r.success_or(()).ok())
            .unwrap_or(0);
        tracing::warn!(agent = %self.record.agent_id, stopped, why, "self-fenced: stopped every shard");
        let _ = self.store.revoke_lease(lease).await;
    }
}
