//! Leader election over the state store: the leader holds a leased
//! `/leader` key; standbys wait for it to vanish and then race to create it.
//!
//! Every leader-only write is a transaction that compares `/leader` with this
//! coordinator's own record ([`Leadership::fence`]), so a coordinator whose
//! lease silently expired cannot write as leader.

use std::sync::Arc;
use std::time::{Duration, Instant};
use throng_engine::records::Record;

use serde::{Deserialize, Serialize};
use throng_engine::lease::LeaseGuard;
use throng_state::{Compare, Keys, LeaseId, Op, StateError, StateStore};
use tokio::sync::watch;

/// What the leader writes at `/leader`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    pub coordinator_id: String,
    pub address: String,
}

impl throng_engine::records::Record for LeaderRecord {}

/// This coordinator's view of its own leadership.
#[derive(Clone)]
pub struct Leadership {
    key: String,
    me: LeaderRecord,
    guard: LeaseGuard,
    leading: watch::Sender<bool>,
}

impl Leadership {
    pub fn new(keys: &Keys, me: LeaderRecord) -> Self {
        let (leading, _) = watch::channel(false);
        Leadership {
            key: keys.leader(),
            me,
            guard: LeaseGuard::new(),
            leading,
        }
    }

    /// True while this coordinator leads and its lease is known valid.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow() && self.guard.is_valid()
    }

    /// A receiver that sees every change of leadership.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    pub fn me(&self) -> &LeaderRecord {
        &self.me
    }

    /// The compare that guards leader-only writes.
    pub fn fence(&self) -> Compare {
        Compare::ValueEquals(self.key.clone(), self.me.to_bytes())
    }

    /// The current leader as stored, if any.
    pub async fn current(&self, store: &dyn StateStore) -> Result<Option<LeaderRecord>, StateError> {
        Ok(store
            .get(&self.key)
            .await?
            .and_then(|kv| LeaderRecord::from_bytes(&kv.value)))
    }

    fn set_leading(&self, leading: bool) {
        self.leading.send_if_modified(|current| {
            let changed = *current != leading;
            *current = leading;
            changed
        });
    }

    /// Campaigns for leadership until `stop`; keeps it while the lease renews.
    pub async fn run(self, store: Arc<dyn StateStore>, ttl: Duration, mut stop: watch::Receiver<bool>) {
        let period = (ttl / 3).max(Duration::from_millis(200));
        let mut lease: Option<LeaseId> = None;
        while !*stop.borrow() {
            let attempt = Instant::now();
            match lease {
                None => match self.campaign(&*store, ttl).await {
                    Ok(Some(id)) => {
                        self.guard.renewed(attempt, ttl);
                        self.set_leading(true);
                        lease = Some(id);
                        tracing::info!(coordinator = %self.me.coordinator_id, "became leader");
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "leader election attempt failed"),
                },
                Some(id) => match store.keep_alive(id).await {
                    Ok(()) => self.guard.renewed(attempt, ttl),
                    Err(error) => {
                        if matches!(error, StateError::LeaseLost(_)) || !self.guard.is_valid() {
                            tracing::warn!(%error, "leadership lost");
                            self.guard.invalidate();
                            self.set_leading(false);
                            lease = None;
                        }
                    }
                },
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.changed() => {}
            }
        }
        self.set_leading(false);
        if let Some(id) = lease {
            // Step down at once, so a standby takes over without waiting a TTL.
            let _ = store.revoke_lease(id).await;
        }
    }

    /// One attempt to become leader: create `/leader` if absent.
    async fn campaign(&self, store: &dyn StateStore, ttl: Duration) -> Result<Option<LeaseId>, StateError> {
        if store.get(&self.key).await?.is_some() {
            return Ok(None);
        }
        let lease = store.grant_lease(ttl).await?;
        let won = store
            .txn(
                vec![Compare::Absent(self.key.clone())],
                vec![Op::Put {
                    key: self.key.clone(),
                    value: self.me.to_bytes(),
                    lease: Some(lease),
                }],
            )
            .await?
            .is_some();
        if won {
            Ok(Some(lease))
        } else {
            store.revoke_lease(lease).await?;
            Ok(None)
        }
    }
}
