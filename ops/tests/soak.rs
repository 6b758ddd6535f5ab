//! A soak run in real processes: etcd, ClickHouse, a coordinator and two
//! agents carry a traffic campaign, the 50 built-in streams at 600× speed
//! and a cycle of scenarios, while each process's resident memory, open
//! file descriptors, threads and async tasks are sampled from its own
//! `/metrics`. The promise: nothing grows with time but the work in hand.
//! Resident memory stays flat once warm, and when the work stops, file
//! descriptors and tasks come back to where they were before it began.
//!
//! `THRONG_SOAK_SECONDS` sets the length of the work (120 by default, as CI
//! runs it; `ops/scripts/soak` runs it for longer and keeps the samples).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Sandbox, campaign, spec, start_campaign, wait_completed};
use throng_proto::v1;
use throng_testkit::{free_port, http_get, poll_until};

/// One scrape of a process's own gauges.
#[derive(Clone, Copy, Debug, Default)]
struct Health {
    rss_mib: f64,
    fds: f64,
    threads: f64,
    tasks: f64,
}

fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with([' ', '{']))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

fn scrape(address: &str) -> Option<Health> {
    let answer = http_get(address, "/metrics")?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    Some(Health {
        rss_mib: gauge(body, "process_resident_memory_bytes")? / 1_048_576.0,
        fds: gauge(body, "process_open_fds")?,
        threads: gauge(body, "process_threads")?,
        tasks: gauge(body, "throng_runtime_alive_tasks")?,
    })
}

fn scrape_all(nodes: &BTreeMap<&str, String>) -> BTreeMap<String, Health> {
    nodes
        .iter()
        .filter_map(|(id, address)| scrape(address).map(|h| (id.to_string(), h)))
        .collect()
}

fn max_rss(samples: &[(f64, BTreeMap<String, Health>)], node: &str, from: f64, to: f64) -> f64 {
    samples
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .filter_map(|(_, s)| s.get(node).map(|h| h.rss_mib))
        .fold(0.0, f64::max)
}

const STREAMS: &str = r#"
kind: streams
name: soak-streams
catalog: builtin
scale: 1.0
clock: { mode: accelerated, factor: 600, from: "2026-02-02T00:00:00Z" }
"#;

/// The scenarios the run cycles through, one after another.
const SCENARIOS: &[&str] = &["payment-outage", "exam-season-surge", "support-overload"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_grows_but_the_work_in_hand() {
    let seconds: u64 = std::env::var("THRONG_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let mut sandbox = Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with("coordinator-1", &[]);
    let mut nodes: BTreeMap<&str, String> = BTreeMap::new();
    nodes.insert("coordinator-1", http);
    for id in ["agent-1", "agent-2"] {
        let metrics = format!("127.0.0.1:{}", free_port());
        sandbox.spawn_agent_with(id, &["--metrics", &metrics]);
        nodes.insert(id, metrics);
    }
    let (_, mut client) = sandbox.leader_client(2).await;
    let baseline = poll_until(Duration::from_secs(20), "every node's metrics", || {
        let found = scrape_all(&nodes);
        async move { (found.len() == 3).then_some(found) }
    })
    .await;

    // The work: sessions at 30/s for the whole run, the 50 streams, and a
    // scenario every 30 s.
    let rate = 30.0;
    let sessions = (rate * seconds as f64) as u64;
    let document = spec("soak", sandbox.target.address, sessions, rate, 4);
    let campaign_id = start_campaign(&mut client, document).await;
    let streams_id = start_campaign(&mut client, STREAMS.to_string()).await;
    let started = Instant::now();
    let mut samples: Vec<(f64, BTreeMap<String, Health>)> = Vec::new();
    let mut next_scenario = Duration::from_secs(5);
    let mut scenario = 0;
    let mut applied = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        if started.elapsed() >= next_scenario {
            let _ = client
                .reset_scenarios(v1::CampaignRef {
                    id: streams_id.clone(),
                })
                .await;
            let apply = client
                .apply_scenario(v1::ApplyScenarioRequest {
                    id: streams_id.clone(),
                    scenario: SCENARIOS[scenario % SCENARIOS.len()].to_string(),
                    at: String::new(),
                    compose: false,
                })
                .await;
            if apply.is_ok() {
                applied += 1;
            }
            scenario += 1;
            next_scenario += Duration::from_secs(30);
        }
        let t = started.elapsed().as_secs_f64();
        let sample = scrape_all(&nodes);
        for (node, h) in &sample {
            eprintln!(
                "soak t={t:>6.1}s {node:<14} rss {:>7.1} MiB  fds {:>4}  threads {:>3}  tasks {:>5}",
                h.rss_mib, h.fds, h.threads, h.tasks
            );
        }
        samples.push((t, sample));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(applied >= 1, "scenarios applied during the run");

    // The work stops: the stream run is stopped, the campaign finishes.
    client
        .stop_campaign(v1::CampaignRef {
            id: streams_id.clone(),
        })
        .await
        .expect("stop the stream run");
    wait_completed(&client, &campaign_id, Duration::from_secs(90)).await;
    let campaign_now = campaign(&mut client, &campaign_id).await.expect("campaign");
    assert_eq!(campaign_now.sessions_checkpointed, sessions, "every session ran");

    // Resident memory is flat once warm: the last third's peak is within
    // 25 % (and 16 MiB) of the middle third's.
    let end = samples.last().map(|(t, _)| *t).unwrap_or_default();
    for node in nodes.keys() {
        let middle = max_rss(&samples, node, end / 3.0, 2.0 * end / 3.0);
        let last = max_rss(&samples, node, 2.0 * end / 3.0, end + 1.0);
        eprintln!("soak {node}: peak rss middle third {middle:.1} MiB, last third {last:.1} MiB");
        assert!(
            last <= middle * 1.25 + 16.0,
            "{node}'s resident memory kept growing: {middle:.1} MiB in the middle third, {last:.1} MiB in the last"
        );
    }

    // When the work is done, descriptors and tasks come back to about where
    // they were: within 32 of it (pooled connections to ClickHouse and the
    // target, with their tasks, stay open for reuse), where a leak of one
    // per session would leave thousands.
    let settled = poll_until(
        Duration::from_secs(120),
        "descriptors and tasks to settle",
        || {
            let now = scrape_all(&nodes);
            let baseline = baseline.clone();
            async move {
                let back = now.len() == baseline.len()
                    && now.iter().all(|(node, h)| {
                        let before = baseline[node];
                        h.fds <= before.fds + 32.0 && h.tasks <= before.tasks + 32.0
                    });
                back.then_some(now)
            }
        },
    )
    .await;
    for (node, h) in &settled {
        let before = baseline[node];
        eprintln!(
            "soak {node}: before rss {:.1} MiB fds {} threads {} tasks {}; after rss {:.1} MiB fds {} threads {} tasks {}",
            before.rss_mib, before.fds, before.threads, before.tasks, h.rss_mib, h.fds, h.threads, h.tasks
        );
    }
}
