//! Session cost: spawning a session task (as a campaign shard does) and
//! running it to completion — with an empty plan (pure overhead), with one
//! page GET against a local target over a keep-alive pool (the whole path of
//! a one-page session), and a thousand empty sessions at once.

use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use throng_benches::start_target;
use throng_engine::campaign::session::{SessionContext, SessionPlan, run_session};
use throng_engine::clock::WallClock;
use throng_engine::http::HttpEngines;
use throng_engine::lease::LeaseGuard;
use throng_engine::spec::{CampaignSpec, ValidationContext};

fn session_task(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let target = runtime.block_on(start_target()).expect("target");
    let spec = CampaignSpec::parse(
        &format!(
            "name: bench\ntarget: {{ url: \"http://{target}\" }}\nsession: {{ pages: {{ min: 1, max: 1 }} }}\n\
             load: {{ rate: 1000, sessions: 1000000 }}\n"
        ),
        &ValidationContext::default(),
    )
    .expect("spec");
    let spec = Arc::new(spec);
    let context = SessionContext {
        engines: HttpEngines::new(),
        lease: LeaseGuard::always_valid(),
        clock: WallClock::now(),
        browsers: None,
        generator: Default::default(),
    };
    let spawn = |seq: u64, pages: usize| {
        let mut plan = SessionPlan::new(&spec, 0, seq);
        plan.steps.truncate(pages);
        let (spec, context) = (spec.clone(), context.clone());
        tokio::spawn(async move { run_session(&plan, &spec, &context, Instant::now()).await })
    };

    let mut group = c.benchmark_group("session_task");
    group.throughput(Throughput::Elements(1));
    for (name, pages) in [("spawn_and_run_empty", 0usize), ("spawn_and_run_one_get", 1)] {
        let mut seq = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                seq += 1;
                runtime.block_on(async { spawn(seq, pages).await.expect("session") })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("session_task_batch");
    group.throughput(Throughput::Elements(1_000));
    let mut seq = 1_000_000u64;
    group.bench_function("spawn_and_run_1000_empty", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tasks: Vec<_> = (0..1_000)
                    .map(|_| {
                        seq += 1;
                        spawn(seq, 0)
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("session");
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, session_task);
criterion_main!(benches);
