//! Starting and stopping an agent node.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;
use throng_engine::campaign::browsing::Browsing;
use throng_engine::delivery::EventDelivery;

use ractor::{Actor, ActorRef};
use throng_engine::actors::{AgentRoot, AgentRootMsg, AgentServices, StatsRegistry};
use throng_engine::campaign::session::SessionContext;
use throng_engine::clock::WallClock;
use throng_engine::generator::GeneratorMonitor;
use throng_engine::http::HttpEngines;
use throng_engine::lease::LeaseGuard;
use throng_engine::records::AgentRecord;
use throng_engine::stats::ShardCounters;
use throng_engine::telemetry::TelemetrySink;
use throng_node::metrics::Exposition;
use throng_proto::v1::agent_service_server::AgentServiceServer;
use throng_state::{Keys, StateStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{AgentError, Result};
use crate::membership::Membership;
use crate::service::AgentServiceImpl;
use throng_node::auth::{Guard, GuardLayer};
use throng_node::server;
use throng_node::tls::NodeTls;

/// How an agent runs.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub agent_id: String,
    pub cluster: String,
    /// Where `AgentService` listens (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The URL others use to reach it; defaults to `http://<bound address>`.
    pub advertise: Option<String>,
    /// Placement weight.
    pub capacity: u32,
    pub lease_ttl: Duration,
    pub max_sessions_per_shard: u64,
    /// The browsers `browser` targets' sessions run in (none: such
    /// sessions fail, saying this agent runs no browsers).
    pub browsers: Option<Arc<dyn Browsing>>,
    /// Where stream runs' `sinks:` are delivered (none: runs with sinks
    /// fail here, saying so).
    pub deliveries: Option<Arc<dyn EventDelivery>>,
    /// Who may call this agent (the cluster's token); open by default.
    pub guard: Arc<Guard>,
    /// Serve over TLS (with client certificates, when the TLS says so).
    pub tls: Option<NodeTls>,
}

impl AgentConfig {
    pub fn new(agent_id: &str, listen: SocketAddr) -> Self {
        AgentConfig {
            agent_id: agent_id.to_string(),
            cluster: "default".to_string(),
            listen,
            advertise: None,
            capacity: 1,
            lease_ttl: Duration::from_secs(5),
            max_sessions_per_shard: 20_000,
            browsers: None,
            deliveries: None,
            guard: Arc::new(Guard::open()),
            tls: None,
        }
    }
}

/// An agent's Prometheus metrics: its lease, its shards and their traffic
/// and stream counters by campaign, and its telemetry writer.
#[derive(Clone)]
pub struct AgentMetrics {
    id: String,
    stats: StatsRegistry,
    sink: Arc<dyn TelemetrySink>,
    lease: LeaseGuard,
    generator: GeneratorMonitor,
    deliveries: Option<Arc<dyn EventDelivery>>,
}

impl AgentMetrics {
    pub fn render(&self) -> String {
        let mut m = Exposition::default();
        let agent = [("agent", self.id.as_str())];
        m.gauge(
            "throng_agent_lease_valid",
            "1 while the agent's lease is valid; 0 when it has fenced itself.",
            &agent,
            f64::from(u8::from(self.lease.is_valid())),
        );
        let shards = self.stats.snapshot();
        let running = shards.iter().filter(|(_, c)| !c.done).count();
        m.gauge(
            "throng_agent_shards",
            "Shards the agent runs now.",
            &agent,
            running as f64,
        );
        let mut by_campaign: std::collections::BTreeMap<String, ShardCounters> = Default::default();
        for (entry, counters) in shards {
            by_campaign.entry(entry.campaign_id).or_default().merge(&counters);
        }
        for (campaign, counters) in &by_campaign {
            m.campaign(&[("agent", self.id.as_str()), ("campaign", campaign)], counters);
        }
        m.telemetry(&agent, &self.sink.health());
        if let Some(deliveries) = &self.deliveries {
            m.sinks(&agent, &deliveries.health());
        }
        m.generator(&agent, &self.generator.load());
        m.process(&agent);
        m.finish()
    }
}

/// What every shard on the agent shares: its state store, telemetry sink,
/// HTTP engines, browsers and lease.
fn shard_services(
    config: &AgentConfig,
    store: Arc<dyn StateStore>,
    keys: Keys,
    sink: Arc<dyn TelemetrySink>,
    lease: LeaseGuard,
    generator: &GeneratorMonitor,
) -> AgentServices {
    AgentServices {
        agent_id: config.agent_id.clone(),
        store,
        keys,
        sink,
        deliveries: config.deliveries.clone(),
        session: SessionContext {
            engines: HttpEngines::new(),
            lease,
            clock: WallClock::now(),
            browsers: config.browsers.clone(),
            generator: generator.clone(),
        },
        max_sessions_per_shard: config.max_sessions_per_shard,
    }
}

/// Serves `AgentService` (behind the token guard, over TLS when set), the
/// health check and reflection on `listener` until `stop`.
async fn serve(
    config: &AgentConfig,
    listener: tokio::net::TcpListener,
    bound: SocketAddr,
    service: AgentServiceImpl,
    mut stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AgentServiceServer<AgentServiceImpl>>().await;
    let (reflection, reflection_v1alpha) =
        server::reflection(throng_proto::FILE_DESCRIPTOR_SET).map_err(AgentError::Server)?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls.server()).map_err(|e| AgentError::Listen {
            address: bound.to_string(),
            reason: format!("TLS: {e}"),
        })?;
    }
    let guard = config.guard.clone();
    Ok(tokio::spawn(async move {
        let result = builder
            .layer(GuardLayer::new(guard))
            .add_service(AgentServiceServer::new(service))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .serve_with_incoming_shutdown(throng_node::server::incoming(listener), async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await;
        if let Err(error) = result {
            tracing::error!(%error, "agent gRPC server failed");
        }
    }))
}

/// A running agent.
pub struct Agent {
    id: String,
    address: String,
    metrics: AgentMetrics,
    root: ActorRef<AgentRootMsg>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    membership: JoinHandle<()>,
}

impl Agent {
    /// Starts the actor tree, the gRPC server and the lease. Fails with a
    /// clear error if the port is taken or the state store is unreachable.
    pub async fn start(
        config: AgentConfig,
        store: Arc<dyn StateStore>,
        sink: Arc<dyn TelemetrySink>,
    ) -> Result<Agent> {
        let (listener, bound) = server::bind(config.listen).await?;
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        let address = config
            .advertise
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{bound}"));
        let keys = Keys::new(&config.cluster);
        let lease_guard = LeaseGuard::new();
        let stats = StatsRegistry::default();
        let generator = GeneratorMonitor::default();
        let services = shard_services(
            &config,
            store.clone(),
            keys.clone(),
            sink.clone(),
            lease_guard.clone(),
            &generator,
        );
        let (root, _) = Actor::spawn(None, AgentRoot, (services, stats.clone()))
            .await
            .map_err(|e| AgentError::Actors(e.to_string()))?;

        let membership = Membership {
            store,
            keys,
            record: AgentRecord {
                agent_id: config.agent_id.clone(),
                address: address.clone(),
                capacity: config.capacity,
            },
            ttl: config.lease_ttl,
            guard: lease_guard.clone(),
            root: root.clone(),
        };
        let lease = match membership.register().await {
            Ok(lease) => lease,
            Err(error) => {
                root.stop(None);
                return Err(error.into());
            }
        };

        let (stop, stop_rx) = watch::channel(false);
        let service = AgentServiceImpl {
            agent_id: config.agent_id.clone(),
            root: root.clone(),
            stats: stats.clone(),
            sink: sink.clone(),
            stop: stop_rx.clone(),
            browsers: config.browsers.clone(),
            generator: generator.clone(),
            deliveries: config.deliveries.clone(),
            specs: Default::default(),
        };
        let server = serve(&config, listener, bound, service, stop_rx.clone()).await?;
        tokio::spawn(generator.clone().run(stop_rx.clone()));
        let membership = tokio::spawn(membership.run(Some(lease), stop_rx));
        tracing::info!(agent = %config.agent_id, %address, "agent started");
        Ok(Agent {
            id: config.agent_id.clone(),
            address,
            metrics: AgentMetrics {
                deliveries: config.deliveries.clone(),
                id: config.agent_id,
                stats,
                sink,
                lease: lease_guard,
                generator,
            },
            root,
            stop,
            server,
            membership,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// What this agent's `/metrics` reads, for a server to share.
    pub fn metrics(&self) -> AgentMetrics {
        self.metrics.clone()
    }

    /// The advertised `AgentService` URL.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Stops as a node that dies does: its shards, its server and its
    /// lease's keep-alive end at once, and the lease is left to expire, so
    /// the cluster learns of it only from the lease (for tests and benches
    /// of failover that run agents in one process).
    pub fn vanish(self) {
        self.membership.abort();
        self.server.abort();
        self.root.stop(Some("agent vanished".into()));
    }

    /// Stops serving, deregisters (revokes the lease) and stops every shard.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.membership.await;
        let server_abort = self.server.abort_handle();
        if tokio::time::timeout(Duration::from_secs(3), self.server)
            .await
            .is_err()
        {
            server_abort.abort();
        }
        self.root.stop(Some("agent shutting down".into()));
    }
}
