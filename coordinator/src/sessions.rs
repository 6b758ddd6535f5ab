//! `ListSessions` and `GetSession`: a request checked into a session filter
//! (every problem at once, with its field), and the answers to and from the
//! wire. HTTP and `--output json` show the answers in one JSON shape, the
//! serde form of the analytics crate's types.

use crate::error::CoordinatorError;
use throng_engine::analytics::sessions::{
    self, BrowserDetail, Outcome, PageVitals, SessionDetail, SessionFilter, SessionPage, SessionSummary,
    Signals, Step, Visit,
};
use throng_proto::v1;

/// A session list request, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub campaign_id: String,
    pub filter: SessionFilter,
    pub cursor: Option<String>,
    pub limit: u32,
}

/// Checks a request: every problem with its field, at once.
pub fn parse(request: &v1::ListSessionsRequest) -> Result<ListQuery, CoordinatorError> {
    let mut problems = Vec::new();
    if request.campaign_id.is_empty() {
        problems.push("campaign_id: give the campaign whose sessions to list".to_string());
    }
    let outcome = match request.outcome.as_str() {
        "" => None,
        name => Outcome::parse(name).or_else(|| {
            problems.push(format!("outcome: unknown `{name}`; use ok or failed"));
            None
        }),
    };
    if request.from_ms != 0 && request.to_ms != 0 && request.to_ms <= request.from_ms {
        problems.push(format!(
            "to_ms: must be after from_ms ({} is not after {})",
            request.to_ms, request.from_ms
        ));
    }
    let limit = sessions::page_size(request.limit).unwrap_or_else(|problem| {
        problems.push(format!("limit: {problem}"));
        0
    });
    if !problems.is_empty() {
        return Err(CoordinatorError::Invalid(problems.join("; ")));
    }
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let number = |n: u64| (n != 0).then_some(n);
    Ok(ListQuery {
        campaign_id: request.campaign_id.clone(),
        filter: SessionFilter {
            persona: text(&request.persona),
            journey: text(&request.journey),
            target: request.target,
            agent: text(&request.agent),
            outcome,
            error_class: text(&request.error_class),
            from_ms: number(request.from_ms),
            to_ms: number(request.to_ms),
            min_duration_ms: number(request.min_duration_ms),
        },
        cursor: text(&request.cursor),
        limit,
    })
}

fn summary_to_wire(s: &SessionSummary) -> v1::SessionSummary {
    v1::SessionSummary {
        session_id: s.session_id,
        intended_ms: s.intended_ms,
        duration_ms: s.duration_ms,
        persona: s.persona.clone(),
        journey: s.journey.clone(),
        target: s.target,
        agent: s.agent.clone(),
        requests: s.requests,
        failed_requests: s.failed_requests,
        page_views: s.page_views,
        actions: s.actions,
        conversions: s.conversions,
        revenue_cents: s.revenue_cents,
        ok: s.ok,
        error: s.error.clone(),
        error_class: s.error_class.clone(),
    }
}

fn summary_from_wire(s: &v1::SessionSummary) -> SessionSummary {
    SessionSummary {
        session_id: s.session_id,
        intended_ms: s.intended_ms,
        duration_ms: s.duration_ms,
        persona: s.persona.clone(),
        journey: s.journey.clone(),
        target: s.target,
        agent: s.agent.clone(),
        requests: s.requests,
        failed_requests: s.failed_requests,
        page_views: s.page_views,
        actions: s.actions,
        conversions: s.conversions,
        revenue_cents: s.revenue_cents,
        ok: s.ok,
        error: s.error.clone(),
        error_class: s.error_class.clone(),
    }
}

pub fn page_to_wire(page: &SessionPage) -> v1::SessionList {
    v1::SessionList {
        sessions: page.sessions.iter().map(summary_to_wire).collect(),
        next_cursor: page.next_cursor.clone().unwrap_or_default(),
    }
}

pub fn page_from_wire(list: &v1::SessionList) -> SessionPage {
    SessionPage {
        sessions: list.sessions.iter().map(summary_from_wire).collect(),
        next_cursor: (!list.next_cursor.is_empty()).then(|| list.next_cursor.clone()),
    }
}

pub fn detail_to_wire(d: &SessionDetail) -> v1::SessionDetail {
    v1::SessionDetail {
        summary: Some(summary_to_wire(&d.summary)),
        shard: d.shard,
        started_ms: d.started_ms,
        ended_ms: d.ended_ms,
        visitor_id: d.visit.visitor_id.clone(),
        visit_count: d.visit.visit_count,
        device: d.visit.device.clone(),
        country: d.visit.country.clone(),
        referrer: d.visit.referrer.clone(),
        steps: d
            .steps
            .iter()
            .map(|s| v1::SessionStep {
                index: s.index,
                name: s.name.clone(),
                action: s.action.clone(),
                path: s.path.clone(),
                status: u32::from(s.status),
                offset_ms: s.offset_ms,
                latency_us: s.latency_us,
                error: s.error.clone(),
                bytes: s.bytes,
                excerpt: s.excerpt.clone(),
            })
            .collect(),
        browser: d.browser.as_ref().map(|b| v1::BrowserSession {
            bot_persona: b.bot_persona,
            attempts: b.attempts,
            risk: b.risk.clone(),
            score: b.score,
            confidence: b.confidence,
            reasons: b.reasons.clone(),
            mouse_events: b.signals.mouse_events,
            clicks: b.signals.clicks,
            straightness: b.signals.straightness,
            keystrokes: b.signals.keystrokes,
            correction_ratio: b.signals.correction_ratio,
            scroll_events: b.signals.scroll_events,
            blurs: b.signals.blurs,
            duration_ms: b.signals.duration_ms,
            pages: b
                .pages
                .iter()
                .map(|p| v1::BrowserPage {
                    url: p.url.clone(),
                    status: u32::from(p.status),
                    ttfb_ms: p.ttfb_ms,
                    load_ms: p.load_ms,
                    lcp_ms: p.lcp_ms,
                    cls: p.cls,
                    inp_ms: p.inp_ms,
                })
                .collect(),
            js_errors: b.js_errors,
            screenshot: b.screenshot.clone(),
        }),
    }
}

fn status16(status: u32) -> u16 {
    u16::try_from(status).unwrap_or(u16::MAX)
}

pub fn detail_from_wire(d: &v1::SessionDetail) -> SessionDetail {
    SessionDetail {
        summary: d
            .summary
            .as_ref()
            .map(summary_from_wire)
            .unwrap_or_else(|| summary_from_wire(&Default::default())),
        shard: d.shard,
        started_ms: d.started_ms,
        ended_ms: d.ended_ms,
        visit: Visit {
            visitor_id: d.visitor_id.clone(),
            visit_count: d.visit_count,
            device: d.device.clone(),
            country: d.country.clone(),
            referrer: d.referrer.clone(),
        },
        steps: d
            .steps
            .iter()
            .map(|s| Step {
                index: s.index,
                name: s.name.clone(),
                action: s.action.clone(),
                path: s.path.clone(),
                status: status16(s.status),
                offset_ms: s.offset_ms,
                latency_us: s.latency_us,
                error: s.error.clone(),
                bytes: s.bytes,
                excerpt: s.excerpt.clone(),
            })
            .collect(),
        browser: d.browser.as_ref().map(|b| BrowserDetail {
            bot_persona: b.bot_persona,
            attempts: b.attempts,
            risk: b.risk.clone(),
            score: b.score,
            confidence: b.confidence,
            reasons: b.reasons.clone(),
            signals: Signals {
                mouse_events: b.mouse_events,
                clicks: b.clicks,
                straightness: b.straightness,
                keystrokes: b.keystrokes,
                correction_ratio: b.correction_ratio,
                scroll_events: b.scroll_events,
                blurs: b.blurs,
                duration_ms: b.duration_ms,
            },
            pages: b
                .pages
                .iter()
                .map(|p| PageVitals {
                    url: p.url.clone(),
                    status: status16(p.status),
                    ttfb_ms: p.ttfb_ms,
                    load_ms: p.load_ms,
                    lcp_ms: p.lcp_ms,
                    cls: p.cls,
                    inp_ms: p.inp_ms,
                })
                .collect(),
            js_errors: b.js_errors,
            screenshot: b.screenshot.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_a_request_is_named_with_its_field() {
        let request = v1::ListSessionsRequest {
            outcome: "broken".into(),
            from_ms: 10,
            to_ms: 5,
            limit: 5_000,
            ..Default::default()
        };
        let status = tonic::Status::from(parse(&request).expect_err("refused"));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        for field in [
            "campaign_id:",
            "outcome: unknown `broken`",
            "to_ms:",
            "limit: must be 1 to 1000",
        ] {
            assert!(
                status.message().contains(field),
                "{field} in {}",
                status.message()
            );
        }
    }

    #[test]
    fn a_request_becomes_a_filter() {
        let request = v1::ListSessionsRequest {
            campaign_id: "c".into(),
            persona: "shopper".into(),
            target: Some(0),
            outcome: "failed".into(),
            min_duration_ms: 100,
            ..Default::default()
        };
        let query = parse(&request).expect("valid");
        assert_eq!(query.limit, sessions::DEFAULT_PAGE);
        assert_eq!(query.filter.persona.as_deref(), Some("shopper"));
        assert_eq!(query.filter.target, Some(0));
        assert_eq!(query.filter.outcome, Some(Outcome::Failed));
        assert_eq!(query.filter.journey, None);
        assert_eq!(query.cursor, None);
    }
}
