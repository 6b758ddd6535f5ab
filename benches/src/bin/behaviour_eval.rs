//! How well the bot-detection service tells people from bots, measured the
//! way a site would meet them: real Chromium visits to a site that embeds
//! the coordinator's capture script, the behaviour sent to the service's
//! sessions as it happens, each session analysed by the service.
//!
//! `behaviour_eval [PER_KIND] [CONCURRENT]`: a real etcd and a coordinator
//! in this process, a small site served here (home → tutors → a form), and
//! PER_KIND visits of each kind, CONCURRENT at a time:
//! - `person`: human input (curved paths timed by Fitts's law, personal
//!   typing rhythm with typos, wheel bursts, reading pauses);
//! - `bot`: robotic input with the automation flag showing;
//! - `bot-hidden`: robotic input, the flag hidden;
//! - `evasive`: a bot posing as a person (curved paths at an even pace,
//!   jittered but narrow key timing, even wheel steps), the flag hidden.
//!
//! Prints, as JSON lines, each kind's risk levels, then precision and
//! recall of "HIGH means bot", "LOW means person" and "not LOW means bot",
//! and the service's processing time per analysis.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;
use throng_browser::{BrowserConfig, BrowserEngine, Step, VisitPlan};
use throng_coordinator::{Coordinator, CoordinatorConfig};
use throng_engine::behaviour::input::{HumanStyle, InputStyle};
use throng_engine::ids::{Part, rng_for};
use throng_state::{EtcdStore, StateStore};
use throng_testkit::EtcdServer;

const KINDS: [&str; 4] = ["person", "bot", "bot-hidden", "evasive"];

fn page(coordinator: &str, label: &str, title: &str, body: &str) -> Html<String> {
    let filler: String = (0..30)
        .map(|i| format!("<p>Paragraph {i} of {title}.</p>"))
        .collect();
    Html(format!(
        "<!doctype html><html><head><title>{title}</title>\
         <script src=\"{coordinator}/behaviour/capture.js\" data-site=\"{label}\"></script></head>\
         <body><h1>{title}</h1>{body}{filler}</body></html>"
    ))
}

/// The site; answers its origin.
async fn site(coordinator: String) -> String {
    let (home, tutors) = (coordinator.clone(), coordinator);
    let app = axum::Router::new()
        .route(
            "/",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let label = q.get("label").cloned().unwrap_or_default();
                let link = format!(r#"<a id="tutors" href="/tutors?label={label}">Tutors</a>"#);
                async move { page(&home, &label, "Home", &link) }
            }),
        )
        .route(
            "/tutors",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let label = q.get("label").cloned().unwrap_or_default();
                let form = r#"<form><input id="name" name="name"></form>"#;
                async move { page(&tutors, &label, "Tutors", form) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

fn plan(origin: &str, kind: &str, n: u64) -> VisitPlan {
    let mut rng = rng_for(&[Part::Str("behaviour-eval"), Part::Str(kind), Part::U64(n)]);
    let (style, automation_visible) = match kind {
        "person" => (InputStyle::Human(HumanStyle::draw(&mut rng)), false),
        "bot" => (InputStyle::Robotic, true),
        "bot-hidden" => (InputStyle::Robotic, false),
        _ => (InputStyle::Evasive, false),
    };
    VisitPlan {
        url: format!("{origin}/?label={kind}-{n}"),
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
        seed: n,
        viewport: (1280, 800),
        device: None,
        user_agent: None,
        locale: "en-GB".into(),
        timezone: "Europe/London".into(),
        automation_visible,
        timeout: Duration::from_secs(30),
        attempts: 2,
    }
}

/// One HTTP call to the coordinator (`host:port`): its JSON answer.
fn call(http: &str, method: &str, path: &str) -> serde_json::Value {
    let mut stream = std::net::TcpStream::connect(http).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {http}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {answer}"))
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let per_kind: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let concurrent: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);

    let etcd = EtcdServer::start();
    let store: Arc<dyn StateStore> = Arc::new(EtcdStore::connect(&[etcd.endpoint()]).await.expect("etcd"));
    let mut config = CoordinatorConfig::new("coordinator-1", SocketAddr::from(([127, 0, 0, 1], 0)));
    config.http_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.browser.cors_origins = vec!["*".into()];
    let coordinator = Coordinator::start(config, store).await.expect("coordinator");
    let base = coordinator
        .http_address()
        .expect("HTTP API")
        .trim_end_matches('/')
        .to_string();
    let http = base.trim_start_matches("http://").to_string();
    let origin = site(base).await;

    let engine = Arc::new(
        BrowserEngine::launch(&BrowserConfig {
            browsers: concurrent.max(1),
            ..BrowserConfig::default()
        })
        .await
        .expect("Chromium"),
    );
    let visits: Vec<(String, u64)> = (0..per_kind)
        .flat_map(|n| KINDS.iter().map(move |kind| (kind.to_string(), n)))
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(visits.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..concurrent.max(1) {
        let (queue, engine, origin) = (queue.clone(), engine.clone(), origin.clone());
        workers.push(tokio::spawn(async move {
            let mut failed = 0;
            loop {
                let next = queue.lock().expect("queue").next();
                let Some((kind, n)) = next else { break };
                if let Err(error) = engine.visit(&plan(&origin, &kind, n)).await {
                    eprintln!("{kind}-{n}: {error}");
                    failed += 1;
                }
            }
            failed
        }));
    }
    let mut failed = 0;
    for worker in workers {
        failed += worker.await.expect("worker");
    }

    // Every session the site's visitors opened, analysed by the service.
    let listed = call(&http, "GET", "/api/v1/behaviour/sessions");
    let mut risks: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut times = Vec::new();
    let mut judged = Vec::new();
    for session in listed["sessions"].as_array().into_iter().flatten() {
        let (Some(id), Some(site)) = (session["id"].as_str(), session["site"].as_str()) else {
            continue;
        };
        let Some(kind) = KINDS
            .iter()
            .find(|k| site.rsplit_once('-').is_some_and(|(prefix, _)| prefix == **k))
        else {
            continue;
        };
        let analysis = call(&http, "POST", &format!("/api/v1/behaviour/sessions/{id}/analyse"));
        let risk = analysis["risk"].as_str().unwrap_or("?").to_string();
        times.push(analysis["processing_time_ms"].as_f64().unwrap_or(0.0));
        *risks.entry(kind).or_default().entry(risk.clone()).or_default() += 1;
        judged.push((*kind, risk));
    }
    for kind in KINDS {
        let counts = risks.get(kind).cloned().unwrap_or_default();
        println!(
            "{{\"kind\":\"{kind}\",\"sessions\":{},\"LOW\":{},\"MEDIUM\":{},\"HIGH\":{}}}",
            counts.values().sum::<usize>(),
            counts.get("LOW").unwrap_or(&0),
            counts.get("MEDIUM").unwrap_or(&0),
            counts.get("HIGH").unwrap_or(&0)
        );
    }
    let is_bot = |kind: &str| kind != "person";
    let rule = |name: &str, says_bot: &dyn Fn(&str) -> bool, about_bots: bool| {
        let flagged: Vec<&(&str, String)> = judged
            .iter()
            .filter(|(_, risk)| says_bot(risk) == about_bots)
            .collect();
        let right = flagged
            .iter()
            .filter(|(kind, _)| is_bot(kind) == about_bots)
            .count();
        let relevant = judged
            .iter()
            .filter(|(kind, _)| is_bot(kind) == about_bots)
            .count();
        println!(
            "{{\"rule\":\"{name}\",\"precision\":{:.3},\"recall\":{:.3},\"flagged\":{},\"relevant\":{relevant}}}",
            ratio(right, flagged.len()),
            ratio(right, relevant),
            flagged.len()
        );
    };
    rule("HIGH means bot", &|risk| risk == "HIGH", true);
    rule("LOW means person", &|risk| risk != "LOW", false);
    rule("not LOW means bot", &|risk| risk != "LOW", true);
    for kind in ["bot", "bot-hidden", "evasive"] {
        let of_kind: Vec<&(&str, String)> = judged.iter().filter(|(k, _)| *k == kind).collect();
        let high = of_kind.iter().filter(|(_, risk)| risk == "HIGH").count();
        let not_low = of_kind.iter().filter(|(_, risk)| risk != "LOW").count();
        println!(
            "{{\"bots\":\"{kind}\",\"recall_high\":{:.3},\"recall_not_low\":{:.3}}}",
            ratio(high, of_kind.len()),
            ratio(not_low, of_kind.len())
        );
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        times
            .get(((times.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{{\"analyses\":{},\"failed_visits\":{failed},\"processing_ms_p50\":{:.3},\"processing_ms_p99\":{:.3}}}",
        times.len(),
        at(0.5),
        at(0.99)
    );
    if let Ok(engine) = Arc::try_unwrap(engine) {
        engine.close().await;
    }
    drop(coordinator);
}
