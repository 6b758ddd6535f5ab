//! Client verbs: talk to a coordinator's `ControlService` and print answers
//! as tables for people or JSON for scripts.

use std::time::Duration;

use prost::Message;
use serde_json::{Value, json};
use std::sync::OnceLock;
use throng_engine::http::error_chain;
use throng_proto::v1;
use throng_proto::v1::control_service_client::ControlServiceClient;
use tokio_stream::StreamExt;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::cli::{CampaignCommand, ClusterCommand, Output};

/// Why a client command failed; each prints readably and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot reach the coordinator at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the spec has {} problem(s):\n{}", .0.len(), format_field_errors(.0))]
    Invalid(Vec<v1::FieldError>),
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(tonic::Status),
    #[error("{0}")]
    Other(String),
}

fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::NotFound => "not found",
        tonic::Code::FailedPrecondition => "not allowed now",
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::InvalidArgument => "invalid",
        tonic::Code::DeadlineExceeded => "timed out",
        tonic::Code::Unauthenticated => "not authenticated",
        tonic::Code::PermissionDenied => "not permitted",
        tonic::Code::ResourceExhausted => "rate limited",
        _ => "error",
    }
}

fn format_field_errors(errors: &[v1::FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {}: {}", e.path, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        if status.code() == tonic::Code::InvalidArgument
            && let Ok(details) = v1::FieldErrors::decode(status.details())
            && !details.errors.is_empty()
        {
            return CliError::Invalid(details.errors);
        }
        CliError::Status(status)
    }
}

/// How client commands reach the coordinator beyond its address: the
/// bearer token (`--token`, `THRONG_TOKEN`) and TLS (`--tls-ca`, and a
/// client certificate for mTLS), set once when the command starts.
#[derive(Debug, Default)]
pub struct Credentials {
    pub token: Option<String>,
    pub tls_ca: Option<std::path::PathBuf>,
    pub tls_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();

pub fn use_credentials(credentials: Credentials) {
    let _ = CREDENTIALS.set(credentials);
}

fn read_pem(path: &std::path::Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The TLS of an https:// endpoint, from the credentials.
fn client_tls(credentials: &Credentials) -> Result<ClientTlsConfig, CliError> {
    let mut tls = match &credentials.tls_ca {
        Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem(ca)?)),
        None => ClientTlsConfig::new().with_webpki_roots(),
    };
    if let Some((cert, key)) = &credentials.tls_identity {
        tls = tls.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
    }
    Ok(tls)
}

/// Adds the token, if any, to every call.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A `ControlService` client that sends the command's token.
pub type Control = ControlServiceClient<InterceptedService<Channel, BearerToken>>;

pub async fn connect(endpoint: &str) -> Result<Control, CliError> {
    let unreachable = |reason: String| CliError::Unreachable {
        endpoint: endpoint.to_string(),
        reason,
    };
    let default = Credentials::default();
    let credentials = CREDENTIALS.get().unwrap_or(&default);
    let mut endpoint_config = Endpoint::from_shared(endpoint.to_string())
        .map_err(|e| unreachable(e.to_string()))?
        .connect_timeout(Duration::from_secs(3));
    if endpoint.starts_with("https://") {
        endpoint_config = endpoint_config
            .tls_config(client_tls(credentials)?)
            .map_err(|e| unreachable(error_chain(&e)))?;
    }
    let channel = endpoint_config
        .connect()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    let token = credentials.token.clone();
    let value = match token {
        Some(token) => Some(
            format!("Bearer {token}")
                .parse()
                .map_err(|_| CliError::Other("the token has characters a header cannot carry".into()))?,
        ),
        None => None,
    };
    Ok(ControlServiceClient::with_interceptor(
        channel,
        BearerToken(value),
    ))
}

pub(crate) fn read_spec(path: &std::path::Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A spec file as the API takes it. A stream run whose `catalog` names a
/// file (anything but `builtin`) gets that catalog inlined, read relative to
/// the spec: the coordinator and agents never read the client's files.
fn spec_request(path: &std::path::Path, start: bool) -> Result<v1::CampaignSpecRequest, CliError> {
    let mut document = read_spec(path)?;
    if let Ok(mut value) = serde_yaml::from_str::<Value>(&document)
        && value["kind"] == "streams"
        && let Some(name) = value["catalog"].as_str().filter(|n| *n != "builtin")
    {
        let catalog_path = path.parent().unwrap_or(std::path::Path::new(".")).join(name);
        let text = read_spec(&catalog_path)?;
        let catalog: Value = serde_yaml::from_str(&text)
            .map_err(|e| CliError::Other(format!("{}: not YAML or JSON: {e}", catalog_path.display())))?;
        value["catalog"] = catalog;
        document = value.to_string();
    }
    Ok(v1::CampaignSpecRequest { document, start })
}

pub use throng_coordinator::json::state_name;

fn campaign_json(c: &v1::Campaign) -> Value {
    throng_coordinator::json::campaign(c)
}

/// A campaign's live stats, in the shape the HTTP API's watch stream sends.
pub fn stats_json(s: &v1::CampaignStats) -> Value {
    throng_coordinator::json::campaign_stats(s)
}

/// ` [#########-----------]  45%` for a share of work done (0 to 1).
fn progress_bar(share: f64) -> String {
    let share = share.clamp(0.0, 1.0);
    let filled = (share * 20.0).round() as usize;
    format!(
        " [{}{}] {:>3.0}%",
        "#".repeat(filled),
        "-".repeat(20 - filled.min(20)),
        share * 100.0
    )
}

/// A stream run's progress: events, their rate, and the slowest shard's
/// simulated time, with a bar when the run has an end.
fn stream_line(s: &v1::CampaignStats) -> String {
    let when = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map_or_else(|_| "-".to_string(), |t| t.strftime("%Y-%m-%d %H:%M").to_string())
    };
    let mut line = format!(
        "{:<9} events {:>10} {:>9.0}/s  simulated {}",
        state_name(s.state),
        s.stream_events,
        s.stream_events_per_second,
        if s.sim_watermark_ms > 0 {
            when(s.sim_watermark_ms)
        } else {
            "-".to_string()
        }
    );
    if s.sim_until_ms > 0 && s.sim_watermark_ms > 0 {
        let done = s.shards_done == s.shards && s.shards > 0;
        let span = (s.sim_until_ms - s.sim_from_ms).max(1) as f64;
        let share = if done {
            1.0
        } else {
            ((s.sim_watermark_ms - s.sim_from_ms) as f64 / span).clamp(0.0, 1.0)
        };
        line.push_str(&progress_bar(share));
    }
    line.push_str(&format!("  shards {}/{}", s.shards_done, s.shards));
    line
}

/// The closing report of a watch: whether the generator limited the run,
/// thresholds and the slowest request names.
fn print_final_report(s: &v1::CampaignStats) {
    if !s.stop_reason.is_empty() {
        println!("stopped: {}", s.stop_reason);
    }
    if s.ran_generator_limited {
        println!(
            "generator-limited: over 1% of sessions started over 250 ms late (p99 {:.0} ms); the agents, not the target, limited this run and its latencies include their delay",
            s.start_lag_p99_ms
        );
    }
    if s.generator_errors > 0 {
        println!(
            "{} of {} failed requests were the generator's own (waited for a connection slot until their time ran out); the target's: {}",
            s.generator_errors,
            s.request_errors,
            s.request_errors - s.generator_errors
        );
    }
    for t in &s.thresholds {
        let verdict = if t.passed { "pass" } else { "FAIL" };
        println!(
            "{verdict} {}  (was {:.2}, {} samples)",
            t.rule, t.value, t.samples
        );
    }
    let mut names: Vec<&v1::RequestStats> = s.by_name.iter().collect();
    names.sort_by(|a, b| b.p99_ms.total_cmp(&a.p99_ms));
    if !names.is_empty() {
        println!(
            "{:<32} {:>9} {:>7} {:>9} {:>9} {:>9}",
            "REQUEST", "COUNT", "ERRORS", "P50 MS", "P90 MS", "P99 MS"
        );
        for n in names.iter().take(15) {
            println!(
                "{:<32} {:>9} {:>7} {:>9.1} {:>9.1} {:>9.1}",
                n.name, n.requests, n.errors, n.p50_ms, n.p90_ms, n.p99_ms
            );
        }
    }
}

/// One human line of live stats.
pub fn stats_line(s: &v1::CampaignStats) -> String {
    if s.sim_watermark_ms > 0 || s.stream_events > 0 {
        return stream_line(s);
    }
    let done = s.sessions_completed + s.sessions_failed;
    let mut line = format!(
        "{:<9} sessions {:>7}/{:<7} {:>7.1}/s  requests {:>8} {:>8.1}/s  errors {:>5}  p50 {:>7.1} ms  p99 {:>7.1} ms  shards {}/{}",
        state_name(s.state),
        done,
        s.sessions_planned,
        s.sessions_per_second,
        s.requests,
        s.requests_per_second,
        s.request_errors,
        s.p50_ms,
        s.p99_ms,
        s.shards_done,
        s.shards,
    );
    // A campaign bounded by a session count shows how far it has come.
    if s.sessions_planned > 0 {
        line.push_str(&progress_bar(done as f64 / s.sessions_planned as f64));
    }
    if s.generator_errors > 0 {
        line.push_str(&format!("  generator errors {}", s.generator_errors));
    }
    if !s.limited_agents.is_empty() {
        line.push_str(&format!(
            "  GENERATOR-LIMITED ({}, start lag p99 {:.0} ms)",
            s.limited_agents.join(", "),
            s.start_lag_p99_ms
        ));
    }
    line
}

fn print_campaign(c: &v1::Campaign, output: Output) {
    match output {
        Output::Json => println!("{}", campaign_json(c)),
        Output::Table => {
            println!("id        {}", c.id);
            println!("name      {}", c.name);
            println!("state     {}", state_name(c.state));
            let document: Value = serde_json::from_str(&c.spec_json).unwrap_or(Value::Null);
            let stream_run = throng_engine::streams::StreamRunSpec::from_value(&document).ok();
            match (stream_run, c.plan.clone()) {
                (Some(run), _) => {
                    println!("kind      stream run of {} streams", run.catalog.streams.len());
                    match run.clock.cadence() {
                        Some(c) => println!(
                            "clock     emulated: a batch every {} s of {} to {} events (scale {:.4})",
                            c.interval_ms / 1000,
                            c.batch_min,
                            c.batch_max,
                            run.scale
                        ),
                        None => println!("clock     {}", run.clock.mode()),
                    }
                    println!("shards    {} done of {}", c.shards_done, run.shard_count());
                }
                (None, plan) => {
                    let plan = plan.unwrap_or_default();
                    println!(
                        "sessions  {} checkpointed of {} planned",
                        c.sessions_checkpointed, plan.sessions
                    );
                    println!("shards    {} done of {}", c.shards_done, plan.shards);
                }
            }
        }
    }
}

pub async fn cluster(endpoint: &str, output: Output, command: ClusterCommand) -> Result<(), CliError> {
    let mut client = connect(endpoint).await?;
    match command {
        ClusterCommand::Status => {
            let status = client
                .get_cluster_status(v1::GetClusterStatusRequest {})
                .await?
                .into_inner();
            match output {
                Output::Json => println!("{}", throng_coordinator::json::cluster_status(&status)),
                Output::Table => {
                    println!(
                        "cluster {}  leader {}  campaigns {}  shards {}",
                        status.cluster,
                        if status.leader.is_empty() {
                            "(none)"
                        } else {
                            &status.leader
                        },
                        status.campaigns,
                        status.shards
                    );
                    println!(
                        "{:<24} {:<28} {:>8} {:>7}  {:<9} {:<10} {:>6} {:>11} {:>9} {:>9} {:>8}",
                        "AGENT",
                        "ADDRESS",
                        "CAPACITY",
                        "SHARDS",
                        "GENERATOR",
                        "TELEMETRY",
                        "QUEUE",
                        "WRITTEN",
                        "SPILLED",
                        "REPLAYED",
                        "REJECTED"
                    );
                    let mut problems = Vec::new();
                    for a in &status.agents {
                        let t = a.telemetry.clone().unwrap_or_default();
                        let generator = match &a.generator {
                            None => "-",
                            Some(g) if g.limited => "LIMITED",
                            Some(_) => "ok",
                        };
                        println!(
                            "{:<24} {:<28} {:>8} {:>7}  {:<9} {:<10} {:>6} {:>11} {:>9} {:>9} {:>8}",
                            a.id,
                            a.address,
                            a.capacity,
                            a.shards,
                            generator,
                            if t.store.is_empty() { "-" } else { &t.store },
                            t.queue_depth,
                            t.rows_written,
                            t.rows_spilled,
                            t.rows_replayed,
                            t.rows_rejected
                        );
                        if !t.error.is_empty() {
                            problems.push(format!("telemetry of {}: {}", a.id, t.error));
                        }
                        if let Some(g) = a.generator.as_ref().filter(|g| g.limited) {
                            problems.push(format!(
                                "{} is generator-limited ({}): it, not the target, limits the traffic; add agents or ask for less",
                                a.id, g.reason
                            ));
                        }
                    }
                    let sinks: Vec<(&str, &v1::SinkHealth)> = status
                        .agents
                        .iter()
                        .flat_map(|a| a.sinks.iter().map(move |s| (a.id.as_str(), s)))
                        .collect();
                    if !sinks.is_empty() {
                        println!();
                        println!(
                            "{:<24} {:<24} {:<16} {:<9} {:>7} {:>10} {:>9} {:>9} {:>9}",
                            "SINK",
                            "RUN",
                            "AGENT",
                            "KIND",
                            "QUEUED",
                            "WRITTEN",
                            "SPILLED",
                            "REPLAYED",
                            "REJECTED"
                        );
                        for (agent, s) in &sinks {
                            println!(
                                "{:<24} {:<24} {:<16} {:<9} {:>7} {:>10} {:>9} {:>9} {:>9}",
                                s.sink,
                                s.run_id,
                                agent,
                                s.kind,
                                s.queued,
                                s.written,
                                s.spilled,
                                s.replayed,
                                s.rejected
                            );
                            if !s.error.is_empty() {
                                problems
                                    .push(format!("sink {} of {} on {agent}: {}", s.sink, s.run_id, s.error));
                            }
                        }
                    }
                    for problem in problems {
                        println!("{problem}");
                    }
                    if !status.stream_runs.is_empty() {
                        println!();
                        println!(
                            "{:<24} {:<24} {:<12} {:<8} CADENCE",
                            "STREAM RUN", "NAME", "MODE", "STATE"
                        );
                        for r in &status.stream_runs {
                            let cadence = if r.mode == "emulated" {
                                format!(
                                    "a batch every {} s of {} to {} events",
                                    r.interval_seconds, r.batch_min, r.batch_max
                                )
                            } else {
                                "-".to_string()
                            };
                            println!(
                                "{:<24} {:<24} {:<12} {:<8} {cadence}",
                                r.id, r.name, r.mode, r.state
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

pub async fn campaign(endpoint: &str, output: Output, command: CampaignCommand) -> Result<(), CliError> {
    if let CampaignCommand::Validate { file } = &command {
        let request = spec_request(file, false)?;
        let answer = connect(endpoint)
            .await?
            .validate_campaign(request)
            .await?
            .into_inner();
        match output {
            Output::Json => println!("{}", throng_coordinator::json::validation(&answer)),
            Output::Table if answer.valid && answer.plan.is_none() => println!("valid: a stream run"),
            Output::Table if answer.valid => {
                let p = answer.plan.unwrap_or_default();
                println!(
                    "valid: {} sessions in {} shards at {}/s over about {:.0}s, about {:.1} requests/s",
                    p.sessions,
                    p.shards,
                    p.sessions_per_second,
                    p.expected_duration_seconds,
                    p.requests_per_second_at_peak
                );
                if p.daily_cap > 0 {
                    println!("daily cap: {} sessions", p.daily_cap);
                }
                println!(
                    "{:<20} {:>7} {:>10} {:>14}  JOURNEYS",
                    "PERSONA", "SHARE", "SESSIONS", "PER HOUR PEAK"
                );
                for x in &p.personas {
                    println!(
                        "{:<20} {:>6.1}% {:>10.0} {:>14.0}  {}",
                        x.name,
                        x.share * 100.0,
                        x.sessions,
                        x.sessions_per_hour_at_peak,
                        x.journeys.join(", ")
                    );
                }
            }
            Output::Table => {}
        }
        if !answer.valid {
            return Err(CliError::Invalid(answer.errors));
        }
        return Ok(());
    }
    if let CampaignCommand::Test { file } = &command {
        let request = spec_request(file, false)?;
        let answer = connect(endpoint).await?.test_target(request).await?.into_inner();
        match output {
            Output::Json => println!("{}", throng_coordinator::json::target_checks(&answer)),
            Output::Table => {
                for t in &answer.targets {
                    println!(
                        "{} {:<7} {}  {}",
                        if t.ok { "ok  " } else { "FAIL" },
                        t.kind,
                        t.url,
                        t.diagnosis
                    );
                }
            }
        }
        if !answer.ok {
            return Err(CliError::Other("a target did not answer as expected".into()));
        }
        return Ok(());
    }
    let mut client = connect(endpoint).await?;
    let reference = |id: &str| v1::CampaignRef { id: id.to_string() };
    let campaign = match command {
        CampaignCommand::Validate { .. } | CampaignCommand::Test { .. } => return Ok(()),
        CampaignCommand::Apply { file, start } => {
            let created = client
                .create_campaign(spec_request(&file, start)?)
                .await?
                .into_inner();
            match output {
                Output::Json => println!("{}", campaign_json(&created)),
                Output::Table => println!("{}", created.id),
            }
            return Ok(());
        }
        CampaignCommand::Start { id } => client.start_campaign(reference(&id)).await?,
        CampaignCommand::SetRate { id, rate } => {
            client
                .set_campaign_rate(v1::SetCampaignRateRequest { id, rate })
                .await?
        }
        CampaignCommand::Pause { id } => client.pause_campaign(reference(&id)).await?,
        CampaignCommand::Resume { id } => client.resume_campaign(reference(&id)).await?,
        CampaignCommand::Stop { id } => client.stop_campaign(reference(&id)).await?,
        CampaignCommand::Get { id } => client.get_campaign(reference(&id)).await?,
        CampaignCommand::Update { id, file } => {
            let document = spec_request(&file, false)?.document;
            client
                .update_campaign(v1::UpdateCampaignRequest { id, document })
                .await?
        }
        CampaignCommand::Clone { id, name, start } => {
            let request = v1::CloneCampaignRequest {
                id,
                name: name.unwrap_or_default(),
                start,
            };
            client.clone_campaign(request).await?
        }
        CampaignCommand::Delete { id } => {
            let answer = client.delete_campaign(reference(&id)).await?.into_inner();
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"id": answer.id, "deleted": true, "keys_removed": answer.keys_removed})
                ),
                Output::Table => println!("deleted {} ({} keys)", answer.id, answer.keys_removed),
            }
            return Ok(());
        }
        CampaignCommand::List => {
            let list = client
                .list_campaigns(v1::ListCampaignsRequest {})
                .await?
                .into_inner();
            match output {
                Output::Json => println!(
                    "{}",
                    json!({"campaigns": list.campaigns.iter().map(campaign_json).collect::<Vec<_>>()})
                ),
                Output::Table => {
                    println!("{:<32} {:<10} {:>21} {:>11}", "ID", "STATE", "SESSIONS", "SHARDS");
                    for c in &list.campaigns {
                        let plan = c.plan.clone().unwrap_or_default();
                        println!(
                            "{:<32} {:<10} {:>21} {:>11}",
                            c.id,
                            state_name(c.state),
                            format!("{}/{}", c.sessions_checkpointed, plan.sessions),
                            format!("{}/{}", c.shards_done, plan.shards)
                        );
                    }
                }
            }
            return Ok(());
        }
        CampaignCommand::Watch { id } => return watch(&mut client, &id, output).await,
        CampaignCommand::Errors { id, follow } => return errors(&mut client, &id, follow, output).await,
    };
    print_campaign(&campaign.into_inner(), output);
    Ok(())
}

/// `HH:MM:SS` (UTC) of an epoch-millisecond instant.
fn clock_time(ms: u64) -> String {
    let seconds = ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn print_error_groups(groups: &[(&v1::ErrorGroup, u64)]) {
    for (g, count) in groups {
        let status = if g.example_status == 0 {
            "-".to_string()
        } else {
            g.example_status.to_string()
        };
        println!(
            "{:>8}  {:<8} {:<16} {:<6} {:<24} {}",
            count,
            clock_time(g.last_ms),
            g.class,
            status,
            g.example_path,
            g.message
        );
        if !g.example_excerpt.is_empty() {
            println!("{:>8}  {:<8} body: {}", "", "", g.example_excerpt);
        }
    }
}

/// `throng campaign errors`: the groups once, or, with `follow`, each
/// group's growth every two seconds while the campaign runs.
async fn errors(client: &mut Control, id: &str, follow: bool, output: Output) -> Result<(), CliError> {
    let reference = v1::CampaignRef { id: id.to_string() };
    let mut seen: std::collections::HashMap<(String, String), u64> = std::collections::HashMap::new();
    let mut first = true;
    loop {
        let report = client.get_campaign_errors(reference.clone()).await?.into_inner();
        match output {
            Output::Json => println!("{}", throng_coordinator::json::campaign_errors(&report)),
            Output::Table => {
                if first {
                    println!(
                        "{:>8}  {:<8} {:<16} {:<6} {:<24} MESSAGE",
                        "REQUESTS", "LAST", "CLASS", "STATUS", "EXAMPLE PATH"
                    );
                }
                let grown: Vec<(&v1::ErrorGroup, u64)> = report
                    .groups
                    .iter()
                    .filter_map(|g| {
                        let before = seen.insert((g.class.clone(), g.message.clone()), g.requests);
                        let added = g.requests - before.unwrap_or(0).min(g.requests);
                        (added > 0).then_some((g, if first { g.requests } else { added }))
                    })
                    .collect();
                print_error_groups(&grown);
                if first && report.groups.is_empty() {
                    println!("no failed requests");
                }
                if first && report.other_requests > 0 {
                    println!(
                        "{:>8}  requests with other messages (past the first {})",
                        report.other_requests,
                        report.groups.len()
                    );
                }
            }
        }
        first = false;
        if !follow {
            return Ok(());
        }
        let campaign = client.get_campaign(reference.clone()).await?.into_inner();
        let running = matches!(
            v1::CampaignState::try_from(campaign.state),
            Ok(v1::CampaignState::Running | v1::CampaignState::Paused | v1::CampaignState::Created)
        );
        if !running {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

async fn watch(client: &mut Control, id: &str, output: Output) -> Result<(), CliError> {
    let mut stream = client
        .watch_campaign(v1::CampaignRef { id: id.to_string() })
        .await?
        .into_inner();
    let mut last = None;
    while let Some(item) = stream.next().await {
        let stats = item?;
        match output {
            Output::Json => println!("{}", stats_json(&stats)),
            Output::Table => println!("{}", stats_line(&stats)),
        }
        last = Some(stats);
    }
    let Some(last) = last else {
        return Err(CliError::Other("the watch ended before any stats arrived".into()));
    };
    if output == Output::Table {
        print_final_report(&last);
    }
    let failed: Vec<String> = last
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.rule.clone())
        .collect();
    if !failed.is_empty() {
        return Err(CliError::Other(format!(
            "thresholds failed: {}",
            failed.join("; ")
        )));
    }
    if last.state == v1::CampaignState::Completed as i32 {
        Ok(())
    } else if last.state == v1::CampaignState::Stopped as i32 {
        Err(CliError::Other(format!(
            "the campaign stopped before completing: {}",
            last.stop_reason
        )))
    } else {
        Err(CliError::Other("the watch ended before the campaign did".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_campaigns_show_a_progress_bar() {
        let stats = v1::CampaignStats {
            state: v1::CampaignState::Running as i32,
            sessions_planned: 200,
            sessions_completed: 45,
            sessions_failed: 5,
            ..Default::default()
        };
        let line = stats_line(&stats);
        assert!(line.ends_with(" [#####---------------]  25%"), "{line}");
        let open_ended = v1::CampaignStats {
            sessions_planned: 0,
            ..stats
        };
        assert!(!stats_line(&open_ended).contains('['));
        assert_eq!(progress_bar(1.7), " [####################] 100%");
    }

    #[test]
    fn a_line_says_when_agents_limit_the_campaign_and_which_failures_were_theirs() {
        let stats = v1::CampaignStats {
            state: v1::CampaignState::Running as i32,
            request_errors: 9,
            generator_errors: 4,
            start_lag_p99_ms: 1234.4,
            limited_agents: vec!["agent-2".into()],
            ..Default::default()
        };
        let line = stats_line(&stats);
        assert!(line.contains("errors     9"), "{line}");
        assert!(
            line.ends_with("  generator errors 4  GENERATOR-LIMITED (agent-2, start lag p99 1234 ms)"),
            "{line}"
        );
        let keeping_up = v1::CampaignStats {
            limited_agents: Vec::new(),
            generator_errors: 0,
            ..stats
        };
        assert!(!stats_line(&keeping_up).contains("GENERATOR"));
    }
}
