//! Behaviour data of one session — raw input events, the device and the
//! network as the page saw them — and the features the detector reads.
//!
//! The JSON shape is the scoring API's (`POST /api/v1/behaviour/score`):
//! times are milliseconds from the session's start, positions CSS pixels.

use serde::{Deserialize, Serialize};

use super::mean_cv;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MouseKind {
    Move,
    Down,
    Up,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MouseEvent {
    pub t: f64,
    pub x: f64,
    pub y: f64,
    #[serde(rename = "type", default = "move_kind")]
    pub kind: MouseKind,
}

fn move_kind() -> MouseKind {
    MouseKind::Move
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Down,
    Up,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyEvent {
    pub t: f64,
    pub key: String,
    #[serde(rename = "type")]
    pub kind: KeyKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScrollEvent {
    pub t: f64,
    /// Pixels scrolled by this event (positive: down).
    pub dy: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FocusKind {
    Focus,
    Blur,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FocusEvent {
    pub t: f64,
    #[serde(rename = "type")]
    pub kind: FocusKind,
}

/// What the page could tell about the device.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Device {
    pub user_agent: String,
    /// `navigator.platform`, e.g. `Win32`, `MacIntel`, `Linux x86_64`, `iPhone`.
    pub platform: String,
    pub screen_width: u32,
    pub screen_height: u32,
    pub viewport_width: u32,
    pub viewport_height: u32,
    /// `navigator.maxTouchPoints`.
    pub touch_points: u32,
    /// `navigator.webdriver`.
    pub webdriver: bool,
    /// `navigator.languages`.
    pub languages: Vec<String>,
}

/// What the collector could tell about the connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    /// The address belongs to a hosting provider, not an access network.
    pub datacenter: bool,
    /// The request came through a known proxy or VPN exit.
    pub proxy: bool,
}

/// Behaviour data of one session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BehaviourData {
    /// How long the session lasted, in milliseconds.
    pub duration_ms: f64,
    pub mouse: Vec<MouseEvent>,
    pub keys: Vec<KeyEvent>,
    pub scrolls: Vec<ScrollEvent>,
    pub focus: Vec<FocusEvent>,
    pub device: Device,
    pub network: Network,
}

/// A pause longer than this ends a mouse movement.
const MOVE_PAUSE_MS: f64 = 300.0;
/// Movements shorter than this (pixels, start to end) say little.
const MIN_CHORD_PX: f64 = 40.0;

/// The features the detector reads, per session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub mouse_events: usize,
    /// Movements long enough to judge.
    pub movements: usize,
    /// Mean of chord ÷ path length per movement: 1 is a ruler-straight line.
    pub straightness: Option<f64>,
    /// Mean coefficient of variation of speed within a movement: 0 is constant speed.
    pub speed_cv: Option<f64>,
    /// Presses not preceded by any movement towards them within 1 s.
    pub clicks_without_approach: usize,
    pub clicks: usize,
    pub keystrokes: usize,
    /// Key hold times: mean (ms) and coefficient of variation.
    pub dwell_ms: Option<f64>,
    pub dwell_cv: Option<f64>,
    /// Time between releasing a key and pressing the next: coefficient of variation.
    pub flight_cv: Option<f64>,
    /// Share of keystrokes that are Backspace (corrections).
    pub correction_ratio: f64,
    pub scroll_events: usize,
    /// Coefficient of variation of scroll deltas: 0 is every step the same.
    pub scroll_delta_cv: Option<f64>,
    pub blurs: usize,
    pub duration_ms: f64,
    /// When the first input came, from the session's start.
    pub first_input_ms: Option<f64>,
    /// The longest time without any input.
    pub longest_pause_ms: f64,
}

impl Summary {
    pub fn of(data: &BehaviourData) -> Summary {
        let mut summary = Summary {
            mouse_events: data.mouse.len(),
            keystrokes: data.keys.iter().filter(|k| k.kind == KeyKind::Down).count(),
            scroll_events: data.scrolls.len(),
            blurs: data.focus.iter().filter(|f| f.kind == FocusKind::Blur).count(),
            duration_ms: data.duration_ms,
            ..Summary::default()
        };
        summary.read_mouse(&data.mouse);
        summary.read_keys(&data.keys);
        let mut times: Vec<f64> = data
            .mouse
            .iter()
            .map(|m| m.t)
            .chain(data.keys.iter().map(|k| k.t))
            .chain(data.scrolls.iter().map(|s| s.t))
            .collect();
        times.sort_by(f64::total_cmp);
        summary.first_input_ms = times.first().copied();
        summary.longest_pause_ms = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        let deltas: Vec<f64> = data.scrolls.iter().map(|s| s.dy.abs()).collect();
        if deltas.len() >= 4 {
            summary.scroll_delta_cv = mean_cv(&deltas).map(|(_, cv)| cv);
        }
        summary
    }

    fn read_mouse(&mut self, events: &[MouseEvent]) {
        let mut straightness = Vec::new();
        let mut speed_cvs = Vec::new();
        let mut movement: Vec<&MouseEvent> = Vec::new();
        let mut finish = |movement: &mut Vec<&MouseEvent>| {
            if movement.len() >= 4 {
                let (first, last) = (movement[0], movement[movement.len() - 1]);
                let chord = (last.x - first.x).hypot(last.y - first.y);
                let steps: Vec<(f64, f64)> = movement
                    .windows(2)
                    .map(|w| ((w[1].x - w[0].x).hypot(w[1].y - w[0].y), w[1].t - w[0].t))
                    .collect();
                let path: f64 = steps.iter().map(|(d, _)| d).sum();
                if chord >= MIN_CHORD_PX && path > 0.0 {
                    straightness.push(chord / path);
                    let speeds: Vec<f64> = steps
                        .iter()
                        .filter(|(_, dt)| *dt > 0.0)
                        .map(|(d, dt)| d / dt)
                        .collect();
                    if let Some((_, cv)) = mean_cv(&speeds) {
                        speed_cvs.push(cv);
                    }
                }
            }
            movement.clear();
        };
        let mut last_move_t: Option<f64> = None;
        for event in events {
            match event.kind {
                MouseKind::Move => {
                    if movement
                        .last()
                        .is_some_and(|prev| event.t - prev.t > MOVE_PAUSE_MS)
                    {
                        finish(&mut movement);
                    }
                    movement.push(event);
                    last_move_t = Some(event.t);
                }
                MouseKind::Down => {
                    finish(&mut movement);
                    self.clicks += 1;
                    if last_move_t.is_none_or(|t| event.t - t > 1_000.0) {
                        self.clicks_without_approach += 1;
                    }
                }
                MouseKind::Up => {}
            }
        }
        finish(&mut movement);
        self.movements = straightness.len();
        self.straightness = average(&straightness);
        self.speed_cv = average(&speed_cvs);
    }

    fn read_keys(&mut self, keys: &[KeyEvent]) {
        let mut dwells = Vec::new();
        let mut flights = Vec::new();
        let mut last_up: Option<f64> = None;
        for (i, key) in keys.iter().enumerate() {
            if key.kind != KeyKind::Down {
                last_up = Some(key.t);
                continue;
            }
            if let Some(up) = last_up {
                flights.push((key.t - up).max(0.0));
            }
            if let Some(release) = keys[i + 1..]
                .iter()
                .find(|k| k.kind == KeyKind::Up && k.key == key.key)
            {
                dwells.push(release.t - key.t);
            }
        }
        if let Some((mean, cv)) = mean_cv(&dwells) {
            self.dwell_ms = Some(mean);
            self.dwell_cv = Some(cv);
        }
        self.flight_cv = mean_cv(&flights).map(|(_, cv)| cv);
        let corrections = keys
            .iter()
            .filter(|k| k.kind == KeyKind::Down && k.key == "Backspace")
            .count();
        if self.keystrokes > 0 {
            self.correction_ratio = corrections as f64 / self.keystrokes as f64;
        }
    }
}

fn average(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moves(points: &[(f64, f64, f64)]) -> Vec<MouseEvent> {
        points
            .iter()
            .map(|&(t, x, y)| MouseEvent {
                t,
                x,
                y,
                kind: MouseKind::Move,
            })
            .collect()
    }

    #[test]
    fn a_straight_constant_movement_reads_as_such() {
        let data = BehaviourData {
            mouse: moves(
                &(0..20)
                    .map(|i| (f64::from(i) * 10.0, f64::from(i) * 10.0, 0.0))
                    .collect::<Vec<_>>(),
            ),
            ..BehaviourData::default()
        };
        let s = Summary::of(&data);
        assert_eq!(s.movements, 1);
        assert!((s.straightness.expect("straightness") - 1.0).abs() < 1e-9);
        assert!(s.speed_cv.expect("speed") < 1e-9);
    }

    #[test]
    fn keys_give_dwell_flight_and_corrections() {
        let mut keys = Vec::new();
        for (i, (key, dwell)) in [("a", 80.0), ("b", 120.0), ("Backspace", 90.0), ("c", 100.0)]
            .into_iter()
            .enumerate()
        {
            let t = i as f64 * 250.0;
            keys.push(KeyEvent {
                t,
                key: key.into(),
                kind: KeyKind::Down,
            });
            keys.push(KeyEvent {
                t: t + dwell,
                key: key.into(),
                kind: KeyKind::Up,
            });
        }
        let s = Summary::of(&BehaviourData {
            keys,
            ..BehaviourData::default()
        });
        assert_eq!(s.keystrokes, 4);
        assert_eq!(s.dwell_ms, Some(97.5));
        assert!(s.dwell_cv.expect("cv") > 0.1);
        assert_eq!(s.correction_ratio, 0.25);
    }

    #[test]
    fn the_api_shape_parses_with_defaults() {
        let data: BehaviourData = serde_json::from_str(
            r#"{"duration_ms": 5000, "mouse": [{"t": 1, "x": 2, "y": 3}, {"t": 9, "x": 2, "y": 3, "type": "down"}],
                "device": {"user_agent": "Mozilla/5.0", "webdriver": true}}"#,
        )
        .expect("parses");
        assert_eq!(data.mouse[0].kind, MouseKind::Move);
        assert_eq!(data.mouse[1].kind, MouseKind::Down);
        assert!(data.device.webdriver);
        assert!(data.keys.is_empty());
    }
}
