//! The HTTP door of the coordinator: the JSON API's handlers, each a thin
//! shell over the application layer (`crate::app`) answering the same as
//! `ControlService`, for scripts and browsers; stream subscriptions over
//! WebSocket; Prometheus metrics at `/metrics`. The dashboard's handlers
//! are in `crate::dashboard`, the server in `crate::http_server`.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::app::{App, CampaignView, Injection, SubscribeAsk};
use crate::{CoordinatorError, problem, wire};
use throng_proto::v1;

/// Query parameters, or a problem document naming what is wrong with them:
/// an unknown name, or a value of the wrong type.
pub(crate) struct Params<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(problem::invalid(format!("query: {}", rejection.body_text()))),
        }
    }
}

/// A campaign the application answered with, as its JSON; or the error
/// as a problem document.
pub(crate) fn campaign_answer(answer: crate::error::Result<CampaignView>) -> Response {
    match answer {
        Ok(view) => Json(crate::json::campaign(&wire::campaign(&view))).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/cluster` (`GetClusterStatus`).
/// The OpenAPI document of every route, made once when the server starts
/// (`crate::openapi`, from the route table).
#[derive(Clone)]
pub(crate) struct OpenApiDocument(pub Arc<str>);

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi(axum::Extension(document): axum::Extension<OpenApiDocument>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.0.to_string(),
    )
        .into_response()
}

pub(crate) async fn cluster(State(app): State<App>) -> Response {
    match app.cluster().status().await {
        Ok(status) => Json(crate::json::cluster_status(&wire::cluster_status(&status))).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/campaigns` (`ListCampaigns`).
pub(crate) async fn campaigns(State(app): State<App>) -> Response {
    match app.campaigns().list().await {
        Ok(views) => {
            let campaigns: Vec<Value> = views
                .iter()
                .map(|v| crate::json::campaign(&wire::campaign(v)))
                .collect();
            Json(json!({ "campaigns": campaigns })).into_response()
        }
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/campaigns/{id}` (`GetCampaign`).
pub(crate) async fn campaign(State(app): State<App>, Path(id): Path<String>) -> Response {
    campaign_answer(app.campaigns().get(&id).await)
}

/// `?campaigns=ID,ID&by=persona&resolution_ms=60000` (or `resolution_ms=auto`)
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnalyticsParams {
    #[serde(default)]
    campaigns: String,
    #[serde(default)]
    by: String,
    #[serde(default)]
    resolution_ms: String,
}

/// `GET /api/v1/analytics`: the same reports as `GetAnalytics`;
/// `resolution_ms=auto` sizes the buckets as the console does, about 150
/// over the campaigns' runs.
pub(crate) async fn analytics(State(app): State<App>, Params(params): Params<AnalyticsParams>) -> Response {
    let answer = async {
        let campaign_ids: Vec<String> = list_param(&params.campaigns);
        let resolution_ms = match params.resolution_ms.as_str() {
            "" => 0,
            "auto" => app.insight().resolution_over(&campaign_ids).await?,
            text => text.parse().map_err(|_| {
                CoordinatorError::Invalid(format!(
                    "resolution_ms: a whole number of milliseconds or `auto`, not `{text}`"
                ))
            })?,
        };
        let request = v1::AnalyticsRequest {
            campaign_ids,
            by: params.by,
            resolution_ms,
        };
        let query = crate::analytics::parse(&request)?;
        app.insight().analytics(&request.campaign_ids, &query).await
    };
    match answer.await {
        Ok(reports) => Json(reports).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `?campaigns=a,b`
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportParams {
    #[serde(default)]
    campaigns: String,
}

/// `GET /api/v1/report?campaigns=a,b`: the report file (`GetReport`), to
/// save.
pub(crate) async fn report(State(app): State<App>, Params(params): Params<ReportParams>) -> Response {
    let ids: Vec<String> = list_param(&params.campaigns);
    match app.insight().report(&ids).await {
        Ok(html) => {
            let file = format!("attachment; filename=\"throng-report-{}.html\"", ids.join("-"));
            let headers = [
                (
                    axum::http::header::CONTENT_TYPE,
                    "text/html; charset=utf-8".to_string(),
                ),
                (axum::http::header::CONTENT_DISPOSITION, file),
            ];
            (headers, html).into_response()
        }
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/campaigns/{id}/errors`: the same groups as `GetCampaignErrors`.
pub(crate) async fn campaign_errors(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.insight().errors(&id).await {
        Ok(report) => Json(crate::json::campaign_errors(&crate::analytics::errors_to_wire(
            &id, &report,
        )))
        .into_response(),
        Err(e) => problem::of(e),
    }
}

/// `?node=agent-1&level=warn&grep=failed&after=SEQ&limit=200`
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsParams {
    #[serde(default)]
    node: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    grep: String,
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: u32,
}

/// `GET /api/v1/logs`: the same lines as `GetLogs`.
pub(crate) async fn logs(State(app): State<App>, Params(params): Params<LogsParams>) -> Response {
    let request = v1::GetLogsRequest {
        node: params.node,
        level: params.level,
        grep: params.grep,
        after_seq: params.after,
        limit: params.limit,
    };
    let query = match throng_agent_api::wire::log_query_from_wire(&request) {
        Ok(query) => query,
        Err(message) => return problem::invalid(message),
    };
    match app.insight().logs(&request.node, &query).await {
        Ok(logs) => Json(crate::json::log_lines(&wire::log_lines(&logs))).into_response(),
        Err(e) => problem::of(e),
    }
}

/// The parameters `GET /api/v1/campaigns/{id}/sessions` takes.
const SESSION_PARAMS: [&str; 11] = [
    "persona",
    "journey",
    "target",
    "agent",
    "outcome",
    "error_class",
    "from_ms",
    "to_ms",
    "min_duration_ms",
    "cursor",
    "limit",
];

/// A session list request from query parameters: unknown names and numbers
/// that are not numbers are named, all at once.
fn sessions_request(
    campaign_id: String,
    params: &std::collections::HashMap<String, String>,
) -> crate::error::Result<crate::sessions::ListQuery> {
    let mut problems: Vec<String> = params
        .keys()
        .filter(|name| !SESSION_PARAMS.contains(&name.as_str()))
        .map(|name| format!("{name}: unknown parameter; use {}", SESSION_PARAMS.join(", ")))
        .collect();
    let text = |name: &str| params.get(name).cloned().unwrap_or_default();
    let mut number = |name: &str| -> u64 {
        match params.get(name).map(|v| v.parse::<u64>()) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                problems.push(format!("{name}: `{}` is not a whole number", params[name]));
                0
            }
        }
    };
    let request = v1::ListSessionsRequest {
        campaign_id,
        persona: text("persona"),
        journey: text("journey"),
        target: params.contains_key("target").then(|| number("target") as u32),
        agent: text("agent"),
        outcome: text("outcome"),
        error_class: text("error_class"),
        from_ms: number("from_ms"),
        to_ms: number("to_ms"),
        min_duration_ms: number("min_duration_ms"),
        cursor: text("cursor"),
        limit: number("limit").min(u64::from(u32::MAX)) as u32,
    };
    if problems.is_empty() {
        crate::sessions::parse(&request)
    } else {
        problems.sort();
        Err(crate::error::CoordinatorError::Invalid(problems.join("; ")))
    }
}

/// `GET /api/v1/campaigns/{id}/sessions`: the same page as `ListSessions`.
pub(crate) async fn campaign_sessions(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let query = match sessions_request(id, &params) {
        Ok(query) => query,
        Err(e) => return problem::of(e),
    };
    match app.sessions().list(&query).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => problem::of(e),
    }
}

/// A session id from its path segment, or what is wrong with it.
fn session_id(session: &str) -> Result<u64, CoordinatorError> {
    session.parse().map_err(|_| {
        CoordinatorError::Invalid(format!(
            "session: `{session}` is not a session id (a whole number, as session lists show it)"
        ))
    })
}

/// `GET /api/v1/campaigns/{id}/sessions/{session}`: as `GetSession`.
pub(crate) async fn campaign_session(
    State(app): State<App>,
    Path((id, session)): Path<(String, String)>,
) -> Response {
    let session_id = match session_id(&session) {
        Ok(session_id) => session_id,
        Err(e) => return problem::of(e),
    };
    match app.sessions().get(&id, session_id).await {
        Ok(detail) => Json(detail).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/campaigns/{id}/sessions/{session}/screenshot`: the PNG a
/// failed browser visit left, from the agent that ran it.
pub(crate) async fn campaign_session_screenshot(
    State(app): State<App>,
    Path((id, session)): Path<(String, String)>,
) -> Response {
    let session_id = match session_id(&session) {
        Ok(session_id) => session_id,
        Err(e) => return problem::of(e),
    };
    match app.sessions().screenshot(&id, session_id).await {
        Ok(png) => ([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/library` and `/api/v1/library/{kind}`: the newest version
/// of each item (`ListLibraryItems`).
pub(crate) async fn library_items(State(app): State<App>, kind: Option<Path<String>>) -> Response {
    match app.library().list(kind.as_ref().map(|k| k.0.as_str())).await {
        Ok(views) => {
            let items: Vec<Value> = views
                .iter()
                .map(|v| crate::json::library_item(&crate::library::to_wire(v)))
                .collect();
            Json(json!({ "items": items })).into_response()
        }
        Err(e) => problem::of(e),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionParams {
    version: Option<u32>,
}

/// `GET /api/v1/library/{kind}/{name}?version=N` (`GetLibraryItem`).
pub(crate) async fn library_item(
    State(app): State<App>,
    Path((kind, name)): Path<(String, String)>,
    Params(params): Params<VersionParams>,
) -> Response {
    let version = params.version.filter(|v| *v > 0);
    match app.library().get(&kind, &name, version).await {
        Ok(view) => Json(crate::json::library_item(&crate::library::to_wire(&view))).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `POST /api/v1/library/{kind}` with the item in YAML or JSON (`ApplyLibraryItem`).
pub(crate) async fn apply_library_item(
    State(app): State<App>,
    Path(kind): Path<String>,
    document: String,
) -> Response {
    match app.library().apply(&kind, &document).await {
        Ok(view) => Json(crate::json::library_item(&crate::library::to_wire(&view))).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `DELETE /api/v1/library/{kind}/{name}` (`DeleteLibraryItem`).
pub(crate) async fn delete_library_item(
    State(app): State<App>,
    Path((kind, name)): Path<(String, String)>,
) -> Response {
    match app.library().delete(&kind, &name).await {
        Ok(removed) => Json(json!({"kind": kind, "name": name, "versions_removed": removed})).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/campaigns/{id}/watch`: the campaign's live stats about once
/// a second until it ends, as server-sent events of JSON (`WatchCampaign`);
/// a browser reads them with `EventSource`.
pub(crate) async fn watch_campaign(State(app): State<App>, Path(id): Path<String>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio_stream::StreamExt;
    let stats = match app.campaigns().watch(&id).await {
        Ok(stats) => tokio_stream::wrappers::ReceiverStream::new(stats),
        Err(e) => return problem::of(e),
    };
    let events = stats.map(|item| {
        Ok::<_, std::convert::Infallible>(match item {
            Ok(stats) => Event::default()
                .event("stats")
                .data(crate::json::campaign_stats(&wire::campaign_stats(&stats)).to_string()),
            Err(e) => Event::default().event("error").data(e.to_string()),
        })
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// `?from=RFC3339&until=RFC3339&block_seconds=43200&patterns=customer.*,support.*`
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    block_seconds: f64,
    #[serde(default)]
    patterns: String,
}

fn list_param(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

async fn history_answer(
    app: &App,
    id: String,
    params: HistoryParams,
) -> crate::error::Result<v1::StreamHistoryResponse> {
    let query = crate::stream_history::query(
        &params.from,
        &params.until,
        params.block_seconds,
        list_param(&params.patterns),
    )?;
    let history = app.streams().history(&id, query).await?;
    Ok(crate::stream_history::to_wire(&history))
}

/// `GET /api/v1/runs/{id}/history`: blocks of each stream against its baseline (`StreamHistory`).
pub(crate) async fn stream_history(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(params): Params<HistoryParams>,
) -> Response {
    match history_answer(&app, id, params).await {
        Ok(answer) => Json(crate::json::stream_history(&answer)).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/runs/{id}/stats`: each stream's baseline statistics over the window.
pub(crate) async fn stream_stats(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(params): Params<HistoryParams>,
) -> Response {
    match history_answer(&app, id, params).await {
        Ok(answer) => Json(crate::json::stream_stats(&answer)).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `?from=&until=&stream=customer.signup&event=ID`
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    event: String,
}

/// `GET /api/v1/runs/{id}/external-events`: external events of a window and
/// what they moved (`ExternalEvents`).
pub(crate) async fn external_events(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(params): Params<EventParams>,
) -> Response {
    let query = crate::app::streams::EventsQuery {
        from: params.from,
        until: params.until,
        stream: params.stream,
        event: params.event,
    };
    match app.streams().external_events(&id, query).await {
        Ok(answer) => Json(crate::json::external_events(&crate::external_events::to_wire(
            &answer,
        )))
        .into_response(),
        Err(e) => problem::of(e),
    }
}

/// The body of `POST /api/v1/runs/{id}/events`.
#[derive(serde::Deserialize)]
pub(crate) struct InjectBody {
    events: Vec<InjectEvent>,
}

#[derive(serde::Deserialize)]
struct InjectEvent {
    #[serde(default)]
    template: String,
    #[serde(default)]
    at: String,
    /// An event of the caller's own, in a library template's shape.
    #[serde(default)]
    event: Option<serde_json::Value>,
}

/// `POST /api/v1/runs/{id}/events`: injects external events (`InjectEvents`).
pub(crate) async fn inject_events(State(app): State<App>, Path(id): Path<String>, body: String) -> Response {
    let body: InjectBody = match serde_json::from_str(&body) {
        Ok(body) => body,
        Err(e) => {
            return problem::invalid(format!(
                "body: expected {{\"events\": [{{\"template\" or \"event\": …, \"at\": …}}]}}: {e}"
            ));
        }
    };
    let events: Vec<Injection> = body
        .events
        .into_iter()
        .map(|e| Injection {
            template: e.template,
            at: e.at,
            event: e.event,
        })
        .collect();
    match app.streams().inject(&id, &events).await {
        Ok(injected) => Json(crate::json::external_events(&crate::external_events::to_wire(
            &injected,
        )))
        .into_response(),
        Err(e) => problem::of(e),
    }
}

/// `POST /api/v1/campaigns/{id}/rate` with `{"rate": 50}` (`SetCampaignRate`).
pub(crate) async fn set_rate(State(app): State<App>, Path(id): Path<String>, body: String) -> Response {
    #[derive(serde::Deserialize)]
    struct RateBody {
        rate: f64,
    }
    let rate = match serde_json::from_str::<RateBody>(&body) {
        Ok(body) => body.rate,
        Err(e) => {
            return problem::invalid(format!("body: expected {{\"rate\": sessions per second}}: {e}"));
        }
    };
    campaign_answer(app.campaigns().set_rate(&id, rate).await)
}

/// `DELETE /api/v1/campaigns/{id}` (`DeleteCampaign`).
pub(crate) async fn delete_campaign(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.campaigns().delete(&id).await {
        Ok(keys_removed) => {
            Json(json!({"id": id, "deleted": true, "keys_removed": keys_removed})).into_response()
        }
        Err(e) => problem::of(e),
    }
}

/// `PUT /api/v1/campaigns/{id}` with the whole spec (`UpdateCampaign`).
pub(crate) async fn update_campaign(
    State(app): State<App>,
    Path(id): Path<String>,
    document: String,
) -> Response {
    campaign_answer(app.campaigns().update(&id, &document).await)
}

/// `?name=&start=true`
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloneParams {
    #[serde(default)]
    name: String,
    #[serde(default)]
    start: bool,
}

/// `POST /api/v1/campaigns/{id}/clone?name=&start=` (`CloneCampaign`).
pub(crate) async fn clone_campaign(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(params): Params<CloneParams>,
) -> Response {
    campaign_answer(
        app.campaigns()
            .clone_campaign(&id, &params.name, params.start)
            .await,
    )
}

/// `POST /api/v1/campaigns/test` with a spec: do its targets answer? (`TestTarget`)
pub(crate) async fn test_targets(State(app): State<App>, document: String) -> Response {
    match app.cluster().test_targets(&document).await {
        Ok(checks) => {
            Json(crate::json::target_checks(&crate::target_check::to_wire(&checks))).into_response()
        }
        Err(e) => problem::of(e),
    }
}

/// `POST /api/v1/behaviour/score`: behaviour data in, the detector's
/// verdict (by the rules in force) out.
pub(crate) async fn score_behaviour(State(app): State<App>, body: String) -> Response {
    match crate::app::insight::score_behaviour_json(&body, &app.behaviour_rules.rules()) {
        Ok(verdict) => ([(axum::http::header::CONTENT_TYPE, "application/json")], verdict).into_response(),
        Err(message) => problem::invalid(message),
    }
}

/// `POST /api/v1/behaviour/sessions`: `{"site": "…"}` (optional) in, the new session out.
pub(crate) async fn create_behaviour_session(State(app): State<App>, body: String) -> Response {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Create {
        site: String,
        id: Option<String>,
    }
    let create: Create = if body.trim().is_empty() {
        Create::default()
    } else {
        match serde_json::from_str(&body) {
            Ok(create) => create,
            Err(e) => {
                return problem::invalid(format!(
                    "a new behaviour session takes {{\"site\": \"…\", \"id\": \"bs-…\"}} (both optional) or nothing: {e}"
                ));
            }
        }
    };
    match app.behaviour().create(&create.site, create.id.as_deref()).await {
        Ok(info) => Json(info).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/behaviour/sessions`: every session, newest first.
pub(crate) async fn behaviour_sessions(State(app): State<App>) -> Response {
    match app.behaviour().list().await {
        Ok(listed) => {
            let sessions: Vec<Value> = listed
                .into_iter()
                .map(|(info, result)| {
                    let result = result.map(|r| {
                        json!({"risk": r.verdict.risk, "score": r.verdict.score,
                            "confidence": r.verdict.confidence, "analysed_ms": r.analysed_ms,
                            "events": r.counts.total})
                    });
                    json!({"id": info.id, "site": info.site, "created_ms": info.created_ms, "result": result})
                })
                .collect();
            Json(json!({ "sessions": sessions })).into_response()
        }
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/behaviour/sessions/{id}`: what it holds, whether it is ready, its latest analysis.
pub(crate) async fn behaviour_session(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.behaviour().status(&id).await {
        Ok(status) => Json(status).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `POST /api/v1/behaviour/sessions/{id}/data`: appends behaviour data.
pub(crate) async fn append_behaviour(
    State(app): State<App>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    match app.behaviour().append(&id, &body).await {
        Ok(appended) => Json(appended).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/behaviour/sessions/{id}/ready`.
pub(crate) async fn behaviour_readiness(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.behaviour().readiness(&id).await {
        Ok(readiness) => Json(readiness).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `POST /api/v1/behaviour/sessions/{id}/analyse`: judges it and stores the result.
pub(crate) async fn analyse_behaviour(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.behaviour().analyse(&id).await {
        Ok(analysis) => Json(analysis).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `DELETE /api/v1/behaviour/sessions/{id}`.
pub(crate) async fn delete_behaviour_session(State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.behaviour().delete(&id).await {
        Ok(()) => Json(json!({ "deleted": id })).into_response(),
        Err(e) => problem::of(e),
    }
}

/// `GET /api/v1/behaviour/rules`: the rules in force, where from, and a refused change.
pub(crate) async fn behaviour_rules(State(app): State<App>) -> Response {
    Json(app.behaviour_rules.current()).into_response()
}

/// `GET /behaviour/capture.js`: the recorder a site embeds.
pub(crate) async fn behaviour_capture() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        throng_engine::behaviour::capture::SITE_SCRIPT,
    )
        .into_response()
}

/// `?patterns=customer.*,high-frequency&token=v1…&max_lag=60`
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeParams {
    #[serde(default)]
    patterns: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    max_lag: f64,
}

fn message_json(message: &v1::SubscribeMessage) -> Value {
    use v1::subscribe_message::Kind;
    match &message.kind {
        Some(Kind::Batch(batch)) => {
            let events: Vec<Value> = batch
                .events
                .iter()
                .map(|e| {
                    json!({"id": e.id, "stream": e.stream, "at_ms": e.at_ms,
                        "parent": if e.parent.is_empty() { Value::Null } else { json!(e.parent) },
                        "entities": serde_json::from_str::<Value>(&e.entities_json).unwrap_or(Value::Null),
                        "data": serde_json::from_str::<Value>(&e.data_json).unwrap_or(Value::Null),
                        "normalized_value": e.normalized_value, "anomaly_flag": e.anomaly_flag})
                })
                .collect();
            json!({"type": "batch", "snapshot": batch.snapshot, "resume_token": batch.resume_token, "events": events})
        }
        Some(Kind::Heartbeat(beat)) => {
            json!({"type": "heartbeat", "sim_now_ms": beat.sim_now_ms, "resume_token": beat.resume_token})
        }
        Some(Kind::Missed(missed)) => json!({"type": "missed", "events": missed.events,
            "from_token": missed.from_token, "to_token": missed.to_token}),
        None => Value::Null,
    }
}

/// `GET /api/v1/runs/{id}/subscribe` (WebSocket): the same messages as the
/// gRPC `Subscribe`, as JSON text frames.
pub(crate) async fn subscribe(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(params): Params<SubscribeParams>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return problem::invalid(format!(
                "this route is a WebSocket: connect with a WebSocket client ({})",
                rejection.body_text()
            ));
        }
    };
    let ask = SubscribeAsk {
        patterns: list_param(&params.patterns),
        resume_token: params.token,
        max_lag_seconds: params.max_lag,
    };
    // Checked before the upgrade, so a bad request gets a problem document.
    let subscribed = match app.streams().subscribe(&id, &ask).await {
        Ok(subscribed) => subscribed,
        Err(e) => return problem::of(e),
    };
    upgrade
        .protocols([WEBSOCKET_PROTOCOL])
        .on_upgrade(move |socket| forward(socket, subscribed))
}

/// Sends the subscription's messages as text frames until either side
/// ends; dropping the receiver ends the subscription's task.
async fn forward(mut socket: WebSocket, mut subscribed: crate::app::streams::Subscribed) {
    while let Some(message) = subscribed.messages.recv().await {
        let message = crate::subscribe::message_to_wire(&subscribed.run, &message);
        let text = message_json(&message).to_string();
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// The subprotocol a browser's WebSocket names so that the server picks it.
pub(crate) const WEBSOCKET_PROTOCOL: &str = "throng.v1";

/// Prometheus text, behind the same tokens as the API (a read token).
/// The open health document ([`crate::generation::health`] for its
/// generation part): always 200 while the process serves, so a probe can
/// use it; the state store's answer is a field, not the status.
pub(crate) async fn health(State(app): State<App>) -> Response {
    let (store, runs) = match app.cluster_view().await {
        Ok(view) => ("up", crate::generation::of_view(&view)),
        Err(_) => ("down", Vec::new()),
    };
    Json(json!({
        "status": "ok",
        "role": "coordinator",
        "leader": app.leadership.is_leader(),
        "state_store": store,
        "generation": crate::generation::health(&runs),
    }))
    .into_response()
}

pub(crate) async fn metrics(State(app): State<App>) -> Response {
    let text = crate::metrics::render(&app).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
