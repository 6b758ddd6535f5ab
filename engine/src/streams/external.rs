//! External events: things that happen around the marketplace (a TikTok
//! mention, a cloud outage, SAT week…), from a library in the catalog.
//!
//! A run's history carries a few a day, drawn deterministically from the
//! catalog's seed: most really move the streams their template names, the
//! rest are red herrings that move nothing (and say so). Correlation looks
//! at the data the way an analyst would: did a stream's count in the hours
//! after the event stand out from the same hours on the days before?

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::definition::{Arrival, StreamDef, ValueDist};
use super::scenario::Effect;
use crate::ids::{Part, mix64, stable_hash};
use crate::spec::SpecErrors;
use crate::spec::reader::Reader;

pub(super) const DAY_MS: i64 = 86_400_000;
/// The kinds of external event, as the stream simulator names them.
pub const CATEGORIES: &[&str] = &[
    "marketing",
    "product",
    "infrastructure",
    "academic",
    "competitive",
    "operational",
];
const SEVERITIES: &[&str] = &["info", "warning", "critical"];

/// One effect a template's event has when it is real.
#[derive(Clone, Debug, PartialEq)]
pub struct Impact {
    pub stream: usize,
    /// A numeric field to multiply; `None`: the stream's own arrival rate.
    pub field: Option<usize>,
    pub factor: f64,
    pub delay_ms: i64,
    pub duration_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventTemplate {
    pub id: String,
    pub category: String,
    pub title: String,
    pub severity: String,
    pub icon: String,
    pub weight: f64,
    pub impacts: Vec<Impact>,
}

/// The catalog's external events: how many a day, how many are real, and the library.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExternalEvents {
    pub per_day: (u32, u32),
    pub real_share: f64,
    pub library: Vec<EventTemplate>,
}

/// The external events of a run of days, as the last call of
/// [`ExternalEvents::factor_kept`] drew them (for a seed).
#[derive(Clone, Debug, Default)]
pub struct DaysKept {
    /// The seed and the first and last day.
    of: Option<(u64, (i64, i64))>,
    events: Vec<ExternalEvent>,
}

/// One external event on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExternalEvent {
    pub id: u64,
    /// Index into the library.
    #[serde(skip)]
    pub template: usize,
    pub at_ms: i64,
    /// It really moves the streams its template names (otherwise a red herring).
    pub real: bool,
    /// Injected by a user or a scenario, rather than part of the history.
    pub injected: bool,
}

impl ExternalEvent {
    /// An event of template `template` injected at `at_ms` (always real).
    pub fn injected(template: usize, template_id: &str, at_ms: i64) -> ExternalEvent {
        ExternalEvent {
            id: stable_hash(&[
                Part::Str("injected"),
                Part::Str(template_id),
                Part::U64(at_ms as u64),
            ]),
            template,
            at_ms,
            real: true,
            injected: true,
        }
    }
}

impl Impact {
    /// What the impact does while it acts, as a scenario's modifier would.
    pub fn effect(&self) -> Effect {
        match self.field {
            None => Effect::RateMultiply {
                stream: self.stream,
                factor: self.factor,
            },
            Some(field) => Effect::Field {
                stream: self.stream,
                field,
                factor: self.factor,
            },
        }
    }
}

impl EventTemplate {
    /// The longest one of its impacts acts after the event happens.
    pub fn reach_ms(&self) -> i64 {
        self.impacts
            .iter()
            .map(|i| i.delay_ms + i.duration_ms)
            .max()
            .unwrap_or(0)
    }
}

impl ExternalEvents {
    /// The longest an event acts after it happens.
    fn reach_ms(&self) -> i64 {
        self.library
            .iter()
            .map(EventTemplate::reach_ms)
            .max()
            .unwrap_or(0)
    }

    /// The events of one UTC day.
    fn day(&self, seed: u64, day: i64) -> Vec<ExternalEvent> {
        if self.library.is_empty() {
            return Vec::new();
        }
        let key = stable_hash(&[Part::U64(seed), Part::Str("external"), Part::U64(day as u64)]);
        let mut state = key;
        let mut draw = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(state)
        };
        let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
        let (low, high) = self.per_day;
        let count = low + (draw() % u64::from(high - low + 1)) as u32;
        let total: f64 = self.library.iter().map(|t| t.weight).sum();
        let mut events: Vec<ExternalEvent> = (0..count)
            .map(|k| {
                let mut pick = unit(draw()) * total;
                let template = self
                    .library
                    .iter()
                    .position(|t| {
                        let chosen = pick < t.weight;
                        pick -= t.weight;
                        chosen
                    })
                    .unwrap_or(self.library.len() - 1);
                ExternalEvent {
                    id: mix64(key ^ u64::from(k).wrapping_mul(0xd6e8_feb8_6659_fd93)),
                    template,
                    at_ms: day * DAY_MS + (draw() % DAY_MS as u64) as i64,
                    real: unit(draw()) < self.real_share,
                    injected: false,
                }
            })
            .collect();
        events.sort_by_key(|e| (e.at_ms, e.id));
        events
    }

    /// Every event in `[from_ms, until_ms)`, in time order.
    pub fn between(&self, seed: u64, from_ms: i64, until_ms: i64) -> Vec<ExternalEvent> {
        (from_ms.div_euclid(DAY_MS)..=(until_ms - 1).div_euclid(DAY_MS))
            .flat_map(|day| self.day(seed, day))
            .filter(|e| e.at_ms >= from_ms && e.at_ms < until_ms)
            .collect()
    }

    /// The product of the real events' factors on a stream's rate (`field`
    /// `None`) or on one of its fields, at `at_ms`.
    pub fn factor(&self, seed: u64, stream: usize, field: Option<usize>, at_ms: i64) -> f64 {
        self.factor_kept(&mut DaysKept::default(), seed, stream, field, at_ms)
    }

    /// [`ExternalEvents::factor`], with the events of the days it reads
    /// kept in `kept` for the next call: a shard asks about the same few
    /// days for every event it draws, and drawing a day's events again
    /// each time was a quarter of the shard's work.
    pub fn factor_kept(
        &self,
        kept: &mut DaysKept,
        seed: u64,
        stream: usize,
        field: Option<usize>,
        at_ms: i64,
    ) -> f64 {
        let touched = self
            .library
            .iter()
            .flat_map(|t| &t.impacts)
            .any(|i| i.stream == stream && i.field == field);
        if !touched {
            return 1.0;
        }
        let (from_ms, until_ms) = (at_ms - self.reach_ms(), at_ms + 1);
        let days = (from_ms.div_euclid(DAY_MS), (until_ms - 1).div_euclid(DAY_MS));
        if kept.of != Some((seed, days)) {
            kept.events = (days.0..=days.1).flat_map(|day| self.day(seed, day)).collect();
            kept.of = Some((seed, days));
        }
        let mut factor = 1.0;
        for event in kept
            .events
            .iter()
            .filter(|e| e.at_ms >= from_ms && e.at_ms < until_ms)
        {
            if !event.real {
                continue;
            }
            for impact in &self.library[event.template].impacts {
                let start = event.at_ms + impact.delay_ms;
                if impact.stream == stream
                    && impact.field == field
                    && at_ms >= start
                    && at_ms < start + impact.duration_ms
                {
                    factor *= impact.factor;
                }
            }
        }
        factor
    }
}

const EXTERNAL_FIELDS: &[&str] = &["per_day", "real_share", "library"];
const TEMPLATE_FIELDS: &[&str] = &["id", "category", "title", "severity", "icon", "weight", "impact"];
const OWN_EVENT_FIELDS: &[&str] = &["id", "category", "title", "severity", "icon", "impact"];

/// Reads the catalog's `external_events` against its streams.
pub(super) fn read_external(
    r: &mut Reader,
    root: &Map<String, Value>,
    streams: &[StreamDef],
) -> ExternalEvents {
    let Some(value) = root.get("external_events") else {
        return ExternalEvents::default();
    };
    let Some(map) = r.object(value, "external_events", EXTERNAL_FIELDS) else {
        return ExternalEvents::default();
    };
    let path = "external_events";
    let per_day = match map.get("per_day") {
        None => (2, 5),
        Some(v) => {
            let p = format!("{path}.per_day");
            match r.object(v, &p, &["min", "max"]) {
                Some(m) => {
                    let min = r.optional_u64(m, &p, "min", 0, 1000).unwrap_or(0) as u32;
                    let max = r.optional_u64(m, &p, "max", 0, 1000).map_or(min, |v| v as u32);
                    if min > max {
                        r.error(&p, "min must not exceed max");
                    }
                    (min, max.max(min))
                }
                None => (0, 0),
            }
        }
    };
    let real_share = r.probability(map, path, "real_share").unwrap_or(0.65);
    let mut library: Vec<EventTemplate> = Vec::new();
    for (i, item) in map
        .get("library")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let tpath = format!("{path}.library[{i}]");
        let Some(template) = read_template(r, item, &tpath, TEMPLATE_FIELDS, streams) else {
            continue;
        };
        if library.iter().any(|other| other.id == template.id) {
            r.error(
                &format!("{tpath}.id"),
                format!("`{}` is defined twice", template.id),
            );
        }
        library.push(template);
    }
    ExternalEvents {
        per_day,
        real_share,
        library,
    }
}

/// One event template at `path`: what it is and what it moves.
fn read_template(
    r: &mut Reader,
    value: &Value,
    path: &str,
    fields: &[&str],
    streams: &[StreamDef],
) -> Option<EventTemplate> {
    let t = r.object(value, path, fields)?;
    let id = r.required_str(t, path, "id").unwrap_or_default();
    let category = r.required_str(t, path, "category").unwrap_or_default();
    if !CATEGORIES.contains(&category.as_str()) {
        r.error(
            &format!("{path}.category"),
            format!(
                "unknown category `{category}`; expected one of: {}",
                CATEGORIES.join(", ")
            ),
        );
    }
    let severity = r
        .optional_str(t, path, "severity")
        .unwrap_or_else(|| "info".into());
    if !SEVERITIES.contains(&severity.as_str()) {
        r.error(&format!("{path}.severity"), "must be info, warning or critical");
    }
    let mut impacts = Vec::new();
    for (j, item) in t
        .get("impact")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(impact) = read_impact(r, item, &format!("{path}.impact[{j}]"), streams) {
            impacts.push(impact);
        }
    }
    Some(EventTemplate {
        title: r.optional_str(t, path, "title").unwrap_or_else(|| id.clone()),
        icon: r.optional_str(t, path, "icon").unwrap_or_default(),
        weight: r.optional_f64(t, path, "weight", 0.0, 1e6).unwrap_or(1.0),
        id,
        category,
        severity,
        impacts,
    })
}

/// An external event of a user's own, given at `path` in the shape of a
/// library template (without `weight`: it is placed by hand, not drawn).
/// It must move at least one stream, and its id must not be a library
/// template's.
pub fn read_own_event(
    value: &Value,
    path: &str,
    streams: &[StreamDef],
    library: &[EventTemplate],
) -> Result<EventTemplate, SpecErrors> {
    let mut r = Reader::default();
    let template = read_template(&mut r, value, path, OWN_EVENT_FIELDS, streams);
    if let Some(template) = &template {
        if library.iter().any(|t| t.id == template.id) {
            r.error(
                &format!("{path}.id"),
                format!(
                    "`{}` is a library template; give your own event another id",
                    template.id
                ),
            );
        }
        if !template.id.is_empty()
            && !template
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            r.error(&format!("{path}.id"), "use letters, digits, `-` and `_` only");
        }
        let given = value.get("impact").and_then(Value::as_array).map_or(0, Vec::len);
        if given == 0 {
            r.error(
                &format!("{path}.impact"),
                "give at least one stream the event moves",
            );
        }
    }
    let errors = r.into_errors();
    match template {
        Some(template) if errors.is_empty() => Ok(template),
        _ => Err(SpecErrors(errors)),
    }
}

fn read_impact(r: &mut Reader, value: &Value, path: &str, streams: &[StreamDef]) -> Option<Impact> {
    let m = r.object(value, path, &["stream", "field", "multiply", "delay", "duration"])?;
    // Every field is read, so one pass names every problem.
    let stream = read_impact_target(r, m, path, streams);
    if !m.contains_key("multiply") {
        r.error(&format!("{path}.multiply"), "is required");
    }
    let factor = r.optional_f64(m, path, "multiply", 0.0, 100.0);
    let span = |r: &mut Reader, field: &str| {
        r.optional_duration(m, path, field, Duration::ZERO, Duration::from_secs(7 * 86_400))
            .map(|d| d.as_millis() as i64)
    };
    let delay_ms = span(r, "delay");
    let duration_ms = span(r, "duration");
    let (stream, field) = stream?;
    Some(Impact {
        stream,
        field,
        factor: factor?,
        delay_ms: delay_ms.unwrap_or(0),
        duration_ms: duration_ms.unwrap_or(6 * 3_600_000),
    })
}

/// The stream an impact moves, and the numeric field (none: its rate).
fn read_impact_target(
    r: &mut Reader,
    m: &Map<String, Value>,
    path: &str,
    streams: &[StreamDef],
) -> Option<(usize, Option<usize>)> {
    let name = r.required_str(m, path, "stream")?;
    let Some(stream) = streams.iter().position(|s| *s.name == name) else {
        r.error(&format!("{path}.stream"), format!("unknown stream `{name}`"));
        return None;
    };
    let field = match r.optional_str(m, path, "field") {
        None => {
            if streams[stream].arrival == Arrival::Follows {
                r.error(
                    &format!("{path}.stream"),
                    format!("`{name}` only follows chains; it has no rate to move (name a numeric field)"),
                );
                return None;
            }
            None
        }
        Some(field) => match streams[stream].field(&field) {
            Some(index)
                if !matches!(
                    streams[stream].fields[index].dist,
                    ValueDist::Choice(_) | ValueDist::Inherit(_)
                ) =>
            {
                Some(index)
            }
            _ => {
                r.error(
                    &format!("{path}.field"),
                    format!("`{name}` has no numeric field `{field}`"),
                );
                return None;
            }
        },
    };
    Some((stream, field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::catalog::Catalog;

    const FEB_2: i64 = 1_769_990_400_000;

    #[test]
    fn a_month_has_two_to_five_events_a_day_and_about_two_thirds_are_real() {
        let catalog = Catalog::builtin();
        let external = &catalog.external_events;
        assert_eq!(external.library.len(), 29);
        let month = external.between(catalog.seed, FEB_2, FEB_2 + 30 * DAY_MS);
        assert!((60..=150).contains(&month.len()), "{}", month.len());
        for day in 0..30 {
            let n = month.iter().filter(|e| (e.at_ms - FEB_2) / DAY_MS == day).count();
            assert!((2..=5).contains(&n), "day {day}: {n}");
        }
        let real = month.iter().filter(|e| e.real).count() as f64 / month.len() as f64;
        assert!((0.55..=0.75).contains(&real), "{real}");
        assert_eq!(
            month,
            external.between(catalog.seed, FEB_2, FEB_2 + 30 * DAY_MS),
            "deterministic"
        );
    }

    #[test]
    fn library_mistakes_are_reported_with_paths() {
        let bad = r#"
name: x
streams:
  - { name: a.root, rate: 1 }
  - { name: a.child, fields: { n: { uniform: [1, 2] } } }
chains: [{ name: c, from: a.root, outcomes: [{ stream: a.child, probability: 1 }] }]
external_events:
  library:
    - { id: e, category: weather, severity: dire, impact: [{ stream: a.child, multiply: 2 }, { stream: a.ghost, multiply: 2 }, { stream: a.root }] }
"#;
        let errors: Vec<String> = Catalog::parse(bad)
            .expect_err("invalid")
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        for expected in [
            "external_events.library[0].category: unknown category `weather`",
            "external_events.library[0].severity",
            "external_events.library[0].impact[0].stream: `a.child` only follows chains",
            "external_events.library[0].impact[1].stream: unknown stream `a.ghost`",
            "external_events.library[0].impact[2].multiply: is required",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "missing {expected} in {errors:#?}"
            );
        }
    }
}
