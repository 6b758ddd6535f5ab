//! `ExternalEvents`: the external events of a stream run's history, with
//! correlation computed from generated data either way (one stream against
//! every event, or one event against every stream).

use std::sync::Arc;

use throng_engine::streams::external::{EventTemplate, ExternalEvent};
use throng_engine::streams::movement::{Movement, correlate};
use throng_engine::streams::scenario::{EVENT_PREFIX, ScenarioRun};
use throng_engine::streams::{Catalog, ShardGenerator, StreamRunSpec};
use throng_proto::v1;

const DAY_MS: i64 = 86_400_000;

/// Events per stream in `[from, until)` from the given roots' shards.
fn counts(run: &StreamRunSpec, roots: &[usize], timeline: &[ScenarioRun], from: i64, until: i64) -> Vec<u64> {
    let catalog: &Arc<Catalog> = &run.catalog;
    let mut counts = vec![0u64; catalog.streams.len()];
    let mut events = Vec::new();
    for root in roots {
        let mut shard = ShardGenerator::new(catalog.clone(), *root, run.scale, from);
        shard.set_timeline(timeline);
        shard.advance(until, &mut events);
        for event in events.drain(..) {
            counts[usize::from(event.stream)] += 1;
        }
    }
    counts
}

fn movement_to_wire(m: &Movement) -> v1::StreamMovement {
    v1::StreamMovement {
        stream: m.stream.clone(),
        count: m.count,
        usual: m.usual,
        z: m.z,
        moved: m.moved(),
    }
}

fn event_to_wire(
    catalog: &Catalog,
    library: &[EventTemplate],
    event: &ExternalEvent,
    movements: Vec<v1::StreamMovement>,
) -> v1::ExternalEventMessage {
    let template = &library[event.template];
    let mut expected: Vec<String> = template
        .impacts
        .iter()
        .map(|i| catalog.streams[i.stream].name.to_string())
        .collect();
    expected.dedup();
    v1::ExternalEventMessage {
        id: format!("{:016x}", event.id),
        template: template.id.clone(),
        category: template.category.clone(),
        title: template.title.clone(),
        severity: template.severity.clone(),
        icon: template.icon.clone(),
        at_ms: event.at_ms,
        real: event.real,
        expected_streams: expected,
        movements,
        injected: event.injected,
    }
}

/// An event of the user's own from the wire, in the shape of a library
/// template (empty fields left out, so defaults apply and errors name what
/// is missing).
pub fn own_event_from_wire(event: &v1::OwnEvent) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    let put = |map: &mut serde_json::Map<String, serde_json::Value>, key: &str, value: &str| {
        if !value.is_empty() {
            map.insert(key.into(), value.into());
        }
    };
    put(&mut map, "id", &event.id);
    put(&mut map, "title", &event.title);
    put(&mut map, "category", &event.category);
    put(&mut map, "severity", &event.severity);
    put(&mut map, "icon", &event.icon);
    let impacts = event
        .impact
        .iter()
        .map(|i| {
            let mut impact = serde_json::Map::new();
            put(&mut impact, "stream", &i.stream);
            put(&mut impact, "field", &i.field);
            if let Some(factor) = i.multiply {
                impact.insert("multiply".into(), factor.into());
            }
            put(&mut impact, "delay", &i.delay);
            put(&mut impact, "duration", &i.duration);
            serde_json::Value::Object(impact)
        })
        .collect();
    map.insert("impact".into(), serde_json::Value::Array(impacts));
    serde_json::Value::Object(map)
}

/// The external events a run's timeline injects; each names its template
/// in `catalog.event_library(timeline)`.
pub fn injected(catalog: &Catalog, timeline: &[ScenarioRun]) -> Vec<ExternalEvent> {
    injected_from(&catalog.event_library(timeline), timeline)
}

/// The external events `entries` inject, each naming its template in `library`.
pub fn injected_from(library: &[EventTemplate], entries: &[ScenarioRun]) -> Vec<ExternalEvent> {
    entries
        .iter()
        // An event reset before it came never happened.
        .filter(|entry| entry.reset_ms.is_none_or(|reset| reset > entry.started_ms))
        .filter_map(|entry| {
            let id = entry.scenario.strip_prefix(EVENT_PREFIX)?;
            let template = library.iter().position(|t| t.id == id)?;
            Some(ExternalEvent::injected(template, id, entry.started_ms))
        })
        .collect()
}

/// External events of a run, each with what it moved in the streams it
/// was correlated against (none: not asked).
#[derive(Clone, Debug)]
pub struct ExternalEvents {
    pub run_id: String,
    pub catalog: Arc<Catalog>,
    /// The templates the events name: the catalog's and the run's own.
    pub library: Vec<EventTemplate>,
    pub events: Vec<(ExternalEvent, Vec<Movement>)>,
}

pub fn to_wire(answer: &ExternalEvents) -> v1::ExternalEventsResponse {
    v1::ExternalEventsResponse {
        run_id: answer.run_id.clone(),
        events: answer
            .events
            .iter()
            .map(|(event, moved)| {
                event_to_wire(
                    &answer.catalog,
                    &answer.library,
                    event,
                    moved.iter().map(movement_to_wire).collect(),
                )
            })
            .collect(),
    }
}

/// The events of `[from, until)` (default: the 30 days before the run's
/// start), correlated against `stream` or, for `event`, against every stream.
#[allow(clippy::too_many_arguments)]
pub fn external_events(
    run_id: &str,
    run: &StreamRunSpec,
    started_at_ms: i64,
    timeline: &[ScenarioRun],
    from: Option<i64>,
    until: Option<i64>,
    stream: &str,
    event: &str,
) -> Result<ExternalEvents, String> {
    let catalog = &run.catalog;
    let from = from.unwrap_or(run.clock.start_ms(started_at_ms) - 30 * DAY_MS);
    let until = until.unwrap_or(from + 30 * DAY_MS);
    if until <= from || until - from > 400 * DAY_MS {
        return Err("the window must be positive and at most 400 days".into());
    }
    let mut events = catalog.external_events.between(catalog.seed, from, until);
    events.extend(
        injected(catalog, timeline)
            .into_iter()
            .filter(|e| e.at_ms >= from && e.at_ms < until),
    );
    events.sort_by_key(|e| (e.at_ms, e.id));
    let library = catalog.event_library(timeline);
    if !event.is_empty() {
        let id = u64::from_str_radix(event, 16)
            .map_err(|_| format!("event: `{event}` is not an event id (16 hex digits)"))?;
        events.retain(|e| e.id == id);
        let Some(found) = events.first() else {
            return Err(format!("event: no external event {event} in the window"));
        };
        let all: Vec<usize> = catalog.roots();
        let movements = correlate(catalog, &library, found, |a, b| counts(run, &all, timeline, a, b));
        return Ok(ExternalEvents {
            run_id: run_id.to_string(),
            catalog: catalog.clone(),
            library: library.into_owned(),
            events: vec![(found.clone(), movements)],
        });
    }
    let target = if stream.is_empty() {
        None
    } else {
        Some(
            catalog
                .stream(stream)
                .ok_or_else(|| format!("stream: `{stream}` is not a stream"))?,
        )
    };
    let correlated = events
        .into_iter()
        .map(|e| {
            let movements = match target {
                None => Vec::new(),
                Some(s) => {
                    let roots = catalog.roots_reaching(s);
                    let mut moved =
                        correlate(catalog, &library, &e, |a, b| counts(run, &roots, timeline, a, b));
                    vec![moved.swap_remove(s)]
                }
            };
            (e, movements)
        })
        .collect();
    Ok(ExternalEvents {
        run_id: run_id.to_string(),
        catalog: catalog.clone(),
        library: library.into_owned(),
        events: correlated,
    })
}
