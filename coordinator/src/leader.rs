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
    ///
    /// A renewal gets a period to be answered; one that is not (a lost
    /// answer, a store slow under load) is tried again at once rather than a
    /// period later, so the lease is given up only after a whole TTL without
    /// an answer, not after one slow one.
    pub async fn run(self, store: Arc<dyn StateStore>, ttl: Duration, mut stop: watch::Receiver<bool>) {
        let period = (ttl / 3).max(Duration::from_millis(200));
        let retry = period / 8;
        let mut lease: Option<LeaseId> = None;
        while !*stop.borrow() {
            let attempt = Instant::now();
            let mut wait = period;
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
                Some(id) => {
                    let renewal = tokio::time::timeout(period, store.keep_alive(id)).await;
                    match renewal {
                        Ok(Ok(())) => self.guard.renewed(attempt, ttl),
                        Ok(Err(StateError::LeaseLost(id))) => {
                            tracing::warn!(lease = id, "leadership lost: the lease expired");
                            self.step_down(&mut lease);
                        }
                        outcome if !self.guard.is_valid() => {
                            let error = match outcome {
                                Ok(Err(error)) => error.to_string(),
                                _ => "the store did not answer".to_string(),
                            };
                            tracing::warn!(%error, "leadership lost: no renewal for a whole lease TTL");
                            self.step_down(&mut lease);
                        }
                        _ => {
                            tracing::debug!("leader lease renewal not answered; trying again");
                            wait = retry;
                        }
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        self.set_leading(false);
        if let Some(id) = lease {
            // Step down at once, so a standby takes over without waiting a TTL.
            let _ = store.revoke_lease(id).await;
        }
    }

    fn step_down(&self, lease: &mut Option<LeaseId>) {
        self.guard.invalidate();
        self.set_leading(false);
        *lease = None;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;
    use throng_state::{KeyValue, MemoryStore, Snapshot, WatchEvent};
    use tokio::sync::mpsc;

    use super::*;

    /// The memory store, whose keep-alive number `hang` never answers.
    struct OneRenewalLost {
        inner: MemoryStore,
        renewals: AtomicU32,
        hang: u32,
    }

    #[async_trait]
    impl StateStore for OneRenewalLost {
        async fn get(&self, key: &str) -> Result<Option<KeyValue>, StateError> {
            self.inner.get(key).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<KeyValue>, StateError> {
            self.inner.list(prefix).await
        }
        async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<(), StateError> {
            self.inner.put(key, value, lease).await
        }
        async fn delete(&self, key: &str) -> Result<bool, StateError> {
            self.inner.delete(key).await
        }
        async fn delete_prefix(&self, prefix: &str) -> Result<u64, StateError> {
            self.inner.delete_prefix(prefix).await
        }
        async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<Option<i64>, StateError> {
            self.inner.txn(compares, ops).await
        }
        async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StateError> {
            self.inner.grant_lease(ttl).await
        }
        async fn keep_alive(&self, lease: LeaseId) -> Result<(), StateError> {
            if self.renewals.fetch_add(1, Ordering::SeqCst) + 1 == self.hang {
                std::future::pending::<()>().await;
            }
            self.inner.keep_alive(lease).await
        }
        async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StateError> {
            self.inner.revoke_lease(lease).await
        }
        async fn watch(&self, prefix: &str) -> Result<mpsc::Receiver<WatchEvent>, StateError> {
            self.inner.watch(prefix).await
        }
        async fn list_and_watch(&self, prefix: &str) -> Result<Snapshot, StateError> {
            self.inner.list_and_watch(prefix).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_unanswered_renewal_does_not_cost_the_leadership() {
        let ttl = Duration::from_millis(1_500);
        let store = Arc::new(OneRenewalLost {
            inner: MemoryStore::new(),
            renewals: AtomicU32::new(0),
            hang: 2,
        });
        let keys = Keys::new("test");
        let me = LeaderRecord {
            coordinator_id: "coordinator-1".into(),
            address: "http://127.0.0.1:1".into(),
        };
        let leadership = Leadership::new(&keys, me);
        let (stop, stop_rx) = watch::channel(false);
        let running = tokio::spawn(leadership.clone().run(store.clone(), ttl, stop_rx));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !leadership.is_leader() {
            assert!(Instant::now() < deadline, "never became leader");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Through the unanswered renewal and well past a TTL after it.
        let watched = Instant::now();
        while watched.elapsed() < ttl * 3 {
            assert!(
                leadership.is_leader(),
                "leadership lost {:?} in, after {} renewals",
                watched.elapsed(),
                store.renewals.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(store.renewals.load(Ordering::SeqCst) > 3, "renewals went on");
        let _ = stop.send(true);
        let _ = running.await;
    }
}
