//! The embedded sink of `throng up`: a compact summary of every session (for
//! analytics and session lists), events per stream, the most recent sessions
//! (in full, for `session show`) and stream events, in process memory, and
//! every row in local data files when given a directory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::data_files::DataFiles;
use super::rows::session_rows;
use super::{SessionRecord, StreamRecord, TelemetryError, TelemetryHealth, TelemetrySink};
use crate::analytics::errors::{ErrorGroups, ErrorReport, Example, MAX_GROUPS, classify};
use crate::analytics::sessions::{Position, SessionDetail, SessionFilter, SessionSummary, error_class};
use crate::analytics::{
    AnalyticsError, AnalyticsSource, BrowserFacts, CellKey, Cells, Marginals, SessionFacts, Tally, bucket_of,
    overlaps,
};

/// Totals of one campaign as the memory sink saw them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignTotals {
    /// Distinct sessions (re-runs after a failover count once).
    pub sessions: u64,
    pub failed_sessions: u64,
    pub requests: u64,
}

/// What analytics and session lists need of one session: about 100 bytes,
/// 40 per request, and the text of its first failure.
struct StoredSession {
    persona: Arc<str>,
    journey: Arc<str>,
    target: u32,
    agent: Arc<str>,
    intended_ms: u64,
    started_ms: u64,
    facts: SessionFacts,
    /// The first failure, none when it succeeded.
    error: Option<Box<str>>,
    requests: Box<[StoredRequest]>,
}

/// What analytics need of one request.
struct StoredRequest {
    intended_ms: u64,
    latency_us: u64,
    /// Its campaign's [`ErrorTexts`] index when it failed.
    failure: Option<u32>,
    name: Arc<str>,
}

/// A campaign's distinct error texts, each stored once, with the path and
/// status of its first request; bounded like the report they feed.
#[derive(Default)]
struct ErrorTexts {
    index: HashMap<(String, String), u32>,
    texts: Vec<ErrorText>,
}

struct ErrorText {
    class: String,
    message: String,
    path: String,
    status: u16,
    excerpt: String,
}

/// The index of failures past the bound: counted as other.
const OTHER_ERROR: u32 = u32::MAX;

impl ErrorTexts {
    fn index_of(&mut self, request: &crate::campaign::session::RequestOutcome) -> u32 {
        let key = classify(request.status, &request.error);
        if let Some(index) = self.index.get(&key) {
            return *index;
        }
        if self.texts.len() >= MAX_GROUPS {
            return OTHER_ERROR;
        }
        let index = self.texts.len() as u32;
        self.texts.push(ErrorText {
            class: key.0.clone(),
            message: key.1.clone(),
            path: request.path.clone(),
            status: request.status,
            excerpt: request.excerpt.clone(),
        });
        self.index.insert(key, index);
        index
    }
}

/// One `Arc<str>` per distinct name, so sessions share their labels.
#[derive(Default)]
struct Labels(std::collections::HashSet<Arc<str>>);

impl Labels {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(label) = self.0.get(name) {
            return label.clone();
        }
        let label: Arc<str> = Arc::from(name);
        self.0.insert(label.clone());
        label
    }
}

#[derive(Default)]
struct Inner {
    /// Sessions by campaign and id: a session run again after a failover
    /// replaces its earlier record, as in ClickHouse. Shared, so a reading
    /// takes them in a moment and tallies them without holding the store.
    sessions: HashMap<String, HashMap<u64, Arc<StoredSession>>>,
    /// Sessions recorded per campaign, re-runs included: the version of
    /// what analytics read.
    writes: HashMap<String, u64>,
    labels: Labels,
    errors: HashMap<String, ErrorTexts>,
    recent: VecDeque<SessionRecord>,
    /// Events per (run, stream). Not deduplicated: a shard re-placed within
    /// one process is rare, and keeping every id would grow without bound.
    stream_counts: BTreeMap<(String, String), u64>,
    recent_events: VecDeque<StreamRecord>,
}

/// Keeps totals and the last `recent_limit` sessions in memory.
#[derive(Clone)]
pub struct MemorySink {
    inner: Arc<Mutex<Inner>>,
    recent_limit: usize,
    files: Option<Arc<Mutex<DataFiles>>>,
}

/// Sessions and stream events kept in full by default: about 20 MB.
pub const RECENT_LIMIT: usize = 10_000;

impl Default for MemorySink {
    fn default() -> Self {
        MemorySink::new(RECENT_LIMIT)
    }
}

impl MemorySink {
    pub fn new(recent_limit: usize) -> Self {
        MemorySink {
            inner: Arc::default(),
            recent_limit,
            files: None,
        }
    }

    /// The same, also appending every row to data files in `dir`.
    pub fn with_data_dir(recent_limit: usize, dir: &std::path::Path) -> std::io::Result<Self> {
        Ok(MemorySink {
            files: Some(Arc::new(Mutex::new(DataFiles::open(dir)?))),
            ..MemorySink::new(recent_limit)
        })
    }

    fn write_files(
        &self,
        write: impl FnOnce(&mut DataFiles) -> std::io::Result<()>,
    ) -> Result<(), TelemetryError> {
        let Some(files) = &self.files else { return Ok(()) };
        let mut files = files.lock().unwrap_or_else(|p| p.into_inner());
        write(&mut files).map_err(|e| TelemetryError::Unavailable {
            endpoint: files.dir().display().to_string(),
            reason: e.to_string(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Totals for one campaign.
    pub fn totals(&self, campaign_id: &str) -> CampaignTotals {
        let inner = self.lock();
        let Some(sessions) = inner.sessions.get(campaign_id) else {
            return CampaignTotals::default();
        };
        CampaignTotals {
            sessions: sessions.len() as u64,
            failed_sessions: sessions.values().filter(|s| s.facts.failed).count() as u64,
            requests: sessions.values().map(|s| s.requests.len() as u64).sum(),
        }
    }

    /// The most recent sessions, oldest first.
    pub fn recent(&self) -> Vec<SessionRecord> {
        self.lock().recent.iter().cloned().collect()
    }

    /// Events recorded per stream of a run.
    pub fn stream_counts(&self, run_id: &str) -> BTreeMap<String, u64> {
        self.lock()
            .stream_counts
            .iter()
            .filter(|((run, _), _)| run == run_id)
            .map(|((_, stream), n)| (stream.clone(), *n))
            .collect()
    }

    /// The most recent stream events, oldest first.
    pub fn recent_events(&self) -> Vec<StreamRecord> {
        self.lock().recent_events.iter().cloned().collect()
    }
}

#[async_trait::async_trait]
impl TelemetrySink for MemorySink {
    async fn record(&self, record: SessionRecord) -> Result<(), TelemetryError> {
        self.write_files(|files| files.write_session(&record))?;
        let mut inner = self.lock();
        let outcome = &record.outcome;
        let stored = StoredSession {
            persona: inner.labels.get(&outcome.persona),
            journey: inner.labels.get(&outcome.journey),
            target: outcome.target,
            agent: inner.labels.get(&record.agent_id),
            intended_ms: outcome.intended_ms,
            started_ms: outcome.started_ms,
            facts: SessionFacts {
                failed: outcome.failed,
                actions: outcome.summary.actions,
                page_views: outcome.summary.page_views,
                duration_ms: outcome.ended_ms.saturating_sub(outcome.started_ms),
                conversions: outcome.summary.conversions,
                revenue_cents: outcome.summary.revenue_cents,
                browser: outcome.browser.as_ref().map(|b| BrowserFacts {
                    bot_persona: b.bot_persona,
                    risk: b.verdict.as_ref().map(|v| v.risk),
                    retried: b.attempts > 1,
                }),
                late: crate::generator::started_late(outcome.intended_ms, outcome.started_ms),
            },
            error: (!outcome.error.is_empty()).then(|| outcome.error.as_str().into()),
            requests: Box::default(),
        };
        let inner = &mut *inner;
        let errors = inner.errors.entry(record.campaign_id.clone()).or_default();
        let requests = outcome
            .requests
            .iter()
            .map(|r| StoredRequest {
                intended_ms: r.intended_ms,
                latency_us: r.latency_us,
                failure: r.failed().then(|| errors.index_of(r)),
                name: inner.labels.get(&r.name),
            })
            .collect();
        *inner.writes.entry(record.campaign_id.clone()).or_default() += 1;
        let stored = StoredSession { requests, ..stored };
        inner
            .sessions
            .entry(record.campaign_id.clone())
            .or_default()
            .insert(outcome.session_id, Arc::new(stored));
        inner.recent.push_back(record);
        while inner.recent.len() > self.recent_limit {
            inner.recent.pop_front();
        }
        Ok(())
    }

    async fn record_stream_events(&self, events: Vec<StreamRecord>) -> Result<(), TelemetryError> {
        self.write_files(|files| files.write_events(&events))?;
        let mut inner = self.lock();
        for event in events {
            *inner
                .stream_counts
                .entry((event.run_id.clone(), event.stream.clone()))
                .or_default() += 1;
            inner.recent_events.push_back(event);
        }
        while inner.recent_events.len() > self.recent_limit {
            inner.recent_events.pop_front();
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), TelemetryError> {
        self.write_files(DataFiles::flush)
    }

    fn health(&self) -> TelemetryHealth {
        let inner = self.lock();
        let sessions: u64 = inner.sessions.values().map(|s| s.len() as u64).sum();
        let events: u64 = inner.stream_counts.values().sum();
        TelemetryHealth {
            store: "memory".to_string(),
            rows_written: sessions + events,
            ..TelemetryHealth::default()
        }
    }
}

/// The address of an interned label: equal labels share one `Arc<str>`,
/// so cells are found by address, with no string made per request.
fn address(label: &Arc<str>) -> usize {
    Arc::as_ptr(label) as *const u8 as usize
}

/// A cell's labels by address, and its time bucket.
type CellAddress = (usize, usize, u32, usize, u64);

/// A campaign's marginal tallies from its stored sessions.
fn tally(sessions: &[Arc<StoredSession>], resolution_ms: u64) -> Marginals {
    let mut by_address: HashMap<CellAddress, Tally> = HashMap::new();
    // A session of each combination of labels, to name its cells by.
    let mut named: HashMap<(usize, usize, u32, usize), &StoredSession> = HashMap::new();
    let mut names: HashMap<usize, (&Arc<str>, Tally)> = HashMap::new();
    for session in sessions {
        let labels = (
            address(&session.persona),
            address(&session.journey),
            session.target,
            address(&session.agent),
        );
        named.entry(labels).or_insert(session);
        let (persona, journey, target, agent) = labels;
        let cell = |at_ms: u64| (persona, journey, target, agent, bucket_of(at_ms, resolution_ms));
        by_address
            .entry(cell(session.intended_ms))
            .or_default()
            .add_session(session.facts);
        let ended_ms = session.started_ms + session.facts.duration_ms;
        for (bucket_ms, overlap_ms) in overlaps(session.started_ms, ended_ms, resolution_ms) {
            by_address.entry(cell(bucket_ms)).or_default().active_ms += overlap_ms;
        }
        for request in &session.requests {
            let failed = request.failure.is_some();
            by_address
                .entry(cell(request.intended_ms))
                .or_default()
                .add_request(request.latency_us, failed);
            names
                .entry(address(&request.name))
                .or_insert_with(|| (&request.name, Tally::default()))
                .1
                .add_request(request.latency_us, failed);
        }
    }
    let mut cells = Cells::new();
    for ((persona, journey, target, agent, bucket_ms), tally) in by_address {
        let session = named[&(persona, journey, target, agent)];
        let key = CellKey {
            persona: session.persona.to_string(),
            journey: session.journey.to_string(),
            target,
            agent: session.agent.to_string(),
            bucket_ms,
        };
        cells.entry(key).or_default().merge(&tally);
    }
    let mut tallies = Marginals::of(&cells, resolution_ms);
    for (name, tally) in names.into_values() {
        tallies.names.entry(name.to_string()).or_default().merge(&tally);
    }
    tallies
}

#[async_trait::async_trait]
impl AnalyticsSource for MemorySink {
    async fn tallies(&self, campaign_id: &str, resolution_ms: u64) -> Result<Marginals, AnalyticsError> {
        let sessions: Vec<Arc<StoredSession>> = match self.lock().sessions.get(campaign_id) {
            Some(sessions) => sessions.values().cloned().collect(),
            None => return Ok(Marginals::default()),
        };
        // Tallied away from the runtime's workers and the store's lock: at
        // a hundred thousand sessions this takes a while, and the sessions
        // of running campaigns keep being recorded meanwhile.
        tokio::task::spawn_blocking(move || tally(&sessions, resolution_ms))
            .await
            .map_err(|e| AnalyticsError::Unavailable {
                endpoint: "memory".to_string(),
                reason: e.to_string(),
            })
    }

    async fn sessions(
        &self,
        campaign_id: &str,
        filter: &SessionFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, AnalyticsError> {
        let inner = self.lock();
        let Some(sessions) = inner.sessions.get(campaign_id) else {
            return Ok(Vec::new());
        };
        let mut kept: Vec<SessionSummary> = sessions
            .iter()
            .map(|(id, s)| summary(*id, s))
            .filter(|s| filter.keeps(s) && after.is_none_or(|at| at.is_before(s)))
            .collect();
        kept.sort_by_key(|s| std::cmp::Reverse(s.position()));
        kept.truncate(limit as usize + 1);
        Ok(kept)
    }

    async fn session(
        &self,
        campaign_id: &str,
        session_id: u64,
    ) -> Result<Option<SessionDetail>, AnalyticsError> {
        let inner = self.lock();
        let ran = inner
            .sessions
            .get(campaign_id)
            .is_some_and(|sessions| sessions.contains_key(&session_id));
        if !ran {
            return Ok(None);
        }
        let record = inner
            .recent
            .iter()
            .rev()
            .find(|r| r.campaign_id == campaign_id && r.outcome.session_id == session_id);
        match record {
            Some(record) => {
                let rows = session_rows(record.clone());
                Ok(Some(SessionDetail::of(
                    &rows.session,
                    rows.requests,
                    rows.browser,
                )))
            }
            None => Err(AnalyticsError::NotKept {
                what: format!("session {session_id}"),
                limit: self.recent_limit,
            }),
        }
    }

    async fn version(&self, campaign_id: &str) -> Result<u64, AnalyticsError> {
        Ok(self.lock().writes.get(campaign_id).copied().unwrap_or(0))
    }

    async fn errors(&self, campaign_id: &str) -> Result<ErrorReport, AnalyticsError> {
        let inner = self.lock();
        let mut groups = ErrorGroups::default();
        let (Some(sessions), Some(texts)) = (inner.sessions.get(campaign_id), inner.errors.get(campaign_id))
        else {
            return Ok(groups.report());
        };
        // (count, first, last) per error text, then one group each.
        let mut seen: HashMap<u32, (u64, u64, u64)> = HashMap::new();
        for request in sessions.values().flat_map(|s| s.requests.iter()) {
            if let Some(index) = request.failure {
                let at_ms = request.intended_ms;
                let entry = seen.entry(index).or_insert((0, u64::MAX, 0));
                *entry = (entry.0 + 1, entry.1.min(at_ms), entry.2.max(at_ms));
            }
        }
        for (index, (count, first, last)) in seen {
            match texts.texts.get(index as usize) {
                Some(text) => groups.add(
                    &text.class,
                    &text.message,
                    count,
                    (first, last),
                    Example {
                        path: &text.path,
                        status: text.status,
                        excerpt: &text.excerpt,
                    },
                ),
                None => groups.add_other(count),
            }
        }
        Ok(groups.report())
    }
}

/// A stored session as a session list shows it.
fn summary(session_id: u64, s: &StoredSession) -> SessionSummary {
    let error = s.error.as_deref().unwrap_or_default();
    SessionSummary {
        session_id,
        intended_ms: s.intended_ms,
        duration_ms: s.facts.duration_ms,
        persona: s.persona.to_string(),
        journey: s.journey.to_string(),
        target: s.target,
        agent: s.agent.to_string(),
        requests: s.requests.len() as u32,
        failed_requests: s.requests.iter().filter(|r| r.failure.is_some()).count() as u32,
        page_views: s.facts.page_views,
        actions: s.facts.actions,
        conversions: s.facts.conversions,
        revenue_cents: s.facts.revenue_cents,
        ok: !s.facts.failed,
        error: error.to_string(),
        error_class: error_class(error),
    }
}
