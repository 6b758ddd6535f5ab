//! `ExternalEvents`: the external events of a stream run's history, with
//! correlation computed from generated data either way (one stream against
//! every event, or one event against every stream).

use std::sync::Arc;

use throng_engine::streams::external::ExternalEvent;
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
    event: &ExternalEvent,
    movements: Vec<v1::StreamMovement>,
) -> v1::ExternalEventMessage {
    let template = &catalog.external_events.library[event.template];
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

/// The external events a run's timeline injects.
pub fn injected(catalog: &Catalog, timeline: &[ScenarioRun]) -> Vec<ExternalEvent> {
    timeline
        .iter()
        // An event reset before it came never happened.
        .filter(|entry| entry.reset_ms.is_none_or(|reset| reset > entry.started_ms))
        .filter_map(|entry| {
            let id = entry.scenario.strip_prefix(EVENT_PREFIX)?;
            let template = catalog.external_events.library.iter().position(|t| t.id == id)?;
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
    if !event.is_empty() {
        let id = u64::from_str_radix(event, 16)
            .map_err(|_| format!("event: `{event}` is not an event id (16 hex digits)"))?;
        events.retain(|e| e.id == id);
        let Some(found) = events.first() else {
            return Err(format!("event: no external event {event} in the window"));
        };
        let all: Vec<usize> = catalog.roots();
        let movements = correlate(catalog, found, |a, b| counts(run, &all, timeline, a, b));
        return Ok(ExternalEvents {
            run_id: run_id.to_string(),
            catalog: catalog.clone(),
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
                    let mut moved = correlate(catalog, &e, |a, b| counts(run, &roots, timeline, a, b));
                    vec![moved.swap_remove(s)]
                }
            };
            (e, movements)
        })
        .collect();
    Ok(ExternalEvents {
        run_id: run_id.to_string(),
        catalog: catalog.clone(),
        events: correlated,
    })
}
