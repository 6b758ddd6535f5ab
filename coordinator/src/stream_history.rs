//! `StreamHistory`: a stream run's history in blocks, generated on demand
//! (events are a pure function of catalog, seed and time), the baseline and
//! the same window under the run's scenario timeline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use throng_engine::streams::StreamRunSpec;
use tokio::sync::OnceCell;

use throng_engine::streams::history::{
    BaselineStats, History, Thresholds, against_baseline, hourly_spread, normalize,
};
use throng_engine::streams::pattern::{StreamPattern, select};
use throng_engine::streams::scenario::ScenarioRun;
use throng_proto::v1;

const DAY_MS: i64 = 86_400_000;
/// The longest window one request may generate.
const MAX_WINDOW_MS: i64 = 400 * DAY_MS;
const MAX_BLOCKS: i64 = 20_000;

/// What a history request asks, already parsed.
pub struct HistoryQuery {
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub block_ms: i64,
    pub patterns: Vec<String>,
}

/// A history query from its request's text: RFC 3339 bounds (empty: the
/// run's first 30 days) and seconds per block (0: 12 hours).
pub fn query(
    from: &str,
    until: &str,
    block_seconds: f64,
    patterns: Vec<String>,
) -> Result<HistoryQuery, crate::CoordinatorError> {
    Ok(HistoryQuery {
        from_ms: crate::app::instant("from", from)?,
        until_ms: crate::app::instant("until", until)?,
        block_ms: if block_seconds > 0.0 {
            (block_seconds * 1000.0) as i64
        } else {
            43_200_000
        },
        patterns,
    })
}

/// A run's history: a series per stream, in blocks from `from_ms`.
#[derive(Clone, Debug)]
pub struct StreamHistory {
    pub run_id: String,
    pub from_ms: i64,
    pub block_ms: i64,
    pub series: Vec<StreamSeries>,
}

/// One stream's counts per block, bent by the run's scenarios and events,
/// against its baseline, each block scored 0-100 with its flag.
#[derive(Clone, Debug)]
pub struct StreamSeries {
    pub stream: String,
    pub domain: String,
    pub cadence: &'static str,
    pub baseline: Vec<u64>,
    pub counts: Vec<u64>,
    pub scores: Vec<f64>,
    pub flags: Vec<&'static str>,
    pub stats: BaselineStats,
}

pub fn to_wire(history: &StreamHistory) -> v1::StreamHistoryResponse {
    v1::StreamHistoryResponse {
        run_id: history.run_id.clone(),
        from_ms: history.from_ms,
        block_ms: history.block_ms,
        series: history
            .series
            .iter()
            .map(|s| v1::StreamSeries {
                stream: s.stream.clone(),
                domain: s.domain.clone(),
                cadence: s.cadence.to_string(),
                baseline: s.baseline.clone(),
                counts: s.counts.clone(),
                scores: s.scores.clone(),
                flags: s.flags.iter().map(|f| f.to_string()).collect(),
                stats: Some(stats_to_wire(&s.stats)),
            })
            .collect(),
    }
}

fn stats_to_wire(stats: &BaselineStats) -> v1::BaselineStats {
    v1::BaselineStats {
        mean: stats.mean,
        median: stats.median,
        std_dev: stats.std_dev,
        min: stats.min,
        max: stats.max,
        p25: stats.p25,
        p75: stats.p75,
        p90: stats.p90,
        p95: stats.p95,
        weekday_mean: stats.weekday_mean,
        weekend_mean: stats.weekend_mean,
        trend_per_day: stats.trend_per_day,
        seasonality: stats.seasonality,
    }
}

/// Generates the history; the error names the bad part of the query.
pub fn history(
    run_id: &str,
    run: &StreamRunSpec,
    started_at_ms: i64,
    timeline: &[ScenarioRun],
    query: &HistoryQuery,
) -> Result<StreamHistory, String> {
    let catalog = &run.catalog;
    let start = run.clock.start_ms(started_at_ms);
    let from = query.from_ms.unwrap_or(start - 30 * DAY_MS);
    let until = query.until_ms.unwrap_or(from + 30 * DAY_MS);
    if query.block_ms < 60_000 {
        return Err("block_seconds: must be at least 60".into());
    }
    if until <= from {
        return Err("until: must come after from".into());
    }
    if until - from > MAX_WINDOW_MS {
        return Err("the window is longer than 400 days".into());
    }
    let blocks = (until - from + query.block_ms - 1) / query.block_ms;
    if blocks > MAX_BLOCKS {
        return Err(format!(
            "{blocks} blocks is more than {MAX_BLOCKS}; use longer blocks"
        ));
    }
    let patterns = if query.patterns.is_empty() {
        vec![StreamPattern::All]
    } else {
        query
            .patterns
            .iter()
            .map(|p| StreamPattern::parse(p, catalog).map_err(|e| format!("patterns: {e}")))
            .collect::<Result<Vec<_>, _>>()?
    };
    let streams = select(catalog, &patterns);
    let baseline = History::generate(catalog, run.scale, from, blocks as usize, query.block_ms, &[]);
    let bent = if timeline.is_empty() {
        baseline.clone()
    } else {
        History::generate(
            catalog,
            run.scale,
            from,
            blocks as usize,
            query.block_ms,
            timeline,
        )
    };
    let series = streams
        .into_iter()
        .map(|s| {
            let def = &catalog.streams[s];
            let stats = BaselineStats::of(catalog, &baseline.counts[s], from, query.block_ms);
            let scored: Vec<(f64, &'static str)> = bent.counts[s]
                .iter()
                .map(|c| {
                    let (score, flag) = normalize(*c as f64, &stats, Thresholds::default());
                    (score, flag.name())
                })
                .collect();
            StreamSeries {
                stream: def.name.to_string(),
                domain: def.domain.clone(),
                cadence: def.cadence.name(),
                baseline: baseline.counts[s].clone(),
                counts: bent.counts[s].clone(),
                scores: scored.iter().map(|(score, _)| *score).collect(),
                flags: scored.iter().map(|(_, flag)| *flag).collect(),
                stats,
            }
        })
        .collect();
    Ok(StreamHistory {
        run_id: run_id.to_string(),
        from_ms: from,
        block_ms: query.block_ms,
        series,
    })
}

const HOUR_MS: i64 = 3_600_000;

/// Each stream's last complete simulated hour against its baseline.
pub struct LiveScores {
    /// The end of that hour.
    pub until_ms: i64,
    pub streams: Vec<LiveScore>,
}

pub struct LiveScore {
    pub stream: String,
    pub domain: String,
    pub count: u64,
    /// What the baseline had in the same hour.
    pub baseline: u64,
    /// The day-to-day spread of that local hour over the 30-day baseline.
    pub spread: f64,
    pub score: f64,
    pub flag: &'static str,
}

/// Each stream's day-to-day spread by local hour over a run's 30-day
/// baseline: a month of generation, so made once per run, by whichever
/// caller comes first while the others wait for it.
#[derive(Default)]
pub struct SpreadCache {
    by_run: Mutex<HashMap<String, Arc<OnceCell<Arc<HourlySpreads>>>>>,
}

pub use throng_engine::streams::history::HourlySpreads;

impl SpreadCache {
    /// The cell that holds (or will hold) this run's spreads.
    pub fn cell(&self, run_id: &str) -> Arc<OnceCell<Arc<HourlySpreads>>> {
        let mut cells = self.by_run.lock().unwrap_or_else(|p| p.into_inner());
        cells.entry(run_id.to_string()).or_default().clone()
    }
}

/// Every stream's spread by local hour over the 30 days of baseline before
/// the run's simulated start, the window the history of a run shows by
/// default as its baseline.
pub fn baseline_spreads(run: &StreamRunSpec, started_at_ms: i64) -> HourlySpreads {
    let from = run.clock.start_ms(started_at_ms) - 30 * DAY_MS;
    let month = History::generate(&run.catalog, run.scale, from, 720, HOUR_MS, &[]);
    month
        .counts
        .iter()
        .map(|counts| hourly_spread(&run.catalog, counts, from))
        .collect()
}

/// Scores each stream's last complete hour before `now_ms` against the
/// baseline of that hour: 50 and normal where the run's scenarios and
/// injections changed nothing, and otherwise by how far the count moved,
/// in units of that local hour's day-to-day spread over the 30-day
/// baseline (so a quiet night hour and a busy evening are each judged by
/// their own usual variation).
pub fn live_scores(
    run: &StreamRunSpec,
    timeline: &[ScenarioRun],
    now_ms: i64,
    spreads: &HourlySpreads,
) -> LiveScores {
    let catalog = &run.catalog;
    let until = now_ms - now_ms.rem_euclid(HOUR_MS);
    let from = until - HOUR_MS;
    let baseline = History::generate(catalog, run.scale, from, 1, HOUR_MS, &[]);
    let bent = if timeline.is_empty() {
        baseline.clone()
    } else {
        History::generate(catalog, run.scale, from, 1, HOUR_MS, timeline)
    };
    let hour = throng_engine::streams::rhythm::LocalTime::at(from, &catalog.zone).hour;
    let streams = catalog
        .streams
        .iter()
        .enumerate()
        .map(|(s, def)| {
            let (count, expected) = (bent.counts[s][0], baseline.counts[s][0]);
            let spread = spreads[s][hour];
            let (score, flag) = against_baseline(count, expected, spread, Thresholds::default());
            LiveScore {
                stream: def.name.to_string(),
                domain: def.domain.clone(),
                count,
                baseline: expected,
                spread,
                score,
                flag: flag.name(),
            }
        })
        .collect();
    LiveScores {
        until_ms: until,
        streams,
    }
}
