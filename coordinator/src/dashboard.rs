//! The web dashboard: one page (`dashboard/index.html`, plain HTML and
//! JavaScript, no build step) served at `/dashboard`, and the handlers of
//! the routes it uses beyond the read-only API — validating and creating
//! campaigns, starting, pausing, resuming and stopping them, their live
//! counters, and a stream run's scenarios (apply, stop, reset). Where each
//! route sits and who may call it is in `crate::routes`.

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use serde_json::{Value, json};
use throng_proto::v1;
use throng_proto::v1::control_service_server::ControlService;
use tonic::Status;

use crate::campaign::Action;
use crate::service::ControlServiceImpl;

const PAGE: &str = include_str!("dashboard/index.html");

/// Campaign presets the page offers, with `{target}` for the site's URL.
const PRESETS: &[(&str, &str)] = &[
    (
        "browse",
        "name: browse\nseed: 1\ntarget: { url: \"{target}\" }\npages: [\"/\", \"/products\", \"/about\", \"/contact\"]\n\
         load: { rate: {rate}, sessions: {sessions} }\n",
    ),
    (
        "shoppers",
        "name: shoppers\nseed: 2\ntarget: { url: \"{target}\" }\npages: [\"/\", \"/products\"]\n\
         personas:\n  - { name: shopper, weight: 3, journeys: { buyer: 1, researcher: 1 } }\n  - { name: reader, journeys: { casual: 1 } }\n\
         load: { rate: {rate}, sessions: {sessions} }\n",
    ),
];

/// The page itself: anyone may load it, it holds no data.
/// The page, with a content security policy that admits its own inline
/// script and style only.
pub(crate) async fn page() -> impl axum::response::IntoResponse {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let csp = CSP.get_or_init(|| crate::http_policy::dashboard_csp(PAGE));
    (
        [(axum::http::header::CONTENT_SECURITY_POLICY, csp.clone())],
        Html(PAGE),
    )
}

/// `/` sends a browser to the dashboard.
pub(crate) async fn home() -> Redirect {
    Redirect::to("/dashboard")
}

pub(crate) async fn presets() -> Json<Value> {
    let list: Vec<Value> = PRESETS
        .iter()
        .map(|(name, document)| json!({ "name": name, "document": document }))
        .collect();
    Json(json!({ "presets": list }))
}

/// Every problem of a spec with its field path (none when it is valid), as
/// the service's own validation finds them.
async fn problems(service: &ControlServiceImpl, document: &str) -> Result<Vec<Value>, Response> {
    let request = tonic::Request::new(v1::CampaignSpecRequest {
        document: document.to_string(),
        start: false,
    });
    let verdict = service
        .validate_campaign(request)
        .await
        .map_err(crate::http::error)?
        .into_inner();
    Ok(verdict
        .errors
        .iter()
        .map(|e| json!({ "path": e.path, "message": e.message }))
        .collect())
}

pub(crate) async fn validate(State(service): State<ControlServiceImpl>, body: String) -> Response {
    match problems(&service, &body).await {
        Ok(errors) => Json(json!({ "valid": errors.is_empty(), "errors": errors })).into_response(),
        Err(response) => response,
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateParams {
    #[serde(default)]
    start: bool,
}

pub(crate) async fn create(
    State(service): State<ControlServiceImpl>,
    crate::http::Params(params): crate::http::Params<CreateParams>,
    body: String,
) -> Response {
    let request = tonic::Request::new(v1::CampaignSpecRequest {
        document: body,
        start: params.start,
    });
    match service.create_campaign(request).await {
        Ok(c) => Json(crate::http::campaign_json(&c.into_inner())).into_response(),
        Err(status) => crate::http::error(status),
    }
}

/// `POST /api/v1/campaigns/{id}/start|pause|resume|stop`.
pub(crate) async fn act(
    State(service): State<ControlServiceImpl>,
    id: String,
    action: &'static str,
) -> Response {
    let action = match action {
        "start" => Action::Start,
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        "stop" => Action::Stop,
        other => {
            return crate::http::error(Status::not_found(format!(
                "unknown action `{other}`; use start, pause, resume or stop"
            )));
        }
    };
    let answer = service.act(&id, action).await;
    crate::http::campaign_answer(&service, answer).await
}

/// A campaign's merged live counters, as the agents last reported them.
pub(crate) async fn live(State(service): State<ControlServiceImpl>, Path(id): Path<String>) -> Json<Value> {
    let c = service.hub.campaign_totals(&id);
    Json(json!({
        "sessions_started": c.sessions_started,
        "sessions_completed": c.sessions_completed,
        "sessions_failed": c.sessions_failed,
        "requests": c.requests,
        "request_errors": c.request_errors,
        "stream_events": c.stream_events,
        "p50_ms": c.latency.quantile_ms(0.5),
        "p99_ms": c.latency.quantile_ms(0.99),
    }))
}

pub(crate) async fn scenarios(State(service): State<ControlServiceImpl>, Path(id): Path<String>) -> Response {
    match service.list_scenarios(&id).await {
        Ok(state) => Json(crate::json::scenario_state(&state)).into_response(),
        Err(e) => crate::http::coordinator_error(e),
    }
}

/// The run's simulated now, for windows that end there.
async fn sim_now(service: &ControlServiceImpl, id: &str) -> Result<i64, Response> {
    let state = service
        .list_scenarios(id)
        .await
        .map_err(crate::http::coordinator_error)?;
    if state.sim_now_ms == 0 {
        return Err(crate::http::error(Status::failed_precondition(
            "the run has no live clock (a backfill)",
        )));
    }
    Ok(state.sim_now_ms)
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

/// Every stream's last hour against its baseline: the count, what the
/// baseline had, their ratio (1 is usual) and the 0-100 score with its flag.
pub(crate) async fn streams(State(service): State<ControlServiceImpl>, Path(id): Path<String>) -> Response {
    let now = match sim_now(&service, &id).await {
        Ok(now) => now,
        Err(response) => return response,
    };
    const HOUR: i64 = 3_600_000;
    let until = now - now.rem_euclid(HOUR);
    let request = v1::StreamHistoryRequest {
        id,
        from: rfc3339(until - 3 * HOUR),
        until: rfc3339(until),
        block_seconds: 3600.0,
        patterns: Vec::new(),
    };
    let history = match service.stream_history(request).await {
        Ok(history) => history,
        Err(e) => return crate::http::coordinator_error(e),
    };
    let streams: Vec<Value> = history
        .series
        .iter()
        .map(|series| {
            let last = series.counts.len().saturating_sub(1);
            let count = series.counts.get(last).copied().unwrap_or(0);
            let baseline = series.baseline.get(last).copied().unwrap_or(0);
            json!({
                "stream": series.stream,
                "domain": series.domain,
                "count": count,
                "baseline": baseline,
                "normalised": if baseline > 0 { count as f64 / baseline as f64 } else { 1.0 },
                "score": series.scores.get(last).copied().unwrap_or(0.0),
                "flag": series.flags.get(last).cloned().unwrap_or_default(),
            })
        })
        .collect();
    Json(json!({ "until_ms": until, "streams": streams })).into_response()
}

/// External events of the run's last week of simulated time.
pub(crate) async fn events(State(service): State<ControlServiceImpl>, Path(id): Path<String>) -> Response {
    let now = match sim_now(&service, &id).await {
        Ok(now) => now,
        Err(response) => return response,
    };
    let request = v1::ExternalEventsRequest {
        id,
        from: rfc3339(now - 7 * 86_400_000),
        until: rfc3339(now + 86_400_000),
        stream: String::new(),
        event: String::new(),
    };
    match service.external_events(request).await {
        Ok(answer) => {
            let events: Vec<Value> = answer
                .events
                .iter()
                .map(|e| {
                    json!({
                        "id": e.id, "title": e.title, "category": e.category, "severity": e.severity,
                        "icon": e.icon, "at_ms": e.at_ms, "real": e.real, "injected": e.injected,
                    })
                })
                .collect();
            Json(json!({ "now_ms": now, "events": events })).into_response()
        }
        Err(e) => crate::http::coordinator_error(e),
    }
}

/// `?at=2026-03-02T06:00:00Z&compose=true` for `apply`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyParams {
    #[serde(default)]
    at: String,
    #[serde(default)]
    compose: bool,
}

/// `POST /api/v1/runs/{id}/scenarios/{scenario}/apply?at=&compose=`.
pub(crate) async fn apply_scenario(
    state: State<ControlServiceImpl>,
    Path((id, scenario)): Path<(String, String)>,
    crate::http::Params(params): crate::http::Params<ApplyParams>,
) -> Response {
    scenario_action(state, id, scenario, "apply", params).await
}

/// A scenario change of a stream run: apply (one scenario), stop or reset.
pub(crate) async fn scenario_action(
    State(service): State<ControlServiceImpl>,
    id: String,
    scenario: String,
    action: &'static str,
    params: ApplyParams,
) -> Response {
    let answer = match action {
        "apply" => {
            service
                .apply_scenario(tonic::Request::new(v1::ApplyScenarioRequest {
                    id,
                    scenario,
                    at: params.at,
                    compose: params.compose,
                }))
                .await
        }
        "stop" => {
            service
                .stop_scenario(tonic::Request::new(v1::CampaignRef { id }))
                .await
        }
        "reset" => {
            service
                .reset_scenarios(tonic::Request::new(v1::CampaignRef { id }))
                .await
        }
        other => {
            return crate::http::error(Status::not_found(format!(
                "unknown action `{other}`; use apply, stop or reset"
            )));
        }
    };
    match answer {
        Ok(state) => Json(crate::json::scenario_state(&state.into_inner())).into_response(),
        Err(status) => crate::http::error(status),
    }
}
