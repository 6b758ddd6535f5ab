//! One visitor session: its deterministic plan (which pages, how long to
//! think) and running it over the HTTP engine.
//!
//! Latency is measured from each request's *intended* start: for the first
//! page that is the session's scheduled arrival, so a generator that falls
//! behind, or a target that stalls, shows up in the figures instead of
//! silently lowering the load (no coordinated omission). Later pages are
//! intended at the previous answer plus the think time, as a person would.

use std::time::{Duration, Instant};

use crate::clock::WallClock;
use crate::http::HttpEngine;
use crate::ids::{self, Part};
use crate::lease::LeaseGuard;
use crate::spec::CampaignSpec;

/// One page of a planned session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedVisit {
    pub path: String,
    /// Pause before requesting this page (zero for the first).
    pub think_before: Duration,
}

/// What a session will do, derived from (seed, campaign, shard, seq) alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionPlan {
    pub session_id: u64,
    pub shard: u32,
    pub seq: u64,
    pub visits: Vec<PlannedVisit>,
}

impl SessionPlan {
    pub fn new(spec: &CampaignSpec, shard: u32, seq: u64) -> Self {
        let session_id = ids::session_id(spec.seed, &spec.name, shard, seq);
        let mut rng = ids::rng_for(&[Part::Str("session-plan"), Part::U64(session_id)]);
        let pages = ids::uniform_u64(&mut rng, spec.session.pages_min, spec.session.pages_max);
        let think_min = spec.session.think_min.as_millis() as u64;
        let think_max = spec.session.think_max.as_millis() as u64;
        let visits = (0..pages)
            .map(|i| {
                let page = ids::uniform_u64(&mut rng, 0, spec.pages.len() as u64 - 1) as usize;
                let think = if i == 0 {
                    0
                } else {
                    ids::uniform_u64(&mut rng, think_min, think_max)
                };
                PlannedVisit {
                    path: spec.pages[page].clone(),
                    think_before: Duration::from_millis(think),
                }
            })
            .collect();
        SessionPlan {
            session_id,
            shard,
            seq,
            visits,
        }
    }
}

/// The result of one page request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisitOutcome {
    pub index: u32,
    pub path: String,
    /// HTTP status, 0 when no answer came.
    pub status: u16,
    /// From the intended start to the end of the body.
    pub latency_us: u64,
    pub intended_ms: u64,
    /// The error class and message when no answer came, empty otherwise.
    pub error: String,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOutcome {
    pub session_id: u64,
    pub shard: u32,
    pub seq: u64,
    pub intended_ms: u64,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub visits: Vec<VisitOutcome>,
    /// Any request failed (no answer, or a 4xx/5xx status).
    pub failed: bool,
    /// The first failure, for the record.
    pub error: String,
    /// Stopped midway because this agent's lease is no longer valid; such a
    /// session is not recorded, its replacement owner runs it again.
    pub aborted: bool,
}

impl SessionOutcome {
    /// A session that could not run at all (e.g. its actor failed).
    pub fn failed_without_running(plan: &SessionPlan, at_ms: u64, error: String) -> Self {
        SessionOutcome {
            session_id: plan.session_id,
            shard: plan.shard,
            seq: plan.seq,
            intended_ms: at_ms,
            started_ms: at_ms,
            ended_ms: at_ms,
            visits: Vec::new(),
            failed: true,
            error,
            aborted: false,
        }
    }
}

/// Everything a session needs from its agent.
#[derive(Clone, Debug)]
pub struct SessionContext {
    pub engine: HttpEngine,
    pub lease: LeaseGuard,
    pub clock: WallClock,
}

/// Runs `plan` against the spec's target, starting at `intended_start`.
pub async fn run_session(
    plan: &SessionPlan,
    spec: &CampaignSpec,
    context: &SessionContext,
    intended_start: Instant,
) -> SessionOutcome {
    // A timer on a deadline already past still waits for the next timer tick
    // (about 1 ms), so only sleep for a start that is still ahead.
    if intended_start > Instant::now() {
        tokio::time::sleep_until(intended_start.into()).await;
    }
    let clock = &context.clock;
    let mut outcome = SessionOutcome {
        session_id: plan.session_id,
        shard: plan.shard,
        seq: plan.seq,
        intended_ms: clock.epoch_ms(intended_start),
        started_ms: clock.epoch_ms(Instant::now()),
        ended_ms: 0,
        visits: Vec::with_capacity(plan.visits.len()),
        failed: false,
        error: String::new(),
        aborted: false,
    };
    let mut intended = intended_start;
    for (index, visit) in plan.visits.iter().enumerate() {
        if !visit.think_before.is_zero() {
            intended = Instant::now() + visit.think_before;
            tokio::time::sleep_until(intended.into()).await;
        }
        if !context.lease.is_valid() {
            outcome.aborted = true;
            break;
        }
        let url = format!("{}{}", spec.target.url, visit.path);
        let result = context.engine.get(&url, spec.request_timeout).await;
        let latency_us = Instant::now().saturating_duration_since(intended).as_micros() as u64;
        let (status, error) = match result {
            Ok(response) => (response.status, String::new()),
            Err(e) => (0, format!("{}: {e}", e.class())),
        };
        if (status == 0 || status >= 400) && !outcome.failed {
            outcome.failed = true;
            outcome.error = if error.is_empty() {
                format!("http {status} on {}", visit.path)
            } else {
                error.clone()
            };
        }
        outcome.visits.push(VisitOutcome {
            index: index as u32,
            path: visit.path.clone(),
            status,
            latency_us,
            intended_ms: clock.epoch_ms(intended),
            error,
        });
        if status == 0 {
            // No answer: a person would give up on the site here.
            break;
        }
    }
    outcome.ended_ms = clock.epoch_ms(Instant::now());
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ValidationContext;

    fn spec() -> CampaignSpec {
        CampaignSpec::parse(
            "name: plan\nseed: 9\ntarget: {url: 'http://127.0.0.1:1'}\npages: ['/a', '/b', '/c']\n\
             session: {pages: {min: 1, max: 6}, think_time: {min: 10ms, max: 90ms}}\n\
             load: {rate: 5, sessions: 100}\n",
            &ValidationContext::default(),
        )
        .expect("valid spec")
    }

    #[test]
    fn plans_are_deterministic_and_within_bounds() {
        let spec = spec();
        for seq in 0..200 {
            let plan = SessionPlan::new(&spec, 2, seq);
            assert_eq!(plan, SessionPlan::new(&spec, 2, seq));
            assert!((1..=6).contains(&plan.visits.len()));
            assert_eq!(plan.visits[0].think_before, Duration::ZERO);
            for visit in &plan.visits[1..] {
                let ms = visit.think_before.as_millis();
                assert!((10..=90).contains(&ms), "think {ms}");
            }
        }
        assert_ne!(
            SessionPlan::new(&spec, 2, 0).session_id,
            SessionPlan::new(&spec, 3, 0).session_id
        );
    }

    #[test]
    fn every_page_and_length_is_drawn() {
        let spec = spec();
        let mut lengths = [0u32; 7];
        let mut pages = std::collections::BTreeMap::new();
        for seq in 0..600 {
            let plan = SessionPlan::new(&spec, 0, seq);
            lengths[plan.visits.len()] += 1;
            for v in plan.visits {
                *pages.entry(v.path).or_insert(0u32) += 1;
            }
        }
        assert!(lengths[1..].iter().all(|n| *n > 50), "{lengths:?}");
        assert_eq!(pages.len(), 3);
    }
}
