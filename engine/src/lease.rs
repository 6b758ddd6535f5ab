//! The agent's view of its own lease, shared with every shard it runs.
//!
//! Shards check it before launching work: an agent whose lease may have
//! expired (it could not renew in time, or the process was frozen) must not
//! generate load beside the agent that replaced it. Time is monotonic, so a
//! process resumed after SIGSTOP sees its lease as expired at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A cheap, clonable handle on "is my lease still valid".
#[derive(Clone, Debug)]
pub struct LeaseGuard {
    origin: Instant,
    /// Milliseconds since `origin` until which the lease is known valid.
    valid_until_ms: Arc<AtomicU64>,
}

impl LeaseGuard {
    /// A guard that is not valid until the first renewal.
    pub fn new() -> Self {
        LeaseGuard {
            origin: Instant::now(),
            valid_until_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A guard that stays valid (single-process runs and tests).
    pub fn always_valid() -> Self {
        let guard = LeaseGuard::new();
        guard.valid_until_ms.store(u64::MAX, Ordering::SeqCst);
        guard
    }

    /// Records a renewal made at `renewed_at` (taken before the renewal was
    /// sent, so the estimate errs on the safe side) for a lease of `ttl`.
    pub fn renewed(&self, renewed_at: Instant, ttl: Duration) {
        let until = renewed_at.saturating_duration_since(self.origin) + ttl;
        self.valid_until_ms
            .store(until.as_millis() as u64, Ordering::SeqCst);
    }

    /// Records a keep-alive made at `renewed_at`, unless the guard has
    /// lapsed meanwhile: shards may already have stopped on seeing it
    /// lapsed, so the lease is not trusted again and the agent starts over
    /// under a new one (which tells the coordinator to send its shards
    /// again). Whether it was extended.
    pub fn renewed_unless_lapsed(&self, renewed_at: Instant, ttl: Duration) -> bool {
        let until = (renewed_at.saturating_duration_since(self.origin) + ttl).as_millis() as u64;
        let now = Instant::now().saturating_duration_since(self.origin).as_millis() as u64;
        self.valid_until_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                (now < current).then_some(current.max(until))
            })
            .is_ok()
    }

    /// Marks the lease lost.
    pub fn invalidate(&self) {
        self.valid_until_ms.store(0, Ordering::SeqCst);
    }

    pub fn is_valid(&self) -> bool {
        let now = Instant::now().saturating_duration_since(self.origin).as_millis() as u64;
        now < self.valid_until_ms.load(Ordering::SeqCst)
    }
}

impl Default for LeaseGuard {
    fn default() -> Self {
        LeaseGuard::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_follows_renewals() {
        let guard = LeaseGuard::new();
        assert!(!guard.is_valid());
        guard.renewed(Instant::now(), Duration::from_secs(5));
        assert!(guard.is_valid());
        guard.renewed(Instant::now(), Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!guard.is_valid(), "a renewal older than the TTL means expired");
        guard.renewed(Instant::now(), Duration::from_secs(5));
        guard.invalidate();
        assert!(!guard.is_valid());
        assert!(LeaseGuard::always_valid().is_valid());
    }

    #[test]
    fn a_lapsed_guard_is_not_extended_by_a_late_keep_alive() {
        let guard = LeaseGuard::new();
        guard.renewed(Instant::now(), Duration::from_secs(5));
        assert!(guard.renewed_unless_lapsed(Instant::now(), Duration::from_secs(5)));
        assert!(guard.is_valid());

        let sent = Instant::now();
        guard.renewed(sent, Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        // The answer to a keep-alive sent before the lapse comes back after it.
        assert!(!guard.renewed_unless_lapsed(sent, Duration::from_secs(5)));
        assert!(!guard.is_valid(), "lapsed stays lapsed until a new lease");
        guard.renewed(Instant::now(), Duration::from_secs(5));
        assert!(guard.is_valid(), "a new lease makes it valid");
    }
}
