//! The command line of `throng`. Docs and scripts rely on these names:
//! extend them, don't break them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "throng",
    version,
    about = "Throng: a distributed simulation cluster for web traffic and business event streams"
)]
pub struct Cli {
    /// The coordinator's ControlService URL.
    #[arg(
        long,
        global = true,
        env = "THRONG_ENDPOINT",
        default_value = "http://127.0.0.1:7070"
    )]
    pub endpoint: String,
    /// The bearer token client commands send (a coordinator started with
    /// `--tokens` asks for one); prefer the environment variable.
    #[arg(long, global = true, env = "THRONG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// For an https:// endpoint: the CA that signed the coordinator's
    /// certificate (default: the public roots).
    #[arg(long, global = true, env = "THRONG_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate and key, for a coordinator that asks for one (mTLS).
    #[arg(long, global = true, env = "THRONG_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, global = true, env = "THRONG_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How client commands print their answers (csv: `throng analytics` only).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// How a command that prints tables or JSON prints.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

impl OutputFormat {
    /// The format for commands without a CSV form.
    pub fn table_or_json(self) -> Result<Output, String> {
        match self {
            OutputFormat::Table => Ok(Output::Table),
            OutputFormat::Json => Ok(Output::Json),
            OutputFormat::Csv => Err("--output csv is for `throng analytics`; use table or json".to_string()),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// A whole cluster in one process: coordinator, agents, demo site and a demo campaign.
    Up(UpArgs),
    /// Run a coordinator node.
    Coordinator(CoordinatorArgs),
    /// Run an agent node.
    Agent(AgentArgs),
    /// Serve the demo site alone (a target to practise on), with its
    /// request log at `/_requests`.
    DemoSite {
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: SocketAddr,
    },
    /// Cluster commands.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Campaign commands (stream runs, `kind: streams` documents, are campaigns too).
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Streams of a stream run: list, history, statistics.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Scenarios of a stream run: list, apply, stop, reset.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// External events of a stream run's history, and what they moved.
    #[command(subcommand)]
    Event(EventCommand),
    /// Campaign analytics from the telemetry store, side by side for several
    /// campaigns: sessions, page views, bounce rate, conversions, revenue,
    /// errors, latency percentiles; by a dimension; as a time series.
    Analytics(AnalyticsArgs),
    /// One self-contained HTML report of one to eight campaigns (numbers,
    /// charts over their runs, breakdown by persona, errors) that opens
    /// with no network.
    Report(ReportArgs),
    /// The bot detector, for your own behaviour data.
    #[command(subcommand)]
    Behaviour(BehaviourCommand),
    /// A campaign's sessions: a filtered list, newest first, and one in full.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Recent log lines of a node (the coordinator, or an agent by id).
    Logs(LogsArgs),
    /// Library personas, reused by campaigns as `personas: [{ use: NAME }]`.
    #[command(subcommand)]
    Persona(LibraryCommand),
    /// Library journeys, reused as `journeys: [{ use: NAME }]` (a library
    /// persona brings the library journeys it walks).
    #[command(subcommand)]
    Journey(LibraryCommand),
    /// Library sites, reused as `site: { use: NAME }`.
    #[command(subcommand)]
    Site(LibraryCommand),
    /// Every scenario of a stream run stops bending at once: back to baseline.
    Reset {
        /// The stream run (default: the only one running).
        #[arg(long)]
        run: Option<String>,
    },
    /// The configuration client commands use (endpoint, token, output) and
    /// every THRONG_ setting in the environment, secrets redacted.
    Config,
    /// A shell completion script: `throng completions bash > /etc/bash_completion.d/throng`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Which history a stream command reads.
#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    /// The stream run (default: the only one running).
    #[arg(long)]
    pub run: Option<String>,
    /// Window start (RFC 3339); default: 30 days before the run's simulated start.
    #[arg(long)]
    pub from: Option<String>,
    /// Window end (RFC 3339); default: 30 days after from.
    #[arg(long)]
    pub until: Option<String>,
    /// Block length, e.g. "12h" or "1h".
    #[arg(long, default_value = "12h", value_parser = humantime_duration)]
    pub block: std::time::Duration,
    /// Stream pattern (repeatable): `*`, `customer.*`, `high-frequency`, a stream name.
    #[arg(long = "stream", value_name = "PATTERN")]
    pub patterns: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum StreamCommand {
    /// The run's streams: domain, cadence tier, how they arrive.
    List {
        #[arg(long)]
        run: Option<String>,
    },
    /// Events per block, baseline and under the run's scenarios, with 0-100 scores and flags.
    History(HistoryArgs),
    /// Baseline statistics per stream over the window.
    Stats(HistoryArgs),
    /// Live events by pattern: a snapshot of the last 10 per stream, then as they come.
    Tail {
        /// `*` (default), `customer.*`, `high-frequency`, a stream name, `anomalies`.
        patterns: Vec<String>,
        #[arg(long)]
        run: Option<String>,
        /// Resume after this token (printed with every batch) instead of a snapshot.
        #[arg(long = "from", value_name = "TOKEN")]
        from: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EventCommand {
    /// The external events of a window (default: the 30 days before the run's start).
    List {
        #[arg(long)]
        run: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// Which of them moved this stream.
        #[arg(long)]
        stream: Option<String>,
    },
    /// Inject events from the catalog's library, or of your own: from a file
    /// (`events: [{ template: tiktok-mention, at: "2026-02-05T10:00:00Z" }]`,
    /// or `event: { title, category, severity, icon, impact: [...] }` in
    /// place of `template`; docs/streams.md) or one `--template` (at `--at`,
    /// default: as soon as every shard can).
    Inject {
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        #[arg(long)]
        template: Option<String>,
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        run: Option<String>,
    },
    /// One event and every stream it moved.
    Show {
        /// The event id (16 hex digits, from `event list`).
        id: String,
        #[arg(long)]
        run: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ScenarioCommand {
    /// The scenarios a run's catalog defines, and those that have run.
    List {
        /// The stream run (default: the only one running).
        #[arg(long)]
        run: Option<String>,
    },
    /// Start a scenario, at the same simulated instant on every agent.
    Apply {
        scenario: String,
        #[arg(long)]
        run: Option<String>,
        /// Simulated instant to start at (RFC 3339); default: as soon as every shard can.
        #[arg(long)]
        at: Option<String>,
        /// Allow it beside a scenario still active or settling (effects compose).
        #[arg(long)]
        compose: bool,
    },
    /// Active scenarios start settling now.
    Stop {
        #[arg(long)]
        run: Option<String>,
    },
    /// Same as `throng reset`.
    Reset {
        #[arg(long)]
        run: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// How many agents to run.
    #[arg(long, default_value_t = 2)]
    pub agents: u32,
    /// Start neither the demo campaign nor the demo stream run.
    #[arg(long)]
    pub no_demo: bool,
    /// Do not start the demo stream run (the 50 built-in streams).
    #[arg(long)]
    pub no_streams: bool,
    /// How much faster than real time the demo stream run goes.
    #[arg(long, default_value_t = 60.0)]
    pub streams_speed: f64,
    /// Also write every row to JSON-lines files here (sessions, requests,
    /// stream_events), loadable into ClickHouse as they are.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where the coordinator's ControlService listens.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub grpc: SocketAddr,
    /// Where the coordinator's HTTP JSON API listens.
    #[arg(long, default_value = "127.0.0.1:7080")]
    pub http: SocketAddr,
    /// Where the demo site listens.
    #[arg(long, default_value = "127.0.0.1:8088")]
    pub demo: SocketAddr,
    /// Demo campaign arrival rate (sessions per second).
    #[arg(long, default_value_t = 20.0)]
    pub demo_rate: f64,
    /// Most sessions one shard runs at once on each agent (as `throng agent`'s).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_sessions_per_shard: u64,
    #[command(flatten)]
    pub browsers: BrowserArgs,
}

#[derive(Args, Debug)]
pub struct CommonNodeArgs {
    /// etcd endpoints, comma-separated (or `memory:` for a private in-memory store).
    #[arg(long, env = "THRONG_ETCD")]
    pub etcd: String,
    /// Where this node's gRPC service listens.
    #[arg(long)]
    pub grpc: SocketAddr,
    /// The URL other nodes use to reach this one (default: http://<grpc>).
    #[arg(long)]
    pub advertise: Option<String>,
    /// ClickHouse HTTP URL for telemetry.
    #[arg(long, env = "THRONG_CLICKHOUSE")]
    pub clickhouse: Option<String>,
    /// ClickHouse database.
    #[arg(long, default_value = "throng")]
    pub clickhouse_database: String,
    /// Where telemetry batches wait on disk while ClickHouse is unreachable
    /// (replayed in order when it is back). Without it they wait in memory.
    #[arg(long, env = "THRONG_SPILL_DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Cluster name (the etcd key prefix is /throng/<cluster>).
    #[arg(long, env = "THRONG_CLUSTER", default_value = "default")]
    pub cluster: String,
    /// This node's id (default: its role and gRPC port, e.g. agent-7001).
    #[arg(long, env = "THRONG_ID")]
    pub id: Option<String>,
    /// Lease time to live, e.g. "5s".
    #[arg(long, default_value = "5s", value_parser = humantime_duration)]
    pub lease_ttl: std::time::Duration,
    /// A file holding the cluster's token: agents ask it of every call, the
    /// coordinator sends it. Without it agents take calls from anyone.
    #[arg(long, env = "THRONG_CLUSTER_TOKEN_FILE")]
    pub cluster_token_file: Option<PathBuf>,
    /// Send this node's spans to an OpenTelemetry collector (OTLP over
    /// gRPC, e.g. http://collector:4317). A collector that is down costs
    /// dropped spans, never a slower simulation.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Serve gRPC over TLS with this certificate (PEM; its key in --tls-key).
    #[arg(long, env = "THRONG_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, env = "THRONG_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The CA other nodes' certificates are checked against (default: the
    /// public roots); with --tls-client-auth, callers must present a
    /// certificate it signed.
    #[arg(long, env = "THRONG_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Require client certificates signed by --tls-ca (mutual TLS).
    #[arg(long, requires = "tls_ca")]
    pub tls_client_auth: bool,
    /// The name other nodes' certificates are checked against, when it is
    /// not the host in their address (nodes reached by IP).
    #[arg(long)]
    pub tls_server_name: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum BehaviourCommand {
    /// Judges one session's behaviour data (JSON, as docs/behaviour.md shows): score, risk, reasons.
    Score {
        /// The behaviour data file, or `-` for standard input.
        #[arg(short, long)]
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct AnalyticsArgs {
    /// Campaign ids (two or more: compared side by side).
    #[arg(required = true)]
    pub campaigns: Vec<String>,
    /// Break down by persona, journey, target, agent or request (name).
    #[arg(long)]
    pub by: Option<String>,
    /// Also a time series with buckets this long, e.g. "1m" or "10s".
    #[arg(long, value_parser = humantime_duration)]
    pub every: Option<std::time::Duration>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Campaign ids (several: also compared side by side).
    #[arg(required = true)]
    pub campaigns: Vec<String>,
    /// The file to write.
    #[arg(short = 'o', long = "out", default_value = "report.html")]
    pub out: std::path::PathBuf,
}

fn humantime_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

#[derive(Args, Debug)]
pub struct CoordinatorArgs {
    #[command(flatten)]
    pub node: CommonNodeArgs,
    /// Where the HTTP JSON API listens.
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Days of sessions, requests and agent snapshots kept in ClickHouse,
    /// dropped a month at a time once wholly older (0: keep everything).
    #[arg(long, default_value_t = 90)]
    pub retention_days: u32,
    /// How long a finished (stopped or completed) campaign stays in the
    /// cluster state before the leader removes it, e.g. 7d; its telemetry
    /// stays. Default: until `throng campaign delete`.
    #[arg(long, value_parser = humantime_duration)]
    pub archive_after: Option<std::time::Duration>,
    /// Hosts campaigns may target (repeatable): a host, *.domain, an IPv4 CIDR or *.
    /// Default: loopback only.
    #[arg(long = "allow", value_name = "HOST")]
    pub allow: Vec<String>,
    /// Origins of browser pages that may call the HTTP API (repeatable), e.g.
    /// https://console.example, or * for any. Default: none but the
    /// coordinator's own dashboard.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// The bot detector's rules (thresholds and weights, YAML or JSON;
    /// docs/behaviour.md): read at start, and again whenever the file
    /// changes. Default: the built-in rules.
    #[arg(long, value_name = "FILE", env = "THRONG_BEHAVIOUR_RULES")]
    pub behaviour_rules: Option<PathBuf>,
    /// API tokens, one `admin TOKEN` or `read TOKEN` per line: every
    /// ControlService call and HTTP API request must carry one. Without it
    /// the APIs are open.
    #[arg(long, env = "THRONG_TOKENS_FILE")]
    pub tokens: Option<PathBuf>,
    /// Calls per second each token may make (bursts of twice as many).
    #[arg(long, default_value_t = 50.0)]
    pub rate_limit: f64,
}

#[derive(Args, Debug)]
pub struct AgentArgs {
    #[command(flatten)]
    pub node: CommonNodeArgs,
    /// Placement weight of this agent (e.g. its cores); it also sizes the
    /// browser pool (one Chromium per unit, up to 8).
    #[arg(long, default_value_t = 1)]
    pub capacity: u32,
    /// Most sessions one shard runs at once on this agent; sessions due
    /// beyond it wait and start late, and the agent reports itself
    /// generator-limited.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_sessions_per_shard: u64,
    /// Where this agent serves Prometheus metrics (`GET /metrics`; with a
    /// cluster token, scrapes must carry it).
    #[arg(long, env = "THRONG_METRICS")]
    pub metrics: Option<SocketAddr>,
    #[command(flatten)]
    pub browsers: BrowserArgs,
}

/// The browsers `browser` targets' sessions run in.
#[derive(Args, Debug, Clone)]
pub struct BrowserArgs {
    /// The Chromium executable.
    #[arg(long, default_value = "/usr/bin/chromium")]
    pub chromium: PathBuf,
    /// Where a failed browser visit leaves its screenshot.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("throng-screenshots"))]
    pub screenshots: PathBuf,
    /// Run no browsers: sessions of `browser` targets fail at once.
    #[arg(long)]
    pub no_browsers: bool,
    /// The bot detector's rules (YAML or JSON; docs/behaviour.md) browser
    /// visits are judged by: the same file the coordinator is given, read
    /// again whenever it changes. Default: the built-in rules.
    #[arg(long = "behaviour-rules", value_name = "FILE", env = "THRONG_BEHAVIOUR_RULES")]
    pub behaviour_rules: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Leader, agents and shard counts.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum CampaignCommand {
    /// Check a spec without storing it: every problem, and a plan preview.
    Validate {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Check that every target of a spec answers, with a diagnosis when one does not.
    Test {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Create a campaign from a spec; prints its id.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Start it right away.
        #[arg(long)]
        start: bool,
    },
    Start {
        id: String,
    },
    /// Change an open-model campaign's arrival rate (sessions/s) from now on, on every agent.
    SetRate {
        id: String,
        rate: f64,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Stop {
        id: String,
    },
    Get {
        id: String,
    },
    /// Remove a campaign that is not running, and its checkpoints, from the
    /// cluster state (its telemetry stays).
    Delete {
        id: String,
    },
    /// A new revision of a campaign's spec: before it starts, any change;
    /// while it runs, only load.rate (every other changed field is refused
    /// with its path).
    Update {
        id: String,
        #[arg(short = 'f', long = "file")]
        file: std::path::PathBuf,
    },
    /// A new campaign from another's stored spec (the same library versions).
    Clone {
        id: String,
        /// The clone's name (default: the original's).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        start: bool,
    },
    List,
    /// Live stats until the campaign ends.
    Watch {
        id: String,
    },
    /// Failed requests grouped by class and message: how many, first and
    /// last seen, an example path and status.
    Errors {
        id: String,
        /// Keep going while the campaign runs, printing groups as they grow.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum LibraryCommand {
    /// Stores the item in a YAML or JSON file (or each item of a list): a
    /// new version when it changed, checked as a campaign reads it.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: std::path::PathBuf,
    },
    /// The newest version of each item, and which campaigns use it.
    List,
    /// One item's document: its newest version, or `--version N`.
    Get {
        name: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Removes every version; refused while an unfinished campaign uses it.
    Delete { name: String },
}

#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// Sessions that pass every filter given, newest first, a page at a time.
    List(SessionListArgs),
    /// One session in full: who made it, every request, and for browser
    /// sessions how the bot detector judged it.
    Show {
        /// The campaign.
        id: String,
        /// The session's id, as `throng session list` shows it.
        session: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct SessionListArgs {
    /// The campaign.
    pub id: String,
    #[arg(long)]
    pub persona: Option<String>,
    #[arg(long)]
    pub journey: Option<String>,
    /// The target's index in the spec (0 for the first).
    #[arg(long)]
    pub target: Option<u32>,
    /// An agent's id.
    #[arg(long)]
    pub agent: Option<String>,
    /// ok or failed.
    #[arg(long)]
    pub outcome: Option<String>,
    /// The class of the first failure: http, connect, timeout, browser, ...
    #[arg(long)]
    pub error_class: Option<String>,
    /// Intended start at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Intended start before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub min_duration_ms: Option<u64>,
    /// Sessions per page (1 to 1,000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Where the previous page said the next one begins.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Every page, not just the first.
    #[arg(long)]
    pub all: bool,
}

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// An agent's id (see `throng cluster status`); default: the coordinator asked.
    #[arg(long)]
    pub node: Option<String>,
    /// error, warn, info, debug or trace: this level and more severe.
    #[arg(long, default_value = "info")]
    pub level: String,
    /// Only lines whose text or module contain this.
    #[arg(long)]
    pub grep: Option<String>,
    /// The newest this many lines (at most 1,000).
    #[arg(long, default_value_t = 200)]
    pub limit: u32,
    /// Keep printing new lines as they come, until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
}
