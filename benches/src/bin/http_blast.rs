//! Drives Throng's HTTP engine (the exact path sessions use) as fast as it
//! goes on one thread: `http_blast URL CONCURRENCY SECONDS [pooled|per_visitor]`.
//! `pooled` (the default) shares the agent's hyper pool; `per_visitor` gives
//! each of the CONCURRENCY loops its own lean connection. Prints one JSON
//! line with requests/s and requests per CPU-second of this process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use throng_actors::http::{HttpEngine, HttpRequest, VisitorConnection};

/// User + system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=5).contains(&args.len()) {
        eprintln!("usage: http_blast URL CONCURRENCY SECONDS [pooled|per_visitor]");
        std::process::exit(2);
    }
    let url = args[1].clone();
    let concurrency: usize = args[2].parse().unwrap_or(64);
    let seconds: u64 = args[3].parse().unwrap_or(10);
    let per_visitor = args.get(4).is_some_and(|mode| mode == "per_visitor");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let Ok(runtime) = runtime else {
        eprintln!("cannot build a runtime");
        std::process::exit(1);
    };
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    runtime.block_on(async {
        let engine = HttpEngine::new();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (engine, url) = (engine.clone(), url.clone());
            let (requests, errors, running) = (requests.clone(), errors.clone(), running.clone());
            tasks.push(tokio::spawn(async move {
                let mut own = per_visitor.then(VisitorConnection::default);
                while running.load(Ordering::Relaxed) {
                    let answer = match own.as_mut() {
                        Some(own) => own.send(HttpRequest::get(&url), Duration::from_secs(5)).await,
                        None => engine.get(&url, Duration::from_secs(5)).await,
                    };
                    match answer {
                        Ok(r) if r.status < 400 => requests.fetch_add(1, Ordering::Relaxed),
                        _ => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        running.store(false, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let done = requests.load(Ordering::Relaxed);
    println!(
        "{{\"requests\":{done},\"errors\":{},\"seconds\":{elapsed:.2},\"requests_per_second\":{:.0},\"cpu_seconds\":{cpu:.2},\"requests_per_cpu_second\":{:.0}}}",
        errors.load(Ordering::Relaxed),
        done as f64 / elapsed,
        done as f64 / cpu.max(0.01),
    );
}
