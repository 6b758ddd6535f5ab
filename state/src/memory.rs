//! The in-memory backend: the embedded state store of `throng up`.
//!
//! It mirrors etcd's semantics that Throng relies on: a store-wide revision,
//! leases whose keys vanish when they expire, atomic compare-and-write
//! transactions, and prefix watches.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::{Compare, KeyValue, LeaseId, Op, Result, Snapshot, StateError, StateStore, WatchEvent};

/// Changes a watcher may fall behind by before it is dropped (its receiver
/// closes, like a cancelled etcd watch, and its owner lists again).
const WATCH_BUFFER: usize = 16_384;

/// A state store held in process memory.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    revision: i64,
    next_lease: LeaseId,
    entries: BTreeMap<String, KeyValue>,
    leases: HashMap<LeaseId, Lease>,
    watchers: Vec<(String, mpsc::Sender<WatchEvent>)>,
}

struct Lease {
    ttl: Duration,
    deadline: Instant,
}

impl MemoryStore {
    /// A fresh, empty store. Inside a tokio runtime it also sweeps expired
    /// leases in the background, so their keys vanish even when nobody calls.
    pub fn new() -> Self {
        let store = MemoryStore::default();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let weak: Weak<Mutex<Inner>> = Arc::downgrade(&store.inner);
            handle.spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let Some(inner) = weak.upgrade() else { return };
                    let mut guard = lock(&inner);
                    guard.expire_leases(Instant::now());
                }
            });
        }
        store
    }

    fn state(&self) -> MutexGuard<'_, Inner> {
        let mut guard = lock(&self.inner);
        guard.expire_leases(Instant::now());
        guard
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock cannot leave the maps half-written in a
    // way later readers could misread, so a poisoned lock is still usable.
    inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    fn expire_leases(&mut self, now: Instant) {
        let expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, lease)| lease.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.remove_lease(id);
        }
    }

    fn remove_lease(&mut self, id: LeaseId) {
        self.leases.remove(&id);
        let keys: Vec<String> = self
            .entries
            .values()
            .filter(|kv| kv.lease == id)
            .map(|kv| kv.key.clone())
            .collect();
        for key in keys {
            self.delete(&key);
        }
    }

    fn put(&mut self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<()> {
        let lease = lease.unwrap_or(0);
        if lease != 0 && !self.leases.contains_key(&lease) {
            return Err(StateError::LeaseLost(lease));
        }
        self.revision += 1;
        let kv = KeyValue {
            key: key.to_string(),
            value,
            mod_revision: self.revision,
            lease,
        };
        self.entries.insert(key.to_string(), kv.clone());
        self.notify(key, WatchEvent::Put(kv));
        Ok(())
    }

    fn delete(&mut self, key: &str) -> bool {
        if self.entries.remove(key).is_none() {
            return false;
        }
        self.revision += 1;
        let revision = self.revision;
        self.notify(
            key,
            WatchEvent::Delete {
                key: key.to_string(),
                revision,
            },
        );
        true
    }

    fn notify(&mut self, key: &str, event: WatchEvent) {
        // A watcher that cannot keep up is dropped, like a cancelled etcd watch:
        // its receiver closes and its owner re-lists.
        self.watchers.retain(|(prefix, sender)| {
            !key.starts_with(prefix.as_str()) || sender.try_send(event.clone()).is_ok()
        });
    }

    fn holds(&self, compare: &Compare) -> bool {
        match compare {
            Compare::Absent(key) => !self.entries.contains_key(key),
            Compare::Present(key) => self.entries.contains_key(key),
            Compare::ValueEquals(key, value) => self.entries.get(key).is_some_and(|kv| &kv.value == value),
        }
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.state().entries.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<KeyValue>> {
        let state = self.state();
        Ok(state
            .entries
            .range(prefix.to_string()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect())
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<()> {
        self.state().put(key, value, lease)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.state().delete(key))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        let mut state = self.state();
        let keys: Vec<String> = state
            .entries
            .keys()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect();
        for key in &keys {
            state.delete(key);
        }
        Ok(keys.len() as u64)
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<Option<i64>> {
        if compares.len().max(ops.len()) > crate::MAX_TXN_OPS {
            return Err(StateError::Backend(format!(
                "too many operations in txn request ({}, at most {})",
                compares.len().max(ops.len()),
                crate::MAX_TXN_OPS
            )));
        }
        let mut state = self.state();
        if !compares.iter().all(|c| state.holds(c)) {
            return Ok(None);
        }
        // Check leases first so a failing put cannot leave the txn half-applied.
        for op in &ops {
            if let Op::Put {
                lease: Some(lease), ..
            } = op
                && !state.leases.contains_key(lease)
            {
                return Err(StateError::LeaseLost(*lease));
            }
        }
        for op in ops {
            match op {
                Op::Put { key, value, lease } => state.put(&key, value, lease)?,
                Op::Delete(key) => {
                    state.delete(&key);
                }
            }
        }
        Ok(Some(state.revision))
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let ttl = ttl.max(Duration::from_secs(1));
        let mut state = self.state();
        state.next_lease += 1;
        let id = state.next_lease;
        state.leases.insert(
            id,
            Lease {
                ttl,
                deadline: Instant::now() + ttl,
            },
        );
        Ok(id)
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        let mut state = self.state();
        match state.leases.get_mut(&lease) {
            Some(entry) => {
                entry.deadline = Instant::now() + entry.ttl;
                Ok(())
            }
            None => Err(StateError::LeaseLost(lease)),
        }
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.state().remove_lease(lease);
        Ok(())
    }

    async fn watch(&self, prefix: &str) -> Result<mpsc::Receiver<WatchEvent>> {
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        self.state().watchers.push((prefix.to_string(), sender));
        Ok(receiver)
    }

    async fn list_and_watch(&self, prefix: &str) -> Result<Snapshot> {
        // One lock for both, so no change falls between the list and the watch.
        let mut state = self.state();
        let entries = state
            .entries
            .range(prefix.to_string()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(_, kv)| kv.clone())
            .collect();
        let (sender, changes) = mpsc::channel(WATCH_BUFFER);
        state.watchers.push((prefix.to_string(), sender));
        Ok(Snapshot {
            entries,
            revision: state.revision,
            changes,
        })
    }
}
