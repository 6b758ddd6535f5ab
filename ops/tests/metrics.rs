//! Prometheus metrics in real processes: the coordinator's `/metrics` (on
//! its HTTP API) and an agent's (`--metrics`) parse as Prometheus text and
//! move with load — requests, latency histogram, active sessions,
//! placements, the telemetry writer, the answers read ahead.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Sandbox, spec, start_campaign, wait_completed};
use throng_testkit::{free_port, http_get, poll_until};

/// The body of `GET /metrics`, once the server answers 200.
fn scrape(address: &str) -> Option<String> {
    let answer = http_get(address, "/metrics")?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.lines()
        .next()
        .is_some_and(|status| status.contains(" 200 "))
        .then(|| {
            assert!(
                head.to_lowercase()
                    .contains("content-type: text/plain; version=0.0.4"),
                "{head}"
            );
            body.to_string()
        })
}

/// Checks every line strictly (a comment, or `name{labels} value`), then
/// parses the text with an independent Prometheus parser; answers each
/// sample's value by `name{label=value,…}` with labels sorted.
fn parse(text: &str) -> HashMap<String, f64> {
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value: {line}"
        );
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad name: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels: {line}");
        }
    }
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text");
    let mut values = HashMap::new();
    for sample in scrape.samples {
        let mut labels: Vec<String> = sample.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let key = format!("{}{{{}}}", sample.metric, labels.join(","));
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => continue,
        };
        values.insert(key, value);
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_with_load() {
    let mut sandbox = Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with_http("coordinator-1");
    let agent_metrics = format!("127.0.0.1:{}", free_port());
    sandbox.spawn_agent_with("agent-1", &["--metrics", &agent_metrics]);
    let (_, mut client) = sandbox.leader_client(1).await;

    let before = parse(
        &poll_until(Duration::from_secs(20), "coordinator metrics", || {
            let http = http.clone();
            async move { scrape(&http) }
        })
        .await,
    );
    assert_eq!(
        before.get("throng_coordinator_leader{}"),
        Some(&1.0),
        "{before:?}"
    );
    assert_eq!(before.get("throng_agents{}"), Some(&1.0));
    assert_eq!(before.get("throng_state_store_up{}"), Some(&1.0));

    let document = spec("metered", sandbox.target.address, 400, 100.0, 2);
    let id = start_campaign(&mut client, document).await;
    let requests = format!("throng_requests_total{{campaign={id}}}");

    // While it runs, the agent's own counters move.
    let agent_key = format!("throng_requests_total{{agent=agent-1,campaign={id}}}");
    let first = poll_until(Duration::from_secs(30), "the agent's counters to move", || {
        let (address, key) = (agent_metrics.clone(), agent_key.clone());
        async move {
            let values = parse(&scrape(&address)?);
            values.get(&key).copied().filter(|v| *v > 0.0)
        }
    })
    .await;
    let later = poll_until(Duration::from_secs(30), "the agent's counters to move on", || {
        let (address, key) = (agent_metrics.clone(), agent_key.clone());
        async move {
            let values = parse(&scrape(&address)?);
            values.get(&key).copied().filter(|v| *v > first)
        }
    })
    .await;
    assert!(later > first);
    let agent = parse(&scrape(&agent_metrics).expect("agent metrics"));
    assert_eq!(
        agent.get("throng_agent_lease_valid{agent=agent-1}"),
        Some(&1.0),
        "{agent:?}"
    );

    wait_completed(&client, &id, Duration::from_secs(60)).await;
    // The coordinator's merged counters reach the totals; the histogram
    // counts every request.
    let completed = format!("throng_sessions_completed_total{{campaign={id}}}");
    let after = poll_until(Duration::from_secs(20), "the final counters", || {
        let (http, requests, completed) = (http.clone(), requests.clone(), completed.clone());
        async move {
            let values = parse(&scrape(&http)?);
            let done = values.get(&completed).is_some_and(|s| *s >= 400.0);
            (done && values.get(&requests).is_some_and(|r| *r >= 400.0)).then_some(values)
        }
    })
    .await;
    let total = after[&requests];
    let histogram = after[&format!("throng_request_latency_seconds{{campaign={id}}}")];
    assert_eq!(histogram, total, "the histogram counts every request");
    // How late each session started, from the agent's reports: every
    // session once, on the coordinator as on the agent.
    let lag = format!("throng_session_start_lag_seconds{{campaign={id}}}");
    assert_eq!(after.get(&lag), Some(&400.0), "{after:?}");
    let agent_after = parse(&scrape(&agent_metrics).expect("agent metrics"));
    assert_eq!(
        agent_after.get(&format!(
            "throng_session_start_lag_seconds{{agent=agent-1,campaign={id}}}"
        )),
        Some(&400.0),
        "{agent_after:?}"
    );
    assert_eq!(
        after.get(&format!("throng_sessions_active{{campaign={id}}}")),
        Some(&0.0)
    );
    assert_eq!(
        after.get(&format!("throng_campaign_state{{campaign={id},state=completed}}")),
        Some(&1.0)
    );
    assert!(after["throng_shard_placements_total{}"] >= 2.0, "{after:?}");
    assert!(
        after["throng_telemetry_rows_written_total{agent=agent-1}"] > 0.0,
        "{after:?}"
    );
    assert_eq!(after.get("throng_telemetry_healthy{agent=agent-1}"), Some(&1.0));

    // Nothing asked for the campaign's numbers, yet they were read from
    // ClickHouse ahead of its page and are kept.
    let kept = poll_until(Duration::from_secs(30), "the campaign read ahead", || {
        let http = http.clone();
        async move {
            let values = parse(&scrape(&http)?);
            let analytics = values.get("throng_answers_kept{kind=analytics}").copied()?;
            let errors = values.get("throng_answers_kept{kind=errors}").copied()?;
            (analytics >= 1.0 && errors >= 1.0).then_some(values)
        }
    })
    .await;
    assert!(
        kept["throng_store_readings_total{kind=analytics}"] >= 1.0,
        "{kept:?}"
    );
    assert!(kept["throng_store_reading_seconds_total{kind=analytics}"] > 0.0);
}
