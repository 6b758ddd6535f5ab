//! The bot detector as a service on real processes: sessions created,
//! appended to and analysed over the HTTP API with results stored in etcd;
//! rules from a file, refused at start when bad, and taken again without a
//! restart when the file changes; and a site embedding the coordinator's
//! capture script, visited in real Chromium, whose visitors' behaviour
//! reaches the service.

mod common;

use std::time::Duration;

use common::{Sandbox, http_request, json_answer};
use serde_json::{Value, json};
use throng_browser::{BrowserConfig, BrowserEngine, Step, VisitPlan};
use throng_engine::behaviour::input::{HumanStyle, InputStyle, session};
use throng_engine::behaviour::signals::Device;
use throng_engine::ids::{Part, rng_for};
use throng_testkit::poll_until_explained;

fn call(http: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    json_answer(Some(http_request(http, method, path, None, body).1))
}

fn desktop() -> Device {
    Device {
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36".into(),
        platform: "Win32".into(),
        screen_width: 1920,
        screen_height: 1080,
        viewport_width: 1536,
        viewport_height: 864,
        touch_points: 0,
        webdriver: false,
        languages: vec!["en-GB".into()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_kept_and_judged_by_rules_that_change_without_a_restart() {
    let mut sandbox = Sandbox::start().await;
    let rules_dir = tempfile::tempdir().expect("dir");
    let rules_file = rules_dir.path().join("rules.yaml");

    // A bad rules file stops the coordinator at start, naming each problem.
    std::fs::write(
        &rules_file,
        "risk: { low_below: 0.9, high_from: 0.5 }\nweights: { eyes: 1 }\n",
    )
    .expect("write");
    let out = std::process::Command::new(common::throng_bin())
        .args([
            "coordinator",
            "--etcd",
            &sandbox.etcd.endpoint(),
            "--grpc",
            "127.0.0.1:0",
        ])
        .args(["--behaviour-rules", rules_file.to_str().expect("path")])
        .output()
        .expect("run a coordinator");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    for problem in [
        "risk.high_from: must be above risk.low_below (0.9)",
        "weights.eyes: unknown field",
    ] {
        assert!(said.contains(problem), "{problem}: {said}");
    }
    // An agent given the same bad file (its browsers judge visits by it) too.
    let out = std::process::Command::new(common::throng_bin())
        .args([
            "agent",
            "--etcd",
            &sandbox.etcd.endpoint(),
            "--grpc",
            "127.0.0.1:0",
        ])
        .env("THRONG_BEHAVIOUR_RULES", &rules_file)
        .output()
        .expect("run an agent");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("weights.eyes: unknown field"), "{said}");

    std::fs::write(&rules_file, "risk: { low_below: 0.35, high_from: 0.7 }\n").expect("write");
    let http = sandbox.spawn_coordinator_with(
        "coordinator-1",
        &["--behaviour-rules", rules_file.to_str().expect("path")],
    );
    let _ = sandbox.leader_client(0).await;
    let (status, rules) = call(&http, "GET", "/api/v1/behaviour/rules", "");
    assert_eq!(status, 200);
    assert_eq!(rules["version"], 1, "{rules}");
    assert_eq!(rules["source"], rules_file.to_str().expect("path"), "{rules}");

    // A session: made, refused bad data whole, then given a person's
    // behaviour in two parts.
    let (status, created) = call(
        &http,
        "POST",
        "/api/v1/behaviour/sessions",
        r#"{"site": "shop.example"}"#,
    );
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().expect("an id").to_string();
    assert!(id.starts_with("bs-") && id.len() == 35, "{id}");
    // A client may name its session (a page does, before the answer comes);
    // naming it again answers it as it is, and a bad name is refused.
    let named = "bs-0123456789abcdef0123456789abcdef";
    let body = format!(r#"{{"site": "page", "id": "{named}"}}"#);
    let (_, first) = call(&http, "POST", "/api/v1/behaviour/sessions", &body);
    let (_, again) = call(&http, "POST", "/api/v1/behaviour/sessions", &body);
    assert_eq!(
        (first["id"].as_str(), &first),
        (Some(named), &again),
        "the same session"
    );
    let (status, refused) = call(
        &http,
        "POST",
        "/api/v1/behaviour/sessions",
        r#"{"id": "bs-mine"}"#,
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["path"], "id", "{refused}");
    call(
        &http,
        "DELETE",
        &format!("/api/v1/behaviour/sessions/{named}"),
        "",
    );
    let (status, refused) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{id}/data"),
        r#"{"mouse": [{"t": -1, "x": 1, "y": 2}], "keys": [{"t": "soon", "key": "a", "type": "down"}]}"#,
    );
    assert_eq!(status, 400, "{refused}");
    let (status, refused) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{id}/data"),
        r#"{"mouse": [{"t": -1, "x": 1, "y": 2}], "scrolls": [{"t": -3, "dy": 2}]}"#,
    );
    assert_eq!(status, 400, "{refused}");
    let paths: Vec<&str> = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, vec!["mouse[0].t", "scrolls[0].t"], "{refused}");
    let (_, empty) = call(&http, "GET", &format!("/api/v1/behaviour/sessions/{id}"), "");
    assert_eq!(
        empty["counts"]["total"], 0,
        "nothing kept of a refused append: {empty}"
    );

    let mut rng = rng_for(&[Part::Str("service-person")]);
    let person = session(
        &InputStyle::Human(HumanStyle::draw(&mut rng)),
        desktop(),
        3,
        &mut rng,
    );
    let half = person.mouse.len() / 2;
    let first = json!({"mouse": &person.mouse[..half], "scrolls": person.scrolls});
    let second = json!({"mouse": &person.mouse[half..], "keys": person.keys, "focus": person.focus,
        "device": person.device, "duration_ms": person.duration_ms});
    let (status, appended) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{id}/data"),
        &first.to_string(),
    );
    assert_eq!(status, 200, "{appended}");
    assert_eq!(appended["ready"], false, "no device yet: {appended}");
    let (_, readiness) = call(
        &http,
        "GET",
        &format!("/api/v1/behaviour/sessions/{id}/ready"),
        "",
    );
    assert!(
        readiness["missing"].as_array().is_some_and(|m| m
            .iter()
            .any(|m| m.as_str().is_some_and(|m| m.starts_with("the device")))),
        "{readiness}"
    );
    let (_, appended) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{id}/data"),
        &second.to_string(),
    );
    assert_eq!(appended["ready"], true, "{appended}");
    let total = person.mouse.len() + person.keys.len() + person.scrolls.len() + person.focus.len();
    assert_eq!(appended["counts"]["total"], total, "{appended}");

    let (status, analysis) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{id}/analyse"),
        "",
    );
    assert_eq!(status, 200, "{analysis}");
    assert_eq!(analysis["risk"], "LOW", "{analysis}");
    assert!(
        analysis["processing_time_ms"]
            .as_f64()
            .is_some_and(|ms| ms >= 0.0),
        "{analysis}"
    );
    assert_eq!(analysis["counts"]["keys"], person.keys.len(), "{analysis}");
    let (_, stored) = call(&http, "GET", &format!("/api/v1/behaviour/sessions/{id}"), "");
    assert_eq!(stored["result"]["score"], analysis["score"], "stored: {stored}");
    assert_eq!(stored["appends"], 2, "{stored}");
    assert_eq!(stored["site"], "shop.example", "{stored}");

    // A bot's session, HIGH by these rules; the rules change under the
    // running coordinator and the same data is judged by the new ones.
    let (_, bot) = call(&http, "POST", "/api/v1/behaviour/sessions", "");
    let bot = bot["id"].as_str().expect("an id").to_string();
    let robotic = session(&InputStyle::Robotic, desktop(), 3, &mut rng);
    call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{bot}/data"),
        &serde_json::to_string(&robotic).expect("json"),
    );
    let (_, judged) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{bot}/analyse"),
        "",
    );
    assert_eq!(judged["risk"], "HIGH", "{judged}");
    let score = judged["score"].as_f64().expect("a score");
    std::fs::write(
        &rules_file,
        format!(
            "risk: {{ low_below: 0.35, high_from: {:.3} }}\n",
            (score + 1.0) / 2.0
        ),
    )
    .expect("write");
    poll_until_explained(
        Duration::from_secs(20),
        "the changed rules taken",
        || async { (call(&http, "GET", "/api/v1/behaviour/rules", "").1["version"] == 2).then_some(()) },
        || sandbox.log("coordinator-1"),
    )
    .await;
    let (_, judged) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{bot}/analyse"),
        "",
    );
    assert_eq!(judged["risk"], "MEDIUM", "{judged}");

    // A bad change is refused: the rules in force stay, the problem shows.
    std::fs::write(&rules_file, "decisive: { probability: 7 }\n").expect("write");
    let rules = poll_until_explained(
        Duration::from_secs(20),
        "the bad change refused",
        || async {
            let (_, rules) = call(&http, "GET", "/api/v1/behaviour/rules", "");
            (rules["rejected"].as_array().is_some_and(|r| !r.is_empty())).then_some(rules)
        },
        || sandbox.log("coordinator-1"),
    )
    .await;
    assert_eq!(rules["version"], 2, "{rules}");
    assert!(
        rules["rejected"][0]
            .as_str()
            .is_some_and(|r| r.starts_with("decisive.probability")),
        "{rules}"
    );
    let (_, judged) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{bot}/analyse"),
        "",
    );
    assert_eq!(
        judged["risk"], "MEDIUM",
        "still judged by the rules in force: {judged}"
    );

    // Listed newest first, then gone once deleted.
    let (_, listed) = call(&http, "GET", "/api/v1/behaviour/sessions", "");
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, vec![bot.as_str(), id.as_str()], "{listed}");
    assert_eq!(listed["sessions"][0]["result"]["risk"], "MEDIUM", "{listed}");
    let (status, _) = call(&http, "DELETE", &format!("/api/v1/behaviour/sessions/{id}"), "");
    assert_eq!(status, 200);
    let (status, _) = call(&http, "GET", &format!("/api/v1/behaviour/sessions/{id}"), "");
    assert_eq!(status, 404);
}

/// A page of the test site: it embeds the coordinator's capture script,
/// labelled so the session can be found.
fn page(coordinator: &str, label: &str, title: &str, body: &str) -> axum::response::Html<String> {
    let filler: String = (0..30)
        .map(|i| format!("<p>Paragraph {i} of {title}.</p>"))
        .collect();
    axum::response::Html(format!(
        "<!doctype html><html><head><title>{title}</title>\
         <script src=\"http://{coordinator}/behaviour/capture.js\" data-site=\"{label}\"></script></head>\
         <body><h1>{title}</h1>{body}{filler}</body></html>"
    ))
}

#[derive(serde::Deserialize)]
struct Label {
    label: String,
}

async fn site(coordinator: String, listener: tokio::net::TcpListener) {
    use axum::extract::Query;
    use axum::routing::get;
    let home = coordinator.clone();
    let tutors = coordinator.clone();
    let app = axum::Router::new()
        .route(
            "/",
            get(move |Query(q): Query<Label>| {
                let link = format!(r#"<a id="tutors" href="/tutors?label={}">Tutors</a>"#, q.label);
                async move { page(&home, &q.label, "Home", &link) }
            }),
        )
        .route(
            "/tutors",
            get(move |Query(q): Query<Label>| {
                let form = r#"<form><input id="name" name="name"></form>"#;
                async move { page(&tutors, &q.label, "Tutors", form) }
            }),
        );
    let _ = axum::serve(listener, app).await;
}

fn visit(url: String, style: InputStyle, automation_visible: bool, seed: u64) -> VisitPlan {
    VisitPlan {
        url,
        steps: vec![
            Step::Read { scroll_px: 900.0 },
            Step::Click {
                selector: "#tutors".into(),
            },
            Step::Read { scroll_px: 600.0 },
            Step::Type {
                selector: "#name".into(),
                text: "ada lovelace".into(),
            },
        ],
        style,
        seed,
        viewport: (1280, 800),
        device: None,
        user_agent: None,
        locale: "en-GB".into(),
        timezone: "Europe/London".into(),
        automation_visible,
        timeout: Duration::from_secs(20),
        attempts: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_embedding_the_capture_script_sends_its_visitors_behaviour_to_the_service() {
    let mut sandbox = Sandbox::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let site_address = listener.local_addr().expect("address");
    let origin = format!("http://{site_address}");
    let http = sandbox.spawn_coordinator_with("coordinator-1", &["--cors-origin", &origin]);
    let _ = sandbox.leader_client(0).await;
    tokio::spawn(site(http.clone(), listener));

    // The script is served to anyone, as JavaScript.
    let (status, script) = http_request(&http, "GET", "/behaviour/capture.js", None, "");
    assert_eq!(status, 200);
    assert!(script.contains("content-type: text/javascript"), "{script}");
    assert!(script.contains("__throngBehaviour"), "the sender is in it");

    let engine = BrowserEngine::launch(&BrowserConfig::default())
        .await
        .expect("Chromium");
    let mut rng = rng_for(&[Part::Str("capture-person")]);
    for (label, style, visible) in [
        ("person", InputStyle::Human(HumanStyle::draw(&mut rng)), false),
        ("bot", InputStyle::Robotic, true),
    ] {
        let url = format!("{origin}/?label={label}");
        let outcome = engine
            .visit(&visit(url, style, visible, 7))
            .await
            .expect("the visit");
        assert_eq!(outcome.pages.len(), 2, "two pages");
    }
    engine.close().await;

    // Each visitor's session is there, named by its page, holding about
    // what the browser recorded; analysed, the person is not judged HIGH
    // and the bot is.
    let (_, listed) = call(&http, "GET", "/api/v1/behaviour/sessions", "");
    let id_of = |label: &str| {
        listed["sessions"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["site"] == label))
            .and_then(|s| s["id"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no session of {label}: {listed}"))
    };
    let (person, bot) = (id_of("person"), id_of("bot"));
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(2),
        "one session a visitor, across pages: {listed}"
    );
    let (_, held) = call(&http, "GET", &format!("/api/v1/behaviour/sessions/{person}"), "");
    assert!(held["counts"]["mouse"].as_u64().is_some_and(|n| n > 20), "{held}");
    assert!(
        held["counts"]["keys"].as_u64().is_some_and(|n| n >= 24),
        "12 letters down and up: {held}"
    );
    assert!(
        held["counts"]["scrolls"].as_u64().is_some_and(|n| n > 0),
        "{held}"
    );
    assert!(
        held["appends"].as_u64().is_some_and(|n| n >= 2),
        "sent from both pages: {held}"
    );
    let (_, person) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{person}/analyse"),
        "",
    );
    let (_, bot) = call(
        &http,
        "POST",
        &format!("/api/v1/behaviour/sessions/{bot}/analyse"),
        "",
    );
    assert_eq!(bot["risk"], "HIGH", "{bot}");
    assert_ne!(person["risk"], "HIGH", "{person}");
    assert!(
        person["score"].as_f64() < bot["score"].as_f64(),
        "{person}\n{bot}"
    );
    assert!(
        bot["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains("webdriver")))),
        "{bot}"
    );
}
