//! Stream generation cost. Steady state: one more simulated hour of every
//! shard of the built-in catalog, already running. Resumption: a shard
//! started at an instant first replays the longest span its chains reach
//! back (days for the session shard), so a re-placed shard pays this once.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use throng_engine::streams::{Catalog, ShardGenerator, generate_all};

/// 2026-02-02T10:00Z: a busy hour.
const AT: i64 = 1_770_026_400_000;
const HOUR: i64 = 3_600_000;

fn running_shards(catalog: &Arc<Catalog>) -> Vec<ShardGenerator> {
    catalog
        .roots()
        .into_iter()
        .map(|root| {
            let mut shard = ShardGenerator::new(catalog.clone(), root, 1.0, AT);
            shard.advance(AT, &mut Vec::new());
            shard
        })
        .collect()
}

fn stream_generation(c: &mut Criterion) {
    let catalog = Arc::new(Catalog::builtin());
    let events = generate_all(&catalog, 1.0, AT, AT + HOUR).len() as u64;
    let mut group = c.benchmark_group("stream_generation");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("one_more_hour_of_50_streams", |b| {
        b.iter_batched(
            || running_shards(&catalog),
            |mut shards| {
                let mut out = Vec::new();
                for shard in &mut shards {
                    shard.advance(AT + HOUR, &mut out);
                }
                out.len()
            },
            BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    for name in ["session.scheduled", "customer.tutor.search"] {
        let root = catalog.stream(name).unwrap_or(0);
        group.bench_function(format!("resume_shard_{name}"), |b| {
            b.iter(|| {
                let mut shard = ShardGenerator::new(catalog.clone(), root, 1.0, AT);
                let mut out = Vec::new();
                shard.advance(AT + 1, &mut out);
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, stream_generation);
criterion_main!(benches);
