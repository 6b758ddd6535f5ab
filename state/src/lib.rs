//! Throng's cluster state: a small key-value contract ([`StateStore`]) with an
//! in-memory backend (the embedded default of `throng up`) and an etcd backend
//! (production), plus the typed key schema every node uses ([`keys`]).
//!
//! Both backends pass one shared test suite (`tests/suite.rs`), so code above
//! this crate cannot tell them apart.

mod error;
mod etcd;
pub mod keys;
mod memory;

use std::time::Duration;

use tokio::sync::mpsc;

pub use error::{Result, StateError};
pub use etcd::EtcdStore;
pub use keys::Keys;
pub use memory::MemoryStore;

/// The most operations a transaction may hold: etcd's default
/// (`--max-txn-ops`), which the memory store keeps too, so a write that
/// outgrows it fails on the embedded store as it would on etcd.
pub const MAX_TXN_OPS: usize = 128;

/// A lease id; keys attached to a lease vanish when it expires.
pub type LeaseId = i64;

/// One stored entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the last change to this key (grows store-wide).
    pub mod_revision: i64,
    /// The lease the key is attached to, 0 for none.
    pub lease: LeaseId,
}

/// A condition of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// The key does not exist.
    Absent(String),
    /// The key exists (with any value).
    Present(String),
    /// The key exists and holds exactly this value.
    ValueEquals(String, Vec<u8>),
}

/// A write inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Delete(String),
}

/// A change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    Put(KeyValue),
    /// A key removed (deleted, or its lease ended) at `revision`.
    Delete {
        key: String,
        revision: i64,
    },
}

impl WatchEvent {
    /// The store revision of this change.
    pub fn revision(&self) -> i64 {
        match self {
            WatchEvent::Put(kv) => kv.mod_revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }
}

/// Every key under a prefix as of one revision, and a watch that delivers
/// every change after that revision, in order: together, a gapless feed.
pub struct Snapshot {
    pub entries: Vec<KeyValue>,
    pub revision: i64,
    pub changes: mpsc::Receiver<WatchEvent>,
}

/// The contract between Throng and its cluster state backend.
///
/// Keys are strings, values opaque bytes. A watch ends (its receiver closes)
/// when the backend connection is lost: callers re-list and watch again.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Reads one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Reads every key under `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<KeyValue>>;
    /// Writes a key, optionally attached to a lease.
    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<()>;
    /// Deletes a key; true if it existed.
    async fn delete(&self, key: &str) -> Result<bool>;
    /// Deletes every key under `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64>;
    /// Applies `ops` atomically if every compare holds; the store revision
    /// they were applied at, or `None` if a compare did not hold.
    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<Option<i64>>;
    /// Grants a lease of `ttl` (whole seconds, at least one).
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId>;
    /// Renews a lease once. [`StateError::LeaseLost`] if it already expired.
    async fn keep_alive(&self, lease: LeaseId) -> Result<()>;
    /// Revokes a lease, deleting its keys.
    async fn revoke_lease(&self, lease: LeaseId) -> Result<()>;
    /// Streams changes under `prefix` from now on.
    async fn watch(&self, prefix: &str) -> Result<mpsc::Receiver<WatchEvent>>;
    /// Every key under `prefix` and, from the revision they were read at,
    /// every change after: what a cache of the prefix starts from.
    async fn list_and_watch(&self, prefix: &str) -> Result<Snapshot>;
}

/// Connects to the backend named by `url`: `memory:` for a fresh in-memory
/// store, otherwise a comma-separated list of etcd endpoints.
pub async fn connect(url: &str) -> Result<std::sync::Arc<dyn StateStore>> {
    if url == "memory:" || url == "memory" {
        return Ok(std::sync::Arc::new(MemoryStore::new()));
    }
    let endpoints: Vec<String> = url.split(',').map(|s| s.trim().to_string()).collect();
    Ok(std::sync::Arc::new(EtcdStore::connect(&endpoints).await?))
}
