//! The web dashboard: one page (`dashboard/index.html` with its scripts in
//! `dashboard/js/`, plain HTML and JavaScript, no build step) served at
//! `/dashboard`, and the handlers of
//! the routes it uses beyond the read-only API — validating and creating
//! campaigns, starting, pausing, resuming and stopping them, their live
//! counters, and a stream run's scenarios (apply, stop, reset). Where each
//! route sits and who may call it is in `crate::routes`.

use crate::app::{App, ScenarioChange};
use crate::campaign::Action;
use crate::error::CoordinatorError;
use crate::{problem, wire};
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use serde_json::{Value, json};

const PAGE: &str = include_str!("dashboard/index.html");

/// What the page loads besides itself: its scripts, one per part of the
/// console, and uPlot, the chart library, vendored from the npm registry
/// (`dashboard/vendor/README.md`). All are built into the binary, so the
/// console works with no network.
const ASSETS: &[(&str, &str)] = &[
    ("uplot.js", include_str!("dashboard/vendor/uPlot.iife.min.js")),
    ("uplot.css", include_str!("dashboard/vendor/uPlot.min.css")),
    ("console.css", include_str!("dashboard/console.css")),
    ("core.js", include_str!("dashboard/js/core.js")),
    ("format.js", include_str!("dashboard/js/format.js")),
    ("charts.js", include_str!("dashboard/js/charts.js")),
    ("tables.js", include_str!("dashboard/js/tables.js")),
    ("exports.js", include_str!("dashboard/js/exports.js")),
    ("campaigns.js", include_str!("dashboard/js/campaigns.js")),
    ("sessions.js", include_str!("dashboard/js/sessions.js")),
    ("streams.js", include_str!("dashboard/js/streams.js")),
    ("cluster.js", include_str!("dashboard/js/cluster.js")),
    ("main.js", include_str!("dashboard/js/main.js")),
    ("report.js", include_str!("dashboard/js/report.js")),
];

/// An asset's text by file name.
pub fn asset_text(file: &str) -> Option<&'static str> {
    ASSETS
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, text)| *text)
}

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

/// `GET /dashboard/assets/{file}`: the page's scripts and its chart library.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    let Some(body) = asset_text(&file) else {
        let names: Vec<&str> = ASSETS.iter().map(|(name, _)| *name).collect();
        return problem::of(CoordinatorError::NotFound(format!(
            "no dashboard asset `{file}`; there are {}",
            names.join(", ")
        )));
    };
    let kind = if file.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    };
    let headers = [
        (axum::http::header::CONTENT_TYPE, kind),
        (axum::http::header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, body).into_response()
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

/// `POST /api/v1/campaigns/validate`: every problem of a spec with its
/// field path, or the plan it makes (`ValidateCampaign`).
pub(crate) async fn validate(State(app): State<App>, body: String) -> Response {
    match wire::validation(app.campaigns().validate(&body).await) {
        Ok(answer) => Json(crate::json::validation(&answer)).into_response(),
        Err(e) => problem::of(e),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateParams {
    #[serde(default)]
    start: bool,
}

pub(crate) async fn create(
    State(app): State<App>,
    crate::http::Params(params): crate::http::Params<CreateParams>,
    body: String,
) -> Response {
    crate::http::campaign_answer(app.campaigns().create(&body, params.start).await)
}

/// `POST /api/v1/campaigns/{id}/start|pause|resume|stop`.
pub(crate) async fn act(State(app): State<App>, id: String, action: &'static str) -> Response {
    let action = match action {
        "start" => Action::Start,
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        "stop" => Action::Stop,
        other => {
            return problem::of(CoordinatorError::Missing(format!(
                "unknown action `{other}`; use start, pause, resume or stop"
            )));
        }
    };
    crate::http::campaign_answer(app.campaigns().act(&id, action).await)
}

/// A campaign's merged live counters, as the agents last reported them,
/// and whether the agents rather than the target limit (or limited) it.
pub(crate) async fn live(State(app): State<App>, Path(id): Path<String>) -> Json<Value> {
    let c = app.hub.campaign_totals(&id);
    let load = throng_engine::generator::RunLoad::of(&c);
    Json(json!({
        "generator_errors": load.generator_errors,
        "start_lag_p99_ms": load.start_lag_p99_ms,
        "ran_generator_limited": load.ran_limited,
        "limited_agents": app.hub.limited_agents(&id),
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

pub(crate) async fn scenarios(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.scenarios().list(&id).await {
        Ok(state) => Json(crate::json::scenario_state(&wire::scenario_state(&state))).into_response(),
        Err(e) => problem::of(e),
    }
}

/// The run's simulated now, for windows that end there.
async fn sim_now(app: &App, id: &str) -> Result<i64, Response> {
    let state = app.scenarios().list(id).await.map_err(problem::of)?;
    state.sim_now_ms.ok_or_else(|| {
        problem::of(CoordinatorError::Conflict(
            "the run has no live clock (a backfill)".into(),
        ))
    })
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

/// Every stream's last complete hour against its baseline: the count, what
/// the baseline had, their ratio (1 is usual), the hour's usual spread and
/// the 0-100 score with its flag (`crate::stream_history::live_scores`).
pub(crate) async fn streams(State(app): State<App>, Path(id): Path<String>) -> Response {
    let scores = match app.streams().live_scores(&id).await {
        Ok(scores) => scores,
        Err(e) => return problem::of(e),
    };
    let streams: Vec<Value> = scores
        .streams
        .iter()
        .map(|s| {
            json!({
                "stream": s.stream,
                "domain": s.domain,
                "count": s.count,
                "baseline": s.baseline,
                "normalised": if s.baseline > 0 { s.count as f64 / s.baseline as f64 } else { 1.0 },
                "spread": s.spread,
                "score": s.score,
                "flag": s.flag,
            })
        })
        .collect();
    Json(json!({ "until_ms": scores.until_ms, "streams": streams })).into_response()
}

/// External events of the run's last week of simulated time and the next
/// day's, each with the streams it moved, and the templates it can inject.
pub(crate) async fn events(State(app): State<App>, Path(id): Path<String>) -> Response {
    let now = match sim_now(&app, &id).await {
        Ok(now) => now,
        Err(response) => return response,
    };
    let query = crate::app::streams::EventsQuery {
        from: rfc3339(now - 7 * 86_400_000),
        until: rfc3339(now + 86_400_000),
        ..Default::default()
    };
    match app.streams().external_events(&id, query).await {
        Ok(answer) => {
            let answer = crate::external_events::to_wire(&answer);
            let events: Vec<Value> = answer.events.iter().map(crate::json::external_event).collect();
            let templates: Vec<Value> = match app.streams().event_templates(&id).await {
                Ok(library) => library
                    .iter()
                    .map(|t| {
                        json!({"id": t.id, "title": t.title, "category": t.category,
                            "severity": t.severity, "icon": t.icon})
                    })
                    .collect(),
                Err(e) => return problem::of(e),
            };
            Json(json!({ "now_ms": now, "events": events, "templates": templates })).into_response()
        }
        Err(e) => problem::of(e),
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
    state: State<App>,
    Path((id, scenario)): Path<(String, String)>,
    crate::http::Params(params): crate::http::Params<ApplyParams>,
) -> Response {
    scenario_action(state, id, scenario, "apply", params).await
}

/// A scenario change of a stream run: apply (one scenario), stop or reset.
pub(crate) async fn scenario_action(
    State(app): State<App>,
    id: String,
    scenario: String,
    action: &'static str,
    params: ApplyParams,
) -> Response {
    let (at, change) = match action {
        "apply" => (
            params.at,
            ScenarioChange::Apply {
                scenario,
                compose: params.compose,
            },
        ),
        "stop" => (String::new(), ScenarioChange::Stop),
        "reset" => (String::new(), ScenarioChange::Reset),
        other => {
            return problem::of(CoordinatorError::Missing(format!(
                "unknown action `{other}`; use apply, stop or reset"
            )));
        }
    };
    match app.scenarios().change(&id, &at, change).await {
        Ok(state) => Json(crate::json::scenario_state(&wire::scenario_state(&state))).into_response(),
        Err(e) => problem::of(e),
    }
}
