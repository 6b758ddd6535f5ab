//! Placement cost: weighted rendezvous placement of 10,000 shards over 100
//! agents of mixed capacity — what one reconcile round does when every
//! shard of a large campaign must be (re)placed.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use throng_coordinator::placement::{Candidate, place_all};

fn placement(c: &mut Criterion) {
    let agents: Vec<Candidate> = (0..100)
        .map(|i| Candidate {
            agent_id: format!("agent-{i:03}"),
            capacity: 1 + (i % 4),
        })
        .collect();
    let shards: Vec<String> = (0..10_000).map(|i| format!("campaign-1:{i:05}")).collect();
    let mut group = c.benchmark_group("placement");
    group.throughput(Throughput::Elements(shards.len() as u64));
    group.bench_function("10k_shards_over_100_agents", |b| {
        b.iter(|| place_all(std::hint::black_box(&shards), std::hint::black_box(&agents)))
    });
    group.finish();
}

criterion_group!(benches, placement);
criterion_main!(benches);
