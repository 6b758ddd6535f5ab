//! How a session speaks to its target, one speaker per target kind behind
//! [`Speaker`]: an HTTP site (cookies, redirects, links, the visitor's own
//! connection), a Matomo tracker (hits, bulk requests) and a GA4 collector.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use http::header;

use super::SessionPlan;
use crate::campaign::traffic::ga4;
use crate::campaign::traffic::journey::{Action, PlannedStep};
use crate::campaign::traffic::matomo::{self, MatomoVisit};
use crate::campaign::traffic::visit::query_string;
use crate::http::{HttpEngine, HttpRequest, HttpResponse, RequestError, VisitorConnection, same_site_links};
use crate::ids::{self, Part};

/// A request a step makes, before it is sent.
pub(super) struct Outgoing {
    pub name: String,
    pub action: &'static str,
    /// What telemetry records (never a secret).
    pub shown: String,
    pub request: HttpRequest,
}

/// Per-target state of a running session: the requests each step makes,
/// and how they are sent.
pub(super) trait Speaker {
    /// The requests of one step, in order.
    fn requests(
        &mut self,
        plan: &SessionPlan,
        index: usize,
        step: &PlannedStep,
        now_ms: u64,
    ) -> Vec<Outgoing>;

    /// Requests still owed at the end of the session.
    fn finish(&mut self) -> Vec<Outgoing> {
        Vec::new()
    }

    /// Sends one request as this visitor.
    async fn send(
        &mut self,
        engine: &HttpEngine,
        request: HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, RequestError> {
        engine.send(request, timeout).await
    }
}

/// A web site, visited as a browser would without running scripts: it
/// keeps cookies, follows redirects and clicks links the pages show.
pub(super) struct SiteSpeaker<'a> {
    base: &'a str,
    cookies: BTreeMap<String, String>,
    links: Vec<String>,
    /// The visitor's own connection, when the target asks for one.
    own: Option<VisitorConnection>,
}

impl<'a> SiteSpeaker<'a> {
    pub fn new(base: &'a str, own: Option<VisitorConnection>) -> Self {
        SiteSpeaker {
            base,
            cookies: BTreeMap::new(),
            links: Vec::new(),
            own,
        }
    }
}

impl Speaker for SiteSpeaker<'_> {
    fn requests(
        &mut self,
        plan: &SessionPlan,
        index: usize,
        step: &PlannedStep,
        _now_ms: u64,
    ) -> Vec<Outgoing> {
        let path = match step.action {
            // Not things a site sees: analytics only.
            Action::Event | Action::Outlink => return Vec::new(),
            Action::Click if !self.links.is_empty() => {
                let h = ids::stable_hash(&[Part::U64(plan.session_id), Part::U64(index as u64)]);
                self.links[(h % self.links.len() as u64) as usize].clone()
            }
            _ => step.path.clone(),
        };
        let url = format!("{}{path}", self.base);
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

    /// Sends with the visitor's cookies, following up to five redirects;
    /// the answer's same-site links are what the next click picks from.
    async fn send(
        &mut self,
        engine: &HttpEngine,
        mut request: HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, RequestError> {
        let deadline = Instant::now() + timeout;
        let keep_body = request.keep_body;
        for _ in 0..=5 {
            if !self.cookies.is_empty() {
                let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
                request = request.header(header::COOKIE, jar.join("; "));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let response = match self.own.as_mut() {
                Some(connection) => connection.send(request.clone(), left).await?,
                None => engine.send(request.clone(), left).await?,
            };
            for cookie in &response.set_cookies {
                if let Some((name, value)) = cookie.split_once('=') {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
            let redirect = matches!(response.status, 301 | 302 | 303 | 307 | 308);
            match (redirect, &response.location) {
                (true, Some(location)) => {
                    let url = if location.starts_with('/') {
                        format!("{}{location}", self.base)
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
                        self.links = same_site_links(body);
                    }
                    return Ok(response);
                }
            }
        }
        Err(RequestError::Protocol("more than 5 redirects".into()))
    }
}

/// A Matomo tracker: each step's hits as tracking requests, or gathered
/// into bulk requests of `bulk` hits.
pub(super) struct MatomoSpeaker<'a> {
    endpoint: &'a str,
    tracker: MatomoVisit<'a>,
    token: Option<&'a str>,
    bulk: usize,
    pending: Vec<matomo::Hit>,
}

impl<'a> MatomoSpeaker<'a> {
    pub fn new(endpoint: &'a str, tracker: MatomoVisit<'a>, token: Option<&'a str>, bulk: usize) -> Self {
        MatomoSpeaker {
            endpoint,
            tracker,
            token,
            bulk,
            pending: Vec::new(),
        }
    }

    fn bulk_request(&self, hits: Vec<matomo::Hit>) -> Outgoing {
        Outgoing {
            name: "matomo.bulk".into(),
            action: "bulk",
            shown: self.endpoint.to_string(),
            request: HttpRequest::post(
                self.endpoint,
                "application/json",
                matomo::bulk_body(&hits, self.token),
            ),
        }
    }
}

impl Speaker for MatomoSpeaker<'_> {
    fn requests(
        &mut self,
        _plan: &SessionPlan,
        _index: usize,
        step: &PlannedStep,
        now_ms: u64,
    ) -> Vec<Outgoing> {
        let hits = self.tracker.hits(step, now_ms);
        if self.bulk > 1 {
            // Full bulk requests only; a step may add several hits.
            self.pending.extend(hits);
            let mut full = Vec::new();
            while self.pending.len() >= self.bulk {
                let batch: Vec<matomo::Hit> = self.pending.drain(..self.bulk).collect();
                full.push(self.bulk_request(batch));
            }
            return full;
        }
        let endpoint = self.endpoint;
        hits.into_iter()
            .map(|hit| {
                let query = query_string(&hit);
                let url = match self.token {
                    Some(t) => format!(
                        "{endpoint}?{query}&token_auth={}",
                        crate::campaign::traffic::visit::encode(t)
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

    /// A partial bulk still owed.
    fn finish(&mut self) -> Vec<Outgoing> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let hits = std::mem::take(&mut self.pending);
        vec![self.bulk_request(hits)]
    }
}

/// A GA4 Measurement Protocol collector: one payload per step.
pub(super) struct Ga4Speaker<'a> {
    url: String,
    tracker: ga4::Ga4Visit<'a>,
    /// Read the answer: a validating collector answers 200 with its complaints.
    validate: bool,
}

impl<'a> Ga4Speaker<'a> {
    pub fn new(url: String, tracker: ga4::Ga4Visit<'a>, validate: bool) -> Self {
        Ga4Speaker {
            url,
            tracker,
            validate,
        }
    }
}

impl Speaker for Ga4Speaker<'_> {
    fn requests(
        &mut self,
        _plan: &SessionPlan,
        _index: usize,
        step: &PlannedStep,
        now_ms: u64,
    ) -> Vec<Outgoing> {
        let payload = self.tracker.payload(step, now_ms).to_string();
        let shown = self.url.split('?').next().unwrap_or_default().to_string();
        let mut request = HttpRequest::post(self.url.clone(), "application/json", payload);
        request.keep_body = self.validate;
        vec![Outgoing {
            name: step.name.clone(),
            action: step.action.name(),
            shown,
            request,
        }]
    }
}
