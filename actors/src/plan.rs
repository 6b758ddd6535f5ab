//! Planning: a campaign is cut into a fixed number of shards, each owning an
//! interleaved slice of the global arrival sequence.
//!
//! Shard `i` of `S` owns global sessions `n = i, i+S, i+2S, …`; session `n`
//! is intended to start `n / rate` seconds after the campaign starts. The cut
//! depends only on the spec, never on how many agents there are.

use std::time::Duration;

use crate::spec::CampaignSpec;

/// What a campaign will do, as a whole.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignPlan {
    pub shards: u32,
    pub sessions: u64,
    pub rate: f64,
}

impl CampaignPlan {
    pub fn of(spec: &CampaignSpec) -> Self {
        CampaignPlan {
            shards: spec.load.shards,
            sessions: spec.load.sessions,
            rate: spec.load.rate,
        }
    }

    /// How long arrivals last (the last session's intended start).
    pub fn expected_duration(&self) -> Duration {
        Duration::from_secs_f64(self.sessions.saturating_sub(1) as f64 / self.rate)
    }

    /// Shard `index` of this plan.
    pub fn shard(&self, index: u32) -> ShardPlan {
        ShardPlan {
            index,
            count: self.shards,
            total_sessions: self.sessions,
            rate: self.rate,
        }
    }

    /// Requests per second at the steady rate: sessions/s × mean pages per session.
    pub fn requests_per_second(&self, spec: &CampaignSpec) -> f64 {
        let mean_pages = (spec.session.pages_min + spec.session.pages_max) as f64 / 2.0;
        self.rate * mean_pages
    }
}

/// One shard's slice of the arrival sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShardPlan {
    pub index: u32,
    pub count: u32,
    pub total_sessions: u64,
    pub rate: f64,
}

impl ShardPlan {
    /// How many sessions this shard owns.
    pub fn sessions(&self) -> u64 {
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
        u64::from(self.index) + seq * u64::from(self.count)
    }

    /// When local session `seq` is intended to start, from the campaign's start.
    pub fn intended_offset(&self, seq: u64) -> Duration {
        Duration::from_secs_f64(self.global_seq(seq) as f64 / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sessions: u64, shards: u32) -> CampaignPlan {
        CampaignPlan {
            shards,
            sessions,
            rate: 10.0,
        }
    }

    #[test]
    fn shards_partition_the_sessions_exactly() {
        for (sessions, shards) in [(1, 8), (7, 8), (8, 8), (1000, 8), (1001, 3), (5, 1)] {
            let p = plan(sessions, shards);
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
    fn arrivals_follow_the_rate() {
        let p = plan(100, 4);
        let shard = p.shard(1);
        assert_eq!(shard.intended_offset(0), Duration::from_millis(100));
        assert_eq!(shard.intended_offset(2), Duration::from_millis(900));
        assert_eq!(p.expected_duration(), Duration::from_millis(9900));
    }
}
