//! Drives Throng's HTTP engine (the exact path sessions use) on one thread:
//!
//! `http_blast URL CONCURRENCY SECONDS [pooled|per_visitor]` as fast as it
//! goes: `pooled` (the default) shares the agent's hyper pool; `per_visitor`
//! gives each of the CONCURRENCY loops its own lean connection. Latency is
//! measured from each send, as closed-loop tools measure it.
//!
//! `http_blast URL RATE SECONDS open` sends RATE requests a second on a fixed
//! schedule, whatever the target does, and measures each from its intended
//! start, as sessions do: a target that stalls shows the whole stall.
//!
//! Prints one JSON line: requests/s, requests per CPU-second of this
//! process, and the p50, p99 and max latency in milliseconds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use throng_engine::http::{HttpEngine, HttpRequest, VisitorConnection};
use throng_engine::stats::LatencyHistogram;

/// User + system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

struct Tally {
    requests: AtomicU64,
    errors: AtomicU64,
    latency: Mutex<LatencyHistogram>,
}

impl Tally {
    fn note(&self, ok: bool, since: Instant) {
        if ok {
            self.requests.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = since.elapsed().as_micros() as u64;
        if let Ok(mut latency) = self.latency.lock() {
            latency.record_us(micros);
        }
    }
}

/// As fast as it goes: each loop sends, waits for the answer, sends again.
async fn closed_loops(url: String, concurrency: usize, seconds: u64, per_visitor: bool, tally: Arc<Tally>) {
    let engine = HttpEngine::new();
    let running = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (engine, url, running, tally) = (engine.clone(), url.clone(), running.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut own = per_visitor.then(VisitorConnection::default);
            while running.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let answer = match own.as_mut() {
                    Some(own) => own.send(HttpRequest::get(&url), Duration::from_secs(5)).await,
                    None => engine.get(&url, Duration::from_secs(5)).await,
                };
                tally.note(answer.is_ok_and(|r| r.status < 400), sent);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    running.store(false, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
}

/// On a schedule: request n is due at n / rate, sent then (or as soon as the
/// runtime can), and timed from when it was due.
async fn open_schedule(url: String, rate: f64, seconds: u64, tally: Arc<Tally>) {
    let engine = HttpEngine::new();
    let start = Instant::now();
    let total = (rate * seconds as f64) as u64;
    let mut tasks = Vec::new();
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (engine, url, tally) = (engine.clone(), url.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let answer = engine.get(&url, Duration::from_secs(10)).await;
            tally.note(answer.is_ok_and(|r| r.status < 400), due);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=5).contains(&args.len()) {
        eprintln!(
            "usage: http_blast URL CONCURRENCY SECONDS [pooled|per_visitor]\n       http_blast URL RATE SECONDS open"
        );
        std::process::exit(2);
    }
    let url = args[1].clone();
    let amount: f64 = args[2].parse().unwrap_or(64.0);
    let seconds: u64 = args[3].parse().unwrap_or(10);
    let mode = args.get(4).map(String::as_str).unwrap_or("pooled");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let Ok(runtime) = runtime else {
        eprintln!("cannot build a runtime");
        std::process::exit(1);
    };
    let tally = Arc::new(Tally {
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latency: Mutex::new(LatencyHistogram::default()),
    });
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    runtime.block_on(async {
        match mode {
            "open" => open_schedule(url, amount, seconds, tally.clone()).await,
            other => {
                closed_loops(
                    url,
                    amount as usize,
                    seconds,
                    other == "per_visitor",
                    tally.clone(),
                )
                .await
            }
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let done = tally.requests.load(Ordering::Relaxed);
    let latency = tally.latency.lock().map(|l| l.clone()).unwrap_or_default();
    println!(
        "{{\"requests\":{done},\"errors\":{},\"seconds\":{elapsed:.2},\"requests_per_second\":{:.0},\"cpu_seconds\":{cpu:.2},\"requests_per_cpu_second\":{:.0},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        tally.errors.load(Ordering::Relaxed),
        done as f64 / elapsed,
        done as f64 / cpu.max(0.01),
        latency.quantile_ms(0.50),
        latency.quantile_ms(0.90),
        latency.quantile_ms(0.99),
        latency.max_ms(),
    );
}
