//! A campaign's load over time: the open model's arrival schedule (a
//! piecewise-linear rate, with rate changes made while it runs) and the
//! closed model's concurrent users. Pure functions of time: each shard
//! derives its own arrivals from them.

use std::time::Duration;

/// One stretch of the schedule, with the rate going linearly from `from` to `to`.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    start: f64,
    length: f64,
    from: f64,
    to: f64,
    /// Arrivals before the segment starts, `Λ(start)`.
    before: f64,
}

impl Segment {
    fn slope(&self) -> f64 {
        if self.length > 0.0 {
            (self.to - self.from) / self.length
        } else {
            0.0
        }
    }

    fn arrivals(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.length
    }

    /// Time into the segment at which `m` more arrivals have happened.
    fn time_for(&self, m: f64) -> f64 {
        let a = self.slope();
        if a.abs() < 1e-12 {
            return m / self.from;
        }
        let disc = (self.from * self.from + 2.0 * a * m).max(0.0);
        (disc.sqrt() - self.from) / a
    }
}

/// The arrival schedule: a piecewise-linear rate, then a constant tail.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrivalSchedule {
    segments: Vec<Segment>,
    /// Rate after the last segment (sessions per second).
    tail_rate: f64,
    tail_start: f64,
    tail_before: f64,
}

/// A rate change made while a campaign runs: from `at_seconds` of plan time
/// on, arrivals follow `rate` (sessions per second, before any profile).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateChange {
    pub at_seconds: f64,
    pub rate: f64,
}

impl ArrivalSchedule {
    /// This schedule until `at` seconds, then a constant `rate`.
    pub fn with_change(&self, at: f64, rate: f64) -> Self {
        let at = at.max(0.0);
        let mut segments: Vec<Segment> = Vec::new();
        for s in &self.segments {
            if s.start >= at {
                break;
            }
            let mut kept = s.clone();
            if s.start + s.length > at {
                kept.length = at - s.start;
                kept.to = s.from + s.slope() * kept.length;
            }
            segments.push(kept);
        }
        // Before `at`, the old tail applies where no segment covers.
        let covered = segments.last().map_or(0.0, |s| s.start + s.length);
        if covered < at && self.tail_rate >= 0.0 {
            let before = segments.last().map_or(0.0, |s| s.before + s.arrivals());
            segments.push(Segment {
                start: covered,
                length: at - covered,
                from: self.tail_rate,
                to: self.tail_rate,
                before,
            });
        }
        ArrivalSchedule {
            tail_rate: rate,
            tail_start: at,
            tail_before: self.arrivals_by(at),
            segments,
        }
    }

    /// A constant rate.
    pub fn constant(rate: f64) -> Self {
        ArrivalSchedule::staged(rate, &[])
    }

    /// Starting at `initial` sessions/s, each stage moves linearly to its rate
    /// over its duration; the last rate then holds.
    pub fn staged(initial: f64, stages: &[(Duration, f64)]) -> Self {
        let mut segments = Vec::new();
        let (mut start, mut before, mut from) = (0.0, 0.0, initial);
        for (duration, to) in stages {
            let segment = Segment {
                start,
                length: duration.as_secs_f64(),
                from,
                to: *to,
                before,
            };
            start += segment.length;
            before += segment.arrivals();
            from = *to;
            segments.push(segment);
        }
        ArrivalSchedule {
            segments,
            tail_rate: from,
            tail_start: start,
            tail_before: before,
        }
    }

    /// Arrivals expected by `t` seconds after the start, `Λ(t)`.
    pub fn arrivals_by(&self, t: f64) -> f64 {
        for s in &self.segments {
            if t < s.start + s.length {
                let tau = (t - s.start).max(0.0);
                return s.before + s.from * tau + s.slope() * tau * tau / 2.0;
            }
        }
        self.tail_before + self.tail_rate * (t - self.tail_start).max(0.0)
    }

    /// Seconds after the start at which session `n` is intended, or None if
    /// the rate falls to zero before it.
    pub fn offset_secs(&self, n: u64) -> Option<f64> {
        let n = n as f64;
        for s in &self.segments {
            if n < s.before + s.arrivals() - 1e-9 {
                return Some(s.start + s.time_for(n - s.before).clamp(0.0, s.length));
            }
        }
        (self.tail_rate > 0.0).then(|| self.tail_start + (n - self.tail_before) / self.tail_rate)
    }

    /// The sessions a run of `duration` holds.
    pub fn sessions_within(&self, duration: Duration) -> u64 {
        (self.arrivals_by(duration.as_secs_f64()) - 1e-9).ceil().max(0.0) as u64
    }

    /// The level (rate, or users in a closed model) at `t` seconds.
    pub fn level_at(&self, t: f64) -> f64 {
        for s in &self.segments {
            if t < s.start + s.length {
                return s.from + s.slope() * (t - s.start).max(0.0);
            }
        }
        self.tail_rate
    }

    /// The highest rate anywhere in the schedule.
    pub fn peak_rate(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.from.max(s.to))
            .fold(self.tail_rate, f64::max)
    }
}

/// The closed model: a number of concurrent users (ramping through stages),
/// each starting a new session as soon as its last one ends.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedLoad {
    /// Users over time, as levels of a schedule.
    pub users: ArrivalSchedule,
    /// How long users keep starting sessions, when bounded by time.
    pub duration: Option<Duration>,
}

impl ClosedLoad {
    /// Users shard `index` of `count` runs at `t` seconds: users are dealt
    /// round-robin, so user `u` belongs to shard `u mod count`.
    pub fn users_of_shard(&self, t: f64, index: u32, count: u32) -> u64 {
        let total = self.users.level_at(t).max(0.0).floor() as u64;
        let index = u64::from(index);
        if index >= total {
            0
        } else {
            (total - index).div_ceil(u64::from(count))
        }
    }
}
