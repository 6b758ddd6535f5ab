//! The leader's control loop: make the assignments in the state store and on
//! the agents match what the campaigns and the live agents call for.
//!
//! Each round reads the cluster view, decides what changes (`crate::round`,
//! a pure function: placement, fencing epochs, completion, aborts), writes
//! it under the leader's fence and then tells agents, concurrently and with
//! deadlines, what changed. A call that fails is made again next round.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use throng_state::{Keys, StateStore};
use tokio::sync::{Notify, watch};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::campaign::CampaignState;
use crate::error::{CoordinatorError, Result};
use crate::leader::Leadership;
use throng_node::trace_context;
use tracing::Instrument;

use crate::agents::AgentClients;
use crate::round::{self, AgentCall, Confirmed, Move, Round};
use crate::stats::StatsHub;
use crate::view::LiveView;
use crate::writes::Writes;

/// How often the loop runs when nothing nudges it.
pub const RECONCILE_PERIOD: Duration = Duration::from_millis(500);
/// The longest one call to an agent may take within a round.
pub const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// Placement decisions of the leader's reconcile loop, and how long its
/// rounds take.
#[derive(Debug, Default)]
pub struct PlacementCounts {
    /// Shards placed on an agent (first placements and moves).
    pub placed: AtomicU64,
    /// Shards moved from one agent to another.
    pub moved: AtomicU64,
    /// Rounds run while leader, their time in all, and the latest's.
    pub rounds: AtomicU64,
    pub round_micros: AtomicU64,
    pub last_round_micros: AtomicU64,
}

pub struct Reconciler {
    pub store: Arc<dyn StateStore>,
    pub keys: Keys,
    pub view: LiveView,
    pub leadership: Leadership,
    pub clients: AgentClients,
    /// Live stats, for thresholds that abort a campaign.
    pub hub: StatsHub,
    placements: Arc<PlacementCounts>,
    confirmed: HashMap<String, Confirmed>,
    /// The store revision of this loop's latest write: a round plans only
    /// from a view that shows it, so no decision is made twice.
    written: i64,
}

/// Requests a threshold needs to have judged before it may abort a campaign
/// (so one slow first request does not stop a run).
pub const MIN_SAMPLES_TO_ABORT: u64 = 20;

impl Reconciler {
    pub fn new(
        store: Arc<dyn StateStore>,
        keys: Keys,
        view: LiveView,
        leadership: Leadership,
        clients: AgentClients,
        hub: StatsHub,
        placements: Arc<PlacementCounts>,
    ) -> Self {
        Reconciler {
            store,
            keys,
            view,
            leadership,
            clients,
            hub,
            placements,
            confirmed: HashMap::new(),
            written: 0,
        }
    }

    /// The first threshold that fails with enough data, for campaigns that abort on failure.
    fn failed_threshold(&self, campaign: &crate::campaign::Campaign) -> Option<String> {
        let spec = campaign.spec()?;
        if !spec.abort_on_fail || spec.thresholds.is_empty() {
            return None;
        }
        let totals = self.hub.campaign_totals(&campaign.id);
        spec.thresholds
            .iter()
            .map(|t| t.evaluate(&totals))
            .find(|r| !r.passed && r.samples >= MIN_SAMPLES_TO_ABORT)
            .map(|r| format!("threshold failed: {} (was {:.2})", r.rule, r.value))
    }

    pub async fn run(mut self, nudge: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if self.leadership.is_leader() {
                let started = std::time::Instant::now();
                if let Err(error) = self.reconcile_once().await {
                    tracing::warn!(%error, "reconcile round failed");
                }
                let micros = started.elapsed().as_micros() as u64;
                self.placements.rounds.fetch_add(1, Ordering::Relaxed);
                self.placements.round_micros.fetch_add(micros, Ordering::Relaxed);
                self.placements.last_round_micros.store(micros, Ordering::Relaxed);
            } else {
                // A new leader re-tells agents everything (Assign is idempotent).
                self.confirmed.clear();
            }
            tokio::select! {
                _ = tokio::time::sleep(RECONCILE_PERIOD) => {}
                _ = nudge.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// A write of the round: one that did not land (another coordinator
    /// leads now) ends the round.
    fn landed(written: bool) -> Result<()> {
        if written {
            Ok(())
        } else {
            Err(CoordinatorError::NotLeader {
                leader: "another coordinator".into(),
            })
        }
    }

    /// One round of the loop: read the view, decide (`crate::round`), apply.
    pub async fn reconcile_once(&mut self) -> Result<()> {
        let view = self.view.reached(self.written).await?;
        let round = round::plan(
            &view,
            &self.confirmed,
            |campaign| self.failed_threshold(campaign),
            throng_engine::clock::epoch_ms(),
        );
        let store = self.store.clone();
        let keys = self.keys.clone();
        let writes = Writes::new(&*store, &keys, &self.leadership);
        let applied = self.apply(round, &writes).await;
        self.written = self.written.max(writes.last_revision());
        applied
    }

    /// The round's writes in order, each under the leader's fence (the
    /// first refused ends the round), then its calls.
    async fn apply(&mut self, round: Round, writes: &Writes<'_>) -> Result<()> {
        for finish in &round.finishes {
            Self::landed(
                writes
                    .finish_campaign(&finish.campaign_id, &finish.status)
                    .await?,
            )?;
            match &finish.status.stop_reason {
                Some(reason) if finish.status.state == CampaignState::Stopped => {
                    tracing::warn!(campaign = %finish.campaign_id, %reason, "campaign aborted")
                }
                _ => tracing::info!(campaign = %finish.campaign_id, "campaign completed"),
            }
        }
        Self::landed(writes.move_shards(&round.moves).await?)?;
        let mut placements = HashMap::new();
        for change in &round.moves {
            match change {
                Move::Release { shard_id, .. } => {
                    self.confirmed.remove(shard_id);
                }
                Move::Place {
                    shard_id,
                    from,
                    to,
                    trace,
                } => {
                    // Placing a shard continues the trace of the call that
                    // started its campaign; its assign is the span's child.
                    let span = tracing::info_span!(
                        "place shard",
                        shard = %shard_id,
                        agent = %to.agent_id,
                        epoch = to.epoch
                    );
                    trace_context::adopt(&span, trace.as_deref());
                    self.placements.placed.fetch_add(1, Ordering::Relaxed);
                    if from.is_some() {
                        self.placements.moved.fetch_add(1, Ordering::Relaxed);
                    }
                    span.in_scope(|| {
                        tracing::info!(
                            shard = %shard_id,
                            from = from.as_ref().map(|a| a.agent_id.as_str()).unwrap_or("-"),
                            to = %to.agent_id,
                            epoch = to.epoch,
                            "shard placed"
                        )
                    });
                    placements.insert(shard_id.clone(), span);
                }
            }
        }
        self.execute(round.calls, placements).await;
        Ok(())
    }

    /// Tells agents, all at once, each call within [`CALL_DEADLINE`]; a
    /// call that fails or runs out is made again next round, so one slow
    /// agent delays no other and holds the loop for a deadline at most.
    /// An assign that carries out a placement is traced as its child.
    async fn execute(&mut self, calls: Vec<AgentCall>, placements: HashMap<String, tracing::Span>) {
        let clients = &self.clients;
        let placements = &placements;
        let results = join_all(calls.into_iter().map(|call| async move {
            match tokio::time::timeout(CALL_DEADLINE, call_agent(clients, placements, call)).await {
                Ok(confirmed) => confirmed,
                Err(_) => {
                    tracing::warn!(deadline = ?CALL_DEADLINE, "agent call ran out of time; will retry");
                    None
                }
            }
        }))
        .await;
        for (shard_id, confirmed) in results.into_iter().flatten() {
            self.confirmed.insert(shard_id, confirmed);
        }
    }
}

/// Makes one call; an assign that the agent took answers its shard and
/// what the agent now holds.
async fn call_agent(
    clients: &AgentClients,
    placements: &HashMap<String, tracing::Span>,
    call: AgentCall,
) -> Option<(String, Confirmed)> {
    match call {
        AgentCall::Assign {
            record,
            order,
            confirmed,
        } => {
            let client = clients.get(&record)?;
            let shard_id = order.assignment.shard_id();
            let span = match placements.get(&shard_id) {
                Some(placement) => tracing::info_span!(parent: placement, "assign", agent = %record.agent_id),
                None => tracing::Span::none(),
            };
            match client.assign(&order).instrument(span).await {
                Ok(_) => Some((shard_id, confirmed)),
                Err(error) => {
                    tracing::warn!(shard = %shard_id, agent = %record.agent_id, %error, "assign failed; will retry");
                    None
                }
            }
        }
        AgentCall::Revoke {
            record,
            campaign_id,
            shard_index,
        } => {
            let client = clients.get(&record)?;
            if let Err(error) = client.revoke(&campaign_id, shard_index).await {
                tracing::debug!(agent = %record.agent_id, %error, "revoke failed");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    //! The loop's rounds on the memory store, with agents that answer as
    //! the test says, in paused time (a slow agent costs no real time).

    use std::sync::Mutex;

    use throng_agent_api::{AgentApi, StatsStream};
    use throng_engine::order::ShardOrder;
    use throng_engine::records::AgentRecord;
    use throng_engine::records::{Assignment, Record};
    use throng_engine::spec::ValidationContext;
    use throng_engine::workload::Workload;
    use throng_node::log_ring::{LogLine, LogQuery};
    use throng_state::MemoryStore;

    use super::*;
    use crate::campaign::CampaignStatus;
    use crate::leader::LeaderRecord;

    /// An agent that records what it is told, after `delay_ms`.
    #[derive(Default)]
    struct FakeAgent {
        delay_ms: AtomicU64,
        told: Mutex<Vec<String>>,
    }

    impl FakeAgent {
        fn told(&self) -> Vec<String> {
            self.told.lock().expect("lock").clone()
        }
    }

    #[async_trait::async_trait]
    impl AgentApi for FakeAgent {
        async fn assign(&self, order: &ShardOrder) -> throng_agent_api::Result<bool> {
            tokio::time::sleep(Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))).await;
            let a = &order.assignment;
            self.told
                .lock()
                .expect("lock")
                .push(format!("assign {} epoch {}", a.shard_id(), a.epoch));
            Ok(true)
        }
        async fn revoke(&self, campaign_id: &str, shard_index: u32) -> throng_agent_api::Result<bool> {
            let shard_id = throng_state::keys::shard_id(campaign_id, shard_index);
            self.told.lock().expect("lock").push(format!("revoke {shard_id}"));
            Ok(true)
        }
        async fn set_paused(&self, _: &str, _: bool) -> throng_agent_api::Result<u32> {
            Ok(0)
        }
        async fn stream_stats(&self) -> throng_agent_api::Result<StatsStream> {
            Ok(Box::pin(futures::stream::empty()))
        }
        async fn describe(&self) -> throng_agent_api::Result<Vec<Assignment>> {
            Ok(Vec::new())
        }
        async fn logs(&self, _: &LogQuery) -> throng_agent_api::Result<Vec<LogLine>> {
            Ok(Vec::new())
        }
        async fn screenshot(&self, _: &str) -> throng_agent_api::Result<Option<Vec<u8>>> {
            Ok(None)
        }
    }

    struct Cluster {
        store: Arc<dyn StateStore>,
        keys: Keys,
        reconciler: Reconciler,
        /// Keeps the view's feed running.
        _feed: tokio::sync::watch::Sender<bool>,
    }

    fn record(id: &str) -> AgentRecord {
        AgentRecord {
            agent_id: id.into(),
            address: format!("http://{id}.test:7001"),
            capacity: 1,
        }
    }

    /// A coordinator that leads, agents registered, and one running
    /// campaign of `shards` shards.
    async fn cluster(agents: &[(&str, Arc<FakeAgent>)], shards: u32) -> Cluster {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let keys = Keys::new("test");
        let me = LeaderRecord {
            coordinator_id: "c1".into(),
            address: "http://c1.test:7070".into(),
        };
        store
            .put(&keys.leader(), me.to_bytes(), None)
            .await
            .expect("leader");
        let clients = AgentClients::default();
        for (id, fake) in agents {
            store
                .put(&keys.agent(id), record(id).to_bytes(), None)
                .await
                .expect("agent");
            clients.insert(&record(id), fake.clone());
        }
        let document = format!(
            "name: shop\ntarget: {{ url: \"http://127.0.0.1:9\" }}\nload: {{ rate: 5, sessions: 100, shards: {shards} }}\n"
        );
        let workload = Workload::parse(&document, &ValidationContext::default()).expect("spec");
        let status = CampaignStatus {
            state: CampaignState::Running,
            started_at_ms: Some(1),
            ..CampaignStatus::created(1)
        };
        store
            .put(&keys.campaign_spec("shop"), workload.to_json().into_bytes(), None)
            .await
            .expect("spec");
        store
            .put(&keys.campaign_status("shop"), status.to_bytes(), None)
            .await
            .expect("status");
        let (feed, stop) = tokio::sync::watch::channel(false);
        let (view, _) = crate::view::LiveView::start(store.clone(), keys.clone(), stop);
        let reconciler = Reconciler::new(
            store.clone(),
            keys.clone(),
            view,
            Leadership::new(&keys, me),
            clients,
            StatsHub::default(),
            Arc::new(PlacementCounts::default()),
        );
        Cluster {
            store,
            keys,
            reconciler,
            _feed: feed,
        }
    }

    /// Stored assignments: shard id, owner, epoch.
    async fn assignments(cluster: &Cluster) -> Vec<(String, String, u64)> {
        let mut all: Vec<(String, String, u64)> = cluster
            .store
            .list(&cluster.keys.assignments_prefix())
            .await
            .expect("list")
            .iter()
            .filter_map(|kv| Assignment::from_bytes(&kv.value))
            .map(|a| (a.shard_id(), a.agent_id.clone(), a.epoch))
            .collect();
        all.sort();
        all
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_agents_shards_move_to_the_survivor_under_a_new_epoch_and_then_all_is_quiet() {
        a_lost_agents_shards_move(6).await;
    }

    /// Hundreds of shards placed, and half of them moved, in one round each:
    /// more writes than one transaction takes, so they land in several.
    #[tokio::test(start_paused = true)]
    async fn a_round_moving_more_shards_than_one_transaction_takes_writes_them_all() {
        a_lost_agents_shards_move(400).await;
    }

    async fn a_lost_agents_shards_move(shards: u32) {
        let (a, b) = (Arc::new(FakeAgent::default()), Arc::new(FakeAgent::default()));
        let mut cluster = cluster(&[("a", a.clone()), ("b", b.clone())], shards).await;
        cluster.reconciler.reconcile_once().await.expect("round 1");
        let first = assignments(&cluster).await;
        assert_eq!(first.len(), shards as usize);
        assert!(first.iter().all(|(_, _, epoch)| *epoch == 1));
        assert_eq!(
            a.told().len() + b.told().len(),
            shards as usize,
            "each shard told once"
        );
        let on_b: Vec<String> = first.iter().filter(|s| s.1 == "b").map(|s| s.0.clone()).collect();
        assert!(!on_b.is_empty(), "both agents hold shards: {first:?}");

        let gone = cluster
            .store
            .txn(
                Vec::new(),
                vec![throng_state::Op::Delete(cluster.keys.agent("b"))],
            )
            .await
            .expect("b goes")
            .expect("no condition");
        // The round plans from a view that shows b gone.
        cluster.reconciler.view.reached(gone).await.expect("view");
        let (told_a, told_b) = (a.told().len(), b.told().len());
        cluster.reconciler.reconcile_once().await.expect("round 2");
        let second = assignments(&cluster).await;
        assert!(second.iter().all(|(_, owner, _)| owner == "a"), "{second:?}");
        for (shard_id, _, epoch) in &second {
            let expected = if on_b.contains(shard_id) { 2 } else { 1 };
            assert_eq!(*epoch, expected, "{shard_id}");
        }
        assert_eq!(b.told().len(), told_b, "a lost agent is not called");
        let news: Vec<String> = a.told()[told_a..].to_vec();
        assert_eq!(news.len(), on_b.len(), "only the moved shards are told: {news:?}");
        assert!(news.iter().all(|line| line.ends_with("epoch 2")));

        let quiet = a.told().len();
        cluster.reconciler.reconcile_once().await.expect("round 3");
        assert_eq!(a.told().len(), quiet, "nothing changed, nothing is told");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_agent_holds_a_round_for_a_deadline_at_most_and_is_told_again_next_round() {
        let (a, b) = (Arc::new(FakeAgent::default()), Arc::new(FakeAgent::default()));
        b.delay_ms.store(3_600_000, Ordering::Relaxed);
        let mut cluster = cluster(&[("a", a.clone()), ("b", b.clone())], 6).await;
        let started = tokio::time::Instant::now();
        cluster.reconciler.reconcile_once().await.expect("round 1");
        let took = started.elapsed();
        assert!(
            took >= CALL_DEADLINE && took < CALL_DEADLINE + Duration::from_secs(1),
            "{took:?}"
        );
        let on_b = assignments(&cluster).await.iter().filter(|s| s.1 == "b").count();
        assert!(on_b > 0);
        assert!(b.told().is_empty(), "the slow agent's calls ran out");
        assert_eq!(a.told().len(), 6 - on_b, "the fast agent was told at once");

        b.delay_ms.store(0, Ordering::Relaxed);
        let told_a = a.told().len();
        cluster.reconciler.reconcile_once().await.expect("round 2");
        assert_eq!(b.told().len(), on_b, "told again once it answers");
        assert_eq!(a.told().len(), told_a, "the fast agent is not told twice");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_handover_the_old_leader_writes_nothing_and_calls_no_agent() {
        let a = Arc::new(FakeAgent::default());
        let mut cluster = cluster(&[("a", a.clone())], 4).await;
        let successor = LeaderRecord {
            coordinator_id: "c2".into(),
            address: "http://c2.test:7070".into(),
        };
        cluster
            .store
            .put(&cluster.keys.leader(), successor.to_bytes(), None)
            .await
            .expect("handover");
        let refused = cluster.reconciler.reconcile_once().await;
        assert!(
            matches!(refused, Err(CoordinatorError::NotLeader { .. })),
            "{refused:?}"
        );
        assert!(assignments(&cluster).await.is_empty(), "nothing written");
        assert!(a.told().is_empty(), "no agent told");
    }
}
