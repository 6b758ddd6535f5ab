//! Shared helpers for Throng's benches.

use std::net::SocketAddr;

/// Starts a tiny target on loopback answering every request with a short page.
pub async fn start_target() -> std::io::Result<SocketAddr> {
    let app = axum::Router::new().fallback(|| async { "<html><body>ok</body></html>" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(address)
}

/// Sessions of a large campaign as agents record them, for benches that
/// fill a store before they time its readers.
pub mod synthetic {
    use throng_engine::campaign::session::{RequestOutcome, SessionOutcome, VisitFacts};
    use throng_engine::campaign::traffic::visit::VisitSummary;
    use throng_engine::telemetry::SessionRecord;

    pub const REQUESTS_PER_SESSION: u32 = 5;
    const PERSONAS: [&str; 5] = ["shopper", "reader", "bargain", "researcher", "returning"];

    /// Session `i` of `sessions` written for `campaign_id`: 5 requests, one
    /// session in ten failed (its last request a 503), five personas, two
    /// agents, intended starts spread evenly over `span_ms` from `from_ms`.
    pub fn session(campaign_id: &str, i: u64, sessions: u64, from_ms: u64, span_ms: u64) -> SessionRecord {
        // Spread over the span; instants tie now and then.
        let at = from_ms + i * span_ms / sessions;
        let failed = i % 10 == 7;
        let persona = PERSONAS[(i % PERSONAS.len() as u64) as usize];
        let length_ms = 2_000 + (i * 7_919) % 60_000;
        SessionRecord {
            campaign_id: campaign_id.to_string(),
            agent_id: format!("agent-{}", 1 + i % 2),
            epoch: 1,
            outcome: SessionOutcome {
                session_id: i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 1,
                shard: (i % 16) as u32,
                seq: i / 16,
                persona: persona.to_string(),
                journey: "browse".to_string(),
                target: 0,
                intended_ms: at,
                started_ms: at,
                ended_ms: at + length_ms,
                visit: VisitFacts {
                    visitor_id: i / 3,
                    visit_count: 1 + i % 3,
                    device: "desktop".to_string(),
                    country: "DE".to_string(),
                    referrer: "direct".to_string(),
                },
                requests: (0..REQUESTS_PER_SESSION)
                    .map(|index| {
                        let fails = failed && index == REQUESTS_PER_SESSION - 1;
                        RequestOutcome {
                            index,
                            name: "browse.home".to_string(),
                            action: "page_view".to_string(),
                            path: format!("/products/sku-{}", (i + u64::from(index)) % 400),
                            status: if fails { 503 } else { 200 },
                            latency_us: 1_000 + (i * 31 + u64::from(index)) % 90_000,
                            intended_ms: at + u64::from(index) * length_ms / u64::from(REQUESTS_PER_SESSION),
                            error: String::new(),
                            bytes: if fails { 0 } else { 2_048 + i % 512 },
                            excerpt: String::new(),
                        }
                    })
                    .collect(),
                steps: Vec::new(),
                summary: VisitSummary {
                    page_views: REQUESTS_PER_SESSION,
                    actions: REQUESTS_PER_SESSION,
                    conversions: u32::from(i % 25 == 3),
                    revenue_cents: if i % 25 == 3 { 4_999 } else { 0 },
                },
                failed,
                error: if failed {
                    "HTTP 503 on /checkout".to_string()
                } else {
                    String::new()
                },
                aborted: false,
                browser: None,
            },
        }
    }
}
