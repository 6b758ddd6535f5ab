//! Wall-clock stamps for monotonic instants, so telemetry carries epoch
//! milliseconds while scheduling and latency use `Instant`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Maps `Instant`s to epoch milliseconds from one reading of both clocks.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    base_instant: Instant,
    base_epoch_ms: u64,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::now()
    }
}

impl WallClock {
    pub fn now() -> Self {
        WallClock {
            base_instant: Instant::now(),
            base_epoch_ms: epoch_ms(),
        }
    }

    /// Epoch milliseconds of `instant`.
    pub fn epoch_ms(&self, instant: Instant) -> u64 {
        if instant >= self.base_instant {
            self.base_epoch_ms + instant.duration_since(self.base_instant).as_millis() as u64
        } else {
            let before: Duration = self.base_instant.duration_since(instant);
            self.base_epoch_ms.saturating_sub(before.as_millis() as u64)
        }
    }
}

/// The current time in epoch milliseconds.
pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
