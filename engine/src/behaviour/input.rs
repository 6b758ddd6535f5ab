//! Input as people make it, and as bots do.
//!
//! People move the mouse in curves, fast in the middle and slow at both ends,
//! in a time that grows with the distance and shrinks with the target's size
//! (Fitts's law: `a + b·log2(d/w + 1)`), with a little tremor and now and
//! then an overshoot they correct. They hold and release keys in a rhythm of
//! their own, mistype and correct, and scroll in bursts that slow down like a
//! flicked wheel. Bots move in straight lines at constant speed, type with a
//! metronome and do not scroll. The browser engine plays these events; the
//! detector's tests judge them.

use rand_core::Rng;

use super::normal;
use super::signals::{
    BehaviourData, Device, FocusEvent, FocusKind, KeyEvent, KeyKind, MouseEvent, MouseKind, ScrollEvent,
};
use crate::ids::unit_f64;

/// How one visitor handles mouse and keyboard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HumanStyle {
    /// Fitts's law intercept and slope, in milliseconds.
    pub fitts_a_ms: f64,
    pub fitts_b_ms: f64,
    /// Chance a movement overshoots its target and comes back.
    pub overshoot: f64,
    /// Median key hold and key-to-key times, in milliseconds.
    pub dwell_ms: f64,
    pub flight_ms: f64,
    /// Chance a character is mistyped (then corrected).
    pub typo_rate: f64,
}

impl HumanStyle {
    /// A visitor drawn from the spread people show: quick or slow hands,
    /// careful or hasty typists.
    pub fn draw(rng: &mut impl Rng) -> HumanStyle {
        let mut between = |low: f64, high: f64| low + unit_f64(rng) * (high - low);
        HumanStyle {
            fitts_a_ms: between(60.0, 160.0),
            fitts_b_ms: between(100.0, 200.0),
            overshoot: between(0.05, 0.25),
            dwell_ms: between(70.0, 140.0),
            flight_ms: between(90.0, 260.0),
            typo_rate: between(0.01, 0.06),
        }
    }
}

/// Human or robotic input, or a bot's that tries to pass for human.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InputStyle {
    Human(HumanStyle),
    Robotic,
    /// A bot dressed as a person: curved mouse paths walked at an even
    /// pace, keys with jittered but narrow timing, even wheel steps, and no
    /// reading pauses or tab switches of its own.
    Evasive,
}

/// A point on the page, CSS pixels.
pub type Point = (f64, f64);

fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(unit_f64(rng), unit_f64(rng))).exp()
}

/// Minimum-jerk progress: how far along a movement is at time fraction `tau`.
fn minimum_jerk(tau: f64) -> f64 {
    tau.powi(3) * (10.0 - 15.0 * tau + 6.0 * tau * tau)
}

fn bezier(p: [Point; 4], s: f64) -> Point {
    let u = 1.0 - s;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * s, 3.0 * u * s * s, s * s * s);
    (
        a * p[0].0 + b * p[1].0 + c * p[2].0 + d * p[3].0,
        a * p[0].1 + b * p[1].1 + c * p[2].1 + d * p[3].1,
    )
}

/// One human sub-movement from `from` to `to`, starting at `t`; the events
/// and the time it ends.
fn human_stroke(
    style: &HumanStyle,
    from: Point,
    to: Point,
    width: f64,
    t: f64,
    rng: &mut impl Rng,
) -> (Vec<MouseEvent>, f64) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let distance = dx.hypot(dy);
    let duration = (style.fitts_a_ms + style.fitts_b_ms * (distance / width.max(1.0) + 1.0).log2())
        * lognormal(rng, 1.0, 0.15);
    // Control points pushed off the straight line, on one side or both.
    let (nx, ny) = if distance > 0.0 {
        (-dy / distance, dx / distance)
    } else {
        (0.0, 0.0)
    };
    let bend = |rng: &mut dyn FnMut() -> f64| distance * 0.18 * normal(rng(), rng());
    let mut draw = || unit_f64(rng);
    let (b1, b2) = (bend(&mut draw), bend(&mut draw));
    let controls = [
        from,
        (from.0 + dx * 0.3 + nx * b1, from.1 + dy * 0.3 + ny * b1),
        (from.0 + dx * 0.7 + nx * b2, from.1 + dy * 0.7 + ny * b2),
        to,
    ];
    let mut events = Vec::new();
    let mut elapsed = 0.0;
    while elapsed < duration {
        elapsed = (elapsed + 12.0 + unit_f64(rng) * 10.0).min(duration);
        let (x, y) = bezier(controls, minimum_jerk(elapsed / duration));
        let tremor = 0.6;
        events.push(MouseEvent {
            t: t + elapsed,
            x: x + tremor * normal(unit_f64(rng), unit_f64(rng)),
            y: y + tremor * normal(unit_f64(rng), unit_f64(rng)),
            kind: MouseKind::Move,
        });
    }
    (events, t + duration)
}

/// A movement from `from` to a target of `width` pixels at `to`, starting at
/// `t`; the events and the time the pointer is on the target.
pub fn mouse_path(
    style: &InputStyle,
    from: Point,
    to: Point,
    width: f64,
    t: f64,
    rng: &mut impl Rng,
) -> (Vec<MouseEvent>, f64) {
    match style {
        InputStyle::Human(human) => {
            if unit_f64(rng) < human.overshoot {
                let beyond = 1.04 + unit_f64(rng) * 0.06;
                let past = (
                    from.0 + (to.0 - from.0) * beyond,
                    from.1 + (to.1 - from.1) * beyond,
                );
                let (mut events, end) = human_stroke(human, from, past, width, t, rng);
                let pause = 40.0 + unit_f64(rng) * 80.0;
                let (back, end) = human_stroke(human, past, to, width, end + pause, rng);
                events.extend(back);
                (events, end)
            } else {
                human_stroke(human, from, to, width, t, rng)
            }
        }
        InputStyle::Evasive => {
            // A quadratic curve bent off the line, walked at an even pace
            // with a step every 10-14 ms.
            let (dx, dy) = (to.0 - from.0, to.1 - from.1);
            let distance = dx.hypot(dy);
            let bend = distance * (0.1 + 0.15 * unit_f64(rng)) * if unit_f64(rng) < 0.5 { -1.0 } else { 1.0 };
            let (nx, ny) = if distance > 0.0 {
                (-dy / distance, dx / distance)
            } else {
                (0.0, 0.0)
            };
            let control = (from.0 + dx * 0.5 + nx * bend, from.1 + dy * 0.5 + ny * bend);
            let steps = (distance / 8.0).ceil().max(1.0) as usize;
            let mut now = t;
            let events = (1..=steps)
                .map(|i| {
                    let s = i as f64 / steps as f64;
                    let u = 1.0 - s;
                    now += 10.0 + 4.0 * unit_f64(rng);
                    MouseEvent {
                        t: now,
                        x: u * u * from.0 + 2.0 * u * s * control.0 + s * s * to.0,
                        y: u * u * from.1 + 2.0 * u * s * control.1 + s * s * to.1,
                        kind: MouseKind::Move,
                    }
                })
                .collect();
            (events, now)
        }
        InputStyle::Robotic => {
            // A straight line at one pixel per millisecond, a step every 10 ms.
            let distance = (to.0 - from.0).hypot(to.1 - from.1);
            let steps = (distance / 10.0).ceil().max(1.0) as usize;
            let events = (1..=steps)
                .map(|i| {
                    let s = i as f64 / steps as f64;
                    MouseEvent {
                        t: t + i as f64 * 10.0,
                        x: from.0 + (to.0 - from.0) * s,
                        y: from.1 + (to.1 - from.1) * s,
                        kind: MouseKind::Move,
                    }
                })
                .collect();
            (events, t + steps as f64 * 10.0)
        }
    }
}

/// A neighbour of `c` on a QWERTY keyboard, for typos.
fn neighbour(c: char, rng: &mut impl Rng) -> char {
    const ROWS: [&str; 3] = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];
    for row in ROWS {
        if let Some(i) = row.find(c.to_ascii_lowercase()) {
            let bytes = row.as_bytes();
            let j = if i == 0 || (i + 1 < bytes.len() && unit_f64(rng) < 0.5) {
                i + 1
            } else {
                i - 1
            };
            return bytes[j] as char;
        }
    }
    'e'
}

/// Typing `text` from `t`: key downs and ups, and the time the last key is up.
pub fn typing(style: &InputStyle, text: &str, t: f64, rng: &mut impl Rng) -> (Vec<KeyEvent>, f64) {
    let mut events = Vec::new();
    let mut now = t;
    let press = |key: String, hold: f64, now: &mut f64, events: &mut Vec<KeyEvent>| {
        events.push(KeyEvent {
            t: *now,
            key: key.clone(),
            kind: KeyKind::Down,
        });
        *now += hold;
        events.push(KeyEvent {
            t: *now,
            key,
            kind: KeyKind::Up,
        });
    };
    for c in text.chars() {
        match style {
            InputStyle::Human(human) => {
                if c.is_ascii_alphabetic() && unit_f64(rng) < human.typo_rate {
                    let wrong = neighbour(c, rng);
                    press(
                        wrong.to_string(),
                        lognormal(rng, human.dwell_ms, 0.3),
                        &mut now,
                        &mut events,
                    );
                    // Noticing takes a moment.
                    now += lognormal(rng, human.flight_ms * 2.0, 0.4);
                    press(
                        "Backspace".to_string(),
                        lognormal(rng, human.dwell_ms, 0.3),
                        &mut now,
                        &mut events,
                    );
                    now += lognormal(rng, human.flight_ms, 0.5);
                }
                press(
                    c.to_string(),
                    lognormal(rng, human.dwell_ms, 0.3),
                    &mut now,
                    &mut events,
                );
                now += lognormal(rng, human.flight_ms, 0.5);
            }
            InputStyle::Robotic => {
                press(c.to_string(), 5.0, &mut now, &mut events);
                now += 10.0;
            }
            InputStyle::Evasive => {
                let hold = 60.0 + 20.0 * unit_f64(rng);
                press(c.to_string(), hold, &mut now, &mut events);
                now += 120.0 + 40.0 * unit_f64(rng);
            }
        }
    }
    (events, now)
}

/// Scrolling about `distance` pixels down from `t`: wheel bursts that slow
/// like a flick, with reading pauses between them. Plain bots do not
/// scroll; evasive ones turn the wheel in even steps.
pub fn scrolling(style: &InputStyle, distance: f64, t: f64, rng: &mut impl Rng) -> (Vec<ScrollEvent>, f64) {
    match style {
        InputStyle::Human(_) => {}
        InputStyle::Robotic => return (Vec::new(), t),
        InputStyle::Evasive => {
            let steps = (distance / 100.0).ceil() as usize;
            let mut now = t;
            let events = (0..steps)
                .map(|_| {
                    now += 40.0 + 20.0 * unit_f64(rng);
                    ScrollEvent { t: now, dy: 100.0 }
                })
                .collect();
            return (events, now + 200.0);
        }
    }
    let mut events = Vec::new();
    let (mut now, mut done) = (t, 0.0);
    while done < distance {
        let mut delta = 80.0 + unit_f64(rng) * 80.0;
        let decay = 0.6 + unit_f64(rng) * 0.25;
        while delta > 4.0 && done < distance {
            events.push(ScrollEvent { t: now, dy: delta });
            done += delta;
            delta *= decay;
            now += 16.0 + unit_f64(rng) * 24.0;
        }
        now += lognormal(rng, 900.0, 0.5);
    }
    (events, now)
}

/// A plausible session of `pages` pages as behaviour data: on each page the
/// visitor reads and scrolls, moves to a link and clicks it; on one page
/// they fill in a form; now and then they switch tabs and come back.
pub fn session(style: &InputStyle, device: Device, pages: u32, rng: &mut impl Rng) -> BehaviourData {
    let human = matches!(style, InputStyle::Human(_));
    let mut data = BehaviourData {
        device,
        ..BehaviourData::default()
    };
    let mut now = if human { lognormal(rng, 1_200.0, 0.4) } else { 50.0 };
    let mut pointer = (400.0, 300.0);
    let form_page = pages / 2;
    for page in 0..pages {
        let (scrolls, end) = scrolling(style, 600.0 + unit_f64(rng) * 1_200.0, now, rng);
        data.scrolls.extend(scrolls);
        now = end;
        if page == form_page {
            let field = (300.0 + unit_f64(rng) * 200.0, 400.0 + unit_f64(rng) * 100.0);
            let (moves, end) = mouse_path(style, pointer, field, 240.0, now, rng);
            data.mouse.extend(moves);
            data.mouse.push(click(field, end, MouseKind::Down));
            data.mouse.push(click(field, end + 90.0, MouseKind::Up));
            let (keys, end) = typing(style, "ada lovelace", end + 300.0, rng);
            data.keys.extend(keys);
            now = end;
            pointer = field;
        }
        let link = (80.0 + unit_f64(rng) * 900.0, 120.0 + unit_f64(rng) * 500.0);
        let (moves, end) = mouse_path(style, pointer, link, 60.0 + unit_f64(rng) * 120.0, now, rng);
        data.mouse.extend(moves);
        let hold = if human { lognormal(rng, 95.0, 0.3) } else { 5.0 };
        data.mouse.push(click(link, end, MouseKind::Down));
        data.mouse.push(click(link, end + hold, MouseKind::Up));
        pointer = link;
        now = end
            + hold
            + if human {
                lognormal(rng, 1_500.0, 0.5)
            } else {
                100.0
            };
        if human && unit_f64(rng) < 0.15 {
            data.focus.push(FocusEvent {
                t: now,
                kind: FocusKind::Blur,
            });
            now += lognormal(rng, 8_000.0, 0.8);
            data.focus.push(FocusEvent {
                t: now,
                kind: FocusKind::Focus,
            });
        }
    }
    data.duration_ms = now;
    data
}

fn click(at: Point, t: f64, kind: MouseKind) -> MouseEvent {
    MouseEvent {
        t,
        x: at.0,
        y: at.1,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::signals::Summary;
    use crate::ids::{Part, rng_for};

    #[test]
    fn human_movements_curve_and_take_fitts_time() {
        let mut rng = rng_for(&[Part::Str("mouse")]);
        let style = InputStyle::Human(HumanStyle::draw(&mut rng));
        let mut near_times = Vec::new();
        let mut far_times = Vec::new();
        for _ in 0..200 {
            let (_, near) = mouse_path(&style, (0.0, 0.0), (100.0, 0.0), 50.0, 0.0, &mut rng);
            let (_, far) = mouse_path(&style, (0.0, 0.0), (1_000.0, 0.0), 20.0, 0.0, &mut rng);
            near_times.push(near);
            far_times.push(far);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            mean(&far_times) > 1.5 * mean(&near_times),
            "{} vs {}",
            mean(&far_times),
            mean(&near_times)
        );
        let (events, _) = mouse_path(&style, (0.0, 0.0), (800.0, 300.0), 40.0, 0.0, &mut rng);
        let last = events.last().expect("events");
        assert!(
            (last.x - 800.0).abs() < 5.0 && (last.y - 300.0).abs() < 5.0,
            "{last:?}"
        );
    }

    #[test]
    fn robots_go_straight_at_constant_speed() {
        let mut rng = rng_for(&[Part::Str("robot")]);
        let (events, end) = mouse_path(
            &InputStyle::Robotic,
            (0.0, 0.0),
            (300.0, 400.0),
            40.0,
            0.0,
            &mut rng,
        );
        assert_eq!(end, 500.0);
        let data = BehaviourData {
            mouse: events,
            ..BehaviourData::default()
        };
        let summary = Summary::of(&data);
        assert!(summary.straightness.expect("straightness") > 0.999);
        assert!(summary.speed_cv.expect("speed cv") < 0.01);
    }

    #[test]
    fn typists_mistype_and_correct_bots_keep_time() {
        let mut rng = rng_for(&[Part::Str("keys")]);
        let mut style = HumanStyle::draw(&mut rng);
        style.typo_rate = 0.2;
        let text = "the quick brown fox jumps over the lazy dog";
        let (keys, _) = typing(&InputStyle::Human(style), text, 0.0, &mut rng);
        let typed: String =
            keys.iter()
                .filter(|k| k.kind == KeyKind::Down)
                .fold(String::new(), |mut s, k| {
                    if k.key == "Backspace" {
                        s.pop();
                    } else {
                        s.push_str(&k.key);
                    }
                    s
                });
        assert_eq!(typed, text, "corrections leave the intended text");
        assert!(keys.iter().any(|k| k.key == "Backspace"));
        let human = Summary::of(&BehaviourData {
            keys,
            ..BehaviourData::default()
        });
        let (keys, _) = typing(&InputStyle::Robotic, text, 0.0, &mut rng);
        let robot = Summary::of(&BehaviourData {
            keys,
            ..BehaviourData::default()
        });
        assert!(human.dwell_cv.expect("cv") > 0.15, "{human:?}");
        assert!(robot.dwell_cv.expect("cv") < 0.01, "{robot:?}");
    }

    #[test]
    fn scroll_bursts_slow_down_and_bots_do_not_scroll() {
        let mut rng = rng_for(&[Part::Str("scroll")]);
        let style = InputStyle::Human(HumanStyle::draw(&mut rng));
        let (events, _) = scrolling(&style, 1_500.0, 0.0, &mut rng);
        assert!(events.len() > 5);
        assert!(events[1].dy < events[0].dy, "inertia: {events:?}");
        assert!(
            scrolling(&InputStyle::Robotic, 1_500.0, 0.0, &mut rng)
                .0
                .is_empty()
        );
    }
}
