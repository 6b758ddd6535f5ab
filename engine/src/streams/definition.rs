//! The parts a stream catalog is made of: streams (cadence, arrival,
//! fields and how their values are drawn), chains with their conditions
//! and outcomes, links, and the anomaly settings. `catalog` reads and checks
//! them as a whole; the scenario and external-event readers refer to them.

use std::sync::Arc;

/// How often a stream's events come, as a subscriber sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cadence {
    /// Seconds apart: API, chat, session events, searches.
    High,
    /// Minutes apart: bookings, availability, tickets.
    Medium,
    /// Hours to a day apart: ad spend, payouts, subscriptions, snapshots.
    Low,
}

impl Cadence {
    pub fn name(self) -> &'static str {
        match self {
            Cadence::High => "high",
            Cadence::Medium => "medium",
            Cadence::Low => "low",
        }
    }
}

/// How a stream's own events arrive (besides those its chains bring).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrival {
    /// A Poisson process at this many events per hour on an average day.
    Rate { per_hour: f64 },
    /// One event per period, jittered and staggered.
    Every { period_ms: i64 },
    /// Only chains bring its events.
    Follows,
}

/// How a field's value is drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueDist {
    /// One of these texts, by weight.
    Choice(Vec<(Arc<str>, f64)>),
    /// A whole number in `[low, high]`.
    Uniform { low: f64, high: f64 },
    /// A normal draw clamped to `[min, max]`, rounded to cents.
    Normal { mean: f64, sd: f64, min: f64, max: f64 },
    /// A gauge: `base` scaled by the stream's rhythm and modifiers, with
    /// relative noise `sd`.
    Metric { base: f64, sd: f64 },
    /// The parent event's field of this name.
    Inherit(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldDef {
    pub name: Arc<str>,
    pub dist: ValueDist,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StreamDef {
    pub name: Arc<str>,
    pub domain: String,
    pub cadence: Cadence,
    pub arrival: Arrival,
    /// Index into `Catalog::rhythms`.
    pub rhythm: usize,
    /// Indexes into `Catalog::entities`.
    pub entities: Vec<usize>,
    pub fields: Vec<FieldDef>,
}

impl StreamDef {
    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| &*f.name == name)
    }
}

/// A test on a parent's field that a chain requires.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Equals { field: usize, value: String },
    AtMost { field: usize, value: f64 },
    AtLeast { field: usize, value: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Index into `Catalog::streams`.
    pub stream: usize,
    pub probability: f64,
    pub delay_min_ms: i64,
    pub delay_max_ms: i64,
    /// How many events this outcome makes (both inclusive).
    pub repeat: (u32, u32),
}

/// Each event of `from` is followed by at most one outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub name: String,
    pub from: usize,
    pub when: Option<Condition>,
    pub outcomes: Vec<Outcome>,
}

/// A relationship that is not a chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub note: String,
}

/// Small deviations in a share of (stream, hour) intervals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anomalies {
    pub share: f64,
    pub min: f64,
    pub max: f64,
}
