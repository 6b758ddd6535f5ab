//! How every stream moved after an external event, against the same window
//! of the four weeks before: what tells a real event from a red herring.

use serde::Serialize;

use super::catalog::Catalog;
use super::external::{DAY_MS, EventTemplate, ExternalEvent};

/// How one stream moved after an event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Movement {
    pub stream: String,
    /// Events in the window after the event, and the median of the same
    /// window on the four weeks before.
    pub count: u64,
    pub usual: f64,
    /// Standard score against those weeks: how unusual the count is.
    pub z: f64,
}

impl Movement {
    /// Whether the stream stood out: at least 3 standard deviations, and 25 %.
    pub fn moved(&self) -> bool {
        self.z.abs() >= 3.0 && (self.count as f64 - self.usual).abs() >= 0.25 * self.usual.max(1.0)
    }
}

/// How every stream moved in the window after `event` against the same
/// window on the same weekday of the four weeks before (so the weekly rhythm
/// does not pass for an effect): `counts(from, until)` gives the events per
/// stream in a window. `library` holds the event's template (the catalog's,
/// or `Catalog::event_library`'s for a run's own events).
pub fn correlate(
    catalog: &Catalog,
    library: &[EventTemplate],
    event: &ExternalEvent,
    counts: impl Fn(i64, i64) -> Vec<u64>,
) -> Vec<Movement> {
    let template = &library[event.template];
    let (start, end) = template
        .impacts
        .iter()
        .map(|i| (i.delay_ms, i.delay_ms + i.duration_ms))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
        .unwrap_or((0, 6 * 3_600_000));
    let (from, until) = (event.at_ms + start, event.at_ms + end.min(DAY_MS));
    let now = counts(from, until);
    let before: Vec<Vec<u64>> = (1..=4)
        .map(|week| counts(from - week * 7 * DAY_MS, until - week * 7 * DAY_MS))
        .collect();
    (0..catalog.streams.len())
        .map(|s| {
            // The median week: another event in one of them does not pass for usual.
            let mut past: Vec<f64> = before.iter().map(|c| c[s] as f64).collect();
            past.sort_by(f64::total_cmp);
            let usual = (past[1] + past[2]) / 2.0;
            // Counts are Poisson-like: their spread is about √mean.
            let spread = usual.sqrt().max(1.0);
            Movement {
                stream: catalog.streams[s].name.to_string(),
                count: now[s],
                usual,
                z: (now[s] as f64 - usual) / spread,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::streams::ShardGenerator;

    const FEB_2: i64 = 1_769_990_400_000;

    #[test]
    fn real_events_move_their_streams_and_red_herrings_do_not() {
        let catalog = Arc::new(Catalog::builtin());
        // Counts of the impacted root streams' own events (generated alone, for speed).
        let counts_for = |roots: Vec<usize>| {
            let catalog = catalog.clone();
            move |from: i64, until: i64| {
                let mut counts = vec![0u64; catalog.streams.len()];
                for root in &roots {
                    let mut shard = ShardGenerator::new(catalog.clone(), *root, 0.3, from);
                    let mut events = Vec::new();
                    shard.advance(until, &mut events);
                    counts[*root] += events.iter().filter(|e| usize::from(e.stream) == *root).count() as u64;
                }
                counts
            }
        };
        let month = catalog
            .external_events
            .between(catalog.seed, FEB_2 + 28 * DAY_MS, FEB_2 + 33 * DAY_MS);
        let (mut real_moved, mut real_total, mut herring_moved, mut herring_total) = (0, 0, 0, 0);
        for event in month.iter().take(14) {
            let template = &catalog.external_events.library[event.template];
            let rate_streams: Vec<usize> = template
                .impacts
                .iter()
                .filter(|i| i.field.is_none())
                .map(|i| i.stream)
                .collect();
            if rate_streams.is_empty() {
                continue;
            }
            let movements = correlate(
                &catalog,
                &catalog.external_events.library,
                event,
                counts_for(rate_streams.clone()),
            );
            let moved = rate_streams.iter().any(|s| movements[*s].moved());
            if event.real {
                real_total += 1;
                real_moved += usize::from(moved);
            } else {
                herring_total += 1;
                herring_moved += usize::from(moved);
            }
        }
        assert!(
            real_total >= 4 && herring_total >= 2,
            "{real_total} real, {herring_total} herrings"
        );
        assert!(
            real_moved * 10 >= real_total * 7,
            "{real_moved} of {real_total} real events moved their streams"
        );
        // A red herring can coincide with a real event on the same stream, and
        // correlation cannot tell them apart (nor could an analyst); it still
        // moves its streams far less often than real events do.
        assert!(
            herring_moved * real_total * 2 < real_moved * herring_total,
            "{herring_moved} of {herring_total} red herrings moved, {real_moved} of {real_total} real events"
        );
    }
}
