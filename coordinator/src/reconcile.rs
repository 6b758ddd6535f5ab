//! The leader's control loop: make the assignments in the state store and on
//! the agents match what the campaigns and the live agents call for.
//!
//! Each round reads the cluster view, places every unfinished shard of every
//! active campaign by rendezvous hashing over live agents, moves shards whose
//! owner is gone (or is no longer their best place) under a new fencing
//! epoch, marks campaigns whose shards are all done as completed, and then
//! tells agents, concurrently and with deadlines, what changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use throng_agent_api::{AgentApi, GrpcAgentClient};
use throng_engine::assignment::{AgentRecord, Assignment};
use throng_engine::order::ShardOrder;
use throng_engine::streams::scenario::ScenarioRun;
use throng_state::{Keys, LeaseId, Op, StateStore};
use tokio::sync::{Notify, watch};

use std::sync::atomic::Ordering;

use crate::campaign::{CampaignState, CampaignStatus};
use crate::error::{CoordinatorError, Result};
use crate::leader::Leadership;
use throng_node::tls::NodeTls;
use throng_node::trace_context;
use tracing::Instrument;

use crate::metrics::PlacementCounts;
use crate::placement::{Candidate, place};
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

/// What the agents were last told about a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Confirmed {
    agent_id: String,
    epoch: u64,
    lease: LeaseId,
    paused: bool,
    rate_changes: usize,
    scenario_runs: Vec<ScenarioRun>,
}

/// A shard to start (or re-affirm) on an agent.
struct AssignCall {
    record: AgentRecord,
    order: ShardOrder,
    confirmed: Confirmed,
    /// The placement this call carries out, when it is one (the call
    /// is traced as its child).
    placement: tracing::Span,
}

enum AgentCall {
    Assign(Box<AssignCall>),
    Revoke {
        record: AgentRecord,
        campaign_id: String,
        shard_index: u32,
    },
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

    /// One round of the loop.
    pub async fn reconcile_once(&mut self) -> Result<()> {
        let view = ClusterView::load(&*self.store, &self.keys).await?;
        let candidates: Vec<Candidate> = view
            .agents
            .iter()
            .map(|a| Candidate {
                agent_id: a.record.agent_id.clone(),
                capacity: a.record.capacity,
            })
            .collect();
        let mut calls = Vec::new();
        for campaign in view.campaigns.values() {
            let shards = campaign.shard_count();
            let state = campaign.status.state;
            let paused = state == CampaignState::Paused;
            let finished = state.is_active() && view.shards_done(&campaign.id, shards) == shards;
            let aborted = if state == CampaignState::Running && !finished {
                self.failed_threshold(campaign)
            } else {
                None
            };
            if let Some(reason) = &aborted {
                let status = CampaignStatus {
                    state: CampaignState::Stopped,
                    ended_at_ms: Some(throng_engine::clock::epoch_ms()),
                    stop_reason: Some(reason.clone()),
                    ..campaign.status.clone()
                };
                self.guarded(vec![Op::Put {
                    key: self.keys.campaign_status(&campaign.id),
                    value: status.to_bytes(),
                    lease: None,
                }])
                .await?;
                tracing::warn!(campaign = %campaign.id, %reason, "campaign aborted");
            }
            let finished = finished || aborted.is_some();
            if finished && aborted.is_none() {
                let status = CampaignStatus {
                    state: CampaignState::Completed,
                    ended_at_ms: Some(throng_engine::clock::epoch_ms()),
                    ..campaign.status.clone()
                };
                self.guarded(vec![Op::Put {
                    key: self.keys.campaign_status(&campaign.id),
                    value: status.to_bytes(),
                    lease: None,
                }])
                .await?;
                tracing::info!(campaign = %campaign.id, "campaign completed");
            }
            for index in 0..shards {
                let shard_id = throng_state::keys::shard_id(&campaign.id, index);
                let current = view.assignments.get(&shard_id);
                let checkpoint = view.checkpoints.get(&shard_id).cloned().unwrap_or_default();
                if finished || !state.is_active() || checkpoint.done {
                    if let Some(old) = current {
                        self.guarded(vec![Op::Delete(self.keys.assignment(&old.agent_id, &shard_id))])
                            .await?;
                        if let Some(agent) = view.agent(&old.agent_id) {
                            calls.push(AgentCall::Revoke {
                                record: agent.record.clone(),
                                campaign_id: campaign.id.clone(),
                                shard_index: index,
                            });
                        }
                        self.confirmed.remove(&shard_id);
                    }
                    continue;
                }
                let Some(target) = place(&shard_id, &candidates) else {
                    continue;
                };
                let Some(agent) = view.agent(&target.agent_id) else {
                    continue;
                };
                let mut placement = tracing::Span::none();
                let assignment = match current {
                    Some(a) if a.agent_id == target.agent_id => a.clone(),
                    _ => {
                        let epoch = current.map_or(0, |a| a.epoch).max(checkpoint.epoch) + 1;
                        let moved = Assignment {
                            campaign_id: campaign.id.clone(),
                            shard_index: index,
                            shard_count: shards,
                            epoch,
                            agent_id: target.agent_id.clone(),
                        };
                        let mut ops = Vec::new();
                        if let Some(old) = current {
                            ops.push(Op::Delete(self.keys.assignment(&old.agent_id, &shard_id)));
                        }
                        ops.push(Op::Put {
                            key: self.keys.assignment(&target.agent_id, &shard_id),
                            value: moved.to_bytes(),
                            lease: None,
                        });
                        // Placing a shard continues the trace of the call
                        // that started its campaign.
                        placement = tracing::info_span!(
                            "place shard",
                            shard = %shard_id,
                            agent = %target.agent_id,
                            epoch
                        );
                        trace_context::adopt(&placement, campaign.status.trace.as_deref());
                        self.guarded(ops).instrument(placement.clone()).await?;
                        self.placements.placed.fetch_add(1, Ordering::Relaxed);
                        if current.is_some() {
                            self.placements.moved.fetch_add(1, Ordering::Relaxed);
                        }
                        tracing::info!(
                            shard = %shard_id,
                            from = current.map(|a| a.agent_id.as_str()).unwrap_or("-"),
                            to = %target.agent_id,
                            epoch,
                            "shard placed"
                        );
                        if let Some(old) = current
                            && let Some(old_agent) = view.agent(&old.agent_id)
                        {
                            calls.push(AgentCall::Revoke {
                                record: old_agent.record.clone(),
                                campaign_id: campaign.id.clone(),
                                shard_index: index,
                            });
                        }
                        moved
                    }
                };
                let confirmed = Confirmed {
                    agent_id: target.agent_id.clone(),
                    epoch: assignment.epoch,
                    lease: agent.lease,
                    paused,
                    rate_changes: campaign.status.rate_changes.len(),
                    scenario_runs: campaign.status.scenario_runs.clone(),
                };
                if self.confirmed.get(&shard_id) != Some(&confirmed) {
                    let order = ShardOrder {
                        assignment,
                        workload: campaign.workload.clone(),
                        paused,
                        started_at_ms: campaign
                            .status
                            .started_at_ms
                            .unwrap_or(campaign.status.created_at_ms),
                        rate_changes: campaign.status.rate_changes.clone(),
                        scenario_runs: campaign.status.scenario_runs.clone(),
                    };
                    calls.push(AgentCall::Assign(Box::new(AssignCall {
                        record: agent.record.clone(),
                        order,
                        confirmed,
                        placement,
                    })));
                }
            }
        }
        self.execute(calls).await;
        Ok(())
    }

    /// Tells agents, all at once; a call that fails is retried next round.
    async fn execute(&mut self, calls: Vec<AgentCall>) {
        let clients = self.clients.clone();
        let results = join_all(calls.into_iter().map(|call| {
            let clients = clients.clone();
            async move {
                match call {
                    AgentCall::Assign(call) => {
                        let AssignCall {
                        record,
                        order,
                        confirmed,
                        placement,
                    } = *call;
                        let client = clients.get(&record)?;
                        let span = if placement.is_none() {
                            tracing::Span::none()
                        } else {
                            tracing::info_span!(parent: &placement, "assign", agent = %record.agent_id)
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
