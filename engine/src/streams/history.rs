//! History and statistics: event counts per stream in fixed blocks (12 h by
//! default), baseline statistics of those counts, and the 0-100 normalised
//! score with its anomaly flag.
//!
//! History is generated, not stored: every event is a pure function of the
//! catalog, its seed and time, so the baseline of any window, and the same
//! window under a scenario timeline, can be computed again at will.
//! Regenerating a window with scenarios never touches the baseline; the
//! difference between the two is the diff, and dropping the timeline is the
//! reset.

use std::sync::Arc;

use serde::Serialize;

use super::catalog::Catalog;
use super::generate::ShardGenerator;
use super::rhythm::LocalTime;
use super::scenario::{ScenarioRun, first_start};

const HOUR_MS: i64 = 3_600_000;

/// Counts of events per stream per block over `[from_ms, from_ms + blocks × block_ms)`.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    pub from_ms: i64,
    pub block_ms: i64,
    /// `counts[stream][block]`.
    pub counts: Vec<Vec<u64>>,
}

impl History {
    /// Generates the history of every stream under `timeline` (empty: the
    /// baseline). Streams are counted as they are generated, never held.
    pub fn generate(
        catalog: &Arc<Catalog>,
        scale: f64,
        from_ms: i64,
        blocks: usize,
        block_ms: i64,
        timeline: &[ScenarioRun],
    ) -> History {
        Self::generate_roots(
            catalog,
            &catalog.roots(),
            scale,
            from_ms,
            blocks,
            block_ms,
            timeline,
        )
    }

    /// [`History::generate`] of the streams `roots` make (the others count 0).
    pub fn generate_roots(
        catalog: &Arc<Catalog>,
        roots: &[usize],
        scale: f64,
        from_ms: i64,
        blocks: usize,
        block_ms: i64,
        timeline: &[ScenarioRun],
    ) -> History {
        let until = from_ms + blocks as i64 * block_ms;
        let mut counts = vec![vec![0u64; blocks]; catalog.streams.len()];
        let mut batch = Vec::new();
        for &root in roots {
            let mut shard = ShardGenerator::new(catalog.clone(), root, scale, from_ms);
            shard.set_timeline(timeline);
            // A day at a time bounds memory whatever the range.
            let mut at = from_ms;
            while at < until {
                at = (at + 86_400_000).min(until);
                shard.advance(at, &mut batch);
                for event in batch.drain(..) {
                    let block = ((event.at_ms - from_ms) / block_ms) as usize;
                    counts[usize::from(event.stream)][block] += 1;
                }
            }
        }
        History {
            from_ms,
            block_ms,
            counts,
        }
    }

    /// The same counts in blocks of `block_ms` from `from_ms`, `blocks` of
    /// them, when they are whole blocks of this history inside it; `None`
    /// otherwise (they must then be generated).
    pub fn regroup(&self, from_ms: i64, blocks: usize, block_ms: i64) -> Option<History> {
        let (offset, end) = (from_ms - self.from_ms, from_ms + blocks as i64 * block_ms);
        let aligned = offset >= 0 && offset % self.block_ms == 0 && block_ms % self.block_ms == 0;
        if !aligned || end > self.block_start(self.blocks()) {
            return None;
        }
        let (first, per_block) = (
            (offset / self.block_ms) as usize,
            (block_ms / self.block_ms) as usize,
        );
        let counts = self
            .counts
            .iter()
            .map(|own| {
                (0..blocks)
                    .map(|b| {
                        own[first + b * per_block..first + (b + 1) * per_block]
                            .iter()
                            .sum()
                    })
                    .collect()
            })
            .collect();
        Some(History {
            from_ms,
            block_ms,
            counts,
        })
    }

    /// This history with the blocks from `block` on replaced by `tail`'s,
    /// which starts there with the same blocks.
    pub fn splice(&mut self, block: usize, tail: &History) {
        for (own, new) in self.counts.iter_mut().zip(&tail.counts) {
            let len = own.len() - block;
            own[block..].copy_from_slice(&new[..len]);
        }
    }

    pub fn block_start(&self, block: usize) -> i64 {
        self.from_ms + block as i64 * self.block_ms
    }

    pub fn blocks(&self) -> usize {
        self.counts.first().map_or(0, Vec::len)
    }
}

/// Baseline statistics of one stream's block counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BaselineStats {
    pub mean: f64,
    pub median: f64,
    pub std_dev: f64,
    pub min: f64,
    pub max: f64,
    pub p25: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    /// Mean count of blocks starting on a weekday, and on a weekend day.
    pub weekday_mean: f64,
    pub weekend_mean: f64,
    /// Least-squares slope of the counts, as a share of the mean per day.
    pub trend_per_day: f64,
    /// Blocks starting in each local hour of the day, mean count by hour
    /// (only hours some block starts at): how much the day's shape varies.
    pub seasonality: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

impl BaselineStats {
    /// Statistics of `counts`, blocks of `block_ms` from `from_ms`, local time in the catalog's zone.
    pub fn of(catalog: &Catalog, counts: &[u64], from_ms: i64, block_ms: i64) -> BaselineStats {
        let values: Vec<f64> = counts.iter().map(|c| *c as f64).collect();
        if values.is_empty() {
            return BaselineStats::default();
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std_dev = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let local = |block: usize| LocalTime::at(from_ms + block as i64 * block_ms, &catalog.zone);
        let mean_of = |pick: &dyn Fn(usize) -> bool| {
            let chosen: Vec<f64> = (0..values.len())
                .filter(|b| pick(*b))
                .map(|b| values[b])
                .collect();
            if chosen.is_empty() {
                0.0
            } else {
                chosen.iter().sum::<f64>() / chosen.len() as f64
            }
        };
        let weekend_mean = mean_of(&|b| local(b).weekend);
        let weekday_mean = mean_of(&|b| !local(b).weekend);
        // Slope of count against days since the start, by least squares.
        let days: Vec<f64> = (0..values.len())
            .map(|b| b as f64 * block_ms as f64 / 86_400_000.0)
            .collect();
        let day_mean = days.iter().sum::<f64>() / n;
        let covariance: f64 = days
            .iter()
            .zip(&values)
            .map(|(d, v)| (d - day_mean) * (v - mean))
            .sum();
        let variance: f64 = days.iter().map(|d| (d - day_mean).powi(2)).sum();
        let slope = if variance > 0.0 {
            covariance / variance
        } else {
            0.0
        };
        let by_hour: Vec<f64> = (0..24)
            .map(|h| mean_of(&|b| local(b).hour == h))
            .filter(|m| *m > 0.0)
            .collect();
        let seasonality = match (
            by_hour.iter().copied().reduce(f64::max),
            by_hour.iter().copied().reduce(f64::min),
        ) {
            (Some(high), Some(low)) if low > 0.0 => high / low,
            _ => 1.0,
        };
        BaselineStats {
            mean,
            median: percentile(&sorted, 0.5),
            std_dev,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            p25: percentile(&sorted, 0.25),
            p75: percentile(&sorted, 0.75),
            p90: percentile(&sorted, 0.9),
            p95: percentile(&sorted, 0.95),
            weekday_mean,
            weekend_mean,
            trend_per_day: if mean > 0.0 { slope / mean } else { 0.0 },
            seasonality,
        }
    }
}

/// How far a value is from its baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Normal,
    Warning,
    Critical,
}

impl Flag {
    pub fn name(self) -> &'static str {
        match self {
            Flag::Normal => "normal",
            Flag::Warning => "warning",
            Flag::Critical => "critical",
        }
    }
}

/// Where the flags start, in standard deviations from the mean.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub warning_sigma: f64,
    pub critical_sigma: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning_sigma: 1.0,
            critical_sigma: 3.0,
        }
    }
}

/// The 0-100 score of `value`: 50 at the mean, 30 and 70 one standard
/// deviation below and above, 0 and 100 three or more away (linear in
/// between, clamped), with its flag.
pub fn normalize(value: f64, stats: &BaselineStats, thresholds: Thresholds) -> (f64, Flag) {
    if stats.std_dev <= 0.0 {
        let flag = if (value - stats.mean).abs() < 1e-9 {
            Flag::Normal
        } else {
            Flag::Critical
        };
        let score = if value > stats.mean {
            100.0
        } else if value < stats.mean {
            0.0
        } else {
            50.0
        };
        return (score, flag);
    }
    let z = (value - stats.mean) / stats.std_dev;
    let magnitude = z.abs();
    let distance = if magnitude <= 1.0 {
        20.0 * magnitude
    } else {
        20.0 + 15.0 * (magnitude - 1.0)
    };
    let score = (50.0 + distance.min(50.0) * z.signum()).clamp(0.0, 100.0);
    let flag = if magnitude >= thresholds.critical_sigma {
        Flag::Critical
    } else if magnitude > thresholds.warning_sigma {
        Flag::Warning
    } else {
        Flag::Normal
    };
    (score, flag)
}

/// How much each local hour of the day varies from day to day in a history
/// of hourly blocks from `from_ms` ([`day_to_day_spread`] of the blocks that
/// start at that hour). By local hour, 0 to 23.
pub fn hourly_spread(catalog: &Catalog, counts: &[u64], from_ms: i64) -> [f64; 24] {
    let mut by_hour: [Vec<u64>; 24] = std::array::from_fn(|_| Vec::new());
    for (block, count) in counts.iter().enumerate() {
        let hour = LocalTime::at(from_ms + block as i64 * HOUR_MS, &catalog.zone).hour;
        by_hour[hour].push(*count);
    }
    by_hour.map(|counts| day_to_day_spread(&counts))
}

/// How much a block varies from day to day: the standard deviation of the
/// same block's counts on other days, and never below the spread of a
/// count's own noise (√mean, at least 1).
pub fn day_to_day_spread(counts: &[u64]) -> f64 {
    if counts.is_empty() {
        return 1.0;
    }
    let n = counts.len() as f64;
    let mean = counts.iter().sum::<u64>() as f64 / n;
    let variance = counts.iter().map(|c| (*c as f64 - mean).powi(2)).sum::<f64>() / n;
    variance.sqrt().max(mean.sqrt()).max(1.0)
}

/// `spreads[stream][local hour]`: each stream's day-to-day spread by local
/// hour over a 30-day baseline ([`hourly_spread`] of its hourly counts).
pub type HourlySpreads = Vec<[f64; 24]>;

/// How many hours of scores a scorer keeps: the hours a subscriber is
/// reading now, and the one before.
const HOURS_KEPT: usize = 4;

/// Scores events by their stream's clock hour, as an hourly history and the
/// streams view judge it: the hour's count under the scenario timeline
/// against the baseline's count of the same hour, in units of that local
/// hour's day-to-day spread over the 30-day baseline. Without a timeline
/// every hour is the baseline's own (50, normal), as is every hour before
/// its first entry, and nothing is generated for them.
pub struct HourScorer {
    catalog: Arc<Catalog>,
    scale: f64,
    /// The roots whose streams are scored (the rest score as the baseline).
    roots: Vec<usize>,
    spreads: Arc<HourlySpreads>,
    timeline: Vec<ScenarioRun>,
    /// Each stream's score and flag, by the hours' starts.
    hours: std::collections::BTreeMap<i64, Vec<(f64, Flag)>>,
}

impl HourScorer {
    pub fn new(
        catalog: Arc<Catalog>,
        scale: f64,
        roots: Vec<usize>,
        spreads: Arc<HourlySpreads>,
        timeline: &[ScenarioRun],
    ) -> HourScorer {
        HourScorer {
            catalog,
            scale,
            roots,
            spreads,
            timeline: timeline.to_vec(),
            hours: Default::default(),
        }
    }

    /// Scores from here on are against `spreads`.
    pub fn set_spreads(&mut self, spreads: Arc<HourlySpreads>) {
        self.spreads = spreads;
        self.hours.clear();
    }

    /// Scores from here on follow `timeline`.
    pub fn set_timeline(&mut self, timeline: &[ScenarioRun]) {
        if timeline != self.timeline.as_slice() {
            self.timeline = timeline.to_vec();
            self.hours.clear();
        }
    }

    /// The score and flag of `stream` in the clock hour holding `at_ms`.
    pub fn score(&mut self, stream: usize, at_ms: i64) -> (f64, Flag) {
        let hour = at_ms - at_ms.rem_euclid(HOUR_MS);
        // An hour that ends before the timeline's first entry is the
        // baseline's own: nothing to generate.
        if first_start(&self.timeline).is_none_or(|start| hour + HOUR_MS <= start) {
            return (50.0, Flag::Normal);
        }
        if !self.hours.contains_key(&hour) {
            let scores = self.score_hour(hour);
            if self.hours.len() >= HOURS_KEPT {
                self.hours.pop_first();
            }
            self.hours.insert(hour, scores);
        }
        self.hours[&hour][stream]
    }

    fn score_hour(&self, hour: i64) -> Vec<(f64, Flag)> {
        let (catalog, roots) = (&self.catalog, &self.roots);
        let baseline = History::generate_roots(catalog, roots, self.scale, hour, 1, HOUR_MS, &[]);
        let bent = History::generate_roots(catalog, roots, self.scale, hour, 1, HOUR_MS, &self.timeline);
        let local = LocalTime::at(hour, &catalog.zone).hour;
        (0..catalog.streams.len())
            .map(|s| {
                let spread = self.spreads.get(s).map_or(1.0, |by_hour| by_hour[local]);
                against_baseline(
                    bent.counts[s][0],
                    baseline.counts[s][0],
                    spread,
                    Thresholds::default(),
                )
            })
            .collect()
    }
}

/// The 0-100 score and flag of a block's `count` against `expected`, the
/// baseline's count of the same block, in units of `spread` (the hour's
/// day-to-day spread over the 30-day baseline): 50 and normal at the
/// baseline, 30/70 at one spread below or above, 0/100 at three.
pub fn against_baseline(count: u64, expected: u64, spread: f64, thresholds: Thresholds) -> (f64, Flag) {
    let stats = BaselineStats {
        mean: expected as f64,
        std_dev: spread,
        ..BaselineStats::default()
    };
    normalize(count as f64, &stats, thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEB_2: i64 = 1_769_990_400_000;
    const HALF_DAY: i64 = 43_200_000;

    #[test]
    fn a_block_at_its_baseline_is_normal_and_a_bent_one_is_flagged_by_how_far_it_moved() {
        // Hourly blocks, 10 and 30 on alternate days: every hour's spread is 10.
        let counts: Vec<u64> = (0..48).map(|b| if b / 24 % 2 == 0 { 10 } else { 30 }).collect();
        let spread = hourly_spread(&Catalog::builtin(), &counts, 0);
        assert!(spread.iter().all(|s| (*s - 10.0).abs() < 1e-9), "{spread:?}");
        let t = Thresholds::default();
        assert_eq!(against_baseline(250, 250, 10.0, t), (50.0, Flag::Normal));
        assert_eq!(against_baseline(265, 250, 10.0, t).1, Flag::Warning);
        assert_eq!(against_baseline(300, 250, 10.0, t), (100.0, Flag::Critical));
        assert_eq!(against_baseline(200, 250, 10.0, t), (0.0, Flag::Critical));
        // A quiet hour's spread is at least its own noise.
        assert!((day_to_day_spread(&[100; 30]) - 10.0).abs() < 1e-9);
        assert_eq!(day_to_day_spread(&[0; 30]), 1.0);
    }

    #[test]
    fn an_hourly_history_regroups_into_longer_blocks_as_generation_would() {
        let catalog = Arc::new(Catalog::builtin());
        let hourly = History::generate(&catalog, 0.02, FEB_2, 48, HOUR_MS, &[]);
        let halves = History::generate(&catalog, 0.02, FEB_2 + HOUR_MS, 3, HALF_DAY, &[]);
        assert_eq!(hourly.regroup(FEB_2 + HOUR_MS, 3, HALF_DAY), Some(halves));
        // Not whole blocks of it, or beyond it: generate instead.
        assert_eq!(hourly.regroup(FEB_2 + 1, 3, HALF_DAY), None);
        assert_eq!(hourly.regroup(FEB_2, 3, HALF_DAY + 1), None);
        assert_eq!(hourly.regroup(FEB_2, 5, HALF_DAY), None);
        assert_eq!(hourly.regroup(FEB_2 - HOUR_MS, 1, HOUR_MS), None);
        // A spliced tail replaces the blocks from there on.
        let mut spliced = hourly.clone();
        let tail = History::generate(&catalog, 0.04, FEB_2 + 40 * HOUR_MS, 8, HOUR_MS, &[]);
        spliced.splice(40, &tail);
        assert_eq!(spliced.counts[0][..40], hourly.counts[0][..40]);
        assert_eq!(spliced.counts[0][40..], tail.counts[0][..]);
    }

    #[test]
    fn scores_follow_the_sigma_scale() {
        let stats = BaselineStats {
            mean: 100.0,
            std_dev: 10.0,
            ..BaselineStats::default()
        };
        let t = Thresholds::default();
        assert_eq!(normalize(100.0, &stats, t), (50.0, Flag::Normal));
        assert_eq!(normalize(110.0, &stats, t), (70.0, Flag::Normal));
        assert_eq!(normalize(90.0, &stats, t), (30.0, Flag::Normal));
        assert_eq!(normalize(120.0, &stats, t), (85.0, Flag::Warning));
        assert_eq!(normalize(130.0, &stats, t), (100.0, Flag::Critical));
        assert_eq!(normalize(10.0, &stats, t), (0.0, Flag::Critical));
        let strict = Thresholds {
            warning_sigma: 0.5,
            critical_sigma: 2.0,
        };
        assert_eq!(normalize(120.0, &stats, strict).1, Flag::Critical);
    }

    #[test]
    fn a_thirty_day_history_has_sixty_blocks_and_sane_statistics() {
        let catalog = Arc::new(Catalog::builtin());
        let history = History::generate(&catalog, 0.02, FEB_2, 60, HALF_DAY, &[]);
        assert_eq!(history.blocks(), 60);
        let scheduled = catalog.stream("session.scheduled").unwrap_or(0);
        let stats = BaselineStats::of(&catalog, &history.counts[scheduled], FEB_2, HALF_DAY);
        assert!(stats.min <= stats.p25 && stats.p25 <= stats.median && stats.median <= stats.p75);
        assert!(stats.p75 <= stats.p90 && stats.p90 <= stats.p95 && stats.p95 <= stats.max);
        let uplift = stats.weekend_mean / stats.weekday_mean;
        assert!((1.25..=1.55).contains(&uplift), "weekend uplift {uplift}");
        // 00:00-12:00 and 12:00-24:00 blocks differ: the day's shape shows.
        assert!(stats.seasonality > 1.2, "{}", stats.seasonality);
        // Growth of 3 % a month is about 0.1 % a day; weekends and noise at this
        // small volume move a 30-day slope by a few tenths of a percent.
        assert!(
            (-0.005..0.01).contains(&stats.trend_per_day),
            "{}",
            stats.trend_per_day
        );
        // Most blocks are within a standard deviation or so.
        let normal = history.counts[scheduled]
            .iter()
            .filter(|c| normalize(**c as f64, &stats, Thresholds::default()).1 != Flag::Critical)
            .count();
        assert_eq!(normal, 60);
    }

    #[test]
    fn a_regenerated_window_differs_from_the_baseline_only_where_a_scenario_acted() {
        let catalog = Arc::new(Catalog::builtin());
        let outage = ScenarioRun {
            scenario: "support-overload".into(),
            started_ms: FEB_2 + 2 * 86_400_000,
            stopped_ms: None,
            reset_ms: None,
            event: None,
        };
        let base = History::generate(&catalog, 0.05, FEB_2, 10, HALF_DAY, &[]);
        let bent = History::generate(&catalog, 0.05, FEB_2, 10, HALF_DAY, &[outage]);
        let tickets = catalog.stream("support.ticket.created").unwrap_or(0);
        // Before the scenario: identical. While active (blocks 4 and 5): more tickets.
        assert_eq!(base.counts[tickets][..4], bent.counts[tickets][..4]);
        assert!(bent.counts[tickets][4] > base.counts[tickets][4] * 3 / 2);
        // Settled a day and a half after it began to settle: the baseline again.
        assert_eq!(
            base.counts[catalog.stream("support.chat.started").unwrap_or(0)][9],
            bent.counts[catalog.stream("support.chat.started").unwrap_or(0)][9]
        );
    }
}
