//! The `throng` command line against a real `throng up` process: the demo,
//! cluster status, and bad input that is rejected readably with nothing stored.

mod common;

use std::io::Write;
use std::time::Duration;

use common::up::{Up, text, throng};
use throng_testkit::{free_port, http_get, poll_until};

fn write_spec(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp spec");
    file.write_all(text.as_bytes()).expect("write spec");
    file
}

/// `throng analytics` answers from the embedded store: CSV with a total row
/// and persona rows that add up to it, the same in the HTTP API, and a clear
/// error for CSV where a command has none.
async fn check_embedded_analytics(up: &Up) {
    let out = up.client(&["--output", "json", "campaign", "list"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("campaign list");
    let demo = list["campaigns"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["spec"]["kind"] != "streams"))
        .and_then(|c| c["id"].as_str())
        .expect("the demo campaign")
        .to_string();
    let rows = poll_until(Duration::from_secs(30), "analytics with sessions", || async {
        let out = up.client(&["--output", "csv", "analytics", &demo, "--by", "persona"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let rows: Vec<Vec<String>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        let total: u64 = rows.first()?.get(4)?.parse().ok()?;
        (total > 0).then_some(rows)
    })
    .await;
    assert_eq!(rows[0][2], "total", "{rows:?}");
    assert!(rows.len() >= 2, "persona rows: {rows:?}");
    let by_persona: u64 = rows[1..]
        .iter()
        .map(|r| r[4].parse::<u64>().expect("sessions"))
        .sum();
    assert!(rows[1..].iter().all(|r| r[2] == "persona"), "{rows:?}");
    // Sessions keep coming: the persona rows add up to their own total.
    assert_eq!(by_persona, rows[0][4].parse::<u64>().expect("total"));

    let api = http_get(
        &up.http,
        &format!("/api/v1/analytics?campaigns={demo}&resolution_ms=10000"),
    )
    .expect("HTTP analytics");
    assert!(api.contains("\"pages_per_session\""), "{api}");
    assert!(api.contains("\"series\""), "{api}");
    // `auto` sizes the buckets as the console does: about 150 over the run
    // so far (the run grows while the call is made).
    let (_, campaign) = common::json_answer(http_get(&up.http, &format!("/api/v1/campaigns/{demo}")));
    let created = campaign["created_at_ms"].as_u64().expect("created_at_ms");
    let before = throng_coordinator::report::resolution_for(throng_engine::clock::epoch_ms() - created);
    let (status, auto) = common::json_answer(http_get(
        &up.http,
        &format!("/api/v1/analytics?campaigns={demo}&resolution_ms=auto"),
    ));
    let after = throng_coordinator::report::resolution_for(throng_engine::clock::epoch_ms() - created);
    assert_eq!(status, 200, "{auto}");
    let resolution = auto[0]["resolution_ms"].as_u64().expect("resolution_ms");
    assert!(
        resolution == before || resolution == after,
        "{resolution} ms, not {before} or {after}"
    );
    assert!(
        auto[0]["series"].as_array().is_some_and(|s| !s.is_empty()),
        "{auto}"
    );
    // A running campaign also shows the agents' live counters.
    let out = up.client(&["--output", "json", "analytics", &demo]);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        reports[0]["live"]["sessions_started"].as_u64() > Some(0),
        "{reports}"
    );
    let out = up.client(&["analytics", &demo, "--by", "colour"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("by: unknown `colour`"), "{}", text(&out));
    let out = up.client(&["--output", "csv", "cluster", "status"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--output csv is for `throng analytics`"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throng_up_serves_the_demo_shows_progress_and_reports_two_agents() {
    let up = Up::start(&[]);
    let status = up.wait_ready().await;
    assert_eq!(status["leader"], "coordinator-1");
    poll_until(
        Duration::from_secs(10),
        "the demo campaign and the demo stream run to be created",
        || async {
            let out = up.client(&["--output", "json", "cluster", "status"]);
            let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (status["campaigns"] == 2).then_some(())
        },
    )
    .await;
    // The 50 streams run beside the campaign, with their scenarios ready.
    let out = up.client(&["--output", "json", "scenario", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let scenarios: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(scenarios["scenarios"].as_array().map(Vec::len), Some(9));
    let out = up.client(&["scenario", "apply", "exam-season-surge"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("exam-season-surge"), "{}", text(&out));

    let page = http_get(&up.demo, "/products").expect("demo site answers");
    assert!(
        page.starts_with("HTTP/1.0 200") || page.starts_with("HTTP/1.1 200"),
        "{page}"
    );
    let api = http_get(&up.http, "/api/v1/cluster").expect("HTTP API answers");
    assert!(api.contains("\"leader\":\"coordinator-1\""), "{api}");

    // Live progress: a stats line with finished sessions appears.
    poll_until(
        Duration::from_secs(30),
        "a progress line with finished sessions",
        || {
            let stderr = up.stderr();
            async move {
                stderr
                    .lines()
                    .filter(|l| l.starts_with("running"))
                    .any(|l| !l.contains("sessions       0/"))
                    .then_some(())
            }
        },
    )
    .await;
    // One JSON shape for the cluster, whether HTTP or the CLI answers
    // (both agents have reported by now, so both show their writers).
    let (code, over_http) = common::json_answer(http_get(&up.http, "/api/v1/cluster"));
    assert_eq!(code, 200);
    let out = up.client(&["--output", "json", "cluster", "status"]);
    assert!(out.status.success(), "{}", text(&out));
    let from_cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        key_paths(&from_cli),
        key_paths(&over_http),
        "{from_cli}\n{over_http}"
    );
    assert!(
        key_paths(&from_cli).contains("agents[].telemetry.rows_written"),
        "{from_cli}"
    );
    assert!(
        over_http["agents"][0]["report_age_seconds"].is_number(),
        "{over_http}"
    );
    check_embedded_analytics(&up).await;
    let stderr = up.interrupt().await;
    assert!(stderr.contains("throng up stopped."), "{stderr}");
    assert!(stderr.contains("sessions recorded"), "{stderr}");
    let events = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("stream events"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("a stream events line");
    assert!(events > 0, "{stderr}");
}

/// An independent gRPC client: Python's grpcio with grpcio-reflection and
/// grpcio-health-checking, which `.ci/run` installs into `target/grpc-venv`.
fn python_grpc_client(address: &str) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("target/grpc-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: .ci/run installs grpcio-reflection and grpcio-health-checking there",
        python.display()
    );
    let out = std::process::Command::new(python)
        .arg(root.join("ops/tests/clients/reflection_client.py"))
        .arg(address)
        .output()
        .expect("run the Python gRPC client");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpc_clients_list_the_api_by_reflection_v1alpha_and_see_it_serving() {
    let up = Up::start(&["--no-demo", "--no-streams"]);
    up.wait_ready().await;
    let address = up.endpoint.trim_start_matches("http://");
    let answer = python_grpc_client(address);
    let services: Vec<&str> = answer["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(services.contains(&"throng.v1.ControlService"), "{answer}");
    assert_eq!(answer["health"], "SERVING", "{answer}");
    let methods = answer["methods"].as_array().expect("methods");
    for method in ["CreateCampaign", "GetClusterStatus", "Subscribe", "ApplyScenario"] {
        assert!(methods.iter().any(|m| m == method), "{method}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_specs_are_rejected_with_every_problem_and_nothing_is_stored() {
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let bad = write_spec(
        "name: \"bad name\"\nextra: 1\ntarget: { url: \"http://127.0.0.1:1\" }\n\
         pages: [\"nope\"]\nload: { rate: 0, sessions: -4 }\n",
    );
    let path = bad.path().to_str().expect("utf-8 path");

    let out = up.client(&["campaign", "validate", "-f", path]);
    assert!(!out.status.success(), "validate of a bad spec must fail");
    let message = text(&out);
    for field in ["name", "extra", "pages[0]", "load.rate", "load.sessions"] {
        assert!(
            message.contains(&format!("  {field}: ")),
            "missing {field} in:\n{message}"
        );
    }

    let out = up.client(&["campaign", "apply", "-f", path]);
    assert!(!out.status.success(), "apply of a bad spec must fail");
    assert!(text(&out).contains("load.rate"), "{}", text(&out));

    let outside = write_spec(
        "name: outside\ntarget: { url: \"http://example.com\" }\nload: { rate: 1, sessions: 1 }\n",
    );
    let out = up.client(&["campaign", "apply", "-f", outside.path().to_str().expect("path")]);
    assert!(!out.status.success());
    assert!(text(&out).contains("allowlist"), "{}", text(&out));

    // The shipped campaign and stream run examples are valid (behaviour data
    // sits in its own folder), with the example library applied first.
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for (kind, file) in [
        ("journey", "journeys.yaml"),
        ("persona", "personas.yaml"),
        ("site", "site.yaml"),
    ] {
        let path = examples.join("library").join(file);
        let out = up.client(&[kind, "apply", "-f", path.to_str().expect("path")]);
        assert!(out.status.success(), "{}: {}", path.display(), text(&out));
    }
    for entry in std::fs::read_dir(&examples).expect("examples dir") {
        let path = entry.expect("entry").path();
        if !path.is_file() {
            continue;
        }
        let out = up.client(&["campaign", "validate", "-f", path.to_str().expect("path")]);
        assert!(out.status.success(), "{}: {}", path.display(), text(&out));
        assert!(text(&out).starts_with("valid:"), "{}", text(&out));
    }

    let out = up.client(&["--output", "json", "campaign", "list"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json list");
    assert_eq!(
        list["campaigns"].as_array().map(Vec::len),
        Some(0),
        "nothing stored"
    );

    // A good spec goes through, and lifecycle rules hold.
    let good = write_spec(&format!(
        "name: good\ntarget: {{ url: \"http://{}\" }}\nload: {{ rate: 5, sessions: 5 }}\n",
        up.demo
    ));
    let out = up.client(&["campaign", "apply", "-f", good.path().to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("good-"), "{id}");
    assert!(up.client(&["campaign", "start", &id]).status.success());
    let again = up.client(&["campaign", "start", &id]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("cannot start a campaign that is running"),
        "{}",
        text(&again)
    );
    let missing = up.client(&["campaign", "get", "no-such-campaign"]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("not found"), "{}", text(&missing));
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(
        out.status.success(),
        "watch ends when the campaign completes: {}",
        text(&out)
    );
    let last: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("a stats line"),
    )
    .expect("json stats");
    assert_eq!(last["state"], "completed");
    assert_eq!(last["sessions_completed"], 5);
}

#[test]
fn config_redacts_the_token_and_completions_cover_every_verb() {
    let secret = "a-token-nobody-may-see-0123";
    let out = throng()
        .args(["--output", "json", "config"])
        .env("THRONG_TOKEN", secret)
        .env("THRONG_ETCD", "http://127.0.0.1:2379")
        .output()
        .expect("run throng config");
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains(secret), "the token leaked: {printed}");
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(config["token"], "***");
    assert_eq!(config["environment"]["THRONG_TOKEN"], "***");
    assert_eq!(config["environment"]["THRONG_ETCD"], "http://127.0.0.1:2379");

    for shell in ["bash", "zsh", "fish"] {
        let out = throng()
            .args(["completions", shell])
            .output()
            .expect("completions");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && !script.is_empty(), "{shell}");
        for verb in ["campaign", "analytics", "scenario", "behaviour", "set-rate"] {
            assert!(script.contains(verb), "{shell} completes {verb}");
        }
    }
}

#[test]
fn unreachable_dependencies_are_clear_errors_naming_the_endpoint() {
    let etcd = format!("http://127.0.0.1:{}", free_port());
    let out = throng()
        .args([
            "agent",
            "--etcd",
            &etcd,
            "--grpc",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .output()
        .expect("run agent");
    assert!(!out.status.success());
    assert!(text(&out).contains(&etcd), "{}", text(&out));

    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let out = throng()
        .args(["--endpoint", &endpoint, "cluster", "status"])
        .output()
        .expect("run client");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot reach the coordinator"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_unreachable_clickhouse_is_a_clear_error() {
    let etcd = throng_testkit::EtcdServer::start();
    let clickhouse = format!("http://127.0.0.1:{}", free_port());
    let out = throng()
        .args([
            "agent",
            "--etcd",
            &etcd.endpoint(),
            "--grpc",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args(["--clickhouse", &clickhouse])
        .output()
        .expect("run agent");
    assert!(!out.status.success());
    assert!(text(&out).contains(&clickhouse), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_tests_diagnose_each_target_and_validation_previews_personas() {
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let closed = free_port();
    let https = throng_testkit::HttpsSite::start().await;
    let spec = write_spec(&format!(
        "name: probe\ntargets:\n  - {{ url: \"http://{demo}\" }}\n  - {{ url: \"http://127.0.0.1:{closed}\" }}\n\
         \x20 - {{ url: \"http://{demo}/nope/matomo.php\", kind: matomo, site_id: 1 }}\n\
         \x20 - {{ url: \"{site}\" }}\n  - {{ url: \"{site}\", tls: {{ ca: {ca} }} }}\n\
         personas:\n  - {{ name: buyers, weight: 3, journeys: {{ buyer: 1 }} }}\n  - {{ name: readers, weight: 1, journeys: {{ casual: 1 }} }}\n\
         load: {{ per_hour: 3600, sessions: 1000, daily_cap: 500 }}\n",
        demo = up.demo,
        site = https.url,
        ca = serde_json::to_string(&https.certificate_pem).expect("quoted")
    ));
    let path = spec.path().to_str().expect("path");
    // Each target is judged on its own: answering, refused, wrong endpoint,
    // an untrusted certificate, and the same site once its certificate is given.
    let out = up.client(&["--output", "json", "campaign", "test", "-f", path]);
    assert!(!out.status.success(), "a failing target fails the command");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["targets"][0]["ok"], true, "{report}");
    assert!(
        report["targets"][1]["diagnosis"]
            .as_str()
            .is_some_and(|d| d.contains("connection refused"))
    );
    assert!(
        report["targets"][2]["diagnosis"]
            .as_str()
            .is_some_and(|d| d.contains("404") && d.contains("matomo.php")),
        "{report}"
    );
    assert!(
        report["targets"][3]["diagnosis"]
            .as_str()
            .is_some_and(|d| d.starts_with("TLS failed") && d.contains("certificate")),
        "{report}"
    );
    assert_eq!(report["targets"][4]["ok"], true, "{report}");
    let out = up.client(&["campaign", "test", "-f", path]);
    assert!(text(&out).contains("FAIL http"), "{}", text(&out));

    let out = up.client(&["--output", "json", "campaign", "validate", "-f", path]);
    assert!(out.status.success(), "{}", text(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let plan = &answer["plan"];
    assert_eq!(plan["daily_cap"], 500);
    assert_eq!(plan["sessions_per_hour_at_peak"], 3600.0);
    assert_eq!(plan["personas"][0]["name"], "buyers");
    assert_eq!(plan["personas"][0]["sessions"], 750.0);
    assert_eq!(plan["personas"][1]["journeys"][0], "casual");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_history_shows_the_baseline_a_scenario_and_its_flags() {
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let spec = write_spec(
        "kind: streams\nname: history\nscale: 0.05\nclock: { mode: accelerated, factor: 1, from: \"2026-02-09T00:00:00Z\" }\n",
    );
    let out = up.client(&[
        "campaign",
        "apply",
        "--start",
        "-f",
        spec.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let out = up.client(&["--output", "json", "stream", "list"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list["streams"].as_array().map(Vec::len), Some(50));

    // The default window: the 30 days before the run's start, in 12 h blocks.
    let out = up.client(&["--output", "json", "stream", "history", "--stream", "session.*"]);
    assert!(out.status.success(), "{}", text(&out));
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let series = history["series"].as_array().expect("series");
    assert_eq!(series.len(), 9, "the session domain");
    assert_eq!(series[0]["counts"].as_array().map(Vec::len), Some(60));
    assert_eq!(series[0]["counts"], series[0]["baseline"], "no scenario yet");

    let out = up.client(&[
        "--output",
        "json",
        "stream",
        "stats",
        "--stream",
        "session.scheduled",
    ]);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = &stats["streams"][0]["stats"];
    let weekend = s["weekend_mean"].as_f64().unwrap_or(0.0) / s["weekday_mean"].as_f64().unwrap_or(1.0);
    assert!((1.25..=1.55).contains(&weekend), "{stats}");

    // A scenario placed inside the window bends it, and the blocks it bends are flagged.
    let out = up.client(&[
        "scenario",
        "apply",
        "support-overload",
        "--at",
        "2026-02-05T00:00:00Z",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let window = [
        "--from",
        "2026-02-02T00:00:00Z",
        "--until",
        "2026-02-09T00:00:00Z",
    ];
    let mut args = vec![
        "--output",
        "json",
        "stream",
        "history",
        "--stream",
        "support.ticket.created",
    ];
    args.extend(window);
    let out = up.client(&args);
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let tickets = &history["series"][0];
    let counts: Vec<u64> = serde_json::from_value(tickets["counts"].clone()).expect("counts");
    let baseline: Vec<u64> = serde_json::from_value(tickets["baseline"].clone()).expect("baseline");
    assert_eq!(counts[..6], baseline[..6], "before the scenario");
    // Its own tickets ×2.5; those chains bring (payments, ratings, chats) stay as they were.
    assert!(counts[6] * 10 > baseline[6] * 14, "{counts:?} vs {baseline:?}");
    assert_ne!(tickets["flags"][6], "normal", "{tickets}");

    let out = up.client(&["stream", "history", "--stream", "customer.teleported"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is not a stream"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_events_are_listed_and_show_what_they_moved() {
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let spec = write_spec(
        "kind: streams\nname: news\nscale: 0.1\nclock: { mode: accelerated, factor: 1, from: \"2026-03-09T00:00:00Z\" }\n",
    );
    let out = up.client(&[
        "campaign",
        "apply",
        "--start",
        "-f",
        spec.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let out = up.client(&["--output", "json", "event", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let events = list["events"].as_array().expect("events");
    assert!(
        (60..=150).contains(&events.len()),
        "{} events in 30 days",
        events.len()
    );
    let herrings = events.iter().filter(|e| e["real"] == false).count();
    assert!(
        herrings > 0 && herrings < events.len() / 2,
        "{herrings} red herrings"
    );

    // A real event on a busy stream: showing it finds that stream moved.
    let busy = [
        "customer.tutor.search",
        "customer.signup",
        "marketing.ad.impression",
        "customer.login",
    ];
    let (event, stream) = events
        .iter()
        .filter(|e| e["real"] == true)
        .find_map(|e| {
            let expected = e["expected_streams"].as_array()?;
            let stream = expected
                .iter()
                .filter_map(|s| s.as_str())
                .find(|s| busy.contains(s))?;
            Some((e["id"].as_str()?.to_string(), stream.to_string()))
        })
        .expect("a real event on a busy stream");
    let out = up.client(&["--output", "json", "event", "show", &event]);
    assert!(out.status.success(), "{}", text(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let movement = shown["events"][0]["movements"]
        .as_array()
        .expect("movements")
        .iter()
        .find(|m| m["stream"] == stream.as_str())
        .cloned()
        .expect("the stream's movement");
    assert_eq!(movement["moved"], true, "{event} on {stream}: {movement}");

    let out = up.client(&["event", "show", "0000000000000000"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no external event"), "{}", text(&out));

    // Injected into the past: the history of its window is regenerated with it.
    let file = write_spec("events:\n  - { template: tiktok-mention, at: \"2026-03-02T06:00:00Z\" }\n");
    let out = up.client(&[
        "--output",
        "json",
        "event",
        "inject",
        "-f",
        file.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let injected: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(injected["events"][0]["injected"], true);
    let out = up.client(&[
        "--output",
        "json",
        "event",
        "list",
        "--from",
        "2026-03-02T00:00:00Z",
        "--until",
        "2026-03-03T00:00:00Z",
    ]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        listed["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["injected"] == true && e["template"] == "tiktok-mention"),
        "{listed}"
    );
    let out = up.client(&[
        "--output",
        "json",
        "stream",
        "history",
        "--stream",
        "customer.signup",
        "--from",
        "2026-03-02T00:00:00Z",
        "--until",
        "2026-03-03T00:00:00Z",
        "--block",
        "6h",
    ]);
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let counts: Vec<u64> = serde_json::from_value(history["series"][0]["counts"].clone()).expect("counts");
    let baseline: Vec<u64> =
        serde_json::from_value(history["series"][0]["baseline"].clone()).expect("baseline");
    assert_eq!(counts[0], baseline[0], "before it");
    assert!(
        counts[1] + counts[2] > baseline[1] + baseline[2],
        "{counts:?} vs {baseline:?}"
    );

    // A scenario injects its own events; an unknown template is refused with the library.
    let out = up.client(&[
        "scenario",
        "apply",
        "payment-outage",
        "--at",
        "2026-03-03T12:00:00Z",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = up.client(&[
        "--output",
        "json",
        "event",
        "list",
        "--from",
        "2026-03-03T00:00:00Z",
        "--until",
        "2026-03-04T00:00:00Z",
    ]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        listed["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["template"] == "payment-rate-limiting" && e["injected"] == true)
    );
    let out = up.client(&["event", "inject", "--template", "alien-landing"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("tiktok-mention"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_a_backfill_shows_its_progress_to_the_end() {
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let spec = write_spec(
        "kind: streams\nname: fill\nscale: 0.02\nclock: { mode: backfill, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T12:00:00Z\" }\n",
    );
    let out = up.client(&[
        "--output",
        "json",
        "campaign",
        "apply",
        "--start",
        "-f",
        spec.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    let out = up.client(&["--output", "json", "campaign", "watch", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let last = lines.last().expect("stats lines");
    assert_eq!(last["state"], "completed", "{last}");
    assert_eq!(last["sim_until_ms"], 1_770_033_600_000i64);
    assert_eq!(
        last["sim_watermark_ms"], last["sim_until_ms"],
        "every shard reached the end"
    );
    let catalog = std::sync::Arc::new(throng_engine::streams::Catalog::builtin());
    let expected =
        throng_engine::streams::generate_all(&catalog, 0.02, 1_769_990_400_000, 1_770_033_600_000).len();
    assert_eq!(last["stream_events"], expected as u64, "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_own_catalog_runs_and_its_mistakes_are_reported_with_paths() {
    let up = Up::start(&["--no-demo"]);
    up.wait_ready().await;
    let dir = tempfile::tempdir().expect("dir");
    let catalog = "name: shop\nstreams:\n  - { name: shop.order, rate: 600, fields: { total: { uniform: [5, 90] } } }\n\
                   \x20 - { name: shop.refund }\nchains:\n  - { name: refunds, from: shop.order, outcomes: [{ stream: shop.refund, probability: 0.1, delay: { min: 1m, max: 1h } }] }\n";
    std::fs::write(dir.path().join("shop.yaml"), catalog).expect("catalog");
    let run = dir.path().join("run.yaml");
    std::fs::write(
        &run,
        "kind: streams\nname: shop\ncatalog: shop.yaml\nclock: { mode: backfill, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T06:00:00Z\" }\n",
    )
    .expect("run");
    let out = up.client(&[
        "--output",
        "json",
        "campaign",
        "apply",
        "--start",
        "-f",
        run.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = created["id"].as_str().expect("id");
    // A backfill this small may be done already: name the run.
    let out = up.client(&["--output", "json", "stream", "list", "--run", id]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = list["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["stream"].as_str())
        .collect();
    assert_eq!(names, ["shop.order", "shop.refund"]);

    std::fs::write(
        dir.path().join("shop.yaml"),
        catalog.replace("probability: 0.1", "probability: 1.7"),
    )
    .expect("catalog");
    let out = up.client(&["campaign", "validate", "-f", run.to_str().expect("path")]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("catalog.chains[0].outcomes"),
        "{}",
        text(&out)
    );
}

/// Column names of `table` in the project's DDL, with the columns later migrations add.
fn ddl_columns(table: &str) -> Vec<String> {
    let ddl = throng_testkit::clickhouse_migrations().join("\n");
    let start = ddl
        .find(&format!("CREATE TABLE IF NOT EXISTS {table} ("))
        .expect("table");
    let body = &ddl[start..];
    let body = &body[body.find('(').expect("(") + 1..body.find(") ENGINE").expect("engine")];
    let mut columns: Vec<String> = body
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|c| c.to_string())
        .collect();
    let added = format!("ALTER TABLE {table} ADD COLUMN ");
    columns.extend(
        ddl.lines()
            .filter_map(|l| l.strip_prefix(added.as_str()))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_string),
    );
    columns.sort();
    columns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throng_up_can_keep_every_row_in_files_shaped_like_the_schema() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let up = Up::start(&["--data-dir", data.to_str().expect("path")]);
    up.wait_ready().await;
    let lines = |name: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(data.join(name))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    poll_until(
        Duration::from_secs(60),
        "sessions and stream events in the files",
        || {
            let found = !lines("sessions.jsonl").is_empty() && !lines("stream_events.jsonl").is_empty();
            async move { found.then_some(()) }
        },
    )
    .await;
    up.interrupt().await;
    for (file, table) in [
        ("sessions.jsonl", "sessions"),
        ("requests.jsonl", "requests"),
        ("actions.jsonl", "actions"),
        ("stream_events.jsonl", "stream_events"),
    ] {
        let rows = lines(file);
        assert!(!rows.is_empty(), "{file}");
        let mut keys: Vec<String> = rows[0].as_object().expect("object").keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ddl_columns(table), "{file} has the columns of {table}");
        let date = rows[0]["event_date"].as_str().expect("a date");
        assert!(date.len() == 10 && date.as_bytes()[4] == b'-', "{date}");
    }
}

/// POSTs `body` to the HTTP API; the status line and body.
fn http_post(addr: &str, path: &str, body: &str) -> Option<String> {
    throng_testkit::http_request(addr, "POST", path, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_detector_judges_posted_behaviour_data() {
    let up = Up::start(&["--no-demo", "--no-streams"]);
    up.wait_ready().await;
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let human = format!("{examples}/behaviour/human.json");
    let bot = format!("{examples}/behaviour/bot.json");

    let out = up.client(&["--output", "json", "behaviour", "score", "-f", &human]);
    assert!(out.status.success(), "{}", text(&out));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(verdict["risk"], "LOW", "{verdict}");
    let out = up.client(&["behaviour", "score", "-f", &bot]);
    assert!(out.status.success(), "{}", text(&out));
    let table = text(&out);
    assert!(table.starts_with("risk HIGH"), "{table}");
    assert!(table.contains("navigator.webdriver"), "{table}");
    assert!(table.contains("ruler-straight"), "{table}");

    // The HTTP API says the same, and names what is wrong with bad data.
    let body = std::fs::read_to_string(&bot).expect("example");
    let answer = http_post(&up.http, "/api/v1/behaviour/score", &body).expect("HTTP answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"risk\":\"HIGH\""), "{answer}");
    let answer = http_post(
        &up.http,
        "/api/v1/behaviour/score",
        r#"{"mouse": [{"x": 1, "y": 2}]}"#,
    )
    .expect("HTTP answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("missing field `t`"), "{answer}");
    let out = up.client(&["behaviour", "score", "-f", "/nonexistent/behaviour.json"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("/nonexistent/behaviour.json"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_sets_rates_tests_targets_and_reads_and_bends_stream_runs() {
    let up = Up::start(&["--no-streams"]);
    up.wait_ready().await;
    let traffic = write_spec(&format!(
        "name: steady\ntarget: {{ url: \"http://{}\" }}\nload: {{ rate: 5, duration: 10m }}\n",
        up.demo
    ));
    let out = up.client(&[
        "campaign",
        "apply",
        "--start",
        "-f",
        traffic.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let campaign = String::from_utf8_lossy(&out.stdout).trim().to_string();

    // A new rate, and a body that is not one.
    let (status, body) = common::json_answer(http_post(
        &up.http,
        &format!("/api/v1/campaigns/{campaign}/rate"),
        r#"{"rate": 9}"#,
    ));
    assert_eq!(
        (status, body["id"].as_str()),
        (200, Some(campaign.as_str())),
        "{body}"
    );
    let (status, body) = common::json_answer(http_post(
        &up.http,
        &format!("/api/v1/campaigns/{campaign}/rate"),
        r#"{"speed": 9}"#,
    ));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or_default().starts_with("body:"),
        "{body}"
    );
    // The target test, with the spec as the body.
    let document = std::fs::read_to_string(traffic.path()).expect("spec");
    let (status, body) = common::json_answer(http_post(&up.http, "/api/v1/campaigns/test", &document));
    assert_eq!((status, &body["ok"]), (200, &serde_json::json!(true)), "{body}");

    // A stream run: its history and statistics for some streams, its
    // external events, an injected one, and a scenario composed at an instant.
    let run = write_spec(
        "kind: streams\nname: market\nscale: 0.05\nclock: { mode: accelerated, factor: 60, from: \"2026-02-09T00:00:00Z\" }\n",
    );
    let out = up.client(&[
        "campaign",
        "apply",
        "--start",
        "-f",
        run.path().to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let run = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (status, history) = common::json_answer(throng_testkit::http_request(
        &up.http,
        "GET",
        &format!("/api/v1/runs/{run}/history?patterns=support.*&block_seconds=86400"),
        "",
    ));
    assert_eq!(status, 200, "{history}");
    let series = history["series"].as_array().expect("series");
    assert!(!series.is_empty(), "{history}");
    assert!(
        series
            .iter()
            .all(|s| s["stream"].as_str().is_some_and(|n| n.starts_with("support."))),
        "{history}"
    );
    assert_eq!(history["block_ms"], 86_400_000, "{history}");
    let (status, stats) = common::json_answer(throng_testkit::http_request(
        &up.http,
        "GET",
        &format!("/api/v1/runs/{run}/stats?patterns=support.*"),
        "",
    ));
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        stats["streams"].as_array().map(Vec::len),
        Some(series.len()),
        "{stats}"
    );
    let (status, events) = common::json_answer(throng_testkit::http_request(
        &up.http,
        "GET",
        &format!("/api/v1/runs/{run}/external-events"),
        "",
    ));
    assert_eq!(status, 200, "{events}");
    assert!(
        !events["events"].as_array().expect("events").is_empty(),
        "30 days have events: {events}"
    );
    let (status, injected) = common::json_answer(http_post(
        &up.http,
        &format!("/api/v1/runs/{run}/events"),
        r#"{"events": [{"template": "tiktok-mention"}]}"#,
    ));
    assert_eq!(status, 200, "{injected}");
    assert_eq!(injected["events"][0]["injected"], true, "{injected}");
    let (status, refused) = common::json_answer(http_post(
        &up.http,
        &format!("/api/v1/runs/{run}/events"),
        r#"{"events": [{"template": "nope"}]}"#,
    ));
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown `nope`"),
        "{refused}"
    );
    let (status, applied) = common::json_answer(http_post(
        &up.http,
        &format!("/api/v1/runs/{run}/scenarios/payment-outage/apply?compose=true&at=2026-02-10T12:00:00Z"),
        "",
    ));
    assert_eq!(status, 200, "{applied}");
    let started = applied["runs"][0]["started_ms"]
        .as_i64()
        .expect("a scheduled run");
    assert_eq!(
        started, 1_770_724_800_000,
        "it starts at the instant asked: {applied}"
    );
}

/// The status line and headers of an answer, without waiting for a body
/// that may never end (event streams).
fn http_head(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

/// The document at /api/v1/openapi.json validates with an independent
/// validator, and every operation in it answers with a status it documents:
/// reads with real ids succeed in the documented content type; changes sent
/// invalid input or unknown ids are refused with a problem document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_validates_and_every_path_in_it_answers_as_documented() {
    let up = Up::start(&[]);
    up.wait_ready().await;
    let (status, doc) = common::json_answer(throng_testkit::http_get(&up.http, "/api/v1/openapi.json"));
    assert_eq!(status, 200);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), doc.to_string()).expect("write");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("target/openapi-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: .ci/run installs openapi-spec-validator there",
        python.display()
    );
    let out = std::process::Command::new(python)
        .arg(root.join("ops/tests/clients/validate_openapi.py"))
        .arg(file.path())
        .output()
        .expect("run the validator");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3.1.0");

    // Real ids for the reads: the demo campaign, a session of it, the demo
    // stream run, one of its scenarios and a library persona.
    let (campaign, run) = poll_until(Duration::from_secs(30), "the demo campaign and run", || async {
        let (_, list) = common::json_answer(throng_testkit::http_get(&up.http, "/api/v1/campaigns"));
        let all = list["campaigns"].as_array()?.clone();
        let id = |streams: bool| {
            all.iter()
                .find(|c| (c["spec"]["kind"] == "streams") == streams)
                .and_then(|c| c["id"].as_str().map(str::to_string))
        };
        Some((id(false)?, id(true)?))
    })
    .await;
    let session = poll_until(
        Duration::from_secs(60),
        "a session of the demo campaign",
        || async {
            let (_, page) = common::json_answer(throng_testkit::http_get(
                &up.http,
                &format!("/api/v1/campaigns/{campaign}/sessions?limit=1"),
            ));
            page["sessions"][0]["session_id"].as_str().map(str::to_string)
        },
    )
    .await;
    let (_, scenarios) = common::json_answer(throng_testkit::http_get(
        &up.http,
        &format!("/api/v1/runs/{run}/scenarios"),
    ));
    let scenario = scenarios["scenarios"][0]["id"]
        .as_str()
        .expect("a scenario")
        .to_string();
    let (status, _) = common::json_answer(throng_testkit::http_request(
        &up.http,
        "POST",
        "/api/v1/library/persona",
        "{\"name\": \"probe\", \"journeys\": {\"casual\": 1}}",
    ));
    assert_eq!(status, 200);
    let (status, behaviour) = common::json_answer(throng_testkit::http_request(
        &up.http,
        "POST",
        "/api/v1/behaviour/sessions",
        "{\"site\": \"probe\"}",
    ));
    assert_eq!(status, 200, "{behaviour}");
    let behaviour = behaviour["id"].as_str().expect("a session id").to_string();

    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(|code| code.parse().expect("a status"))
                .collect();
            let reading = method == "get";
            let fill = |name: &str| -> String {
                match (name, reading) {
                    ("id", true) if path.starts_with("/api/v1/runs") => run.clone(),
                    ("id", true) if path.starts_with("/api/v1/behaviour") => behaviour.clone(),
                    ("id", true) => campaign.clone(),
                    ("session", _) => session.clone(),
                    ("scenario", _) => scenario.clone(),
                    ("kind", _) => "persona".into(),
                    ("name", true) => "probe".into(),
                    ("file", _) => "uplot.js".into(),
                    _ => "no-such-thing".into(),
                }
            };
            let mut url = path.clone();
            for name in throng_coordinator::openapi::path_parameters(path) {
                url = url.replace(&format!("{{{name}}}"), &fill(name));
            }
            // Required query parameters, with real values.
            let required: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| match p["name"].as_str() {
                    Some("campaigns") => format!("campaigns={campaign}"),
                    other => panic!("{path}: no value for the required {other:?}"),
                })
                .collect();
            let mut query = required;
            let takes = |name: &str| {
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query" && p["name"] == name))
            };
            if reading && takes("from") && takes("until") {
                // An hour of history, not the default week: quick in a debug build.
                query.push("from=2026-02-02T00:00:00Z&until=2026-02-02T01:00:00Z".into());
            }
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            let body = if reading { "" } else { "::: {not a spec" };
            let websocket = op["responses"].get("101").is_some();
            let headers = if websocket {
                "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            } else {
                "Connection: close\r\n"
            };
            let head = http_head(&up.http, &method.to_uppercase(), &url, headers, body);
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{method} {url}: no answer"));
            assert!(
                documented.contains(&status),
                "{method} {url}: {status} is not documented ({documented:?})\n{head}"
            );
            if status >= 400 {
                assert!(
                    head.contains("content-type: application/problem+json"),
                    "{method} {url}: {head}"
                );
            } else if let Some(types) = op["responses"][status.to_string()]["content"].as_object() {
                let served = types.keys().any(|t| head.contains(&format!("content-type: {t}")));
                assert!(
                    served,
                    "{method} {url}: not of {:?}\n{head}",
                    types.keys().collect::<Vec<_>>()
                );
            }
            // Only a failed browser visit has a screenshot, and the demo's
            // sessions are HTTP ones: 404 is the answer there (the console's
            // cluster test fetches a real one).
            if reading && !path.ends_with("/screenshot") {
                assert!(status < 400, "{method} {url} with real ids: {head}");
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        throng_coordinator::routes::table().len(),
        "the served document holds every route"
    );
    // Query parameters it does not document, or of the wrong type, are named.
    for (path, named) in [
        ("/api/v1/logs?colour=red".to_string(), "colour"),
        (
            format!("/api/v1/analytics?campaigns={campaign}&resolution_ms=soon"),
            "resolution_ms",
        ),
        (format!("/api/v1/campaigns/{campaign}/clone?nmae=x"), "nmae"),
    ] {
        let method = if path.contains("/clone") { "POST" } else { "GET" };
        let (status, body) = common::json_answer(throng_testkit::http_request(&up.http, method, &path, ""));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(named)),
            "{path}: {body}"
        );
    }
}

/// Every key path of a JSON value (`agents[].telemetry.store`), values aside.
fn key_paths(value: &serde_json::Value) -> std::collections::BTreeSet<String> {
    fn walk(value: &serde_json::Value, prefix: &str, paths: &mut std::collections::BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    paths.insert(path.clone());
                    walk(inner, &path, paths);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{prefix}[]"), paths);
                }
            }
            _ => {}
        }
    }
    let mut paths = std::collections::BTreeSet::new();
    walk(value, "", &mut paths);
    paths
}
