//! What a session did: each request's status, latency from its intended
//! start, bytes and error, each step's page and revenue, and the visit's
//! summary, as telemetry stores them.

use crate::campaign::traffic::journey::{Action, PlannedStep, Site};
use crate::campaign::traffic::visit::{VisitSummary, Visitant, revenue_by_step};

use super::SessionPlan;
use crate::stats::ShardCounters;

/// The result of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestOutcome {
    /// Position in the session.
    pub index: u32,
    /// What latency is reported under: `journey.step`, or `matomo.bulk`.
    pub name: String,
    pub action: String,
    /// Path or URL requested (without secrets).
    pub path: String,
    /// HTTP status, 0 when no answer came.
    pub status: u16,
    /// From the intended start to the end of the body.
    pub latency_us: u64,
    pub intended_ms: u64,
    /// The error class and message when no answer came, empty otherwise.
    pub error: String,
    /// The size of the answer's body (0 when none came).
    pub bytes: u64,
    /// The start of an error answer's body, as text; empty otherwise.
    pub excerpt: String,
}

impl RequestOutcome {
    pub fn failed(&self) -> bool {
        self.status == 0 || self.status >= 400 || !self.error.is_empty()
    }
}

/// How many characters of an error answer's body a request keeps.
pub const EXCERPT_CHARS: usize = 200;

/// The start of a body as one line of text: invalid UTF-8 replaced,
/// whitespace runs collapsed, at most [`EXCERPT_CHARS`] characters.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4 * EXCERPT_CHARS)]);
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// One step a session went through: a page, or something done on one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepOutcome {
    pub index: u32,
    pub action: &'static str,
    pub page: bool,
    pub path: String,
    pub intended_ms: u64,
    /// An order's total in cents, 0 for other steps.
    pub revenue_cents: u64,
}

/// Who made a session, as `session show` tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VisitFacts {
    /// The visitor's 64-bit id (Matomo's `_id` is its 16 hex digits).
    pub visitor_id: u64,
    /// 1 for a visitor's first visit.
    pub visit_count: u64,
    pub device: String,
    pub country: String,
    /// Where the visit came from: its referring URL, or `direct`.
    pub referrer: String,
}

impl VisitFacts {
    pub fn of(who: &Visitant) -> Self {
        VisitFacts {
            visitor_id: who.visitor.id,
            visit_count: who.visitor.visit_count,
            device: who.device.name().to_string(),
            country: who.country.clone(),
            referrer: who
                .referrer_url
                .clone()
                .unwrap_or_else(|| who.referrer.name().to_string()),
        }
    }
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionOutcome {
    pub session_id: u64,
    pub shard: u32,
    pub seq: u64,
    pub persona: String,
    pub journey: String,
    pub target: u32,
    pub intended_ms: u64,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub visit: VisitFacts,
    pub requests: Vec<RequestOutcome>,
    /// The steps the session went through, and their pages, actions and orders.
    pub steps: Vec<StepOutcome>,
    pub summary: VisitSummary,
    /// Any request failed (no answer, or a 4xx/5xx status).
    pub failed: bool,
    /// The first failure, for the record.
    pub error: String,
    /// Stopped midway because this agent's lease is no longer valid; such a
    /// session is not recorded, its replacement owner runs it again.
    pub aborted: bool,
    /// What a browser session saw and how the bot detector judged it.
    pub browser: Option<crate::campaign::browsing::BrowserReport>,
}

impl SessionOutcome {
    /// Adds a request; the first that failed is why the session failed.
    pub fn record(&mut self, request: RequestOutcome) {
        if request.failed() && !self.failed {
            self.failed = true;
            self.error = if request.error.is_empty() {
                format!("http {} on {}", request.status, request.path)
            } else {
                format!("{} on {}", request.error, request.path)
            };
        }
        self.requests.push(request);
    }

    /// The outcome of `plan` as it starts: nothing done yet.
    pub fn starting(plan: &SessionPlan, persona: &str, intended_ms: u64, started_ms: u64) -> Self {
        SessionOutcome {
            session_id: plan.session_id,
            shard: plan.shard,
            seq: plan.seq,
            persona: persona.to_string(),
            journey: plan.journey.clone(),
            target: plan.target as u32,
            intended_ms,
            started_ms,
            ended_ms: started_ms,
            visit: VisitFacts::of(&plan.who),
            requests: Vec::with_capacity(plan.steps.len()),
            steps: Vec::with_capacity(plan.steps.len()),
            summary: VisitSummary::default(),
            failed: false,
            error: String::new(),
            aborted: false,
            browser: None,
        }
    }

    /// A session that could not run at all (e.g. its actor failed).
    pub fn failed_without_running(plan: &SessionPlan, at_ms: u64, error: String) -> Self {
        SessionOutcome {
            failed: true,
            error,
            ..SessionOutcome::starting(plan, "", at_ms, at_ms)
        }
    }
}

/// The outcomes of the steps a session reached, with their orders' revenue;
/// each intended at `intended_ms` until the caller knows better.
pub(crate) fn step_outcomes(reached: &[PlannedStep], site: &Site, intended_ms: u64) -> Vec<StepOutcome> {
    reached
        .iter()
        .zip(revenue_by_step(reached, site))
        .enumerate()
        .map(|(index, (step, revenue_cents))| StepOutcome {
            index: index as u32,
            action: step.action.name(),
            page: step.action.is_page(),
            path: step.path.clone(),
            intended_ms,
            revenue_cents,
        })
        .collect()
}

/// What the steps a session went through amount to.
pub(crate) fn summarise(steps: &[StepOutcome]) -> VisitSummary {
    VisitSummary {
        page_views: steps.iter().filter(|s| s.page).count() as u32,
        actions: steps.len() as u32,
        conversions: steps.iter().filter(|s| s.action == Action::Order.name()).count() as u32,
        revenue_cents: steps.iter().map(|s| s.revenue_cents).sum(),
    }
}

/// The class a failed request is counted under.
pub fn error_class(request: &RequestOutcome) -> String {
    match request.status {
        400..=499 => "http_4xx".to_string(),
        500.. => "http_5xx".to_string(),
        // No answer, or an answer that says the request was wrong (e.g. a
        // validating collector): the error's own class.
        _ => request.error.split(':').next().unwrap_or("unknown").to_string(),
    }
}

impl ShardCounters {
    /// Counts a finished session and every request it made.
    pub fn record_session(&mut self, outcome: &SessionOutcome) {
        if outcome.failed {
            self.sessions_failed += 1;
        } else {
            self.sessions_completed += 1;
        }
        self.start_lag
            .record_us(outcome.started_ms.saturating_sub(outcome.intended_ms) * 1000);
        for request in &outcome.requests {
            let failed = request.failed();
            self.requests += 1;
            self.latency.record_us(request.latency_us);
            let named = self.by_name.entry(request.name.clone()).or_default();
            named.requests += 1;
            named.latency.record_us(request.latency_us);
            if failed {
                self.request_errors += 1;
                named.errors += 1;
                *self.errors_by_class.entry(error_class(request)).or_insert(0) += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_short_line_of_the_body() {
        assert_eq!(
            excerpt(b"<html>\n  <body>not\t today</body>\n</html>"),
            "<html> <body>not today</body> </html>"
        );
        assert_eq!(excerpt(&[b'x'; 5_000]).len(), EXCERPT_CHARS);
        assert_eq!(
            excerpt(b"caf\xc3"),
            "caf\u{fffd}",
            "a cut character is replaced, not an error"
        );
        assert_eq!(excerpt(b""), "");
    }
}
