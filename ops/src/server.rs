//! `throng coordinator` and `throng agent`: long-running nodes backed by etcd
//! (and ClickHouse for agents' telemetry).

use std::net::SocketAddr;
use std::sync::Arc;

use throng_agent::{Agent, AgentConfig, AgentMetrics};
use throng_coordinator::{Coordinator, CoordinatorConfig};
use throng_engine::analytics::ClickHouseAnalytics;
use throng_engine::behaviour::rules_file::BehaviourRules;
use throng_engine::spec::{Allowlist, ValidationContext};
use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink, MemorySink, TelemetrySink};
use throng_node::auth::{Guard, RateLimit, Role, Tokens};
use throng_node::tls::NodeTls;

use throng_browser::{BrowserConfig, BrowserPool};
use throng_delivery::AgentDelivery;
use throng_engine::campaign::browsing::Browsing;

use crate::cli::{AgentArgs, BrowserArgs, CommonNodeArgs, CoordinatorArgs};
use crate::migrations;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    State(#[from] throng_state::StateError),
    #[error(transparent)]
    Telemetry(#[from] throng_engine::telemetry::TelemetryError),
    #[error(transparent)]
    Coordinator(#[from] throng_coordinator::CoordinatorError),
    #[error(transparent)]
    Agent(#[from] throng_agent::AgentError),
    #[error("invalid --allow rule: {0}")]
    Allowlist(String),
    #[error("tokens: {0}")]
    Tokens(String),
    #[error("behaviour rules {file}: {errors}")]
    BehaviourRules {
        file: String,
        errors: throng_engine::spec::SpecErrors,
    },
    #[error("cannot listen for {0}")]
    Listen(String),
    #[error("TLS: {0}")]
    Tls(String),
}

/// The node's TLS, when it is given a certificate.
fn node_tls(node: &CommonNodeArgs) -> Result<Option<NodeTls>, NodeError> {
    let (Some(cert), Some(key)) = (&node.tls_cert, &node.tls_key) else {
        return Ok(None);
    };
    NodeTls::load(
        cert,
        key,
        node.tls_ca.as_deref(),
        node.tls_client_auth,
        node.tls_server_name.clone(),
    )
    .map(Some)
    .map_err(NodeError::Tls)
}

/// The cluster's token, read from `--cluster-token-file` (surrounding
/// whitespace ignored).
fn cluster_token(node: &CommonNodeArgs) -> Result<Option<String>, NodeError> {
    let Some(path) = &node.cluster_token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| NodeError::Tokens(format!("cannot read {}: {e}", path.display())))?;
    let token = text.trim().to_string();
    // Checked as tokens are, without repeating it in the error.
    Tokens::admin(&token).map_err(|e| NodeError::Tokens(format!("{}: {e}", path.display())))?;
    Ok(Some(token))
}

pub async fn telemetry_sink(node: &CommonNodeArgs) -> Result<Arc<dyn TelemetrySink>, NodeError> {
    match &node.clickhouse {
        Some(url) => {
            let mut config = ClickHouseConfig::new(url);
            config.database = node.clickhouse_database.clone();
            config.spill_dir = node.spill_dir.clone();
            Ok(Arc::new(
                ClickHouseSink::start(config, migrations::MIGRATIONS).await?,
            ))
        }
        None => {
            tracing::warn!("no --clickhouse given: telemetry is kept in memory only");
            Ok(Arc::new(MemorySink::default()))
        }
    }
}

/// The browser pool of an agent of `capacity`, or none when browsers are
/// off. What it lacks (Chromium, the Playwright driver) is said now, not at
/// the first browser session. Its visits are judged by `rules`.
pub fn browser_pool(args: &BrowserArgs, capacity: u32, rules: BehaviourRules) -> Option<Arc<dyn Browsing>> {
    if args.no_browsers {
        return None;
    }
    if let Err(error) = std::fs::create_dir_all(&args.screenshots) {
        eprintln!("warning: cannot create {}: {error}", args.screenshots.display());
    }
    let config = BrowserConfig {
        executable: args.chromium.clone(),
        screenshots: Some(args.screenshots.clone()),
        rules,
        ..BrowserConfig::default()
    };
    let pool = BrowserPool::for_capacity(config, capacity);
    if let Some(problem) = pool.missing() {
        eprintln!("warning: browser targets will fail on this agent: {problem}");
    }
    Some(Arc::new(pool))
}

/// The bot detector's rules of `file` (none: the defaults); a file that
/// does not read stops the node, naming each problem.
pub fn behaviour_rules(file: Option<&std::path::Path>) -> Result<BehaviourRules, NodeError> {
    match file {
        None => Ok(BehaviourRules::defaults()),
        Some(path) => BehaviourRules::from_file(path).map_err(|errors| NodeError::BehaviourRules {
            file: path.display().to_string(),
            errors,
        }),
    }
}

/// Serves an agent's `/metrics`, behind the cluster token when there is one.
async fn serve_agent_metrics(
    address: SocketAddr,
    metrics: AgentMetrics,
    guard: Arc<Guard>,
) -> Result<SocketAddr, NodeError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| NodeError::Listen(format!("metrics on {address}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| NodeError::Listen(e.to_string()))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let (metrics, guard) = (metrics.clone(), guard.clone());
            async move {
                let authorization = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes());
                match guard.check(authorization, Some(Role::Admin)) {
                    Ok(()) => (
                        axum::http::StatusCode::OK,
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        metrics.render(),
                    ),
                    Err(refusal) => (
                        axum::http::StatusCode::UNAUTHORIZED,
                        [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        refusal.to_status().message().to_string(),
                    ),
                }
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "agent metrics server failed");
        }
    });
    Ok(bound)
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn run_coordinator(args: CoordinatorArgs) -> Result<(), NodeError> {
    let store = throng_state::connect(&args.node.etcd).await?;
    if args.node.clickhouse.is_some() {
        // Create the schema early, so it exists before the first agent writes.
        telemetry_sink(&args.node).await?;
    }
    let allowlist = if args.allow.is_empty() {
        Allowlist::loopback()
    } else {
        Allowlist::parse(&args.allow).map_err(NodeError::Allowlist)?
    };
    let id = args
        .node
        .id
        .clone()
        .unwrap_or_else(|| format!("coordinator-{}", args.node.grpc.port()));
    let mut config = CoordinatorConfig::new(&id, args.node.grpc);
    config.cluster = args.node.cluster.clone();
    config.advertise = args.node.advertise.clone();
    config.http_listen = args.http;
    config.browser.cors_origins = args.cors_origins.clone();
    config.behaviour_rules = behaviour_rules(args.behaviour_rules.as_deref())?;
    config.lease_ttl = args.node.lease_ttl;
    config.validation = ValidationContext { allowlist };
    if let Some(path) = &args.tokens {
        config.guard = Arc::new(Guard {
            tokens: Some(Tokens::load(path).map_err(NodeError::Tokens)?),
            limit: Some(RateLimit::new(args.rate_limit, 2.0 * args.rate_limit)),
        });
    }
    config.cluster_token = cluster_token(&args.node)?;
    config.tls = node_tls(&args.node)?;
    if let Some(url) = &args.node.clickhouse {
        let mut clickhouse = ClickHouseConfig::new(url);
        clickhouse.database = args.node.clickhouse_database.clone();
        config.analytics = Some(Arc::new(ClickHouseAnalytics::new(clickhouse.clone())));
        config.mirror = Some(clickhouse);
        config.retention_days = args.retention_days;
        config.archive_after = args.archive_after;
    }
    let coordinator = Coordinator::start(config, store).await?;
    eprintln!(
        "coordinator {id} serving ControlService on {}",
        coordinator.grpc_address()
    );
    shutdown_signal().await;
    coordinator.shutdown().await;
    Ok(())
}

pub async fn run_agent(args: AgentArgs) -> Result<(), NodeError> {
    let store = throng_state::connect(&args.node.etcd).await?;
    let sink = telemetry_sink(&args.node).await?;
    let id = args
        .node
        .id
        .clone()
        .unwrap_or_else(|| format!("agent-{}", args.node.grpc.port()));
    let mut config = AgentConfig::new(&id, args.node.grpc);
    config.cluster = args.node.cluster.clone();
    config.advertise = args.node.advertise.clone();
    config.capacity = args.capacity;
    config.max_sessions_per_shard = args.max_sessions_per_shard;
    config.lease_ttl = args.node.lease_ttl;
    // The agent's browsers judge visits by the rules file, followed as it changes.
    let rules = behaviour_rules(args.browsers.behaviour_rules.as_deref())?;
    tokio::spawn(rules.clone().follow(std::future::pending()));
    config.browsers = browser_pool(&args.browsers, args.capacity, rules);
    // Stream runs' sinks wait in the spill directory while they are down.
    config.deliveries = Some(Arc::new(AgentDelivery::new(args.node.spill_dir.clone())));
    if let Some(token) = cluster_token(&args.node)? {
        config.guard = Arc::new(Guard {
            tokens: Some(Tokens::admin(&token).map_err(NodeError::Tokens)?),
            limit: None,
        });
    }
    config.tls = node_tls(&args.node)?;
    let guard = config.guard.clone();
    let agent = Agent::start(config, store, sink).await?;
    if let Some(address) = args.metrics {
        let bound = serve_agent_metrics(address, agent.metrics(), guard).await?;
        eprintln!("agent {id} serving metrics on http://{bound}/metrics");
    }
    eprintln!("agent {id} serving AgentService on {}", agent.address());
    shutdown_signal().await;
    agent.shutdown().await;
    Ok(())
}
