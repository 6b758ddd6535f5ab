//! One visitor session: its deterministic plan (who visits which target,
//! as which persona, walking which journey) and running it.
//!
//! Latency is measured from each request's *intended* start: for the first
//! request that is the session's scheduled arrival, so a generator that
//! falls behind, or a target that stalls, shows up in the figures instead of
//! silently lowering the load (no coordinated omission). Later steps are
//! intended at the previous answer plus the think time, as a person would.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use http::header;

use crate::clock::WallClock;
use crate::http::{
    HttpEngine, HttpEngines, HttpRequest, HttpResponse, RequestError, VisitorConnection, same_site_links,
};
use crate::ids::{self, Part};
use crate::lease::LeaseGuard;
use crate::session_trace::{self, SessionTrace};
use crate::spec::{CampaignSpec, TargetKind};
use crate::traffic::journey::{Action, PlannedStep, Site, walk};
use crate::traffic::matomo::{self, MatomoSettings, MatomoVisit};
use crate::traffic::persona::ReferrerKind;
use crate::traffic::visit::{VisitContext, VisitSummary, Visitant, query_string, revenue_by_step};
use crate::traffic::visitor::Visitor;
use crate::traffic::{chance, ga4};

const SEARCH_ENGINES: &[&str] = &[
    "https://www.google.com/search?q=",
    "https://www.bing.com/search?q=",
    "https://duckduckgo.com/?q=",
];
const SOCIAL: &[&str] = &[
    "https://www.facebook.com/",
    "https://t.co/",
    "https://www.linkedin.com/feed/",
    "https://www.reddit.com/",
];
const CAMPAIGNS: &[(&str, &str, &str)] = &[
    ("newsletter", "email", "spring_sale"),
    ("facebook", "cpc", "retargeting"),
    ("google", "cpc", "brand"),
];

/// What a session will do, derived from (seed, campaign, shard, seq) alone.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionPlan {
    pub session_id: u64,
    pub shard: u32,
    /// Local sequence within the shard.
    pub seq: u64,
    /// Sequence in the whole campaign.
    pub global_seq: u64,
    /// Index into the spec's personas and targets.
    pub persona: usize,
    pub target: usize,
    pub journey: String,
    pub who: Visitant,
    pub steps: Vec<PlannedStep>,
}

fn pick(rng: &mut impl rand_core::Rng, items: &'static [&'static str]) -> &'static str {
    items[ids::uniform_u64(rng, 0, items.len() as u64 - 1) as usize]
}

impl SessionPlan {
    pub fn new(spec: &CampaignSpec, shard: u32, seq: u64) -> Self {
        let session_id = ids::session_id(spec.seed, &spec.name, shard, seq);
        let global_seq = crate::plan::global_seq(shard, spec.load.shards, seq);
        let mut rng = ids::rng_for(&[Part::Str("session-plan"), Part::U64(session_id)]);
        let target = *spec.target_shares.choose(&mut rng);
        let persona_index = *spec.persona_shares.choose(&mut rng);
        let persona = &spec.personas[persona_index];
        let device = *persona.devices.choose(&mut rng);
        let user_agent = pick(&mut rng, device.user_agents());
        let resolution = pick(&mut rng, device.resolutions()).to_string();
        let language = persona.languages.choose(&mut rng).clone();
        let country = persona.countries.choose(&mut rng).clone();
        let referrer = *persona.referrers.choose(&mut rng);
        let returning = chance(&mut rng, persona.returning);
        let visitor = Visitor::for_session(
            spec.seed,
            &spec.name,
            &persona.name,
            global_seq,
            session_id,
            returning,
            persona.regulars,
        );
        let journey_name = persona.journeys.choose(&mut rng).clone();
        let steps = match spec.journey(&journey_name) {
            Some(journey) => walk(journey, persona, &spec.site, &mut rng),
            None => Vec::new(),
        };
        let term = spec.site.search_terms.first().cloned().unwrap_or_default();
        let (referrer_url, campaign) = match referrer {
            ReferrerKind::Direct => (None, None),
            ReferrerKind::Search => (
                Some(format!(
                    "{}{}",
                    pick(&mut rng, SEARCH_ENGINES),
                    term.replace(' ', "+")
                )),
                None,
            ),
            ReferrerKind::Social => (Some(pick(&mut rng, SOCIAL).to_string()), None),
            ReferrerKind::Campaign => {
                let (source, medium, name) =
                    CAMPAIGNS[ids::uniform_u64(&mut rng, 0, CAMPAIGNS.len() as u64 - 1) as usize];
                (
                    Some(format!("https://{source}.example.com/")),
                    Some((source.to_string(), medium.to_string(), name.to_string())),
                )
            }
        };
        SessionPlan {
            session_id,
            shard,
            seq,
            global_seq,
            persona: persona_index,
            target,
            journey: journey_name,
            who: Visitant {
                visitor,
                device,
                user_agent,
                resolution,
                language,
                country,
                referrer,
                referrer_url,
                campaign,
            },
            steps,
        }
    }

    /// The visit context for tracking hits, with the times this run gives.
    pub fn visit_context(&self, spec: &CampaignSpec, start_ms: u64) -> VisitContext {
        const WEEK_MS: u64 = 7 * 24 * 3600 * 1000;
        let persona = &spec.personas[self.persona];
        // The previous visit of a regular was `regulars` arrivals earlier.
        let previous_visit_ms = self.who.visitor.returning.then(|| {
            let gap = if spec.load.rate > 0.0 {
                (persona.regulars as f64 / spec.load.rate * 1000.0) as u64
            } else {
                86_400_000
            };
            start_ms.saturating_sub(gap.max(1000))
        });
        let first_visit_ms = if self.who.visitor.returning {
            start_ms.saturating_sub(self.who.visitor.visit_count.saturating_sub(1) * WEEK_MS)
        } else {
            start_ms
        };
        VisitContext {
            session_id: self.session_id,
            who: self.who.clone(),
            site_url: spec.site_url.clone(),
            site: spec.site.clone(),
            start_ms,
            first_visit_ms,
            previous_visit_ms,
        }
    }
}

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
    pub browser: Option<crate::browsing::BrowserReport>,
}

impl SessionOutcome {
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

/// Everything a session needs from its agent.
#[derive(Clone, Debug)]
pub struct SessionContext {
    /// The agent's shared HTTP clients.
    pub engines: HttpEngines,
    pub lease: LeaseGuard,
    pub clock: WallClock,
    /// The agent's browsers, for `browser` targets (none: this agent runs none).
    pub browsers: Option<std::sync::Arc<dyn crate::browsing::Browsing>>,
}

/// A request a step makes, before it is sent.
struct Outgoing {
    name: String,
    action: &'static str,
    /// What telemetry records (never a secret).
    shown: String,
    request: HttpRequest,
}

/// Per-target state of a running session.
enum Speaker<'a> {
    Http {
        base: &'a str,
        cookies: BTreeMap<String, String>,
        links: Vec<String>,
        /// The visitor's own connection, when the target asks for one.
        own: Option<VisitorConnection>,
    },
    Matomo {
        endpoint: &'a str,
        tracker: MatomoVisit<'a>,
        token: Option<&'a str>,
        bulk: usize,
        pending: Vec<matomo::Hit>,
    },
    Ga4 {
        url: String,
        tracker: ga4::Ga4Visit<'a>,
        validate: bool,
    },
}

impl Speaker<'_> {
    /// The requests of one step, in order.
    fn requests(
        &mut self,
        plan: &SessionPlan,
        index: usize,
        step: &PlannedStep,
        now_ms: u64,
    ) -> Vec<Outgoing> {
        match self {
            Speaker::Http { base, links, .. } => {
                let path = match step.action {
                    // Not things a site sees: analytics only.
                    Action::Event | Action::Outlink => return Vec::new(),
                    Action::Click if !links.is_empty() => {
                        let h = ids::stable_hash(&[Part::U64(plan.session_id), Part::U64(index as u64)]);
                        links[(h % links.len() as u64) as usize].clone()
                    }
                    _ => step.path.clone(),
                };
                let url = format!("{base}{path}");
                let request = if step.action == Action::FormSubmit {
                    let body = format!(
                        "email=visitor-{:x}%40example.com&message=hello",
                        plan.who.visitor.id
                    );
                    HttpRequest::post(url, "application/x-www-form-urlencoded", body)
                } else {
                    let mut r = HttpRequest::get(url);
                    r.keep_body = step.action != Action::Download;
                    r
                };
                vec![Outgoing {
                    name: step.name.clone(),
                    action: step.action.name(),
                    shown: path,
                    request,
                }]
            }
            Speaker::Matomo {
                endpoint,
                tracker,
                token,
                bulk,
                pending,
            } => {
                let hits = tracker.hits(step, now_ms);
                if *bulk > 1 {
                    // Full bulk requests only; a step may add several hits.
                    pending.extend(hits);
                    let mut full = Vec::new();
                    while pending.len() >= *bulk {
                        let batch: Vec<matomo::Hit> = pending.drain(..*bulk).collect();
                        full.push(matomo_bulk(endpoint, *token, batch));
                    }
                    return full;
                }
                hits.into_iter()
                    .map(|hit| {
                        let query = query_string(&hit);
                        let url = match token {
                            Some(t) => format!(
                                "{endpoint}?{query}&token_auth={}",
                                crate::traffic::visit::encode(t)
                            ),
                            None => format!("{endpoint}?{query}"),
                        };
                        Outgoing {
                            name: step.name.clone(),
                            action: step.action.name(),
                            shown: format!("{endpoint}?{query}"),
                            request: HttpRequest::get(url),
                        }
                    })
                    .collect()
            }
            Speaker::Ga4 {
                url,
                tracker,
                validate,
            } => {
                let payload = tracker.payload(step, now_ms).to_string();
                let shown = url.split('?').next().unwrap_or_default().to_string();
                let mut request = HttpRequest::post(url.clone(), "application/json", payload);
                request.keep_body = *validate;
                vec![Outgoing {
                    name: step.name.clone(),
                    action: step.action.name(),
                    shown,
                    request,
                }]
            }
        }
    }

    /// Requests still owed at the end of the session (a partial bulk).
    fn finish(&mut self) -> Vec<Outgoing> {
        match self {
            Speaker::Matomo {
                endpoint,
                token,
                pending,
                ..
            } if !pending.is_empty() => {
                vec![matomo_bulk(endpoint, *token, std::mem::take(pending))]
            }
            _ => Vec::new(),
        }
    }

    /// Sends one request as this visitor: cookies and redirects for HTTP sites.
    async fn send(
        &mut self,
        engine: &HttpEngine,
        mut request: HttpRequest,
        user_agent: &str,
        language: &str,
        timeout: Duration,
    ) -> Result<HttpResponse, RequestError> {
        request = request
            .header(header::USER_AGENT, user_agent)
            .header(header::ACCEPT_LANGUAGE, language);
        let Speaker::Http {
            base,
            cookies,
            links,
            own,
        } = self
        else {
            return engine.send(request, timeout).await;
        };
        let deadline = Instant::now() + timeout;
        let keep_body = request.keep_body;
        for _ in 0..=5 {
            if !cookies.is_empty() {
                let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
                request = request.header(header::COOKIE, jar.join("; "));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let response = match own.as_mut() {
                Some(connection) => connection.send(request.clone(), left).await?,
                None => engine.send(request.clone(), left).await?,
            };
            for cookie in &response.set_cookies {
                if let Some((name, value)) = cookie.split_once('=') {
                    cookies.insert(name.to_string(), value.to_string());
                }
            }
            let redirect = matches!(response.status, 301 | 302 | 303 | 307 | 308);
            match (redirect, &response.location) {
                (true, Some(location)) => {
                    let url = if location.starts_with('/') {
                        format!("{base}{location}")
                    } else {
                        location.clone()
                    };
                    let mut next = HttpRequest::get(url);
                    next.keep_body = keep_body;
                    if matches!(response.status, 307 | 308) {
                        next.method = request.method.clone();
                        next.body = request.body.clone();
                    }
                    next.headers = request
                        .headers
                        .iter()
                        .filter(|(n, _)| *n != header::COOKIE)
                        .cloned()
                        .collect();
                    request = next;
                }
                _ => {
                    if let Some(body) = &response.body {
                        *links = same_site_links(body);
                    }
                    return Ok(response);
                }
            }
        }
        Err(RequestError::Protocol("more than 5 redirects".into()))
    }
}

fn matomo_bulk(endpoint: &str, token: Option<&str>, hits: Vec<matomo::Hit>) -> Outgoing {
    Outgoing {
        name: "matomo.bulk".into(),
        action: "bulk",
        shown: endpoint.to_string(),
        request: HttpRequest::post(endpoint, "application/json", matomo::bulk_body(&hits, token)),
    }
}

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
    let clock = &context.clock;
    let target = &spec.targets[plan.target];
    if let TargetKind::Browser { retries } = target.kind {
        return crate::browsing::run_session(plan, spec, context, intended_start, retries + 1).await;
    }
    let visit = plan.visit_context(spec, clock.epoch_ms(intended_start));
    let matomo_settings = match &target.kind {
        TargetKind::Matomo {
            site_id, token_auth, ..
        } => Some(MatomoSettings {
            site_id: *site_id,
            authenticated: token_auth.is_some(),
        }),
        _ => None,
    };
    let mut speaker = match &target.kind {
        TargetKind::Http => Speaker::Http {
            base: &target.url,
            cookies: BTreeMap::new(),
            links: Vec::new(),
            own: target
                .per_visitor_connections
                .then(|| VisitorConnection::with_tls(context.engines.visitor_tls(&target.tls))),
        },
        TargetKind::Matomo { token_auth, bulk, .. } => Speaker::Matomo {
            endpoint: &target.url,
            tracker: MatomoVisit::new(
                matomo_settings.as_ref().unwrap_or(&MatomoSettings {
                    site_id: 1,
                    authenticated: false,
                }),
                &visit,
            ),
            token: token_auth.as_ref().map(|s| s.expose()),
            bulk: *bulk as usize,
            pending: Vec::new(),
        },
        TargetKind::Ga4 {
            measurement_id,
            api_secret,
            validate,
        } => Speaker::Ga4 {
            url: ga4::collect_url(&target.url, measurement_id, api_secret.expose()),
            tracker: ga4::Ga4Visit::new(&visit),
            validate: *validate,
        },
        TargetKind::Browser { .. } => unreachable!("browser sessions return above"),
    };
    let mut outcome = SessionOutcome::starting(
        plan,
        &spec.personas[plan.persona].name,
        clock.epoch_ms(intended_start),
        clock.epoch_ms(Instant::now()),
    );
    // A traced session is one trace: its span, and a span per request.
    let trace = session_trace::is_traced(plan.session_id, spec.trace_sessions).then(|| {
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
                    .unwrap_or_else(|| session_trace::untraced(plan.session_id, outcome.requests.len()));
                request = request.header(header::HeaderName::from_static("traceparent"), value);
            }
            let result = speaker
                .send(
                    &engine,
                    request,
                    plan.who.user_agent,
                    &plan.who.language,
                    spec.request_timeout,
                )
                .await;
            let latency_us = Instant::now().saturating_duration_since(intended).as_micros() as u64;
            let (status, error, bytes, body_excerpt) = match result {
                Ok(response) => {
                    // A validating collector answers 200 with its complaints.
                    let complaint = response.body.as_deref().and_then(ga4::validation_error);
                    let body_excerpt = match response.body.as_deref() {
                        Some(body) if response.status >= 400 => excerpt(body),
                        _ => String::new(),
                    };
                    (
                        response.status,
                        complaint.unwrap_or_default(),
                        response.body_bytes,
                        body_excerpt,
                    )
                }
                Err(e) => (0, format!("{}: {e}", e.class()), 0, String::new()),
            };
            if let Some(span) = request_trace {
                span.end(status, &error);
            }
            let request = RequestOutcome {
                index: outcome.requests.len() as u32,
                name: out.name,
                action: out.action.to_string(),
                path: out.shown,
                status,
                latency_us,
                intended_ms: clock.epoch_ms(intended),
                error,
                bytes,
                excerpt: body_excerpt,
            };
            if request.failed() && !outcome.failed {
                outcome.failed = true;
                outcome.error = if request.error.is_empty() {
                    format!("http {status} on {}", request.path)
                } else {
                    format!("{} on {}", request.error, request.path)
                };
            }
            let no_answer = status == 0;
            outcome.requests.push(request);
            if no_answer {
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
    use crate::spec::ValidationContext;

    fn spec(extra: &str) -> CampaignSpec {
        CampaignSpec::parse(
            &format!(
                "name: plan\nseed: 9\ntarget: {{url: 'http://127.0.0.1:1'}}\npages: ['/a', '/b', '/c']\n\
                 session: {{pages: {{min: 1, max: 6}}, think_time: {{min: 10ms, max: 90ms}}}}\n\
                 load: {{rate: 5, sessions: 100}}\n{extra}"
            ),
            &ValidationContext::default(),
        )
        .expect("valid spec")
    }

    #[test]
    fn plans_are_deterministic_and_within_bounds() {
        let spec = spec("");
        for seq in 0..200 {
            let plan = SessionPlan::new(&spec, 2, seq);
            assert_eq!(plan, SessionPlan::new(&spec, 2, seq));
            assert!((1..=6).contains(&plan.steps.len()));
            assert_eq!(plan.steps[0].think_before, Duration::ZERO);
            for step in &plan.steps[1..] {
                let ms = step.think_before.as_millis();
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
        let spec = spec("");
        let mut lengths = [0u32; 7];
        let mut pages = std::collections::BTreeMap::new();
        for seq in 0..600 {
            let plan = SessionPlan::new(&spec, 0, seq);
            lengths[plan.steps.len()] += 1;
            for step in plan.steps {
                *pages.entry(step.path).or_insert(0u32) += 1;
            }
        }
        assert!(lengths[1..].iter().all(|n| *n > 50), "{lengths:?}");
        assert_eq!(pages.len(), 3);
    }
}

#[cfg(test)]
mod mix_tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ids::stable_hash;
    use crate::plan::CampaignPlan;
    use crate::spec::ValidationContext;
    use crate::traffic::persona::Device;

    const SPEC: &str = r#"
name: mixes
seed: 2024
targets:
  - { url: "http://127.0.0.1:9/", share: 3 }
  - { url: "http://127.0.0.1:9/matomo.php", kind: matomo, site_id: 1, share: 1 }
pages: ["/", "/a"]
personas:
  - { name: shopper, weight: 5, journeys: { buyer: 2, researcher: 1 }, returning: 0.3, regulars: 50 }
  - { name: reader, weight: 3, journeys: { casual: 1 }, devices: { mobile: 1 } }
  - { name: scanner, weight: 2, journeys: { browse: 1, casual: 1, researcher: 2 } }
load: { rate: 100, sessions: 6000, shards: 6 }
"#;

    /// Chi-square critical values at the 1 % level, by degrees of freedom.
    const CRITICAL_1PCT: [f64; 5] = [0.0, 6.635, 9.210, 11.345, 13.277];

    fn chi_square(observed: &[u64], expected_shares: &[f64]) -> f64 {
        let total: u64 = observed.iter().sum();
        observed
            .iter()
            .zip(expected_shares)
            .map(|(o, p)| {
                let e = p * total as f64;
                (*o as f64 - e).powi(2) / e
            })
            .sum()
    }

    fn all_plans(spec: &CampaignSpec) -> Vec<SessionPlan> {
        let plan = CampaignPlan::of(spec);
        (0..plan.shards)
            .flat_map(|i| (0..plan.shard(i).sessions()).map(move |k| (i, k)))
            .map(|(i, k)| SessionPlan::new(spec, i, k))
            .collect()
    }

    #[test]
    fn persona_target_and_journey_mixes_match_their_weights() {
        let spec = CampaignSpec::parse(SPEC, &ValidationContext::default()).expect("valid");
        let plans = all_plans(&spec);
        assert_eq!(plans.len(), 6000);

        let mut personas = [0u64; 3];
        let mut targets = [0u64; 2];
        let mut shopper_journeys = BTreeMap::new();
        for p in &plans {
            personas[p.persona] += 1;
            targets[p.target] += 1;
            if p.persona == 0 {
                *shopper_journeys.entry(p.journey.clone()).or_insert(0u64) += 1;
            }
        }
        let chi = chi_square(&personas, &[0.5, 0.3, 0.2]);
        assert!(
            chi < CRITICAL_1PCT[2],
            "persona mix chi-square {chi:.2} ({personas:?})"
        );
        let chi = chi_square(&targets, &[0.75, 0.25]);
        assert!(
            chi < CRITICAL_1PCT[1],
            "target mix chi-square {chi:.2} ({targets:?})"
        );
        let journeys = [shopper_journeys["buyer"], shopper_journeys["researcher"]];
        let chi = chi_square(&journeys, &[2.0 / 3.0, 1.0 / 3.0]);
        assert!(
            chi < CRITICAL_1PCT[1],
            "journey mix chi-square {chi:.2} ({journeys:?})"
        );
        assert!(
            plans
                .iter()
                .filter(|p| p.persona == 1)
                .all(|p| p.who.device == Device::Mobile)
        );

        let returning = plans
            .iter()
            .filter(|p| p.persona == 0 && p.who.visitor.returning)
            .count() as u64;
        let chi = chi_square(&[returning, personas[0] - returning], &[0.3, 0.7]);
        assert!(chi < CRITICAL_1PCT[1], "returning share chi-square {chi:.2}");
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_does_not() {
        let spec = CampaignSpec::parse(SPEC, &ValidationContext::default()).expect("valid");
        let again = CampaignSpec::parse(&spec.to_json(), &ValidationContext::default()).expect("valid");
        let (first, second) = (all_plans(&spec), all_plans(&again));
        assert!(first == second, "same spec and seed, same plan");
        let fingerprint = |plans: &[SessionPlan]| {
            let text: String = plans
                .iter()
                .map(|p| {
                    let steps: Vec<&str> = p.steps.iter().map(|s| s.path.as_str()).collect();
                    format!(
                        "{}|{}|{}|{}|{}|{};",
                        p.session_id,
                        p.persona,
                        p.target,
                        p.journey,
                        p.who.visitor.id,
                        steps.join(",")
                    )
                })
                .collect();
            stable_hash(&[Part::Str(&text)])
        };
        // Golden: changing how plans are drawn changes every run; do it knowingly.
        assert_eq!(format!("{:016x}", fingerprint(&first)), GOLDEN_PLAN);
        let other = CampaignSpec::parse(
            &SPEC.replace("seed: 2024", "seed: 2025"),
            &ValidationContext::default(),
        )
        .expect("valid");
        assert_ne!(fingerprint(&all_plans(&other)), fingerprint(&first));
    }

    const GOLDEN_PLAN: &str = "5a57aeea9b851ff6";
}
