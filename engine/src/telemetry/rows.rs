//! The rows Throng stores, table by table, as ClickHouse's columns name
//! them: written by the ClickHouse sink, spilled to disk, and written to the
//! embedded store's data files.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::{SessionRecord, StreamRecord, epoch_day};
use crate::ids;

#[derive(Debug, Row, Serialize, Deserialize)]
pub(crate) struct SessionRow {
    pub(crate) event_date: u16,
    pub(crate) campaign_id: String,
    pub(crate) session_id: u64,
    pub(crate) shard: u32,
    pub(crate) seq: u64,
    pub(crate) agent_id: String,
    pub(crate) epoch: u64,
    pub(crate) intended_ms: u64,
    pub(crate) started_ms: u64,
    pub(crate) ended_ms: u64,
    pub(crate) persona: String,
    pub(crate) journey: String,
    pub(crate) target: u32,
    pub(crate) requests: u32,
    pub(crate) errors: u32,
    pub(crate) ok: u8,
    pub(crate) error: String,
    // Added by migration 3; batches spilled before it have none.
    #[serde(default)]
    pub(crate) page_views: u32,
    #[serde(default)]
    pub(crate) actions: u32,
    #[serde(default)]
    pub(crate) conversions: u32,
    #[serde(default)]
    pub(crate) revenue_cents: u64,
    // Added by migration 7; batches spilled before it have none.
    #[serde(default)]
    pub(crate) visitor_id: u64,
    #[serde(default)]
    pub(crate) visit_count: u32,
    #[serde(default)]
    pub(crate) device: String,
    #[serde(default)]
    pub(crate) country: String,
    #[serde(default)]
    pub(crate) referrer: String,
}

#[derive(Debug, Row, Serialize, Deserialize)]
pub(crate) struct RequestRow {
    pub(crate) event_date: u16,
    pub(crate) campaign_id: String,
    pub(crate) session_id: u64,
    pub(crate) request_id: u64,
    pub(crate) idx: u32,
    pub(crate) name: String,
    pub(crate) action: String,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) latency_us: u64,
    pub(crate) intended_ms: u64,
    pub(crate) error: String,
    // Added by migration 3; batches spilled before it have none.
    #[serde(default)]
    pub(crate) persona: String,
    #[serde(default)]
    pub(crate) journey: String,
    #[serde(default)]
    pub(crate) target: u32,
    #[serde(default)]
    pub(crate) agent_id: String,
    // Added by migration 8.
    #[serde(default)]
    pub(crate) bytes: u64,
    #[serde(default)]
    pub(crate) excerpt: String,
}

/// One step of a session: a page visit (`page` = 1) or an action on a page.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(crate) struct ActionRow {
    pub(crate) event_date: u16,
    pub(crate) campaign_id: String,
    pub(crate) session_id: u64,
    pub(crate) idx: u32,
    pub(crate) action: String,
    pub(crate) page: u8,
    pub(crate) path: String,
    pub(crate) intended_ms: u64,
    pub(crate) revenue_cents: u64,
    pub(crate) persona: String,
    pub(crate) journey: String,
    pub(crate) target: u32,
    pub(crate) agent_id: String,
}

/// A browser session: the detector's verdict, the signals it judged, and
/// each page's Web Vitals as parallel arrays.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(crate) struct BrowserSessionRow {
    pub(crate) event_date: u16,
    pub(crate) campaign_id: String,
    pub(crate) session_id: u64,
    pub(crate) intended_ms: u64,
    pub(crate) persona: String,
    pub(crate) journey: String,
    pub(crate) target: u32,
    pub(crate) agent_id: String,
    pub(crate) bot_persona: u8,
    pub(crate) ok: u8,
    pub(crate) attempts: u32,
    /// `LOW`, `MEDIUM`, `HIGH`, or empty when the visit failed before.
    pub(crate) risk: String,
    pub(crate) score: f64,
    pub(crate) confidence: f64,
    pub(crate) reasons: Vec<String>,
    pub(crate) mouse_events: u32,
    pub(crate) clicks: u32,
    pub(crate) straightness: f64,
    pub(crate) keystrokes: u32,
    pub(crate) correction_ratio: f64,
    pub(crate) scroll_events: u32,
    pub(crate) blurs: u32,
    pub(crate) duration_ms: f64,
    pub(crate) page_urls: Vec<String>,
    pub(crate) status: Vec<u16>,
    pub(crate) ttfb_ms: Vec<f64>,
    pub(crate) load_ms: Vec<f64>,
    pub(crate) lcp_ms: Vec<f64>,
    pub(crate) cls: Vec<f64>,
    pub(crate) inp_ms: Vec<f64>,
    pub(crate) js_errors: u32,
    pub(crate) screenshot: String,
}

#[derive(Debug, Row, Serialize, Deserialize)]
pub(crate) struct StreamEventRow {
    pub(crate) event_date: u16,
    pub(crate) run_id: String,
    pub(crate) stream: String,
    pub(crate) event_id: u64,
    pub(crate) at_ms: i64,
    pub(crate) parent_id: u64,
    pub(crate) entities: String,
    pub(crate) data: String,
    pub(crate) shard: u32,
    pub(crate) epoch: u64,
}

/// A finished session's rows in each table.
pub(crate) struct SessionRows {
    pub(crate) session: SessionRow,
    pub(crate) requests: Vec<RequestRow>,
    pub(crate) actions: Vec<ActionRow>,
    pub(crate) browser: Option<BrowserSessionRow>,
}

/// A finished session as its `sessions`, `requests` and `actions` rows.
pub(crate) fn session_rows(record: SessionRecord) -> SessionRows {
    let outcome = record.outcome;
    let day = epoch_day(outcome.intended_ms);
    let requests = outcome
        .requests
        .iter()
        .map(|request| RequestRow {
            event_date: day,
            campaign_id: record.campaign_id.clone(),
            session_id: outcome.session_id,
            request_id: ids::request_id(outcome.session_id, request.index),
            idx: request.index,
            name: request.name.clone(),
            action: request.action.clone(),
            path: request.path.clone(),
            status: request.status,
            latency_us: request.latency_us,
            intended_ms: request.intended_ms,
            error: request.error.clone(),
            persona: outcome.persona.clone(),
            journey: outcome.journey.clone(),
            target: outcome.target,
            agent_id: record.agent_id.clone(),
            bytes: request.bytes,
            excerpt: request.excerpt.clone(),
        })
        .collect();
    let actions = outcome
        .steps
        .iter()
        .map(|step| ActionRow {
            event_date: day,
            campaign_id: record.campaign_id.clone(),
            session_id: outcome.session_id,
            idx: step.index,
            action: step.action.to_string(),
            page: u8::from(step.page),
            path: step.path.clone(),
            intended_ms: step.intended_ms,
            revenue_cents: step.revenue_cents,
            persona: outcome.persona.clone(),
            journey: outcome.journey.clone(),
            target: outcome.target,
            agent_id: record.agent_id.clone(),
        })
        .collect();
    let browser = outcome.browser.as_ref().map(|b| {
        let verdict = b.verdict.as_ref();
        let summary = verdict.map(|v| &v.summary);
        let pages = |f: fn(&crate::campaign::browsing::PageVitals) -> f64| b.pages.iter().map(f).collect();
        BrowserSessionRow {
            event_date: day,
            campaign_id: record.campaign_id.clone(),
            session_id: outcome.session_id,
            intended_ms: outcome.intended_ms,
            persona: outcome.persona.clone(),
            journey: outcome.journey.clone(),
            target: outcome.target,
            agent_id: record.agent_id.clone(),
            bot_persona: u8::from(b.bot_persona),
            ok: u8::from(!outcome.failed),
            attempts: b.attempts,
            risk: verdict
                .map(|v| format!("{:?}", v.risk).to_uppercase())
                .unwrap_or_default(),
            score: verdict.map_or(0.0, |v| v.score),
            confidence: verdict.map_or(0.0, |v| v.confidence),
            reasons: verdict.map(|v| v.reasons.clone()).unwrap_or_default(),
            mouse_events: summary.map_or(0, |s| s.mouse_events as u32),
            clicks: summary.map_or(0, |s| s.clicks as u32),
            straightness: summary.and_then(|s| s.straightness).unwrap_or(0.0),
            keystrokes: summary.map_or(0, |s| s.keystrokes as u32),
            correction_ratio: summary.map_or(0.0, |s| s.correction_ratio),
            scroll_events: summary.map_or(0, |s| s.scroll_events as u32),
            blurs: summary.map_or(0, |s| s.blurs as u32),
            duration_ms: summary.map_or(0.0, |s| s.duration_ms),
            page_urls: b.pages.iter().map(|p| p.url.clone()).collect(),
            status: b.pages.iter().map(|p| p.status).collect(),
            ttfb_ms: pages(|p| p.ttfb_ms),
            load_ms: pages(|p| p.load_ms),
            lcp_ms: pages(|p| p.lcp_ms),
            cls: pages(|p| p.cls),
            inp_ms: pages(|p| p.inp_ms),
            js_errors: b.errors.len() as u32,
            screenshot: b.screenshot.clone().unwrap_or_default(),
        }
    });
    let errors = outcome.requests.iter().filter(|r| r.failed()).count();
    let session = SessionRow {
        event_date: day,
        campaign_id: record.campaign_id,
        session_id: outcome.session_id,
        shard: outcome.shard,
        seq: outcome.seq,
        agent_id: record.agent_id,
        epoch: record.epoch,
        intended_ms: outcome.intended_ms,
        started_ms: outcome.started_ms,
        ended_ms: outcome.ended_ms,
        persona: outcome.persona,
        journey: outcome.journey,
        target: outcome.target,
        requests: outcome.requests.len() as u32,
        errors: errors as u32,
        ok: u8::from(!outcome.failed),
        error: outcome.error,
        page_views: outcome.summary.page_views,
        actions: outcome.summary.actions,
        conversions: outcome.summary.conversions,
        revenue_cents: outcome.summary.revenue_cents,
        visitor_id: outcome.visit.visitor_id,
        visit_count: outcome.visit.visit_count.min(u64::from(u32::MAX)) as u32,
        device: outcome.visit.device,
        country: outcome.visit.country,
        referrer: outcome.visit.referrer,
    };
    SessionRows {
        session,
        requests,
        actions,
        browser,
    }
}

/// A stream event as its `stream_events` row.
pub(crate) fn event_row(e: StreamRecord) -> StreamEventRow {
    StreamEventRow {
        event_date: epoch_day(e.at_ms.max(0) as u64),
        run_id: e.run_id,
        stream: e.stream,
        event_id: e.event_id,
        at_ms: e.at_ms,
        parent_id: e.parent_id,
        entities: e.entities,
        data: e.data,
        shard: e.shard,
        epoch: e.epoch,
    }
}

/// A finished session as events for a campaign's sinks: one on stream
/// `sessions` (the session's id) and one per request on `requests` (the
/// request's id, the session its parent), each holding the row ClickHouse
/// keeps, keyed by the visitor (so a visitor's sessions keep to one Kafka
/// partition, in order). Ids are written as sinks write every id: 16 hex
/// digits.
pub(crate) fn sink_events(record: &SessionRecord) -> Vec<StreamRecord> {
    let [sessions, requests] = crate::streams::sinks::CAMPAIGN_STREAMS;
    let (shard, epoch) = (record.outcome.shard, record.epoch);
    let rows = session_rows(record.clone());
    let session_id = rows.session.session_id;
    let visitor = format!("{:016x}", rows.session.visitor_id);
    let key = format!("visitor:{visitor}");
    let mut events = Vec::with_capacity(1 + rows.requests.len());
    events.push(StreamRecord {
        run_id: record.campaign_id.clone(),
        shard,
        epoch,
        event_id: session_id,
        stream: sessions.to_string(),
        at_ms: rows.session.intended_ms as i64,
        parent_id: 0,
        entities: format!("{{\"visitor\":\"{visitor}\"}}"),
        data: row_data(&rows.session),
        key: key.clone(),
    });
    for request in &rows.requests {
        events.push(StreamRecord {
            run_id: record.campaign_id.clone(),
            shard,
            epoch,
            event_id: request.request_id,
            stream: requests.to_string(),
            at_ms: request.intended_ms as i64,
            parent_id: session_id,
            entities: format!("{{\"visitor\":\"{visitor}\",\"session\":\"{session_id:016x}\"}}"),
            data: row_data(request),
            key: key.clone(),
        });
    }
    events
}

/// A row's columns as a JSON object, without those the event carries
/// itself (run, id, parent) or that only partition ClickHouse's table.
fn row_data<T: Serialize>(row: &T) -> String {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value {
        for carried in ["event_date", "campaign_id", "session_id", "request_id"] {
            map.remove(carried);
        }
    }
    value.to_string()
}
