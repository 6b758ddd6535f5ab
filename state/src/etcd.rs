//! The etcd backend (etcd v3 API through the `etcd-client` crate).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, Compare as EtcdCompare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions,
    LeaseKeepAliveStream, LeaseKeeper, PutOptions, SortOrder, SortTarget, Txn, TxnOp, WatchOptions,
};
use tokio::sync::{Mutex, mpsc};

use crate::{Compare, KeyValue, LeaseId, Op, Result, Snapshot, StateError, StateStore, WatchEvent};

/// How long one etcd request may take before it counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A state store in etcd.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    endpoint: String,
    keepers: Arc<Mutex<HashMap<LeaseId, (LeaseKeeper, LeaseKeepAliveStream)>>>,
}

impl EtcdStore {
    /// Connects and checks that etcd answers, so a wrong endpoint fails here
    /// with its name rather than later in the middle of work.
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        let endpoint = endpoints.join(",");
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(REQUEST_TIMEOUT);
        let unavailable = |reason: String| StateError::Unavailable {
            endpoint: endpoint.clone(),
            reason,
        };
        let mut client =
            tokio::time::timeout(Duration::from_secs(5), Client::connect(endpoints, Some(options)))
                .await
                .map_err(|_| unavailable("connection timed out".into()))?
                .map_err(|e| unavailable(e.to_string()))?;
        tokio::time::timeout(REQUEST_TIMEOUT, client.status())
            .await
            .map_err(|_| unavailable("status request timed out".into()))?
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(EtcdStore {
            client,
            endpoint,
            keepers: Arc::default(),
        })
    }

    fn error(&self, error: etcd_client::Error) -> StateError {
        match error {
            etcd_client::Error::TransportError(e) => StateError::Unavailable {
                endpoint: self.endpoint.clone(),
                reason: e.to_string(),
            },
            etcd_client::Error::GRpcStatus(status)
                if status.code() == tonic::Code::Unavailable
                    || status.code() == tonic::Code::DeadlineExceeded
                    || status.code() == tonic::Code::Cancelled =>
            {
                StateError::Unavailable {
                    endpoint: self.endpoint.clone(),
                    reason: status.message().to_string(),
                }
            }
            other => StateError::Backend(other.to_string()),
        }
    }

    fn client(&self) -> Client {
        self.client.clone()
    }

    /// Forwards a watch's events until it ends (cancelled, compacted past,
    /// or the connection lost), then closes the receiver.
    async fn watch_from(&self, prefix: &str, options: WatchOptions) -> Result<mpsc::Receiver<WatchEvent>> {
        let mut stream = self
            .client()
            .watch(prefix, Some(options))
            .await
            .map_err(|e| self.error(e))?;
        let (sender, receiver) = mpsc::channel(4096);
        tokio::spawn(async move {
            while let Ok(Some(response)) = stream.message().await {
                if response.canceled() {
                    return;
                }
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    let event = match event.event_type() {
                        EventType::Put => WatchEvent::Put(key_value(kv)),
                        EventType::Delete => WatchEvent::Delete {
                            key: String::from_utf8_lossy(kv.key()).into_owned(),
                            revision: kv.mod_revision(),
                        },
                    };
                    if sender.send(event).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(receiver)
    }
}

fn key_value(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        mod_revision: kv.mod_revision(),
        lease: kv.lease(),
    }
}

#[async_trait::async_trait]
impl StateStore for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let response = self.client().get(key, None).await.map_err(|e| self.error(e))?;
        Ok(response.kvs().first().map(key_value))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<KeyValue>> {
        let options = GetOptions::new()
            .with_prefix()
            .with_sort(SortTarget::Key, SortOrder::Ascend);
        let response = self
            .client()
            .get(prefix, Some(options))
            .await
            .map_err(|e| self.error(e))?;
        Ok(response.kvs().iter().map(key_value).collect())
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<()> {
        let options = lease.map(|id| PutOptions::new().with_lease(id));
        match self.client().put(key, value, options).await {
            Ok(_) => Ok(()),
            Err(etcd_client::Error::GRpcStatus(status)) if status.message().contains("lease not found") => {
                Err(StateError::LeaseLost(lease.unwrap_or(0)))
            }
            Err(e) => Err(self.error(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let response = self.client().delete(key, None).await.map_err(|e| self.error(e))?;
        Ok(response.deleted() > 0)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        let response = self
            .client()
            .delete(prefix, Some(DeleteOptions::new().with_prefix()))
            .await
            .map_err(|e| self.error(e))?;
        Ok(response.deleted().max(0) as u64)
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<Option<i64>> {
        let compares: Vec<EtcdCompare> = compares
            .into_iter()
            .map(|c| match c {
                Compare::Absent(key) => EtcdCompare::version(key, CompareOp::Equal, 0),
                Compare::Present(key) => EtcdCompare::version(key, CompareOp::Greater, 0),
                Compare::ValueEquals(key, value) => EtcdCompare::value(key, CompareOp::Equal, value),
            })
            .collect();
        let lease = ops.iter().find_map(|op| match op {
            Op::Put { lease, .. } => *lease,
            Op::Delete(_) => None,
        });
        let ops: Vec<TxnOp> = ops
            .into_iter()
            .map(|op| match op {
                Op::Put { key, value, lease } => {
                    TxnOp::put(key, value, lease.map(|id| PutOptions::new().with_lease(id)))
                }
                Op::Delete(key) => TxnOp::delete(key, None),
            })
            .collect();
        match self.client().txn(Txn::new().when(compares).and_then(ops)).await {
            Ok(response) if response.succeeded() => Ok(Some(
                response
                    .header()
                    .map(|header| header.revision())
                    .unwrap_or_default(),
            )),
            Ok(_) => Ok(None),
            Err(etcd_client::Error::GRpcStatus(status)) if status.message().contains("lease not found") => {
                Err(StateError::LeaseLost(lease.unwrap_or(0)))
            }
            Err(e) => Err(self.error(e)),
        }
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let seconds = ttl.as_secs().max(1) as i64;
        let response = self
            .client()
            .lease_grant(seconds, None)
            .await
            .map_err(|e| self.error(e))?;
        Ok(response.id())
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        let mut keepers = self.keepers.lock().await;
        if let std::collections::hash_map::Entry::Vacant(slot) = keepers.entry(lease) {
            let pair = self
                .client()
                .lease_keep_alive(lease)
                .await
                .map_err(|e| self.error(e))?;
            slot.insert(pair);
        }
        let Some((keeper, stream)) = keepers.get_mut(&lease) else {
            return Err(StateError::Backend("lease keeper vanished".into()));
        };
        let renewed = async {
            keeper.keep_alive().await?;
            stream.message().await
        };
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, renewed).await;
        match outcome {
            Ok(Ok(Some(response))) if response.ttl() > 0 => Ok(()),
            Ok(Ok(_)) => {
                keepers.remove(&lease);
                Err(StateError::LeaseLost(lease))
            }
            Ok(Err(e)) => {
                keepers.remove(&lease);
                Err(self.error(e))
            }
            Err(_) => {
                keepers.remove(&lease);
                Err(StateError::Unavailable {
                    endpoint: self.endpoint.clone(),
                    reason: "lease keep-alive timed out".into(),
                })
            }
        }
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.keepers.lock().await.remove(&lease);
        match self.client().lease_revoke(lease).await {
            Ok(_) => Ok(()),
            Err(etcd_client::Error::GRpcStatus(status)) if status.message().contains("lease not found") => {
                Ok(())
            }
            Err(e) => Err(self.error(e)),
        }
    }

    async fn watch(&self, prefix: &str) -> Result<mpsc::Receiver<WatchEvent>> {
        self.watch_from(prefix, WatchOptions::new().with_prefix()).await
    }

    async fn list_and_watch(&self, prefix: &str) -> Result<Snapshot> {
        let response = self
            .client()
            .get(
                prefix,
                Some(
                    GetOptions::new()
                        .with_prefix()
                        .with_sort(SortTarget::Key, SortOrder::Ascend),
                ),
            )
            .await
            .map_err(|e| self.error(e))?;
        let revision = response.header().map(|h| h.revision()).unwrap_or_default();
        let entries = response.kvs().iter().map(key_value).collect();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1);
        let changes = self.watch_from(prefix, options).await?;
        Ok(Snapshot {
            entries,
            revision,
            changes,
        })
    }
}
