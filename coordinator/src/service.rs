//! The coordinator's application layer: what each call of the public API
//! does (lifecycle rules, validation that reports every problem, leader-only
//! fenced writes). Its doors are `crate::grpc` (`ControlService`) and
//! `crate::http`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use throng_actors::analytics::errors::ErrorReport;
use throng_actors::analytics::sessions::{self, SessionDetail, SessionPage};
use throng_actors::analytics::{AnalyticsSource, CampaignAnalytics, Live};
use throng_actors::clock::epoch_ms;
use throng_actors::plan::CampaignPlan;
use throng_actors::spec::{CampaignSpec, SpecErrors, ValidationContext};
use throng_actors::workload::Workload;
use throng_proto::v1;
use throng_state::{Compare, Keys, Op, StateStore};
use tokio::sync::Notify;

use throng_agent::trace_context;
use tracing::Instrument;

use crate::campaign::{Action, Campaign, CampaignState, CampaignStatus};
use crate::error::{CoordinatorError, Result};
use crate::leader::Leadership;
use crate::scenarios;
use crate::stats::StatsHub;
use crate::view::{ClusterView, load_campaigns};

/// An optional simulated instant (RFC 3339; empty: none) as epoch ms.
pub(crate) fn instant(field: &str, text: &str) -> Result<Option<i64>> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| Some(t.as_millisecond()))
        .map_err(|e| CoordinatorError::Invalid(format!("{field}: not an RFC 3339 instant: {e}")))
}

/// A change to a stream run's scenarios.
pub(crate) enum ScenarioChange {
    Apply { scenario: String, compose: bool },
    Stop,
    Reset,
}

/// Samples (about one a second) that live rates are averaged over.
pub(crate) const RATE_WINDOW: usize = 5;

/// When a sample was taken, and the sessions started, requests and stream events by then.
pub(crate) type RateSample = (Instant, u64, u64, u64);

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

pub(crate) fn plan_preview(spec: &CampaignSpec) -> v1::PlanPreview {
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

pub(crate) fn state_to_wire(state: CampaignState) -> v1::CampaignState {
    match state {
        CampaignState::Created => v1::CampaignState::Created,
        CampaignState::Running => v1::CampaignState::Running,
        CampaignState::Paused => v1::CampaignState::Paused,
        CampaignState::Stopped => v1::CampaignState::Stopped,
        CampaignState::Completed => v1::CampaignState::Completed,
    }
}

pub(crate) fn field_errors(errors: &SpecErrors) -> Vec<v1::FieldError> {
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
    pub async fn logs(&self, request: &v1::GetLogsRequest) -> Result<v1::LogLines> {
        let query = throng_agent::wire::log_query_from_wire(request).map_err(CoordinatorError::Invalid)?;
        if request.node.is_empty() || request.node == self.coordinator_id {
            let lines = throng_agent::log_ring::LogRing::global().query(&query);
            return Ok(v1::LogLines {
                node: self.coordinator_id.clone(),
                lines: lines.iter().map(throng_agent::wire::log_line_to_wire).collect(),
            });
        }
        let view = ClusterView::load(&*self.store, &self.keys).await?;
        let Some(agent) = view.agents.iter().find(|a| a.record.agent_id == request.node) else {
            let mut known: Vec<&str> = view.agents.iter().map(|a| a.record.agent_id.as_str()).collect();
            known.insert(0, &self.coordinator_id);
            return Err(CoordinatorError::Missing(format!(
                "node: no live node `{}` here; ask one of {}",
                request.node,
                known.join(", ")
            )));
        };
        let client = self
            .agents
            .get(&agent.record)
            .ok_or_else(|| CoordinatorError::Unavailable(format!("cannot reach agent {}", request.node)))?;
        let lines = client
            .logs(&query)
            .await
            .map_err(|e| CoordinatorError::Unavailable(format!("agent {}: {e}", request.node)))?;
        Ok(v1::LogLines {
            node: request.node.clone(),
            lines,
        })
    }

    /// A page of a traffic campaign's sessions.
    pub async fn list_sessions(&self, request: &v1::ListSessionsRequest) -> Result<SessionPage> {
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
            sessions::ListError::BadCursor(bad) => CoordinatorError::Invalid(format!("cursor: {bad}")),
            sessions::ListError::Store(e) => crate::analytics::store_error(e),
        })
    }

    /// One session of a traffic campaign in full.
    pub async fn session(&self, campaign_id: &str, session_id: u64) -> Result<SessionDetail> {
        let source = self.analytics_source()?;
        let campaign = self.load(campaign_id).await?;
        traffic_only(&campaign)?;
        source
            .session(&campaign.id, session_id)
            .await
            .map_err(crate::analytics::store_error)?
            .ok_or_else(|| {
                CoordinatorError::Missing(format!("campaign {campaign_id} has no session {session_id}"))
            })
    }

    pub(crate) fn analytics_source(&self) -> Result<&Arc<dyn AnalyticsSource>> {
        self.analytics.as_ref().ok_or_else(|| {
            CoordinatorError::Conflict(
                "this coordinator has no telemetry store to read: start it with --clickhouse URL".into(),
            )
        })
    }

    /// A traffic campaign's failed requests, grouped by class and message.
    pub async fn campaign_errors(&self, id: &str) -> Result<ErrorReport> {
        let source = self.analytics_source()?;
        let campaign = self.load(id).await?;
        crate::analytics::errors(source, &campaign).await
    }

    pub async fn analytics(&self, request: &v1::AnalyticsRequest) -> Result<Vec<CampaignAnalytics>> {
        let query = crate::analytics::parse(request)?;
        let source = self.analytics_source()?;
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
    pub(crate) async fn parse_workload(&self, document: &str) -> Result<Workload> {
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

    pub(crate) async fn require_leader(&self) -> Result<()> {
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

    pub(crate) async fn load(&self, id: &str) -> Result<Campaign> {
        let campaigns = load_campaigns(&*self.store, &self.keys).await?;
        campaigns
            .get(id)
            .cloned()
            .ok_or_else(|| CoordinatorError::NotFound(format!("campaign {id}")))
    }

    pub(crate) async fn to_wire(&self, campaign: &Campaign) -> Result<v1::Campaign> {
        let view = ClusterView::load(&*self.store, &self.keys).await?;
        Ok(campaign_to_wire(campaign, &view))
    }

    pub(crate) async fn create(&self, document: &str, start: bool) -> Result<Campaign> {
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

    pub(crate) async fn act(&self, id: &str, action: Action) -> Result<Campaign> {
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
    pub(crate) async fn change_scenarios(
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
    ) -> Result<(
        Arc<throng_actors::streams::StreamRunSpec>,
        crate::subscribe::SubscribeQuery,
    )> {
        let campaign = self.load(&request.id).await?;
        let run = crate::subscribe::stream_run(&campaign).map_err(CoordinatorError::Conflict)?;
        let query = crate::subscribe::parse_query(&run, request).map_err(CoordinatorError::Invalid)?;
        Ok((run, query))
    }

    /// A stream run's scenarios: what its catalog defines and what has run.
    pub(crate) async fn list_scenarios(&self, id: &str) -> Result<v1::ScenarioState> {
        let campaign = self.load(id).await?;
        let Workload::Streams(run) = &campaign.workload else {
            return Err(CoordinatorError::Conflict(format!(
                "{id} is a traffic campaign, not a stream run"
            )));
        };
        let sim_now = scenarios::sim_now_ms(run, &campaign.status, epoch_ms());
        Ok(scenarios::state_to_wire(
            id,
            run,
            &campaign.status.scenario_runs,
            sim_now,
            Vec::new(),
        ))
    }

    /// A stream run's history in blocks against its baseline.
    pub(crate) async fn stream_history(
        &self,
        request: v1::StreamHistoryRequest,
    ) -> Result<v1::StreamHistoryResponse> {
        let campaign = self.load(&request.id).await?;
        let Workload::Streams(run) = campaign.workload.clone() else {
            return Err(CoordinatorError::Conflict(format!(
                "{} is a traffic campaign, not a stream run",
                request.id
            )));
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
        .map_err(|e| CoordinatorError::Internal(e.to_string()))?
        .map_err(CoordinatorError::Invalid)?;
        Ok(answer)
    }

    /// External events of a run's history, and what they moved.
    pub(crate) async fn external_events(
        &self,
        request: v1::ExternalEventsRequest,
    ) -> Result<v1::ExternalEventsResponse> {
        let campaign = self.load(&request.id).await?;
        let run = crate::subscribe::stream_run(&campaign).map_err(CoordinatorError::Conflict)?;
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
        .map_err(|e| CoordinatorError::Internal(e.to_string()))?
        .map_err(CoordinatorError::Invalid)?;
        Ok(answer)
    }

    /// Removes a campaign that is not running (`crate::archive::remove`).
    pub(crate) async fn delete(&self, id: &str) -> Result<u64> {
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

    pub(crate) async fn replace_status(
        &self,
        id: &str,
        old: &CampaignStatus,
        new: &CampaignStatus,
    ) -> Result<()> {
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
    pub(crate) async fn update(&self, id: &str, document: &str) -> Result<Campaign> {
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
    pub(crate) async fn clone_campaign(&self, id: &str, name: &str, start: bool) -> Result<Campaign> {
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

    pub(crate) async fn set_rate(&self, id: &str, rate: f64) -> Result<Campaign> {
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

    pub(crate) fn stats(
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

/// The detector's verdict on behaviour data given as JSON, as JSON; or what
/// is wrong with the data, with where.
pub fn score_behaviour_json(json: &str) -> std::result::Result<String, String> {
    let data: throng_actors::behaviour::signals::BehaviourData =
        serde_json::from_str(json).map_err(|e| format!("behaviour data: {e}"))?;
    let verdict = throng_actors::behaviour::score::score(&data);
    serde_json::to_string(&verdict).map_err(|e| e.to_string())
}

/// Sessions belong to traffic campaigns; a stream run has events instead.
pub(crate) fn traffic_only(campaign: &Campaign) -> Result<()> {
    match campaign.spec() {
        Some(_) => Ok(()),
        None => Err(CoordinatorError::Conflict(format!(
            "{} is a stream run: it has events, not sessions (`throng stream history --run {}`)",
            campaign.id, campaign.id
        ))),
    }
}
