//! The gRPC door of the coordinator: `ControlService`, each call a thin
//! shell that turns its request into a call of the application layer
//! (`crate::service`) and the answer back into wire types.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use throng_actors::clock::epoch_ms;

use throng_actors::spec::CampaignSpec;
use throng_proto::v1;
use throng_proto::v1::control_service_server::ControlService;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use throng_agent::trace_context;

use crate::campaign::Action;
use crate::error::CoordinatorError;
use crate::scenarios;
use crate::service::*;
use crate::view::ClusterView;

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

    async fn list_scenarios(
        &self,
        request: Request<v1::CampaignRef>,
    ) -> std::result::Result<Response<v1::ScenarioState>, Status> {
        let id = request.into_inner().id;
        Ok(Response::new(
            ControlServiceImpl::list_scenarios(self, &id).await?,
        ))
    }

    async fn stream_history(
        &self,
        request: Request<v1::StreamHistoryRequest>,
    ) -> std::result::Result<Response<v1::StreamHistoryResponse>, Status> {
        Ok(Response::new(
            ControlServiceImpl::stream_history(self, request.into_inner()).await?,
        ))
    }

    async fn external_events(
        &self,
        request: Request<v1::ExternalEventsRequest>,
    ) -> std::result::Result<Response<v1::ExternalEventsResponse>, Status> {
        Ok(Response::new(
            ControlServiceImpl::external_events(self, request.into_inner()).await?,
        ))
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
