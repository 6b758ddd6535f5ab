//! Scenario control for stream runs: where a run's simulated clock is, and
//! how applying, stopping and resetting scenarios changes its timeline.
//!
//! A change takes effect at a simulated instant a little ahead of the run's
//! clock, so it reaches every shard before any of them generates that
//! instant: all agents bend the same events the same way.

use throng_engine::streams::StreamRunSpec;
use throng_engine::streams::external::EventTemplate;
use throng_engine::streams::scenario::{EVENT_PREFIX, Phase, ScenarioDef, ScenarioRun};
use throng_proto::v1;

use crate::campaign::CampaignStatus;

/// Wall time a change is scheduled ahead of the run's clock: covers a
/// reconcile round, the assign call and a shard's tick.
pub const LEAD_MS: i64 = 2_000;

/// The run's simulated clock at wall time `now_ms` (pauses not counted);
/// `None` for a backfill, whose clock has no pace.
pub fn sim_now_ms(run: &StreamRunSpec, status: &CampaignStatus, now_ms: u64) -> Option<i64> {
    let started = status.started_at_ms.unwrap_or(status.created_at_ms) as i64;
    let running = (status.plan_seconds(now_ms) * 1000.0) as i64;
    run.clock.sim_ms(started, running)
}

/// The simulated instant a change made now takes effect.
pub fn effective_ms(run: &StreamRunSpec, status: &CampaignStatus, now_ms: u64) -> Option<i64> {
    let later = now_ms + LEAD_MS as u64;
    sim_now_ms(run, status, later)
}

fn definition<'a>(run: &'a StreamRunSpec, id: &str) -> Option<&'a ScenarioDef> {
    run.catalog.scenarios.iter().find(|s| s.id == id)
}

fn streams_bent(run: &StreamRunSpec, def: &ScenarioDef) -> Vec<String> {
    let mut streams: Vec<String> = def
        .modifiers
        .iter()
        .filter_map(|m| m.effect.stream())
        .map(|s| run.catalog.streams[s].name.to_string())
        .collect();
    streams.sort();
    streams.dedup();
    streams
}

/// Adds a run of `scenario` at `at_ms`. Refused while another scenario is
/// active or settling, unless `compose`; composing effects on the same
/// streams gives warnings.
pub fn apply(
    run: &StreamRunSpec,
    timeline: &mut Vec<ScenarioRun>,
    scenario: &str,
    at_ms: i64,
    compose: bool,
) -> Result<Vec<String>, String> {
    let Some(def) = definition(run, scenario) else {
        let known: Vec<&str> = run.catalog.scenarios.iter().map(|s| s.id.as_str()).collect();
        return Err(format!(
            "unknown scenario `{scenario}`; this catalog has: {}",
            known.join(", ")
        ));
    };
    let mut warnings = Vec::new();
    for other in timeline.iter() {
        let Some(other_def) = definition(run, &other.scenario) else {
            continue;
        };
        let phase = other.phase(other_def, at_ms);
        if matches!(phase, Phase::Settled) {
            continue;
        }
        if !compose {
            return Err(format!(
                "scenario `{}` is {} at that instant; stop it (it then settles) or reset first, or apply with compose",
                other.scenario,
                phase_name(phase)
            ));
        }
        if other_def.precedence == def.precedence {
            let mine = streams_bent(run, def);
            for stream in streams_bent(run, other_def).iter().filter(|s| mine.contains(s)) {
                warnings.push(format!(
                    "`{scenario}` and `{}` both bend {stream}: their effects multiply",
                    other.scenario
                ));
            }
        }
    }
    timeline.push(ScenarioRun {
        scenario: scenario.to_string(),
        started_ms: at_ms,
        stopped_ms: None,
        reset_ms: None,
        event: None,
    });
    for (template, offset_ms) in &def.events {
        timeline.push(injected_event(template, at_ms + offset_ms));
    }
    Ok(warnings)
}

/// The timeline entry of an external event injected at `at_ms`.
pub fn injected_event(template: &str, at_ms: i64) -> ScenarioRun {
    ScenarioRun {
        scenario: format!("{EVENT_PREFIX}{template}"),
        started_ms: at_ms,
        stopped_ms: None,
        reset_ms: None,
        event: None,
    }
}

/// Active runs start settling at `at_ms`; answers how many.
pub fn stop(run: &StreamRunSpec, timeline: &mut [ScenarioRun], at_ms: i64) -> usize {
    let mut stopped = 0;
    for entry in timeline.iter_mut() {
        let Some(def) = definition(run, &entry.scenario) else {
            continue;
        };
        if matches!(entry.phase(def, at_ms), Phase::Active | Phase::Scheduled) {
            entry.stopped_ms = Some(at_ms.max(entry.started_ms));
            stopped += 1;
        }
    }
    stopped
}

/// Every scenario not yet settled, and every injected external event still
/// acting or still to come (a scenario's own events too), stops bending at
/// `at_ms`; answers how many.
pub fn reset(run: &StreamRunSpec, timeline: &mut [ScenarioRun], at_ms: i64) -> usize {
    let library = run.catalog.event_library(timeline).into_owned();
    let mut reset = 0;
    for entry in timeline.iter_mut() {
        if entry.reset_ms.is_some() {
            continue;
        }
        let over = match definition(run, &entry.scenario) {
            Some(def) => entry.phase(def, at_ms) == Phase::Settled,
            None => match event_template(&library, &entry.scenario) {
                Some(template) => at_ms >= entry.started_ms + template.reach_ms(),
                None => continue,
            },
        };
        if !over {
            entry.reset_ms = Some(at_ms);
            reset += 1;
        }
    }
    reset
}

/// The external event template a timeline entry injects, if it is one.
fn event_template<'a>(library: &'a [EventTemplate], entry: &str) -> Option<&'a EventTemplate> {
    let id = entry.strip_prefix(EVENT_PREFIX)?;
    library.iter().find(|t| t.id == id)
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Scheduled => "scheduled",
        Phase::Active => "active",
        Phase::Settling => "settling",
        Phase::Settled => "settled",
    }
}

/// The wire view of a run's scenarios at its simulated `now_ms`.
pub fn state_to_wire(
    run_id: &str,
    run: &StreamRunSpec,
    timeline: &[ScenarioRun],
    now_ms: Option<i64>,
    warnings: Vec<String>,
) -> v1::ScenarioState {
    let scenarios = run
        .catalog
        .scenarios
        .iter()
        .map(|def| v1::ScenarioDefinition {
            id: def.id.clone(),
            name: def.name.clone(),
            description: def.description.clone(),
            duration_seconds: def.duration_ms as f64 / 1000.0,
            curve: def.curve.name().to_string(),
            settle_seconds: def.settle_ms as f64 / 1000.0,
            streams: streams_bent(run, def),
        })
        .collect();
    let runs = timeline
        .iter()
        .filter_map(|entry| {
            let def = definition(run, &entry.scenario)?;
            let end = entry.end_ms(def);
            Some(v1::ScenarioRunState {
                scenario: entry.scenario.clone(),
                started_ms: entry.started_ms,
                stopped_ms: entry.stopped_ms.unwrap_or(0),
                reset_ms: entry.reset_ms.unwrap_or(0),
                phase: now_ms
                    .map_or("", |now| phase_name(entry.phase(def, now)))
                    .to_string(),
                ends_ms: end,
                settled_ms: entry
                    .reset_ms
                    .map_or(end + def.settle_ms, |r| r.min(end + def.settle_ms)),
            })
        })
        .collect();
    v1::ScenarioState {
        run_id: run_id.to_string(),
        sim_now_ms: now_ms.unwrap_or(0),
        scenarios,
        runs,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> StreamRunSpec {
        let value: serde_json::Value = serde_yaml::from_str(
            "kind: streams\nname: t\nclock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n",
        )
        .expect("yaml");
        StreamRunSpec::from_value(&value).expect("valid")
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn one_scenario_at_a_time_unless_composed_with_warnings() {
        let run = run();
        let mut timeline = Vec::new();
        assert!(
            apply(&run, &mut timeline, "payment-outage", 0, false)
                .expect("applied")
                .is_empty()
        );
        let refused = apply(&run, &mut timeline, "support-overload", HOUR, false).expect_err("busy");
        assert!(refused.contains("`payment-outage` is active"), "{refused}");
        let warnings = apply(&run, &mut timeline, "support-overload", HOUR, true).expect("composed");
        assert!(
            warnings.iter().any(|w| w.contains("support.chat.started")),
            "{warnings:?}"
        );
        assert!(
            apply(&run, &mut timeline, "no-such", HOUR, true)
                .unwrap_err()
                .contains("unknown scenario")
        );
        // Once settled (2 h active + 2 h settling), another may start.
        assert!(apply(&run, &mut timeline, "churn-pattern", 100 * HOUR, false).is_ok());
    }

    #[test]
    fn reset_ends_injected_events_still_to_come_but_not_those_long_over() {
        let run = run();
        let mut timeline = vec![
            injected_event("sat-week", 0),
            injected_event("sat-week", 10 * HOUR),
        ];
        // At 5 days the first is long over; the second was reset before it came.
        assert_eq!(reset(&run, &mut timeline, 5 * HOUR), 2);
        assert_eq!(reset(&run, &mut timeline, 120 * HOUR), 0);
        let mut timeline = vec![injected_event("sat-week", 0)];
        assert_eq!(
            reset(&run, &mut timeline, 120 * HOUR),
            0,
            "a day and a quarter after it, nothing acts"
        );
        let injected = crate::external_events::injected(
            &run.catalog,
            &[
                injected_event("sat-week", 0),
                ScenarioRun {
                    reset_ms: Some(HOUR),
                    event: None,
                    ..injected_event("sat-week", 10 * HOUR)
                },
            ],
        );
        assert_eq!(injected.len(), 1, "an event reset before it came never happened");
    }

    #[test]
    fn stop_settles_and_reset_ends() {
        let run = run();
        let mut timeline = Vec::new();
        apply(&run, &mut timeline, "exam-season-surge", 0, false).expect("applied");
        assert_eq!(stop(&run, &mut timeline, HOUR), 1);
        assert_eq!(timeline[0].stopped_ms, Some(HOUR));
        assert_eq!(stop(&run, &mut timeline, 2 * HOUR), 0, "already settling");
        // The scenario and the SAT week it brought, which acts for a day
        // and a quarter from its start.
        assert_eq!(reset(&run, &mut timeline, 2 * HOUR), 2);
        assert!(
            timeline.iter().all(|entry| entry.reset_ms == Some(2 * HOUR)),
            "{timeline:?}"
        );
        assert_eq!(reset(&run, &mut timeline, 3 * HOUR), 0, "nothing left to reset");
        let state = state_to_wire("r", &run, &timeline, Some(3 * HOUR), Vec::new());
        assert_eq!(state.runs[0].phase, "settled");
        assert_eq!(state.scenarios.len(), 9);
    }
}
