//! Session actor cost: spawning a `SessionActor` (linked to a parent, as a
//! campaign shard does) and running it to completion — once with an empty
//! plan (pure actor overhead) and once with one page GET against a local
//! target over a keep-alive pool (the whole path of a one-page session) —
//! and a thousand empty sessions at once, as a shard launches them.

use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ractor::Actor;
use throng_actors::actors::{SessionActor, SessionArgs};
use throng_actors::clock::WallClock;
use throng_actors::http::HttpEngine;
use throng_actors::lease::LeaseGuard;
use throng_actors::session::{SessionContext, SessionPlan};
use throng_actors::spec::{CampaignSpec, ValidationContext};
use throng_benches::{OutcomeCollector, start_target};

fn session_actor(c: &mut Criterion) {
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
        engine: HttpEngine::new(),
        engine_http2: HttpEngine::http2(),
        lease: LeaseGuard::always_valid(),
        clock: WallClock::now(),
    };
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let (collector, _) = runtime
        .block_on(Actor::spawn(None, OutcomeCollector, sender))
        .expect("collector");

    let mut group = c.benchmark_group("session_actor");
    group.throughput(Throughput::Elements(1));
    for (name, pages) in [("spawn_and_run_empty", 0usize), ("spawn_and_run_one_get", 1)] {
        let mut seq = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                seq += 1;
                let mut plan = SessionPlan::new(&spec, 0, seq);
                plan.steps.truncate(pages);
                let args = SessionArgs {
                    plan,
                    spec: spec.clone(),
                    context: context.clone(),
                    intended_start: Instant::now(),
                    shard: collector.clone(),
                };
                runtime.block_on(async {
                    Actor::spawn_linked(None, SessionActor, args, collector.get_cell())
                        .await
                        .expect("spawn session");
                    receiver.lock().await.recv().await.expect("outcome")
                })
            })
        });
    }
    group.finish();

    // As a shard launches them: a thousand at once, awaited together.
    let mut group = c.benchmark_group("session_actor_batch");
    group.throughput(Throughput::Elements(1_000));
    let mut seq = 1_000_000u64;
    group.bench_function("spawn_and_run_1000_empty", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for _ in 0..1_000 {
                    seq += 1;
                    let mut plan = SessionPlan::new(&spec, 0, seq);
                    plan.steps.clear();
                    let args = SessionArgs {
                        plan,
                        spec: spec.clone(),
                        context: context.clone(),
                        intended_start: Instant::now(),
                        shard: collector.clone(),
                    };
                    Actor::spawn_linked(None, SessionActor, args, collector.get_cell())
                        .await
                        .expect("spawn session");
                }
                let mut outcomes = receiver.lock().await;
                for _ in 0..1_000 {
                    outcomes.recv().await.expect("outcome");
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, session_actor);
criterion_main!(benches);
