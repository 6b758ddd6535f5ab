//! Failed sessions in an agent's log. Every failure is in its session's
//! row; the log says each one at WARN with its reason too, so whoever reads
//! it sees why without a query. When a target fails wholesale (thousands a
//! second), a shard logs a few a second and counts the rest into its next
//! line rather than flooding the log.

use std::time::{Duration, Instant};

/// Failures a shard logs per second before it starts counting instead.
const PER_SECOND: u32 = 5;

/// A shard's budget of failure lines.
#[derive(Debug)]
pub struct FailureLog {
    window_started: Instant,
    logged_in_window: u32,
    /// Failures not logged since the last line.
    unlogged: u64,
}

impl FailureLog {
    pub fn new(now: Instant) -> Self {
        FailureLog {
            window_started: now,
            logged_in_window: 0,
            unlogged: 0,
        }
    }

    /// Whether the failure seen at `now` is logged; if so, how many went
    /// unlogged before it (to say in its line).
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.window_started) >= Duration::from_secs(1) {
            self.window_started = now;
            self.logged_in_window = 0;
        }
        if self.logged_in_window >= PER_SECOND {
            self.unlogged += 1;
            return None;
        }
        self.logged_in_window += 1;
        Some(std::mem::take(&mut self.unlogged))
    }

    /// Logs a failed session (`error` holds its step, selector and URL
    /// where it has them), within the budget.
    pub fn failed(&mut self, shard: &str, session_id: u64, persona: &str, error: &str) {
        if let Some(unlogged) = self.admit(Instant::now()) {
            if unlogged == 0 {
                tracing::warn!(%shard, session_id, persona, %error, "session failed");
            } else {
                tracing::warn!(%shard, session_id, persona, %error, unlogged, "session failed (and more not logged)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_a_few_a_second_and_counts_the_rest_into_the_next_line() {
        let start = Instant::now();
        let mut log = FailureLog::new(start);
        let first_second: Vec<Option<u64>> = (0..8).map(|_| log.admit(start)).collect();
        assert_eq!(
            first_second,
            [Some(0), Some(0), Some(0), Some(0), Some(0), None, None, None]
        );
        let later = start + Duration::from_millis(1_500);
        assert_eq!(log.admit(later), Some(3), "the three unlogged are counted");
        assert_eq!(log.admit(later), Some(0), "and only once");
    }

    #[test]
    fn a_failure_now_and_then_is_always_logged() {
        let start = Instant::now();
        let mut log = FailureLog::new(start);
        for second in 0..20 {
            assert_eq!(log.admit(start + Duration::from_secs(second)), Some(0));
        }
    }
}
