//! Stream runs delivered to their sinks, on real processes: etcd,
//! ClickHouse, a coordinator and agents, a real PostgreSQL, a webhook
//! receiver that checks every signature, and files. Each sink holds
//! exactly the events ClickHouse holds, after a backfill, and after one
//! agent is killed mid-run and another dies for good with batches waiting
//! in its spill directory while the sinks are down; and a campaign's
//! session and request rows, exactly as ClickHouse holds them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::{Sandbox, campaign, spec, start_campaign};
use ring::hmac;
use throng_proto::v1;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_testkit::{KafkaBroker, PostgresServer, poll_until, poll_until_explained};
use tonic::transport::Channel;

const SECRET: &str = "a-webhook-secret-of-some-length";

/// (id as 16 hex digits, stream) of each event.
type Events = BTreeSet<(String, String)>;

/// A webhook receiver: checks each batch's signature and keeps its events.
#[derive(Clone, Default)]
struct Receiver {
    events: Arc<Mutex<Vec<(String, String)>>>,
    batches: Arc<Mutex<u64>>,
    forged: Arc<Mutex<u64>>,
    /// While set, the receiver answers 503.
    down: Arc<Mutex<bool>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let receiver = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let receiver = receiver.clone();
                async move { receiver.take(&headers, &body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/hook")
    }

    fn take(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        if *self.down.lock().expect("down") {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
        let signed = format!("{}.", header("x-throng-timestamp"));
        let mut message = signed.into_bytes();
        message.extend_from_slice(body);
        let given = header("x-throng-signature");
        let tag = given.strip_prefix("sha256=").and_then(|hex| {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()
        });
        if tag.is_none_or(|tag| hmac::verify(&key, &message, &tag).is_err()) {
            *self.forged.lock().expect("forged") += 1;
            return StatusCode::UNAUTHORIZED;
        }
        let value: serde_json::Value = serde_json::from_slice(body).expect("a JSON batch");
        let events = value["events"].as_array().expect("events").clone();
        assert_eq!(header("x-throng-events"), events.len().to_string());
        let mut kept = self.events.lock().expect("events");
        for event in events {
            kept.push((
                event["id"].as_str().expect("id").to_string(),
                event["stream"].as_str().expect("stream").to_string(),
            ));
        }
        *self.batches.lock().expect("batches") += 1;
        StatusCode::OK
    }

    fn events(&self) -> Vec<(String, String)> {
        self.events.lock().expect("events").clone()
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Stored {
    event_id: u64,
    stream: String,
}

/// What ClickHouse holds for a run, each event once.
async fn in_clickhouse(sandbox: &Sandbox, run_id: &str) -> Events {
    sandbox
        .clickhouse_client()
        .query("SELECT event_id, stream FROM stream_events FINAL WHERE run_id = ?")
        .bind(run_id)
        .fetch_all::<Stored>()
        .await
        .expect("stream events")
        .into_iter()
        .map(|e| (format!("{:016x}", e.event_id), e.stream))
        .collect()
}

fn in_postgres(postgres: &PostgresServer, run_id: &str) -> Events {
    postgres
        .try_query(&format!(
            "SELECT id, stream FROM stream_events WHERE run = '{run_id}'"
        ))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, stream)| (id.to_string(), stream.to_string()))
        .collect()
}

/// Every line of every published file under `dir`, as (id, stream), and
/// the files that are not where their events' stream says.
fn in_files(dir: &std::path::Path, run_id: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut events = Vec::new();
    let mut misplaced = Vec::new();
    let root = dir.join(run_id);
    let mut stack = vec![root.clone()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".partial") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a published file");
            let stream_dir = path
                .strip_prefix(&root)
                .ok()
                .and_then(|p| p.components().next())
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .unwrap_or_default();
            for line in text.lines() {
                let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                let stream = event["stream"].as_str().expect("stream").to_string();
                if stream != stream_dir {
                    misplaced.push(path.display().to_string());
                }
                events.push((event["id"].as_str().expect("id").to_string(), stream));
            }
        }
    }
    (events, misplaced)
}

/// (id, stream) of every row of every Parquet hour file of the run, as
/// a reader other than the project's sees them: a current ClickHouse
/// (chdb, which `.ci/run` installs).
fn in_parquet(dir: &std::path::Path, run_id: &str) -> Vec<(String, String)> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/chdb-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: bash .ci/run installs chdb",
        python.display()
    );
    let pattern = dir.join(run_id).join("*/*/*.parquet");
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, chdb; print(chdb.query(f\"SELECT id, stream FROM file('{sys.argv[1]}', Parquet)\", 'TSV'), end='')",
            &pattern.display().to_string(),
        ])
        .output()
        .expect("run chdb");
    assert!(
        output.status.success(),
        "chdb: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, stream)| (id.to_string(), stream.to_string()))
        .collect()
}

/// One message as an independent consumer read it.
#[derive(Debug)]
struct Message {
    id: String,
    stream: String,
    key: String,
    id_header: String,
    stream_header: String,
    partition: u32,
}

/// Every message of `topics`, read by confluent-kafka (which `.ci/run`
/// installs), each partition from its start to its high watermark.
fn in_kafka(bootstrap: &str, topics: &[String]) -> Vec<Message> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("target/kafka-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: bash .ci/run installs confluent-kafka",
        python.display()
    );
    let output = std::process::Command::new(python)
        .arg(root.join("ops/tests/clients/kafka_consume.py"))
        .arg(bootstrap)
        .args(topics)
        .output()
        .expect("run the Kafka consumer");
    assert!(
        output.status.success(),
        "consumer: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Message {
                id: f[0].to_string(),
                stream: f[1].to_string(),
                key: f[2].to_string(),
                id_header: f[3].to_string(),
                stream_header: f[4].to_string(),
                partition: f[5].parse().expect("a partition"),
            }
        })
        .collect()
}

fn kafka_events(messages: &[Message]) -> Events {
    messages
        .iter()
        .map(|m| (m.id.clone(), m.stream.clone()))
        .collect()
}

fn per_stream(events: &Events) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, stream) in events {
        *counts.entry(stream.clone()).or_default() += 1;
    }
    counts
}

/// The topic every event goes to, and the pattern of the per-stream
/// topics of the customer domain.
const ONE_TOPIC: &str = "throng-events";
/// What the one topic takes in the day's backfill: two domains.
const BUS_STREAMS: &str = "[\"session.*\", \"support.*\"]";
const CUSTOMER_TOPICS: &str = "customer-{stream}";

/// The sinks both tests use; `bus` is the streams the one-topic Kafka sink
/// takes (the test broker answers fetches at a few hundred messages a
/// second, so the day's backfill reads back a part of the run there).
fn sinks(kafka: &str, bus: &str, postgres: &str, webhook: &str, files: &std::path::Path) -> String {
    format!(
        "sinks:\n\
         - {{ name: bus, kind: kafka, brokers: \"{kafka}\", topic: {ONE_TOPIC}, streams: {bus} }}\n\
         - {{ name: customers, kind: kafka, brokers: \"{kafka}\", topic: \"{CUSTOMER_TOPICS}\", streams: [\"customer.*\"] }}\n\
         - {{ name: lake, kind: postgres, url: \"{postgres}\" }}\n\
         - {{ name: hook, kind: webhook, url: \"{webhook}\", secret: \"{SECRET}\", batch: 300 }}\n\
         - {{ name: bronze, kind: files, path: \"{}\" }}\n",
        files.display()
    )
}

/// The per-stream topics of the customer domain.
fn customer_topics(want: &Events) -> Vec<String> {
    let streams: BTreeSet<&String> = want
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.starts_with("customer."))
        .collect();
    streams
        .iter()
        .map(|s| CUSTOMER_TOPICS.replace("{stream}", s))
        .collect()
}

/// Every sink of every agent, as cluster status says.
async fn sinks_said(client: &ControlServiceClient<Channel>) -> Option<Vec<v1::SinkHealth>> {
    let status = client
        .clone()
        .get_cluster_status(v1::GetClusterStatusRequest {})
        .await
        .ok()?
        .into_inner();
    Some(status.agents.into_iter().flat_map(|a| a.sinks).collect())
}

/// Waits until every sink has sent all it was given: nothing queued, no
/// problem, everything spilled sent since.
async fn wait_caught_up(client: &ControlServiceClient<Channel>, sandbox: &Sandbox) {
    let last = Mutex::new(Vec::new());
    poll_until_explained(
        Duration::from_secs(300),
        "every sink to catch up",
        || async {
            let sinks = sinks_said(client).await?;
            let done = !sinks.is_empty()
                && sinks
                    .iter()
                    .all(|s| s.error.is_empty() && s.queued == 0 && s.replayed + s.rejected >= s.spilled);
            *last.lock().expect("last") = sinks;
            done.then_some(())
        },
        || format!("{:#?}\n{}", last.lock().expect("last"), sandbox.log_tails(30)),
    )
    .await;
}

async fn wait_completed(client: &ControlServiceClient<Channel>, sandbox: &Sandbox, id: &str) {
    poll_until_explained(
        Duration::from_secs(240),
        "the stream run to complete",
        || {
            let mut client = client.clone();
            async move {
                let c = campaign(&mut client, id).await?;
                (c.state == v1::CampaignState::Completed as i32).then_some(())
            }
        },
        || sandbox.log_tails(60),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_lands_in_every_sink_exactly_as_in_clickhouse() {
    let mut sandbox = Sandbox::start().await;
    let kafka = KafkaBroker::start();
    let postgres = PostgresServer::start();
    let receiver = Receiver::default();
    let webhook = receiver.start().await;
    let files = tempfile::tempdir().expect("files");
    let columns = tempfile::tempdir().expect("parquet files");
    let spill = tempfile::tempdir().expect("spill");
    sandbox.spawn_coordinator("coordinator-1");
    for id in ["agent-1", "agent-2"] {
        let dir = spill.path().join(id).display().to_string();
        sandbox.spawn_agent_with(id, &["--spill-dir", &dir]);
    }
    let (_, mut client) = sandbox.leader_client(2).await;
    let document = format!(
        "kind: streams\nname: day\nscale: 0.005\n\
         clock: {{ mode: backfill, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-03T00:00:00Z\" }}\n{}\
         - {{ name: columns, kind: files, format: parquet, path: \"{}\" }}\n",
        sinks(
            &kafka.bootstrap(),
            BUS_STREAMS,
            &postgres.url(),
            &webhook,
            files.path()
        ),
        columns.path().display()
    );
    let id = start_campaign(&mut client, document).await;
    wait_completed(&client, &sandbox, &id).await;
    wait_caught_up(&client, &sandbox).await;

    let want = in_clickhouse(&sandbox, &id).await;
    assert!(want.len() > 5_000, "a day of events: {}", want.len());
    let postgres_events = in_postgres(&postgres, &id);
    let hooked = receiver.events();
    let hooked_once: Events = hooked.iter().cloned().collect();
    let (filed, misplaced) = in_files(files.path(), &id);
    let filed_once: Events = filed.iter().cloned().collect();
    eprintln!(
        "clickhouse {} events; postgres {}; webhook {} in {} batches; files {}",
        want.len(),
        postgres_events.len(),
        hooked.len(),
        receiver.batches.lock().expect("batches"),
        filed.len()
    );
    assert_eq!(
        per_stream(&postgres_events),
        per_stream(&want),
        "postgres per stream"
    );
    assert!(postgres_events == want, "postgres holds ClickHouse's ids");
    assert_eq!(
        *receiver.forged.lock().expect("forged"),
        0,
        "every batch was signed"
    );
    assert_eq!(per_stream(&hooked_once), per_stream(&want), "webhook per stream");
    assert!(hooked_once == want, "the webhook got ClickHouse's ids");
    // A webhook receiver and a Kafka consumer drop repeats by id: an
    // agent that fenced itself under load hands its shards on, and their
    // new owners send the events since the last checkpoint again.
    eprintln!("webhook repeats: {}", hooked.len() - hooked_once.len());
    assert!(misplaced.is_empty(), "files by stream: {misplaced:?}");
    assert!(filed_once == want, "the files hold ClickHouse's ids");
    assert_eq!(filed.len(), want.len(), "each event in one file, once");
    // Kafka: one topic with every event, ids and streams in headers too,
    // each key in one partition.
    let bus = in_kafka(&kafka.bootstrap(), &[ONE_TOPIC.to_string()]);
    let bus_once = kafka_events(&bus);
    let want_bus: Events = want
        .iter()
        .filter(|(_, s)| s.starts_with("session.") || s.starts_with("support."))
        .cloned()
        .collect();
    eprintln!("{ONE_TOPIC}: {} messages, {} events", bus.len(), bus_once.len());
    assert!(
        want_bus.len() > 300,
        "{} session and support events",
        want_bus.len()
    );
    assert_eq!(
        per_stream(&bus_once),
        per_stream(&want_bus),
        "{ONE_TOPIC} per stream"
    );
    assert!(
        bus_once == want_bus,
        "{ONE_TOPIC} holds ClickHouse's ids of its streams"
    );
    assert!(
        bus.iter()
            .all(|m| m.id_header == m.id && m.stream_header == m.stream),
        "headers name each message's event"
    );
    let mut partitions: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
    for m in bus.iter().filter(|m| !m.key.is_empty()) {
        partitions.entry(&m.key).or_default().insert(m.partition);
    }
    assert!(
        partitions.len() > 20,
        "events keyed by their main entity: {}",
        partitions.len()
    );
    assert!(
        partitions.values().all(|p| p.len() == 1),
        "one entity's events in one partition"
    );
    let want_customers: Events = want
        .iter()
        .filter(|(_, s)| s.starts_with("customer."))
        .cloned()
        .collect();
    let customers = in_kafka(&kafka.bootstrap(), &customer_topics(&want));
    assert!(!want_customers.is_empty());
    assert!(
        kafka_events(&customers) == want_customers,
        "a topic per customer stream"
    );
    let parquet = in_parquet(columns.path(), &id);
    let parquet_once: Events = parquet.iter().cloned().collect();
    assert!(parquet_once == want, "the Parquet files hold ClickHouse's ids");
    assert_eq!(parquet.len(), want.len(), "each event in one Parquet file, once");
    let hours = std::fs::read_dir(files.path().join(&id).join("customer.login").join("2026-02-02"))
        .expect("a stream's day")
        .count();
    assert!(hours >= 20, "a file per simulated hour: {hours}");
    assert!(
        !files
            .path()
            .join(&id)
            .join("customer.login")
            .join("2026-02-03")
            .exists(),
        "nothing past the run's end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_killed_while_every_sink_is_down_lose_nothing() {
    let mut sandbox = Sandbox::start().await;
    let mut kafka = KafkaBroker::start();
    let mut postgres = PostgresServer::start();
    let receiver = Receiver::default();
    let webhook = receiver.start().await;
    let files = tempfile::tempdir().expect("files");
    let spill = tempfile::tempdir().expect("spill");
    sandbox.spawn_coordinator("coordinator-1");
    for id in ["agent-1", "agent-2", "agent-3"] {
        let dir = spill.path().join(id).display().to_string();
        sandbox.spawn_agent_with(id, &["--spill-dir", &dir]);
    }
    let (_, mut client) = sandbox.leader_client(3).await;
    // Two simulated hours a second: twelve hours take about six seconds,
    // and the outages below land mid-run.
    let document = format!(
        "kind: streams\nname: outage\nscale: 0.005\n\
         clock: {{ mode: accelerated, factor: 7200, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T12:00:00Z\" }}\n{}",
        sinks(
            &kafka.bootstrap(),
            "\"*\"",
            &postgres.url(),
            &webhook,
            files.path()
        )
    );
    let id = start_campaign(&mut client, document).await;
    poll_until(Duration::from_secs(60), "the first events in PostgreSQL", || {
        let postgres = &postgres;
        let id = id.clone();
        async move {
            // The sink creates its table with its first batch.
            let count = postgres
                .try_query(&format!("SELECT count(*) FROM stream_events WHERE run = '{id}'"))
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
            (count > 0).then_some(())
        }
    })
    .await;
    // An agent running shards dies: its shards start again elsewhere from
    // their checkpoints. Then the database and the webhook go down.
    let status = client
        .get_cluster_status(v1::GetClusterStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    let victim = status
        .agents
        .iter()
        .max_by_key(|a| a.shards)
        .map(|a| a.id.clone())
        .expect("an agent");
    sandbox.node(&victim).kill9();
    postgres.kill();
    kafka.kill();
    let broker_stopped = std::time::Instant::now();
    *receiver.down.lock().expect("down") = true;
    // The others go on generating into their spill directories (the
    // victim's may hold batches from before: the sinks' first moments).
    let spilling = poll_until(
        Duration::from_secs(60),
        "batches spilled by a live agent while the sinks are down",
        || {
            let (spill, victim) = (spill.path().to_path_buf(), victim.clone());
            async move {
                ["agent-1", "agent-2", "agent-3"]
                    .into_iter()
                    .filter(|agent| *agent != victim)
                    .find(|agent| {
                        walk(&spill.join(agent))
                            .iter()
                            .any(|p| p.extension().is_some_and(|e| e == "batch"))
                    })
            }
        },
    )
    .await;
    // Cluster status says so, per agent and sink.
    let sinks_said = |client: &ControlServiceClient<Channel>| {
        let mut client = client.clone();
        async move {
            let status = client
                .get_cluster_status(v1::GetClusterStatusRequest {})
                .await
                .ok()?
                .into_inner();
            Some(
                status
                    .agents
                    .into_iter()
                    .flat_map(|a| a.sinks)
                    .collect::<Vec<v1::SinkHealth>>(),
            )
        }
    };
    poll_until(
        Duration::from_secs(30),
        "cluster status to show sinks spilling",
        || async {
            let sinks = sinks_said(&client).await?;
            sinks
                .iter()
                .any(|s| s.spilled > 0 && s.error.contains("unavailable"))
                .then_some(())
        },
    )
    .await;
    // An agent with batches waiting in its spill directory dies for good:
    // its shards' checkpoints never passed those batches, so the agent
    // that takes the shards over generates them again.
    sandbox.node(spilling).kill9();
    // The broker stays down for a minute.
    poll_until(Duration::from_secs(90), "the broker's minute down", || async {
        (broker_stopped.elapsed() >= Duration::from_secs(60)).then_some(())
    })
    .await;
    kafka.restart();
    postgres.restart();
    *receiver.down.lock().expect("down") = false;
    wait_completed(&client, &sandbox, &id).await;

    let want = in_clickhouse(&sandbox, &id).await;
    assert!(want.len() > 2_000, "{} events", want.len());
    // A shard's last checkpoint waits for its sinks' spilled batches, so
    // the run completed once they were sent; cluster status says so too,
    // then each sink is looked in.
    wait_caught_up(&client, &sandbox).await;
    let sinks = sinks_said(&client).await.expect("cluster status");
    let kinds: BTreeSet<&str> = sinks.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["files", "kafka", "postgres", "webhook"]));
    assert!(
        sinks.iter().any(|s| s.replayed > 0),
        "spilled events were sent since: {sinks:#?}"
    );
    poll_until_explained(
        Duration::from_secs(120),
        "every sink to catch up",
        || {
            let (postgres, receiver, want) = (&postgres, &receiver, &want);
            let (id, files) = (id.clone(), files.path().to_path_buf());
            async move {
                let hooked: Events = receiver.events().into_iter().collect();
                let filed: Events = in_files(&files, &id).0.into_iter().collect();
                (in_postgres(postgres, &id) == *want && hooked == *want && filed == *want).then_some(())
            }
        },
        || {
            let hooked: Events = receiver.events().into_iter().collect();
            format!(
                "want {}; postgres {}; webhook {}; files {}\n{}",
                want.len(),
                in_postgres(&postgres, &id).len(),
                hooked.len(),
                in_files(files.path(), &id).0.len(),
                sandbox.log_tails(40)
            )
        },
    )
    .await;
    // Kafka: after dropping repeats by id, every event is there once.
    let bus = in_kafka(&kafka.bootstrap(), &[ONE_TOPIC.to_string()]);
    let bus_once = kafka_events(&bus);
    assert!(
        bus_once == want,
        "{ONE_TOPIC}: {} distinct of {} (want {})\n{}",
        bus_once.len(),
        bus.len(),
        want.len(),
        kafka.log().lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    // Files drop repeats themselves; the webhook may see an event twice
    // (the receiver drops it by id), never a forged batch.
    let (filed, _) = in_files(files.path(), &id);
    assert_eq!(filed.len(), want.len(), "each event in one file, once");
    assert_eq!(*receiver.forged.lock().expect("forged"), 0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct StoredId {
    id: u64,
}

/// The ids of a campaign's sessions and requests in ClickHouse, as
/// (16 hex digits, `sessions` or `requests`).
async fn campaign_rows_in_clickhouse(sandbox: &Sandbox, campaign_id: &str) -> Events {
    let mut rows = Events::new();
    for (stream, query) in [
        (
            "sessions",
            "SELECT session_id AS id FROM sessions FINAL WHERE campaign_id = ?",
        ),
        (
            "requests",
            "SELECT request_id AS id FROM requests FINAL WHERE campaign_id = ?",
        ),
    ] {
        let ids = sandbox
            .clickhouse_client()
            .query(query)
            .bind(campaign_id)
            .fetch_all::<StoredId>()
            .await
            .expect("campaign rows");
        rows.extend(
            ids.into_iter()
                .map(|r| (format!("{:016x}", r.id), stream.to_string())),
        );
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_delivers_its_sessions_and_requests_as_clickhouse_holds_them() {
    let mut sandbox = Sandbox::start().await;
    let kafka = KafkaBroker::start();
    let postgres = PostgresServer::start();
    let receiver = Receiver::default();
    let webhook = receiver.start().await;
    let files = tempfile::tempdir().expect("files");
    let spill = tempfile::tempdir().expect("spill");
    sandbox.spawn_coordinator("coordinator-1");
    for id in ["agent-1", "agent-2"] {
        let dir = spill.path().join(id).display().to_string();
        sandbox.spawn_agent_with(id, &["--spill-dir", &dir]);
    }
    let (_, mut client) = sandbox.leader_client(2).await;
    let document = format!(
        "{}sinks:\n\
         - {{ name: bus, kind: kafka, brokers: \"{}\", topic: \"visits-{{stream}}\" }}\n\
         - {{ name: lake, kind: postgres, url: \"{}\", table: \"visit_{{stream}}\" }}\n\
         - {{ name: hook, kind: webhook, url: \"{webhook}\", secret: \"{SECRET}\", streams: sessions }}\n\
         - {{ name: bronze, kind: files, path: \"{}\" }}\n",
        spec("visits", sandbox.target.address, 300, 60.0, 4),
        kafka.bootstrap(),
        postgres.url(),
        files.path().display()
    );
    let id = start_campaign(&mut client, document).await;
    wait_completed(&client, &sandbox, &id).await;
    wait_caught_up(&client, &sandbox).await;

    let want = campaign_rows_in_clickhouse(&sandbox, &id).await;
    let counts = per_stream(&want);
    assert_eq!(counts.get("sessions"), Some(&300), "{counts:?}");
    assert!(counts.get("requests").is_some_and(|r| *r >= 300), "{counts:?}");
    let sessions: Events = want.iter().filter(|(_, s)| s == "sessions").cloned().collect();

    // PostgreSQL: a table per stream, each row once, each request's
    // parent one of the sessions.
    let mut lake = Events::new();
    for stream in ["sessions", "requests"] {
        let rows = postgres.query(&format!(
            "SELECT id, stream FROM visit_{stream} WHERE run = '{id}'"
        ));
        lake.extend(
            rows.lines()
                .filter_map(|line| line.split_once('\t'))
                .map(|(id, stream)| (id.to_string(), stream.to_string())),
        );
    }
    assert!(lake == want, "postgres holds ClickHouse's sessions and requests");
    let orphans = postgres.query(&format!(
        "SELECT count(*) FROM visit_requests r WHERE run = '{id}' AND NOT EXISTS \
         (SELECT 1 FROM visit_sessions s WHERE s.run = r.run AND s.id = r.parent)"
    ));
    assert_eq!(orphans.trim(), "0", "every request's parent is its session");
    let persona = postgres.query(&format!(
        "SELECT count(*) FROM visit_sessions WHERE run = '{id}' AND data ? 'persona' \
         AND (data->>'requests')::int > 0"
    ));
    assert_eq!(persona.trim(), "300", "a session's row is its data");

    // The webhook takes the sessions only; files and Kafka take both.
    let hooked: Events = receiver.events().into_iter().collect();
    assert!(hooked == sessions, "the webhook got the sessions");
    assert_eq!(*receiver.forged.lock().expect("forged"), 0);
    let (filed, misplaced) = in_files(files.path(), &id);
    assert!(misplaced.is_empty(), "{misplaced:?}");
    assert_eq!(filed.len(), want.len(), "each row in one file, once");
    assert!(
        filed.into_iter().collect::<Events>() == want,
        "the files hold ClickHouse's rows"
    );
    let bus = in_kafka(
        &kafka.bootstrap(),
        &["visits-sessions".to_string(), "visits-requests".to_string()],
    );
    assert!(kafka_events(&bus) == want, "Kafka holds ClickHouse's rows");
    // Keyed by visitor: a visitor's sessions and requests share a partition.
    let mut partitions: BTreeMap<(&str, &str), BTreeSet<u32>> = BTreeMap::new();
    for m in &bus {
        assert!(m.key.starts_with("visitor:"), "{m:?}");
        partitions
            .entry((m.stream.as_str(), m.key.as_str()))
            .or_default()
            .insert(m.partition);
    }
    assert!(
        partitions.values().all(|p| p.len() == 1),
        "one visitor, one partition"
    );
}
