//! The `AgentService` gRPC service: converts wire requests and asks the
//! agent's root actor, always with a timeout.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorRef, rpc::CallResult};
use throng_engine::actors::{AgentRootMsg, StatsRegistry};
use throng_engine::telemetry::TelemetrySink;
use throng_engine::workload::Workload;
use throng_proto::v1;
use throng_proto::v1::agent_service_server::AgentService;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use tracing::Instrument;

use throng_agent_api::wire;
use throng_node::trace_context;

/// How long a call into the actor tree may take.
const ACTOR_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often stats are reported.
const STATS_PERIOD: Duration = Duration::from_secs(1);

pub struct AgentServiceImpl {
    pub agent_id: String,
    pub root: ActorRef<AgentRootMsg>,
    pub stats: StatsRegistry,
    /// Where this agent's telemetry goes; its health rides on stats reports.
    pub sink: Arc<dyn TelemetrySink>,
    /// Turns true when the agent stops; open streams end then.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// The browsers this agent's browser sessions run in; they keep the
    /// screenshots of failed visits.
    pub browsers: Option<Arc<dyn throng_engine::campaign::browsing::Browsing>>,
    /// Whether this agent keeps up; its judgement rides on stats reports.
    pub generator: throng_engine::generator::GeneratorMonitor,
    /// Where stream runs' sinks go; their health rides on stats reports.
    pub deliveries: Option<Arc<dyn throng_engine::delivery::EventDelivery>>,
    /// The specs of the shards assigned lately, read once each.
    pub specs: ReadSpecs,
}

/// Specs as read from their documents, by document: every shard of a
/// campaign arrives with the same one, and reading it (YAML, validation)
/// once per campaign rather than once per shard is most of what an
/// assignment costs an agent taking hundreds of shards.
#[derive(Default)]
pub struct ReadSpecs {
    read: std::sync::Mutex<std::collections::HashMap<String, Workload>>,
}

/// How many documents are kept; more campaigns at once than this read
/// their specs again now and then.
const SPECS_KEPT: usize = 64;

impl ReadSpecs {
    fn read(&self, document: &str) -> Result<Workload, String> {
        let lock = || self.read.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(workload) = lock().get(document) {
            return Ok(workload.clone());
        }
        let workload = wire::workload_from_wire(document)?;
        let mut read = lock();
        if read.len() >= SPECS_KEPT {
            read.clear();
        }
        read.insert(document.to_string(), workload.clone());
        Ok(workload)
    }
}

async fn call<T: Send + 'static>(
    root: &ActorRef<AgentRootMsg>,
    message: impl FnOnce(ractor::RpcReplyPort<T>) -> AgentRootMsg,
) -> Result<T, Status> {
    match root.call(message, Some(ACTOR_CALL_TIMEOUT)).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err(Status::deadline_exceeded("agent actor did not answer in time")),
        Ok(CallResult::SenderError) | Err(_) => Err(Status::unavailable("agent actor tree is stopping")),
    }
}

#[tonic::async_trait]
impl AgentService for AgentServiceImpl {
    async fn assign(
        &self,
        request: Request<v1::AssignRequest>,
    ) -> Result<Response<v1::AssignResponse>, Status> {
        let span = tracing::info_span!("Assign", agent = %self.agent_id);
        trace_context::adopt(&span, trace_context::extract(&request).as_deref());
        self.assign_traced(request, span.clone()).instrument(span).await
    }

    async fn revoke(
        &self,
        request: Request<v1::RevokeRequest>,
    ) -> Result<Response<v1::RevokeResponse>, Status> {
        let request = request.into_inner();
        let shard_id = throng_state::keys::shard_id(&request.campaign_id, request.shard_index);
        let stopped = call(&self.root, |reply| AgentRootMsg::Revoke(shard_id, reply)).await?;
        Ok(Response::new(v1::RevokeResponse { stopped }))
    }

    async fn set_campaign_paused(
        &self,
        request: Request<v1::SetCampaignPausedRequest>,
    ) -> Result<Response<v1::SetCampaignPausedResponse>, Status> {
        let request = request.into_inner();
        let shards = call(&self.root, |reply| {
            AgentRootMsg::SetPaused(request.campaign_id, request.paused, reply)
        })
        .await?;
        Ok(Response::new(v1::SetCampaignPausedResponse { shards }))
    }

    type StreamStatsStream = ReceiverStream<Result<v1::StatsReport, Status>>;

    async fn stream_stats(
        &self,
        _request: Request<v1::StreamStatsRequest>,
    ) -> Result<Response<Self::StreamStatsStream>, Status> {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let stats = self.stats.clone();
        let sink = self.sink.clone();
        let agent_id = self.agent_id.clone();
        let generator = self.generator.clone();
        let deliveries = self.deliveries.clone();
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(STATS_PERIOD);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
                let shards = stats
                    .snapshot()
                    .iter()
                    .map(|(entry, counters)| {
                        wire::counters_to_wire(&entry.campaign_id, entry.shard_index, entry.epoch, counters)
                    })
                    .collect();
                let report = v1::StatsReport {
                    agent_id: agent_id.clone(),
                    at_ms: throng_engine::clock::epoch_ms(),
                    shards,
                    telemetry: Some(wire::health_to_wire(&sink.health())),
                    generator: Some(wire::generator_to_wire(&generator.load())),
                    sinks: deliveries
                        .as_ref()
                        .map(|d| d.health().iter().map(wire::sink_to_wire).collect())
                        .unwrap_or_default(),
                };
                if sender.send(Ok(report)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn recent_logs(
        &self,
        request: Request<v1::GetLogsRequest>,
    ) -> Result<Response<v1::LogLines>, Status> {
        let query = wire::log_query_from_wire(request.get_ref()).map_err(Status::invalid_argument)?;
        let lines = throng_node::log_ring::LogRing::global().query(&query);
        Ok(Response::new(v1::LogLines {
            node: self.agent_id.clone(),
            lines: lines.iter().map(wire::log_line_to_wire).collect(),
        }))
    }

    async fn get_screenshot(
        &self,
        request: Request<v1::GetScreenshotRequest>,
    ) -> Result<Response<v1::ScreenshotImage>, Status> {
        let name = &request.get_ref().name;
        let png = self
            .browsers
            .as_ref()
            .and_then(|browsers| browsers.screenshot(name))
            .ok_or_else(|| {
                Status::not_found(format!("agent {} keeps no screenshot {name}", self.agent_id))
            })?;
        Ok(Response::new(v1::ScreenshotImage { png }))
    }

    async fn describe(
        &self,
        _request: Request<v1::DescribeRequest>,
    ) -> Result<Response<v1::DescribeResponse>, Status> {
        let running = call(&self.root, AgentRootMsg::Describe).await?;
        let shards = running.iter().map(|r| wire::order_to_wire(&r.order)).collect();
        Ok(Response::new(v1::DescribeResponse {
            agent_id: self.agent_id.clone(),
            shards,
        }))
    }
}

impl AgentServiceImpl {
    /// `Assign`, inside its span (a child of the coordinator's, when the
    /// call carried one), which the shard's start continues.
    async fn assign_traced(
        &self,
        request: Request<v1::AssignRequest>,
        span: tracing::Span,
    ) -> Result<Response<v1::AssignResponse>, Status> {
        let Some(wire_assignment) = request.into_inner().assignment else {
            return Err(Status::invalid_argument("assignment is required"));
        };
        let workload = self
            .specs
            .read(&wire_assignment.spec_json)
            .map_err(Status::invalid_argument)?;
        let order = wire::order_with_workload(&wire_assignment, workload);
        if order.assignment.agent_id != self.agent_id {
            return Err(Status::failed_precondition(format!(
                "assignment is for agent {}, this is {}",
                order.assignment.agent_id, self.agent_id
            )));
        }
        let started = call(&self.root, |reply| AgentRootMsg::Assign(order, span, reply))
            .await?
            .map_err(Status::failed_precondition)?;
        Ok(Response::new(v1::AssignResponse { started }))
    }
}
