//! Analytics give the same answers from a real ClickHouse and from the
//! embedded store fed the same sessions, including sessions run twice (a
//! failover) that must count once.

use std::sync::Arc;

use throng_actors::analytics::{AnalyticsSource, ClickHouseAnalytics, Dimension, Query, analyse};
use throng_actors::session::{RequestOutcome, SessionOutcome};
use throng_actors::telemetry::{ClickHouseConfig, ClickHouseSink, MemorySink, SessionRecord, TelemetrySink};
use throng_actors::traffic::visit::VisitSummary;
use throng_testkit::{ClickHouseServer, clickhouse_migrations};

const START_MS: u64 = 1_770_000_000_000;

/// SplitMix64: varied test data, the same every run.
struct Draws(u64);

impl Draws {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }

    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low)
    }
}

/// Sessions of varied personas, journeys, targets and agents, with latencies
/// from microseconds to seconds, failures, bounces and orders.
fn sessions(campaign: &str, count: u64) -> Vec<SessionRecord> {
    let mut rng = Draws(7);
    (0..count)
        .map(|i| {
            let intended_ms = START_MS + i * 37 + rng.below(30);
            let pages = rng.range(1, 6) as u32;
            let requests: Vec<RequestOutcome> = (0..pages)
                .map(|index| {
                    let status = [200, 200, 200, 200, 404, 500, 0][rng.below(7) as usize];
                    RequestOutcome {
                        index,
                        name: "j.step".to_string(),
                        action: "page_view".to_string(),
                        path: "/".to_string(),
                        status,
                        latency_us: 10u64.pow(rng.range(1, 7) as u32) * rng.range(1, 999) / 100,
                        intended_ms: intended_ms + u64::from(index) * 900,
                        error: if status == 0 {
                            "connect: refused".to_string()
                        } else {
                            String::new()
                        },
                    }
                })
                .collect();
            let failed = requests.iter().any(RequestOutcome::failed);
            let orders = u32::from(rng.below(5) == 0);
            SessionRecord {
                campaign_id: campaign.to_string(),
                agent_id: format!("agent-{}", i % 3),
                epoch: 1,
                outcome: SessionOutcome {
                    session_id: 1_000 + i,
                    shard: (i % 4) as u32,
                    seq: i / 4,
                    persona: ["shopper", "reader", "bot"][(i % 3) as usize].to_string(),
                    journey: ["buyer", "browse"][rng.below(2) as usize].to_string(),
                    target: rng.below(2) as u32,
                    intended_ms,
                    started_ms: intended_ms + rng.below(5),
                    ended_ms: intended_ms + u64::from(pages) * 900 + rng.below(400),
                    steps: Vec::new(),
                    summary: VisitSummary {
                        page_views: pages,
                        actions: pages + u32::from(rng.below(3) == 0),
                        conversions: orders,
                        revenue_cents: u64::from(orders) * rng.range(500, 90_000),
                    },
                    requests,
                    failed,
                    error: String::new(),
                    aborted: false,
                    browser: None,
                },
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_and_the_embedded_store_answer_alike() {
    let server = ClickHouseServer::start();
    let config = ClickHouseConfig::new(&server.url());
    let clickhouse = ClickHouseSink::start(config.clone(), &clickhouse_migrations())
        .await
        .expect("sink");
    let memory = MemorySink::default();

    let mut records = sessions("c1", 3_000);
    // The first 200 sessions again on another agent, as after a failover:
    // the re-run replaces the earlier record in both stores.
    let reruns: Vec<SessionRecord> = records[..200]
        .iter()
        .map(|r| SessionRecord {
            agent_id: "agent-9".to_string(),
            epoch: 2,
            ..r.clone()
        })
        .collect();
    records.extend(reruns);
    for record in records {
        clickhouse.record(record.clone()).await.expect("record");
        memory.record(record).await.expect("record");
    }
    clickhouse.flush().await.expect("flush");

    let sources: [(&str, Arc<dyn AnalyticsSource>); 2] = [
        ("clickhouse", Arc::new(ClickHouseAnalytics::new(config))),
        ("memory", Arc::new(memory)),
    ];
    for (by, resolution_ms) in [
        (None, 0),
        (Some(Dimension::Persona), 0),
        (Some(Dimension::Journey), 10_000),
        (Some(Dimension::Target), 0),
        (Some(Dimension::Agent), 1_000),
    ] {
        let query = Query {
            by,
            resolution_ms,
            target_labels: vec!["http://a".to_string(), "http://b".to_string()],
        };
        let mut reports = Vec::new();
        for (name, source) in &sources {
            let cells = source.cells("c1", resolution_ms).await.expect(name);
            reports.push(analyse("c1", "shop", &cells, &query));
        }
        let report = &reports[0];
        assert_eq!(report.totals.sessions, 3_000, "{by:?}");
        assert!(report.totals.requests > 6_000, "{:?}", report.totals);
        assert!(report.totals.conversions > 300, "{:?}", report.totals);
        assert!(report.totals.latency_ms.p999 > report.totals.latency_ms.p50);
        if by == Some(Dimension::Agent) {
            let agents: Vec<&str> = report.groups.iter().map(|g| g.key.as_str()).collect();
            assert_eq!(agents, ["agent-0", "agent-1", "agent-2", "agent-9"]);
            assert_eq!(report.groups[3].summary.sessions, 200);
        }
        if resolution_ms > 0 {
            assert!(report.series.len() > 10, "{by:?}: {} points", report.series.len());
        }
        assert_eq!(reports[0], reports[1], "ClickHouse and memory differ for {by:?}");
    }
    // Failed requests grouped by message: the same groups from both stores.
    let mut errors = Vec::new();
    for (name, source) in &sources {
        errors.push(source.errors("c1").await.expect(name));
    }
    let messages: Vec<(&str, &str)> = errors[0]
        .groups
        .iter()
        .map(|g| (g.class.as_str(), g.message.as_str()))
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    for expected in [("http", "http 404"), ("http", "http 500"), ("connect", "refused")] {
        assert!(messages.contains(&expected), "{expected:?} in {messages:?}");
    }
    let grouped: u64 = errors[0].groups.iter().map(|g| g.requests).sum();
    assert_eq!(grouped, errors[0].failed_requests);
    assert!(errors[0].failed_requests > 1_000, "{:?}", errors[0]);
    assert_eq!(errors[0], errors[1], "ClickHouse and memory group errors alike");
    let none = sources[1].1.cells("unknown", 0).await.expect("memory");
    assert!(none.is_empty());
}
