//! The stream catalog: streams, their rhythms, value distributions, chains
//! and links, read from a YAML or JSON document and validated as a whole.
//! Every problem is reported with its field path; a catalog that loads can be
//! generated without further checks.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::definition::{
    Anomalies, Arrival, Cadence, Chain, Condition, FieldDef, Link, Outcome, StreamDef, ValueDist,
};
use super::external::{EventTemplate, ExternalEvents, read_external, read_own_event};
use super::rhythm::{Holiday, Rhythm, Season};
use super::scenario::{EVENT_PREFIX, ScenarioDef, ScenarioRun, read_scenarios};
use crate::spec::SpecErrors;
use crate::spec::reader::Reader;
use crate::zone::Zone;

/// The catalog that ships with Throng: 50 streams of a tutoring marketplace.
pub const BUILTIN_CATALOG: &str = include_str!("../../../catalog/tutoring.yaml");

/// The most entity kinds a stream can name.
pub const MAX_ENTITIES: usize = 4;
/// The longest delay a chain may have.
const MAX_DELAY: Duration = Duration::from_secs(30 * 86_400);

#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    pub name: String,
    pub seed: u64,
    pub zone: Zone,
    /// Entity kinds and the size of each pool (students, tutors…).
    pub entities: Vec<(String, u64)>,
    pub anomalies: Anomalies,
    pub rhythms: Vec<(String, Rhythm)>,
    pub streams: Vec<StreamDef>,
    pub chains: Vec<Chain>,
    pub links: Vec<Link>,
    pub scenarios: Vec<ScenarioDef>,
    pub external_events: ExternalEvents,
    /// For each stream, the chains whose `from` it is.
    pub chains_from: Vec<Vec<usize>>,
}

const CATALOG_FIELDS: &[&str] = &[
    "name",
    "seed",
    "time_zone",
    "entities",
    "anomalies",
    "rhythms",
    "streams",
    "chains",
    "links",
    "scenarios",
    "external_events",
];
const STREAM_FIELDS: &[&str] = &[
    "name", "domain", "cadence", "rate", "every", "rhythm", "entities", "fields",
];
const RHYTHM_FIELDS: &[&str] = &["hours", "weekend", "seasons", "holidays", "growth_per_month"];
const CHAIN_FIELDS: &[&str] = &["name", "from", "when", "outcomes"];
const OUTCOME_FIELDS: &[&str] = &["stream", "probability", "delay", "repeat"];

impl Catalog {
    /// The catalog that ships with Throng.
    pub fn builtin() -> Catalog {
        Catalog::parse(BUILTIN_CATALOG).expect("the built-in catalog is valid (a test holds it)")
    }

    /// The built-in catalog, parsed once per process: stream runs name it in
    /// every document the coordinator reads back on each reconcile round.
    pub fn builtin_shared() -> Arc<Catalog> {
        static BUILTIN: std::sync::OnceLock<Arc<Catalog>> = std::sync::OnceLock::new();
        BUILTIN.get_or_init(|| Arc::new(Catalog::builtin())).clone()
    }

    /// Parses and validates a YAML or JSON catalog.
    pub fn parse(document: &str) -> Result<Catalog, SpecErrors> {
        let value: Value = crate::spec::parse_document(document)?;
        Catalog::from_value(&value, "")
    }

    /// Validates an already-parsed catalog found at `path` of a larger
    /// document (`""` for a catalog of its own).
    pub fn from_value(value: &Value, path: &str) -> Result<Catalog, SpecErrors> {
        let mut reader = Reader::default();
        let catalog = read_catalog(&mut reader, value);
        let mut errors = reader.into_errors();
        if !path.is_empty() {
            for error in &mut errors {
                error.path = if error.path == "(document)" {
                    path.to_string()
                } else {
                    format!("{path}.{}", error.path)
                };
            }
        }
        match catalog {
            Some(catalog) if errors.is_empty() => Ok(catalog),
            _ => Err(SpecErrors(errors)),
        }
    }

    pub fn stream(&self, name: &str) -> Option<usize> {
        self.streams.iter().position(|s| &*s.name == name)
    }

    pub fn chain(&self, name: &str) -> Option<usize> {
        self.chains.iter().position(|c| c.name == name)
    }

    /// The event templates a timeline can name: the library's, then each
    /// event of the user's own the timeline carries (its id is the entry's
    /// name; it was validated when injected, so one that no longer reads
    /// against this catalog is left out).
    pub fn event_library(&self, timeline: &[ScenarioRun]) -> Cow<'_, [EventTemplate]> {
        let library = &self.external_events.library;
        let own: Vec<EventTemplate> = timeline
            .iter()
            .filter_map(|entry| {
                let definition = entry.event.as_ref()?;
                let id = entry.scenario.strip_prefix(EVENT_PREFIX)?;
                let mut own = read_own_event(definition, "event", &self.streams, library).ok()?;
                own.id = id.to_string();
                Some(own)
            })
            .collect();
        if own.is_empty() {
            Cow::Borrowed(library)
        } else {
            Cow::Owned(library.iter().cloned().chain(own).collect())
        }
    }

    /// Streams with arrivals of their own: each roots one generation shard
    /// (it and every event its chains lead to).
    pub fn roots(&self) -> Vec<usize> {
        (0..self.streams.len())
            .filter(|i| self.streams[*i].arrival != Arrival::Follows)
            .collect()
    }

    /// The roots whose shards produce events of `stream`.
    pub fn roots_reaching(&self, stream: usize) -> Vec<usize> {
        self.roots()
            .into_iter()
            .filter(|root| {
                let mut stack = vec![*root];
                let mut seen = vec![false; self.streams.len()];
                while let Some(s) = stack.pop() {
                    if s == stream {
                        return true;
                    }
                    if !std::mem::replace(&mut seen[s], true) {
                        for chain in &self.chains_from[s] {
                            stack.extend(self.chains[*chain].outcomes.iter().map(|o| o.stream));
                        }
                    }
                }
                false
            })
            .collect()
    }

    /// The longest time from a root event to the last event its chains can
    /// lead to: how far back a shard must replay to resume exactly.
    pub fn follow_span_ms(&self, stream: usize) -> i64 {
        self.chains_from[stream]
            .iter()
            .flat_map(|c| &self.chains[*c].outcomes)
            .map(|o| o.delay_max_ms + self.follow_span_ms(o.stream))
            .max()
            .unwrap_or(0)
    }
}

fn read_catalog(r: &mut Reader, value: &Value) -> Option<Catalog> {
    let root = r.object(value, "", CATALOG_FIELDS)?;
    let name = r.required_str(root, "", "name");
    let seed = r.optional_u64(root, "", "seed", 0, u64::MAX).unwrap_or(0);
    let zone = match r.optional_str(root, "", "time_zone").map(|z| Zone::parse(&z)) {
        None => Some(Zone::default()),
        Some(Ok(zone)) => Some(zone),
        Some(Err(problem)) => {
            r.error("time_zone", problem);
            None
        }
    };
    let entities = read_entities(r, root);
    let anomalies = read_anomalies(r, root);
    let rhythms = read_rhythms(r, root);
    let rhythm_names: Vec<&str> = rhythms.iter().map(|(n, _)| n.as_str()).collect();
    let entity_names: Vec<&str> = entities.iter().map(|(n, _)| n.as_str()).collect();
    let (streams, positions) = read_streams(r, root, &rhythm_names, &entity_names);
    let names: HashMap<&str, usize> = streams.iter().enumerate().map(|(i, s)| (&*s.name, i)).collect();
    let chains = read_chains(r, root, &streams, &names);
    let links = read_links(r, root, &names);
    let external_events = read_external(r, root, &streams);
    let templates: Vec<&str> = external_events.library.iter().map(|t| t.id.as_str()).collect();
    let scenarios = read_scenarios(r, root, &streams, &chains, &templates);

    let mut chains_from = vec![Vec::new(); streams.len()];
    for (i, chain) in chains.iter().enumerate() {
        chains_from[chain.from].push(i);
    }
    check_chain_graph(r, &streams, &positions, &chains, &chains_from);
    check_inheritance(r, &streams, &chains);
    check_connected(r, &streams, &positions, &chains, &links);
    Some(Catalog {
        name: name?,
        seed,
        zone: zone?,
        entities,
        anomalies: anomalies?,
        rhythms,
        streams,
        chains,
        links,
        scenarios,
        external_events,
        chains_from,
    })
}

fn read_entities(r: &mut Reader, root: &Map<String, Value>) -> Vec<(String, u64)> {
    let Some(value) = root.get("entities") else {
        return Vec::new();
    };
    let Some(map) = value.as_object() else {
        r.error(
            "entities",
            "must map entity kinds to pool sizes, e.g. { student: 40000 }",
        );
        return Vec::new();
    };
    let mut entities = Vec::new();
    for (kind, size) in map {
        match size.as_u64() {
            Some(size) if (1..=u64::from(u32::MAX)).contains(&size) => entities.push((kind.clone(), size)),
            _ => r.error(&format!("entities.{kind}"), "must be a pool size of at least 1"),
        }
    }
    if entities.len() > MAX_ENTITIES {
        r.error("entities", format!("at most {MAX_ENTITIES} entity kinds"));
        entities.truncate(MAX_ENTITIES);
    }
    entities
}

fn read_anomalies(r: &mut Reader, root: &Map<String, Value>) -> Option<Anomalies> {
    let Some(value) = root.get("anomalies") else {
        return Some(Anomalies {
            share: 0.0,
            min: 0.0,
            max: 0.0,
        });
    };
    let map = r.object(value, "anomalies", &["share", "min", "max"])?;
    let share = r.probability(map, "anomalies", "share").unwrap_or(0.0);
    let min = r.optional_f64(map, "anomalies", "min", 0.0, 0.95).unwrap_or(0.0);
    let max = r.optional_f64(map, "anomalies", "max", 0.0, 0.95).unwrap_or(min);
    if min > max {
        r.error("anomalies.min", "must not exceed anomalies.max");
        return None;
    }
    Some(Anomalies { share, min, max })
}

fn read_rhythms(r: &mut Reader, root: &Map<String, Value>) -> Vec<(String, Rhythm)> {
    let mut rhythms = vec![("flat".to_string(), Rhythm::flat())];
    let Some(value) = root.get("rhythms") else {
        return rhythms;
    };
    let Some(map) = value.as_object() else {
        r.error("rhythms", "must map rhythm names to rhythms");
        return rhythms;
    };
    for (name, value) in map {
        let path = format!("rhythms.{name}");
        if let Some(rhythm) = read_rhythm(r, value, &path) {
            rhythms.retain(|(n, _)| n != name);
            rhythms.push((name.clone(), rhythm));
        }
    }
    rhythms
}

fn read_rhythm(r: &mut Reader, value: &Value, path: &str) -> Option<Rhythm> {
    let map = r.object(value, path, RHYTHM_FIELDS)?;
    let mut rhythm = Rhythm::flat();
    if let Some(hours) = map.get("hours") {
        let values: Option<Vec<f64>> = hours.as_array().filter(|a| a.len() == 24).and_then(|a| {
            a.iter()
                .map(|v| v.as_f64().filter(|x| x.is_finite() && *x >= 0.0))
                .collect()
        });
        match values.filter(|v| v.iter().sum::<f64>() > 0.0) {
            Some(values) => {
                let mean = values.iter().sum::<f64>() / 24.0;
                for (slot, v) in rhythm.hours.iter_mut().zip(values) {
                    *slot = v / mean;
                }
            }
            None => r.error(
                &format!("{path}.hours"),
                "must be 24 multipliers >= 0, one per hour from 00:00, not all 0",
            ),
        }
    }
    rhythm.weekend = r.optional_f64(map, path, "weekend", 0.0, 100.0).unwrap_or(1.0);
    rhythm.growth_per_month = r
        .optional_f64(map, path, "growth_per_month", -0.5, 1.0)
        .unwrap_or(0.0);
    if let Some(seasons) = map.get("seasons") {
        for (i, season) in seasons.as_array().into_iter().flatten().enumerate() {
            let path = format!("{path}.seasons[{i}]");
            let Some(s) = r.object(season, &path, &["name", "months", "multiplier"]) else {
                continue;
            };
            let name = r.required_str(s, &path, "name").unwrap_or_default();
            let multiplier = r.required_f64(s, &path, "multiplier");
            let months: Option<Vec<u32>> = s.get("months").and_then(Value::as_array).and_then(|a| {
                a.iter()
                    .map(|m| m.as_u64().filter(|m| (1..=12).contains(m)).map(|m| m as u32))
                    .collect()
            });
            match (months, multiplier) {
                (Some(months), Some(multiplier)) if multiplier > 0.0 => rhythm.seasons.push(Season {
                    name,
                    months,
                    multiplier,
                }),
                (None, _) => r.error(&format!("{path}.months"), "must be a list of months 1-12"),
                _ => r.error(&format!("{path}.multiplier"), "must be a number > 0"),
            }
        }
        if !seasons.is_array() {
            r.error(&format!("{path}.seasons"), "must be a list");
        }
    }
    if let Some(holidays) = map.get("holidays") {
        for (i, holiday) in holidays.as_array().into_iter().flatten().enumerate() {
            let path = format!("{path}.holidays[{i}]");
            let Some(h) = r.object(holiday, &path, &["name", "from", "to", "multiplier"]) else {
                continue;
            };
            let name = r.required_str(h, &path, "name").unwrap_or_default();
            let mut day = |field: &str| {
                let text = r.required_str(h, &path, field)?;
                let parsed = parse_month_day(&text);
                if parsed.is_none() {
                    r.error(
                        &format!("{path}.{field}"),
                        "must be a day of the year as MM-DD, e.g. \"12-24\"",
                    );
                }
                parsed
            };
            let (from, to) = (day("from"), day("to"));
            let multiplier = r.required_f64(h, &path, "multiplier");
            if multiplier.is_some_and(|m| m <= 0.0) {
                r.error(&format!("{path}.multiplier"), "must be a number > 0");
            }
            if let (Some(from), Some(to), Some(multiplier)) = (from, to, multiplier.filter(|m| *m > 0.0)) {
                rhythm.holidays.push(Holiday {
                    name,
                    from,
                    to,
                    multiplier,
                });
            }
        }
        if !holidays.is_array() {
            r.error(&format!("{path}.holidays"), "must be a list");
        }
    }
    Some(rhythm)
}

/// `MM-DD` as (month, day).
fn parse_month_day(text: &str) -> Option<(u32, u32)> {
    let (m, d) = text.split_once('-')?;
    let (m, d): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((m, d))
}

/// The streams that read well, and for each its index in the document (for
/// error paths).
fn read_streams(
    r: &mut Reader,
    root: &Map<String, Value>,
    rhythms: &[&str],
    entities: &[&str],
) -> (Vec<StreamDef>, Vec<usize>) {
    let Some(items) = root
        .get("streams")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    else {
        r.error("streams", "is required: a non-empty list of streams");
        return (Vec::new(), Vec::new());
    };
    let mut streams: Vec<StreamDef> = Vec::new();
    let mut positions = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("streams[{i}]");
        if let Some(name) = item.get("name").and_then(Value::as_str)
            && !seen.insert(name.to_string())
        {
            r.error(&format!("{path}.name"), format!("`{name}` is defined twice"));
            continue;
        }
        if let Some(stream) = read_stream(r, item, &path, rhythms, entities) {
            streams.push(stream);
            positions.push(i);
        }
    }
    if streams.len() > usize::from(u16::MAX) {
        r.error("streams", "too many streams (at most 65535)");
    }
    (streams, positions)
}

fn read_stream(
    r: &mut Reader,
    value: &Value,
    path: &str,
    rhythms: &[&str],
    entities: &[&str],
) -> Option<StreamDef> {
    let map = r.object(value, path, STREAM_FIELDS)?;
    let name = r.required_str(map, path, "name");
    if let Some(name) = &name
        && (name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
    {
        r.error(
            &format!("{path}.name"),
            "must be letters, digits, `.`, `_` or `-`",
        );
    }
    let prefix = name
        .as_deref()
        .and_then(|n| n.split('.').next())
        .unwrap_or_default()
        .to_string();
    let domain = r
        .optional_str(map, path, "domain")
        .unwrap_or_else(|| prefix.clone());
    let cadence = match r.optional_str(map, path, "cadence").as_deref() {
        None | Some("medium") => Some(Cadence::Medium),
        Some("high") => Some(Cadence::High),
        Some("low") => Some(Cadence::Low),
        Some(other) => {
            r.error(
                &format!("{path}.cadence"),
                format!("unknown cadence `{other}`; expected high, medium or low"),
            );
            None
        }
    };
    let rate = r.optional_f64(map, path, "rate", 0.0, 1e9);
    if map.contains_key("rate") && rate.is_some_and(|x| x <= 0.0) {
        r.error(&format!("{path}.rate"), "must be more than 0 events per hour");
    }
    let every = r.optional_duration(
        map,
        path,
        "every",
        Duration::from_secs(1),
        Duration::from_secs(7 * 86_400),
    );
    let arrival = match (rate, every) {
        (Some(_), Some(_)) => {
            r.error(path, "give rate or every, not both");
            None
        }
        (Some(per_hour), None) => Some(Arrival::Rate { per_hour }),
        (None, Some(period)) => Some(Arrival::Every {
            period_ms: period.as_millis() as i64,
        }),
        (None, None) => Some(Arrival::Follows),
    };
    let rhythm_name = r
        .optional_str(map, path, "rhythm")
        .unwrap_or_else(|| "flat".to_string());
    let rhythm = rhythms.iter().position(|n| *n == rhythm_name);
    if rhythm.is_none() {
        r.error(
            &format!("{path}.rhythm"),
            format!("unknown rhythm `{rhythm_name}`; defined: {}", rhythms.join(", ")),
        );
    }
    let mut kinds = Vec::new();
    if let Some(list) = map.get("entities") {
        match list.as_array() {
            Some(list) => {
                for (j, kind) in list.iter().enumerate() {
                    match kind.as_str().and_then(|k| entities.iter().position(|e| *e == k)) {
                        Some(k) if !kinds.contains(&k) => kinds.push(k),
                        Some(_) => r.error(&format!("{path}.entities[{j}]"), "is listed twice"),
                        None => r.error(
                            &format!("{path}.entities[{j}]"),
                            format!("unknown entity kind; defined: {}", entities.join(", ")),
                        ),
                    }
                }
            }
            None => r.error(&format!("{path}.entities"), "must be a list of entity kinds"),
        }
    }
    let fields = read_fields(r, map, path);
    let arrives_alone = arrival.is_some_and(|a| a != Arrival::Follows);
    if arrives_alone {
        for field in &fields {
            if matches!(field.dist, ValueDist::Inherit(_)) {
                r.error(
                    &format!("{path}.fields.{}", field.name),
                    "inherit needs a parent, but this stream also arrives on its own (rate or every)",
                );
            }
        }
    }
    Some(StreamDef {
        name: Arc::from(name?.as_str()),
        domain,
        cadence: cadence?,
        arrival: arrival?,
        rhythm: rhythm?,
        entities: kinds,
        fields,
    })
}

fn read_fields(r: &mut Reader, map: &Map<String, Value>, path: &str) -> Vec<FieldDef> {
    let Some(value) = map.get("fields") else {
        return Vec::new();
    };
    let Some(fields) = value.as_object() else {
        r.error(
            &format!("{path}.fields"),
            "must map field names to value distributions",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, spec) in fields {
        let field_path = format!("{path}.fields.{name}");
        if let Some(dist) = read_dist(r, spec, &field_path) {
            out.push(FieldDef {
                name: Arc::from(name.as_str()),
                dist,
            });
        }
    }
    out
}

fn read_dist(r: &mut Reader, value: &Value, path: &str) -> Option<ValueDist> {
    let map = r.object(value, path, &["choice", "uniform", "normal", "metric", "inherit"])?;
    if map.len() != 1 {
        r.error(
            path,
            "give exactly one of choice, uniform, normal, metric, inherit",
        );
        return None;
    }
    let (kind, spec) = map.iter().next()?;
    let kind_path = format!("{path}.{kind}");
    match kind.as_str() {
        "choice" => {
            let weights = r.weights(map, path, "choice", None)?;
            Some(ValueDist::Choice(
                weights
                    .into_iter()
                    .map(|(k, w)| (Arc::from(k.as_str()), w))
                    .collect(),
            ))
        }
        "uniform" => {
            let bounds: Option<Vec<f64>> = spec
                .as_array()
                .filter(|a| a.len() == 2)
                .and_then(|a| a.iter().map(|v| v.as_f64().filter(|x| x.is_finite())).collect());
            match bounds {
                Some(b) if b[0] <= b[1] => Some(ValueDist::Uniform {
                    low: b[0],
                    high: b[1],
                }),
                _ => {
                    r.error(&kind_path, "must be [low, high] with low <= high");
                    None
                }
            }
        }
        "normal" => {
            let m = r.object(spec, &kind_path, &["mean", "sd", "min", "max"])?;
            let mean = r.required_f64(m, &kind_path, "mean")?;
            let sd = r.optional_f64(m, &kind_path, "sd", 0.0, f64::MAX).unwrap_or(0.0);
            let min = r
                .optional_f64(m, &kind_path, "min", f64::MIN, f64::MAX)
                .unwrap_or(f64::MIN);
            let max = r
                .optional_f64(m, &kind_path, "max", f64::MIN, f64::MAX)
                .unwrap_or(f64::MAX);
            if min > max {
                r.error(&kind_path, "min must not exceed max");
                return None;
            }
            Some(ValueDist::Normal { mean, sd, min, max })
        }
        "metric" => {
            let m = r.object(spec, &kind_path, &["base", "sd"])?;
            let base = r.required_f64(m, &kind_path, "base")?;
            let sd = r.optional_f64(m, &kind_path, "sd", 0.0, 10.0).unwrap_or(0.0);
            if base < 0.0 {
                r.error(&format!("{kind_path}.base"), "must be >= 0");
                return None;
            }
            Some(ValueDist::Metric { base, sd })
        }
        _ => match spec.as_str() {
            Some(field) => Some(ValueDist::Inherit(field.to_string())),
            None => {
                r.error(&kind_path, "must name the parent's field");
                None
            }
        },
    }
}

fn read_chains(
    r: &mut Reader,
    root: &Map<String, Value>,
    streams: &[StreamDef],
    names: &HashMap<&str, usize>,
) -> Vec<Chain> {
    let Some(value) = root.get("chains") else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        r.error("chains", "must be a list");
        return Vec::new();
    };
    let mut chains: Vec<Chain> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("chains[{i}]");
        if let Some(chain) = read_chain(r, item, &path, streams, names) {
            if chains.iter().any(|c| c.name == chain.name) {
                r.error(
                    &format!("{path}.name"),
                    format!("`{}` is defined twice", chain.name),
                );
                continue;
            }
            chains.push(chain);
        }
    }
    chains
}

fn stream_ref(
    r: &mut Reader,
    map: &Map<String, Value>,
    path: &str,
    field: &str,
    names: &HashMap<&str, usize>,
) -> Option<usize> {
    let name = r.required_str(map, path, field)?;
    let found = names.get(name.as_str()).copied();
    if found.is_none() {
        r.error(&format!("{path}.{field}"), format!("unknown stream `{name}`"));
    }
    found
}

fn read_chain(
    r: &mut Reader,
    value: &Value,
    path: &str,
    streams: &[StreamDef],
    names: &HashMap<&str, usize>,
) -> Option<Chain> {
    let map = r.object(value, path, CHAIN_FIELDS)?;
    let name = r.required_str(map, path, "name");
    let from = stream_ref(r, map, path, "from", names);
    let when = match (map.get("when"), from) {
        (Some(when), Some(from)) => read_condition(r, when, &format!("{path}.when"), &streams[from]),
        (Some(_), None) | (None, _) => None,
    };
    let mut outcomes = Vec::new();
    let mut total = 0.0;
    match map
        .get("outcomes")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        None => r.error(&format!("{path}.outcomes"), "is required: a non-empty list"),
        Some(items) => {
            for (j, item) in items.iter().enumerate() {
                let opath = format!("{path}.outcomes[{j}]");
                let Some(o) = r.object(item, &opath, OUTCOME_FIELDS) else {
                    continue;
                };
                let stream = stream_ref(r, o, &opath, "stream", names);
                let probability = r.probability(o, &opath, "probability");
                if !o.contains_key("probability") {
                    r.error(&format!("{opath}.probability"), "is required");
                }
                let delay = read_delay(r, o, &opath);
                let repeat = read_repeat(r, o, &opath);
                total += probability.unwrap_or(0.0);
                if let (Some(stream), Some(probability), Some((min, max)), Some(repeat)) =
                    (stream, probability, delay, repeat)
                {
                    outcomes.push(Outcome {
                        stream,
                        probability,
                        delay_min_ms: min,
                        delay_max_ms: max,
                        repeat,
                    });
                }
            }
        }
    }
    if total > 1.0 + 1e-9 {
        r.error(
            &format!("{path}.outcomes"),
            format!("probabilities sum to {total:.3}; an event has at most one outcome, so at most 1"),
        );
    }
    Some(Chain {
        name: name?,
        from: from?,
        when,
        outcomes,
    })
}

fn read_condition(r: &mut Reader, value: &Value, path: &str, parent: &StreamDef) -> Option<Condition> {
    let map = r.object(value, path, &["field", "equals", "at_most", "at_least"])?;
    let field_name = r.required_str(map, path, "field")?;
    let Some(field) = parent.field(&field_name) else {
        r.error(
            &format!("{path}.field"),
            format!("`{}` has no field `{field_name}`", parent.name),
        );
        return None;
    };
    let tests = ["equals", "at_most", "at_least"]
        .iter()
        .filter(|t| map.contains_key(**t))
        .count();
    if tests != 1 {
        r.error(path, "give exactly one of equals, at_most, at_least");
        return None;
    }
    if let Some(v) = map.get("equals") {
        let value = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Some(Condition::Equals { field, value });
    }
    if map.contains_key("at_most") {
        let value = r.optional_f64(map, path, "at_most", f64::MIN, f64::MAX)?;
        return Some(Condition::AtMost { field, value });
    }
    let value = r.optional_f64(map, path, "at_least", f64::MIN, f64::MAX)?;
    Some(Condition::AtLeast { field, value })
}

fn read_delay(r: &mut Reader, map: &Map<String, Value>, path: &str) -> Option<(i64, i64)> {
    let Some(value) = map.get("delay") else {
        return Some((0, 0));
    };
    let dpath = format!("{path}.delay");
    let d = r.object(value, &dpath, &["min", "max"])?;
    let min = r.optional_duration(d, &dpath, "min", Duration::ZERO, MAX_DELAY);
    let max = r.optional_duration(d, &dpath, "max", Duration::ZERO, MAX_DELAY);
    let (min, max) = match (min, max, d.contains_key("min"), d.contains_key("max")) {
        (Some(min), Some(max), _, _) => (min, max),
        (Some(min), None, _, false) => (min, min),
        (None, Some(max), false, _) => (Duration::ZERO, max),
        _ => return None,
    };
    if min > max {
        r.error(&dpath, "min must not exceed max");
        return None;
    }
    Some((min.as_millis() as i64, max.as_millis() as i64))
}

fn read_repeat(r: &mut Reader, map: &Map<String, Value>, path: &str) -> Option<(u32, u32)> {
    let Some(value) = map.get("repeat") else {
        return Some((1, 1));
    };
    let rpath = format!("{path}.repeat");
    let m = r.object(value, &rpath, &["min", "max"])?;
    let min = r.optional_u64(m, &rpath, "min", 1, 1000).unwrap_or(1) as u32;
    let max = r
        .optional_u64(m, &rpath, "max", 1, 1000)
        .map_or(min, |v| v as u32);
    if min > max {
        r.error(&rpath, "min must not exceed max");
        return None;
    }
    Some((min, max))
}

fn read_links(r: &mut Reader, root: &Map<String, Value>, names: &HashMap<&str, usize>) -> Vec<Link> {
    let Some(value) = root.get("links") else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        r.error("links", "must be a list");
        return Vec::new();
    };
    let mut links = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("links[{i}]");
        let Some(map) = r.object(item, &path, &["from", "to", "note"]) else {
            continue;
        };
        let from = stream_ref(r, map, &path, "from", names);
        let to = stream_ref(r, map, &path, "to", names);
        let note = r.optional_str(map, &path, "note").unwrap_or_default();
        if let (Some(from), Some(to)) = (from, to) {
            links.push(Link { from, to, note });
        }
    }
    links
}

/// Chains must not loop: an event cannot lead back to its own stream.
fn check_chain_graph(
    r: &mut Reader,
    streams: &[StreamDef],
    positions: &[usize],
    chains: &[Chain],
    chains_from: &[Vec<usize>],
) {
    // Depth-first search with colours; report the first loop found from each chain.
    fn visit(
        stream: usize,
        chains: &[Chain],
        chains_from: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        if state[stream] == 1 {
            let start = path.iter().position(|s| *s == stream).unwrap_or(0);
            let mut cycle = path[start..].to_vec();
            cycle.push(stream);
            return Some(cycle);
        }
        if state[stream] == 2 {
            return None;
        }
        state[stream] = 1;
        path.push(stream);
        for chain in &chains_from[stream] {
            for outcome in &chains[*chain].outcomes {
                if let Some(cycle) = visit(outcome.stream, chains, chains_from, state, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        state[stream] = 2;
        None
    }
    let mut state = vec![0u8; streams.len()];
    for start in 0..streams.len() {
        if let Some(cycle) = visit(start, chains, chains_from, &mut state, &mut Vec::new()) {
            let names: Vec<&str> = cycle.iter().map(|s| &*streams[*s].name).collect();
            let culprit = chains
                .iter()
                .position(|c| {
                    c.from == cycle[cycle.len() - 2]
                        && c.outcomes.iter().any(|o| o.stream == cycle[cycle.len() - 1])
                })
                .unwrap_or(0);
            r.error(
                &format!("chains[{culprit}]"),
                format!("chains form a cycle: {}", names.join(" → ")),
            );
            return;
        }
    }
    // A stream that never arrives cannot be anyone's parent either.
    for (i, stream) in streams.iter().enumerate() {
        let followed = chains.iter().any(|c| c.outcomes.iter().any(|o| o.stream == i));
        if stream.arrival == Arrival::Follows && !followed {
            r.error(
                &format!("streams[{}]", positions[i]),
                format!(
                    "`{}` never arrives: give it a rate or every, or a chain that leads to it",
                    stream.name
                ),
            );
        }
    }
}

/// A follower's `inherit` must name a field every parent has.
fn check_inheritance(r: &mut Reader, streams: &[StreamDef], chains: &[Chain]) {
    for (i, chain) in chains.iter().enumerate() {
        let parent = &streams[chain.from];
        for (j, outcome) in chain.outcomes.iter().enumerate() {
            for field in &streams[outcome.stream].fields {
                if let ValueDist::Inherit(source) = &field.dist
                    && parent.field(source).is_none()
                {
                    r.error(
                        &format!("chains[{i}].outcomes[{j}]"),
                        format!(
                            "`{}` inherits `{source}` (field {}), which its parent `{}` does not have",
                            streams[outcome.stream].name, field.name, parent.name
                        ),
                    );
                }
            }
        }
    }
}

/// Every stream is connected to at least one other, by a chain or a link.
fn check_connected(
    r: &mut Reader,
    streams: &[StreamDef],
    positions: &[usize],
    chains: &[Chain],
    links: &[Link],
) {
    if streams.len() < 2 {
        return;
    }
    let mut connected = vec![false; streams.len()];
    for chain in chains {
        for outcome in &chain.outcomes {
            if outcome.stream != chain.from {
                connected[chain.from] = true;
                connected[outcome.stream] = true;
            }
        }
    }
    for link in links.iter().filter(|l| l.from != l.to) {
        connected[link.from] = true;
        connected[link.to] = true;
    }
    for (i, stream) in streams.iter().enumerate() {
        if !connected[i] {
            r.error(
                &format!("streams[{}]", positions[i]),
                format!(
                    "`{}` is connected to no other stream: add a chain or a link",
                    stream.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_has_fifty_connected_streams() {
        let catalog = Catalog::parse(BUILTIN_CATALOG).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(catalog.streams.len(), 50);
        let domains: BTreeSet<&str> = catalog.streams.iter().map(|s| s.domain.as_str()).collect();
        assert_eq!(
            domains.into_iter().collect::<Vec<_>>(),
            ["customer", "marketing", "session", "support", "system", "tutor"]
        );
        for stream in &catalog.streams {
            assert!(
                stream.name.starts_with(&format!("{}.", stream.domain)),
                "{}",
                stream.name
            );
        }
        // The volume targets: tens of thousands of students, 1-8 per tutor,
        // about 3 sessions per tutor a day.
        let pool = |kind: &str| catalog.entities.iter().find(|(k, _)| k == kind).map(|(_, n)| *n);
        let (students, tutors) = (pool("student").unwrap_or(0), pool("tutor").unwrap_or(1));
        assert!((10_000..100_000).contains(&students));
        assert!((1..=8).contains(&(students / tutors)));
        let scheduled = &catalog.streams[catalog.stream("session.scheduled").unwrap_or(0)];
        let Arrival::Rate { per_hour } = scheduled.arrival else {
            panic!("session.scheduled arrives on its own");
        };
        let per_tutor_day = per_hour * 24.0 / tutors as f64;
        assert!((2.5..=3.5).contains(&per_tutor_day), "{per_tutor_day}");
    }

    fn errors_of(document: &str) -> Vec<String> {
        Catalog::parse(document)
            .expect_err("invalid")
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_catalog_problem_is_reported_with_its_path() {
        let bad = r#"
name: broken
colour: red
rhythms:
  day: { hours: [1, 2], weekend: -1 }
streams:
  - { name: a.one, rate: -5, rhythm: night, cadence: sometimes }
  - { name: a.two, fields: { x: { inherit: nope } } }
  - { name: a.three, rate: 1, every: 1m }
  - { name: a.four, rate: 1, fields: { y: { uniform: [5, 1] }, z: { choice: { p: 0 } } } }
  - { name: a.one, rate: 1 }
  - { name: a.lonely, rate: 1 }
chains:
  - name: c1
    from: a.one
    outcomes:
      - { stream: a.two, probability: 0.7, delay: { min: 2h, max: 1h } }
      - { stream: a.ghost, probability: 0.6 }
  - name: c2
    from: a.four
    when: { field: missing, equals: x }
    outcomes: [{ stream: a.two, probability: 1.5 }]
links:
  - { from: a.four, to: a.nowhere }
"#;
        let errors = errors_of(bad);
        for expected in [
            "colour: unknown field",
            "rhythms.day.hours: must be 24 multipliers",
            "rhythms.day.weekend",
            "streams[0].rate: must be a number between 0",
            "streams[0].rhythm: unknown rhythm `night`",
            "streams[0].cadence: unknown cadence",
            "streams[2]: give rate or every, not both",
            "streams[3].fields.y.uniform",
            "streams[3].fields.z.choice: weights sum to zero",
            "streams[4].name: `a.one` is defined twice",
            "chains[0].outcomes[0].delay: min must not exceed max",
            "chains[0].outcomes[1].stream: unknown stream `a.ghost`",
            "chains[0].outcomes: probabilities sum to",
            "chains[1].when.field: `a.four` has no field `missing`",
            "chains[1].outcomes[0].probability",
            "links[0].to: unknown stream `a.nowhere`",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "missing {expected:?} in {errors:#?}"
            );
        }
    }

    #[test]
    fn loops_orphans_and_isolated_streams_are_refused() {
        let looped = r#"
name: loop
streams:
  - { name: a.root, rate: 1 }
  - { name: a.b }
  - { name: a.c }
chains:
  - { name: ab, from: a.root, outcomes: [{ stream: a.b, probability: 1 }] }
  - { name: bc, from: a.b, outcomes: [{ stream: a.c, probability: 1 }] }
  - { name: cb, from: a.c, outcomes: [{ stream: a.b, probability: 0.5 }] }
"#;
        let errors = errors_of(looped);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("chains form a cycle: a.b → a.c → a.b")),
            "{errors:#?}"
        );
        let orphan = "name: o\nstreams:\n  - { name: a.x, rate: 1 }\n  - { name: a.y }\nlinks: [{ from: a.x, to: a.y }]\n";
        assert!(
            errors_of(orphan)
                .iter()
                .any(|e| e.contains("`a.y` never arrives"))
        );
        let isolated = "name: i\nstreams:\n  - { name: a.x, rate: 1 }\n  - { name: a.y, rate: 1 }\n";
        assert!(
            errors_of(isolated)
                .iter()
                .any(|e| e.contains("`a.x` is connected to no other stream"))
        );
        let inherit = r#"
name: inherit
streams:
  - { name: a.x, rate: 1 }
  - { name: a.y, fields: { s: { inherit: subject } } }
chains:
  - { name: xy, from: a.x, outcomes: [{ stream: a.y, probability: 1 }] }
"#;
        assert!(
            errors_of(inherit)
                .iter()
                .any(|e| e.contains("chains[0].outcomes[0]: `a.y` inherits `subject`")),
        );
    }

    #[test]
    fn the_follow_span_is_the_longest_chain_of_delays() {
        let catalog = Catalog::builtin();
        let root = catalog.stream("session.scheduled").unwrap_or(0);
        // scheduled → started (6 h) → completed (90 m) → rating (48 h) → ticket
        // (24 h) → escalated (8 h) → resolved (48 h) → survey (24 h).
        let hours = catalog.follow_span_ms(root) as f64 / 3_600_000.0;
        assert!(
            (hours - (6.0 + 1.5 + 48.0 + 24.0 + 8.0 + 48.0 + 24.0)).abs() < 1e-6,
            "{hours}"
        );
    }
}
