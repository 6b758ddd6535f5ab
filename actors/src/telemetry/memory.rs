//! The embedded sink of `throng up`: live totals per campaign and the most
//! recent sessions, in process memory.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use super::{SessionRecord, TelemetryError, TelemetrySink};

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
}

/// Keeps totals and the last `recent_limit` sessions in memory.
#[derive(Clone)]
pub struct MemorySink {
    inner: Arc<Mutex<Inner>>,
    recent_limit: usize,
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
        }
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
}

#[async_trait::async_trait]
impl TelemetrySink for MemorySink {
    async fn record(&self, record: SessionRecord) -> Result<(), TelemetryError> {
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

    async fn flush(&self) -> Result<(), TelemetryError> {
        Ok(())
    }
}
