//! Whether an agent keeps up with what it is asked to do. A load generator
//! that falls behind measures its own slowness as the target's, so an agent
//! watches two signs of it and says "generator-limited" out loud when either
//! crosses its line:
//!
//! - sessions that start late against their intended start (arrivals come
//!   faster than the agent can launch them, or its sessions-per-shard limit
//!   holds them back), and
//! - its runtime's lag: how late a timer set for a known instant fires; the
//!   tasks that send requests and read answers wait as long.
//!
//! Failures the generator causes itself (a request that waited for one of
//! its own connection slots until its time ran out) are classed apart from
//! the target's errors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::stats::{LatencyHistogram, ShardCounters};

/// A session that starts this much after its intended start is late.
pub const LATE_START: Duration = Duration::from_millis(250);
/// The share of late sessions at which the generator is the bottleneck.
pub const LATE_SHARE: f64 = 0.01;
/// A runtime whose timers fire this late is saturated.
pub const RUNTIME_LAG_LIMIT: Duration = Duration::from_millis(250);
/// The error classes of failures the generator causes, not the target.
pub const GENERATOR_ERROR_CLASSES: &[&str] = &["queued"];

/// How often the runtime's lag is probed.
const PROBE_PERIOD: Duration = Duration::from_millis(100);
/// How long one judged window lasts.
const WINDOW: Duration = Duration::from_secs(1);
/// A "limited" judgement holds this long after the last window that made
/// it, so a saturated agent does not flicker between reports.
const HOLD: Duration = Duration::from_secs(5);
// An agent is judged limited only when two windows in a row were behind:
// a generator short of capacity stays behind, while one stall of a few
// hundred milliseconds (a large allocation, the machine's other work) is
// over within the second and is not a shortage to act on.

/// How an agent kept up in its last window (about a second).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeneratorLoad {
    /// The agent, not the target, limits the traffic now (two windows in a
    /// row were behind, within the last few seconds).
    pub limited: bool,
    pub sessions_started: u64,
    /// Sessions that started more than [`LATE_START`] late.
    pub sessions_late: u64,
    /// The latest start, in milliseconds after its intended start.
    pub max_start_lag_ms: f64,
    /// The runtime's worst timer lag, in milliseconds.
    pub runtime_lag_ms: f64,
}

impl GeneratorLoad {
    /// Whether this window's figures alone show the generator behind.
    fn behind(&self) -> bool {
        too_many_late(self.sessions_started, self.sessions_late)
            || self.runtime_lag_ms > RUNTIME_LAG_LIMIT.as_secs_f64() * 1000.0
    }

    /// Why the agent is limited, in words; none when it is not.
    pub fn reason(&self) -> Option<String> {
        if !self.limited {
            return None;
        }
        let mut reasons = Vec::new();
        if too_many_late(self.sessions_started, self.sessions_late) {
            reasons.push(format!(
                "{} of {} sessions started over {} ms late (latest {:.0} ms)",
                self.sessions_late,
                self.sessions_started,
                LATE_START.as_millis(),
                self.max_start_lag_ms
            ));
        }
        if self.runtime_lag_ms > RUNTIME_LAG_LIMIT.as_secs_f64() * 1000.0 {
            reasons.push(format!("its runtime lags {:.0} ms", self.runtime_lag_ms));
        }
        if reasons.is_empty() {
            reasons.push("it fell behind within the last few seconds".to_string());
        }
        Some(reasons.join("; "))
    }
}

/// Whether `late` of `started` sessions is the share of a generator behind.
pub fn too_many_late(started: u64, late: u64) -> bool {
    started > 0 && late as f64 >= started as f64 * LATE_SHARE
}

/// Sessions in `start_lag` (microseconds) that started more than
/// [`LATE_START`] late.
pub fn sessions_late(start_lag: &LatencyHistogram) -> u64 {
    start_lag.count() - start_lag.count_at_most(LATE_START.as_micros() as u64)
}

/// Whether sessions whose start lags are `start_lag` ran with the generator
/// behind: too many of them started late.
pub fn ran_limited(start_lag: &LatencyHistogram) -> bool {
    too_many_late(start_lag.count(), sessions_late(start_lag))
}

/// Whether a session intended at `intended_ms` and started at `started_ms`
/// started late.
pub fn started_late(intended_ms: u64, started_ms: u64) -> bool {
    started_ms > intended_ms + LATE_START.as_millis() as u64
}

/// What a campaign's merged counters say of the generators that ran it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLoad {
    /// Failed requests the generator caused (included in the request errors).
    pub generator_errors: u64,
    pub start_lag_p99_ms: f64,
    /// Too many of its sessions started late ([`ran_limited`]).
    pub ran_limited: bool,
}

impl RunLoad {
    pub fn of(counters: &ShardCounters) -> RunLoad {
        RunLoad {
            generator_errors: generator_errors(&counters.errors_by_class),
            start_lag_p99_ms: counters.start_lag.quantile_ms(0.99),
            ran_limited: ran_limited(&counters.start_lag),
        }
    }
}

/// Failed requests the generator caused, from the failures by class.
pub fn generator_errors(errors_by_class: &BTreeMap<String, u64>) -> u64 {
    GENERATOR_ERROR_CLASSES
        .iter()
        .filter_map(|class| errors_by_class.get(*class))
        .sum()
}

/// An agent's watch on itself: sessions record their start lag as they
/// start, a probe task records the runtime's lag, and every second the
/// window is judged. Cheap to clone; every clone is the same monitor.
#[derive(Clone, Debug, Default)]
pub struct GeneratorMonitor {
    inner: Arc<Window>,
}

#[derive(Debug, Default)]
struct Window {
    started: AtomicU64,
    late: AtomicU64,
    max_start_lag_us: AtomicU64,
    max_runtime_lag_us: AtomicU64,
    judged: Mutex<Judged>,
}

#[derive(Debug, Default)]
struct Judged {
    load: GeneratorLoad,
    /// The window before was behind.
    behind_before: bool,
    /// When two windows in a row were last behind.
    limited_at: Option<Instant>,
}

impl GeneratorMonitor {
    /// A session started `lag` after its intended start.
    pub fn session_started(&self, lag: Duration) {
        let window = &self.inner;
        window.started.fetch_add(1, Ordering::Relaxed);
        if lag > LATE_START {
            window.late.fetch_add(1, Ordering::Relaxed);
        }
        window
            .max_start_lag_us
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
    }

    /// A timer fired `lag` after its deadline.
    pub fn runtime_lagged(&self, lag: Duration) {
        self.inner
            .max_runtime_lag_us
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
    }

    /// Judges the window that ends at `now` and starts the next.
    pub fn close_window(&self, now: Instant) -> GeneratorLoad {
        let window = &self.inner;
        let mut load = GeneratorLoad {
            limited: false,
            sessions_started: window.started.swap(0, Ordering::Relaxed),
            sessions_late: window.late.swap(0, Ordering::Relaxed),
            max_start_lag_ms: window.max_start_lag_us.swap(0, Ordering::Relaxed) as f64 / 1000.0,
            runtime_lag_ms: window.max_runtime_lag_us.swap(0, Ordering::Relaxed) as f64 / 1000.0,
        };
        let mut judged = window.judged.lock().unwrap_or_else(|e| e.into_inner());
        let behind = load.behind();
        if behind && judged.behind_before {
            judged.limited_at = Some(now);
        }
        judged.behind_before = behind;
        load.limited = judged
            .limited_at
            .is_some_and(|at| now.saturating_duration_since(at) < HOLD);
        judged.load = load.clone();
        load
    }

    /// The last window's judgement.
    pub fn load(&self) -> GeneratorLoad {
        self.inner
            .judged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .load
            .clone()
    }

    /// Probes the runtime's lag and closes a window every second until
    /// `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut window_start = Instant::now();
        loop {
            let deadline = Instant::now() + PROBE_PERIOD;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            let now = Instant::now();
            self.runtime_lagged(now.saturating_duration_since(deadline));
            if now.duration_since(window_start) >= WINDOW {
                self.close_window(now);
                window_start = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_sessions(monitor: &GeneratorMonitor, on_time: u64, late: u64) {
        for _ in 0..on_time {
            monitor.session_started(Duration::from_millis(3));
        }
        for _ in 0..late {
            monitor.session_started(Duration::from_millis(900));
        }
    }

    #[test]
    fn an_agent_on_schedule_is_not_limited() {
        let monitor = GeneratorMonitor::default();
        start_sessions(&monitor, 1_000, 9);
        monitor.runtime_lagged(Duration::from_millis(40));
        let load = monitor.close_window(Instant::now());
        assert!(!load.limited, "{load:?}");
        assert_eq!((load.sessions_started, load.sessions_late), (1_009, 9));
        assert_eq!(load.runtime_lag_ms, 40.0);
        assert_eq!(load.reason(), None);
    }

    #[test]
    fn late_starts_two_seconds_running_make_an_agent_limited_and_the_judgement_holds_a_while() {
        let monitor = GeneratorMonitor::default();
        let start = Instant::now();
        start_sessions(&monitor, 980, 20);
        let first = monitor.close_window(start);
        assert!(!first.limited, "one second behind may be a passing stall");
        start_sessions(&monitor, 980, 20);
        let load = monitor.close_window(start + WINDOW);
        assert!(load.limited);
        assert_eq!(load.max_start_lag_ms, 900.0);
        let reason = load.reason().expect("a reason");
        assert!(
            reason.contains("20 of 1000 sessions started over 250 ms late"),
            "{reason}"
        );
        assert_eq!(monitor.load(), load, "the last judgement is kept for readers");

        start_sessions(&monitor, 100, 0);
        let calm = monitor.close_window(start + Duration::from_secs(3));
        assert!(calm.limited, "held for a few seconds after falling behind");
        assert_eq!((calm.sessions_started, calm.sessions_late), (100, 0));
        let later = monitor.close_window(start + WINDOW + HOLD);
        assert!(!later.limited, "{later:?}");
    }

    #[test]
    fn a_single_stall_is_not_a_shortage() {
        let monitor = GeneratorMonitor::default();
        let start = Instant::now();
        monitor.runtime_lagged(Duration::from_millis(330));
        start_sessions(&monitor, 1_900, 150);
        assert!(!monitor.close_window(start).limited);
        start_sessions(&monitor, 2_000, 0);
        assert!(!monitor.close_window(start + WINDOW).limited);
    }

    #[test]
    fn a_lagging_runtime_makes_an_agent_limited_without_sessions() {
        let monitor = GeneratorMonitor::default();
        let start = Instant::now();
        monitor.runtime_lagged(Duration::from_millis(600));
        monitor.close_window(start);
        monitor.runtime_lagged(Duration::from_millis(700));
        let load = monitor.close_window(start + WINDOW);
        assert!(load.limited);
        assert_eq!(load.reason().as_deref(), Some("its runtime lags 700 ms"));
    }

    #[test]
    fn a_campaign_ran_limited_when_over_one_percent_of_its_sessions_started_late() {
        let mut lags = LatencyHistogram::default();
        for _ in 0..995 {
            lags.record_us(2_000);
        }
        for _ in 0..5 {
            lags.record_us(1_500_000);
        }
        assert_eq!(sessions_late(&lags), 5);
        assert!(!ran_limited(&lags));
        for _ in 0..6 {
            lags.record_us(300_000);
        }
        assert!(ran_limited(&lags));
        assert!(!ran_limited(&LatencyHistogram::default()));
    }

    #[test]
    fn queued_requests_are_the_generators_errors() {
        let classes: BTreeMap<String, u64> = [
            ("queued".to_string(), 7),
            ("http_5xx".to_string(), 3),
            ("timeout".to_string(), 2),
        ]
        .into();
        assert_eq!(generator_errors(&classes), 7);
    }
}
