//! Planning: when each session of a campaign is intended to start, and how
//! the campaign is cut into shards.
//!
//! Arrivals follow a rate that is constant or ramps linearly through stages.
//! Session `n` (0-based, campaign-wide) is intended at the time `t` where the
//! cumulative rate `Λ(t)` reaches `n`, so every shard computes the same
//! schedule. Shard `i` of `S` owns sessions `n = i, i+S, i+2S, …`. Nothing
//! depends on how many agents run the shards.

use std::time::Duration;

use crate::campaign::load::{ArrivalSchedule, ClosedLoad, RateChange};
use crate::ids::{Part, stable_hash};
use crate::spec::{CampaignSpec, DailyCap, TimeOfDayProfile};

/// The campaign-wide sequence number of local session `seq` of shard `shard`
/// of `shards`: shards own interleaved slices of the arrival sequence.
pub fn global_seq(shard: u32, shards: u32, seq: u64) -> u64 {
    u64::from(shard) + seq * u64::from(shards)
}

/// What a campaign will do, as a whole.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignPlan {
    pub shards: u32,
    /// Sessions in all; `u64::MAX` for a closed model bounded by time.
    pub sessions: u64,
    pub schedule: ArrivalSchedule,
    pub daily_cap: Option<DailyCap>,
    pub profile: Option<Thinning>,
    pub closed: Option<ClosedLoad>,
}

/// A time-of-day profile applied by thinning: arrivals are scheduled at the
/// profile's peak, and session `n` is kept with probability
/// `multiplier(hour) / peak`, drawn from a stable hash of `n`.
#[derive(Clone, Debug, PartialEq)]
pub struct Thinning {
    pub profile: TimeOfDayProfile,
    /// Keyed by the campaign's seed and name.
    pub salt: u64,
}

impl CampaignPlan {
    pub fn of(spec: &CampaignSpec) -> Self {
        CampaignPlan::with_changes(spec, &[])
    }

    /// The plan after rate changes made while the campaign runs. A campaign
    /// bounded by duration gets the sessions its new schedule holds.
    pub fn with_changes(spec: &CampaignSpec, changes: &[RateChange]) -> Self {
        let peak = spec.load.profile.as_ref().map_or(1.0, TimeOfDayProfile::peak);
        let schedule = changes.iter().fold(spec.load.schedule.clone(), |s, c| {
            s.with_change(c.at_seconds, c.rate * peak)
        });
        let sessions = match (changes.is_empty(), spec.load.duration) {
            (false, Some(duration)) => schedule.sessions_within(duration).max(1),
            _ => spec.load.sessions,
        };
        CampaignPlan {
            shards: spec.load.shards,
            sessions,
            schedule,
            daily_cap: spec.load.daily_cap.clone(),
            profile: spec.load.profile.clone().map(|profile| Thinning {
                profile,
                salt: stable_hash(&[Part::Str("profile"), Part::U64(spec.seed), Part::Str(&spec.name)]),
            }),
            closed: spec.load.closed.clone(),
        }
    }

    /// How long arrivals last (the last session's intended start).
    pub fn expected_duration(&self) -> Duration {
        if let Some(closed) = &self.closed {
            return closed.duration.unwrap_or_default();
        }
        let last = self.sessions.saturating_sub(1);
        Duration::from_secs_f64(self.schedule.offset_secs(last).unwrap_or(0.0))
    }

    /// Shard `index` of this plan.
    pub fn shard(&self, index: u32) -> ShardPlan {
        ShardPlan {
            index,
            count: self.shards,
            total_sessions: self.sessions,
            schedule: self.schedule.clone(),
            daily_cap: self.daily_cap.clone(),
            profile: self.profile.clone(),
            closed: self.closed.clone(),
        }
    }

    /// Requests per second at the peak rate: sessions/s × mean pages per session.
    pub fn requests_per_second(&self, spec: &CampaignSpec) -> f64 {
        let mean_pages: f64 = spec
            .personas
            .iter()
            .enumerate()
            .map(|(i, p)| spec.persona_shares.share(i) * (p.pages_min + p.pages_max) as f64 / 2.0)
            .sum();
        self.schedule.peak_rate() * mean_pages
    }
}

/// One shard's slice of the arrival sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardPlan {
    pub index: u32,
    pub count: u32,
    pub total_sessions: u64,
    pub schedule: ArrivalSchedule,
    pub daily_cap: Option<DailyCap>,
    pub profile: Option<Thinning>,
    pub closed: Option<ClosedLoad>,
}

impl ShardPlan {
    /// Whether local session `seq` is thinned out by the time-of-day profile.
    pub fn is_thinned(&self, seq: u64, campaign_start_ms: u64) -> bool {
        let Some(thinning) = &self.profile else {
            return false;
        };
        let n = self.global_seq(seq);
        let Some(offset) = self.schedule.offset_secs(n) else {
            return false;
        };
        let at_ms = campaign_start_ms + (offset * 1000.0) as u64;
        let keep = thinning.profile.at(at_ms) / thinning.profile.peak();
        let draw =
            (stable_hash(&[Part::U64(thinning.salt), Part::U64(n)]) >> 11) as f64 / (1u64 << 53) as f64;
        draw >= keep
    }

    /// How many sessions this shard owns (`u64::MAX`: as many as time allows).
    pub fn sessions(&self) -> u64 {
        if self.total_sessions == u64::MAX {
            return u64::MAX;
        }
        let index = u64::from(self.index);
        let count = u64::from(self.count);
        if index >= self.total_sessions {
            0
        } else {
            (self.total_sessions - index).div_ceil(count)
        }
    }

    /// The global sequence number of local session `seq`.
    pub fn global_seq(&self, seq: u64) -> u64 {
        global_seq(self.index, self.count, seq)
    }

    /// When local session `seq` is intended to start, from the campaign's start.
    pub fn intended_offset(&self, seq: u64) -> Duration {
        let secs = self
            .schedule
            .offset_secs(self.global_seq(seq))
            .unwrap_or(f64::MAX / 4.0);
        Duration::from_secs_f64(secs.min(1e12))
    }

    /// Whether local session `seq` is over its day's cap in a campaign that
    /// started at `campaign_start_ms` (epoch milliseconds). Pure: every shard
    /// on every agent agrees, so the cap holds cluster-wide.
    pub fn is_capped(&self, seq: u64, campaign_start_ms: u64) -> bool {
        let Some(cap) = &self.daily_cap else { return false };
        let n = self.global_seq(seq);
        let Some(offset) = self.schedule.offset_secs(n) else {
            return false;
        };
        let at_ms = campaign_start_ms as f64 + offset * 1000.0;
        let window_start_ms = cap.window_start_ms(at_ms as u64) as f64;
        let since_start = (window_start_ms - campaign_start_ms as f64) / 1000.0;
        let first_in_window = if since_start <= 0.0 {
            0
        } else {
            (self.schedule.arrivals_by(since_start) - 1e-9).ceil().max(0.0) as u64
        };
        n.saturating_sub(first_in_window) >= cap.sessions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(sessions: u64, shards: u32) -> CampaignPlan {
        CampaignPlan {
            shards,
            sessions,
            schedule: ArrivalSchedule::constant(10.0),
            daily_cap: None,
            profile: None,
            closed: None,
        }
    }

    #[test]
    fn shards_partition_the_sessions_exactly() {
        for (sessions, shards) in [(1, 8), (7, 8), (8, 8), (1000, 8), (1001, 3), (5, 1)] {
            let p = constant(sessions, shards);
            let mut all: Vec<u64> = (0..shards)
                .flat_map(|i| {
                    let s = p.shard(i);
                    (0..s.sessions()).map(move |k| s.global_seq(k))
                })
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..sessions).collect::<Vec<_>>(), "{sessions} over {shards}");
        }
    }

    #[test]
    fn arrivals_follow_a_constant_rate() {
        let p = constant(100, 4);
        let shard = p.shard(1);
        assert_eq!(shard.intended_offset(0), Duration::from_millis(100));
        assert_eq!(shard.intended_offset(2), Duration::from_millis(900));
        assert_eq!(p.expected_duration(), Duration::from_millis(9900));
    }

    #[test]
    fn ramps_invert_exactly() {
        // 0 → 10/s over 10 s (50 arrivals), hold 10/s for 10 s (100), down to 0 over 10 s (50).
        let s = ArrivalSchedule::staged(
            0.0,
            &[
                (Duration::from_secs(10), 10.0),
                (Duration::from_secs(10), 10.0),
                (Duration::from_secs(10), 0.0),
            ],
        );
        assert!((s.arrivals_by(10.0) - 50.0).abs() < 1e-9);
        assert!((s.arrivals_by(30.0) - 200.0).abs() < 1e-9);
        assert_eq!(s.sessions_within(Duration::from_secs(30)), 200);
        for n in [1u64, 7, 49, 50, 120, 199] {
            let t = s.offset_secs(n).expect("within the ramps");
            assert!((s.arrivals_by(t) - n as f64).abs() < 1e-6, "n={n} t={t}");
        }
        // Arrivals are ordered and denser where the rate is higher.
        let gaps: Vec<f64> = (1..200)
            .map(|n| s.offset_secs(n).unwrap_or(0.0) - s.offset_secs(n - 1).unwrap_or(0.0))
            .collect();
        assert!(gaps.iter().all(|g| *g >= 0.0));
        assert!(gaps[5] > gaps[60], "sparser while ramping up");
        assert_eq!(s.offset_secs(200), None, "the rate fell to zero");
        assert_eq!(s.peak_rate(), 10.0);
    }

    #[test]
    fn the_daily_cap_is_counted_per_window() {
        // 1 session/s from 23:59:00; cap 30 a day (UTC): 30 before midnight, 30 after.
        let cap = DailyCap {
            sessions: 30,
            day_start_minutes: 0,
            zone: crate::zone::Zone::default(),
        };
        let plan = CampaignPlan {
            shards: 3,
            sessions: 120,
            schedule: ArrivalSchedule::constant(1.0),
            daily_cap: Some(cap),
            profile: None,
            closed: None,
        };
        let start_ms = (20_000 * 86_400 - 60) * 1000;
        let mut allowed_before = 0;
        let mut allowed_after = 0;
        for i in 0..3 {
            let shard = plan.shard(i);
            for k in 0..shard.sessions() {
                if !shard.is_capped(k, start_ms) {
                    if shard.global_seq(k) < 60 {
                        allowed_before += 1
                    } else {
                        allowed_after += 1
                    }
                }
            }
        }
        assert_eq!((allowed_before, allowed_after), (30, 30));
    }

    #[test]
    fn a_time_of_day_profile_thins_arrivals_by_hour() {
        use crate::spec::TimeOfDayProfile;
        // Half the rate from midnight to noon (UTC), the full rate after.
        let mut hours = [1.0; 24];
        hours[..12].fill(0.5);
        let thinning = Thinning {
            profile: TimeOfDayProfile {
                hours,
                zone: crate::zone::Zone::default(),
            },
            salt: 42,
        };
        let start_ms = 20_000 * 86_400_000; // a midnight
        let kept = |shards: u32| -> (u64, u64) {
            let plan = CampaignPlan {
                shards,
                sessions: 86_400 / 10,
                schedule: ArrivalSchedule::constant(0.1),
                daily_cap: None,
                profile: Some(thinning.clone()),
                closed: None,
            };
            let (mut night, mut day) = (0, 0);
            for i in 0..shards {
                let shard = plan.shard(i);
                for k in 0..shard.sessions() {
                    if !shard.is_thinned(k, start_ms) {
                        if shard.global_seq(k) < 4_320 {
                            night += 1
                        } else {
                            day += 1
                        }
                    }
                }
            }
            (night, day)
        };
        let (night, day) = kept(1);
        assert_eq!(day, 4_320, "the full rate keeps every slot");
        assert!((2_000..=2_320).contains(&night), "about half at night: {night}");
        assert_eq!(kept(7), (night, day), "the same sessions whatever the sharding");
    }

    #[test]
    fn a_rate_change_bends_the_schedule_from_its_instant() {
        let s = ArrivalSchedule::constant(10.0).with_change(5.0, 30.0);
        assert!((s.arrivals_by(5.0) - 50.0).abs() < 1e-9);
        assert!((s.arrivals_by(7.0) - 110.0).abs() < 1e-9);
        assert!((s.offset_secs(50).unwrap_or(0.0) - 5.0).abs() < 1e-9);
        assert_eq!(s.sessions_within(Duration::from_secs(10)), 200);
        // Within a ramp: 0 → 10/s over 10 s, changed to 2/s at 4 s (8 arrivals so far).
        let ramp = ArrivalSchedule::staged(0.0, &[(Duration::from_secs(10), 10.0)]).with_change(4.0, 2.0);
        assert!((ramp.arrivals_by(4.0) - 8.0).abs() < 1e-9);
        assert!((ramp.arrivals_by(6.0) - 12.0).abs() < 1e-9);
        for n in [1u64, 5, 8, 11] {
            let t = ramp.offset_secs(n).expect("arrives");
            assert!((ramp.arrivals_by(t) - n as f64).abs() < 1e-6, "n={n}");
        }
    }
}
