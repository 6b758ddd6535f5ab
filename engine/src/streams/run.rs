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
//! ```

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::catalog::Catalog;
use crate::spec::reader::Reader;
use crate::spec::{FieldError, SpecErrors};

const RUN_FIELDS: &[&str] = &["kind", "name", "catalog", "seed", "scale", "clock"];
const CLOCK_FIELDS: &[&str] = &["mode", "factor", "from", "until"];

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
}

impl SimClock {
    pub fn mode(&self) -> &'static str {
        match self {
            SimClock::RealTime { .. } => "realtime",
            SimClock::Accelerated { .. } => "accelerated",
            SimClock::Backfill { .. } => "backfill",
        }
    }

    /// Simulated time at the start of a run started at `started_at_ms` (wall).
    pub fn start_ms(&self, started_at_ms: i64) -> i64 {
        match self {
            SimClock::RealTime { .. } => started_at_ms,
            SimClock::Accelerated { from_ms, .. } | SimClock::Backfill { from_ms, .. } => *from_ms,
        }
    }

    /// Simulated time after `running_ms` of unpaused wall time; `None` for a
    /// backfill, which goes as fast as it can.
    pub fn sim_ms(&self, started_at_ms: i64, running_ms: i64) -> Option<i64> {
        match self {
            SimClock::RealTime { .. } => Some(started_at_ms + running_ms),
            SimClock::Accelerated { factor, from_ms, .. } => {
                Some(from_ms + (running_ms as f64 * factor) as i64)
            }
            SimClock::Backfill { .. } => None,
        }
    }

    /// Where the run ends in simulated time, if it does.
    pub fn until_ms(&self) -> Option<i64> {
        match self {
            SimClock::RealTime { until_ms } | SimClock::Accelerated { until_ms, .. } => *until_ms,
            SimClock::Backfill { until_ms, .. } => Some(*until_ms),
        }
    }
}

/// A validated stream run.
#[derive(Clone, Debug)]
pub struct StreamRunSpec {
    pub name: String,
    pub catalog: Arc<Catalog>,
    pub scale: f64,
    pub clock: SimClock,
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
        match (run, catalog) {
            (Some((name, scale, clock, _)), Some(catalog)) if errors.is_empty() => Ok(StreamRunSpec {
                name,
                catalog,
                scale,
                clock,
                document: value.clone(),
            }),
            _ => Err(SpecErrors(errors)),
        }
    }

    /// The canonical document (what [`StreamRunSpec::from_value`] reads back).
    pub fn to_document(&self) -> &Value {
        &self.document
    }

    /// One shard per root stream.
    pub fn shard_count(&self) -> u32 {
        self.catalog.roots().len() as u32
    }

    /// The root stream of shard `index`.
    pub fn shard_root(&self, index: u32) -> Option<usize> {
        self.catalog.roots().get(index as usize).copied()
    }
}

/// The run's name, scale, clock and own seed (none: the catalog's).
fn read_run(r: &mut Reader, value: &Value) -> Option<(String, f64, SimClock, Option<u64>)> {
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
    let scale = r.optional_f64(root, "", "scale", 1e-6, 1000.0).unwrap_or(1.0);
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
        other => {
            r.error(
                "clock.mode",
                format!("unknown mode `{other}`; expected realtime, accelerated or backfill"),
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
