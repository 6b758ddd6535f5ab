//! The detector's tunable rules: risk thresholds, what makes a check
//! decisive, each check's weight and the thresholds its reasons name. The
//! defaults are the detector as documented in `docs/behaviour.md`; an
//! operator tunes them in a rules file (YAML or JSON, any subset):
//!
//! ```yaml
//! risk: { low_below: 0.35, high_from: 0.7 }
//! decisive: { probability: 0.85, confidence: 0.5 }
//! weights: { mouse: 1, keystrokes: 1, scrolling: 1, timing: 1, device: 1 }
//! mouse: { straight_above: 0.985, nearly_straight_above: 0.96, constant_speed_below: 0.15 }
//! keystrokes: { hold_below_ms: 20, constant_hold_below: 0.08, metronome_below: 0.08 }
//! scrolling: { expected_after_ms: 5000, same_step_below: 0.05 }
//! timing: { first_input_below_ms: 150, pause_ms: 500 }
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::spec::reader::Reader;
use crate::spec::{FieldError, SpecErrors};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    pub risk: RiskRules,
    pub decisive: DecisiveRules,
    pub weights: Weights,
    pub mouse: MouseRules,
    pub keystrokes: KeyRules,
    pub scrolling: ScrollRules,
    pub timing: TimingRules,
}

/// LOW below `low_below`, HIGH from `high_from`, MEDIUM between.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskRules {
    pub low_below: f64,
    pub high_from: f64,
}

/// A check at least this sure, with at least this much evidence, lifts the
/// score on its own (to at least 0.9 × its probability).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisiveRules {
    pub probability: f64,
    pub confidence: f64,
}

/// How much each check counts in the score: its confidence is multiplied
/// by its weight (0 leaves the check out).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub mouse: f64,
    pub keystrokes: f64,
    pub scrolling: f64,
    pub timing: f64,
    pub device: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MouseRules {
    /// Paths straighter than this (chord ÷ path) are a ruler's.
    pub straight_above: f64,
    pub nearly_straight_above: f64,
    /// Speed varying less than this within a movement is a machine's.
    pub constant_speed_below: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRules {
    /// Keys held a shorter median than this are faster than fingers.
    pub hold_below_ms: f64,
    /// Hold times varying less than this are all alike.
    pub constant_hold_below: f64,
    /// Key-to-key times varying less than this are a metronome's.
    pub metronome_below: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScrollRules {
    /// A session this long without scrolling is suspect.
    pub expected_after_ms: f64,
    /// Scroll steps varying less than this are all the same.
    pub same_step_below: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimingRules {
    /// Input this soon after the page loaded is too quick for a person.
    pub first_input_below_ms: f64,
    /// A session over 3 s that never paused this long is suspect.
    pub pause_ms: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            risk: RiskRules {
                low_below: 0.35,
                high_from: 0.7,
            },
            decisive: DecisiveRules {
                probability: 0.85,
                confidence: 0.5,
            },
            weights: Weights {
                mouse: 1.0,
                keystrokes: 1.0,
                scrolling: 1.0,
                timing: 1.0,
                device: 1.0,
            },
            mouse: MouseRules {
                straight_above: 0.985,
                nearly_straight_above: 0.96,
                constant_speed_below: 0.15,
            },
            keystrokes: KeyRules {
                hold_below_ms: 20.0,
                constant_hold_below: 0.08,
                metronome_below: 0.08,
            },
            scrolling: ScrollRules {
                expected_after_ms: 5_000.0,
                same_step_below: 0.05,
            },
            timing: TimingRules {
                first_input_below_ms: 150.0,
                pause_ms: 500.0,
            },
        }
    }
}

const SECTIONS: &[&str] = &[
    "risk",
    "decisive",
    "weights",
    "mouse",
    "keystrokes",
    "scrolling",
    "timing",
];

/// Reads `field` of section `section` into `slot` when given, in [min, max].
fn number(
    r: &mut Reader,
    map: Option<&Map<String, Value>>,
    section: &str,
    field: &str,
    range: (f64, f64),
    slot: &mut f64,
) {
    if let Some(value) = map.and_then(|map| r.optional_f64(map, section, field, range.0, range.1)) {
        *slot = value;
    }
}

impl Rules {
    /// Parses a rules file (YAML or JSON): any subset of the defaults, every
    /// problem reported with its field path.
    pub fn parse(text: &str) -> Result<Rules, SpecErrors> {
        let value: Value = serde_yaml::from_str(text).map_err(|e| {
            SpecErrors(vec![FieldError {
                path: "(document)".into(),
                message: format!("is not YAML or JSON: {e}"),
            }])
        })?;
        Rules::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Rules, SpecErrors> {
        let mut r = Reader::default();
        let mut rules = Rules::default();
        if value.is_null() {
            return Ok(rules);
        }
        let Some(root) = r.object(value, "", SECTIONS) else {
            return Err(SpecErrors(r.into_errors()));
        };
        let section = |r: &mut Reader, name: &str, fields: &[&str]| {
            root.get(name).and_then(|v| r.object(v, name, fields)).cloned()
        };
        let unit = (0.0, 1.0);
        let risk = section(&mut r, "risk", &["low_below", "high_from"]);
        number(
            &mut r,
            risk.as_ref(),
            "risk",
            "low_below",
            unit,
            &mut rules.risk.low_below,
        );
        number(
            &mut r,
            risk.as_ref(),
            "risk",
            "high_from",
            unit,
            &mut rules.risk.high_from,
        );
        let decisive = section(&mut r, "decisive", &["probability", "confidence"]);
        number(
            &mut r,
            decisive.as_ref(),
            "decisive",
            "probability",
            unit,
            &mut rules.decisive.probability,
        );
        number(
            &mut r,
            decisive.as_ref(),
            "decisive",
            "confidence",
            unit,
            &mut rules.decisive.confidence,
        );
        let weights = section(
            &mut r,
            "weights",
            &["mouse", "keystrokes", "scrolling", "timing", "device"],
        );
        let w = &mut rules.weights;
        for (field, slot) in [
            ("mouse", &mut w.mouse),
            ("keystrokes", &mut w.keystrokes),
            ("scrolling", &mut w.scrolling),
            ("timing", &mut w.timing),
            ("device", &mut w.device),
        ] {
            number(&mut r, weights.as_ref(), "weights", field, (0.0, 10.0), slot);
        }
        let mouse = section(
            &mut r,
            "mouse",
            &["straight_above", "nearly_straight_above", "constant_speed_below"],
        );
        let m = &mut rules.mouse;
        number(
            &mut r,
            mouse.as_ref(),
            "mouse",
            "straight_above",
            (0.5, 1.0),
            &mut m.straight_above,
        );
        number(
            &mut r,
            mouse.as_ref(),
            "mouse",
            "nearly_straight_above",
            (0.5, 1.0),
            &mut m.nearly_straight_above,
        );
        number(
            &mut r,
            mouse.as_ref(),
            "mouse",
            "constant_speed_below",
            (0.0, 5.0),
            &mut m.constant_speed_below,
        );
        let keys = section(
            &mut r,
            "keystrokes",
            &["hold_below_ms", "constant_hold_below", "metronome_below"],
        );
        let k = &mut rules.keystrokes;
        number(
            &mut r,
            keys.as_ref(),
            "keystrokes",
            "hold_below_ms",
            (0.0, 1_000.0),
            &mut k.hold_below_ms,
        );
        number(
            &mut r,
            keys.as_ref(),
            "keystrokes",
            "constant_hold_below",
            (0.0, 5.0),
            &mut k.constant_hold_below,
        );
        number(
            &mut r,
            keys.as_ref(),
            "keystrokes",
            "metronome_below",
            (0.0, 5.0),
            &mut k.metronome_below,
        );
        let scrolling = section(&mut r, "scrolling", &["expected_after_ms", "same_step_below"]);
        let s = &mut rules.scrolling;
        number(
            &mut r,
            scrolling.as_ref(),
            "scrolling",
            "expected_after_ms",
            (0.0, 3_600_000.0),
            &mut s.expected_after_ms,
        );
        number(
            &mut r,
            scrolling.as_ref(),
            "scrolling",
            "same_step_below",
            (0.0, 5.0),
            &mut s.same_step_below,
        );
        let timing = section(&mut r, "timing", &["first_input_below_ms", "pause_ms"]);
        let t = &mut rules.timing;
        number(
            &mut r,
            timing.as_ref(),
            "timing",
            "first_input_below_ms",
            (0.0, 60_000.0),
            &mut t.first_input_below_ms,
        );
        number(
            &mut r,
            timing.as_ref(),
            "timing",
            "pause_ms",
            (0.0, 60_000.0),
            &mut t.pause_ms,
        );
        if rules.risk.low_below >= rules.risk.high_from {
            r.error(
                "risk.high_from",
                format!("must be above risk.low_below ({})", rules.risk.low_below),
            );
        }
        if rules.mouse.nearly_straight_above > rules.mouse.straight_above {
            r.error(
                "mouse.nearly_straight_above",
                format!(
                    "must not be above mouse.straight_above ({})",
                    rules.mouse.straight_above
                ),
            );
        }
        let w = &rules.weights;
        if w.mouse + w.keystrokes + w.scrolling + w.timing + w.device <= 0.0 {
            r.error("weights", "at least one check must count");
        }
        let errors = r.into_errors();
        if errors.is_empty() {
            Ok(rules)
        } else {
            Err(SpecErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rules_file_changes_what_it_names_and_keeps_the_rest() {
        assert_eq!(Rules::parse("").expect("empty"), Rules::default());
        let rules = Rules::parse("risk: { high_from: 0.8 }\nweights: { device: 0 }\n").expect("valid");
        assert_eq!(rules.risk.high_from, 0.8);
        assert_eq!(rules.weights.device, 0.0);
        assert_eq!(rules.risk.low_below, 0.35);
        assert_eq!(rules.mouse, Rules::default().mouse);
        let json = serde_json::to_string(&Rules::default()).expect("json");
        assert_eq!(
            Rules::parse(&json).expect("its own JSON reads back"),
            Rules::default()
        );
    }

    #[test]
    fn every_mistake_is_reported_at_its_path() {
        let errors = Rules::parse(
            "risk: { low_below: 0.8, high_from: 0.5 }\ndecisive: { probability: 2 }\nweights: { mouse: -1, eyes: 1 }\nmouse: { straight_above: 0.9, nearly_straight_above: 0.95 }\nlimits: {}\n",
        )
        .expect_err("invalid")
        .0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
        for expected in [
            "risk.high_from: must be above risk.low_below (0.8)",
            "decisive.probability: must be a number between 0 and 1",
            "weights.mouse: must be a number between 0 and 10",
            "weights.eyes: unknown field",
            "mouse.nearly_straight_above: must not be above mouse.straight_above (0.9)",
            "limits: unknown field",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "missing {expected} in {errors:#?}"
            );
        }
        let errors = Rules::parse("weights: { mouse: 0, keystrokes: 0, scrolling: 0, timing: 0, device: 0 }")
            .expect_err("nothing counts");
        assert!(
            errors
                .to_string()
                .contains("weights: at least one check must count")
        );
        assert!(Rules::parse("[1, 2").is_err(), "not YAML");
    }
}
