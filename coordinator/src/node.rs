//! Starting and stopping a coordinator node: election, reconciler, stats
//! hub, the gRPC `ControlService` (with health and reflection) and an
//! optional HTTP JSON API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use throng_engine::analytics::AnalyticsSource;
use throng_engine::spec::ValidationContext;
use throng_engine::telemetry::ClickHouseConfig;
use throng_proto::v1::control_service_server::ControlServiceServer;
use throng_state::{Keys, StateStore};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::agents::AgentClients;
use crate::app::App;
use crate::error::{CoordinatorError, Result};
use crate::grpc::GrpcDoor;
use crate::http_server;
use crate::leader::{LeaderRecord, Leadership};
use crate::mirror::Mirror;
use crate::reconcile::PlacementCounts;
use crate::reconcile::Reconciler;
use crate::stats::StatsHub;
use crate::view::LiveView;
use throng_node::auth::{Guard, GuardLayer};
use throng_node::server;
use throng_node::tls::NodeTls;

/// How a coordinator runs.
#[derive(Clone)]
pub struct CoordinatorConfig {
    pub coordinator_id: String,
    pub cluster: String,
    pub grpc_listen: SocketAddr,
    /// The URL others use to reach this coordinator (default: the bound address).
    pub advertise: Option<String>,
    pub http_listen: Option<SocketAddr>,
    pub lease_ttl: Duration,
    pub validation: ValidationContext,
    /// Where `GetAnalytics` reads campaign telemetry.
    pub analytics: Option<Arc<dyn AnalyticsSource>>,
    /// The ClickHouse the leader mirrors scenario timelines, external events
    /// and agent snapshots into (none: not mirrored).
    pub mirror: Option<ClickHouseConfig>,
    /// Days of sessions, requests and agent snapshots ClickHouse keeps (0: all).
    pub retention_days: u32,
    /// How long finished campaigns stay in the cluster state before the
    /// leader removes them (none: until deleted).
    pub archive_after: Option<Duration>,
    /// Who may call the coordinator's APIs; open by default.
    pub guard: Arc<Guard>,
    /// The token agents ask of the coordinator's calls.
    pub cluster_token: Option<String>,
    /// Serve over TLS and call agents over TLS.
    pub tls: Option<NodeTls>,
    /// Browser pages of which other origins may call the HTTP API (CORS).
    pub browser: crate::http_policy::BrowserPolicy,
    /// The bot detector's rules: the defaults, or a file read again when it changes.
    pub behaviour_rules: throng_engine::behaviour::rules_file::BehaviourRules,
}

impl CoordinatorConfig {
    pub fn new(coordinator_id: &str, grpc_listen: SocketAddr) -> Self {
        CoordinatorConfig {
            coordinator_id: coordinator_id.to_string(),
            cluster: "default".to_string(),
            grpc_listen,
            advertise: None,
            http_listen: None,
            lease_ttl: Duration::from_secs(5),
            validation: ValidationContext::default(),
            analytics: None,
            mirror: None,
            retention_days: 0,
            archive_after: None,
            guard: Arc::new(Guard::open()),
            cluster_token: None,
            tls: None,
            browser: crate::http_policy::BrowserPolicy::default(),
            behaviour_rules: throng_engine::behaviour::rules_file::BehaviourRules::defaults(),
        }
    }
}

/// A running coordinator.
pub struct Coordinator {
    grpc_address: String,
    http_address: Option<String>,
    leadership: Leadership,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Nudges the reconciler whenever an agent registers or its lease lapses, so
/// shards move as soon as the state store notices; the periodic round stays
/// as the fallback while a watch is being re-established.
async fn watch_membership(
    store: Arc<dyn StateStore>,
    prefix: String,
    nudge: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match store.watch(&prefix).await {
            Ok(mut events) => loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Some(_) => nudge.notify_one(),
                        None => break,
                    },
                    _ = stop.changed() => return,
                }
            },
            Err(error) => tracing::debug!(%error, "agent watch unavailable; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Starts the coordinator's loops — election, the cluster view's feed,
/// reconcile, stats fan-in, the ClickHouse mirror and archiving when
/// configured, the membership watch — and answers the application they serve.
fn start_loops(
    config: &CoordinatorConfig,
    store: Arc<dyn StateStore>,
    keys: Keys,
    leadership: Leadership,
    stop: &watch::Receiver<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> App {
    let clients = AgentClients::new(config.cluster_token.clone(), config.tls.clone());
    let hub = StatsHub::default();
    let nudge = Arc::new(Notify::new());
    tasks.push(tokio::spawn(leadership.clone().run(
        store.clone(),
        config.lease_ttl,
        stop.clone(),
    )));
    let (view, feed) = LiveView::start(store.clone(), keys.clone(), stop.clone());
    tasks.push(feed);
    let placements = Arc::new(PlacementCounts::default());
    let reconciler = Reconciler::new(
        store.clone(),
        keys.clone(),
        view.clone(),
        leadership.clone(),
        clients.clone(),
        hub.clone(),
        placements.clone(),
    );
    tasks.push(tokio::spawn(reconciler.run(nudge.clone(), stop.clone())));
    tasks.push(tokio::spawn(hub.clone().run(
        view.clone(),
        clients.clone(),
        stop.clone(),
    )));
    if let Some(clickhouse) = &config.mirror {
        let mirror = Mirror::new(
            clickhouse,
            config.retention_days,
            view.clone(),
            leadership.clone(),
            hub.clone(),
        );
        tasks.push(tokio::spawn(mirror.run(stop.clone())));
    }
    if let Some(retention) = config.archive_after {
        tasks.push(tokio::spawn(crate::archive::run(
            store.clone(),
            keys.clone(),
            view.clone(),
            leadership.clone(),
            hub.clone(),
            retention,
            stop.clone(),
        )));
    }
    let baselines = Arc::new(crate::stream_history::BaselineCache::default());
    tasks.push(tokio::spawn(crate::stream_history::warm(
        view.clone(),
        leadership.clone(),
        baselines.clone(),
        stop.clone(),
    )));
    let mut stop_rules = stop.clone();
    tasks.push(tokio::spawn(config.behaviour_rules.clone().follow(async move {
        let _ = stop_rules.changed().await;
    })));
    tasks.push(tokio::spawn(watch_membership(
        store.clone(),
        keys.agents_prefix(),
        nudge.clone(),
        stop.clone(),
    )));
    App {
        cluster: config.cluster.clone(),
        store,
        keys,
        view,
        leadership,
        hub,
        validation: config.validation.clone(),
        nudge,
        analytics: config.analytics.clone(),
        placements,
        coordinator_id: config.coordinator_id.clone(),
        agents: clients,
        baselines,
        answers: Arc::default(),
        behaviour_rules: config.behaviour_rules.clone(),
        feeds: Arc::default(),
    }
}

/// Serves `ControlService` (behind the token guard, over TLS when set), the
/// health check and reflection on `listener` until `stop`.
async fn serve_grpc(
    config: &CoordinatorConfig,
    listener: tokio::net::TcpListener,
    app: App,
    mut stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ControlServiceServer<GrpcDoor>>().await;
    let (reflection, reflection_v1alpha) =
        server::reflection(throng_proto::FILE_DESCRIPTOR_SET).map_err(CoordinatorError::Internal)?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        builder = builder
            .tls_config(tls.server())
            .map_err(|e| CoordinatorError::Internal(format!("TLS: {e}")))?;
    }
    let guard = config.guard.clone();
    Ok(tokio::spawn(async move {
        let result = builder
            .layer(GuardLayer::new(guard))
            .add_service(ControlServiceServer::new(GrpcDoor { app }))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .serve_with_incoming_shutdown(throng_node::server::incoming(listener), async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await;
        if let Err(error) = result {
            tracing::error!(%error, "coordinator gRPC server failed");
        }
    }))
}

impl Coordinator {
    pub async fn start(config: CoordinatorConfig, store: Arc<dyn StateStore>) -> Result<Coordinator> {
        let (grpc_listener, grpc_bound) = server::bind(config.grpc_listen).await?;
        let grpc_address = config.advertise.clone().unwrap_or_else(|| {
            let scheme = if config.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{grpc_bound}")
        });
        let keys = Keys::new(&config.cluster);
        // Fail fast, naming the store, if it cannot be reached.
        store.get(&keys.leader()).await?;
        let leadership = Leadership::new(
            &keys,
            LeaderRecord {
                coordinator_id: config.coordinator_id.clone(),
                address: grpc_address.clone(),
            },
        );
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let app = start_loops(&config, store, keys, leadership.clone(), &stop_rx, &mut tasks);
        tasks.push(tokio::spawn(crate::warm::run(app.clone(), stop_rx.clone())));
        tasks.push(serve_grpc(&config, grpc_listener, app.clone(), stop_rx.clone()).await?);
        let mut http_address = None;
        if let Some(address) = config.http_listen {
            let (listener, bound) = server::bind(address).await?;
            // With TLS, the HTTP API is HTTPS with the same certificate.
            let https = config.tls.as_ref().map(NodeTls::https);
            let scheme = if https.is_some() { "https" } else { "http" };
            http_address = Some(format!("{scheme}://{bound}"));
            tasks.push(tokio::spawn(http_server::serve(
                listener,
                app,
                config.guard.clone(),
                Arc::new(config.browser.clone()),
                https,
                stop_rx,
            )));
        }
        tracing::info!(coordinator = %config.coordinator_id, grpc = %grpc_address, "coordinator started");
        Ok(Coordinator {
            grpc_address,
            http_address,
            leadership,
            stop,
            tasks,
        })
    }

    /// The `ControlService` URL.
    pub fn grpc_address(&self) -> &str {
        &self.grpc_address
    }

    pub fn http_address(&self) -> Option<&str> {
        self.http_address.as_deref()
    }

    pub fn is_leader(&self) -> bool {
        self.leadership.is_leader()
    }

    /// Stops every task; a leader steps down (revokes its lease) on the way.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        // Long-lived client streams (watch) may hold the servers open; give
        // them a moment, then cut them.
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(3), task).await.is_err() {
                abort.abort();
            }
        }
    }
}
