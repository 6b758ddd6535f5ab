//! The traffic engine end to end: a `throng up` cluster sends Matomo (single
//! and bulk), GA4 and plain HTTP traffic to a recording target, and the test
//! checks what arrived.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use common::FailingSite;
use common::recorder::{Recorded, Recorder, parse_query};
use common::up::{Up, text};

fn spec(target: std::net::SocketAddr) -> String {
    format!(
        r#"
name: tracking
seed: 5
targets:
  - {{ url: "http://{target}/matomo.php", kind: matomo, site_id: 7, token_auth: "tok-secret-123" }}
  - {{ url: "http://{target}/bulk/matomo.php", kind: matomo, site_id: 8, bulk: 5 }}
  - {{ url: "http://{target}/mp/collect", kind: ga4, measurement_id: "G-TEST", api_secret: "ga-secret-456" }}
  - {{ url: "http://{target}" }}
pages: ["/", "/a", "/b"]
personas:
  - name: regular
    returning: 0.6
    regulars: 8
    journeys: {{ buyer: 1, researcher: 1 }}
    pages: {{ min: 2, max: 6 }}
    think_time: {{ min: 0ms, max: 5ms }}
    conversion: 0.5
  - name: casual
    journeys: {{ casual: 1 }}
    think_time: {{ min: 0ms, max: 5ms }}
load: {{ rate: 100, sessions: 400, shards: 4 }}
"#
    )
}

fn is_hex16(id: &str) -> bool {
    id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// Checks one visit's hits and returns (visitor id, visit count) per visit.
fn check_matomo_hits(hits: &[Vec<(String, String)>], site_id: &str) -> BTreeMap<(String, String), usize> {
    let get =
        |hit: &Vec<(String, String)>, key: &str| hit.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut visits: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut agents: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for hit in hits {
        assert_eq!(get(hit, "idsite").as_deref(), Some(site_id));
        assert_eq!(get(hit, "rec").as_deref(), Some("1"));
        let id = get(hit, "_id").expect("_id");
        assert!(is_hex16(&id), "bad _id {id}");
        let count = get(hit, "_idvc").expect("_idvc");
        assert!(
            get(hit, "url").is_some_and(|u| u.starts_with("https://shop.example")),
            "{hit:?}"
        );
        assert!(get(hit, "pv_id").is_some_and(|p| p.len() == 6));
        for number in ["rand", "h", "m", "s", "_idts"] {
            assert!(
                get(hit, number).is_some_and(|v| v.parse::<u64>().is_ok()),
                "{number} in {hit:?}"
            );
        }
        let visit = (id, count);
        *visits.entry(visit.clone()).or_insert(0) +=
            usize::from(get(hit, "new_visit").as_deref() == Some("1"));
        agents
            .entry(visit)
            .or_default()
            .insert(get(hit, "ua").unwrap_or_default());
    }
    for (visit, opened) in &visits {
        assert_eq!(*opened, 1, "visit {visit:?} opened {opened} times");
        assert_eq!(agents[visit].len(), 1, "one user agent within visit {visit:?}");
    }
    visits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matomo_ga4_and_http_traffic_arrive_well_formed() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("spec file");
    file.write_all(spec(recorder.address).as_bytes())
        .expect("write spec");
    let out = up.client(&[
        "campaign",
        "apply",
        "--start",
        "-f",
        file.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let last: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("stats"),
    )
    .expect("json");
    assert_eq!(last["sessions_completed"], 400, "{last}");
    assert_eq!(last["request_errors"], 0, "{last}");

    let requests = recorder.requests();
    let by_path = |prefix: &str| -> Vec<&Recorded> { requests.iter().filter(|r| r.path == prefix).collect() };

    // Matomo, one GET per hit, with the token for overrides.
    let single = by_path("/matomo.php");
    assert!(single.len() > 100, "{} single hits", single.len());
    assert!(single.iter().all(|r| r.method == "GET"));
    assert!(
        single
            .iter()
            .all(|r| r.param("token_auth").as_deref() == Some("tok-secret-123"))
    );
    assert!(
        single.iter().all(|r| r.param("country").is_some()),
        "overrides sent with a token"
    );
    let visits = check_matomo_hits(&single.iter().map(|r| r.params()).collect::<Vec<_>>(), "7");
    // Returning visitors: one id, several visits with distinct counts.
    let mut counts_per_id: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for (id, count) in visits.keys() {
        counts_per_id
            .entry(id)
            .or_default()
            .insert(count.parse().expect("count"));
    }
    assert!(
        counts_per_id.values().any(|c| c.len() >= 2),
        "some regular returned: {counts_per_id:?}"
    );
    assert!(
        single.iter().any(|r| r.param("ec_items").is_some()),
        "ecommerce hits"
    );
    assert!(
        single.iter().any(|r| r.param("search").is_some()),
        "site search hits"
    );

    // Matomo bulk: JSON bodies of up to 5 requests each.
    let bulk = by_path("/bulk/matomo.php");
    assert!(!bulk.is_empty());
    let mut bulk_hits = Vec::new();
    for r in &bulk {
        assert_eq!(r.method, "POST");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("bulk body is JSON");
        let list = body["requests"].as_array().expect("requests array");
        assert!((1..=5).contains(&list.len()));
        assert!(body.get("token_auth").is_none(), "no token configured");
        bulk_hits.extend(list.iter().map(|q| parse_query(q.as_str().expect("string"))));
    }
    check_matomo_hits(&bulk_hits, "8");

    // GA4: JSON payloads with the required fields.
    let ga4 = by_path("/mp/collect");
    assert!(!ga4.is_empty());
    let mut starts = 0;
    for r in &ga4 {
        assert_eq!(r.method, "POST");
        assert_eq!(r.param("measurement_id").as_deref(), Some("G-TEST"));
        assert_eq!(r.param("api_secret").as_deref(), Some("ga-secret-456"));
        let payload: serde_json::Value = serde_json::from_str(&r.body).expect("GA4 payload is JSON");
        assert!(payload["client_id"].as_str().is_some_and(|c| c.contains('.')));
        let events = payload["events"].as_array().expect("events");
        assert!(!events.is_empty());
        for event in events {
            assert!(event["name"].is_string());
            assert!(event["params"]["session_id"].is_string());
            assert!(event["params"]["engagement_time_msec"].as_u64().is_some());
        }
        starts += events.iter().filter(|e| e["name"] == "session_start").count();
    }
    assert!(starts > 0);

    // Plain HTTP: real pages, real user agents.
    let pages: Vec<&Recorded> = requests
        .iter()
        .filter(|r| !r.path.ends_with("matomo.php") && r.path != "/mp/collect")
        .collect();
    assert!(!pages.is_empty());
    assert!(pages.iter().all(|r| r.user_agent.starts_with("Mozilla/5.0")));

    // Secrets never come back from the API.
    let out = up.client(&["--output", "json", "campaign", "get", &id]);
    let shown = text(&out);
    assert!(
        !shown.contains("tok-secret-123") && !shown.contains("ga-secret-456"),
        "{shown}"
    );
    assert!(shown.contains("***"));
}

fn apply(up: &Up, document: &str) -> String {
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("spec file");
    file.write_all(document.as_bytes()).expect("write spec");
    let out = up.client(&[
        "campaign",
        "apply",
        "--start",
        "-f",
        file.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn last_stats(out: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("a stats line")).expect("json stats")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_breach_fails_the_campaign_and_can_abort_it() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let slow = |name: &str, sessions: u32, thresholds: &str| {
        format!(
            "name: {name}\ntarget: {{ url: \"http://{}\" }}\npages: [\"/slow\"]\n\
             session: {{ pages: {{ min: 1, max: 1 }} }}\nload: {{ rate: 20, sessions: {sessions} }}\nthresholds: {thresholds}\n",
            recorder.address
        )
    };

    // Judged at the end: the campaign completes, the watch fails.
    let id = apply(&up, &slow("judged", 20, "[\"p99 < 100ms\", \"error_rate < 1%\"]"));
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(
        !out.status.success(),
        "a failed threshold fails the watch: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("thresholds failed: p99 < 100ms"),
        "{}",
        text(&out)
    );
    let stats = last_stats(&out);
    assert_eq!(stats["state"], "completed");
    assert_eq!(stats["thresholds_passed"], false);
    assert_eq!(stats["thresholds"][1]["passed"], true, "error_rate holds");

    // With abort_on_fail, the campaign stops early.
    let id = apply(
        &up,
        &slow(
            "aborted",
            400,
            "{ rules: [\"p50 < 100ms\"], abort_on_fail: true }",
        ),
    );
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(!out.status.success());
    let stats = last_stats(&out);
    assert_eq!(stats["state"], "stopped", "{stats}");
    assert!(
        stats["stop_reason"]
            .as_str()
            .is_some_and(|r| r.contains("threshold failed: p50 < 100ms")),
        "{stats}"
    );
    assert!(
        stats["sessions_started"].as_u64().is_some_and(|n| n < 400),
        "stopped before the end: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_measured_from_the_intended_start_so_a_stall_shows() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let id = apply(
        &up,
        &format!(
            "name: stall\ntarget: {{ url: \"http://{}\" }}\npages: [\"/\"]\n\
             session: {{ pages: {{ min: 1, max: 1 }} }}\nload: {{ rate: 50, duration: 6s }}\n",
            recorder.address
        ),
    );
    // Stall the target for 2 s in the middle of the run.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    recorder.stall_for(std::time::Duration::from_secs(2));
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let stats = last_stats(&out);
    let p99 = stats["p99_ms"].as_f64().expect("p99");
    let p90 = stats["p90_ms"].as_f64().expect("p90");
    assert!(p99 >= 1500.0, "open-model p99 reflects the 2 s stall: {stats}");
    assert!(p90 >= 500.0, "about a third of arrivals met the stall: {stats}");

    // A closed loop (send, wait, send…) measured from each send hides it:
    // only the one request caught in the stall is slow.
    recorder.stall_for(std::time::Duration::from_secs(2));
    let engine = throng_engine::http::HttpEngine::new();
    let url = format!("http://{}/", recorder.address);
    let started = std::time::Instant::now();
    let mut latencies = Vec::new();
    while started.elapsed() < std::time::Duration::from_secs(4) {
        let sent = std::time::Instant::now();
        engine
            .get(&url, std::time::Duration::from_secs(5))
            .await
            .expect("closed-loop request");
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let closed_p99 = latencies[(latencies.len() as f64 * 0.99) as usize - 1];
    eprintln!(
        "stall of 2 s: open-model p99 {p99:.0} ms, p90 {p90:.0} ms; closed-loop p99 {closed_p99:.1} ms"
    );
    assert!(
        closed_p99 < 100.0,
        "closed-loop p99 {closed_p99:.1} ms over {} requests",
        latencies.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_holds_across_three_agents() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo", "--agents", "3"]);
    let status = up.wait_ready_with(3).await;
    assert_eq!(status["agents"].as_array().map(Vec::len), Some(3));
    // A day window that began an hour ago, so the run cannot straddle two.
    let minutes = (throng_engine::clock::epoch_ms() / 60_000 + 24 * 60 - 60) % (24 * 60);
    let day_start = format!("{:02}:{:02}", minutes / 60, minutes % 60);
    let id = apply(
        &up,
        &format!(
            "name: capped\ntarget: {{ url: \"http://{}\" }}\npages: [\"/\"]\nsession: {{ pages: {{ min: 1, max: 1 }} }}\n\
             load: {{ rate: 100, sessions: 400, shards: 6, daily_cap: 150, day_start: \"{day_start}\", time_zone: UTC }}\n",
            recorder.address
        ),
    );
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let stats = last_stats(&out);
    assert_eq!(stats["sessions_completed"], 150, "{stats}");
    assert_eq!(stats["sessions_capped"], 250, "{stats}");
    assert_eq!(recorder.requests().len(), 150, "the target saw exactly the cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_achieved_arrival_rate_is_within_two_percent_over_a_minute() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let id = apply(
        &up,
        &format!(
            "name: steady\ntarget: {{ url: \"http://{}\" }}\npages: [\"/\"]\nsession: {{ pages: {{ min: 1, max: 1 }} }}\n\
             load: {{ rate: 50, duration: 60s, shards: 8 }}\n",
            recorder.address
        ),
    );
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let mut arrivals: Vec<std::time::Instant> = recorder.requests().iter().map(|r| r.at).collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), 3000);
    let span = arrivals[arrivals.len() - 1]
        .duration_since(arrivals[0])
        .as_secs_f64();
    let achieved = (arrivals.len() - 1) as f64 / span;
    eprintln!("target 50/s over a minute, achieved {achieved:.3}/s");
    assert!((achieved - 50.0).abs() / 50.0 < 0.02, "achieved {achieved:.2}/s");
    // And steady within the minute: every 10 s window within 2 % too.
    let start = arrivals[0];
    for window in 0..6 {
        let count = arrivals
            .iter()
            .filter(|a| {
                let t = a.duration_since(start).as_secs_f64();
                t >= window as f64 * 10.0 && t < (window + 1) as f64 * 10.0
            })
            .count();
        assert!(
            (count as f64 - 500.0).abs() <= 10.0,
            "window {window}: {count} arrivals"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_and_traceparent_are_spoken_when_asked() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    // Every session is to be traced, but this cluster exports no traces:
    // the headers are still the sessions' own, never an empty context.
    let id = apply(
        &up,
        &format!(
            "name: h2\ntarget: {{ url: \"http://{}\", http2: true, traceparent: true }}\npages: [\"/\", \"/a\"]\n\
             session: {{ pages: {{ min: 2, max: 3 }}, think_time: {{ min: 0ms, max: 5ms }} }}\n\
             load: {{ rate: 50, sessions: 20, shards: 2 }}\ntrace_sessions: 1\n",
            recorder.address
        ),
    );
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let requests = recorder.requests();
    assert!(requests.len() >= 40);
    assert!(
        requests.iter().all(|r| r.version == "HTTP/2.0"),
        "{:?}",
        requests[0].version
    );
    let mut traces = BTreeSet::new();
    let mut spans = BTreeSet::new();
    for r in &requests {
        let header = r.traceparent.clone().expect("traceparent on every request");
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!(parts.len(), 4, "{header}");
        assert_eq!((parts[0], parts[3]), ("00", "01"));
        assert!(parts[1].len() == 32 && parts[2].len() == 16, "{header}");
        assert!(
            parts[1].contains(|c| c != '0') && parts[2].contains(|c| c != '0'),
            "{header}"
        );
        assert!(header[3..].chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        traces.insert(parts[1].to_string());
        spans.insert(parts[2].to_string());
    }
    assert_eq!(traces.len(), 20, "one trace per session");
    assert_eq!(spans.len(), requests.len(), "one span per request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closed_model_runs_its_users_back_to_back() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    // 10 users, each page taking 300 ms, for 3 s: about 100 sessions, never more than 10 at once.
    let id = apply(
        &up,
        &format!(
            "name: closed\ntarget: {{ url: \"http://{}\" }}\npages: [\"/slow\"]\nsession: {{ pages: {{ min: 1, max: 1 }} }}\n\
             load: {{ model: closed, users: 10, duration: 3s, shards: 4 }}\n",
            recorder.address
        ),
    );
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let stats = last_stats(&out);
    let sessions = stats["sessions_completed"].as_u64().expect("sessions");
    eprintln!(
        "closed model: {sessions} sessions, peak concurrency {}",
        recorder.peak_concurrency()
    );
    assert!(
        (80..=110).contains(&sessions),
        "10 users × 3 s / 0.3 s ≈ 100: {stats}"
    );
    assert_eq!(recorder.peak_concurrency(), 10, "exactly the users, at once");
    assert_eq!(stats["sessions_planned"], 0, "bounded by time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_change_reaches_every_agent_at_once() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let id = apply(
        &up,
        &format!(
            "name: retune\ntarget: {{ url: \"http://{}\" }}\npages: [\"/\"]\nsession: {{ pages: {{ min: 1, max: 1 }} }}\n\
             load: {{ rate: 20, duration: 16s, shards: 6 }}\n",
            recorder.address
        ),
    );
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let out = up.client(&["--output", "json", "campaign", "set-rate", &id, "60"]);
    assert!(out.status.success(), "{}", text(&out));
    let changed = std::time::Instant::now();
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let stats = last_stats(&out);
    let planned = stats["sessions_planned"].as_u64().expect("planned");
    // About 6 s at 20/s, then 10 s at 60/s.
    assert!((650..=760).contains(&planned), "planned {planned}: {stats}");
    assert_eq!(stats["sessions_completed"].as_u64(), Some(planned), "{stats}");

    let arrivals: Vec<std::time::Instant> = recorder.requests().iter().map(|r| r.at).collect();
    let rate_in = |from: std::time::Instant, secs: f64| {
        arrivals
            .iter()
            .filter(|a| **a >= from && a.duration_since(from).as_secs_f64() < secs)
            .count() as f64
            / secs
    };
    let first = *arrivals.iter().min().expect("arrivals");
    let before = rate_in(first + std::time::Duration::from_secs(1), 4.0);
    let after = rate_in(changed + std::time::Duration::from_secs(1), 5.0);
    eprintln!("rate change: {before:.1}/s before, {after:.1}/s after (planned {planned})");
    assert!((before - 20.0).abs() < 2.0, "before {before}");
    assert!((after - 60.0).abs() < 6.0, "after {after}");

    // A closed-model campaign has no rate to change.
    let closed = apply(
        &up,
        &format!(
            "name: users\ntarget: {{ url: \"http://{}\" }}\nload: {{ model: closed, users: 2, duration: 3s }}\n",
            recorder.address
        ),
    );
    let out = up.client(&["campaign", "set-rate", &closed, "5"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("closed-model"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_can_keep_their_own_connections() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let id = apply(
        &up,
        &format!(
            "name: own\ntarget: {{ url: \"http://{}\", connections: per_visitor }}\npages: [\"/\", \"/a\"]\n\
             session: {{ pages: {{ min: 3, max: 3 }}, think_time: {{ min: 10ms, max: 30ms }} }}\n\
             load: {{ rate: 20, sessions: 20, shards: 2 }}\n",
            recorder.address
        ),
    );
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let requests = recorder.requests();
    assert!(requests.len() >= 60, "{} requests", requests.len());
    // Every request on a connection of its visitor: 20 connections, each carrying whole visits.
    let mut per_connection: BTreeMap<std::net::SocketAddr, usize> = BTreeMap::new();
    for r in &requests {
        *per_connection.entry(r.peer.expect("peer address")).or_insert(0) += 1;
    }
    assert_eq!(per_connection.len(), 20, "one connection per visitor");
    assert!(per_connection.values().all(|n| *n >= 3), "{per_connection:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validating_ga4_collector_turns_complaints_into_errors() {
    let recorder = Recorder::start().await;
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let id = apply(
        &up,
        &format!(
            "name: ga4debug\ntargets:\n  - {{ url: \"http://{}/debug/mp/collect\", kind: ga4, measurement_id: G-T, \
             api_secret: s, validate: true }}\nsession: {{ pages: {{ min: 1, max: 1 }} }}\n\
             load: {{ rate: 10, sessions: 5, shards: 1 }}\n",
            recorder.address
        ),
    );
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let stats = last_stats(&out);
    assert_eq!(stats["requests"], 5, "{stats}");
    assert_eq!(stats["request_errors"], 5, "every payload was faulted: {stats}");
    assert_eq!(stats["errors_by_class"]["ga4 validation"], 5, "{stats}");
    // Each failed session says why in the log, once, with the page it failed on.
    let log = up.stderr();
    let failures: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("session failed"))
        .collect();
    assert_eq!(failures.len(), 5, "{log}");
    assert!(
        failures
            .iter()
            .all(|line| line.contains("/debug/mp/collect") && line.contains("persona")),
        "{failures:#?}"
    );
}

/// The error groups a store reported against what the failing target sent:
/// one group per status, and counts that add up to the failed requests.
fn check_error_groups(report: &serde_json::Value, sent: &BTreeMap<u16, u64>) {
    let groups = report["groups"].as_array().expect("groups");
    let by_status: BTreeMap<u16, u64> = groups
        .iter()
        .map(|g| {
            assert_eq!(g["class"], "http", "{report}");
            let status = g["example_status"].as_u64().expect("status") as u16;
            assert_eq!(g["message"], format!("http {status}"), "{report}");
            assert!(g["first_ms"].as_u64() <= g["last_ms"].as_u64(), "{report}");
            assert!(
                !g["example_path"].as_str().unwrap_or_default().is_empty(),
                "{report}"
            );
            assert_eq!(
                g["example_excerpt"], "<html><body>not today</body></html>",
                "the start of the error answer's body: {report}"
            );
            (status, g["requests"].as_u64().expect("requests"))
        })
        .collect();
    assert_eq!(
        &by_status, sent,
        "one group per failure the target sent: {report}"
    );
    let failed: u64 = sent.values().sum();
    assert_eq!(report["failed_requests"], failed, "{report}");
    assert_eq!(report["other_requests"], 0, "{report}");
}

fn failing_spec(site: &FailingSite) -> String {
    format!(
        "name: flaky\nseed: 3\ntarget: {{ url: \"http://{}\", traceparent: true }}\npages: [\"/\", \"/a\", \"/b\"]\n\
         personas:\n\
         \x20 - {{ name: buyers, journeys: {{ buyer: 1 }}, think_time: {{ min: 0ms, max: 5ms }} }}\n\
         \x20 - {{ name: readers, journeys: {{ casual: 1 }}, think_time: {{ min: 0ms, max: 5ms }} }}\n\
         load: {{ rate: 100, sessions: 150, shards: 2 }}\n",
        site.address
    )
}

/// A session's steps against the target's own log: one request each, with
/// the session's traceparent, path and status, and no request beside them.
fn check_steps_against_the_site(detail: &serde_json::Value, site: &FailingSite) {
    let session_id: u64 = detail["session_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("a number");
    let steps = detail["steps"].as_array().expect("steps");
    assert!(!steps.is_empty(), "{detail}");
    let requests = site.requests();
    let trace = &throng_engine::campaign::session::trace::untraced(session_id, 0)[..35];
    let seen: Vec<&common::SiteRequest> = requests
        .iter()
        .filter(|r| r.traceparent.starts_with(trace))
        .collect();
    assert_eq!(
        seen.len(),
        steps.len(),
        "one request per step: {detail}\n{seen:?}"
    );
    for step in steps {
        let index = step["index"].as_u64().expect("index") as usize;
        let traceparent = throng_engine::campaign::session::trace::untraced(session_id, index);
        let request = seen
            .iter()
            .find(|r| r.traceparent == traceparent)
            .unwrap_or_else(|| panic!("the site saw step {index}: {step}"));
        assert_eq!(step["path"], request.path, "{step}");
        assert_eq!(step["status"], request.status, "{step}");
        assert_eq!(step["bytes"], request.bytes, "the body's size: {step}");
        let excerpt = if request.status >= 400 {
            "<html><body>not today</body></html>"
        } else {
            ""
        };
        assert_eq!(step["excerpt"], excerpt, "{step}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_group_by_message_and_each_session_opens_from_the_embedded_store() {
    let site = FailingSite::start().await;
    let up = Up::start(&["--no-demo", "--no-streams"]);
    up.wait_ready().await;
    let id = apply(&up, &failing_spec(&site));
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let sent = site.failures();
    assert_eq!(sent.len(), 3, "the target failed with each status: {sent:?}");

    let out = up.client(&["--output", "json", "campaign", "errors", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    check_error_groups(&report, &sent);
    // The HTTP API answers the same groups.
    let answer =
        throng_testkit::http_get(&up.http, &format!("/api/v1/campaigns/{id}/errors")).expect("HTTP API");
    let (_, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let over_http: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(over_http["groups"], report["groups"], "{body}");
    // The table says it too, most requests first.
    let out = up.client(&["campaign", "errors", &id]);
    let table = text(&out);
    assert!(table.starts_with("REQUESTS"), "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains(" http ")).count(),
        3,
        "{table}"
    );
    // Every session can be opened from the embedded store: the failed ones
    // list, and one of them shows each request as the target saw it.
    let out = up.client(&[
        "--output",
        "json",
        "session",
        "list",
        &id,
        "--outcome",
        "failed",
        "--all",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let failed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let failed = failed["sessions"].as_array().expect("sessions").clone();
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|s| s["ok"] == false && s["error_class"] == "http"),
        "{failed:?}"
    );
    let session = failed[0]["session_id"].as_str().expect("id");
    let out = up.client(&["--output", "json", "session", "show", &id, session]);
    assert!(out.status.success(), "{}", text(&out));
    let detail: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    check_steps_against_the_site(&detail, &site);
    let out = up.client(&["session", "show", &id, session]);
    assert!(text(&out).contains("failed: http "), "{}", text(&out));
    // An unknown campaign is a clear error.
    let out = up.client(&["campaign", "errors", "no-such-campaign"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no-such-campaign"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_group_by_message_and_each_session_opens_from_clickhouse() {
    let site = FailingSite::start().await;
    let mut sandbox = common::Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with_http("coordinator-1");
    sandbox.spawn_agent("agent-1");
    sandbox.spawn_agent("agent-2");
    let (_, mut client) = sandbox.leader_client(2).await;
    let id = common::start_campaign(&mut client, failing_spec(&site)).await;
    common::wait_completed(&client, &id, std::time::Duration::from_secs(60)).await;
    let sent = site.failures();
    assert_eq!(sent.len(), 3, "the target failed with each status: {sent:?}");

    let endpoint = sandbox.node("coordinator-1").endpoint();
    let throng = |args: &[&str]| {
        let out = std::process::Command::new(common::throng_bin())
            .args(["--endpoint", &endpoint, "--output", "json"])
            .args(args)
            .output()
            .expect("run throng");
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let report = throng(&["campaign", "errors", &id]);
    check_error_groups(&report, &sent);

    // Session lists hold exactly the sessions ClickHouse holds for a filter.
    let listed = |filter: &[&str]| -> std::collections::BTreeSet<u64> {
        let mut args = vec!["session", "list", id.as_str(), "--all", "--limit", "20"];
        args.extend_from_slice(filter);
        throng(&args)["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| s["session_id"].as_str().expect("id").parse().expect("a number"))
            .collect()
    };
    let stored = |condition: &str| {
        let db = sandbox.clickhouse_client();
        let id = id.clone();
        let sql = format!("SELECT session_id FROM sessions FINAL WHERE campaign_id = ? AND {condition}");
        async move {
            let ids: Vec<u64> = db.query(&sql).bind(id).fetch_all().await.expect("session ids");
            ids.into_iter().collect::<std::collections::BTreeSet<u64>>()
        }
    };
    let buyers = listed(&["--persona", "buyers"]);
    assert_eq!(buyers, stored("persona = 'buyers'").await);
    let failed = listed(&["--outcome", "failed"]);
    assert_eq!(failed, stored("ok = 0").await);
    assert!(!buyers.is_empty() && !failed.is_empty() && buyers.len() < 150);
    let failed_buyers = listed(&[
        "--persona",
        "buyers",
        "--outcome",
        "failed",
        "--error-class",
        "http",
    ]);
    assert_eq!(failed_buyers, buyers.intersection(&failed).copied().collect());
    // A session in full: each step is a request the target saw.
    for session in failed.iter().take(3) {
        let detail = throng(&["session", "show", &id, &session.to_string()]);
        check_steps_against_the_site(&detail, &site);
        assert_eq!(
            detail["visit"]["visitor_id"].as_str().map(str::len),
            Some(16),
            "{detail}"
        );
    }
    // The HTTP API pages the same list; bad input is named, field by field.
    let get = |path: &str| {
        let answer = throng_testkit::http_get(&http, path).expect("HTTP API");
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        (
            status,
            serde_json::from_str::<serde_json::Value>(body).expect("json"),
        )
    };
    let (status, page) = get(&format!("/api/v1/campaigns/{id}/sessions?outcome=failed&limit=2"));
    assert_eq!(status, 200, "{page}");
    let first: Vec<u64> = page["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["session_id"].as_str().expect("id").parse().expect("a number"))
        .collect();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|s| failed.contains(s)), "{page}");
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let (status, next) = get(&format!(
        "/api/v1/campaigns/{id}/sessions?outcome=failed&limit=2&cursor={cursor}"
    ));
    assert_eq!(status, 200, "{next}");
    assert!(
        !next["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .any(|s| first.contains(&s["session_id"].as_str().expect("id").parse().expect("a number")))
    );
    let (status, refused) = get(&format!(
        "/api/v1/campaigns/{id}/sessions?outcome=failed&cursor={}",
        cursor.replace('0', "1")
    ));
    assert_eq!(status, 400, "a tampered cursor: {refused}");
    assert!(
        refused["detail"].as_str().unwrap_or_default().contains("cursor:"),
        "{refused}"
    );
    let (status, refused) = get(&format!(
        "/api/v1/campaigns/{id}/sessions?outcome=maybe&limit=lots&persno=x"
    ));
    assert_eq!(status, 400, "{refused}");
    let message = refused["detail"].as_str().unwrap_or_default();
    for field in ["limit: `lots` is not a whole number", "persno: unknown parameter"] {
        assert!(message.contains(field), "{field} in {message}");
    }
    let (status, refused) = get(&format!("/api/v1/campaigns/{id}/sessions?outcome=maybe"));
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("outcome: unknown `maybe`"),
        "{refused}"
    );
    let (status, detail) = get(&format!("/api/v1/campaigns/{id}/sessions/{}", first[0]));
    assert_eq!(status, 200, "{detail}");
    check_steps_against_the_site(&detail, &site);
    let (status, missing) = get(&format!("/api/v1/campaigns/{id}/sessions/42"));
    assert_eq!(status, 404, "{missing}");

    // Each node's recent log lines, through the coordinator: the agents
    // said why their sessions failed, at WARN.
    let logs = |args: &[&str]| {
        std::process::Command::new(common::throng_bin())
            .args(["--endpoint", &endpoint, "--output", "json", "logs"])
            .args(args)
            .output()
            .expect("run throng logs")
    };
    let lines = |out: &std::process::Output| -> Vec<serde_json::Value> {
        assert!(out.status.success(), "{}", text(out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    let mut failures = Vec::new();
    for agent in ["agent-1", "agent-2"] {
        let out = logs(&["--node", agent, "--level", "warn", "--grep", "session failed"]);
        failures.extend(lines(&out));
    }
    assert!(!failures.is_empty(), "the agents logged their failed sessions");
    for line in &failures {
        assert_eq!(line["level"], "WARN", "{line}");
        let said = line["text"].as_str().unwrap_or_default();
        assert!(
            said.contains("session_id=") && said.contains("error=http "),
            "{line}"
        );
    }
    let coordinator = lines(&logs(&[]));
    assert!(
        coordinator
            .iter()
            .any(|l| l["text"] == "became leader coordinator=coordinator-1"),
        "{coordinator:#?}"
    );
    let out = logs(&["--level", "loud"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("level: unknown `loud`"), "{}", text(&out));
    let out = logs(&["--node", "agent-9"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("agent-1"),
        "the error names the live nodes: {}",
        text(&out)
    );
}

const QUICK_LOOK: &str = "name: quick-look
start: home
steps:
  home: { action: page_view, path: /a, next: { deals: 1 } }
  deals: { action: page_view, path: /b, next: { end: 1 } }
";

fn shopper(journey: &str) -> String {
    format!(
        "name: shopper\njourneys: {{ {journey}: 1 }}\nthink_time: {{ min: 0ms, max: 5ms }}\npages: {{ min: 2, max: 2 }}\n"
    )
}

/// A campaign built from library items runs on the versions it was created
/// with; the library refuses bad items, unknown references and deleting
/// what a running campaign uses, and writes nothing when it refuses; a
/// finished campaign can be deleted, a running one cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_built_from_library_items_keep_the_versions_they_were_created_with() {
    let site = common::TargetSite::start().await;
    let mut sandbox = common::Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with_http("coordinator-1");
    sandbox.spawn_agent("agent-1");
    sandbox.spawn_agent("agent-2");
    let (_, mut client) = sandbox.leader_client(2).await;
    let endpoint = sandbox.node("coordinator-1").endpoint();
    let dir = tempfile::tempdir().expect("temp dir");
    let throng = |args: &[&str], files: &[(&str, &str)]| {
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).expect("write file");
        }
        std::process::Command::new(common::throng_bin())
            .current_dir(dir.path())
            .args(["--endpoint", &endpoint, "--output", "json"])
            .args(args)
            .output()
            .expect("run throng")
    };
    let json = |out: std::process::Output| {
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };

    // Items are checked as a campaign reads them, with paths from the item.
    let out = throng(
        &["persona", "apply", "-f", "bad.yaml"],
        &[(
            "bad.yaml",
            "name: shopper\nbounce: 2\ncolour: red\njourneys: { nowhere: 1 }\n",
        )],
    );
    assert!(!out.status.success());
    for path in ["bounce", "colour", "journeys"] {
        assert!(text(&out).contains(path), "{path} named: {}", text(&out));
    }
    let answer = throng_testkit::http_request(
        &http,
        "POST",
        "/api/v1/library/journey",
        "{\"name\": \"broken\", \"start\": \"home\", \"steps\": {\"home\": {\"action\": \"fly\"}}}",
    );
    let raw = answer.clone().unwrap_or_default().to_lowercase();
    assert!(raw.contains("content-type: application/problem+json"), "{raw}");
    let (status, body) = common::json_answer(answer);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], 400, "{body}");
    assert_eq!(body["code"], "InvalidArgument", "{body}");
    assert_eq!(body["errors"][0]["path"], "steps.home.action", "{body}");
    assert_eq!(
        json(throng(&["persona", "list"], &[])),
        serde_json::json!({ "items": [] }),
        "nothing written"
    );

    // A journey, then a persona walking it; applying the same again is no new version.
    let journey = json(throng(
        &["journey", "apply", "-f", "j.yaml"],
        &[("j.yaml", QUICK_LOOK)],
    ));
    assert_eq!(journey[0]["version"], 1);
    let persona = json(throng(
        &["persona", "apply", "-f", "p.yaml"],
        &[("p.yaml", &shopper("quick-look"))],
    ));
    assert_eq!(persona[0]["version"], 1);
    let again = json(throng(&["persona", "apply", "-f", "p.yaml"], &[]));
    assert_eq!(again[0]["version"], 1, "unchanged: the same version");

    // An unknown reference is refused with its path; nothing is stored.
    let target = site.address;
    let campaign = |personas: &str| {
        format!(
            "name: library\nseed: 4\ntarget: {{ url: \"http://{target}\" }}\npages: [\"/\", \"/a\", \"/b\"]\n\
             personas: {personas}\nload: {{ rate: 20, duration: 8s, shards: 2 }}\n"
        )
    };
    let refused = client
        .create_campaign(throng_proto::v1::CampaignSpecRequest {
            document: campaign("[{ use: nobody }, { use: shopper, version: 7 }]"),
            start: true,
        })
        .await
        .expect_err("unknown references");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    for path in ["personas[0].use", "personas[1].use"] {
        assert!(refused.message().contains(path), "{path}: {}", refused.message());
    }
    let listed = client
        .list_campaigns(throng_proto::v1::ListCampaignsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.campaigns.is_empty(), "nothing stored: {listed:?}");

    let id = common::start_campaign(&mut client, campaign("[{ use: shopper, weight: 2 }]")).await;
    let stored = common::campaign(&mut client, &id).await.expect("campaign");
    let spec: serde_json::Value = serde_json::from_str(&stored.spec_json).expect("spec");
    assert_eq!(
        spec["personas"][0]["journeys"],
        serde_json::json!({"quick-look": 1}),
        "{spec}"
    );
    assert_eq!(spec["personas"][0]["weight"], 2, "{spec}");
    assert_eq!(
        spec["journeys"][0]["name"], "quick-look",
        "brought with the persona: {spec}"
    );
    assert_eq!(
        spec["uses"],
        serde_json::json!([
            {"kind": "persona", "name": "shopper", "version": 1},
            {"kind": "journey", "name": "quick-look", "version": 1}
        ])
    );

    // Edited while the campaign runs: version 2 walks another journey.
    let edited_at = throng_engine::clock::epoch_ms();
    let edited = json(throng(
        &["persona", "apply", "-f", "p2.yaml"],
        &[("p2.yaml", &shopper("casual"))],
    ));
    assert_eq!(edited[0]["version"], 2);
    assert_eq!(edited[0]["used_by"], serde_json::json!([id]));
    // Deleting what a running campaign uses is refused, naming it; so is
    // deleting the running campaign.
    let out = throng(&["persona", "delete", "shopper"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains(&id), "{}", text(&out));
    let (status, body) = common::json_answer(throng_testkit::http_request(
        &http,
        "DELETE",
        "/api/v1/library/journey/quick-look",
        "",
    ));
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().expect("message").contains(&id), "{body}");
    let running = client
        .delete_campaign(throng_proto::v1::CampaignRef { id: id.clone() })
        .await
        .expect_err("running");
    assert_eq!(running.code(), tonic::Code::FailedPrecondition, "{running:?}");

    common::wait_completed(&client, &id, std::time::Duration::from_secs(90)).await;
    // Every session, those that began after the edit too, is the snapshot's.
    let db = sandbox.clickhouse_client();
    let rows: Vec<(String, String, u64)> = db
        .query(
            "SELECT persona, journey, countIf(intended_ms > ?) FROM sessions FINAL \
             WHERE campaign_id = ? GROUP BY persona, journey",
        )
        .bind(edited_at)
        .bind(&id)
        .fetch_all()
        .await
        .expect("sessions");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("shopper", "quick-look")
    );
    assert!(rows[0].2 > 0, "sessions began after the edit: {rows:?}");
    let paths: BTreeSet<String> = db
        .query("SELECT DISTINCT path FROM requests FINAL WHERE campaign_id = ?")
        .bind(&id)
        .fetch_all()
        .await
        .expect("paths")
        .into_iter()
        .collect();
    assert_eq!(paths, BTreeSet::from(["/a".to_string(), "/b".to_string()]));

    // Finished: the items can go, and so can the campaign.
    let got = json(throng(&["persona", "get", "shopper", "--version", "1"], &[]));
    assert_eq!(got["document"]["journeys"], serde_json::json!({"quick-look": 1}));
    assert_eq!(got["versions"], 2);
    let deleted = json(throng(&["persona", "delete", "shopper"], &[]));
    assert_eq!(deleted["versions_removed"], 2);
    let out = throng(&["persona", "get", "shopper"], &[]);
    assert!(
        !out.status.success() && text(&out).contains("not found"),
        "{}",
        text(&out)
    );
    let removed = client
        .delete_campaign(throng_proto::v1::CampaignRef { id: id.clone() })
        .await
        .expect("a finished campaign is deleted")
        .into_inner();
    assert!(removed.keys_removed >= 2, "{removed:?}");
    assert!(common::campaign(&mut client, &id).await.is_none(), "gone");
    let unknown = client
        .delete_campaign(throng_proto::v1::CampaignRef {
            id: "no-such-campaign".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    // Its telemetry stays.
    assert!(sandbox.distinct_sessions(&id).await > 0);
}

/// Edits follow the rules of what can change when; a clone is a new
/// campaign from the stored spec; a finished campaign leaves the cluster
/// state once the operator's retention has passed, and its telemetry stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_are_edited_cloned_and_archived_after_the_retention() {
    let site = common::TargetSite::start().await;
    let mut sandbox = common::Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with("coordinator-1", &["--archive-after", "2s"]);
    sandbox.spawn_agent("agent-1");
    let (_, mut client) = sandbox.leader_client(1).await;
    let endpoint = sandbox.node("coordinator-1").endpoint();
    let document = |seed: u32, rate: u32, duration: &str| {
        format!(
            "name: edited\nseed: {seed}\ntarget: {{ url: \"http://{}\" }}\npages: [\"/\", \"/a\"]\n\
             session: {{ think_time: {{ min: 0ms, max: 5ms }} }}\nload: {{ rate: {rate}, duration: {duration}, shards: 2 }}\n",
            site.address
        )
    };
    let editor = client.clone();
    let update = |id: &str, document: String| {
        let mut client = editor.clone();
        let id = id.to_string();
        async move {
            client
                .update_campaign(throng_proto::v1::UpdateCampaignRequest { id, document })
                .await
                .map(|c| c.into_inner())
        }
    };
    let spec_of = |c: &throng_proto::v1::Campaign| {
        serde_json::from_str::<serde_json::Value>(&c.spec_json).expect("spec")
    };

    // Not started: any valid spec with its name, as a new revision.
    let created = client
        .create_campaign(throng_proto::v1::CampaignSpecRequest {
            document: document(1, 20, "2s"),
            start: false,
        })
        .await
        .expect("create")
        .into_inner();
    let id = created.id.clone();
    assert_eq!(created.revision, 1);
    let edited = update(&id, document(2, 20, "3s"))
        .await
        .expect("any change before it starts");
    assert_eq!(edited.revision, 2);
    assert_eq!(spec_of(&edited)["load"]["duration"], "3s");
    let renamed = update(&id, document(2, 20, "3s").replace("name: edited", "name: other"))
        .await
        .expect_err("a new name");
    assert_eq!(renamed.code(), tonic::Code::InvalidArgument);
    assert!(renamed.message().contains("name"), "{}", renamed.message());

    // Running: only the rate changes, at one plan instant; the rest is named and refused.
    client
        .start_campaign(throng_proto::v1::CampaignRef { id: id.clone() })
        .await
        .expect("start");
    let refused = update(&id, document(5, 20, "9s"))
        .await
        .expect_err("duration and seed");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    for path in ["load.duration", "seed"] {
        assert!(refused.message().contains(path), "{path}: {}", refused.message());
    }
    let (status, body) = common::json_answer(throng_testkit::http_request(
        &http,
        "PUT",
        &format!("/api/v1/campaigns/{id}"),
        &document(2, 40, "3s"),
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revision"], 3, "{body}");
    assert_eq!(
        body["spec"]["load"]["rate"], 20,
        "the spec keeps its base rate: {body}"
    );
    assert_eq!(body["state"], "running", "{body}");

    // A clone is a new campaign from the stored spec.
    let out = std::process::Command::new(common::throng_bin())
        .args([
            "--endpoint",
            &endpoint,
            "--output",
            "json",
            "campaign",
            "clone",
            &id,
            "--name",
            "edited-again",
        ])
        .output()
        .expect("run throng");
    assert!(out.status.success(), "{}", text(&out));
    let clone: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let clone_id = clone["id"].as_str().expect("id").to_string();
    assert_ne!(clone_id, id);
    assert_eq!(clone["state"], "created");
    assert_eq!(clone["spec"]["name"], "edited-again");
    assert_eq!(clone["spec"]["seed"], 2, "{clone}");

    // Finished, then gone from the cluster state after the retention.
    common::wait_completed(&client, &id, std::time::Duration::from_secs(60)).await;
    let done = update(&id, document(2, 60, "3s")).await.expect_err("finished");
    assert!(done.message().contains("clone"), "{}", done.message());
    throng_testkit::poll_until(
        std::time::Duration::from_secs(30),
        "the finished campaign to be archived",
        || {
            let mut client = client.clone();
            let id = id.clone();
            async move { common::campaign(&mut client, &id).await.is_none().then_some(()) }
        },
    )
    .await;
    assert!(
        common::campaign(&mut client, &clone_id).await.is_some(),
        "a campaign that has not run stays"
    );
    assert!(sandbox.distinct_sessions(&id).await > 0, "its telemetry stays");
    assert!(
        sandbox
            .log("coordinator-1")
            .contains("finished campaign archived"),
        "the leader says what it removed"
    );
}
