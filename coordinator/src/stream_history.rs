//! `StreamHistory`: a stream run's history in blocks, generated on demand
//! (events are a pure function of catalog, seed and time), the baseline and
//! the same window under the run's scenario timeline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use throng_engine::streams::StreamRunSpec;
use tokio::sync::OnceCell;

use throng_engine::streams::history::{
    BaselineStats, History, HourlySpreads, Thresholds, against_baseline, hourly_spread, normalize,
};
use throng_engine::streams::pattern::{StreamPattern, select};
use throng_engine::streams::scenario::{ScenarioRun, first_start};
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
    month: &History,
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
    let blocks = blocks as usize;
    // The baseline month already holds most windows people ask for.
    let baseline = month
        .regroup(from, blocks, query.block_ms)
        .unwrap_or_else(|| History::generate(catalog, run.scale, from, blocks, query.block_ms, &[]));
    // Nothing on the timeline acts before its first entry starts, so only
    // the blocks from there on differ from the baseline.
    let first_bent = first_start(timeline)
        .map(|at| ((at - from).max(0) / query.block_ms) as usize)
        .filter(|block| *block < blocks);
    let mut bent = baseline.clone();
    if let Some(block) = first_bent {
        let start = from + block as i64 * query.block_ms;
        let tail = History::generate(
            catalog,
            run.scale,
            start,
            blocks - block,
            query.block_ms,
            timeline,
        );
        bent.splice(block, &tail);
    }
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

/// A run's 30 days before its simulated start as its baseline generates
/// them, hourly, and each stream's day-to-day spread by local hour over
/// them: the default history window, the live scores and every
/// subscriber's scores read it rather than generating a month each time.
pub struct RunBaseline {
    pub month: History,
    pub spreads: Arc<HourlySpreads>,
}

impl RunBaseline {
    pub fn generate(run: &StreamRunSpec, started_at_ms: i64) -> RunBaseline {
        let from = run.clock.start_ms(started_at_ms) - 30 * DAY_MS;
        let month = History::generate(&run.catalog, run.scale, from, 720, HOUR_MS, &[]);
        let spreads = month
            .counts
            .iter()
            .map(|counts| hourly_spread(&run.catalog, counts, from))
            .collect();
        RunBaseline {
            month,
            spreads: Arc::new(spreads),
        }
    }
}

/// Each run's [`RunBaseline`]: a month of generation, so made once per run,
/// by whichever caller comes first while the others wait for it (the
/// leader starts it as soon as a run is in the cluster: [`warm`]).
#[derive(Default)]
pub struct BaselineCache {
    by_run: Mutex<HashMap<String, (i64, BaselineCell)>>,
}

type BaselineCell = Arc<OnceCell<Arc<RunBaseline>>>;

impl BaselineCache {
    /// The run's baseline, made now unless it is made or being made.
    pub async fn get(
        &self,
        run_id: &str,
        run: &Arc<StreamRunSpec>,
        started_at_ms: i64,
    ) -> Result<Arc<RunBaseline>, crate::CoordinatorError> {
        // A realtime run's baseline hangs on when it started: keyed by both.
        let cell = {
            let mut cells = self.by_run.lock().unwrap_or_else(|p| p.into_inner());
            let (at, cell) = cells
                .entry(run_id.to_string())
                .or_insert_with(|| (started_at_ms, Arc::default()));
            if *at != started_at_ms {
                (*at, *cell) = (started_at_ms, Arc::default());
            }
            cell.clone()
        };
        let run = run.clone();
        cell.get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || Arc::new(RunBaseline::generate(&run, started_at_ms)))
                .await
                .map_err(|e| crate::CoordinatorError::Unavailable(format!("the run's baseline: {e}")))
        })
        .await
        .cloned()
    }

    /// Forgets runs that are no longer in the cluster.
    fn keep_only(&self, runs: &std::collections::HashSet<&String>) {
        let mut cells = self.by_run.lock().unwrap_or_else(|p| p.into_inner());
        cells.retain(|id, _| runs.contains(id));
    }
}

/// While this coordinator leads, makes the baseline of every stream run in
/// the cluster as soon as it appears, one at a time in the background, so
/// that the first history, streams view or subscription a user asks for
/// reads it instead of waiting for a month of generation.
pub async fn warm(
    view: crate::view::LiveView,
    leadership: crate::leader::Leadership,
    cache: Arc<BaselineCache>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(2));
    while !*stop.borrow() {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => continue,
        }
        let Ok(cluster) = view.current().await else {
            continue;
        };
        cache.keep_only(&cluster.campaigns.keys().collect());
        if !leadership.is_leader() {
            continue;
        }
        for (id, campaign) in &cluster.campaigns {
            if let Ok(run) = crate::subscribe::stream_run(campaign) {
                let started = campaign.status.origin_ms() as i64;
                if let Err(error) = cache.get(id, &run, started).await {
                    tracing::warn!(run = %id, %error, "could not make the run's baseline");
                }
            }
        }
    }
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
    baseline: &RunBaseline,
) -> LiveScores {
    let spreads = &baseline.spreads;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_read_from_the_baseline_month_is_what_generating_it_gives() {
        let document = "kind: streams\nname: t\nscale: 0.02\n\
            clock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n";
        let value: serde_json::Value = serde_yaml::from_str(document).expect("yaml");
        let run = StreamRunSpec::from_value(&value).expect("valid");
        let month = RunBaseline::generate(&run, 0).month;
        let start = run.clock.start_ms(0);
        // An outage ten days into the month: the blocks from its start differ.
        let timeline = [ScenarioRun {
            scenario: "payment-outage".into(),
            started_ms: start - 20 * DAY_MS + 5 * HOUR_MS,
            stopped_ms: None,
            reset_ms: None,
            event: None,
        }];
        let query = HistoryQuery {
            from_ms: None,
            until_ms: None,
            block_ms: 43_200_000,
            patterns: vec!["customer.*".into(), "support.*".into()],
        };
        let read = history("t", &run, 0, &timeline, &query, &month).expect("history");
        let from = start - 30 * DAY_MS;
        let baseline = History::generate(&run.catalog, run.scale, from, 60, 43_200_000, &[]);
        let bent = History::generate(&run.catalog, run.scale, from, 60, 43_200_000, &timeline);
        assert_eq!(read.from_ms, from);
        let mut moved = false;
        for series in &read.series {
            let s = run.catalog.stream(&series.stream).expect("stream");
            assert_eq!(series.baseline, baseline.counts[s], "{}", series.stream);
            assert_eq!(series.counts, bent.counts[s], "{}", series.stream);
            moved |= series.counts != series.baseline;
        }
        assert!(moved, "the outage shows");
        // A window the month does not hold is generated whole.
        let later = HistoryQuery {
            from_ms: Some(start),
            until_ms: Some(start + DAY_MS),
            ..query
        };
        let read = history("t", &run, 0, &timeline, &later, &month).expect("history");
        let baseline = History::generate(&run.catalog, run.scale, start, 2, 43_200_000, &[]);
        let s = run.catalog.stream(&read.series[0].stream).expect("stream");
        assert_eq!(read.series[0].baseline, baseline.counts[s]);
    }
}
