//! Real Chromium through Playwright against a site served by the test:
//! people and bots walk to a form and submit it, the site's own log shows
//! the navigations and the form, Web Vitals are measured, and the detector
//! judges the people LOW and the bots HIGH from what the pages saw.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::Html;
use axum::routing::get;
use throng_browser::{BrowserConfig, BrowserEngine, BrowserError, Step, VisitPlan};
use throng_engine::behaviour::input::{HumanStyle, InputStyle};
use throng_engine::behaviour::score::Risk;
use throng_engine::ids::{Part, rng_for};

type Log = Arc<Mutex<Vec<String>>>;

fn page(title: &str, body: &str) -> Html<String> {
    let filler: String = (0..40)
        .map(|i| format!("<p>Paragraph {i} of {title}: tutoring that fits around your week.</p>"))
        .collect();
    Html(format!(
        "<!doctype html><html><head><title>{title}</title></head><body>\
         <h1>{title}</h1>{body}{filler}</body></html>"
    ))
}

async fn record(State(log): State<Log>, method: Method, uri: Uri, body: String) -> Html<String> {
    let line = if body.is_empty() {
        format!("{method} {}", uri.path())
    } else {
        format!("{method} {} {body}", uri.path())
    };
    log.lock().expect("log").push(line);
    match uri.path() {
        "/" => page(
            "Home",
            r#"<p><a id="products" href="/products">Our tutors</a></p>"#,
        ),
        "/products" => page(
            "Tutors",
            r#"<p><a id="contact" href="/contact">Book a lesson</a></p>"#,
        ),
        "/contact" if method == Method::POST => page("Thanks", "<p>We will call you.</p>"),
        "/dialogs" => page(
            "Dialogs",
            r#"<script>alert("Welcome!"); confirm("Stay?");</script>
               <p><a id="file" href="/file.csv" download>Price list</a></p>
               <p><a id="products" href="/products">Our tutors</a></p>"#,
        ),
        "/contact" => page(
            "Contact",
            r#"<form method="post" action="/contact"><input id="name" name="name" size="30">
               <button id="send" type="submit">Send</button></form>"#,
        ),
        _ => page("Missing", ""),
    }
}

async fn site() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/", get(record))
        .route("/products", get(record))
        .route("/contact", get(record).post(record))
        .route("/dialogs", get(record))
        .route("/file.csv", get(|| async { "tutor,price\nada,40\n" }))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}"), log)
}

fn plan(url: &str, style: InputStyle, seed: u64, automation_visible: bool) -> VisitPlan {
    let mut steps = plan_steps();
    if let InputStyle::Human(_) = style {
        // People glance at another tab now and then.
        steps.insert(1, Step::LookAway { ms: 1_200.0 });
    }
    VisitPlan {
        url: format!("{url}/"),
        steps,
        style,
        seed,
        viewport: (1280, 800),
        device: None,
        user_agent: None,
        locale: "en-GB".into(),
        timezone: "Europe/London".into(),
        automation_visible,
        timeout: Duration::from_secs(15),
        attempts: 2,
    }
}

fn plan_steps() -> Vec<Step> {
    vec![
        Step::Read { scroll_px: 900.0 },
        Step::Click {
            selector: "#products".into(),
        },
        Step::Read { scroll_px: 600.0 },
        Step::Click {
            selector: "#contact".into(),
        },
        Step::Type {
            selector: "#name".into(),
            text: "ada lovelace".into(),
        },
        Step::Click {
            selector: "#send".into(),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_bots_walk_to_the_form_and_are_told_apart() {
    let (url, log) = site().await;
    let engine = BrowserEngine::launch(&BrowserConfig::default())
        .await
        .expect("Chromium and the Playwright driver (run .ci/run to install them)");

    for seed in 0..2u64 {
        let mut rng = rng_for(&[Part::Str("person"), Part::U64(seed)]);
        let human = InputStyle::Human(HumanStyle::draw(&mut rng));
        let outcome = engine
            .visit(&plan(&url, human, seed, false))
            .await
            .expect("human visit");
        assert_eq!(
            outcome.verdict.risk,
            Risk::Low,
            "a person: {:#?}",
            outcome.verdict
        );
        assert!(
            !outcome.behaviour.device.webdriver,
            "people's browsers hide the flag"
        );
        // The tab switch reached the page as a real blur, then focus.
        let focus: Vec<String> = outcome
            .behaviour
            .focus
            .iter()
            .map(|f| format!("{:?}", f.kind))
            .collect();
        assert_eq!(focus, ["Blur", "Focus"], "{:?}", outcome.behaviour.focus);
        assert!(
            outcome.behaviour.scrolls.len() > 5,
            "{:?}",
            outcome.behaviour.scrolls.len()
        );
        // Every page was measured: home, tutors, contact, thanks.
        assert_eq!(outcome.pages.len(), 4, "{:#?}", outcome.pages);
        assert!(
            outcome.pages.iter().all(|p| p.ttfb_ms > 0.0 && p.load_ms > 0.0),
            "{:#?}",
            outcome.pages
        );
        assert!(outcome.pages[0].lcp_ms > 0.0, "{:#?}", outcome.pages[0]);
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    }
    for (seed, visible) in [(10u64, true), (11, false)] {
        let outcome = engine
            .visit(&plan(&url, InputStyle::Robotic, seed, visible))
            .await
            .expect("bot visit");
        assert_eq!(outcome.verdict.risk, Risk::High, "a bot: {:#?}", outcome.verdict);
        assert_eq!(outcome.behaviour.device.webdriver, visible);
    }

    let log = log.lock().expect("log").clone();
    let forms: Vec<&String> = log.iter().filter(|l| l.starts_with("POST /contact")).collect();
    assert_eq!(forms.len(), 4, "{log:#?}");
    assert!(
        forms.iter().all(|f| f.ends_with("name=ada+lovelace")),
        "typos corrected: {forms:?}"
    );
    for path in ["GET /", "GET /products", "GET /contact"] {
        assert_eq!(log.iter().filter(|l| *l == path).count(), 4, "{path}: {log:#?}");
    }
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_element_or_browser_is_a_clear_error() {
    let missing = BrowserEngine::launch(&BrowserConfig {
        executable: "/nonexistent/chromium".into(),
        ..BrowserConfig::default()
    })
    .await;
    match missing {
        Err(BrowserError::NoChromium { path }) => assert_eq!(path, "/nonexistent/chromium"),
        other => panic!("expected NoChromium, got {:?}", other.err()),
    }

    let (url, _) = site().await;
    let shots = tempfile::tempdir().expect("screenshot dir");
    let engine = BrowserEngine::launch(&BrowserConfig {
        screenshots: Some(shots.path().to_path_buf()),
        ..BrowserConfig::default()
    })
    .await
    .expect("Chromium and the Playwright driver");
    let mut plan = plan(&url, InputStyle::Robotic, 1, true);
    plan.steps = vec![Step::Click {
        selector: "#nowhere".into(),
    }];
    let error = engine.visit(&plan).await.expect_err("no such element");
    let text = error.to_string();
    assert!(text.contains("#nowhere"), "{text}");
    // The page as it was when the step failed, kept on disk.
    let Err(BrowserError::Visit {
        screenshot: Some(path),
        ..
    }) = engine.visit(&plan).await
    else {
        panic!("expected a failed visit with a screenshot: {text}");
    };
    let png = std::fs::read(&path).expect("screenshot file");
    assert_eq!(&png[1..4], b"PNG", "{}", path.display());
    assert!(text.contains(&path.display().to_string()), "{text}");
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_chromium_is_replaced_and_its_visit_runs_again() {
    let (url, log) = site().await;
    let marker = format!("--throng-test-engine={}", std::process::id());
    let engine = BrowserEngine::launch(&BrowserConfig {
        extra_args: vec![marker.clone()],
        ..BrowserConfig::default()
    })
    .await
    .expect("Chromium and the Playwright driver");
    let mut rng = rng_for(&[Part::Str("person"), Part::U64(7)]);
    let human = InputStyle::Human(HumanStyle::draw(&mut rng));
    let plan = plan(&url, human, 7, false);
    let visit = engine.visit(&plan);
    let kill = async {
        // Once the visit is under way, its browser dies.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !log.lock().expect("log").iter().any(|l| l == "GET /") {
            assert!(std::time::Instant::now() < deadline, "the visit never started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let status = std::process::Command::new("pkill")
            .args(["-9", "-f", "--", &marker])
            .status()
            .expect("pkill");
        assert!(status.success(), "no Chromium with {marker} to kill");
    };
    let (outcome, ()) = tokio::join!(visit, kill);
    let outcome = outcome.expect("the visit ran again on a new browser");
    assert_eq!(outcome.attempts, 2);
    assert_eq!(engine.replaced(), 1);
    assert_eq!(outcome.verdict.risk, Risk::Low, "{:#?}", outcome.verdict);
    // The engine stays healthy: the next visit needs no retry.
    let next = engine.visit(&plan).await.expect("next visit");
    assert_eq!(next.attempts, 1);
    let posts = log
        .lock()
        .expect("log")
        .iter()
        .filter(|l| l.starts_with("POST /contact"))
        .count();
    assert_eq!(
        posts, 2,
        "the killed attempt never sent the form; the two full visits did"
    );
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_chromium_is_replaced_and_its_visit_runs_again() {
    let (url, log) = site().await;
    let marker = format!("--throng-test-hang={}", std::process::id());
    let engine = BrowserEngine::launch(&BrowserConfig {
        extra_args: vec![marker.clone()],
        ..BrowserConfig::default()
    })
    .await
    .expect("Chromium and the Playwright driver");
    let mut plan = plan(&url, InputStyle::Robotic, 9, true);
    plan.steps.truncate(3);
    plan.timeout = Duration::from_secs(4);
    let pids = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", "--", &marker])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let visit = engine.visit(&plan);
    let freeze = async {
        // Once the visit is under way, its browser stops answering.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !log.lock().expect("log").iter().any(|l| l == "GET /") {
            assert!(std::time::Instant::now() < deadline, "the visit never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let frozen = pids();
        let status = std::process::Command::new("kill")
            .arg("-STOP")
            .args(&frozen)
            .status()
            .expect("kill -STOP");
        assert!(status.success(), "no Chromium with {marker} to freeze");
        frozen
    };
    let (outcome, frozen) = tokio::join!(visit, freeze);
    // Whatever the engine did with the frozen process, none is left stopped.
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .args(&frozen)
        .status();
    let outcome = outcome.expect("the visit ran again on a new browser");
    assert_eq!(outcome.attempts, 2);
    assert_eq!(engine.replaced(), 1);
    let next = engine.visit(&plan).await.expect("the engine is healthy");
    assert_eq!(next.attempts, 1);
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialogs_and_downloads_do_not_stop_a_visit() {
    let (url, log) = site().await;
    let engine = BrowserEngine::launch(&BrowserConfig::default())
        .await
        .expect("Chromium and the Playwright driver");
    let mut plan = plan(&url, InputStyle::Robotic, 3, true);
    plan.url = format!("{url}/dialogs");
    plan.steps = vec![
        Step::Click {
            selector: "#file".into(),
        },
        Step::Click {
            selector: "#products".into(),
        },
    ];
    plan.timeout = Duration::from_secs(10);
    let outcome = engine
        .visit(&plan)
        .await
        .expect("a visit past an alert, a confirm and a download");
    assert_eq!(
        outcome.pages.last().map(|p| p.url.ends_with("/products")),
        Some(true),
        "{:#?}",
        outcome.pages
    );
    assert!(log.lock().expect("log").iter().any(|l| l == "GET /products"));
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_are_judged_by_the_rules_file_in_force_as_it_changes() {
    let (url, _) = site().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("rules.yaml");
    // Lenient rules: nothing is HIGH below a score of 0.999.
    std::fs::write(&file, "risk: { low_below: 0.35, high_from: 0.999 }\n").expect("write");
    let rules = throng_engine::behaviour::rules_file::BehaviourRules::from_file(&file).expect("rules");
    let engine = BrowserEngine::launch(&BrowserConfig {
        rules: rules.clone(),
        ..BrowserConfig::default()
    })
    .await
    .expect("Chromium and the Playwright driver");
    let bot = plan(&url, InputStyle::Robotic, 5, true);
    let lenient = engine.visit(&bot).await.expect("a visit").verdict;
    assert_eq!(lenient.risk, Risk::Medium, "{:?}", lenient.reasons);
    // The file changes; the next visit is judged by the new rules.
    std::fs::write(&file, "risk: { low_below: 0.35, high_from: 0.7 }\n").expect("write");
    rules.reload();
    let strict = engine.visit(&bot).await.expect("a visit").verdict;
    assert_eq!(strict.risk, Risk::High, "{:?}", strict.reasons);
    engine.close().await;
}
