//! Behaviour: how a visitor moves the mouse, types, scrolls and switches
//! tabs, and whether that looks human.
//!
//! - [`input`] makes input the way people do (curved mouse paths timed by
//!   Fitts's law, keystrokes with personal rhythm and typos, scroll bursts
//!   with inertia) or the way bots do (straight lines, constant timing).
//! - [`signals`] is the behaviour data a session leaves, as the browser
//!   engine captures it or any client posts it, and its [`signals::Summary`].
//! - [`score`] is the rule-based detector: a score, a confidence, a risk
//!   level and the reasons, per session, by [`rules`] an operator can tune
//!   in a file a node reads again when it changes ([`rules_file`]).
//! - [`capture`] is the recorder pages run, as the browser engine injects it
//!   and as a site embeds it to send its visitors' behaviour to the service.
//! - [`sessions`] is the detector as a service's session: behaviour data
//!   appended as it arrives, whether it is ready, and its stored result.

pub mod capture;
pub mod input;
pub mod rules;
pub mod rules_file;
pub mod score;
pub mod sessions;
pub mod signals;

/// The normal distribution by Box-Muller, from two uniform draws in [0, 1).
pub(crate) fn normal(u1: f64, u2: f64) -> f64 {
    let u1 = u1.max(f64::MIN_POSITIVE);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Mean and coefficient of variation (standard deviation ÷ mean).
pub(crate) fn mean_cv(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if mean.abs() < f64::EPSILON {
        return Some((mean, 0.0));
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    Some((mean, variance.sqrt() / mean.abs()))
}
