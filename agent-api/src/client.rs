//! How the coordinator talks to an agent. [`AgentApi`] is the contract;
//! [`GrpcAgentClient`] speaks it over gRPC (in production and in `throng up`,
//! where agents listen on loopback).

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use throng_engine::generator::GeneratorLoad;
use throng_engine::order::ShardOrder;
use throng_engine::records::Assignment;
use throng_engine::stats::ShardCounters;
use throng_engine::telemetry::TelemetryHealth;
use throng_proto::v1;
use throng_proto::v1::agent_service_client::AgentServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::error::{CallError, Result};
use crate::wire;
use throng_node::tls::NodeTls;

/// Cumulative stats of one shard as its agent reports them.
#[derive(Clone, Debug)]
pub struct ShardStatsReport {
    pub campaign_id: String,
    pub shard_index: u32,
    pub epoch: u64,
    pub counters: ShardCounters,
}

/// One stats report of an agent: every shard's counters, how its
/// telemetry writer is doing and whether it keeps up.
#[derive(Clone, Debug, Default)]
pub struct AgentStatsReport {
    /// When the agent made the report (epoch ms, the agent's clock).
    pub sent_at_ms: u64,
    pub shards: Vec<ShardStatsReport>,
    pub telemetry: TelemetryHealth,
    pub generator: GeneratorLoad,
    /// Each sink of each stream run the agent delivers to.
    pub sinks: Vec<throng_engine::delivery::SinkHealth>,
}

/// One item per report (about every second).
pub type StatsStream = Pin<Box<dyn Stream<Item = Result<AgentStatsReport>> + Send>>;

/// The operations a coordinator needs from an agent.
#[async_trait::async_trait]
pub trait AgentApi: Send + Sync {
    /// Starts a shard (or updates its paused flag and rate at the same
    /// epoch); true if started, false if it already ran at this epoch.
    async fn assign(&self, order: &ShardOrder) -> Result<bool>;
    /// Stops a shard; true if it was running.
    async fn revoke(&self, campaign_id: &str, shard_index: u32) -> Result<bool>;
    /// Pauses or resumes a campaign's shards; answers how many.
    async fn set_paused(&self, campaign_id: &str, paused: bool) -> Result<u32>;
    /// Opens the per-second stats stream.
    async fn stream_stats(&self) -> Result<StatsStream>;
    /// The shards the agent runs now.
    async fn describe(&self) -> Result<Vec<Assignment>>;
    /// The agent's recent log lines that match.
    async fn logs(
        &self,
        query: &throng_node::log_ring::LogQuery,
    ) -> Result<Vec<throng_node::log_ring::LogLine>>;
    /// A screenshot the agent kept of a failed browser visit, by file name;
    /// none when it has no such file.
    async fn screenshot(&self, name: &str) -> Result<Option<Vec<u8>>>;
}

/// An [`AgentApi`] over gRPC.
#[derive(Clone)]
pub struct GrpcAgentClient {
    address: String,
    client: AgentServiceClient<Channel>,
    /// The cluster's token, sent with every call.
    token: Option<String>,
}

impl GrpcAgentClient {
    /// A client that connects on first use (and reconnects after failures).
    pub fn new(address: &str, token: Option<String>, tls: Option<&NodeTls>) -> Result<Self> {
        let unreachable = |reason: String| CallError::Unreachable {
            address: address.to_string(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(address.to_string())
            .map_err(|e| unreachable(e.to_string()))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls.client())
                .map_err(|e| unreachable(format!("TLS: {e}")))?;
        }
        Ok(GrpcAgentClient {
            address: address.to_string(),
            client: AgentServiceClient::new(endpoint.connect_lazy()),
            token,
        })
    }

    fn error(&self, status: tonic::Status) -> CallError {
        match status.code() {
            tonic::Code::FailedPrecondition | tonic::Code::InvalidArgument => {
                CallError::Refused(status.message().to_string())
            }
            _ => CallError::Unreachable {
                address: self.address.clone(),
                reason: status.message().to_string(),
            },
        }
    }

    /// Every unary call gets a deadline (a frozen agent must not hang the
    /// caller), the cluster's token and the caller's trace context.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(Duration::from_secs(5));
        throng_node::auth::authorize(&mut request, self.token.as_deref());
        throng_node::trace_context::inject(&mut request);
        request
    }
}

#[async_trait::async_trait]
impl AgentApi for GrpcAgentClient {
    async fn assign(&self, order: &ShardOrder) -> Result<bool> {
        let request = v1::AssignRequest {
            assignment: Some(wire::order_to_wire(order)),
        };
        let response = self
            .client
            .clone()
            .assign(self.request(request))
            .await
            .map_err(|s| self.error(s))?;
        Ok(response.into_inner().started)
    }

    async fn revoke(&self, campaign_id: &str, shard_index: u32) -> Result<bool> {
        let request = v1::RevokeRequest {
            campaign_id: campaign_id.to_string(),
            shard_index,
        };
        let response = self
            .client
            .clone()
            .revoke(self.request(request))
            .await
            .map_err(|s| self.error(s))?;
        Ok(response.into_inner().stopped)
    }

    async fn set_paused(&self, campaign_id: &str, paused: bool) -> Result<u32> {
        let request = v1::SetCampaignPausedRequest {
            campaign_id: campaign_id.to_string(),
            paused,
        };
        let response = self
            .client
            .clone()
            .set_campaign_paused(self.request(request))
            .await
            .map_err(|s| self.error(s))?;
        Ok(response.into_inner().shards)
    }

    async fn logs(
        &self,
        query: &throng_node::log_ring::LogQuery,
    ) -> Result<Vec<throng_node::log_ring::LogLine>> {
        let response = self
            .client
            .clone()
            .recent_logs(self.request(wire::log_query_to_wire("", query)))
            .await
            .map_err(|s| self.error(s))?;
        Ok(response
            .into_inner()
            .lines
            .iter()
            .map(wire::log_line_from_wire)
            .collect())
    }

    async fn screenshot(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let request = v1::GetScreenshotRequest {
            name: name.to_string(),
        };
        match self.client.clone().get_screenshot(self.request(request)).await {
            Ok(response) => Ok(Some(response.into_inner().png)),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(self.error(status)),
        }
    }

    async fn stream_stats(&self) -> Result<StatsStream> {
        let response = self
            .client
            .clone()
            .stream_stats({
                let mut request = tonic::Request::new(v1::StreamStatsRequest {});
                throng_node::auth::authorize(&mut request, self.token.as_deref());
                request
            })
            .await
            .map_err(|s| self.error(s))?;
        let this = self.clone();
        let stream = response.into_inner().map(move |item| {
            let report = item.map_err(|s| this.error(s))?;
            Ok(AgentStatsReport {
                sent_at_ms: report.at_ms,
                shards: report
                    .shards
                    .iter()
                    .map(|s| ShardStatsReport {
                        campaign_id: s.campaign_id.clone(),
                        shard_index: s.shard_index,
                        epoch: s.epoch,
                        counters: wire::counters_from_wire(s),
                    })
                    .collect(),
                telemetry: report
                    .telemetry
                    .as_ref()
                    .map(wire::health_from_wire)
                    .unwrap_or_default(),
                generator: report
                    .generator
                    .as_ref()
                    .map(wire::generator_from_wire)
                    .unwrap_or_default(),
                sinks: report.sinks.iter().map(wire::sink_from_wire).collect(),
            })
        });
        Ok(Box::pin(stream))
    }

    async fn describe(&self) -> Result<Vec<Assignment>> {
        let response = self
            .client
            .clone()
            .describe(self.request(v1::DescribeRequest {}))
            .await
            .map_err(|s| self.error(s))?;
        Ok(response
            .into_inner()
            .shards
            .iter()
            .map(wire::assignment_from_wire)
            .collect())
    }
}
