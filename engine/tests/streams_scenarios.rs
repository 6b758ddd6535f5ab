//! Every scenario of the built-in catalog visibly moves what it bends while
//! active, and is back within 5 % of baseline once it has settled.
//!
//! A scenario run and a baseline run draw from the same random streams, so
//! they differ only where the scenario bends a rate, a chance or a value:
//! the comparison needs no statistical slack beyond the bend itself.

use std::collections::HashSet;
use std::sync::Arc;

use throng_engine::streams::external::CATEGORIES;
use throng_engine::streams::generate::FieldValue;
use throng_engine::streams::scenario::{Effect, Phase, ScenarioDef, ScenarioRun};
use throng_engine::streams::{Catalog, ShardGenerator, StreamEvent};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Wednesday 2026-02-04T00:00Z: no season, no holiday.
const START: i64 = 1_770_163_200_000;
const SCALE: f64 = 0.2;

fn generate(
    catalog: &Arc<Catalog>,
    scale: f64,
    roots: &[usize],
    from: i64,
    until: i64,
    timeline: &[ScenarioRun],
) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    for root in roots {
        let mut shard = ShardGenerator::new(catalog.clone(), *root, scale, from);
        shard.set_timeline(timeline);
        shard.advance(until, &mut events);
    }
    events
}

/// What a modifier bends, measured over `[from, until)`.
fn measure(catalog: &Arc<Catalog>, effect: &Effect, from: i64, until: i64, timeline: &[ScenarioRun]) -> f64 {
    measure_at(catalog, SCALE, effect, from, until, timeline)
}

/// [`measure`] at `scale`.
fn measure_at(
    catalog: &Arc<Catalog>,
    scale: f64,
    effect: &Effect,
    from: i64,
    until: i64,
    timeline: &[ScenarioRun],
) -> f64 {
    match effect {
        Effect::RateMultiply { stream, .. }
        | Effect::RateAdd { stream, .. }
        | Effect::RateOverride { stream, .. } => {
            let events = generate(catalog, scale, &[*stream], from, until, timeline);
            events
                .iter()
                .filter(|e| usize::from(e.stream) == *stream && e.parent.is_none())
                .count() as f64
        }
        Effect::Field { stream, field, .. } => {
            let events = generate(
                catalog,
                scale,
                &catalog.roots_reaching(*stream),
                from,
                until,
                timeline,
            );
            let values: Vec<f64> = events
                .iter()
                .filter(|e| usize::from(e.stream) == *stream)
                .filter_map(|e| match e.fields.get(*field) {
                    Some(FieldValue::Number(n)) => Some(*n),
                    _ => None,
                })
                .collect();
            values.iter().sum::<f64>() / values.len().max(1) as f64
        }
        Effect::Outcome { chain, outcome, .. } => {
            // The share of the chain's parents in the window that took the outcome.
            let chain_def = &catalog.chains[*chain];
            let target = chain_def.outcomes[*outcome].stream;
            let reach = chain_def.outcomes[*outcome].delay_max_ms;
            let events = generate(
                catalog,
                scale,
                &catalog.roots_reaching(chain_def.from),
                from,
                until + reach,
                timeline,
            );
            let parents: HashSet<u64> = events
                .iter()
                .filter(|e| usize::from(e.stream) == chain_def.from && e.at_ms < until)
                .map(|e| e.id)
                .collect();
            let took = events
                .iter()
                .filter(|e| usize::from(e.stream) == target && e.parent.is_some_and(|p| parents.contains(&p)))
                .count();
            took as f64 / parents.len().max(1) as f64
        }
    }
}

/// The direction a modifier pushes its measure: +1 up, -1 down.
fn direction(catalog: &Catalog, effect: &Effect) -> f64 {
    match effect {
        Effect::RateMultiply { factor, .. } | Effect::Field { factor, .. } => (factor - 1.0).signum(),
        Effect::RateAdd { per_hour, .. } => per_hour.signum(),
        Effect::RateOverride { stream, per_hour } => match catalog.streams[*stream].arrival {
            throng_engine::streams::definition::Arrival::Rate { per_hour: base } => {
                (per_hour - base).signum()
            }
            _ => 1.0,
        },
        Effect::Outcome {
            chain,
            outcome,
            probability,
        } => (probability - catalog.chains[*chain].outcomes[*outcome].probability).signum(),
    }
}

fn check(catalog: &Arc<Catalog>, def: &ScenarioDef) {
    let run = ScenarioRun {
        scenario: def.id.clone(),
        started_ms: START,
        stopped_ms: None,
        reset_ms: None,
        event: None,
    };
    let timeline = [run.clone()];
    let end = run.end_ms(def);
    assert_eq!(run.phase(def, end - 1), Phase::Active);
    assert_eq!(run.phase(def, end + def.settle_ms), Phase::Settled);
    for modifier in &def.modifiers {
        // Active: from when the modifier starts, at most a day.
        let active_from = START + modifier.delay_ms;
        let active_until = end.min(active_from + DAY);
        let base = measure(catalog, &modifier.effect, active_from, active_until, &[]);
        let bent = measure(catalog, &modifier.effect, active_from, active_until, &timeline);
        let moved = (bent - base) / base.max(1e-9);
        let way = direction(catalog, &modifier.effect);
        assert!(
            moved * way > 0.15,
            "{}: {:?} moved {moved:+.3} while active ({base} → {bent})",
            def.id,
            modifier.effect
        );
        // Settled: a day after settling ends.
        let settled_from = end + def.settle_ms;
        let base = measure(catalog, &modifier.effect, settled_from, settled_from + DAY, &[]);
        let bent = measure(
            catalog,
            &modifier.effect,
            settled_from,
            settled_from + DAY,
            &timeline,
        );
        let left = (bent - base).abs() / base.max(1e-9);
        assert!(
            left <= 0.05,
            "{}: {:?} still {left:.3} off once settled",
            def.id,
            modifier.effect
        );
    }
}

fn scenario(catalog: &Catalog, id: &str) -> ScenarioDef {
    catalog
        .scenarios
        .iter()
        .find(|s| s.id == id)
        .cloned()
        .unwrap_or_else(|| panic!("no scenario {id}"))
}

#[test]
fn the_nine_scenarios_are_defined() {
    let catalog = Catalog::builtin();
    let ids: Vec<&str> = catalog.scenarios.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "exam-season-surge",
            "supply-crisis",
            "payment-outage",
            "quality-crisis",
            "support-overload",
            "churn-pattern",
            "recruiting-crisis",
            "competitor-disruption",
            "normal-operations"
        ]
    );
}

#[test]
fn demand_and_supply_scenarios_move_and_settle() {
    let catalog = Arc::new(Catalog::builtin());
    for id in ["exam-season-surge", "supply-crisis", "recruiting-crisis"] {
        check(&catalog, &scenario(&catalog, id));
    }
}

#[test]
fn outage_and_overload_scenarios_move_and_settle() {
    let catalog = Arc::new(Catalog::builtin());
    for id in ["payment-outage", "support-overload"] {
        check(&catalog, &scenario(&catalog, id));
    }
}

#[test]
fn quality_churn_and_competitor_scenarios_move_and_settle() {
    let catalog = Arc::new(Catalog::builtin());
    for id in ["quality-crisis", "churn-pattern", "competitor-disruption"] {
        check(&catalog, &scenario(&catalog, id));
    }
}

#[test]
fn normal_operations_bends_nothing_and_the_backlog_spikes_after_an_outage() {
    let catalog = Arc::new(Catalog::builtin());
    let roots = catalog.roots();
    let quiet = ScenarioRun {
        scenario: "normal-operations".into(),
        started_ms: START,
        stopped_ms: None,
        reset_ms: None,
        event: None,
    };
    assert!(
        generate(&catalog, SCALE, &roots, START, START + 2 * HOUR, &[])
            == generate(&catalog, SCALE, &roots, START, START + 2 * HOUR, &[quiet])
    );

    // After the outage ends, chats spike (the backlog) and fade within two hours.
    let outage = ScenarioRun {
        scenario: "payment-outage".into(),
        started_ms: START + 10 * HOUR,
        stopped_ms: None,
        reset_ms: None,
        event: None,
    };
    let chat = catalog.stream("support.chat.started").expect("stream");
    let count = |from: i64, until: i64, timeline: &[ScenarioRun]| {
        generate(&catalog, SCALE, &[chat], from, until, timeline)
            .iter()
            .filter(|e| usize::from(e.stream) == chat && e.parent.is_none())
            .count() as f64
    };
    let end = START + 12 * HOUR;
    let spike = count(end, end + HOUR, std::slice::from_ref(&outage)) / count(end, end + HOUR, &[]);
    assert!(spike > 1.3, "backlog spike {spike}");
    let after = count(end + 2 * HOUR, end + 6 * HOUR, std::slice::from_ref(&outage))
        / count(end + 2 * HOUR, end + 6 * HOUR, &[]);
    assert!((after - 1.0).abs() <= 0.05, "after the backlog {after}");
}

/// The external event library covers the six kinds of the stream
/// simulator's own list, and every template, injected, moves each stream it
/// names the way and about as far as its impact says, only for as long.
#[test]
fn every_library_event_moves_what_it_names_for_as_long_as_it_says() {
    let catalog = Arc::new(Catalog::builtin());
    let library = &catalog.external_events.library;
    assert!(library.len() >= 28, "{} templates", library.len());
    for kind in CATEGORIES {
        let of_kind = library.iter().filter(|t| t.category == *kind).count();
        assert!(of_kind >= 4, "{of_kind} {kind} templates");
    }
    // Counted at a larger scale from a weekday's morning, so that a quiet
    // stream's count moves by more than its own noise.
    const LIBRARY_SCALE: f64 = 2.0;
    const AT: i64 = START + 14 * HOUR;
    let mut problems = Vec::new();
    for template in library {
        let timeline = [ScenarioRun {
            scenario: format!("event:{}", template.id),
            started_ms: AT,
            stopped_ms: None,
            reset_ms: None,
            event: None,
        }];
        for impact in &template.impacts {
            let effect = impact.effect();
            let from = AT + impact.delay_ms;
            let until = from + impact.duration_ms.min(DAY);
            let ratio = measure_at(&catalog, LIBRARY_SCALE, &effect, from, until, &timeline)
                / measure_at(&catalog, LIBRARY_SCALE, &effect, from, until, &[]).max(1e-9);
            let bend = impact.factor - 1.0;
            if (ratio - 1.0) * bend.signum() < 0.5 * bend.abs() || (ratio - 1.0).abs() > 1.5 * bend.abs() {
                problems.push(format!(
                    "{}: {effect:?} moved ×{ratio:.3} for ×{}",
                    template.id, impact.factor
                ));
            }
            // Once over, nothing is left of it.
            let over = AT + impact.delay_ms + impact.duration_ms;
            let after = measure_at(&catalog, LIBRARY_SCALE, &effect, over, over + DAY, &timeline)
                / measure_at(&catalog, LIBRARY_SCALE, &effect, over, over + DAY, &[]).max(1e-9);
            if (after - 1.0).abs() > 0.05 {
                problems.push(format!("{}: {effect:?} still ×{after:.3} after", template.id));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
