//! The schedule of one campaign shard: which sessions are due, which have
//! finished, and the watermark a checkpoint may claim. A plain struct, so the
//! actor that drives it stays a thin shell.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::plan::ShardPlan;

/// Tracks launches, completions and pauses of one shard's sessions.
#[derive(Debug)]
pub struct ShardRunner {
    plan: ShardPlan,
    /// `origin + intended_offset(seq) - base_offset` is when `seq` starts.
    origin: Instant,
    base_offset: Duration,
    next_launch: u64,
    watermark: u64,
    finished_above: BTreeSet<u64>,
    in_flight: u64,
    max_in_flight: u64,
    paused_at: Option<Instant>,
    /// Epoch ms of the campaign's start, for the daily cap's windows.
    campaign_start_ms: u64,
    /// Sessions skipped by the daily cap since last asked.
    capped: u64,
}

impl ShardRunner {
    /// Starts at local session `resume_from` (0 for a fresh shard, or the
    /// checkpoint's watermark after a failover), with that session due at
    /// `origin` and the rest following on the planned schedule.
    pub fn new(
        plan: ShardPlan,
        resume_from: u64,
        origin: Instant,
        max_in_flight: u64,
        campaign_start_ms: u64,
    ) -> Self {
        let resume_from = resume_from.min(plan.sessions());
        ShardRunner {
            origin,
            base_offset: plan.intended_offset(resume_from),
            next_launch: resume_from,
            watermark: resume_from,
            finished_above: BTreeSet::new(),
            in_flight: 0,
            max_in_flight: max_in_flight.max(1),
            paused_at: None,
            campaign_start_ms,
            capped: 0,
            plan,
        }
    }

    /// Sessions the daily cap skipped since the last call.
    pub fn take_capped(&mut self) -> u64 {
        std::mem::take(&mut self.capped)
    }

    pub fn plan(&self) -> &ShardPlan {
        &self.plan
    }

    /// When local session `seq` is intended to start.
    pub fn intended_start(&self, seq: u64) -> Instant {
        self.origin + self.plan.intended_offset(seq).saturating_sub(self.base_offset)
    }

    /// Sessions intended to start before `horizon`, marked as launched.
    pub fn take_due(&mut self, horizon: Instant) -> Vec<(u64, Instant)> {
        let mut due = Vec::new();
        if self.paused_at.is_some() {
            return due;
        }
        while self.next_launch < self.plan.sessions() && self.in_flight < self.max_in_flight {
            let start = self.intended_start(self.next_launch);
            if start > horizon {
                break;
            }
            let seq = self.next_launch;
            self.next_launch += 1;
            self.in_flight += 1;
            if self.plan.is_capped(seq, self.campaign_start_ms) {
                // Over the day's cap: it counts as done without running.
                self.capped += 1;
                self.finished(seq);
                continue;
            }
            due.push((seq, start));
        }
        due
    }

    /// Whether every session has been launched.
    pub fn all_launched(&self) -> bool {
        self.next_launch >= self.plan.sessions()
    }

    /// Records that `seq` finished (successfully or not). Idempotent.
    pub fn finished(&mut self, seq: u64) {
        if seq < self.watermark || seq >= self.next_launch || !self.finished_above.insert(seq) {
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        while self.finished_above.remove(&self.watermark) {
            self.watermark += 1;
        }
    }

    /// Records that `seq` stopped without finishing (it will run again elsewhere).
    pub fn abandoned(&mut self, seq: u64) {
        if seq >= self.watermark && seq < self.next_launch && !self.finished_above.contains(&seq) {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// Every local session below this one has finished.
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    pub fn is_complete(&self) -> bool {
        self.watermark >= self.plan.sessions()
    }

    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }

    /// Stops launching; sessions already running go on.
    pub fn pause(&mut self, now: Instant) {
        self.paused_at.get_or_insert(now);
    }

    /// Launches again, shifting the rest of the schedule by the pause.
    pub fn resume(&mut self, now: Instant) {
        if let Some(paused_at) = self.paused_at.take() {
            self.origin += now.saturating_duration_since(paused_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ShardPlan {
        ShardPlan {
            index: 0,
            count: 2,
            total_sessions: 20,
            schedule: crate::plan::ArrivalSchedule::constant(10.0),
            daily_cap: None,
        }
    }

    #[test]
    fn launches_follow_the_schedule() {
        let now = Instant::now();
        let mut runner = ShardRunner::new(plan(), 0, now, 100, 0);
        assert_eq!(runner.take_due(now).len(), 1, "session 0 is due at once");
        // Local sessions are 200 ms apart (global rate 10/s, 2 shards).
        let due = runner.take_due(now + Duration::from_millis(450));
        assert_eq!(due.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(due[1].1, now + Duration::from_millis(400));
        assert!(runner.take_due(now + Duration::from_millis(450)).is_empty());
    }

    #[test]
    fn the_watermark_waits_for_gaps() {
        let now = Instant::now();
        let mut runner = ShardRunner::new(plan(), 0, now, 100, 0);
        runner.take_due(now + Duration::from_secs(10));
        assert!(runner.all_launched());
        runner.finished(1);
        runner.finished(2);
        assert_eq!(runner.watermark(), 0);
        runner.finished(0);
        assert_eq!(runner.watermark(), 3);
        runner.finished(0);
        assert_eq!(runner.watermark(), 3, "finishing twice changes nothing");
        for seq in 3..10 {
            runner.finished(seq);
        }
        assert!(runner.is_complete());
        assert_eq!(runner.in_flight(), 0);
    }

    #[test]
    fn resuming_from_a_checkpoint_keeps_the_rate() {
        let now = Instant::now();
        let mut runner = ShardRunner::new(plan(), 4, now, 100, 0);
        assert_eq!(runner.watermark(), 4);
        let due = runner.take_due(now + Duration::from_millis(250));
        assert_eq!(due.iter().map(|d| d.0).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(due[1].1, now + Duration::from_millis(200));
    }

    #[test]
    fn pauses_shift_the_schedule_and_in_flight_is_bounded() {
        let now = Instant::now();
        let mut runner = ShardRunner::new(plan(), 0, now, 2, 0);
        runner.pause(now);
        assert!(runner.take_due(now + Duration::from_secs(60)).is_empty());
        runner.resume(now + Duration::from_secs(5));
        assert_eq!(runner.intended_start(1), now + Duration::from_millis(5200));
        assert_eq!(
            runner.take_due(now + Duration::from_secs(60)).len(),
            2,
            "bounded by max in flight"
        );
        runner.abandoned(0);
        assert_eq!(runner.in_flight(), 1);
    }
}
