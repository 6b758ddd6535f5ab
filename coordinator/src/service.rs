//! `ControlService`: the public API. Requests are converted to domain types
//! here; validation reports every problem; writes are leader-only and fenced.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_actors::analytics::errors::ErrorReport;
use throng_actors::analytics::sessions::{self, SessionDetail, SessionPage};
use throng_actors::analytics::{AnalyticsSource, CampaignAnalytics, Live};
use throng_actors::clock::epoch_ms;
use throng_actors::plan::CampaignPlan;
use throng_actors::spec::{CampaignSpec, SpecErrors, ValidationContext};
use throng_actors::workload::Workload;
use throng_proto::v1;
use throng_proto::v1::control_service_server::ControlService;
use throng_state::{Compare, Keys, Op, StateStore};
use tokio::sync::Notify;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use throng_agent::trace_context;
use tracing::Instrument;

use crate::campaign::{Action, Campaign, CampaignState, CampaignStatus};
use crate::error::{CoordinatorError, Result};
use crate::leader::Leadership;
use crate::scenarios;
use crate::stats::StatsHub;
use crate::view::{ClusterView, load_campaigns};

/// An optional simulated instant (RFC 3339; empty: none) as epoch ms.
fn instant(field: &str, text: &str) -> std::result::Result<Option<i64>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| Some(t.as_millisecond()))
        .map_err(|e| Status::invalid_argument(format!("{field}: not an RFC 3339 instant: {e}")))
}

/// A change to a stream run's scenarios.
enum ScenarioChange {
    Apply { scenario: String, compose: bool },
    Stop,
    Reset,
}

/// Samples (about one a second) that live rates are averaged over.
const RATE_WINDOW: usize = 5;

/// When a sample was taken, and the sessions started, requests and stream events by then.
type RateSample = (Instant, u64, u64, u64);

#[derive(Clone)]
pub struct ControlServiceImpl {
    pub cluster: String,
    pub store: Arc<dyn StateStore>,
    pub keys: Keys,
    pub leadership: Leadership,
    pub hub: StatsHub,
    pub validation: ValidationContext,
    /// Wakes the reconciler after a change, so agents hear of it at once.
    pub nudge: Arc<Notify>,
    /// Where analytics are read (none: `GetAnalytics` is unavailable).
    pub analytics: Option<Arc<dyn AnalyticsSource>>,
    /// The reconcile loop's placement counts, for `/metrics`.
    pub placements: Arc<crate::metrics::PlacementCounts>,
    pub coordinator_id: String,
    /// Clients of the agents, for what only an agent knows (its logs).
    pub agents: crate::reconcile::AgentClients,
}

fn plan_preview(spec: &CampaignSpec) -> v1::PlanPreview {
    let plan = CampaignPlan::of(spec);
    let peak = plan.schedule.peak_rate();
    v1::PlanPreview {
        shards: plan.shards,
        // 0: bounded by time, not by a count (closed model).
        sessions: if plan.sessions == u64::MAX {
            0
        } else {
            plan.sessions
        },
        sessions_per_second: peak,
        expected_duration_seconds: plan.expected_duration().as_secs_f64(),
        requests_per_second_at_peak: plan.requests_per_second(spec),
        sessions_per_hour_at_peak: peak * 3600.0,
        personas: spec
            .personas
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let share = spec.persona_shares.share(i);
                v1::PersonaPreview {
                    name: p.name.clone(),
                    share,
                    sessions: share * plan.sessions as f64,
                    sessions_per_hour_at_peak: share * peak * 3600.0,
                    journeys: p.journeys.items().iter().map(|(j, _)| j.clone()).collect(),
                }
            })
            .collect(),
        daily_cap: spec.load.daily_cap.as_ref().map_or(0, |c| c.sessions),
    }
}

fn state_to_wire(state: CampaignState) -> v1::CampaignState {
    match state {
        CampaignState::Created => v1::CampaignState::Created,
        CampaignState::Running => v1::CampaignState::Running,
        CampaignState::Paused => v1::CampaignState::Paused,
        CampaignState::Stopped => v1::CampaignState::Stopped,
        CampaignState::Completed => v1::CampaignState::Completed,
    }
}

fn field_errors(errors: &SpecErrors) -> Vec<v1::FieldError> {
    errors
        .0
        .iter()
        .map(|e| v1::FieldError {
            path: e.path.clone(),
            message: e.message.clone(),
        })
        .collect()
}

impl ControlServiceImpl {
    /// Analytics reports of campaigns, in the order asked.
    /// Recent log lines of this coordinator (`node` empty or its id) or of
    /// an agent.
    pub async fn logs(&self, request: &v1::GetLogsRequest) -> std::result::Result<v1::LogLines, Status> {
        let query = throng_agent::wire::log_query_from_wire(request).map_err(Status::invalid_argument)?;
        if request.node.is_empty() || request.node == self.coordinator_id {
            let lines = throng_agent::log_ring::LogRing::global().query(&query);
            return Ok(v1::LogLines {
                node: self.coordinator_id.clone(),
                lines: lines.iter().map(throng_agent::wire::log_line_to_wire).collect(),
            });
        }
        let view = ClusterView::load(&*self.store, &self.keys)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let Some(agent) = view.agents.iter().find(|a| a.record.agent_id == request.node) else {
            let mut known: Vec<&str> = view.agents.iter().map(|a| a.record.agent_id.as_str()).collect();
            known.insert(0, &self.coordinator_id);
            return Err(Status::not_found(format!(
                "node: no live node `{}` here; ask one of {}",
                request.node,
                known.join(", ")
            )));
        };
        let client = self
            .agents
            .get(&agent.record)
            .ok_or_else(|| Status::unavailable(format!("cannot reach agent {}", request.node)))?;
        let lines = client
            .logs(&query)
            .await
            .map_err(|e| Status::unavailable(format!("agent {}: {e}", request.node)))?;
        Ok(v1::LogLines {
            node: request.node.clone(),
            lines,
        })
    }

    /// A page of a traffic campaign's sessions.
    pub async fn list_sessions(
        &self,
        request: &v1::ListSessionsRequest,
    ) -> std::result::Result<SessionPage, Status> {
        let query = crate::sessions::parse(request)?;
        let source = self.analytics_source()?;
        let campaign = self.load(&query.campaign_id).await?;
        traffic_only(&campaign)?;
        sessions::list(
            source.as_ref(),
            &campaign.id,
            &query.filter,
            query.cursor.as_deref(),
            query.limit,
        )
        .await
        .map_err(|e| match e {
            sessions::ListError::BadCursor(bad) => Status::invalid_argument(format!("cursor: {bad}")),
            sessions::ListError::Store(e) => crate::analytics::store_status(e),
        })
    }

    /// One session of a traffic campaign in full.
    pub async fn session(
        &self,
        campaign_id: &str,
        session_id: u64,
    ) -> std::result::Result<SessionDetail, Status> {
        let source = self.analytics_source()?;
        let campaign = self.load(campaign_id).await?;
        traffic_only(&campaign)?;
        source
            .session(&campaign.id, session_id)
            .await
            .map_err(crate::analytics::store_status)?
            .ok_or_else(|| Status::not_found(format!("campaign {campaign_id} has no session {session_id}")))
    }

    fn analytics_source(&self) -> std::result::Result<&Arc<dyn AnalyticsSource>, Status> {
        self.analytics.as_ref().ok_or_else(|| {
            Status::failed_precondition(
                "this coordinator has no telemetry store to read: start it with --clickhouse URL",
            )
        })
    }

    /// A traffic campaign's failed requests, grouped by class and message.
    pub async fn campaign_errors(&self, id: &str) -> std::result::Result<ErrorReport, Status> {
        let Some(source) = &self.analytics else {
            return Err(Status::failed_precondition(
                "this coordinator has no telemetry store to read: start it with --clickhouse URL",
            ));
        };
        let campaign = self.load(id).await?;
        crate::analytics::errors(source, &campaign).await
    }

    pub async fn analytics(
        &self,
        request: &v1::AnalyticsRequest,
    ) -> std::result::Result<Vec<CampaignAnalytics>, Status> {
        let query = crate::analytics::parse(request)?;
        let Some(source) = &self.analytics else {
            return Err(Status::failed_precondition(
                "this coordinator has no telemetry store to read: start it with --clickhouse URL",
            ));
        };
        let mut reports = Vec::with_capacity(request.campaign_ids.len());
        for id in &request.campaign_ids {
            let campaign = self.load(id).await?;
            let mut report = crate::analytics::report(source, &campaign, &query).await?;
            if campaign.status.state.is_active() {
                let totals = self.hub.campaign_totals(id);
                report.live = Some(Live {
                    sessions_started: totals.sessions_started,
                    sessions_completed: totals.sessions_completed,
                    sessions_failed: totals.sessions_failed,
                    requests: totals.requests,
                    request_errors: totals.request_errors,
                    p50_ms: totals.latency.quantile_ms(0.5),
                    p99_ms: totals.latency.quantile_ms(0.99),
                });
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// A spec document checked, with its library references resolved into
    /// snapshots of the items it uses.
    async fn parse_workload(&self, document: &str) -> Result<Workload> {
        let value = crate::library::resolve(&*self.store, &self.keys, document).await?;
        Workload::from_value(&value, &self.validation).map_err(CoordinatorError::InvalidSpec)
    }

    /// Stores a library item (a new version when it changed).
    pub async fn apply_library_item(&self, kind: &str, document: &str) -> Result<crate::library::ItemView> {
        self.require_leader().await?;
        let kind = crate::library::kind(kind)?;
        let item = crate::library::apply(&*self.store, &self.keys, kind, document).await?;
        self.library_item(kind.as_str(), &item.name, Some(item.version))
            .await
    }

    /// One library item: the version asked for, or its newest.
    pub async fn library_item(
        &self,
        kind: &str,
        name: &str,
        version: Option<u32>,
    ) -> Result<crate::library::ItemView> {
        let kind = crate::library::kind(kind)?;
        let items = crate::library::load(&*self.store, &self.keys).await?;
        let campaigns = load_campaigns(&*self.store, &self.keys).await?;
        crate::library::views(&items, &campaigns, Some(kind), Some(name), version)
            .pop()
            .ok_or_else(|| {
                let which = version.map(|v| format!(" version {v}")).unwrap_or_default();
                CoordinatorError::NotFound(format!("{kind} {name}{which}"))
            })
    }

    /// The newest version of each library item of a kind (every kind: `None`).
    pub async fn library_items(&self, kind: Option<&str>) -> Result<Vec<crate::library::ItemView>> {
        let kind = kind.map(crate::library::kind).transpose()?;
        let items = crate::library::load(&*self.store, &self.keys).await?;
        let campaigns = load_campaigns(&*self.store, &self.keys).await?;
        Ok(crate::library::views(&items, &campaigns, kind, None, None))
    }

    /// Removes every version of a library item no unfinished campaign uses.
    pub async fn delete_library_item(&self, kind: &str, name: &str) -> Result<u32> {
        self.require_leader().await?;
        let kind = crate::library::kind(kind)?;
        let campaigns = load_campaigns(&*self.store, &self.keys).await?;
        crate::library::delete(&*self.store, &self.keys, &campaigns, kind, name).await
    }

    async fn require_leader(&self) -> Result<()> {
        if self.leadership.is_leader() {
            return Ok(());
        }
        let leader = self
            .leadership
            .current(&*self.store)
            .await?
            .map(|l| format!("{} at {}", l.coordinator_id, l.address))
            .unwrap_or_else(|| "none elected yet".to_string());
        Err(CoordinatorError::NotLeader { leader })
    }

    async fn load(&self, id: &str) -> Result<Campaign> {
        let campaigns = load_campaigns(&*self.store, &self.keys).await?;
        campaigns
            .get(id)
            .cloned()
            .ok_or_else(|| CoordinatorError::NotFound(format!("campaign {id}")))
    }

    async fn to_wire(&self, campaign: &Campaign) -> Result<v1::Campaign> {
        let view = ClusterView::load(&*self.store, &self.keys).await?;
        Ok(campaign_to_wire(campaign, &view))
    }

    async fn create(&self, document: &str, start: bool) -> Result<Campaign> {
        self.require_leader().await?;
        let workload = self
            .parse_workload(document)
            .instrument(tracing::info_span!("validate spec"))
            .await?;
        let now = epoch_ms();
        let suffix = throng_actors::ids::stable_hash(&[
            throng_actors::ids::Part::Str(workload.name()),
            throng_actors::ids::Part::U64(now),
            throng_actors::ids::Part::U64(u64::from(std::process::id())),
        ]);
        let id = format!("{}-{:08x}", workload.name(), suffix as u32);
        let status = CampaignStatus {
            state: if start {
                CampaignState::Running
            } else {
                CampaignState::Created
            },
            created_at_ms: now,
            started_at_ms: start.then_some(now),
            ended_at_ms: None,
            stop_reason: None,
            rate_changes: Vec::new(),
            paused_ms: 0,
            paused_at_ms: None,
            scenario_runs: Vec::new(),
            trace: if start { trace_context::current() } else { None },
            edits: 0,
        };
        let spec_json = workload.to_json();
        // One transaction: the spec and status appear together or not at all.
        let written = self
            .store
            .txn(
                vec![
                    self.leadership.fence(),
                    Compare::Absent(self.keys.campaign_spec(&id)),
                ],
                vec![
                    Op::Put {
                        key: self.keys.campaign_spec(&id),
                        value: spec_json.clone().into_bytes(),
                        lease: None,
                    },
                    Op::Put {
                        key: self.keys.campaign_status(&id),
                        value: status.to_bytes(),
                        lease: None,
                    },
                ],
            )
            .await?;
        if !written {
            return Err(CoordinatorError::Conflict(format!(
                "campaign {id} could not be created (leadership changed or id taken); retry"
            )));
        }
        tracing::info!(campaign = %id, kind = workload.kind(), start, "campaign created");
        self.nudge.notify_one();
        Ok(Campaign {
            id,
            workload,
            spec_json,
            status,
        })
    }

    async fn act(&self, id: &str, action: Action) -> Result<Campaign> {
        self.require_leader().await?;
        let mut campaign = self.load(id).await?;
        let old = campaign.status.clone();
        let next = old.state.after(action).map_err(CoordinatorError::Conflict)?;
        let now = epoch_ms();
        campaign.status.state = next;
        if action == Action::Start {
            campaign.status.started_at_ms = Some(now);
            campaign.status.trace = trace_context::current();
        }
        match action {
            Action::Pause => campaign.status.paused_at_ms = Some(now),
            Action::Resume => {
                let since = campaign.status.paused_at_ms.take().unwrap_or(now);
                campaign.status.paused_ms += now.saturating_sub(since);
            }
            Action::Start | Action::Stop => {}
        }
        if next.is_terminal() {
            campaign.status.ended_at_ms = Some(now);
            campaign.status.stop_reason = Some("stopped by request".to_string());
        }
        self.replace_status(id, &old, &campaign.status).await?;
        tracing::info!(campaign = %id, ?action, state = ?next, "campaign state changed");
        self.nudge.notify_one();
        Ok(campaign)
    }

    /// Current stats; rates are averaged over the window of earlier samples
    /// (reports arrive once a second, so a one-second rate would alias).
    /// Writes a campaign's new status if it is still `old` and this
    /// coordinator still leads (compare-and-set).
    /// Changes a stream run's scenario timeline at the simulated instant
    /// `at` (RFC 3339), or just ahead of the run's clock when empty.
    async fn change_scenarios(
        &self,
        id: &str,
        at: &str,
        change: ScenarioChange,
    ) -> Result<v1::ScenarioState> {
        self.require_leader().await?;
        let mut campaign = self.load(id).await?;
        let Workload::Streams(run) = campaign.workload.clone() else {
            return Err(CoordinatorError::Conflict(format!(
                "{id} is a traffic campaign; scenarios apply to stream runs"
            )));
        };
        if !campaign.status.state.is_active() {
            return Err(CoordinatorError::Conflict(
                format!(
                    "stream run {id} is {:?}; scenarios apply to running runs",
                    campaign.status.state
                )
                .to_lowercase(),
            ));
        }
        let now = epoch_ms();
        let at_ms = if at.is_empty() {
            scenarios::effective_ms(&run, &campaign.status, now).ok_or_else(|| {
                CoordinatorError::Conflict(
                    "a backfill has no clock to follow: give the simulated instant (at)".into(),
                )
            })?
        } else {
            at.parse::<jiff::Timestamp>()
                .map_err(|e| CoordinatorError::Conflict(format!("at: not an RFC 3339 instant: {e}")))?
                .as_millisecond()
        };
        let old = campaign.status.clone();
        let timeline = &mut campaign.status.scenario_runs;
        let warnings = match change {
            ScenarioChange::Apply { scenario, compose } => {
                scenarios::apply(&run, timeline, &scenario, at_ms, compose)
                    .map_err(CoordinatorError::Conflict)?
            }
            ScenarioChange::Stop => {
                if scenarios::stop(&run, timeline, at_ms) == 0 {
                    return Err(CoordinatorError::Conflict("no scenario is active".into()));
                }
                Vec::new()
            }
            ScenarioChange::Reset => {
                scenarios::reset(&run, timeline, at_ms);
                Vec::new()
            }
        };
        self.replace_status(id, &old, &campaign.status).await?;
        for warning in &warnings {
            tracing::warn!(run = %id, "{warning}");
        }
        tracing::info!(run = %id, at_ms, "scenario timeline changed");
        self.nudge.notify_one();
        let sim_now = scenarios::sim_now_ms(&run, &campaign.status, now);
        Ok(scenarios::state_to_wire(
            id,
            &run,
            &campaign.status.scenario_runs,
            sim_now,
            warnings,
        ))
    }

    /// The run and parsed query of a subscription request.
    pub async fn subscription(
        &self,
        request: &v1::SubscribeRequest,
    ) -> std::result::Result<
        (
            Arc<throng_actors::streams::StreamRunSpec>,
            crate::subscribe::SubscribeQuery,
        ),
        Status,
    > {
        let campaign = self.load(&request.id).await?;
        let run = crate::subscribe::stream_run(&campaign).map_err(Status::failed_precondition)?;
        let query = crate::subscribe::parse_query(&run, request).map_err(Status::invalid_argument)?;
        Ok((run, query))
    }

    /// Removes a campaign that is not running (`crate::archive::remove`).
    async fn delete(&self, id: &str) -> Result<u64> {
        self.require_leader().await?;
        let campaign = self.load(id).await?;
        if campaign.status.state.is_active() {
            return Err(CoordinatorError::Conflict(format!(
                "campaign {id} is {}: stop it first (`throng campaign stop {id}`)",
                format!("{:?}", campaign.status.state).to_lowercase()
            )));
        }
        crate::archive::remove(&*self.store, &self.keys, &self.leadership, &self.hub, &campaign).await
    }

    async fn replace_status(&self, id: &str, old: &CampaignStatus, new: &CampaignStatus) -> Result<()> {
        let key = self.keys.campaign_status(id);
        let written = self
            .store
            .txn(
                vec![
                    self.leadership.fence(),
                    Compare::ValueEquals(key.clone(), old.to_bytes()),
                ],
                vec![Op::Put {
                    key,
                    value: new.to_bytes(),
                    lease: None,
                }],
            )
            .await?;
        if written {
            Ok(())
        } else {
            Err(CoordinatorError::Conflict(format!(
                "campaign {id} changed meanwhile; retry"
            )))
        }
    }

    /// A new revision of a campaign's spec (`crate::campaign_update` says
    /// what may change when).
    async fn update(&self, id: &str, document: &str) -> Result<Campaign> {
        use crate::campaign_update::{Edit, plan_edit, unredact};
        self.require_leader().await?;
        let campaign = self.load(id).await?;
        let old: serde_json::Value = serde_json::from_str(&campaign.spec_json)
            .map_err(|e| CoordinatorError::Internal(format!("stored spec of {id}: {e}")))?;
        let resolved = crate::library::resolve(&*self.store, &self.keys, document).await?;
        let resolved = unredact(&resolved, &old);
        let workload =
            Workload::from_value(&resolved, &self.validation).map_err(CoordinatorError::InvalidSpec)?;
        if workload.kind() != campaign.workload.kind() {
            return Err(CoordinatorError::InvalidSpec(SpecErrors(vec![
                throng_actors::spec::FieldError {
                    path: "kind".into(),
                    message: format!(
                        "a {} cannot become a {}",
                        campaign.workload.kind(),
                        workload.kind()
                    ),
                },
            ])));
        }
        let new: serde_json::Value = serde_json::from_str(&workload.to_json())
            .map_err(|e| CoordinatorError::Internal(e.to_string()))?;
        match plan_edit(campaign.status.state, &old, &new) {
            Err(refused) => Err(CoordinatorError::InvalidSpec(SpecErrors(refused))),
            Ok(Edit::Unchanged) => Ok(campaign),
            Ok(Edit::Rate(rate)) => {
                let mut updated = self.set_rate(id, rate).await?;
                let before = updated.status.clone();
                updated.status.edits += 1;
                self.replace_status(id, &before, &updated.status).await?;
                Ok(updated)
            }
            Ok(Edit::Replace) => {
                let mut status = campaign.status.clone();
                status.edits += 1;
                let spec_json = workload.to_json();
                let status_key = self.keys.campaign_status(id);
                // Only while it is still the campaign that was read: not
                // started meanwhile, not edited by another call.
                let written = self
                    .store
                    .txn(
                        vec![
                            self.leadership.fence(),
                            Compare::ValueEquals(status_key.clone(), campaign.status.to_bytes()),
                        ],
                        vec![
                            Op::Put {
                                key: self.keys.campaign_spec(id),
                                value: spec_json.clone().into_bytes(),
                                lease: None,
                            },
                            Op::Put {
                                key: status_key,
                                value: status.to_bytes(),
                                lease: None,
                            },
                        ],
                    )
                    .await?;
                if !written {
                    return Err(CoordinatorError::Conflict(format!(
                        "campaign {id} changed meanwhile; read it again and retry"
                    )));
                }
                tracing::info!(campaign = %id, revision = status.edits + 1, "campaign spec updated");
                Ok(Campaign {
                    id: id.to_string(),
                    workload,
                    spec_json,
                    status,
                })
            }
        }
    }

    /// A new campaign from another's stored spec, under its name or `name`.
    async fn clone_campaign(&self, id: &str, name: &str, start: bool) -> Result<Campaign> {
        let campaign = self.load(id).await?;
        let mut document: serde_json::Value = serde_json::from_str(&campaign.spec_json)
            .map_err(|e| CoordinatorError::Internal(format!("stored spec of {id}: {e}")))?;
        if !name.is_empty() {
            document["name"] = serde_json::Value::String(name.to_string());
        }
        let clone = self.create(&document.to_string(), start).await?;
        tracing::info!(campaign = %clone.id, from = %id, "campaign cloned");
        Ok(clone)
    }

    async fn set_rate(&self, id: &str, rate: f64) -> Result<Campaign> {
        self.require_leader().await?;
        if !(rate > 0.0 && rate <= throng_actors::spec::limits::MAX_RATE) {
            return Err(CoordinatorError::InvalidSpec(throng_actors::spec::SpecErrors(
                vec![throng_actors::spec::FieldError {
                    path: "rate".into(),
                    message: format!(
                        "must be above 0 and at most {}",
                        throng_actors::spec::limits::MAX_RATE
                    ),
                }],
            )));
        }
        let mut campaign = self.load(id).await?;
        let Some(spec) = campaign.spec() else {
            return Err(CoordinatorError::Conflict(
                "a stream run has no rate to change; its catalog sets the rates".into(),
            ));
        };
        if spec.load.closed.is_some() {
            return Err(CoordinatorError::Conflict(
                "a closed-model campaign has users, not a rate".into(),
            ));
        }
        if !campaign.status.state.is_active() {
            return Err(CoordinatorError::Conflict(
                format!(
                    "cannot change the rate of a campaign that is {:?}",
                    campaign.status.state
                )
                .to_lowercase(),
            ));
        }
        let old = campaign.status.clone();
        let at_seconds = old.plan_seconds(epoch_ms());
        campaign
            .status
            .rate_changes
            .push(throng_actors::plan::RateChange { at_seconds, rate });
        self.replace_status(id, &old, &campaign.status).await?;
        tracing::info!(campaign = %id, rate, at_seconds, "campaign rate changed");
        self.nudge.notify_one();
        Ok(campaign)
    }

    fn stats(
        &self,
        campaign: &Campaign,
        view: &ClusterView,
        window: &VecDeque<RateSample>,
    ) -> v1::CampaignStats {
        let totals = self.hub.campaign_totals(&campaign.id);
        let thresholds: Vec<_> = campaign
            .spec()
            .map(|spec| spec.thresholds.iter().map(|t| t.evaluate(&totals)).collect())
            .unwrap_or_default();
        let shards = campaign.shard_count();
        let planned = campaign.plan().map_or(0, |plan| plan.sessions);
        let (sessions_per_second, requests_per_second, events_per_second) = match window.front() {
            Some((at, sessions, requests, events)) => {
                let elapsed = at.elapsed().as_secs_f64().max(0.001);
                (
                    totals.sessions_started.saturating_sub(*sessions) as f64 / elapsed,
                    totals.requests.saturating_sub(*requests) as f64 / elapsed,
                    totals.stream_events.saturating_sub(*events) as f64 / elapsed,
                )
            }
            None => (0.0, 0.0, 0.0),
        };
        let (sim_watermark_ms, sim_until_ms, sim_from_ms) = match &campaign.workload {
            Workload::Streams(run) => {
                let slowest = (0..shards)
                    .map(|i| {
                        view.checkpoints
                            .get(&throng_state::keys::shard_id(&campaign.id, i))
                            .and_then(|c| c.watermark_ms)
                            .unwrap_or(0)
                    })
                    .min()
                    .unwrap_or(0);
                let started = campaign
                    .status
                    .started_at_ms
                    .unwrap_or(campaign.status.created_at_ms) as i64;
                (
                    slowest,
                    run.clock.until_ms().unwrap_or(0),
                    run.clock.start_ms(started),
                )
            }
            Workload::Campaign(_) => (0, 0, 0),
        };
        v1::CampaignStats {
            campaign_id: campaign.id.clone(),
            at_ms: epoch_ms(),
            state: state_to_wire(campaign.status.state).into(),
            sessions_planned: if planned == u64::MAX { 0 } else { planned },
            sessions_started: totals.sessions_started,
            sessions_completed: totals.sessions_completed,
            sessions_failed: totals.sessions_failed,
            sessions_capped: totals.sessions_capped,
            sessions_thinned: totals.sessions_thinned,
            stream_events: totals.stream_events,
            stream_events_per_second: events_per_second,
            sim_watermark_ms,
            sim_until_ms,
            sim_from_ms,
            requests: totals.requests,
            request_errors: totals.request_errors,
            sessions_per_second,
            requests_per_second,
            p50_ms: totals.latency.quantile_ms(0.5),
            p90_ms: totals.latency.quantile_ms(0.9),
            p99_ms: totals.latency.quantile_ms(0.99),
            p999_ms: totals.latency.quantile_ms(0.999),
            max_ms: totals.latency.max_ms(),
            shards_done: view.shards_done(&campaign.id, shards),
            shards,
            by_name: totals
                .by_name
                .iter()
                .map(|(name, n)| v1::RequestStats {
                    name: name.clone(),
                    requests: n.requests,
                    errors: n.errors,
                    p50_ms: n.latency.quantile_ms(0.5),
                    p90_ms: n.latency.quantile_ms(0.9),
                    p99_ms: n.latency.quantile_ms(0.99),
                    p999_ms: n.latency.quantile_ms(0.999),
                })
                .collect(),
            errors_by_class: totals.errors_by_class.clone().into_iter().collect(),
            thresholds_passed: thresholds.iter().all(|t| t.passed),
            thresholds: thresholds
                .into_iter()
                .map(|t| v1::ThresholdResult {
                    rule: t.rule,
                    value: t.value,
                    passed: t.passed,
                    samples: t.samples,
                })
                .collect(),
            stop_reason: campaign.status.stop_reason.clone().unwrap_or_default(),
        }
    }
}

/// A campaign in its wire form.
pub fn campaign_to_wire(campaign: &Campaign, view: &ClusterView) -> v1::Campaign {
    let shards = campaign.shard_count();
    v1::Campaign {
        id: campaign.id.clone(),
        name: campaign.workload.name().to_string(),
        state: state_to_wire(campaign.status.state).into(),
        // Shown to clients: secrets (token_auth, api_secret) redacted.
        spec_json: campaign.workload.to_redacted_json(),
        created_at_ms: campaign.status.created_at_ms,
        plan: campaign.spec().map(plan_preview),
        shards_done: view.shards_done(&campaign.id, shards),
        sessions_checkpointed: view.sessions_checkpointed(&campaign.id, shards),
        stop_reason: campaign.status.stop_reason.clone().unwrap_or_default(),
        revision: campaign.status.edits + 1,
        ended_at_ms: campaign.status.ended_at_ms.unwrap_or(0),
    }
}

#[tonic::async_trait]
impl ControlService for ControlServiceImpl {
    async fn validate_campaign(
        &self,
        request: Request<v1::CampaignSpecRequest>,
    ) -> std::result::Result<Response<v1::ValidateCampaignResponse>, Status> {
        let document = request.into_inner().document;
        let response = match self.parse_workload(&document).await {
            Ok(workload) => v1::ValidateCampaignResponse {
                valid: true,
                errors: Vec::new(),
                plan: workload.campaign().map(|spec| plan_preview(spec)),
            },
            Err(CoordinatorError::InvalidSpec(errors)) => v1::ValidateCampaignResponse {
                valid: false,
                errors: field_errors(&errors),
                plan: None,
            },
            Err(other) => return Err(other.into()),
        };
        Ok(Response::new(response))
    }

    async fn create_campaign(
        &self,
        request: Request<v1::CampaignSpecRequest>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let span = tracing::info_span!(
            "CreateCampaign",
            start = request.get_ref().start,
            campaign = tracing::field::Empty
        );
        trace_context::adopt(&span, trace_context::extract(&request).as_deref());
        let request = request.into_inner();
        let campaign = self
            .create(&request.document, request.start)
            .instrument(span.clone())
            .await?;
        span.record("campaign", campaign.id.as_str());
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn start_campaign(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let span = tracing::info_span!("StartCampaign");
        trace_context::adopt(&span, trace_context::extract(&request).as_deref());
        let campaign = self
            .act(&request.into_inner().id, Action::Start)
            .instrument(span)
            .await?;
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn pause_campaign(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let campaign = self.act(&request.into_inner().id, Action::Pause).await?;
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn resume_campaign(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let campaign = self.act(&request.into_inner().id, Action::Resume).await?;
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn stop_campaign(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let campaign = self.act(&request.into_inner().id, Action::Stop).await?;
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn update_campaign(
        &self,
        request: Request<v1::UpdateCampaignRequest>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let request = request.into_inner();
        let campaign = self.update(&request.id, &request.document).await?;
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn clone_campaign(
        &self,
        request: Request<v1::CloneCampaignRequest>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let request = request.into_inner();
        let campaign =
            ControlServiceImpl::clone_campaign(self, &request.id, &request.name, request.start).await?;
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn set_campaign_rate(
        &self,
        request: Request<v1::SetCampaignRateRequest>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let request = request.into_inner();
        let campaign = self.set_rate(&request.id, request.rate).await?;
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn get_campaign(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::Campaign>, Status> {
        let campaign = self.load(&request.into_inner().id).await?;
        Ok(Response::new(self.to_wire(&campaign).await?))
    }

    async fn list_campaigns(
        &self,
        _request: Request<v1::ListCampaignsRequest>,
    ) -> std::result::Result<Response<v1::ListCampaignsResponse>, Status> {
        let view = ClusterView::load(&*self.store, &self.keys)
            .await
            .map_err(Status::from)?;
        let campaigns = view
            .campaigns
            .values()
            .map(|c| campaign_to_wire(c, &view))
            .collect();
        Ok(Response::new(v1::ListCampaignsResponse { campaigns }))
    }

    type WatchCampaignStream = ReceiverStream<std::result::Result<v1::CampaignStats, Status>>;
    type SubscribeStream = ReceiverStream<std::result::Result<v1::SubscribeMessage, Status>>;

    async fn subscribe(
        &self,
        request: Request<v1::SubscribeRequest>,
    ) -> std::result::Result<Response<Self::SubscribeStream>, Status> {
        let request = request.into_inner();
        let (run, query) = self.subscription(&request).await?;
        // A few batches of room: a slower consumer holds its own subscription only.
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(crate::subscribe::serve(
            self.store.clone(),
            self.keys.clone(),
            request.id,
            run,
            query,
            sender,
        ));
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn watch_campaign(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<Self::WatchCampaignStream>, Status> {
        let id = request.into_inner().id;
        self.load(&id).await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(8);
        let this = self.clone();
        tokio::spawn(async move {
            let mut window: VecDeque<RateSample> = VecDeque::new();
            let mut reports_since_end = 0;
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            loop {
                ticker.tick().await;
                let loaded = ClusterView::load(&*this.store, &this.keys).await;
                let (view, campaign) = match loaded {
                    Ok(view) => match view.campaigns.get(&id).cloned() {
                        Some(campaign) => (view, campaign),
                        None => {
                            let _ = sender
                                .send(Err(Status::not_found(format!("campaign {id} not found"))))
                                .await;
                            return;
                        }
                    },
                    // The store may come back: skip this tick, keep the stream.
                    Err(error) => {
                        tracing::debug!(%error, "watch: cluster view unavailable");
                        continue;
                    }
                };
                let stats = this.stats(&campaign, &view, &window);
                if sender.send(Ok(stats.clone())).await.is_err() {
                    return;
                }
                if campaign.status.state.is_terminal() {
                    // Agents report once a second: wait for their last
                    // reports, so the final figures are complete.
                    reports_since_end += 1;
                    if reports_since_end > 2 {
                        return;
                    }
                }
                window.push_back((
                    Instant::now(),
                    stats.sessions_started,
                    stats.requests,
                    stats.stream_events,
                ));
                if window.len() > RATE_WINDOW {
                    window.pop_front();
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn get_cluster_status(
        &self,
        _request: Request<v1::GetClusterStatusRequest>,
    ) -> std::result::Result<Response<v1::ClusterStatus>, Status> {
        let view = ClusterView::load(&*self.store, &self.keys)
            .await
            .map_err(Status::from)?;
        let leader = self
            .leadership
            .current(&*self.store)
            .await
            .map_err(|e| Status::from(CoordinatorError::from(e)))?
            .map(|l| l.coordinator_id)
            .unwrap_or_default();
        let agents = view
            .agents
            .iter()
            .map(|a| v1::AgentInfo {
                id: a.record.agent_id.clone(),
                address: a.record.address.clone(),
                capacity: a.record.capacity,
                shards: view
                    .assignments
                    .values()
                    .filter(|s| s.agent_id == a.record.agent_id)
                    .count() as u32,
                telemetry: self
                    .hub
                    .telemetry(&a.record.agent_id)
                    .map(|h| throng_agent::wire::health_to_wire(&h)),
            })
            .collect();
        Ok(Response::new(v1::ClusterStatus {
            cluster: self.cluster.clone(),
            leader,
            agents,
            campaigns: view.campaigns.len() as u32,
            shards: view.assignments.len() as u32,
        }))
    }

    async fn list_scenarios(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::ScenarioState>, Status> {
        let id = request.into_inner().id;
        let campaign = self.load(&id).await?;
        let Workload::Streams(run) = &campaign.workload else {
            return Err(
                CoordinatorError::Conflict(format!("{id} is a traffic campaign, not a stream run")).into(),
            );
        };
        let sim_now = scenarios::sim_now_ms(run, &campaign.status, epoch_ms());
        Ok(Response::new(scenarios::state_to_wire(
            &id,
            run,
            &campaign.status.scenario_runs,
            sim_now,
            Vec::new(),
        )))
    }

    async fn apply_scenario(
        &self,
        request: Request<v1::ApplyScenarioRequest>,
    ) -> std::result::Result<Response<v1::ScenarioState>, Status> {
        let request = request.into_inner();
        let change = ScenarioChange::Apply {
            scenario: request.scenario,
            compose: request.compose,
        };
        Ok(Response::new(
            self.change_scenarios(&request.id, &request.at, change).await?,
        ))
    }

    async fn stop_scenario(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::ScenarioState>, Status> {
        let id = request.into_inner().id;
        Ok(Response::new(
            self.change_scenarios(&id, "", ScenarioChange::Stop).await?,
        ))
    }

    async fn reset_scenarios(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::ScenarioState>, Status> {
        let id = request.into_inner().id;
        Ok(Response::new(
            self.change_scenarios(&id, "", ScenarioChange::Reset).await?,
        ))
    }

    async fn stream_history(
        &self,
        request: Request<v1::StreamHistoryRequest>,
    ) -> std::result::Result<Response<v1::StreamHistoryResponse>, Status> {
        let request = request.into_inner();
        let campaign = self.load(&request.id).await?;
        let Workload::Streams(run) = campaign.workload.clone() else {
            return Err(CoordinatorError::Conflict(format!(
                "{} is a traffic campaign, not a stream run",
                request.id
            ))
            .into());
        };
        let query = crate::stream_history::HistoryQuery {
            from_ms: instant("from", &request.from)?,
            until_ms: instant("until", &request.until)?,
            block_ms: if request.block_seconds > 0.0 {
                (request.block_seconds * 1000.0) as i64
            } else {
                43_200_000
            },
            patterns: request.patterns,
        };
        let started = campaign
            .status
            .started_at_ms
            .unwrap_or(campaign.status.created_at_ms) as i64;
        let timeline = campaign.status.scenario_runs.clone();
        let id = request.id.clone();
        // Generating a month of events takes seconds of CPU: off the async threads.
        let answer = tokio::task::spawn_blocking(move || {
            crate::stream_history::history(&id, &run, started, &timeline, &query)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(Status::invalid_argument)?;
        Ok(Response::new(answer))
    }

    async fn external_events(
        &self,
        request: Request<v1::ExternalEventsRequest>,
    ) -> std::result::Result<Response<v1::ExternalEventsResponse>, Status> {
        let request = request.into_inner();
        let campaign = self.load(&request.id).await?;
        let run = crate::subscribe::stream_run(&campaign).map_err(Status::failed_precondition)?;
        let (from, until) = (instant("from", &request.from)?, instant("until", &request.until)?);
        let started = campaign
            .status
            .started_at_ms
            .unwrap_or(campaign.status.created_at_ms) as i64;
        let timeline = campaign.status.scenario_runs.clone();
        // Correlation generates weeks of data: off the async threads.
        let answer = tokio::task::spawn_blocking(move || {
            crate::external_events::external_events(
                &request.id,
                &run,
                started,
                &timeline,
                from,
                until,
                &request.stream,
                &request.event,
            )
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(Status::invalid_argument)?;
        Ok(Response::new(answer))
    }

    async fn get_analytics(
        &self,
        request: Request<v1::AnalyticsRequest>,
    ) -> std::result::Result<Response<v1::AnalyticsResponse>, Status> {
        let reports = self.analytics(&request.into_inner()).await?;
        let reports_json = serde_json::to_string(&reports).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(v1::AnalyticsResponse { reports_json }))
    }

    async fn delete_campaign(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::DeleteCampaignResponse>, Status> {
        let id = request.into_inner().id;
        let keys_removed = self.delete(&id).await?;
        Ok(Response::new(v1::DeleteCampaignResponse { id, keys_removed }))
    }

    async fn get_logs(
        &self,
        request: Request<v1::GetLogsRequest>,
    ) -> std::result::Result<Response<v1::LogLines>, Status> {
        Ok(Response::new(self.logs(request.get_ref()).await?))
    }

    async fn list_sessions(
        &self,
        request: Request<v1::ListSessionsRequest>,
    ) -> std::result::Result<Response<v1::SessionList>, Status> {
        let page = ControlServiceImpl::list_sessions(self, request.get_ref()).await?;
        Ok(Response::new(crate::sessions::page_to_wire(&page)))
    }

    async fn get_session(
        &self,
        request: Request<v1::GetSessionRequest>,
    ) -> std::result::Result<Response<v1::SessionDetail>, Status> {
        let request = request.into_inner();
        let detail = self.session(&request.campaign_id, request.session_id).await?;
        Ok(Response::new(crate::sessions::detail_to_wire(&detail)))
    }

    async fn apply_library_item(
        &self,
        request: Request<v1::ApplyLibraryItemRequest>,
    ) -> std::result::Result<Response<v1::LibraryItem>, Status> {
        let request = request.into_inner();
        let view = ControlServiceImpl::apply_library_item(self, &request.kind, &request.document).await?;
        Ok(Response::new(crate::library::to_wire(&view)))
    }

    async fn get_library_item(
        &self,
        request: Request<v1::LibraryItemRef>,
    ) -> std::result::Result<Response<v1::LibraryItem>, Status> {
        let request = request.into_inner();
        let version = (request.version > 0).then_some(request.version);
        let view = self.library_item(&request.kind, &request.name, version).await?;
        Ok(Response::new(crate::library::to_wire(&view)))
    }

    async fn list_library_items(
        &self,
        request: Request<v1::ListLibraryItemsRequest>,
    ) -> std::result::Result<Response<v1::LibraryItems>, Status> {
        let kind = request.into_inner().kind;
        let views = self
            .library_items((!kind.is_empty()).then_some(kind.as_str()))
            .await?;
        Ok(Response::new(v1::LibraryItems {
            items: views.iter().map(crate::library::to_wire).collect(),
        }))
    }

    async fn delete_library_item(
        &self,
        request: Request<v1::LibraryItemRef>,
    ) -> std::result::Result<Response<v1::DeleteLibraryItemResponse>, Status> {
        let request = request.into_inner();
        let versions_removed =
            ControlServiceImpl::delete_library_item(self, &request.kind, &request.name).await?;
        Ok(Response::new(v1::DeleteLibraryItemResponse { versions_removed }))
    }

    async fn get_campaign_errors(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::CampaignErrors>, Status> {
        let id = request.into_inner().id;
        let report = self.campaign_errors(&id).await?;
        Ok(Response::new(crate::analytics::errors_to_wire(&id, &report)))
    }

    async fn score_behaviour(
        &self,
        request: Request<v1::ScoreBehaviourRequest>,
    ) -> std::result::Result<Response<v1::ScoreBehaviourResponse>, Status> {
        let verdict =
            score_behaviour_json(&request.into_inner().behaviour_json).map_err(Status::invalid_argument)?;
        Ok(Response::new(v1::ScoreBehaviourResponse {
            verdict_json: verdict,
        }))
    }

    async fn inject_events(
        &self,
        request: Request<v1::InjectEventsRequest>,
    ) -> std::result::Result<Response<v1::ExternalEventsResponse>, Status> {
        let request = request.into_inner();
        self.require_leader().await?;
        let mut campaign = self.load(&request.id).await?;
        let run = crate::subscribe::stream_run(&campaign).map_err(Status::failed_precondition)?;
        if !campaign.status.state.is_active() {
            return Err(Status::failed_precondition(format!(
                "stream run {} is not running; events are injected into running runs",
                request.id
            )));
        }
        if request.events.is_empty() {
            return Err(Status::invalid_argument(
                "events: give at least one event to inject",
            ));
        }
        let library = &run.catalog.external_events.library;
        let now = epoch_ms();
        let old = campaign.status.clone();
        let mut injected = Vec::new();
        for (i, event) in request.events.iter().enumerate() {
            let Some(template) = library.iter().position(|t| t.id == event.template) else {
                let known: Vec<&str> = library.iter().map(|t| t.id.as_str()).collect();
                return Err(Status::invalid_argument(format!(
                    "events[{i}].template: unknown `{}`; the library has: {}",
                    event.template,
                    known.join(", ")
                )));
            };
            let at_ms = match instant(&format!("events[{i}].at"), &event.at)? {
                Some(at_ms) => at_ms,
                None => scenarios::effective_ms(&run, &campaign.status, now).ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "events[{i}].at: a backfill has no clock to follow; give an instant"
                    ))
                })?,
            };
            campaign
                .status
                .scenario_runs
                .push(scenarios::injected_event(&event.template, at_ms));
            injected.push(throng_actors::streams::external::ExternalEvent::injected(
                template,
                &event.template,
                at_ms,
            ));
        }
        self.replace_status(&request.id, &old, &campaign.status).await?;
        tracing::info!(run = %request.id, events = injected.len(), "external events injected");
        self.nudge.notify_one();
        Ok(Response::new(crate::external_events::events_to_wire(
            &request.id,
            &run.catalog,
            &injected,
        )))
    }

    async fn test_target(
        &self,
        request: Request<v1::CampaignSpecRequest>,
    ) -> std::result::Result<Response<v1::TestTargetResponse>, Status> {
        let spec = CampaignSpec::parse(&request.into_inner().document, &self.validation)
            .map_err(CoordinatorError::InvalidSpec)?;
        let mut targets = Vec::new();
        for target in &spec.targets {
            targets.push(crate::target_check::check(target).await);
        }
        let ok = targets.iter().all(|t| t.ok);
        Ok(Response::new(v1::TestTargetResponse { targets, ok }))
    }
}

/// The detector's verdict on behaviour data given as JSON, as JSON; or what
/// is wrong with the data, with where.
pub fn score_behaviour_json(json: &str) -> std::result::Result<String, String> {
    let data: throng_actors::behaviour::signals::BehaviourData =
        serde_json::from_str(json).map_err(|e| format!("behaviour data: {e}"))?;
    let verdict = throng_actors::behaviour::score::score(&data);
    serde_json::to_string(&verdict).map_err(|e| e.to_string())
}

/// Sessions belong to traffic campaigns; a stream run has events instead.
fn traffic_only(campaign: &Campaign) -> std::result::Result<(), Status> {
    match campaign.spec() {
        Some(_) => Ok(()),
        None => Err(Status::failed_precondition(format!(
            "{} is a stream run: it has events, not sessions (`throng stream history --run {}`)",
            campaign.id, campaign.id
        ))),
    }
}
