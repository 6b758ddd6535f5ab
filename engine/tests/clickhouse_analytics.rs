//! Analytics give the same answers from a real ClickHouse and from the
//! embedded store fed the same sessions, including sessions run twice (a
//! failover) that must count once.

use std::sync::Arc;

use throng_engine::analytics::sessions::{self, Outcome, SessionFilter, SessionSummary};
use throng_engine::analytics::{
    AnalyticsError, AnalyticsSource, ClickHouseAnalytics, Dimension, Marginals, Query, analyse,
};
use throng_engine::campaign::browsing::{BrowserReport, PageVitals};
use throng_engine::campaign::session::{RequestOutcome, SessionOutcome, VisitFacts};
use throng_engine::campaign::traffic::visit::VisitSummary;
use throng_engine::telemetry::{ClickHouseConfig, ClickHouseSink, MemorySink, SessionRecord, TelemetrySink};
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
                        name: format!("j.step-{index}"),
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
                        bytes: if status == 0 { 0 } else { 1_000 + u64::from(index) },
                        excerpt: if status >= 400 {
                            format!("<h1>{status}</h1> the answer")
                        } else {
                            String::new()
                        },
                    }
                })
                .collect();
            let failed = requests.iter().any(RequestOutcome::failed);
            // The first failure, as the engine records it.
            let error = requests
                .iter()
                .find(|r| r.failed())
                .map(|r| match r.error.as_str() {
                    "" => format!("http {} on {}", r.status, r.path),
                    e => format!("{e} on {}", r.path),
                })
                .unwrap_or_default();
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
                    visit: VisitFacts {
                        visitor_id: rng.below(u64::MAX),
                        visit_count: rng.range(1, 4),
                        device: ["desktop", "mobile"][rng.below(2) as usize].to_string(),
                        country: "de".to_string(),
                        referrer: "direct".to_string(),
                    },
                    steps: Vec::new(),
                    summary: VisitSummary {
                        page_views: pages,
                        actions: pages + u32::from(rng.below(3) == 0),
                        conversions: orders,
                        revenue_cents: u64::from(orders) * rng.range(500, 90_000),
                    },
                    requests,
                    failed,
                    error,
                    aborted: false,
                    browser: (i % 50 == 7).then(|| BrowserReport {
                        bot_persona: i % 3 == 2,
                        attempts: 2,
                        verdict: None,
                        pages: vec![PageVitals {
                            url: "http://a/".to_string(),
                            started_ms: 0.0,
                            status: 200,
                            ttfb_ms: 12.5,
                            dom_ms: 30.0,
                            load_ms: 80.25,
                            lcp_ms: 90.0,
                            cls: 0.01,
                            inp_ms: 16.0,
                            bytes: 5_120,
                        }],
                        errors: Vec::new(),
                        screenshot: Some("/var/lib/throng/shots/7.png".to_string()),
                    }),
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
    // A campaign stored once, whose request rows are read without `FINAL`.
    records.extend(sessions("c2", 3_000));
    for record in records {
        clickhouse.record(record.clone()).await.expect("record");
        memory.record(record).await.expect("record");
    }
    clickhouse.flush().await.expect("flush");

    let sources: [(&str, Arc<dyn AnalyticsSource>); 2] = [
        ("clickhouse", Arc::new(ClickHouseAnalytics::new(config))),
        ("memory", Arc::new(memory.clone())),
    ];
    for (campaign, by, resolution_ms) in [
        ("c1", None, 0),
        ("c1", Some(Dimension::Persona), 0),
        ("c1", Some(Dimension::Journey), 10_000),
        ("c1", Some(Dimension::Target), 0),
        ("c1", Some(Dimension::Agent), 1_000),
        ("c1", Some(Dimension::Request), 0),
        ("c2", Some(Dimension::Persona), 10_000),
        ("c2", Some(Dimension::Agent), 1_000),
        ("c2", Some(Dimension::Request), 0),
    ] {
        let query = Query {
            by,
            resolution_ms,
            target_labels: vec!["http://a".to_string(), "http://b".to_string()],
        };
        let mut reports = Vec::new();
        for (name, source) in &sources {
            let tallies = source.tallies(campaign, resolution_ms).await.expect(name);
            reports.push(analyse(campaign, "shop", &tallies, &query));
        }
        let report = &reports[0];
        assert_eq!(report.totals.sessions, 3_000, "{by:?}");
        assert!(report.totals.requests > 6_000, "{:?}", report.totals);
        assert!(report.totals.conversions > 300, "{:?}", report.totals);
        assert!(report.totals.latency_ms.p999 > report.totals.latency_ms.p50);
        if by == Some(Dimension::Agent) {
            let agents: Vec<&str> = report.groups.iter().map(|g| g.key.as_str()).collect();
            if campaign == "c1" {
                assert_eq!(agents, ["agent-0", "agent-1", "agent-2", "agent-9"]);
                assert_eq!(report.groups[3].summary.sessions, 200);
            } else {
                assert_eq!(agents, ["agent-0", "agent-1", "agent-2"]);
            }
        }
        if by == Some(Dimension::Request) {
            // Sessions of one to five pages: five names, fewer of each
            // later step, every request counted once.
            let names: Vec<&str> = report.groups.iter().map(|g| g.key.as_str()).collect();
            assert_eq!(
                names,
                ["j.step-0", "j.step-1", "j.step-2", "j.step-3", "j.step-4"]
            );
            let counted: u64 = report.groups.iter().map(|g| g.summary.requests).sum();
            assert_eq!(counted, report.totals.requests);
            assert!(report.groups[0].summary.requests > report.groups[4].summary.requests);
        }
        if resolution_ms > 0 {
            assert!(report.series.len() > 10, "{by:?}: {} points", report.series.len());
            let busy = report.series.iter().filter(|p| p.active_sessions > 0.0).count();
            assert!(busy > 10, "sessions in progress in {busy} buckets");
        }
        assert_eq!(
            reports[0], reports[1],
            "ClickHouse and memory differ for {campaign} by {by:?}"
        );
    }
    // Failed requests grouped by message: the same groups from both stores.
    let mut errors = Vec::new();
    for (name, source) in &sources {
        errors.push(source.errors("c1").await.expect(name));
    }
    for (name, source) in &sources {
        errors.push(source.errors("c2").await.expect(name));
    }
    assert_eq!(
        errors[2], errors[3],
        "ClickHouse and memory group c2's errors alike"
    );
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
    let not_found = errors[0]
        .groups
        .iter()
        .find(|g| g.message == "http 404")
        .expect("404s");
    assert_eq!(not_found.example_excerpt, "<h1>404</h1> the answer");
    let none = sources[1].1.tallies("unknown", 0).await.expect("memory");
    assert_eq!(none, Marginals::default());

    // A version holds while nothing is written, and moves once a session
    // (written after its requests) is stored.
    let mut before = Vec::new();
    for (name, source) in &sources {
        let version = source.version("c1").await.expect(name);
        assert_eq!(source.version("c1").await.expect(name), version, "{name}");
        before.push(version);
    }
    let late = sessions("c1", 3_001).pop().expect("one more session");
    clickhouse.record(late.clone()).await.expect("record");
    clickhouse.flush().await.expect("flush");
    memory.record(late).await.expect("record");
    for ((name, source), before) in sources.iter().zip(before) {
        assert_ne!(source.version("c1").await.expect(name), before, "{name}");
    }
}

/// Every page of a session list, walked with its cursors.
async fn every_page(source: &dyn AnalyticsSource, filter: &SessionFilter) -> Vec<SessionSummary> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = sessions::list(source, "c2", filter, cursor.as_deref(), 37)
            .await
            .expect("a page");
        assert!(page.sessions.len() <= 37);
        all.extend(page.sessions);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_lists_and_details_answer_alike_from_both_stores() {
    let server = ClickHouseServer::start();
    let config = ClickHouseConfig::new(&server.url());
    let clickhouse = ClickHouseSink::start(config.clone(), &clickhouse_migrations())
        .await
        .expect("sink");
    let memory = MemorySink::new(1_000);

    let mut records = sessions("c2", 600);
    // The first 50 again on another agent, as after a failover.
    let reruns: Vec<SessionRecord> = records[..50]
        .iter()
        .map(|r| SessionRecord {
            agent_id: "agent-9".to_string(),
            epoch: 2,
            ..r.clone()
        })
        .collect();
    records.extend(reruns);
    for record in &records {
        clickhouse.record(record.clone()).await.expect("record");
        memory.record(record.clone()).await.expect("record");
    }
    clickhouse.flush().await.expect("flush");
    // What each session is, as its last run left it.
    let latest: std::collections::BTreeMap<u64, &SessionRecord> =
        records.iter().map(|r| (r.outcome.session_id, r)).collect();

    let sources: [(&str, Arc<dyn AnalyticsSource>); 2] = [
        ("clickhouse", Arc::new(ClickHouseAnalytics::new(config))),
        ("memory", Arc::new(memory)),
    ];
    let filters = [
        SessionFilter::default(),
        SessionFilter {
            persona: Some("shopper".into()),
            ..SessionFilter::default()
        },
        SessionFilter {
            outcome: Some(Outcome::Failed),
            error_class: Some("connect".into()),
            ..SessionFilter::default()
        },
        SessionFilter {
            agent: Some("agent-9".into()),
            journey: Some("buyer".into()),
            ..SessionFilter::default()
        },
        // The first runs of the re-run sessions match; their latest do not.
        SessionFilter {
            agent: Some("agent-1".into()),
            ..SessionFilter::default()
        },
        SessionFilter {
            target: Some(1),
            outcome: Some(Outcome::Ok),
            min_duration_ms: Some(2_000),
            from_ms: Some(START_MS + 5_000),
            to_ms: Some(START_MS + 15_000),
            ..SessionFilter::default()
        },
    ];
    for filter in &filters {
        let mut lists = Vec::new();
        for (name, source) in &sources {
            let list = every_page(source.as_ref(), filter).await;
            assert!(
                list.windows(2).all(|w| w[0].position() > w[1].position()),
                "{name}: newest first, no repeats"
            );
            lists.push(list);
        }
        // Every session the filter should keep is listed, and only those.
        let kept = latest
            .values()
            .filter(|r| {
                let o = &r.outcome;
                let duration = o.ended_ms.saturating_sub(o.started_ms);
                let class = sessions::error_class(&o.error);
                filter.persona.as_ref().is_none_or(|p| *p == o.persona)
                    && filter.journey.as_ref().is_none_or(|j| *j == o.journey)
                    && filter.agent.as_ref().is_none_or(|a| *a == r.agent_id)
                    && filter.target.is_none_or(|t| t == o.target)
                    && filter.outcome.is_none_or(|w| (w == Outcome::Failed) == o.failed)
                    && filter.error_class.as_ref().is_none_or(|c| *c == class)
                    && filter.from_ms.is_none_or(|f| o.intended_ms >= f)
                    && filter.to_ms.is_none_or(|t| o.intended_ms < t)
                    && filter.min_duration_ms.is_none_or(|m| duration >= m)
            })
            .count();
        assert_eq!(lists[0].len(), kept, "{filter:?}");
        assert!(kept > 0, "{filter:?} keeps some sessions");
        assert_eq!(
            lists[0], lists[1],
            "ClickHouse and memory list alike for {filter:?}"
        );
    }

    // A session in full: the same from both stores, its steps its requests.
    for id in [1_000, 1_007, 1_333, 1_599] {
        let mut details = Vec::new();
        for (name, source) in &sources {
            details.push(source.session("c2", id).await.expect(name).expect("the session"));
        }
        let record = latest[&id];
        let detail = &details[0];
        assert_eq!(detail.steps.len(), record.outcome.requests.len());
        for (step, request) in detail.steps.iter().zip(&record.outcome.requests) {
            assert_eq!(
                (step.status, &step.path, step.latency_us),
                (request.status, &request.path, request.latency_us)
            );
            assert_eq!(step.offset_ms, request.intended_ms - record.outcome.intended_ms);
        }
        assert_eq!(detail.summary.agent, record.agent_id);
        assert_eq!(detail.visit.visit_count as u64, record.outcome.visit.visit_count);
        assert_eq!(
            detail.visit.visitor_id,
            format!("{:016x}", record.outcome.visit.visitor_id)
        );
        assert_eq!(
            detail.browser.is_some(),
            record.outcome.browser.is_some(),
            "session {id}"
        );
        assert_eq!(
            details[0], details[1],
            "ClickHouse and memory show session {id} alike"
        );
    }
    for (name, source) in &sources {
        assert_eq!(
            source.session("c2", 42).await.expect(name),
            None,
            "{name}: no such session"
        );
    }

    // A tampered cursor, or one from another filter, is refused.
    let filter = SessionFilter::default();
    let page = sessions::list(sources[0].1.as_ref(), "c2", &filter, None, 10)
        .await
        .expect("page");
    let cursor = page.next_cursor.expect("more pages");
    let shopper = SessionFilter {
        persona: Some("shopper".into()),
        ..SessionFilter::default()
    };
    for (bad, filter) in [(cursor.replace('0', "1"), &filter), (cursor.clone(), &shopper)] {
        let refused = sessions::list(sources[0].1.as_ref(), "c2", filter, Some(&bad), 10).await;
        assert!(matches!(refused, Err(sessions::ListError::BadCursor(_))), "{bad}");
    }

    // The embedded store keeps only its latest sessions in full, and says so.
    let small = MemorySink::new(5);
    for record in &records {
        small.record(record.clone()).await.expect("record");
    }
    match small.session("c2", 1_100).await {
        Err(e @ AnalyticsError::NotKept { .. }) => assert!(e.to_string().contains("last 5 sessions"), "{e}"),
        other => panic!("expected NotKept, got {other:?}"),
    }
}
