//! What both shard actors are around their runners: the assignment they
//! hold, the agent's services, their live counters and their last durable
//! checkpoint — and the steps they share: opening (the checkpoint, refused if
//! the order is stale), starting their two loops, fencing themselves when
//! the agent's lease lapses, and making progress durable.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ractor::{ActorProcessingErr, ActorRef};

use super::AgentServices;
use crate::records::{Assignment, Checkpoint};
use crate::stats::ShardCounters;

/// How often progress is made durable.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct ShardShell {
    pub assignment: Assignment,
    pub services: AgentServices,
    pub counters: Arc<Mutex<ShardCounters>>,
    /// The last checkpoint written (or read at the start).
    pub saved: Checkpoint,
    /// `"shard"` or `"stream shard"`, for the log.
    kind: &'static str,
}

impl ShardShell {
    /// Reads the shard's checkpoint; an error if a newer epoch wrote it (the
    /// order is stale).
    pub async fn open(
        kind: &'static str,
        assignment: Assignment,
        services: AgentServices,
        counters: Arc<Mutex<ShardCounters>>,
    ) -> Result<ShardShell, ActorProcessingErr> {
        let saved = services.load_checkpoint(&assignment).await?;
        Ok(ShardShell {
            assignment,
            services,
            counters,
            saved,
            kind,
        })
    }

    pub fn shard_id(&self) -> String {
        self.assignment.shard_id()
    }

    pub fn counters(&self) -> MutexGuard<'_, ShardCounters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the shard's loops: a tick now, a checkpoint every second.
    pub fn start<M: ractor::Message>(
        &self,
        myself: &ActorRef<M>,
        tick: M,
        checkpoint: fn() -> M,
    ) -> Result<(), ActorProcessingErr> {
        myself.send_message(tick)?;
        myself.send_after(CHECKPOINT_EVERY, checkpoint);
        Ok(())
    }

    /// Whether the agent's lease still holds; if not, the shard stops: its
    /// assignment may already be another agent's.
    pub fn holds_lease<M: ractor::Message>(&self, myself: &ActorRef<M>) -> bool {
        if self.services.session.lease.is_valid() {
            return true;
        }
        tracing::warn!(shard = %self.shard_id(), "lease not valid; {} fences itself", self.kind);
        myself.stop(Some("fenced: lease lost".into()));
        false
    }

    /// Makes `next` durable if it says more than the saved checkpoint:
    /// telemetry flushed first, then the checkpoint written only while the
    /// shard still holds its assignment (a shard whose assignment moved
    /// stops). Then the shard stops if it is done, or checks again in a
    /// second.
    pub async fn checkpoint<M: ractor::Message>(
        &mut self,
        myself: &ActorRef<M>,
        next: Checkpoint,
        again: fn() -> M,
    ) {
        let shard_id = self.shard_id();
        if next != self.saved {
            if let Err(error) = self.services.sink.flush().await {
                tracing::warn!(shard = %shard_id, %error, "telemetry not flushed; checkpoint deferred");
                myself.send_after(CHECKPOINT_EVERY, again);
                return;
            }
            match self.services.write_checkpoint(&self.assignment, &next).await {
                Ok(true) => self.saved = next,
                Ok(false) => {
                    tracing::warn!(shard = %shard_id, "assignment moved; {} fences itself", self.kind);
                    myself.stop(Some("fenced: assignment moved".into()));
                    return;
                }
                Err(error) => tracing::warn!(shard = %shard_id, %error, "checkpoint not written; will retry"),
            }
        }
        if self.saved.done {
            self.counters().done = true;
            tracing::info!(shard = %shard_id, "{} complete", self.kind);
            myself.stop(None);
        } else {
            myself.send_after(CHECKPOINT_EVERY, again);
        }
    }
}
