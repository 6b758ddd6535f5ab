//! The bot detector: five rule-based checks over a session's behaviour —
//! mouse dynamics, keystroke dynamics, scrolling, interaction timing, and
//! device and network consistency — each giving the probability the session
//! is a bot, how much evidence it had (confidence), and its reasons.
//!
//! The score is the checks' probabilities weighted by their confidence
//! (times each check's weight); decisive evidence (an automation flag,
//! ruler-straight mouse paths, keys held for less time than fingers can)
//! lifts it on its own. The thresholds are [`Rules`], tunable in a rules
//! file; by default risk is LOW below 0.35, HIGH from 0.7.

use serde::{Deserialize, Serialize};

use super::rules::Rules;
use super::signals::{BehaviourData, Summary};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Risk {
    Low,
    Medium,
    High,
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// How likely this check thinks a bot is (0-1).
    pub bot_probability: f64,
    /// How much evidence it had (0: none, the check is ignored).
    pub confidence: f64,
    pub reasons: Vec<String>,
}

/// The detector's judgement of one session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// 0 (human) to 1 (bot).
    pub score: f64,
    /// How much evidence the judgement rests on (0-1).
    pub confidence: f64,
    pub risk: Risk,
    /// The reasons of the checks that point to a bot, most confident first.
    pub reasons: Vec<String>,
    pub checks: Vec<Check>,
    pub summary: Summary,
}

fn check(name: &str, bot_probability: f64, confidence: f64, reasons: Vec<String>) -> Check {
    Check {
        name: name.to_string(),
        bot_probability: bot_probability.clamp(0.0, 1.0),
        confidence: confidence.clamp(0.0, 1.0),
        reasons,
    }
}

fn is_mobile(user_agent: &str) -> bool {
    ["Mobile", "Android", "iPhone", "iPad"]
        .iter()
        .any(|m| user_agent.contains(m))
}

fn mouse(s: &Summary, data: &BehaviourData, rules: &Rules) -> Check {
    let r = &rules.mouse;
    let name = "mouse";
    if s.mouse_events == 0 {
        if data.device.touch_points > 0 && is_mobile(&data.device.user_agent) {
            return check(name, 0.3, 0.2, vec!["a touch device: no mouse expected".into()]);
        }
        return check(name, 0.7, 0.4, vec!["no mouse movement at all".into()]);
    }
    let (Some(straightness), Some(speed_cv)) = (s.straightness, s.speed_cv) else {
        if s.clicks > 0 {
            return check(
                name,
                0.85,
                0.6,
                vec![format!("{} clicks with no movement to judge", s.clicks)],
            );
        }
        return check(name, 0.5, 0.1, vec!["too little movement to judge".into()]);
    };
    // People never move in ruler-straight lines; speed alone is less telling,
    // since a loaded machine jitters even a bot's timing.
    let mut reasons = Vec::new();
    let mut p: f64 = if straightness > r.straight_above {
        reasons.push(format!(
            "ruler-straight mouse paths (straightness {straightness:.3})"
        ));
        0.85
    } else if straightness > r.nearly_straight_above {
        reasons.push(format!(
            "nearly straight mouse paths (straightness {straightness:.3})"
        ));
        0.3
    } else {
        reasons.push(format!("mouse paths curve (straightness {straightness:.3})"));
        0.1
    };
    if speed_cv < r.constant_speed_below {
        p += 0.3;
        reasons.push(format!("constant mouse speed (variation {speed_cv:.2})"));
    } else if speed_cv < 2.0 * r.constant_speed_below {
        p += 0.1;
        reasons.push(format!("little change in mouse speed (variation {speed_cv:.2})"));
    } else {
        reasons.push(format!(
            "mouse speeds up and slows down (variation {speed_cv:.2})"
        ));
    }
    if s.clicks > 0 && s.clicks_without_approach * 2 > s.clicks {
        p += 0.15;
        reasons.push(format!(
            "{} of {} clicks without moving there first",
            s.clicks_without_approach, s.clicks
        ));
    }
    let confidence = (0.3 + 0.12 * s.movements as f64).min(0.9);
    check(name, p.min(0.98), confidence, reasons)
}

fn keystrokes(s: &Summary, rules: &Rules) -> Check {
    let r = &rules.keystrokes;
    let name = "keystrokes";
    let (Some(dwell), Some(dwell_cv), Some(flight_cv)) = (s.dwell_ms, s.dwell_cv, s.flight_cv) else {
        return check(name, 0.5, 0.0, vec!["no typing to judge".into()]);
    };
    if s.keystrokes < 5 {
        return check(name, 0.5, 0.0, vec!["too few keystrokes to judge".into()]);
    }
    let mut reasons = Vec::new();
    let mut p: f64 = if dwell < r.hold_below_ms {
        reasons.push(format!("keys held {dwell:.0} ms, faster than fingers"));
        0.85
    } else {
        0.1
    };
    if dwell_cv < r.constant_hold_below {
        p += 0.3;
        reasons.push(format!("every key held as long (variation {dwell_cv:.2})"));
    } else if dwell_cv < 2.0 * r.constant_hold_below {
        p += 0.1;
        reasons.push(format!("key holds barely vary (variation {dwell_cv:.2})"));
    }
    if flight_cv < r.metronome_below {
        p += 0.2;
        reasons.push(format!(
            "keys follow each other like a metronome (variation {flight_cv:.2})"
        ));
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "a typing rhythm of its own (hold {dwell:.0} ms, variation {dwell_cv:.2})"
        ));
    }
    if s.correction_ratio > 0.0 && p < 0.5 {
        p -= 0.05;
        reasons.push("mistakes corrected, as people do".into());
    }
    let confidence = (0.2 + 0.03 * s.keystrokes as f64).min(0.85);
    check(name, p.clamp(0.02, 0.98), confidence, reasons)
}

fn scrolling(s: &Summary, rules: &Rules) -> Check {
    let r = &rules.scrolling;
    let name = "scrolling";
    if s.scroll_events == 0 {
        if s.duration_ms > r.expected_after_ms {
            return check(
                name,
                0.65,
                0.35,
                vec![format!("no scrolling in {:.0} s", s.duration_ms / 1000.0)],
            );
        }
        return check(name, 0.5, 0.0, vec!["too short to expect scrolling".into()]);
    }
    match s.scroll_delta_cv {
        // Not decisive: a notched wheel gives people equal steps too.
        Some(cv) if cv < r.same_step_below => check(
            name,
            0.7,
            0.5,
            vec![format!("every scroll step the same (variation {cv:.2})")],
        ),
        Some(cv) => check(
            name,
            0.1,
            0.5,
            vec![format!("scrolls in bursts that slow down (variation {cv:.2})")],
        ),
        None => check(name, 0.4, 0.1, vec!["a few scroll steps".into()]),
    }
}

fn timing(s: &Summary, rules: &Rules) -> Check {
    let r = &rules.timing;
    let name = "timing";
    let Some(first) = s.first_input_ms else {
        return check(name, 0.5, 0.0, vec!["no input".into()]);
    };
    // Pauses are weak evidence of a person: a bot can wait too.
    let mut p: f64 = 0.3;
    let mut reasons = Vec::new();
    if first < r.first_input_below_ms {
        p += 0.3;
        reasons.push(format!("first input {first:.0} ms after the page loaded"));
    }
    if s.duration_ms > 3_000.0 && s.longest_pause_ms < r.pause_ms {
        p += 0.3;
        reasons.push(format!(
            "never paused longer than {:.0} ms in {:.0} s",
            s.longest_pause_ms,
            s.duration_ms / 1000.0
        ));
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "reading pauses (up to {:.1} s)",
            s.longest_pause_ms / 1000.0
        ));
        if s.blurs > 0 {
            // Scripts rarely leave their tab; people do.
            p -= 0.1;
            reasons.push(format!("left the tab {} times and came back", s.blurs));
        }
    }
    check(name, p, 0.4, reasons)
}

fn device(data: &BehaviourData) -> Check {
    let name = "device";
    let d = &data.device;
    if d.webdriver {
        return check(
            name,
            0.97,
            0.95,
            vec!["navigator.webdriver is set: an automated browser".into()],
        );
    }
    if d.user_agent.contains("HeadlessChrome") {
        return check(name, 0.97, 0.95, vec!["a headless browser's user agent".into()]);
    }
    // A consistent device is weak evidence of a person (bots copy real
    // ones); each inconsistency is strong evidence of a bot.
    let mut p: f64 = 0.3;
    let mut reasons = Vec::new();
    let ua = d.user_agent.as_str();
    if is_mobile(ua) && d.touch_points == 0 {
        p += 0.3;
        reasons.push("a mobile user agent without a touch screen".into());
    }
    let platform = d.platform.as_str();
    let mismatch = (ua.contains("Windows") && !platform.starts_with("Win"))
        || (ua.contains("Macintosh") && !platform.starts_with("Mac"))
        || (ua.contains("iPhone") && platform != "iPhone");
    if mismatch && !platform.is_empty() {
        p += 0.3;
        reasons.push(format!("the user agent and the platform ({platform}) disagree"));
    }
    if d.viewport_width > 0 && (d.viewport_width > d.screen_width || d.viewport_height > d.screen_height) {
        p += 0.3;
        reasons.push("a window larger than its screen".into());
    }
    if !ua.is_empty() && d.languages.is_empty() {
        p += 0.2;
        reasons.push("no languages".into());
    }
    if data.network.datacenter {
        p += 0.25;
        reasons.push("from a datacenter address".into());
    }
    if data.network.proxy {
        p += 0.15;
        reasons.push("through a proxy".into());
    }
    if reasons.is_empty() {
        reasons.push("device and network are consistent".into());
    }
    let confidence = if ua.is_empty() { 0.2 } else { 0.6 };
    check(name, p.min(0.95), confidence, reasons)
}

/// Judges one session's behaviour by the default rules.
pub fn score(data: &BehaviourData) -> Verdict {
    score_with(data, &Rules::default())
}

/// Judges one session's behaviour by `rules`.
pub fn score_with(data: &BehaviourData, rules: &Rules) -> Verdict {
    let summary = Summary::of(data);
    let w = &rules.weights;
    let checks = vec![
        (mouse(&summary, data, rules), w.mouse),
        (keystrokes(&summary, rules), w.keystrokes),
        (scrolling(&summary, rules), w.scrolling),
        (timing(&summary, rules), w.timing),
        (device(data), w.device),
    ];
    let weight: f64 = checks.iter().map(|(c, w)| c.confidence * w).sum();
    let mut score = if weight > 0.0 {
        checks
            .iter()
            .map(|(c, w)| c.bot_probability * c.confidence * w)
            .sum::<f64>()
            / weight
    } else {
        0.5
    };
    if let Some(decisive) = checks
        .iter()
        .filter(|(c, w)| {
            *w > 0.0
                && c.bot_probability >= rules.decisive.probability
                && c.confidence >= rules.decisive.confidence
        })
        .map(|(c, _)| c.bot_probability)
        .reduce(f64::max)
    {
        score = score.max(decisive * 0.9);
    }
    let checks: Vec<Check> = checks.into_iter().map(|(c, _)| c).collect();
    let risk = if score < rules.risk.low_below {
        Risk::Low
    } else if score < rules.risk.high_from {
        Risk::Medium
    } else {
        Risk::High
    };
    let mut pointing: Vec<&Check> = checks
        .iter()
        .filter(|c| c.bot_probability >= 0.5 && c.confidence > 0.0)
        .collect();
    pointing.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let reasons = pointing.iter().flat_map(|c| c.reasons.iter().cloned()).collect();
    Verdict {
        score,
        confidence: (weight / 3.0).min(1.0),
        risk,
        reasons,
        checks,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::input::{HumanStyle, InputStyle, session};
    use crate::behaviour::signals::{Device, Network};
    use crate::ids::{Part, rng_for, unit_f64};

    #[test]
    fn the_docs_state_the_thresholds_the_code_uses() {
        // docs/behaviour.md is where people read them: it must say these.
        let docs = include_str!("../../../docs/behaviour.md");
        let docs = docs.split_whitespace().collect::<Vec<_>>().join(" ");
        let rules = Rules::default();
        let (decisive, risk) = (rules.decisive, rules.risk);
        for said in [
            format!(
                "a check at {} or more with confidence {} or more is decisive",
                decisive.probability, decisive.confidence
            ),
            format!(
                "Risk is **LOW** below {}, **HIGH** from {}",
                risk.low_below, risk.high_from
            ),
        ] {
            assert!(docs.contains(&said), "docs/behaviour.md should say: {said}");
        }
    }

    fn desktop() -> Device {
        Device {
            user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36".into(),
            platform: "Win32".into(),
            screen_width: 1920,
            screen_height: 1080,
            viewport_width: 1536,
            viewport_height: 864,
            touch_points: 0,
            webdriver: false,
            languages: vec!["en-GB".into(), "en".into()],
        }
    }

    fn judged(
        style: &dyn Fn(&mut rand_chacha::ChaCha8Rng) -> InputStyle,
        device: Device,
        label: &str,
    ) -> Vec<Risk> {
        (0..400u64)
            .map(|i| {
                let mut rng = rng_for(&[Part::Str(label), Part::U64(i)]);
                let style = style(&mut rng);
                let pages = 2 + (unit_f64(&mut rng) * 6.0) as u32;
                score(&session(&style, device.clone(), pages, &mut rng)).risk
            })
            .collect()
    }

    fn share(risks: &[Risk], risk: Risk) -> f64 {
        risks.iter().filter(|r| **r == risk).count() as f64 / risks.len() as f64
    }

    #[test]
    fn people_are_judged_low_risk_and_bots_high() {
        let humans = judged(
            &|rng| InputStyle::Human(HumanStyle::draw(rng)),
            desktop(),
            "human",
        );
        assert!(
            share(&humans, Risk::Low) >= 0.95,
            "humans LOW: {}",
            share(&humans, Risk::Low)
        );
        // Bots that hide the automation flag are caught by how they move and type.
        let bots = judged(&|_| InputStyle::Robotic, desktop(), "bot");
        assert!(
            share(&bots, Risk::High) >= 0.95,
            "bots HIGH: {}",
            share(&bots, Risk::High)
        );
        let flagged = Device {
            webdriver: true,
            ..desktop()
        };
        let bots = judged(&|_| InputStyle::Robotic, flagged, "flagged");
        assert_eq!(share(&bots, Risk::High), 1.0);
    }

    #[test]
    fn bots_on_a_busy_machine_are_still_caught() {
        // A loaded machine delivers a bot's events at uneven times: its paths
        // stay straight and its keys stay faster than fingers.
        let mut high = 0;
        for i in 0..200u64 {
            let mut rng = rng_for(&[Part::Str("busy bot"), Part::U64(i)]);
            let mut data = session(&InputStyle::Robotic, desktop(), 3, &mut rng);
            let mut jitter = |t: &mut f64| *t += unit_f64(&mut rng) * 25.0;
            data.mouse.iter_mut().for_each(|m| jitter(&mut m.t));
            data.mouse.sort_by(|a, b| a.t.total_cmp(&b.t));
            for pair in data.keys.chunks_mut(2) {
                let shift = unit_f64(&mut rng) * 40.0;
                pair.iter_mut().for_each(|k| k.t += shift);
            }
            let verdict = score(&data);
            high += usize::from(verdict.risk == Risk::High);
        }
        assert!(high >= 190, "{high} of 200 busy bots judged HIGH");
    }

    #[test]
    fn inconsistent_devices_raise_the_score_with_reasons() {
        let mut rng = rng_for(&[Part::Str("odd device")]);
        let style = InputStyle::Human(HumanStyle::draw(&mut rng));
        let mut data = session(&style, desktop(), 4, &mut rng);
        let clean = score(&data);
        data.device.platform = "Linux x86_64".into();
        data.device.languages.clear();
        data.network = Network {
            datacenter: true,
            proxy: false,
        };
        let odd = score(&data);
        assert!(odd.score > clean.score + 0.1, "{} vs {}", odd.score, clean.score);
        let device = odd
            .checks
            .iter()
            .find(|c| c.name == "device")
            .expect("device check");
        assert!(
            device.reasons.iter().any(|r| r.contains("platform")),
            "{device:?}"
        );
        assert!(
            device.reasons.iter().any(|r| r.contains("datacenter")),
            "{device:?}"
        );
    }

    #[test]
    fn no_data_is_a_guess_with_little_confidence() {
        let verdict = score(&BehaviourData::default());
        assert_eq!(verdict.risk, Risk::Medium);
        assert!(verdict.confidence < 0.3, "{verdict:?}");
    }
}
