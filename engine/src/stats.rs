//! Mergeable statistics: counters and HDR latency histograms that agents
//! report and the coordinator merges exactly into cluster-wide percentiles.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Latencies in microseconds, 1 µs to 1 hour, 3 significant digits.
///
/// A histogram that records many different latencies keeps every bucket's
/// count (188 KB, so that recording is an index and an add); one that has
/// recorded few, or is only merged and read — a report received, the
/// coordinator's copy of each shard's counters, a campaign's totals — keeps
/// just its non-empty buckets, a few bytes each. Both give the same answers.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    form: Form,
}

#[derive(Clone, Debug)]
enum Form {
    /// Non-empty buckets as (highest equivalent value, count), ascending.
    Buckets(Vec<(u64, u64)>),
    Dense(Box<Histogram<u64>>),
}

impl Default for Form {
    fn default() -> Self {
        Form::Buckets(Vec::new())
    }
}

const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A histogram that records stays a list of its buckets until it has this
/// many (2 KB), and only then takes the 188 KB of every bucket: a quiet
/// shard's histograms stay small, and reading them for each second's report
/// costs next to nothing, which matters on an agent running thousands of
/// shards at a trickle.
const SPARSE_BUCKETS: usize = 128;

fn dense() -> Histogram<u64> {
    // Bounds and precision are constants known to be valid.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// Where each value's bucket begins and ends: the same for every histogram
/// of these bounds and precision.
static SHAPE: std::sync::LazyLock<Histogram<u64>> = std::sync::LazyLock::new(dense);

impl LatencyHistogram {
    /// Records one latency; values beyond the range are clamped, never dropped.
    pub fn record_us(&mut self, micros: u64) {
        let micros = micros.clamp(1, MAX_LATENCY_US);
        if let Form::Buckets(buckets) = &mut self.form {
            let bucket = SHAPE.highest_equivalent(micros);
            match buckets.binary_search_by_key(&bucket, |&(value, _)| value) {
                Ok(i) => {
                    buckets[i].1 = buckets[i].1.saturating_add(1);
                    return;
                }
                Err(i) if buckets.len() < SPARSE_BUCKETS => {
                    buckets.insert(i, (bucket, 1));
                    return;
                }
                Err(_) => {}
            }
        }
        self.dense_mut().saturating_record(micros);
    }

    fn dense_mut(&mut self) -> &mut Histogram<u64> {
        if let Form::Buckets(buckets) = &self.form {
            let mut histogram = dense();
            for &(value, count) in buckets {
                let _ = histogram.record_n(value, count);
            }
            self.form = Form::Dense(Box::new(histogram));
        }
        match &mut self.form {
            Form::Dense(histogram) => histogram,
            Form::Buckets(_) => unreachable!("made dense above"),
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        match (&mut self.form, &other.form) {
            // Same bounds on both sides, so adding cannot fail.
            (Form::Dense(mine), Form::Dense(theirs)) => {
                let _ = mine.add(theirs.as_ref());
            }
            (Form::Dense(mine), Form::Buckets(theirs)) => {
                for &(value, count) in theirs {
                    let _ = mine.record_n(value, count);
                }
            }
            (Form::Buckets(mine), Form::Buckets(theirs)) => *mine = merged(mine, theirs),
            (Form::Buckets(mine), Form::Dense(_)) => *mine = merged(mine, &other.buckets()),
        }
    }

    pub fn count(&self) -> u64 {
        match &self.form {
            Form::Buckets(buckets) => buckets.iter().map(|&(_, count)| count).sum(),
            Form::Dense(histogram) => histogram.len(),
        }
    }

    /// The value at quantile `q` (0..=1) in milliseconds, 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let micros = match &self.form {
            Form::Dense(histogram) if histogram.is_empty() => return 0.0,
            Form::Dense(histogram) => histogram.value_at_quantile(q),
            Form::Buckets(buckets) => {
                // As `Histogram::value_at_quantile` walks its buckets.
                let q = q.min(1.0);
                let wanted = ((q * self.count() as f64).ceil() as u64).max(1);
                let mut seen = 0;
                let Some(&(value, _)) = buckets.iter().find(|&&(_, count)| {
                    seen += count;
                    seen >= wanted
                }) else {
                    return 0.0;
                };
                if q == 0.0 {
                    SHAPE.lowest_equivalent(value)
                } else {
                    value
                }
            }
        };
        micros as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        let micros = match &self.form {
            Form::Dense(histogram) => histogram.max(),
            Form::Buckets(buckets) => buckets.last().map_or(0, |&(value, _)| value),
        };
        micros as f64 / 1000.0
    }

    /// How many latencies are at most `micros` (within the histogram's
    /// three significant digits).
    pub fn count_at_most(&self, micros: u64) -> u64 {
        let micros = micros.clamp(1, MAX_LATENCY_US);
        match &self.form {
            Form::Dense(histogram) if histogram.is_empty() => 0,
            Form::Dense(histogram) => histogram.count_between(0, micros),
            Form::Buckets(buckets) => {
                let limit = SHAPE.highest_equivalent(micros);
                buckets
                    .iter()
                    .take_while(|&&(value, _)| value <= limit)
                    .map(|&(_, count)| count)
                    .sum()
            }
        }
    }

    /// The sum of every latency, in microseconds (from the mean).
    pub fn sum_us(&self) -> f64 {
        match &self.form {
            Form::Dense(histogram) => histogram.mean() * histogram.len() as f64,
            Form::Buckets(buckets) => {
                // As `Histogram::mean` sums, so both forms agree.
                let total = self.count();
                if total == 0 {
                    return 0.0;
                }
                let mean = buckets.iter().fold(0.0_f64, |sum, &(value, count)| {
                    sum + SHAPE.median_equivalent(value) as f64 * count as f64 / total as f64
                });
                mean * total as f64
            }
        }
    }

    /// The non-empty buckets as (highest equivalent value, count): a compact,
    /// exact wire form (re-recording them lands in the same buckets).
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        match &self.form {
            Form::Buckets(buckets) => buckets.clone(),
            Form::Dense(histogram) => histogram
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }

    /// Rebuilds a histogram from [`LatencyHistogram::buckets`], in the
    /// compact form; values are taken to their buckets' highest equivalents.
    pub fn from_buckets(buckets: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut canonical: Vec<(u64, u64)> = buckets
            .into_iter()
            .filter(|&(_, count)| count > 0)
            .map(|(value, count)| (SHAPE.highest_equivalent(value.clamp(1, MAX_LATENCY_US)), count))
            .collect();
        canonical.sort_unstable();
        LatencyHistogram {
            form: Form::Buckets(merged(&canonical, &[])),
        }
    }
}

/// Two ascending bucket lists as one, counts of the same bucket added
/// (and repeats within either list joined).
fn merged(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = if j == b.len() || (i < a.len() && a[i].0 <= b[j].0) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        match out.last_mut() {
            Some(last) if last.0 == next.0 => last.1 = last.1.saturating_add(next.1),
            _ => out.push(next),
        }
    }
    out
}

/// Counters of the requests made under one name (`journey.step`).
#[derive(Clone, Debug, Default)]
pub struct NamedCounters {
    pub requests: u64,
    pub errors: u64,
    pub latency: LatencyHistogram,
}

impl NamedCounters {
    pub fn merge(&mut self, other: &NamedCounters) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency.merge(&other.latency);
    }
}

/// Cumulative counters of one shard on one agent.
#[derive(Clone, Debug, Default)]
pub struct ShardCounters {
    pub sessions_started: u64,
    pub sessions_completed: u64,
    pub sessions_failed: u64,
    /// Sessions skipped because their day's cap was reached.
    pub sessions_capped: u64,
    /// Sessions left out by the time-of-day profile.
    pub sessions_thinned: u64,
    pub requests: u64,
    pub request_errors: u64,
    pub latency: LatencyHistogram,
    /// How late each session started after its intended start: an agent
    /// that falls behind its arrivals shows here first.
    pub start_lag: LatencyHistogram,
    pub by_name: BTreeMap<String, NamedCounters>,
    /// Failed requests by class: `timeout`, `connect`, `protocol`, `queued`, `http_4xx`, `http_5xx`…
    pub errors_by_class: BTreeMap<String, u64>,
    /// Stream runs: events generated and handed to the sink.
    pub stream_events: u64,
    pub done: bool,
}

impl ShardCounters {
    /// Adds the counts and latencies of `other` into `self` (`done` is a
    /// property of one shard and is left as it is).
    pub fn merge(&mut self, other: &ShardCounters) {
        self.sessions_started += other.sessions_started;
        self.sessions_completed += other.sessions_completed;
        self.sessions_failed += other.sessions_failed;
        self.sessions_capped += other.sessions_capped;
        self.sessions_thinned += other.sessions_thinned;
        self.requests += other.requests;
        self.request_errors += other.request_errors;
        self.stream_events += other.stream_events;
        self.latency.merge(&other.latency);
        self.start_lag.merge(&other.start_lag);
        for (name, counters) in &other.by_name {
            self.by_name.entry(name.clone()).or_default().merge(counters);
        }
        for (class, count) in &other.errors_by_class {
            *self.errors_by_class.entry(class.clone()).or_insert(0) += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_percentiles_equal_those_of_all_values() {
        let mut a = LatencyHistogram::default();
        let mut b = LatencyHistogram::default();
        let mut all = LatencyHistogram::default();
        for i in 1..=10_000u64 {
            let v = i * 37 % 5_000_000 + 1;
            if i % 3 == 0 {
                a.record_us(v)
            } else {
                b.record_us(v)
            }
            all.record_us(v);
        }
        let rebuilt_a = LatencyHistogram::from_buckets(a.buckets());
        let mut merged = LatencyHistogram::from_buckets(b.buckets());
        merged.merge(&rebuilt_a);
        assert_eq!(merged.count(), 10_000);
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(merged.quantile_ms(q), all.quantile_ms(q), "quantile {q}");
        }
        assert_eq!(merged.max_ms(), all.max_ms());
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut h = LatencyHistogram::default();
        h.record_us(0);
        h.record_us(u64::MAX);
        assert_eq!(h.count(), 2);
    }

    fn recorded(values: impl IntoIterator<Item = u64>) -> LatencyHistogram {
        let mut h = LatencyHistogram::default();
        for v in values {
            h.record_us(v);
        }
        h
    }

    #[test]
    fn both_forms_give_the_same_answers() {
        let values = (1..=5_000u64).map(|i| i * i % 90_000 + i % 7);
        let dense = recorded(values);
        let compact = LatencyHistogram::from_buckets(dense.buckets());
        assert!(matches!(compact.form, Form::Buckets(_)) && matches!(dense.form, Form::Dense(_)));
        assert_eq!(compact.count(), dense.count());
        for q in [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0, 1.5] {
            assert_eq!(compact.quantile_ms(q), dense.quantile_ms(q), "quantile {q}");
        }
        for micros in [0, 1, 999, 1_000, 1_001, 45_000, 89_999, 10_000_000] {
            assert_eq!(
                compact.count_at_most(micros),
                dense.count_at_most(micros),
                "at most {micros}"
            );
        }
        assert_eq!(compact.max_ms(), dense.max_ms());
        assert!((compact.sum_us() - dense.sum_us()).abs() < 1e-6 * dense.sum_us());
        assert_eq!(compact.buckets(), dense.buckets());

        // Merged either way round, and recorded into after, still the same.
        let more = recorded([3, 250, 250, 70_000, 2_000_000]);
        let mut into_dense = dense.clone();
        into_dense.merge(&LatencyHistogram::from_buckets(more.buckets()));
        let mut into_compact = compact.clone();
        into_compact.merge(&more);
        assert!(
            matches!(into_compact.form, Form::Buckets(_)),
            "merging keeps the compact form"
        );
        assert_eq!(into_compact.buckets(), into_dense.buckets());
        into_compact.record_us(12);
        into_dense.record_us(12);
        assert_eq!(into_compact.buckets(), into_dense.buckets());
    }

    #[test]
    fn a_quiet_histogram_stays_small_and_a_busy_one_turns_dense() {
        // Fifty different latencies, each many times.
        let few = || (1..=1_000u64).map(|i| 1_000 + i % 50 * 1_337);
        let quiet = recorded(few());
        assert!(matches!(quiet.form, Form::Buckets(_)), "few buckets stay a list");
        let mut reference = LatencyHistogram {
            form: Form::Dense(Box::new(dense())),
        };
        for v in few() {
            reference.record_us(v);
        }
        assert_eq!(quiet.buckets(), reference.buckets());
        for q in [0.0, 0.5, 0.99, 1.0] {
            assert_eq!(quiet.quantile_ms(q), reference.quantile_ms(q), "quantile {q}");
        }
        assert_eq!(quiet.max_ms(), reference.max_ms());

        let busy = recorded(1..=10_000);
        assert!(matches!(busy.form, Form::Dense(_)), "many buckets turn dense");
        assert_eq!(busy.count(), 10_000);
        assert_eq!(busy.count_at_most(100), 100);
    }

    #[test]
    fn empty_histograms_answer_zero_in_either_form() {
        let compact = LatencyHistogram::default();
        let dense = LatencyHistogram {
            form: Form::Dense(Box::new(dense())),
        };
        for h in [&compact, &dense] {
            assert_eq!(
                (h.count(), h.quantile_ms(0.99), h.max_ms(), h.count_at_most(5)),
                (0, 0.0, 0.0, 0)
            );
            assert_eq!(h.sum_us(), 0.0);
        }
    }

    #[test]
    fn buckets_from_elsewhere_are_taken_to_their_buckets() {
        // Two values of one bucket, unordered, and an empty bucket.
        let h = LatencyHistogram::from_buckets([(5_000_001, 1), (2, 3), (5_000_002, 2), (9, 0)]);
        let same = recorded([2, 2, 2, 5_000_001, 5_000_001, 5_000_002]);
        assert_eq!(h.buckets(), same.buckets());
    }
}
