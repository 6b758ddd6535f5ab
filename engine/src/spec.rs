//! Campaign specs: the typed model, parsed from YAML or JSON documents with
//! every problem reported at its field path (not just the first one).
//!
//! A spec travels between nodes as its canonical JSON document
//! ([`CampaignSpec::to_document`]); parsing that document gives the same spec
//! back, so there is one format and one parser.

mod allowlist;
pub mod library;
pub(crate) mod reader;
mod targets;
mod traffic;

use std::time::Duration;

use serde_json::Value;

pub use allowlist::Allowlist;
use reader::Reader;
pub use targets::{Secret, TargetKind, TargetSpec, redact, redact_url_password};

use crate::campaign::load::{ArrivalSchedule, ClosedLoad};
use crate::campaign::thresholds::Threshold;
use crate::campaign::traffic::Weighted;
use crate::campaign::traffic::journey::{Journey, Site};
use crate::campaign::traffic::persona::Persona;
use crate::delivery::SinkPlan;
use crate::streams::sinks::{CAMPAIGN_STREAMS, SinkSource, SinkSpec, read_sinks};
use crate::zone::Zone;

/// The largest values a spec may ask for; beyond them a spec is rejected as absurd.
pub mod limits {
    pub const MAX_RATE: f64 = 1_000_000.0;
    pub const MAX_SESSIONS: u64 = 10_000_000_000;
    pub const MAX_PAGES: usize = 1_000;
    pub const MAX_PAGES_PER_SESSION: u64 = 1_000;
    pub const MAX_SHARDS: u64 = 4_096;
    pub const MAX_USERS: u64 = 10_000_000;
    pub const MAX_DURATION_SECS: u64 = 31 * 24 * 3600;
    pub const MAX_THINK_SECS: u64 = 3600;
    pub const MAX_NAME_LEN: usize = 128;
}

/// One problem of a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `load.rate` or `pages[2]`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<FieldError>);

impl std::fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", lines.join("; "))
    }
}

impl std::error::Error for SpecErrors {}

/// A campaign: visitor sessions, drawn from personas walking journeys,
/// against one or more targets at an open arrival rate.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignSpec {
    /// Human name; also the key of every derived id, with the seed.
    pub name: String,
    pub seed: u64,
    pub targets: Vec<TargetSpec>,
    /// Sessions' share of each target, in `targets` order.
    pub target_shares: Weighted<usize>,
    /// Paths of the site a `{page}` in a journey picks from.
    pub pages: Vec<String>,
    /// Defaults for personas that do not say otherwise.
    pub session: SessionSpec,
    pub personas: Vec<Persona>,
    /// Sessions' share of each persona, in `personas` order.
    pub persona_shares: Weighted<usize>,
    /// Built-in and custom journeys, by name.
    pub journeys: Vec<Journey>,
    /// The public URL of the simulated site (what tracking hits report).
    pub site_url: String,
    /// Shared by every session's visit context (one copy per campaign).
    pub site: std::sync::Arc<Site>,
    pub load: LoadSpec,
    /// How long the target has to answer a request, from when it is sent
    /// (a request the agent holds back for a connection waits at most as
    /// long again, then fails as `queued`).
    pub request_timeout: Duration,
    /// The share of sessions (0 to 1) exported as OpenTelemetry traces.
    pub trace_sessions: f64,
    /// Pass/fail rules over the merged stats.
    pub thresholds: Vec<Threshold>,
    /// Stop the campaign as soon as a threshold fails.
    pub abort_on_fail: bool,
    /// Where its session and request rows are delivered besides the
    /// telemetry store ([`crate::streams::sinks`]).
    pub sinks: Vec<SinkSpec>,
    /// The validated document this spec was read from: its canonical form.
    document: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SessionSpec {
    pub pages_min: u64,
    pub pages_max: u64,
    pub think_min: Duration,
    pub think_max: Duration,
}

/// The open load model: sessions arrive on an arrival schedule (a rate,
/// possibly ramping through stages) until `sessions` have arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSpec {
    /// The peak arrival rate, sessions per second.
    pub rate: f64,
    pub sessions: u64,
    /// How many shards the campaign is cut into; fixed by the spec so the
    /// output does not depend on how many agents run it.
    pub shards: u32,
    pub schedule: ArrivalSchedule,
    pub daily_cap: Option<DailyCap>,
    /// The run's length when it is bounded by time (open model).
    pub duration: Option<Duration>,
    /// Rate multipliers by hour of the day (open model).
    pub profile: Option<TimeOfDayProfile>,
    /// Set for the closed model (concurrent users) instead of arrivals.
    pub closed: Option<ClosedLoad>,
}

/// Rate multipliers for each hour of the day in `zone`: `1.0` is the spec's
/// rate, `0.2` a fifth of it.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeOfDayProfile {
    pub hours: [f64; 24],
    pub zone: Zone,
}

impl TimeOfDayProfile {
    pub fn peak(&self) -> f64 {
        self.hours.iter().copied().fold(0.0, f64::max)
    }

    /// The multiplier in force at `at_ms` (epoch milliseconds).
    pub fn at(&self, at_ms: u64) -> f64 {
        self.hours[self.zone.local_hour(at_ms)]
    }
}

/// At most `sessions` sessions per day, days starting at `day_start_minutes`
/// past midnight in `zone`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyCap {
    pub sessions: u64,
    pub day_start_minutes: u32,
    pub zone: Zone,
}

impl DailyCap {
    /// Epoch milliseconds at which the day window holding `at_ms` began.
    pub fn window_start_ms(&self, at_ms: u64) -> u64 {
        self.zone.day_start_ms(at_ms, self.day_start_minutes)
    }
}

/// Parses a YAML or JSON document; a syntax error says where it is.
pub fn parse_document(document: &str) -> Result<Value, SpecErrors> {
    serde_yaml::from_str(document).map_err(|e| {
        let path = e
            .location()
            .map(|l| format!("(line {}, column {})", l.line(), l.column()))
            .unwrap_or_else(|| "(document)".to_string());
        SpecErrors(vec![FieldError {
            path,
            message: format!("not valid YAML or JSON: {e}"),
        }])
    })
}

/// How a spec is checked beyond its own fields.
#[derive(Clone, Debug, Default)]
pub struct ValidationContext {
    pub allowlist: Allowlist,
}

impl CampaignSpec {
    /// Parses a YAML or JSON document and checks it.
    pub fn parse(document: &str, context: &ValidationContext) -> Result<Self, SpecErrors> {
        let value: Value = parse_document(document)?;
        Self::from_value(&value, context)
    }

    /// Checks an already-parsed document.
    pub fn from_value(value: &Value, context: &ValidationContext) -> Result<Self, SpecErrors> {
        let mut reader = Reader::default();
        let spec = read_spec(&mut reader, value, context);
        match (spec, reader.into_errors()) {
            (Some(spec), errors) if errors.is_empty() => Ok(spec),
            (_, errors) => Err(SpecErrors(errors)),
        }
    }

    /// The canonical document of this spec (what [`CampaignSpec::parse`]
    /// reads back), secrets included: only for sending to agents.
    pub fn to_document(&self) -> Value {
        self.document.clone()
    }

    /// The canonical document as a JSON string (secrets included).
    pub fn to_json(&self) -> String {
        self.document.to_string()
    }

    /// The document with every secret replaced by `***`, for showing.
    pub fn to_redacted_json(&self) -> String {
        redact(&self.document).to_string()
    }

    /// What the agents' deliveries open for this campaign.
    pub fn sink_plan(&self) -> SinkPlan {
        SinkPlan {
            sinks: self.sinks.clone(),
            streams: CAMPAIGN_STREAMS.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A journey by name.
    pub fn journey(&self, name: &str) -> Option<&Journey> {
        self.journeys.iter().find(|j| j.name == name)
    }
}

/// Fields a campaign spec may have.
pub(crate) const CAMPAIGN_FIELDS: &[&str] = &[
    "name",
    "seed",
    "target",
    "targets",
    "pages",
    "session",
    "personas",
    "journeys",
    "site",
    "load",
    "request_timeout",
    "trace_sessions",
    "thresholds",
    "sinks",
    "uses",
];

/// Fields of `load`.
pub(crate) const LOAD_FIELDS: &[&str] = &[
    "model",
    "users",
    "rate",
    "per_day",
    "per_hour",
    "preset",
    "stages",
    "sessions",
    "duration",
    "shards",
    "daily_cap",
    "day_start",
    "time_zone",
    "profile",
];

fn read_spec(r: &mut Reader, value: &Value, context: &ValidationContext) -> Option<CampaignSpec> {
    let root = r.object(value, "", CAMPAIGN_FIELDS)?;
    let name = r.required_str(root, "", "name");
    if let Some(name) = &name {
        let valid = !name.is_empty()
            && name.len() <= limits::MAX_NAME_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            r.error(
                "name",
                format!(
                    "must be 1 to {} characters of letters, digits, '-', '_' or '.'",
                    limits::MAX_NAME_LEN
                ),
            );
        }
    }
    let seed = r.optional_u64(root, "", "seed", 0, u64::MAX).unwrap_or(0);
    let targets = targets::read_targets(r, root, context);
    let pages = read_pages(r, root);
    let session = read_session(r, root);
    let journeys = traffic::read_journeys(r, root);
    let personas = session
        .as_ref()
        .map(|s| traffic::read_personas(r, root, s, &journeys));
    let (site_url, site) = traffic::read_site(r, root, pages.as_deref().unwrap_or(&[]));
    let load = read_load(r, root);
    let request_timeout = r
        .optional_duration(
            root,
            "",
            "request_timeout",
            Duration::from_millis(1),
            Duration::from_secs(300),
        )
        .unwrap_or(Duration::from_secs(10));
    let trace_sessions = r.probability(root, "", "trace_sessions").unwrap_or(0.0);
    let (thresholds, abort_on_fail) = read_thresholds(r, root);
    let sinks = read_sinks(r, root.get("sinks"), SinkSource::CampaignRows);
    library::read_uses(r, root);
    let targets = targets?;
    let personas = personas?;
    Some(CampaignSpec {
        name: name?,
        seed,
        target_shares: Weighted::new(targets.iter().enumerate().map(|(i, t)| (i, t.share)).collect()),
        targets,
        pages: pages?,
        session: session?,
        persona_shares: Weighted::new(personas.iter().enumerate().map(|(i, p)| (i, p.weight)).collect()),
        personas,
        journeys,
        site_url,
        site: std::sync::Arc::new(site),
        load: load?,
        request_timeout,
        trace_sessions,
        thresholds,
        abort_on_fail,
        sinks,
        document: value.clone(),
    })
}

/// `thresholds: ["p99 < 500ms", …]` or `thresholds: { rules: […], abort_on_fail: true }`.
fn read_thresholds(r: &mut Reader, root: &serde_json::Map<String, Value>) -> (Vec<Threshold>, bool) {
    let Some(value) = root.get("thresholds") else {
        return (Vec::new(), false);
    };
    let (rules, path, abort) = match value {
        Value::Array(rules) => (rules, "thresholds".to_string(), false),
        Value::Object(_) => {
            let Some(map) = r.object(value, "thresholds", &["rules", "abort_on_fail"]) else {
                return (Vec::new(), false);
            };
            let abort = match map.get("abort_on_fail") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    r.error("thresholds.abort_on_fail", "must be true or false");
                    false
                }
            };
            match map.get("rules").and_then(Value::as_array) {
                Some(rules) => (rules, "thresholds.rules".to_string(), abort),
                None => {
                    r.error(
                        "thresholds.rules",
                        "must be a list of rules such as \"p99 < 500ms\"",
                    );
                    return (Vec::new(), abort);
                }
            }
        }
        _ => {
            r.error("thresholds", "must be a list of rules such as \"p99 < 500ms\"");
            return (Vec::new(), false);
        }
    };
    let mut thresholds = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        match rule.as_str().map(Threshold::parse) {
            Some(Ok(threshold)) => thresholds.push(threshold),
            Some(Err(message)) => r.error(&format!("{path}[{i}]"), message),
            None => r.error(
                &format!("{path}[{i}]"),
                "must be a string such as \"p99 < 500ms\"",
            ),
        }
    }
    (thresholds, abort)
}

fn read_pages(r: &mut Reader, root: &serde_json::Map<String, Value>) -> Option<Vec<String>> {
    let Some(value) = root.get("pages") else {
        return Some(vec!["/".to_string()]);
    };
    let Some(items) = value.as_array() else {
        r.error("pages", "must be a list of paths");
        return None;
    };
    if items.is_empty() {
        r.error("pages", "must list at least one path");
        return None;
    }
    if items.len() > limits::MAX_PAGES {
        r.error("pages", format!("lists more than {} paths", limits::MAX_PAGES));
        return None;
    }
    let mut pages = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(path) if path.starts_with('/') && !path.contains(char::is_whitespace) => {
                pages.push(path.to_string());
            }
            _ => {
                r.error(
                    &format!("pages[{i}]"),
                    "must be a path starting with '/' and without spaces",
                );
                ok = false;
            }
        }
    }
    ok.then_some(pages)
}

/// A session of 1 to 3 pages, 0.5 to 2 s apart, unless the spec says otherwise.
impl Default for SessionSpec {
    fn default() -> Self {
        SessionSpec {
            pages_min: 1,
            pages_max: 3,
            think_min: Duration::from_millis(500),
            think_max: Duration::from_secs(2),
        }
    }
}

fn read_session(r: &mut Reader, root: &serde_json::Map<String, Value>) -> Option<SessionSpec> {
    let default = SessionSpec::default();
    let Some(value) = root.get("session") else {
        return Some(default);
    };
    let session = r.object(value, "session", &["pages", "think_time"])?;
    let (mut pages_min, mut pages_max) = (default.pages_min, default.pages_max);
    if let Some(pages) = session.get("pages")
        && let Some(range) = r.object(pages, "session.pages", &["min", "max"])
    {
        let max = limits::MAX_PAGES_PER_SESSION;
        pages_min = r
            .optional_u64(range, "session.pages", "min", 1, max)
            .unwrap_or(pages_min);
        pages_max = r
            .optional_u64(range, "session.pages", "max", 1, max)
            .unwrap_or(pages_min.max(pages_max));
        if pages_min > pages_max {
            r.error(
                "session.pages",
                format!("min ({pages_min}) is above max ({pages_max})"),
            );
        }
    }
    let (mut think_min, mut think_max) = (default.think_min, default.think_max);
    if let Some(think) = session.get("think_time")
        && let Some(range) = r.object(think, "session.think_time", &["min", "max"])
    {
        let max = Duration::from_secs(limits::MAX_THINK_SECS);
        think_min = r
            .optional_duration(range, "session.think_time", "min", Duration::ZERO, max)
            .unwrap_or(think_min);
        think_max = r
            .optional_duration(range, "session.think_time", "max", Duration::ZERO, max)
            .unwrap_or(think_min.max(think_max));
        if think_min > think_max {
            r.error(
                "session.think_time",
                format!("min ({think_min:?}) is above max ({think_max:?})"),
            );
        }
    }
    Some(SessionSpec {
        pages_min,
        pages_max,
        think_min,
        think_max,
    })
}

/// Presets for common volumes, in sessions per day.
pub const PRESETS: &[(&str, f64)] = &[
    ("light", 1_000.0),
    ("medium", 10_000.0),
    ("heavy", 50_000.0),
    ("massive", 10_000_000.0),
];

fn read_rate(r: &mut Reader, load: &serde_json::Map<String, Value>, staged: bool) -> Option<f64> {
    let given: Vec<&str> = ["rate", "per_day", "per_hour", "preset"]
        .into_iter()
        .filter(|k| load.contains_key(*k))
        .collect();
    if given.len() > 1 {
        r.error(
            "load",
            format!(
                "give one of rate, per_day, per_hour or preset, not {}",
                given.join(" and ")
            ),
        );
        return None;
    }
    let max = limits::MAX_RATE;
    let rate = match given.first().copied() {
        None if staged => Some(0.0),
        None => {
            r.error(
                "load.rate",
                "is required (sessions per second), or per_day, per_hour, preset or stages",
            );
            None
        }
        Some("rate") => r.required_f64(load, "load", "rate"),
        Some("per_day") => r.required_f64(load, "load", "per_day").map(|d| d / 86_400.0),
        Some("per_hour") => r.required_f64(load, "load", "per_hour").map(|h| h / 3_600.0),
        Some(_) => match r.optional_str(load, "load", "preset") {
            Some(name) => match PRESETS.iter().find(|(n, _)| *n == name) {
                Some((_, per_day)) => Some(per_day / 86_400.0),
                None => {
                    let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                    r.error(
                        "load.preset",
                        format!("unknown preset `{name}`; expected one of: {}", known.join(", ")),
                    );
                    None
                }
            },
            None => None,
        },
    }?;
    let field = given.first().copied().unwrap_or("rate");
    let lowest = if staged { 0.0 } else { f64::MIN_POSITIVE };
    if !(rate >= lowest && rate <= max) || (!staged && rate <= 0.0) {
        r.error(
            &format!("load.{field}"),
            format!("must give a rate above 0 and at most {max} sessions per second"),
        );
        return None;
    }
    Some(rate)
}

fn read_stages(
    r: &mut Reader,
    load: &serde_json::Map<String, Value>,
    level: &str,
    max_level: f64,
) -> Option<Vec<(Duration, f64)>> {
    let value = load.get("stages")?;
    let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
        r.error("load.stages", "must be a non-empty list of { duration, rate }");
        return None;
    };
    let mut stages = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let path = format!("load.stages[{i}]");
        let Some(stage) = r.object(item, &path, &["duration", level]) else {
            ok = false;
            continue;
        };
        let max = Duration::from_secs(limits::MAX_DURATION_SECS);
        let duration = r.optional_duration(stage, &path, "duration", Duration::from_millis(1), max);
        let rate = r.optional_f64(stage, &path, level, 0.0, max_level);
        for field in ["duration", level] {
            if !stage.contains_key(field) {
                r.error(&format!("{path}.{field}"), "is required");
            }
        }
        match (duration, rate) {
            (Some(d), Some(rate)) => stages.push((d, rate)),
            _ => ok = false,
        }
    }
    if ok && stages.iter().all(|(_, rate)| *rate <= 0.0) {
        r.error(
            "load.stages",
            format!("every stage has {level} 0: no session would ever start"),
        );
        return None;
    }
    ok.then_some(stages)
}

fn read_daily_cap(r: &mut Reader, load: &serde_json::Map<String, Value>) -> Option<DailyCap> {
    let sessions = r.optional_u64(load, "load", "daily_cap", 1, limits::MAX_SESSIONS);
    let day_start = r.optional_str(load, "load", "day_start");
    let zone = r.optional_str(load, "load", "time_zone");
    let day_start_minutes = match day_start.as_deref().map(parse_clock) {
        None => Some(0),
        Some(Some(minutes)) if minutes < 24 * 60 => Some(minutes as u32),
        Some(_) => {
            r.error("load.day_start", "must be a time of day as HH:MM, e.g. \"06:00\"");
            None
        }
    };
    let parsed_zone = read_time_zone(r, zone.as_deref());
    if sessions.is_none() && (day_start.is_some() || (zone.is_some() && !load.contains_key("profile"))) {
        r.error(
            "load.daily_cap",
            "day_start and time_zone only apply with a daily_cap (or, time_zone, a profile)",
        );
    }
    Some(DailyCap {
        sessions: sessions?,
        day_start_minutes: day_start_minutes?,
        zone: parsed_zone?,
    })
}

/// `UTC` (the default), a fixed offset such as `+02:00`, or an IANA name.
fn read_time_zone(r: &mut Reader, zone: Option<&str>) -> Option<Zone> {
    match zone.map(Zone::parse) {
        None => Some(Zone::default()),
        Some(Ok(zone)) => Some(zone),
        Some(Err(problem)) => {
            r.error("load.time_zone", problem);
            None
        }
    }
}

/// `profile: [24 multipliers]`, one per hour of the day in `time_zone`.
fn read_profile(r: &mut Reader, load: &serde_json::Map<String, Value>) -> Option<Option<TimeOfDayProfile>> {
    let Some(value) = load.get("profile") else {
        return Some(None);
    };
    let weights: Option<Vec<f64>> = value.as_array().filter(|a| a.len() == 24).and_then(|a| {
        a.iter()
            .map(|v| v.as_f64().filter(|w| w.is_finite() && *w >= 0.0))
            .collect()
    });
    let Some(weights) = weights.filter(|w| w.iter().any(|x| *x > 0.0)) else {
        r.error(
            "load.profile",
            "must be 24 multipliers >= 0 (one per hour of the day), not all 0",
        );
        return None;
    };
    let zone = r.optional_str(load, "load", "time_zone");
    let zone = read_time_zone(r, zone.as_deref())?;
    let mut hours = [0.0; 24];
    hours.copy_from_slice(&weights);
    Some(Some(TimeOfDayProfile { hours, zone }))
}

/// `HH:MM` as minutes, for a time of day (the hour checked before any
/// arithmetic: a fuzzer's 30-digit hour overflowed it).
fn parse_clock(text: &str) -> Option<i32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then(|| h * 60 + m)
}

fn read_load(r: &mut Reader, root: &serde_json::Map<String, Value>) -> Option<LoadSpec> {
    let Some(value) = root.get("load") else {
        r.error("load", "is required (a rate, and sessions or duration)");
        return None;
    };
    let load = r.object(value, "load", LOAD_FIELDS)?;
    match r.optional_str(load, "load", "model").as_deref() {
        None | Some("open") => {}
        Some("closed") => return read_closed_load(r, load),
        Some(other) => {
            r.error(
                "load.model",
                format!("unknown model `{other}`; expected open or closed"),
            );
            return None;
        }
    }
    if load.contains_key("users") {
        r.error("load.users", "only applies to the closed model (model: closed)");
    }
    let stages = read_stages(r, load, "rate", limits::MAX_RATE);
    let staged = load.contains_key("stages");
    let rate = read_rate(r, load, staged);
    let sessions = r.optional_u64(load, "load", "sessions", 1, limits::MAX_SESSIONS);
    let max = Duration::from_secs(limits::MAX_DURATION_SECS);
    let duration = r.optional_duration(load, "load", "duration", Duration::from_millis(1), max);
    let shards = r
        .optional_u64(load, "load", "shards", 1, limits::MAX_SHARDS)
        .unwrap_or(8) as u32;
    let daily_cap = read_daily_cap(r, load);
    let profile = read_profile(r, load);
    let rate = rate?;
    let profile = profile?;
    let stages = if staged { stages? } else { Vec::new() };
    // With a profile, arrivals are scheduled at its peak and thinned per hour.
    let peak = profile.as_ref().map_or(1.0, TimeOfDayProfile::peak);
    let scaled: Vec<(Duration, f64)> = stages.iter().map(|(d, r)| (*d, r * peak)).collect();
    let schedule = ArrivalSchedule::staged(rate * peak, &scaled);
    let stages_total: Duration = stages.iter().map(|(d, _)| *d).sum();
    let sessions = match (load.contains_key("sessions"), load.contains_key("duration")) {
        (true, true) => {
            r.error("load", "give either sessions or duration, not both");
            return None;
        }
        (false, false) if staged => schedule.sessions_within(stages_total),
        (false, false) => {
            r.error("load", "needs sessions or duration to bound the campaign");
            return None;
        }
        (true, false) => sessions?,
        (false, true) => schedule.sessions_within(duration?),
    };
    if sessions > limits::MAX_SESSIONS {
        r.error(
            "load",
            format!("the campaign would exceed {} sessions", limits::MAX_SESSIONS),
        );
        return None;
    }
    if sessions == 0 {
        r.error("load", "no session would arrive within the given duration");
        return None;
    }
    if schedule.offset_secs(sessions - 1).is_none() {
        r.error(
            "load.stages",
            format!("the rate falls to 0 before {sessions} sessions have arrived"),
        );
        return None;
    }
    Some(LoadSpec {
        rate: schedule.peak_rate(),
        sessions,
        shards,
        schedule,
        daily_cap,
        duration: if load.contains_key("duration") {
            duration
        } else if staged {
            Some(stages_total)
        } else {
            None
        },
        profile,
        closed: None,
    })
}

/// The closed model: `users` (or stages of users) each running sessions back
/// to back, for a duration or a number of sessions.
fn read_closed_load(r: &mut Reader, load: &serde_json::Map<String, Value>) -> Option<LoadSpec> {
    for field in [
        "rate",
        "per_day",
        "per_hour",
        "preset",
        "daily_cap",
        "day_start",
        "time_zone",
        "profile",
    ] {
        if load.contains_key(field) {
            r.error(&format!("load.{field}"), "only applies to the open model");
        }
    }
    let staged = load.contains_key("stages");
    let stages = if staged {
        read_stages(r, load, "users", limits::MAX_USERS as f64)
    } else {
        Some(Vec::new())
    };
    let users = r.optional_u64(
        load,
        "load",
        "users",
        if staged { 0 } else { 1 },
        limits::MAX_USERS,
    );
    if !staged && !load.contains_key("users") {
        r.error(
            "load.users",
            "is required for the closed model (or stages of users)",
        );
    }
    let sessions = r.optional_u64(load, "load", "sessions", 1, limits::MAX_SESSIONS);
    let max = Duration::from_secs(limits::MAX_DURATION_SECS);
    let duration = r.optional_duration(load, "load", "duration", Duration::from_millis(1), max);
    let shards = r
        .optional_u64(load, "load", "shards", 1, limits::MAX_SHARDS)
        .unwrap_or(8) as u32;
    let stages = stages?;
    let users = ArrivalSchedule::staged(users.unwrap_or(0) as f64, &stages);
    let stages_total: Duration = stages.iter().map(|(d, _)| *d).sum();
    let (sessions, duration) = match (load.contains_key("sessions"), load.contains_key("duration")) {
        (true, true) => (sessions?, duration),
        (true, false) => (sessions?, None),
        (false, true) => (u64::MAX, duration),
        (false, false) if staged => (u64::MAX, Some(stages_total)),
        (false, false) => {
            r.error("load", "needs sessions or duration to bound the campaign");
            return None;
        }
    };
    Some(LoadSpec {
        rate: 0.0,
        sessions,
        shards,
        schedule: ArrivalSchedule::constant(0.0),
        daily_cap: None,
        duration,
        profile: None,
        closed: Some(ClosedLoad { users, duration }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: demo
seed: 7
target: { url: "http://127.0.0.1:8080/" }
pages: ["/", "/products"]
session:
  pages: { min: 2, max: 4 }
  think_time: { min: 100ms, max: 1s }
load: { rate: 20, duration: 30s, shards: 4 }
"#;

    fn context() -> ValidationContext {
        ValidationContext::default()
    }

    #[test]
    fn a_good_spec_parses_and_round_trips() {
        let spec = CampaignSpec::parse(GOOD, &context()).expect("valid");
        assert_eq!(spec.targets[0].url, "http://127.0.0.1:8080");
        assert_eq!(spec.targets[0].kind, TargetKind::Http);
        assert_eq!(spec.personas.len(), 1, "a default persona");
        assert_eq!(spec.load.sessions, 600);
        assert_eq!(spec.load.shards, 4);
        assert_eq!(spec.session.think_max, Duration::from_secs(1));
        let again = CampaignSpec::parse(&spec.to_json(), &context()).expect("canonical form parses");
        assert_eq!(again, spec);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = r#"
name: "bad name!"
colour: blue
target: { url: "ftp://127.0.0.1/" }
pages: ["/", "nope", 3]
session:
  pages: { min: 5, max: 2 }
  think_time: { min: soon }
load: { rate: -3, sessions: 0, shards: 100000 }
"#;
        let errors = CampaignSpec::parse(bad, &context()).expect_err("invalid").0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for expected in [
            "name",
            "colour",
            "target.url",
            "pages[1]",
            "pages[2]",
            "session.pages",
            "session.think_time.min",
            "load.rate",
            "load.sessions",
            "load.shards",
        ] {
            assert!(paths.contains(&expected), "missing {expected} in {errors:?}");
        }
    }

    #[test]
    fn https_targets_take_a_trust_setting() {
        use crate::http::TlsTrust;
        let https = GOOD.replace("http://127.0.0.1:8080", "https://127.0.0.1:8443");
        let spec = CampaignSpec::parse(&https, &context()).expect("https is a target");
        assert_eq!(spec.targets[0].tls, TlsTrust::PublicRoots);
        let unverified = https.replace(
            "https://127.0.0.1:8443/\"",
            "https://127.0.0.1:8443/\", tls: { verify: false }",
        );
        assert_ne!(unverified, https, "the fixture has the URL quoted");
        let spec = CampaignSpec::parse(&unverified, &context()).expect("verify: false");
        assert_eq!(spec.targets[0].tls, TlsTrust::Unverified);
        let cases = [
            (
                "https://127.0.0.1:8443/\", tls: { ca: \"not pem\" }",
                "target.tls.ca",
            ),
            (
                "https://127.0.0.1:8443/\", tls: { verify: maybe }",
                "target.tls.verify",
            ),
            ("https://127.0.0.1:8443/\", tls: { pin: x }", "target.tls.pin"),
            ("http://127.0.0.1:8443/\", tls: { verify: false }", "target.tls"),
        ];
        for (replacement, path) in cases {
            let text = https.replace("https://127.0.0.1:8443/\"", replacement);
            let errors = CampaignSpec::parse(&text, &context()).expect_err(replacement).0;
            assert!(errors.iter().any(|e| e.path == path), "{replacement}: {errors:?}");
        }
    }

    #[test]
    fn missing_fields_and_disallowed_hosts_are_rejected() {
        let errors = CampaignSpec::parse("name: x\n", &context())
            .expect_err("invalid")
            .0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"target") && paths.contains(&"load"), "{errors:?}");

        let outside = GOOD.replace("127.0.0.1:8080", "example.com");
        let errors = CampaignSpec::parse(&outside, &context())
            .expect_err("not allowed")
            .0;
        assert_eq!(errors[0].path, "target.url");
        assert!(errors[0].message.contains("allowlist"), "{errors:?}");

        let allowing = ValidationContext {
            allowlist: Allowlist::parse(&["example.com".to_string()]).expect("allowlist"),
        };
        assert!(CampaignSpec::parse(&outside, &allowing).is_ok());
    }

    #[test]
    fn syntax_errors_and_absurd_sizes_are_clear() {
        let errors = CampaignSpec::parse("name: [unclosed", &context())
            .expect_err("bad yaml")
            .0;
        assert!(errors[0].message.contains("not valid YAML"), "{errors:?}");
        let huge = GOOD.replace("rate: 20, duration: 30s", "rate: 1e12, sessions: 5");
        let errors = CampaignSpec::parse(&huge, &context()).expect_err("absurd").0;
        assert_eq!(errors[0].path, "load.rate");
        let both = GOOD.replace("duration: 30s", "duration: 30s, sessions: 4");
        let errors = CampaignSpec::parse(&both, &context()).expect_err("both bounds").0;
        assert_eq!(errors[0].path, "load");
    }

    fn load(text: &str) -> Result<LoadSpec, Vec<String>> {
        let doc = format!("name: l\ntarget: {{ url: \"http://127.0.0.1:1\" }}\nload: {text}\n");
        CampaignSpec::parse(&doc, &context())
            .map(|s| s.load)
            .map_err(|e| {
                e.0.into_iter()
                    .map(|f| format!("{}: {}", f.path, f.message))
                    .collect()
            })
    }

    #[test]
    fn load_models_parse() {
        let staged =
            load("{ stages: [{ duration: 10s, rate: 10 }, { duration: 10s, rate: 10 }] }").expect("stages");
        assert_eq!(staged.sessions, 150, "ramp 0→10 (50) then hold (100)");
        assert_eq!(staged.rate, 10.0);
        let daily = load("{ per_day: 86400, sessions: 10 }").expect("per day");
        assert!((daily.rate - 1.0).abs() < 1e-12);
        let preset = load("{ preset: medium, duration: 1h }").expect("preset");
        assert_eq!(preset.sessions, 417, "10k/day for an hour");
        let capped =
            load("{ rate: 5, sessions: 100, daily_cap: 40, day_start: \"06:30\", time_zone: \"+02:00\" }")
                .expect("cap");
        let cap = capped.daily_cap.expect("a cap");
        assert_eq!(
            (cap.sessions, cap.day_start_minutes, cap.zone.clone()),
            (40, 390, Zone::Fixed(120))
        );
        // 2026-01-01T04:30Z is 06:30 at +02:00: a window starts there.
        let window = 1_767_241_800_000u64;
        assert_eq!(cap.window_start_ms(window + 5_000), window);
        assert_eq!(cap.window_start_ms(window - 5_000), window - 86_400_000);
        let named =
            load("{ rate: 5, sessions: 100, daily_cap: 40, time_zone: Europe/Paris }").expect("named zone");
        let cap = named.daily_cap.expect("a cap");
        // 2026-07-15T00:00 in Paris (summer, UTC+2) is 2026-07-14T22:00Z.
        let midnight = 1_784_066_400_000u64;
        assert_eq!(cap.window_start_ms(midnight + 3_600_000), midnight);
    }

    #[test]
    fn load_mistakes_are_reported() {
        let cases = [
            ("{ rate: 5, per_day: 100, sessions: 1 }", "load: give one of"),
            ("{ preset: galactic, sessions: 1 }", "load.preset: unknown preset"),
            (
                "{ stages: [{ duration: 10s }] }",
                "load.stages[0].rate: is required",
            ),
            (
                "{ stages: [{ duration: 5s, rate: 0 }] }",
                "every stage has rate 0",
            ),
            (
                "{ stages: [{ duration: 10s, rate: 1 }, { duration: 10s, rate: 0 }], sessions: 1000 }",
                "falls to 0",
            ),
            ("{ rate: 1, sessions: 5, daily_cap: 0 }", "load.daily_cap"),
            (
                "{ rate: 1, sessions: 5, daily_cap: 3, day_start: \"25:00\" }",
                "load.day_start",
            ),
            (
                "{ rate: 1, sessions: 5, daily_cap: 3, time_zone: \"Mars/Olympus\" }",
                "load.time_zone",
            ),
            (
                "{ rate: 1, sessions: 5, time_zone: UTC }",
                "only apply with a daily_cap",
            ),
        ];
        for (text, expected) in cases {
            let errors = load(text).expect_err(text);
            assert!(errors.iter().any(|e| e.contains(expected)), "{text}: {errors:?}");
        }
    }

    #[test]
    fn the_closed_model_parses_and_refuses_open_fields() {
        let closed = load("{ model: closed, users: 50, duration: 10m }").expect("closed");
        let users = closed.closed.expect("closed model");
        assert_eq!(users.users.level_at(0.0), 50.0);
        assert_eq!(users.duration, Some(Duration::from_secs(600)));
        assert_eq!(closed.sessions, u64::MAX, "bounded by time");
        let staged = load("{ model: closed, stages: [{ duration: 1m, users: 100 }] }").expect("stages");
        assert_eq!(
            staged.closed.expect("closed").duration,
            Some(Duration::from_secs(60))
        );
        for (text, expected) in [
            ("{ model: closed, duration: 1m }", "load.users: is required"),
            (
                "{ model: closed, users: 5, rate: 3, duration: 1m }",
                "load.rate: only applies to the open model",
            ),
            ("{ model: closed, users: 5 }", "needs sessions or duration"),
            (
                "{ rate: 5, users: 3, sessions: 1 }",
                "load.users: only applies to the closed model",
            ),
            ("{ model: pull, users: 5 }", "load.model: unknown model"),
        ] {
            let errors = load(text).expect_err(text);
            assert!(errors.iter().any(|e| e.contains(expected)), "{text}: {errors:?}");
        }
    }

    /// The published schema (docs/campaign.schema.json) names exactly the
    /// fields the reader accepts, so editors and the server agree.
    #[test]
    fn the_published_schema_matches_the_reader() {
        let schema: Value =
            serde_json::from_str(include_str!("../../docs/campaign.schema.json")).expect("schema is JSON");
        let keys = |v: &Value| -> Vec<String> {
            let mut k: Vec<String> = v["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .cloned()
                .collect();
            k.sort();
            k
        };
        let sorted = |fields: &[&str]| -> Vec<String> {
            let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
            f.sort();
            f
        };
        assert_eq!(keys(&schema), sorted(CAMPAIGN_FIELDS));
        assert_eq!(keys(&schema["$defs"]["load"]), sorted(LOAD_FIELDS));
        assert_eq!(keys(&schema["$defs"]["target"]), sorted(targets::TARGET_FIELDS));
        assert_eq!(keys(&schema["$defs"]["persona"]), sorted(traffic::PERSONA_FIELDS));
        let actions: Vec<String> = schema["$defs"]["journey"]["properties"]["steps"]["additionalProperties"]
            ["properties"]["action"]["enum"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| a.as_str().unwrap_or_default().to_string())
            .collect();
        let known: Vec<String> = crate::campaign::traffic::journey::Action::ALL
            .iter()
            .map(|a| a.name().to_string())
            .collect();
        assert_eq!(actions, known);
    }

    #[test]
    fn a_profile_scales_the_schedule_to_its_peak() {
        let hours: Vec<String> = (0..24)
            .map(|h| {
                if h < 8 {
                    "0.25".to_string()
                } else {
                    "2".to_string()
                }
            })
            .collect();
        let spec = load(&format!(
            "{{ rate: 10, duration: 1h, profile: [{}], time_zone: \"+01:00\" }}",
            hours.join(", ")
        ))
        .expect("profile");
        let profile = spec.profile.expect("a profile");
        assert_eq!(profile.peak(), 2.0);
        assert_eq!(profile.zone, Zone::Fixed(60));
        assert_eq!(spec.rate, 20.0, "scheduled at the peak, thinned per hour");
        // 06:30 UTC is 07:30 at +01:00: a quarter-rate hour.
        assert_eq!(profile.at(6 * 3_600_000 + 1_800_000), 0.25);
        assert_eq!(profile.at(7 * 3_600_000 + 1_800_000), 2.0);
        for (text, expected) in [
            ("{ rate: 1, sessions: 5, profile: [1, 2] }", "24 multipliers"),
            (
                "{ model: closed, users: 3, duration: 1m, profile: [] }",
                "only applies to the open model",
            ),
        ] {
            let errors = load(text).expect_err(text);
            assert!(errors.iter().any(|e| e.contains(expected)), "{text}: {errors:?}");
        }
    }
}
