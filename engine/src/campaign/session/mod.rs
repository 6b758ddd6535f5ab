//! One visitor session: its deterministic plan (who visits which target,
//! as which persona, walking which journey) and running it.
//!
//! Latency is measured from each request's *intended* start: for the first
//! request that is the session's scheduled arrival, so a generator that
//! falls behind, or a target that stalls, shows up in the figures instead of
//! silently lowering the load (no coordinated omission). Later steps are
//! intended at the previous answer plus the think time, as a person would.
//!
//! - [`plan`]: the session's deterministic plan.
//! - `speaker`: one speaker per target kind; `browser`: a browser target's
//!   visit on the agent's browsers.
//! - [`outcome`]: what the session did, as telemetry stores it (and how it
//!   counts into a shard's stats).
//! - [`trace`]: a traced session as one OpenTelemetry trace.
//! - [`context`]: what a session needs from its agent.

mod browser;
pub mod context;
pub mod outcome;
pub mod plan;
mod speaker;
pub mod trace;

pub use context::SessionContext;
pub use outcome::{EXCERPT_CHARS, RequestOutcome, SessionOutcome, StepOutcome, VisitFacts, excerpt};
use outcome::{step_outcomes, summarise};
pub use plan::SessionPlan;
use speaker::{Ga4Speaker, MatomoSpeaker, SiteSpeaker, Speaker};

use std::time::Instant;

use http::header;

use crate::campaign::traffic::ga4;
use crate::campaign::traffic::matomo::{MatomoSettings, MatomoVisit};
use crate::http::VisitorConnection;
use crate::spec::{CampaignSpec, TargetKind};
use trace::SessionTrace;

/// Runs `plan` against its target, starting at `intended_start`.
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
    context
        .generator
        .session_started(Instant::now().saturating_duration_since(intended_start));
    let clock = &context.clock;
    let target = &spec.targets[plan.target];
    if let TargetKind::Browser { retries } = target.kind {
        return browser::run_session(plan, spec, context, intended_start, retries + 1).await;
    }
    let visit = plan.visit_context(spec, clock.epoch_ms(intended_start));
    match &target.kind {
        TargetKind::Http => {
            let own = target
                .per_visitor_connections
                .then(|| VisitorConnection::with_tls(context.engines.visitor_tls(&target.tls)));
            let speaker = SiteSpeaker::new(&target.url, own);
            speak(speaker, plan, spec, context, intended_start).await
        }
        TargetKind::Matomo {
            site_id,
            token_auth,
            bulk,
        } => {
            let settings = MatomoSettings {
                site_id: *site_id,
                authenticated: token_auth.is_some(),
            };
            let tracker = MatomoVisit::new(&settings, &visit);
            let token = token_auth.as_ref().map(|s| s.expose());
            let speaker = MatomoSpeaker::new(&target.url, tracker, token, *bulk as usize);
            speak(speaker, plan, spec, context, intended_start).await
        }
        TargetKind::Ga4 {
            measurement_id,
            api_secret,
            validate,
        } => {
            let url = ga4::collect_url(&target.url, measurement_id, api_secret.expose());
            let speaker = Ga4Speaker::new(url, ga4::Ga4Visit::new(&visit), *validate);
            speak(speaker, plan, spec, context, intended_start).await
        }
        TargetKind::Browser { .. } => unreachable!("browser sessions return above"),
    }
}

/// The session's steps told to its target through `speaker`, each request
/// timed from its intended start.
async fn speak(
    mut speaker: impl Speaker,
    plan: &SessionPlan,
    spec: &CampaignSpec,
    context: &SessionContext,
    intended_start: Instant,
) -> SessionOutcome {
    let clock = &context.clock;
    let target = &spec.targets[plan.target];
    let mut outcome = SessionOutcome::starting(
        plan,
        &spec.personas[plan.persona].name,
        clock.epoch_ms(intended_start),
        clock.epoch_ms(Instant::now()),
    );
    // A traced session is one trace: its span, and a span per request.
    let trace = trace::is_traced(plan.session_id, spec.trace_sessions).then(|| {
        SessionTrace::start(
            &spec.name,
            plan,
            &spec.personas[plan.persona].name,
            intended_start,
        )
    });
    let engine = context.engines.engine(&target.tls, target.http2);
    let mut intended = intended_start;
    let total = plan.steps.len();
    let mut step_times = Vec::with_capacity(total);
    'steps: for index in 0..=total {
        let outgoing = if index < total {
            let step = &plan.steps[index];
            if !step.think_before.is_zero() {
                intended = Instant::now() + step.think_before;
                tokio::time::sleep_until(intended.into()).await;
            }
            step_times.push(clock.epoch_ms(intended));
            speaker.requests(plan, index, step, clock.epoch_ms(intended))
        } else {
            speaker.finish()
        };
        for (n, out) in outgoing.into_iter().enumerate() {
            if n > 0 {
                // Further requests of one step follow the previous answer at once.
                intended = Instant::now();
            }
            if !context.lease.is_valid() {
                outcome.aborted = true;
                break 'steps;
            }
            let request_trace = trace
                .as_ref()
                .map(|t| t.request(&out.name, out.request.method.as_str(), &out.shown, intended));
            let mut request = out.request;
            if target.traceparent {
                let value = request_trace
                    .as_ref()
                    .and_then(|span| span.traceparent())
                    .unwrap_or_else(|| trace::untraced(plan.session_id, outcome.requests.len()));
                request = request.header(header::HeaderName::from_static("traceparent"), value);
            }
            let request = request
                .header(header::USER_AGENT, plan.who.user_agent)
                .header(header::ACCEPT_LANGUAGE, plan.who.language.as_str());
            let result = speaker.send(&engine, request, spec.request_timeout).await;
            let latency_us = Instant::now().saturating_duration_since(intended).as_micros() as u64;
            let answer = Answer::of(result);
            if let Some(span) = request_trace {
                span.end(answer.status, &answer.error);
            }
            let status = answer.status;
            outcome.record(RequestOutcome {
                index: outcome.requests.len() as u32,
                name: out.name,
                action: out.action.to_string(),
                path: out.shown,
                status,
                latency_us,
                intended_ms: clock.epoch_ms(intended),
                error: answer.error,
                bytes: answer.bytes,
                excerpt: answer.excerpt,
            });
            if status == 0 {
                // No answer: a person would give up on the site here.
                break 'steps;
            }
        }
    }
    outcome.ended_ms = clock.epoch_ms(Instant::now());
    if let Some(trace) = trace {
        trace.end(&outcome.error);
    }
    let reached = &plan.steps[..step_times.len()];
    outcome.steps = step_outcomes(reached, &spec.site, 0);
    for (step, intended_ms) in outcome.steps.iter_mut().zip(step_times) {
        step.intended_ms = intended_ms;
    }
    outcome.summary = summarise(&outcome.steps);
    outcome
}

/// What an answer (or its absence) says, as a request's outcome records it.
struct Answer {
    /// 0: no answer.
    status: u16,
    error: String,
    bytes: u64,
    excerpt: String,
}

impl Answer {
    fn of(result: Result<crate::http::HttpResponse, crate::http::RequestError>) -> Answer {
        match result {
            Ok(response) => Answer {
                status: response.status,
                // A validating collector answers 200 with its complaints.
                error: response
                    .body
                    .as_deref()
                    .and_then(ga4::validation_error)
                    .unwrap_or_default(),
                bytes: response.body_bytes,
                excerpt: match response.body.as_deref() {
                    Some(body) if response.status >= 400 => excerpt(body),
                    _ => String::new(),
                },
            },
            Err(e) => Answer {
                status: 0,
                error: format!("{}: {e}", e.class()),
                bytes: 0,
                excerpt: String::new(),
            },
        }
    }
}
