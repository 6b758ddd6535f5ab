//! The cluster as the coordinator sees it — live agents, campaigns,
//! assignments and checkpoints — kept current by one watch over the
//! cluster's keys rather than re-read on every use.
//!
//! [`LiveView`] lists the keys once, then applies each change the watch
//! delivers and publishes a new [`ClusterView`] after each batch. A stored
//! spec is parsed once per revision, not on every read. The leader's own
//! writes are waited for ([`LiveView::reached`]), so what it wrote is what
//! it reads next. While the watch is down (the state store unreachable)
//! reads fail with the store's error rather than answer from stale state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use imbl::OrdMap;
use std::time::Duration;
use throng_engine::records::Record;

use throng_engine::records::{AgentRecord, Assignment, Checkpoint};
use throng_engine::spec::{Allowlist, ValidationContext};
use throng_engine::workload::Workload;
use throng_state::{KeyValue, Keys, LeaseId, StateError, StateStore, WatchEvent};
use tokio::sync::watch;

use crate::campaign::{Campaign, CampaignStatus};
use crate::error::{CoordinatorError, Result};

/// How long a read waits for the view to start, or to reach a revision.
const VIEW_DEADLINE: Duration = Duration::from_secs(5);
/// How long the feed waits before listing again after the store failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A registered agent and the lease that keeps it registered. A new lease
/// means a new incarnation: it runs nothing until told again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveAgent {
    pub record: AgentRecord,
    pub lease: LeaseId,
}

/// The cluster as of one store revision.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    /// The store revision this view reflects every change up to.
    pub revision: i64,
    pub agents: Vec<LiveAgent>,
    pub campaigns: BTreeMap<String, Campaign>,
    /// By shard id. Persistent maps: a view shares them with the one before
    /// but for what changed, so publishing a view after each change costs
    /// the change, not a copy of ten thousand shards' records.
    pub assignments: OrdMap<String, Assignment>,
    /// By shard id.
    pub checkpoints: OrdMap<String, Checkpoint>,
}

impl ClusterView {
    pub fn agent(&self, agent_id: &str) -> Option<&LiveAgent> {
        self.agents.iter().find(|a| a.record.agent_id == agent_id)
    }

    /// A campaign (or stream run) by id.
    pub fn campaign(&self, id: &str) -> Result<&Campaign> {
        self.campaigns
            .get(id)
            .ok_or_else(|| CoordinatorError::NotFound(format!("campaign {id}")))
    }

    /// Shards of `campaign_id` whose checkpoints say done.
    pub fn shards_done(&self, campaign_id: &str, shards: u32) -> u32 {
        (0..shards)
            .filter(|i| {
                let id = throng_state::keys::shard_id(campaign_id, *i);
                self.checkpoints.get(&id).is_some_and(|c| c.done)
            })
            .count() as u32
    }

    /// Sessions claimed by checkpoints (finished and stored) of a campaign.
    pub fn sessions_checkpointed(&self, campaign_id: &str, shards: u32) -> u64 {
        (0..shards)
            .filter_map(|i| {
                self.checkpoints
                    .get(&throng_state::keys::shard_id(campaign_id, i))
            })
            .map(|c| c.next_seq)
            .sum()
    }
}

/// A stored spec and what it parsed to, kept until the next revision of it.
struct StoredSpec {
    revision: i64,
    json: Arc<str>,
    /// `None` when the stored document did not parse (it is then skipped).
    workload: Option<Arc<Workload>>,
}

/// The decoded keys of the cluster, updated one change at a time.
#[derive(Default)]
struct Records {
    revision: i64,
    /// By key, so a lapsed lease's delete finds its agent.
    agents: BTreeMap<String, LiveAgent>,
    specs: BTreeMap<String, StoredSpec>,
    statuses: BTreeMap<String, CampaignStatus>,
    /// By shard, each holder's assignment by key: a shard moving between
    /// agents is a put under the new agent's key and a delete of the old
    /// one's, and while both are there the later key stands.
    assignment_holders: HashMap<String, BTreeMap<String, Assignment>>,
    /// By shard, the assignment that stands.
    assignments: OrdMap<String, Assignment>,
    checkpoints: OrdMap<String, Checkpoint>,
}

/// Which kind of record a key holds.
enum KeyKind<'k> {
    Agent,
    Spec(&'k str),
    Status(&'k str),
    Assignment,
    Checkpoint(&'k str),
    /// The leader key, library items: not part of the view.
    Other,
}

fn kind_of<'k>(keys: &Keys, key: &'k str) -> KeyKind<'k> {
    if key.starts_with(&keys.agents_prefix()) {
        KeyKind::Agent
    } else if let Some(rest) = key.strip_prefix(&keys.campaigns_prefix()) {
        match rest.split_once('/') {
            Some((id, "spec")) => KeyKind::Spec(id),
            Some((id, "status")) => KeyKind::Status(id),
            _ => KeyKind::Other,
        }
    } else if key.starts_with(&keys.assignments_prefix()) {
        KeyKind::Assignment
    } else if let Some(shard) = key.strip_prefix(&keys.checkpoints_prefix()) {
        KeyKind::Checkpoint(shard)
    } else {
        KeyKind::Other
    }
}

impl Records {
    fn put(&mut self, keys: &Keys, kv: KeyValue) {
        let unreadable = |what: &str| tracing::warn!(key = %kv.key, "skipping an unreadable {what} record");
        match kind_of(keys, &kv.key) {
            KeyKind::Agent => match AgentRecord::from_bytes(&kv.value) {
                Some(record) => {
                    self.agents.insert(
                        kv.key.clone(),
                        LiveAgent {
                            record,
                            lease: kv.lease,
                        },
                    );
                }
                None => unreadable("agent"),
            },
            KeyKind::Spec(id) => {
                if self.specs.get(id).is_some_and(|s| s.revision == kv.mod_revision) {
                    return;
                }
                let json: Arc<str> = String::from_utf8_lossy(&kv.value).into();
                // Stored specs were validated on the way in, the allowlist
                // applied then.
                let context = ValidationContext {
                    allowlist: Allowlist::any(),
                };
                let workload = Workload::parse(&json, &context).ok().map(Arc::new);
                if workload.is_none() {
                    unreadable("campaign spec");
                }
                self.specs.insert(
                    id.to_string(),
                    StoredSpec {
                        revision: kv.mod_revision,
                        json,
                        workload,
                    },
                );
            }
            KeyKind::Status(id) => match CampaignStatus::from_bytes(&kv.value) {
                Some(status) => {
                    self.statuses.insert(id.to_string(), status);
                }
                None => unreadable("campaign status"),
            },
            KeyKind::Assignment => match Assignment::from_bytes(&kv.value) {
                Some(assignment) => {
                    let shard = assignment.shard_id();
                    self.assignment_holders
                        .entry(shard.clone())
                        .or_default()
                        .insert(kv.key.clone(), assignment);
                    self.settle_assignment(shard);
                }
                None => unreadable("assignment"),
            },
            KeyKind::Checkpoint(shard) => match Checkpoint::from_bytes(&kv.value) {
                Some(checkpoint) => {
                    self.checkpoints.insert(shard.to_string(), checkpoint);
                }
                None => unreadable("checkpoint"),
            },
            KeyKind::Other => {}
        }
    }

    fn delete(&mut self, keys: &Keys, key: &str) {
        match kind_of(keys, key) {
            KeyKind::Agent => {
                self.agents.remove(key);
            }
            KeyKind::Spec(id) => {
                self.specs.remove(id);
            }
            KeyKind::Status(id) => {
                self.statuses.remove(id);
            }
            KeyKind::Assignment => {
                // The key ends in the shard's id.
                let shard = key.rsplit_once('/').map_or(key, |(_, shard)| shard);
                if let Some(holders) = self.assignment_holders.get_mut(shard) {
                    holders.remove(key);
                    self.settle_assignment(shard.to_string());
                }
            }
            KeyKind::Checkpoint(shard) => {
                self.checkpoints.remove(shard);
            }
            KeyKind::Other => {}
        }
    }

    /// The view's assignment of `shard`: its holder with the latest key.
    fn settle_assignment(&mut self, shard: String) {
        match self
            .assignment_holders
            .get(&shard)
            .and_then(|holders| holders.values().next_back())
        {
            Some(standing) => {
                self.assignments.insert(shard, standing.clone());
            }
            None => {
                self.assignment_holders.remove(&shard);
                self.assignments.remove(&shard);
            }
        }
    }

    fn apply(&mut self, keys: &Keys, event: WatchEvent) {
        self.revision = self.revision.max(event.revision());
        match event {
            WatchEvent::Put(kv) => self.put(keys, kv),
            WatchEvent::Delete { key, .. } => self.delete(keys, &key),
        }
    }

    fn view(&self) -> ClusterView {
        let campaigns = self
            .specs
            .iter()
            .filter_map(|(id, spec)| {
                let workload = spec.workload.clone()?;
                let status = self.statuses.get(id)?.clone();
                Some((
                    id.clone(),
                    Campaign {
                        id: id.clone(),
                        workload,
                        spec_json: spec.json.clone(),
                        status,
                    },
                ))
            })
            .collect();
        ClusterView {
            revision: self.revision,
            agents: self.agents.values().cloned().collect(),
            campaigns,
            assignments: self.assignments.clone(),
            checkpoints: self.checkpoints.clone(),
        }
    }
}

/// What the feed last published.
#[derive(Clone)]
struct Published {
    view: Arc<ClusterView>,
    /// Set once the first list has been read.
    started: bool,
    /// Why the view is not current, while the store cannot be watched.
    down: Option<StateError>,
}

/// The cluster view, fed by a watch on the state store; cheap to clone.
#[derive(Clone)]
pub struct LiveView {
    published: watch::Receiver<Published>,
}

impl LiveView {
    /// Starts the feed; it runs until `stop`.
    pub fn start(
        store: Arc<dyn StateStore>,
        keys: Keys,
        stop: watch::Receiver<bool>,
    ) -> (LiveView, tokio::task::JoinHandle<()>) {
        let (sender, published) = watch::channel(Published {
            view: Arc::default(),
            started: false,
            down: None,
        });
        let task = tokio::spawn(feed(store, keys, sender, stop));
        (LiveView { published }, task)
    }

    /// The current view. Waits for the first list while the feed starts;
    /// fails at once, with the store's error, while the store is down.
    pub async fn current(&self) -> Result<Arc<ClusterView>> {
        self.reached(0).await
    }

    /// The view once it reflects every change up to `revision` (one this
    /// coordinator wrote), so a read after a write sees the write.
    pub async fn reached(&self, revision: i64) -> Result<Arc<ClusterView>> {
        let mut published = self.published.clone();
        let wait = published.wait_for(|p| p.down.is_some() || (p.started && p.view.revision >= revision));
        let outcome = match tokio::time::timeout(VIEW_DEADLINE, wait).await {
            Ok(Ok(published)) => published.clone(),
            Ok(Err(_)) => {
                return Err(CoordinatorError::Unavailable(
                    "the cluster view has stopped".into(),
                ));
            }
            Err(_) => {
                return Err(CoordinatorError::Unavailable(format!(
                    "the cluster view did not reach revision {revision} within {VIEW_DEADLINE:?}"
                )));
            }
        };
        match outcome.down {
            Some(error) => Err(error.into()),
            None => Ok(outcome.view),
        }
    }
}

/// Lists the cluster's keys, then applies the watch's changes, publishing a
/// view after each batch; lists again whenever the watch ends.
async fn feed(
    store: Arc<dyn StateStore>,
    keys: Keys,
    sender: watch::Sender<Published>,
    mut stop: watch::Receiver<bool>,
) {
    let prefix = format!("{}/", keys.root());
    while !*stop.borrow() {
        match store.list_and_watch(&prefix).await {
            Ok(snapshot) => {
                let mut records = Records {
                    revision: snapshot.revision,
                    ..Records::default()
                };
                for kv in snapshot.entries {
                    records.put(&keys, kv);
                }
                publish(&sender, &records);
                let mut changes = snapshot.changes;
                loop {
                    tokio::select! {
                        event = changes.recv() => match event {
                            Some(event) => {
                                records.apply(&keys, event);
                                // Everything already waiting goes into the same view.
                                while let Ok(event) = changes.try_recv() {
                                    records.apply(&keys, event);
                                }
                                publish(&sender, &records);
                            }
                            None => break,
                        },
                        _ = stop.changed() => return,
                    }
                }
                tracing::debug!("cluster watch ended; listing again");
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch the cluster state; retrying");
                sender.send_modify(|p| p.down = Some(error));
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_AFTER) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

fn publish(sender: &watch::Sender<Published>, records: &Records) {
    sender.send_replace(Published {
        view: Arc::new(records.view()),
        started: true,
        down: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use throng_state::MemoryStore;

    fn spec_json() -> String {
        let spec = "name: view\ntarget: { url: \"http://127.0.0.1:9\" }\nload: { rate: 5, sessions: 10 }\n";
        let context = ValidationContext {
            allowlist: Allowlist::any(),
        };
        Workload::parse(spec, &context).expect("spec").to_json()
    }

    #[test]
    fn a_shard_under_two_agents_shows_the_later_one_until_it_goes() {
        let keys = Keys::new("view");
        let mut records = Records::default();
        let assignment = |agent: &str, epoch| Assignment {
            campaign_id: "c1".into(),
            shard_index: 3,
            shard_count: 4,
            epoch,
            agent_id: agent.into(),
        };
        let put = |records: &mut Records, agent: &str, epoch| {
            let a = assignment(agent, epoch);
            records.put(
                &keys,
                KeyValue {
                    key: keys.assignment(agent, &a.shard_id()),
                    value: a.to_bytes(),
                    mod_revision: 1,
                    lease: 0,
                },
            );
        };
        let shard = assignment("a", 1).shard_id();
        put(&mut records, "b", 2);
        put(&mut records, "a", 1);
        let before = records.view();
        assert_eq!(before.assignments[&shard].agent_id, "b", "the later key stands");
        records.delete(&keys, &keys.assignment("b", &shard));
        assert_eq!(records.view().assignments[&shard].agent_id, "a");
        assert_eq!(
            before.assignments[&shard].agent_id, "b",
            "a published view does not change"
        );
        records.delete(&keys, &keys.assignment("a", &shard));
        assert!(records.view().assignments.is_empty());
        assert!(
            records.assignment_holders.is_empty(),
            "nothing kept for a shard no one holds"
        );
    }

    #[tokio::test]
    async fn the_view_follows_the_store_and_a_write_is_seen_once_reached() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let keys = Keys::new("view");
        let agent = AgentRecord {
            agent_id: "agent-1".into(),
            address: "http://127.0.0.1:1".into(),
            capacity: 1,
        };
        store
            .put(&keys.agent("agent-1"), agent.to_bytes(), None)
            .await
            .expect("put");
        let (_stop_sender, stop) = watch::channel(false);
        let (live, _task) = LiveView::start(store.clone(), keys.clone(), stop);
        let first = live.current().await.expect("view");
        assert_eq!(first.agents.len(), 1, "what was there before the watch is listed");
        assert!(first.campaigns.is_empty());

        let status = CampaignStatus::created(1);
        let revision = store
            .txn(
                Vec::new(),
                vec![
                    throng_state::Op::Put {
                        key: keys.campaign_spec("c1"),
                        value: spec_json().into_bytes(),
                        lease: None,
                    },
                    throng_state::Op::Put {
                        key: keys.campaign_status("c1"),
                        value: status.to_bytes(),
                        lease: None,
                    },
                ],
            )
            .await
            .expect("txn")
            .expect("applied");
        let view = live.reached(revision).await.expect("view");
        let campaign = view.campaign("c1").expect("the written campaign");
        assert_eq!(campaign.status, status);

        // A new status keeps the parsed workload: the spec did not change.
        let running = CampaignStatus {
            state: crate::campaign::CampaignState::Running,
            ..status
        };
        store
            .put(&keys.campaign_status("c1"), running.to_bytes(), None)
            .await
            .expect("put");
        let revision = store
            .get(&keys.campaign_status("c1"))
            .await
            .expect("get")
            .expect("kv")
            .mod_revision;
        let later = live.reached(revision).await.expect("view");
        assert!(Arc::ptr_eq(
            &later.campaign("c1").expect("campaign").workload,
            &campaign.workload
        ));

        // A lapsed agent leaves the view.
        store.delete(&keys.agent("agent-1")).await.expect("delete");
        let deadline = tokio::time::Instant::now() + VIEW_DEADLINE;
        while !live.current().await.expect("view").agents.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent never left the view"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
