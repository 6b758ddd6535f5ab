//! Browser sessions per minute per core, and memory per concurrent browser
//! session, with shared browsers next to one browser per session, in one
//! sitting.
//!
//! `browser_sessions [SESSIONS] [CONCURRENT]` serves a small site here, then
//! runs SESSIONS human visits (home → tutors → contact form, typed and sent),
//! CONCURRENT at a time, twice: (a) one Chromium shared by every session,
//! each in its own context; (b) a Chromium launched for each session. CPU is
//! the whole machine's busy time over the run (site, driver and browsers
//! included: run it on an otherwise idle machine); memory is the
//! proportional set size of the Playwright driver and every Chromium process,
//! sampled while the sessions run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use throng_browser::{BrowserConfig, BrowserEngine, Step, VisitPlan};
use throng_engine::behaviour::input::{HumanStyle, InputStyle};
use throng_engine::ids::{Part, rng_for};

fn page(title: &str, body: &str) -> Html<String> {
    let filler: String = (0..40)
        .map(|i| format!("<p>Paragraph {i} of {title}.</p>"))
        .collect();
    Html(format!(
        "<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>{body}{filler}</body></html>"
    ))
}

async fn site() -> String {
    let app = Router::new()
        .route("/", get(|| async { page("Home", r#"<a id="products" href="/products">Tutors</a>"#) }))
        .route("/products", get(|| async { page("Tutors", r#"<a id="contact" href="/contact">Book</a>"#) }))
        .route(
            "/contact",
            get(|| async {
                page(
                    "Contact",
                    r#"<form method="post" action="/contact"><input id="name" name="name"><button id="send">Send</button></form>"#,
                )
            })
            .post(|| async { page("Thanks", "") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}/")
}

fn plan(url: &str, seed: u64) -> VisitPlan {
    let mut rng = rng_for(&[Part::Str("bench-person"), Part::U64(seed)]);
    VisitPlan {
        url: url.to_string(),
        steps: vec![
            Step::Read { scroll_px: 600.0 },
            Step::Click {
                selector: "#products".into(),
            },
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
        ],
        style: InputStyle::Human(HumanStyle::draw(&mut rng)),
        seed,
        viewport: (1280, 800),
        device: None,
        user_agent: None,
        locale: "en-GB".into(),
        timezone: "Europe/London".into(),
        automation_visible: false,
        timeout: Duration::from_secs(20),
        attempts: 2,
    }
}

/// Busy CPU seconds of the whole machine so far.
fn machine_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    busy / 100.0
}

/// Proportional set size of the Playwright driver and every Chromium process, bytes.
fn browser_pss() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains("chromium") || cmdline.contains("playwright-core")
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("smaps_rollup")).ok())
        .filter_map(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum::<u64>()
        * 1024
}

struct Run {
    sessions: usize,
    seconds: f64,
    cpu_seconds: f64,
    peak_pss: u64,
    failed: usize,
}

async fn sample_memory(running: Arc<AtomicBool>, peak: Arc<AtomicU64>) {
    while running.load(Ordering::Relaxed) {
        peak.fetch_max(browser_pss(), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The browsers' configuration: the defaults, with `THRONG_CHROMIUM_ARGS`
/// (flags separated by spaces) added, to try flags against the same visits.
fn browser_config() -> BrowserConfig {
    let extra = std::env::var("THRONG_CHROMIUM_ARGS").unwrap_or_default();
    BrowserConfig {
        extra_args: extra.split_whitespace().map(str::to_string).collect(),
        ..BrowserConfig::default()
    }
}

async fn run(url: &str, sessions: usize, concurrent: usize, shared: bool) -> Run {
    let running = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn(sample_memory(running.clone(), peak.clone()));
    let (cpu, started) = (machine_cpu_seconds(), Instant::now());
    let engine = if shared {
        Some(Arc::new(
            BrowserEngine::launch(&browser_config()).await.expect("browser"),
        ))
    } else {
        None
    };
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrent)
        .map(|_| {
            let (engine, next, failed, url) = (engine.clone(), next.clone(), failed.clone(), url.to_string());
            tokio::spawn(async move {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= sessions as u64 {
                        return;
                    }
                    let plan = plan(&url, seed);
                    let ok = match &engine {
                        Some(engine) => engine.visit(&plan).await.is_ok(),
                        None => match BrowserEngine::launch(&browser_config()).await {
                            Ok(own) => {
                                let ok = own.visit(&plan).await.is_ok();
                                own.close().await;
                                ok
                            }
                            Err(_) => false,
                        },
                    };
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let (seconds, cpu_seconds) = (started.elapsed().as_secs_f64(), machine_cpu_seconds() - cpu);
    running.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    if let Some(engine) = engine
        && let Ok(engine) = Arc::try_unwrap(engine)
    {
        engine.close().await;
    }
    Run {
        sessions,
        seconds,
        cpu_seconds,
        peak_pss: peak.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed) as usize,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sessions: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(12);
    let concurrent: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(4);
    let url = site().await;
    let mut results = Vec::new();
    for (name, shared) in [("shared", true), ("per_session", false)] {
        let r = run(&url, sessions, concurrent, shared).await;
        let per_minute_per_core = r.sessions as f64 / (r.cpu_seconds / 60.0).max(1e-9);
        let mib_per_session = r.peak_pss as f64 / 1_048_576.0 / concurrent as f64;
        println!(
            "{{\"mode\":\"{name}\",\"sessions\":{},\"concurrent\":{concurrent},\"failed\":{},\"seconds\":{:.1},\"cpu_seconds\":{:.1},\"sessions_per_minute_per_core\":{per_minute_per_core:.1},\"peak_pss_mib\":{:.0},\"mib_per_concurrent_session\":{mib_per_session:.0}}}",
            r.sessions,
            r.failed,
            r.seconds,
            r.cpu_seconds,
            r.peak_pss as f64 / 1_048_576.0
        );
        results.push((per_minute_per_core, mib_per_session));
    }
    println!(
        "{{\"shared_over_per_session\":{{\"sessions_per_core\":{:.2},\"memory_per_session\":{:.2}}}}}",
        results[0].0 / results[1].0,
        results[0].1 / results[1].1
    );
}
