//! The detector as a service keeps sessions: behaviour data appended as a
//! page sends it, whether there is enough of it to judge, and the result of
//! each analysis. Plain logic over the parts; the coordinator stores them.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::rules::Rules;
use super::score::{Verdict, score_with};
use super::signals::{BehaviourData, Device, FocusEvent, KeyEvent, MouseEvent, Network, ScrollEvent};
use crate::spec::FieldError;

/// The most input events one session keeps: minutes of steady mouse
/// movement, far more than the checks need.
pub const MAX_SESSION_EVENTS: usize = 20_000;
/// The most input events one append may carry.
pub const MAX_APPEND_EVENTS: usize = 5_000;
/// Enough to judge: this much time and this many input events, and the
/// device described.
pub const READY_AFTER_MS: f64 = 3_000.0;
pub const READY_EVENTS: usize = 20;

/// One append: any parts of a session's behaviour data, times in
/// milliseconds from the session's start (the shape `POST
/// /api/v1/behaviour/score` takes, every part optional).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Append {
    pub mouse: Vec<MouseEvent>,
    pub keys: Vec<KeyEvent>,
    pub scrolls: Vec<ScrollEvent>,
    pub focus: Vec<FocusEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// How long the session has lasted so far (the last event's time if not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

impl Append {
    /// Reads an append, checking every event's time and position; each
    /// problem with its path.
    pub fn parse(json: &str) -> Result<Append, Vec<FieldError>> {
        let append: Append = serde_json::from_str(json).map_err(|e| {
            vec![FieldError {
                path: "(document)".into(),
                message: format!("is not behaviour data: {e}"),
            }]
        })?;
        let mut errors = Vec::new();
        let mut time = |path: String, t: f64| {
            if !(t.is_finite() && t >= 0.0) {
                errors.push(FieldError {
                    path,
                    message: "must be milliseconds from the session's start (0 or more)".into(),
                });
            }
        };
        for (i, e) in append.mouse.iter().enumerate() {
            time(format!("mouse[{i}].t"), e.t);
        }
        for (i, e) in append.keys.iter().enumerate() {
            time(format!("keys[{i}].t"), e.t);
        }
        for (i, e) in append.scrolls.iter().enumerate() {
            time(format!("scrolls[{i}].t"), e.t);
        }
        for (i, e) in append.focus.iter().enumerate() {
            time(format!("focus[{i}].t"), e.t);
        }
        for (i, e) in append.mouse.iter().enumerate() {
            if !(e.x.is_finite() && e.y.is_finite()) {
                errors.push(FieldError {
                    path: format!("mouse[{i}]"),
                    message: "x and y must be numbers".into(),
                });
            }
        }
        if append.events() > MAX_APPEND_EVENTS {
            errors.push(FieldError {
                path: "(document)".into(),
                message: format!(
                    "{} events in one append; send at most {MAX_APPEND_EVENTS} at a time",
                    append.events()
                ),
            });
        }
        if errors.is_empty() {
            Ok(append)
        } else {
            Err(errors)
        }
    }

    /// Input events it carries.
    pub fn events(&self) -> usize {
        self.mouse.len() + self.keys.len() + self.scrolls.len() + self.focus.len()
    }
}

/// Input events of a session, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    pub mouse: usize,
    pub keys: usize,
    pub scrolls: usize,
    pub focus: usize,
    pub total: usize,
}

impl EventCounts {
    pub fn of(data: &BehaviourData) -> EventCounts {
        let (mouse, keys, scrolls, focus) = (
            data.mouse.len(),
            data.keys.len(),
            data.scrolls.len(),
            data.focus.len(),
        );
        EventCounts {
            mouse,
            keys,
            scrolls,
            focus,
            total: mouse + keys + scrolls + focus,
        }
    }
}

/// A session's behaviour data from its appends, in the order they came:
/// events sorted by time, the last device and network given, the longest
/// duration given or reached by an event.
pub fn assemble<'a>(parts: impl IntoIterator<Item = &'a Append>) -> BehaviourData {
    let mut data = BehaviourData::default();
    for part in parts {
        data.mouse.extend_from_slice(&part.mouse);
        data.keys.extend(part.keys.iter().cloned());
        data.scrolls.extend_from_slice(&part.scrolls);
        data.focus.extend_from_slice(&part.focus);
        if let Some(device) = &part.device {
            data.device = device.clone();
        }
        if let Some(network) = &part.network {
            data.network = network.clone();
        }
        data.duration_ms = data.duration_ms.max(part.duration_ms.unwrap_or(0.0));
    }
    data.mouse.sort_by(|a, b| a.t.total_cmp(&b.t));
    data.keys.sort_by(|a, b| a.t.total_cmp(&b.t));
    data.scrolls.sort_by(|a, b| a.t.total_cmp(&b.t));
    data.focus.sort_by(|a, b| a.t.total_cmp(&b.t));
    let last = [
        data.mouse.last().map(|e| e.t),
        data.keys.last().map(|e| e.t),
        data.scrolls.last().map(|e| e.t),
        data.focus.last().map(|e| e.t),
    ]
    .into_iter()
    .flatten()
    .fold(0.0, f64::max);
    data.duration_ms = data.duration_ms.max(last);
    data
}

/// Whether a session holds enough to judge, and if not, what it lacks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    pub duration_ms: f64,
    pub events: usize,
    pub missing: Vec<String>,
}

pub fn readiness(data: &BehaviourData) -> Readiness {
    let events = EventCounts::of(data).total;
    let mut missing = Vec::new();
    if data.duration_ms < READY_AFTER_MS {
        missing.push(format!(
            "at least {:.0} s of behaviour ({:.1} s so far)",
            READY_AFTER_MS / 1000.0,
            data.duration_ms / 1000.0
        ));
    }
    if events < READY_EVENTS {
        missing.push(format!("at least {READY_EVENTS} input events ({events} so far)"));
    }
    if data.device.user_agent.is_empty() {
        missing.push("the device (send `device` once)".into());
    }
    Readiness {
        ready: missing.is_empty(),
        duration_ms: data.duration_ms,
        events,
        missing,
    }
}

/// One analysis of a session, as stored: the verdict, the events it read,
/// whether the session was ready, and how long judging took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub analysed_ms: u64,
    pub processing_time_ms: f64,
    pub ready: bool,
    pub counts: EventCounts,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Judges `data` by `rules` at `now_ms`.
pub fn analyse(data: &BehaviourData, rules: &Rules, now_ms: u64) -> Analysis {
    let started = Instant::now();
    let verdict = score_with(data, rules);
    Analysis {
        analysed_ms: now_ms,
        processing_time_ms: started.elapsed().as_secs_f64() * 1e3,
        ready: readiness(data).ready,
        counts: EventCounts::of(data),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::score::Risk;

    fn mouse(t: f64, x: f64) -> MouseEvent {
        MouseEvent {
            t,
            x,
            y: 100.0,
            kind: crate::behaviour::signals::MouseKind::Move,
        }
    }

    #[test]
    fn appends_assemble_in_time_order_and_say_when_they_are_enough() {
        let first = Append::parse(r#"{"mouse": [{"t": 900, "x": 10, "y": 5}, {"t": 100, "x": 1, "y": 1}]}"#)
            .expect("valid");
        let data = assemble([&first]);
        assert_eq!(
            data.mouse.iter().map(|e| e.t).collect::<Vec<_>>(),
            vec![100.0, 900.0]
        );
        assert_eq!(data.duration_ms, 900.0, "reached by the last event");
        let early = readiness(&data);
        assert!(!early.ready);
        assert_eq!(early.missing.len(), 3, "{:?}", early.missing);
        assert!(early.missing[0].contains("0.9 s so far"), "{:?}", early.missing);

        let later = Append {
            mouse: (0..30)
                .map(|i| mouse(1_500.0 + 100.0 * f64::from(i), 20.0 * f64::from(i)))
                .collect(),
            device: Some(Device {
                user_agent: "Mozilla/5.0".into(),
                ..Device::default()
            }),
            ..Append::default()
        };
        let data = assemble([&first, &later]);
        assert_eq!(EventCounts::of(&data).total, 32);
        let ready = readiness(&data);
        assert!(ready.ready, "{:?}", ready.missing);
        let analysis = analyse(&data, &Rules::default(), 7);
        assert_eq!(analysis.counts.mouse, 32);
        assert!(analysis.ready);
        assert!(analysis.processing_time_ms >= 0.0);
        // Ruler-straight movement along y = 100: a bot by default rules,
        // and not once the mouse does not count.
        assert_ne!(analysis.verdict.risk, Risk::Low, "{:?}", analysis.verdict.reasons);
        let lenient = Rules::parse("weights: { mouse: 0 }\n").expect("rules");
        let without_mouse = analyse(&data, &lenient, 7);
        assert!(without_mouse.verdict.score < analysis.verdict.score);
    }

    #[test]
    fn bad_appends_name_each_problem() {
        let errors = Append::parse(r#"{"mouse": [{"t": -5, "x": 1, "y": 1}], "keys": [{"t": 1, "key": "a", "type": "down"}, {"t": -1, "key": "a", "type": "up"}]}"#)
            .expect_err("negative times");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["mouse[0].t", "keys[1].t"]);
        let errors = Append::parse(r#"{"mice": []}"#).expect_err("unknown part");
        assert!(errors[0].message.contains("unknown field `mice`"), "{errors:?}");
        let many = format!(
            r#"{{"scrolls": [{}]}}"#,
            vec![r#"{"t": 1, "dy": 5}"#; MAX_APPEND_EVENTS + 1].join(",")
        );
        assert!(
            Append::parse(&many).expect_err("too many")[0]
                .message
                .contains("at most")
        );
    }
}
