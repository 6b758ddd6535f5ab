//! `throng up`: a whole cluster in one process for a laptop. A coordinator
//! and N agents talk real gRPC over loopback; state lives in the in-memory
//! store and telemetry in the in-memory sink; a demo site is the target of a
//! demo campaign, and the 50 built-in streams run accelerated beside it.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_agent::{Agent, AgentConfig};
use throng_coordinator::{Coordinator, CoordinatorConfig};
use throng_engine::telemetry::MemorySink;
use throng_proto::v1;
use throng_state::{MemoryStore, StateStore};
use tokio_stream::StreamExt;

use crate::cli::{Output, UpArgs};
use crate::client::{self, CliError};
use crate::demo_site::{self, DEMO_PAGES, DemoCounters};
use crate::server::{NodeError, shutdown_signal};

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Client(#[from] CliError),
    #[error("cannot serve the demo site on {address}: {reason}")]
    Demo { address: SocketAddr, reason: String },
    #[error("no coordinator became leader within 10s")]
    NoLeader,
    #[error("cannot write data files in {path}: {reason}")]
    DataDir { path: String, reason: String },
}

/// The names of the demo campaign and the demo stream run.
const DEMO_CAMPAIGN: &str = "demo";
const DEMO_STREAMS: &str = "marketplace";

fn demo_spec(target: SocketAddr, rate: f64) -> String {
    let pages: Vec<String> = DEMO_PAGES.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "name: {DEMO_CAMPAIGN}\nseed: 1\ntarget: {{ url: \"http://{target}\" }}\npages: [{}]\n\
         session:\n  pages: {{ min: 1, max: 5 }}\n  think_time: {{ min: 200ms, max: 2s }}\n\
         load: {{ rate: {rate}, duration: 24h, shards: 8 }}\n",
        pages.join(", ")
    )
}

/// The demo stream run: the built-in catalog, `speed` times faster than real
/// time, from the start of the current hour (so the day's rhythm shows).
fn demo_streams_spec(speed: f64) -> String {
    let now = throng_engine::clock::epoch_ms() as i64;
    let hour = now - now.rem_euclid(3_600_000);
    let from = jiff::Timestamp::from_millisecond(hour).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!(
        "kind: streams\nname: {DEMO_STREAMS}\ncatalog: builtin\nclock: {{ mode: accelerated, factor: {speed}, from: \"{from}\" }}\n"
    )
}

/// Creates and starts the demo document named `name`. A machine busy
/// enough to delay the lease keep-alives can cost the coordinator its
/// leadership for a moment while it starts; the call is retried until a
/// leader answers, like any client would, rather than ending `throng up`.
/// An unavailable answer may also come after the campaign was stored, so
/// before each retry the store is asked whether it already has it (this
/// process's store is fresh: a campaign of that name is the one it made).
async fn create_started(
    control: &mut client::Control,
    name: &str,
    document: String,
) -> Result<v1::Campaign, UpError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = v1::CampaignSpecRequest {
            document: document.clone(),
            start: true,
        };
        let refusal = match control.create_campaign(request).await {
            Ok(created) => return Ok(created.into_inner()),
            Err(status) if status.code() == tonic::Code::Unavailable && Instant::now() < deadline => status,
            Err(status) => return Err(CliError::from(status).into()),
        };
        tracing::warn!(error = %refusal.message(), "creating the demo {name} again");
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(list) = control.list_campaigns(v1::ListCampaignsRequest {}).await
            && let Some(made) = list.into_inner().campaigns.into_iter().find(|c| c.name == name)
        {
            return Ok(made);
        }
    }
}

pub async fn run(args: UpArgs, output: Output) -> Result<(), UpError> {
    let counters = DemoCounters::default();
    let demo = demo_site::start(args.demo, counters.clone())
        .await
        .map_err(|e| UpError::Demo {
            address: args.demo,
            reason: e.to_string(),
        })?;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let sink = Arc::new(match &args.data_dir {
        Some(dir) => MemorySink::with_data_dir(throng_engine::telemetry::RECENT_LIMIT, dir).map_err(|e| {
            UpError::DataDir {
                path: dir.display().to_string(),
                reason: e.to_string(),
            }
        })?,
        None => MemorySink::default(),
    });

    let mut config = CoordinatorConfig::new("coordinator-1", args.grpc);
    config.http_listen = Some(args.http);
    // One rules file for the whole embedded cluster: the service and the browsers.
    config.behaviour_rules = crate::server::behaviour_rules(args.browsers.behaviour_rules.as_deref())?;
    let rules = config.behaviour_rules.clone();
    config.analytics = Some(sink.clone());
    let coordinator = Coordinator::start(config, store.clone())
        .await
        .map_err(NodeError::from)?;
    let mut agents = Vec::new();
    // One pool for the process: the embedded agents share its browsers.
    // The coordinator follows the rules file; the browsers share what it reads.
    let browsers = crate::server::browser_pool(&args.browsers, args.agents.max(1), rules);
    for i in 1..=args.agents.max(1) {
        let mut config = AgentConfig::new(&format!("agent-{i}"), SocketAddr::from(([127, 0, 0, 1], 0)));
        config.browsers = browsers.clone();
        // Each agent its own sinks' writers (so each reports its own); with
        // a data directory, a sink that is down waits on disk there.
        config.deliveries = Some(Arc::new(throng_delivery::AgentDelivery::new(
            args.data_dir
                .as_ref()
                .map(|dir| dir.join("spill").join(format!("agent-{i}"))),
        )));
        config.max_sessions_per_shard = args.max_sessions_per_shard;
        agents.push(
            Agent::start(config, store.clone(), sink.clone())
                .await
                .map_err(NodeError::from)?,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !coordinator.is_leader() {
        if Instant::now() > deadline {
            return Err(UpError::NoLeader);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let endpoint = coordinator.grpc_address().to_string();
    eprintln!(
        "throng up: coordinator {endpoint} (HTTP {}), {} agents, demo site http://{demo}",
        coordinator.http_address().unwrap_or("-"),
        agents.len()
    );
    eprintln!("  try: throng --endpoint {endpoint} cluster status   (Ctrl-C to stop)");

    let mut campaign_id = None;
    let mut streams_id = None;
    let mut progress = None;
    if !args.no_demo && !args.no_streams {
        let mut control = client::connect(&endpoint).await?;
        let created =
            create_started(&mut control, DEMO_STREAMS, demo_streams_spec(args.streams_speed)).await?;
        eprintln!(
            "  stream run {} started: 50 streams at {}x real time; try: throng --endpoint {endpoint} scenario list",
            created.id, args.streams_speed
        );
        streams_id = Some(created.id);
    }
    if !args.no_demo {
        let mut control = client::connect(&endpoint).await?;
        let created = create_started(&mut control, DEMO_CAMPAIGN, demo_spec(demo, args.demo_rate)).await?;
        eprintln!("  demo campaign {} started at {}/s", created.id, args.demo_rate);
        campaign_id = Some(created.id.clone());
        progress = Some(tokio::spawn(show_progress(control, created.id, output)));
    }

    shutdown_signal().await;
    let mut last = None;
    if let Some(task) = progress {
        task.abort();
        last = task.await.ok().flatten();
    }
    if let Some(id) = &campaign_id
        && let Ok(mut control) = client::connect(&endpoint).await
    {
        let _ = control.stop_campaign(v1::CampaignRef { id: id.clone() }).await;
        let mut stream = control
            .watch_campaign(v1::CampaignRef { id: id.clone() })
            .await
            .ok()
            .map(|s| s.into_inner());
        if let Some(stream) = stream.as_mut()
            && let Some(Ok(stats)) = stream.next().await
        {
            last = Some(stats);
        }
    }
    for agent in agents {
        agent.shutdown().await;
    }
    coordinator.shutdown().await;
    let stream_counts = streams_id
        .as_deref()
        .map(|id| sink.stream_counts(id))
        .unwrap_or_default();
    print_summary(
        campaign_id.as_deref(),
        last.as_ref(),
        &sink,
        &counters,
        streams_id.as_deref().map(|id| (id, &stream_counts)),
        output,
    );
    Ok(())
}

async fn show_progress(
    mut control: crate::client::Control,
    id: String,
    output: Output,
) -> Option<v1::CampaignStats> {
    let mut stream = control
        .watch_campaign(v1::CampaignRef { id })
        .await
        .ok()?
        .into_inner();
    let terminal = std::io::stderr().is_terminal();
    let mut last = None;
    while let Some(Ok(stats)) = stream.next().await {
        match output {
            Output::Json => println!("{}", client::stats_json(&stats)),
            Output::Table if terminal => {
                eprint!("\r\x1b[2K{}", client::stats_line(&stats));
                let _ = std::io::stderr().flush();
            }
            Output::Table => eprintln!("{}", client::stats_line(&stats)),
        }
        last = Some(stats);
    }
    last
}

fn print_summary(
    campaign_id: Option<&str>,
    last: Option<&v1::CampaignStats>,
    sink: &MemorySink,
    demo: &DemoCounters,
    streams: Option<(&str, &std::collections::BTreeMap<String, u64>)>,
    output: Output,
) {
    let stream_events: u64 = streams.map_or(0, |(_, counts)| counts.values().sum());
    let totals = campaign_id.map(|id| sink.totals(id)).unwrap_or_default();
    match output {
        Output::Json => println!(
            "{}",
            serde_json::json!({
                "summary": {
                    "campaign_id": campaign_id,
                    "sessions_recorded": totals.sessions,
                    "sessions_failed": totals.failed_sessions,
                    "requests": totals.requests,
                    "demo_site_requests": demo.requests(),
                    "last_stats": last.map(client::stats_json),
                    "stream_run_id": streams.map(|(id, _)| id),
                    "stream_events": stream_events,
                    "streams": streams.map(|(_, counts)| counts),
                }
            })
        ),
        Output::Table => {
            eprintln!();
            eprintln!("throng up stopped.");
            if let Some(id) = campaign_id {
                eprintln!("  campaign            {id}");
                eprintln!(
                    "  sessions recorded   {} ({} failed)",
                    totals.sessions, totals.failed_sessions
                );
                eprintln!("  requests            {}", totals.requests);
                if let Some(s) = last {
                    eprintln!(
                        "  latency p50 / p99   {:.1} ms / {:.1} ms (max {:.1} ms)",
                        s.p50_ms, s.p99_ms, s.max_ms
                    );
                }
            }
            eprintln!("  demo site requests  {}", demo.requests());
            if let Some((id, counts)) = streams {
                eprintln!("  stream run          {id}");
                eprintln!(
                    "  stream events       {stream_events} in {} streams",
                    counts.len()
                );
            }
        }
    }
}
