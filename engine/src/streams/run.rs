//! A stream run: which catalog to generate, at what volume, and on which
//! simulated clock. It is submitted as a document (`kind: streams`) like a
//! campaign, and placed like one: one shard per root stream.
//!
//! ```yaml
//! kind: streams
//! name: marketplace
//! catalog: builtin          # or a whole catalog, inline
//! seed: 7                   # optional: replaces the catalog's seed
//! scale: 1.0                # volume multiplier on every root rate
//! clock: { mode: accelerated, factor: 60, from: "2026-02-02T00:00:00Z" }
//! sinks: [{ kind: kafka, brokers: "127.0.0.1:9092", topic: "events.{stream}" }]
//! ```
//!
//! `sinks` ([`super::sinks`]) deliver the events where data teams take them.
//!
//! The emulated clock (`clock: { mode: emulated, interval: 5s, batch: { min: 5,
//! max: 20 } }`) is the fast-cadence mode: simulated time is the wall clock,
//! and the run's events leave in small batches at every multiple of the
//! interval. Without a `scale` of its own, the run's volume is set so a batch
//! holds the middle of `min`–`max` on average ([`emulated_scale`]); a batch
//! never holds more than `max` (later events wait for the next one).

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::catalog::Catalog;
use super::sinks::{SinkSource, SinkSpec, read_sinks};
use crate::delivery::SinkPlan;
use crate::spec::reader::Reader;
use crate::spec::{FieldError, SpecErrors};

const RUN_FIELDS: &[&str] = &["kind", "name", "catalog", "seed", "scale", "clock", "sinks"];
const CLOCK_FIELDS: &[&str] = &["mode", "factor", "from", "until", "interval", "batch"];
const BATCH_FIELDS: &[&str] = &["min", "max"];
/// The most events an emulated batch may be asked to hold: the mode is for
/// watching a pipeline take small batches, not for volume.
pub const MAX_EMULATED_BATCH: u64 = 10_000;

/// How simulated time relates to the wall clock.
#[derive(Clone, Debug, PartialEq)]
pub enum SimClock {
    /// Simulated time is the wall clock, from the run's start on.
    RealTime { until_ms: Option<i64> },
    /// Simulated time runs `factor` times faster than the wall clock, from `from_ms`.
    Accelerated {
        factor: f64,
        from_ms: i64,
        until_ms: Option<i64>,
    },
    /// A range generated as fast as it goes.
    Backfill { from_ms: i64, until_ms: i64 },
    /// Simulated time is the wall clock, and events leave in batches: at
    /// each wall-clock multiple of `interval_ms`, those of the interval just
    /// ended, at most `batch_max` of them.
    Emulated {
        interval_ms: i64,
        batch_min: u32,
        batch_max: u32,
        until_ms: Option<i64>,
    },
}

impl SimClock {
    pub fn mode(&self) -> &'static str {
        match self {
            SimClock::RealTime { .. } => "realtime",
            SimClock::Accelerated { .. } => "accelerated",
            SimClock::Backfill { .. } => "backfill",
            SimClock::Emulated { .. } => "emulated",
        }
    }

    /// The cadence of an emulated clock: its interval and batch bounds.
    pub fn cadence(&self) -> Option<Cadence> {
        match self {
            SimClock::Emulated {
                interval_ms,
                batch_min,
                batch_max,
                ..
            } => Some(Cadence {
                interval_ms: *interval_ms,
                batch_min: *batch_min,
                batch_max: *batch_max,
            }),
            _ => None,
        }
    }

    /// Simulated time at the start of a run started at `started_at_ms` (wall).
    pub fn start_ms(&self, started_at_ms: i64) -> i64 {
        match self {
            SimClock::RealTime { .. } | SimClock::Emulated { .. } => started_at_ms,
            SimClock::Accelerated { from_ms, .. } | SimClock::Backfill { from_ms, .. } => *from_ms,
        }
    }

    /// Simulated time after `running_ms` of unpaused wall time; `None` for a
    /// backfill, which goes as fast as it can.
    pub fn sim_ms(&self, started_at_ms: i64, running_ms: i64) -> Option<i64> {
        match self {
            SimClock::RealTime { .. } | SimClock::Emulated { .. } => Some(started_at_ms + running_ms),
            SimClock::Accelerated { factor, from_ms, .. } => {
                Some(from_ms + (running_ms as f64 * factor) as i64)
            }
            SimClock::Backfill { .. } => None,
        }
    }

    /// Where the run ends in simulated time, if it does.
    pub fn until_ms(&self) -> Option<i64> {
        match self {
            SimClock::RealTime { until_ms }
            | SimClock::Accelerated { until_ms, .. }
            | SimClock::Emulated { until_ms, .. } => *until_ms,
            SimClock::Backfill { until_ms, .. } => Some(*until_ms),
        }
    }
}

/// How an emulated clock delivers: a batch every `interval_ms` of wall
/// time, sized between `batch_min` and `batch_max` events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    pub interval_ms: i64,
    pub batch_min: u32,
    pub batch_max: u32,
}

/// The volume at which `catalog` averages the middle of `cadence`'s batch
/// bounds: its events over a sampled week (from a Monday, so every weekday's
/// rhythm counts once) at a known scale, brought to one interval.
pub fn emulated_scale(catalog: &Arc<Catalog>, cadence: Cadence) -> f64 {
    const WEEK_MS: i64 = 7 * 86_400_000;
    /// Monday 2026-02-02, 00:00 UTC.
    const SAMPLE_FROM_MS: i64 = 1_769_990_400_000;
    const SAMPLE_SCALE: f64 = 0.05;
    let sampled =
        super::generate::generate_all(catalog, SAMPLE_SCALE, SAMPLE_FROM_MS, SAMPLE_FROM_MS + WEEK_MS).len();
    let per_interval = sampled.max(1) as f64 / SAMPLE_SCALE * cadence.interval_ms as f64 / WEEK_MS as f64;
    let middle = f64::from(cadence.batch_min + cadence.batch_max) / 2.0;
    (middle / per_interval).clamp(MIN_SCALE, MAX_SCALE)
}

const MIN_SCALE: f64 = 1e-6;
const MAX_SCALE: f64 = 1000.0;

/// A validated stream run.
#[derive(Clone, Debug)]
pub struct StreamRunSpec {
    pub name: String,
    pub catalog: Arc<Catalog>,
    pub scale: f64,
    pub clock: SimClock,
    /// Where the run's events are delivered besides the telemetry store.
    pub sinks: Vec<SinkSpec>,
    /// The validated document, canonical JSON: what agents receive.
    document: Value,
}

impl StreamRunSpec {
    /// Checks a parsed document whose `kind` is `streams`.
    pub fn from_value(value: &Value) -> Result<StreamRunSpec, SpecErrors> {
        let mut r = Reader::default();
        let run = read_run(&mut r, value);
        let mut errors = r.into_errors();
        let catalog = match value.get("catalog") {
            None => Some(Catalog::builtin_shared()),
            Some(Value::String(name)) if name == "builtin" => Some(Catalog::builtin_shared()),
            Some(Value::String(other)) => {
                errors.push(FieldError {
                    path: "catalog".into(),
                    message: format!("unknown catalog `{other}`; give `builtin` or a catalog inline"),
                });
                None
            }
            Some(inline) => match Catalog::from_value(inline, "catalog") {
                Ok(catalog) => Some(Arc::new(catalog)),
                Err(SpecErrors(found)) => {
                    errors.extend(found);
                    None
                }
            },
        };
        // A run's own seed gives the same catalog other events.
        let catalog = match (catalog, run.as_ref().and_then(|run| run.3)) {
            (Some(catalog), Some(seed)) if catalog.seed != seed => Some(Arc::new(Catalog {
                seed,
                ..Catalog::clone(&catalog)
            })),
            (catalog, _) => catalog,
        };
        let mut sinks_reader = Reader::default();
        let sinks = read_sinks(
            &mut sinks_reader,
            value.get("sinks"),
            SinkSource::Streams(catalog.as_deref()),
        );
        errors.extend(sinks_reader.into_errors());
        match (run, catalog) {
            (Some((name, scale, clock, _)), Some(catalog)) if errors.is_empty() => {
                let mut document = value.clone();
                // An emulated run without a scale of its own gets one from
                // its batch bounds, once: it is written into the document,
                // so every reader (agents, subscriptions) uses the same.
                let scale = match (scale, clock.cadence()) {
                    (Some(scale), _) => scale,
                    (None, Some(cadence)) => {
                        let derived = emulated_scale(&catalog, cadence);
                        if let Value::Object(map) = &mut document {
                            map.insert("scale".into(), Value::from(derived));
                        }
                        derived
                    }
                    (None, None) => 1.0,
                };
                Ok(StreamRunSpec {
                    name,
                    catalog,
                    scale,
                    clock,
                    sinks,
                    document,
                })
            }
            _ => Err(SpecErrors(errors)),
        }
    }

    /// What the agents' deliveries open for this run.
    pub fn sink_plan(&self) -> SinkPlan {
        SinkPlan {
            sinks: self.sinks.clone(),
            streams: self.catalog.streams.iter().map(|s| s.name.to_string()).collect(),
        }
    }

    /// The canonical document (what [`StreamRunSpec::from_value`] reads back).
    pub fn to_document(&self) -> &Value {
        &self.document
    }

    /// One shard per root stream; an emulated run is one shard, so that
    /// each of its batches is one delivery of a few events (one agent
    /// carries that easily).
    pub fn shard_count(&self) -> u32 {
        if self.clock.cadence().is_some() {
            1
        } else {
            self.catalog.roots().len() as u32
        }
    }

    /// The root streams shard `index` generates.
    pub fn shard_roots(&self, index: u32) -> Option<Vec<usize>> {
        let roots = self.catalog.roots();
        if self.clock.cadence().is_some() {
            return (index == 0).then_some(roots);
        }
        roots.get(index as usize).map(|root| vec![*root])
    }
}

/// The run's name, scale (none: not given), clock and own seed (none: the
/// catalog's).
type RunFields = (String, Option<f64>, SimClock, Option<u64>);

fn read_run(r: &mut Reader, value: &Value) -> Option<RunFields> {
    let root = r.object(value, "", RUN_FIELDS)?;
    let name = r.required_str(root, "", "name");
    if let Some(name) = &name
        && (name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        r.error("name", "must be 1-64 letters, digits, `-` or `_`");
    }
    let scale = r.optional_f64(root, "", "scale", MIN_SCALE, MAX_SCALE);
    let seed = r.optional_u64(root, "", "seed", 0, u64::MAX);
    let clock = match root.get("clock") {
        None => Some(SimClock::RealTime { until_ms: None }),
        Some(clock) => read_clock(r, clock),
    };
    Some((name?, scale, clock?, seed))
}

fn instant(r: &mut Reader, map: &Map<String, Value>, field: &str) -> Option<i64> {
    let text = r.optional_str(map, "clock", field)?;
    match text.parse::<Timestamp>() {
        Ok(at) => Some(at.as_millisecond()),
        Err(e) => {
            r.error(
                &format!("clock.{field}"),
                format!("is not an RFC 3339 instant such as \"2026-02-02T00:00:00Z\": {e}"),
            );
            None
        }
    }
}

fn read_clock(r: &mut Reader, value: &Value) -> Option<SimClock> {
    let map = r.object(value, "clock", CLOCK_FIELDS)?;
    let mode = r
        .optional_str(map, "clock", "mode")
        .unwrap_or_else(|| "realtime".into());
    let from = instant(r, map, "from");
    let until = instant(r, map, "until");
    if let (Some(from), Some(until)) = (from, until)
        && until <= from
    {
        r.error("clock.until", "must come after clock.from");
        return None;
    }
    let factor = r.optional_f64(map, "clock", "factor", 1.0, 1_000_000.0);
    if mode != "emulated" {
        for field in ["interval", "batch"] {
            if map.contains_key(field) {
                r.error(&format!("clock.{field}"), "applies only to mode: emulated");
            }
        }
    }
    match mode.as_str() {
        "realtime" => {
            for field in ["from", "factor"] {
                if map.contains_key(field) {
                    r.error(
                        &format!("clock.{field}"),
                        "does not apply to realtime (it starts now, at 1×)",
                    );
                }
            }
            Some(SimClock::RealTime { until_ms: until })
        }
        "accelerated" => {
            if !map.contains_key("factor") {
                r.error(
                    "clock.factor",
                    "is required for accelerated (e.g. 60: an hour a minute)",
                );
            }
            if !map.contains_key("from") {
                r.error("clock.from", "is required for accelerated: the simulated start");
            }
            Some(SimClock::Accelerated {
                factor: factor?,
                from_ms: from?,
                until_ms: until,
            })
        }
        "backfill" => {
            if map.contains_key("factor") {
                r.error(
                    "clock.factor",
                    "does not apply to backfill (it goes as fast as it can)",
                );
            }
            if !map.contains_key("from") || !map.contains_key("until") {
                r.error("clock", "backfill needs from and until");
                return None;
            }
            Some(SimClock::Backfill {
                from_ms: from?,
                until_ms: until?,
            })
        }
        "emulated" => {
            for field in ["from", "factor"] {
                if map.contains_key(field) {
                    r.error(
                        &format!("clock.{field}"),
                        "does not apply to emulated (it runs on the wall clock, from now)",
                    );
                }
            }
            let interval = r.optional_duration(
                map,
                "clock",
                "interval",
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(3600),
            );
            if !map.contains_key("interval") {
                r.error(
                    "clock.interval",
                    "is required for emulated (e.g. \"5s\": a batch every 5 seconds)",
                );
            }
            if interval.is_some_and(|i| i.subsec_millis() != 0) {
                r.error("clock.interval", "must be whole seconds");
            }
            let (min, max) = match map.get("batch") {
                None => {
                    r.error(
                        "clock.batch",
                        "is required for emulated (e.g. { min: 5, max: 20 })",
                    );
                    (None, None)
                }
                Some(batch) => match r.object(batch, "clock.batch", BATCH_FIELDS) {
                    None => (None, None),
                    Some(batch) => {
                        for field in ["min", "max"] {
                            if !batch.contains_key(field) {
                                r.error(&format!("clock.batch.{field}"), "is required");
                            }
                        }
                        (
                            r.optional_u64(batch, "clock.batch", "min", 1, MAX_EMULATED_BATCH),
                            r.optional_u64(batch, "clock.batch", "max", 1, MAX_EMULATED_BATCH),
                        )
                    }
                },
            };
            if let (Some(min), Some(max)) = (min, max)
                && max < min
            {
                r.error(
                    "clock.batch.max",
                    format!("must be at least clock.batch.min ({min})"),
                );
                return None;
            }
            Some(SimClock::Emulated {
                interval_ms: interval?.as_millis() as i64,
                batch_min: min? as u32,
                batch_max: max? as u32,
                until_ms: until,
            })
        }
        other => {
            r.error(
                "clock.mode",
                format!("unknown mode `{other}`; expected realtime, accelerated, backfill or emulated"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StreamRunSpec, Vec<String>> {
        let value: Value = serde_yaml::from_str(text).expect("yaml");
        StreamRunSpec::from_value(&value).map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn runs_parse_with_each_clock() {
        let run = parse("kind: streams\nname: demo\nclock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n")
            .expect("valid");
        assert_eq!(run.catalog.streams.len(), 50);
        let seeded = parse("kind: streams\nname: x\nseed: 99\n").expect("a seed of its own");
        assert_eq!(seeded.catalog.seed, 99);
        assert_eq!(
            seeded.catalog.streams, run.catalog.streams,
            "the same catalog otherwise"
        );
        let errors = parse("kind: streams\nname: x\nseed: -1\n").expect_err("a negative seed");
        assert!(errors.iter().any(|e| e.starts_with("seed")), "{errors:?}");
        assert_eq!(run.shard_count() as usize, run.catalog.roots().len());
        assert_eq!(run.clock.sim_ms(0, 60_000), Some(1_769_990_400_000 + 3_600_000));
        let backfill =
            parse("kind: streams\nname: b\nscale: 0.1\nclock: { mode: backfill, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-03T00:00:00Z\" }\n")
                .expect("valid");
        assert_eq!(backfill.clock.until_ms(), Some(1_769_990_400_000 + 86_400_000));
        assert_eq!(backfill.clock.sim_ms(0, 1), None);
        let live = parse("kind: streams\nname: live\n").expect("valid");
        assert_eq!(live.clock, SimClock::RealTime { until_ms: None });
    }

    #[test]
    fn an_emulated_run_is_one_shard_whose_scale_comes_from_its_batches() {
        let run = parse(
            "kind: streams\nname: e\nclock: { mode: emulated, interval: 5s, batch: { min: 5, max: 20 } }\n",
        )
        .expect("valid");
        let cadence = run.clock.cadence().expect("emulated");
        assert_eq!(
            (cadence.interval_ms, cadence.batch_min, cadence.batch_max),
            (5_000, 5, 20)
        );
        assert_eq!(run.clock.mode(), "emulated");
        assert_eq!(run.shard_count(), 1);
        assert_eq!(run.shard_roots(0), Some(run.catalog.roots()));
        assert_eq!(run.shard_roots(1), None);
        assert_eq!(run.clock.sim_ms(1_000, 500), Some(1_500), "the wall clock");
        // The derived scale is written into the document, so a reader of
        // the stored document gets the same without sampling again.
        let written = run.to_document()["scale"]
            .as_f64()
            .expect("a scale in the document");
        assert!(written > 0.0 && written < 1.0, "{written}");
        assert_eq!(run.scale, written);
        let again = StreamRunSpec::from_value(run.to_document()).expect("valid");
        assert_eq!(again.scale, written);
        // Ten times the interval, ten times fewer events a batch needed per
        // simulated hour: about a tenth of the scale.
        let slow = parse(
            "kind: streams\nname: e\nclock: { mode: emulated, interval: 50s, batch: { min: 5, max: 20 } }\n",
        )
        .expect("valid");
        assert!((slow.scale * 10.0 / written - 1.0).abs() < 1e-9);
        let own = parse("kind: streams\nname: e\nscale: 0.5\nclock: { mode: emulated, interval: 5s, batch: { min: 1, max: 2 } }\n")
            .expect("valid");
        assert_eq!(own.scale, 0.5, "a scale of the run's own is kept");
    }

    #[test]
    fn emulated_mistakes_are_reported_with_paths() {
        for (clock, expected) in [
            (
                "{ mode: emulated }",
                vec!["clock.interval: is required", "clock.batch: is required"],
            ),
            (
                "{ mode: emulated, interval: 500ms, batch: { min: 0, max: 20000 } }",
                vec![
                    "clock.interval: must be between",
                    "clock.batch.min: must be between 1",
                    "clock.batch.max: must be between 1",
                ],
            ),
            (
                "{ mode: emulated, interval: 1500ms, batch: { min: 9, max: 3 } }",
                vec![
                    "clock.interval: must be whole seconds",
                    "clock.batch.max: must be at least clock.batch.min (9)",
                ],
            ),
            (
                "{ mode: emulated, interval: soon, batch: { max: 3, size: 2 } }",
                vec![
                    "clock.interval: is not a duration",
                    "clock.batch.min: is required",
                    "clock.batch.size: unknown field",
                ],
            ),
            (
                "{ mode: emulated, interval: 5s, batch: { min: 1, max: 2 }, factor: 60, from: \"2026-02-02T00:00:00Z\" }",
                vec![
                    "clock.factor: does not apply to emulated",
                    "clock.from: does not apply to emulated",
                ],
            ),
            (
                "{ mode: realtime, interval: 5s, batch: { min: 1, max: 2 } }",
                vec![
                    "clock.interval: applies only to mode: emulated",
                    "clock.batch: applies only to mode: emulated",
                ],
            ),
        ] {
            let errors = parse(&format!("kind: streams\nname: x\nclock: {clock}\n")).expect_err(clock);
            for expected in expected {
                assert!(
                    errors.iter().any(|e| e.contains(expected)),
                    "{clock}: missing {expected} in {errors:#?}"
                );
            }
        }
    }

    #[test]
    fn run_mistakes_are_reported_with_paths() {
        let errors = parse(
            "kind: streams\nname: \"bad name\"\nscale: -1\ncolour: red\nclock: { mode: accelerated, from: yesterday }\n",
        )
        .expect_err("invalid");
        for expected in [
            "name: must be",
            "scale: must be",
            "colour: unknown field",
            "clock.factor: is required",
            "clock.from: is not an RFC 3339",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "missing {expected} in {errors:#?}"
            );
        }
        let errors =
            parse("kind: streams\nname: x\ncatalog: { name: c, streams: [{ name: a.b, rate: -1 }] }\n")
                .expect_err("invalid catalog");
        assert!(
            errors.iter().any(|e| e.starts_with("catalog.streams[0].rate")),
            "{errors:#?}"
        );
    }
}
