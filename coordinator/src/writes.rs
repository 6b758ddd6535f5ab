//! Every write the coordinator makes to cluster state, each one named
//! transaction under the leader's fence: a coordinator that no longer leads
//! writes nothing. Each answers whether it was written; `false` means the
//! fence or the transaction's own condition did not hold (another leader, a
//! campaign changed meanwhile, a version taken), and the caller says which.
//!
//! Writes made for a caller who reads next (the API) wait until the live
//! view shows them ([`Writes::seen_by`]); the reconcile loop instead waits
//! once per round for the last revision it wrote.

use std::sync::atomic::{AtomicI64, Ordering};
use throng_engine::records::Record;

use throng_state::{Compare, Keys, MAX_TXN_OPS, Op, StateStore};

use crate::campaign::CampaignStatus;
use crate::error::Result;
use crate::leader::Leadership;
use crate::round::Move;
use crate::view::LiveView;

pub struct Writes<'a> {
    store: &'a dyn StateStore,
    keys: &'a Keys,
    fence: Compare,
    seen_by: Option<&'a LiveView>,
    last_revision: AtomicI64,
}

fn put(key: String, value: Vec<u8>) -> Op {
    Op::Put {
        key,
        value,
        lease: None,
    }
}

impl<'a> Writes<'a> {
    pub fn new(store: &'a dyn StateStore, keys: &'a Keys, leadership: &Leadership) -> Self {
        Writes {
            store,
            keys,
            fence: leadership.fence(),
            seen_by: None,
            last_revision: AtomicI64::new(0),
        }
    }

    /// Each write returns only once `view` shows it.
    pub fn seen_by(mut self, view: &'a LiveView) -> Self {
        self.seen_by = Some(view);
        self
    }

    /// The store revision of the latest write made through this value.
    pub fn last_revision(&self) -> i64 {
        self.last_revision.load(Ordering::Relaxed)
    }

    async fn fenced(&self, mut compares: Vec<Compare>, ops: Vec<Op>) -> Result<bool> {
        compares.insert(0, self.fence.clone());
        let Some(revision) = self.store.txn(compares, ops).await? else {
            return Ok(false);
        };
        self.last_revision.fetch_max(revision, Ordering::Relaxed);
        if let Some(view) = self.seen_by {
            view.reached(revision).await?;
        }
        Ok(true)
    }

    /// A new campaign: its spec and status appear together, under an id no
    /// campaign has.
    pub async fn create_campaign(&self, id: &str, spec_json: &str, status: &CampaignStatus) -> Result<bool> {
        let spec = self.keys.campaign_spec(id);
        self.fenced(
            vec![Compare::Absent(spec.clone())],
            vec![
                put(spec, spec_json.as_bytes().to_vec()),
                put(self.keys.campaign_status(id), status.to_bytes()),
            ],
        )
        .await
    }

    /// A campaign's status, if it is still `old`.
    pub async fn replace_status(&self, id: &str, old: &CampaignStatus, new: &CampaignStatus) -> Result<bool> {
        let key = self.keys.campaign_status(id);
        self.fenced(
            vec![Compare::ValueEquals(key.clone(), old.to_bytes())],
            vec![put(key, new.to_bytes())],
        )
        .await
    }

    /// A new revision of a campaign: spec and status, if its status is
    /// still `old` (not started or edited meanwhile).
    pub async fn revise_campaign(
        &self,
        id: &str,
        old: &CampaignStatus,
        spec_json: &str,
        new: &CampaignStatus,
    ) -> Result<bool> {
        let status = self.keys.campaign_status(id);
        self.fenced(
            vec![Compare::ValueEquals(status.clone(), old.to_bytes())],
            vec![
                put(self.keys.campaign_spec(id), spec_json.as_bytes().to_vec()),
                put(status, new.to_bytes()),
            ],
        )
        .await
    }

    /// Removes a campaign's spec and status, if its status is still `old`.
    pub async fn remove_campaign(&self, id: &str, old: &CampaignStatus) -> Result<bool> {
        let status = self.keys.campaign_status(id);
        self.fenced(
            vec![Compare::ValueEquals(status.clone(), old.to_bytes())],
            vec![Op::Delete(self.keys.campaign_spec(id)), Op::Delete(status)],
        )
        .await
    }

    /// The status a campaign ends with (completed, or stopped by a threshold).
    pub async fn finish_campaign(&self, id: &str, status: &CampaignStatus) -> Result<bool> {
        self.fenced(
            Vec::new(),
            vec![put(self.keys.campaign_status(id), status.to_bytes())],
        )
        .await
    }

    /// A round's shard moves, in order, in as few transactions as the
    /// store takes (each under the fence, at most [`MAX_TXN_OPS`]
    /// operations): when a thousand shards move at once, one transaction
    /// each kept their new owners waiting seconds for the last write. The
    /// first transaction refused stops the rest; whether all were written.
    pub async fn move_shards(&self, moves: &[Move]) -> Result<bool> {
        let mut batch: Vec<Op> = Vec::new();
        for change in moves {
            let ops = self.move_ops(change);
            if batch.len() + ops.len() > MAX_TXN_OPS
                && !self.fenced(Vec::new(), std::mem::take(&mut batch)).await?
            {
                return Ok(false);
            }
            batch.extend(ops);
        }
        if batch.is_empty() {
            return Ok(true);
        }
        self.fenced(Vec::new(), batch).await
    }

    /// One move's operations: a released shard's assignment goes; a placed
    /// one's is written under its new agent, its old owner's removed.
    fn move_ops(&self, change: &Move) -> Vec<Op> {
        match change {
            Move::Release { shard_id, owner } => {
                vec![Op::Delete(self.keys.assignment(&owner.agent_id, shard_id))]
            }
            Move::Place {
                shard_id, from, to, ..
            } => {
                let mut ops = Vec::with_capacity(2);
                if let Some(old) = from {
                    ops.push(Op::Delete(self.keys.assignment(&old.agent_id, shard_id)));
                }
                ops.push(put(self.keys.assignment(&to.agent_id, shard_id), to.to_bytes()));
                ops
            }
        }
    }

    /// A library item's new version, if no other call stored it first.
    pub async fn add_library_version(&self, key: String, value: Vec<u8>) -> Result<bool> {
        self.fenced(vec![Compare::Absent(key.clone())], vec![put(key, value)])
            .await
    }
}
