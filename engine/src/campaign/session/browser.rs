//! A session of a `browser` target: its visit played by one of the agent's
//! real browsers (`crate::campaign::browsing`), each page the visit saw
//! recorded as a request.

use std::time::Instant;

use super::context::SessionContext;
use super::outcome::{RequestOutcome, SessionOutcome, step_outcomes, summarise};
use super::plan::SessionPlan;
use crate::campaign::browsing::{BrowserReport, VisitFailure, visit_plan};
use crate::spec::CampaignSpec;

/// Runs a session of a `browser` target on the agent's browsers. Each page
/// the visit saw is recorded as a request (its status and its load time;
/// the first page's from the session's intended start, so a schedule or a
/// pool that falls behind shows in the figures).
pub(super) async fn run_session(
    plan: &SessionPlan,
    spec: &CampaignSpec,
    context: &SessionContext,
    intended_start: Instant,
    attempts: u32,
) -> SessionOutcome {
    let clock = &context.clock;
    let persona = &spec.personas[plan.persona];
    let mut outcome = SessionOutcome::starting(
        plan,
        &persona.name,
        clock.epoch_ms(intended_start),
        clock.epoch_ms(Instant::now()),
    );
    if !context.lease.is_valid() {
        outcome.aborted = true;
        return outcome;
    }
    let result = match &context.browsers {
        Some(browsers) => browsers.visit(visit_plan(plan, spec, attempts)).await,
        None => Err(VisitFailure {
            reason: "this agent runs no browsers".into(),
            screenshot: None,
            attempts: 0,
        }),
    };
    outcome.ended_ms = clock.epoch_ms(Instant::now());
    // A visit that outlived the lease is run again by the shard's next owner.
    outcome.aborted = !context.lease.is_valid();
    match result {
        Ok(visit) => {
            // The visit began its first navigation `duration_ms` before it
            // ended; anything before that since the intended start (a late
            // schedule, a wait for the pool) is the first page's too.
            let began_ms = outcome.ended_ms as f64 - visit.behaviour.duration_ms;
            let queued_ms = (began_ms - outcome.intended_ms as f64).max(0.0);
            for (index, page) in visit.pages.iter().enumerate() {
                let waited = if index == 0 { queued_ms } else { 0.0 };
                let path = page
                    .url
                    .strip_prefix(&spec.targets[plan.target].url)
                    .unwrap_or(&page.url)
                    .to_string();
                outcome.requests.push(RequestOutcome {
                    index: index as u32,
                    name: format!("{}.page", plan.journey),
                    action: "page_view".into(),
                    path,
                    status: page.status,
                    latency_us: ((page.load_ms + waited) * 1000.0) as u64,
                    // The first page counts from the visit's intended start;
                    // each later one from its own navigation.
                    intended_ms: if index > 0 && page.started_ms > 0.0 {
                        page.started_ms as u64
                    } else {
                        outcome.intended_ms
                    },
                    error: String::new(),
                    bytes: page.bytes,
                    excerpt: String::new(),
                });
            }
            if let Some(bad) = outcome.requests.iter().find(|r| r.status >= 400) {
                outcome.failed = true;
                outcome.error = format!("http {} on {}", bad.status, bad.path);
            }
            outcome.steps = step_outcomes(&plan.steps, &spec.site, outcome.intended_ms);
            outcome.summary = summarise(&outcome.steps);
            outcome.browser = Some(BrowserReport {
                bot_persona: persona.bot,
                attempts: visit.attempts,
                verdict: Some(visit.verdict),
                pages: visit.pages,
                errors: visit.errors,
                screenshot: None,
            });
        }
        Err(failure) => {
            outcome.failed = true;
            outcome.error = format!("browser: {}", failure.reason);
            outcome.requests.push(RequestOutcome {
                index: 0,
                name: format!("{}.page", plan.journey),
                action: "page_view".into(),
                path: plan.steps.first().map(|s| s.path.clone()).unwrap_or_default(),
                status: 0,
                latency_us: (outcome.ended_ms.saturating_sub(outcome.intended_ms)) * 1000,
                intended_ms: outcome.intended_ms,
                error: outcome.error.clone(),
                bytes: 0,
                excerpt: String::new(),
            });
            outcome.browser = Some(BrowserReport {
                bot_persona: persona.bot,
                attempts: failure.attempts,
                verdict: None,
                pages: Vec::new(),
                errors: Vec::new(),
                screenshot: failure.screenshot,
            });
        }
    }
    outcome
}
