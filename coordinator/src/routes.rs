//! Every HTTP route in one table: its method, path, who may call it, what it
//! does, the gRPC call it mirrors, its query parameters, body and answers.
//! The router (`crate::http_server::serve`) and the OpenAPI document
//! (`crate::openapi`) are both built from this table, so neither can list
//! a route the other lacks.

use axum::extract::{Path, State};
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::app::App;
use crate::dashboard;
use crate::http;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No token: probes and the dashboard's page, which holds no data.
    Open,
    Read,
    Admin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// What a route answers with when it succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Json,
    Html,
    Text,
    /// Prometheus' text exposition format.
    Metrics,
    /// A redirect to the dashboard.
    Redirect,
    /// A vendored script or stylesheet of the dashboard.
    Asset,
    /// Upgrades to a WebSocket of JSON messages.
    WebSocket,
    /// Server-sent events of JSON.
    EventStream,
    /// A PNG image.
    Png,
}

/// A query parameter: name, JSON Schema type, description.
pub type Param = (&'static str, &'static str, &'static str);

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// The `ControlService` call it mirrors, if any.
    pub rpc: Option<&'static str>,
    pub query: &'static [Param],
    /// The query parameters it cannot do without.
    pub required: &'static [&'static str],
    /// What the body holds, for routes that take one.
    pub body: Option<&'static str>,
    pub answer: Answer,
    /// Error statuses it may answer besides those of its access (401, 403, 429).
    pub errors: &'static [u16],
    pub handler: MethodRouter<App>,
}

impl Route {
    fn new(
        method: Method,
        path: &'static str,
        access: Access,
        summary: &'static str,
        handler: MethodRouter<App>,
    ) -> Self {
        Route {
            method,
            path,
            access,
            summary,
            rpc: None,
            query: &[],
            required: &[],
            body: None,
            answer: Answer::Json,
            errors: &[],
            handler,
        }
    }

    fn rpc(mut self, rpc: &'static str) -> Self {
        self.rpc = Some(rpc);
        self
    }

    fn query(mut self, query: &'static [Param]) -> Self {
        self.query = query;
        self
    }

    fn required(mut self, required: &'static [&'static str]) -> Self {
        self.required = required;
        self
    }

    fn body(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }

    fn answer(mut self, answer: Answer) -> Self {
        self.answer = answer;
        self
    }

    fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
}

const NOT_FOUND: &[u16] = &[404, 503];
const CHANGES: &[u16] = &[400, 404, 409, 503];

const SESSION_QUERY: &[Param] = &[
    ("persona", "string", "only this persona's sessions"),
    ("journey", "string", "only this journey's"),
    ("target", "integer", "only this target's (its index in the spec)"),
    ("agent", "string", "only those this agent ran"),
    ("outcome", "string", "ok or failed"),
    (
        "error_class",
        "string",
        "the class of the first failure: http, connect, timeout, browser, ...",
    ),
    ("from_ms", "integer", "intended start at or after (epoch ms)"),
    ("to_ms", "integer", "intended start before (epoch ms)"),
    ("min_duration_ms", "integer", "at least this long"),
    (
        "cursor",
        "string",
        "the next_cursor of the previous page, with the same filters",
    ),
    ("limit", "integer", "sessions per page, 1 to 1000 (default 50)"),
];

const WINDOW_QUERY: &[Param] = &[
    (
        "from",
        "string",
        "start of the window, RFC 3339 (default: a week before the run's clock)",
    ),
    (
        "until",
        "string",
        "end of the window, RFC 3339 (default: the run's clock)",
    ),
    (
        "block_seconds",
        "number",
        "length of a block in seconds (history only)",
    ),
    (
        "patterns",
        "string",
        "comma-separated stream patterns, e.g. customer.*,support.*",
    ),
];

fn action(action: &'static str) -> MethodRouter<App> {
    post(move |state: State<App>, Path(id): Path<String>| dashboard::act(state, id, action))
}

fn scenario(action: &'static str) -> MethodRouter<App> {
    post(move |state: State<App>, Path(id): Path<String>| {
        dashboard::scenario_action(state, id, String::new(), action, Default::default())
    })
}

/// Every route the coordinator's HTTP server answers.
pub fn table() -> Vec<Route> {
    use Access::{Admin, Open, Read};
    use Method::{Delete, Get, Post, Put};
    vec![
        Route::new(Get, "/healthz", Open, "Health: `ok` while the process serves", get(|| async { "ok" }))
            .answer(Answer::Text),
        Route::new(Get, "/api/v1/health", Open, "Health as JSON: the process serves, whether the state store answers, whether this coordinator leads, and how stream runs generate now (running runs by clock mode, each emulated run's interval and batch bounds; no run is named)", get(http::health)),
        Route::new(Get, "/", Open, "Redirects to the dashboard", get(dashboard::home)).answer(Answer::Redirect),
        Route::new(Get, "/dashboard", Open, "The web dashboard (it holds no data; its calls send the token typed into it)", get(dashboard::page))
            .answer(Answer::Html),
        Route::new(Get, "/dashboard/assets/{file}", Open, "The dashboard's scripts (core.js, campaigns.js, …) and its vendored chart library (uplot.js, uplot.css)", get(dashboard::asset))
            .answer(Answer::Asset)
            .errors(&[404]),
        Route::new(Get, "/api/v1/openapi.json", Open, "This document", get(http::openapi)),
        Route::new(Get, "/metrics", Read, "Prometheus metrics (docs/operations.md)", get(http::metrics)).answer(Answer::Metrics),
        Route::new(Get, "/api/v1/cluster", Read, "Leader, agents, shards, each agent's telemetry writer, whether it keeps up, and the age of its last stats report", get(http::cluster))
            .rpc("GetClusterStatus")
            .errors(&[503]),
        Route::new(Get, "/api/v1/campaigns", Read, "Every campaign", get(http::campaigns))
            .rpc("ListCampaigns")
            .errors(&[503]),
        Route::new(Post, "/api/v1/campaigns", Admin, "Creates (and with start=true starts) the campaign in the body; 400 with every problem and its field path", post(dashboard::create))
            .rpc("CreateCampaign")
            .query(&[("start", "boolean", "start it at once")])
            .body("a campaign spec or stream run, YAML or JSON")
            .errors(&[400, 503]),
        Route::new(Post, "/api/v1/campaigns/validate", Read, "Checks a spec without storing it: {valid, errors: [{path, message}], plan}", post(dashboard::validate))
            .rpc("ValidateCampaign")
            .body("a campaign spec or stream run, YAML or JSON")
            .errors(&[503]),
        Route::new(Post, "/api/v1/campaigns/test", Admin, "Does each target of the spec answer, with a diagnosis when one does not", post(http::test_targets))
            .rpc("TestTarget")
            .body("a campaign spec, YAML or JSON")
            .errors(&[400, 503]),
        Route::new(Get, "/api/v1/campaigns/{id}", Read, "One campaign", get(http::campaign))
            .rpc("GetCampaign")
            .errors(NOT_FOUND),
        Route::new(Put, "/api/v1/campaigns/{id}", Admin, "A new revision of the spec: anything before it starts, only load.rate while it runs", put(http::update_campaign))
            .rpc("UpdateCampaign")
            .body("the whole spec, YAML or JSON")
            .errors(CHANGES),
        Route::new(Delete, "/api/v1/campaigns/{id}", Admin, "Removes a campaign that is not running, and its checkpoints; its telemetry stays", delete(http::delete_campaign))
            .rpc("DeleteCampaign")
            .errors(CHANGES),
        Route::new(Post, "/api/v1/campaigns/{id}/start", Admin, "Starts a created campaign", action("start"))
            .rpc("StartCampaign")
            .errors(CHANGES),
        Route::new(Post, "/api/v1/campaigns/{id}/pause", Admin, "Pauses a running campaign", action("pause"))
            .rpc("PauseCampaign")
            .errors(CHANGES),
        Route::new(Post, "/api/v1/campaigns/{id}/resume", Admin, "Resumes a paused campaign", action("resume"))
            .rpc("ResumeCampaign")
            .errors(CHANGES),
        Route::new(Post, "/api/v1/campaigns/{id}/stop", Admin, "Stops a campaign", action("stop"))
            .rpc("StopCampaign")
            .errors(CHANGES),
        Route::new(Post, "/api/v1/campaigns/{id}/rate", Admin, "A new arrival rate on every agent at one plan instant", post(http::set_rate))
            .rpc("SetCampaignRate")
            .body("{\"rate\": sessions per second}")
            .errors(CHANGES),
        Route::new(Post, "/api/v1/campaigns/{id}/clone", Admin, "A new campaign from this one's stored spec", post(http::clone_campaign))
            .rpc("CloneCampaign")
            .query(&[("name", "string", "the clone's name (default: the original's)"), ("start", "boolean", "start it at once")])
            .errors(CHANGES),
        Route::new(Get, "/api/v1/campaigns/{id}/watch", Read, "Live stats about once a second until the campaign ends, as server-sent events (`event: stats`, JSON data)", get(http::watch_campaign))
            .rpc("WatchCampaign")
            .answer(Answer::EventStream)
            .errors(NOT_FOUND),
        Route::new(Get, "/api/v1/campaigns/{id}/live", Read, "The agents' merged live counters: sessions, requests, errors (and the generator's own), p50, p99, stream events, session start lag, and the agents that limit it now", get(dashboard::live)),
        Route::new(Get, "/api/v1/campaigns/{id}/errors", Read, "Failed requests grouped by class and message", get(http::campaign_errors))
            .rpc("GetCampaignErrors")
            .errors(&[404, 409, 503]),
        Route::new(Get, "/api/v1/report", Read, "One to eight campaigns (campaigns=a,b) in one self-contained HTML report file", get(http::report))
            .answer(Answer::Html)
            .rpc("GetReport")
            .query(&[("campaigns", "string", "comma-separated campaign ids, 1 to 8")])
            .required(&["campaigns"])
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/campaigns/{id}/sessions", Read, "Sessions that pass every filter given, newest first, a page at a time", get(http::campaign_sessions))
            .rpc("ListSessions")
            .query(SESSION_QUERY)
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/campaigns/{id}/sessions/{session}", Read, "One session in full", get(http::campaign_session))
            .rpc("GetSession")
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/campaigns/{id}/sessions/{session}/screenshot", Read, "The screenshot a failed browser visit left, from the agent that ran it", get(http::campaign_session_screenshot))
            .answer(Answer::Png)
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/analytics", Read, "Analytics of campaigns side by side (docs/analytics.md)", get(http::analytics))
            .rpc("GetAnalytics")
            .query(&[
                ("campaigns", "string", "comma-separated campaign ids"),
                ("by", "string", "persona, journey, target, agent or request"),
                ("resolution_ms", "string", "time buckets of this many milliseconds (0: totals only), or `auto`: about 150 over the campaigns' runs"),
            ])
            .required(&["campaigns"])
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/logs", Read, "A node's recent log lines", get(http::logs))
            .rpc("GetLogs")
            .query(&[
                ("node", "string", "an agent's id (default: this coordinator)"),
                ("level", "string", "error, warn, info or debug: this level and above"),
                ("grep", "string", "only lines holding this text"),
                ("after", "integer", "only lines after this sequence number (to follow)"),
                ("limit", "integer", "at most this many lines"),
            ])
            .errors(&[400, 404, 503]),
        Route::new(Post, "/api/v1/behaviour/sessions", Read, "Creates a bot-detection session (body: {\"site\": \"…\", \"id\": \"bs-…\"}, both optional, or nothing); its id is also the right to append to it; creating a named one again answers it as it is", post(http::create_behaviour_session))
            .body("optional JSON: {\"site\": \"what the session is of\", \"id\": \"bs- and 32 random hex digits\"}")
            .errors(&[400, 503]),
        Route::new(Get, "/api/v1/behaviour/sessions", Read, "Every bot-detection session, newest first, with its latest analysis's risk", get(http::behaviour_sessions))
            .errors(&[503]),
        Route::new(Get, "/api/v1/behaviour/sessions/{id}", Read, "A bot-detection session: its events by kind, whether it is ready, and its latest analysis", get(http::behaviour_session))
            .errors(&[404, 503]),
        Route::new(Post, "/api/v1/behaviour/sessions/{id}/data", Read, "Appends behaviour data (the shape /behaviour/score takes, every part optional, times in ms from the session's start); 400 with every problem's path, 409 once the session is full", post(http::append_behaviour))
            .body("behaviour data, JSON")
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/behaviour/sessions/{id}/ready", Read, "Whether the session holds enough to judge (3 s, 20 input events, the device), and what it lacks", get(http::behaviour_readiness))
            .errors(&[404, 503]),
        Route::new(Post, "/api/v1/behaviour/sessions/{id}/analyse", Read, "Judges the session by the rules in force; the result (risk, score, confidence, reasons, checks, event counts, processing time) is stored with it", post(http::analyse_behaviour))
            .errors(&[404, 503]),
        Route::new(Delete, "/api/v1/behaviour/sessions/{id}", Admin, "Deletes a bot-detection session, its data and its result", delete(http::delete_behaviour_session))
            .errors(&[404, 503]),
        Route::new(Get, "/api/v1/behaviour/rules", Read, "The detector's rules in force (docs/behaviour.md), their file and version, and why the file's latest change was refused, if it was", get(http::behaviour_rules)),
        Route::new(Get, "/behaviour/capture.js", Open, "The behaviour recorder a site embeds (the one the browser engine injects): it opens a session and sends its data every few seconds", get(http::behaviour_capture))
            .answer(Answer::Asset),
        Route::new(Post, "/api/v1/behaviour/score", Read, "The bot detector on posted behaviour data (docs/behaviour.md)", post(http::score_behaviour))
            .rpc("ScoreBehaviour")
            .body("behaviour data, JSON")
            .errors(&[400]),
        Route::new(Get, "/api/v1/presets", Read, "Campaign presets the dashboard offers, with {target}, {rate}, {sessions} to fill in", get(dashboard::presets)),
        Route::new(Get, "/api/v1/runs/{id}/scenarios", Read, "A stream run's scenarios and their phases", get(dashboard::scenarios))
            .rpc("ListScenarios")
            .errors(&[404, 409, 503]),
        Route::new(Post, "/api/v1/runs/{id}/scenarios/{scenario}/apply", Admin, "Starts a scenario at a simulated instant every shard has not reached", post(dashboard::apply_scenario))
            .rpc("ApplyScenario")
            .query(&[
                ("at", "string", "the simulated instant, RFC 3339 (default: just ahead of the run's clock)"),
                ("compose", "boolean", "add to the active scenarios instead of replacing them"),
            ])
            .errors(CHANGES),
        Route::new(Post, "/api/v1/runs/{id}/scenarios/stop", Admin, "Active scenarios start settling now", scenario("stop"))
            .rpc("StopScenario")
            .errors(CHANGES),
        Route::new(Post, "/api/v1/runs/{id}/scenarios/reset", Admin, "Every scenario stops bending at once: back to baseline", scenario("reset"))
            .rpc("ResetScenarios")
            .errors(CHANGES),
        Route::new(Get, "/api/v1/runs/{id}/streams", Read, "Every stream's last simulated hour against its baseline: count, ratio, the hour's usual spread, 0-100 score, flag", get(dashboard::streams))
            .errors(&[404, 409, 503]),
        Route::new(Get, "/api/v1/runs/{id}/events", Read, "External events of the run's last simulated week and the next day's, with what each moved, and the templates the run can inject", get(dashboard::events))
            .errors(&[404, 409, 503]),
        Route::new(Post, "/api/v1/runs/{id}/events", Admin, "Injects external events from the catalog's library", post(http::inject_events))
            .rpc("InjectEvents")
            .body("{\"events\": [{\"template\": NAME, \"at\": RFC 3339}]}")
            .errors(CHANGES),
        Route::new(Get, "/api/v1/runs/{id}/history", Read, "Blocks of each stream against its baseline, scores and flags", get(http::stream_history))
            .rpc("StreamHistory")
            .query(WINDOW_QUERY)
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/runs/{id}/stats", Read, "Each stream's baseline statistics over the window", get(http::stream_stats))
            .rpc("StreamHistory")
            .query(WINDOW_QUERY)
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/runs/{id}/external-events", Read, "External events of a window and what they moved", get(http::external_events))
            .rpc("ExternalEvents")
            .query(&[
                ("from", "string", "start of the window, RFC 3339"),
                ("until", "string", "end of the window, RFC 3339"),
                ("stream", "string", "how this stream moved after each event"),
                ("event", "string", "how every stream moved after this event"),
            ])
            .errors(&[400, 404, 409, 503]),
        Route::new(Get, "/api/v1/runs/{id}/subscribe", Read, "A WebSocket of the run's events by pattern: a snapshot, batches, heartbeats and resume tokens", get(http::subscribe))
            .rpc("Subscribe")
            .query(&[
                ("patterns", "string", "comma-separated stream patterns"),
                ("token", "string", "a resume token from an earlier message"),
                ("max_lag", "number", "seconds a subscriber may fall behind before it is told"),
            ])
            .answer(Answer::WebSocket)
            .errors(&[400, 404, 409]),
        Route::new(Get, "/api/v1/library", Read, "The newest version of every library item, with the campaigns that use it", get(http::library_items))
            .rpc("ListLibraryItems")
            .errors(&[503]),
        Route::new(Get, "/api/v1/library/{kind}", Read, "The newest version of each item of a kind: persona, journey or site", get(http::library_items))
            .rpc("ListLibraryItems")
            .errors(&[400, 503]),
        Route::new(Post, "/api/v1/library/{kind}", Admin, "Stores the item in the body: a new version when it changed", post(http::apply_library_item))
            .rpc("ApplyLibraryItem")
            .body("the item, YAML or JSON, as a campaign spec holds it inline")
            .errors(&[400, 409, 503]),
        Route::new(Get, "/api/v1/library/{kind}/{name}", Read, "One library item, newest unless a version is asked for", get(http::library_item))
            .rpc("GetLibraryItem")
            .query(&[("version", "integer", "the version (default: the newest)")])
            .errors(&[400, 404, 503]),
        Route::new(Delete, "/api/v1/library/{kind}/{name}", Admin, "Removes every version; refused while an unfinished campaign uses it", delete(http::delete_library_item))
            .rpc("DeleteLibraryItem")
            .errors(&[400, 404, 409, 503]),
    ]
}
