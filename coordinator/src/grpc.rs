//! The gRPC door of the coordinator: `ControlService`, each call a thin
//! shell that turns its request into a call of the application layer
//! (`crate::app`) and the answer into wire types (`crate::wire`); errors
//! become statuses in one place (`From<CoordinatorError> for Status`).

use throng_proto::v1;
use throng_proto::v1::control_service_server::ControlService;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use throng_node::trace_context;

use crate::app::{App, Injection, ScenarioChange, SubscribeAsk};
use crate::campaign::Action;
use crate::wire;

type Answer<T> = std::result::Result<Response<T>, Status>;

/// A server stream of wire messages.
type WireStream<T> =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = std::result::Result<T, Status>> + Send>>;

/// `ControlService` over the application.
#[derive(Clone)]
pub struct GrpcDoor {
    pub app: App,
}

impl GrpcDoor {
    async fn act(&self, request: Request<v1::CampaignRef>, action: Action) -> Answer<v1::Campaign> {
        let span = tracing::info_span!("CampaignAction", ?action);
        trace_context::adopt(&span, trace_context::extract(&request).as_deref());
        let id = request.into_inner().id;
        let view = self.app.campaigns().act(&id, action).instrument(span).await?;
        Ok(Response::new(wire::campaign(&view)))
    }

    async fn change_scenarios(
        &self,
        id: &str,
        at: &str,
        change: ScenarioChange,
    ) -> Answer<v1::ScenarioState> {
        let state = self.app.scenarios().change(id, at, change).await?;
        Ok(Response::new(wire::scenario_state(&state)))
    }
}

#[tonic::async_trait]
impl ControlService for GrpcDoor {
    async fn validate_campaign(
        &self,
        request: Request<v1::CampaignSpecRequest>,
    ) -> Answer<v1::ValidateCampaignResponse> {
        let document = request.into_inner().document;
        let response = wire::validation(self.app.campaigns().validate(&document).await)?;
        Ok(Response::new(response))
    }

    async fn create_campaign(&self, request: Request<v1::CampaignSpecRequest>) -> Answer<v1::Campaign> {
        let span = tracing::info_span!(
            "CreateCampaign",
            start = request.get_ref().start,
            campaign = tracing::field::Empty
        );
        trace_context::adopt(&span, trace_context::extract(&request).as_deref());
        let request = request.into_inner();
        let view = self
            .app
            .campaigns()
            .create(&request.document, request.start)
            .instrument(span.clone())
            .await?;
        span.record("campaign", view.campaign.id.as_str());
        Ok(Response::new(wire::campaign(&view)))
    }

    async fn start_campaign(&self, request: Request<v1::CampaignRef>) -> Answer<v1::Campaign> {
        self.act(request, Action::Start).await
    }

    async fn pause_campaign(&self, request: Request<v1::CampaignRef>) -> Answer<v1::Campaign> {
        self.act(request, Action::Pause).await
    }

    async fn resume_campaign(&self, request: Request<v1::CampaignRef>) -> Answer<v1::Campaign> {
        self.act(request, Action::Resume).await
    }

    async fn stop_campaign(&self, request: Request<v1::CampaignRef>) -> Answer<v1::Campaign> {
        self.act(request, Action::Stop).await
    }

    async fn update_campaign(&self, request: Request<v1::UpdateCampaignRequest>) -> Answer<v1::Campaign> {
        let request = request.into_inner();
        let view = self
            .app
            .campaigns()
            .update(&request.id, &request.document)
            .await?;
        Ok(Response::new(wire::campaign(&view)))
    }

    async fn clone_campaign(&self, request: Request<v1::CloneCampaignRequest>) -> Answer<v1::Campaign> {
        let request = request.into_inner();
        let view = self
            .app
            .campaigns()
            .clone_campaign(&request.id, &request.name, request.start)
            .await?;
        Ok(Response::new(wire::campaign(&view)))
    }

    async fn set_campaign_rate(&self, request: Request<v1::SetCampaignRateRequest>) -> Answer<v1::Campaign> {
        let request = request.into_inner();
        let view = self.app.campaigns().set_rate(&request.id, request.rate).await?;
        Ok(Response::new(wire::campaign(&view)))
    }

    async fn get_campaign(&self, request: Request<v1::CampaignRef>) -> Answer<v1::Campaign> {
        let view = self.app.campaigns().get(&request.into_inner().id).await?;
        Ok(Response::new(wire::campaign(&view)))
    }

    async fn list_campaigns(
        &self,
        _request: Request<v1::ListCampaignsRequest>,
    ) -> Answer<v1::ListCampaignsResponse> {
        let campaigns = self.app.campaigns().list().await?;
        Ok(Response::new(v1::ListCampaignsResponse {
            campaigns: campaigns.iter().map(wire::campaign).collect(),
        }))
    }

    async fn delete_campaign(&self, request: Request<v1::CampaignRef>) -> Answer<v1::DeleteCampaignResponse> {
        let id = request.into_inner().id;
        let keys_removed = self.app.campaigns().delete(&id).await?;
        Ok(Response::new(v1::DeleteCampaignResponse { id, keys_removed }))
    }

    type WatchCampaignStream = WireStream<v1::CampaignStats>;
    type SubscribeStream = WireStream<v1::SubscribeMessage>;

    async fn watch_campaign(&self, request: Request<v1::CampaignRef>) -> Answer<Self::WatchCampaignStream> {
        let stats = self.app.campaigns().watch(&request.into_inner().id).await?;
        let stats = ReceiverStream::new(stats)
            .map(|item| item.map(|s| wire::campaign_stats(&s)).map_err(Status::from));
        Ok(Response::new(Box::pin(stats)))
    }

    async fn subscribe(&self, request: Request<v1::SubscribeRequest>) -> Answer<Self::SubscribeStream> {
        let request = request.into_inner();
        let ask = SubscribeAsk {
            patterns: request.patterns,
            resume_token: request.resume_token,
            max_lag_seconds: request.max_lag_seconds,
        };
        let subscribed = self.app.streams().subscribe(&request.id, &ask).await?;
        let run = subscribed.run;
        let messages = ReceiverStream::new(subscribed.messages)
            .map(move |m| Ok(crate::subscribe::message_to_wire(&run, &m)));
        Ok(Response::new(Box::pin(messages)))
    }

    async fn get_cluster_status(
        &self,
        _request: Request<v1::GetClusterStatusRequest>,
    ) -> Answer<v1::ClusterStatus> {
        let status = self.app.cluster().status().await?;
        Ok(Response::new(wire::cluster_status(&status)))
    }

    async fn test_target(&self, request: Request<v1::CampaignSpecRequest>) -> Answer<v1::TestTargetResponse> {
        let checks = self
            .app
            .cluster()
            .test_targets(&request.into_inner().document)
            .await?;
        Ok(Response::new(crate::target_check::to_wire(&checks)))
    }

    async fn apply_scenario(&self, request: Request<v1::ApplyScenarioRequest>) -> Answer<v1::ScenarioState> {
        let request = request.into_inner();
        let change = ScenarioChange::Apply {
            scenario: request.scenario,
            compose: request.compose,
        };
        self.change_scenarios(&request.id, &request.at, change).await
    }

    async fn stop_scenario(&self, request: Request<v1::CampaignRef>) -> Answer<v1::ScenarioState> {
        self.change_scenarios(&request.into_inner().id, "", ScenarioChange::Stop)
            .await
    }

    async fn reset_scenarios(&self, request: Request<v1::CampaignRef>) -> Answer<v1::ScenarioState> {
        self.change_scenarios(&request.into_inner().id, "", ScenarioChange::Reset)
            .await
    }

    async fn list_scenarios(&self, request: Request<v1::CampaignRef>) -> Answer<v1::ScenarioState> {
        let state = self.app.scenarios().list(&request.into_inner().id).await?;
        Ok(Response::new(wire::scenario_state(&state)))
    }

    async fn stream_history(
        &self,
        request: Request<v1::StreamHistoryRequest>,
    ) -> Answer<v1::StreamHistoryResponse> {
        let request = request.into_inner();
        let query = crate::stream_history::query(
            &request.from,
            &request.until,
            request.block_seconds,
            request.patterns,
        )?;
        let history = self.app.streams().history(&request.id, query).await?;
        Ok(Response::new(crate::stream_history::to_wire(&history)))
    }

    async fn external_events(
        &self,
        request: Request<v1::ExternalEventsRequest>,
    ) -> Answer<v1::ExternalEventsResponse> {
        let request = request.into_inner();
        let query = crate::app::streams::EventsQuery {
            from: request.from,
            until: request.until,
            stream: request.stream,
            event: request.event,
        };
        let events = self.app.streams().external_events(&request.id, query).await?;
        Ok(Response::new(crate::external_events::to_wire(&events)))
    }

    async fn inject_events(
        &self,
        request: Request<v1::InjectEventsRequest>,
    ) -> Answer<v1::ExternalEventsResponse> {
        let request = request.into_inner();
        let events: Vec<Injection> = request
            .events
            .into_iter()
            .map(|e| Injection {
                template: e.template,
                at: e.at,
                event: e.event.as_ref().map(crate::external_events::own_event_from_wire),
            })
            .collect();
        let injected = self.app.streams().inject(&request.id, &events).await?;
        Ok(Response::new(crate::external_events::to_wire(&injected)))
    }

    async fn get_analytics(&self, request: Request<v1::AnalyticsRequest>) -> Answer<v1::AnalyticsResponse> {
        let request = request.into_inner();
        let query = crate::analytics::parse(&request)?;
        let reports = self
            .app
            .insight()
            .analytics(&request.campaign_ids, &query)
            .await?;
        let reports_json = serde_json::to_string(&reports).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(v1::AnalyticsResponse { reports_json }))
    }

    async fn get_campaign_errors(&self, request: Request<v1::CampaignRef>) -> Answer<v1::CampaignErrors> {
        let id = request.into_inner().id;
        let report = self.app.insight().errors(&id).await?;
        Ok(Response::new(crate::analytics::errors_to_wire(&id, &report)))
    }

    async fn get_report(&self, request: Request<v1::ReportRequest>) -> Answer<v1::Report> {
        let ids = request.into_inner().campaign_ids;
        let html = self.app.insight().report(&ids).await?;
        Ok(Response::new(v1::Report { html }))
    }

    async fn get_logs(&self, request: Request<v1::GetLogsRequest>) -> Answer<v1::LogLines> {
        let request = request.into_inner();
        let query =
            throng_agent_api::wire::log_query_from_wire(&request).map_err(Status::invalid_argument)?;
        let logs = self.app.insight().logs(&request.node, &query).await?;
        Ok(Response::new(wire::log_lines(&logs)))
    }

    async fn score_behaviour(
        &self,
        request: Request<v1::ScoreBehaviourRequest>,
    ) -> Answer<v1::ScoreBehaviourResponse> {
        let rules = self.app.behaviour_rules.rules();
        let verdict = crate::app::insight::score_behaviour_json(&request.into_inner().behaviour_json, &rules)
            .map_err(Status::invalid_argument)?;
        Ok(Response::new(v1::ScoreBehaviourResponse {
            verdict_json: verdict,
        }))
    }

    async fn list_sessions(&self, request: Request<v1::ListSessionsRequest>) -> Answer<v1::SessionList> {
        let query = crate::sessions::parse(request.get_ref())?;
        let page = self.app.sessions().list(&query).await?;
        Ok(Response::new(crate::sessions::page_to_wire(&page)))
    }

    async fn get_session(&self, request: Request<v1::GetSessionRequest>) -> Answer<v1::SessionDetail> {
        let request = request.into_inner();
        let detail = self
            .app
            .sessions()
            .get(&request.campaign_id, request.session_id)
            .await?;
        Ok(Response::new(crate::sessions::detail_to_wire(&detail)))
    }

    async fn apply_library_item(
        &self,
        request: Request<v1::ApplyLibraryItemRequest>,
    ) -> Answer<v1::LibraryItem> {
        let request = request.into_inner();
        let item = self.app.library().apply(&request.kind, &request.document).await?;
        Ok(Response::new(crate::library::to_wire(&item)))
    }

    async fn get_library_item(&self, request: Request<v1::LibraryItemRef>) -> Answer<v1::LibraryItem> {
        let request = request.into_inner();
        let version = (request.version > 0).then_some(request.version);
        let item = self
            .app
            .library()
            .get(&request.kind, &request.name, version)
            .await?;
        Ok(Response::new(crate::library::to_wire(&item)))
    }

    async fn list_library_items(
        &self,
        request: Request<v1::ListLibraryItemsRequest>,
    ) -> Answer<v1::LibraryItems> {
        let kind = request.into_inner().kind;
        let items = self
            .app
            .library()
            .list((!kind.is_empty()).then_some(kind.as_str()))
            .await?;
        Ok(Response::new(v1::LibraryItems {
            items: items.iter().map(crate::library::to_wire).collect(),
        }))
    }

    async fn delete_library_item(
        &self,
        request: Request<v1::LibraryItemRef>,
    ) -> Answer<v1::DeleteLibraryItemResponse> {
        let request = request.into_inner();
        let versions_removed = self.app.library().delete(&request.kind, &request.name).await?;
        Ok(Response::new(v1::DeleteLibraryItemResponse { versions_removed }))
    }
}
