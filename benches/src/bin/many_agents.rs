//! The control plane with many agents: a real etcd, two coordinators as
//! processes of their own (`throng coordinator`, one leads), and AGENTS real
//! agents in this process, each with its own etcd connection, lease and
//! registration, its own `AgentService` on loopback, its shards' actors and a
//! stats report every second. A campaign of SHARDS shards at a trickle of
//! traffic (a session per shard every 60 s, against a stub here) is placed,
//! runs for a while, then a tenth of the agents vanish at once (their leases
//! left to expire). Prints, as JSON: the time to place every shard; the
//! leading coordinator's memory, CPU and reconcile rounds; etcd's keys,
//! writes per second and database size; the API's latency; the time until
//! every shard runs again; and, from the shards' fencing epochs, whether a
//! shard ever had two owners at once.
//!
//! With WATCHERS clients watching a campaign (`WatchCampaign`, each on its
//! own connection) for a second window: their updates and the leader's
//! CPU; and the stats reports' delay from agent to coordinator.
//!
//! `many_agents [AGENTS] [SHARDS] [WATCHERS]`, after `cargo build --release -p
//! throng-ops --bin throng -p throng-benches --bin many_agents` (the
//! coordinators run `throng` from beside this program, or `THRONG_BIN`;
//! etcd as `ops/scripts/install.sh` installs it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use throng_agent::{Agent, AgentConfig};
use throng_engine::telemetry::MemorySink;
use throng_proto::v1;
use throng_proto::v1::agent_service_client::AgentServiceClient;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_state::{EtcdStore, StateStore};
use throng_testkit::{EtcdServer, http_request};

type AgentClient = AgentServiceClient<tonic::transport::Channel>;

const LEASE_TTL: Duration = Duration::from_secs(5);

struct Coordinator {
    process: Child,
    grpc: String,
    http: String,
}

impl Coordinator {
    fn start(bin: &str, etcd: &str, id: &str, [grpc, http]: [u16; 2]) -> Coordinator {
        let grpc = format!("127.0.0.1:{grpc}");
        let http = format!("127.0.0.1:{http}");
        let process = Command::new(bin)
            .args([
                "coordinator",
                "--etcd",
                etcd,
                "--grpc",
                &grpc,
                "--http",
                &http,
                "--id",
                id,
            ])
            .stdout(Stdio::null())
            .stderr(coordinator_log(id))
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin} coordinator: {e}"));
        Coordinator { process, grpc, http }
    }

    async fn is_leader(&self) -> bool {
        // The sample's value, not a text search: the metric's HELP line
        // ("1 on the leader, …") reads as a leader on every coordinator.
        get(&self.http, "/metrics")
            .await
            .is_some_and(|m| metric(&m, "throng_coordinator_leader") == 1.0)
    }

    /// (resident MB, CPU seconds so far) from /proc.
    fn usage(&self) -> (f64, f64) {
        let pid = self.process.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss_kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
            .sum();
        (rss_kb / 1024.0, ticks / 100.0)
    }

    async fn metric(&self, name: &str) -> f64 {
        metric(&get(&self.http, "/metrics").await.unwrap_or_default(), name)
    }
}

/// Where a coordinator's log goes: `$COORDINATOR_LOGS/<id>.log` when set.
fn coordinator_log(id: &str) -> Stdio {
    match std::env::var_os("COORDINATOR_LOGS") {
        Some(dir) => std::fs::File::create(std::path::Path::new(&dir).join(format!("{id}.log")))
            .map_or_else(|_| Stdio::null(), Stdio::from),
        None => Stdio::null(),
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The coordinator that leads now.
async fn leader_of(coordinators: &[Coordinator]) -> &Coordinator {
    loop {
        for coordinator in coordinators {
            if coordinator.is_leader().await {
                return coordinator;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates and starts a campaign on whichever coordinator leads; its id.
async fn create(coordinators: &[Coordinator], spec: &str) -> String {
    for _ in 0..20 {
        let leader = leader_of(coordinators).await;
        let created = http_request(&leader.http, "POST", "/api/v1/campaigns?start=true", spec)
            .expect("create campaign");
        let body = created.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let campaign: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        if let Some(id) = campaign["id"].as_str() {
            return id.to_string();
        }
        eprintln!("campaign not created, asking again: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("no coordinator created the campaign");
}

/// A GET off the runtime's workers (the agents' tasks share them), with a
/// minute to be answered; the whole answer, headers too.
async fn get(address: &str, path: &str) -> Option<String> {
    get_or_why(address, path).await.ok()
}

/// [`get`], or why there was no answer.
async fn get_or_why(address: &str, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let (address, path) = (address.to_string(), path.to_string());
    let asked = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect(&address)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    });
    match asked.await {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The sum of a Prometheus metric's samples (labels ignored).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every shard each live agent says it runs: (campaign, shard), agent, epoch.
async fn running(clients: &[(String, AgentClient)]) -> Vec<((String, u32), String, u64)> {
    let answers = futures::future::join_all(clients.iter().map(|(id, client)| {
        let mut client = client.clone();
        async move {
            let answer =
                tokio::time::timeout(Duration::from_secs(5), client.describe(v1::DescribeRequest {})).await;
            (id.clone(), answer)
        }
    }))
    .await;
    let mut shards = Vec::new();
    for (id, answer) in answers {
        if let Ok(Ok(answer)) = answer {
            for shard in answer.into_inner().shards {
                shards.push(((shard.campaign_id, shard.shard_index), id.clone(), shard.epoch));
            }
        }
    }
    shards
}

/// Quantile `q` of a Prometheus histogram's observations between two
/// scrapes: the upper bound of the bucket it falls in (seconds).
fn histogram_quantile(before: &str, after: &str, name: &str, q: f64) -> f64 {
    let buckets = |text: &str| -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{le=\"");
        text.lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter_map(|l| {
                let (le, count) = l.split_once("\"} ")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, count.parse().ok()?))
            })
            .collect()
    };
    let (before, after) = (buckets(before), buckets(after));
    let counts: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, n)| (le, n - before.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1)))
        .collect();
    let total = counts.last().map_or(0.0, |c| c.1);
    counts
        .iter()
        .find(|&&(_, n)| n >= q * total)
        .map_or(f64::NAN, |&(le, _)| le)
}

/// `count` clients watching a campaign over gRPC (`WatchCampaign`), each on
/// its own connection, for `window`: each one's updates and longest wait
/// between two (seconds).
async fn watch(grpc: &str, campaign: &str, count: usize, window: Duration) -> Vec<(u64, f64)> {
    let watchers = (0..count).map(|_| {
        let (grpc, campaign) = (format!("http://{grpc}"), campaign.to_string());
        tokio::spawn(async move {
            let mut client = ControlServiceClient::connect(grpc).await.expect("watch client");
            let mut stream = client
                .watch_campaign(v1::CampaignRef { id: campaign })
                .await
                .expect("WatchCampaign")
                .into_inner();
            let (start, mut last, mut updates, mut longest) = (Instant::now(), Instant::now(), 0, 0.0_f64);
            while let Some(left) = window.checked_sub(start.elapsed()) {
                match tokio::time::timeout(left, stream.message()).await {
                    Ok(Ok(Some(_))) => {
                        updates += 1;
                        longest = longest.max(last.elapsed().as_secs_f64());
                        last = Instant::now();
                    }
                    Ok(_) => panic!("a watch ended early"),
                    Err(_) => break,
                }
            }
            (updates, longest.max(last.elapsed().as_secs_f64()))
        })
    });
    futures::future::join_all(watchers)
        .await
        .into_iter()
        .map(|w| w.expect("watcher"))
        .collect()
}

/// Shards seen on more than one agent in one look, by what their fencing
/// epochs say: the same epoch on two agents (fencing failed: two owners at
/// once), or an older epoch still listed beside a newer one (an owner that
/// has been replaced and not yet stopped; from the new epoch on its
/// checkpoints are refused, and it stops at its next one). The second list
/// names them, to see how long each lasts.
fn doubled(shards: &[((String, u32), String, u64)]) -> (usize, Vec<ShardCopy>) {
    let mut epochs: BTreeMap<&(String, u32), Vec<u64>> = BTreeMap::new();
    for (shard, _, epoch) in shards {
        epochs.entry(shard).or_default().push(*epoch);
    }
    let (mut same_epoch, mut stale) = (0, Vec::new());
    for (shard, mut held) in epochs.into_iter().filter(|(_, held)| held.len() > 1) {
        held.sort_unstable();
        if held.windows(2).any(|w| w[0] == w[1]) {
            same_epoch += 1;
        }
        let newest = held[held.len() - 1];
        stale.extend(
            held.into_iter()
                .filter(|&e| e < newest)
                .map(|e| (shard.clone(), e)),
        );
    }
    (same_epoch, stale)
}

/// A shard (campaign, index) held under one fencing epoch.
type ShardCopy = ((String, u32), u64);

/// What the looks while waiting for every shard to run saw.
#[derive(Default)]
struct Looks {
    /// When the look that saw every shard running ended, and when it began
    /// (a look asks every agent in turn, which takes a while with many).
    seconds: f64,
    look_began_s: f64,
    /// The most shards seen under one epoch on two agents in a look.
    same_epoch: usize,
    /// The most replaced owners seen still running in a look.
    stale: usize,
    /// The most looks in a row one replaced owner was seen still running.
    stale_longest: usize,
}

/// Polls until every one of `shards` shards runs on exactly one agent.
async fn until_all_run(clients: &[(String, AgentClient)], shards: usize, since: Instant) -> Looks {
    let mut looks = Looks::default();
    let mut stale_for: BTreeMap<ShardCopy, usize> = BTreeMap::new();
    let mut said = Instant::now();
    loop {
        let look_began_s = since.elapsed().as_secs_f64();
        let seen = running(clients).await;
        if said.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "{:>5.0} s: {} of {shards} shards run",
                since.elapsed().as_secs_f64(),
                seen.len()
            );
            said = Instant::now();
        }
        let (same_epoch, stale) = doubled(&seen);
        looks.same_epoch = looks.same_epoch.max(same_epoch);
        looks.stale = looks.stale.max(stale.len());
        stale_for = stale
            .into_iter()
            .map(|copy| {
                let looks_in_a_row = stale_for.get(&copy).copied().unwrap_or(0) + 1;
                (copy, looks_in_a_row)
            })
            .collect();
        looks.stale_longest = looks
            .stale_longest
            .max(stale_for.values().copied().max().unwrap_or(0));
        if seen.len() == shards && same_epoch == 0 && stale_for.is_empty() {
            looks.seconds = since.elapsed().as_secs_f64();
            looks.look_began_s = look_began_s;
            return looks;
        }
        assert!(
            since.elapsed() < Duration::from_secs(600),
            "{} of {shards} shards run after 10 minutes",
            seen.len()
        );
        // Each look asks every agent for its shards: not too often.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn percentile(mut values: Vec<f64>, q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// A stub target answering 204 to everything, in a process of its own
/// (this program again, `--stub-target`): with a thousand agents the kept
/// connections to it are thousands of sockets at each end, more than one
/// process may hold beside the agents' own. Its address, and the process
/// (which ends with it).
fn stub_target() -> (String, KillOnDrop) {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("this program's path");
    let mut child = Command::new(exe)
        .arg("--stub-target")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the stub target");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stub's stdout"))
        .read_line(&mut line)
        .expect("the stub's address");
    (line.trim().to_string(), KillOnDrop(child))
}

/// A child process that ends when this program lets go of it, panics too.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stub target's process: serves until killed, after printing its URL.
async fn serve_stub_target() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind stub");
    let address = listener.local_addr().expect("stub address");
    println!("http://{address}");
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    let _ = axum::serve(listener, app).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--stub-target") {
        return serve_stub_target().await;
    }
    // The agents' own warnings (a renewal that failed, a self-fence) go
    // to standard error: they are what explains a slow failover.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let agent_count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let shards: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let watchers: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100);
    let bin = std::env::var("THRONG_BIN").unwrap_or_else(|_| {
        let exe = std::env::current_exe().expect("this program's path");
        exe.with_file_name("throng").display().to_string()
    });
    let etcd = EtcdServer::start();
    let endpoint = etcd.endpoint();
    // Four ports held at once, so no two are the same.
    let held: Vec<std::net::TcpListener> = (0..4)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().expect("port").port())
        .collect();
    drop(held);
    let coordinators = [
        Coordinator::start(&bin, &endpoint, "coordinator-1", [ports[0], ports[1]]),
        Coordinator::start(&bin, &endpoint, "coordinator-2", [ports[2], ports[3]]),
    ];
    let sink = Arc::new(MemorySink::default());
    let started = Instant::now();
    let mut agents = Vec::new();
    for i in 1..=agent_count {
        let store: Arc<dyn StateStore> = Arc::new(
            EtcdStore::connect(std::slice::from_ref(&endpoint))
                .await
                .expect("etcd"),
        );
        let mut config = AgentConfig::new(&format!("agent-{i}"), SocketAddr::from(([127, 0, 0, 1], 0)));
        config.lease_ttl = LEASE_TTL;
        agents.push(Agent::start(config, store, sink.clone()).await.expect("agent"));
    }
    let agents_started_s = started.elapsed().as_secs_f64();
    let leader = leader_of(&coordinators).await;
    let mut clients = Vec::new();
    for agent in &agents {
        let client = AgentServiceClient::connect(agent.address().to_string())
            .await
            .expect("agent client");
        clients.push((agent.id().to_string(), client));
    }
    // Every agent registered with the leader before the campaign.
    while leader.metric("throng_agents").await < agent_count as f64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (idle_mb, _) = leader.usage();

    let (target, _stub) = stub_target();
    // A campaign holds at most 4,096 shards: as many campaigns as it takes.
    let campaigns = shards.div_ceil(4_096);
    let mut ids = Vec::new();
    for n in 0..campaigns {
        let these = shards / campaigns + usize::from(n < shards % campaigns);
        let spec = serde_json::json!({
            "name": format!("many-agents-{n}"),
            "seed": 1,
            "targets": [{ "url": target }],
            "pages": ["/"],
            "session": { "pages": { "min": 1, "max": 2 }, "think_time": { "min": "0s", "max": "0s" } },
            // A session per shard every 60 s: every shard has work for
            // the whole hour (a shard whose arrivals are all drawn past
            // the end is done at once, and no longer runs).
            "load": { "rate": (these as f64 / 60.0).max(1.0), "duration": "1h", "shards": these },
        })
        .to_string();
        ids.push(create(&coordinators, &spec).await);
    }
    let id = &ids[0];
    let (_, cpu_before) = leader.usage();
    let placing = Instant::now();
    let placing_looks = until_all_run(&clients, shards, placing).await;
    let placed_s = placing_looks.seconds;
    let (_, cpu_placed) = leader.usage();
    eprintln!("every shard placed and running after {placed_s:.1} s");
    // Measured on whichever leads once every shard runs.
    let first_leader = leader.http.clone();
    let leader = leader_of(&coordinators).await;

    // Running: a window of the leader's CPU, etcd's writes, rounds and the API.
    let window = Duration::from_secs(20);
    let etcd_address = endpoint.replace("http://", "");
    let etcd_metrics = || async { get(&etcd_address, "/metrics").await.unwrap_or_default() };
    let writes = |m: &str| {
        metric(m, "etcd_mvcc_put_total")
            + metric(m, "etcd_mvcc_txn_total")
            + metric(m, "etcd_mvcc_delete_total")
    };
    let leader_metrics_before = get(&leader.http, "/metrics").await.unwrap_or_default();
    let (before_etcd, (_, cpu_start)) = (etcd_metrics().await, leader.usage());
    let rounds_start = leader.metric("throng_reconcile_rounds_total").await;
    let round_s_start = leader.metric("throng_reconcile_round_seconds_total").await;
    let (mut api_ms, mut api_failed) = (Vec::new(), 0);
    let window_start = Instant::now();
    while window_start.elapsed() < window {
        for path in ["/api/v1/cluster".to_string(), format!("/api/v1/campaigns/{id}")] {
            let asked = Instant::now();
            let answer = get_or_why(&leader.http, &path).await.unwrap_or_else(|why| why);
            if answer.starts_with("HTTP/1.0 200") {
                api_ms.push(asked.elapsed().as_secs_f64() * 1000.0);
            } else {
                let status = answer.lines().next().unwrap_or("no answer").to_string();
                eprintln!("GET {path}: {status}");
                api_failed += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seconds = window_start.elapsed().as_secs_f64();
    let (after_etcd, (running_mb, cpu_end)) = (etcd_metrics().await, leader.usage());
    let rounds = leader.metric("throng_reconcile_rounds_total").await - rounds_start;
    let round_ms = (leader.metric("throng_reconcile_round_seconds_total").await - round_s_start) * 1000.0
        / rounds.max(1.0);
    let leader_metrics_after = get(&leader.http, "/metrics").await.unwrap_or_default();
    let delay = |q| {
        histogram_quantile(
            &leader_metrics_before,
            &leader_metrics_after,
            "throng_coordinator_stats_delay_seconds",
            q,
        ) * 1000.0
    };
    let (delay_p50_ms, delay_p99_ms) = (delay(0.5), delay(0.99));

    // The same, with WATCHERS clients watching the first campaign.
    let (_, cpu_watch_start) = leader.usage();
    let watch_start = Instant::now();
    let watched = watch(&leader.grpc, id, watchers, window).await;
    let (watch_mb, cpu_watch_end) = leader.usage();
    let watch_seconds = watch_start.elapsed().as_secs_f64();
    let updates_per_s =
        watched.iter().map(|w| w.0 as f64).sum::<f64>() / watched.len().max(1) as f64 / window.as_secs_f64();
    let longest_wait_s = percentile(watched.iter().map(|w| w.1).collect(), 0.99);

    // A tenth of the agents vanish at once.
    let vanishing = (agent_count / 10).max(1);
    let vanished_at = Instant::now();
    for agent in agents.drain(..vanishing) {
        agent.vanish();
    }
    let survivors = clients.split_off(vanishing);
    let recovering_looks = until_all_run(&survivors, shards, vanished_at).await;
    let recovered_s = recovering_looks.seconds;

    let result = serde_json::json!({
        "agents": agent_count,
        "shards": shards,
        "campaigns": campaigns,
        "agents_started_s": round(agents_started_s),
        "placed_all_s": round(placed_s),
        "leader": {
            "idle_mb": round(idle_mb),
            "running_mb": round(running_mb),
            "cpu_placing_pct": round((cpu_placed - cpu_before) / placed_s * 100.0),
            "cpu_running_pct": round((cpu_end - cpu_start) / seconds * 100.0),
            "reconcile_rounds_per_s": round(rounds / seconds),
            "reconcile_round_ms": round(round_ms),
        },
        "etcd": {
            "keys": metric(&after_etcd, "etcd_debugging_mvcc_keys_total"),
            "writes_per_s": round((writes(&after_etcd) - writes(&before_etcd)) / seconds),
            "db_mb": round(metric(&after_etcd, "etcd_mvcc_db_total_size_in_bytes") / 1e6),
        },
        "api_ms": { "p50": round(percentile(api_ms.clone(), 0.5)), "p99": round(percentile(api_ms, 0.99)) },
        "api_failed": api_failed,
        // Upper bounds of the buckets the quantiles fall in.
        "stats_delay_ms": { "p50_at_most": delay_p50_ms, "p99_at_most": delay_p99_ms },
        "watchers": {
            "count": watchers,
            "updates_per_s_each": round(updates_per_s),
            "longest_wait_p99_s": round(longest_wait_s),
            "leader_cpu_pct": round((cpu_watch_end - cpu_watch_start) / watch_seconds * 100.0),
            "leader_mb": round(watch_mb),
        },
        "vanished_agents": vanishing,
        "all_running_again_s": round(recovered_s),
        "all_running_again_look_began_s": round(recovering_looks.look_began_s),
        "lease_ttl_s": LEASE_TTL.as_secs(),
        // Looks are a second apart; each asks every agent in turn.
        "shards_under_one_epoch_on_two_agents": placing_looks.same_epoch.max(recovering_looks.same_epoch),
        "replaced_owners_seen_running": {
            "most_in_a_look": placing_looks.stale.max(recovering_looks.stale),
            "longest_looks_in_a_row": placing_looks.stale_longest.max(recovering_looks.stale_longest),
        },
        "leader_changed_while_placing": first_leader != leader.http,
    });
    println!("{result}");
    for agent in agents {
        agent.shutdown().await;
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
