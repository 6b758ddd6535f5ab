//! Scenarios: named bends of the streams (a payment outage, an exam-season
//! surge…) defined as data in the catalog, and the timeline of scenario runs
//! that generation reads.
//!
//! A run is active from its start until its duration ends or it is stopped,
//! then settles back to baseline on its curve. Its strength at a simulated
//! instant (its *intensity*, 0 to 1) is a pure function of the timeline, so
//! every agent bends its shards the same way at the same simulated instant,
//! and a shard replayed after a failover bends exactly as before.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::definition::{Arrival, Chain, StreamDef, ValueDist};
use crate::spec::reader::Reader;

/// Settling is over once a curve is within this share of baseline.
pub const SETTLED_WITHIN: f64 = 0.05;
const MAX_SPAN: Duration = Duration::from_secs(90 * 86_400);

/// How a scenario's effect fades once it ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Curve {
    /// Straight back to baseline over the settling time (a demand surge).
    Linear,
    /// Fast at first, then slowly: 5 % left at the end of the settling time
    /// (a quality crisis).
    Exponential,
    /// Back at once, plus a backlog spike on some streams that fades
    /// linearly over the settling time (a payment outage being caught up).
    ImmediateBacklog,
}

impl Curve {
    pub fn name(&self) -> &'static str {
        match self {
            Curve::Linear => "linear",
            Curve::Exponential => "exponential",
            Curve::ImmediateBacklog => "immediate_backlog",
        }
    }
}

/// What a modifier changes.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// A stream's own arrival rate: multiplied by `factor`.
    RateMultiply { stream: usize, factor: f64 },
    /// A stream's own arrival rate: plus `per_hour` events an hour (at full scale).
    RateAdd { stream: usize, per_hour: f64 },
    /// A stream's own arrival rate: set to `per_hour` (at full scale).
    RateOverride { stream: usize, per_hour: f64 },
    /// A chain's chance of one outcome; the others keep their proportions.
    Outcome {
        chain: usize,
        outcome: usize,
        probability: f64,
    },
    /// A numeric field's values: multiplied by `factor`.
    Field {
        stream: usize,
        field: usize,
        factor: f64,
    },
}

impl Effect {
    /// The stream whose own events this effect changes directly, if any.
    pub fn stream(&self) -> Option<usize> {
        match self {
            Effect::RateMultiply { stream, .. }
            | Effect::RateAdd { stream, .. }
            | Effect::RateOverride { stream, .. }
            | Effect::Field { stream, .. } => Some(*stream),
            Effect::Outcome { .. } => None,
        }
    }
}

/// An effect that starts `delay_ms` after the scenario does (a cascade).
#[derive(Clone, Debug, PartialEq)]
pub struct Modifier {
    pub effect: Effect,
    pub delay_ms: i64,
}

/// A rate spike while a backlog is worked off, after an
/// [`Curve::ImmediateBacklog`] scenario ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Backlog {
    pub stream: usize,
    pub factor: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioDef {
    pub id: String,
    pub name: String,
    pub description: String,
    pub duration_ms: i64,
    pub curve: Curve,
    pub settle_ms: i64,
    pub modifiers: Vec<Modifier>,
    pub backlog: Vec<Backlog>,
    /// When two runs bend the same thing, the higher precedence wins; equal
    /// precedences multiply (with a warning when applied).
    pub precedence: i32,
    /// External events the scenario injects: (template id, offset from its start).
    pub events: Vec<(String, i64)>,
}

/// Where a scenario run is in its life at a simulated instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scheduled,
    Active,
    Settling,
    Settled,
}

/// One application of a scenario, in simulated time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRun {
    pub scenario: String,
    pub started_ms: i64,
    /// Stopped early: settling starts here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_ms: Option<i64>,
    /// Reset: no effect at all from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_ms: Option<i64>,
    /// An injected event of the user's own rather than a library template:
    /// its definition, as given (`external::read_own_event` reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<serde_json::Value>,
}

impl ScenarioRun {
    /// When the active phase ends.
    pub fn end_ms(&self, def: &ScenarioDef) -> i64 {
        let natural = self.started_ms + def.duration_ms;
        self.stopped_ms.map_or(natural, |stopped| stopped.min(natural))
    }

    pub fn phase(&self, def: &ScenarioDef, at_ms: i64) -> Phase {
        let end = self.end_ms(def);
        if self.reset_ms.is_some_and(|reset| at_ms >= reset) {
            Phase::Settled
        } else if at_ms < self.started_ms {
            Phase::Scheduled
        } else if at_ms < end {
            Phase::Active
        } else if at_ms < end + def.settle_ms {
            Phase::Settling
        } else {
            Phase::Settled
        }
    }

    /// How strongly a modifier delayed by `delay_ms` acts at `at_ms` (0 to 1).
    pub fn intensity(&self, def: &ScenarioDef, delay_ms: i64, at_ms: i64) -> f64 {
        if self.reset_ms.is_some_and(|reset| at_ms >= reset) || at_ms < self.started_ms + delay_ms {
            return 0.0;
        }
        let end = self.end_ms(def);
        if self.started_ms + delay_ms >= end {
            return 0.0;
        }
        if at_ms < end {
            return 1.0;
        }
        let since = (at_ms - end) as f64;
        let settle = def.settle_ms.max(1) as f64;
        if since >= settle {
            return 0.0;
        }
        match def.curve {
            Curve::Linear => 1.0 - since / settle,
            Curve::Exponential => (-since / settle * (1.0 / SETTLED_WITHIN).ln()).exp(),
            Curve::ImmediateBacklog => 0.0,
        }
    }

    /// The backlog spike's strength at `at_ms` (0 to 1).
    pub fn backlog(&self, def: &ScenarioDef, at_ms: i64) -> f64 {
        if def.curve != Curve::ImmediateBacklog || self.reset_ms.is_some_and(|reset| at_ms >= reset) {
            return 0.0;
        }
        let end = self.end_ms(def);
        if at_ms < end || at_ms < self.started_ms {
            return 0.0;
        }
        (1.0 - (at_ms - end) as f64 / def.settle_ms.max(1) as f64).max(0.0)
    }
}

const SCENARIO_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "duration",
    "settling",
    "modifiers",
    "backlog",
    "precedence",
    "events",
];
const MODIFIER_FIELDS: &[&str] = &[
    "stream",
    "rate",
    "field",
    "multiply",
    "chain",
    "outcome",
    "probability",
    "delay",
];

fn duration_ms(r: &mut Reader, map: &Map<String, Value>, path: &str, field: &str) -> Option<i64> {
    r.optional_duration(map, path, field, Duration::ZERO, MAX_SPAN)
        .map(|d| d.as_millis() as i64)
}

fn find(r: &mut Reader, path: &str, kind: &str, name: &str, found: Option<usize>) -> Option<usize> {
    if found.is_none() {
        r.error(path, format!("unknown {kind} `{name}`"));
    }
    found
}

/// Reads the catalog's `scenarios` against its streams and chains.
pub(super) fn read_scenarios(
    r: &mut Reader,
    root: &Map<String, Value>,
    streams: &[StreamDef],
    chains: &[Chain],
    templates: &[&str],
) -> Vec<ScenarioDef> {
    let Some(value) = root.get("scenarios") else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        r.error("scenarios", "must be a list");
        return Vec::new();
    };
    let mut scenarios: Vec<ScenarioDef> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("scenarios[{i}]");
        if let Some(def) = read_scenario(r, item, &path, streams, chains, templates) {
            if scenarios.iter().any(|s| s.id == def.id) {
                r.error(&format!("{path}.id"), format!("`{}` is defined twice", def.id));
                continue;
            }
            scenarios.push(def);
        }
    }
    scenarios
}

fn read_scenario(
    r: &mut Reader,
    value: &Value,
    path: &str,
    streams: &[StreamDef],
    chains: &[Chain],
    templates: &[&str],
) -> Option<ScenarioDef> {
    let map = r.object(value, path, SCENARIO_FIELDS)?;
    let id = r.required_str(map, path, "id");
    if let Some(id) = &id
        && (id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        r.error(&format!("{path}.id"), "must be letters, digits, `-` or `_`");
    }
    let name = r
        .optional_str(map, path, "name")
        .unwrap_or_else(|| id.clone().unwrap_or_default());
    let description = r.optional_str(map, path, "description").unwrap_or_default();
    let duration = duration_ms(r, map, path, "duration");
    if !map.contains_key("duration") {
        r.error(&format!("{path}.duration"), "is required, e.g. \"2h\"");
    }
    let precedence = r
        .optional_f64(map, path, "precedence", -1000.0, 1000.0)
        .unwrap_or(0.0) as i32;
    let (curve, settle) = read_settling(r, map, path)?;
    let mut modifiers = Vec::new();
    if let Some(list) = map.get("modifiers") {
        match list.as_array() {
            Some(list) => {
                for (j, item) in list.iter().enumerate() {
                    let mpath = format!("{path}.modifiers[{j}]");
                    if let Some(modifier) = read_modifier(r, item, &mpath, streams, chains) {
                        modifiers.push(modifier);
                    }
                }
            }
            None => r.error(&format!("{path}.modifiers"), "must be a list"),
        }
    }
    let mut backlog = Vec::new();
    if let Some(list) = map.get("backlog") {
        if curve != Curve::ImmediateBacklog {
            r.error(
                &format!("{path}.backlog"),
                "only applies with settling curve immediate_backlog",
            );
        }
        for (j, item) in list.as_array().into_iter().flatten().enumerate() {
            let bpath = format!("{path}.backlog[{j}]");
            let Some(b) = r.object(item, &bpath, &["stream", "multiply"]) else {
                continue;
            };
            let name = r.required_str(b, &bpath, "stream").unwrap_or_default();
            let stream = find(
                r,
                &format!("{bpath}.stream"),
                "stream",
                &name,
                streams.iter().position(|s| *s.name == name),
            );
            let factor = r.optional_f64(b, &bpath, "multiply", 0.0, 1000.0);
            if let Some(stream) = stream
                && streams[stream].arrival == Arrival::Follows
            {
                r.error(
                    &format!("{bpath}.stream"),
                    format!("`{name}` has no arrivals of its own to spike"),
                );
                continue;
            }
            if let (Some(stream), Some(factor)) = (stream, factor) {
                backlog.push(Backlog { stream, factor });
            }
        }
    }
    let mut events = Vec::new();
    for (j, item) in map
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let epath = format!("{path}.events[{j}]");
        let Some(e) = r.object(item, &epath, &["template", "at"]) else {
            continue;
        };
        let template = r.required_str(e, &epath, "template").unwrap_or_default();
        if !templates.contains(&template.as_str()) {
            r.error(
                &format!("{epath}.template"),
                format!("unknown external event template `{template}`"),
            );
            continue;
        }
        events.push((template, duration_ms(r, e, &epath, "at").unwrap_or(0)));
    }
    Some(ScenarioDef {
        id: id?,
        name,
        description,
        duration_ms: duration?,
        curve,
        settle_ms: settle,
        modifiers,
        backlog,
        precedence,
        events,
    })
}

fn read_settling(r: &mut Reader, map: &Map<String, Value>, path: &str) -> Option<(Curve, i64)> {
    let Some(value) = map.get("settling") else {
        return Some((Curve::Linear, 0));
    };
    let spath = format!("{path}.settling");
    let s = r.object(value, &spath, &["curve", "duration"])?;
    let curve = match r.optional_str(s, &spath, "curve").as_deref() {
        None | Some("linear") => Curve::Linear,
        Some("exponential") => Curve::Exponential,
        Some("immediate_backlog") => Curve::ImmediateBacklog,
        Some(other) => {
            r.error(
                &format!("{spath}.curve"),
                format!("unknown curve `{other}`; expected linear, exponential or immediate_backlog"),
            );
            return None;
        }
    };
    let settle = duration_ms(r, s, &spath, "duration").unwrap_or(0);
    Some((curve, settle))
}

fn read_modifier(
    r: &mut Reader,
    value: &Value,
    path: &str,
    streams: &[StreamDef],
    chains: &[Chain],
) -> Option<Modifier> {
    let m = r.object(value, path, MODIFIER_FIELDS)?;
    let delay_ms = duration_ms(r, m, path, "delay").unwrap_or(0);
    let effect = if let Some(chain_name) = r.optional_str(m, path, "chain") {
        let chain = find(
            r,
            &format!("{path}.chain"),
            "chain",
            &chain_name,
            chains.iter().position(|c| c.name == chain_name),
        )?;
        let outcome_name = r.required_str(m, path, "outcome")?;
        let outcome = chains[chain]
            .outcomes
            .iter()
            .position(|o| *streams[o.stream].name == outcome_name);
        let outcome = find(
            r,
            &format!("{path}.outcome"),
            &format!("outcome of chain `{chain_name}`"),
            &outcome_name,
            outcome,
        )?;
        if !m.contains_key("probability") {
            r.error(&format!("{path}.probability"), "is required with chain");
        }
        let probability = r.probability(m, path, "probability")?;
        Effect::Outcome {
            chain,
            outcome,
            probability,
        }
    } else {
        let stream_name = r.required_str(m, path, "stream")?;
        let stream = find(
            r,
            &format!("{path}.stream"),
            "stream",
            &stream_name,
            streams.iter().position(|s| *s.name == stream_name),
        )?;
        let def = &streams[stream];
        if let Some(field_name) = r.optional_str(m, path, "field") {
            let Some(field) = def.field(&field_name) else {
                r.error(
                    &format!("{path}.field"),
                    format!("`{stream_name}` has no field `{field_name}`"),
                );
                return None;
            };
            if matches!(
                def.fields[field].dist,
                ValueDist::Choice(_) | ValueDist::Inherit(_)
            ) {
                r.error(
                    &format!("{path}.field"),
                    "only numeric fields (uniform, normal, metric) can be multiplied",
                );
                return None;
            }
            let factor = r.optional_f64(m, path, "multiply", 0.0, 1000.0);
            if !m.contains_key("multiply") {
                r.error(&format!("{path}.multiply"), "is required with field");
            }
            Effect::Field {
                stream,
                field,
                factor: factor?,
            }
        } else {
            if def.arrival == Arrival::Follows {
                r.error(
                    &format!("{path}.stream"),
                    format!("`{stream_name}` only follows chains: shift a chain outcome instead of its rate"),
                );
                return None;
            }
            let Some(rate) = m.get("rate") else {
                r.error(path, "give rate, field or chain");
                return None;
            };
            let rpath = format!("{path}.rate");
            let rate = r.object(rate, &rpath, &["multiply", "add", "override"])?;
            if rate.len() != 1 {
                r.error(&rpath, "give exactly one of multiply, add, override");
                return None;
            }
            if let Some(factor) = r.optional_f64(rate, &rpath, "multiply", 0.0, 1000.0) {
                Effect::RateMultiply { stream, factor }
            } else if let Some(per_hour) = r.optional_f64(rate, &rpath, "add", -1e9, 1e9) {
                Effect::RateAdd { stream, per_hour }
            } else {
                let per_hour = r.optional_f64(rate, &rpath, "override", 0.0, 1e9)?;
                Effect::RateOverride { stream, per_hour }
            }
        }
    };
    Some(Modifier { effect, delay_ms })
}

/// The scenario runs in force, resolved against a catalog: what generation
/// asks at each simulated instant.
#[derive(Clone, Debug, Default)]
pub struct ScenarioEffects {
    runs: Vec<(ScenarioDef, ScenarioRun)>,
}

/// When the first entry of `timeline` starts: nothing on it acts before,
/// so generation up to then is the baseline's own.
pub fn first_start(timeline: &[ScenarioRun]) -> Option<i64> {
    timeline.iter().map(|entry| entry.started_ms).min()
}

/// A timeline entry naming `event:<template>` is an external event injected
/// at that instant rather than a scenario.
pub const EVENT_PREFIX: &str = "event:";

impl ScenarioEffects {
    /// The effects of `timeline` against a catalog: its scenarios, and its
    /// external event templates for injected events (each impact acts, at
    /// full strength, from its delay for its duration).
    pub fn for_catalog(catalog: &super::Catalog, timeline: &[ScenarioRun]) -> ScenarioEffects {
        let mut effects = ScenarioEffects::new(&catalog.scenarios, timeline);
        let library = catalog.event_library(timeline);
        for entry in timeline {
            let Some(template) = entry
                .scenario
                .strip_prefix(EVENT_PREFIX)
                .and_then(|id| library.iter().find(|t| t.id == id))
            else {
                continue;
            };
            for impact in &template.impacts {
                let effect = impact.effect();
                let def = ScenarioDef {
                    id: entry.scenario.clone(),
                    name: template.title.clone(),
                    description: String::new(),
                    duration_ms: impact.delay_ms + impact.duration_ms,
                    curve: Curve::Linear,
                    settle_ms: 0,
                    modifiers: vec![Modifier {
                        effect,
                        delay_ms: impact.delay_ms,
                    }],
                    backlog: Vec::new(),
                    precedence: 0,
                    events: Vec::new(),
                };
                effects.runs.push((def, entry.clone()));
            }
        }
        effects
    }

    /// The effects of `timeline`; runs of scenarios the catalog lacks are left out.
    pub fn new(scenarios: &[ScenarioDef], timeline: &[ScenarioRun]) -> ScenarioEffects {
        let runs = timeline
            .iter()
            .filter_map(|run| {
                let def = scenarios.iter().find(|d| d.id == run.scenario)?;
                Some((def.clone(), run.clone()))
            })
            .collect();
        ScenarioEffects { runs }
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The (run, modifier, intensity) of every modifier acting at `at_ms`
    /// that `matches`, keeping only the highest precedence among them.
    fn acting(&self, at_ms: i64, matches: impl Fn(&Effect) -> bool) -> Vec<(&Effect, f64)> {
        let mut acting: Vec<(i32, &Effect, f64)> = Vec::new();
        for (def, run) in &self.runs {
            for modifier in def.modifiers.iter().filter(|m| matches(&m.effect)) {
                let intensity = run.intensity(def, modifier.delay_ms, at_ms);
                if intensity > 0.0 {
                    acting.push((def.precedence, &modifier.effect, intensity));
                }
            }
        }
        let top = acting.iter().map(|(p, _, _)| *p).max().unwrap_or(0);
        acting
            .into_iter()
            .filter(|(p, _, _)| *p == top)
            .map(|(_, e, i)| (e, i))
            .collect()
    }

    /// A root stream's arrival rate at `at_ms`, from its unbent rate
    /// `per_hour` (already scaled and shaped by its rhythm).
    pub fn rate(&self, stream: usize, at_ms: i64, per_hour: f64, scale: f64) -> f64 {
        if self.runs.is_empty() {
            return per_hour;
        }
        let mut rate = per_hour;
        for (effect, intensity) in self.acting(at_ms, |e| {
            matches!(e, Effect::RateMultiply { stream: s, .. } | Effect::RateAdd { stream: s, .. }
                | Effect::RateOverride { stream: s, .. } if *s == stream)
        }) {
            match effect {
                Effect::RateMultiply { factor, .. } => rate *= 1.0 + (factor - 1.0) * intensity,
                Effect::RateAdd { per_hour, .. } => rate += per_hour * scale * intensity,
                Effect::RateOverride { per_hour, .. } => rate += (per_hour * scale - rate) * intensity,
                _ => {}
            }
        }
        for (def, run) in &self.runs {
            let spike = run.backlog(def, at_ms);
            if spike > 0.0 {
                for backlog in def.backlog.iter().filter(|b| b.stream == stream) {
                    rate *= 1.0 + (backlog.factor - 1.0) * spike;
                }
            }
        }
        rate.max(0.0)
    }

    /// A chain's outcome probabilities at `at_ms` when a scenario shifts
    /// them; `None` when they are the catalog's.
    pub fn outcome_probabilities(&self, chain: usize, base: &[f64], at_ms: i64) -> Option<Vec<f64>> {
        if self.runs.is_empty() {
            return None;
        }
        let acting = self.acting(
            at_ms,
            |e| matches!(e, Effect::Outcome { chain: c, .. } if *c == chain),
        );
        if acting.is_empty() {
            return None;
        }
        let mut probabilities = base.to_vec();
        for (effect, intensity) in acting {
            let Effect::Outcome {
                outcome, probability, ..
            } = effect
            else {
                continue;
            };
            let Some(current) = probabilities.get(*outcome).copied() else {
                continue;
            };
            let target = current + (probability - current) * intensity;
            // The other outcomes keep their proportions in what is left.
            let others = if current < 1.0 {
                (1.0 - target) / (1.0 - current)
            } else {
                0.0
            };
            for (j, p) in probabilities.iter_mut().enumerate() {
                *p = if j == *outcome { target } else { *p * others };
            }
        }
        Some(probabilities)
    }

    /// The multiplier on a numeric field's values at `at_ms`.
    pub fn field_factor(&self, stream: usize, field: usize, at_ms: i64) -> f64 {
        if self.runs.is_empty() {
            return 1.0;
        }
        self.acting(
            at_ms,
            |e| matches!(e, Effect::Field { stream: s, field: f, .. } if *s == stream && *f == field),
        )
        .into_iter()
        .map(|(effect, intensity)| match effect {
            Effect::Field { factor, .. } => 1.0 + (factor - 1.0) * intensity,
            _ => 1.0,
        })
        .product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(curve: Curve) -> ScenarioDef {
        ScenarioDef {
            id: "s".into(),
            name: "s".into(),
            description: String::new(),
            duration_ms: 1_000,
            curve,
            settle_ms: 1_000,
            modifiers: vec![Modifier {
                effect: Effect::RateMultiply {
                    stream: 0,
                    factor: 3.0,
                },
                delay_ms: 0,
            }],
            backlog: vec![Backlog {
                stream: 1,
                factor: 2.0,
            }],
            precedence: 0,
            events: Vec::new(),
        }
    }

    fn run(started_ms: i64) -> ScenarioRun {
        ScenarioRun {
            scenario: "s".into(),
            started_ms,
            stopped_ms: None,
            reset_ms: None,
            event: None,
        }
    }

    #[test]
    fn curves_settle_within_five_percent_by_the_end_of_settling() {
        for curve in [Curve::Linear, Curve::Exponential, Curve::ImmediateBacklog] {
            let def = def(curve.clone());
            let r = run(0);
            assert_eq!(r.intensity(&def, 0, -1), 0.0);
            assert_eq!(r.intensity(&def, 0, 500), 1.0);
            assert_eq!(r.phase(&def, 500), Phase::Active);
            assert_eq!(r.phase(&def, 1_500), Phase::Settling);
            assert!(r.intensity(&def, 0, 1_999) <= SETTLED_WITHIN + 1e-3, "{curve:?}");
            assert_eq!(r.intensity(&def, 0, 2_000), 0.0);
            assert_eq!(r.phase(&def, 2_000), Phase::Settled);
        }
        let linear = def(Curve::Linear);
        assert!((run(0).intensity(&linear, 0, 1_500) - 0.5).abs() < 1e-9);
        let exponential = def(Curve::Exponential);
        let halfway = run(0).intensity(&exponential, 0, 1_500);
        assert!((halfway - 0.05f64.sqrt()).abs() < 1e-9, "{halfway}");
    }

    #[test]
    fn stopping_starts_settling_and_reset_ends_everything() {
        let def = def(Curve::Linear);
        let stopped = ScenarioRun {
            stopped_ms: Some(400),
            ..run(0)
        };
        assert_eq!(stopped.phase(&def, 500), Phase::Settling);
        assert!((stopped.intensity(&def, 0, 900) - 0.5).abs() < 1e-9);
        let reset = ScenarioRun {
            reset_ms: Some(300),
            ..run(0)
        };
        assert_eq!(reset.intensity(&def, 0, 299), 1.0);
        assert_eq!(reset.intensity(&def, 0, 300), 0.0);
        assert_eq!(reset.phase(&def, 300), Phase::Settled);
        // A cascade delayed past the end never acts.
        assert_eq!(run(0).intensity(&def, 1_000, 1_200), 0.0);
    }

    #[test]
    fn effects_bend_rates_outcomes_and_fields_and_compose() {
        let mut surge = def(Curve::ImmediateBacklog);
        surge.modifiers.push(Modifier {
            effect: Effect::Outcome {
                chain: 0,
                outcome: 1,
                probability: 0.5,
            },
            delay_ms: 0,
        });
        surge.modifiers.push(Modifier {
            effect: Effect::Field {
                stream: 2,
                field: 0,
                factor: 4.0,
            },
            delay_ms: 0,
        });
        let effects = ScenarioEffects::new(std::slice::from_ref(&surge), &[run(0)]);
        assert_eq!(effects.rate(0, 500, 10.0, 1.0), 30.0);
        assert_eq!(effects.rate(0, 1_500, 10.0, 1.0), 10.0, "immediate return");
        assert_eq!(
            effects.rate(1, 1_500, 10.0, 1.0),
            15.0,
            "backlog spike, half faded"
        );
        let shifted = effects
            .outcome_probabilities(0, &[0.6, 0.2, 0.1], 500)
            .expect("shifted");
        assert!((shifted[1] - 0.5).abs() < 1e-12);
        assert!(
            (shifted[0] / shifted[2] - 6.0).abs() < 1e-9,
            "others keep their proportions"
        );
        // "No outcome" (0.1) shrinks in the same proportion: 0.1 × 0.5 / 0.8.
        assert!((shifted.iter().sum::<f64>() - (1.0 - 0.1 * 0.5 / 0.8)).abs() < 1e-12);
        assert_eq!(effects.field_factor(2, 0, 500), 4.0);
        assert_eq!(effects.outcome_probabilities(0, &[0.6, 0.2], 5_000), None);

        // Two runs of equal precedence multiply; a higher precedence wins alone.
        let twice = ScenarioEffects::new(std::slice::from_ref(&surge), &[run(0), run(0)]);
        assert_eq!(twice.rate(0, 500, 10.0, 1.0), 90.0);
        let mut strong = def(Curve::Linear);
        strong.id = "strong".into();
        strong.precedence = 5;
        strong.modifiers[0].effect = Effect::RateOverride {
            stream: 0,
            per_hour: 2.0,
        };
        let both = ScenarioEffects::new(
            &[surge, strong],
            &[
                run(0),
                ScenarioRun {
                    scenario: "strong".into(),
                    ..run(0)
                },
            ],
        );
        assert_eq!(both.rate(0, 500, 10.0, 1.0), 2.0);
    }
}
