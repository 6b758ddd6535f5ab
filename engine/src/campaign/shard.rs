//! The schedule of one campaign shard: which sessions are due, which have
//! finished, and the watermark a checkpoint may claim. A plain struct, so the
//! actor that drives it stays a thin shell.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::campaign::plan::ShardPlan;

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
    /// Sessions thinned out by the time-of-day profile since last asked.
    thinned: u64,
    /// Closed model: no more sessions start (its time is up).
    launches_closed: bool,
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
            thinned: 0,
            launches_closed: false,
            plan,
        }
    }

    /// Follows a new plan (after a rate change) from now on; sessions keep
    /// their numbers, so the watermark and checkpoints stay valid.
    pub fn replan(&mut self, plan: ShardPlan) {
        self.plan = plan;
    }

    /// Sessions the daily cap skipped since the last call.
    pub fn take_capped(&mut self) -> u64 {
        std::mem::take(&mut self.capped)
    }

    /// Sessions thinned out by the time-of-day profile since the last call.
    pub fn take_thinned(&mut self) -> u64 {
        std::mem::take(&mut self.thinned)
    }

    pub fn plan(&self) -> &ShardPlan {
        &self.plan
    }

    /// When local session `seq` is intended to start.
    pub fn intended_start(&self, seq: u64) -> Instant {
        self.origin + self.plan.intended_offset(seq).saturating_sub(self.base_offset)
    }

    /// Sessions intended to start before `horizon`, marked as launched. In
    /// the closed model: as many as free users, all starting at `horizon`.
    pub fn take_due(&mut self, horizon: Instant) -> Vec<(u64, Instant)> {
        let mut due = Vec::new();
        if self.paused_at.is_some() {
            return due;
        }
        if let Some(closed) = &self.plan.closed {
            let elapsed = horizon.saturating_duration_since(self.origin);
            if closed.duration.is_some_and(|d| elapsed >= d) {
                self.launches_closed = true;
                return due;
            }
            let users = closed.users_of_shard(elapsed.as_secs_f64(), self.plan.index, self.plan.count);
            while self.next_launch < self.plan.sessions() && self.in_flight < users.min(self.max_in_flight) {
                due.push((self.next_launch, horizon));
                self.next_launch += 1;
                self.in_flight += 1;
            }
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
            if self.plan.is_thinned(seq, self.campaign_start_ms) {
                // Outside the profile's share for its hour: not part of the run.
                self.thinned += 1;
                self.finished(seq);
                continue;
            }
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

    /// When the next session is intended to start, where time alone decides
    /// it: an open-model shard with sessions left to launch and room to run
    /// them. None when launches wait on sessions ending (the closed model, or
    /// as many sessions running as allowed) or nothing is left to launch.
    pub fn next_start(&self) -> Option<Instant> {
        if self.plan.closed.is_some() || self.all_launched() || self.in_flight >= self.max_in_flight {
            return None;
        }
        Some(self.intended_start(self.next_launch))
    }

    /// Whether every session has been launched (or, closed, none may start any more).
    pub fn all_launched(&self) -> bool {
        self.launches_closed || self.next_launch >= self.plan.sessions()
    }

    /// Whether sessions start when others end rather than on a schedule.
    pub fn is_closed(&self) -> bool {
        self.plan.closed.is_some()
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
        self.all_launched() && self.watermark >= self.next_launch
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
            schedule: crate::campaign::load::ArrivalSchedule::constant(10.0),
            daily_cap: None,
            profile: None,
            closed: None,
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
    fn the_next_start_is_known_until_launches_wait_on_sessions() {
        let now = Instant::now();
        let mut runner = ShardRunner::new(plan(), 0, now, 2, 0);
        assert_eq!(runner.next_start(), Some(now), "session 0 is due at once");
        runner.take_due(now);
        assert_eq!(runner.next_start(), Some(now + Duration::from_millis(200)));
        runner.take_due(now + Duration::from_millis(200));
        assert_eq!(runner.next_start(), None, "two running of two allowed");
        runner.finished(0);
        assert_eq!(runner.next_start(), Some(now + Duration::from_millis(400)));
        for seq in 1..10 {
            runner.take_due(now + Duration::from_secs(10));
            runner.finished(seq);
        }
        assert!(runner.all_launched());
        assert_eq!(runner.next_start(), None, "nothing left to launch");
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

    #[test]
    fn the_closed_model_keeps_its_users_busy_until_time_is_up() {
        use crate::campaign::load::{ArrivalSchedule, ClosedLoad};
        let closed = ClosedLoad {
            // 0 → 10 users over 10 s, then 10.
            users: ArrivalSchedule::staged(0.0, &[(Duration::from_secs(10), 10.0)]),
            duration: Some(Duration::from_secs(30)),
        };
        let plan = ShardPlan {
            index: 1,
            count: 2,
            total_sessions: u64::MAX,
            schedule: ArrivalSchedule::constant(0.0),
            daily_cap: None,
            profile: None,
            closed: Some(closed),
        };
        let now = Instant::now();
        let mut runner = ShardRunner::new(plan, 0, now, 1000, 0);
        assert!(runner.take_due(now).is_empty(), "no users yet");
        // At 5 s, 5 users in all; shard 1 of 2 has users 1 and 3.
        let due = runner.take_due(now + Duration::from_secs(5));
        assert_eq!(due.len(), 2);
        assert!(
            runner.take_due(now + Duration::from_secs(5)).is_empty(),
            "both busy"
        );
        runner.finished(0);
        assert_eq!(
            runner.take_due(now + Duration::from_secs(5)).len(),
            1,
            "a free user starts again"
        );
        assert_eq!(
            runner.take_due(now + Duration::from_secs(20)).len(),
            3,
            "5 users of 10 at full ramp"
        );
        assert!(!runner.all_launched());
        assert!(runner.take_due(now + Duration::from_secs(31)).is_empty());
        assert!(runner.all_launched(), "time is up");
        assert!(!runner.is_complete(), "sessions still running");
        for seq in 0..6 {
            runner.finished(seq);
        }
        assert!(runner.is_complete());
    }
}
