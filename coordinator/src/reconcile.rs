//! The leader's control loop: make the assignments in the state store and on
//! the agents match what the campaigns and the live agents call for.
//!
//! Each round reads the cluster view, decides what changes (`crate::round`,
//! a pure function: placement, fencing epochs, completion, aborts), writes
//! it under the leader's fence and then tells agents, concurrently and with
//! deadlines, what changed. A call that fails is made again next round.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use throng_agent_api::{AgentApi, GrpcAgentClient};
use throng_engine::assignment::AgentRecord;
use throng_state::{Keys, Op, StateStore};
use tokio::sync::{Notify, watch};

use std::sync::atomic::Ordering;

use crate::campaign::CampaignState;
use crate::error::{CoordinatorError, Result};
use crate::leader::Leadership;
use throng_node::tls::NodeTls;
use throng_node::trace_context;
use tracing::Instrument;

use crate::metrics::PlacementCounts;
use crate::round::{self, AgentCall, Confirmed, Move, Round};
use crate::stats::StatsHub;
use crate::view::ClusterView;

/// How often the loop runs when nothing nudges it.
pub const RECONCILE_PERIOD: Duration = Duration::from_millis(500);

/// Clients for agents, one per (agent, address).
#[derive(Clone, Default)]
pub struct AgentClients {
    /// By agent id: the address the client was made for, and the client.
    clients: Arc<Mutex<HashMap<String, AddressedClient>>>,
    /// The cluster's token, which agents ask of every call.
    token: Option<String>,
    /// How calls to agents are encrypted (and this coordinator's certificate).
    tls: Option<NodeTls>,
}

type AddressedClient = (String, Arc<dyn AgentApi>);

impl AgentClients {
    pub fn new(token: Option<String>, tls: Option<NodeTls>) -> AgentClients {
        AgentClients {
            token,
            tls,
            ..AgentClients::default()
        }
    }

    pub fn get(&self, record: &AgentRecord) -> Option<Arc<dyn AgentApi>> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((address, client)) = clients.get(&record.agent_id)
            && *address == record.address
        {
            return Some(client.clone());
        }
        let client: Arc<dyn AgentApi> =
            Arc::new(GrpcAgentClient::new(&record.address, self.token.clone(), self.tls.as_ref()).ok()?);
        clients.insert(record.agent_id.clone(), (record.address.clone(), client.clone()));
        Some(client)
    }
}

pub struct Reconciler {
    pub store: Arc<dyn StateStore>,
    pub keys: Keys,
    pub leadership: Leadership,
    pub clients: AgentClients,
    /// Live stats, for thresholds that abort a campaign.
    pub hub: StatsHub,
    placements: Arc<PlacementCounts>,
    confirmed: HashMap<String, Confirmed>,
}

/// Requests a threshold needs to have judged before it may abort a campaign
/// (so one slow first request does not stop a run).
pub const MIN_SAMPLES_TO_ABORT: u64 = 20;

impl Reconciler {
    pub fn new(
        store: Arc<dyn StateStore>,
        keys: Keys,
        leadership: Leadership,
        clients: AgentClients,
        hub: StatsHub,
        placements: Arc<PlacementCounts>,
    ) -> Self {
        Reconciler {
            store,
            keys,
            leadership,
            clients,
            hub,
            placements,
            confirmed: HashMap::new(),
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
                if let Err(error) = self.reconcile_once().await {
                    tracing::warn!(%error, "reconcile round failed");
                }
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

    async fn guarded(&self, ops: Vec<Op>) -> Result<()> {
        if self.store.txn(vec![self.leadership.fence()], ops).await? {
            Ok(())
        } else {
            Err(CoordinatorError::NotLeader {
                leader: "another coordinator".into(),
            })
        }
    }

    /// One round of the loop: read the view, decide (`crate::round`), apply.
    pub async fn reconcile_once(&mut self) -> Result<()> {
        let view = ClusterView::load(&*self.store, &self.keys).await?;
        let round = round::plan(
            &view,
            &self.confirmed,
            |campaign| self.failed_threshold(campaign),
            throng_engine::clock::epoch_ms(),
        );
        self.apply(round).await
    }

    /// The round's writes in order, each under the leader's fence (the
    /// first refused ends the round), then its calls.
    async fn apply(&mut self, round: Round) -> Result<()> {
        for finish in &round.finishes {
            self.guarded(vec![Op::Put {
                key: self.keys.campaign_status(&finish.campaign_id),
                value: finish.status.to_bytes(),
                lease: None,
            }])
            .await?;
            match &finish.status.stop_reason {
                Some(reason) if finish.status.state == CampaignState::Stopped => {
                    tracing::warn!(campaign = %finish.campaign_id, %reason, "campaign aborted")
                }
                _ => tracing::info!(campaign = %finish.campaign_id, "campaign completed"),
            }
        }
        let mut placements = HashMap::new();
        for change in &round.moves {
            match change {
                Move::Release { shard_id, owner } => {
                    self.guarded(vec![Op::Delete(self.keys.assignment(&owner.agent_id, shard_id))])
                        .await?;
                    self.confirmed.remove(shard_id);
                }
                Move::Place {
                    shard_id,
                    from,
                    to,
                    trace,
                } => {
                    let mut ops = Vec::new();
                    if let Some(old) = from {
                        ops.push(Op::Delete(self.keys.assignment(&old.agent_id, shard_id)));
                    }
                    ops.push(Op::Put {
                        key: self.keys.assignment(&to.agent_id, shard_id),
                        value: to.to_bytes(),
                        lease: None,
                    });
                    // Placing a shard continues the trace of the call that
                    // started its campaign.
                    let span = tracing::info_span!(
                        "place shard",
                        shard = %shard_id,
                        agent = %to.agent_id,
                        epoch = to.epoch
                    );
                    trace_context::adopt(&span, trace.as_deref());
                    self.guarded(ops).instrument(span.clone()).await?;
                    self.placements.placed.fetch_add(1, Ordering::Relaxed);
                    if from.is_some() {
                        self.placements.moved.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::info!(
                        shard = %shard_id,
                        from = from.as_ref().map(|a| a.agent_id.as_str()).unwrap_or("-"),
                        to = %to.agent_id,
                        epoch = to.epoch,
                        "shard placed"
                    );
                    placements.insert(shard_id.clone(), span);
                }
            }
        }
        self.execute(round.calls, placements).await;
        Ok(())
    }

    /// Tells agents, all at once; a call that fails is retried next round.
    /// An assign that carries out a placement is traced as its child.
    async fn execute(&mut self, calls: Vec<AgentCall>, placements: HashMap<String, tracing::Span>) {
        let clients = self.clients.clone();
        let placements = &placements;
        let results = join_all(calls.into_iter().map(|call| {
            let clients = clients.clone();
            async move {
                match call {
                    AgentCall::Assign {
                        record,
                        order,
                        confirmed,
                    } => {
                        let client = clients.get(&record)?;
                        let span = match placements.get(&order.assignment.shard_id()) {
                            Some(placement) => {
                                tracing::info_span!(parent: placement, "assign", agent = %record.agent_id)
                            }
                            None => tracing::Span::none(),
                        };
                        let shard_id = order.assignment.shard_id();
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
        }))
        .await;
        for (shard_id, confirmed) in results.into_iter().flatten() {
            self.confirmed.insert(shard_id, confirmed);
        }
    }
}
