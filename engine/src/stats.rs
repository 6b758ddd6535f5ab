//! Mergeable statistics: counters and HDR latency histograms that agents
//! report and the coordinator merges exactly into cluster-wide percentiles.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Latencies in microseconds, 1 µs to 1 hour, 3 significant digits.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
}

const MAX_LATENCY_US: u64 = 3_600_000_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            // Bounds and precision are constants known to be valid.
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .unwrap_or_else(|_| unreachable!("valid histogram bounds")),
        }
    }
}

impl LatencyHistogram {
    /// Records one latency; values beyond the range are clamped, never dropped.
    pub fn record_us(&mut self, micros: u64) {
        self.histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The value at quantile `q` (0..=1) in milliseconds, 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.histogram.max() as f64 / 1000.0
    }

    /// How many latencies are at most `micros` (within the histogram's
    /// three significant digits).
    pub fn count_at_most(&self, micros: u64) -> u64 {
        if self.histogram.is_empty() {
            return 0;
        }
        self.histogram.count_between(0, micros.clamp(1, MAX_LATENCY_US))
    }

    /// The sum of every latency, in microseconds (from the mean).
    pub fn sum_us(&self) -> f64 {
        self.histogram.mean() * self.histogram.len() as f64
    }

    /// The non-empty buckets as (highest equivalent value, count): a compact,
    /// exact wire form (re-recording them lands in the same buckets).
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.histogram
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// Rebuilds a histogram from [`LatencyHistogram::buckets`].
    pub fn from_buckets(buckets: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut h = LatencyHistogram::default();
        for (value, count) in buckets {
            let _ = h.histogram.record_n(value.clamp(1, MAX_LATENCY_US), count);
        }
        h
    }
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
}
