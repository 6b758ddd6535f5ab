//! The embedded sink of `throng up`: live totals per campaign and per stream,
//! the most recent sessions and stream events, in process memory, and every
//! row in local data files when given a directory.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use super::data_files::DataFiles;
use super::{SessionRecord, StreamRecord, TelemetryError, TelemetrySink};

/// Totals of one campaign as the memory sink saw them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignTotals {
    /// Distinct sessions (re-runs after a failover count once).
    pub sessions: u64,
    pub failed_sessions: u64,
    pub requests: u64,
}

#[derive(Default)]
struct Inner {
    seen: HashSet<(String, u64)>,
    totals: BTreeMap<String, CampaignTotals>,
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

impl Default for MemorySink {
    fn default() -> Self {
        MemorySink::new(1_000)
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
        self.lock().totals.get(campaign_id).cloned().unwrap_or_default()
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
        let key = (record.campaign_id.clone(), record.outcome.session_id);
        if inner.seen.insert(key) {
            let totals = inner.totals.entry(record.campaign_id.clone()).or_default();
            totals.sessions += 1;
            totals.failed_sessions += u64::from(record.outcome.failed);
            totals.requests += record.outcome.requests.len() as u64;
        }
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
}
