//! Stream runs on real processes (etcd, ClickHouse, a coordinator, agents):
//! what lands in ClickHouse is exactly what the catalog generates for the
//! range, whether one agent or three run it, and after an agent is killed.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Sandbox, campaign, start_campaign};
use throng_engine::streams::{Catalog, generate_all};
use throng_proto::v1;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_testkit::{poll_until, poll_until_explained};
use tonic::transport::Channel;

/// 2026-02-02T00:00Z.
const FROM: i64 = 1_769_990_400_000;
const HOUR: i64 = 3_600_000;
const SCALE: f64 = 0.02;

fn backfill(name: &str, hours: i64) -> String {
    format!(
        "kind: streams\nname: {name}\nscale: {SCALE}\nclock: {{ mode: backfill, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T{hours:02}:00:00Z\" }}\n"
    )
}

/// (event id, stream, time) of every event the built-in catalog generates in the range.
fn expected(hours: i64) -> BTreeSet<(u64, String, i64)> {
    let catalog = Arc::new(Catalog::builtin());
    generate_all(&catalog, SCALE, FROM, FROM + hours * HOUR)
        .into_iter()
        .map(|e| {
            (
                e.id,
                catalog.streams[usize::from(e.stream)].name.to_string(),
                e.at_ms,
            )
        })
        .collect()
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct StoredEvent {
    event_id: u64,
    stream: String,
    at_ms: i64,
}

/// What ClickHouse holds for a run, duplicates (from replays) merged away.
async fn stored(sandbox: &Sandbox, run_id: &str) -> BTreeSet<(u64, String, i64)> {
    sandbox
        .clickhouse_client()
        .query("SELECT event_id, stream, at_ms FROM stream_events FINAL WHERE run_id = ?")
        .bind(run_id)
        .fetch_all::<StoredEvent>()
        .await
        .expect("query stream events")
        .into_iter()
        .map(|e| (e.event_id, e.stream, e.at_ms))
        .collect()
}

async fn wait_completed(client: &mut ControlServiceClient<Channel>, id: &str) {
    poll_until(Duration::from_secs(120), "the stream run to complete", || {
        let mut client = client.clone();
        async move {
            let c = campaign(&mut client, id).await?;
            (c.state == v1::CampaignState::Completed as i32).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_or_three_store_exactly_the_generated_events() {
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    sandbox.spawn_agent("agent-1");
    let (_, mut client) = sandbox.leader_client(1).await;
    let hours = 6;
    let want = expected(hours);
    assert!(want.len() > 1_000, "{} events", want.len());

    let one = start_campaign(&mut client, backfill("one", hours)).await;
    wait_completed(&mut client, &one).await;
    let got_one = stored(&sandbox, &one).await;
    assert_eq!(got_one.len(), want.len(), "one agent: {}", sandbox.log("agent-1"));
    assert!(
        got_one == want,
        "one agent stored other events than the catalog generates"
    );

    sandbox.spawn_agent("agent-2");
    sandbox.spawn_agent("agent-3");
    let (_, mut client) = sandbox.leader_client(3).await;
    let three = start_campaign(&mut client, backfill("three", hours)).await;
    let status = client
        .get_cluster_status(v1::GetClusterStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.agents.len(), 3);
    wait_completed(&mut client, &three).await;
    let got_three = stored(&sandbox, &three).await;
    assert!(
        got_three == want,
        "three agents stored other events than one agent did"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_leaves_no_gap_and_no_duplicate() {
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    for id in ["agent-1", "agent-2", "agent-3"] {
        sandbox.spawn_agent(id);
    }
    let (_, mut client) = sandbox.leader_client(3).await;
    let hours = 12;
    // Two simulated hours a second: the run takes about six seconds.
    let document = format!(
        "kind: streams\nname: survivor\nscale: {SCALE}\nclock: {{ mode: accelerated, factor: 7200, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T{hours:02}:00:00Z\" }}\n"
    );
    let id = start_campaign(&mut client, document).await;
    // Once some events are stored, kill an agent that runs shards.
    poll_until(Duration::from_secs(30), "the first events in ClickHouse", || {
        let sandbox = &sandbox;
        let id = id.clone();
        async move { (!stored(sandbox, &id).await.is_empty()).then_some(()) }
    })
    .await;
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
    wait_completed(&mut client, &id).await;
    let want = expected(hours);
    let got = stored(&sandbox, &id).await;
    let missing = want.difference(&got).count();
    let extra = got.difference(&want).count();
    assert_eq!((missing, extra), (0, 0), "after {victim} was killed");
    // Rows a replay wrote twice collapse to one per event id.
    let distinct: u64 = sandbox
        .clickhouse_client()
        .query("SELECT uniqExact(event_id) FROM stream_events WHERE run_id = ?")
        .bind(&id)
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(distinct as usize, want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_bends_every_agent_at_the_same_simulated_instant() {
    use throng_engine::streams::generate::generate_all_with;
    use throng_engine::streams::scenario::ScenarioRun;

    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    for id in ["agent-1", "agent-2", "agent-3"] {
        sandbox.spawn_agent(id);
    }
    let (_, mut client) = sandbox.leader_client(3).await;
    let hours = 8;
    // One simulated hour a second.
    let document = format!(
        "kind: streams\nname: bent\nscale: {SCALE}\nclock: {{ mode: accelerated, factor: 3600, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T{hours:02}:00:00Z\" }}\n"
    );
    let id = start_campaign(&mut client, document).await;
    poll_until(Duration::from_secs(30), "the first events in ClickHouse", || {
        let sandbox = &sandbox;
        let id = id.clone();
        async move { (!stored(sandbox, &id).await.is_empty()).then_some(()) }
    })
    .await;

    // Through the CLI, as a user would.
    let endpoint = sandbox.node("coordinator-1").endpoint();
    let throng = |args: &[&str]| {
        std::process::Command::new(common::throng_bin())
            .args(["--endpoint", &endpoint, "--output", "json"])
            .args(args)
            .output()
            .expect("run throng")
    };
    let listed = throng(&["scenario", "list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(listed["scenarios"].as_array().map(Vec::len), Some(9));
    let unknown = throng(&["scenario", "apply", "alien-invasion"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown scenario `alien-invasion`"));
    let applied = throng(&["scenario", "apply", "payment-outage"]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let applied: serde_json::Value = serde_json::from_slice(&applied.stdout).expect("json");
    let started_ms = applied["runs"][0]["started_ms"].as_i64().expect("a run");
    let sim_now = applied["sim_now_ms"].as_i64().expect("sim now");
    assert!(
        started_ms > sim_now,
        "scheduled ahead of the clock: {started_ms} vs {sim_now}"
    );
    assert!(
        started_ms + 4 * HOUR <= FROM + hours * HOUR,
        "the outage and its backlog fit in the run"
    );
    let busy = throng(&["scenario", "apply", "support-overload"]);
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("`payment-outage` is"),
        "one at a time"
    );

    wait_completed(&mut client, &id).await;
    let catalog = Arc::new(Catalog::builtin());
    // The scenario, and the external events it injects as it starts.
    let mut timeline = vec![ScenarioRun {
        scenario: "payment-outage".into(),
        started_ms,
        stopped_ms: None,
        reset_ms: None,
        event: None,
    }];
    let outage = catalog
        .scenarios
        .iter()
        .find(|s| s.id == "payment-outage")
        .expect("scenario");
    for (template, offset) in &outage.events {
        timeline.push(throng_coordinator::scenarios::injected_event(
            template,
            started_ms + offset,
        ));
    }
    let want: BTreeSet<(u64, String, i64)> =
        generate_all_with(&catalog, SCALE, FROM, FROM + hours * HOUR, &timeline)
            .into_iter()
            .map(|e| {
                (
                    e.id,
                    catalog.streams[usize::from(e.stream)].name.to_string(),
                    e.at_ms,
                )
            })
            .collect();
    let got = stored(&sandbox, &id).await;
    let (missing, extra) = (want.difference(&got).count(), got.difference(&want).count());
    assert_eq!(
        (missing, extra),
        (0, 0),
        "every agent bent its shards at the same instant"
    );
    // And the outage shows: failed payments well above baseline.
    let failed = |events: &BTreeSet<(u64, String, i64)>| {
        events.iter().filter(|e| e.1 == "customer.payment.failed").count()
    };
    assert!(
        failed(&got) > 3 * failed(&expected(hours)).max(1),
        "{} vs {}",
        failed(&got),
        failed(&expected(hours))
    );

    // Subscribed events carry their stream's score for their hour against
    // the 30-day baseline: the `anomalies` pattern takes the flagged ones,
    // and nothing before the outage's hour is flagged.
    let mut messages = client
        .subscribe(v1::SubscribeRequest {
            id: id.clone(),
            patterns: vec!["anomalies".into()],
            resume_token: format!("v1.{}.ffffffffffffffff", FROM - 1),
            max_lag_seconds: 0.0,
        })
        .await
        .expect("subscribe to anomalies")
        .into_inner();
    let mut flagged = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(message) = messages.message().await.expect("a message") {
            if let Some(v1::subscribe_message::Kind::Batch(batch)) = message.kind {
                flagged.extend(batch.events);
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the subscription ends with the run");
    assert!(
        flagged
            .iter()
            .all(|e| e.anomaly_flag != "normal" && e.at_ms >= started_ms - started_ms % HOUR),
        "only flagged events, none before the outage's hour"
    );
    assert!(
        flagged.iter().any(|e| e.stream == "customer.payment.failed"
            && e.normalized_value > 70.0
            && e.anomaly_flag == "critical"),
        "the outage's failed payments are flagged critical: {:?}",
        flagged
            .iter()
            .map(|e| (&e.stream, e.normalized_value))
            .take(20)
            .collect::<Vec<_>>()
    );

    // The leader mirrors the timeline, the external events and agent
    // snapshots into ClickHouse for SQL users.
    let db = sandbox.clickhouse_client();
    let injected = outage.events.len() as u64;
    let (scenarios, events): (Vec<(String, String, i64)>, u64) =
        poll_until(Duration::from_secs(40), "the mirrored timeline", || {
            let db = db.clone();
            let id = id.clone();
            async move {
                let timeline: Vec<(String, String, i64)> = db
                    .query("SELECT kind, name, started_ms FROM scenario_runs FINAL WHERE run_id = ? ORDER BY idx")
                    .bind(&id)
                    .fetch_all()
                    .await
                    .ok()?;
                let events: u64 = db
                    .query("SELECT count() FROM external_events FINAL WHERE run_id = ? AND injected = 1")
                    .bind(&id)
                    .fetch_one()
                    .await
                    .ok()?;
                (timeline.len() as u64 == 1 + injected && events == injected).then_some((timeline, events))
            }
        })
        .await;
    assert_eq!(
        scenarios[0],
        ("scenario".to_string(), "payment-outage".to_string(), started_ms)
    );
    assert!(
        scenarios[1..].iter().all(|(kind, _, _)| kind == "event"),
        "{scenarios:?}"
    );
    assert_eq!(events, injected);
    let history: u64 = db
        .query("SELECT count() FROM external_events FINAL WHERE run_id = ? AND injected = 0")
        .bind(&id)
        .fetch_one()
        .await
        .expect("history events");
    assert!(history >= 60, "30 days of 2-5 events a day: {history}");
    // Every agent's snapshots, whose counts never go down: together their
    // latest ones count every stored event. (Not every agent need have
    // generated one: a shard of a rare stream may draw nothing in eight
    // night hours, and an agent may hold only such shards.)
    let stored_events = got.len() as u64;
    poll_until_explained(
        Duration::from_secs(30),
        "snapshots of every agent counting every stored event",
        || {
            let db = db.clone();
            async move {
                let (agents, counted): (u64, u64) = db
                    .query(
                        "SELECT count(), sum(events) FROM \
                         (SELECT agent_id, max(stream_events) AS events FROM agent_metrics GROUP BY agent_id)",
                    )
                    .fetch_one()
                    .await
                    .ok()?;
                (agents == 3 && counted >= stored_events).then_some(())
            }
        },
        || sandbox.log_tails(60),
    )
    .await;
}

/// (event id, stream, time) of the events in a subscription's batches.
fn batch_events(message: &v1::SubscribeMessage) -> Vec<(u64, String, i64)> {
    match &message.kind {
        Some(v1::subscribe_message::Kind::Batch(batch)) => batch
            .events
            .iter()
            .map(|e| {
                (
                    u64::from_str_radix(&e.id, 16).expect("hex id"),
                    e.stream.clone(),
                    e.at_ms,
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_resume_exactly_once_and_see_what_the_agents_stored() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let mut sandbox = Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with_http("coordinator-1");
    sandbox.spawn_agent("agent-1");
    sandbox.spawn_agent("agent-2");
    let (_, mut client) = sandbox.leader_client(2).await;
    let hours = 4;
    let document = format!(
        "kind: streams\nname: watched\nscale: {SCALE}\nclock: {{ mode: accelerated, factor: 3600, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T{hours:02}:00:00Z\" }}\n"
    );
    let id = start_campaign(&mut client, document).await;

    // From the very start (a token before the first event), over gRPC.
    let subscribe = |token: String| {
        let mut client = client.clone();
        let id = id.clone();
        async move {
            client
                .subscribe(v1::SubscribeRequest {
                    id,
                    patterns: vec!["*".into()],
                    resume_token: token,
                    max_lag_seconds: 600.0,
                })
                .await
                .expect("subscribe")
                .into_inner()
        }
    };
    let mut seen: Vec<(u64, String, i64)> = Vec::new();
    let mut token = format!("v1.{}.ffffffffffffffff", FROM - 1);
    let mut messages = subscribe(token.clone()).await;
    let mut heartbeats = 0;
    // Take a few batches, then hang up.
    while seen.len() < 200 {
        let message = messages.message().await.expect("message").expect("more");
        if let Some(v1::subscribe_message::Kind::Batch(batch)) = &message.kind {
            token = batch.resume_token.clone();
        }
        heartbeats += usize::from(matches!(
            message.kind,
            Some(v1::subscribe_message::Kind::Heartbeat(_))
        ));
        seen.extend(batch_events(&message));
    }
    drop(messages);
    // Come back with the last token, and read to the run's end.
    let mut messages = subscribe(token).await;
    while let Some(message) = messages.message().await.expect("message") {
        heartbeats += usize::from(matches!(
            message.kind,
            Some(v1::subscribe_message::Kind::Heartbeat(_))
        ));
        seen.extend(batch_events(&message));
    }
    let distinct: BTreeSet<(u64, String, i64)> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "no event twice");
    assert!(
        seen.windows(2).all(|w| (w[0].2, w[0].0) <= (w[1].2, w[1].0)),
        "in (time, id) order"
    );

    wait_completed(&mut client, &id).await;
    let stored = stored(&sandbox, &id).await;
    assert!(
        distinct == stored,
        "the subscriber saw exactly what the agents stored"
    );
    assert!(heartbeats > 0 || seen.len() > 1000);

    // Over WebSocket: a fresh subscriber gets the last ten per stream first.
    let url = format!("ws://{http}/api/v1/runs/{id}/subscribe?patterns=support.*");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    let first = socket.next().await.expect("a message").expect("frame");
    let Message::Text(text) = first else {
        panic!("a text frame: {first:?}")
    };
    let snapshot: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(snapshot["type"], "batch");
    assert_eq!(snapshot["snapshot"], true);
    let events = snapshot["events"].as_array().expect("events");
    assert!(!events.is_empty());
    let mut per_stream = std::collections::BTreeMap::<String, usize>::new();
    for e in events {
        let stream = e["stream"].as_str().expect("stream").to_string();
        assert!(stream.starts_with("support."), "{stream}");
        *per_stream.entry(stream).or_default() += 1;
    }
    assert!(per_stream.values().all(|n| *n <= 10), "{per_stream:?}");

    // A bad pattern or token is refused with a clear answer.
    let bad = client
        .subscribe(v1::SubscribeRequest {
            id: id.clone(),
            patterns: vec!["nope.*".into()],
            resume_token: String::new(),
            max_lag_seconds: 0.0,
        })
        .await
        .expect_err("bad pattern");
    assert!(bad.message().contains("domain `nope`"), "{bad:?}");
    let bad = client
        .subscribe(v1::SubscribeRequest {
            id,
            patterns: Vec::new(),
            resume_token: "yesterday".into(),
            max_lag_seconds: 0.0,
        })
        .await
        .expect_err("bad token");
    assert!(bad.message().contains("not a resume token"), "{bad:?}");
}

/// One number from a ClickHouse query.
async fn number(sandbox: &Sandbox, sql: &str, run_id: &str) -> f64 {
    sandbox
        .clickhouse_client()
        .query(sql)
        .bind(run_id)
        .fetch_one::<f64>()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_history_keeps_the_promised_numbers_by_sql() {
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    sandbox.spawn_agent("agent-1");
    sandbox.spawn_agent("agent-2");
    let (_, mut client) = sandbox.leader_client(2).await;
    // Four days (Monday to Thursday) at a tenth of the volume.
    let document = "kind: streams\nname: sql\nscale: 0.1\nclock: { mode: backfill, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-06T00:00:00Z\" }\n";
    let id = start_campaign(&mut client, document.to_string()).await;
    wait_completed(&mut client, &id).await;

    // Responses to the requests of the first two days: each request exactly
    // one, 70-80 % of them confirmations, 2-24 h later.
    let requests = "(SELECT event_id, at_ms FROM stream_events FINAL WHERE run_id = ? \
                    AND stream = 'customer.booking.requested' AND at_ms < 1770163200000)";
    let answered = format!(
        "SELECT toFloat64(count()) FROM {requests} AS r ANY INNER JOIN \
         (SELECT parent_id AS event_id, stream, at_ms AS answered_ms FROM stream_events FINAL \
          WHERE stream IN ('tutor.booking.confirmed', 'tutor.booking.declined', 'tutor.booking.expired')) AS a USING event_id"
    );
    let total = number(
        &sandbox,
        &format!("SELECT toFloat64(count()) FROM {requests}"),
        &id,
    )
    .await;
    let answers = number(&sandbox, &answered, &id).await;
    assert!(total > 1_000.0, "{total} requests");
    assert_eq!(answers, total, "every request answered once");
    let confirmed = number(
        &sandbox,
        &format!(
            "SELECT countIf(stream = 'tutor.booking.confirmed') / count() FROM {requests} AS r ALL INNER JOIN \
             (SELECT parent_id AS event_id, stream, at_ms AS answered_ms FROM stream_events FINAL \
              WHERE stream IN ('tutor.booking.confirmed', 'tutor.booking.declined', 'tutor.booking.expired')) AS a \
             USING event_id WHERE answered_ms - at_ms BETWEEN 7200000 AND 86400000"
        ),
        &id,
    )
    .await;
    assert!(
        (0.70..=0.80).contains(&confirmed),
        "confirmation share {confirmed}"
    );

    // No-shows as shares of the sessions scheduled on the first three days.
    let share = |stream: &str| {
        format!(
            "SELECT countIf(stream = '{stream}') / countIf(stream = 'session.scheduled' AND at_ms < 1770249600000) \
             FROM stream_events FINAL WHERE run_id = ? AND (stream = 'session.scheduled' OR \
             (stream = '{stream}' AND parent_id IN (SELECT event_id FROM stream_events \
              WHERE stream = 'session.scheduled' AND at_ms < 1770249600000)))"
        )
    };
    let students = number(&sandbox, &share("session.no_show.student"), &id).await;
    let tutors = number(&sandbox, &share("session.no_show.tutor"), &id).await;
    assert!((0.02..=0.05).contains(&students), "student no-shows {students}");
    assert!((0.01..=0.02).contains(&tutors), "tutor no-shows {tutors}");

    // Tickets that follow a failed payment come 1-6 h after it.
    let late = number(
        &sandbox,
        "SELECT toFloat64(count()) FROM (SELECT event_id AS parent_id, at_ms AS failed_ms FROM stream_events FINAL \
         WHERE run_id = ? AND stream = 'customer.payment.failed') AS f ALL INNER JOIN \
         (SELECT parent_id, at_ms FROM stream_events FINAL WHERE stream = 'support.ticket.created') AS t USING parent_id \
         WHERE at_ms - failed_ms < 3600000 OR at_ms - failed_ms > 21600000",
        &id,
    )
    .await;
    assert_eq!(late, 0.0, "tickets outside 1-6 h after their failed payment");
    let followed = number(
        &sandbox,
        "SELECT toFloat64(count()) FROM stream_events FINAL WHERE stream = 'support.ticket.created' AND parent_id IN          (SELECT event_id FROM stream_events WHERE run_id = ? AND stream = 'customer.payment.failed')",
        &id,
    )
    .await;
    assert!(followed > 0.0, "some failed payments raise tickets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_told_what_it_missed_and_can_come_back_for_it() {
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    sandbox.spawn_agent("agent-1");
    let (_, mut client) = sandbox.leader_client(1).await;
    // Two simulated hours a second: a lot to read.
    let document = "kind: streams\nname: fast\nscale: 0.3\nclock: { mode: accelerated, factor: 7200, from: \"2026-02-02T00:00:00Z\" }\n";
    let id = start_campaign(&mut client, document.to_string()).await;
    let mut messages = client
        .subscribe(v1::SubscribeRequest {
            id: id.clone(),
            patterns: vec!["*".into()],
            resume_token: String::new(),
            max_lag_seconds: 1.0,
        })
        .await
        .expect("subscribe")
        .into_inner();
    // Read nothing for a while: the subscription falls behind the run's clock.
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Then read until the report of what was skipped (the stream ends if it never comes).
    let missed = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(message) = messages.message().await.expect("message") {
            if let Some(v1::subscribe_message::Kind::Missed(missed)) = message.kind {
                return Some(missed);
            }
        }
        None
    })
    .await
    .expect("a missed report within a minute")
    .expect("a missed report before the stream ended");
    let skipped: u64 = missed.events.values().sum();
    assert!(skipped > 0, "{missed:?}");
    // Generation went on regardless: the agent keeps reporting new events.
    let mut watch = client
        .watch_campaign(v1::CampaignRef { id: id.clone() })
        .await
        .expect("watch")
        .into_inner();
    let generated = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(stats) = watch.message().await.expect("stats") {
            if stats.stream_events > 0 {
                return stats.stream_events;
            }
        }
        0
    })
    .await
    .expect("stats within 30 s");
    assert!(generated > 0);
    // What it missed is there again from the token it was given.
    let mut again = client
        .subscribe(v1::SubscribeRequest {
            id,
            patterns: vec!["*".into()],
            resume_token: missed.from_token.clone(),
            max_lag_seconds: 3600.0,
        })
        .await
        .expect("resubscribe")
        .into_inner();
    let mut recovered = 0u64;
    while recovered < skipped {
        let message = again.message().await.expect("message").expect("more");
        recovered += batch_events(&message).len() as u64;
    }
    assert!(recovered >= skipped);
}

/// A number logged as `name=value` in a log line's text.
fn logged(text: &str, name: &str) -> Option<u64> {
    let at = text.find(&format!(" {name}="))? + name.len() + 2;
    text[at..].split(' ').next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulated_run_lands_in_bounded_batches_on_its_interval_and_says_its_mode() {
    let mut sandbox = Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with_http("coordinator-1");
    sandbox.spawn_agent("agent-1");
    let (leader, mut client) = sandbox.leader_client(1).await;
    let endpoint = sandbox.node(&leader).endpoint();

    // Bad cadences are refused with every problem at its path, and nothing
    // is stored.
    let (status, answer) = common::http_request(
        &http,
        "POST",
        "/api/v1/campaigns",
        None,
        "kind: streams\nname: bad\nclock: { mode: emulated, interval: 250ms, batch: { min: 9, max: 3 } }\n",
    );
    assert_eq!(status, 400, "{answer}");
    for path in ["clock.interval", "clock.batch.max"] {
        assert!(
            answer.contains(&format!("\"path\":\"{path}\"")),
            "{path}: {answer}"
        );
    }
    let listed = client
        .list_campaigns(v1::ListCampaignsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.campaigns.is_empty(), "nothing stored");

    let run = start_campaign(
        &mut client,
        "kind: streams\nname: cadence\nclock: { mode: emulated, interval: 1s, batch: { min: 4, max: 8 } }\n"
            .into(),
    )
    .await;

    // The mode where an operator looks: the open health document (which
    // names no run), the cluster status, the CLI and /metrics.
    let (status, health) = common::json_answer(Some(
        common::http_request(&http, "GET", "/api/v1/health", None, "").1,
    ));
    assert_eq!(status, 200);
    assert_eq!(health["generation"]["mode"], "emulated", "{health}");
    assert_eq!(health["generation"]["running"]["emulated"], 1, "{health}");
    assert_eq!(
        health["generation"]["emulated"][0]["interval_seconds"], 1,
        "{health}"
    );
    assert_eq!(health["generation"]["emulated"][0]["batch"]["max"], 8, "{health}");
    assert!(
        !health.to_string().contains(&run),
        "the open document names no run"
    );
    let cluster = client
        .get_cluster_status(v1::GetClusterStatusRequest {})
        .await
        .expect("cluster status")
        .into_inner();
    let generation = cluster
        .stream_runs
        .iter()
        .find(|r| r.id == run)
        .expect("the run in the status");
    assert_eq!(
        (
            generation.mode.as_str(),
            generation.interval_seconds,
            generation.batch_min,
            generation.batch_max
        ),
        ("emulated", 1, 4, 8)
    );
    assert!(
        generation.scale > 0.0 && generation.scale < 1.0,
        "a scale from the batch sizes: {}",
        generation.scale
    );
    let out = std::process::Command::new(common::throng_bin())
        .args(["--endpoint", &endpoint, "cluster", "status"])
        .output()
        .expect("run the CLI");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("a batch every 1 s of 4 to 8 events"), "{said}");
    let (_, metrics) = common::http_request(&http, "GET", "/metrics", None, "");
    assert!(
        metrics.contains(&format!(
            "throng_stream_run_mode{{run=\"{run}\",mode=\"emulated\",state=\"running\"}} 1"
        )),
        "{metrics}"
    );

    // Batches leave the agent on the interval's multiples, none above its
    // max, until enough have been seen.
    let batches = || -> Vec<(u64, u64)> {
        let (_, logs) = common::json_answer(Some(
            common::http_request(
                &http,
                "GET",
                "/api/v1/logs?node=agent-1&grep=emulated%20batch&limit=1000",
                None,
                "",
            )
            .1,
        ));
        let mut found: Vec<(u64, u64)> = logs["lines"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| {
                        let text = l["text"].as_str()?;
                        Some((logged(text, "released_at")?, logged(text, "events")?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    };
    poll_until_explained(
        Duration::from_secs(60),
        "eight emulated batches",
        || {
            let found = batches();
            async move { (found.len() >= 8).then_some(()) }
        },
        || sandbox.log_tails(20),
    )
    .await;
    client
        .stop_campaign(v1::CampaignRef { id: run.clone() })
        .await
        .expect("stop");
    poll_until(Duration::from_secs(30), "the run to stop", || {
        let mut client = client.clone();
        let run = run.clone();
        async move {
            let c = campaign(&mut client, &run).await?;
            (c.state == v1::CampaignState::Stopped as i32).then_some(())
        }
    })
    .await;
    // Everything released is stored, and nothing else: ClickHouse holds the
    // logged batches' events, each before its batch's instant (read again
    // each time: a batch may have left as the stop arrived).
    let (found, stored_count) = poll_until_explained(
        Duration::from_secs(30),
        "ClickHouse to hold every released event",
        || {
            let found = batches();
            let sandbox = &sandbox;
            let run = run.clone();
            async move {
                let released: u64 = found.iter().map(|(_, events)| events).sum();
                let last = found.last().map(|(at, _)| *at as i64)?;
                let stored = stored(sandbox, &run).await;
                (stored.len() as u64 == released && stored.iter().all(|(_, _, at)| *at < last))
                    .then_some((found, stored.len()))
            }
        },
        || format!("batches logged: {:?}", batches()),
    )
    .await;
    assert!(stored_count > 0, "{found:?}");
    assert!(found.iter().all(|(_, events)| *events <= 8), "{found:?}");
    let gaps: Vec<u64> = found.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().all(|gap| gap % 1_000 == 0 && *gap > 0),
        "on the interval's multiples: {gaps:?}"
    );
    let mut sorted = gaps.clone();
    sorted.sort();
    assert_eq!(sorted[sorted.len() / 2], 1_000, "one batch a second: {gaps:?}");
}
