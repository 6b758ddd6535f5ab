//! Campaign analytics: sessions, page views, bounce rate, conversions,
//! revenue, errors and latency percentiles, in total, broken down by a
//! dimension, and as a time series.
//!
//! A store (ClickHouse, or the embedded store of `throng up`) answers with
//! [`Marginals`]: integer tallies in total, by persona, journey, target and
//! agent, and by time bucket, with latencies as a histogram. Everything
//! users read is computed from them by one function, [`analyse`], so both
//! stores give the same answers to the last digit: tallies add up exactly
//! in any order, and the histogram's buckets are computed the same way in
//! SQL and here.

mod clickhouse;
pub mod errors;
pub mod sessions;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::behaviour::score::Risk;

pub use self::clickhouse::ClickHouseAnalytics;

/// What a cell is keyed by.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellKey {
    pub persona: String,
    pub journey: String,
    /// Index into the campaign's targets.
    pub target: u32,
    pub agent: String,
    /// Start of the time bucket, epoch millis (0 when not bucketed by time).
    pub bucket_ms: u64,
}

/// Integer tallies of one cell: exact whatever order they are added in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub sessions: u64,
    pub failed_sessions: u64,
    /// Sessions of exactly one action.
    pub bounces: u64,
    pub page_views: u64,
    pub actions: u64,
    pub duration_ms: u64,
    pub conversions: u64,
    pub revenue_cents: u64,
    pub requests: u64,
    pub failed_requests: u64,
    /// Requests by latency, in microseconds rounded up to three significant
    /// digits ([`latency_bucket`]).
    pub latency: BTreeMap<u64, u64>,
    #[serde(default)]
    pub detection: DetectionTally,
    /// Milliseconds sessions were in progress within the cell's time bucket
    /// (a session counts in every bucket it overlaps, by its own clock).
    #[serde(default)]
    pub active_ms: u64,
    /// Sessions that started over [`crate::generator::LATE_START`] after
    /// their intended start: many of them, and the generator limited the run.
    #[serde(default)]
    pub late_sessions: u64,
}

/// Browser sessions as the bot detector judged them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionTally {
    pub browser_sessions: u64,
    /// Sessions of human personas the detector judged, and how many of
    /// them it judged LOW risk.
    pub humans: u64,
    pub humans_low: u64,
    /// Sessions of bot personas it judged, and how many it judged HIGH risk.
    pub bots: u64,
    pub bots_high: u64,
    /// Sessions whose browser died (or hung) under them and that ran again.
    pub retried: u64,
}

impl DetectionTally {
    fn merge(&mut self, other: &DetectionTally) {
        self.browser_sessions += other.browser_sessions;
        self.humans += other.humans;
        self.humans_low += other.humans_low;
        self.bots += other.bots;
        self.bots_high += other.bots_high;
        self.retried += other.retried;
    }
}

/// What a browser session adds to the facts analytics count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BrowserFacts {
    pub bot_persona: bool,
    /// The detector's verdict, none when the visit failed before it.
    pub risk: Option<Risk>,
    /// The visit ran more than once.
    pub retried: bool,
}

/// The facts of one session that analytics count.
#[derive(Clone, Copy, Debug)]
pub struct SessionFacts {
    pub failed: bool,
    pub actions: u32,
    pub page_views: u32,
    pub duration_ms: u64,
    pub conversions: u32,
    pub revenue_cents: u64,
    pub browser: Option<BrowserFacts>,
    /// It started over [`crate::generator::LATE_START`] after its intended start.
    pub late: bool,
}

impl Tally {
    pub fn add_session(&mut self, s: SessionFacts) {
        self.sessions += 1;
        self.failed_sessions += u64::from(s.failed);
        self.bounces += u64::from(s.actions == 1);
        self.page_views += u64::from(s.page_views);
        self.actions += u64::from(s.actions);
        self.duration_ms += s.duration_ms;
        self.conversions += u64::from(s.conversions);
        self.revenue_cents += s.revenue_cents;
        self.late_sessions += u64::from(s.late);
        if let Some(b) = s.browser {
            let d = &mut self.detection;
            d.browser_sessions += 1;
            d.retried += u64::from(b.retried);
            match (b.bot_persona, b.risk) {
                (false, Some(risk)) => {
                    d.humans += 1;
                    d.humans_low += u64::from(risk == Risk::Low);
                }
                (true, Some(risk)) => {
                    d.bots += 1;
                    d.bots_high += u64::from(risk == Risk::High);
                }
                (_, None) => {}
            }
        }
    }

    pub fn add_request(&mut self, latency_us: u64, failed: bool) {
        self.add_requests(latency_bucket(latency_us), 1, u64::from(failed));
    }

    /// `count` requests in latency bucket `bucket_us`, `failed` of them failed.
    pub fn add_requests(&mut self, bucket_us: u64, count: u64, failed: u64) {
        self.requests += count;
        self.failed_requests += failed;
        *self.latency.entry(bucket_us).or_default() += count;
    }

    pub fn merge(&mut self, other: &Tally) {
        self.sessions += other.sessions;
        self.failed_sessions += other.failed_sessions;
        self.bounces += other.bounces;
        self.page_views += other.page_views;
        self.actions += other.actions;
        self.duration_ms += other.duration_ms;
        self.conversions += other.conversions;
        self.revenue_cents += other.revenue_cents;
        self.requests += other.requests;
        self.failed_requests += other.failed_requests;
        for (bucket, count) in &other.latency {
            *self.latency.entry(*bucket).or_default() += count;
        }
        self.detection.merge(&other.detection);
        self.active_ms += other.active_ms;
        self.late_sessions += other.late_sessions;
    }

    /// The latency at quantile `q` (0..=1) in milliseconds: the bucket of the
    /// request at rank ⌊q·n⌋, as ClickHouse's `quantileExact` picks it.
    pub fn latency_ms(&self, q: f64) -> f64 {
        let total: u64 = self.latency.values().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = ((q * total as f64) as u64).min(total - 1);
        let mut seen = 0;
        for (bucket, count) in &self.latency {
            seen += count;
            if seen > rank {
                return *bucket as f64 / 1000.0;
            }
        }
        0.0
    }
}

/// Microseconds rounded up to three significant digits: at most 1 % above
/// the true value, and few enough distinct values to group by. The SQL of
/// the ClickHouse store computes the same ([`LATENCY_BUCKET_SQL`]).
pub fn latency_bucket(us: u64) -> u64 {
    if us < 1000 {
        return us;
    }
    let scale = 10u64.pow(us.ilog10() - 2);
    us.div_ceil(scale) * scale
}

/// [`latency_bucket`] of the `latency_us` column, in SQL that runs on
/// ClickHouse 18.16 and current releases (both branches of `if` are
/// evaluated, so the scale never drops below 1; subtraction turns unsigned
/// integers signed, hence `toUInt64`).
pub const LATENCY_BUCKET_SQL: &str = "if(latency_us < 1000, latency_us, toUInt64(\
     intDiv(latency_us + intExp10(greatest(length(toString(latency_us)), 3) - 3) - 1, \
     intExp10(greatest(length(toString(latency_us)), 3) - 3)) \
     * intExp10(greatest(length(toString(latency_us)), 3) - 3)))";

/// A campaign's tallies, cell by cell.
pub type Cells = BTreeMap<CellKey, Tally>;

/// A campaign's tallies as its analytics read them: in total, by each
/// dimension's values, and by time bucket. No answer crosses two
/// dimensions, or a dimension with time, so a store reads no finer cut: at
/// a million sessions the cells with their latency histograms are about as
/// many as the requests, these a few thousand.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Marginals {
    pub totals: Tally,
    pub personas: BTreeMap<String, Tally>,
    pub journeys: BTreeMap<String, Tally>,
    /// By index into the campaign's targets.
    pub targets: BTreeMap<u32, Tally>,
    pub agents: BTreeMap<String, Tally>,
    /// By bucket start; empty without a resolution.
    pub series: BTreeMap<u64, Tally>,
    /// Requests by name (`journey.step`, or `matomo.bulk`), as a load
    /// tester's statistics table lists them.
    pub names: NameTallies,
}

impl Marginals {
    /// The marginals of a campaign's cells bucketed by `resolution_ms`.
    pub fn of(cells: &Cells, resolution_ms: u64) -> Marginals {
        let mut tallies = Marginals::default();
        for (key, tally) in cells {
            tallies.add_cell(key, tally, resolution_ms);
        }
        tallies
    }

    /// Counts `tally` of cell `key` in the totals, the groups of its
    /// dimensions and, with a resolution, its time bucket.
    pub fn add_cell(&mut self, key: &CellKey, tally: &Tally, resolution_ms: u64) {
        self.add_overall(key, tally);
        self.add_to_series(key.bucket_ms, tally, resolution_ms);
    }

    /// Counts `tally` in the totals and in the groups of `key`'s persona,
    /// journey, target and agent (its bucket is not read).
    pub fn add_overall(&mut self, key: &CellKey, tally: &Tally) {
        self.totals.merge(tally);
        for (groups, value) in [
            (&mut self.personas, &key.persona),
            (&mut self.journeys, &key.journey),
            (&mut self.agents, &key.agent),
        ] {
            match groups.get_mut(value) {
                Some(group) => group.merge(tally),
                None => {
                    groups.insert(value.clone(), tally.clone());
                }
            }
        }
        self.targets.entry(key.target).or_default().merge(tally);
    }

    /// Counts `tally` in the time bucket starting at `bucket_ms`; nothing
    /// without a resolution.
    pub fn add_to_series(&mut self, bucket_ms: u64, tally: &Tally, resolution_ms: u64) {
        if resolution_ms > 0 {
            self.series.entry(bucket_ms).or_default().merge(tally);
        }
    }
}

/// Why analytics could not be answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AnalyticsError {
    #[error("the analytics store at {endpoint} is unavailable: {reason}")]
    Unavailable { endpoint: String, reason: String },
    /// The embedded store keeps only its most recent sessions in full.
    #[error(
        "{what} ran, but its details are no longer kept: the embedded store keeps the last {limit} \
         sessions in full (run with ClickHouse to keep every one)"
    )]
    NotKept { what: String, limit: usize },
}

/// A store that can tally a campaign.
#[async_trait::async_trait]
pub trait AnalyticsSource: Send + Sync + 'static {
    /// The campaign's tallies, its series bucketed by `resolution_ms` (0:
    /// no series), and its requests by name.
    async fn tallies(&self, campaign_id: &str, resolution_ms: u64) -> Result<Marginals, AnalyticsError>;

    /// The campaign's failed requests, grouped by class and message.
    async fn errors(&self, campaign_id: &str) -> Result<errors::ErrorReport, AnalyticsError>;

    /// Up to `limit + 1` of the campaign's sessions that pass `filter`,
    /// newest first (by intended start, then id), after `after`.
    async fn sessions(
        &self,
        campaign_id: &str,
        filter: &sessions::SessionFilter,
        after: Option<sessions::Position>,
        limit: u32,
    ) -> Result<Vec<sessions::SessionSummary>, AnalyticsError>;

    /// One session in full; none when the campaign has no such session.
    async fn session(
        &self,
        campaign_id: &str,
        session_id: u64,
    ) -> Result<Option<sessions::SessionDetail>, AnalyticsError>;

    /// A number that changes whenever the campaign's stored rows change, so
    /// answers computed from them can be kept until it does. A batch's
    /// session rows are written after its other rows, so a version read
    /// before a batch completes changes once it has.
    async fn version(&self, campaign_id: &str) -> Result<u64, AnalyticsError>;
}

/// A campaign's requests tallied by name.
pub type NameTallies = BTreeMap<String, Tally>;

/// How long a session from `started_ms` to `ended_ms` was in progress in
/// each time bucket of `resolution_ms` it overlaps: `(bucket start, ms)`.
/// The ClickHouse store computes the same in SQL.
pub fn overlaps(started_ms: u64, ended_ms: u64, resolution_ms: u64) -> impl Iterator<Item = (u64, u64)> {
    let ended_ms = ended_ms.max(started_ms);
    let first = bucket_of(started_ms, resolution_ms);
    let buckets = (bucket_of(ended_ms, resolution_ms) - first)
        .checked_div(resolution_ms)
        .map_or(0, |n| n + 1);
    (0..buckets).map(move |i| {
        let bucket = first + i * resolution_ms;
        let overlap = ended_ms.min(bucket + resolution_ms) - started_ms.max(bucket);
        (bucket, overlap)
    })
}

/// Sessions that start in one time bucket and end in another (or the
/// same), counted with the sums of their starts and ends.
#[derive(Clone, Copy, Debug)]
pub struct Spans {
    pub first_bucket_ms: u64,
    pub last_bucket_ms: u64,
    pub sessions: u64,
    pub started_ms: u64,
    pub ended_ms: u64,
}

/// What [`overlaps`] gives each session, added up by bucket, from the
/// sessions counted by the buckets they start and end in: a session is in
/// progress from its start to the end of its first bucket, for the whole
/// of every bucket between, and from the start of its last bucket to its
/// end. A store counts a million sessions so with one small grouping rather
/// than a row for every bucket of every session.
pub fn active_by_bucket(spans: &[Spans], resolution_ms: u64) -> BTreeMap<u64, u64> {
    let mut active: BTreeMap<u64, u64> = BTreeMap::new();
    // Sessions in progress through a whole bucket: +n after their first
    // bucket, -n at their last.
    let mut through: BTreeMap<u64, i64> = BTreeMap::new();
    for s in spans {
        if s.first_bucket_ms == s.last_bucket_ms {
            *active.entry(s.first_bucket_ms).or_default() += s.ended_ms - s.started_ms;
            continue;
        }
        *active.entry(s.first_bucket_ms).or_default() +=
            s.sessions * (s.first_bucket_ms + resolution_ms) - s.started_ms;
        *active.entry(s.last_bucket_ms).or_default() += s.ended_ms - s.sessions * s.last_bucket_ms;
        *through.entry(s.first_bucket_ms + resolution_ms).or_default() += s.sessions as i64;
        *through.entry(s.last_bucket_ms).or_default() -= s.sessions as i64;
    }
    let (Some(&first), Some(&last)) = (through.keys().next(), through.keys().next_back()) else {
        return active;
    };
    let mut in_progress = 0i64;
    let mut bucket = first;
    while bucket < last {
        in_progress += through.get(&bucket).copied().unwrap_or(0);
        if in_progress > 0 {
            *active.entry(bucket).or_default() += in_progress as u64 * resolution_ms;
        }
        bucket += resolution_ms;
    }
    active
}

/// The start of the bucket `at_ms` falls in.
pub fn bucket_of(at_ms: u64, resolution_ms: u64) -> u64 {
    at_ms.checked_div(resolution_ms).map_or(0, |n| n * resolution_ms)
}

/// A dimension results break down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Persona,
    Journey,
    Target,
    Agent,
    /// The request's name (`journey.step`): a statistics table per request,
    /// whose groups count requests only.
    Request,
}

impl Dimension {
    pub const NAMES: &'static str = "persona, journey, target, agent or request";
    pub const ALL: [Dimension; 5] = [
        Dimension::Persona,
        Dimension::Journey,
        Dimension::Target,
        Dimension::Agent,
        Dimension::Request,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Persona => "persona",
            Dimension::Journey => "journey",
            Dimension::Target => "target",
            Dimension::Agent => "agent",
            Dimension::Request => "request",
        }
    }

    pub fn parse(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
}

/// What users read about a set of sessions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub sessions: u64,
    pub failed_sessions: u64,
    pub page_views: u64,
    pub pages_per_session: f64,
    pub avg_session_ms: f64,
    /// Share of sessions of a single action.
    pub bounce_rate: f64,
    pub conversions: u64,
    /// Conversions per session.
    pub conversion_rate: f64,
    pub revenue: f64,
    pub requests: u64,
    /// Share of requests that failed (no answer, or a 4xx/5xx status).
    pub error_rate: f64,
    pub latency_ms: Percentiles,
    /// "Human vs simulated": present when the campaign ran browser sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detection>,
    /// Sessions that started over 250 ms after their intended start.
    #[serde(default)]
    pub late_sessions: u64,
    /// Over 1 % of the sessions started late: the generator, not the
    /// target, limited the run, and its latencies include that delay.
    #[serde(default)]
    pub generator_limited: bool,
}

/// How the bot detector judged a campaign's browser sessions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub browser_sessions: u64,
    /// Sessions whose browser died (or hung) under them and that ran again.
    pub retried_sessions: u64,
    /// Judged sessions of human personas, and the share judged human (LOW risk).
    pub human_sessions: u64,
    pub humans_judged_human: f64,
    /// Judged sessions of bot personas, and the share judged bots (HIGH risk).
    pub bot_sessions: u64,
    pub bots_judged_bot: f64,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl Summary {
    pub fn of(t: &Tally) -> Self {
        Summary {
            sessions: t.sessions,
            failed_sessions: t.failed_sessions,
            page_views: t.page_views,
            pages_per_session: ratio(t.page_views, t.sessions),
            avg_session_ms: ratio(t.duration_ms, t.sessions),
            bounce_rate: ratio(t.bounces, t.sessions),
            conversions: t.conversions,
            conversion_rate: ratio(t.conversions, t.sessions),
            revenue: t.revenue_cents as f64 / 100.0,
            requests: t.requests,
            error_rate: ratio(t.failed_requests, t.requests),
            latency_ms: Percentiles {
                p50: t.latency_ms(0.5),
                p90: t.latency_ms(0.9),
                p99: t.latency_ms(0.99),
                p999: t.latency_ms(0.999),
            },
            detection: (t.detection.browser_sessions > 0).then(|| {
                let d = &t.detection;
                Detection {
                    browser_sessions: d.browser_sessions,
                    retried_sessions: d.retried,
                    human_sessions: d.humans,
                    humans_judged_human: ratio(d.humans_low, d.humans),
                    bot_sessions: d.bots,
                    bots_judged_bot: ratio(d.bots_high, d.bots),
                }
            }),
            late_sessions: t.late_sessions,
            generator_limited: crate::generator::too_many_late(t.sessions, t.late_sessions),
        }
    }
}

/// One group of a breakdown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub key: String,
    #[serde(flatten)]
    pub summary: Summary,
}

/// One point of a time series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub start_ms: u64,
    /// Sessions in progress on average over the bucket: the time sessions
    /// spent in it, per bucket width.
    #[serde(default)]
    pub active_sessions: f64,
    #[serde(flatten)]
    pub summary: Summary,
}

/// A running campaign as the agents' per-second reports show it: fresher
/// than the store, whose rows arrive in batches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub sessions_started: u64,
    pub sessions_completed: u64,
    pub sessions_failed: u64,
    pub requests: u64,
    pub request_errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The analytics of one campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignAnalytics {
    pub campaign_id: String,
    pub name: String,
    /// Only while the campaign runs (or is paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
    pub totals: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Dimension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    /// Bucket width of `series`, 0 when there is none.
    #[serde(default)]
    pub resolution_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<Point>,
}

/// What to compute from a campaign's cells.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub by: Option<Dimension>,
    /// Time series bucket width; 0 for none.
    pub resolution_ms: u64,
    /// Labels of the campaign's targets by index (their URLs).
    pub target_labels: Vec<String>,
}

/// Everything the analytics of one campaign can answer, from one reading of
/// its store: totals, the breakdown by every dimension and the time series.
/// Answers for any dimension are cut from it, so a store is read once per
/// resolution, not once per question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Digest {
    pub totals: Summary,
    pub groups: BTreeMap<String, Vec<Group>>,
    pub resolution_ms: u64,
    pub series: Vec<Point>,
}

impl Digest {
    /// Summarises a campaign's tallies for time buckets of `resolution_ms`
    /// (0: none); `target_labels` names the campaign's targets by index.
    pub fn of(tallies: &Marginals, resolution_ms: u64, target_labels: &[String]) -> Digest {
        let summaries = |groups: &mut dyn Iterator<Item = (String, &Tally)>| -> Vec<Group> {
            groups
                .map(|(key, t)| Group {
                    key,
                    summary: Summary::of(t),
                })
                .collect()
        };
        let targets: BTreeMap<String, &Tally> = tallies
            .targets
            .iter()
            .map(|(index, tally)| {
                let label = target_labels
                    .get(*index as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("target {index}"));
                (label, tally)
            })
            .collect();
        let by_name =
            |groups: &BTreeMap<String, Tally>| summaries(&mut groups.iter().map(|(key, t)| (key.clone(), t)));
        let mut by = BTreeMap::new();
        by.insert("persona".to_string(), by_name(&tallies.personas));
        by.insert("journey".to_string(), by_name(&tallies.journeys));
        by.insert("target".to_string(), summaries(&mut targets.into_iter()));
        by.insert("agent".to_string(), by_name(&tallies.agents));
        by.insert("request".to_string(), by_name(&tallies.names));
        Digest {
            totals: Summary::of(&tallies.totals),
            groups: by,
            resolution_ms,
            series: if resolution_ms == 0 {
                Vec::new()
            } else {
                tallies
                    .series
                    .iter()
                    .map(|(start_ms, t)| Point {
                        start_ms: *start_ms,
                        active_sessions: ratio(t.active_ms, resolution_ms),
                        summary: Summary::of(t),
                    })
                    .collect()
            },
        }
    }

    /// The analytics of campaign `campaign_id` (named `name`), broken down
    /// by `by`.
    pub fn answer(&self, campaign_id: &str, name: &str, by: Option<Dimension>) -> CampaignAnalytics {
        CampaignAnalytics {
            campaign_id: campaign_id.to_string(),
            name: name.to_string(),
            live: None,
            totals: self.totals.clone(),
            by,
            groups: by
                .and_then(|by| self.groups.get(by.name()).cloned())
                .unwrap_or_default(),
            resolution_ms: self.resolution_ms,
            series: self.series.clone(),
        }
    }
}

/// Totals, the breakdown and the time series of one campaign's tallies.
pub fn analyse(campaign_id: &str, name: &str, tallies: &Marginals, query: &Query) -> CampaignAnalytics {
    Digest::of(tallies, query.resolution_ms, &query.target_labels).answer(campaign_id, name, query.by)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_keep_three_significant_digits_rounding_up() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(999), 999);
        assert_eq!(latency_bucket(1000), 1000);
        assert_eq!(latency_bucket(1001), 1010);
        assert_eq!(latency_bucket(123_456), 124_000);
        assert_eq!(latency_bucket(999_999), 1_000_000);
        for us in [1_234u64, 56_789, 7_654_321, u64::from(u32::MAX)] {
            let b = latency_bucket(us);
            assert!(b >= us && (b - us) as f64 <= us as f64 * 0.01, "{us} -> {b}");
        }
    }

    #[test]
    fn a_session_counts_in_every_bucket_it_overlaps() {
        let spans: Vec<_> = overlaps(1_500, 4_200, 1_000).collect();
        assert_eq!(
            spans,
            [(1_000, 500), (2_000, 1_000), (3_000, 1_000), (4_000, 200)]
        );
        assert_eq!(overlaps(2_000, 2_000, 1_000).collect::<Vec<_>>(), [(2_000, 0)]);
        assert_eq!(
            overlaps(3_000, 2_000, 1_000).collect::<Vec<_>>(),
            [(3_000, 0)],
            "an end before the start"
        );
        assert_eq!(overlaps(1_500, 4_200, 0).count(), 0, "no buckets, no series");
    }

    #[test]
    fn active_time_from_spans_is_the_sum_of_each_sessions_overlaps() {
        let resolution_ms = 1_000;
        let mut state = 11u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let mut sessions: Vec<(u64, u64)> = (0..2_000)
            .map(|_| {
                let start = 50_000 + next(60_000);
                (start, start + next(3) * next(9_000))
            })
            .collect();
        // One alone, minutes later: no bucket of the gap is in progress.
        sessions.push((500_500, 503_200));
        let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
        let mut spans: BTreeMap<(u64, u64), Spans> = BTreeMap::new();
        for &(start, end) in &sessions {
            for (bucket, ms) in overlaps(start, end, resolution_ms) {
                *expected.entry(bucket).or_default() += ms;
            }
            let key = (bucket_of(start, resolution_ms), bucket_of(end, resolution_ms));
            let span = spans.entry(key).or_insert(Spans {
                first_bucket_ms: key.0,
                last_bucket_ms: key.1,
                sessions: 0,
                started_ms: 0,
                ended_ms: 0,
            });
            span.sessions += 1;
            span.started_ms += start;
            span.ended_ms += end;
        }
        let spans: Vec<Spans> = spans.into_values().collect();
        assert!(
            spans
                .iter()
                .any(|s| s.last_bucket_ms > s.first_bucket_ms + resolution_ms)
        );
        assert_eq!(active_by_bucket(&spans, resolution_ms), expected);
    }

    #[test]
    fn percentiles_pick_the_rank_quantile_exact_picks() {
        let mut t = Tally::default();
        for ms in 1..=100u64 {
            t.add_request(ms * 1000, false);
        }
        assert_eq!(t.latency_ms(0.5), 51.0);
        assert_eq!(t.latency_ms(0.99), 100.0);
        assert_eq!(t.latency_ms(0.0), 1.0);
        assert_eq!(Tally::default().latency_ms(0.5), 0.0);
    }

    #[test]
    fn breakdown_and_series_add_up_to_the_totals() {
        let mut cells = Cells::new();
        for (i, persona) in ["a", "b", "a"].iter().enumerate() {
            let key = CellKey {
                persona: persona.to_string(),
                bucket_ms: i as u64 * 60_000,
                ..CellKey::default()
            };
            let tally = cells.entry(key).or_default();
            tally.add_session(SessionFacts {
                failed: i == 1,
                actions: i as u32 + 1,
                page_views: i as u32 + 1,
                duration_ms: 1000,
                conversions: u32::from(i == 2),
                revenue_cents: if i == 2 { 12_345 } else { 0 },
                browser: None,
                late: i == 1,
            });
            tally.add_request(2_000, i == 1);
        }
        let query = Query {
            by: Some(Dimension::Persona),
            resolution_ms: 60_000,
            ..Query::default()
        };
        let tallies = Marginals::of(&cells, query.resolution_ms);
        let report = analyse("c", "shop", &tallies, &query);
        assert_eq!(report.totals.sessions, 3);
        assert_eq!(report.totals.page_views, 6);
        assert!((report.totals.bounce_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(report.totals.revenue, 123.45);
        assert!((report.totals.error_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(report.totals.late_sessions, 1);
        assert!(
            report.totals.generator_limited,
            "one session in three started late"
        );
        assert!(
            !report.groups[0].summary.generator_limited,
            "persona a's two started on time"
        );
        let keys: Vec<_> = report
            .groups
            .iter()
            .map(|g| (g.key.as_str(), g.summary.sessions))
            .collect();
        assert_eq!(keys, [("a", 2), ("b", 1)]);
        let starts: Vec<_> = report.series.iter().map(|p| p.start_ms).collect();
        assert_eq!(starts, [0, 60_000, 120_000]);
    }
}
