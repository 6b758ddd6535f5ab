//! Memory per idle concurrent visitor: starts N session tasks (as a shard
//! does), each loading one page and then thinking for a long time, and prints
//! the process's resident memory per visitor once all of them are idle.
//! `idle_visitors BASE_URL VISITORS [THINK_SECONDS] [SPREAD_SECONDS] [pooled|per_visitor]`:
//! arrivals are spread evenly over SPREAD_SECONDS (0: all at once); with
//! `per_visitor`, each visitor keeps its own keep-alive connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use throng_engine::campaign::session::{SessionContext, SessionPlan, run_session};
use throng_engine::clock::WallClock;
use throng_engine::http::HttpEngines;
use throng_engine::lease::LeaseGuard;
use throng_engine::spec::{CampaignSpec, ValidationContext};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: idle_visitors BASE_URL VISITORS [THINK_SECONDS]");
        std::process::exit(2);
    }
    let base = args[1].trim_end_matches('/').to_string();
    let visitors: u64 = args[2].parse().unwrap_or(10_000);
    let think: u64 = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(30);
    let spread: f64 = args.get(4).and_then(|t| t.parse().ok()).unwrap_or(0.0);
    let connections = args.get(5).cloned().unwrap_or_else(|| "pooled".to_string());
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    else {
        std::process::exit(1);
    };
    runtime.block_on(async move {
        let document = format!(
            "name: idle\ntarget: {{ url: \"{base}\", connections: {connections} }}\npages: [\"/track\"]\n\
             session: {{ pages: {{ min: 2, max: 2 }}, think_time: {{ min: {think}s, max: {think}s }} }}\n\
             load: {{ model: closed, users: {visitors}, duration: 1h, shards: 1 }}\n"
        );
        let allow = ValidationContext {
            allowlist: throng_engine::spec::Allowlist::any(),
        };
        let spec = match CampaignSpec::parse(&document, &allow) {
            Ok(spec) => Arc::new(spec),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        let context = SessionContext {
            engines: HttpEngines::new(),
            lease: LeaseGuard::always_valid(),
            clock: WallClock::now(),
            browsers: None,
            generator: Default::default(),
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let baseline = rss_kib();
        let started = Instant::now();
        let failures = Arc::new(AtomicU64::new(0));
        for seq in 0..visitors {
            let intended_start = started + Duration::from_secs_f64(spread * seq as f64 / visitors as f64);
            let plan = SessionPlan::new(&spec, 0, seq);
            let (spec, context) = (spec.clone(), context.clone());
            let failures = failures.clone();
            tokio::spawn(async move {
                let outcome = run_session(&plan, &spec, &context, intended_start).await;
                if outcome.failed && failures.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("first failed visitor: {}", outcome.error);
                }
            });
            if seq % 1000 == 999 {
                // Let first pages complete as we go, as arrivals would.
                tokio::task::yield_now().await;
            }
        }
        let spawned = started.elapsed();
        // Every visitor is now past its first page and thinking.
        tokio::time::sleep(Duration::from_secs_f64(spread + (think as f64 / 3.0).clamp(2.0, 10.0))).await;
        let idle = rss_kib();
        // Each visitor's connection is a socket this process holds open.
        let sockets = std::fs::read_dir("/proc/self/fd")
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
                    .count()
            })
            .unwrap_or(0);
        let per_visitor = (idle.saturating_sub(baseline)) as f64 * 1024.0 / visitors as f64;
        println!(
            "{{\"visitors\":{visitors},\"spawn_seconds\":{:.2},\"baseline_kib\":{baseline},\"idle_kib\":{idle},\"bytes_per_idle_visitor\":{per_visitor:.0},\"open_sockets\":{sockets},\"failed_visitors\":{}}}",
            spawned.as_secs_f64(),
            failures.load(Ordering::Relaxed)
        );
        std::process::exit(0);
    });
}
